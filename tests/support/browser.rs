//! A real browser for the tests: Debian's headless Chromium driven through chromedriver, and a
//! small HTTP server on loopback that hands its requests to a function, as API Gateway would.
//! Screenshots go to `target/browser/` for people to look at.

use std::future::Future;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};

/// Hands each HTTP request on `listener` to `handle` (a function's `handle`), until the test ends.
pub async fn serve<H, F>(handle: H, listener: TcpListener)
where
    H: Fn(Request) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    loop {
        let Ok((stream, _)) = listener.accept().await else { return };
        let handle = handle.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                let handle = handle.clone();
                async move {
                    let (parts, body) = req.into_parts();
                    let body = body.collect().await?.to_bytes();
                    let (parts, body) =
                        handle(Request::from_parts(parts, Body::from(body.to_vec()))).await.into_parts();
                    Ok::<_, hyper::Error>(hyper::Response::from_parts(parts, Full::new(Bytes::from(body.to_vec()))))
                }
            });
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

/// chromedriver in its own process group; dropping it stops the driver and the browser it started.
pub struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    pub async fn start() -> Driver {
        let mut child = Command::new(std::env::var("NPS_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into()))
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("starting chromedriver: {e}. `make test` installs Debian's chromium and chromium-driver")
            });
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let port = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(port) = line.split("started successfully on port ").nth(1) {
                    return port.trim_end_matches('.').to_owned();
                }
            }
            panic!("chromedriver exited before it was ready");
        })
        .await
        .expect("chromedriver ready within 30 s");
        Driver { child, url: format!("http://127.0.0.1:{port}") }
    }

    /// A fresh headless browser the size of a phone.
    pub async fn browser(&self) -> Client {
        let options = json!({
            "binary": std::env::var("NPS_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=412,915", "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--disable-default-apps"],
        });
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".into(), options);
        ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("a Chromium session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            // The whole group: chromedriver and the Chromium processes it started.
            let _ = std::process::Command::new("kill").args(["-TERM", "--", &format!("-{pid}")]).status();
        }
    }
}

pub async fn screenshot(browser: &Client, name: &str) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/browser");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), browser.screenshot().await.unwrap()).unwrap();
}

/// The value of `property` of the element at `css`, as the page's script sees it.
pub async fn property(browser: &Client, css: &str, property: &str) -> Value {
    let script = "return document.querySelector(arguments[0])[arguments[1]];";
    browser.execute(script, vec![json!(css), json!(property)]).await.unwrap()
}

/// axe-core (npm, pinned in infra/npm, installed into .local/npm by `make test`) on the page as
/// shown at a phone's width and at a desktop's: every serious or critical violation fails.
pub async fn assert_accessible(browser: &Client, what: &str) {
    let path = std::env::var_os("NPS_AXE").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.local/npm/node_modules/axe-core/axe.min.js")
    });
    let source = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("axe-core at {}: {e}; `make test` installs it", path.display()));
    // Run through WebDriver, so the page's CSP (no script but its own) does not apply.
    let run = "const done = arguments[arguments.length - 1];
        axe.run(document, { resultTypes: ['violations'] })
          .then(r => done(r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
            .map(v => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map(n => n.target.join(' ')).join(', ')}`)))
          .catch(e => done([`axe failed: ${e}`]));";
    let (width, height) = browser.get_window_size().await.unwrap();
    for (w, h) in [(412, 915), (1280, 900)] {
        browser.set_window_size(w, h).await.unwrap();
        browser.execute(&format!("{source}\nreturn typeof axe;"), vec![]).await.unwrap();
        let found: Vec<String> = serde_json::from_value(browser.execute_async(run, vec![]).await.unwrap()).unwrap();
        assert!(found.is_empty(), "{what} at {w} px wide: {found:#?}");
    }
    browser.set_window_size(width as u32, height as u32).await.unwrap();
}
