//! The server's own answers, as Rust types serialized by serde (the engine's answers are the
//! core's, `sutra_core::exchange::answers`).

use serde::Serialize;
use sutra_core::exchange::answers::StatsAnswer;
use sutra_core::Language;

/// `GET /health`.
#[derive(Serialize, Debug, utoipa::ToSchema)]
pub struct HealthAnswer {
    /// Always `ok` (an answer at all is the news).
    pub status: &'static str,
    /// On a node of a cluster: its role, term and leader (`null` on a single server).
    pub cluster: Option<NodeHealth>,
}

/// A cluster node's health.
#[derive(Serialize, Debug, utoipa::ToSchema)]
pub struct NodeHealth {
    /// This node's id.
    pub node: u64,
    /// `leader`, `follower`, `candidate`, `learner` (or `stopped`).
    pub role: &'static str,
    /// The current term.
    pub term: u64,
    /// The leader this node knows of.
    pub leader: Option<u64>,
    /// The last log entry this node applied (what `min_seq` compares to).
    pub applied: u64,
}

/// `GET /v1/cluster`: the cluster as the answering node sees it (on a single server, role
/// `single` and no members).
#[derive(Serialize, Debug, utoipa::ToSchema)]
pub struct ClusterAnswer {
    /// The answering node's id (`null` on a single server).
    pub node: Option<u64>,
    /// Its role: `leader`, `follower`, `candidate`, `learner`, `stopped`, or `single` (a server
    /// that is not a cluster's node).
    pub role: &'static str,
    /// The current term (`null` on a single server).
    pub term: Option<u64>,
    /// The leader it knows of.
    pub leader: Option<u64>,
    /// The index of the last entry in its log.
    pub last_log_index: Option<u64>,
    /// The index of the last entry it knows committed.
    pub committed: Option<u64>,
    /// The index of the last entry it applied.
    pub applied: Option<u64>,
    /// The index its last snapshot covers.
    pub snapshot: Option<u64>,
    /// Terms this node entered since it started, each begun by an election (`null` on a single
    /// server).
    pub elections: Option<u64>,
    /// Times the leader this node knows of changed to another node since it started (`null` on
    /// a single server).
    pub leader_changes: Option<u64>,
    /// Every member, in id order.
    pub members: Vec<ClusterMember>,
}

/// A member of the cluster.
#[derive(Serialize, Debug, utoipa::ToSchema)]
pub struct ClusterMember {
    /// Its id.
    pub id: u64,
    /// Where clients reach it (`host:port` of its HTTP API).
    pub api: String,
    /// Where the other nodes reach it (`host:port` of its cluster listener).
    pub raft: String,
    /// `voter` or `learner`.
    pub kind: &'static str,
    /// The last entry the leader knows it holds (`null` on a node that does not lead).
    pub matched: Option<u64>,
    /// Entries it is behind the leader's log (`null` on a node that does not lead).
    pub lag_entries: Option<u64>,
    /// Milliseconds since the oldest entry it lacks appeared in the leader's log: how much
    /// acknowledged writing it misses, in time (0 when it holds every entry; `null` on a node
    /// that does not lead, or before the leader's log grew under it).
    pub lag_ms: Option<u64>,
    /// Milliseconds since it last answered the leader (`null` on a node that does not lead,
    /// or if it has not answered this leader yet).
    pub last_ack_ms: Option<u64>,
}

/// One memory of the data directory, as the list shows it.
#[derive(Serialize, Debug, utoipa::ToSchema)]
#[serde(untagged)]
pub enum MemorySummary {
    /// An open memory (`status`: `open`, or `poisoned` when it refuses writes after a storage
    /// failure), with its counts and dimension (`null` until fixed).
    Open {
        /// Its name.
        name: String,
        /// `open` or `poisoned`.
        status: &'static str,
        /// Number of concepts.
        concepts: u64,
        /// Number of associations.
        associations: u64,
        /// The vector dimension.
        dimension: Option<u32>,
        /// The language texts are stemmed in (`null`: not stemmed).
        language: Option<Language>,
        /// Bytes its files take on disk (`null` on a cluster node, whose memories share one
        /// log and snapshot).
        storage_bytes: Option<u64>,
    },
    /// A memory that could not be opened (`status`: `failed`), and why.
    Failed {
        /// Its name.
        name: String,
        /// `failed`.
        status: &'static str,
        /// Why it could not be opened.
        error: String,
    },
}

/// `GET /v1/memories`.
#[derive(Serialize, Debug, utoipa::ToSchema)]
pub struct MemoriesAnswer {
    /// Every memory, in name order.
    pub memories: Vec<MemorySummary>,
}

/// `POST /v1/memories`: the memory made.
#[derive(Serialize, Debug, utoipa::ToSchema)]
pub struct CreatedAnswer {
    /// Its name.
    pub name: String,
    /// Its vector dimension, if one was given.
    pub dimension: Option<u32>,
    /// The language its texts are stemmed in, if one was given.
    pub language: Option<Language>,
    /// The metadata keys it indexes for filters, in increasing order.
    pub indexed_keys: Vec<String>,
}

/// `DELETE /v1/memories/{name}`.
#[derive(Serialize, Debug, utoipa::ToSchema)]
pub struct DroppedAnswer {
    /// The memory dropped.
    pub dropped: String,
}

/// `POST /v1/memories/{name}/reopen`: what recovery found.
#[derive(Serialize, Debug, utoipa::ToSchema)]
pub struct ReopenedAnswer {
    /// The memory reopened.
    pub reopened: String,
    /// Log records replayed.
    pub records_replayed: u64,
    /// Bytes of a torn tail dropped.
    pub torn_bytes_dropped: u64,
    /// The last sequence number recovered.
    pub last_seq: u64,
    /// How long replay took.
    pub seconds: f64,
}

/// `GET /v1/memories/{name}/stats`: the engine's stats and the server's.
#[derive(Serialize, Debug, utoipa::ToSchema)]
pub struct MemoryStatsAnswer {
    /// The memory's name.
    pub name: String,
    /// Writes waiting in its queue.
    pub queue_depth: u64,
    /// Bytes of its files on disk.
    pub storage_bytes: u64,
    /// The engine's stats.
    #[serde(flatten)]
    pub stats: StatsAnswer,
}
