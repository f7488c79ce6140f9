//! The Raft log on files, with the rules of Sutra's own log: an entry is acknowledged (openraft's
//! `IOFlushed`) only once it is fdatasync'd — by the flusher, once for every append made
//! since its last sync (group commit: see [`Flush`]); a record is `[length u32 LE][crc32 u32 LE][body]`,
//! the body the entry (index, leader/term, kind, payload) in postcard; on open, a record cut
//! short at the end of the file (a torn write) is dropped, and a bad record with more bytes
//! after it is corruption: the log refuses to open rather than load it.
//!
//! Files in the log's directory: the segments — `raft.log` (the active one, appended to) and
//! `raft-FIRST.log` (sealed at 64 MiB, named by their first entry; removed whole once every
//! entry in them is purged, so entries are never copied) — holding the records, consecutive
//! indexes across them; `vote` (the
//! last vote) and `purged` (the last purged log id), the small files each replaced atomically
//! (written aside, synced, renamed, the directory synced); `committed`, the last committed log
//! id as a hint for restarts (overwritten in place, not synced: see `save_committed`). Only where each
//! entry's record is (offset, length, log id) is kept in memory; entries are read back from the
//! file when openraft asks for them (replication, apply), checked again as they are read.
//!
//! Fail-stop: once a write or `fdatasync` of the log fails, the store refuses every later
//! call. After a failed sync the kernel may have dropped the pages it could not write and will
//! report the next sync as fine, so nothing written since the last good sync can be trusted and
//! no retry can fix that; openraft stops the node on the error, and a restart reads the file
//! again (a torn tail dropped) and catches up from the leader.

use crate::raft::{Entry, LogId, TypeConfig, Vote};
use crate::runtime::Runtime;
use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::ops::RangeBounds;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

/// Bytes before a record's body: its length and checksum.
const RECORD_HEAD_BYTES: usize = 8;
/// Largest record body (an entry carries at most one batch: 10,000 operations of bounded size
/// fit well within it).
pub const RECORD_BODY_BYTES_MAX: usize = 256 * 1024 * 1024;

fn corrupt(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// One record's bytes.
fn encode_record(entry: &Entry) -> io::Result<Vec<u8>> {
    let body = postcard::to_allocvec(entry).map_err(|e| corrupt(format!("encode: {e}")))?;
    if body.len() > RECORD_BODY_BYTES_MAX {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "entry {} is {} bytes; the limit is {RECORD_BODY_BYTES_MAX}",
                entry.log_id.index,
                body.len()
            ),
        ));
    }
    let mut record = Vec::with_capacity(RECORD_HEAD_BYTES + body.len());
    // Within RECORD_BODY_BYTES_MAX, checked above.
    let len = (body.len() as u32).to_le_bytes();
    record.extend_from_slice(&len);
    record.extend_from_slice(&checksum(&len, &body).to_le_bytes());
    record.extend_from_slice(&body);
    Ok(record)
}

/// A record's checksum: over its length and its body.
fn checksum(len: &[u8; 4], body: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(len);
    hasher.update(body);
    hasher.finalize()
}

/// The entry of the record at the start of `bytes`, and the record's length, if a whole
/// record that passes its checksum and decodes is there.
fn record_at(bytes: &[u8]) -> Option<(Entry, usize)> {
    if bytes.len() < RECORD_HEAD_BYTES {
        return None;
    }
    let mut len = [0u8; 4];
    len.copy_from_slice(&bytes[0..4]);
    let mut crc = [0u8; 4];
    crc.copy_from_slice(&bytes[4..8]);
    let body_len = u32::from_le_bytes(len) as usize;
    if body_len > RECORD_BODY_BYTES_MAX {
        return None;
    }
    let end = RECORD_HEAD_BYTES + body_len;
    let body = bytes.get(RECORD_HEAD_BYTES..end)?;
    if checksum(&len, body) != u32::from_le_bytes(crc) {
        return None;
    }
    let entry: Entry = postcard::from_bytes(body).ok()?;
    Some((entry, end))
}

