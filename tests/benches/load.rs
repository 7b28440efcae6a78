//! Load on loopback: the trigger's people API, then capture's confirmations, each under `wrk`
//! (Debian's) for `LOAD_SECONDS` (default 60) with `LOAD_CONNECTIONS` (default 32) connections,
//! served over real HTTP by the same `App::handle` Lambda calls, against DynamoDB Local. Prints
//! wrk's throughput and latency, then checks the table: every request the trigger accepted (202) is
//! stored exactly once and nothing else is; every request whose confirmation was answered 200 has
//! exactly one response, confirmed once (version 1, the score sent), and no other request has one.
//!
//! usage: `infra/scripts/with-stack.sh cargo bench -p nps-system-tests --bench load` (`make bench-load`).

#[path = "../support/mod.rs"]
mod support;

use std::collections::HashSet;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lambda_http::http::StatusCode;
use nps_adapters::dynamo::{DynamoApiKeys, Scope};
use nps_domain::Timestamp;
use nps_domain::request::RequestId;
use nps_domain::token::{TokenKeys, sign};
use serde_json::Value;
use support::to_end;
use tokio::net::TcpListener;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Runs wrk with `script` against `url`; its report.
fn wrk(url: &str, script: &str, seconds: u64, connections: u64) -> String {
    let path = std::env::temp_dir().join(format!("nps-load-{}.lua", std::process::id()));
    std::fs::write(&path, script).unwrap();
    let output = Command::new("wrk")
        .args(["--threads", "2", "--connections", &connections.to_string(), "--duration", &format!("{seconds}s")])
        .args(["--timeout", "10s", "--latency", "--script"])
        .arg(&path)
        .arg(url)
        .output()
        .expect("wrk is installed (Debian's wrk; make bench-load installs it)");
    std::fs::remove_file(&path).unwrap();
    let report = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "wrk failed: {report}{}", String::from_utf8_lossy(&output.stderr));
    report
}

fn figures(report: &str) -> String {
    let line = |prefix: &str| {
        report.lines().find(|l| l.trim_start().starts_with(prefix)).map_or("?".to_owned(), |l| l.trim().to_owned())
    };
    let errors = report.lines().find_map(|l| l.trim().strip_prefix("Non-2xx or 3xx responses: ")).unwrap_or("0");
    format!("{} | {} | {} | {errors}", line("Requests/sec:"), line("50%"), line("99%"))
}

#[tokio::main]
async fn main() {
    let (seconds, connections) = (setting("LOAD_SECONDS", 60), setting("LOAD_CONNECTIONS", 32));
    let s = support::stack("load", "https://nps.example", &["product"]).await;
    let (_, key) = DynamoApiKeys::new(s.table.clone()).create(Scope::Write, "load", Timestamp::now()).await.unwrap();

    // The trigger: one person per request, surveyed in an hour (so the load is the trigger's own).
    let accepted = Arc::new(Mutex::new(Vec::<String>::new()));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (table, capture) = (s.table.clone(), s.capture.clone());
    let trigger = Arc::new(s.trigger);
    let seen = accepted.clone();
    tokio::spawn(to_end::serve(
        move |req| {
            let (trigger, seen) = (trigger.clone(), seen.clone());
            async move {
                let response = trigger.handle(req).await;
                if response.status() == StatusCode::ACCEPTED {
                    let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
                    seen.lock().unwrap().push(body["survey_request_id"].as_str().unwrap().to_owned());
                }
                response
            }
        },
        listener,
    ));
    let run = std::process::id();
    let script = format!(
        r#"local threads = 0
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
local i = 0
function request()
  i = i + 1
  local body = '{{"email":"load-{run}-' .. tid .. '-' .. i .. '@example.com","delay":3600,"properties":{{"product":"boots"}}}}'
  return wrk.format("POST", "/v1/people", {{["Content-Type"] = "application/json", ["Authorization"] = "Bearer {key}"}}, body)
end"#
    );
    let trigger_report = tokio::task::spawn_blocking(move || wrk(&url, &script, seconds, connections)).await.unwrap();
    to_end::settle().await;
    println!("trigger, POST /v1/people, {seconds} s, {connections} connections:\n{trigger_report}");
    let accepted: Vec<String> = accepted.lock().unwrap().clone();
    let requests = support::items(&table, "REQUEST").await;
    let accepted_set: HashSet<&String> = accepted.iter().collect();
    assert_eq!(accepted_set.len(), accepted.len(), "no request id answered twice");
    assert_eq!(requests.len(), accepted.len(), "stored requests = accepted requests");
    assert!(accepted.iter().all(|id| requests.contains_key(id)), "every accepted request is stored");

    // Capture: each accepted request confirmed once with score 9 (wrk goes round the list again if
    // it gets through it: a repeat with the same score changes nothing).
    let keys = TokenKeys::parse(support::TOKEN_KEYS).unwrap();
    let expires = Timestamp::now().plus(Duration::from_secs(86_400));
    let paths: String =
        accepted.iter().map(|id| format!("/r/{}\n", sign(&keys, RequestId::parse(id).unwrap(), expires))).collect();
    let paths_file = std::env::temp_dir().join(format!("nps-load-paths-{run}.txt"));
    std::fs::write(&paths_file, paths).unwrap();
    let confirmed = Arc::new(Mutex::new(HashSet::<String>::new()));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = confirmed.clone();
    tokio::spawn(to_end::serve(
        move |req| {
            let (capture, seen) = (capture.clone(), seen.clone());
            async move {
                let path = req.uri().path().to_owned();
                let response = capture.handle(req).await;
                if response.status() == StatusCode::OK {
                    seen.lock().unwrap().insert(path);
                }
                response
            }
        },
        listener,
    ));
    let script = format!(
        r#"local paths = {{}}
for line in io.lines("{}") do paths[#paths + 1] = line end
local threads = 0
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
local i = 0
function request()
  i = i + 1
  local path = paths[((i - 1) * 2 + tid - 1) % #paths + 1]
  return wrk.format("POST", path, {{["Content-Type"] = "application/x-www-form-urlencoded", ["User-Agent"] = "Mozilla/5.0 (load)"}}, "score=9")
end"#,
        paths_file.display()
    );
    let capture_report = tokio::task::spawn_blocking(move || wrk(&url, &script, seconds, connections)).await.unwrap();
    std::fs::remove_file(&paths_file).unwrap();
    to_end::settle().await;
    println!("capture, POST /r/{{token}} (confirmations), {seconds} s, {connections} connections:\n{capture_report}");
    let confirmed = confirmed.lock().unwrap().len();
    let responses = support::items(&table, "RESPONSE").await;
    assert_eq!(responses.len(), confirmed, "one response per request confirmed");
    for (id, response) in &responses {
        assert!(accepted_set.contains(id), "a response only for a request that exists");
        assert_eq!(response["version"].as_n().unwrap(), "1", "confirmed once");
        assert_eq!(response["score"].as_n().unwrap(), "9");
    }
    println!("| endpoint | throughput | p50 | p99 | errors | stored |");
    println!("| trigger | {} | {} requests = {} accepted |", figures(&trigger_report), requests.len(), accepted.len());
    println!("| capture | {} | {} responses = {} confirmed |", figures(&capture_report), responses.len(), confirmed);
}
