use std::process::ExitCode;

use nps_adapters::config::Env;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match nps_cli::run(&args, &Env, &mut std::io::stdout().lock()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nps-cli: {e:#}");
            ExitCode::FAILURE
        }
    }
}