/// A segment of the log: the active one (`raft.log`, appended to), or a sealed one
/// (`raft-FIRST.log`, named by its first entry's index, never written again).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Seg {
    Sealed(u64),
    Active,
}

/// The active segment's file name.
const ACTIVE: &str = "raft.log";

/// The file name of the sealed segment whose first entry is `first`.
fn sealed_name(first: u64) -> String {
    format!("raft-{first:020}.log")
}

/// The first entry's index a sealed segment's file name says, if `name` is one.
fn sealed_first(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("raft-")?.strip_suffix(".log")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The active segment is sealed, and a new one begun, once it holds this many bytes.
pub const SEGMENT_BYTES_DEFAULT: u64 = 64 * 1024 * 1024;

/// The bytes of every segment of the log in `dir`.
pub fn files_bytes(dir: &Path) -> u64 {
    let Ok(listing) = std::fs::read_dir(dir) else {
        return 0;
    };
    listing
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name == ACTIVE || sealed_first(&name).is_some()
        })
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

/// Where an entry's record is: its segment, and where in it.
#[derive(Debug, Clone, Copy)]
struct Place {
    seg: Seg,
    offset: u64,
    len: u64,
    log_id: LogId,
}

/// Most bytes read from the log file at once when reading entries back.
const READ_BYTES_MAX: u64 = 16 * 1024 * 1024;

/// What a scan of the log file found.
struct Scanned {
    /// Where each entry's record is.
    entries: Vec<Place>,
    /// Where the valid records end (the file is cut here when it is longer).
    end: u64,
}

/// Reads the records of `bytes`. At the first bad record (cut short by the end of the file,
/// failing its checksum, or not decoding), the rest of the file is searched for a valid record
/// of a later entry: if there is one, the bad record is corruption (an error); if not, it is a
/// torn write, and the records end there. Indexes that do not follow each other are corruption.
fn scan(bytes: &[u8], seg: Seg) -> io::Result<Scanned> {
    let mut entries: Vec<Place> = Vec::new();
    let mut at = 0usize;
    while at < bytes.len() {
        let Some((entry, len)) = record_at(&bytes[at..]) else {
            let after = entries.last().map_or(0, |p| p.log_id.index);
            let later = (at + 1..bytes.len())
                .find(|&p| record_at(&bytes[p..]).is_some_and(|(e, _)| e.log_id.index > after));
            if let Some(p) = later {
                return Err(corrupt(format!(
                    "the Raft log's record at byte {at} is damaged, and a valid record follows at byte {p}"
                )));
            }
            break;
        };
        if let Some(before) = entries.last() {
            if entry.log_id.index != before.log_id.index + 1 {
                return Err(corrupt(format!(
                    "the Raft log's record at byte {at} holds entry {} after entry {}",
                    entry.log_id.index, before.log_id.index
                )));
            }
        }
        entries.push(Place {
            seg,
            offset: at as u64,
            len: len as u64,
            log_id: entry.log_id,
        });
        at += len;
    }
    Ok(Scanned {
        entries,
        end: at as u64,
    })
}

/// Replaces file `name` in `dir` with `value`, atomically and durably.
pub(crate) fn write_small<T: Serialize>(dir: &Path, name: &str, value: &T) -> io::Result<()> {
    let bytes = small_bytes(value)?;
    let aside = dir.join(format!("{name}.new"));
    {
        let mut file = File::create(&aside)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&aside, dir.join(name))?;
    sync_dir(dir)
}

/// Syncs directory `dir` (after a file in it was made, renamed or removed).
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The bytes of a small file: `[crc32 of body: u32 LE][body: postcard]`.
fn small_bytes<T: Serialize>(value: &T) -> io::Result<Vec<u8>> {
    let body = postcard::to_allocvec(value).map_err(|e| corrupt(format!("encode: {e}")))?;
    let mut bytes = crc32fast::hash(&body).to_le_bytes().to_vec();
    bytes.extend_from_slice(&body);
    Ok(bytes)
}

