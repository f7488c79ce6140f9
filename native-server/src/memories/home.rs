//! Where a server's memories live: in its own data directory ([`Home::Local`], each memory with
//! its own log and writer) or in a replicated cluster ([`Home::Cluster`], every memory a
//! namespace of the cluster's one Raft log, applied on every node). The HTTP API asks this
//! module for a memory to read ([`Home::target`]) and to write ([`Home::write`]), and is the
//! same either way.

use crate::http::cluster::IdempotencyKey;
use crate::http::error::ApiError;
use crate::memories::registry::Registry;
use crate::memories::writer::{MemoryHandle, SubmitError};
use axum::http::StatusCode;
use std::sync::Arc;
use sutra_cluster::command::{Applied, Command};
use sutra_cluster::node::{ClusterNode, ReadError, WriteError};
use sutra_core::{Op, Reader};

/// Where the memories live.
#[derive(Clone)]
pub enum Home {
    /// In this server's data directory.
    Local(Arc<Registry>),
    /// In a cluster this server is a node of.
    Cluster(Arc<ClusterNode>),
}

/// A memory a request reads.
pub enum Target {
    /// One of the data directory's.
    Local(Arc<MemoryHandle>),
    /// One of the cluster's, as this node applied it, and the node.
    Replica(Reader, Arc<ClusterNode>),
}

impl Target {
    /// Its read handle.
    pub fn reader(&self) -> &Reader {
        match self {
            Target::Local(handle) => handle.reader(),
            Target::Replica(reader, _) => reader,
        }
    }

    /// Writes waiting in its queue (a cluster node has no queue of its own).
    pub fn queue_depth(&self) -> u64 {
        match self {
            Target::Local(handle) => handle.queue_depth(),
            Target::Replica(..) => 0,
        }
    }
}

/// The 404 for a memory that does not exist.
pub fn not_found(name: &str) -> ApiError {
    ApiError::not_found(
        "memory_not_found",
        format!("memory {name:?} does not exist"),
    )
}

impl Home {
    /// The memory `name`, to read (on a cluster node, as this node applied it: the read's
    /// consistency was seen to before).
    pub fn target(&self, name: &str) -> Result<Target, ApiError> {
        match self {
            Home::Local(registry) => registry.get(name).map(Target::Local),
            Home::Cluster(node) => node
                .catalog()
                .get(name)
                .map(|replica| Target::Replica(replica.reader(), node.clone()))
                .ok_or_else(|| not_found(name)),
        }
    }

    /// Writes batch `ops` to memory `name` and answers its sequence number once it is durable
    /// (on a cluster, committed on a quorum and applied; the sequence number is its entry's
    /// index in the cluster's log).
    pub async fn write(
        &self,
        name: &str,
        ops: Vec<Op>,
        key: Option<IdempotencyKey>,
        on_busy: impl FnOnce(),
    ) -> Result<u64, ApiError> {
        match self {
            Home::Local(registry) => {
                let handle = registry.get(name)?;
                submit(name, &handle, ops, on_busy).await
            }
            Home::Cluster(node) => {
                let written = node
                    .write(keyed(
                        key,
                        Command::Batch {
                            memory: name.to_string(),
                            ops,
                        },
                    ))
                    .await
                    .map_err(write_error)?;
                applied(written.applied)
            }
        }
    }
}

/// `command` with its idempotency key, if it has one.
pub fn keyed(key: Option<IdempotencyKey>, command: Command) -> Command {
    match key {
        Some(IdempotencyKey { key, digest }) => Command::Idempotent {
            key,
            digest,
            command: Box::new(command),
        },
        None => command,
    }
}

async fn submit(
    name: &str,
    handle: &MemoryHandle,
    ops: Vec<Op>,
    on_busy: impl FnOnce(),
) -> Result<u64, ApiError> {
    let rx = handle.write(ops).map_err(|e| match e {
        SubmitError::Busy => {
            on_busy();
            ApiError::busy(format!(
                "memory {name:?} has too many writes waiting; retry after a second"
            ))
        }
        SubmitError::Closed => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "closing",
            format!("memory {name:?} is closing"),
        ),
    })?;
    match rx.await {
        Ok(result) => result.map_err(ApiError::from),
        Err(_) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "closing",
            format!("memory {name:?} stopped"),
        )),
    }
}

/// A cluster's answer to a write: its sequence number, or the refusal as the API's error.
pub fn applied(applied: Applied) -> Result<u64, ApiError> {
    match applied {
        Applied::Done { seq } => Ok(seq),
        Applied::Refused {
            code,
            message,
            field,
            limit,
        } => Err(ApiError {
            field,
            limit,
            ..ApiError::refused(&code, message)
        }),
    }
}

/// A write the cluster did not take, or may not have.
pub fn write_error(e: WriteError) -> ApiError {
    match e {
        WriteError::NotWritten(why) => ApiError {
            retry_after_s: Some(1),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "no_leader",
                format!("nothing was written: {why}; retry after a second"),
            )
        },
        WriteError::Unknown(why) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "outcome_unknown",
            format!(
                "the write may or may not have been applied: {why}. Read to find out before sending it again"
            ),
        ),
    }
}

/// A read the cluster could not serve as asked.
pub fn read_error(e: ReadError) -> ApiError {
    let (code, why) = match e {
        ReadError::NoLeader(why) => ("no_leader", why),
        ReadError::Behind(why) => ("behind", why),
    };
    ApiError {
        retry_after_s: Some(1),
        ..ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            code,
            format!("{why}; retry after a second, or read with consistency=stale"),
        )
    }
}
