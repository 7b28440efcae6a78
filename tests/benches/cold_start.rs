//! Cold start, memory and warm cost of each function's release bootstrap (`make package`), run the
//! way Lambda runs it: a process whose only contact is the Lambda Runtime API, emulated here on
//! loopback, with the environment the template gives it. Per function:
//! - init: process start → its first `GET /runtime/invocation/next` (config read, SDK clients
//!   built, nothing fetched yet), over `COLD_STARTS` fresh processes, and the peak RSS by then;
//!   and the instructions init runs, counted by valgrind's callgrind (the same on a busy machine);
//! - `INVOCATIONS` realistic events in one process (purchases, clicks and confirmations, the
//!   stream's batches as the event source mapping hands them over then ticks, metrics and listings,
//!   dispatch runs, bounces) doing real work against DynamoDB Local and the local
//!   SES; each answer is checked, then the process's peak RSS (VmHWM) and the invocations' p50/p99
//!   as the runtime API sees them (event handed out → answer posted).
//!
//! Beside them, in the same run, the floor (`tests/floor`: a bare function with the DynamoDB client,
//! built with `cargo lambda build --release -p nps-floor`), and each function's init and peak RSS
//! as a ratio to it: absolute times drift on a shared machine, the ratio less.
//!
//! usage: `infra/scripts/with-stack.sh cargo bench -p nps-system-tests --bench cold_start [-- BUILD_DIR]`
//! (`make bench-lambda`). BUILD_DIR: `sam build`'s (default `.aws-sam/build`) or cargo lambda's
//! (`target/lambda`, e.g. to compare release profiles). Figures in BENCHMARKS.md.

#[path = "../support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use nps_adapters::dynamo::{DynamoApiKeys, Scope};
use nps_domain::Timestamp;
use nps_domain::request::RequestId;
use nps_domain::token::{TokenKeys, sign};
use nps_local_stack::pump::{Mapping, Pump};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::sync::{Mutex, mpsc};
use trigger::sources::generic;

const COLD_STARTS: usize = 20;
const INVOCATIONS: usize = 1_000;
const PRODUCTS: [&str; 2] = ["boots", "stoves"];

/// An invocation's outcome as the function posted it: its response, or its error.
type Outcome = Result<Value, String>;

/// The Lambda Runtime API for one process: hands out the events sent to `events`, reports each
/// poll's arrival on `polls` and each posted answer on `outcomes`.
struct RuntimeApi {
    address: SocketAddr,
    polls: mpsc::UnboundedReceiver<Instant>,
    events: mpsc::UnboundedSender<Vec<u8>>,
    outcomes: mpsc::UnboundedReceiver<Outcome>,
}

struct Channels {
    polls: mpsc::UnboundedSender<Instant>,
    events: Mutex<mpsc::UnboundedReceiver<Vec<u8>>>,
    outcomes: mpsc::UnboundedSender<Outcome>,
    next_id: std::sync::atomic::AtomicU64,
}

