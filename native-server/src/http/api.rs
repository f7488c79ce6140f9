//! The HTTP API (JSON, under `/v1`), `/metrics`, and the control center's files at `/`.
//!
//! Every answer that is not a success is `{"error": {"code", "message"}}` — unknown routes and
//! methods (404, 405), unreadable paths, queries and bodies (400, 415), bodies over their limit
//! (413), request heads over theirs (414, 431) included. Queries whose cost grows with the data
//! run on the query pool ([`crate::memories::queries`]), off the async runtime's threads, within a time
//! limit; an import is read as it arrives ([`import`]), never held whole.

use crate::http::access::Access;
use crate::http::answers::{
    CreatedAnswer, DroppedAnswer, HealthAnswer, MemoriesAnswer, MemoryStatsAnswer, MemorySummary,
    ReopenedAnswer,
};
use crate::http::cluster::IdempotencyKey;
use crate::http::error::ApiError;
use crate::http::openapi::{
    AssociationPath, ConceptPath, CreateErrors, ImportErrors, MemoryErrors, MemoryPath,
    QueryErrors, ReadErrors, ReopenErrors, WriteErrors,
};
use crate::mcp::api::InProcess;
use crate::memories::home::{self, Home, Target};
use crate::memories::metrics::Metrics;
use crate::memories::queries::QueryPool;
use crate::memories::registry;
use crate::memories::writer::{MemoryHandle, SubmitError};
use axum::body::{Body, Bytes};
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request, State};
use axum::http::{header, request::Parts, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use sutra_cluster::command::Command;
use sutra_core::exchange::answers::{
    AssociationsAnswer, BatchWritten, CheckpointAnswer, ConceptAnswer, ConceptWritten, HitsAnswer,
    NeighbourhoodAnswer, PageAnswer, PathsAnswer, StatsAnswer, WriteAnswer,
};
use sutra_core::exchange::{self, jsonl, wording};
use sutra_core::{Language, Op};
use tokio::sync::Semaphore;

/// Largest request body, in bytes (except imports).
pub const BODY_BYTES_MAX: usize = 32 * 1024 * 1024;
/// Largest import body, in bytes. An import is read line by line as it arrives, so what it
/// holds in memory does not grow with its size; the limit bounds how long one request runs.
pub const IMPORT_BODY_BYTES_MAX: u64 = 1024 * 1024 * 1024;
/// Imports running at once; more are answered 503 with `Retry-After`.
pub const IMPORTS_MAX: usize = 2;
/// Exports running at once; more are answered 503 with `Retry-After`.
pub const EXPORTS_MAX: usize = 4;
/// Pieces of an import (each up to [`jsonl::IMPORT_BATCH_OPS`] lines or
/// [`jsonl::IMPORT_BATCH_BYTES`] bytes) read ahead of the writes.
const IMPORT_PIECES_AHEAD: usize = 2;

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    /// The memories: in the data directory, or in the cluster this server is a node of.
    pub home: Home,
    /// Server metrics.
    pub metrics: Arc<Metrics>,
    /// Who may ask what: token, hosts, origins.
    pub access: Arc<Access>,
    /// The control center's built files, if present.
    pub ui_dir: Option<PathBuf>,
    /// The threads that run queries.
    pub queries: Arc<QueryPool>,
    /// Room for imports and exports running at once.
    pub transfers: Arc<Transfers>,
}

/// Imports and exports running at once.
pub struct Transfers {
    imports: Arc<Semaphore>,
    exports: Arc<Semaphore>,
}

impl Default for Transfers {
    fn default() -> Self {
        Transfers {
            imports: Arc::new(Semaphore::new(IMPORTS_MAX)),
            exports: Arc::new(Semaphore::new(EXPORTS_MAX)),
        }
    }
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

/// What in the body could not be read: where (`ops[2].confidence`, from the path axum's JSON
/// extractor tracks with `serde_path_to_error`; `None` for the body as a whole) and why, in the
/// API's words (the core's [`wording`]); `None` when the rejection carries no JSON error.
fn rejected(rejection: &JsonRejection) -> Option<(Option<String>, String)> {
    use std::error::Error as _;
    let mut source = rejection.source();
    while let Some(e) = source {
        if let Some(tracked) = e.downcast_ref::<serde_path_to_error::Error<serde_json::Error>>() {
            let path = tracked.path().to_string();
            let field = (path != ".").then_some(path);
            let message =
                wording::json_error_message(field.as_deref(), "request body", tracked.inner());
            return Some((field, message));
        }
        if let Some(plain) = e.downcast_ref::<serde_json::Error>() {
            return Some((
                None,
                wording::json_error_message(None, "request body", plain),
            ));
        }
        source = e.source();
    }
    None
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let status = rejection.status();
    let (field, text) = rejected(&rejection).unwrap_or_else(|| (None, rejection.body_text()));
    match rejection {
        JsonRejection::JsonDataError(_) => ApiError {
            field,
            ..ApiError::invalid("invalid_json", text)
        },
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

/// Path parameters whose rejections (a segment that is not UTF-8 once decoded, say) are answered
/// in the API's error format.
pub struct PathParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(PathParams(value)),
            Err(rejection) => Err(path_rejection(rejection)),
        }
    }
}

