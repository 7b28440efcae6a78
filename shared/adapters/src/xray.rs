//! X-Ray subsegments for the AWS SDK's calls, when the function is traced (the template's
//! `Tracing` parameter set to `Active`, or an upstream caller's sampled trace): one per attempt
//! of a DynamoDB, DynamoDB Streams or SES call, with the service, the operation, the HTTP status
//! and AWS's request id, sent to the X-Ray daemon that Lambda runs beside the function (one UDP
//! datagram, no waiting, dropped on any error). Nothing else is recorded: no key, no address, no
//! body. Lambda itself records each invocation's segment (init, invocation, overhead).

use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::config::interceptors::{BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use serde_json::json;

/// What the daemon expects before each document.
const HEADER: &str = r#"{"format": "json", "version": 1}"#;

/// The interceptor: add it to a client's config ([`crate::aws`] does, for every client).
#[derive(Debug, Clone)]
pub struct XRay {
    daemon: SocketAddr,
    socket: Arc<UdpSocket>,
    /// The invocation's trace header (`Root=…;Parent=…;Sampled=…`); Lambda's runtime sets
    /// `_X_AMZN_TRACE_ID` for each invocation.
    trace_header: fn() -> Option<String>,
}

impl XRay {
    /// From Lambda's environment: `None` where no daemon is given (not traced, or not in Lambda).
    /// Every client of the process shares one socket.
    pub fn from_lambda_env() -> Option<Self> {
        static LAMBDA: OnceLock<Option<XRay>> = OnceLock::new();
        LAMBDA
            .get_or_init(|| {
                let daemon = std::env::var("AWS_XRAY_DAEMON_ADDRESS").ok()?;
                XRay::new(daemon.trim().parse().ok()?, || std::env::var("_X_AMZN_TRACE_ID").ok())
            })
            .clone()
    }

    /// Sends to `daemon`, in the trace `trace_header` gives at each call.
    pub fn new(daemon: SocketAddr, trace_header: fn() -> Option<String>) -> Option<Self> {
        let local: SocketAddr = if daemon.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
        let socket = UdpSocket::bind(local).ok()?;
        socket.set_nonblocking(true).ok()?;
        Some(XRay { daemon, socket: Arc::new(socket), trace_header })
    }
}

/// When the current attempt started (seconds since the epoch, as X-Ray wants them).
#[derive(Debug, Clone, Copy)]
struct Started(f64);

impl Storable for Started {
    type Storer = StoreReplace<Self>;
}

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// The trace a sampled invocation belongs to: its root and the segment to hang under.
#[derive(Debug, PartialEq, Eq)]
struct Trace {
    root: String,
    parent: String,
}

impl Trace {
    /// `None` unless the header names a root and a parent and says `Sampled=1`.
    fn sampled(header: &str) -> Option<Trace> {
        let field = |name: &str| {
            header.split(';').find_map(|part| part.trim().strip_prefix(name)?.strip_prefix('=')).map(str::to_owned)
        };
        (field("Sampled").as_deref() == Some("1")).then_some(())?;
        Some(Trace { root: field("Root")?, parent: field("Parent")? })
    }
}

impl Intercept for XRay {
    fn name(&self) -> &'static str {
        "XRay"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().store_put(Started(now()));
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(trace) = (self.trace_header)().as_deref().and_then(Trace::sampled) else { return Ok(()) };
        let Some(Started(start)) = cfg.load::<Started>().copied() else { return Ok(()) };
        let (service, operation) = cfg.load::<Metadata>().map_or(("AWS", "-"), |m| (m.service(), m.name()));
        let response = context.response();
        let status = response.map(|r| r.status().as_u16());
        let request_id = response.and_then(|r| r.headers().get("x-amzn-requestid")).unwrap_or("-");
        let document = subsegment(&trace, service, operation, status, request_id, start, now());
        // A datagram the daemon may drop; tracing never fails or slows the call it describes.
        let _ = self.socket.send_to(format!("{HEADER}\n{document}").as_bytes(), self.daemon);
        Ok(())
    }
}

/// One attempt as an independent subsegment document.
fn subsegment(
    trace: &Trace,
    service: &str,
    operation: &str,
    status: Option<u16>,
    request_id: &str,
    start: f64,
    end: f64,
) -> serde_json::Value {
    let mut document = json!({
        "type": "subsegment",
        "name": service,
        "namespace": "aws",
        "id": format!("{:016x}", fastrand::u64(..)),
        "trace_id": trace.root,
        "parent_id": trace.parent,
        "start_time": start,
        "end_time": end,
        "aws": { "operation": operation, "request_id": request_id },
    });
    match status {
        Some(status) => {
            document["http"] = json!({ "response": { "status": status } });
            document["error"] = json!((400..500).contains(&status));
            document["fault"] = json!(status >= 500);
            document["throttle"] = json!(status == 429);
        }
        // No answer (a timeout, the connection refused): the call's fault, as X-Ray counts them.
        None => document["fault"] = json!(true),
    }
    document
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_sampled_trace_with_a_root_and_a_parent_is_followed() {
        let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
        let trace = Trace::sampled(header).unwrap();
        assert_eq!(
            (trace.root.as_str(), trace.parent.as_str()),
            ("1-5759e988-bd862e3fe1be46a994272793", "53995c3f42cd8ad8")
        );
        assert_eq!(Trace::sampled(&header.replace("Sampled=1", "Sampled=0")), None);
        assert_eq!(Trace::sampled("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"), None);
        assert_eq!(Trace::sampled(""), None);
    }

    #[test]
    fn a_throttled_call_is_an_error_and_a_throttle_and_no_answer_is_a_fault() {
        let trace = Trace { root: "1-a-b".into(), parent: "c".into() };
        let throttled = subsegment(&trace, "DynamoDB", "PutItem", Some(429), "R", 1.0, 2.0);
        let flags = |d: &serde_json::Value| [d["error"].as_bool(), d["fault"].as_bool(), d["throttle"].as_bool()];
        assert_eq!(flags(&throttled), [Some(true), Some(false), Some(true)]);
        let lost = subsegment(&trace, "DynamoDB", "PutItem", None, "-", 1.0, 2.0);
        assert_eq!((lost["fault"].as_bool(), lost.get("http")), (Some(true), None));
    }
}
