//! openraft's types, named once for Sutra. Everything else in the crate (and anything built on
//! it) names these aliases, so that a change of openraft's API (it churns before 1.0) stays
//! here.

use crate::command::{Applied, Command};

openraft::declare_raft_types!(
    /// Sutra's Raft type configuration: entries carry [`Command`]s, applying one answers an
    /// [`Applied`]; nodes are numbered by `u64`, terms are `u64`, openraft's Tokio runtime.
    pub TypeConfig:
        D = Command,
        R = Applied,
);

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
/// A snapshot with its data.
pub type Snapshot = openraft::type_config::alias::SnapshotOf<TypeConfig, Vec<u8>>;
/// What an entry carries.
pub type Payload = openraft::EntryPayload<Command, u64, openraft::impls::BasicNode>;
