//! What the replicated log carries ([`Command`]) and what applying it answers ([`Applied`]).
//! Every value a command needs (ids, timestamps) is fixed by the node that proposes it, so
//! that applying it is the same on every node.

use serde::{Deserialize, Serialize};
use std::fmt;
use sutra_core::legacy::{OpV1, OpV2};
use sutra_core::{Language, Op};

/// An application entry of the log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Command {
    /// Make a memory, optionally fixing its dimension, as the first versions wrote it (no
    /// language). Read from logs and snapshots written then, never proposed now:
    /// [`Command::Create`] took its place.
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
    /// A batch of operations as the first versions wrote it (their operations in the core's
    /// log format 1: metadata values strings only). Read from logs and snapshots written then,
    /// never proposed now: [`Command::Batch`] took its place.
    BatchV1 {
        /// The memory.
        memory: String,
        /// The operations, with their timestamps fixed.
        ops: Vec<OpV1>,
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
    /// A batch of operations as the versions with the core's log format 2 wrote it (typed
    /// metadata values; associations without label, metadata or validity). Read from logs and
    /// snapshots written then, never proposed now: [`Command::Batch`] took its place.
    BatchV2 {
        /// The memory.
        memory: String,
        /// The operations, with their timestamps fixed.
        ops: Vec<OpV2>,
    },
    /// A batch of operations on one memory, applied whole or refused whole (added after the
    /// five above, with the core's log format 3: labelled, attributed, time-valid
    /// associations).
    Batch {
        /// The memory.
        memory: String,
        /// The operations, with their timestamps fixed.
        ops: Vec<Op>,
    },
    /// Make a memory, optionally fixing its dimension and the language its texts are stemmed
    /// in, as the versions with the core's log format 4 wrote it (no declared keys). Read from
    /// logs and snapshots written then, never proposed now: [`Command::Create`] took its place.
    CreateV4 {
        /// Its name.
        name: String,
        /// Its vector dimension.
        dimension: Option<u32>,
        /// Its stemming language.
        language: Option<Language>,
    },
    /// Make a memory (a namespace of the cluster's state), optionally fixing its dimension and
    /// the language its texts are stemmed in, and declaring the metadata keys filters may name
    /// (added after the seven above, with the core's log format 5).
    Create {
        /// Its name (checked by the proposer with the core's name rule).
        name: String,
        /// Its vector dimension.
        dimension: Option<u32>,
        /// Its stemming language.
        language: Option<Language>,
        /// The metadata keys it indexes for filters (as [`sutra_core::indexed_keys`] keeps
        /// them; checked again when applied).
        indexed_keys: Vec<String>,
    },
}

impl Command {
    /// The command in today's shape: a [`Command::BatchV1`] or [`Command::BatchV2`] as the
    /// [`Command::Batch`] it means, a [`Command::CreateMemory`] or [`Command::CreateV4`] as the
    /// [`Command::Create`] it means (inside an [`Command::Idempotent`] too); every other
    /// command as it is.
    pub fn upgraded(self) -> Command {
        match self {
            Command::CreateMemory { name, dimension } => Command::Create {
                name,
                dimension,
                language: None,
                indexed_keys: Vec::new(),
            },
            Command::CreateV4 {
                name,
                dimension,
                language,
            } => Command::Create {
                name,
                dimension,
                language,
                indexed_keys: Vec::new(),
            },
            Command::BatchV1 { memory, ops } => Command::Batch {
                memory,
                ops: ops.into_iter().map(Op::from).collect(),
            },
            Command::BatchV2 { memory, ops } => Command::Batch {
                memory,
                ops: ops.into_iter().map(Op::from).collect(),
            },
            Command::Idempotent {
                key,
                digest,
                command,
            } => Command::Idempotent {
                key,
                digest,
                command: Box::new(command.upgraded()),
            },
            other => other,
        }
    }
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
            Command::CreateV4 {
                name,
                dimension,
                language,
            } => write!(
                f,
                "create memory {name:?} (dimension {dimension:?}, language {:?})",
                language.map(Language::as_str)
            ),
            Command::Create {
                name,
                dimension,
                language,
                indexed_keys,
            } => write!(
                f,
                "create memory {name:?} (dimension {dimension:?}, language {:?}, keys {indexed_keys:?})",
                language.map(Language::as_str)
            ),
            Command::DropMemory { name } => write!(f, "drop memory {name:?}"),
            Command::Batch { memory, ops } => {
                write!(f, "batch of {} operations on {memory:?}", ops.len())
            }
            Command::BatchV1 { memory, ops } => {
                write!(f, "batch of {} operations on {memory:?}", ops.len())
            }
            Command::BatchV2 { memory, ops } => {
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

#[cfg(test)]
mod tests {
    use super::*;
    use sutra_core::{ConceptId, ConceptInput, Value};

    /// A batch of log format 2 (5's predecessor at index 4) reads as today's: its associations
    /// with no label, metadata or validity.
    #[test]
    fn version_2_batches_read_as_todays() {
        let old = Command::BatchV2 {
            memory: "m".into(),
            ops: vec![OpV2::PutAssociation {
                source: ConceptId(1),
                target: ConceptId(2),
                kind: sutra_core::Kind::Causal,
                confidence: 0.5,
                weight: 1.0,
                at_ms: 7,
                created_ms: None,
            }],
        };
        let bytes = postcard::to_allocvec(&old).expect("encode");
        let read: Command = postcard::from_bytes(&bytes).expect("decode");
        assert_eq!(
            read.upgraded(),
            Command::Batch {
                memory: "m".into(),
                ops: vec![Op::put_association(
                    ConceptId(1),
                    ConceptId(2),
                    sutra_core::Kind::Causal,
                    0.5,
                    1.0,
                    7
                )],
            }
        );
    }

    /// The variants' indexes are the log's format: the first versions' batches (2) read as
    /// today's (5), inside a keyed command too.
    #[test]
    fn first_version_batches_read_as_todays() {
        let old = OpV1::PutConcept {
            id: ConceptId(9),
            content: "rain".into(),
            embedding: None,
            strength: 1.0,
            confidence: 1.0,
            metadata: [("lang".to_string(), "en".to_string())].into(),
            at_ms: 5,
            created_ms: None,
        };
        let v1 = Command::Idempotent {
            key: "k".into(),
            digest: 7,
            command: Box::new(Command::BatchV1 {
                memory: "m".into(),
                ops: vec![old],
            }),
        };
        let bytes = postcard::to_allocvec(&v1).expect("encode");
        let read: Command = postcard::from_bytes(&bytes).expect("decode");
        let mut input = ConceptInput::new("rain").with_id(ConceptId(9));
        input.metadata.insert("lang".into(), Value::from("en"));
        let today = Command::Idempotent {
            key: "k".into(),
            digest: 7,
            command: Box::new(Command::Batch {
                memory: "m".into(),
                ops: vec![Op::put_concept(input, 5)],
            }),
        };
        assert_eq!(read.upgraded(), today);
        let tag = |c: &Command| postcard::to_allocvec(c).expect("encode")[0];
        let batch = Command::Batch {
            memory: "m".into(),
            ops: vec![],
        };
        let batch_v1 = Command::BatchV1 {
            memory: "m".into(),
            ops: vec![],
        };
        let batch_v2 = Command::BatchV2 {
            memory: "m".into(),
            ops: vec![],
        };
        assert_eq!(
            (tag(&batch_v1), tag(&v1), tag(&batch_v2), tag(&batch)),
            (2, 3, 4, 5)
        );
    }
}
