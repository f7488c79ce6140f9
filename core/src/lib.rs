//! # sutra-core
//!
//! Sutra's engine with no I/O of its own: the data model, the write-ahead log and snapshot
//! formats, recovery, the graph and vector indexes and the queries over them. Every durable byte
//! goes through the small [`Storage`] trait, which the native server implements with files, the
//! browser build with OPFS, and the crash tests with a simulated disk ([`sim`], feature `sim`).
//!
//! No files, no clock, no threads of its own, no randomness it was not given: timestamps come
//! from the caller inside each operation and are logged, so replay reproduces them exactly.
//!
//! The modules, bottom-up (each uses only those above it in this list; `tests/architecture.rs`
//! fails on a cycle):
//!
//! | module | what it holds |
//! |---|---|
//! | `error`, [`limits`], `distance` | the error type; every limit, with the relations between them asserted; the f32 and one-byte dot-product kernels |
//! | `model` | concept ids, kinds, concepts, associations, operations and their validation |
//! | `format` | the bytes on disk: [`wal`] (log records) and [`snapshot`] (sections) |
//! | `storage` | the [`Storage`] trait, the two-slot snapshot rule ([`slots`]), the simulated disk ([`sim`]) |
//! | `graph` | the adjacency (both ways) and the searches over it: paths, neighbourhood |
//! | `vector` | distance kernels, one-byte codes, HNSW graphs (growing and packed), the index |
//! | `text` | the tokenizer and the BM25 inverted index over concept content |
//! | `state` | the in-memory state ([`Db`]): applying operations, queries, snapshot images |
//! | `engine` | a [`Memory`]: recovery, the write path, readers, checkpoints, offline check/repair |
//! | [`exchange`] | the wire and JSON-lines shapes (feature `json`) |
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod distance;
mod engine;
mod error;
#[cfg(feature = "json")]
pub mod exchange;
mod format;
mod graph;
pub mod limits;
mod model;
mod state;
mod storage;
mod text;
mod vector;

pub use distance::{dot, inv_norm};
pub use engine::{
    repair, verify, verify_deep, Budgets, CheckpointReport, Due, IndexPolicy, IndexStep,
    Maintenance, Memory, Options, Reader, RecoveryReport, RepairReport, Replica, Rewritten, Stats,
    VerifyReport, CHECKPOINT_RETRY_FIRST_MS, CHECKPOINT_RETRY_MAX_MS, INDEX_QUIET_MS,
    PATH_QUERY_ATTEMPTS,
};
pub use error::{Error, Result};
pub use format::{legacy, snapshot, wal};
pub use graph::{
    Algorithm, Direction, ExpandOptions, Interrupt, Listing, Neighbourhood, Path, PathOptions,
    PathQuery, PathsResult, Reached, Step,
};
pub use model::{
    indexed_keys, Association, AssociationKey, Clause, Concept, ConceptId, ConceptInput, Filter,
    KeptMetadata, Kind, KindSet, Label, Language, Metadata, Op, Scalar, ValidAt, Validity, Value,
    CONCEPT_ID_CHARS, FILTER_CLAUSES_MAX, FILTER_VALUES_MAX,
};
pub use state::query::{Hit, Page, SortCursor, SortedBy, SortedPage, StateCounts};
pub use state::Db;
#[cfg(feature = "sim")]
pub use storage::sim;
pub use storage::{slots, SnapshotBytes, Storage, StorageError};
pub use text::{terms as text_terms, STOP_WORDS};
pub use vector::{Built, HnswParams, SealInput, Sealed, VectorCounts};
