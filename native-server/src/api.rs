//! The HTTP API (JSON, under `/v1`), `/metrics`, and the control center's files at `/`.

use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::registry::Registry;
use crate::writer::{MemoryHandle, SubmitError};
use axum::body::{Body, Bytes};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Request, State};
use axum::http::{header, request::Parts, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use sutra_core::exchange::{self, jsonl};
use sutra_core::Op;

/// Largest request body, in bytes (except imports).
pub const BODY_BYTES_MAX: usize = 32 * 1024 * 1024;
/// Largest import body, in bytes.
pub const IMPORT_BODY_BYTES_MAX: usize = 256 * 1024 * 1024;

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    /// The memories.
    pub registry: Arc<Registry>,
    /// Server metrics.
    pub metrics: Arc<Metrics>,
    /// Bearer token required on every request but `/v1/health`, if set.
    pub token: Option<String>,
    /// The control center's built files, if present.
    pub ui_dir: Option<PathBuf>,
}

/// Milliseconds since the Unix epoch: the server's clock for timestamps it writes.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A JSON body whose rejections are answered in the API's error format.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(JsonBody(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let status = rejection.status();
    let text = rejection.body_text();
    match rejection {
        JsonRejection::JsonDataError(_) => ApiError::invalid("invalid_json", text),
        JsonRejection::JsonSyntaxError(_) => ApiError::bad_request("malformed_json", text),
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with the header Content-Type: application/json",
        ),
        _ if status == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request body exceeds the limit of {BODY_BYTES_MAX} bytes"),
        ),
        _ => ApiError::new(status, "bad_request", text),
    }
}

/// Query parameters whose rejections are answered in the API's error format.
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(QueryParams(value)),
            Err(rejection) => Err(query_rejection(rejection)),
        }
    }
}

fn query_rejection(rejection: QueryRejection) -> ApiError {
    ApiError::bad_request("invalid_query", rejection.body_text())
}

async fn submit(
    state: &AppState,
    name: &str,
    handle: &MemoryHandle,
    ops: Vec<Op>,
) -> Result<u64, ApiError> {
    let rx = handle.write(ops).map_err(|e| match e {
        SubmitError::Busy => {
            state.metrics.queue_full();
            ApiError::busy(format!(
                "memory {name:?} has too many writes waiting; retry after a second"
            ))
        }
        SubmitError::Closed => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "closing",
            format!("memory {name:?} is closing"),
        ),
    })?;
    match rx.await {
        Ok(result) => result.map_err(ApiError::from),
        Err(_) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "closing",
            format!("memory {name:?} stopped"),
        )),
    }
}

async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn openapi() -> Json<Value> {
    Json(crate::openapi::document())
}