/// Reads file `name` of `dir` written by [`write_small`], if it exists.
pub(crate) fn read_small<T: DeserializeOwned>(dir: &Path, name: &str) -> io::Result<Option<T>> {
    let bytes = match std::fs::read(dir.join(name)) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if bytes.len() < 4 {
        return Err(corrupt(format!("{name} is {} bytes long", bytes.len())));
    }
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[..4]);
    if crc32fast::hash(&bytes[4..]) != u32::from_le_bytes(word) {
        return Err(corrupt(format!("{name} fails its checksum")));
    }
    postcard::from_bytes(&bytes[4..])
        .map(Some)
        .map_err(|e| corrupt(format!("{name} does not decode: {e}")))
}

/// The log's state, shared by the store and its readers.
struct Inner {
    dir: PathBuf,
    /// The active segment (shared with the flusher, which syncs it outside the lock).
    file: Arc<File>,
    /// The sealed segments, by their first entry's index.
    sealed: BTreeMap<u64, File>,
    /// What openraft is to be told once the records appended since the last sync are synced,
    /// in the order they were appended.
    unsynced: Vec<IOFlushed<TypeConfig>>,
    /// Where each entry's record is, by index.
    entries: BTreeMap<u64, Place>,
    /// Where the next record goes in the active segment.
    end: u64,
    /// The active segment is sealed once it holds this many bytes.
    segment_bytes: u64,
    vote: Option<Vote>,
    purged: Option<LogId>,
    /// The write that failed, after which the store refuses everything (fail-stop).
    failed: Option<String>,
    /// Injected faults (tests only).
    faults: Arc<Faults>,
}

/// Faults a test injects into a log store, to see the node stop and come back.
#[derive(Default, Debug)]
pub struct Faults {
    /// When non-zero: the log's syncs of appended entries counted so far, and the one (1-based)
    /// that is to fail.
    syncs: std::sync::atomic::AtomicU64,
    fail_sync: std::sync::atomic::AtomicU64,
}

impl Faults {
    /// Makes the `n`-th sync of appended entries from now fail (as a disk's `EIO` would).
    pub fn fail_sync(&self, n: u64) {
        use std::sync::atomic::Ordering::SeqCst;
        self.syncs.store(0, SeqCst);
        self.fail_sync.store(n, SeqCst);
    }

    /// The injected failure of this sync, if it is the one to fail.
    fn sync(&self) -> io::Result<()> {
        use std::sync::atomic::Ordering::SeqCst;
        let target = self.fail_sync.load(SeqCst);
        if target == 0 {
            return Ok(());
        }
        if self.syncs.fetch_add(1, SeqCst) + 1 == target {
            return Err(io::Error::other("injected: fdatasync failed (EIO)"));
        }
        Ok(())
    }
}

impl Inner {
    /// Forgets the entries up to `log_id`: the mark first (a crash after it leaves purged
    /// entries in their segments, skipped on open), then every sealed segment that holds only
    /// purged entries is removed. Entries are never copied.
    fn purge(&mut self, log_id: LogId) -> io::Result<()> {
        debug_assert!(
            self.purged.as_ref().is_none_or(|p| p.index <= log_id.index),
            "purge goes forward"
        );
        write_small(&self.dir, "purged", &log_id)?;
        self.purged = Some(log_id);
        self.entries = self.entries.split_off(&(log_id.index + 1));
        // The segment of the first entry kept, and every later one, stay.
        let keep_from = self.entries.values().next().map_or(Seg::Active, |p| p.seg);
        if self.entries.is_empty() && self.end > 0 {
            // Everything is purged (a snapshot past the log's end was installed): the active
            // segment begins again, so that the entries appended next follow nothing.
            self.file.set_len(0)?;
            self.file.sync_data()?;
            self.end = 0;
        }
        let gone: Vec<u64> = self
            .sealed
            .keys()
            .copied()
            .filter(|&first| Seg::Sealed(first) < keep_from)
            .collect();
        if gone.is_empty() {
            return Ok(());
        }
        for first in gone {
            self.sealed.remove(&first);
            std::fs::remove_file(self.dir.join(sealed_name(first)))?;
        }
        sync_dir(&self.dir)
    }