fn path_rejection(rejection: PathRejection) -> ApiError {
    ApiError::bad_request("invalid_path", rejection.body_text())
}

async fn submit(
    state: &AppState,
    name: &str,
    ops: Vec<Op>,
    key: Option<IdempotencyKey>,
) -> Result<u64, ApiError> {
    state
        .home
        .write(name, ops, key, || state.metrics.queue_full())
        .await
}

/// [`submit`] for an endpoint that writes one operation: an error the state gives it (checked as
/// the first operation of a batch, `ops[0]`) names its fields as the request did.
async fn submit_one(
    state: &AppState,
    name: &str,
    op: Op,
    key: Option<IdempotencyKey>,
) -> Result<u64, ApiError> {
    submit(state, name, vec![op], key).await.map_err(|mut e| {
        const FIRST: &str = "ops[0].";
        if let Some(field) = e.field.as_deref().and_then(|f| f.strip_prefix(FIRST)) {
            e.field = Some(field.to_string());
            e.message = e.message.replacen(FIRST, "", 1);
        }
        e
    })
}

/// The idempotency key the steering middleware took off a write (`None` without one).
pub struct Keyed(pub Option<IdempotencyKey>);

impl<S: Send + Sync> FromRequestParts<S> for Keyed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        Ok(Keyed(parts.extensions.get::<IdempotencyKey>().cloned()))
    }
}

#[utoipa::path(
    get,
    path = "/v1/health",
    summary = "Liveness check (no token needed).",
    responses((status = 200, description = "The server answers.", body = HealthAnswer))
)]
async fn health(State(state): State<AppState>) -> Json<HealthAnswer> {
    Json(HealthAnswer {
        status: "ok",
        cluster: match &state.home {
            Home::Local(_) => None,
            Home::Cluster(node) => Some(crate::http::cluster::health(node)),
        },
    })
}

#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    summary = "This document.",
    responses((status = 200, description = "The OpenAPI document.", body = Object))
)]
async fn openapi() -> Json<Value> {
    Json(crate::http::openapi::document())
}

#[utoipa::path(
    get,
    path = "/v1/memories",
    summary = "List memories with their status and counts.",
    responses((status = 200, description = "Every memory, in name order.", body = MemoriesAnswer))
)]
async fn list_memories(State(state): State<AppState>) -> Json<MemoriesAnswer> {
    let registry = match &state.home {
        Home::Local(registry) => registry,
        Home::Cluster(node) => {
            let memories = node
                .catalog()
                .all()
                .into_iter()
                .map(|(name, replica)| {
                    let s = replica.reader().stats();
                    MemorySummary::Open {
                        name,
                        status: "open",
                        concepts: s.concepts,
                        associations: s.associations,
                        dimension: s.dimension,
                        language: s.language,
                        storage_bytes: None,
                    }
                })
                .collect();
            return Json(MemoriesAnswer { memories });
        }
    };
    let memories: Vec<MemorySummary> = registry
        .list()
        .into_iter()
        .map(|m| match m.state {
            Ok(handle) => {
                let s = handle.reader().stats();
                MemorySummary::Open {
                    status: if s.poisoned.is_some() {
                        "poisoned"
                    } else {
                        "open"
                    },
                    concepts: s.concepts,
                    associations: s.associations,
                    dimension: s.dimension,
                    language: s.language,
                    storage_bytes: Some(dir_bytes(&registry.root().join(&m.name))),
                    name: m.name,
                }
            }
            Err(error) => MemorySummary::Failed {
                name: m.name,
                status: "failed",
                error: error.to_string(),
            },
        })
        .collect();
    Json(MemoriesAnswer { memories })
}

/// A memory to create.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateMemory {
    /// Its name: 1-64 of a-z, 0-9, _ and -, starting with a letter or digit.
    name: String,
    /// Its vector dimension (1-4096); fixed by the first embedding when absent.
    dimension: Option<u32>,
    /// The language its texts are stemmed in for full-text search (so that "runs" finds
    /// "running"); chosen once. Absent: words are matched as written, English stop words left
    /// out.
    language: Option<Language>,
    /// Metadata keys to index for filters from the start (at most 16; more can be declared
    /// later with `index_metadata`).
    #[serde(default)]
    #[schema(max_items = 16)]
    indexed_keys: Vec<String>,
}

