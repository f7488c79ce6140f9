//! How the MCP tools reach a memory: through Sutra's own HTTP API, `/v1`, always.
//!
//! The tools are a client of `/v1` (its validation, limits, cluster forwarding and errors are
//! theirs), reached one of three ways:
//! - [`Api::Router`]: this process's own router, without a socket — `/mcp` on `sutra serve`;
//! - [`Api::Remote`]: another process's server over HTTP — `sutra mcp --url`, the bridge that
//!   lets many agent processes share the one process that owns the data;
//! - [`Api::Owned`]: a data directory this process opens itself on first use — `sutra mcp
//!   --data` — when no server runs. A second process finds the directory locked, and every
//!   tool call it gets answers `memory_locked` until the first one exits.

use crate::http::api::{router, AppState};
use crate::memories::home::Home;
use crate::memories::metrics::Metrics;
use crate::memories::queries::{QueryConfig, QueryPool};
use crate::memories::registry::{Registry, MEMORIES_MAX};
use crate::memories::writer::WriterConfig;
use axum::body::Body;
use axum::http::{header, Method, Request};
use axum::Router;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tower::ServiceExt;

/// Largest answer read from the API (a tool asks for bounded pages; this is a backstop).
pub const ANSWER_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Time limit of one request to a remote server.
pub const REMOTE_TIMEOUT: Duration = Duration::from_secs(60);

/// Times a request refused as `busy` is sent…
pub const BUSY_TRIES: u32 = 40;
/// …the first pause between them (growing to ten times this).
pub const BUSY_PAUSE: Duration = Duration::from_millis(20);

/// Marks a request made by this process's MCP tools to its own router: the request of the
/// agent that caused it already passed the access rules (token, host, origin) at `/mcp`, and a
/// process owning its data directory has no rules to pass. Requests from the network cannot
/// carry it (it is a type, not a header).
#[derive(Clone, Copy, Debug)]
pub struct InProcess;

/// An error answer of the API, or a failure to get one.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    /// The API's error code (`concept_not_found`, …), or `unreachable` / `bad_answer` /
    /// `memory_locked` for failures before an answer.
    pub code: String,
    /// What it says.
    pub message: String,
}

