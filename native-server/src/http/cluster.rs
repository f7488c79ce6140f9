//! The HTTP API on a node of a cluster: how a request is steered (a read waits for what it must
//! see, a write may be redirected to the leader, every answer names the node, the leader and
//! what this node applied), the cluster's status at `/v1/cluster`, and the memory operations
//! that differ on a cluster (a checkpoint is the node's snapshot; an import writes through the
//! leader).
//!
//! Read options, taken off the query of any request before its route reads it (so that every
//! route takes them, on a cluster node and on a single server alike):
//! - `consistency=linearizable` (the default): the read sees every write acknowledged before
//!   it was sent, on any node (the read-index protocol: the leader confirms it still leads and
//!   names its commit index; this node waits until it applied that far).
//! - `consistency=stale`: this node's state as it is, at once (the `Sutra-Applied` header says
//!   how far it is).
//! - `min_seq=N`: this node's state once it applied entry `N` (a write answers its `seq`):
//!   read-your-writes on any node without asking the leader.
//! - `redirect=1` on a write: a node that does not lead answers `307` to the leader's API
//!   instead of forwarding the write itself.
//!
//! On a single server every read already sees every acknowledged write; the options are
//! checked and have nothing more to do.

use crate::http::answers::{ClusterAnswer, ClusterMember, NodeHealth};
use crate::http::api::AppState;
use crate::http::api::{JsonBody, PathParams};
use crate::http::error::ApiError;
use crate::http::openapi::MembershipErrors;
use crate::memories::home::{self, Home};
use crate::memories::metrics::MemoryGauges;
use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use sutra_cluster::command::{Command, KEY_BYTES_MAX};
use sutra_cluster::node::{Change, ChangeError, ClusterNode, WriteError};
use sutra_cluster::raft::Member;
use sutra_core::exchange::answers::CheckpointAnswer;
use sutra_core::Op;

/// The header naming the node that answered.
pub const NODE_HEADER: HeaderName = HeaderName::from_static("sutra-node");
/// The header naming the leader the answering node knows of.
pub const LEADER_HEADER: HeaderName = HeaderName::from_static("sutra-leader");
/// The header giving the last log entry the answering node applied.
pub const APPLIED_HEADER: HeaderName = HeaderName::from_static("sutra-applied");

/// The header of a write's idempotency key.
pub const IDEMPOTENCY_HEADER: HeaderName = HeaderName::from_static("idempotency-key");

/// A write's idempotency key, and the digest of its request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    /// The key.
    pub key: String,
    /// xxh3 of the method, the path with its query, and the body.
    pub digest: u64,
}

/// The idempotency key of a write request, if it has one, checked; its body is read to take
/// the request's digest (and put back).
async fn take_key(state: &AppState, request: Request) -> Result<Request, ApiError> {
    let Some(value) = request.headers().get(IDEMPOTENCY_HEADER) else {
        return Ok(request);
    };
    let bad = |why: String| ApiError::invalid("invalid_argument", why).about("Idempotency-Key");
    let key = value
        .to_str()
        .ok()
        .filter(|k| {
            !k.is_empty() && k.len() <= KEY_BYTES_MAX && k.bytes().all(|b| b.is_ascii_graphic())
        })
        .ok_or_else(|| {
            bad(format!(
                "an Idempotency-Key is 1 to {KEY_BYTES_MAX} visible ASCII characters"
            ))
        })?
        .to_string();
    let path = request.uri().path().to_string();
    if !is_write(request.method(), &path) {
        return Ok(request);
    }
    if matches!(state.home, Home::Local(_)) {
        return Err(bad(
            "a single server keeps no idempotency keys (a cluster's log does): its writes are answered once durable, and one whose outcome it cannot know answers 503 storage_error; send the write without the key, or to a cluster".into(),
        ));
    }
    if path.ends_with("/import") {
        return Err(bad(
            "an import is many writes, not one: it takes no Idempotency-Key (import again: concepts and associations are upserts)".into(),
        ));
    }
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, crate::http::api::BODY_BYTES_MAX)
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the request body could not be read whole: {e}"),
            )
        })?;
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    hasher.update(parts.method.as_str().as_bytes());
    hasher.update(b" ");
    hasher.update(
        parts
            .uri
            .path_and_query()
            .map_or(path.as_str(), |p| p.as_str())
            .as_bytes(),
    );
    hasher.update(b"\n");
    hasher.update(&bytes);
    let digest = hasher.digest();
    let mut request = Request::from_parts(parts, axum::body::Body::from(bytes));
    request
        .extensions_mut()
        .insert(IdempotencyKey { key, digest });
    Ok(request)
}

