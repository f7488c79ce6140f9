//! The state machine: the cluster's memories, each a core [`Db`], applied in log order with the
//! core's deterministic check. Applying does no I/O; the state is made durable by snapshots,
//! which openraft takes every so many entries before it purges the log they cover: a snapshot
//! is written to the node's directory (aside, synced, renamed, the directory synced) before it
//! counts, and a node that starts loads it, then re-applies the log after it. This first
//! version keeps a snapshot whole in memory (the memories' images in one postcard value);
//! shipping the memories' `storage.dat` files, streamed from disk, comes next.

use crate::command::{Applied, Command, KEYS_KEPT};
use crate::raft::{LogId, Payload, Snapshot, SnapshotMeta, StoredMembership, TypeConfig};
use futures_util::{Stream, StreamExt};
use openraft::storage::{EntryResponder, RaftSnapshotBuilder, RaftStateMachine};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io;
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

/// The first bytes of a snapshot's data from version 2 on (a version 1 image starts with an
/// option's tag, 0 or 1, so it never starts with these).
const IMAGE_V2_MAGIC: &[u8; 8] = b"SUTRAIM2";

/// A snapshot's data (version 2, after [`IMAGE_V2_MAGIC`]): what was applied last, the
/// membership, each memory's image, and the idempotency keys in the order they came.
#[derive(Serialize, Deserialize)]
struct Image {
    last_applied: Option<LogId>,
    membership: StoredMembership,
    memories: Vec<(String, Vec<u8>)>,
    keys: Vec<(String, u64, Applied)>,
}

impl Image {
    fn decode(data: &[u8]) -> io::Result<Image> {
        let bad = |e: postcard::Error| io::Error::new(io::ErrorKind::InvalidData, e.to_string());
        match data.strip_prefix(IMAGE_V2_MAGIC.as_slice()) {
            Some(rest) => postcard::from_bytes(rest).map_err(bad),
            None => {
                let v1: ImageV1 = postcard::from_bytes(data).map_err(bad)?;
                Ok(Image {
                    last_applied: v1.last_applied,
                    membership: v1.membership,
                    memories: v1.memories,
                    keys: Vec::new(),
                })
            }
        }
    }

    fn encode(&self) -> io::Result<Vec<u8>> {
        let body = postcard::to_allocvec(self).map_err(|e| io::Error::other(e.to_string()))?;
        let mut data = Vec::with_capacity(IMAGE_V2_MAGIC.len() + body.len());
        data.extend_from_slice(IMAGE_V2_MAGIC);
        data.extend_from_slice(&body);
        Ok(data)
    }
}

/// The state machine (openraft's `RaftStateMachine`).
pub struct StateMachine {
    state: State,
    params: HnswParams,
    current: Arc<Mutex<Option<Snapshot>>>,
    times: Arc<SnapshotTimes>,
    /// Where snapshots are kept (none: only in memory, for tests of the state machine alone).
    dir: Option<PathBuf>,
}

/// How many snapshots a node built and installed, and how long the last of each took (for
/// `/metrics`).
#[derive(Default, Debug)]
pub struct SnapshotTimes {
    /// Snapshots built (the state encoded and kept on disk).
    pub built: AtomicU64,
    /// Microseconds the last build took.
    pub build_micros: AtomicU64,
    /// Snapshots installed (sent by the leader).
    pub installed: AtomicU64,
    /// Microseconds the last install took.
    pub install_micros: AtomicU64,
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

/// The file a node's snapshot is kept in: `[crc32: u32 LE][postcard (meta, data)]`.
const SNAPSHOT_FILE: &str = "snapshot";

/// Keeps `snapshot` in `dir`, durably, before it counts.
fn keep(dir: Option<&Path>, snapshot: &Snapshot) -> io::Result<()> {
    match dir {
        // References serialize as the values do: the file reads back as (meta, data).
        Some(dir) => {
            crate::log::write_small(dir, SNAPSHOT_FILE, &(&snapshot.meta, &snapshot.snapshot))
        }
        None => Ok(()),
    }
}

impl Default for StateMachine {
    fn default() -> Self {
        StateMachine::new(HnswParams::default())
    }
}

impl StateMachine {
    /// An empty state machine whose memories' vector indexes use `params`.
    pub fn new(params: HnswParams) -> Self {
        StateMachine {
            state: State::default(),
            params,
            current: Arc::new(Mutex::new(None)),
            times: Arc::default(),
            dir: None,
        }
    }

    /// The counts and durations of its snapshots, shared.
    pub fn snapshot_times(&self) -> Arc<SnapshotTimes> {
        self.times.clone()
    }

    /// The state machine of the node whose directory is `dir`: the snapshot kept there, if
    /// any (a damaged one is an error: the node does not start on it).
    pub fn open(dir: &Path, params: HnswParams) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut machine = StateMachine::new(params);
        machine.dir = Some(dir.to_path_buf());
        if let Some((meta, data)) =
            crate::log::read_small::<(SnapshotMeta, Vec<u8>)>(dir, SNAPSHOT_FILE)?
        {
            machine.load(&meta, data)?;
        }
        Ok(machine)
    }

