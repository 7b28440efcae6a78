//! `nps-local-stack ensure-table --name NAME [--template PATH]`: creates the table of
//! template.yaml in the DynamoDB that `AWS_ENDPOINT_URL_DYNAMODB` points at, or checks that it
//! matches. Used by `make dev` and `make test`; never meant for a real AWS account.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use nps_local_stack::{TABLE_RESOURCE, ensure_table, repo_template, table_from_template, testing::local_endpoint};

const USAGE: &str = "usage: nps-local-stack ensure-table --name NAME [--template PATH]";

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
    if command != "ensure-table" {
        bail!("unknown command {command:?}\n{USAGE}");
    }
    let (mut name, mut template) = (None, repo_template());
    while let Some(flag) = rest.first() {
        let value = rest.get(1).with_context(|| format!("{flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--name" => name = Some(value.clone()),
            "--template" => template = PathBuf::from(value),
            other => bail!("unknown option {other}\n{USAGE}"),
        }
        rest = &rest[2..];
    }
    let name = name.context(USAGE)?;
    let endpoint = local_endpoint("AWS_ENDPOINT_URL_DYNAMODB");
    let def = table_from_template(&template, TABLE_RESOURCE)?;
    let client = aws_sdk_dynamodb::Client::new(&nps_adapters::aws::load_sdk_config().await);
    let state = ensure_table(&client, &name, &def).await?;
    println!("table {name} at {endpoint}: {state}");
    Ok(())
}
