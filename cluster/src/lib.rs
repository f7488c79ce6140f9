//! Sutra replicated: one Raft group per cluster, on openraft, whose log is Sutra's kind of log
//! (checksummed records, a torn tail dropped, corruption refused) and whose state machine is
//! the core's state ([`sutra_core::Db`], one per memory), applied with the core's own
//! deterministic check ([`sutra_core::Db::apply_checked`]).
//!
//! Read bottom-up: [`raft`] (openraft's types, kept behind this one module; [`runtime`] the
//! async runtime they name: Tokio, with randomness a simulation can seed), [`command`] (what
//! the log carries and what applying it answers), [`log`] (the durable Raft log on files),
//! [`machine`] (the state machine), [`network`] (Raft's messages between nodes over HTTP),
//! [`node`] (a node as the server runs it: writes through the leader from any node,
//! linearizable reads on any node, the cluster's status; [`watch`] keeps what it sees of its
//! metrics over time), [`forced`] (a new cluster of one node
//! from a node's files, for a quorum lost for good). `docs/CLUSTER.md` describes it.

pub mod command;
pub mod forced;
mod forward;
pub mod log;
pub mod machine;
pub mod network;
pub mod node;
pub mod raft;
pub mod runtime;
pub mod watch;
