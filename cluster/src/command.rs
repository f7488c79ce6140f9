//! What the replicated log carries ([`Command`]) and what applying it answers ([`Applied`]).
//! Every value a command needs (ids, timestamps) is fixed by the node that proposes it, so
//! that applying it is the same on every node.

use serde::{Deserialize, Serialize};
use std::fmt;
use sutra_core::Op;

/// An application entry of the log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Command {
    /// Make a memory (a namespace of the cluster's state), optionally fixing its dimension.
    CreateMemory {
        /// Its name (checked by the proposer with the core's name rule).
        name: String,
        /// Its vector dimension.
        dimension: Option<u32>,
    },
    /// Drop a memory and everything in it.
    DropMemory {
        /// Its name.
        name: String,
    },
    /// A batch of operations on one memory, applied whole or refused whole.
    Batch {
        /// The memory.
        memory: String,
        /// The operations, with their timestamps fixed.
        ops: Vec<Op>,
    },
    /// A command sent with an idempotency key (added after the three above, so entries written
    /// before it still decode): applied once; sent again with the same key and the same
    /// request, it answers what it answered the first time and changes nothing; the same key
    /// with another request is refused (`idempotency_key_reused`). The last
    /// [`KEYS_KEPT`] keys are kept, in the state and its snapshots.
    Idempotent {
        /// The client's key.
        key: String,
        /// A digest of the request as the client sent it (method, path, body): what tells a
        /// retry from another request reusing the key.
        digest: u64,
        /// The command (not itself `Idempotent`).
        command: Box<Command>,
    },
}

/// How many idempotency keys the state keeps (the oldest is forgotten first, on every node
/// alike): a retry must come within this many keyed writes of its first try.
pub const KEYS_KEPT: usize = 100_000;
/// Longest idempotency key, in bytes.
pub const KEY_BYTES_MAX: usize = 255;

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::CreateMemory { name, dimension } => {
                write!(f, "create memory {name:?} (dimension {dimension:?})")
            }
            Command::DropMemory { name } => write!(f, "drop memory {name:?}"),
            Command::Batch { memory, ops } => {
                write!(f, "batch of {} operations on {memory:?}", ops.len())
            }
            Command::Idempotent { key, command, .. } => write!(f, "{command} (key {key:?})"),
        }
    }
}

/// What applying an entry answered: the same on every node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Applied {
    /// Applied; `seq` is its log index (what a write answers, and what `min_seq` reads wait for).
    Done {
        /// The entry's log index.
        seq: u64,
    },
    /// Refused whole: the state is as it was, and the entry is a no-op in the log. `code` is
    /// the engine's error code (or `memory_not_found`, `memory_exists`), `message` its text.
    Refused {
        /// Stable machine-readable code.
        code: String,
        /// What was wrong.
        message: String,
        /// The request field the refusal is about, when there is one.
        field: Option<String>,
        /// The limit that was passed, when there is one.
        limit: Option<u64>,
    },
}

impl Applied {
    /// A refusal of the server's own (`memory_exists`, `memory_not_found`, ...), with no field
    /// or limit.
    pub fn refusal(code: &str, message: String) -> Applied {
        Applied::Refused {
            code: code.to_string(),
            message,
            field: None,
            limit: None,
        }
    }

    /// The refusal of an error of the engine.
    pub fn refused(e: &sutra_core::Error) -> Applied {
        Applied::Refused {
            code: e.code().to_string(),
            message: e.to_string(),
            field: e.field(),
            limit: e.limit_passed(),
        }
    }
}
