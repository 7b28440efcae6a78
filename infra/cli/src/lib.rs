//! The ops CLI (`cargo run -p nps-cli -- …`), run by an operator with AWS credentials for the
//! deployment (or against `make dev`'s stack after `source .local/dev.env`):
//!
//! - `keys create --scope read|write --name NAME`: prints the key once (only its hash is stored);
//! - `keys list`: id, scope, name, created, revoked (never a secret);
//! - `keys revoke ID`;
//! - `rebuild`: recounts every rollup from the raw responses (as the aggregate function's admin
//!   invocation does, without its 15-minute limit);
//! - `export QUERY`: the CSV of `/v1/responses.csv` for `QUERY` (`survey=default&since=…`), every
//!   row, to standard output.
//!
//! `NPS_TABLE` names the table; the stream's ARN is read from it.

use std::io::Write;

use anyhow::{Context, Result, bail};
use nps_adapters::dynamo::{DynamoApiKeys, DynamoRollups, Scope, Table, TableStream};
use nps_domain::Timestamp;
use nps_sending::config::Lookup;

pub const USAGE: &str = "usage: nps-cli keys create --scope read|write --name NAME   (1–100 printable characters)
       nps-cli keys list
       nps-cli keys revoke ID
       nps-cli rebuild
       nps-cli export 'survey=ID[&since=YYYY-MM-DD&until=…&expand=person…]' > responses.csv";

/// A key's name is listed in tab-separated lines: printable, 1 to 100 characters.
fn valid_name(name: &str) -> bool {
    !name.trim().is_empty() && name.chars().count() <= 100 && !name.chars().any(char::is_control)
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
            let rebuilt = aggregate::Aggregator::new(stream, DynamoRollups::new(table)).rebuild(now).await?;
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
        _ => bail!("{USAGE}"),
    }
    Ok(())
}
