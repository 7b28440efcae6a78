//! The ops CLI (`cargo run -p nps-cli -- …`), run by an operator with AWS credentials for the
//! deployment (or against `make dev`'s stack after `source .local/dev.env`):
//!
//! - `keys create --scope read|write --name NAME`: prints the key once (only its hash is stored);
//! - `keys list`: id, scope, name, created, revoked (never a secret);
//! - `keys revoke ID`;
//! - `rebuild`: recounts every rollup from the raw responses (as the aggregate function's admin
//!   invocation does, without its 15-minute limit);
//! - `export QUERY`: the CSV of `/v1/responses.csv` for `QUERY` (`survey=default&since=…`), every
//!   row, to standard output;
//! - `import delighted [--survey ID] [--dry-run] [--column FIELD=HEADER]… FILE…`: Delighted's
//!   exports, with their history (`import.rs`);
//! - `members import|remove --survey ID [--dry-run] [--column FIELD=HEADER]… FILE…`: a
//!   relationship or eNPS survey's list from CSV files (`members.rs`).
//!
//! `NPS_TABLE` names the table; the stream's ARN is read from it. `import` also needs the
//! deployment's `NPS_PERSON_KEY` (people are known by its keyed hash of their address).

pub mod import;
pub mod members;

use std::io::Write;

use anyhow::{Context, Result, bail};
use nps_adapters::config::Lookup;
use nps_adapters::dynamo::{DynamoApiKeys, DynamoRollups, Scope, Table, TableStream};
use nps_domain::Timestamp;

pub const USAGE: &str = "usage: nps-cli keys create --scope read|write --name NAME   (1–100 printable characters)
       nps-cli keys list
       nps-cli keys revoke ID
       nps-cli rebuild
       nps-cli export 'survey=ID[&since=YYYY-MM-DD&until=…&expand=person…]' > responses.csv
       nps-cli import delighted [--survey ID] [--dry-run] [--column FIELD=HEADER]… FILE…
         (FIELD: id, score, comment, created_at, updated_at, email, name, person_id)
       nps-cli members import|remove --survey ID [--dry-run] [--column FIELD=HEADER]… FILE.csv…
         (FIELD: email, name, locale; other columns are properties)";

/// A key's name is listed in tab-separated lines: printable, 1 to 100 characters.
fn valid_name(name: &str) -> bool {
    !name.trim().is_empty() && name.chars().count() <= 100 && !name.chars().any(char::is_control)
}

/// The deployment's person key (`NPS_PERSON_KEY`): people are known by its hash of their address.
fn person_key(env: &impl Lookup) -> Result<nps_domain::person::PersonKey> {
    let key = env.required("NPS_PERSON_KEY").map_err(|e| anyhow::anyhow!("{e}"))?;
    nps_domain::person::PersonKey::new(&key).map_err(|e| anyhow::anyhow!("NPS_PERSON_KEY: {e}"))
}

/// What the file imports take: `[--survey ID] [--dry-run] [--column FIELD=HEADER]… FILE…`.
struct FileArgs {
    survey: nps_domain::survey::SurveyId,
    dry_run: bool,
    /// `(field, header)`, checked against its import's fields by the caller.
    columns: Vec<(String, String)>,
    files: Vec<String>,
}

impl FileArgs {
    fn parse(words: &[&str], default_survey: &str) -> Result<FileArgs> {
        let mut args = FileArgs {
            survey: nps_domain::survey::SurveyId::parse(default_survey)?,
            dry_run: false,
            columns: Vec::new(),
            files: Vec::new(),
        };
        let mut words = words.iter();
        while let Some(word) = words.next() {
            match *word {
                "--survey" => args.survey = nps_domain::survey::SurveyId::parse(words.next().context(USAGE)?)?,
                "--dry-run" => args.dry_run = true,
                "--column" => {
                    let (field, header) =
                        words.next().context(USAGE)?.split_once('=').context("--column FIELD=HEADER")?;
                    args.columns.push((field.to_owned(), header.to_owned()));
                }
                file if !file.starts_with("--") => args.files.push(file.to_owned()),
                _ => bail!("{USAGE}"),
            }
        }
        if args.files.is_empty() {
            bail!("{USAGE}");
        }
        Ok(args)
    }
}

