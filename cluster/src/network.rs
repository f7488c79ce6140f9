//! The network between nodes: Raft's messages over HTTP on the stack the server already runs
//! (axum serving, hyper's client calling), on the cluster's own listener. Bodies are postcard;
//! every request carries the cluster token (`Authorization: Bearer …`) and a node answers 401
//! without it. A node is reached at its [`Member::raft`] address (`host:port`).
//!
//! Routes: `POST /raft/append`, `/raft/vote`, `/raft/snapshot`, `/raft/transfer-leader` (this first version sends a
//! snapshot whole; streaming it from disk comes with the `storage.dat` snapshots). The answer is
//! `Result<response, message>` in postcard: a message when the node could not take the request
//! (stopped), which the caller treats as unreachable.

use crate::machine::StateMachine;
use crate::raft::{Member, Snapshot, SnapshotMeta, TypeConfig, Vote};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use openraft::error::{RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory, RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};
use openraft::Raft;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Largest append or vote body a node takes (entries carry at most a few batches).
pub const MESSAGE_BYTES_MAX: usize = 512 * 1024 * 1024;
/// Largest snapshot body a node takes (a snapshot is sent whole in this version).
pub const SNAPSHOT_BYTES_MAX: usize = 4 * 1024 * 1024 * 1024 - 1;

/// A node of the cluster, as the network serves it.
pub type Node = Raft<TypeConfig, StateMachine>;

fn authorized(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| given.as_bytes() == token.as_bytes())
}

/// Answers `value` as a postcard body.
pub(crate) fn answer<T: Serialize>(value: &Result<T, String>) -> Response {
    match postcard::to_allocvec(value) {
        Ok(bytes) => (StatusCode::OK, bytes).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// Decodes a request body, or says why it does not.
pub(crate) fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    postcard::from_bytes(body).map_err(|e| format!("the body does not decode: {e}"))
}

/// The 400 for a body that does not decode.
pub(crate) fn refused(why: String) -> Response {
    (StatusCode::BAD_REQUEST, why).into_response()
}

async fn append(State(raft): State<Node>, body: Bytes) -> Response {
    let request: AppendEntriesRequest<TypeConfig> = match decode(&body) {
        Ok(r) => r,
        Err(why) => return refused(why),
    };
    answer(
        &raft
            .append_entries(request)
            .await
            .map_err(|e| e.to_string()),
    )
}

async fn vote(State(raft): State<Node>, body: Bytes) -> Response {
    let request: VoteRequest<TypeConfig> = match decode(&body) {
        Ok(r) => r,
        Err(why) => return refused(why),
    };
    answer(&raft.vote(request).await.map_err(|e| e.to_string()))
}

async fn snapshot(State(raft): State<Node>, body: Bytes) -> Response {
    let (vote, meta, data): (Vote, SnapshotMeta, Vec<u8>) = match decode(&body) {
        Ok(r) => r,
        Err(why) => return refused(why),
    };
    let snapshot = Snapshot {
        meta,
        snapshot: data,
    };
    answer(
        &raft
            .install_full_snapshot(vote, snapshot)
            .await
            .map_err(|e| e.to_string()),
    )
}

async fn transfer_leader(State(raft): State<Node>, body: Bytes) -> Response {
    let request: TransferLeaderRequest<TypeConfig> = match decode(&body) {
        Ok(r) => r,
        Err(why) => return refused(why),
    };
    answer(
        &raft
            .handle_transfer_leader(request)
            .await
            .map_err(|e| e.to_string()),
    )
}

/// Raft's own routes (append, vote, snapshot, leadership transfer) for `raft`, without the token check
/// ([`guarded`] adds it).
pub fn raft_routes(raft: Node) -> Router {
    Router::new()
        .route(
            "/raft/append",
            post(append).layer(DefaultBodyLimit::max(MESSAGE_BYTES_MAX)),
        )
        .route(
            "/raft/vote",
            post(vote).layer(DefaultBodyLimit::max(MESSAGE_BYTES_MAX)),
        )
        .route(
            "/raft/snapshot",
            post(snapshot).layer(DefaultBodyLimit::max(SNAPSHOT_BYTES_MAX)),
        )
        .route(
            "/raft/transfer-leader",
            post(transfer_leader).layer(DefaultBodyLimit::max(MESSAGE_BYTES_MAX)),
        )
        .with_state(raft)
}

/// `routes` with every request required to carry `token` (401 without it).
pub fn guarded(routes: Router, token: &str) -> Router {
    let token: Arc<str> = Arc::from(token);
    routes.layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            let token = token.clone();
            async move {
                if authorized(request.headers(), &token) {
                    next.run(request).await
                } else {
                    (StatusCode::UNAUTHORIZED, "the cluster token is required").into_response()
                }
            }
        },
    ))
}