    /// Seals the active segment (renamed after its first entry) and begins a new one, once it
    /// holds `segment_bytes`. It is synced first: the flusher syncs only the active segment,
    /// and a sealed one is never written again.
    fn roll(&mut self) -> io::Result<()> {
        if self.end < self.segment_bytes {
            return Ok(());
        }
        let Some(first) = self
            .entries
            .values()
            .find(|p| p.seg == Seg::Active)
            .map(|p| p.log_id.index)
        else {
            return Ok(());
        };
        self.file.sync_data()?;
        std::fs::rename(self.dir.join(ACTIVE), self.dir.join(sealed_name(first)))?;
        let fresh = OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(self.dir.join(ACTIVE))?;
        sync_dir(&self.dir)?;
        let sealed = std::mem::replace(&mut self.file, Arc::new(fresh));
        // The flusher may hold the sealed segment's file for a moment (a sync of it, harmless):
        // a handle of its own keeps the segment readable either way.
        let sealed = match Arc::try_unwrap(sealed) {
            Ok(file) => file,
            Err(shared) => shared.try_clone()?,
        };
        self.sealed.insert(first, sealed);
        for place in self.entries.range_mut(first..).map(|(_, p)| p) {
            debug_assert_eq!(place.seg, Seg::Active);
            place.seg = Seg::Sealed(first);
        }
        self.end = 0;
        Ok(())
    }

    /// Cuts the log at `offset` of the sealed segment `first`: the segments after it go (the
    /// active one first), it is cut and becomes the active one. A crash on the way leaves
    /// entries that were to go (as a crash before the truncation would), never a gap: the later
    /// segments go before the one they follow is cut.
    fn cut_sealed(&mut self, first: u64, offset: u64) -> io::Result<()> {
        std::fs::remove_file(self.dir.join(ACTIVE))?;
        let later: Vec<u64> = self.sealed.range(first + 1..).map(|(k, _)| *k).collect();
        for k in later.into_iter().rev() {
            self.sealed.remove(&k);
            std::fs::remove_file(self.dir.join(sealed_name(k)))?;
        }
        let name = sealed_name(first);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(self.dir.join(&name))?;
        file.set_len(offset)?;
        file.sync_data()?;
        std::fs::rename(self.dir.join(&name), self.dir.join(ACTIVE))?;
        sync_dir(&self.dir)?;
        self.sealed.remove(&first);
        self.file = Arc::new(file);
        for place in self.entries.range_mut(first..).map(|(_, p)| p) {
            place.seg = Seg::Active;
        }
        Ok(())
    }

    /// The file of segment `seg`.
    fn file_of(&self, seg: Seg) -> io::Result<&File> {
        match seg {
            Seg::Active => Ok(self.file.as_ref()),
            Seg::Sealed(first) => self.sealed.get(&first).ok_or_else(|| {
                io::Error::other(format!("no segment {} of the Raft log", sealed_name(first)))
            }),
        }
    }

    /// The entries at `places` (consecutive records), read back from the file and checked.
    fn read(&self, places: &[Place]) -> io::Result<Vec<Entry>> {
        let mut entries = Vec::with_capacity(places.len());
        let mut buffer = Vec::new();
        let mut rest = places;
        while let Some(first) = rest.first() {
            // As many records of one segment as fit in one read (at least one).
            let mut count = 1;
            while count < rest.len()
                && rest[count].seg == first.seg
                && rest[count].offset + rest[count].len - first.offset <= READ_BYTES_MAX
            {
                count += 1;
            }
            let last = rest[count - 1];
            buffer.resize((last.offset + last.len - first.offset) as usize, 0);
            self.file_of(first.seg)?
                .read_exact_at(&mut buffer, first.offset)?;
            for place in &rest[..count] {
                let at = (place.offset - first.offset) as usize;
                match record_at(&buffer[at..at + place.len as usize]) {
                    Some((entry, len)) if len as u64 == place.len && entry.log_id == place.log_id => {
                        entries.push(entry)
                    }
                    _ => {
                        return Err(corrupt(format!(
                            "the Raft log's record of entry {} at byte {} no longer reads back as it was written",
                            place.log_id.index, place.offset
                        )))
                    }
                }
            }
            rest = &rest[count..];
        }
        Ok(entries)
    }
}

