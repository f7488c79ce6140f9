//! The storage trait: the only way the core touches durable bytes.
//!
//! It is small and synchronous because everything that must implement it is: a file with
//! `fdatasync`, an OPFS `FileSystemSyncAccessHandle` (`getSize / read / write / truncate /
//! flush`), and the simulated disk used by the crash tests.

#[cfg(feature = "sim")]
pub mod sim;
pub mod slots;

use std::fmt;

/// The bytes of a snapshot as the storage hands them out: an owned buffer or a memory map.
pub type SnapshotBytes = Box<dyn AsRef<[u8]> + Send + Sync>;

/// An I/O failure reported by a storage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageError {
    /// The storage's own description of what failed.
    pub message: String,
}

impl StorageError {
    /// An error with the given message.
    pub fn new(message: impl Into<String>) -> Self {
        StorageError {
            message: message.into(),
        }
    }
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StorageError {}

/// Durable storage for one memory: an append-only log and one snapshot.
///
/// Contract:
/// - `log_append` may leave bytes only in a cache; they are durable once `log_sync` returns Ok.
///   After a failed `log_sync` nothing about the unsynced bytes is known (they may or may not
///   survive a crash), so the engine stops writing until it is reopened.
/// - `log_truncate` shortens the log and makes the new length durable before returning.
/// - `snapshot_replace` is atomic and durable: after a crash at any moment during it, the
///   snapshot read back is either the whole old one or the whole new one.
pub trait Storage {
    /// Length of the log in bytes, unsynced appends included.
    fn log_len(&mut self) -> Result<u64, StorageError>;
    /// Reads exactly `buf.len()` bytes of the log at `offset`.
    fn log_read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), StorageError>;
    /// Appends bytes at the end of the log.
    fn log_append(&mut self, bytes: &[u8]) -> Result<(), StorageError>;
    /// Makes every appended byte durable.
    fn log_sync(&mut self) -> Result<(), StorageError>;
    /// Truncates the log to `len` bytes, durably.
    fn log_truncate(&mut self, len: u64) -> Result<(), StorageError>;
    /// The current snapshot, if there is one.
    fn snapshot_read(&mut self) -> Result<Option<SnapshotBytes>, StorageError>;
    /// Replaces the snapshot atomically and durably.
    fn snapshot_replace(&mut self, bytes: &[u8]) -> Result<(), StorageError>;
}

impl<S: Storage + ?Sized> Storage for Box<S> {
    fn log_len(&mut self) -> Result<u64, StorageError> {
        (**self).log_len()
    }
    fn log_read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        (**self).log_read(offset, buf)
    }
    fn log_append(&mut self, bytes: &[u8]) -> Result<(), StorageError> {
        (**self).log_append(bytes)
    }
    fn log_sync(&mut self) -> Result<(), StorageError> {
        (**self).log_sync()
    }
    fn log_truncate(&mut self, len: u64) -> Result<(), StorageError> {
        (**self).log_truncate(len)
    }
    fn snapshot_read(&mut self) -> Result<Option<SnapshotBytes>, StorageError> {
        (**self).snapshot_read()
    }
    fn snapshot_replace(&mut self, bytes: &[u8]) -> Result<(), StorageError> {
        (**self).snapshot_replace(bytes)
    }
}
