//! The state machine: the cluster's memories, each a core [`Replica`], applied in log order with
//! the core's deterministic check. Applying does no I/O; the state is made durable by
//! snapshots, which openraft takes every so many entries before it purges the log they cover.
//!
//! A snapshot is one file on disk, and its data (what openraft hands the network and the
//! follower) is that file, open: the memories' images in the core's snapshot format (a
//! `storage.dat` each, written as they are encoded, never held whole), then a manifest (the
//! Raft entry and membership it covers, where each memory's image is, the idempotency keys),
//! then a trailer that finds the manifest. It is written aside, synced and renamed (the
//! directory synced) before it counts; a node that starts loads it, then re-applies the log
//! after it. A follower receives one into its `incoming/` directory piece by piece
//! ([`crate::network`]), checks it whole by loading it, and renames it in place.
//! Files of the two earlier formats (one checksummed postcard value) are read, and rewritten in
//! the current format when the node opens them.

use crate::command::{Applied, Command, KEYS_KEPT};
use crate::log::sync_dir;
use crate::raft::{LogId, Payload, Snapshot, SnapshotMeta, StoredMembership, TypeConfig};
use futures_util::{Stream, StreamExt};
use openraft::storage::{EntryResponder, RaftSnapshotBuilder, RaftStateMachine};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::RwLock;
use std::sync::{Arc, Mutex};
use sutra_core::{HnswParams, Op, Reader, Replica};

/// The memories of a node's state, shared with the node's readers: the state machine changes
/// it as it applies the log (a memory made, dropped, or every one replaced by a snapshot), and
/// readers (the HTTP API) look memories up in it without waiting for the state machine.
#[derive(Clone, Default)]
pub struct Catalog {
    memories: Arc<RwLock<BTreeMap<String, Replica>>>,
    keys: Arc<RwLock<Keys>>,
}

impl Catalog {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Replica>> {
        // Only the state machine writes, and it leaves the map whole (an insert or remove, or
        // a replacement built aside); a panic elsewhere cannot leave it half changed.
        self.memories
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Replica>> {
        self.memories
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The idempotency keys.
    pub fn keys(&self) -> std::sync::RwLockReadGuard<'_, Keys> {
        self.keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn keys_mut(&self) -> std::sync::RwLockWriteGuard<'_, Keys> {
        self.keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The memory `name`.
    pub fn get(&self, name: &str) -> Option<Replica> {
        self.read().get(name).cloned()
    }

    /// The names of the memories, in order.
    pub fn names(&self) -> Vec<String> {
        self.read().keys().cloned().collect()
    }

    /// Every memory, in name order.
    pub fn all(&self) -> Vec<(String, Replica)> {
        self.read()
            .iter()
            .map(|(name, replica)| (name.clone(), replica.clone()))
            .collect()
    }
}

/// The idempotency keys the state keeps: each key's request digest and answer, and the keys
/// in the order they came (the oldest is forgotten first past [`KEYS_KEPT`]).
#[derive(Default)]
pub struct Keys {
    answers: HashMap<String, (u64, Applied)>,
    order: VecDeque<String>,
}

impl Keys {
    /// Whether `key` is kept.
    pub fn contains(&self, key: &str) -> bool {
        self.answers.contains_key(key)
    }

    fn get(&self, key: &str) -> Option<&(u64, Applied)> {
        self.answers.get(key)
    }

    fn insert(&mut self, key: String, digest: u64, answer: Applied) {
        if self.answers.insert(key.clone(), (digest, answer)).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > KEYS_KEPT {
            if let Some(oldest) = self.order.pop_front() {
                self.answers.remove(&oldest);
            }
        }
        debug_assert_eq!(self.order.len(), self.answers.len());
    }

    fn image(&self) -> Vec<(String, u64, Applied)> {
        self.order
            .iter()
            .filter_map(|k| self.answers.get(k).map(|(d, a)| (k.clone(), *d, a.clone())))
            .collect()
    }

