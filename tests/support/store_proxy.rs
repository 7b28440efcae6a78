//! A loopback proxy in front of DynamoDB Local that fails on demand, to show what the functions
//! do when the store goes away at an exact point of their work: right before or right after a
//! named operation reaches the store. Once cut, every call fails (as DynamoDB's 500
//! `InternalServerError`, which the SDK retries and then reports) until the proxy is healed.
//! It also keeps a ledger of the calls that reached the store, to count what a piece of work costs.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// Where the proxy cuts the store off: at the first call of the operation named (`X-Amz-Target`'s
/// suffix, e.g. `TransactWriteItems`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Nothing fails.
    Never,
    /// That call fails without reaching the store.
    Before(&'static str),
    /// That call reaches the store and is written, and its answer is lost.
    During(&'static str),
    /// That call is answered; every call after it fails.
    After(&'static str),
    /// The first call is written and its answer lost; the store stays up (a network blip).
    Blip(&'static str),
}

#[derive(Debug)]
struct State {
    cut: Cut,
    down: bool,
    ledger: Vec<Call>,
}

/// One call the store answered: its operation (`X-Amz-Target`'s suffix), its request and when it
/// was in flight.
#[derive(Debug, Clone)]
pub struct Call {
    pub operation: String,
    pub request: serde_json::Value,
    pub started: Instant,
    pub ended: Instant,
}

pub struct StoreProxy {
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl StoreProxy {
    /// A proxy to `upstream` (DynamoDB Local's URL) on a free loopback port.
    pub async fn start(upstream: &str) -> StoreProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State { cut: Cut::Never, down: false, ledger: Vec::new() }));
        let (shared, upstream, client) =
            (state.clone(), upstream.trim_end_matches('/').to_owned(), reqwest::Client::new());
        tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else { return };
                let (state, upstream, client) = (shared.clone(), upstream.clone(), client.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                        forward(req, state.clone(), upstream.clone(), client.clone())
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(socket), service)
                        .await;
                });
            }
        });
        StoreProxy { url, state }
    }

    /// Arms the cut; the store stays reachable until the operation named comes by.
    pub fn cut(&self, cut: Cut) {
        let mut state = self.state.lock().unwrap();
        (state.cut, state.down) = (cut, false);
    }

    /// The calls the store answered since the last time, oldest first.
    pub fn take_calls(&self) -> Vec<Call> {
        std::mem::take(&mut self.state.lock().unwrap().ledger)
    }

    /// The store is reachable again.
    pub fn heal(&self) {
        self.cut(Cut::Never);
    }

    /// Whether the cut has happened.
    pub fn is_down(&self) -> bool {
        self.state.lock().unwrap().down
    }

    /// A client of the functions' kind (`base`'s configuration) that goes through this proxy.
    pub fn client(&self, base: &aws_sdk_dynamodb::Client) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::from_conf(base.config().to_builder().endpoint_url(&self.url).build())
    }
}

fn failure() -> hyper::Response<Full<Bytes>> {
    let body = r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"the store is down"}"#;
    let mut answer = hyper::Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *answer.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
    answer
}

async fn forward(
    req: hyper::Request<Incoming>,
    state: Arc<Mutex<State>>,
    upstream: String,
    client: reqwest::Client,
) -> Result<hyper::Response<Full<Bytes>>, hyper::Error> {
    let target = req.headers().get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let is = |operation: &str| target.rsplit('.').next() == Some(operation);
    {
        let mut state = state.lock().unwrap();
        if let Cut::Before(operation) = state.cut
            && is(operation)
        {
            state.down = true;
        }
        if state.down {
            return Ok(failure());
        }
    }
    let (parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    let (request, started) = (serde_json::from_slice(&body).unwrap_or_default(), Instant::now());
    let mut headers = parts.headers.clone();
    headers.remove(hyper::header::HOST);
    headers.remove(hyper::header::CONTENT_LENGTH);
    let sent = client
        .request(parts.method.clone(), format!("{upstream}{}", parts.uri.path()))
        .headers(headers)
        .body(body)
        .send()
        .await;
    let Ok(response) = sent else { return Ok(failure()) };
    let status = response.status();
    let headers = response.headers().clone();
    let Ok(bytes) = response.bytes().await else { return Ok(failure()) };
    let mut state = state.lock().unwrap();
    if state.down {
        return Ok(failure());
    }
    let operation = target.rsplit('.').next().unwrap_or_default().to_owned();
    state.ledger.push(Call { operation, request, started, ended: Instant::now() });
    match state.cut {
        Cut::During(operation) if is(operation) && status.is_success() => {
            state.down = true;
            return Ok(failure());
        }
        Cut::After(operation) if is(operation) && status.is_success() => state.down = true,
        Cut::Blip(operation) if is(operation) && status.is_success() => {
            state.cut = Cut::Never;
            return Ok(failure());
        }
        _ => {}
    }
    let mut answer = hyper::Response::new(Full::new(bytes));
    *answer.status_mut() = status;
    *answer.headers_mut() = headers;
    answer.headers_mut().remove(hyper::header::CONTENT_LENGTH);
    answer.headers_mut().remove(hyper::header::TRANSFER_ENCODING);
    Ok(answer)
}
