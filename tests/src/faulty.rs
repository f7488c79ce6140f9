//! A fault-injecting wrapper that any storage under test can use to give a [`Harness`] its
//! `fail_sync_after` and `crash_snapshot_at`.
//!
//! [`Harness`]: crate::Harness

use sutra_core::sim::SnapshotStep;
use sutra_core::{SnapshotBytes, Storage, StorageError};

/// Does the real work of a snapshot replacement up to `step` and stops there (the "crash").
pub type PartialReplace<S> = fn(&mut S, &[u8], SnapshotStep) -> Result<(), StorageError>;

/// A storage that can fail a chosen sync or crash in the middle of a snapshot replacement.
/// After an injected crash every call fails, as a dead process's would.
pub struct Faulty<S> {
    /// The storage under test.
    pub inner: S,
    partial_replace: PartialReplace<S>,
    syncs_until_failure: Option<u64>,
    snapshot_crash: Option<SnapshotStep>,
    dead: bool,
}

impl<S: Storage> Faulty<S> {
    /// Wraps `inner`; `partial_replace` performs its replacement steps up to a crash point.
    pub fn new(inner: S, partial_replace: PartialReplace<S>) -> Self {
        Faulty {
            inner,
            partial_replace,
            syncs_until_failure: None,
            snapshot_crash: None,
            dead: false,
        }
    }

    /// Makes the sync after the next `n` successful ones fail.
    pub fn fail_sync_after(&mut self, n: u64) {
        self.syncs_until_failure = Some(n);
    }

    /// Makes the next snapshot replacement crash at `step`.
    pub fn crash_snapshot_at(&mut self, step: SnapshotStep) {
        self.snapshot_crash = Some(step);
    }

    fn live(&self) -> Result<(), StorageError> {
        if self.dead {
            Err(StorageError::new("process crashed (injected)"))
        } else {
            Ok(())
        }
    }
}

impl<S: Storage> Storage for Faulty<S> {
    fn log_len(&mut self) -> Result<u64, StorageError> {
        self.live()?;
        self.inner.log_len()
    }
    fn log_read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        self.live()?;
        self.inner.log_read(offset, buf)
    }
    fn log_append(&mut self, bytes: &[u8]) -> Result<(), StorageError> {
        self.live()?;
        self.inner.log_append(bytes)
    }
    fn log_sync(&mut self) -> Result<(), StorageError> {
        self.live()?;
        match self.syncs_until_failure {
            Some(0) => {
                self.syncs_until_failure = None;
                return Err(StorageError::new("injected sync failure (EIO)"));
            }
            Some(n) => self.syncs_until_failure = Some(n - 1),
            None => {}
        }
        self.inner.log_sync()
    }
    fn log_truncate(&mut self, len: u64) -> Result<(), StorageError> {
        self.live()?;
        self.inner.log_truncate(len)
    }
    fn snapshot_read(&mut self) -> Result<Option<SnapshotBytes>, StorageError> {
        self.live()?;
        self.inner.snapshot_read()
    }
    fn snapshot_replace(&mut self, bytes: &[u8]) -> Result<(), StorageError> {
        self.live()?;
        let Some(step) = self.snapshot_crash.take() else {
            return self.inner.snapshot_replace(bytes);
        };
        self.dead = true;
        (self.partial_replace)(&mut self.inner, bytes, step)?;
        Err(StorageError::new(format!(
            "injected crash during snapshot replacement at {step:?}"
        )))
    }
}
