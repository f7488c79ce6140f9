//! The bytes on disk: the write-ahead log and the snapshot, each versioned and checksummed, with
//! named offsets that `docs/FORMAT.md` describes byte for byte. These codecs know the data
//! model and nothing above it: the state hands a snapshot its contents and takes them back.
//!
//! - [`wal`]: the log's header and records, and the scan that recovery runs.
//! - [`snapshot`]: the snapshot file's header, section table and sections.
//! - [`legacy`]: the shapes of earlier versions, read and turned into today's, never written.

pub mod legacy;
pub mod snapshot;
pub mod wal;