/// How a read wants to be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Consistency {
    /// Sees every write acknowledged before it.
    #[default]
    Linearizable,
    /// This node's state as it is.
    Stale,
}

/// The read options of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReadOptions {
    /// `consistency`.
    pub consistency: Consistency,
    /// `min_seq`.
    pub min_seq: Option<u64>,
    /// `redirect`.
    pub redirect: bool,
}

/// Takes the read options off `uri`'s query: the options, and the URI without them.
fn take_options(uri: &Uri) -> Result<(ReadOptions, Option<Uri>), ApiError> {
    let Some(query) = uri.query() else {
        return Ok((ReadOptions::default(), None));
    };
    let mut options = ReadOptions::default();
    let mut kept = Vec::new();
    let mut taken = false;
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let bad = |what: &str| {
            ApiError::bad_request("invalid_query", format!("{key}={value:?}: {what}")).about(key)
        };
        match key {
            "consistency" => {
                options.consistency = match value {
                    "linearizable" => Consistency::Linearizable,
                    "stale" => Consistency::Stale,
                    _ => return Err(bad("expected linearizable or stale")),
                };
                taken = true;
            }
            "min_seq" => {
                options.min_seq = Some(
                    value
                        .parse::<u64>()
                        .map_err(|_| bad("expected a sequence number (0 or more)"))?,
                );
                taken = true;
            }
            "redirect" => {
                options.redirect = match value {
                    "1" | "true" => true,
                    "0" | "false" => false,
                    _ => return Err(bad("expected 1 or 0")),
                };
                taken = true;
            }
            _ => kept.push(pair),
        }
    }
    if !taken {
        return Ok((options, None));
    }
    let rest = kept.join("&");
    let path_and_query = if rest.is_empty() {
        uri.path().to_string()
    } else {
        format!("{}?{rest}", uri.path())
    };
    let rebuilt = Uri::builder()
        .path_and_query(path_and_query)
        .build()
        .map_err(|e| ApiError::bad_request("invalid_query", e.to_string()))?;
    Ok((options, Some(rebuilt)))
}

/// Whether a request reads a memory's data (and so waits for what it must see).
fn is_read(method: &Method, path: &str) -> bool {
    if !path.starts_with("/v1/memories") {
        return false;
    }
    match *method {
        Method::GET | Method::HEAD => true,
        Method::POST => path.ends_with("/paths") || path.ends_with("/search"),
        _ => false,
    }
}

/// Whether a request writes.
fn is_write(method: &Method, path: &str) -> bool {
    path.starts_with("/v1/memories")
        && matches!(*method, Method::POST | Method::PUT | Method::DELETE)
        && !is_read(method, path)
}

/// Steers a request on a cluster node (see the module's description); on a single server,
/// only takes the read options off the query.
pub async fn steer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let mut request = request;
    let (options, rebuilt) = match take_options(request.uri()) {
        Ok(taken) => taken,
        Err(e) => return e.into_response(),
    };
    if let Some(uri) = rebuilt {
        *request.uri_mut() = uri;
    }
    let request = match take_key(&state, request).await {
        Ok(request) => request,
        Err(e) => return e.into_response(),
    };
    let Home::Cluster(node) = &state.home else {
        return next.run(request).await;
    };
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    if options.redirect && is_write(&method, &path) {
        match node.leader() {
            Some((leader, _)) if leader == node.id() => {}
            Some((_, member)) => {
                let target = format!(
                    "http://{}{}",
                    member.api,
                    request
                        .uri()
                        .path_and_query()
                        .map_or(path.as_str(), |p| p.as_str())
                );
                let mut response = StatusCode::TEMPORARY_REDIRECT.into_response();
                if let Ok(location) = HeaderValue::from_str(&target) {
                    response.headers_mut().insert(header::LOCATION, location);
                }
                return stamped(node, response);
            }
            None => {
                return stamped(
                    node,
                    home::write_error(sutra_cluster::node::WriteError::NotWritten(
                        "the cluster has no leader to redirect to".into(),
                    ))
                    .into_response(),
                )
            }
        }
    }
    if is_read(&method, &path) {
        let waited = match (options.min_seq, options.consistency) {
            (Some(seq), _) => node.applied(seq).await,
            (None, Consistency::Linearizable) => node.linearizable().await.map(|_| ()),
            (None, Consistency::Stale) => Ok(()),
        };
        if let Err(e) = waited {
            return stamped(node, home::read_error(e).into_response());
        }
    }
    let response = next.run(request).await;
    stamped(node, response)
}

