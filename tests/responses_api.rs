//! `GET /v1/responses` and `GET /v1/responses.csv` against DynamoDB Local: three months of
//! answers through the real trigger and capture functions; pages return every response exactly
//! once while new ones arrive; filters equal the raw items; the CSV parses with a standard reader,
//! matches the JSON, and neutralises formulas.

use crate::support;

use std::collections::{BTreeMap, BTreeSet};

use lambda_http::Body;
use lambda_http::http::{Method, Request, StatusCode};
use nps_adapters::dynamo::{Counted, DynamoApiKeys, Scope};
use nps_domain::Timestamp;
use nps_domain::response::Response;
use serde_json::{Value, json};
use support::{Stack, answer_at, enps_survey, relationship_survey, stack};

const LINKS: &str = "https://nps.example";
/// 2026-08-01T00:00:00Z.
const START: i64 = 1_785_542_400;
const RANGE: &str = "since=2026-08-01&until=2026-10-31";
const FORMULA: &str = "=HYPERLINK(\"http://evil.example\",\"click\")";
const AWKWARD: &str = "Fast, \"friendly\" and\nwell packed";

struct Api {
    app: api::App,
    key: String,
}

impl Api {
    async fn get(&self, path_and_query: &str) -> (StatusCode, Option<String>, String) {
        let req = Request::builder()
            .uri(format!("http://127.0.0.1{path_and_query}"))
            .header("authorization", format!("Bearer {}", self.key))
            .body(Body::Empty)
            .unwrap();
        let response = self.app.handle_at(req, Timestamp::from_unix(START + 100 * 86_400)).await;
        let link = response.headers().get("link").map(|v| v.to_str().unwrap().to_owned());
        (response.status(), link, String::from_utf8(response.body().to_vec()).unwrap())
    }

    async fn json(&self, path_and_query: &str) -> (Value, Option<String>) {
        let (status, link, body) = self.get(path_and_query).await;
        assert_eq!(status, StatusCode::OK, "{path_and_query}: {body}");
        (serde_json::from_str(&body).unwrap(), link)
    }
}

async fn raw_responses(s: &Stack) -> Vec<Response> {
    let out = s.table.client().scan().table_name(s.table.name()).send().await.unwrap();
    assert!(out.last_evaluated_key.is_none(), "a small table");
    out.items()
        .iter()
        .filter_map(|i| match Counted::parse(i).unwrap() {
            Some(Counted::Response(r)) => Some(r),
            _ => None,
        })
        .collect()
}