/// The log as its store and the flusher share it.
struct Shared {
    inner: Mutex<Inner>,
    flush: Arc<Flush>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // The flusher holds the log weakly: woken, it finds it gone and ends.
        self.flush.wake.notify_one();
    }
}

/// The log's group commit. An append writes its records (readable at once: openraft replicates
/// them meanwhile) and returns; the flusher ([`start_flusher`]) syncs the active segment and
/// only then tells openraft the entries are durable — for every append made since its last
/// sync, in one `fdatasync`. So openraft's core never waits for the disk (it takes client
/// writes, and followers' answers, while the log syncs), and a busy node syncs once for many
/// appends.
struct Flush {
    /// Held while the log is synced and openraft called back, so that callbacks come in the
    /// order of the appends, and so that nothing is written after an append (a vote, a
    /// truncation, a purge) before that append is durable (openraft's rule: the log's writes
    /// take effect in the order they were asked for).
    order: Mutex<()>,
    /// Rung by each append, and when the store goes.
    wake: tokio::sync::Notify,
    /// Started by the first append (in openraft's runtime, which [`start_flusher`] needs).
    started: std::sync::Once,
}

impl Flush {
    fn order(&self) -> MutexGuard<'_, ()> {
        // It guards no data: a panic while it was held leaves nothing half-done to see.
        self.order
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Syncs the appends of `inner` made since the last sync, then calls back; the caller holds
/// [`Flush::order`]. The lock of `inner` is let go during the sync, so appends go on.
fn flush_appended(shared: &Shared, _order: &MutexGuard<'_, ()>) {
    let inner = &shared.inner;
    let (callbacks, file, faults) = {
        let Ok(mut inner) = inner.lock() else {
            return;
        };
        if inner.unsynced.is_empty() || inner.failed.is_some() {
            return;
        }
        (
            std::mem::take(&mut inner.unsynced),
            inner.file.clone(),
            inner.faults.clone(),
        )
    };
    let synced = file.sync_data().and_then(|()| faults.sync());
    if let Err(e) = &synced {
        tracing::error!("the Raft log failed a sync and stops: {e}");
        if let Ok(mut inner) = inner.lock() {
            inner.failed = Some(e.to_string());
        }
    }
    for callback in callbacks {
        callback.io_completed(
            synced
                .as_ref()
                .map(|_| ())
                .map_err(|e| io::Error::new(e.kind(), e.to_string())),
        );
    }
}

/// The flusher: syncs the log whenever it is rung, until the store goes.
async fn flusher(shared: Weak<Shared>, flush: Arc<Flush>) {
    loop {
        flush.wake.notified().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        flush_appended(&shared, &flush.order());
    }
}

/// Starts the flusher: on a thread of its own under a multi-threaded runtime (a server's), so
/// that a sync never holds one of the runtime's few workers; as a task on a single-threaded
/// runtime (a simulation's: there, a thread would make the order of events depend on the
/// operating system's scheduling, and the run would not replay).
fn start_flusher(shared: &Arc<Shared>) {
    let (weak, flush) = (Arc::downgrade(shared), shared.flush.clone());
    let runtime = tokio::runtime::Handle::current();
    if runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread {
        let spawned = std::thread::Builder::new()
            .name("sutra-raft-log-flusher".into())
            .spawn({
                let (weak, flush) = (weak.clone(), flush.clone());
                move || runtime.block_on(flusher(weak, flush))
            });
        if spawned.is_ok() {
            return;
        }
    }
    drop(Runtime::spawn_seeded(flusher(weak, flush)));
}

/// The durable Raft log (openraft's `RaftLogStorage`).
#[derive(Clone)]
pub struct LogStore {
    shared: Arc<Shared>,
    hint: Arc<Hint>,
}

/// The `committed` hint: one fixed-size record, `[crc32 of the rest: u32 LE][body length: u32
/// LE][body: postcard][zeros]` ([`HINT_BYTES`] in all), overwritten in place at every commit —
/// one write to the page cache, no new file, no rename, not synced (a hint: see
/// `save_committed`). A write torn by a crash fails the checksum and reads as no hint. The
/// first versions' file (`[crc32][postcard]`, replaced by a rename) is still read.
struct Hint {
    file: Mutex<File>,
}

/// The `committed` file's length from the second version on.
const HINT_BYTES: usize = 64;

impl Hint {
    fn open(dir: &Path) -> io::Result<Hint> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(dir.join("committed"))?;
        Ok(Hint {
            file: Mutex::new(file),
        })
    }