    /// Replaces the state with snapshot `data` described by `meta`, checked whole first: a
    /// damaged snapshot is an error and leaves the state as it was.
    fn load(&mut self, meta: &SnapshotMeta, data: Vec<u8>) -> io::Result<()> {
        let image = Image::decode(&data)?;
        let mut memories = BTreeMap::new();
        for (name, bytes) in image.memories {
            let replica = Replica::from_snapshot(&bytes, self.params)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
            memories.insert(name, replica);
        }
        let mut current = self
            .current
            .lock()
            .map_err(|_| io::Error::other("a thread panicked while it held the snapshot"))?;
        *current = Some(Snapshot {
            meta: meta.clone(),
            snapshot: data,
        });
        drop(current);
        *self.state.memories.write() = memories;
        *self.state.memories.keys_mut() = Keys::from_image(image.keys);
        self.state.last_applied = meta.last_log_id;
        self.state.membership = meta.last_membership.clone();
        Ok(())
    }

    /// Replaces the membership the state records (for `force_new_cluster`, which makes a new
    /// cluster of one node from this state), and where its snapshots are kept.
    pub(crate) fn reform(&mut self, membership: StoredMembership, dir: &Path) {
        self.state.membership = membership;
        self.dir = Some(dir.to_path_buf());
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
            Command::CreateMemory { name, dimension } => {
                if self.state.memories.get(&name).is_some() {
                    return refused("memory_exists", format!("memory {name:?} already exists"));
                }
                let replica = Replica::new(self.params);
                if let Some(dimension) = dimension {
                    if let Err(e) = replica.apply_checked(seq, vec![Op::SetDimension { dimension }])
                    {
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
            Command::Batch { memory, ops } => match self.state.memories.get(&memory) {
                Some(replica) => match replica.apply_checked(seq, ops) {
                    Ok(()) => Applied::Done { seq },
                    Err(e) => Applied::refused(&e),
                },
                None => refused("memory_not_found", format!("no memory {memory:?}")),
            },
        }
    }

    fn image(&self) -> io::Result<Vec<u8>> {
        let all = self.state.memories.all();
        let mut memories = Vec::with_capacity(all.len());
        for (name, replica) in all {
            let bytes = replica
                .encode_snapshot()
                .map_err(|e| io::Error::other(e.to_string()))?;
            memories.push((name, bytes));
        }
        Image {
            last_applied: self.state.last_applied,
            membership: self.state.membership.clone(),
            memories,
            keys: self.state.memories.keys().image(),
        }
        .encode()
    }
}

/// Builds a snapshot from an image taken when it was made.
pub struct SnapshotBuilder {
    meta: SnapshotMeta,
    data: Vec<u8>,
    current: Arc<Mutex<Option<Snapshot>>>,
    dir: Option<PathBuf>,
    times: Arc<SnapshotTimes>,
    /// When the image was taken.
    started: std::time::Instant,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    type SnapshotData = Vec<u8>;

    async fn build_snapshot(&mut self) -> Result<Snapshot, io::Error> {
        let snapshot = Snapshot {
            meta: self.meta.clone(),
            snapshot: self.data.clone(),
        };
        keep(self.dir.as_deref(), &snapshot)?;
        let mut current = self
            .current
            .lock()
            .map_err(|_| io::Error::other("a thread panicked while it held the snapshot"))?;
        *current = Some(snapshot.clone());
        SnapshotTimes::record(&self.times.built, &self.times.build_micros, self.started);
        Ok(snapshot)
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotData = Vec<u8>;
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
        // An image that cannot be encoded (a bug) gives an empty builder whose snapshot fails
        // to install rather than a wrong one: the data is checked on install.
        let started = std::time::Instant::now();
        let data = self.image().unwrap_or_default();
        SnapshotBuilder {
            times: self.times.clone(),
            started,
            meta: SnapshotMeta {
                last_log_id: self.state.last_applied,
                last_membership: self.state.membership.clone(),
            },
            data,
            current: self.current.clone(),
            dir: self.dir.clone(),
        }
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Vec<u8>,
    ) -> Result<(), io::Error> {
        // Loaded (checked whole) first, kept only when it loads: a damaged snapshot is neither
        // kept nor applied.
        let started = std::time::Instant::now();
        self.load(meta, snapshot)?;
        let current = self
            .current
            .lock()
            .map_err(|_| io::Error::other("a thread panicked while it held the snapshot"))?;
        if let Some(snapshot) = current.as_ref() {
            keep(self.dir.as_deref(), snapshot)?;
        }
        SnapshotTimes::record(&self.times.installed, &self.times.install_micros, started);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, io::Error> {
        let current = self
            .current
            .lock()
            .map_err(|_| io::Error::other("a thread panicked while it held the snapshot"))?;
        Ok(current.clone())
    }
}