    fn from_image(image: Vec<(String, u64, Applied)>) -> Keys {
        let mut keys = Keys::default();
        for (key, digest, answer) in image {
            keys.insert(key, digest, answer);
        }
        keys
    }
}

/// The memories and what was applied last.
#[derive(Default)]
struct State {
    memories: Catalog,
    last_applied: Option<LogId>,
    membership: StoredMembership,
}

/// A snapshot's data as the first version wrote it (no magic, no keys): still read.
#[derive(Serialize, Deserialize)]
struct ImageV1 {
    last_applied: Option<LogId>,
    membership: StoredMembership,
    memories: Vec<(String, Vec<u8>)>,
}

/// The first bytes of the second version's snapshot data (a version 1 image starts with an
/// option's tag, 0 or 1, so it never starts with these).
const IMAGE_V2_MAGIC: &[u8; 8] = b"SUTRAIM2";

/// A snapshot's data in the second version (after [`IMAGE_V2_MAGIC`]): what was applied last,
/// the membership, each memory's image, and the idempotency keys in the order they came.
#[derive(Serialize, Deserialize)]
struct ImageV2 {
    last_applied: Option<LogId>,
    membership: StoredMembership,
    memories: Vec<(String, Vec<u8>)>,
    keys: Vec<(String, u64, Applied)>,
}

impl ImageV2 {
    /// Decodes the data of a snapshot file of the first two versions.
    fn decode(data: &[u8]) -> io::Result<ImageV2> {
        let bad = |e: postcard::Error| invalid(e.to_string());
        match data.strip_prefix(IMAGE_V2_MAGIC.as_slice()) {
            Some(rest) => postcard::from_bytes(rest).map_err(bad),
            None => {
                let v1: ImageV1 = postcard::from_bytes(data).map_err(bad)?;
                Ok(ImageV2 {
                    last_applied: v1.last_applied,
                    membership: v1.membership,
                    memories: v1.memories,
                    keys: Vec::new(),
                })
            }
        }
    }
}

fn invalid(why: impl ToString) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.to_string())
}

/// The magic bytes that start and end a snapshot file of the current (third) version.
pub const FILE_MAGIC: &[u8; 8] = b"SUTRANS3";
/// The trailer: manifest length (u64 LE), crc32 of the manifest (u32 LE), crc32 of every byte
/// before the trailer (u32 LE: checked when a transfer ends, before the file is loaded),
/// [`FILE_MAGIC`].
const TRAILER_BYTES: u64 = 24;
/// Largest manifest a node reads (it holds names, offsets and up to `KEYS_KEPT` keys with
/// their answers).
const MANIFEST_BYTES_MAX: u64 = 256 * 1024 * 1024;
/// Largest memory image a node loads from a snapshot file.
const IMAGE_BYTES_MAX: u64 = 64 * 1024 * 1024 * 1024;

/// What a snapshot file holds besides the images: what it covers, where each memory's image
/// is, and the idempotency keys in the order they came.
#[derive(Serialize, Deserialize, Debug)]
struct Manifest {
    meta: SnapshotMeta,
    memories: Vec<Part>,
    keys: Vec<(String, u64, Applied)>,
}

/// Where a memory's image is in a snapshot file.
#[derive(Serialize, Deserialize, Debug)]
struct Part {
    name: String,
    offset: u64,
    len: u64,
}

/// A snapshot's data: its file, open. A newer snapshot may take the file's name meanwhile; this
/// one stays readable for as long as it is held (what a transfer under way needs).
#[derive(Clone, Debug)]
pub struct SnapshotFile {
    file: Arc<File>,
    len: u64,
    path: PathBuf,
}

