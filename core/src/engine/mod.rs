//! The engine: opening (recovery), the write path with group commit, checkpoints and repair.
//!
//! Write path: validate → encode → append → sync → apply. Nothing is visible to readers before
//! the sync that made it durable succeeded, and a failed append or sync poisons the memory:
//! every later write is refused until it is reopened (and so recovered from the log).
//!
//! - [`memory`]: an open memory and its write path (stage, commit, checkpoint).
//! - [`reader`]: the read handle other threads use, and how a long query shares the lock.
//! - [`recovery`]: loading the snapshot and the one replay routine.
//! - [`replica`]: a memory applied from a replicated log (a cluster's node).
//! - [`offline`]: checking and repairing a memory's files without opening it.
//! - [`maintenance`]: when a checkpoint and vector indexing are due, for every host.
//! - `shared`: the state and status the writer and its readers share.
//! - [`reports`]: what each of them reports.

pub mod maintenance;
pub mod memory;
pub mod offline;
pub mod reader;
pub mod recovery;
pub mod replica;
pub mod reports;
mod shared;

pub use maintenance::{
    Budgets, Due, IndexPolicy, Maintenance, CHECKPOINT_RETRY_FIRST_MS, CHECKPOINT_RETRY_MAX_MS,
    INDEX_QUIET_MS,
};
pub use memory::Memory;
pub use offline::{repair, verify, verify_deep};
pub use reader::{Reader, PATH_QUERY_ATTEMPTS};
pub use replica::Replica;
pub use reports::{
    CheckpointReport, IndexStep, Options, RecoveryReport, RepairReport, Rewritten, Stats,
    VerifyReport,
};
