//! The write-ahead log format: encoding records and scanning a log for recovery.
//!
//! Byte layout (all integers little-endian; see `docs/FORMAT.md`):
//!
//! ```text
//! file header (24 bytes): magic "SUTRAWAL" | version u32 | base seq u64 | crc32(bytes 0..20) u32
//! record:                 length u32 | crc32(seq ‖ payload) u32 | seq u64 | payload[length]
//! ```
//!
//! The payload is one batch: a postcard-encoded `Vec<Op>` — in version 1, `Vec<OpV1>`
//! ([`crate::legacy`]: metadata values were strings only), in version 2 `Vec<OpV2>`
//! (associations without label, metadata or validity), read and turned into today's
//! operations; version 3 is version 5 without [`Op::SetLanguage`] and [`Op::IndexMetadata`],
//! version 4 without the latter. A log is one version
//! throughout: opening a memory whose log is older rewrites it (a checkpoint) before anything is
//! appended.

use crate::error::{Error, Result};
use crate::format::legacy::{OpV1, OpV2};
use crate::limits::BATCH_BYTES_MAX;
use crate::model::Op;

/// The log file's magic bytes.
pub const LOG_MAGIC: [u8; 8] = *b"SUTRAWAL";
/// The log format version this build writes.
pub const LOG_VERSION: u32 = 5;
/// The oldest log format version this build reads.
pub const LOG_VERSION_OLDEST: u32 = 1;
/// Size of the file header.
pub const LOG_HEADER_BYTES: u64 = 24;
/// Size of a record's header (length, crc, sequence number).
pub const RECORD_HEADER_BYTES: usize = 16;
/// Zeros a storage writes ahead of the log's end whenever a write reaches the end of its file,
/// so that most syncs write only data and not the file's new size too. A scan reports them as
/// [`Tail::Padding`]; opening cuts them.
pub const LOG_RESERVE_BYTES: u64 = 1024 * 1024;
/// Largest payload a record may declare; anything longer is a bad record.
pub const RECORD_PAYLOAD_BYTES_MAX: usize = BATCH_BYTES_MAX;

/// Where each field of the file header is (`docs/FORMAT.md`, "Log").
mod header {
    use std::ops::Range;
    pub const MAGIC: Range<usize> = 0..8;
    pub const VERSION: Range<usize> = 8..12;
    pub const BASE_SEQ: Range<usize> = 12..20;
    /// The checksum covers the bytes before it.
    pub const CRC: Range<usize> = 20..24;
}

/// Where each field of a record's header is; the payload follows it.
mod record {
    use std::ops::Range;
    pub const LEN: Range<usize> = 0..4;
    /// The checksum covers the sequence number and the payload.
    pub const CRC: Range<usize> = 4..8;
    pub const SEQ: Range<usize> = 8..16;
}

// The layout's relations, checked when the code is compiled.
const _: () = assert!(header::CRC.end as u64 == LOG_HEADER_BYTES);
const _: () = assert!(record::SEQ.end == RECORD_HEADER_BYTES);
const _: () = assert!(header::MAGIC.end - header::MAGIC.start == LOG_MAGIC.len());
// A payload's length must fit the record's u32 length field.
const _: () = assert!(RECORD_PAYLOAD_BYTES_MAX <= u32::MAX as usize);

fn u32_at(bytes: &[u8], at: std::ops::Range<usize>) -> u32 {
    let mut x = [0u8; 4];
    x.copy_from_slice(&bytes[at]);
    u32::from_le_bytes(x)
}

fn u64_at(bytes: &[u8], at: std::ops::Range<usize>) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&bytes[at]);
    u64::from_le_bytes(x)
}

/// What a log's file header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The sequence number the log continues after.
    pub base_seq: u64,
    /// Its format version (between [`LOG_VERSION_OLDEST`] and [`LOG_VERSION`]).
    pub version: u32,
}