fn encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn pages_filters_and_the_csv_agree_with_the_raw_responses() {
    let s = stack("responses-api", LINKS, &["product"]).await;
    let mut emails = BTreeMap::new();
    for i in 0..27 {
        let at = Timestamp::from_unix(START + (i as i64) * 3 * 86_400 + 3600 * (i as i64 % 5));
        let product = ["boots", "hats", "socks"][i % 3];
        let form = match i {
            4 => format!("score=2&comment={}", encode(FORMULA)),
            5 => format!("score=10&comment={}", encode(AWKWARD)),
            _ if i % 9 == 8 => String::new(),
            _ => format!("score={}", (i * 7) % 11),
        };
        let email = answer_at(&s, &format!("list{i}"), json!({"properties": {"product": product}}), at, &form).await;
        emails.insert(i, email);
    }
    let (_, key) = DynamoApiKeys::new(s.table.clone()).create(Scope::Read, "list", Timestamp::now()).await.unwrap();
    let api = Api { app: api::App::new(s.table.clone()), key };

    // Every page through the Link header; new answers arrive while paging.
    let mut seen: Vec<String> = Vec::new();
    let mut next = Some(format!("/v1/responses?survey=default&{RANGE}&per_page=7"));
    let mut pages = 0;
    while let Some(url) = next.take() {
        let (page, link) = api.json(&url).await;
        pages += 1;
        let listed = page["responses"].as_array().unwrap();
        assert!(listed.len() <= 7);
        seen.extend(listed.iter().map(|r| r["id"].as_str().unwrap().to_owned()));
        assert_eq!(link.is_some(), !page["next_cursor"].is_null(), "a Link header with every next cursor");
        next = link.map(|l| l.trim_start_matches('<').split('>').next().unwrap().to_owned());
        if pages == 2 {
            for i in 100..103 {
                let at = Timestamp::from_unix(START + 80 * 86_400 + i as i64);
                answer_at(&s, &format!("list{i}"), json!({"properties": {"product": "boots"}}), at, "score=9").await;
            }
        }
    }
    let unique_seen: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique_seen.len(), seen.len(), "no response twice");
    let raw = raw_responses(&s).await;
    let confirmed: BTreeSet<String> =
        raw.iter().filter(|r| r.score.is_some()).map(|r| r.request_id.to_string()).collect();
    assert_eq!(seen.iter().cloned().collect::<BTreeSet<_>>(), confirmed, "every confirmed response once");
    assert!(pages >= 4, "{pages} pages");

    // Filters equal the raw responses.
    let ids = |page: &Value| -> BTreeSet<String> {
        page["responses"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect()
    };
    let want = |keep: &dyn Fn(&Response) -> bool| -> BTreeSet<String> {
        raw.iter().filter(|r| keep(r)).map(|r| r.request_id.to_string()).collect()
    };
    let (page, _) = api.json(&format!("/v1/responses?survey=default&{RANGE}&per_page=100&category=detractor")).await;
    assert_eq!(ids(&page), want(&|r| r.score.is_some_and(|s| s.value() <= 6)));
    let (page, _) = api.json(&format!("/v1/responses?survey=default&{RANGE}&per_page=100&segment.product=hats")).await;
    assert_eq!(ids(&page), want(&|r| r.score.is_some() && r.properties["product"] == "hats"));
    let (page, _) = api.json(&format!("/v1/responses?survey=default&{RANGE}&per_page=100&confirmed=false")).await;
    assert_eq!(ids(&page), want(&|r| r.score.is_none()));
    assert!(page["responses"][0]["score"].is_null() && page["responses"][0]["confirmed"] == false);
    let since = START + 60 * 86_400;
    let (page, _) = api.json(&format!("/v1/responses?survey=default&{RANGE}&per_page=100&updated_since={since}")).await;
    assert_eq!(ids(&page), want(&|r| r.score.is_some() && r.updated_at.unix() >= since));
    let (page, _) = api.json("/v1/responses?survey=default&since=2026-09-01&until=2026-09-30&per_page=100").await;
    let september = |r: &Response| (START + 31 * 86_400..START + 61 * 86_400).contains(&r.created_at.unix());
    assert_eq!(ids(&page), want(&|r| r.score.is_some() && september(r)));

    // expand=person: the address the survey went to.
    let (page, _) = api.json(&format!("/v1/responses?survey=default&{RANGE}&per_page=3&expand=person")).await;
    let first = &page["responses"][0];
    assert_eq!(first["person"]["email"], emails[&0].as_str(), "{first}");
    let (page, _) = api.json(&format!("/v1/responses?survey=default&{RANGE}&per_page=3")).await;
    assert!(page["responses"][0].get("person").is_none(), "no person unless asked");

    // The CSV: a standard reader gets the JSON's rows; the formula is inert, the awkward comment intact.
    let (status, link, csv_text) = api.get(&format!("/v1/responses.csv?survey=default&{RANGE}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(link.is_none(), "all rows in one answer");
    assert!(csv_text.contains("\r\n"), "RFC 4180 line ends");
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    assert_eq!(header[0], "id");
    assert!(header.contains(&"property.product".to_owned()));
    let rows: Vec<BTreeMap<String, String>> =
        reader.records().map(|r| header.iter().cloned().zip(r.unwrap().iter().map(str::to_owned)).collect()).collect();
    let (all, _) = api.json(&format!("/v1/responses?survey=default&{RANGE}&per_page=100")).await;
    let listed = all["responses"].as_array().unwrap();
    assert_eq!(rows.len(), listed.len());
    for (row, json) in rows.iter().zip(listed) {
        assert_eq!(row["id"], json["id"].as_str().unwrap());
        assert_eq!(row["score"], json["score"].to_string());
        assert_eq!(row["property.product"], json["person_properties"]["product"].as_str().unwrap());
        let comment = json["comment"].as_str().unwrap_or("");
        match comment {
            FORMULA => assert_eq!(row["comment"], format!("'{FORMULA}"), "neutralised"),
            _ => assert_eq!(row["comment"], comment),
        }
    }
    assert!(rows.iter().any(|r| r["comment"] == AWKWARD), "quotes, commas and a line break survive");
}

#[tokio::test]
async fn without_a_survey_every_surveys_responses_page_together_in_creation_order() {
    let s = stack("responses-api-all", LINKS, &["product"]).await;
    // eNPS answers are never listed (docs/enps.md): staff's must not show up among the others.
    enps_survey(&s, "staff", &["team"]).await;
    relationship_survey(&s, "crew", &["team"]).await;
    // Three surveys interleaved in time; two answers of different surveys in each second.
    let answer = |i: usize| {
        let survey = ["default", "staff", "crew"][i % 3];
        let property = if survey == "default" { json!({"product": "boots"}) } else { json!({"team": "ops"}) };
        let fields = json!({"survey": survey, "properties": property});
        let at = Timestamp::from_unix(START + (i as i64 / 2) * 3 * 86_400);
        let form = if i % 7 == 6 { String::new() } else { format!("score={}", i % 11) };
        let s = &s;
        async move { answer_at(s, &format!("all{i}"), fields, at, &form).await }
    };
    for i in 0..24 {
        answer(i).await;
    }
    let (_, key) = DynamoApiKeys::new(s.table.clone()).create(Scope::Read, "all", Timestamp::now()).await.unwrap();
    let api = Api { app: s.api(), key };

    let mut seen = Vec::new();
    let mut next = Some(format!("/v1/responses?{RANGE}&per_page=4"));
    let mut pages = 0;
    while let Some(url) = next.take() {
        let (page, link) = api.json(&url).await;
        seen.extend(page["responses"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_owned()));
        next = link.map(|l| l.trim_start_matches('<').split('>').next().unwrap().to_owned());
        pages += 1;
        if pages == 2 {
            answer(24).await;
            answer(25).await;
        }
    }
    let mut confirmed: Vec<Response> =
        raw_responses(&s).await.into_iter().filter(|r| r.score.is_some() && r.survey_id.as_str() != "staff").collect();
    confirmed.sort_by_key(|r| (r.created_at, r.request_id.to_string()));
    let want: Vec<String> = confirmed.iter().map(|r| r.request_id.to_string()).collect();
    assert_eq!(seen, want, "each confirmed response of every survey but the eNPS one once, by creation time then id");
    assert_eq!(confirmed.iter().map(|r| r.survey_id.as_str()).collect::<BTreeSet<_>>().len(), 2);
    assert!(pages >= 4, "{pages} pages");

    // Filters hold across surveys; the CSV has every survey's property columns.
    let (page, _) = api.json(&format!("/v1/responses?{RANGE}&per_page=100&category=promoter")).await;
    let promoters: Vec<String> =
        page["responses"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect();
    let want: Vec<String> = confirmed
        .iter()
        .filter(|r| r.score.is_some_and(|s| s.value() >= 9))
        .map(|r| r.request_id.to_string())
        .collect();
    assert_eq!(promoters, want);
    let (status, _, csv_text) = api.get(&format!("/v1/responses.csv?{RANGE}")).await;
    assert_eq!(status, StatusCode::OK);
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    let columns = ["property.team".to_owned(), "property.product".to_owned()];
    assert!(header.ends_with(&columns), "surveys by id (crew, default): {header:?}");
    assert_eq!(reader.records().count(), confirmed.len());
}

#[tokio::test]
async fn bad_list_calls_get_a_clear_4xx() {
    let s = stack("responses-api-errors", LINKS, &["product"]).await;
    let (_, key) = DynamoApiKeys::new(s.table.clone()).create(Scope::Read, "errors", Timestamp::now()).await.unwrap();
    let api = Api { app: api::App::new(s.table.clone()), key };
    for (query, parameter) in [
        ("/v1/responses?survey=nope", "survey"),
        ("/v1/responses?survey=default&since=9999-12-01&until=9999-12-31", "since"),
        ("/v1/responses.csv?survey=default&until=-9999-01-01", "until"),
        ("/v1/responses?survey=default&per_page=500", "per_page"),
        ("/v1/responses?survey=default&cursor=bm90LWEtY3Vyc29y", "cursor"),
        ("/v1/responses.csv?survey=default&per_page=5", "per_page"),
        ("/v1/responses.csv?survey=default&format=xlsx", "format"),
    ] {
        let (status, _, body) = api.get(query).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert!(body["error"]["message"].as_str().unwrap().starts_with(&format!("{parameter}:")), "{query}: {body}");
    }
    let post = Request::builder().method(Method::POST).uri("http://127.0.0.1/v1/responses").body(Body::Empty).unwrap();
    assert_eq!(api.app.handle(post).await.status(), StatusCode::METHOD_NOT_ALLOWED);
    let anonymous = Request::builder().uri("http://127.0.0.1/v1/responses?survey=default").body(Body::Empty).unwrap();
    assert_eq!(api.app.handle(anonymous).await.status(), StatusCode::UNAUTHORIZED);
}
