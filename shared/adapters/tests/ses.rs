//! The SES sender against the local SES stand-in, read back from its `/store`.

use nps_adapters::aws::load_sdk_config;
use nps_adapters::ses::SesMailer;
use nps_domain::EmailAddress;
use nps_domain::mail::{MailError, Mailer, OutgoingEmail};
use nps_local_stack::testing::local_endpoint;
use serde_json::Value;

fn unique(label: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{label} {}-{nanos}", std::process::id())
}

fn email(subject: &str) -> OutgoingEmail {
    OutgoingEmail {
        from: "Example Shop <surveys@shop.example>".into(),
        to: EmailAddress::parse("customer@example.com").unwrap(),
        subject: subject.into(),
        text: "How likely are you to recommend Example Shop? Ünïcode ✓".into(),
        html: "<p>How likely are you to recommend <b>Example Shop</b>? Ünïcode ✓</p>".into(),
        headers: vec![
            ("List-Unsubscribe".into(), "<https://nps.example/u/abc>".into()),
            ("List-Unsubscribe-Post".into(), "List-Unsubscribe=One-Click".into()),
        ],
    }
}

async fn stored(inbox: &str, message_id: &str) -> Value {
    let store: Value = reqwest::get(format!("{inbox}/store")).await.unwrap().json().await.unwrap();
    let emails = store["emails"].as_array().expect("store has emails");
    let matching: Vec<&Value> = emails.iter().filter(|e| e["messageId"] == message_id).collect();
    assert_eq!(matching.len(), 1, "exactly one stored email with id {message_id}");
    matching[0].clone()
}

#[tokio::test]
async fn sends_text_and_html_with_headers_and_reads_it_back() {
    let inbox = local_endpoint("NPS_INBOX_URL");
    local_endpoint("AWS_ENDPOINT_URL_SESV2");
    let mailer = SesMailer::new(SesMailer::client(&load_sdk_config().await), None);
    let subject = unique("Quick question");
    let sent = email(&subject);

    let id = mailer.send(&sent).await.expect("local SES accepts the message");
    assert!(!id.0.is_empty());

    let got = stored(&inbox, &id.0).await;
    assert_eq!(got["subject"], subject);
    assert_eq!(got["from"], sent.from);
    assert_eq!(got["destination"]["to"], serde_json::json!(["customer@example.com"]));
    assert_eq!(got["body"]["text"], sent.text);
    assert_eq!(got["body"]["html"], sent.html);
    let headers = got["headers"].as_array().expect("headers are stored");
    for (name, value) in &sent.headers {
        assert!(
            headers.iter().any(|h| h["name"] == name.as_str() && h["value"] == value.as_str()),
            "header {name} missing from {headers:?}"
        );
    }
}

#[tokio::test]
async fn an_unreachable_mail_service_is_a_retryable_failure() {
    local_endpoint("AWS_ENDPOINT_URL_SESV2");
    let config = load_sdk_config().await;
    let unreachable = SesMailer::client(&config).config().to_builder().endpoint_url("http://127.0.0.1:9").build();
    let mailer = SesMailer::new(aws_sdk_sesv2::Client::from_conf(unreachable), None);
    let err = mailer.send(&email(&unique("never sent"))).await.unwrap_err();
    assert!(matches!(err, MailError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn a_mail_service_that_never_answers_is_uncertain_not_retried() {
    local_endpoint("AWS_ENDPOINT_URL_SESV2");
    // Accepts connections and reads, but never replies: the request may have been taken.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            held.push(socket);
        }
    });
    let config = load_sdk_config().await;
    let silent = SesMailer::client(&config)
        .config()
        .to_builder()
        .endpoint_url(format!("http://{address}"))
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(std::time::Duration::from_millis(300))
                .build(),
        )
        .build();
    let mailer = SesMailer::new(aws_sdk_sesv2::Client::from_conf(silent), None);
    let err = mailer.send(&email(&unique("no answer"))).await.unwrap_err();
    assert!(matches!(err, MailError::Uncertain(_)), "{err:?}");
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1, "the client must not retry by itself");
}
