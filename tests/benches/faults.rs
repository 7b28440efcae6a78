//! Faults: the local stand-ins die under the functions, and nothing is lost or doubled.
//!
//! 1. DynamoDB Local is killed (`SIGKILL`, by the PID this harness started) during a load run of
//!    `FAULT_CLIENTS` (16) clients that each survey a new person in 90 days (`POST /v1/people` with an
//!    `Idempotency-Key`) and confirm their score (`POST /r/{token}`), over real HTTP on loopback,
//!    retrying what asks to be retried (5xx, after its `Retry-After`). It is
//!    restarted on the same port and data `FAULT_OUTAGE` (5) seconds later, in a run of
//!    `FAULT_SECONDS` (40). Shown: every answer that is not a success asks for a retry: a 503, only
//!    from calls the outage caught; afterwards the table holds exactly one
//!    request per person and one response (version 1, the score sent) per confirmation, and the
//!    aggregator's NPS counts each confirmation once.
//! 2. The local SES is stopped (`SIGTERM`): purchases are accepted and wait in the outbox; dispatch
//!    runs while it is down send nothing and lose nothing; once it is back (same port, empty
//!    inbox), dispatch runs drain the outbox: exactly one email per waiting request, then nothing.
//!
//! usage: `infra/scripts/faults.sh` (`make faults`), which picks the ports and points the harness
//! at the installed DynamoDB Local and SES stand-in; the harness starts and stops them itself.

#[path = "../support/mod.rs"]
mod support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lambda_http::Body;
use lambda_http::http::{Method, Request, StatusCode};
use nps_adapters::dynamo::{DynamoApiKeys, DynamoRollups, Scope};
use nps_aggregation::Aggregator;
use nps_domain::Timestamp;
use nps_domain::request::RequestId;
use nps_domain::token::{TokenKeys, sign};
use nps_local_stack::testing::local_endpoint;
use serde_json::Value;
use support::to_end;
use tokio::net::TcpListener;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A stand-in this harness runs, in its own process group, on a fixed port.
struct Service {
    name: &'static str,
    url: String,
    command: Box<dyn Fn() -> Command>,
    child: Option<Child>,
    log: PathBuf,
}

