//! `nps-cli import delighted FILE…`: what Delighted's users exported before it shut down, brought
//! in with its history (docs/migrating-from-delighted.md).
//!
//! Files are the API's JSON (an array, or JSON lines, as its clients' auto-paging dumped them) of
//! survey responses (with `person` expanded, or people in another file), people, unsubscribes and
//! bounces, each record recognised by its fields; or CSV exports of responses, whose columns are
//! found by their usual names (`--column field=Header` overrides one; columns that name nothing
//! else are properties). Every file is read and checked before anything is written; a bad row is
//! reported with its file and line and left out. Answers keep their dates (they count on their own
//! days once the aggregator folds them), and each gets an id derived from its Delighted id, written
//! only if absent: a rerun adds nothing.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use futures_util::stream::{self, StreamExt};
use nps_adapters::dynamo::{DynamoPeople, DynamoResponses, DynamoSurveys, SuppressionReason, Table};
use nps_domain::Timestamp;
use nps_domain::email::EmailAddress;
use nps_domain::person::{PersonId, PersonKey};
use nps_domain::request::RequestId;
use nps_domain::response::{Comment, Response};
use nps_domain::survey::{Survey, SurveyId, SurveyKind};
use nps_domain::weight::Weights;
use nps_scoring::Score;
use serde_json::Value;

/// Writes in flight at once.
const CONCURRENCY: usize = 32;
/// Bad rows printed one by one; past that, only counted.
const BAD_ROWS_SHOWN: usize = 50;

/// What a CSV column can stand for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    Id,
    Score,
    Comment,
    CreatedAt,
    UpdatedAt,
    Email,
    Name,
    PersonId,
}

impl Field {
    const ALL: [Field; 8] = [
        Field::Id,
        Field::Score,
        Field::Comment,
        Field::CreatedAt,
        Field::UpdatedAt,
        Field::Email,
        Field::Name,
        Field::PersonId,
    ];

    fn name(self) -> &'static str {
        match self {
            Field::Id => "id",
            Field::Score => "score",
            Field::Comment => "comment",
            Field::CreatedAt => "created_at",
            Field::UpdatedAt => "updated_at",
            Field::Email => "email",
            Field::Name => "name",
            Field::PersonId => "person_id",
        }
    }

    /// The headers Delighted's exports (and people's spreadsheets) use for it, lower-cased.
    fn usual_headers(self) -> &'static [&'static str] {
        match self {
            Field::Id => &["response id", "id", "response_id"],
            Field::Score => &["score", "nps score"],
            Field::Comment => &["comment", "comments"],
            Field::CreatedAt => {
                &["created at", "created_at", "date", "response date", "response timestamp", "timestamp", "date (utc)"]
            }
            Field::UpdatedAt => &["updated at", "updated_at"],
            Field::Email => &["email", "person email", "person_email", "email address"],
            Field::Name => &["name", "person name", "person_name"],
            Field::PersonId => &["person id", "person_id"],
        }
    }

    pub fn parse(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// How to import.
#[derive(Debug, Clone)]
pub struct Options {
    pub survey: SurveyId,
    pub dry_run: bool,
    /// `--column field=Header`.
    pub columns: BTreeMap<Field, String>,
    pub person_key: PersonKey,
    pub retention: Duration,
    /// A progress bar on standard error.
    pub progress: bool,
}

/// What an import did (or, dry, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub rows: usize,
    pub responses: usize,
    /// Answers found already imported (a rerun).
    pub already: usize,
    pub people: usize,
    pub unsubscribes: usize,
    pub bounces: usize,
    /// `<file>:<line>: <problem>`.
    pub bad: Vec<String>,
}

#[derive(Debug, Clone)]
struct Person {
    email: EmailAddress,
    name: Option<String>,
    created_at: Option<Timestamp>,
}

