//! The local stack's tool, used by `make dev` and `make test`; never meant for a real AWS account
//! (it refuses any DynamoDB endpoint that is not on loopback).
//!
//! - `ensure-table --name NAME [--template PATH]`: creates the table of template.yaml, or checks
//!   that the existing one matches it.
//! - `seed --name NAME [--api-key KEY]`: the default survey (if missing) and a demo API key (the
//!   given one if it still verifies, else a new one); prints `KEY=value` lines for .local/dev.env.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use nps_adapters::dynamo::{DynamoApiKeys, DynamoSurveys, Scope, Table};
use nps_domain::Timestamp;
use nps_domain::survey::{Locale, Survey, SurveyId, SurveyKind};
use nps_local_stack::{TABLE_RESOURCE, ensure_table, repo_template, table_from_template, testing::local_endpoint};

const USAGE: &str = "usage: nps-local-stack ensure-table --name NAME [--template PATH]\n       \
                     nps-local-stack seed --name NAME [--api-key KEY]";

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
    while let Some(flag) = rest.first() {
        let value = rest.get(1).with_context(|| format!("{flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--name" => name = Some(value.clone()),
            "--template" => template = PathBuf::from(value),
            "--api-key" => api_key = Some(value.clone()).filter(|k| !k.is_empty()),
            other => bail!("unknown option {other}\n{USAGE}"),
        }
        rest = &rest[2..];
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
        other => bail!("unknown command {other:?}\n{USAGE}"),
    }
    Ok(())
}

async fn seed(table: Table, api_key: Option<String>) -> Result<()> {
    let surveys = DynamoSurveys::new(table.clone());
    let id = SurveyId::parse("default")?;
    if surveys.get(&id).await?.is_none() {
        surveys
            .put(&Survey {
                id: id.clone(),
                kind: SurveyKind::Transactional,
                product_name: "Demo Shop".into(),
                sender: "Demo Shop <surveys@demo-shop.example>".into(),
                default_locale: Locale::En,
                throttle_days: 90,
                delay_seconds: 0,
                reminder_after_days: Some(3),
                segment_properties: ["product", "channel", "region", "plan", "variant"].map(String::from).to_vec(),
            })
            .await?;
    }
    let described = table.client().describe_table().table_name(table.name()).send().await?;
    let stream = described.table.and_then(|t| t.latest_stream_arn).context("the table has no stream")?;
    let keys = DynamoApiKeys::new(table);
    let key = match api_key {
        Some(key) if keys.verify(&key).await?.is_some() => key,
        _ => keys.create(Scope::Write, "make dev demo key", Timestamp::now()).await?.1,
    };
    println!("NPS_DEFAULT_SURVEY={id}");
    println!("NPS_API_KEY={key}");
    println!("NPS_TABLE_STREAM_ARN={stream}");
    Ok(())
}
