//! The server's own answers, as Rust types serialized by serde (the engine's answers are the
//! core's, `sutra_core::exchange::answers`).

use serde::Serialize;
use sutra_core::exchange::answers::StatsAnswer;

/// `GET /health`.
#[derive(Serialize, Debug, utoipa::ToSchema)]
pub struct HealthAnswer {
    /// Always `ok` (an answer at all is the news).
    pub status: &'static str,
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
