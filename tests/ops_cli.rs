//! The ops CLI (`nps-cli`) against DynamoDB Local: keys it creates open the API and are never
//! listed with their secret, revoked keys stop working; its rebuild counts answers nothing has
//! folded yet; its export pages through every row and matches the API's CSV.

use crate::support;

use lambda_http::Body;
use lambda_http::http::{Method, Request, StatusCode};
use nps_adapters::dynamo::{DynamoApiKeys, Scope};
use nps_domain::Timestamp;
use serde_json::{Value, json};
use support::{Stack, capture_call, emailed_links, purchase, stack, unique};

const LINKS: &str = "https://nps.example";

/// `nps-cli ARGS` on the stack's table: what it printed, or its error.
async fn cli(s: &Stack, args: &[&str]) -> Result<String, String> {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let name = s.table.name().to_owned();
    let lookup = move |k: &str| (k == "NPS_TABLE").then(|| name.clone());
    let mut out = Vec::new();
    match nps_cli::run(&args, &lookup, &mut out).await {
        Ok(()) => Ok(String::from_utf8(out).unwrap()),
        Err(e) => Err(format!("{e:#}")),
    }
}

async fn get(s: &Stack, key: &str, path_and_query: &str) -> (StatusCode, String) {
    let req = Request::builder()
        .uri(format!("http://127.0.0.1{path_and_query}"))
        .header("authorization", format!("Bearer {key}"))
        .body(Body::Empty)
        .unwrap();
    let response = api::App::new(s.table.clone()).handle(req).await;
    (response.status(), String::from_utf8(response.body().to_vec()).unwrap())
}

/// A purchase answered with `score` (and a comment) through the emailed link.
async fn answer(s: &Stack, score: u8, product: &str) {
    let email = unique(&format!("cli{score}"));
    purchase(s, &email, &format!("order-{email}"), json!({ "product": product })).await;
    let (link, _) = emailed_links(s, &email, score).await;
    let path = link.replace(LINKS, "").split('?').next().unwrap().to_owned();
    let form = format!("score={score}&comment=scored+{score}");
    let page = s.capture.handle(capture_call(Method::POST, &path, "Mozilla/5.0 (person)", &form)).await;
    assert_eq!(page.status(), StatusCode::OK);
}

#[tokio::test]
async fn keys_are_created_listed_without_secrets_and_revoked() {
    let s = stack("cli-keys", LINKS, &[]).await;
    let secret = cli(&s, &["keys", "create", "--scope", "read", "--name", "dashboard"]).await.unwrap();
    let secret = secret.trim();
    let keys = DynamoApiKeys::new(s.table.clone());
    let key = keys.verify(secret).await.unwrap().expect("the printed key opens the API");
    assert_eq!(key.scope, Scope::Read);
    assert_eq!(get(&s, secret, "/v1/surveys").await.0, StatusCode::OK);
    cli(&s, &["keys", "create", "--scope", "write", "--name", "crm sync"]).await.unwrap();

    let listed = cli(&s, &["keys", "list"]).await.unwrap();
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 2, "{listed}");
    let line = lines.iter().find(|l| l.starts_with(&key.id)).expect("the key is listed by id");
    assert!(line.contains("\tread\tdashboard\t") && line.ends_with("live"), "{line}");
    assert!(lines.iter().any(|l| l.contains("\twrite\tcrm sync\t")), "{listed}");
    assert!(!listed.contains(secret), "a secret is shown once, at creation");

    assert_eq!(cli(&s, &["keys", "revoke", &key.id]).await.unwrap().trim(), format!("revoked {}", key.id));
    assert!(keys.verify(secret).await.unwrap().is_none(), "a revoked key opens nothing");
    assert_eq!(get(&s, secret, "/v1/surveys").await.0, StatusCode::UNAUTHORIZED);
    let listed = cli(&s, &["keys", "list"]).await.unwrap();
    assert!(listed.lines().any(|l| l.starts_with(&key.id) && l.contains("\trevoked ")), "{listed}");

    let unknown = cli(&s, &["keys", "revoke", "no-such-key"]).await.unwrap_err();
    assert!(unknown.contains("no API key with id no-such-key"), "{unknown}");
    for wrong in [
        &["keys", "create", "--scope", "admin", "--name", "x"][..],
        &["keys", "create", "--scope", "read"],
        &["keys", "create", "--scope", "read", "--name", " "],
        &["keys", "create", "--scope", "read", "--name", "tab\there"],
        &["keys"],
        &["delete-everything"],
    ] {
        assert!(cli(&s, wrong).await.is_err(), "{wrong:?} is refused");
    }
}

#[tokio::test]
async fn rebuild_counts_what_was_never_folded_and_export_pages_through_every_row() {
    let s = stack("cli-rebuild", LINKS, &["product"]).await;
    for (score, product) in [(10, "boots"), (9, "hats"), (3, "boots"), (7, "hats"), (0, "boots")] {
        answer(&s, score, product).await;
    }
    let (_, key) = DynamoApiKeys::new(s.table.clone()).create(Scope::Read, "cli", Timestamp::now()).await.unwrap();
    let today = Timestamp::now().to_rfc3339()[..10].to_owned();
    let metrics = format!("/v1/metrics?survey=default&since={today}&until={today}&group_by=product");
    let (status, before) = get(&s, &key, &metrics).await;
    assert_eq!(status, StatusCode::OK, "{before}");
    assert_eq!(serde_json::from_str::<Value>(&before).unwrap()["n"], json!(0), "no aggregation has run");

    let printed = cli(&s, &["rebuild"]).await.unwrap();
    assert!(printed.starts_with("generation ") && printed.contains(" rollups written"), "{printed}");
    let (_, after) = get(&s, &key, &metrics).await;
    let after: Value = serde_json::from_str(&after).unwrap();
    assert_eq!(
        (&after["n"], &after["promoter_count"], &after["detractor_count"], &after["nps"]),
        (&json!(5), &json!(2), &json!(2), &json!(0.0)),
        "{after}"
    );
    let groups: Vec<(&str, &Value)> =
        after["groups"].as_array().unwrap().iter().map(|g| (g["value"].as_str().unwrap(), &g["n"])).collect();
    assert_eq!(groups, [("boots", &json!(3)), ("hats", &json!(2))]);

    // Two rows per read: the export must follow the cursor to the end.
    let query = format!("survey=default&since={today}&until={today}&per_page=2");
    let exported = cli(&s, &["export", &query]).await.unwrap();
    let (status, served) =
        get(&s, &key, &format!("/v1/responses.csv?survey=default&since={today}&until={today}")).await;
    assert_eq!(status, StatusCode::OK, "{served}");
    assert_eq!(exported, served, "the CLI's export is the API's CSV, every row once");
    let mut reader = csv::Reader::from_reader(exported.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 5);
    let bad = cli(&s, &["export", "survey=nope"]).await.unwrap_err();
    assert!(bad.contains("no survey with id nope"), "{bad}");
}
