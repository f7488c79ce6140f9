//! A memory whose durability belongs to someone else: a node of a replicated cluster keeps each
//! memory's state in memory, applies the entries its (durable, replicated) log commits, and
//! makes the state durable by snapshots of its own. Readers use the same [`Reader`] as on a
//! memory with its own log, so every query behaves the same on a cluster's node.

use super::reader::Reader;
use super::shared::{Shared, Status};
use crate::error::Result;
use crate::format::wal;
use crate::model::{Op, Rules};
use crate::state::{Db, Overlay};
use crate::vector::HnswParams;
use std::sync::atomic::AtomicU32;
use std::sync::{Arc, Mutex, RwLock};

/// One memory of a replicated state: applied in log order with [`Db::apply_checked`], read
/// through [`Reader`]s. Cheap to clone (the clones share the state).
#[derive(Clone)]
pub struct Replica {
    shared: Arc<Shared>,
}

impl Replica {
    /// An empty memory whose vector index uses `params`.
    pub fn new(params: HnswParams) -> Self {
        Replica::from_db(Db::empty(params))
    }

    /// A memory from a snapshot image ([`Db::encode_snapshot`]), checked whole: a damaged image
    /// is an error.
    pub fn from_snapshot(bytes: &[u8], params: HnswParams) -> Result<Self> {
        Ok(Replica::from_db(Db::decode_snapshot(bytes, params)?))
    }

    fn from_db(db: Db) -> Self {
        Replica {
            shared: Arc::new(Shared {
                db: RwLock::new(db),
                status: Mutex::new(Status::default()),
                writers_waiting: AtomicU32::new(0),
            }),
        }
    }

    /// A read handle.
    pub fn reader(&self) -> Reader {
        Reader {
            shared: self.shared.clone(),
        }
    }

    /// Applies batch `ops` as entry `seq` of the log, or leaves the state as it was and says
    /// why ([`Db::apply_checked`]): the same verdict on every node.
    pub fn apply_checked(&self, seq: u64, ops: Vec<Op>) -> Result<()> {
        self.shared.write().apply_checked(seq, ops)
    }

    /// Checks batch `ops` against the state as the write path of a memory with its own log
    /// does (today's rules, [`Rules::Write`], and the log's record limits) without changing
    /// anything: what the node that proposes a batch does first, so that a batch that cannot
    /// apply is refused before it costs a log entry. Applying stays the judge
    /// ([`apply_checked`](Self::apply_checked)): the state may change between the two.
    pub fn check(&self, ops: &[Op]) -> Result<()> {
        wal::encode_record(0, ops)?;
        Overlay::default().stage(&self.shared.read(), ops, Rules::Write)
    }

    /// The state's snapshot image ([`Db::encode_snapshot`]).
    pub fn encode_snapshot(&self) -> Result<Vec<u8>> {
        self.shared.read().encode_snapshot()
    }

    /// Writes the state's snapshot image to `out` as it is encoded ([`Db::write_snapshot`]);
    /// writers wait meanwhile (the image is of one moment), readers do not. Returns the bytes
    /// written.
    pub fn write_snapshot(&self, out: &mut dyn std::io::Write) -> Result<u64> {
        self.shared.read().write_snapshot(out)
    }
}