impl RuntimeApi {
    async fn start() -> RuntimeApi {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (polls_tx, polls) = mpsc::unbounded_channel();
        let (events, events_rx) = mpsc::unbounded_channel();
        let (outcomes_tx, outcomes) = mpsc::unbounded_channel();
        let channels = Arc::new(Channels {
            polls: polls_tx,
            events: Mutex::new(events_rx),
            outcomes: outcomes_tx,
            next_id: 0.into(),
        });
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let channels = channels.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| answer(channels.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        RuntimeApi { address, polls, events, outcomes }
    }
}

async fn answer(
    channels: Arc<Channels>,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, hyper::Error> {
    let path = req.uri().path().to_owned();
    let reply =
        |status: u16, body: Vec<u8>| hyper::Response::builder().status(status).body(Full::new(Bytes::from(body)));
    if path == "/2018-06-01/runtime/invocation/next" {
        let _ = channels.polls.send(Instant::now());
        let Some(event) = channels.events.lock().await.recv().await else {
            return Ok(reply(410, Vec::new()).unwrap());
        };
        let id = channels.next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let deadline =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap() + Duration::from_secs(60);
        return Ok(hyper::Response::builder()
            .header("lambda-runtime-aws-request-id", format!("bench-{id}"))
            .header("lambda-runtime-deadline-ms", deadline.as_millis().to_string())
            .header("lambda-runtime-invoked-function-arn", "arn:aws:lambda:us-east-1:123456789012:function:bench")
            .header("lambda-runtime-trace-id", "Root=1-00000000-000000000000000000000000;Sampled=0")
            .body(Full::new(Bytes::from(event)))
            .unwrap());
    }
    let body = req.into_body().collect().await?.to_bytes();
    let outcome = if path.ends_with("/response") {
        Ok(serde_json::from_slice(&body).unwrap_or(Value::Null))
    } else {
        Err(String::from_utf8_lossy(&body).into_owned())
    };
    let _ = channels.outcomes.send(outcome);
    Ok(reply(202, Vec::new()).unwrap())
}

/// One function: its directory under the build dir, the environment the template gives it (the
/// table and the secrets here are the bench's), and its events.
struct Function {
    id: &'static str,
    binary: &'static str,
    environment: Vec<(&'static str, String)>,
    events: Vec<Vec<u8>>,
    /// Checks an answer; an error names what is wrong.
    check: fn(&Value) -> Result<(), String>,
}

fn http_status(answer: &Value) -> Result<(), String> {
    match answer["statusCode"].as_u64() {
        Some(200..=303) => Ok(()),
        _ => Err(format!("answered {}", answer.to_string().chars().take(300).collect::<String>())),
    }
}

fn any_report(answer: &Value) -> Result<(), String> {
    if answer.is_object() { Ok(()) } else { Err(format!("answered {answer}")) }
}

/// An API Gateway HTTP API (payload 2.0) event.
fn http_event(method: &str, path: &str, query: &str, headers: Value, body: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
        "headers": headers, "isBase64Encoded": false, "body": body,
        "requestContext": {
            "accountId": "123456789012", "apiId": "bench", "domainName": "nps.example", "domainPrefix": "nps",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1",
                     "userAgent": headers["user-agent"].as_str().unwrap_or("bench")},
            "requestId": "bench", "routeKey": "$default", "stage": "$default",
            "time": "24/Nov/2026:10:00:00 +0000", "timeEpoch": 1_795_514_400_000u64
        }
    }))
    .unwrap()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn peak_rss_mb(child: &Child) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id().unwrap())).unwrap();
    let kb: f64 =
        status.lines().find_map(|l| l.strip_prefix("VmHWM:")).unwrap().trim().trim_end_matches(" kB").parse().unwrap();
    kb / 1024.0
}

