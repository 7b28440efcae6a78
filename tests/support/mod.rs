//! What the cross-function tests share: the functions wired to one fresh table and the local
//! inbox, a signed purchase, the links of the email it sends, and a webhook receiver.

#![allow(dead_code, reason = "the benches compile this module too, and each uses a part of it")]

pub mod browser;
pub mod store_proxy;
pub mod to_end;

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use lambda_http::Body;
use lambda_http::http::{Method, Request, StatusCode};
use nps_adapters::aws::load_sdk_config;
use nps_adapters::dynamo::{DynamoSurveys, Table};
use nps_adapters::ses::SesMailer;
use nps_domain::Timestamp;
use nps_domain::person::PersonKey;
use nps_domain::survey::{Locale, Survey, SurveyId, SurveyKind};
use nps_local_stack::testing::{dynamodb, fresh_table_with, local_endpoint};
use serde_json::{Value, json};
use trigger::sources::generic;

pub const SECRET: &str = "journey-webhook-secret-0123456789";
pub const PERSON_KEY: &str = "journey-person-key-that-is-long-enough";
pub const TOKEN_KEYS: &str = "1:journey-token-key-that-is-long-enough-12";

pub struct Stack {
    pub trigger: trigger::App,
    pub capture: Arc<capture::App>,
    pub ses_events: ses_events::App,
    pub table: Table,
    inbox: String,
    /// Where the emailed links point (`NPS_CAPTURE_BASE_URL`).
    links: String,
    /// The functions' environment.
    vars: HashMap<&'static str, String>,
}

/// The functions on a fresh table, with a `default` survey segmented by `segments`; the emails'
/// links start with `links`.
pub async fn stack(purpose: &str, links: &str, segments: &[&str]) -> Stack {
    stack_with(purpose, links, segments, true).await
}

/// [`stack`], with the table's stream only if `stream` (see `fresh_table_with`).
pub async fn stack_with(purpose: &str, links: &str, segments: &[&str], stream: bool) -> Stack {
    let inbox = local_endpoint("NPS_INBOX_URL");
    let client = dynamodb().await;
    let name = fresh_table_with(&client, purpose, stream).await;
    let table = Table::new(client, name.clone());
    put_survey(&table, "default", SurveyKind::Transactional, "surveys", segments).await;
    let vars: HashMap<&'static str, String> = HashMap::from([
        ("NPS_TABLE", name),
        ("NPS_PERSON_KEY", PERSON_KEY.into()),
        ("NPS_TOKEN_KEYS", TOKEN_KEYS.into()),
        ("NPS_CAPTURE_BASE_URL", links.into()),
        ("NPS_WEBHOOK_SECRET_GENERIC", SECRET.into()),
    ]);
    let lookup = |k: &str| vars.get(k).cloned();
    let mailer = SesMailer::new(SesMailer::client(&load_sdk_config().await), None);
    Stack {
        trigger: trigger::App::new(trigger::Config::from_lookup(&lookup).unwrap(), table.clone(), mailer),
        capture: Arc::new(capture::App::new(capture::Config::from_lookup(&lookup).unwrap(), table.clone())),
        ses_events: ses_events::App::new(table.clone(), PersonKey::new(PERSON_KEY).unwrap()),
        table,
        inbox,
        links: links.trim_end_matches('/').to_owned(),
        vars,
    }
}

impl Stack {
    fn lookup(&self) -> impl Fn(&str) -> Option<String> + '_ {
        |k: &str| self.vars.get(k).cloned()
    }

    /// The `trigger` function on `table` (this stack's table through another client).
    pub async fn trigger_on(&self, table: Table) -> trigger::App {
        let mailer = SesMailer::new(SesMailer::client(&load_sdk_config().await), None);
        trigger::App::new(trigger::Config::from_lookup(&self.lookup()).unwrap(), table, mailer)
    }

    /// The `capture` function on `table` (this stack's table, metered for instance).
    pub fn capture_on(&self, table: Table) -> capture::App {
        capture::App::new(capture::Config::from_lookup(&self.lookup()).unwrap(), table)
    }

    /// The `dispatch` function's work on this stack's table.
    pub async fn outbox(&self) -> nps_sending::Outbox<SesMailer> {
        let mailer = SesMailer::new(SesMailer::client(&load_sdk_config().await), None);
        let config = nps_sending::SendingConfig::from_lookup(&self.lookup()).unwrap();
        nps_sending::Outbox::new(self.table.clone(), mailer, config)
    }

    /// The `api` function on this stack's table, with its person key (as in Lambda).
    pub fn api(&self) -> api::App {
        api::App::new(self.table.clone()).with_person_key(PersonKey::new(PERSON_KEY).unwrap())
    }
}

