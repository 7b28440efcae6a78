//! `nps-cli members import|remove --survey ID [--dry-run] [--column FIELD=HEADER]… FILE…`: a
//! survey's list from CSV files with a header line. The address is found under `email` (or
//! `--column email=…`), the name under `name`, the locale under `locale`; every other column
//! with a value is a property. Every row is checked before anything is written; bad rows are
//! reported by file and line and skipped. Importing a file again adds nobody twice: members
//! already on the list keep their schedule and take the file's details.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};
use futures_util::{StreamExt, stream};
use nps_adapters::dynamo::{DynamoMembers, DynamoSurveys, Table};
use nps_domain::Timestamp;
use nps_domain::member::{Contact, Member};
use nps_domain::person::{PersonId, PersonKey};
use nps_domain::survey::{Locale, SurveyId};

use crate::import::progress;

/// Members written at once (each enrolment is two to four small writes).
const CONCURRENCY: usize = 32;
const BAD_ROWS_SHOWN: usize = 50;

/// The columns read by name; any other is a property.
const FIELDS: [(&str, &[&str]); 3] = [
    ("email", &["email", "e-mail", "email address", "person_email"]),
    ("name", &["name", "full name", "person_name"]),
    ("locale", &["locale", "language"]),
];

pub struct Options {
    pub survey: SurveyId,
    /// Take the file's people off the list instead.
    pub remove: bool,
    pub dry_run: bool,
    /// `--column field=Header` (email, name, locale).
    pub columns: BTreeMap<String, String>,
    pub person_key: PersonKey,
    pub progress: bool,
    /// How long a cadence's day lasts (`NPS_CADENCE_DAY_SECONDS`; a day when deployed).
    pub cadence_day: std::time::Duration,
}

/// What a run did (or, dry, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub rows: usize,
    /// Joined the list now.
    pub added: usize,
    /// Already on it: details updated, schedule kept.
    pub already: usize,
    /// Taken off the list (`remove`).
    pub removed: usize,
    /// Asked to be removed, and not on the list.
    pub absent: usize,
    /// `<file>:<line>: <problem>`.
    pub bad: Vec<String>,
}

/// The contacts of one CSV file, each with its line, or what is wrong with it.
fn contacts(path: &Path, options: &Options) -> Result<Vec<(usize, Result<Contact, String>)>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(bytes.as_slice());
    let headers: Vec<String> =
        reader.headers().context("the CSV has no header line")?.iter().map(|h| h.trim().to_owned()).collect();
    let mut columns: BTreeMap<&str, usize> = BTreeMap::new();
    for (field, usual) in FIELDS {
        let found = match options.columns.get(field) {
            Some(header) => Some(
                headers
                    .iter()
                    .position(|h| h.eq_ignore_ascii_case(header))
                    .with_context(|| format!("--column {field}={header}: no such column"))?,
            ),
            None => headers.iter().position(|h| usual.contains(&h.to_lowercase().as_str())),
        };
        columns.extend(found.map(|i| (field, i)));
    }
    let Some(&email_at) = columns.get("email") else {
        bail!(
            "{}: no email column (found: {}); name it with --column email=HEADER",
            path.display(),
            headers.join(", ")
        );
    };
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.with_context(|| format!("reading {}", path.display()))?;
        let line = record.position().map_or(0, |p| usize::try_from(p.line()).unwrap_or(0));
        let cell =
            |field: &str| columns.get(field).and_then(|&i| record.get(i)).map(str::trim).filter(|v| !v.is_empty());
        let locale = match cell("locale") {
            Some(tag) => match Locale::from_tag(tag) {
                Some(locale) => Some(locale),
                None => {
                    rows.push((line, Err(format!("locale: {tag} is not offered"))));
                    continue;
                }
            },
            None => None,
        };
        let properties = record
            .iter()
            .enumerate()
            .filter(|(i, v)| !columns.values().any(|c| c == i) && !v.trim().is_empty())
            .map(|(i, v)| (headers.get(i).cloned().unwrap_or_default(), v.to_owned()));
        let email = record.get(email_at).unwrap_or_default();
        rows.push((line, Contact::parse(email, cell("name"), locale, properties).map_err(|e| e.to_string())));
    }
    Ok(rows)
}

/// Adds (or removes) the people of `files` to the survey's list.
pub async fn run(table: &Table, files: &[String], options: &Options, out: &mut dyn Write) -> Result<Report> {
    let survey = DynamoSurveys::new(table.clone())
        .get(&options.survey)
        .await?
        .with_context(|| format!("no survey {} (create it first: /v1/surveys)", options.survey))?;
    let cadence = survey.cadence.with_context(|| {
        format!("survey {} has no cadence: only relationship and eNPS surveys with one keep a list", survey.id)
    })?;
    let mut report = Report::default();
    let mut people = Vec::new();
    for file in files {
        for (line, row) in contacts(Path::new(file), options)? {
            report.rows += 1;
            match row {
                Ok(contact) => people.push(contact),
                Err(problem) => report.bad.push(format!("{file}:{line}: {problem}")),
            }
        }
    }
    for bad in report.bad.iter().take(BAD_ROWS_SHOWN) {
        eprintln!("skipped {bad}");
    }
    if report.bad.len() > BAD_ROWS_SHOWN {
        eprintln!("… and {} more bad rows", report.bad.len() - BAD_ROWS_SHOWN);
    }
    if options.dry_run {
        let verb = if options.remove { "remove" } else { "add" };
        writeln!(
            out,
            "dry run: would {verb} {} people from {} rows; {} bad rows skipped",
            people.len(),
            report.rows,
            report.bad.len()
        )?;
        return Ok(report);
    }

    let (members, now, bar) =
        (DynamoMembers::new(table.clone()), Timestamp::now(), progress(options.progress, people.len() as u64));
    let done: Vec<Result<bool>> = stream::iter(people.into_iter().map(|contact| {
        let (members, survey, bar) = (&members, &survey.id, &bar);
        async move {
            let person = PersonId::derive(&options.person_key, &contact.email);
            let changed = if options.remove {
                members.remove(survey, &person).await?
            } else {
                members
                    .enrol(&Member::joining(survey.clone(), person, contact, now), cadence.period(options.cadence_day))
                    .await?
                    .1
            };
            bar.inc(1);
            Ok(changed)
        }
    }))
    .buffer_unordered(CONCURRENCY)
    .collect()
    .await;
    bar.finish_and_clear();
    for changed in done {
        match (options.remove, changed?) {
            (false, true) => report.added += 1,
            (false, false) => report.already += 1,
            (true, true) => report.removed += 1,
            (true, false) => report.absent += 1,
        }
    }
    if options.remove {
        writeln!(
            out,
            "removed {} members ({} not on the list) from {} rows; {} bad rows skipped",
            report.removed,
            report.absent,
            report.rows,
            report.bad.len()
        )?;
    } else {
        writeln!(
            out,
            "added {} members ({} already on the list, details updated) from {} rows; {} bad rows skipped",
            report.added,
            report.already,
            report.rows,
            report.bad.len()
        )?;
    }
    Ok(report)
}