impl SnapshotFile {
    /// The snapshot file at `path`.
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        Ok(SnapshotFile {
            file: Arc::new(file),
            len,
            path: path.to_path_buf(),
        })
    }

    /// Its length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether it has no bytes (never true of a whole snapshot file).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Where it was opened.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Fills `buf` with its bytes from `offset` on.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let end = offset.checked_add(buf.len() as u64);
        if end.is_none_or(|end| end > self.len) {
            return Err(invalid(format!(
                "{} bytes at {offset} are past the end of a snapshot file of {}",
                buf.len(),
                self.len
            )));
        }
        self.file.read_exact_at(buf, offset)
    }

    /// The bytes from `offset`, `len` of them.
    fn bytes(&self, offset: u64, len: u64) -> io::Result<Vec<u8>> {
        let len = usize::try_from(len).map_err(invalid)?;
        let mut buf = vec![0u8; len];
        self.read_at(offset, &mut buf)?;
        Ok(buf)
    }

    /// Whether it is of the current format (starts with [`FILE_MAGIC`]).
    fn is_current(&self) -> io::Result<bool> {
        if self.len < FILE_MAGIC.len() as u64 {
            return Ok(false);
        }
        Ok(self.bytes(0, FILE_MAGIC.len() as u64)? == FILE_MAGIC)
    }

    /// Reads and checks its manifest: the trailer, the manifest's checksum, and that the images
    /// lie in order between the first magic and the manifest.
    fn manifest(&self) -> io::Result<Manifest> {
        let magic = FILE_MAGIC.len() as u64;
        if self.len < magic + TRAILER_BYTES {
            return Err(invalid(format!(
                "a snapshot file of {} bytes is shorter than its magic and trailer",
                self.len
            )));
        }
        let trailer = self.trailer()?;
        if self.bytes(0, magic)? != FILE_MAGIC || trailer.magic != *FILE_MAGIC {
            return Err(invalid(
                "the snapshot file does not start and end with its magic bytes (cut short?)",
            ));
        }
        let (len, crc) = (trailer.manifest_len, trailer.manifest_crc);
        let room = self.len - magic - TRAILER_BYTES;
        if len > room || len > MANIFEST_BYTES_MAX {
            return Err(invalid(format!(
                "the snapshot file's manifest claims {len} bytes; {room} are there (limit {MANIFEST_BYTES_MAX})"
            )));
        }
        let manifest_at = self.len - TRAILER_BYTES - len;
        let bytes = self.bytes(manifest_at, len)?;
        if crc32fast::hash(&bytes) != crc {
            return Err(invalid("the snapshot file's manifest fails its checksum"));
        }
        let manifest: Manifest = postcard::from_bytes(&bytes)
            .map_err(|e| invalid(format!("the snapshot file's manifest: {e}")))?;
        let mut at = magic;
        for part in &manifest.memories {
            let end = part.offset.checked_add(part.len);
            if part.offset != at || end.is_none_or(|end| end > manifest_at) {
                return Err(invalid(format!(
                    "memory {:?}'s image ({} bytes at {}) is not where the images are",
                    part.name, part.len, part.offset
                )));
            }
            at += part.len;
        }
        if at != manifest_at {
            return Err(invalid(
                "the snapshot file holds bytes no manifest entry names",
            ));
        }
        Ok(manifest)
    }

    /// Checks the whole file against the checksum in its trailer (what a follower does when
    /// the last piece of a transfer arrives), then its manifest.
    pub fn verify(&self) -> io::Result<()> {
        let want = self.trailer()?.body_crc;
        let mut crc = crc32fast::Hasher::new();
        self.each_piece(self.len - TRAILER_BYTES, |piece| {
            crc.update(piece);
            Ok(())
        })?;
        if crc.finalize() != want {
            return Err(invalid("the snapshot file fails its checksum"));
        }
        self.manifest().map(drop)
    }

    /// The trailer (the file's last [`TRAILER_BYTES`]).
    fn trailer(&self) -> io::Result<Trailer> {
        if self.len < TRAILER_BYTES {
            return Err(invalid(format!(
                "a snapshot file of {} bytes is shorter than its trailer",
                self.len
            )));
        }
        let bytes = self.bytes(self.len - TRAILER_BYTES, TRAILER_BYTES)?;
        let word = |at: usize, n: usize| {
            let mut x = [0u8; 8];
            x[..n].copy_from_slice(&bytes[at..at + n]);
            u64::from_le_bytes(x)
        };
        let mut magic = [0u8; 8];
        magic.copy_from_slice(&bytes[16..24]);
        Ok(Trailer {
            manifest_len: word(0, 8),
            manifest_crc: word(8, 4) as u32,
            body_crc: word(12, 4) as u32,
            magic,
        })
    }

    /// Hands `each` the file's bytes before `end`, in pieces of at most [`COPY_PIECE_BYTES`].
    fn each_piece(
        &self,
        end: u64,
        mut each: impl FnMut(&[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        let mut piece = vec![0u8; COPY_PIECE_BYTES];
        let mut at = 0;
        while at < end {
            let n = (end - at).min(COPY_PIECE_BYTES as u64) as usize;
            self.read_at(at, &mut piece[..n])?;
            each(&piece[..n])?;
            at += n as u64;
        }
        Ok(())
    }

    /// Loads every memory (each image checked whole by the core): the manifest and the
    /// memories, or why the file cannot be loaded.
    fn load(&self, params: HnswParams) -> io::Result<(Manifest, BTreeMap<String, Replica>)> {
        let manifest = self.manifest()?;
        let mut memories = BTreeMap::new();
        for part in &manifest.memories {
            if part.len > IMAGE_BYTES_MAX {
                return Err(invalid(format!(
                    "memory {:?}'s image of {} bytes passes the limit of {IMAGE_BYTES_MAX}",
                    part.name, part.len
                )));
            }
            let bytes = self.bytes(part.offset, part.len)?;
            let replica = Replica::from_snapshot(&bytes, params)
                .map_err(|e| invalid(format!("memory {:?}: {e}", part.name)))?;
            if memories.insert(part.name.clone(), replica).is_some() {
                return Err(invalid(format!(
                    "memory {:?} is twice in the snapshot file",
                    part.name
                )));
            }
        }
        Ok((manifest, memories))
    }

    /// Copies it to a new file at `path` (synced), piece by piece.
    fn copy_to(&self, path: &Path) -> io::Result<()> {
        let mut out = File::create(path)?;
        self.each_piece(self.len, |piece| out.write_all(piece))?;
        out.sync_all()
    }
}

/// A snapshot file's trailer.
struct Trailer {
    manifest_len: u64,
    manifest_crc: u32,
    /// The CRC of every byte before the trailer.
    body_crc: u32,
    magic: [u8; 8],
}

/// How much is read at a time when a snapshot file is copied or checked.
const COPY_PIECE_BYTES: usize = 1024 * 1024;

/// A writer that counts and checksums what it passes on.
struct Counted<W> {
    out: W,
    written: u64,
    crc: crc32fast::Hasher,
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let n = self.out.write(bytes)?;
        self.written += n as u64;
        self.crc.update(&bytes[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Writes a snapshot file of the current format at `path` (not synced): the memories' images
/// as the core encodes them, then the manifest and the trailer. Returns its length.
fn write_file(
    path: &Path,
    meta: &SnapshotMeta,
    memories: &[(String, Replica)],
    keys: Vec<(String, u64, Applied)>,
) -> io::Result<u64> {
    let file = File::create(path)?;
    let mut out = Counted {
        out: io::BufWriter::with_capacity(COPY_PIECE_BYTES, file),
        written: 0,
        crc: crc32fast::Hasher::new(),
    };
    out.write_all(FILE_MAGIC)?;
    let mut parts = Vec::with_capacity(memories.len());
    for (name, replica) in memories {
        let offset = out.written;
        let len = replica
            .write_snapshot(&mut out)
            .map_err(|e| io::Error::other(format!("memory {name:?}: {e}")))?;
        debug_assert_eq!(out.written, offset + len, "the core says what it wrote");
        parts.push(Part {
            name: name.clone(),
            offset,
            len,
        });
    }
    let manifest = postcard::to_allocvec(&Manifest {
        meta: meta.clone(),
        memories: parts,
        keys,
    })
    .map_err(|e| io::Error::other(format!("the manifest: {e}")))?;
    out.write_all(&manifest)?;
    let body = out.crc.clone().finalize();
    out.write_all(&(manifest.len() as u64).to_le_bytes())?;
    out.write_all(&crc32fast::hash(&manifest).to_le_bytes())?;
    out.write_all(&body.to_le_bytes())?;
    out.write_all(FILE_MAGIC)?;
    out.flush()?;
    Ok(out.written)
}

/// The state machine (openraft's `RaftStateMachine`).
pub struct StateMachine {
    state: State,
    params: HnswParams,
    /// The description of the snapshot in `dir`, if there is one; the lock is held while the
    /// file under the name changes, so that the name and the description agree.
    current: Arc<Mutex<Option<SnapshotMeta>>>,
    times: Arc<SnapshotTimes>,
    /// Where snapshots are kept.
    dir: PathBuf,
    /// The temporary directory of a state machine made without one (removed when it goes).
    _scratch: Option<Arc<tempfile::TempDir>>,
}

/// How many snapshots a node built and installed, and how long the last of each took (for
/// `/metrics`).
#[derive(Default, Debug)]
pub struct SnapshotTimes {
    /// Snapshots built (the state written to disk).
    pub built: AtomicU64,
    /// Microseconds the last build took.
    pub build_micros: AtomicU64,
    /// Snapshots installed (sent by the leader).
    pub installed: AtomicU64,
    /// Microseconds the last install took.
    pub install_micros: AtomicU64,
    /// Snapshot bytes received from the leader, over all transfers (resumed ones count once).
    pub received_bytes: AtomicU64,
    /// Snapshot bytes sent to followers, over all transfers.
    pub sent_bytes: AtomicU64,
}

impl SnapshotTimes {
    fn record(count: &AtomicU64, micros: &AtomicU64, since: std::time::Instant) {
        micros.store(
            since.elapsed().as_micros().min(u128::from(u64::MAX)) as u64,
            Relaxed,
        );
        count.fetch_add(1, Relaxed);
    }
}

/// The file a node's snapshot is kept in.
pub const SNAPSHOT_FILE: &str = "snapshot";
/// The start of the names of snapshot files being written aside (removed when a node opens).
const ASIDE_PREFIX: &str = "snapshot.";
/// Where a follower receives snapshot files.
pub const INCOMING_DIR: &str = "incoming";

/// The description of the snapshot in place.
fn lock(
    current: &Mutex<Option<SnapshotMeta>>,
) -> io::Result<std::sync::MutexGuard<'_, Option<SnapshotMeta>>> {
    current
        .lock()
        .map_err(|_| io::Error::other("a thread panicked while it held the snapshot"))
}

/// Puts the synced file `from` in place as the snapshot of `dir` described by `meta`: renamed,
/// the directory synced, under the lock that keeps the name and the description in step; the
/// file returned open is that one, whatever takes the name later.
fn put_in_place(
    current: &Mutex<Option<SnapshotMeta>>,
    dir: &Path,
    from: &Path,
    meta: &SnapshotMeta,
) -> io::Result<SnapshotFile> {
    let mut current = lock(current)?;
    let path = dir.join(SNAPSHOT_FILE);
    std::fs::rename(from, &path)?;
    sync_dir(dir)?;
    *current = Some(meta.clone());
    SnapshotFile::open(&path)
}

impl Default for StateMachine {
    fn default() -> Self {
        StateMachine::new(HnswParams::default())
    }
}

/// Numbers the files written aside, so that two never share a name.
static ASIDE: AtomicU64 = AtomicU64::new(0);

impl StateMachine {
    /// An empty state machine whose memories' vector indexes use `params`, keeping its
    /// snapshots in a temporary directory of its own (for tests of the state machine alone).
    ///
    /// # Panics
    /// When no temporary directory can be made.
    pub fn new(params: HnswParams) -> Self {
        let scratch = tempfile::tempdir().expect("a temporary directory for snapshots");
        StateMachine {
            state: State::default(),
            params,
            current: Arc::new(Mutex::new(None)),
            times: Arc::default(),
            dir: scratch.path().to_path_buf(),
            _scratch: Some(Arc::new(scratch)),
        }
    }

    /// The counts and durations of its snapshots, shared.
    pub fn snapshot_times(&self) -> Arc<SnapshotTimes> {
        self.times.clone()
    }

    /// The state machine of the node whose directory is `dir`: the snapshot kept there, if
    /// any (a damaged one is an error: the node does not start on it). A snapshot of an
    /// earlier format is rewritten in the current one. Files left aside by a build or install
    /// that did not finish are removed.
    pub fn open(dir: &Path, params: HnswParams) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            if name.to_string_lossy().starts_with(ASIDE_PREFIX) {
                std::fs::remove_file(entry.path())?;
            }
        }
        let mut machine = StateMachine {
            state: State::default(),
            params,
            current: Arc::new(Mutex::new(None)),
            times: Arc::default(),
            dir: dir.to_path_buf(),
            _scratch: None,
        };
        let path = dir.join(SNAPSHOT_FILE);
        let file = match SnapshotFile::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(machine),
            Err(e) => return Err(e),
        };
        if file.is_current()? {
            let (manifest, memories) = file.load(params)?;
            machine.replace(manifest, memories)?;
        } else {
            machine.load_earlier()?;
        }
        Ok(machine)
    }

    /// Loads a snapshot file of the first two formats (one checksummed postcard value) and
    /// rewrites it in the current format.
    fn load_earlier(&mut self) -> io::Result<()> {
        let Some((meta, data)) =
            crate::log::read_small::<(SnapshotMeta, Vec<u8>)>(&self.dir, SNAPSHOT_FILE)?
        else {
            return Ok(());
        };
        let image = ImageV2::decode(&data)?;
        drop(data);
        let mut memories = BTreeMap::new();
        for (name, bytes) in image.memories {
            let replica = Replica::from_snapshot(&bytes, self.params)
                .map_err(|e| invalid(format!("memory {name:?}: {e}")))?;
            memories.insert(name, replica);
        }
        let manifest = Manifest {
            meta,
            memories: Vec::new(),
            keys: image.keys,
        };
        self.replace(manifest, memories)?;
        self.builder().finish()?;
        Ok(())
    }

    /// Replaces the state with a loaded snapshot's.
    fn replace(
        &mut self,
        manifest: Manifest,
        memories: BTreeMap<String, Replica>,
    ) -> io::Result<()> {
        let mut current = self.current()?;
        *current = Some(manifest.meta.clone());
        drop(current);
        *self.state.memories.write() = memories;
        *self.state.memories.keys_mut() = Keys::from_image(manifest.keys);
        self.state.last_applied = manifest.meta.last_log_id;
        self.state.membership = manifest.meta.last_membership;
        Ok(())
    }

    fn current(&self) -> io::Result<std::sync::MutexGuard<'_, Option<SnapshotMeta>>> {
        lock(&self.current)
    }

    /// Replaces the membership the state records (for `force_new_cluster`, which makes a new
    /// cluster of one node from this state), and where its snapshots are kept.
    pub(crate) fn reform(&mut self, membership: StoredMembership, dir: &Path) {
        self.state.membership = membership;
        self.dir = dir.to_path_buf();
    }

    /// The memory `name`, if the state has it.
    pub fn memory(&self, name: &str) -> Option<Reader> {
        self.state.memories.get(name).map(|r| r.reader())
    }

    /// The names of the memories, in order.
    pub fn memories(&self) -> Vec<String> {
        self.state.memories.names()
    }

    /// The memories, shared: readers look them up here while the state machine applies.
    pub fn catalog(&self) -> Catalog {
        self.state.memories.clone()
    }

    /// Applies one command as entry `seq` (what [`RaftStateMachine::apply`] does for each
    /// application entry, and answers to its writer): the same answer and state on every node.
    pub fn apply_command(&mut self, seq: u64, command: Command) -> Applied {
        let refused = Applied::refusal;
        match command {
            Command::Idempotent {
                key,
                digest,
                command,
            } => {
                let kept = self.state.memories.keys().get(&key).cloned();
                if let Some((kept_digest, answer)) = kept {
                    return if kept_digest == digest {
                        answer
                    } else {
                        refused(
                            "idempotency_key_reused",
                            format!("idempotency key {key:?} was used for another request"),
                        )
                    };
                }
                let answer = match *command {
                    Command::Idempotent { .. } => refused(
                        "invalid_argument",
                        "a keyed command holds another keyed command".to_string(),
                    ),
                    command => self.apply_command(seq, command),
                };
                self.state
                    .memories
                    .keys_mut()
                    .insert(key, digest, answer.clone());
                answer
            }
            Command::Create {
                name,
                dimension,
                language,
                indexed_keys,
            } => {
                if self.state.memories.get(&name).is_some() {
                    return refused("memory_exists", format!("memory {name:?} already exists"));
                }
                let replica = Replica::new(self.params);
                let dimension = dimension.map(|dimension| Op::SetDimension { dimension });
                let language = language.map(|language| Op::SetLanguage { language });
                let keys = (!indexed_keys.is_empty()).then(|| Op::index_metadata(indexed_keys));
                let ops: Vec<Op> = dimension.into_iter().chain(language).chain(keys).collect();
                if !ops.is_empty() {
                    if let Err(e) = replica.apply_checked(seq, ops) {
                        return Applied::refused(&e);
                    }
                }
                self.state.memories.write().insert(name, replica);
                Applied::Done { seq }
            }
            Command::DropMemory { name } => match self.state.memories.write().remove(&name) {
                Some(_) => Applied::Done { seq },
                None => refused("memory_not_found", format!("no memory {name:?}")),
            },
            command @ (Command::BatchV1 { .. }
            | Command::BatchV2 { .. }
            | Command::CreateMemory { .. }
            | Command::CreateV4 { .. }) => self.apply_command(seq, command.upgraded()),
            Command::Batch { memory, ops } => match self.state.memories.get(&memory) {
                Some(replica) => match replica.apply_checked(seq, ops) {
                    Ok(()) => Applied::Done { seq },
                    Err(e) => Applied::refused(&e),
                },
                None => refused("memory_not_found", format!("no memory {memory:?}")),
            },
        }
    }

    /// A snapshot of the state as it is now: written aside at once (the memories are written
    /// one after another as the core encodes them; applying waits meanwhile, readers do not),
    /// made durable and put in place by [`SnapshotBuilder::build_snapshot`].
    fn builder(&self) -> SnapshotBuilder {
        let (mut builder, memories, keys) = self.to_write();
        builder.write(&memories, keys);
        builder
    }

    /// [`builder`](Self::builder) on a thread made for blocking (a snapshot is hundreds of
    /// megabytes on a big memory): applying waits for it, but the async workers go on
    /// answering reads, heartbeats and the network meanwhile.
    async fn builder_off_the_workers(&self) -> SnapshotBuilder {
        let (mut builder, memories, keys) = self.to_write();
        let mut failed = builder.clone();
        let writing = tokio::task::spawn_blocking(move || {
            builder.write(&memories, keys);
            builder
        });
        match writing.await {
            Ok(builder) => builder,
            Err(e) => {
                failed.written = Err(format!("the thread writing it stopped: {e}"));
                failed
            }
        }
    }

    /// A builder of a snapshot of the state as it is now, not written yet, and what it writes.
    #[allow(clippy::type_complexity)]
    fn to_write(
        &self,
    ) -> (
        SnapshotBuilder,
        Vec<(String, Replica)>,
        Vec<(String, u64, Applied)>,
    ) {
        let builder = SnapshotBuilder {
            meta: SnapshotMeta {
                last_log_id: self.state.last_applied,
                last_membership: self.state.membership.clone(),
            },
            aside: self.dir.join(format!(
                "{ASIDE_PREFIX}building-{}",
                ASIDE.fetch_add(1, Relaxed)
            )),
            written: Err("not written yet".into()),
            current: self.current.clone(),
            dir: self.dir.clone(),
            times: self.times.clone(),
            started: std::time::Instant::now(),
        };
        (
            builder,
            self.state.memories.all(),
            self.state.memories.keys().image(),
        )
    }
}

