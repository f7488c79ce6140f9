//! Helpers shared by the server's tests.
#![allow(dead_code)]

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use axum::Router;
use serde_json::Value;
use std::sync::Arc;
use sutra_server::api::{router, AppState};
use sutra_server::metrics::Metrics;
use sutra_server::registry::Registry;
use sutra_server::writer::WriterConfig;
use tower::ServiceExt;

/// A router on a temporary data directory.
pub struct TestApp {
    pub router: Router,
    pub registry: Arc<Registry>,
    pub dir: tempfile::TempDir,
}

pub fn app_with(config: WriterConfig, token: Option<&str>, cors: &[&str]) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let metrics = Arc::new(Metrics::default());
    let registry = Arc::new(Registry::open(dir.path(), config, metrics.clone()).expect("registry"));
    let state = AppState {
        registry: registry.clone(),
        metrics,
        token: token.map(str::to_string),
        ui_dir: None,
    };
    let origins: Vec<HeaderValue> = cors
        .iter()
        .map(|o| HeaderValue::from_str(o).expect("origin"))
        .collect();
    TestApp {
        router: router(state, &origins),
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
