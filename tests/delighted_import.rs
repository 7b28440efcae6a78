//! `nps-cli import delighted` against DynamoDB Local, on a Delighted-shaped export generated from a
//! seeded distribution (`NPS_IMPORT_ROWS` answers, 3,000 by default; the 100,000 of BENCHMARKS.md
//! with `NPS_IMPORT_ROWS=100000`): people in one file, answers in JSON lines (half with their
//! person expanded, half by Delighted's person id) and in a CSV export, unsubscribes and bounces,
//! and a few bad rows. A dry run writes nothing; the import skips the bad rows by line; a rerun adds
//! nothing; once folded, `/v1/metrics` over the imported days equals the scoring crate on the
//! file's scores; an imported unsubscribe stops the next purchase's survey.

use crate::support;

use std::fmt::Write as _;
use std::time::Instant;

use lambda_http::Body;
use lambda_http::http::{Request, StatusCode};
use nps_adapters::dynamo::{DynamoApiKeys, DynamoRollups, Scope, Table};
use nps_aggregation::Aggregator;
use nps_domain::Timestamp;
use nps_scoring::{Histogram, Score, Summary};
use serde_json::{Value, json};
use support::{PERSON_KEY, deliver, items, stack};

const LINKS: &str = "https://nps.example";
const DAY: i64 = 86_400;

/// The export's files in `dir`, and the scores of its good answers.
struct Export {
    files: Vec<String>,
    histogram: Histogram,
    answers: usize,
    bad_rows: usize,
    unsubscribed: String,
    first_day: Timestamp,
    last_day: Timestamp,
}

/// A seeded export of `rows` answers over the 400 days before `now`, by `rows / 4` people.
fn export(dir: &std::path::Path, rows: usize, now: i64) -> Export {
    let mut rng = fastrand::Rng::with_seed(17);
    let people = (rows / 4).max(10);
    let email = |i: usize| format!("import-{i}@example.com");
    let mut people_file = String::from("[");
    for i in 0..people {
        let sep = if i == 0 { "" } else { "," };
        write!(people_file, "{sep}{}", json!({"id": format!("{}", 9000 + i), "email": email(i), "name": format!("Person {i}"), "created_at": now - 500 * DAY})).unwrap();
    }
    people_file.push(']');
    let (mut lines, mut csv) = (String::new(), String::from("Response ID,Score,Comment,Date,Email,Product\n"));
    let mut histogram = Histogram::EMPTY;
    let (mut first, mut last) = (i64::MAX, 0);
    for i in 0..rows {
        // A skewed distribution: more 9s and 10s than anything else, as NPS data is.
        let score: u8 = [10, 10, 9, 9, 9, 8, 8, 7, 6, 5, 3, 0][rng.usize(..12)];
        let created = now - 400 * DAY + rng.i64(0..399 * DAY);
        let person = rng.usize(..people);
        histogram.insert(Score::try_from(score).unwrap());
        (first, last) = (first.min(created), last.max(created));
        if i % 5 == 4 {
            let stamp = time::OffsetDateTime::from_unix_timestamp(created).unwrap();
            let (d, t) = (stamp.date(), stamp.time());
            writeln!(
                csv,
                "d{i},{score},\"csv, {i}\",{d} {:02}:{:02}:{:02},{},Stove",
                t.hour(),
                t.minute(),
                t.second(),
                email(person)
            )
            .unwrap();
            continue;
        }
        let person_field = if i % 2 == 0 {
            json!({"id": format!("{}", 9000 + person), "email": email(person)})
        } else {
            json!(format!("{}", 9000 + person))
        };
        let record = json!({"id": format!("d{i}"), "person": person_field, "survey_type": "nps", "score": score,
            "comment": if i % 3 == 0 { Value::Null } else { json!(format!("comment {i}")) }, "created_at": created,
            "updated_at": created + 60, "person_properties": {"Product": "Boots", "Delighted Source": "Email"},
            "notes": [], "tags": [], "additional_answers": []});
        writeln!(lines, "{record}").unwrap();
    }
    // Bad rows: a score of 11, an answer by an unknown person, a line that is not JSON.
    writeln!(lines, "{}", json!({"id": "bad1", "person": "9000", "score": 11, "created_at": now - DAY})).unwrap();
    writeln!(lines, "{}", json!({"id": "bad2", "person": "123456789", "score": 5, "created_at": now - DAY})).unwrap();
    writeln!(lines, "{{not json").unwrap();
    let unsubscribed = email(1);
    let unsubscribes =
        json!([{"person_id": "9001", "email": unsubscribed, "name": null, "unsubscribed_at": now - 30 * DAY}]);
    let bounces = json!([{"person_id": "9002", "email": email(2), "name": null, "bounced_at": now - 20 * DAY}]);
    let mut files = Vec::new();
    for (name, text) in [
        ("people.json", people_file),
        ("responses.jsonl", lines),
        ("responses.csv", csv),
        ("unsubscribes.json", unsubscribes.to_string()),
        ("bounces.json", bounces.to_string()),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        files.push(path.to_string_lossy().into_owned());
    }
    Export {
        files,
        histogram,
        answers: rows,
        bad_rows: 3,
        unsubscribed,
        first_day: Timestamp::from_unix(first),
        last_day: Timestamp::from_unix(last),
    }
}

