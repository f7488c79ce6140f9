//! Helpers shared by the server's tests.
#![allow(dead_code)]

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use sutra_server::http::access::Access;
use sutra_server::http::api::{router, AppState};
use sutra_server::memories::metrics::Metrics;
use sutra_server::memories::queries::{QueryConfig, QueryPool};
use sutra_server::memories::registry::Registry;
use sutra_server::memories::writer::WriterConfig;
use tower::ServiceExt;

/// The `sutra` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_sutra");

/// A router on a temporary data directory.
pub struct TestApp {
    pub router: Router,
    pub registry: Arc<Registry>,
    pub dir: tempfile::TempDir,
}

pub fn app_with(config: WriterConfig, token: Option<&str>, cors: &[&str]) -> TestApp {
    app_on(config, token, cors, QueryConfig::default())
}

/// A router whose access rules are those of a server on 127.0.0.1:7878 (requests without a
/// Host header pass, as they do on a real server).
pub fn app_on(
    config: WriterConfig,
    token: Option<&str>,
    cors: &[&str],
    queries: QueryConfig,
) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let metrics = Arc::new(Metrics::default());
    let registry = Arc::new(Registry::open(dir.path(), config, metrics.clone()).expect("registry"));
    let origins: Vec<HeaderValue> = cors
        .iter()
        .map(|o| HeaderValue::from_str(o).expect("origin"))
        .collect();
    let state = AppState {
        home: sutra_server::memories::home::Home::Local(registry.clone()),
        metrics,
        access: Arc::new(Access::new(
            "127.0.0.1:7878".parse().expect("address"),
            token.map(str::to_string),
            &[],
            origins,
        )),
        ui_dir: None,
        queries: Arc::new(QueryPool::start(queries).expect("query pool")),
        transfers: Arc::default(),
    };
    TestApp {
        router: router(state),
        registry,
        dir,
    }
}

pub fn app() -> TestApp {
    app_with(WriterConfig::default(), None, &[])
}

/// A response: status, JSON body (or the text as a JSON string), headers.
pub struct Answer {
    pub status: StatusCode,
    pub json: Value,
    pub text: String,
    pub headers: HeaderMap,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("")
    }
    pub fn message(&self) -> &str {
        self.json["error"]["message"].as_str().unwrap_or("")
    }
}

pub async fn send(app: &TestApp, request: Request<Body>) -> Answer {
    let response = app
        .router
        .clone()
        .oneshot(request)
        .await
        .expect("infallible router");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 512 * 1024 * 1024)
        .await
        .expect("body");
    let text = String::from_utf8_lossy(&bytes).to_string();
    let json = serde_json::from_str(&text).unwrap_or(Value::String(text.clone()));
    Answer {
        status,
        json,
        text,
        headers,
    }
}

pub async fn call(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> Answer {
    let mut builder = Request::builder().method(method).uri(path);
    let body = match body {
        Some(json) => {
            builder = builder.header("content-type", "application/json");
            Body::from(json.to_string())
        }
        None => Body::empty(),
    };
    send(app, builder.body(body).expect("request")).await
}

pub async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: impl Into<Body>,
) -> Answer {
    let mut builder = Request::builder().method(method).uri(path);
    if let Some(ct) = content_type {
        builder = builder.header("content-type", ct);
    }
    send(app, builder.body(body.into()).expect("request")).await
}

pub async fn get(app: &TestApp, path: &str) -> Answer {
    call(app, Method::GET, path, None).await
}

pub async fn post(app: &TestApp, path: &str, body: Value) -> Answer {
    call(app, Method::POST, path, Some(body)).await
}

pub async fn put(app: &TestApp, path: &str, body: Value) -> Answer {
    call(app, Method::PUT, path, Some(body)).await
}

pub async fn delete(app: &TestApp, path: &str) -> Answer {
    call(app, Method::DELETE, path, None).await
}

/// Asserts the server answers its health check.
pub async fn alive(app: &TestApp) {
    let a = get(app, "/v1/health").await;
    assert_eq!(
        (a.status, a.json.clone()),
        (StatusCode::OK, json!({"status": "ok", "cluster": null}))
    );
}

/// Creates a memory and asserts it worked.
pub async fn memory(app: &TestApp, name: &str, dimension: Option<u32>) {
    let a = post(
        app,
        "/v1/memories",
        serde_json::json!({"name": name, "dimension": dimension}),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
}

/// Learns a concept and returns its id.
pub async fn concept(app: &TestApp, memory: &str, body: Value) -> String {
    let a = put(app, &format!("/v1/memories/{memory}/concepts"), body).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    a.json["id"].as_str().expect("id").to_string()
}

/// The real `sutra serve` on a free loopback port, its log next to the data directory.
pub struct Server {
    /// The process.
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Server {
    /// Starts it on `data`.
    pub fn start(data: &Path) -> Server {
        Server::start_with(data, &[])
    }

    /// Starts it on `data` with more options.
    pub fn start_with(data: &Path, options: &[&str]) -> Server {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data.with_extension("server.log"))
            .expect("server log");
        let mut child = Command::new(BIN)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--ui",
                "/nonexistent",
                "--data",
            ])
            .arg(data)
            .args(options)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start sutra serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the listening line");
        let base = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| {
                panic!(
                    "no address in {line:?}; see {}",
                    data.with_extension("server.log").display()
                )
            })
            .to_string();
        Server { child, base }
    }

    /// `path` on it.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Creates a memory on it and asserts it worked.
    pub fn create_memory(&self, name: &str) {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent();
        let response = agent
            .post(&self.url("/v1/memories"))
            .send_json(serde_json::json!({ "name": name }))
            .expect("create");
        assert_eq!(response.status().as_u16(), 201, "create {name}");
    }

    /// SIGKILL.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }

    /// SIGTERM, then waits for the exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) has no memory-safety preconditions; the pid is our own child's.
        #[allow(unsafe_code)]
        let sent = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(sent, 0, "SIGTERM");
        self.child.wait().expect("wait")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
