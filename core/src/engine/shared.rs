//! What a memory's writer shares with its readers: the state behind its lock, and the status
//! (log size, last checkpoint, poisoning) the writer keeps.

use crate::error::Error;
use crate::state::Db;
use crate::storage::StorageError;
use std::sync::atomic::{AtomicU32, Ordering as AtomicOrdering};
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

pub(super) fn storage_err(during: &'static str) -> impl Fn(StorageError) -> Error {
    move |e| Error::Storage {
        during,
        message: e.message,
    }
}

/// What the writer knows that readers may ask about.
#[derive(Clone, Debug, Default)]
pub(super) struct Status {
    pub(super) log_bytes: u64,
    pub(super) checkpoint_seq: Option<u64>,
    pub(super) poisoned: Option<String>,
}

/// The part of a memory that readers share with its writer.
pub(super) struct Shared {
    pub(super) db: RwLock<Db>,
    pub(super) status: Mutex<Status>,
    /// Writers waiting for the state's lock. A long graph query lets them in between two
    /// concepts when this is not zero (the lock makes readers that come after a waiting writer
    /// wait for it too, so a query that held on would stall every reader behind the writer).
    pub(super) writers_waiting: AtomicU32,
}

impl Shared {
    // A panic while a lock was held can only come from a bug in the engine; the state it
    // guards was validated before any change, so reads go on rather than cascade the panic.
    pub(super) fn read(&self) -> RwLockReadGuard<'_, Db> {
        self.db.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn write(&self) -> RwLockWriteGuard<'_, Db> {
        self.writers_waiting.fetch_add(1, AtomicOrdering::Relaxed);
        let guard = self.db.write().unwrap_or_else(PoisonError::into_inner);
        self.writers_waiting.fetch_sub(1, AtomicOrdering::Relaxed);
        guard
    }

    pub(super) fn status(&self) -> MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