#[utoipa::path(
    post,
    path = "/v1/memories",
    summary = "Create a memory, optionally fixing its vector dimension and its stemming language, and declaring the metadata keys filters may name.",
    request_body(content = CreateMemory, example = json!({"name": "notes", "dimension": 3, "language": "english", "indexed_keys": ["user"]})),
    responses((status = 201, description = "Created.", body = CreatedAnswer), CreateErrors)
)]
async fn create_memory(
    State(state): State<AppState>,
    Keyed(key): Keyed,
    JsonBody(body): JsonBody<CreateMemory>,
) -> Result<Response, ApiError> {
    let registry = match &state.home {
        Home::Local(registry) => registry.clone(),
        Home::Cluster(node) => {
            registry::check_name(&body.name)?;
            let indexed_keys = sutra_core::indexed_keys("indexed_keys", body.indexed_keys)?;
            let written = node
                .write(home::keyed(
                    key,
                    Command::Create {
                        name: body.name.clone(),
                        dimension: body.dimension,
                        language: body.language,
                        indexed_keys: indexed_keys.clone(),
                    },
                ))
                .await
                .map_err(home::write_error)?;
            home::applied(written.applied)?;
            return Ok((
                StatusCode::CREATED,
                Json(CreatedAnswer {
                    name: body.name,
                    dimension: body.dimension,
                    language: body.language,
                    indexed_keys,
                }),
            )
                .into_response());
        }
    };
    let handle = tokio::task::spawn_blocking(move || {
        registry
            .create(&body.name, body.dimension, body.language, body.indexed_keys)
            .map(|h| (body.name, h))
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "internal", e.to_string()))??;
    let stats = handle.1.reader().stats();
    Ok((
        StatusCode::CREATED,
        Json(CreatedAnswer {
            name: handle.0,
            dimension: stats.dimension,
            language: stats.language,
            indexed_keys: stats.indexed_keys,
        }),
    )
        .into_response())
}

#[utoipa::path(
    delete,
    path = "/v1/memories/{name}",
    summary = "Drop a memory and delete its files.",
    params(MemoryPath),
    responses((status = 200, description = "Dropped.", body = DroppedAnswer), MemoryErrors)
)]
async fn drop_memory(
    State(state): State<AppState>,
    Keyed(key): Keyed,
    PathParams(name): PathParams<String>,
) -> Result<Json<DroppedAnswer>, ApiError> {
    let registry = match &state.home {
        Home::Local(registry) => registry.clone(),
        Home::Cluster(node) => {
            let written = node
                .write(home::keyed(key, Command::DropMemory { name: name.clone() }))
                .await
                .map_err(home::write_error)?;
            home::applied(written.applied)?;
            return Ok(Json(DroppedAnswer { dropped: name }));
        }
    };
    let dropped = name.clone();
    tokio::task::spawn_blocking(move || registry.drop_memory(&dropped))
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "internal", e.to_string()))??;
    Ok(Json(DroppedAnswer { dropped: name }))
}

#[utoipa::path(
    post,
    path = "/v1/memories/{name}/reopen",
    summary = "Close the memory and open it again from its files, recovering from its log: how a memory poisoned by a storage failure takes writes again once the cause is gone (the server also does it on its own, with backoff). Answers what recovery found.",
    params(MemoryPath),
    responses((status = 200, description = "Reopened.", body = ReopenedAnswer), ReopenErrors)
)]
/// Closes a memory and opens it again from its files: how a memory that refuses writes after a
/// storage failure (`poisoned`) is recovered once the cause is gone, without restarting the
/// server (the server also does it on its own, with backoff).
async fn reopen_memory(
    State(state): State<AppState>,
    PathParams(name): PathParams<String>,
) -> Result<Json<ReopenedAnswer>, ApiError> {
    let registry = match &state.home {
        Home::Local(registry) => registry.clone(),
        Home::Cluster(node) => {
            state.home.target(&name)?;
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "cluster_member",
                format!(
                    "memory {name:?} is a cluster's: it has no log of its own to reopen from. A node that failed is restarted, and recovers from its log and the other nodes (this is node {})",
                    node.id()
                ),
            ));
        }
    };
    let reopening = name.clone();
    let done = tokio::task::spawn_blocking(move || registry.reopen(&reopening))
        .await
        .map_err(|e| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
        })??;
    Ok(Json(ReopenedAnswer {
        reopened: name,
        records_replayed: done.report.records_replayed,
        torn_bytes_dropped: done.report.torn_bytes_dropped,
        last_seq: done.report.last_seq,
        seconds: done.replay_seconds,
    }))
}