/// The file header of a log that continues after sequence number `base_seq` (its first record
/// is `base_seq + 1`; a snapshot must cover at least `base_seq`).
pub fn encode_header(base_seq: u64) -> [u8; LOG_HEADER_BYTES as usize] {
    let mut out = [0u8; LOG_HEADER_BYTES as usize];
    out[header::MAGIC].copy_from_slice(&LOG_MAGIC);
    out[header::VERSION].copy_from_slice(&LOG_VERSION.to_le_bytes());
    out[header::BASE_SEQ].copy_from_slice(&base_seq.to_le_bytes());
    let crc = crc32fast::hash(&out[..header::CRC.start]);
    out[header::CRC].copy_from_slice(&crc.to_le_bytes());
    debug_assert_eq!(
        check_header(&out).ok(),
        Some(Header {
            base_seq,
            version: LOG_VERSION
        }),
        "a header reads back"
    );
    out
}

/// Checks a file header; returns what it says.
pub fn check_header(bytes: &[u8]) -> Result<Header> {
    let corrupt = |reason: &str| Error::CorruptLog {
        offset: 0,
        seq: 0,
        reason: reason.to_string(),
    };
    if bytes.len() < LOG_HEADER_BYTES as usize {
        return Err(corrupt("file header is shorter than 24 bytes"));
    }
    if bytes[header::MAGIC] != LOG_MAGIC {
        return Err(corrupt("file does not start with the magic bytes SUTRAWAL"));
    }
    if u32_at(bytes, header::CRC) != crc32fast::hash(&bytes[..header::CRC.start]) {
        return Err(corrupt("file header checksum does not match"));
    }
    let version = u32_at(bytes, header::VERSION);
    if !(LOG_VERSION_OLDEST..=LOG_VERSION).contains(&version) {
        return Err(Error::UnsupportedVersion {
            file: "log",
            found: version,
            oldest: LOG_VERSION_OLDEST,
            supported: LOG_VERSION,
        });
    }
    Ok(Header {
        base_seq: u64_at(bytes, header::BASE_SEQ),
        version,
    })
}

/// Encodes one batch as a complete record (header and payload).
pub fn encode_record(seq: u64, ops: &[Op]) -> Result<Vec<u8>> {
    let mut out = vec![0u8; RECORD_HEADER_BYTES];
    let mut out = postcard::to_extend(ops, std::mem::take(&mut out))
        .map_err(|e| Error::invalid("batch", format!("cannot be encoded: {e}")))?;
    let payload_len = out.len() - RECORD_HEADER_BYTES;
    if payload_len > RECORD_PAYLOAD_BYTES_MAX {
        return Err(Error::limit(
            "batch (encoded bytes)",
            RECORD_PAYLOAD_BYTES_MAX as u64,
            payload_len as u64,
        ));
    }
    out[record::SEQ].copy_from_slice(&seq.to_le_bytes());
    let crc = crc32fast::hash(&out[record::SEQ.start..]);
    // Fits: RECORD_PAYLOAD_BYTES_MAX ≤ u32::MAX (checked at compile time above).
    out[record::LEN].copy_from_slice(&(payload_len as u32).to_le_bytes());
    out[record::CRC].copy_from_slice(&crc.to_le_bytes());
    debug_assert!(
        decode_payload(LOG_VERSION, &out[RECORD_HEADER_BYTES..])
            .is_ok_and(|decoded| decoded == ops),
        "a record's payload decodes to the batch it was encoded from"
    );
    Ok(out)
}

/// Random access to the bytes of a log, as a storage provides it.
pub trait LogSource {
    /// Length of the log in bytes.
    fn size(&self) -> u64;
    /// Fills `buf` with the bytes at `offset`; the range is within `size()`.
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()>;
}

impl LogSource for &[u8] {
    fn size(&self) -> u64 {
        <[u8]>::len(self) as u64
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let start = offset as usize;
        buf.copy_from_slice(&self[start..start + buf.len()]);
        Ok(())
    }
}