/// An eNPS survey `id` (anonymous answers) segmented by `segments`, beside the `default` one.
pub async fn enps_survey(s: &Stack, id: &str, segments: &[&str]) {
    put_survey(&s.table, id, SurveyKind::Enps, "people", segments).await;
}

/// A relationship survey `id` segmented by `segments`, beside the `default` one.
pub async fn relationship_survey(s: &Stack, id: &str, segments: &[&str]) {
    put_survey(&s.table, id, SurveyKind::Relationship, "accounts", segments).await;
}

/// A Journey Shop survey without throttle, delay or reminder, sent from `<mailbox>@journey.example`.
async fn put_survey(table: &Table, id: &str, kind: SurveyKind, mailbox: &str, segments: &[&str]) {
    DynamoSurveys::new(table.clone())
        .put(&Survey {
            id: SurveyId::parse(id).unwrap(),
            kind,
            product_name: "Journey Shop".into(),
            sender: format!("Journey Shop <{mailbox}@journey.example>"),
            default_locale: Locale::En,
            throttle_days: 0,
            delay_seconds: 0,
            reminder_after_days: None,
            segment_properties: segments.iter().map(|s| (*s).to_owned()).collect(),
            // As the API's default: the purchases' amounts weigh the answers (eNPS: nothing does).
            weight_properties: if kind == SurveyKind::Enps { vec![] } else { vec!["amount".into()] },
            cadence: None,
        })
        .await
        .unwrap();
}

/// Runs `test` on a thread with Lambda's stack (8 MB), in a runtime of its own: unoptimised, the
/// functions' futures need more than a test thread's 2 MB.
pub fn on_lambda_stack<F: std::future::Future<Output = ()>>(test: impl FnOnce() -> F + Send + 'static) {
    let run = || tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(test());
    std::thread::Builder::new().stack_size(8 << 20).spawn(run).unwrap().join().unwrap();
}

/// `nps-cli ARGS…` against the stack's table, as an operator runs it; what it printed.
pub async fn cli(s: &Stack, args: &[&str]) -> String {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let name = s.table.name().to_owned();
    let lookup = move |k: &str| match k {
        "NPS_TABLE" => Some(name.clone()),
        "NPS_PERSON_KEY" => Some(PERSON_KEY.to_owned()),
        _ => None,
    };
    let mut out = Vec::new();
    nps_cli::run(&args, &lookup, &mut out).await.unwrap();
    String::from_utf8(out).unwrap()
}

/// The clock of a test that answers through `answer_at` (an hour after its `at`) and reads the
/// day's figures after that: the real time, held at 21:00 UTC late in the day so that the answer
/// and the reading fall on the real clock's UTC day (after 23:00 the answer was tomorrow's).
pub fn day_clock() -> Timestamp {
    let now = Timestamp::now().unix();
    Timestamp::from_unix(now.min(now - now.rem_euclid(86_400) + 21 * 3600))
}

/// An address no other test uses.
pub fn unique(label: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{label}-{}-{nanos}@example.com", std::process::id())
}

/// A signed purchase for `email` with `properties` (a JSON object); the answer's JSON.
pub async fn purchase(s: &Stack, email: &str, order: &str, properties: Value) -> Value {
    purchase_at(s, email, order, json!({ "properties": properties }), Timestamp::now()).await
}

/// A signed purchase at `at`, with `fields` (`properties`, `survey`…) added to the event.
pub async fn purchase_at(s: &Stack, email: &str, order: &str, fields: Value, at: Timestamp) -> Value {
    let (status, answer) = deliver(s, email, order, fields, at).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    answer
}

/// The generic webhook's delivery of a purchase at `at` (its event id `<order>-paid`): the status
/// and the answer, whatever they are (a repeated delivery is answered 200).
pub async fn deliver(s: &Stack, email: &str, order: &str, fields: Value, at: Timestamp) -> (StatusCode, Value) {
    let mut event = json!({"event_id": format!("{order}-paid"), "email": email, "transaction_id": order});
    event.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
    let response = s.trigger.handle_at(generic_delivery(&event, at), at).await;
    (response.status(), serde_json::from_slice(response.body().as_ref()).unwrap())
}

/// The generic webhook's delivery of `event`, signed at `at`.
pub fn generic_delivery(event: &Value, at: Timestamp) -> Request<Body> {
    let body = serde_json::to_vec(event).unwrap();
    Request::builder()
        .method(Method::POST)
        .uri("http://127.0.0.1/v1/triggers/generic")
        .header("content-type", "application/json")
        .header(generic::HEADER, generic::sign(SECRET.as_bytes(), at.unix(), &body))
        .body(Body::from(body))
        .unwrap()
}