    fn save(&self, committed: Option<LogId>) -> io::Result<()> {
        let body =
            postcard::to_allocvec(&committed).map_err(|e| corrupt(format!("encode: {e}")))?;
        let mut record = [0u8; HINT_BYTES];
        if body.len() > HINT_BYTES - 8 {
            return Err(corrupt(format!("a committed hint of {} bytes", body.len())));
        }
        record[4..8].copy_from_slice(&(body.len() as u32).to_le_bytes());
        record[8..8 + body.len()].copy_from_slice(&body);
        let crc = crc32fast::hash(&record[4..]);
        record[..4].copy_from_slice(&crc.to_le_bytes());
        let file = self
            .file
            .lock()
            .map_err(|_| io::Error::other("a thread panicked while it held the hint"))?;
        file.write_all_at(&record, 0)
    }

    /// The hint in `dir`, if there is a readable one (of either version).
    fn read(dir: &Path) -> Option<LogId> {
        let bytes = std::fs::read(dir.join("committed")).ok()?;
        if bytes.len() == HINT_BYTES {
            let crc = u32::from_le_bytes(bytes[..4].try_into().ok()?);
            let len = u32::from_le_bytes(bytes[4..8].try_into().ok()?) as usize;
            if crc32fast::hash(&bytes[4..]) != crc || len > HINT_BYTES - 8 {
                return None;
            }
            return postcard::from_bytes::<Option<LogId>>(&bytes[8..8 + len])
                .ok()
                .flatten();
        }
        read_small::<Option<LogId>>(dir, "committed")
            .ok()
            .flatten()
            .flatten()
    }
}

impl LogStore {
    /// Opens the log in `dir` (made if missing): reads every record, drops a torn tail (the
    /// file is cut there, durably), refuses a corrupt log.
    pub fn open(dir: &Path) -> io::Result<LogStore> {
        Self::open_with_faults(dir, Arc::default())
    }

    /// [`LogStore::open`], with `faults` injected (for fault tests).
    pub fn open_with_faults(dir: &Path, faults: Arc<Faults>) -> io::Result<LogStore> {
        Self::open_with(dir, faults, SEGMENT_BYTES_DEFAULT)
    }