/// `response` with the node's id, the leader it knows and what it applied in headers.
fn stamped(node: &ClusterNode, mut response: Response) -> Response {
    // On every answer: read from the node's metrics in place (the whole status, with its
    // member list, is built only for /v1/cluster).
    let headline = node.headline();
    let headers = response.headers_mut();
    headers.insert(NODE_HEADER, HeaderValue::from(node.id()));
    if let Some(leader) = headline.leader {
        headers.insert(LEADER_HEADER, HeaderValue::from(leader));
    }
    headers.insert(APPLIED_HEADER, HeaderValue::from(headline.applied));
    response
}

/// What `/v1/health` adds on a cluster node.
pub fn health(node: &ClusterNode) -> NodeHealth {
    let status = node.status();
    NodeHealth {
        node: status.id,
        role: status.role,
        term: status.term,
        leader: status.leader,
        applied: status.applied.unwrap_or(0),
    }
}

#[utoipa::path(
    get,
    path = "/v1/cluster",
    summary = "The cluster as this node sees it: its role, term and leader, what it applied, and every member (on the leader, with how far each one is behind and when it last answered). A server that is not a cluster's node answers role single and no members.",
    responses((status = 200, description = "The cluster.", body = ClusterAnswer))
)]
pub(crate) async fn cluster(State(state): State<AppState>) -> Json<ClusterAnswer> {
    Json(cluster_answer(&state.home))
}

/// The cluster as this node sees it.
fn cluster_answer(home: &Home) -> ClusterAnswer {
    let Home::Cluster(node) = home else {
        return ClusterAnswer {
            node: None,
            role: "single",
            term: None,
            leader: None,
            last_log_index: None,
            committed: None,
            applied: None,
            snapshot: None,
            elections: None,
            leader_changes: None,
            members: Vec::new(),
        };
    };
    let status = node.status();
    ClusterAnswer {
        node: Some(status.id),
        role: status.role,
        term: Some(status.term),
        leader: status.leader,
        last_log_index: status.last_log_index,
        committed: status.committed,
        applied: status.applied,
        snapshot: status.snapshot,
        elections: Some(status.seen.elections),
        leader_changes: Some(status.seen.leader_changes),
        members: status
            .members
            .into_iter()
            .map(|m| ClusterMember {
                id: m.id,
                api: m.api,
                raft: m.raft,
                kind: m.kind,
                matched: m.matched,
                lag_entries: m.lag_entries,
                lag_ms: m.lag_ms,
                last_ack_ms: m.last_ack_ms,
            })
            .collect(),
    }
}

/// A node to add to the cluster, as a learner.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewMember {
    /// Its id (1 or more, not yet a member).
    id: u64,
    /// Where clients reach it: `host:port` of its HTTP API.
    api: String,
    /// Where the other nodes reach it: `host:port` of its cluster listener.
    raft: String,
}

/// The voter to hand leadership to.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewLeader {
    /// Its id.
    to: u64,
}

/// The path of a member.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct MemberPath {
    /// The member's id.
    pub member: u64,
}

/// Makes `change` through the leader and answers the cluster as it is after.
async fn changed(state: &AppState, change: Change) -> Result<Json<ClusterAnswer>, ApiError> {
    let Home::Cluster(node) = &state.home else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_a_cluster",
            "this server is not a node of a cluster: start it with --node-id and --member (docs/CLUSTER.md)",
        ));
    };
    node.change(change).await.map_err(|e| match e {
        ChangeError::Refused(why) => ApiError::new(StatusCode::CONFLICT, "membership_refused", why),
        ChangeError::NoLeader(why) => home::write_error(WriteError::NotWritten(why)),
        ChangeError::Unknown(why) => home::write_error(WriteError::Unknown(why)),
    })?;
    Ok(Json(cluster_answer(&state.home)))
}