/// The email's link for `score` (`<links>/r/<token>?score=N`) and its unsubscribe link, as
/// read back from the local inbox.
pub async fn emailed_links(s: &Stack, email: &str, score: u8) -> (String, String) {
    let store: Value = reqwest::get(format!("{}/store", s.inbox)).await.unwrap().json().await.unwrap();
    let mail =
        store["emails"].as_array().unwrap().iter().find(|e| e["destination"]["to"][0] == email).expect("emailed");
    let text = mail["body"]["text"].as_str().unwrap();
    let find = |marker: &str| {
        let start = text.find(marker).expect("link in the email");
        text[start..].split_whitespace().next().unwrap().to_owned()
    };
    let links = &s.links;
    (find(&format!("{links}/r/")).replace("score=0", &format!("score={score}")), find(&format!("{links}/u/")))
}

/// A new customer's purchase at `at` with `fields` (`properties`, `survey`…), answered an hour
/// later through the emailed link with `form` (`score=N&comment=…`); only a click (score 7) when
/// `form` is empty. The customer's address.
pub async fn answer_at(s: &Stack, label: &str, fields: Value, at: Timestamp, form: &str) -> String {
    let email = unique(label);
    let answer = purchase_at(s, &email, &format!("order-{email}"), fields, at).await;
    assert_eq!(answer["status"], "sent", "{answer}");
    let (link, _) = emailed_links(s, &email, 0).await;
    let path = link.replace(&s.links, "").split('?').next().unwrap().to_owned();
    let later = at.plus(std::time::Duration::from_secs(3600));
    let agent = "Mozilla/5.0 (person)";
    let page = if form.is_empty() {
        s.capture.handle_at(capture_call(Method::GET, &format!("{path}?score=7"), agent, ""), later).await
    } else {
        s.capture.handle_at(capture_call(Method::POST, &path, agent, form), later).await
    };
    assert_eq!(page.status(), StatusCode::OK);
    email
}

/// A JSON call to the api as `key` at `now`: its status and JSON body (`null` if none).
pub async fn api_call_at(
    app: &api::App,
    method: Method,
    path: &str,
    key: &str,
    body: Option<Value>,
    now: Timestamp,
) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method)
        .uri(format!("http://127.0.0.1{path}"))
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .body(body.map_or(Body::Empty, |b| Body::from(b.to_string())))
        .unwrap();
    let answer = app.handle_at(req, now).await;
    (answer.status(), serde_json::from_slice(answer.body().as_ref()).unwrap_or(Value::Null))
}

/// A request to the capture function as a browser (or a scanner) sends it: `form` is the body.
pub fn capture_call(method: Method, path: &str, agent: &str, form: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(format!("http://127.0.0.1{path}"))
        .header("user-agent", agent)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(form.to_owned()))
        .unwrap()
}

/// Every item of `table` whose sort key is `kind` (`REQUEST`, `RESPONSE`), by request id, read
/// consistently; each at most once.
pub async fn items(table: &Table, kind: &str) -> HashMap<String, HashMap<String, AttributeValue>> {
    let mut found = HashMap::new();
    let mut start = None;
    loop {
        let page = table
            .client()
            .scan()
            .table_name(table.name())
            .consistent_read(true)
            .filter_expression("sk = :kind")
            .expression_attribute_values(":kind", AttributeValue::S(kind.into()))
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        for item in page.items() {
            let id = item["pk"].as_s().unwrap().strip_prefix("REQUEST#").unwrap().to_owned();
            assert!(found.insert(id, item.clone()).is_none(), "one {kind} per request");
        }
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            return found;
        }
    }
}

/// The emails in the local inbox to `address`.
pub async fn emails_to(s: &Stack, address: &str) -> Vec<Value> {
    let store: Value = reqwest::get(format!("{}/store", s.inbox)).await.unwrap().json().await.unwrap();
    store["emails"].as_array().unwrap().iter().filter(|e| e["destination"]["to"][0] == address).cloned().collect()
}

/// One request a webhook receiver was sent.
pub struct Post {
    pub signature: String,
    pub event_id: String,
    /// The body as sent (the signature covers these bytes).
    pub raw: String,
    pub body: Value,
}

impl Post {
    /// The signature is ours: `t=…,v1=HMAC-SHA256("<t>.<body>")` over the bytes sent, with `secret`.
    #[track_caller]
    pub fn assert_signed(&self, secret: &str) {
        let t: i64 = self.signature.strip_prefix("t=").and_then(|r| r.split(',').next()).unwrap().parse().unwrap();
        assert_eq!(self.signature, nps_domain::crypto::sign_timestamped(secret.as_bytes(), t, self.raw.as_bytes()));
    }
}
pub type Received = Arc<std::sync::Mutex<Vec<Post>>>;