impl Service {
    /// Starts it and waits until it answers HTTP; how long that took.
    async fn start(&mut self) -> Duration {
        let started = Instant::now();
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let child = (self.command)()
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.name));
        self.child = Some(child);
        let client = reqwest::Client::new();
        while started.elapsed() < Duration::from_secs(60) {
            if client.get(&self.url).timeout(Duration::from_secs(1)).send().await.is_ok() {
                return started.elapsed();
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("{} exited ({status}) before it answered; log: {}", self.name, self.log.display());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{} did not answer on {} within 60 s; log: {}", self.name, self.url, self.log.display());
    }

    /// Stops it with `signal` (by the PID it was started with) and waits for it to exit.
    fn stop(&mut self, signal: &str) {
        let mut child = self.child.take().expect("running");
        let pid = child.id().to_string();
        let sent = Command::new("kill").args([&format!("-{signal}"), &pid]).status().unwrap();
        assert!(sent.success(), "kill -{signal} {pid}");
        child.wait().unwrap();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn port(url: &str) -> String {
    url.rsplit(':').next().unwrap().trim_end_matches('/').to_owned()
}

/// DynamoDB Local on `AWS_ENDPOINT_URL_DYNAMODB`'s port, its data in `data` (so that it survives
/// a restart; on tmpfs, as fast as in memory).
fn dynamodb_local(data: PathBuf, log: PathBuf) -> Service {
    let url = local_endpoint("AWS_ENDPOINT_URL_DYNAMODB");
    let dir = std::env::var("NPS_DYNAMODB_LOCAL_DIR").expect("NPS_DYNAMODB_LOCAL_DIR (run infra/scripts/faults.sh)");
    let port = port(&url);
    let command = move || {
        let mut c = Command::new("java");
        c.current_dir(&dir).args(["-Xmx1g", "-Djava.library.path=./DynamoDBLocal_lib", "-jar", "DynamoDBLocal.jar"]);
        c.args(["-port", &port, "-sharedDb", "-disableTelemetry", "-dbPath"]).arg(&data);
        c
    };
    Service { name: "DynamoDB Local", url, command: Box::new(command), child: None, log }
}

/// The local SES on `NPS_INBOX_URL`'s port.
fn local_ses(log: PathBuf) -> Service {
    let url = local_endpoint("NPS_INBOX_URL");
    let bin = std::env::var("NPS_SES_BIN").expect("NPS_SES_BIN (run infra/scripts/faults.sh)");
    let port = port(&url);
    let command = move || {
        let mut c = Command::new(&bin);
        c.args(["--host", "127.0.0.1", "--port", &port]);
        c
    };
    Service { name: "local SES", url: format!("{url}/health-check"), command: Box::new(command), child: None, log }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Endpoint {
    Trigger,
    Capture,
}

/// One HTTP call of a client: when it started and ended (from the run's start), and its status
/// (`None`: no answer, the connection failed).
#[derive(Debug, Clone)]
struct Attempt {
    endpoint: Endpoint,
    start: Duration,
    end: Duration,
    status: Option<u16>,
    /// For a trigger error: its JSON `error.code`.
    code: Option<String>,
}

#[derive(Default)]
struct Log {
    attempts: Vec<Attempt>,
    /// Address → request id, for every person the trigger accepted.
    accepted: HashMap<String, String>,
    /// Request id → score, for every confirmation answered 200.
    confirmed: HashMap<String, u8>,
}

/// The longest a client waits before a retry, whatever `Retry-After` says (to keep the run short).
const MAX_WAIT: Duration = Duration::from_secs(2);

/// Sends `build()` until it is answered with a success; every other answer must ask for a retry
/// (5xx). The final answer's body.
async fn until_done(
    endpoint: Endpoint,
    t0: Instant,
    log: &Mutex<Log>,
    build: impl Fn() -> reqwest::RequestBuilder,
) -> Vec<u8> {
    loop {
        let start = t0.elapsed();
        let sent = build().send().await;
        let (status, wait, body) = match sent {
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                    .map(Duration::from_secs);
                let body = response.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
                (Some(status), retry_after.unwrap_or(Duration::from_millis(500)).min(MAX_WAIT), body)
            }
            Err(_) => (None, Duration::from_millis(500), Vec::new()),
        };
        let code = (endpoint == Endpoint::Trigger && status.is_some_and(|s| s >= 400))
            .then(|| serde_json::from_slice::<Value>(&body).ok()?["error"]["code"].as_str().map(str::to_owned))
            .flatten();
        let retry = status.is_none_or(|s| s >= 500);
        log.lock().unwrap().attempts.push(Attempt { endpoint, start, end: t0.elapsed(), status, code });
        if (200..300).contains(&status.unwrap_or(0)) || !retry {
            return body;
        }
        tokio::time::sleep(wait).await;
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

#[tokio::main]
async fn main() {
    let (seconds, outage, clients) =
        (setting("FAULT_SECONDS", 40), setting("FAULT_OUTAGE", 5), setting("FAULT_CLIENTS", 16));
    let work = tempdir();
    let data = work.join("dynamodb");
    std::fs::create_dir_all(&data).unwrap();
    let mut dynamodb = dynamodb_local(data, work.join("dynamodb.log"));
    let mut ses = local_ses(work.join("ses.log"));
    dynamodb.start().await;
    ses.start().await;
    eprintln!("[faults] DynamoDB Local {} and the local SES {} (logs in {})", dynamodb.url, ses.url, work.display());

    let s = support::stack("faults", "https://nps.example", &["product"]).await;
    let (_, key) = DynamoApiKeys::new(s.table.clone()).create(Scope::Write, "faults", Timestamp::now()).await.unwrap();
    let trigger = Arc::new(s.trigger_on(s.table.clone()).await);
    let capture = s.capture.clone();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(to_end::serve(
        move |req: Request<Body>| {
            let (trigger, capture) = (trigger.clone(), capture.clone());
            async move {
                if req.uri().path().starts_with("/r/") { capture.handle(req).await } else { trigger.handle(req).await }
            }
        },
        listener,
    ));

    // 1. DynamoDB Local killed under load.
    let log = Arc::new(Mutex::new(Log::default()));
    let t0 = Instant::now();
    let deadline = Duration::from_secs(seconds);
    let keys = Arc::new(TokenKeys::parse(support::TOKEN_KEYS).unwrap());
    let http = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    let mut workers = Vec::new();
    for worker in 0..clients {
        let (log, keys, http, url, key) = (log.clone(), keys.clone(), http.clone(), url.clone(), key.clone());
        workers.push(tokio::spawn(async move {
            let mut i = 0u64;
            while t0.elapsed() < deadline {
                i += 1;
                let email = format!("fault-{}-{worker}-{i}@example.com", std::process::id());
                let body = format!(r#"{{"email":"{email}","delay":7776000,"properties":{{"product":"boots"}}}}"#);
                let idempotency = format!("fault-{worker}-{i}");
                let answer = until_done(Endpoint::Trigger, t0, &log, || {
                    http.post(format!("{url}/v1/people"))
                        .header("content-type", "application/json")
                        .header("authorization", format!("Bearer {key}"))
                        .header("idempotency-key", &idempotency)
                        .body(body.clone())
                })
                .await;
                let answer: Value = serde_json::from_slice(&answer).unwrap_or_default();
                let Some(id) = answer["survey_request_id"].as_str().map(str::to_owned) else { continue };
                log.lock().unwrap().accepted.insert(email, id.clone());

                let score = (i % 11) as u8;
                let token =
                    sign(&keys, RequestId::parse(&id).unwrap(), Timestamp::now().plus(Duration::from_secs(86_400)));
                let page = format!("{url}/r/{token}");
                until_done(Endpoint::Capture, t0, &log, || {
                    http.post(&page)
                        .header("content-type", "application/x-www-form-urlencoded")
                        .header("user-agent", "Mozilla/5.0 (faults)")
                        .body(format!("score={score}"))
                })
                .await;
                let last = log.lock().unwrap().attempts.iter().rev().find(|a| a.endpoint == Endpoint::Capture).cloned();
                if last.and_then(|a| a.status) == Some(200) {
                    log.lock().unwrap().confirmed.insert(id, score);
                }
            }
        }));
    }
    tokio::time::sleep(deadline / 4).await;
    let killed = t0.elapsed();
    dynamodb.stop("KILL");
    tokio::time::sleep(Duration::from_secs(outage)).await;
    let restarting = t0.elapsed();
    let startup = dynamodb.start().await;
    let ready = t0.elapsed();
    for worker in workers {
        worker.await.unwrap();
    }
    to_end::settle().await;
    let ended = t0.elapsed();
    let log = std::mem::take(&mut *log.lock().unwrap());

    // Every answer that is not a success asks for a retry, and comes from a call the outage caught.
    let mut counts: BTreeMap<(Endpoint, String), usize> = BTreeMap::new();
    for a in &log.attempts {
        let label = match (a.status, &a.code) {
            (None, _) => "no answer".to_owned(),
            (Some(s), Some(code)) => format!("{s} {code}"),
            (Some(s), None) => s.to_string(),
        };
        *counts.entry((a.endpoint, label)).or_default() += 1;
    }
    let failed: Vec<&Attempt> = log.attempts.iter().filter(|a| !(200..300).contains(&a.status.unwrap_or(0))).collect();
    let refused: Vec<&&Attempt> = failed.iter().filter(|a| a.status != Some(503)).collect();
    assert!(refused.is_empty(), "only 503: {refused:?}");
    let outside: Vec<&&Attempt> =
        failed.iter().filter(|a| a.status == Some(503) && (a.end < killed || a.start > ready)).collect();
    let first_success_after = log
        .attempts
        .iter()
        .filter(|a| a.start >= ready && a.status.is_some_and(|s| (200..300).contains(&s)))
        .map(|a| a.end.saturating_sub(ready))
        .min();
    let last_failure = failed.iter().map(|a| a.end).max().unwrap_or_default();

    // Nothing lost, nothing doubled.
    let requests = support::items(&s.table, "REQUEST").await;
    let mut emails = HashSet::new();
    for item in requests.values() {
        assert!(emails.insert(item["email"].as_s().unwrap().clone()), "one request per person");
    }
    assert_eq!(requests.len(), log.accepted.len(), "stored requests = people accepted");
    for (email, id) in &log.accepted {
        let stored = &requests[id];
        assert_eq!(stored["email"].as_s().unwrap(), email, "the request named in the answer is the person's");
    }
    let responses = support::items(&s.table, "RESPONSE").await;
    assert_eq!(responses.len(), log.confirmed.len(), "one response per confirmation");
    for (id, score) in &log.confirmed {
        let response = &responses[id];
        assert_eq!(response["version"].as_n().unwrap(), "1", "confirmed once");
        assert_eq!(response["score"].as_n().unwrap(), &score.to_string());
    }

    // The aggregator reads the table's stream across the restart: each confirmation counts once.
    support::aggregate(&s.table, &Aggregator::new(DynamoRollups::new(s.table.clone())), Timestamp::now()).await;
    let (_, read) = DynamoApiKeys::new(s.table.clone()).create(Scope::Read, "faults", Timestamp::now()).await.unwrap();
    let metrics = s
        .api()
        .handle(
            Request::builder()
                .method(Method::GET)
                .uri("http://127.0.0.1/v1/metrics?survey=default")
                .header("authorization", format!("Bearer {read}"))
                .body(Body::Empty)
                .unwrap(),
        )
        .await;
    assert_eq!(metrics.status(), StatusCode::OK);
    let metrics: Value = serde_json::from_slice(metrics.body().as_ref()).unwrap();
    let scores: Vec<u8> = log.confirmed.values().copied().collect();
    let promoters = scores.iter().filter(|&&s| s >= 9).count() as f64;
    let detractors = scores.iter().filter(|&&s| s <= 6).count() as f64;
    let nps = 100.0 * (promoters - detractors) / scores.len() as f64;
    assert_eq!(metrics["n"].as_u64(), Some(scores.len() as u64), "{metrics}");
    assert!((metrics["nps"].as_f64().unwrap() - nps).abs() < 1e-6, "{metrics} vs {nps}");

    println!("## DynamoDB Local killed under load");
    println!(
        "{clients} clients for {seconds} s; killed at {}, restarted at {} (ready in {}), run ended at {}",
        ms(killed),
        ms(restarting),
        ms(startup),
        ms(ended)
    );
    println!("| endpoint | answer | calls |");
    println!("|---|---|---|");
    for ((endpoint, label), n) in &counts {
        println!("| {endpoint:?} | {label} | {n} |");
    }
    println!(
        "503 outside the outage: {}; last failed call ended {} after the restart; first success {} after it",
        outside.len(),
        ms(last_failure.saturating_sub(ready)),
        first_success_after.map_or("-".into(), ms)
    );
    println!(
        "stored: {} requests = {} people accepted, {} responses = {} confirmations (version 1 each); metrics n = {}",
        requests.len(),
        log.accepted.len(),
        responses.len(),
        log.confirmed.len(),
        metrics["n"]
    );
    assert!(outside.is_empty(), "no 503 outside the outage: {outside:?}");

    // 2. The local SES stopped: the outbox waits, then drains once.
    let now = Timestamp::now();
    let outbox = s.outbox().await;
    let before: Vec<String> = (0..10).map(|i| format!("ses-before-{}-{i}@example.com", std::process::id())).collect();
    for (i, email) in before.iter().enumerate() {
        let answer = support::purchase_at(&s, email, &format!("order-before-{i}"), serde_json::json!({}), now).await;
        assert_eq!(answer["status"], "sent");
    }
    ses.stop("TERM");
    let during: Vec<String> = (0..50).map(|i| format!("ses-during-{}-{i}@example.com", std::process::id())).collect();
    for (i, email) in during.iter().enumerate() {
        let answer = support::purchase_at(&s, email, &format!("order-during-{i}"), serde_json::json!({}), now).await;
        assert_eq!(answer["status"], "scheduled", "accepted, waiting in the outbox");
    }
    let mut at = now;
    let mut down_runs = Vec::new();
    for _ in 0..2 {
        at = at.plus(Duration::from_secs(3600));
        down_runs.push(outbox.dispatch(at).await.unwrap());
    }
    for run in &down_runs {
        assert_eq!((run.sent, run.retrying, run.failed, run.uncertain), (0, during.len(), 0, 0), "{run:?}");
    }
    let ses_startup = ses.start().await;
    let mut up_runs = Vec::new();
    loop {
        at = at.plus(Duration::from_secs(3600));
        let run = outbox.dispatch(at).await.unwrap();
        up_runs.push(run);
        if run.due == 0 || up_runs.len() > 5 {
            break;
        }
    }
    let sent: usize = up_runs.iter().map(|r| r.sent).sum();
    assert_eq!(sent, during.len(), "{up_runs:?}");
    assert!(up_runs.iter().all(|r| r.failed + r.uncertain + r.errors == 0), "{up_runs:?}");
    for email in &during {
        assert_eq!(support::emails_to(&s, email).await.len(), 1, "one email to each waiting request");
    }
    for email in &before {
        assert!(support::emails_to(&s, email).await.is_empty(), "nothing sent again");
    }
    println!("## The local SES stopped");
    println!(
        "{} purchases sent before the stop; {} accepted while it was down (status scheduled); {} dispatch runs while \
         down: {:?} retrying, 0 sent; restarted (ready in {}); {} runs after: {:?} sent, then {} due; inbox: one email \
         to each of the {}, none to the first {}",
        before.len(),
        during.len(),
        down_runs.len(),
        down_runs.iter().map(|r| r.retrying).collect::<Vec<_>>(),
        ms(ses_startup),
        up_runs.len(),
        up_runs.iter().map(|r| r.sent).collect::<Vec<_>>(),
        up_runs.last().unwrap().due,
        during.len(),
        before.len()
    );
    drop((dynamodb, ses));
    std::fs::remove_dir_all(&work).unwrap();
}

/// A fresh folder for the stand-ins' data and logs: on tmpfs when there is one.
fn tempdir() -> PathBuf {
    let base = if std::path::Path::new("/dev/shm").is_dir() { PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
    let dir = base.join(format!("nps-faults-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