/// How a scan of the log ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tail {
    /// Every byte belonged to a valid record.
    Clean,
    /// A bad or incomplete record with nothing valid after it: a torn write.
    Torn {
        /// Where the torn record starts (the log's valid length).
        offset: u64,
        /// How many bytes follow `offset`.
        bytes: u64,
    },
    /// Zero bytes after the last valid record, to the end: space a storage reserved ahead of
    /// its writes (never data: no record starts with four zero bytes, as every payload is at
    /// least one byte long).
    Padding {
        /// Where the zeros start (the log's valid length).
        offset: u64,
        /// How many zero bytes there are.
        bytes: u64,
    },
    /// A bad record followed by at least one valid record.
    Corrupt {
        /// Where the bad record starts.
        offset: u64,
        /// The sequence number it should have had.
        seq: u64,
        /// What was wrong with it.
        reason: String,
    },
}

/// What a scan found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanEnd {
    /// The sequence number the log continues from (its header's base).
    pub base_seq: u64,
    /// The log's format version.
    pub version: u32,
    /// Bytes of the log up to the end of the last valid record (at least the header).
    pub valid_len: u64,
    /// Sequence number of the last valid record.
    pub last_seq: Option<u64>,
    /// Number of valid records.
    pub records: u64,
    /// How it ended.
    pub tail: Tail,
}

/// A record that failed a check, and why.
struct Bad {
    reason: String,
}

const READ_CHUNK_BYTES: usize = 1 << 20;

/// Buffered sequential reader over a [`LogSource`].
struct Cursor<'a, S: LogSource> {
    source: &'a mut S,
    len: u64,
    buf: Vec<u8>,
    buf_start: u64,
}

impl<S: LogSource> Cursor<'_, S> {
    /// Returns `n` bytes at `offset`, or `None` when they run past the end of the log.
    fn bytes(&mut self, offset: u64, n: usize) -> Result<Option<&[u8]>> {
        let end = match offset.checked_add(n as u64) {
            Some(end) if end <= self.len => end,
            _ => return Ok(None),
        };
        let buf_end = self.buf_start + self.buf.len() as u64;
        if offset < self.buf_start || end > buf_end {
            let want = n.max(READ_CHUNK_BYTES).min((self.len - offset) as usize);
            self.buf.resize(want, 0);
            self.source.read_at(offset, &mut self.buf)?;
            self.buf_start = offset;
        }
        let start = (offset - self.buf_start) as usize;
        Ok(Some(&self.buf[start..start + n]))
    }

    /// Whether every byte from `offset` to the end is zero.
    fn zeros_from(&mut self, offset: u64) -> Result<bool> {
        Ok(self.next_nonzero(offset)?.is_none())
    }

    /// The offset of the first non-zero byte at or after `offset`.
    fn next_nonzero(&mut self, mut offset: u64) -> Result<Option<u64>> {
        while offset < self.len {
            let n = ((self.len - offset) as usize).min(READ_CHUNK_BYTES);
            let Some(chunk) = self.bytes(offset, n)? else {
                return Ok(None);
            };
            if let Some(i) = chunk.iter().position(|&b| b != 0) {
                return Ok(Some(offset + i as u64));
            }
            offset += n as u64;
        }
        Ok(None)
    }

    /// Checks the record at `offset`: `Ok(Ok((seq, payload_len)))` when valid.
    fn check(
        &mut self,
        offset: u64,
        expected_seq: Option<u64>,
    ) -> Result<Result<(u64, usize), Bad>> {
        let Some(head) = self.bytes(offset, RECORD_HEADER_BYTES)? else {
            return Ok(Err(Bad {
                reason: "incomplete record header".into(),
            }));
        };
        let len = u32_at(head, record::LEN) as usize;
        let crc = u32_at(head, record::CRC);
        if len > RECORD_PAYLOAD_BYTES_MAX {
            return Ok(Err(Bad {
                reason: format!(
                    "declared length {len} exceeds the record limit {RECORD_PAYLOAD_BYTES_MAX}"
                ),
            }));
        }
        // What the checksum covers: the sequence number, then the payload.
        let covered = record::SEQ.end - record::SEQ.start + len;
        let Some(body) = self.bytes(offset + record::SEQ.start as u64, covered)? else {
            return Ok(Err(Bad {
                reason: format!("record of {len} payload bytes runs past the end of the log"),
            }));
        };
        if crc32fast::hash(body) != crc {
            return Ok(Err(Bad {
                reason: "checksum mismatch".into(),
            }));
        }
        let seq = u64_at(body, 0..record::SEQ.end - record::SEQ.start);
        if let Some(expected) = expected_seq {
            if seq != expected {
                return Ok(Err(Bad {
                    reason: format!("sequence number {seq} where {expected} was expected"),
                }));
            }
        }
        Ok(Ok((seq, len)))
    }
}

