//! The network between nodes: Raft's messages over HTTP on the stack the server already runs
//! (axum serving, hyper's client calling), on the cluster's own listener. Bodies are postcard;
//! every request carries the cluster token (`Authorization: Bearer …`) and a node answers 401
//! without it. A node is reached at its [`Member::raft`] address (`host:port`).
//!
//! Routes: `POST /raft/append`, `/raft/vote`, `/raft/snapshot-piece`, `/raft/transfer-leader`.
//! The answer is `Result<response, message>` in postcard: a message when the node could not take
//! the request (stopped), which the caller treats as unreachable.
//!
//! A snapshot goes as pieces of its file ([`SNAPSHOT_PIECE_BYTES`] at most), read from disk as
//! they are sent and never held whole, at most [`NetworkOptions::snapshot_bytes_per_s`]. The
//! follower appends each piece to a file in its `incoming/` directory and answers how much of
//! the file it holds, so a transfer that stopped (a lost connection, either node restarted, a
//! new leader with the same snapshot) goes on from there rather than from the start. When the
//! last piece is in, the follower checks the whole file's checksum and hands it to openraft,
//! which installs it.

use crate::machine::{SnapshotFile, SnapshotTimes, StateMachine, INCOMING_DIR};
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
use serde::Deserialize;
use serde::Serialize;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest append or vote body a node takes (entries carry at most a few batches).
pub const MESSAGE_BYTES_MAX: usize = 512 * 1024 * 1024;
/// Largest piece of a snapshot file sent in one request.
pub const SNAPSHOT_PIECE_BYTES: usize = 4 * 1024 * 1024;
/// Largest snapshot file a node receives.
pub const SNAPSHOT_BYTES_MAX: u64 = 1 << 40;
/// The snapshot rate a node sends at unless told otherwise (bytes per second).
pub const SNAPSHOT_BYTES_PER_S_DEFAULT: u64 = 64 * 1024 * 1024;
/// How long a follower may take to check and install a snapshot once its last piece is in.
const INSTALL_WAIT: Duration = Duration::from_secs(600);
/// How long one piece may take to reach a follower and be written.
const PIECE_WAIT: Duration = Duration::from_secs(30);

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

/// A piece of a snapshot file: the snapshot's description, the whole file's length, where the
/// piece goes and its bytes (none: the sender asks how much the follower holds).
#[derive(Serialize, Deserialize)]
pub struct Piece {
    vote: Vote,
    meta: SnapshotMeta,
    total: u64,
    offset: u64,
    bytes: Vec<u8>,
}

/// A follower's answer to a [`Piece`].
#[derive(Serialize, Deserialize, Debug)]
pub enum PieceAnswer {
    /// It holds this many bytes of the file: send from there.
    Have(u64),
    /// The file was whole and handed to openraft, which answered this.
    Installed(SnapshotResponse<TypeConfig>),
}

/// What a node needs to receive snapshots: its Raft, where it keeps the pieces, and its
/// counters; one transfer is taken at a time.
#[derive(Clone)]
pub struct Receiver {
    raft: Node,
    incoming: PathBuf,
    times: Arc<SnapshotTimes>,
    one_at_a_time: Arc<tokio::sync::Mutex<()>>,
}

impl Receiver {
    /// A receiver for `raft` keeping pieces in `dir`'s `incoming/`.
    pub fn new(raft: Node, dir: &Path, times: Arc<SnapshotTimes>) -> Self {
        Receiver {
            raft,
            incoming: dir.join(INCOMING_DIR),
            times,
            one_at_a_time: Arc::default(),
        }
    }

    /// The file a transfer of the snapshot `meta` of `total` bytes is received into: named by
    /// a digest of both, so that the pieces of another snapshot never land in it.
    fn file_for(&self, meta: &SnapshotMeta, total: u64) -> Result<PathBuf, String> {
        let described = postcard::to_allocvec(&(meta, total)).map_err(|e| e.to_string())?;
        let digest = crc32fast::hash(&described);
        let index = meta.last_log_id.map_or(0, |l| l.index);
        Ok(self
            .incoming
            .join(format!("snapshot-{index}-{total}-{digest:08x}")))
    }

