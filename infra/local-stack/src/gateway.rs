//! The local stand-in for the HTTP API: one base URL for every route, as API Gateway serves them
//! deployed. The routes come from template.yaml's `AWS::ApiGatewayV2::Route` resources, never a
//! second list; each call is forwarded to its function under `cargo lambda watch`
//! (`<functions>/lambda-url/<function><path>`), with the caller's `Host` and
//! `X-Forwarded-Proto: http`, so answers that name their own URL (a `Link`) name this one.

use std::collections::HashMap;
use std::convert::Infallible;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use serde_norway::Value;

/// One route: `GET /v1/people/{id}` served by `function`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// `None`: `ANY`.
    pub method: Option<String>,
    pub segments: Vec<String>,
    pub function: String,
}

impl Route {
    fn parameters(&self) -> usize {
        self.segments.iter().filter(|s| s.starts_with('{')).count()
    }

    fn matches(&self, method: &str, segments: &[&str]) -> bool {
        self.method.as_deref().is_none_or(|m| m == method)
            && self.segments.len() == segments.len()
            && self.segments.iter().zip(segments).all(|(t, s)| t.starts_with('{') || t == s)
    }
}

/// The template's routes.
pub fn routes_from_template(template: &Path) -> Result<Vec<Route>> {
    let text = std::fs::read_to_string(template).with_context(|| format!("reading {}", template.display()))?;
    routes_from_text(&text)
}

pub fn routes_from_text(text: &str) -> Result<Vec<Route>> {
    let doc: Value = serde_norway::from_str(text).context("template is not YAML")?;
    let resources = doc.get("Resources").and_then(Value::as_mapping).context("no Resources")?;
    let text_of = |v: &Value| -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Tagged(t) => t.value.as_str().map(str::to_owned),
            _ => None,
        }
    };
    // Integration logical id → function (`TriggerFunction.Arn` → `trigger`).
    let mut functions = HashMap::new();
    for (id, resource) in resources {
        if resource.get("Type").and_then(Value::as_str) == Some("AWS::ApiGatewayV2::Integration") {
            let uri = resource.get("Properties").and_then(|p| p.get("IntegrationUri")).and_then(text_of);
            let uri = uri.with_context(|| format!("{id:?}: no IntegrationUri"))?;
            let logical = uri.strip_suffix(".Arn").and_then(|u| u.strip_suffix("Function"));
            let logical = logical.with_context(|| format!("{id:?}: IntegrationUri {uri} is not <Name>Function.Arn"))?;
            functions.insert(id.as_str().unwrap_or_default().to_owned(), binary_name(logical));
        }
    }
    let mut routes = Vec::new();
    for (id, resource) in resources {
        if resource.get("Type").and_then(Value::as_str) != Some("AWS::ApiGatewayV2::Route") {
            continue;
        }
        let props = resource.get("Properties").with_context(|| format!("{id:?}: no Properties"))?;
        let key = props.get("RouteKey").and_then(text_of).with_context(|| format!("{id:?}: no RouteKey"))?;
        let target = props.get("Target").and_then(text_of).with_context(|| format!("{id:?}: no Target"))?;
        let integration = target
            .strip_prefix("integrations/${")
            .and_then(|t| t.strip_suffix('}'))
            .with_context(|| format!("{id:?}: Target {target} is not integrations/${{…}}"))?;
        let function = functions.get(integration).ok_or_else(|| anyhow!("{id:?}: no integration {integration}"))?;
        let (method, path) = key.split_once(' ').with_context(|| format!("{id:?}: RouteKey {key}"))?;
        if !path.starts_with('/') {
            bail!("{id:?}: RouteKey {key} has no path");
        }
        routes.push(Route {
            method: (method != "ANY").then(|| method.to_owned()),
            segments: path.split('/').skip(1).map(str::to_owned).collect(),
            function: function.clone(),
        });
    }
    Ok(routes)
}