#[utoipa::path(
    post,
    path = "/v1/cluster/members",
    summary = "Add a node to the cluster as a learner: it receives the log and serves stale reads without voting (nothing added to write latency). Start the node first with its own --node-id and no --member. Answers the cluster after the change.",
    request_body(content = NewMember, example = json!({"id": 4, "api": "127.0.0.1:7004", "raft": "127.0.0.1:7104"})),
    responses((status = 200, description = "Added.", body = ClusterAnswer), MembershipErrors)
)]
pub(crate) async fn add_member(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<NewMember>,
) -> Result<Json<ClusterAnswer>, ApiError> {
    if body.id == 0 {
        return Err(ApiError::invalid("invalid_argument", "a node's id is 1 or more").about("id"));
    }
    for (field, addr) in [("api", &body.api), ("raft", &body.raft)] {
        if !addr.contains(':') || addr.len() > 255 || addr.contains('/') {
            return Err(ApiError::invalid(
                "invalid_argument",
                format!("{field} {addr:?} is not host:port"),
            )
            .about(field));
        }
    }
    changed(
        &state,
        Change::AddLearner {
            id: body.id,
            member: Member::new(body.raft, body.api),
        },
    )
    .await
}

#[utoipa::path(
    post,
    path = "/v1/cluster/members/{member}/promote",
    summary = "Make a learner a voter (once it has caught up, so that it does not hold writes back). Answers the cluster after the change.",
    params(MemberPath),
    responses((status = 200, description = "Promoted.", body = ClusterAnswer), MembershipErrors)
)]
pub(crate) async fn promote_member(
    State(state): State<AppState>,
    PathParams(id): PathParams<u64>,
) -> Result<Json<ClusterAnswer>, ApiError> {
    changed(&state, Change::Promote { id }).await
}

#[utoipa::path(
    delete,
    path = "/v1/cluster/members/{member}",
    summary = "Remove a node (voter or learner) from the cluster. Answers the cluster after the change.",
    params(MemberPath),
    responses((status = 200, description = "Removed.", body = ClusterAnswer), MembershipErrors)
)]
pub(crate) async fn remove_member(
    State(state): State<AppState>,
    PathParams(id): PathParams<u64>,
) -> Result<Json<ClusterAnswer>, ApiError> {
    changed(&state, Change::Remove { id }).await
}

#[utoipa::path(
    post,
    path = "/v1/cluster/leader",
    summary = "Hand leadership to another voter (before maintenance of the leader's machine, say). Answers once it leads.",
    request_body(content = NewLeader, example = json!({"to": 2})),
    responses((status = 200, description = "The voter leads.", body = ClusterAnswer), MembershipErrors)
)]
pub(crate) async fn transfer_leader(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<NewLeader>,
) -> Result<Json<ClusterAnswer>, ApiError> {
    changed(&state, Change::TransferLeader { to: body.to }).await
}

