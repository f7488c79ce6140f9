//! A memory's files checked and repaired without opening it for writes (`sutra check`,
//! `sutra repair`).

use super::recovery::{load_snapshot_or_whole_log, replay, reset_log, LogReader};
use super::reports::{RepairReport, VerifyReport};
use super::shared::storage_err;
use crate::error::Result;
use crate::format::snapshot;
use crate::format::wal::{self, Tail, LOG_HEADER_BYTES};
use crate::storage::Storage;
use crate::vector::HnswParams;

/// Checks every checksum of a memory's snapshot and log and replays the log onto the snapshot
/// in memory, changing nothing. A torn tail is reported (opening truncates it); corruption is
/// returned as the error that opening would give.
pub fn verify<S: Storage>(storage: &mut S, hnsw: HnswParams) -> Result<VerifyReport> {
    verify_with(storage, hnsw, false)
}

/// [`verify`], then the integrity checker on the state it rebuilt
/// ([`crate::Db::check_integrity`]): every structure agrees with itself and with the others.
pub fn verify_deep<S: Storage>(storage: &mut S, hnsw: HnswParams) -> Result<VerifyReport> {
    verify_with(storage, hnsw, true)
}

fn verify_with<S: Storage>(storage: &mut S, hnsw: HnswParams, deep: bool) -> Result<VerifyReport> {
    let loaded = load_snapshot_or_whole_log(storage, hnsw)?;
    let (mut db, snapshot_seq) = (loaded.db, loaded.seq);
    let log_bytes = storage.log_len().map_err(storage_err("log length"))?;
    if log_bytes < LOG_HEADER_BYTES {
        if deep {
            db.check_integrity()?;
        }
        return Ok(VerifyReport {
            snapshot_seq,
            records: 0,
            records_skipped: 0,
            log_bytes,
            torn_bytes: log_bytes,
            counts: db.counts(),
        });
    }
    let replayed = replay(storage, &mut db)?;
    if deep {
        db.check_integrity()?;
    }
    let torn_bytes = replayed.cut.map_or(0, |c| c.torn_bytes);
    Ok(VerifyReport {
        snapshot_seq,
        records: replayed.replayed,
        records_skipped: replayed.skipped,
        // Reserved zeros after the last record are not log.
        log_bytes: match replayed.end.tail {
            Tail::Padding { offset, .. } => offset,
            _ => log_bytes,
        },
        torn_bytes,
        counts: db.counts(),
    })
}

/// Truncates the log at its first bad record (or torn tail), keeping every valid record before
/// it. Records after a corrupt one are lost: hosts should copy the log aside first.
pub fn repair<S: Storage>(storage: &mut S) -> Result<RepairReport> {
    let len = storage.log_len().map_err(storage_err("log length"))?;
    let header_ok = len >= LOG_HEADER_BYTES && {
        let mut header = [0u8; LOG_HEADER_BYTES as usize];
        storage
            .log_read(0, &mut header)
            .map_err(storage_err("log read"))?;
        wal::check_header(&header).is_ok()
    };
    if !header_ok {
        // The log continues from whatever the snapshot covers.
        let base = match storage
            .snapshot_read()
            .map_err(storage_err("snapshot read"))?
        {
            Some(bytes) => snapshot::covered_seq((*bytes).as_ref())?,
            None => 0,
        };
        reset_log(storage, base)?;
        return Ok(RepairReport {
            records_kept: 0,
            truncated_at: 0,
            bytes_dropped: len,
        });
    }
    let end = wal::scan(&mut LogReader { storage, len }, |_, _, _| Ok(()))?;
    if end.valid_len < len {
        storage
            .log_truncate(end.valid_len)
            .map_err(storage_err("log truncate"))?;
    }
    Ok(RepairReport {
        records_kept: end.records,
        truncated_at: end.valid_len,
        // Reserved zeros after the last record are cut too, but they were never data.
        bytes_dropped: match end.tail {
            Tail::Padding { .. } => 0,
            _ => len - end.valid_len,
        },
    })
}