async fn fold_everything(table: &Table) {
    support::aggregate(table, &Aggregator::new(DynamoRollups::new(table.clone())), Timestamp::now()).await;
}

#[test]
fn a_delighted_export_imports_once_with_its_history() {
    support::on_lambda_stack(import);
}

async fn import() {
    let rows: usize = std::env::var("NPS_IMPORT_ROWS").ok().and_then(|r| r.parse().ok()).unwrap_or(3000);
    let s = stack("delighted-import", LINKS, &["product"]).await;
    let dir = std::env::temp_dir().join(format!("nps-import-{}-{}", std::process::id(), Timestamp::now().unix()));
    std::fs::create_dir_all(&dir).unwrap();
    let now = Timestamp::now().unix();
    let e = export(&dir, rows, now);
    let mut args = vec!["import", "delighted"];
    args.extend(e.files.iter().map(String::as_str));

    let dry = support::cli(&s, &[&args[..2], &["--dry-run"], &args[2..]].concat()).await;
    assert!(dry.starts_with(&format!("dry run: would import {} responses", e.answers)), "{dry}");
    assert!(items(&s.table, "RESPONSE").await.is_empty(), "a dry run writes nothing");

    // The import itself, on a metered client: its write units per answer.
    let meter = std::sync::Arc::new(nps_adapters::dynamo::CapacityMeter::default());
    let options = nps_cli::import::Options {
        survey: nps_domain::survey::SurveyId::parse("default").unwrap(),
        dry_run: false,
        columns: Default::default(),
        person_key: nps_domain::person::PersonKey::new(PERSON_KEY).unwrap(),
        retention: std::time::Duration::from_secs(730 * DAY as u64),
        progress: false,
    };
    let started = Instant::now();
    let mut out = Vec::new();
    let report =
        nps_cli::import::import(&s.table.clone().metered(meter.clone()), &e.files, &options, &mut out).await.unwrap();
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!((report.responses, report.already, report.unsubscribes, report.bounces), (e.answers, 0, 1, 1));
    assert_eq!(report.bad.len(), e.bad_rows, "{:?}", report.bad);
    assert!(report.bad[0].contains("responses.jsonl:") && report.bad[0].contains("score"), "{:?}", report.bad);
    println!(
        "imported {} answers in {seconds:.1} s: {:.0} answers/s, {:.2} write units per answer (people and suppressions included)",
        e.answers,
        e.answers as f64 / seconds,
        meter.write_units() / e.answers as f64
    );

    let again = support::cli(&s, &args).await;
    assert!(
        again.starts_with(&format!("imported 0 responses ({} already there)", e.answers)),
        "a rerun adds nothing: {again}"
    );
    if e.answers <= 10_000 {
        // A scan of a larger table takes longer than a test client waits for one page.
        assert_eq!(items(&s.table, "RESPONSE").await.len(), e.answers);
    }

    fold_everything(&s.table).await;
    let (_, key) = DynamoApiKeys::new(s.table.clone()).create(Scope::Read, "import", Timestamp::now()).await.unwrap();
    let day = |t: Timestamp| t.to_rfc3339()[..10].to_owned();
    let query = format!("/v1/metrics?survey=default&since={}&until={}", day(e.first_day), day(e.last_day));
    let req = Request::builder()
        .uri(format!("http://127.0.0.1{query}"))
        .header("authorization", format!("Bearer {key}"))
        .body(Body::Empty)
        .unwrap();
    let answer = s.api().handle(req).await;
    assert_eq!(answer.status(), StatusCode::OK);
    let metrics: Value = serde_json::from_slice(answer.body().as_ref()).unwrap();
    let expected = Summary::of(&e.histogram);
    assert_eq!(metrics["n"], json!(expected.n), "{metrics}");
    assert_eq!(metrics["promoter_count"], json!(expected.promoter_count));
    assert_eq!(metrics["detractor_count"], json!(expected.detractor_count));
    assert_eq!(metrics["nps"].as_f64(), expected.nps);
    assert_eq!(metrics["groups"], Value::Null);

    let (status, outcome) = deliver(&s, &e.unsubscribed, "order-after-import", json!({}), Timestamp::now()).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        (outcome["status"].as_str(), outcome["reason"].as_str()),
        (Some("skipped"), Some("unsubscribed")),
        "{outcome}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