    async fn take(&self, piece: Piece) -> Result<PieceAnswer, String> {
        let _one = self.one_at_a_time.lock().await;
        let this = self.clone();
        // File work off the async threads.
        let received =
            tokio::task::spawn_blocking(move || this.write(&piece).map(|kept| (kept, piece)))
                .await
                .map_err(|e| e.to_string())??;
        let ((have, path), piece) = received;
        if have < piece.total {
            return Ok(PieceAnswer::Have(have));
        }
        let file = SnapshotFile::open(&path).map_err(|e| e.to_string())?;
        let checked = file.clone();
        let verdict = tokio::task::spawn_blocking(move || checked.verify())
            .await
            .map_err(|e| e.to_string())?;
        if let Err(e) = verdict {
            // Received whole but damaged (on the way, or on this disk): start over.
            let _ = std::fs::remove_file(&path);
            tracing::warn!("a snapshot file received whole is damaged, dropped: {e}");
            return Err(format!("the snapshot file received is damaged: {e}"));
        }
        let snapshot = Snapshot {
            meta: piece.meta,
            snapshot: file,
        };
        let answer = self
            .raft
            .install_full_snapshot(piece.vote, snapshot)
            .await
            .map_err(|e| e.to_string());
        // Installed, the file was moved in place; refused (an older leader's), it goes.
        let _ = std::fs::remove_file(&path);
        if let Err(e) = &answer {
            tracing::warn!("a snapshot received whole was not installed: {e}");
        }
        answer.map(PieceAnswer::Installed)
    }

    /// Appends `piece` to its file if it goes at its end; returns how much of the file is
    /// there, and the file. Files of other transfers are removed.
    fn write(&self, piece: &Piece) -> Result<(u64, PathBuf), String> {
        let io = |e: std::io::Error| format!("the snapshot piece could not be kept: {e}");
        let end = piece.offset.checked_add(piece.bytes.len() as u64);
        if piece.total > SNAPSHOT_BYTES_MAX
            || piece.bytes.len() > SNAPSHOT_PIECE_BYTES
            || end.is_none_or(|end| end > piece.total)
        {
            return Err(format!(
                "a piece of {} bytes at {} does not fit a snapshot of {} (limits: {SNAPSHOT_PIECE_BYTES} a piece, {SNAPSHOT_BYTES_MAX} a snapshot)",
                piece.bytes.len(),
                piece.offset,
                piece.total
            ));
        }
        let path = self.file_for(&piece.meta, piece.total)?;
        std::fs::create_dir_all(&self.incoming).map_err(io)?;
        for entry in std::fs::read_dir(&self.incoming).map_err(io)? {
            let entry = entry.map_err(io)?;
            if entry.path() != path {
                std::fs::remove_file(entry.path()).map_err(io)?;
            }
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io)?;
        let have = file.metadata().map_err(io)?.len();
        if have != piece.offset || piece.bytes.is_empty() {
            return Ok((have, path));
        }
        std::io::Write::write_all(&mut file, &piece.bytes).map_err(io)?;
        let have = have + piece.bytes.len() as u64;
        if have == piece.total {
            file.sync_all().map_err(io)?;
        }
        self.times
            .received_bytes
            .fetch_add(piece.bytes.len() as u64, Relaxed);
        Ok((have, path))
    }
}