#[utoipa::path(
    get,
    path = "/v1/memories/{name}",
    summary = "Memory stats: counts, log bytes, last checkpoint, vectors sealed/fresh/stale and sealed segments, storage bytes.",
    params(MemoryPath),
    responses((status = 200, description = "The stats.", body = MemoryStatsAnswer), MemoryErrors)
)]
async fn memory_stats(
    State(state): State<AppState>,
    PathParams(name): PathParams<String>,
) -> Result<Json<MemoryStatsAnswer>, ApiError> {
    let handle = state.home.target(&name)?;
    let stats = StatsAnswer::from(&handle.reader().stats());
    let storage_bytes = match &state.home {
        Home::Local(registry) => dir_bytes(&registry.root().join(&name)),
        // A cluster node keeps every memory in one log and one snapshot: the node's files.
        Home::Cluster(node) => dir_bytes(node.dir()),
    };
    Ok(Json(MemoryStatsAnswer {
        name,
        queue_depth: handle.queue_depth(),
        storage_bytes,
        stats,
    }))
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

#[utoipa::path(
    post,
    path = "/v1/memories/{name}/checkpoint",
    summary = "Write a snapshot now and trim the log.",
    params(MemoryPath),
    responses((status = 200, description = "The checkpoint is durable.", body = CheckpointAnswer), MemoryErrors)
)]
async fn checkpoint(
    State(state): State<AppState>,
    PathParams(name): PathParams<String>,
) -> Result<Json<CheckpointAnswer>, ApiError> {
    let handle = match state.home.target(&name)? {
        Target::Local(handle) => handle,
        Target::Replica(_, node) => return crate::http::cluster::checkpoint(&node).await.map(Json),
    };
    let rx = handle
        .checkpoint()
        .map_err(|_| ApiError::busy(format!("memory {name:?} cannot take a checkpoint now")))?;
    let report = rx.await.map_err(|_| {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "closing", "memory stopped")
    })??;
    Ok(Json(CheckpointAnswer::from(&report)))
}

#[utoipa::path(
    method(put, post),
    path = "/v1/memories/{name}/concepts",
    summary = "Learn a concept (upsert). Without id, the id is derived from the content. Returns the id and sequence number once durable. POST is the same as PUT.",
    params(MemoryPath),
    request_body(content = exchange::ConceptBody, example = json!({"content": "rain makes streets wet", "embedding": [0.1, 0.2, 0.3], "strength": 1.0, "confidence": 0.9, "metadata": {"source": "notes"}})),
    responses((status = 200, description = "Durable.", body = ConceptWritten), WriteErrors)
)]
async fn put_concept(
    State(state): State<AppState>,
    Keyed(key): Keyed,
    PathParams(name): PathParams<String>,
    JsonBody(body): JsonBody<exchange::ConceptBody>,
) -> Result<Json<ConceptWritten>, ApiError> {
    let (id, op) = body.into_op(now_ms())?;
    let seq = submit_one(&state, &name, op, key).await?;
    Ok(Json(ConceptWritten {
        id: id.to_string(),
        seq,
    }))
}

#[utoipa::path(
    get,
    path = "/v1/memories/{name}/concepts/{id}",
    summary = "Get a concept with every field.",
    params(ConceptPath),
    responses((status = 200, description = "The concept.", body = ConceptAnswer), ReadErrors)
)]
async fn get_concept(
    State(state): State<AppState>,
    PathParams((name, id)): PathParams<(String, String)>,
) -> Result<Json<ConceptAnswer>, ApiError> {
    let handle = state.home.target(&name)?;
    let answer = exchange::concept(&handle.reader().db(), &id)?;
    Ok(Json(answer))
}

#[utoipa::path(
    delete,
    path = "/v1/memories/{name}/concepts/{id}",
    summary = "Delete a concept and its associations.",
    params(ConceptPath),
    responses((status = 200, description = "Durable.", body = WriteAnswer), WriteErrors)
)]
async fn delete_concept(
    State(state): State<AppState>,
    Keyed(key): Keyed,
    PathParams((name, id)): PathParams<(String, String)>,
) -> Result<Json<WriteAnswer>, ApiError> {
    let id = exchange::parse_id("id", &id)?;
    let seq = submit(&state, &name, vec![Op::DeleteConcept { id }], key).await?;
    Ok(Json(WriteAnswer { seq }))
}

#[utoipa::path(
    get,
    path = "/v1/memories/{name}/concepts",
    summary = "Scan concepts in id order, a page at a time.",
    params(MemoryPath, exchange::ScanQuery),
    responses((status = 200, description = "A page.", body = PageAnswer), ReadErrors)
)]
async fn scan_concepts(
    State(state): State<AppState>,
    PathParams(name): PathParams<String>,
    QueryParams(q): QueryParams<exchange::ScanQuery>,
) -> Result<Json<PageAnswer>, ApiError> {
    let handle = state.home.target(&name)?;
    // A prefix scan examines up to 100,000 concepts: a query, run on the pool.
    let answer = state
        .queries
        .run(move |_| exchange::scan(&handle.reader().db(), &q))
        .await??;
    Ok(Json(answer))
}

#[utoipa::path(
    get,
    path = "/v1/memories/{name}/concepts/{id}/associations",
    summary = "List a concept's associations.",
    params(ConceptPath, exchange::AssociationsQuery),
    responses((status = 200, description = "The associations.", body = AssociationsAnswer), ReadErrors)
)]
async fn list_associations(
    State(state): State<AppState>,
    PathParams((name, id)): PathParams<(String, String)>,
    QueryParams(q): QueryParams<exchange::AssociationsQuery>,
) -> Result<Json<AssociationsAnswer>, ApiError> {
    let handle = state.home.target(&name)?;
    let answer = state
        .queries
        .run(move |_| exchange::associations(&handle.reader().db(), &id, &q, now_ms()))
        .await??;
    Ok(Json(answer))
}