/// Decodes a record payload of a log of `version`.
pub(crate) fn decode_payload(version: u32, payload: &[u8]) -> std::result::Result<Vec<Op>, String> {
    fn whole<'a, T: serde::Deserialize<'a>>(payload: &'a [u8]) -> std::result::Result<T, String> {
        match postcard::take_from_bytes::<T>(payload) {
            Ok((value, [])) => Ok(value),
            Ok((_, rest)) => Err(format!("{} trailing bytes after the batch", rest.len())),
            Err(e) => Err(format!("payload does not decode: {e}")),
        }
    }
    if version == 1 {
        let ops: Vec<OpV1> = whole(payload)?;
        Ok(ops.into_iter().map(Op::from).collect())
    } else if version == 2 {
        let ops: Vec<OpV2> = whole(payload)?;
        Ok(ops.into_iter().map(Op::from).collect())
    } else if version < LOG_VERSION {
        // Versions 4 and 5 only added operations: an older record is today's without them.
        let ops: Vec<Op> = whole(payload)?;
        let added = |op: &Op| match op {
            Op::SetLanguage { .. } => 4,
            Op::IndexMetadata { .. } => 5,
            _ => 3,
        };
        if let Some(op) = ops.iter().find(|op| added(op) > version) {
            return Err(format!(
                "an operation of log version {} in a log of version {version}",
                added(op)
            ));
        }
        Ok(ops)
    } else {
        debug_assert_eq!(version, LOG_VERSION, "the header was checked");
        whole(payload)
    }
}

/// Scans a whole log: checks the header, then hands every valid record to `on_record` in order,
/// and classifies what ends the log. Never skips a record: the scan stops at the first bad one.
///
/// `on_record` receives the record's byte offset, its sequence number and the decoded batch; an error from it stops the
/// scan and is returned.
pub fn scan<S: LogSource>(
    source: &mut S,
    mut on_record: impl FnMut(u64, u64, Vec<Op>) -> Result<()>,
) -> Result<ScanEnd> {
    let len = source.size();
    if len < LOG_HEADER_BYTES {
        return Err(Error::CorruptLog {
            offset: 0,
            seq: 0,
            reason: format!(
                "log of {len} bytes is shorter than its {LOG_HEADER_BYTES}-byte header"
            ),
        });
    }
    let mut header = [0u8; LOG_HEADER_BYTES as usize];
    source.read_at(0, &mut header)?;
    let Header { base_seq, version } = check_header(&header)?;
    let mut cursor = Cursor {
        source,
        len,
        buf: Vec::new(),
        buf_start: 0,
    };
    let mut offset = LOG_HEADER_BYTES;
    let mut last_seq: Option<u64> = None;
    let mut records = 0u64;
    while offset < len {
        let expected = last_seq.unwrap_or(base_seq) + 1;
        let bad = match cursor.check(offset, Some(expected))? {
            Ok((seq, payload_len)) => {
                let start = offset + RECORD_HEADER_BYTES as u64;
                let payload = cursor
                    .bytes(start, payload_len)?
                    .ok_or_else(|| Error::Storage {
                        during: "log read",
                        message: "record vanished while reading".into(),
                    })?;
                match decode_payload(version, payload) {
                    Ok(ops) => {
                        on_record(offset, seq, ops)?;
                        last_seq = Some(seq);
                        records += 1;
                        offset = start + payload_len as u64;
                        continue;
                    }
                    Err(reason) => Bad { reason },
                }
            }
            Err(bad) => bad,
        };
        // A bad record: reserved space if only zeros follow, a torn tail unless some valid
        // record follows it.
        let tail = if cursor.zeros_from(offset)? {
            Tail::Padding {
                offset,
                bytes: len - offset,
            }
        } else if valid_record_after(&mut cursor, offset, last_seq.unwrap_or(base_seq))? {
            Tail::Corrupt {
                offset,
                seq: expected,
                reason: format!(
                    "{}; valid records follow it, so it is not a torn tail",
                    bad.reason
                ),
            }
        } else {
            Tail::Torn {
                offset,
                bytes: len - offset,
            }
        };
        return Ok(ScanEnd {
            base_seq,
            version,
            valid_len: offset,
            last_seq,
            records,
            tail,
        });
    }
    Ok(ScanEnd {
        base_seq,
        version,
        valid_len: offset,
        last_seq,
        records,
        tail: Tail::Clean,
    })
}