/// Loads a snapshot received as `meta` (checked whole) and, when it loads and is what `meta`
/// says, puts it in place in `dir`: a file received into the node's directory is renamed;
/// another (the leader's own, in tests of nodes in one process) is copied first.
fn keep_received(
    current: &Mutex<Option<SnapshotMeta>>,
    dir: &Path,
    params: HnswParams,
    meta: &SnapshotMeta,
    snapshot: &SnapshotFile,
) -> io::Result<(Manifest, BTreeMap<String, Replica>)> {
    let (manifest, memories) = snapshot.load(params)?;
    if manifest.meta != *meta {
        return Err(invalid(format!(
            "the snapshot file covers {:?}, not the {:?} it was sent as",
            manifest.meta.last_log_id, meta.last_log_id
        )));
    }
    let received_here = snapshot
        .path()
        .parent()
        .is_some_and(|p| p == dir.join(INCOMING_DIR));
    let from = if received_here {
        File::open(snapshot.path())?.sync_all()?;
        snapshot.path().to_path_buf()
    } else {
        let aside = dir.join(format!(
            "{ASIDE_PREFIX}installing-{}",
            ASIDE.fetch_add(1, Relaxed)
        ));
        snapshot.copy_to(&aside)?;
        aside
    };
    put_in_place(current, dir, &from, meta)?;
    if received_here {
        sync_dir(&dir.join(INCOMING_DIR))?;
    }
    Ok((manifest, memories))
}