    /// [`LogStore::open`], with `faults` injected and segments sealed at `segment_bytes`.
    pub fn open_with(dir: &Path, faults: Arc<Faults>, segment_bytes: u64) -> io::Result<LogStore> {
        std::fs::create_dir_all(dir)?;
        let purged: Option<LogId> = read_small(dir, "purged")?;
        let is_purged = |index: u64| purged.as_ref().is_some_and(|p| index <= p.index);
        let mut firsts: Vec<u64> = std::fs::read_dir(dir)?
            .flatten()
            .filter_map(|e| sealed_first(&e.file_name().to_string_lossy()))
            .collect();
        firsts.sort_unstable();
        let mut places: Vec<Place> = Vec::new();
        let mut sealed = BTreeMap::new();
        let mut removed = false;
        for first in firsts {
            let name = sealed_name(first);
            let bytes = std::fs::read(dir.join(&name))?;
            // A sealed segment was synced whole before it was sealed: any damage in it, at its
            // end too, is corruption.
            let scanned = scan(&bytes, Seg::Sealed(first))?;
            if scanned.end != bytes.len() as u64 {
                return Err(corrupt(format!(
                    "the Raft log's sealed segment {name} is damaged at byte {}",
                    scanned.end
                )));
            }
            match (scanned.entries.first(), scanned.entries.last()) {
                (Some(head), Some(tail)) if head.log_id.index == first => {
                    if is_purged(tail.log_id.index) {
                        // Left by a purge that stopped before it removed it.
                        std::fs::remove_file(dir.join(&name))?;
                        removed = true;
                        continue;
                    }
                }
                _ => {
                    return Err(corrupt(format!(
                        "the Raft log's sealed segment {name} does not begin with entry {first}"
                    )))
                }
            }
            sealed.insert(first, File::open(dir.join(&name))?);
            places.extend(scanned.entries);
        }
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(dir.join(ACTIVE))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let scanned = scan(&bytes, Seg::Active)?;
        if scanned.end < bytes.len() as u64 {
            file.set_len(scanned.end)?;
            file.sync_all()?;
        }
        places.extend(scanned.entries);
        if removed {
            sync_dir(dir)?;
        }
        // The segments follow each other: consecutive indexes across them too.
        for pair in places.windows(2) {
            if pair[1].log_id.index != pair[0].log_id.index + 1 {
                return Err(corrupt(format!(
                    "the Raft log holds entry {} after entry {} (segments {:?}, {:?})",
                    pair[1].log_id.index, pair[0].log_id.index, pair[0].seg, pair[1].seg
                )));
            }
        }
        let vote = read_small(dir, "vote")?;
        let entries = places
            .into_iter()
            .filter(|place| !is_purged(place.log_id.index))
            .map(|place| (place.log_id.index, place))
            .collect();
        Ok(LogStore {
            hint: Arc::new(Hint::open(dir)?),
            shared: Arc::new(Shared {
                flush: Arc::new(Flush {
                    order: Mutex::new(()),
                    wake: tokio::sync::Notify::new(),
                    started: std::sync::Once::new(),
                }),
                inner: Mutex::new(Inner {
                    dir: dir.to_path_buf(),
                    file: Arc::new(file),
                    sealed,
                    unsynced: Vec::new(),
                    entries,
                    end: scanned.end,
                    segment_bytes: segment_bytes.max(1),
                    vote,
                    purged,
                    failed: None,
                    faults,
                }),
            }),
        })
    }