/// Runs one command; what it prints goes to `out`.
pub async fn run(args: &[String], env: &impl Lookup, out: &mut dyn Write) -> Result<()> {
    let table_name = env.required("NPS_TABLE").map_err(|e| anyhow::anyhow!("{e}"))?;
    let sdk = nps_adapters::aws::load_sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let table = Table::new(client.clone(), table_name.clone());
    let now = Timestamp::now();
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["keys", "create", rest @ ..] => {
            let (mut scope, mut name) = (None, None);
            for pair in rest.chunks(2) {
                match pair {
                    ["--scope", s] => scope = Some(Scope::parse(s).context("--scope is read or write")?),
                    ["--name", n] if valid_name(n) => name = Some(*n),
                    _ => bail!("{USAGE}"),
                }
            }
            let (scope, name) = (scope.context(USAGE)?, name.context(USAGE)?);
            let (key, secret) = DynamoApiKeys::new(table).create(scope, name, now).await?;
            writeln!(out, "{secret}")?;
            eprintln!("created {} key {} ({name}); it is shown only now", scope.as_str(), key.id);
        }
        ["keys", "list"] => {
            for key in DynamoApiKeys::new(table).list().await? {
                let revoked = key.revoked_at.map_or("live".to_owned(), |t| format!("revoked {}", t.to_rfc3339()));
                let created = key.created_at.to_rfc3339();
                writeln!(out, "{}\t{}\t{}\tcreated {created}\t{revoked}", key.id, key.scope.as_str(), key.name)?;
            }
        }
        ["keys", "revoke", id] => {
            if !DynamoApiKeys::new(table).revoke(id, now).await? {
                bail!("no API key with id {id}");
            }
            writeln!(out, "revoked {id}")?;
        }
        ["rebuild"] => {
            let described = client.describe_table().table_name(&table_name).send().await?;
            let arn = described.table.and_then(|t| t.latest_stream_arn).context("the table has no stream")?;
            let stream = TableStream::new(aws_sdk_dynamodbstreams::Client::new(&sdk), arn);
            let rebuilt = nps_aggregation::Aggregator::new(DynamoRollups::new(table)).rebuild(&stream, now).await?;
            writeln!(
                out,
                "generation {}: {} items scanned, {} stream records, {} rollups written, {} old items deleted",
                rebuilt.generation, rebuilt.scanned, rebuilt.changes, rebuilt.written, rebuilt.deleted
            )?;
        }
        ["export", query] => {
            let rows = nps_read::Reader::new(table)
                .export_all(query, now, out)
                .await
                .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))?;
            eprintln!("{rows} responses exported");
        }
        ["import", "delighted", rest @ ..] => {
            let args = FileArgs::parse(rest, "default")?;
            let mut columns = std::collections::BTreeMap::new();
            for (field, header) in args.columns {
                let field =
                    import::Field::parse(&field).with_context(|| format!("--column: no field {field}\n{USAGE}"))?;
                columns.insert(field, header);
            }
            let options = import::Options {
                survey: args.survey,
                dry_run: args.dry_run,
                columns,
                person_key: person_key(env)?,
                retention: env
                    .days_or("NPS_RETENTION_DAYS", std::time::Duration::from_secs(730 * 86_400))
                    .map_err(|e| anyhow::anyhow!("{e}"))?,
                progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
            };
            import::import(&table, &args.files, &options, out).await?;
        }
        ["members", verb @ ("import" | "remove"), rest @ ..] => {
            let args = FileArgs::parse(rest, "relationship")?;
            if let Some((field, _)) =
                args.columns.iter().find(|(f, _)| !["email", "name", "locale"].contains(&f.as_str()))
            {
                bail!("--column: no field {field}\n{USAGE}");
            }
            let options = members::Options {
                survey: args.survey,
                remove: *verb == "remove",
                dry_run: args.dry_run,
                columns: args.columns.into_iter().collect(),
                person_key: person_key(env)?,
                progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
                cadence_day: env.cadence_day().map_err(|e| anyhow::anyhow!("{e}"))?,
            };
            members::run(&table, &args.files, &options, out).await?;
        }
        _ => bail!("{USAGE}"),
    }
    Ok(())
}