/// Builds a snapshot from a file written aside when it was asked for.
#[derive(Clone)]
pub struct SnapshotBuilder {
    meta: SnapshotMeta,
    /// Where it is written aside.
    aside: PathBuf,
    /// The length of the file written aside, or why it could not be written.
    written: Result<u64, String>,
    current: Arc<Mutex<Option<SnapshotMeta>>>,
    dir: PathBuf,
    times: Arc<SnapshotTimes>,
    /// When the state was taken.
    started: std::time::Instant,
}

impl SnapshotBuilder {
    /// Writes `memories` and `keys` (the state when it was asked for) aside.
    fn write(&mut self, memories: &[(String, Replica)], keys: Vec<(String, u64, Applied)>) {
        self.written =
            write_file(&self.aside, &self.meta, memories, keys).map_err(|e| e.to_string());
    }

    /// Syncs the file written aside and puts it in place; returns it, open.
    fn finish(&self) -> io::Result<SnapshotFile> {
        let len = self
            .written
            .clone()
            .map_err(|why| io::Error::other(format!("the snapshot was not written: {why}")))?;
        File::open(&self.aside)?.sync_all()?;
        let file = put_in_place(&self.current, &self.dir, &self.aside, &self.meta)?;
        debug_assert_eq!(file.len(), len, "the file in place is the one written");
        SnapshotTimes::record(&self.times.built, &self.times.build_micros, self.started);
        Ok(file)
    }
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    type SnapshotData = SnapshotFile;

