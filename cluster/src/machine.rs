//! The state machine: the cluster's memories, each a core [`Db`], applied in log order with the
//! core's deterministic check. Applying does no I/O; the state is made durable by snapshots,
//! which openraft takes every so many entries before it purges the log they cover: a snapshot
//! is written to the node's directory (aside, synced, renamed, the directory synced) before it
//! counts, and a node that starts loads it, then re-applies the log after it. This first
//! version keeps a snapshot whole in memory (the memories' images in one postcard value);
//! shipping the memories' `storage.dat` files, streamed from disk, comes next.

use crate::command::{Applied, Command};
use crate::raft::{LogId, Payload, Snapshot, SnapshotMeta, StoredMembership, TypeConfig};
use futures_util::{Stream, StreamExt};
use openraft::storage::{EntryResponder, RaftSnapshotBuilder, RaftStateMachine};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use sutra_core::{Db, HnswParams, Op};

/// The memories and what was applied last.
#[derive(Default)]
struct State {
    memories: BTreeMap<String, Db>,
    last_applied: Option<LogId>,
    membership: StoredMembership,
}

/// A snapshot's data: what was applied last, the membership, and each memory's image.
#[derive(Serialize, Deserialize)]
struct Image {
    last_applied: Option<LogId>,
    membership: StoredMembership,
    memories: Vec<(String, Vec<u8>)>,
}

/// The state machine (openraft's `RaftStateMachine`).
pub struct StateMachine {
    state: State,
    params: HnswParams,
    current: Arc<Mutex<Option<Snapshot>>>,
    /// Where snapshots are kept (none: only in memory, for tests of the state machine alone).
    dir: Option<PathBuf>,
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
            dir: None,
        }
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
        let image: Image = postcard::from_bytes(&data)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        let mut memories = BTreeMap::new();
        for (name, bytes) in image.memories {
            let db = Db::decode_snapshot(&bytes, self.params)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
            memories.insert(name, db);
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
        self.state = State {
            memories,
            last_applied: meta.last_log_id,
            membership: meta.last_membership.clone(),
        };
        Ok(())
    }

    /// The memory `name`, if the state has it.
    pub fn memory(&self, name: &str) -> Option<&Db> {
        self.state.memories.get(name)
    }

    /// The names of the memories, in order.
    pub fn memories(&self) -> Vec<String> {
        self.state.memories.keys().cloned().collect()
    }

    /// Applies one command as entry `seq` (what [`RaftStateMachine::apply`] does for each
    /// application entry, and answers to its writer): the same answer and state on every node.
    pub fn apply_command(&mut self, seq: u64, command: Command) -> Applied {
        let refused = |code: &str, message: String| Applied::Refused {
            code: code.to_string(),
            message,
        };
        match command {
            Command::CreateMemory { name, dimension } => {
                if self.state.memories.contains_key(&name) {
                    return refused("memory_exists", format!("memory {name:?} already exists"));
                }
                let mut db = Db::empty(self.params);
                if let Some(dimension) = dimension {
                    if let Err(e) = db.apply_checked(seq, vec![Op::SetDimension { dimension }]) {
                        return refused(e.code(), e.to_string());
                    }
                }
                self.state.memories.insert(name, db);
                Applied::Done { seq }
            }
            Command::DropMemory { name } => match self.state.memories.remove(&name) {
                Some(_) => Applied::Done { seq },
                None => refused("memory_not_found", format!("no memory {name:?}")),
            },
            Command::Batch { memory, ops } => match self.state.memories.get_mut(&memory) {
                Some(db) => match db.apply_checked(seq, ops) {
                    Ok(()) => Applied::Done { seq },
                    Err(e) => refused(e.code(), e.to_string()),
                },
                None => refused("memory_not_found", format!("no memory {memory:?}")),
            },
        }
    }

    fn image(&self) -> io::Result<Vec<u8>> {
        let mut memories = Vec::with_capacity(self.state.memories.len());
        for (name, db) in &self.state.memories {
            let bytes = db
                .encode_snapshot()
                .map_err(|e| io::Error::other(e.to_string()))?;
            memories.push((name.clone(), bytes));
        }
        postcard::to_allocvec(&Image {
            last_applied: self.state.last_applied,
            membership: self.state.membership.clone(),
            memories,
        })
        .map_err(|e| io::Error::other(e.to_string()))
    }
}

/// Builds a snapshot from an image taken when it was made.
pub struct SnapshotBuilder {
    meta: SnapshotMeta,
    data: Vec<u8>,
    current: Arc<Mutex<Option<Snapshot>>>,
    dir: Option<PathBuf>,
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
        let data = self.image().unwrap_or_default();
        SnapshotBuilder {
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
        self.load(meta, snapshot)?;
        let current = self
            .current
            .lock()
            .map_err(|_| io::Error::other("a thread panicked while it held the snapshot"))?;
        match current.as_ref() {
            Some(snapshot) => keep(self.dir.as_deref(), snapshot),
            None => Ok(()),
        }
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, io::Error> {
        let current = self
            .current
            .lock()
            .map_err(|_| io::Error::other("a thread panicked while it held the snapshot"))?;
        Ok(current.clone())
    }
}
