//! What opening, checkpoints, indexing, checks and repairs report, and the options of opening.

use crate::error::Error;
use crate::model::Language;
use crate::vector::{HnswParams, VectorCounts};

/// Options for [`crate::Memory::open`].
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Options {
    /// The vector dimension to fix for a new memory (checked against an existing one).
    pub dimension: Option<u32>,
    /// The language to stem texts in for a new memory, or one that has none yet (checked
    /// against an existing one's: a memory's language is chosen once).
    pub language: Option<Language>,
    /// Metadata keys to index for filters, besides those the memory indexes already (none
    /// taken away): a new memory's keys are declared with it, in the same durable write as the
    /// rest of its creation.
    pub indexed_keys: Vec<String>,
    /// Parameters of the sealed vector index.
    pub hnsw: HnswParams,
}

/// What recovery found and did when a memory was opened.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct RecoveryReport {
    /// Sequence number covered by the snapshot that was loaded (`None`: no snapshot).
    pub snapshot_seq: Option<u64>,
    /// Log records applied on top of the snapshot.
    pub records_replayed: u64,
    /// Log records skipped because the snapshot already covers them.
    pub records_skipped: u64,
    /// Bytes of a torn final record that were truncated.
    pub torn_bytes_dropped: u64,
    /// Sequence number of the last applied record.
    pub last_seq: u64,
    /// A snapshot that failed its checks and was not needed: the log had never been trimmed
    /// (its base is 0), so it holds the whole history and the state was rebuilt from it alone.
    /// Why the snapshot failed. (A snapshot whose checkpoint trimmed the log is never passed
    /// over: opening then refuses.)
    pub discarded_snapshot: Option<String>,
    /// Files of an older format version that were read and rewritten in the current one (by a
    /// checkpoint, before the memory was handed over).
    pub rewritten_from: Option<Rewritten>,
}

/// The format versions of the files a memory was opened from, when they were older than this
/// build's and were rewritten.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rewritten {
    /// The log's version.
    pub log_version: u32,
    /// The snapshot's version (`None`: there was none).
    pub snapshot_version: Option<u32>,
}

/// What [`crate::repair`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepairReport {
    /// Valid records kept.
    pub records_kept: u64,
    /// Log length after the repair.
    pub truncated_at: u64,
    /// Bytes removed from the end of the log.
    pub bytes_dropped: u64,
}

/// What a checkpoint did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckpointReport {
    /// The sequence number the snapshot covers.
    pub seq: u64,
    /// Size of the snapshot in bytes.
    pub snapshot_bytes: u64,
    /// Log bytes dropped because the snapshot covers them.
    pub log_bytes_dropped: u64,
    /// Whether a snapshot was written: not when nothing changed since the last one (no write
    /// logged, no vector indexing installed), which is then kept as it is.
    pub written: bool,
}

/// What one step of background vector indexing did.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexStep {
    /// Vectors in the graph it built.
    pub vectors: usize,
    /// False if another install overtook it or the build failed (nothing changed).
    pub installed: bool,
    /// Why the build failed, if it did ([`Error::IndexBuild`], a bug: the vectors stay in the
    /// fresh tier, searched exactly, and the same step would fail again).
    pub error: Option<Error>,
}

/// Counts for monitoring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stats {
    /// Number of concepts.
    pub concepts: u64,
    /// Number of associations.
    pub associations: u64,
    /// Number of distinct association labels in use.
    pub labels: u64,
    /// The vector dimension, once fixed.
    pub dimension: Option<u32>,
    /// The language texts are stemmed in (none: not stemmed).
    pub language: Option<Language>,
    /// The metadata keys indexed for filters, in order.
    pub indexed_keys: Vec<String>,
    /// Vectors served by the sealed index, by the fresh tier, and stale sealed entries.
    pub vectors: VectorCounts,
    /// Sequence number of the last acknowledged record.
    pub last_seq: u64,
    /// Size of the log in bytes.
    pub log_bytes: u64,
    /// Sequence number covered by the last checkpoint.
    pub checkpoint_seq: Option<u64>,
    /// Why the memory refuses writes, if it does.
    pub poisoned: Option<String>,
}

/// What [`crate::verify`] found.
#[derive(Clone, Debug, PartialEq)]
pub struct VerifyReport {
    /// Sequence number covered by the snapshot (`None`: no snapshot).
    pub snapshot_seq: Option<u64>,
    /// Log records newer than the snapshot that apply cleanly.
    pub records: u64,
    /// Log records the snapshot already covers.
    pub records_skipped: u64,
    /// Log length (without the zeros a storage reserved after it).
    pub log_bytes: u64,
    /// Bytes of a torn tail (opening would truncate them).
    pub torn_bytes: u64,
    /// Concepts, associations and vectors after replay.
    pub counts: crate::state::query::StateCounts,
}