/// The node's own metrics, in Prometheus' text format (appended to `/metrics` on a node).
pub fn metrics(node: &ClusterNode) -> String {
    use std::fmt::Write as _;
    use std::sync::atomic::Ordering::Relaxed;
    let status = node.status();
    let c = node.counters();
    let mut out = String::new();
    let mut one = |name: &str, kind: &str, help: &str, value: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    };
    one("sutra_cluster_node", "gauge", "This node's id.", status.id);
    one(
        "sutra_cluster_term",
        "gauge",
        "The current term (each election raises it).",
        status.term,
    );
    one(
        "sutra_cluster_elections_total",
        "counter",
        "Terms this node entered since it started (each began with an election).",
        status.seen.elections,
    );
    one(
        "sutra_cluster_leader_changes_total",
        "counter",
        "Times the leader this node knows of changed to another node since it started.",
        status.seen.leader_changes,
    );
    one(
        "sutra_cluster_leader",
        "gauge",
        "The leader this node knows of (0: none).",
        status.leader.unwrap_or(0),
    );
    one(
        "sutra_cluster_is_leader",
        "gauge",
        "1 if this node leads.",
        u64::from(status.leader == Some(status.id)),
    );
    one(
        "sutra_cluster_last_log_index",
        "gauge",
        "The last entry of this node's log.",
        status.last_log_index.unwrap_or(0),
    );
    one(
        "sutra_cluster_committed_index",
        "gauge",
        "The last entry this node knows committed.",
        status.committed.unwrap_or(0),
    );
    one(
        "sutra_cluster_applied_index",
        "gauge",
        "The last entry this node applied.",
        status.applied.unwrap_or(0),
    );
    one(
        "sutra_cluster_apply_queue",
        "gauge",
        "Committed entries not yet applied on this node.",
        status
            .committed
            .unwrap_or(0)
            .saturating_sub(status.applied.unwrap_or(0)),
    );
    one(
        "sutra_cluster_snapshot_index",
        "gauge",
        "The last entry this node's snapshot covers.",
        status.snapshot.unwrap_or(0),
    );
    one(
        "sutra_cluster_snapshot_bytes",
        "gauge",
        "Size of this node's snapshot file.",
        file_bytes(node.dir(), "snapshot"),
    );
    let times = node.snapshot_times();
    one(
        "sutra_cluster_snapshots_built_total",
        "counter",
        "Snapshots this node built (its state encoded and kept on disk).",
        times.built.load(Relaxed),
    );
    one(
        "sutra_cluster_snapshot_build_microseconds",
        "gauge",
        "How long this node's last snapshot build took.",
        times.build_micros.load(Relaxed),
    );
    one(
        "sutra_cluster_snapshots_installed_total",
        "counter",
        "Snapshots this node installed from a leader.",
        times.installed.load(Relaxed),
    );
    one(
        "sutra_cluster_snapshot_install_microseconds",
        "gauge",
        "How long this node's last snapshot install took.",
        times.install_micros.load(Relaxed),
    );
    one(
        "sutra_cluster_snapshot_sent_bytes_total",
        "counter",
        "Snapshot bytes this node sent to followers (read from its snapshot file, in pieces).",
        times.sent_bytes.load(Relaxed),
    );
    one(
        "sutra_cluster_snapshot_received_bytes_total",
        "counter",
        "Snapshot bytes this node received from a leader (a resumed transfer counts only what was sent again).",
        times.received_bytes.load(Relaxed),
    );
    one(
        "sutra_cluster_log_bytes",
        "gauge",
        "Size of this node's Raft log (its segments).",
        sutra_cluster::log::files_bytes(node.dir()),
    );
    one(
        "sutra_cluster_writes_answered_total",
        "counter",
        "Writes sent to this node that a leader answered (acknowledged or refused).",
        c.answered.load(Relaxed),
    );
    one(
        "sutra_cluster_writes_refused_total",
        "counter",
        "Of those, refused (by the leader's check or at apply).",
        c.refused.load(Relaxed),
    );
    one(
        "sutra_cluster_writes_forwarded_total",
        "counter",
        "Writes this node forwarded to the leader.",
        c.forwarded.load(Relaxed),
    );
    one(
        "sutra_cluster_forward_requests_total",
        "counter",
        "Requests this node sent to the leader carrying the writes it forwarded (several writes share one under load).",
        node.forward_requests(),
    );
    one(
        "sutra_cluster_writes_not_written_total",
        "counter",
        "Writes answered 503 no_leader (nothing written).",
        c.not_written.load(Relaxed),
    );
    one(
        "sutra_cluster_writes_unknown_total",
        "counter",
        "Writes answered 503 outcome_unknown.",
        c.unknown.load(Relaxed),
    );
    one(
        "sutra_cluster_write_latency_microseconds_total",
        "counter",
        "Microseconds from arrival to answer, summed over answered writes (divide by sutra_cluster_writes_answered_total for the mean commit latency).",
        c.write_micros.load(Relaxed),
    );
    let _ = writeln!(
        out,
        "# HELP sutra_cluster_member_lag_entries Entries a member is behind the leader's log (on the leader).\n# TYPE sutra_cluster_member_lag_entries gauge"
    );
    for m in status.members.iter().filter(|m| m.lag_entries.is_some()) {
        let _ = writeln!(
            out,
            "sutra_cluster_member_lag_entries{{member=\"{}\"}} {}",
            m.id,
            m.lag_entries.unwrap_or(0)
        );
    }
    let _ = writeln!(
        out,
        "# HELP sutra_cluster_member_lag_ms Milliseconds since the oldest entry a member lacks appeared in the leader's log (on the leader).\n# TYPE sutra_cluster_member_lag_ms gauge"
    );
    for m in &status.members {
        if let Some(ms) = m.lag_ms {
            let _ = writeln!(
                out,
                "sutra_cluster_member_lag_ms{{member=\"{}\"}} {ms}",
                m.id
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP sutra_cluster_member_last_ack_ms Milliseconds since a member last answered the leader (on the leader).\n# TYPE sutra_cluster_member_last_ack_ms gauge"
    );
    for m in &status.members {
        if let Some(ms) = m.last_ack_ms {
            let _ = writeln!(
                out,
                "sutra_cluster_member_last_ack_ms{{member=\"{}\"}} {ms}",
                m.id
            );
        }
    }
    out
}

/// The memories' gauges on a cluster node.
pub fn gauges(node: &ClusterNode) -> Vec<MemoryGauges> {
    node.catalog()
        .all()
        .into_iter()
        .map(|(name, replica)| {
            let stats = replica.reader().stats();
            MemoryGauges {
                name,
                log_bytes: 0,
                queue_depth: 0,
                concepts: stats.concepts,
                associations: stats.associations,
                replay_seconds: 0.0,
                replayed_records: 0,
                poisoned: false,
            }
        })
        .collect()
}

/// Size of the file `name` in `dir` (0 if there is none).
fn file_bytes(dir: &std::path::Path, name: &str) -> u64 {
    std::fs::metadata(dir.join(name)).map_or(0, |m| m.len())
}

/// A checkpoint on a cluster node: the node's snapshot of every memory, taken now, covering
/// every entry applied when it was asked for.
pub async fn checkpoint(node: &Arc<ClusterNode>) -> Result<CheckpointAnswer, ApiError> {
    let unavailable =
        |why: String| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "storage_error", why);
    let applied = node.status().applied.unwrap_or(0);
    let log_before = sutra_cluster::log::files_bytes(node.dir());
    node.raft()
        .trigger()
        .snapshot()
        .await
        .map_err(|e| unavailable(format!("the node cannot take a snapshot: {e}")))?;
    let metrics = node
        .raft()
        .wait(Some(Duration::from_secs(60)))
        .metrics(
            |m| m.snapshot.is_some_and(|s| s.index >= applied),
            "snapshot",
        )
        .await
        .map_err(|e| unavailable(format!("the snapshot did not finish: {e}")))?;
    Ok(CheckpointAnswer {
        seq: metrics.snapshot.map_or(0, |s| s.index),
        snapshot_bytes: file_bytes(node.dir(), "snapshot"),
        log_bytes_dropped: log_before.saturating_sub(sutra_cluster::log::files_bytes(node.dir())),
        // openraft builds a snapshot whenever it is asked to.
        written: true,
    })
}

