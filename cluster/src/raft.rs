//! openraft's types, named once for Sutra. Everything else in the crate (and anything built on
//! it) names these aliases, so that a change of openraft's API (it churns before 1.0) stays
//! here.

use crate::command::{Applied, Command};
use serde::{Deserialize, Serialize};
use std::fmt;

openraft::declare_raft_types!(
    /// Sutra's Raft type configuration: entries carry [`Command`]s, applying one answers an
    /// [`Applied`]; nodes are numbered by `u64` and described by a [`Member`], terms are `u64`,
    /// Tokio with randomness a simulation can seed ([`crate::runtime::Runtime`]).
    pub TypeConfig:
        D = Command,
        R = Applied,
        Node = Member,
        AsyncRuntime = crate::runtime::Runtime,
);

/// A node as the membership describes it: where the other nodes reach it (its cluster
/// listener) and where clients do (its HTTP API, where a follower redirects a client to the
/// leader).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Member {
    /// `host:port` of its cluster listener (Raft's messages, forwarded writes).
    pub raft: String,
    /// `host:port` of its HTTP API.
    pub api: String,
}

impl Member {
    /// A member reached at `raft` by the other nodes and at `api` by clients.
    pub fn new(raft: impl ToString, api: impl ToString) -> Self {
        Member {
            raft: raft.to_string(),
            api: api.to_string(),
        }
    }
}

impl fmt::Display for Member {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "api {}, cluster {}", self.api, self.raft)
    }
}

/// A Raft log entry.
pub type Entry = openraft::Entry<
    <<TypeConfig as openraft::RaftTypeConfig>::LeaderId as openraft::vote::RaftLeaderId>::Committed,
    <TypeConfig as openraft::RaftTypeConfig>::Payload,
>;
/// A log id: the index of an entry and the leader (term) that proposed it.
pub type LogId = openraft::type_config::alias::LogIdOf<TypeConfig>;
/// A vote.
pub type Vote = openraft::type_config::alias::VoteOf<TypeConfig>;
/// The membership as of an entry.
pub type StoredMembership = openraft::type_config::alias::StoredMembershipOf<TypeConfig>;
/// A snapshot's description.
pub type SnapshotMeta = openraft::type_config::alias::SnapshotMetaOf<TypeConfig>;
/// A snapshot with its data (its file, open).
pub type Snapshot =
    openraft::type_config::alias::SnapshotOf<TypeConfig, crate::machine::SnapshotFile>;
/// What an entry carries.
pub type Payload = openraft::EntryPayload<Command, u64, Member>;
/// The membership of the cluster.
pub type Membership = openraft::Membership<u64, Member>;
/// What a node's Raft reports of itself (and, on the leader, of the others).
pub type Metrics = openraft::RaftMetrics<TypeConfig>;