/// `SesEvents` → `ses-events`: the function crates' names.
fn binary_name(logical: &str) -> String {
    let mut name = String::new();
    for (i, c) in logical.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            name.push('-');
        }
        name.push(c.to_ascii_lowercase());
    }
    name
}

/// The route API Gateway would choose: the fewest path parameters, then a method over `ANY`.
pub fn choose<'a>(routes: &'a [Route], method: &str, path: &str) -> Option<&'a Route> {
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    routes.iter().filter(|r| r.matches(method, &segments)).min_by_key(|r| (r.parameters(), r.method.is_none()))
}

/// Serves `routes` on `listener`, forwarding to `functions` (the `cargo lambda watch` address).
pub async fn serve(listener: tokio::net::TcpListener, routes: Vec<Route>, functions: String) -> Result<()> {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let shared = std::sync::Arc::new((routes, functions, client));
    loop {
        let (socket, _) = listener.accept().await?;
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let shared = shared.clone();
                async move {
                    let (routes, functions, client) = &*shared;
                    Ok::<_, Infallible>(forward(req, routes, functions, client).await)
                }
            });
            let io = hyper_util::rt::TokioIo::new(socket);
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
        });
    }
}

fn answer(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert("content-type", hyper::header::HeaderValue::from_static("application/json"));
    response
}

async fn forward(
    req: Request<Incoming>,
    routes: &[Route],
    functions: &str,
    client: &reqwest::Client,
) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let Some(route) = choose(routes, req.method().as_str(), &path) else {
        // API Gateway's own answer for a route it does not have.
        return answer(StatusCode::NOT_FOUND, r#"{"message":"Not Found"}"#);
    };
    let query = req.uri().query().map(|q| format!("?{q}")).unwrap_or_default();
    let url = format!("{functions}/lambda-url/{}{path}{query}", route.function);
    let method = req.method().clone();
    let mut headers = req.headers().clone();
    headers.remove(hyper::header::CONTENT_LENGTH);
    headers.insert("x-forwarded-proto", hyper::header::HeaderValue::from_static("http"));
    let Ok(body) = req.into_body().collect().await.map(|b| b.to_bytes()) else {
        return answer(StatusCode::BAD_REQUEST, r#"{"message":"Bad Request"}"#);
    };
    let sent = client.request(method, &url).headers(headers).body(body).send().await;
    let Ok(got) = sent else {
        return answer(StatusCode::SERVICE_UNAVAILABLE, r#"{"message":"Service Unavailable"}"#);
    };
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = got.status();
    *response.headers_mut() = got.headers().clone();
    response.headers_mut().remove(hyper::header::TRANSFER_ENCODING);
    response.headers_mut().remove(hyper::header::CONTENT_LENGTH);
    match got.bytes().await {
        Ok(bytes) => *response.body_mut() = Full::new(bytes),
        Err(_) => return answer(StatusCode::BAD_GATEWAY, r#"{"message":"Internal Server Error"}"#),
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_routes_every_path_as_api_gateway_would() {
        let routes = routes_from_template(&crate::repo_template()).unwrap();
        let to = |method: &str, path: &str| choose(&routes, method, path).map(|r| r.function.as_str());
        assert_eq!(to("POST", "/v1/triggers/shopify"), Some("trigger"));
        assert_eq!(to("POST", "/v1/people"), Some("trigger"));
        assert_eq!(to("GET", "/v1/people"), Some("api"));
        assert_eq!(to("POST", "/v1/people.json"), Some("trigger"));
        assert_eq!(to("DELETE", "/v1/people/kim%40example.com"), Some("api"));
        assert_eq!(to("GET", "/v1/metrics"), Some("api"));
        assert_eq!(to("GET", "/r/abc"), Some("capture"));
        assert_eq!(to("HEAD", "/u/abc"), Some("capture"));
        assert_eq!(to("PATCH", "/dashboard"), Some("api"));
        assert_eq!(to("GET", "/v1/nothing"), None);
        assert_eq!(to("GET", "/v1/triggers/shopify"), None);
        assert_eq!(binary_name("SesEvents"), "ses-events");
    }
}
