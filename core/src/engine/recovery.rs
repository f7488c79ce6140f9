//! Opening a memory: the snapshot (and the one rule for a damaged one), and the one replay
//! routine that every storage's recovery, the checks and the tests go through.

use super::shared::storage_err;
use crate::error::{Error, Result};
use crate::format::wal::{self, LogSource, Tail, LOG_HEADER_BYTES};
use crate::model::Rules;
use crate::state::{Db, Overlay};
use crate::storage::Storage;
use crate::vector::HnswParams;

/// Adapts a storage's log to the scanner.
pub(super) struct LogReader<'a, S: Storage> {
    pub(super) storage: &'a mut S,
    pub(super) len: u64,
}

impl<S: Storage> LogSource for LogReader<'_, S> {
    fn size(&self) -> u64 {
        self.len
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.storage
            .log_read(offset, buf)
            .map_err(storage_err("log read"))
    }
}

/// Empties the log and gives it a header that continues after `base_seq`, durably. A crash in
/// between leaves a log shorter than its header, which opening resets the same way.
pub(super) fn reset_log<S: Storage>(storage: &mut S, base_seq: u64) -> Result<()> {
    storage
        .log_truncate(0)
        .map_err(storage_err("log truncate"))?;
    storage
        .log_append(&wal::encode_header(base_seq))
        .map_err(storage_err("log append"))?;
    storage.log_sync().map_err(storage_err("log sync"))
}

/// The state recovery starts from: what the snapshot holds, or an empty state.
pub(super) struct Loaded {
    pub(super) db: Db,
    /// The sequence number the snapshot covers (`None`: no snapshot).
    pub(super) seq: Option<u64>,
    /// The snapshot's size in bytes (0: none).
    pub(super) bytes: u64,
    /// The snapshot's format version (`None`: no snapshot).
    pub(super) version: Option<u32>,
    /// Why a snapshot was passed over, if one was.
    pub(super) discarded: Option<String>,
}

impl Loaded {
    fn empty(hnsw: HnswParams) -> Loaded {
        Loaded {
            db: Db::new(hnsw),
            seq: None,
            bytes: 0,
            version: None,
            discarded: None,
        }
    }
}

/// Decodes the snapshot, if there is one.
fn load_snapshot<S: Storage>(storage: &mut S, hnsw: HnswParams) -> Result<Loaded> {
    match storage
        .snapshot_read()
        .map_err(storage_err("snapshot read"))?
    {
        Some(bytes) => {
            let bytes: &[u8] = (*bytes).as_ref();
            let (db, version) = Db::decode_snapshot_versioned(bytes, hnsw)?;
            Ok(Loaded {
                seq: Some(db.last_seq),
                db,
                bytes: bytes.len() as u64,
                version: Some(version),
                discarded: None,
            })
        }
        None => Ok(Loaded::empty(hnsw)),
    }
}

/// The recovery rule for a snapshot that fails its checks, one for every storage: refused
/// (the error), unless the log was never trimmed by a checkpoint — its header's base is 0, so
/// it holds every record ever written and the snapshot is not needed. That is what a first
/// checkpoint cut short leaves where a snapshot is replaced without an atomic rename (the
/// browser's two slots: `docs/FORMAT.md`); on files it is a damaged snapshot whose loss costs
/// nothing. Returns the state to start from (with why the snapshot was passed over).
pub(super) fn load_snapshot_or_whole_log<S: Storage>(
    storage: &mut S,
    hnsw: HnswParams,
) -> Result<Loaded> {
    match load_snapshot(storage, hnsw) {
        Err(e @ Error::CorruptSnapshot { .. }) => {
            let len = storage.log_len().map_err(storage_err("log length"))?;
            let mut header = [0u8; LOG_HEADER_BYTES as usize];
            let whole = len >= LOG_HEADER_BYTES
                && storage.log_read(0, &mut header).is_ok()
                && wal::check_header(&header).is_ok_and(|h| h.base_seq == 0);
            if whole {
                Ok(Loaded {
                    discarded: Some(e.to_string()),
                    ..Loaded::empty(hnsw)
                })
            } else {
                Err(e)
            }
        }
        other => other,
    }
}

/// Where opening cuts the log, and how many of the bytes cut were a torn write (the rest,
/// if any, being zeros a storage reserved).
#[derive(Clone, Copy)]
pub(super) struct Cut {
    pub(super) offset: u64,
    pub(super) torn_bytes: u64,
}

/// What [`replay`] did.
pub(super) struct Replayed {
    pub(super) end: wal::ScanEnd,
    /// What follows the last valid record and is to be cut off, if anything.
    pub(super) cut: Option<Cut>,
    pub(super) skipped: u64,
    pub(super) replayed: u64,
}

/// The one replay routine: applies every valid log record newer than `db` to it, each
/// validated against the state before it. Reads only. A bad record followed by valid ones is
/// returned as corruption; a torn tail is reported for the caller to truncate (or not). The log
/// must continue from a sequence number the state covers: a log whose header says it continues
/// after `B` cannot follow a snapshot that stops before `B`.
pub(super) fn replay<S: Storage>(storage: &mut S, db: &mut Db) -> Result<Replayed> {
    let len = storage.log_len().map_err(storage_err("log length"))?;
    let mut header = [0u8; LOG_HEADER_BYTES as usize];
    storage
        .log_read(0, &mut header)
        .map_err(storage_err("log read"))?;
    let base = wal::check_header(&header)?.base_seq;
    if base > db.last_seq {
        return Err(Error::corrupt_snapshot(format!(
            "the log continues after sequence number {base}, but the snapshot covers only up to {}: the snapshot is older than the log (it was lost, replaced or rolled back)",
            db.last_seq
        )));
    }
    let mut skipped = 0u64;
    let mut replayed = 0u64;
    let end = wal::scan(&mut LogReader { storage, len }, |offset, seq, ops| {
        if seq <= db.last_seq {
            skipped += 1;
            return Ok(());
        }
        let corrupt = |reason: String| Error::CorruptLog {
            offset,
            seq,
            reason,
        };
        let mut check = Overlay::default();
        check.stage(db, &ops, Rules::Logged).map_err(|e| {
            corrupt(format!(
                "record {seq} does not apply to the state before it: {e}"
            ))
        })?;
        db.apply(seq, ops);
        replayed += 1;
        Ok(())
    })?;
    let cut = match &end.tail {
        Tail::Clean => None,
        Tail::Torn { offset, bytes } => Some(Cut {
            offset: *offset,
            torn_bytes: *bytes,
        }),
        // Reserved space, not data: cut, but nothing torn.
        Tail::Padding { offset, .. } => Some(Cut {
            offset: *offset,
            torn_bytes: 0,
        }),
        Tail::Corrupt {
            offset,
            seq,
            reason,
        } => {
            return Err(Error::CorruptLog {
                offset: *offset,
                seq: *seq,
                reason: reason.clone(),
            })
        }
    };
    Ok(Replayed {
        end,
        cut,
        skipped,
        replayed,
    })
}