/// A webhook receiver on loopback: answers 503 to the first `failures` requests, then 200, and
/// keeps every request it is sent.
pub async fn receiver(failures: usize) -> (String, Received) {
    use http_body_util::{BodyExt, Full};
    use hyper::body::{Bytes, Incoming};
    use nps_aggregation::webhook::{EVENT_ID_HEADER, SIGNATURE_HEADER};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/nps", listener.local_addr().unwrap());
    let received: Received = Arc::default();
    let kept = received.clone();
    tokio::spawn(async move {
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            let kept = kept.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                    let kept = kept.clone();
                    async move {
                        let header = |name: &str| {
                            req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
                        };
                        let (signature, event_id) = (header(SIGNATURE_HEADER), header(EVENT_ID_HEADER));
                        let bytes = req.into_body().collect().await.unwrap().to_bytes();
                        let raw = String::from_utf8_lossy(&bytes).into_owned();
                        let body: Value = serde_json::from_str(&raw).unwrap_or(Value::Null);
                        let mut kept = kept.lock().unwrap();
                        kept.push(Post { signature, event_id, raw, body });
                        let status = if kept.len() <= failures { 503 } else { 200 };
                        let mut answer = hyper::Response::new(Full::new(Bytes::from_static(b"")));
                        *answer.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                        Ok::<_, std::convert::Infallible>(answer)
                    }
                });
                let io = hyper_util::rt::TokioIo::new(socket);
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
            });
        }
    });
    (url, received)
}

/// What [`aggregate`] did: the batches' foldings added up with the tick's deliveries (read through
/// it: `report.folds`), what the pump did, and whether the tick checked for drops.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Aggregated {
    pub pumped: nps_local_stack::pump::Pumped,
    pub folding: nps_aggregation::Folding,
    pub drops_checked: bool,
}

impl std::ops::Deref for Aggregated {
    type Target = nps_aggregation::Folding;
    fn deref(&self) -> &Self::Target {
        &self.folding
    }
}

/// The stream of `table`, as the template's event source mapping hands it to the aggregate
/// function (the local pump, with the function's own handling of each payload), then the
/// scheduled tick, all at `now`. One pump per table, so each call goes on from where the last
/// stopped, as the mapping does.
pub async fn aggregate(table: &Table, aggregator: &nps_aggregation::Aggregator, now: Timestamp) -> Aggregated {
    use nps_aggregation::invocation::{Invocation, Payload, answer};
    use nps_local_stack::pump::{Mapping, Pump};
    static PUMPS: std::sync::LazyLock<tokio::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<Pump>>>>> =
        std::sync::LazyLock::new(Default::default);
    let pump = {
        let mut pumps = PUMPS.lock().await;
        match pumps.get(table.name()) {
            Some(pump) => pump.clone(),
            None => {
                let described = table.client().describe_table().table_name(table.name()).send().await.unwrap();
                let arn = described.table.and_then(|t| t.latest_stream_arn).expect("the table has a stream");
                let streams = aws_sdk_dynamodbstreams::Client::new(&load_sdk_config().await);
                let mapping = Mapping::from_template(&nps_local_stack::repo_template()).unwrap();
                let pump = Arc::new(tokio::sync::Mutex::new(Pump::new(streams, arn, mapping)));
                pumps.insert(table.name().to_owned(), pump.clone());
                pump
            }
        }
    };
    let totals = std::cell::RefCell::new(nps_aggregation::Folding::default());
    let invoke = |event: Value| {
        let totals = &totals;
        async move {
            let payload = Payload::from_json(event).map_err(|e| e.to_string())?;
            let Invocation::Batch { shard, changes } = Invocation::parse(payload).map_err(|e| e.to_string())? else {
                return Err("the pump sent something else than a batch".to_owned());
            };
            let folding = aggregator.fold(&shard, &changes, now).await.map_err(|e| e.to_string())?;
            totals.borrow_mut().add(&folding);
            Ok(answer())
        }
    };
    let pumped = pump.lock().await.drain(invoke).await.expect("the stream is readable");
    let ticked = aggregator.tick(now).await.expect("the tick");
    let mut folding = totals.into_inner();
    folding.alerts_raised += ticked.alerts_raised;
    folding.alerts_delivered += ticked.alerts_delivered;
    folding.events_delivered += ticked.events_delivered;
    Aggregated { pumped, folding, drops_checked: ticked.drops_checked }
}

/// The stream of `table`, for a rebuild.
pub async fn table_stream(table: &Table) -> nps_adapters::dynamo::TableStream {
    let described = table.client().describe_table().table_name(table.name()).send().await.unwrap();
    let arn = described.table.and_then(|t| t.latest_stream_arn).expect("the table has a stream");
    nps_adapters::dynamo::TableStream::new(aws_sdk_dynamodbstreams::Client::new(&load_sdk_config().await), arn)
}