#[utoipa::path(
    method(put, post),
    path = "/v1/memories/{name}/associations",
    summary = "Learn an association (upsert by source, target, kind and label). POST is the same as PUT.",
    params(MemoryPath),
    request_body(content = exchange::AssociationBody, example = json!({"source": "{id}", "target": "{id2}", "kind": "semantic", "label": "works_at", "confidence": 0.8, "weight": 1.0, "metadata": {"source": "hr.pdf"}, "valid_from_ms": 1700000000000_u64})),
    responses((status = 200, description = "Durable.", body = WriteAnswer), WriteErrors)
)]
async fn put_association(
    State(state): State<AppState>,
    Keyed(key): Keyed,
    PathParams(name): PathParams<String>,
    JsonBody(body): JsonBody<exchange::AssociationBody>,
) -> Result<Json<WriteAnswer>, ApiError> {
    let op = body.into_op(now_ms())?;
    let seq = submit_one(&state, &name, op, key).await?;
    Ok(Json(WriteAnswer { seq }))
}

#[utoipa::path(
    delete,
    path = "/v1/memories/{name}/associations/{source}/{target}/{kind}",
    summary = "Delete an association (the one with ?label=, or the one without a label). To keep the fact's history, invalidate it instead.",
    params(AssociationPath, exchange::LabelQuery),
    responses((status = 200, description = "Durable.", body = WriteAnswer), WriteErrors)
)]
async fn delete_association(
    State(state): State<AppState>,
    Keyed(idempotency): Keyed,
    PathParams((name, source, target, kind)): PathParams<(String, String, String, String)>,
    QueryParams(q): QueryParams<exchange::LabelQuery>,
) -> Result<Json<WriteAnswer>, ApiError> {
    let key = exchange::association_key(&source, &target, &kind, q.label.as_deref())?;
    let seq = submit_one(&state, &name, Op::DeleteAssociation { key }, idempotency).await?;
    Ok(Json(WriteAnswer { seq }))
}

#[utoipa::path(
    post,
    path = "/v1/memories/{name}/associations/{source}/{target}/{kind}/invalidate",
    summary = "Invalidate an association: it stops holding at valid_until_ms (default now) but is kept; reads see only what holds now unless they ask for as_of or include_invalid.",
    params(AssociationPath, exchange::InvalidateQuery),
    responses((status = 200, description = "Durable.", body = WriteAnswer), WriteErrors)
)]
async fn invalidate_association(
    State(state): State<AppState>,
    Keyed(idempotency): Keyed,
    PathParams((name, source, target, kind)): PathParams<(String, String, String, String)>,
    QueryParams(q): QueryParams<exchange::InvalidateQuery>,
) -> Result<Json<WriteAnswer>, ApiError> {
    let key = exchange::association_key(&source, &target, &kind, q.label.as_deref())?;
    let op = exchange::invalidate_op(key, q.valid_until_ms, now_ms());
    let seq = submit_one(&state, &name, op, idempotency).await?;
    Ok(Json(WriteAnswer { seq }))
}

#[utoipa::path(
    post,
    path = "/v1/memories/{name}/batch",
    summary = "Apply up to 10,000 operations atomically: all or none, also across crashes.",
    params(MemoryPath),
    request_body(content = exchange::BatchBody, example = json!({"ops": [{"op": "put_concept", "content": "clouds"}, {"op": "put_association", "source": "{id}", "target": "{id2}", "kind": "semantic"}]})),
    responses((status = 200, description = "Durable.", body = BatchWritten), WriteErrors)
)]
async fn batch(
    State(state): State<AppState>,
    Keyed(key): Keyed,
    PathParams(name): PathParams<String>,
    JsonBody(body): JsonBody<exchange::BatchBody>,
) -> Result<Json<BatchWritten>, ApiError> {
    let (ops, ids) = body.into_ops(now_ms())?;
    let seq = submit(&state, &name, ops, key).await?;
    let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
    Ok(Json(BatchWritten { seq, ids }))
}