/// The write step of an import into memory `name` of a cluster, for a blocking thread: each
/// batch checked against this node's state first (so that a refused line gets the engine's
/// own error), then written through the leader. A write whose outcome is unknown stops the
/// import, as a storage failure does on a single server.
pub fn import_writer(
    node: Arc<ClusterNode>,
    name: String,
) -> Box<dyn FnMut(Vec<Op>) -> Result<(), sutra_core::Error> + Send> {
    let runtime = tokio::runtime::Handle::current();
    Box::new(move |ops: Vec<Op>| {
        if let Some(replica) = node.catalog().get(&name) {
            replica.check(&ops)?;
        } else {
            // The memory was dropped under the import.
            return Err(sutra_core::Error::Storage {
                during: "import",
                message: format!("memory {name:?} was dropped"),
            });
        }
        let command = Command::Batch {
            memory: name.clone(),
            ops,
        };
        match runtime.block_on(node.write(command)) {
            Ok(written) => match home::applied(written.applied) {
                Ok(_) => Ok(()),
                Err(refused) => Err(sutra_core::Error::Conflict {
                    reason: refused.message,
                }),
            },
            Err(e) => Err(sutra_core::Error::Storage {
                during: "import",
                message: home::write_error(e).message,
            }),
        }
    })
}