    async fn build_snapshot(&mut self) -> Result<Snapshot, io::Error> {
        // Synced on a thread made for blocking, as it was written.
        let builder = self.clone();
        let file = tokio::task::spawn_blocking(move || builder.finish())
            .await
            .map_err(io::Error::other)??;
        Ok(Snapshot {
            meta: self.meta.clone(),
            snapshot: file,
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotData = SnapshotFile;
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), io::Error> {
        Ok((self.state.last_applied, self.state.membership.clone()))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>> + Unpin + Send,
    {
        while let Some(next) = entries.next().await {
            let (entry, responder) = next?;
            let seq = entry.log_id.index;
            let answer = match entry.payload {
                Payload::Blank => Applied::Done { seq },
                Payload::Normal(command) => self.apply_command(seq, command),
                Payload::Membership(membership) => {
                    self.state.membership = StoredMembership::new(Some(entry.log_id), membership);
                    Applied::Done { seq }
                }
            };
            self.state.last_applied = Some(entry.log_id);
            if let Some(responder) = responder {
                responder.send(answer);
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.builder_off_the_workers().await
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: SnapshotFile,
    ) -> Result<(), io::Error> {
        // Loaded (checked whole) first, kept only when it loads and is the snapshot `meta`
        // describes: a damaged snapshot is neither kept nor applied. Both on a thread made for
        // blocking, as a snapshot is built.
        let started = std::time::Instant::now();
        let (current, dir, params, meta) = (
            self.current.clone(),
            self.dir.clone(),
            self.params,
            meta.clone(),
        );
        let (manifest, memories) = tokio::task::spawn_blocking(move || {
            keep_received(&current, &dir, params, &meta, &snapshot)
        })
        .await
        .map_err(io::Error::other)??;
        self.replace(manifest, memories)?;
        SnapshotTimes::record(&self.times.installed, &self.times.install_micros, started);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, io::Error> {
        let current = self.current()?;
        match current.as_ref() {
            Some(meta) => Ok(Some(Snapshot {
                meta: meta.clone(),
                snapshot: SnapshotFile::open(&self.dir.join(SNAPSHOT_FILE))?,
            })),
            None => Ok(None),
        }
    }
}