async fn list_memories(State(state): State<AppState>) -> Json<Value> {
    let memories: Vec<Value> = state
        .registry
        .list()
        .into_iter()
        .map(|m| match m.state {
            Ok(handle) => {
                let s = handle.reader().stats();
                json!({"name": m.name, "status": if s.poisoned.is_some() { "poisoned" } else { "open" }, "concepts": s.concepts, "associations": s.associations, "dimension": s.dimension})
            }
            Err(e) => json!({"name": m.name, "status": "failed", "error": e}),
        })
        .collect();
    Json(json!({ "memories": memories }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateMemory {
    name: String,
    dimension: Option<u32>,
}

async fn create_memory(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<CreateMemory>,
) -> Result<Response, ApiError> {
    let registry = state.registry.clone();
    let handle = tokio::task::spawn_blocking(move || {
        registry
            .create(&body.name, body.dimension)
            .map(|h| (body.name, h))
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "internal", e.to_string()))??;
    let stats = handle.1.reader().stats();
    Ok((
        StatusCode::CREATED,
        Json(json!({"name": handle.0, "dimension": stats.dimension})),
    )
        .into_response())
}

async fn drop_memory(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let registry = state.registry.clone();
    let dropped = name.clone();
    tokio::task::spawn_blocking(move || registry.drop_memory(&dropped))
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "internal", e.to_string()))??;
    Ok(Json(json!({"dropped": name})))
}

async fn memory_stats(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let handle = state.registry.get(&name)?;
    let mut stats = exchange::stats_json(&handle.reader().stats());
    stats["name"] = json!(name);
    stats["queue_depth"] = json!(handle.queue_depth());
    stats["storage_bytes"] = json!(dir_bytes(&state.registry.root().join(&name)));
    Ok(Json(stats))
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

async fn checkpoint(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let handle = state.registry.get(&name)?;
    let rx = handle
        .checkpoint()
        .map_err(|_| ApiError::busy(format!("memory {name:?} cannot take a checkpoint now")))?;
    let report = rx.await.map_err(|_| {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "closing", "memory stopped")
    })??;
    Ok(Json(
        json!({"seq": report.seq, "snapshot_bytes": report.snapshot_bytes, "log_bytes_dropped": report.log_bytes_dropped}),
    ))
}

async fn put_concept(
    State(state): State<AppState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<exchange::ConceptBody>,
) -> Result<Json<Value>, ApiError> {
    let handle = state.registry.get(&name)?;
    let (id, op) = body.into_op(now_ms())?;
    let seq = submit(&state, &name, &handle, vec![op]).await?;
    Ok(Json(json!({"id": id.to_string(), "seq": seq})))
}

async fn get_concept(
    State(state): State<AppState>,
    Path((name, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let handle = state.registry.get(&name)?;
    let answer = exchange::concept(&handle.reader().db(), &id)?;
    Ok(Json(answer))
}

async fn delete_concept(
    State(state): State<AppState>,
    Path((name, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let handle = state.registry.get(&name)?;
    let id = exchange::parse_id("id", &id)?;
    let seq = submit(&state, &name, &handle, vec![Op::DeleteConcept { id }]).await?;
    Ok(Json(json!({"seq": seq})))
}

async fn scan_concepts(
    State(state): State<AppState>,
    Path(name): Path<String>,
    QueryParams(q): QueryParams<exchange::ScanQuery>,
) -> Result<Json<Value>, ApiError> {
    let handle = state.registry.get(&name)?;
    let answer = exchange::scan(&handle.reader().db(), &q)?;
    Ok(Json(answer))
}

async fn list_associations(
    State(state): State<AppState>,
    Path((name, id)): Path<(String, String)>,
    QueryParams(q): QueryParams<exchange::AssociationsQuery>,
) -> Result<Json<Value>, ApiError> {
    let handle = state.registry.get(&name)?;
    let answer = exchange::associations(&handle.reader().db(), &id, &q)?;
    Ok(Json(answer))
}

async fn put_association(
    State(state): State<AppState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<exchange::AssociationBody>,
) -> Result<Json<Value>, ApiError> {
    let handle = state.registry.get(&name)?;
    let op = body.into_op(now_ms())?;
    let seq = submit(&state, &name, &handle, vec![op]).await?;
    Ok(Json(json!({"seq": seq})))
}

async fn delete_association(
    State(state): State<AppState>,
    Path((name, source, target, kind)): Path<(String, String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    let handle = state.registry.get(&name)?;
    let key = exchange::association_key(&source, &target, &kind)?;
    let seq = submit(&state, &name, &handle, vec![Op::DeleteAssociation { key }]).await?;
    Ok(Json(json!({"seq": seq})))
}

async fn batch(
    State(state): State<AppState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<exchange::BatchBody>,
) -> Result<Json<Value>, ApiError> {
    let handle = state.registry.get(&name)?;
    let (ops, ids) = body.into_ops(now_ms())?;
    let seq = submit(&state, &name, &handle, ops).await?;
    let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
    Ok(Json(json!({"seq": seq, "ids": ids})))
}

async fn paths(
    State(state): State<AppState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<exchange::PathsBody>,
) -> Result<Json<Value>, ApiError> {
    let handle = state.registry.get(&name)?;
    let answer = exchange::paths(handle.reader(), &body, &sutra_core::Interrupt::new())?;
    Ok(Json(answer))
}

async fn search(
    State(state): State<AppState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<exchange::SearchBody>,
) -> Result<Json<Value>, ApiError> {
    let handle = state.registry.get(&name)?;
    let answer = exchange::search(handle.reader(), &body)?;
    Ok(Json(answer))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SimilarQuery {
    k: Option<u32>,
}

async fn similar(
    State(state): State<AppState>,
    Path((name, id)): Path<(String, String)>,
    QueryParams(q): QueryParams<SimilarQuery>,
) -> Result<Json<Value>, ApiError> {
    let handle = state.registry.get(&name)?;
    let answer = exchange::similar(handle.reader(), &id, q.k)?;
    Ok(Json(answer))
}

async fn neighbourhood(
    State(state): State<AppState>,
    Path((name, id)): Path<(String, String)>,
    QueryParams(q): QueryParams<exchange::NeighbourhoodQuery>,
) -> Result<Json<Value>, ApiError> {
    let handle = state.registry.get(&name)?;
    let answer = exchange::neighbourhood(&handle.reader().db(), &id, &q)?;
    Ok(Json(answer))
}

async fn export(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let handle = state.registry.get(&name)?;
    let chunks = jsonl::ExportChunks::new(handle.reader().clone());
    let stream = futures_util::stream::iter(
        chunks.map(|chunk| Ok::<Bytes, std::convert::Infallible>(Bytes::from(chunk))),
    );
    let mut response = Body::from_stream(stream).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    Ok(response)
}

async fn import(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let handle = state.registry.get(&name)?;
    let text = String::from_utf8(body.to_vec()).map_err(|e| {
        ApiError::bad_request("malformed_body", format!("import body is not UTF-8: {e}"))
    })?;
    let summary = tokio::task::spawn_blocking(move || {
        jsonl::import(
            jsonl::numbered_lines(&text),
            |ops| write_blocking(&handle, ops),
            |_| {},
        )
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "internal", e.to_string()))?
    .map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage_error",
            format!("import stopped: {e}"),
        )
    })?;
    Ok(Json(serde_json::to_value(summary).unwrap_or(Value::Null)))
}

/// Writes a batch from a blocking thread, waiting (not refusing) while the queue is full.
pub fn write_blocking(handle: &MemoryHandle, ops: Vec<Op>) -> Result<(), (bool, String)> {
    loop {
        match handle.write(ops.clone()) {
            Ok(rx) => {
                return match rx.blocking_recv() {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) => {
                        let own_fault = !matches!(
                            e,
                            sutra_core::Error::Storage { .. } | sutra_core::Error::Poisoned { .. }
                        );
                        Err((own_fault, e.to_string()))
                    }
                    Err(_) => Err((false, "the memory stopped".into())),
                }
            }
            Err(SubmitError::Busy) => std::thread::sleep(std::time::Duration::from_millis(5)),
            Err(SubmitError::Closed) => return Err((false, "the memory is closing".into())),
        }
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let text = state.metrics.render(&state.registry.gauges());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

async fn no_route(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(
        "no_route",
        format!("no endpoint {method} {}; see /v1/openapi.json", uri.path()),
    )
}

async fn control_center_missing() -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "Sutra is running: the API is at /v1 (see /v1/openapi.json).\n\n\
         The control center's files were not found, so it is not served here.\n\
         Build it with:  npm ci && npm run build -w web-control-center\n\
         then restart `sutra serve` from the repository root (or pass --ui DIR).\n",
    )
        .into_response()
}

fn token_matches(given: &[u8], expected: &[u8]) -> bool {
    // Constant time in the token's content.
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let open = path == "/v1/health" || !(path.starts_with("/v1/") || path == "/metrics");
    if let (Some(token), false) = (&state.token, open) {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if !given.is_some_and(|g| token_matches(g.as_bytes(), token.as_bytes())) {
            let mut response = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "this server needs the header Authorization: Bearer <token>",
            )
            .into_response();
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            state.metrics.request(401);
            return response;
        }
    }
    let method = request.method().clone();
    let started = std::time::Instant::now();
    let path = path.to_string();
    let response = next.run(request).await;
    let status = response.status();
    state.metrics.request(status.as_u16());
    // Method, path (ids, never content) and status only: no request content in info logs.
    tracing::info!(%method, %path, status = status.as_u16(), ms = started.elapsed().as_millis() as u64, "request");
    response
}

/// The whole application.
pub fn router(state: AppState, cors_origins: &[HeaderValue]) -> Router {
    let memory = "/v1/memories/{name}";
    let api = Router::new()
        .route("/v1/health", get(health))
        .route("/v1/openapi.json", get(openapi))
        .route("/v1/memories", get(list_memories).post(create_memory))
        .route(memory, get(memory_stats).delete(drop_memory))
        .route(&format!("{memory}/checkpoint"), post(checkpoint))
        .route(
            &format!("{memory}/concepts"),
            get(scan_concepts).put(put_concept).post(put_concept),
        )
        .route(
            &format!("{memory}/concepts/{{id}}"),
            get(get_concept).delete(delete_concept),
        )
        .route(
            &format!("{memory}/concepts/{{id}}/associations"),
            get(list_associations),
        )
        .route(
            &format!("{memory}/concepts/{{id}}/neighbourhood"),
            get(neighbourhood),
        )
        .route(&format!("{memory}/concepts/{{id}}/similar"), get(similar))
        .route(
            &format!("{memory}/associations"),
            axum::routing::put(put_association).post(put_association),
        )
        .route(
            &format!("{memory}/associations/{{source}}/{{target}}/{{kind}}"),
            axum::routing::delete(delete_association),
        )
        .route(&format!("{memory}/batch"), post(batch))
        .route(&format!("{memory}/paths"), post(paths))
        .route(&format!("{memory}/search"), post(search))
        .route(&format!("{memory}/export"), get(export))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(BODY_BYTES_MAX));
    let import_route = Router::new()
        .route(&format!("{memory}/import"), post(import))
        .layer(DefaultBodyLimit::max(IMPORT_BODY_BYTES_MAX));
    let mut app = api.merge(import_route);
    app = match state
        .ui_dir
        .as_ref()
        .filter(|d| d.join("index.html").is_file())
    {
        Some(dir) => {
            let index = dir.join("index.html");
            app.route("/v1/{*rest}", axum::routing::any(no_route))
                .fallback_service(
                    tower_http::services::ServeDir::new(dir)
                        .fallback(tower_http::services::ServeFile::new(index)),
                )
        }
        None => app
            .route("/", get(control_center_missing))
            .fallback(no_route),
    };
    let mut app = app
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state);
    if !cors_origins.is_empty() {
        app = app.layer(
            tower_http::cors::CorsLayer::new()
                .allow_origin(tower_http::cors::AllowOrigin::list(
                    cors_origins.iter().cloned(),
                ))
                .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
                .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION]),
        );
    }
    app
}