impl Failure {
    /// A failure with this code.
    pub fn new(code: &str, message: impl Into<String>) -> Failure {
        Failure {
            code: code.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// A server reached over HTTP.
pub struct Remote {
    base: String,
    auth: Option<String>,
    agent: ureq::Agent,
}

/// A data directory this process opens on first use, and owns from then on.
pub struct Owned {
    data: PathBuf,
    opened: Mutex<Option<(Router, Arc<Registry>)>>,
}

/// Where the tools' requests go.
#[derive(Clone)]
pub enum Api {
    /// This process's `/v1` router.
    Router(Router),
    /// Another process's server.
    Remote(Arc<Remote>),
    /// A data directory opened by this process.
    Owned(Arc<Owned>),
}

impl Api {
    /// A server at `url` (e.g. `http://127.0.0.1:7878`), with its token if it needs one.
    pub fn remote(url: &str, token: Option<String>) -> Api {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(REMOTE_TIMEOUT))
            .build()
            .new_agent();
        Api::Remote(Arc::new(Remote {
            base: url.trim_end_matches('/').to_string(),
            auth: token.map(|t| format!("Bearer {t}")),
            agent,
        }))
    }

    /// The data directory `data`, opened by the first request.
    pub fn owned(data: PathBuf) -> Api {
        Api::Owned(Arc::new(Owned {
            data,
            opened: Mutex::new(None),
        }))
    }

    /// Sends `method path` (path and query) with a JSON `body`; the answer's JSON, or its
    /// error. A request refused as `busy` (a full queue, nothing done) is sent again, up to
    /// [`BUSY_TRIES`] times: many agents at once wait their turn instead of failing.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, Failure> {
        let mut tries = 1;
        loop {
            match self.send(method.clone(), path, body).await {
                Err(f) if f.code == "busy" && tries < BUSY_TRIES => {
                    tokio::time::sleep(BUSY_PAUSE * tries.min(10)).await;
                    tries += 1;
                }
                answered => return answered,
            }
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, Failure> {
        let bytes = match body {
            Some(b) => {
                serde_json::to_vec(b).map_err(|e| Failure::new("bad_request", e.to_string()))?
            }
            None => Vec::new(),
        };
        match self {
            Api::Router(app) => in_process(app.clone(), method, path, bytes).await,
            Api::Owned(owned) => {
                let app = owned.router().await?;
                in_process(app, method, path, bytes).await
            }
            Api::Remote(remote) => {
                let remote = remote.clone();
                let path = path.to_string();
                tokio::task::spawn_blocking(move || remote.send(&method, &path, bytes))
                    .await
                    .map_err(|e| Failure::new("unavailable", e.to_string()))?
            }
        }
    }

    /// Lets go of what this process owns: a data directory it opened is checkpointed and
    /// unlocked.
    pub fn close(&self) {
        if let Api::Owned(owned) = self {
            let taken = owned
                .opened
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            if let Some((_, registry)) = taken {
                registry.shutdown();
            }
        }
    }
}

impl Owned {
    /// The router over the data directory, opening it if this is the first request that finds
    /// it free.
    async fn router(self: &Arc<Self>) -> Result<Router, Failure> {
        if let Some((app, _)) = &*self.opened.lock().unwrap_or_else(|e| e.into_inner()) {
            return Ok(app.clone());
        }
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut opened = this.opened.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((app, _)) = &*opened {
                return Ok(app.clone());
            }
            let (app, registry) = open_directory(&this.data)?;
            *opened = Some((app.clone(), registry));
            Ok(app)
        })
        .await
        .map_err(|e| Failure::new("unavailable", e.to_string()))?
    }
}

/// Opens `data` as `sutra serve` would (default limits, no listener): its router and registry.
fn open_directory(data: &std::path::Path) -> Result<(Router, Arc<Registry>), Failure> {
    let metrics = Arc::new(Metrics::default());
    let registry = match Registry::open_with(data, WriterConfig::default(), metrics.clone(), MEMORIES_MAX) {
        Ok(r) => Arc::new(r),
        Err(message) if message.contains("already in use") => {
            return Err(Failure::new(
                "memory_locked",
                format!(
                    "{message}. Only one process owns a data directory: run `sutra serve --data {}` once and point every MCP client at it with `sutra mcp --url http://127.0.0.1:7878`, or close the other client",
                    data.display()
                ),
            ))
        }
        Err(message) => return Err(Failure::new("unavailable", message)),
    };
    registry.start_recovery().map_err(|e| {
        Failure::new(
            "unavailable",
            format!("cannot start the recovery thread: {e}"),
        )
    })?;
    let queries = QueryPool::start(QueryConfig::default()).map_err(|e| {
        Failure::new(
            "unavailable",
            format!("cannot start the query threads: {e}"),
        )
    })?;
    let state = AppState {
        home: Home::Local(registry.clone()),
        metrics,
        access: Arc::default(),
        ui_dir: None,
        queries: Arc::new(queries),
        transfers: Arc::default(),
    };
    Ok((router(state), registry))
}

/// One request to `app`, answered without a socket.
async fn in_process(
    app: Router,
    method: Method,
    path: &str,
    bytes: Vec<u8>,
) -> Result<Value, Failure> {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(bytes))
        .map_err(|e| Failure::new("bad_request", e.to_string()))?;
    request.extensions_mut().insert(InProcess);
    let response = match app.oneshot(request).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    let status = response.status().as_u16();
    let body = axum::body::to_bytes(response.into_body(), ANSWER_BYTES_MAX)
        .await
        .map_err(|e| Failure::new("bad_answer", e.to_string()))?;
    answer(status, &body)
}

impl Remote {
    fn send(&self, method: &Method, path: &str, bytes: Vec<u8>) -> Result<Value, Failure> {
        let url = format!("{}{path}", self.base);
        let unreachable = |e: ureq::Error| {
            Failure::new(
                "unreachable",
                format!("cannot reach the Sutra server at {}: {e}", self.base),
            )
        };
        let with_auth = |r: ureq::RequestBuilder<ureq::typestate::WithBody>| match &self.auth {
            Some(a) => r.header("Authorization", a),
            None => r,
        };
        let sent = match *method {
            Method::GET | Method::DELETE => {
                let r = if *method == Method::GET {
                    self.agent.get(&url)
                } else {
                    self.agent.delete(&url)
                };
                let r = match &self.auth {
                    Some(a) => r.header("Authorization", a),
                    None => r,
                };
                r.call()
            }
            Method::PUT => with_auth(self.agent.put(&url))
                .content_type("application/json")
                .send(&bytes[..]),
            _ => with_auth(self.agent.post(&url))
                .content_type("application/json")
                .send(&bytes[..]),
        };
        let mut response = sent.map_err(unreachable)?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(ANSWER_BYTES_MAX as u64)
            .read_to_vec()
            .map_err(unreachable)?;
        answer(status, &body)
    }
}

/// The JSON of an answer, or the error it carries.
fn answer(status: u16, body: &[u8]) -> Result<Value, Failure> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        Failure::new(
            "bad_answer",
            format!("the server answered {status} with a body that is not JSON: {e}"),
        )
    })?;
    if (200..300).contains(&status) {
        return Ok(value);
    }
    let error = &value["error"];
    Err(Failure::new(
        error["code"].as_str().unwrap_or("error"),
        error["message"]
            .as_str()
            .map_or_else(|| format!("the server answered {status}"), str::to_string),
    ))
}