#[derive(Debug, Clone)]
struct Answer {
    source: String,
    email: Option<EmailAddress>,
    /// Delighted's person id, when the person was not expanded.
    person_ref: Option<String>,
    score: Score,
    comment: Option<Comment>,
    created_at: Timestamp,
    updated_at: Timestamp,
    properties: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
enum Row {
    Answer(Box<Answer>),
    Person { source: Option<String>, person: Person },
    Suppressed { email: EmailAddress, reason: SuppressionReason, at: Timestamp },
}

/// A time as exports write it: Unix seconds, RFC 3339, `YYYY-MM-DD HH:MM:SS` (UTC, optionally
/// followed by `UTC` or `+0000`), or a day.
fn time(value: &Value) -> Option<Timestamp> {
    if let Some(n) = value.as_i64() {
        return (0..=32_503_680_000).contains(&n).then(|| Timestamp::from_unix(n));
    }
    let text = value.as_str()?.trim();
    if let Ok(n) = text.parse::<i64>() {
        return time(&Value::from(n));
    }
    if let Some(t) = Timestamp::parse_rfc3339(text) {
        return Some(t);
    }
    let text = text.trim_end_matches(" UTC").trim_end_matches(" +0000").trim_end_matches('Z');
    let with_time =
        if text.len() == 10 { format!("{text}T00:00:00Z") } else { format!("{}Z", text.replacen(' ', "T", 1)) };
    Timestamp::parse_rfc3339(&with_time)
}

fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn email(value: Option<&Value>) -> Result<EmailAddress, String> {
    let raw = text(value).ok_or("no email")?;
    EmailAddress::parse(&raw).map_err(|e| format!("email: {e}"))
}

fn name(value: Option<&Value>) -> Result<Option<String>, String> {
    text(value)
        .map(|n| nps_domain::intake::bounded_text("name", &n, nps_domain::intake::MAX_NAME_LEN))
        .transpose()
        .map_err(|e| e.to_string())
}

fn score(value: Option<&Value>) -> Result<Score, String> {
    let n = match value {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    n.and_then(|n| u8::try_from(n).ok())
        .and_then(|n| Score::try_from(n).ok())
        .ok_or_else(|| "score: not 0 to 10".into())
}

fn properties(value: Option<&Value>) -> BTreeMap<String, String> {
    let Some(Value::Object(map)) = value else { return BTreeMap::new() };
    map.iter().filter_map(|(k, v)| nps_domain::intake::property(k, &text(Some(v))?).ok()).collect()
}

/// One JSON record of Delighted's API, whatever it is.
fn json_row(record: &Value, now: Timestamp) -> Result<Row, String> {
    let field = |name: &str| record.get(name);
    if field("score").is_some() {
        let created_at = time(field("created_at").ok_or("no created_at")?).ok_or("created_at: not a time")?;
        if created_at > now {
            return Err("created_at: in the future".into());
        }
        let id = text(field("id")).ok_or("no id")?;
        let (email, person_ref) = match field("person") {
            Some(p @ Value::Object(_)) => (Some(email(p.get("email"))?), None),
            Some(p) => (field("person_email").map(|e| email(Some(e))).transpose()?, text(Some(p))),
            None => (Some(email(field("person_email"))?), None),
        };
        return Ok(Row::Answer(Box::new(Answer {
            source: format!("delighted:{id}"),
            email,
            person_ref,
            score: score(field("score"))?,
            comment: text(field("comment"))
                .map(|c| Comment::parse(&c))
                .transpose()
                .map_err(|e| format!("comment: {e}"))?
                .flatten(),
            created_at,
            updated_at: field("updated_at").and_then(time).unwrap_or(created_at).max(created_at),
            properties: properties(field("person_properties")),
        })));
    }
    for (at, reason) in
        [("unsubscribed_at", SuppressionReason::Unsubscribed), ("bounced_at", SuppressionReason::Bounced)]
    {
        if let Some(when) = field(at) {
            let email = email(field("email").or(field("person_email")))?;
            return Ok(Row::Suppressed { email, reason, at: time(when).ok_or(format!("{at}: not a time"))? });
        }
    }
    if field("email").is_some() {
        let person = Person {
            email: email(field("email"))?,
            name: name(field("name"))?,
            created_at: field("created_at").and_then(time),
        };
        return Ok(Row::Person { source: text(field("id")), person });
    }
    Err("not a survey response, person, unsubscribe or bounce (no score, email, unsubscribed_at or bounced_at)".into())
}

/// The rows of one file, each with its line, or the problem with it.
fn read_file(path: &Path, options: &Options, now: Timestamp) -> Result<Vec<(usize, Result<Row, String>)>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let is_csv = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    if is_csv {
        return csv_rows(&bytes, options, now);
    }
    let text = std::str::from_utf8(&bytes).with_context(|| format!("{} is not UTF-8", path.display()))?;
    if text.trim_start().starts_with('[') {
        let records: Vec<Value> =
            serde_json::from_str(text).with_context(|| format!("{} is not a JSON array", path.display()))?;
        // An array's records are numbered from 1, as its lines would be in JSON lines.
        return Ok(records.iter().enumerate().map(|(i, r)| (i + 1, json_row(r, now))).collect());
    }
    Ok(text
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            let row = serde_json::from_str::<Value>(line)
                .map_err(|e| format!("not JSON: {e}"))
                .and_then(|r| json_row(&r, now));
            (i + 1, row)
        })
        .collect())
}

