//! The local stack's tool, used by `make dev` and `make test`; never meant for a real AWS account
//! (it refuses any DynamoDB endpoint that is not on loopback).
//!
//! - `ensure-table --name NAME [--template PATH]`: creates the table of template.yaml, or checks
//!   that the existing one matches it.
//! - `seed --name NAME [--api-key KEY]`: the default survey (if missing) and a demo API key (the
//!   given one if it still verifies, else a new one); prints `KEY=value` lines for .local/dev.env.
//! - `demo --name NAME [--days N] [--per-day N] [--live N]`: `make demo` (see `demo.rs`), against
//!   the services named in .local/dev.env (`NPS_TRIGGER_URL`, `NPS_INBOX_URL`, the secrets).
//! - `gateway --port PORT --functions URL [--template PATH]`: one base URL for every route of
//!   the template's HTTP API, forwarded to `cargo lambda watch` at URL (`gateway.rs`).
//! - `pump --name NAME --functions URL [--template PATH]`: the table's stream to the aggregate
//!   function under `cargo lambda watch` at URL, as the template's event source mapping hands it
//!   (`pump.rs`), four times a second, as Lambda polls.

mod demo;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use nps_adapters::dynamo::{DynamoApiKeys, DynamoSurveys, Scope, Table};
use nps_domain::Timestamp;
use nps_local_stack::pump::{Mapping, Pump};
use nps_local_stack::{TABLE_RESOURCE, ensure_table, repo_template, table_from_template, testing::local_endpoint};