/// Whether any byte position after `bad_offset` starts a record with a valid checksum and a
/// sequence number after `last_seq`.
fn valid_record_after<S: LogSource>(
    cursor: &mut Cursor<'_, S>,
    bad_offset: u64,
    last_seq: u64,
) -> Result<bool> {
    let mut pos = bad_offset + 1;
    while pos + RECORD_HEADER_BYTES as u64 <= cursor.len {
        // A record's length is never zero, so its first four bytes are not all zero: runs of
        // zeros (such as reserved space) are skipped whole.
        if cursor.bytes(pos, 4)? == Some(&[0u8; 4][..]) {
            match cursor.next_nonzero(pos)? {
                Some(next) => pos = next.saturating_sub(3).max(pos + 1),
                None => break,
            }
            continue;
        }
        if let Ok((seq, _)) = cursor.check(pos, None)? {
            if seq > last_seq {
                return Ok(true);
            }
        }
        pos += 1;
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ConceptId;
    use crate::model::ConceptInput;

    fn log_of(batches: &[Vec<Op>]) -> Vec<u8> {
        let mut log = encode_header(0).to_vec();
        for (i, ops) in batches.iter().enumerate() {
            log.extend(encode_record(i as u64 + 1, ops).expect("encode"));
        }
        log
    }

    fn batch(n: usize) -> Vec<Op> {
        (0..n)
            .map(|i| Op::put_concept(ConceptInput::new(format!("concept {i}")), 7))
            .collect()
    }

    type Records = Vec<(u64, Vec<Op>)>;

    fn collect(log: &[u8]) -> Result<(Records, ScanEnd)> {
        let mut seen = Vec::new();
        let end = scan(&mut &log[..], |_, seq, ops| {
            seen.push((seq, ops));
            Ok(())
        })?;
        Ok((seen, end))
    }

    #[test]
    fn round_trips_records() {
        let batches = vec![
            batch(1),
            batch(3),
            vec![Op::DeleteConcept { id: ConceptId(9) }],
        ];
        let log = log_of(&batches);
        let (seen, end) = collect(&log).expect("scan");
        assert_eq!(end.tail, Tail::Clean);
        assert_eq!(end.valid_len, log.len() as u64);
        assert_eq!(end.last_seq, Some(3));
        assert_eq!(
            seen.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        assert_eq!(
            seen.into_iter().map(|(_, o)| o).collect::<Vec<_>>(),
            batches
        );
    }

    #[test]
    fn torn_tail_is_reported_with_its_size() {
        let log = log_of(&[batch(2), batch(2)]);
        let first_end = (LOG_HEADER_BYTES as usize) + encode_record(1, &batch(2)).expect("e").len();
        for cut in first_end..log.len() {
            let (seen, end) = collect(&log[..cut]).expect("scan");
            assert_eq!(seen.len(), 1, "cut at {cut}");
            if cut == first_end {
                assert_eq!(end.tail, Tail::Clean);
            } else {
                assert_eq!(
                    end.tail,
                    Tail::Torn {
                        offset: first_end as u64,
                        bytes: (cut - first_end) as u64
                    }
                );
            }
        }
    }

    #[test]
    fn zeros_after_the_last_record_are_padding() {
        let log = log_of(&[batch(2), batch(1)]);
        for zeros in [1usize, 15, 16, 4096, (1 << 20) + 7] {
            let mut padded = log.clone();
            padded.resize(log.len() + zeros, 0);
            let (seen, end) = collect(&padded).expect("scan");
            assert_eq!(seen.len(), 2);
            assert_eq!(end.valid_len, log.len() as u64);
            assert_eq!(
                end.tail,
                Tail::Padding {
                    offset: log.len() as u64,
                    bytes: zeros as u64
                }
            );
        }
        // A torn record in front of the zeros is still torn; a bad record with a good one
        // somewhere in the zeros after it is still corruption.
        let second = LOG_HEADER_BYTES as usize + encode_record(1, &batch(2)).expect("e").len();
        let mut torn = log[..log.len() - 3].to_vec();
        torn.resize(torn.len() + 5000, 0);
        let (seen, end) = collect(&torn).expect("scan");
        assert_eq!(seen.len(), 1);
        assert_eq!(
            end.tail,
            Tail::Torn {
                offset: second as u64,
                bytes: (torn.len() - second) as u64
            }
        );
        let mut corrupt = log.clone();
        corrupt[second + 20] ^= 0x10;
        corrupt.resize(corrupt.len() + 3000, 0);
        corrupt.extend(encode_record(3, &batch(1)).expect("e"));
        corrupt.resize(corrupt.len() + 3000, 0);
        let (_, end) = collect(&corrupt).expect("scan");
        assert!(
            matches!(end.tail, Tail::Corrupt { seq: 2, .. }),
            "{:?}",
            end.tail
        );
    }

    #[test]
    fn bad_record_followed_by_good_is_corruption() {
        let mut log = log_of(&[batch(1), batch(1), batch(1)]);
        let second = LOG_HEADER_BYTES as usize + encode_record(1, &batch(1)).expect("e").len();
        log[second + 20] ^= 0x10;
        let (seen, end) = collect(&log).expect("scan");
        assert_eq!(seen.len(), 1);
        match end.tail {
            Tail::Corrupt { offset, seq, .. } => {
                assert_eq!(offset, second as u64);
                assert_eq!(seq, 2);
            }
            other => panic!("expected corruption, got {other:?}"),
        }
    }

    #[test]
    fn out_of_order_sequence_is_a_bad_record() {
        let mut log = encode_header(0).to_vec();
        log.extend(encode_record(1, &batch(1)).expect("e"));
        log.extend(encode_record(3, &batch(1)).expect("e"));
        let (seen, end) = collect(&log).expect("scan");
        assert_eq!(seen.len(), 1);
        assert!(matches!(end.tail, Tail::Torn { .. }), "{:?}", end.tail);
    }

    #[test]
    fn a_version_3_log_reads_as_today_and_refuses_the_operation_it_did_not_have() {
        let language = vec![Op::SetLanguage {
            language: crate::model::Language::English,
        }];
        let mut log = log_of(&[batch(1), language]);
        assert_eq!(collect(&log).expect("today's").0.len(), 2);
        log[8..12].copy_from_slice(&3u32.to_le_bytes());
        let crc = crc32fast::hash(&log[..20]);
        log[20..24].copy_from_slice(&crc.to_le_bytes());
        let (seen, end) = collect(&log).expect("version 3 scans");
        assert_eq!(seen.len(), 1, "the record before it reads");
        assert_eq!(end.version, 3);
        assert!(
            !matches!(end.tail, Tail::Clean),
            "the language record is not a version 3 record: {:?}",
            end.tail
        );
    }

    #[test]
    fn bad_header_is_refused() {
        let mut log = log_of(&[batch(1)]);
        log[3] ^= 1;
        assert_eq!(collect(&log).expect_err("magic").code(), "corrupt_log");
        let mut log = log_of(&[batch(1)]);
        log[8] = 9;
        let crc = crc32fast::hash(&log[..20]);
        log[20..24].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(
            collect(&log).expect_err("version").code(),
            "unsupported_version"
        );
    }
}