#[utoipa::path(
    post,
    path = "/v1/memories/{name}/paths",
    summary = "Find paths: shortest (fewest hops), most_confident, or k_best (k ≤ 10), with a visited-node budget. The answer says budget_exhausted when the budget stopped the search and depth_limited when max_depth left concepts unexplored that lead on (an empty answer then does not mean no path exists), and seq, the state it was read from. Runs on the query pool, within the query time limit.",
    params(MemoryPath),
    request_body(content = exchange::PathsBody, example = json!({"from": "{id}", "to": "{id2}", "algorithm": "k_best", "k": 3, "direction": "forward", "kinds": ["causal", "semantic"], "max_depth": 6, "visited_max": 100000})),
    responses((status = 200, description = "The reasoning trail.", body = PathsAnswer), QueryErrors)
)]
async fn paths(
    State(state): State<AppState>,
    PathParams(name): PathParams<String>,
    JsonBody(body): JsonBody<exchange::PathsBody>,
) -> Result<Json<PathsAnswer>, ApiError> {
    let handle = state.home.target(&name)?;
    let answer = state
        .queries
        .run(move |interrupt| exchange::paths(handle.reader(), &body, now_ms(), interrupt))
        .await??;
    Ok(Json(answer))
}

#[utoipa::path(
    post,
    path = "/v1/memories/{name}/search",
    summary = "Vector search by a vector or by a concept's own embedding (cosine, k ≤ 1000).",
    params(MemoryPath),
    request_body(content = exchange::SearchBody, example = json!({"vector": [0.1, 0.2, 0.3], "k": 5})),
    responses((status = 200, description = "The hits, best first.", body = HitsAnswer), QueryErrors)
)]
async fn search(
    State(state): State<AppState>,
    PathParams(name): PathParams<String>,
    JsonBody(body): JsonBody<exchange::SearchBody>,
) -> Result<Json<HitsAnswer>, ApiError> {
    let handle = state.home.target(&name)?;
    let answer = state
        .queries
        .run(move |_| exchange::search(handle.reader(), &body, now_ms()))
        .await??;
    Ok(Json(answer))
}

/// Options of a similarity query.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct SimilarQuery {
    /// Results (default 10, at most 1000).
    k: Option<u32>,
    /// Search effort (at least k + 1, at most 4096; default the memory's own): see the
    /// search's `ef`.
    ef: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/v1/memories/{name}/concepts/{id}/similar",
    summary = "Concepts whose embeddings are most similar to this concept's.",
    params(ConceptPath, SimilarQuery),
    responses((status = 200, description = "The hits, best first.", body = HitsAnswer), ReadErrors)
)]
async fn similar(
    State(state): State<AppState>,
    PathParams((name, id)): PathParams<(String, String)>,
    QueryParams(q): QueryParams<SimilarQuery>,
) -> Result<Json<HitsAnswer>, ApiError> {
    let handle = state.home.target(&name)?;
    let answer = state
        .queries
        .run(move |_| exchange::similar(handle.reader(), &id, q.k, q.ef))
        .await??;
    Ok(Json(answer))
}

#[utoipa::path(
    get,
    path = "/v1/memories/{name}/concepts/{id}/neighbourhood",
    summary = "Concepts within some hops, and the associations among them.",
    params(ConceptPath, exchange::NeighbourhoodQuery),
    responses((status = 200, description = "The neighbourhood.", body = NeighbourhoodAnswer), ReadErrors)
)]
async fn neighbourhood(
    State(state): State<AppState>,
    PathParams((name, id)): PathParams<(String, String)>,
    QueryParams(q): QueryParams<exchange::NeighbourhoodQuery>,
) -> Result<Json<NeighbourhoodAnswer>, ApiError> {
    let handle = state.home.target(&name)?;
    let answer = state
        .queries
        .run(move |_| exchange::neighbourhood(&handle.reader().db(), &id, &q, now_ms()))
        .await??;
    Ok(Json(answer))
}

#[utoipa::path(
    get,
    path = "/v1/memories/{name}/export",
    summary = "Export as JSON Lines (application/x-ndjson): a header, concepts, then associations.",
    params(MemoryPath),
    responses((status = 200, description = "The memory, one JSON value per line.", content_type = "application/x-ndjson", body = String), MemoryErrors)
)]
/// Streams a memory's export (JSON Lines). The chunks are made on a blocking thread, each under
/// a short read lock, a few ahead of what the client has read; a client that goes away stops it.
async fn export(
    State(state): State<AppState>,
    PathParams(name): PathParams<String>,
) -> Result<Response, ApiError> {
    let handle = state.home.target(&name)?;
    let permit = state
        .transfers
        .exports
        .clone()
        .try_acquire_owned()
        .map_err(|_| {
            ApiError::busy(format!(
                "{EXPORTS_MAX} exports are running; retry after a second"
            ))
        })?;
    let (chunks_tx, mut chunks_rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        for chunk in jsonl::ExportChunks::new(handle.reader().clone()) {
            if chunks_tx.blocking_send(Bytes::from(chunk)).is_err() {
                return; // the client went away
            }
        }
    });
    let stream = futures_util::stream::poll_fn(move |cx| {
        chunks_rx
            .poll_recv(cx)
            .map(|chunk| chunk.map(Ok::<Bytes, std::convert::Infallible>))
    });
    let mut response = Body::from_stream(stream).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    Ok(response)
}

/// Whether a content type names JSON Lines.
fn is_json_lines(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    [
        "application/x-ndjson",
        "application/jsonl",
        "application/json-lines",
    ]
    .iter()
    .any(|t| essence.eq_ignore_ascii_case(t))
}