const USAGE: &str = "usage: nps-local-stack ensure-table --name NAME [--template PATH]\n       \
                     nps-local-stack seed --name NAME [--api-key KEY]\n       \
                     nps-local-stack demo --name NAME [--days N] [--per-day N] [--live N] [--members N]\n       \
                     nps-local-stack gateway --port PORT --functions URL [--template PATH]\n       \
                     nps-local-stack pump --name NAME --functions URL [--template PATH]";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nps-local-stack: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Vec<String>) -> Result<()> {
    let (command, mut rest) = args.split_first().context(USAGE)?;
    let (mut name, mut template, mut api_key) = (None, repo_template(), None);
    let (mut port, mut functions) = (None, None);
    let (mut days, mut per_day, mut live, mut members) = (35, 12, 500, 300);
    let count = |flag: &str, value: &str, max: usize| {
        value.parse::<usize>().ok().filter(|n| *n <= max).with_context(|| format!("{flag} must be 0 to {max}"))
    };
    while let Some(flag) = rest.first() {
        let value = rest.get(1).with_context(|| format!("{flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--name" => name = Some(value.clone()),
            "--template" => template = PathBuf::from(value),
            "--api-key" => api_key = Some(value.clone()).filter(|k| !k.is_empty()),
            "--days" => days = count(flag, value, 365)?,
            "--per-day" => per_day = count(flag, value, 1000)?,
            "--live" => live = count(flag, value, 1000)?,
            "--members" => members = count(flag, value, 10_000)?,
            "--port" => port = Some(value.parse::<u16>().context("--port must be a port number")?),
            "--functions" => functions = Some(value.trim_end_matches('/').to_owned()),
            other => bail!("unknown option {other}\n{USAGE}"),
        }
        rest = &rest[2..];
    }
    if command == "gateway" {
        let (port, functions) = (port.context(USAGE)?, functions.context(USAGE)?);
        let routes = nps_local_stack::gateway::routes_from_template(&template)?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        eprintln!("gateway: {} routes on http://127.0.0.1:{port}, forwarded to {functions}", routes.len());
        return nps_local_stack::gateway::serve(listener, routes, functions).await;
    }
    let name = name.context(USAGE)?;
    let endpoint = local_endpoint("AWS_ENDPOINT_URL_DYNAMODB");
    let client = aws_sdk_dynamodb::Client::new(&nps_adapters::aws::load_sdk_config().await);
    match command.as_str() {
        "ensure-table" => {
            let def = table_from_template(&template, TABLE_RESOURCE)?;
            let state = ensure_table(&client, &name, &def).await?;
            eprintln!("table {name} at {endpoint}: {state}");
        }
        "seed" => seed(Table::new(client, name), api_key).await?,
        "demo" => {
            let var =
                |name: &str| std::env::var(name).with_context(|| format!("{name} is not set: source .local/dev.env"));
            demo::Demo {
                table: Table::new(client, name),
                trigger_url: format!("{}/v1/triggers/generic", local_endpoint("NPS_TRIGGER_URL")),
                webhook_secret: var("NPS_WEBHOOK_SECRET_GENERIC")?,
                inbox_url: local_endpoint("NPS_INBOX_URL"),
                days: i64::try_from(days)?,
                per_day,
                live,
                api_url: local_endpoint("NPS_API_URL"),
                api_key: var("NPS_API_KEY")?,
                members,
                cadence_day: std::time::Duration::from_secs(
                    var("NPS_CADENCE_DAY_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(86_400),
                ),
            }
            .run()
            .await?
        }
        "pump" => pump(&client, &name, &template, functions.context(USAGE)?).await?,
        other => bail!("unknown command {other:?}\n{USAGE}"),
    }
    Ok(())
}

async fn pump(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    template: &std::path::Path,
    functions: String,
) -> Result<()> {
    let described = client.describe_table().table_name(table).send().await?;
    let arn = described.table.and_then(|t| t.latest_stream_arn).context("the table has no stream")?;
    let mapping = Mapping::from_template(template)?;
    let streams = aws_sdk_dynamodbstreams::Client::new(&nps_adapters::aws::load_sdk_config().await);
    let mut pump = Pump::new(streams, arn, mapping);
    let http = reqwest::Client::new();
    let url = format!("{functions}/2015-03-31/functions/aggregate/invocations");
    eprintln!("pump: the stream of {table} to {url}");
    loop {
        let invoke = |event: serde_json::Value| {
            let request = http.post(&url).json(&event).timeout(std::time::Duration::from_secs(900));
            async move {
                let answer = request.send().await.map_err(|e| e.to_string())?;
                let ok = answer.status().is_success();
                let body: serde_json::Value = answer.json().await.map_err(|e| e.to_string())?;
                // `cargo lambda watch` answers a function's error with its errorType and message.
                if !ok || body.get("errorType").is_some() { Err(body.to_string()) } else { Ok(body) }
            }
        };
        match pump.drain(invoke).await {
            Ok(pumped) if pumped.delivered > 0 => eprintln!("pump: {pumped:?}"),
            Ok(_) => {}
            Err(e) => eprintln!("pump: {e:#}"),
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

async fn seed(table: Table, api_key: Option<String>) -> Result<()> {
    let surveys = DynamoSurveys::new(table.clone());
    let survey = demo::survey()?;
    let id = survey.id.clone();
    // The default survey, and a relationship survey on a 90-day cadence (Delighted's Autopilot).
    for survey in [survey, demo::relationship_survey()?] {
        if surveys.get(&survey.id).await?.is_none() {
            surveys.put(&survey).await?;
        }
    }
    let described = table.client().describe_table().table_name(table.name()).send().await?;
    let stream = described.table.and_then(|t| t.latest_stream_arn).context("the table has no stream")?;
    let keys = DynamoApiKeys::new(table);
    let key = match api_key {
        Some(key) if keys.verify(&key).await?.is_some() => key,
        _ => keys.create(Scope::Write, "make dev demo key", Timestamp::now()).await?.1,
    };
    // The dashboard's sign-in link for the demo key (`/dashboard?signin=…`), for a working day.
    let ends = Timestamp::now().plus(std::time::Duration::from_secs(12 * 3600));
    let link = keys.open_link(&key, ends).await?.context("the demo key opens no link")?;
    println!("NPS_DEFAULT_SURVEY={id}");
    println!("NPS_API_KEY={key}");
    println!("NPS_DASHBOARD_SIGN_IN={link}");
    println!("NPS_TABLE_STREAM_ARN={stream}");
    Ok(())
}