/// `program` run as Lambda runs the function: the runtime API at `runtime_api`, the template's
/// environment, the AWS variables (the local stack's endpoints and credentials).
fn lambda_command(program: &Path, function: &Function, runtime_api: SocketAddr) -> Command {
    let mut command = Command::new(program);
    command.env_clear().kill_on_drop(true).stdin(Stdio::null()).stdout(Stdio::null());
    for (name, value) in std::env::vars().filter(|(n, _)| n.starts_with("AWS_")) {
        command.env(name, value);
    }
    command
        .env("AWS_LAMBDA_RUNTIME_API", runtime_api.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", function.id)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "bench")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .envs(function.environment.iter().map(|(k, v)| (*k, v.as_str())));
    command
}

fn spawn(bootstrap: &Path, function: &Function, api: &RuntimeApi) -> Child {
    let mut command = lambda_command(bootstrap, function, api.address);
    command.stderr(Stdio::null());
    command.spawn().unwrap_or_else(|e| panic!("starting {}: {e}", bootstrap.display()))
}

/// The instructions a cold start runs, counted by callgrind: unlike its time, the same on a busy
/// machine. The runtime API's port is closed, so the process ends at its first poll, the end of
/// init (plus the same few thousand instructions of giving up, for every function).
async fn init_instructions(bootstrap: &Path, function: &Function) -> u64 {
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let mut command = lambda_command(Path::new("valgrind"), function, closed);
    command.arg("--tool=callgrind").arg("--callgrind-out-file=/dev/null").arg(bootstrap).stderr(Stdio::piped());
    let output =
        command.output().await.expect("valgrind, which counts the instructions of init: apt-get install valgrind");
    let log = String::from_utf8_lossy(&output.stderr);
    log.lines()
        .find_map(|line| line.split_once("Collected :").map(|(_, n)| n.trim().parse::<u64>()))
        .unwrap_or_else(|| panic!("{}: no instruction count from callgrind:\n{log}", function.id))
        .unwrap()
}

struct Figures {
    init: Vec<Duration>,
    init_instructions: u64,
    init_rss: f64,
    peak_rss: f64,
    warm: Vec<Duration>,
}

/// The figures, and every invocation's answer.
async fn measure(bootstrap: &Path, function: &Function) -> (Figures, Vec<Value>) {
    let (mut init, mut init_rss) = (Vec::new(), 0f64);
    for _ in 0..COLD_STARTS {
        let mut api = RuntimeApi::start().await;
        let started = Instant::now();
        let mut child = spawn(bootstrap, function, &api);
        let polled = tokio::time::timeout(Duration::from_secs(10), api.polls.recv())
            .await
            .unwrap_or_else(|_| panic!("{} did not poll the runtime API within 10 s", function.id))
            .unwrap();
        init.push(polled - started);
        init_rss = init_rss.max(peak_rss_mb(&child));
        child.kill().await.unwrap();
    }
    let mut api = RuntimeApi::start().await;
    let mut child = spawn(bootstrap, function, &api);
    let (mut warm, mut answers) = (Vec::new(), Vec::new());
    for event in &function.events {
        api.polls.recv().await.unwrap();
        let handed = Instant::now();
        api.events.send(event.clone()).unwrap();
        let outcome = tokio::time::timeout(Duration::from_secs(30), api.outcomes.recv())
            .await
            .unwrap_or_else(|_| panic!("{} did not answer within 30 s", function.id))
            .unwrap();
        warm.push(handed.elapsed());
        match outcome.and_then(|answer| (function.check)(&answer).map(|()| answer)) {
            Ok(answer) => answers.push(answer),
            Err(e) => panic!("{}: invocation {} failed: {e}", function.id, warm.len()),
        }
    }
    api.polls.recv().await.unwrap();
    let peak_rss = peak_rss_mb(&child);
    child.kill().await.unwrap();
    init.sort();
    warm.sort();
    let init_instructions = init_instructions(bootstrap, function).await;
    (Figures { init, init_instructions, init_rss, peak_rss, warm }, answers)
}

#[tokio::main]
async fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let build =
        std::env::args().skip(1).find(|a| !a.starts_with('-')).map_or(root.join(".aws-sam/build"), PathBuf::from);
    let s = support::stack("cold-start", "https://nps.example", &["product"]).await;
    let table = s.table.name().to_owned();
    let stream = s.table.client().describe_table().table_name(&table).send().await.unwrap().table.unwrap();
    let stream = stream.latest_stream_arn.expect("the template's table has a stream");
    let (_, api_key) =
        DynamoApiKeys::new(s.table.clone()).create(Scope::Read, "bench", Timestamp::now()).await.unwrap();
    let (person_key, token_keys) = (support::PERSON_KEY.to_owned(), support::TOKEN_KEYS.to_owned());
    let secret = support::SECRET;
    let run = std::process::id();

    let purchases: Vec<Vec<u8>> = (0..INVOCATIONS)
        .map(|i| {
            let body = json!({"event_id": format!("bench-{run}-{i}"), "email": format!("bench-{run}-{i}@example.com"),
                              "transaction_id": format!("order-{run}-{i}"), "properties": {"product": PRODUCTS[i % 2]}})
            .to_string();
            let signature = generic::sign(secret.as_bytes(), Timestamp::now().unix(), body.as_bytes());
            let mut headers = json!({"content-type": "application/json"});
            headers[generic::HEADER] = json!(signature);
            http_event("POST", "/v1/triggers/generic", "", headers, &body)
        })
        .collect();
    let sending = |extra: Vec<(&'static str, String)>| {
        let mut environment = vec![
            ("NPS_TABLE", table.clone()),
            ("NPS_PERSON_KEY", person_key.clone()),
            ("NPS_TOKEN_KEYS", token_keys.clone()),
            ("NPS_CAPTURE_BASE_URL", "https://nps.example".to_owned()),
            ("NPS_RETENTION_DAYS", "730".to_owned()),
        ];
        environment.extend(extra);
        environment
    };
    let trigger = Function {
        id: "TriggerFunction",
        binary: "trigger",
        environment: sending(vec![("NPS_WEBHOOK_SECRET_GENERIC", secret.to_owned())]),
        events: purchases,
        check: http_status,
    };
    // `sam build`'s layout (<Id>/bootstrap), or cargo lambda's (<binary>/bootstrap).
    let bootstrap = |f: &Function| {
        let sam = build.join(f.id).join("bootstrap");
        if sam.exists() { sam } else { build.join(f.binary).join("bootstrap") }
    };
    // The yardstick, in the same run: a bare function with the DynamoDB client (tests/floor).
    let floor = Function {
        id: "Floor",
        binary: "nps-floor",
        environment: vec![("NPS_TABLE", table.clone())],
        events: (0..INVOCATIONS).map(|i| serde_json::to_vec(&json!({"id": format!("{run}-{i}")})).unwrap()).collect(),
        check: any_report,
    };
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or(root.join("target"), PathBuf::from);
    let floor_bootstrap = target.join("lambda/nps-floor/bootstrap");
    assert!(
        floor_bootstrap.exists(),
        "no {}: cargo lambda build --release -p nps-floor (make bench-lambda does)",
        floor_bootstrap.display()
    );
    let (floor_figures, _) = measure(&floor_bootstrap, &floor).await;

    let mut report = Vec::new();
    let (figures, answers) = measure(&bootstrap(&trigger), &trigger).await;
    report.push((trigger, figures));

    // Half the purchases: clicked from the email (GET), then confirmed with a comment (POST).
    let keys = TokenKeys::parse(&token_keys).unwrap();
    let expires = Timestamp::now().plus(Duration::from_secs(86_400));
    let person = json!({"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
                        "content-type": "application/x-www-form-urlencoded"});
    let clicks = answers
        .iter()
        .take(INVOCATIONS / 2)
        .flat_map(|answer| {
            let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
            let request = RequestId::parse(body["survey_request_id"].as_str().unwrap()).unwrap();
            let path = format!("/r/{}", sign(&keys, request, expires));
            [
                http_event("GET", &path, "score=9", person.clone(), ""),
                http_event("POST", &path, "", person.clone(), "score=9&comment=Warm%20and%20quick"),
            ]
        })
        .collect();
    let capture = Function {
        id: "CaptureFunction",
        binary: "capture",
        environment: vec![
            ("NPS_TABLE", table.clone()),
            ("NPS_TOKEN_KEYS", token_keys.clone()),
            ("NPS_RETENTION_DAYS", "730".to_owned()),
        ],
        events: clicks,
        check: http_status,
    };
    let schedule = || vec![serde_json::to_vec(&json!({})).unwrap(); INVOCATIONS];
    let dispatch = Function {
        id: "DispatchFunction",
        binary: "dispatch",
        // As make dev gives it: the local SES answers no GetAccount (its send rate).
        environment: sending(vec![("NPS_SES_MAX_SEND_RATE", "50".to_owned())]),
        events: schedule(),
        check: any_report,
    };
    let bearer = json!({"authorization": format!("Bearer {api_key}")});
    let api = Function {
        id: "ApiFunction",
        binary: "api",
        environment: vec![("NPS_TABLE", table.clone()), ("NPS_PERSON_KEY", person_key.clone())],
        events: (0..INVOCATIONS)
            .map(|i| match i % 2 {
                0 => http_event("GET", "/v1/metrics", "survey=default&group_by=product", bearer.clone(), ""),
                _ => http_event("GET", "/v1/responses", "survey=default&per_page=50", bearer.clone(), ""),
            })
            .collect(),
        check: http_status,
    };
    let bounce =
        std::fs::read_to_string(root.join("functions/ses-events/tests/fixtures/sns-permanent-bounce.json")).unwrap();
    let ses_events = Function {
        id: "SesEventsFunction",
        binary: "ses-events",
        environment: vec![("NPS_TABLE", table.clone()), ("NPS_PERSON_KEY", person_key.clone())],
        events: (0..INVOCATIONS)
            .map(|i| bounce.replace("bounced@example.com", &format!("bounced-{run}-{i}@example.com")).into_bytes())
            .collect(),
        check: any_report,
    };
    let (figures, _) = measure(&bootstrap(&capture), &capture).await;
    report.push((capture, figures));

    // What the event source mapping hands over after the purchases and answers above (batches of
    // the template's size, the filter applied), then the minute's ticks.
    let mapping = Mapping::from_template(&root.join("template.yaml")).unwrap();
    let streams = aws_sdk_dynamodbstreams::Client::new(&nps_adapters::aws::load_sdk_config().await);
    let mut batches = Vec::new();
    Pump::new(streams, stream.clone(), mapping)
        .drain(|event| {
            batches.push(serde_json::to_vec(&event).unwrap());
            async { Ok(json!({})) }
        })
        .await
        .unwrap();
    let ticks = INVOCATIONS.saturating_sub(batches.len());
    batches.extend(std::iter::repeat_n(serde_json::to_vec(&json!({"tick": true})).unwrap(), ticks));
    let aggregate = Function {
        id: "AggregateFunction",
        binary: "aggregate",
        environment: vec![("NPS_TABLE", table.clone()), ("NPS_TABLE_STREAM_ARN", stream.clone())],
        events: batches,
        check: any_report,
    };
    for function in [aggregate, dispatch, api, ses_events] {
        let (figures, _) = measure(&bootstrap(&function), &function).await;
        report.push((function, figures));
    }

    println!(
        "\n{COLD_STARTS} cold starts and {INVOCATIONS} invocations per function, bootstraps from {}",
        build.display()
    );
    println!(
        "| function | bootstrap | zipped | init p50 | init max | init instructions | RSS after init | peak RSS | warm p50 | warm p99 | init p50 ÷ floor's | init instructions ÷ floor's | peak RSS ÷ floor's |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1e3);
    let floor_init = percentile(&floor_figures.init, 0.5).as_secs_f64();
    let rows = std::iter::once((floor_bootstrap.clone(), "Floor (tests/floor)", &floor_figures))
        .chain(report.iter().map(|(function, f)| (bootstrap(function), function.id, f)));
    for (path, id, f) in rows {
        let size = std::fs::metadata(&path).unwrap().len() as f64 / 1e6;
        println!(
            "| {id} | {size:.2} MB | {:.2} MB | {} | {} | {:.2} M | {:.1} MB | {:.1} MB | {} | {} | {:.2}× | {:.2}× | {:.2}× |",
            zipped_mb(&path),
            ms(percentile(&f.init, 0.5)),
            ms(*f.init.last().unwrap()),
            f.init_instructions as f64 / 1e6,
            f.init_rss,
            f.peak_rss,
            ms(percentile(&f.warm, 0.5)),
            ms(percentile(&f.warm, 0.99)),
            percentile(&f.init, 0.5).as_secs_f64() / floor_init,
            f.init_instructions as f64 / floor_figures.init_instructions as f64,
            f.peak_rss / floor_figures.peak_rss,
        );
    }
}

/// The bootstrap zipped (deflate) as `sam deploy` uploads it, by Python's zipfile as in package.sh.
fn zipped_mb(path: &Path) -> f64 {
    let output = std::process::Command::new("python3")
        .args(["-c", "import io,sys,zipfile\nb=io.BytesIO()\nz=zipfile.ZipFile(b,'w',zipfile.ZIP_DEFLATED)\nz.write(sys.argv[1],'bootstrap')\nz.close()\nprint(len(b.getvalue()))"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8(output.stdout).unwrap().trim().parse::<f64>().unwrap() / 1e6
}
