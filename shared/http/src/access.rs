//! One log line per HTTP request, the same in every HTTP function: the route as API Gateway matched
//! it (its route key, never the raw path: paths carry score tokens and addresses), the method, the
//! status, the latency and API Gateway's request id. Nothing from the query, the headers or the
//! body. Lambda's own request id is on every line already (the runtime's span). With the
//! template's `LoggingConfig: {LogFormat: JSON}` each line is a JSON object.

use std::future::Future;
use std::time::Instant;

use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};

/// Answers `req` with `handle`, then logs the request's line.
pub async fn access_logged<F, Fut>(req: Request, handle: F) -> Response<Body>
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response<Body>>,
{
    let started = Instant::now();
    let (route, gateway_request) = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => (context.route_key.clone(), context.request_id.clone()),
        _ => (None, None),
    };
    let method = req.method().to_string();
    let response = handle(req).await;
    tracing::info!(
        route = route.as_deref().unwrap_or("-"),
        method,
        status = response.status().as_u16(),
        latency_ms = (started.elapsed().as_secs_f64() * 1000.0 * 100.0).round() / 100.0,
        request_id = gateway_request.as_deref().unwrap_or("-"),
        "request"
    );
    response
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
    use lambda_http::http::StatusCode;

    use super::*;

    /// What the JSON subscriber writes, as `nps_adapters::logging` sets it up for `LogFormat: JSON`.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn one_json_line_per_request_with_the_route_and_nothing_of_the_person() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_target(false)
            .without_time()
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);

        let mut context = ApiGatewayV2httpRequestContext::default();
        context.route_key = Some("POST /r/{token}".into());
        context.request_id = Some("gw-123".into());
        let req = lambda_http::http::Request::builder()
            .method("POST")
            .uri("https://nps.example/r/secret-token-abc?email=kim%40example.com")
            .body(Body::from("score=3&comment=my+name+is+Kim"))
            .unwrap()
            .with_request_context(RequestContext::ApiGatewayV2(context));
        let answer = access_logged(req, |_| async { Response::builder().status(201).body(Body::Empty).unwrap() }).await;
        assert_eq!(answer.status(), StatusCode::CREATED);

        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 1, "{text}");
        let fields = &lines[0]["fields"];
        assert_eq!(lines[0]["level"], "INFO");
        assert_eq!(fields["message"], "request");
        assert_eq!(fields["route"], "POST /r/{token}");
        assert_eq!((fields["method"].as_str(), fields["status"].as_u64()), (Some("POST"), Some(201)));
        assert!(fields["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0));
        assert_eq!(fields["request_id"], "gw-123");
        for secret in ["secret-token-abc", "kim", "example.com", "comment", "score"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
}