/// The routes a node serves to the other nodes for `raft`, requiring `token`.
pub fn routes(raft: Node, token: &str) -> Router {
    guarded(raft_routes(raft), token)
}

/// The network as one node sees it: an HTTP client with the cluster token.
#[derive(Clone)]
pub struct HttpNetwork {
    client: Client<HttpConnector, Full<Bytes>>,
    token: Arc<str>,
}

impl HttpNetwork {
    /// A network whose requests carry `token`.
    pub fn new(token: &str) -> Self {
        HttpNetwork::from(token, None)
    }

    /// A network whose requests carry `token` and leave from address `source` (on a machine
    /// with several addresses: the one the other nodes, or their firewalls, expect).
    pub fn from(token: &str, source: Option<std::net::IpAddr>) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_local_address(source);
        connector.set_nodelay(true);
        HttpNetwork {
            client: Client::builder(TokioExecutor::new()).build(connector),
            token: Arc::from(token),
        }
    }
}

/// Why a call to another node got no answer.
#[derive(Debug, Clone)]
pub enum CallError {
    /// The request never left: no connection could be made (nothing happened there).
    NotSent(String),
    /// The request may have arrived, but no answer came (a lost connection, a timeout): what
    /// it did there is unknown.
    Lost(String),
    /// The node answered, with an error status or a body that does not decode.
    Refused(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::NotSent(why) => write!(f, "not sent: {why}"),
            CallError::Lost(why) => write!(f, "no answer: {why}"),
            CallError::Refused(why) => write!(f, "refused: {why}"),
        }
    }
}

impl HttpNetwork {
    /// Sends `request` to `path` on the node whose cluster listener is `addr` and reads its
    /// answer (`Result<A, String>` in postcard), within `timeout`.
    pub async fn call<Q: Serialize, A: DeserializeOwned>(
        &self,
        addr: &str,
        path: &str,
        request: &Q,
        timeout: Duration,
    ) -> Result<Result<A, String>, CallError> {
        let body = postcard::to_allocvec(request).map_err(|e| CallError::NotSent(e.to_string()))?;
        self.call_encoded(addr, path, body, timeout).await
    }

    /// [`HttpNetwork::call`] with the request already encoded (postcard).
    pub async fn call_encoded<A: DeserializeOwned>(
        &self,
        addr: &str,
        path: &str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<Result<A, String>, CallError> {
        let http = hyper::Request::post(format!("http://{addr}{path}"))
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| CallError::NotSent(e.to_string()))?;
        let exchange = async {
            let response = self.client.request(http).await.map_err(|e| {
                if e.is_connect() {
                    CallError::NotSent(e.to_string())
                } else {
                    CallError::Lost(e.to_string())
                }
            })?;
            let status = response.status();
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|e| CallError::Lost(e.to_string()))?
                .to_bytes();
            if status != StatusCode::OK {
                return Err(CallError::Refused(format!(
                    "{status}: {}",
                    String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
                )));
            }
            postcard::from_bytes(&bytes).map_err(|e| CallError::Refused(e.to_string()))
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(CallError::Lost(format!("no answer within {timeout:?}"))),
        }
    }
}

/// A connection to one node.
pub struct Connection {
    network: HttpNetwork,
    addr: String,
}

impl Connection {
    /// Sends `request` to `path` and reads the answer, within `option`'s time limit.
    async fn call<Q: Serialize, A: DeserializeOwned>(
        &self,
        path: &str,
        request: &Q,
        option: &RPCOption,
    ) -> Result<A, Unreachable<TypeConfig>> {
        let unreachable = |what: String| Unreachable::from_string(format!("{}: {what}", self.addr));
        match self
            .network
            .call(&self.addr, path, request, option.hard_ttl())
            .await
        {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(message)) => Err(unreachable(message)),
            Err(e) => Err(unreachable(e.to_string())),
        }
    }
}

impl RaftNetworkV2<TypeConfig> for Connection {
    type SnapshotData = Vec<u8>;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        Ok(self.call("/raft/append", &rpc, &option).await?)
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        Ok(self.call("/raft/vote", &rpc, &option).await?)
    }

    async fn transfer_leader(
        &mut self,
        request: TransferLeaderRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<TransferLeaderResponse<TypeConfig>, RPCError<TypeConfig>> {
        Ok(self
            .call("/raft/transfer-leader", &request, &option)
            .await?)
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: Snapshot,
        _cancel: impl Future<Output = ReplicationClosed> + Send + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let request = (vote, snapshot.meta, snapshot.snapshot);
        Ok(self.call("/raft/snapshot", &request, &option).await?)
    }
}

impl RaftNetworkFactory<TypeConfig> for HttpNetwork {
    type Network = Connection;

    async fn new_client(&mut self, _target: u64, node: &Member) -> Connection {
        Connection {
            network: self.clone(),
            addr: node.raft.clone(),
        }
    }
}