#[utoipa::path(
    post,
    path = "/v1/memories/{name}/import",
    summary = "Import JSON Lines (the export format; Content-Type: application/x-ndjson; at most 1 GiB, read as it arrives; lines may leave out what the API has defaults for). Answers with counts and the rejected lines with their numbers and reasons.",
    params(MemoryPath),
    request_body(content = String, content_type = "application/x-ndjson"),
    responses((status = 200, description = "What was imported, and the lines rejected.", body = jsonl::ImportSummary), ImportErrors)
)]
/// Imports JSON Lines as they arrive: the body is split into lines as it is read (a line is
/// never held past [`jsonl::LINE_BYTES_MAX`]), handed to a blocking thread in pieces (a couple
/// ahead at most), written in batches each durable before the next. What an import holds in
/// memory is a few pieces and a batch, whatever the body's size.
async fn import(
    State(state): State<AppState>,
    PathParams(name): PathParams<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<jsonl::ImportSummary>, ApiError> {
    if !is_json_lines(&headers) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send an import as JSON Lines with the header Content-Type: application/x-ndjson",
        ));
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(length) = declared.filter(|&l| l > IMPORT_BODY_BYTES_MAX) {
        return Err(import_too_large(length, None));
    }
    let write: Box<dyn FnMut(Vec<Op>) -> Result<(), sutra_core::Error> + Send> =
        match state.home.target(&name)? {
            Target::Local(handle) => Box::new(move |ops| write_blocking(&handle, ops)),
            Target::Replica(_, node) => crate::http::cluster::import_writer(node, name.clone()),
        };
    let permit = state
        .transfers
        .imports
        .clone()
        .try_acquire_owned()
        .map_err(|_| {
            ApiError::busy(format!(
                "{IMPORTS_MAX} imports are running; retry after a second"
            ))
        })?;
    type Piece = Vec<jsonl::NumberedLine>;
    let (pieces_tx, mut pieces_rx) = tokio::sync::mpsc::channel::<Piece>(IMPORT_PIECES_AHEAD);
    let now = now_ms();
    let writing = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let lines = std::iter::from_fn(move || pieces_rx.blocking_recv()).flatten();
        jsonl::import(lines, now, write, |_| {})
    });
    let mut splitter = jsonl::LineSplitter::new();
    let mut piece: Piece = Vec::new();
    let mut piece_bytes = 0usize;
    let mut read = 0u64;
    let mut frames = body.into_data_stream();
    let mut stopped: Option<ApiError> = None;
    'reading: while let Some(frame) = frames.next().await {
        let bytes = match frame {
            Ok(bytes) => bytes,
            Err(e) => {
                stopped = Some(body_error(&e));
                break;
            }
        };
        read += bytes.len() as u64;
        if read > IMPORT_BODY_BYTES_MAX {
            stopped = Some(import_too_large(read, Some(splitter.lines())));
            break;
        }
        let mut ready = Vec::new();
        splitter.push(&bytes, &mut |no, line| {
            piece_bytes += line.as_ref().map_or(0, String::len);
            piece.push((no, line));
            if piece.len() >= jsonl::IMPORT_BATCH_OPS || piece_bytes >= jsonl::IMPORT_BATCH_BYTES {
                ready.push(std::mem::take(&mut piece));
                piece_bytes = 0;
            }
        });
        for full in ready {
            if pieces_tx.send(full).await.is_err() {
                break 'reading; // the writes stopped (a storage failure): its error says why
            }
        }
    }
    // The lines that arrived whole are imported; a last line cut short by an error is not.
    if stopped.is_none() {
        splitter.finish(&mut |no, line| piece.push((no, line)));
    }
    if !piece.is_empty() {
        let _ = pieces_tx.send(piece).await;
    }
    drop(pieces_tx);
    let outcome = writing.await.map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("the import failed unexpectedly: {e}"),
        )
    })?;
    let summary = match outcome {
        Ok(summary) => summary,
        Err(e) => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_error",
                format!("import stopped: {e}; the outcome of the batch being written is unknown"),
            ))
        }
    };
    if let Some(mut error) = stopped {
        error.message = format!(
            "{}; the lines before it were imported ({} concepts, {} associations, {} lines rejected)",
            error.message, summary.concepts, summary.associations, summary.rejected_count
        );
        return Err(error);
    }
    Ok(Json(summary))
}

fn import_too_large(bytes: u64, at_line: Option<u64>) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        match at_line {
            None => format!(
                "the import body is {bytes} bytes; the limit is {IMPORT_BODY_BYTES_MAX} (split the file, or use `sutra import` with the server stopped)"
            ),
            Some(line) => format!(
                "the import body passed the limit of {IMPORT_BODY_BYTES_MAX} bytes after line {line}"
            ),
        },
    )
}