/// A CSV export of responses: each column found by its usual name or `--column`; the rest are
/// properties.
fn csv_rows(bytes: &[u8], options: &Options, now: Timestamp) -> Result<Vec<(usize, Result<Row, String>)>> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(bytes);
    let headers: Vec<String> =
        reader.headers().context("the CSV has no header line")?.iter().map(str::to_owned).collect();
    let mut columns: HashMap<Field, usize> = HashMap::new();
    for field in Field::ALL {
        let found = match options.columns.get(&field) {
            Some(header) => Some(
                headers
                    .iter()
                    .position(|h| h.eq_ignore_ascii_case(header))
                    .with_context(|| format!("--column {}={header}: no such column", field.name()))?,
            ),
            None => headers.iter().position(|h| field.usual_headers().contains(&h.trim().to_lowercase().as_str())),
        };
        if let Some(i) = found {
            columns.insert(field, i);
        }
    }
    if !columns.contains_key(&Field::Score) || !columns.contains_key(&Field::CreatedAt) {
        bail!("the CSV needs a score and a date column (found: {}); name them with --column", headers.join(", "));
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.context("reading the CSV")?;
        let line = record.position().map_or(0, |p| usize::try_from(p.line()).unwrap_or(0));
        let mut json = serde_json::Map::new();
        let mut props = serde_json::Map::new();
        for (i, value) in record.iter().enumerate() {
            match columns.iter().find(|(_, c)| **c == i) {
                Some((field, _)) => {
                    json.insert(field.name().to_owned(), Value::String(value.to_owned()));
                }
                None if !value.trim().is_empty() => {
                    props.insert(headers.get(i).cloned().unwrap_or_default(), Value::String(value.to_owned()));
                }
                None => {}
            }
        }
        // A row without an id is known by what it says: importing the file again finds it.
        if !json.contains_key("id") {
            json.insert(
                "id".into(),
                Value::String(format!("row:{}", record.iter().collect::<Vec<_>>().join("\u{1f}"))),
            );
        }
        if let Some(e) = json.remove("email") {
            json.insert("person_email".into(), e);
        }
        json.insert("person_properties".into(), Value::Object(props));
        rows.push((line, json_row(&Value::Object(json), now).map_err(|e| e.replace("person_email", "email"))));
    }
    Ok(rows)
}

