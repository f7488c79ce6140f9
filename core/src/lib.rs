//! # sutra-core
//!
//! Sutra's engine with no I/O of its own: the data model, the write-ahead log and snapshot
//! formats, recovery, the graph and vector indexes and the queries over them. Every durable byte
//! goes through the small [`Storage`] trait, which the native server implements with files, the
//! browser build with OPFS, and the crash tests with a simulated disk ([`sim`], feature `sim`).
//!
//! No files, no clock, no threads of its own, no randomness it was not given: timestamps come
//! from the caller inside each operation and are logged, so replay reproduces them exactly.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod adjacency;
mod concepts;
pub mod engine;
pub mod error;
#[cfg(feature = "json")]
pub mod exchange;
pub mod graph;
pub mod id;
mod id_table;
pub mod limits;
pub mod model;
pub mod query;
#[cfg(feature = "sim")]
pub mod sim;
pub mod snapshot;
pub mod state;
pub mod storage;
pub mod vector;
pub mod wal;

pub use engine::{
    repair, verify, verify_deep, CheckpointReport, IndexStep, Memory, Options, Reader,
    RecoveryReport, RepairReport, Stats, VerifyReport, PATH_QUERY_ATTEMPTS,
};
pub use error::{Error, Result};
pub use graph::{
    Algorithm, Direction, Interrupt, Listing, Neighbourhood, Path, PathOptions, PathQuery,
    PathsResult, Step,
};
pub use id::ConceptId;
pub use model::{
    Association, AssociationKey, Concept, ConceptInput, ConceptMetadata, Kind, KindSet, Metadata,
    Op,
};
pub use query::{Hit, Page, StateCounts};
pub use state::Db;
pub use storage::{SnapshotBytes, Storage, StorageError};
pub use vector::{Built, HnswParams, SealInput, Sealed, VectorCounts};