/// A request body that could not be read: it stopped arriving (the body read timeout), or the
/// connection broke.
fn body_error(e: &axum::Error) -> ApiError {
    let text = e.to_string();
    if text.contains("timed out") || text.contains("timeout") {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            format!("the request body stopped arriving: {text}"),
        )
    } else {
        ApiError::bad_request(
            "body_read_error",
            format!("the request body could not be read: {text}"),
        )
    }
}

/// Writes a batch from a blocking thread, waiting (not refusing) while the queue is full.
/// A memory that stops or closes meanwhile fails the write as a storage failure would: its
/// outcome is not known to the caller, and a bulk job stops on it.
pub fn write_blocking(handle: &MemoryHandle, mut ops: Vec<Op>) -> Result<(), sutra_core::Error> {
    let stopped = |message: &str| sutra_core::Error::Storage {
        during: "write",
        message: message.to_string(),
    };
    loop {
        match handle.try_write(ops) {
            Ok(rx) => {
                return match rx.blocking_recv() {
                    Ok(result) => result.map(|_| ()),
                    Err(_) => Err(stopped("the memory stopped")),
                }
            }
            Err((SubmitError::Busy, back)) => {
                ops = back;
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err((SubmitError::Closed, _)) => return Err(stopped("the memory is closing")),
        }
    }
}

#[utoipa::path(
    get,
    path = "/metrics",
    summary = "Prometheus metrics (text format).",
    responses((status = 200, description = "The metrics.", content_type = "text/plain", body = String))
)]
async fn metrics(State(state): State<AppState>) -> Response {
    let (gauges, more) = match &state.home {
        Home::Local(registry) => (registry.gauges(), String::new()),
        Home::Cluster(node) => (
            crate::http::cluster::gauges(node),
            crate::http::cluster::metrics(node),
        ),
    };
    let text = state.metrics.render(&gauges) + &more;
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

async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{method} is not allowed on {}; see /v1/openapi.json for its methods",
            uri.path()
        ),
    )
}

/// Every request passes here first: the access rules (host, origin, head sizes, token), then
/// the handler; the status is counted and logged (method, path and status: never content).
async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    if request.extensions().get::<InProcess>().is_some() {
        // A request of this process's MCP tools: the agent's request that caused it passed
        // these rules at /mcp (or there are none: `sutra mcp --data`).
        return next.run(request).await;
    }
    if let Err(refused) = state
        .access
        .check(request.method(), request.uri(), request.headers())
    {
        state.metrics.request(refused.status.as_u16());
        tracing::warn!(method = %request.method(), %path, code = refused.code, "request refused");
        return refused.into_response();
    }
    if !state.access.authorized(&path, request.headers()) {
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
    let method = request.method().clone();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let status = response.status();
    state.metrics.request(status.as_u16());
    tracing::info!(%method, %path, status = status.as_u16(), ms = started.elapsed().as_millis() as u64, "request");
    response
}

/// The whole application.
pub fn router(state: AppState) -> Router {
    let cors_origins = state.access.origins.clone();
    let memory = "/v1/memories/{name}";
    let api = Router::new()
        .route("/v1/health", get(health))
        .route("/v1/openapi.json", get(openapi))
        .route("/v1/cluster", get(crate::http::cluster::cluster))
        .route(
            "/v1/cluster/members",
            post(crate::http::cluster::add_member),
        )
        .route(
            "/v1/cluster/members/{member}",
            axum::routing::delete(crate::http::cluster::remove_member),
        )
        .route(
            "/v1/cluster/members/{member}/promote",
            post(crate::http::cluster::promote_member),
        )
        .route(
            "/v1/cluster/leader",
            post(crate::http::cluster::transfer_leader),
        )
        .route("/v1/memories", get(list_memories).post(create_memory))
        .route(memory, get(memory_stats).delete(drop_memory))
        .route(&format!("{memory}/checkpoint"), post(checkpoint))
        .route(&format!("{memory}/reopen"), post(reopen_memory))
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
        .route(
            &format!("{memory}/associations/{{source}}/{{target}}/{{kind}}/invalidate"),
            post(invalidate_association),
        )
        .route(&format!("{memory}/batch"), post(batch))
        .route(&format!("{memory}/paths"), post(paths))
        .route(&format!("{memory}/search"), post(search))
        .route(&format!("{memory}/export"), get(export))
        .route(&format!("{memory}/import"), post(import))
        .route("/metrics", get(metrics))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_BYTES_MAX));
    // The MCP tools' requests go to the same API, with its rules and its steering to a
    // cluster's leader, without a socket.
    let own = api
        .clone()
        .fallback(no_route)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::http::cluster::steer,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state.clone());
    let mcp = crate::mcp::tools::Shared::new(
        crate::mcp::api::Api::Router(own),
        crate::mcp::tools::DEFAULT_MEMORY,
    );
    let mut app = api.nest_service("/mcp", crate::mcp::http_service(mcp));
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
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::http::cluster::steer,
        ))
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