/// Imports `files` into `table`.
pub async fn import(table: &Table, files: &[String], options: &Options, out: &mut dyn Write) -> Result<Report> {
    let now = Timestamp::now();
    let survey: Survey = DynamoSurveys::new(table.clone())
        .get(&options.survey)
        .await?
        .with_context(|| format!("no survey {} (create it first: /v1/surveys)", options.survey))?;
    if survey.kind == SurveyKind::Enps {
        bail!("survey {} is an eNPS survey: its answers are anonymous and are not imported one by one", survey.id);
    }
    let mut report = Report::default();
    let mut rows = Vec::new();
    // Bad rows by file and line, reported in that order.
    let mut bad: Vec<((usize, usize), String)> = Vec::new();
    for (f, file) in files.iter().enumerate() {
        for (line, row) in read_file(Path::new(file), options, now)? {
            report.rows += 1;
            match row {
                Ok(row) => rows.push(((f, line), row)),
                Err(problem) => bad.push(((f, line), problem)),
            }
        }
    }
    // People first: a response that names its person by Delighted's id finds their address here.
    let mut people: HashMap<String, EmailAddress> = HashMap::new();
    let mut profiles: BTreeMap<String, Person> = BTreeMap::new();
    let keep_profile = |p: &Person, profiles: &mut BTreeMap<String, Person>| {
        let entry = profiles.entry(p.email.identity()).or_insert_with(|| p.clone());
        entry.created_at = match (entry.created_at, p.created_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        entry.name = entry.name.take().or_else(|| p.name.clone());
    };
    for (_, row) in &rows {
        if let Row::Person { source, person } = row {
            if let Some(source) = source {
                people.insert(source.clone(), person.email.clone());
            }
            keep_profile(person, &mut profiles);
        }
    }
    let mut answers = Vec::new();
    let mut suppressions = Vec::new();
    for (place, row) in rows {
        match row {
            Row::Answer(mut a) => {
                if a.email.is_none() {
                    a.email = a.person_ref.as_ref().and_then(|r| people.get(r)).cloned();
                }
                let Some(email) = a.email.clone() else {
                    let person = a.person_ref.as_deref().unwrap_or("?");
                    bad.push((place, format!("person {person} is not expanded nor in a people file")));
                    continue;
                };
                keep_profile(&Person { email, name: None, created_at: Some(a.created_at) }, &mut profiles);
                answers.push(a);
            }
            Row::Suppressed { email, reason, at } => suppressions.push((email, reason, at)),
            Row::Person { .. } => {}
        }
    }
    bad.sort();
    report.bad = bad.into_iter().map(|((f, line), problem)| format!("{}:{line}: {problem}", files[f])).collect();
    report.people = profiles.len();
    report.unsubscribes = suppressions.iter().filter(|s| s.1 == SuppressionReason::Unsubscribed).count();
    report.bounces = suppressions.len() - report.unsubscribes;
    for bad in report.bad.iter().take(BAD_ROWS_SHOWN) {
        eprintln!("skipped {bad}");
    }
    if report.bad.len() > BAD_ROWS_SHOWN {
        eprintln!("… and {} more bad rows", report.bad.len() - BAD_ROWS_SHOWN);
    }
    if options.dry_run {
        report.responses = answers.len();
        writeln!(out, "dry run: would import {}", summary(&report))?;
        return Ok(report);
    }

    let bar = progress(options.progress, (answers.len() + profiles.len() + suppressions.len()) as u64);
    let (responses, people_store) = (DynamoResponses::new(table.clone()), DynamoPeople::new(table.clone()));
    // Where the survey's history now starts, before any answer of it is written.
    if let Some(first) = answers.iter().map(|a| a.created_at).min() {
        responses.note_history(&survey.id, &first.to_rfc3339()[..10]).await?;
    }
    let keep = now.plus(options.retention);
    let key = &options.person_key;
    let written: Vec<Result<bool>> = stream::iter(answers.into_iter().map(|a| {
        let (responses, survey, bar) = (&responses, &survey, &bar);
        async move {
            let email = a.email.as_ref().context("an answer without its person")?;
            let kept: BTreeMap<String, String> =
                a.properties.into_iter().take(nps_domain::intake::MAX_PROPERTIES).collect();
            let weights = Weights::from_properties(&survey.weight_properties, &kept);
            // The survey's segments count in its rollups; the rest is kept with the answer.
            let (properties, person_properties) =
                kept.into_iter().partition(|(k, _)| survey.segment_properties.contains(k));
            let response = Response {
                request_id: RequestId::derived(a.created_at, &a.source),
                survey_id: survey.id.clone(),
                kind: survey.kind,
                score: Some(a.score),
                comment: a.comment,
                version: 1,
                revision: 1,
                clicks: Vec::new(),
                bot_reasons: Vec::new(),
                created_at: a.created_at,
                updated_at: a.updated_at,
                first_confirmed_at: Some(a.created_at),
                properties,
                person_properties,
                weights,
                person_id: Some(PersonId::derive(key, email)),
            };
            let new = responses.import(&response, keep).await?;
            bar.inc(1);
            Ok(new)
        }
    }))
    .buffer_unordered(CONCURRENCY)
    .collect()
    .await;
    for new in written {
        if new? { report.responses += 1 } else { report.already += 1 }
    }
    let profiled: Vec<Result<()>> = stream::iter(profiles.into_values().map(|p| {
        let (store, bar) = (&people_store, &bar);
        async move {
            let id = PersonId::derive(key, &p.email);
            store.touch_profile(&id, &p.email, p.name.as_deref(), p.created_at.unwrap_or(now), keep).await?;
            bar.inc(1);
            Ok(())
        }
    }))
    .buffer_unordered(CONCURRENCY)
    .collect()
    .await;
    profiled.into_iter().collect::<Result<Vec<()>>>()?;
    // Suppressions last: their people exist by then, as in Delighted.
    let suppressed: Vec<Result<()>> = stream::iter(suppressions.into_iter().map(|(email, reason, at)| {
        let (store, bar) = (&people_store, &bar);
        async move {
            store.suppress(&PersonId::derive(key, &email), Some(&email), reason, at).await?;
            bar.inc(1);
            Ok(())
        }
    }))
    .buffer_unordered(CONCURRENCY)
    .collect()
    .await;
    suppressed.into_iter().collect::<Result<Vec<()>>>()?;
    bar.finish_and_clear();
    writeln!(out, "imported {}", summary(&report))?;
    Ok(report)
}

fn summary(r: &Report) -> String {
    format!(
        "{} responses ({} already there), {} people, {} unsubscribes, {} bounces from {} rows; {} bad rows skipped",
        r.responses,
        r.already,
        r.people,
        r.unsubscribes,
        r.bounces,
        r.rows,
        r.bad.len()
    )
}

pub(crate) fn progress(shown: bool, total: u64) -> indicatif::ProgressBar {
    if !shown {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} rows, {per_sec}, {eta} left") {
        bar.set_style(style);
    }
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_read_as_exports_write_them() {
        let t = Timestamp::from_unix(1_700_000_000);
        for written in [
            Value::from(1_700_000_000),
            "1700000000".into(),
            "2023-11-14T22:13:20Z".into(),
            "2023-11-14 22:13:20".into(),
            "2023-11-14 22:13:20 UTC".into(),
            "2023-11-14T22:13:20+00:00".into(),
        ] {
            assert_eq!(time(&written), Some(t), "{written}");
        }
        assert_eq!(time(&"2023-11-14".into()), Some(Timestamp::from_unix(1_699_920_000)));
        for bad in [Value::from(-1), "yesterday".into(), Value::Null] {
            assert_eq!(time(&bad), None, "{bad}");
        }
    }

    #[test]
    fn each_record_is_recognised_by_its_fields() {
        let now = Timestamp::from_unix(1_800_000_000);
        let answer = serde_json::json!({"id": "7", "score": 9, "created_at": 1_700_000_000,
            "person": {"id": "3", "email": "a@example.com"}, "person_properties": {"Product": "Stove"}});
        let Ok(Row::Answer(a)) = json_row(&answer, now) else { panic!("an answer") };
        assert_eq!((a.source.as_str(), a.score.value()), ("delighted:7", 9));
        assert_eq!(a.properties.get("product").map(String::as_str), Some("Stove"));
        let bare = serde_json::json!({"id": "8", "score": 3, "created_at": 1_700_000_000, "person": "3"});
        let Ok(Row::Answer(b)) = json_row(&bare, now) else { panic!("an answer") };
        assert_eq!((b.email, b.person_ref.as_deref()), (None, Some("3")));
        assert!(matches!(
            json_row(&serde_json::json!({"email": "u@example.com", "unsubscribed_at": 1}), now),
            Ok(Row::Suppressed { reason: SuppressionReason::Unsubscribed, .. })
        ));
        assert!(matches!(
            json_row(&serde_json::json!({"email": "u@example.com", "bounced_at": 1}), now),
            Ok(Row::Suppressed { reason: SuppressionReason::Bounced, .. })
        ));
        assert!(matches!(
            json_row(&serde_json::json!({"id": "3", "email": "u@example.com"}), now),
            Ok(Row::Person { .. })
        ));
        for bad in [
            serde_json::json!({"id": "9", "score": 11, "created_at": 1}),
            serde_json::json!({"id": "9", "score": 5}),
            serde_json::json!({"id": "9", "score": 5, "created_at": 1_900_000_000, "person_email": "a@example.com"}),
            serde_json::json!({"nothing": true}),
        ] {
            assert!(json_row(&bad, now).is_err(), "{bad}");
        }
    }
}