async fn snapshot_piece(State(receiver): State<Receiver>, body: Bytes) -> Response {
    let piece: Piece = match decode(&body) {
        Ok(r) => r,
        Err(why) => return refused(why),
    };
    answer(&receiver.take(piece).await)
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

/// Raft's own routes (append, vote, snapshot pieces, leadership transfer) for `raft`, without
/// the token check ([`guarded`] adds it).
pub fn raft_routes(raft: Node, receiver: Receiver) -> Router {
    let pieces = Router::new()
        .route(
            "/raft/snapshot-piece",
            post(snapshot_piece).layer(DefaultBodyLimit::max(SNAPSHOT_PIECE_BYTES + 64 * 1024)),
        )
        .with_state(receiver);
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
            "/raft/transfer-leader",
            post(transfer_leader).layer(DefaultBodyLimit::max(MESSAGE_BYTES_MAX)),
        )
        .with_state(raft)
        .merge(pieces)
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
pub fn routes(raft: Node, receiver: Receiver, token: &str) -> Router {
    guarded(raft_routes(raft, receiver), token)
}

/// The network as one node sees it: an HTTP client with the cluster token.
#[derive(Clone)]
pub struct HttpNetwork {
    client: Client<HttpConnector, Full<Bytes>>,
    token: Arc<str>,
    options: NetworkOptions,
}

/// How a node sends what is not a Raft message.
#[derive(Clone, Debug)]
pub struct NetworkOptions {
    /// The most snapshot bytes a node sends each second, to each follower (so that a
    /// transfer does not crowd out replication or the disk).
    pub snapshot_bytes_per_s: u64,
    /// Where sent snapshot bytes are counted.
    pub times: Arc<SnapshotTimes>,
}

impl Default for NetworkOptions {
    fn default() -> Self {
        NetworkOptions {
            snapshot_bytes_per_s: SNAPSHOT_BYTES_PER_S_DEFAULT,
            times: Arc::default(),
        }
    }
}

impl HttpNetwork {
    /// A network whose requests carry `token`.
    pub fn new(token: &str) -> Self {
        HttpNetwork::from(token, None, NetworkOptions::default())
    }

    /// A network whose requests carry `token` and leave from address `source` (on a machine
    /// with several addresses: the one the other nodes, or their firewalls, expect).
    pub fn from(token: &str, source: Option<std::net::IpAddr>, options: NetworkOptions) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_local_address(source);
        connector.set_nodelay(true);
        HttpNetwork {
            client: Client::builder(TokioExecutor::new()).build(connector),
            token: Arc::from(token),
            options,
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
    type SnapshotData = SnapshotFile;

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
        cancel: impl Future<Output = ReplicationClosed> + Send + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let cancel = std::pin::pin!(cancel);
        tokio::select! {
            closed = cancel => Err(StreamingError::Closed(closed)),
            sent = self.send_snapshot(vote, snapshot) => sent,
        }
    }
}

impl Connection {
    /// Sends `snapshot`'s file in pieces from where the follower is, at the configured rate,
    /// until the follower answers that it installed it (or could not).
    async fn send_snapshot(
        &self,
        vote: Vote,
        snapshot: Snapshot,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let file = snapshot.snapshot;
        let total = file.len();
        let rate = self.network.options.snapshot_bytes_per_s.max(1);
        let unreachable = |what: String| {
            StreamingError::Unreachable(Unreachable::from_string(format!(
                "{}: snapshot: {what}",
                self.addr
            )))
        };
        let started = Instant::now();
        let mut sent: u64 = 0;
        let mut offset = 0;
        let mut bytes = Vec::new();
        loop {
            let piece = Piece {
                vote,
                meta: snapshot.meta.clone(),
                total,
                offset,
                bytes,
            };
            // The last piece, or a question (the follower may hold the whole file already):
            // the answer may wait for the install.
            let last = offset + piece.bytes.len() as u64 == total || piece.bytes.is_empty();
            let wait = if last { INSTALL_WAIT } else { PIECE_WAIT };
            let answer: PieceAnswer = match self
                .network
                .call(&self.addr, "/raft/snapshot-piece", &piece, wait)
                .await
            {
                Ok(Ok(answer)) => answer,
                Ok(Err(message)) => return Err(unreachable(message)),
                Err(e) => return Err(unreachable(e.to_string())),
            };
            sent += piece.bytes.len() as u64;
            self.network
                .options
                .times
                .sent_bytes
                .fetch_add(piece.bytes.len() as u64, Relaxed);
            bytes = piece.bytes;
            match answer {
                PieceAnswer::Installed(response) => return Ok(response),
                // (A follower holding the whole file installs it rather than answer so.)
                PieceAnswer::Have(have) => offset = have.min(total),
            }
            let n = (total - offset).min(SNAPSHOT_PIECE_BYTES as u64) as usize;
            bytes.resize(n, 0);
            let read = file.clone();
            let at = offset;
            let (read_bytes, result) = tokio::task::spawn_blocking(move || {
                let result = read.read_at(at, &mut bytes);
                (bytes, result)
            })
            .await
            .map_err(|e| unreachable(e.to_string()))?;
            bytes = read_bytes;
            result.map_err(|e| unreachable(format!("reading the snapshot file: {e}")))?;
            // The rate: no faster than `rate` bytes a second since the transfer started.
            let due = Duration::from_secs_f64((sent + n as u64) as f64 / rate as f64);
            if let Some(early) = due.checked_sub(started.elapsed()) {
                tokio::time::sleep(early).await;
            }
        }
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