    /// The store, unless a write of it failed before (then nothing more is done: fail-stop).
    fn lock(&self) -> io::Result<MutexGuard<'_, Inner>> {
        let inner = self
            .shared
            .inner
            .lock()
            .map_err(|_| io::Error::other("a thread panicked while it held the Raft log"))?;
        if let Some(failed) = &inner.failed {
            return Err(io::Error::other(format!(
                "the Raft log stopped after a failed write ({failed}); restart the node"
            )));
        }
        Ok(inner)
    }

    /// Runs `write` on the store; if it fails, the store refuses everything after it.
    fn writing<T>(&self, write: impl FnOnce(&mut Inner) -> io::Result<T>) -> io::Result<T> {
        let mut inner = self.lock()?;
        let result = write(&mut inner);
        if let Err(e) = &result {
            tracing::error!("the Raft log failed a write and stops: {e}");
            inner.failed = Some(e.to_string());
        }
        result
    }

    /// [`LogStore::writing`], once every append before it is durable (synced here if the
    /// flusher has not yet), so that writes take effect in the order openraft asked for them.
    fn writing_in_order<T>(
        &self,
        write: impl FnOnce(&mut Inner) -> io::Result<T>,
    ) -> io::Result<T> {
        let order = self.shared.flush.order();
        flush_appended(&self.shared, &order);
        self.writing(write)
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        let inner = self.lock()?;
        let places: Vec<Place> = inner.entries.range(range).map(|(_, p)| *p).collect();
        inner.read(&places)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        Ok(self.lock()?.vote)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let inner = self.lock()?;
        let last = inner
            .entries
            .values()
            .next_back()
            .map(|p| p.log_id)
            .or_else(|| inner.purged);
        Ok(LogState {
            last_purged_log_id: inner.purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        self.writing_in_order(|inner| {
            write_small(&inner.dir, "vote", vote)?;
            inner.vote = Some(*vote);
            Ok(())
        })
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        // A hint, not a promise: it is written after the entries are committed, so it is never
        // ahead of the truth, and losing it (a crash before the rename reaches the disk) only
        // means a restart re-applies less before the leader says more. So it is not synced,
        // and it is overwritten in place outside the log's lock (a new file and a rename at
        // every commit, under the lock, had cost a tenth of a busy node's time).
        drop(self.lock()?);
        self.hint.save(committed)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        let inner = self.lock()?;
        // A damaged hint is no hint (see save_committed).
        let committed = Hint::read(&inner.dir);
        // Never past the log's end (entries at or below the purge mark count as there).
        let last = inner
            .entries
            .keys()
            .next_back()
            .copied()
            .or(inner.purged.map(|p| p.index));
        Ok(committed.filter(|c| last.is_some_and(|l| c.index <= l)))
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: IOFlushed<TypeConfig>,
    ) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut callback = Some(callback);
        let result = self.writing(|inner| {
            let mut bytes = Vec::new();
            let mut placed: Vec<Place> = Vec::new();
            let mut at = inner.end;
            for entry in entries {
                if let Some((_, last)) = inner.entries.iter().next_back() {
                    let next = placed.last().map_or(last.log_id.index, |p| p.log_id.index) + 1;
                    if entry.log_id.index != next {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidInput,
                            format!("entry {} appended where {next} was due", entry.log_id.index),
                        ));
                    }
                }
                let record = encode_record(&entry)?;
                bytes.extend_from_slice(&record);
                placed.push(Place {
                    seg: Seg::Active,
                    offset: at,
                    len: record.len() as u64,
                    log_id: entry.log_id,
                });
                at += record.len() as u64;
            }
            inner.file.write_all_at(&bytes, inner.end)?;
            for place in placed {
                inner.entries.insert(place.log_id.index, place);
            }
            inner.end = at;
            inner.roll()?;
            // Durable once the flusher has synced it (`roll` may have already).
            inner.unsynced.extend(callback.take());
            Ok(())
        });
        match result {
            Ok(()) => {
                let flush = &self.shared.flush;
                flush.started.call_once(|| start_flusher(&self.shared));
                flush.wake.notify_one();
                Ok(())
            }
            Err(e) => {
                if let Some(callback) = callback {
                    callback.io_completed(Err(io::Error::new(e.kind(), e.to_string())));
                }
                Err(e)
            }
        }
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        self.writing_in_order(|inner| {
            let first_gone = last_log_id.map_or(0, |id| id.index + 1);
            let Some((&index, &Place { seg, offset, .. })) =
                inner.entries.range(first_gone..).next()
            else {
                return Ok(());
            };
            debug_assert!(index >= first_gone);
            inner.entries.split_off(&first_gone);
            match seg {
                Seg::Active => {
                    inner.file.set_len(offset)?;
                    inner.file.sync_data()?;
                }
                Seg::Sealed(first) => inner.cut_sealed(first, offset)?,
            }
            inner.end = offset;
            Ok(())
        })
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        self.writing_in_order(|inner| inner.purge(log_id))
    }
}
