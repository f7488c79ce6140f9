//! A node of a cluster, as a server runs it: its Raft log and state machine in its directory,
//! its cluster listener's routes, and what the server's API needs — a write that reaches the
//! leader from any node, a linearizable read on any node, and the cluster's status.
//!
//! Writes: the leader checks a batch against its state first (a batch that cannot apply is
//! refused before it costs a log entry), proposes it, and answers once it is committed on a
//! quorum and applied. A follower forwards the write to the leader over the cluster listener
//! (`POST /raft/write`). Whether a write happened is never guessed: a write that was not
//! proposed (no leader, the leader moved before it proposed, the leader unreachable before
//! the request left) is [`WriteError::NotWritten`], safe to send again; one whose fate is
//! unknown (the leader went silent after it had the request, or its entry was discarded by a
//! leader change) is [`WriteError::Unknown`], which the server reports as such and never
//! replays.
//!
//! Reads: [`ClusterNode::linearizable`] is the read-index protocol — the leader confirms it is
//! still the leader with a quorum's heartbeat and names its commit index; the node reading
//! waits until it has applied that far (a follower asks the leader over `POST
//! /raft/read-index`).

use crate::command::{Applied, Command};
use crate::forward::{Forwarder, WRITES_PER_REQUEST_MAX};
use crate::log::LogStore;
use crate::machine::{Catalog, SnapshotTimes, StateMachine};
use crate::network::{self, answer, decode, refused, CallError, HttpNetwork};
use crate::raft::Member;
use crate::watch::{self, History, Seens};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use openraft::async_runtime::WatchReceiver;
use openraft::error::{ClientWriteError, RaftError};
use openraft::{Config, Instant, Raft, ReadPolicy, ServerState};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;
use sutra_core::HnswParams;

/// How long a write or a read waits for a leader (an election) before it answers that there
/// is none.
pub const LEADER_WAIT: Duration = Duration::from_secs(5);
/// How long a forwarded write or read-index request may take at the leader.
pub const FORWARD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a leader waits for a write it proposed to be committed and applied before it
/// answers that the write's outcome is unknown (a leader cut off from a quorum).
pub const COMMIT_WAIT: Duration = Duration::from_secs(5);
/// How long a read waits for this node to apply what it must show.
pub const APPLY_WAIT: Duration = Duration::from_secs(5);
/// How long a write or read keeps looking for a leader that takes it (while leadership
/// moves, or an unreachable leader is replaced) before it answers that there is none.
const STEER_WAIT: Duration = Duration::from_secs(5);

/// How a node is started.
pub struct NodeConfig {
    /// Its number in the cluster (1 or more).
    pub id: u64,
    /// Where its Raft log and snapshots are kept.
    pub dir: PathBuf,
    /// The cluster when it is first made: every node started with the same members makes the
    /// same cluster (a node whose log is not empty ignores it).
    pub members: BTreeMap<u64, Member>,
    /// The token every node of the cluster requires on its cluster listener.
    pub token: String,
    /// The memories' vector index parameters.
    pub params: HnswParams,
    /// openraft's timing (heartbeat, election timeouts) and snapshot policy.
    pub raft: Config,
    /// The address this node's connections to the others leave from (`None`: the system's
    /// choice).
    pub source_ip: Option<std::net::IpAddr>,
    /// The most snapshot bytes it sends a follower each second
    /// ([`network::SNAPSHOT_BYTES_PER_S_DEFAULT`] unless told).
    pub snapshot_bytes_per_s: u64,
}

/// A node of the cluster.
pub struct ClusterNode {
    id: u64,
    dir: PathBuf,
    raft: network::Node,
    catalog: Catalog,
    network: HttpNetwork,
    counters: Counters,
    forwarder: Forwarder,
    history: Arc<History>,
    snapshot_times: Arc<SnapshotTimes>,
    /// Set when the node is asked to stop (a stop that is not asked for is a fault).
    stopping: std::sync::atomic::AtomicBool,
}

/// What a node counts of the writes it was sent (for `/metrics`).
#[derive(Default)]
pub struct Counters {
    /// Writes answered (acknowledged or refused) by a leader, here or forwarded.
    pub answered: AtomicU64,
    /// Of those, refused (the leader's check or the apply step).
    pub refused: AtomicU64,
    /// Writes this node forwarded to the leader.
    pub forwarded: AtomicU64,
    /// Writes answered "not written" (no leader).
    pub not_written: AtomicU64,
    /// Writes answered "outcome unknown".
    pub unknown: AtomicU64,
    /// Microseconds from a write's arrival at this node to its answer, summed over answered
    /// writes.
    pub write_micros: AtomicU64,
}

/// Why a write did not happen, or may not have.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteError {
    /// The write was not proposed (no leader, or none reachable): nothing was written, and
    /// sending it again is safe.
    NotWritten(String),
    /// The write may or may not have been written (the leader went silent after it had it, or
    /// its entry was discarded by a leader change): read to find out before sending it again.
    Unknown(String),
}

/// Why a read cannot be served as asked.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadError {
    /// No leader could confirm what the read must see (no quorum, an election under way).
    NoLeader(String),
    /// This node did not apply what the read must see in time.
    Behind(String),
}

/// A write's answer from the node that proposed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Written {
    /// What applying it answered (or the leader's refusal before proposing it).
    pub applied: Applied,
    /// The leader that proposed (or refused) it.
    pub leader: u64,
}

/// The leader's answer to a forwarded write or read-index request that it could not serve.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Detour {
    /// Not the leader (nothing was proposed); the leader it knows, if any.
    NotLeader(Option<(u64, Member)>),
    /// Proposed, outcome unknown.
    Unknown(String),
    /// No quorum confirmed the leadership (a read index).
    NoQuorum(String),
}

/// A change of the cluster's membership, made by the leader.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Change {
    /// Add node `id` as a learner: it receives the log and serves stale reads, but does not
    /// vote (so it adds nothing to write latency).
    AddLearner {
        /// Its id (not yet a member).
        id: u64,
        /// How to reach it.
        member: Member,
    },
    /// Make learner `id` a voter.
    Promote {
        /// Its id.
        id: u64,
    },
    /// Remove node `id` (voter or learner) from the cluster.
    Remove {
        /// Its id.
        id: u64,
    },
    /// Hand leadership to voter `to`.
    TransferLeader {
        /// The voter to lead.
        to: u64,
    },
}

/// Why a change of membership was not made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ChangeError {
    /// The change does not apply to the membership as it is (an unknown id, a voter promoted,
    /// the last voter removed, another change under way): nothing changed.
    Refused(String),
    /// No leader could make it: nothing changed.
    NoLeader(String),
    /// The leader had it and did not say how it ended.
    Unknown(String),
}

/// What every answer of a node says of it ([`ClusterNode::headline`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Headline {
    /// The leader the node knows of.
    pub leader: Option<u64>,
    /// The last entry it applied.
    pub applied: u64,
    /// Whether its Raft tasks still run.
    pub running: bool,
}

/// What a node says about itself and, when it leads, about the others.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    /// This node.
    pub id: u64,
    /// `leader`, `follower`, `candidate` or `learner`.
    pub role: &'static str,
    /// The current term.
    pub term: u64,
    /// The leader this node knows of.
    pub leader: Option<u64>,
    /// The index of the last entry in this node's log.
    pub last_log_index: Option<u64>,
    /// The index of the last entry known committed.
    pub committed: Option<u64>,
    /// The index of the last entry applied to this node's state (what `min_seq` compares to).
    pub applied: Option<u64>,
    /// The index the node's last snapshot covers.
    pub snapshot: Option<u64>,
    /// Elections and leader changes this node saw since it started.
    pub seen: Seens,
    /// Every member, in id order.
    pub members: Vec<MemberStatus>,
}

/// One member as a node sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemberStatus {
    /// Its id.
    pub id: u64,
    /// Where clients reach it (its HTTP API).
    pub api: String,
    /// Where the other nodes reach it.
    pub raft: String,
    /// `voter` or `learner`.
    pub kind: &'static str,
    /// The last entry the leader knows it holds (only on the leader).
    pub matched: Option<u64>,
    /// How many entries it is behind the leader's log (only on the leader).
    pub lag_entries: Option<u64>,
    /// How long ago the oldest entry it lacks appeared in the leader's log, in milliseconds: 0
    /// when it holds every entry (only on the leader; see [`History::lag_ms`]).
    pub lag_ms: Option<u64>,
    /// Milliseconds since it last acknowledged the leader (only on the leader; `None` if it
    /// never did since this leader was elected).
    pub last_ack_ms: Option<u64>,
}

fn role_name(state: ServerState) -> &'static str {
    match state {
        ServerState::Leader => "leader",
        ServerState::Follower => "follower",
        ServerState::Candidate => "candidate",
        ServerState::Learner => "learner",
        ServerState::Shutdown => "stopped",
    }
}

impl ClusterNode {
    /// Starts a node: opens its log and state machine in `config.dir` (refusing a damaged
    /// one), and makes the cluster of `config.members` if its log is empty.
    pub async fn start(config: NodeConfig) -> io::Result<Arc<ClusterNode>> {
        let raft_config = Arc::new(
            config
                .raft
                .validate()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?,
        );
        let log = LogStore::open(&config.dir)?;
        let machine = StateMachine::open(&config.dir, config.params)?;
        let catalog = machine.catalog();
        let snapshot_times = machine.snapshot_times();
        let network = HttpNetwork::from(
            &config.token,
            config.source_ip,
            network::NetworkOptions {
                snapshot_bytes_per_s: config.snapshot_bytes_per_s,
                times: snapshot_times.clone(),
            },
        );
        let raft = Raft::new(config.id, raft_config, network.clone(), log, machine)
            .await
            .map_err(|e| io::Error::other(e.to_string()))?;
        let initialized = raft
            .is_initialized()
            .await
            .map_err(|e| io::Error::other(e.to_string()))?;
        if !initialized && !config.members.is_empty() {
            if !config.members.contains_key(&config.id) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "node {} is not among the members it is to start with",
                        config.id
                    ),
                ));
            }
            // Every node started with the same members writes the same first entry; a node
            // that already has one (another node's election reached it first) says so, which
            // is fine.
            if let Err(e) = raft.initialize(config.members.clone()).await {
                if !matches!(
                    e,
                    RaftError::APIError(openraft::error::InitializeError::NotAllowed(_))
                ) {
                    return Err(io::Error::other(e.to_string()));
                }
            }
        }
        let forwarder = Forwarder::start(network.clone(), FORWARD_TIMEOUT);
        let history = Arc::new(History::default());
        watch::spawn(raft.clone(), history.clone());
        Ok(Arc::new(ClusterNode {
            id: config.id,
            dir: config.dir,
            raft,
            catalog,
            network,
            counters: Counters::default(),
            forwarder,
            history,
            snapshot_times,
            stopping: std::sync::atomic::AtomicBool::new(false),
        }))
    }

    /// This node's id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Where its log and snapshot are kept.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// The Raft node.
    pub fn raft(&self) -> &network::Node {
        &self.raft
    }

    /// The memories of this node's state.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The leader this node knows of, with how to reach it.
    pub fn leader(&self) -> Option<(u64, Member)> {
        let receiver = self.raft.metrics();
        let metrics = receiver.borrow_watched();
        let id = metrics.current_leader?;
        let member = metrics
            .membership_config
            .membership()
            .get_node(&id)
            .cloned()?;
        Some((id, member))
    }

    /// What every answer of this node says of it, read without copying the node's metrics:
    /// the leader it knows of, the last entry it applied, and whether it still runs.
    pub fn headline(&self) -> Headline {
        let receiver = self.raft.metrics();
        let metrics = receiver.borrow_watched();
        Headline {
            leader: metrics.current_leader,
            applied: metrics.last_applied.map_or(0, |l| l.index),
            running: metrics.state != ServerState::Shutdown,
        }
    }

    /// The leader, waiting up to [`LEADER_WAIT`] for one to be elected.
    async fn await_leader(&self) -> Option<(u64, Member)> {
        if let Some(found) = self.leader() {
            return Some(found);
        }
        let _ = self
            .raft
            .wait(Some(LEADER_WAIT))
            .metrics(|m| m.current_leader.is_some(), "a leader")
            .await;
        self.leader()
    }

    /// Proposes `command` on this node if it leads: checked first against this node's state
    /// (a refusal then costs no entry), answered once committed and applied.
    async fn propose(&self, command: Command) -> Result<Applied, Detour> {
        if let Some(refused) = self.precheck(&command) {
            // A leader that is not the leader any more must not answer for the cluster.
            if self.raft.metrics().borrow_watched().current_leader != Some(self.id) {
                return Err(Detour::NotLeader(self.leader()));
            }
            return Ok(refused);
        }
        let proposed = tokio::time::timeout(COMMIT_WAIT, self.raft.client_write(command)).await;
        let Ok(proposed) = proposed else {
            return Err(Detour::Unknown(format!(
                "node {} proposed the write and did not see it committed within {COMMIT_WAIT:?} (cut off from a quorum, or its disks slow?)",
                self.id
            )));
        };
        match proposed {
            Ok(response) => Ok(response.data),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(forward))) => Err(
                Detour::NotLeader(forward.leader_id.zip(forward.leader_node)),
            ),
            Err(e) => Err(Detour::Unknown(e.to_string())),
        }
    }

    /// The refusal a command gets before it is proposed, if it cannot apply to this node's
    /// state as it is now.
    fn precheck(&self, command: &Command) -> Option<Applied> {
        let refused = Applied::refusal;
        match command {
            // A kept key answers what it answered, whatever the state is now.
            Command::Idempotent { key, command, .. } => {
                if self.catalog.keys().contains(key) {
                    None
                } else {
                    self.precheck(command)
                }
            }
            Command::CreateMemory { name, .. }
            | Command::CreateV4 { name, .. }
            | Command::Create { name, .. } => self
                .catalog
                .get(name)
                .map(|_| refused("memory_exists", format!("memory {name:?} already exists"))),
            Command::DropMemory { name } => match self.catalog.get(name) {
                Some(_) => None,
                None => Some(refused("memory_not_found", format!("no memory {name:?}"))),
            },
            // Only read from the first versions' logs, never proposed: applying checks it.
            Command::BatchV1 { .. } | Command::BatchV2 { .. } => None,
            Command::Batch { memory, ops } => match self.catalog.get(memory) {
                Some(replica) => replica.check(ops).err().map(|e| Applied::refused(&e)),
                None => Some(refused("memory_not_found", format!("no memory {memory:?}"))),
            },
        }
    }

    /// How many snapshots this node built and installed, and how long the last ones took.
    pub fn snapshot_times(&self) -> &SnapshotTimes {
        &self.snapshot_times
    }

    /// Requests this node sent to a leader carrying the writes it forwarded (gathered: fewer
    /// than the writes under load).
    pub fn forward_requests(&self) -> u64 {
        self.forwarder.requests()
    }

    /// What this node counted of the writes it was sent.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Writes `command` through the leader, wherever it is: proposed here if this node leads,
    /// forwarded to the leader otherwise.
    pub async fn write(&self, command: Command) -> Result<Written, WriteError> {
        let started = std::time::Instant::now();
        let result = self.write_through_leader(command).await;
        let c = &self.counters;
        match &result {
            Ok(written) => {
                c.answered.fetch_add(1, Relaxed);
                if matches!(written.applied, Applied::Refused { .. }) {
                    c.refused.fetch_add(1, Relaxed);
                }
                if written.leader != self.id {
                    c.forwarded.fetch_add(1, Relaxed);
                }
                let micros = started.elapsed().as_micros().min(u64::MAX as u128) as u64;
                c.write_micros.fetch_add(micros, Relaxed);
            }
            Err(WriteError::NotWritten(_)) => {
                c.not_written.fetch_add(1, Relaxed);
            }
            Err(WriteError::Unknown(_)) => {
                c.unknown.fetch_add(1, Relaxed);
            }
        }
        result
    }

    async fn write_through_leader(&self, command: Command) -> Result<Written, WriteError> {
        let mut last = String::from("no leader");
        let deadline = tokio::time::Instant::now() + STEER_WAIT;
        while tokio::time::Instant::now() < deadline {
            let Some((leader, member)) = self.await_leader().await else {
                return Err(WriteError::NotWritten(format!(
                    "the cluster has no leader (waited {LEADER_WAIT:?})"
                )));
            };
            let detour = if leader == self.id {
                match self.propose(command.clone()).await {
                    Ok(applied) => return Ok(Written { applied, leader }),
                    Err(detour) => detour,
                }
            } else {
                let sent = self.forwarder.forward(&member.raft, &command).await;
                match sent {
                    Ok(Ok(Ok(applied))) => return Ok(Written { applied, leader }),
                    Ok(Ok(Err(detour))) => detour,
                    Ok(Err(message)) | Err(CallError::Refused(message)) => {
                        return Err(WriteError::NotWritten(format!(
                            "node {leader} refused the forwarded write: {message}"
                        )))
                    }
                    Err(CallError::NotSent(why)) => {
                        // The leader is gone (or not listening yet): wait for the cluster to
                        // notice and elect another.
                        last = format!("node {leader} is unreachable: {why}");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                    Err(CallError::Lost(why)) => {
                        return Err(WriteError::Unknown(format!(
                            "node {leader} (the leader) had the write and did not answer: {why}"
                        )))
                    }
                }
            };
            match detour {
                Detour::NotLeader(_) | Detour::NoQuorum(_) => {
                    last = format!("node {leader} is not the leader any more");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Detour::Unknown(why) => return Err(WriteError::Unknown(why)),
            }
        }
        Err(WriteError::NotWritten(last))
    }

    /// The read index if this node leads: confirmed by a quorum, and applied here.
    async fn read_index_here(&self) -> Result<u64, Detour> {
        match self.raft.ensure_linearizable(ReadPolicy::ReadIndex).await {
            Ok(read) => Ok(read.index()),
            Err(e) => match e.forward_to_leader() {
                Some(forward) => Err(Detour::NotLeader(
                    forward.leader_id.zip(forward.leader_node.clone()),
                )),
                None => Err(Detour::NoQuorum(e.to_string())),
            },
        }
    }

    /// Waits until this node has applied entry `index` (within [`APPLY_WAIT`]).
    pub async fn applied(&self, index: u64) -> Result<(), ReadError> {
        self.raft
            .wait(Some(APPLY_WAIT))
            .applied_index_at_least(Some(index), "apply")
            .await
            .map(|_| ())
            .map_err(|_| {
                let applied = self
                    .raft
                    .metrics()
                    .borrow_watched()
                    .last_applied
                    .map_or(0, |l| l.index);
                ReadError::Behind(format!(
                    "node {} did not apply entry {index} within {APPLY_WAIT:?} (it applied {applied})",
                    self.id
                ))
            })
    }

    /// The linearizable read barrier: returns once this node's state holds every write
    /// acknowledged before the call (the leader's commit index, confirmed by a quorum), with
    /// that index.
    pub async fn linearizable(&self) -> Result<u64, ReadError> {
        let mut last = String::from("no leader");
        let deadline = tokio::time::Instant::now() + STEER_WAIT;
        while tokio::time::Instant::now() < deadline {
            let Some((leader, member)) = self.await_leader().await else {
                return Err(ReadError::NoLeader(format!(
                    "the cluster has no leader (waited {LEADER_WAIT:?})"
                )));
            };
            let detour = if leader == self.id {
                match self.read_index_here().await {
                    Ok(index) => return Ok(index),
                    Err(detour) => detour,
                }
            } else {
                let asked: Result<Result<Result<u64, Detour>, String>, CallError> = self
                    .network
                    .call(&member.raft, "/raft/read-index", &(), FORWARD_TIMEOUT)
                    .await;
                match asked {
                    Ok(Ok(Ok(index))) => {
                        self.applied(index).await?;
                        return Ok(index);
                    }
                    Ok(Ok(Err(detour))) => detour,
                    Ok(Err(why)) | Err(CallError::Refused(why) | CallError::Lost(why)) => {
                        return Err(ReadError::NoLeader(format!(
                            "node {leader} (the leader) gave no read index: {why}"
                        )))
                    }
                    Err(CallError::NotSent(why)) => {
                        last = format!("node {leader} is unreachable: {why}");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                }
            };
            match detour {
                Detour::NotLeader(_) => {
                    last = format!("node {leader} is not the leader any more");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Detour::NoQuorum(why) | Detour::Unknown(why) => {
                    return Err(ReadError::NoLeader(why))
                }
            }
        }
        Err(ReadError::NoLeader(last))
    }

    /// What this node knows of itself and the cluster.
    pub fn status(&self) -> Status {
        let m = self.raft.metrics().borrow_watched().clone();
        let membership = m.membership_config.membership();
        let voters: Vec<u64> = membership.voter_ids().collect();
        let last_log = m.last_log_index;
        let now = std::time::Instant::now();
        let leading = m.state == ServerState::Leader;
        let members = membership
            .nodes()
            .map(|(id, member)| {
                let matched = m
                    .replication
                    .as_ref()
                    .and_then(|r| r.get(id))
                    .map(|l| l.as_ref().map(|l| l.index));
                let acked = m.heartbeat.as_ref().and_then(|h| h.get(id)).map(|at| {
                    at.as_ref()
                        .map(|at| at.elapsed().as_millis().min(u64::MAX as u128) as u64)
                });
                MemberStatus {
                    id: *id,
                    api: member.api.clone(),
                    raft: member.raft.clone(),
                    kind: if voters.contains(id) {
                        "voter"
                    } else {
                        "learner"
                    },
                    matched: matched.flatten(),
                    lag_entries: matched
                        .map(|matched| last_log.unwrap_or(0).saturating_sub(matched.unwrap_or(0))),
                    lag_ms: if *id == self.id && leading {
                        Some(0)
                    } else {
                        matched.and_then(|matched| self.history.lag_ms(matched.unwrap_or(0), now))
                    },
                    last_ack_ms: if *id == self.id && m.state == ServerState::Leader {
                        Some(0)
                    } else {
                        acked.flatten()
                    },
                }
            })
            .collect();
        Status {
            id: self.id,
            role: role_name(m.state),
            term: m.current_term,
            leader: m.current_leader,
            last_log_index: m.last_log_index,
            committed: m.local_committed.map(|l| l.index),
            applied: m.last_applied.map(|l| l.index),
            snapshot: m.snapshot.map(|l| l.index),
            seen: self.history.seens(),
            members,
        }
    }

    /// Makes `change` on the leader (here, or forwarded to it), and answers once the new
    /// membership is committed (a transfer: once another node leads).
    pub async fn change(&self, change: Change) -> Result<(), ChangeError> {
        let deadline = tokio::time::Instant::now() + STEER_WAIT;
        let mut last = String::from("no leader");
        while tokio::time::Instant::now() < deadline {
            let Some((leader, member)) = self.await_leader().await else {
                break;
            };
            let answer = if leader == self.id {
                self.change_here(change.clone()).await
            } else {
                let sent: Result<Result<Result<(), ChangeError>, String>, CallError> = self
                    .network
                    .call(&member.raft, "/raft/change", &change, FORWARD_TIMEOUT)
                    .await;
                match sent {
                    Ok(Ok(answer)) => answer,
                    Ok(Err(why)) | Err(CallError::Refused(why)) => {
                        return Err(ChangeError::Refused(why))
                    }
                    Err(CallError::NotSent(why)) => Err(ChangeError::NoLeader(why)),
                    Err(CallError::Lost(why)) => return Err(ChangeError::Unknown(why)),
                }
            };
            match answer {
                Err(ChangeError::NoLeader(why)) => {
                    last = why;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Ok(()) => {
                    self.await_seen(&change).await;
                    return Ok(());
                }
                refused => return refused,
            }
        }
        Err(ChangeError::NoLeader(last))
    }

    /// Waits (at most [`STEER_WAIT`]) until this node's own view of the cluster shows `change`,
    /// made by the leader, so that what it answers after a change includes it. A node the leader
    /// already stopped replicating to (one just removed, say) may never see it; it answers what
    /// it knows when the wait ends.
    async fn await_seen(&self, change: &Change) {
        let shows = |m: &crate::raft::Metrics| {
            let membership = m.membership_config.membership();
            match change {
                Change::AddLearner { id, .. } => membership.get_node(id).is_some(),
                Change::Promote { id } => membership.voter_ids().any(|v| v == *id),
                Change::Remove { id } => membership.get_node(id).is_none(),
                Change::TransferLeader { to } => m.current_leader == Some(*to),
            }
        };
        let _ = self
            .raft
            .wait(Some(STEER_WAIT))
            .metrics(shows, "the change")
            .await;
    }

    /// Makes `change` if this node leads.
    async fn change_here(&self, change: Change) -> Result<(), ChangeError> {
        let metrics = self.raft.metrics().borrow_watched().clone();
        if metrics.current_leader != Some(self.id) {
            return Err(ChangeError::NoLeader(format!(
                "node {} is not the leader any more",
                self.id
            )));
        }
        let membership = metrics.membership_config.membership().clone();
        let voters: std::collections::BTreeSet<u64> = membership.voter_ids().collect();
        let known = |id: u64| membership.get_node(&id).is_some();
        let refused = |why: String| Err(ChangeError::Refused(why));
        let outcome = match change {
            Change::AddLearner { id, member } => {
                if known(id) {
                    return refused(format!("node {id} is already a member"));
                }
                self.raft.add_learner(id, member, false).await.map(|_| ())
            }
            Change::Promote { id } => {
                if !known(id) {
                    return refused(format!(
                        "node {id} is not a member: add it as a learner first"
                    ));
                }
                if voters.contains(&id) {
                    return refused(format!("node {id} is a voter already"));
                }
                self.raft
                    .change_membership(openraft::ChangeMembers::AddVoterIds([id].into()), true)
                    .await
                    .map(|_| ())
            }
            Change::Remove { id } => {
                if !known(id) {
                    return refused(format!("node {id} is not a member"));
                }
                if voters.contains(&id) {
                    if voters.len() == 1 {
                        return refused(format!("node {id} is the last voter"));
                    }
                    self.raft
                        .change_membership(
                            openraft::ChangeMembers::RemoveVoters([id].into()),
                            false,
                        )
                        .await
                        .map(|_| ())
                } else {
                    self.raft
                        .change_membership(openraft::ChangeMembers::RemoveNodes([id].into()), false)
                        .await
                        .map(|_| ())
                }
            }
            Change::TransferLeader { to } => {
                if !voters.contains(&to) {
                    return refused(format!("node {to} is not a voter"));
                }
                if to == self.id {
                    return Ok(());
                }
                self.raft
                    .trigger()
                    .transfer_leader(to)
                    .await
                    .map_err(|e| ChangeError::Unknown(e.to_string()))?;
                return self
                    .raft
                    .wait(Some(STEER_WAIT))
                    .metrics(|m| m.current_leader == Some(to), "the new leader")
                    .await
                    .map(|_| ())
                    .map_err(|_| {
                        ChangeError::Unknown(format!(
                            "node {to} did not take the lead within {STEER_WAIT:?}"
                        ))
                    });
            }
        };
        outcome.map_err(|e| match e {
            RaftError::APIError(ClientWriteError::ForwardToLeader(_)) => {
                ChangeError::NoLeader(e.to_string())
            }
            RaftError::APIError(ClientWriteError::ChangeMembershipError(_)) => {
                ChangeError::Refused(e.to_string())
            }
            _ => ChangeError::Unknown(e.to_string()),
        })
    }

    /// The routes of this node's cluster listener: Raft's messages, forwarded writes and read
    /// indexes, all requiring the cluster token.
    pub fn routes(self: &Arc<Self>, token: &str) -> Router {
        // `/raft/write` (one write) is what nodes of the previous version forward; this
        // version gathers them into `/raft/write-many`.
        let own = Router::new()
            .route(
                "/raft/write",
                post(forwarded_write).layer(DefaultBodyLimit::max(network::MESSAGE_BYTES_MAX)),
            )
            .route(
                "/raft/write-many",
                post(forwarded_writes).layer(DefaultBodyLimit::max(network::MESSAGE_BYTES_MAX)),
            )
            .route("/raft/read-index", post(read_index))
            .route("/raft/change", post(forwarded_change))
            .with_state(self.clone());
        let receiver =
            network::Receiver::new(self.raft.clone(), &self.dir, self.snapshot_times.clone());
        network::guarded(
            network::raft_routes(self.raft.clone(), receiver).merge(own),
            token,
        )
    }

    /// Waits until the node's Raft tasks stop without being asked to (a storage error: the log
    /// failed a write or sync, and openraft stops rather than go on with it), and says why.
    /// `None` when they stop because [`ClusterNode::shutdown`] asked them to.
    pub async fn halted(&self) -> Option<String> {
        let mut metrics = self.raft.metrics();
        loop {
            {
                let m = metrics.borrow_and_update();
                let why = match &m.running_state {
                    Err(fatal) => Some(fatal.to_string()),
                    Ok(()) if m.state == ServerState::Shutdown => Some("Raft stopped".to_string()),
                    Ok(()) => None,
                };
                if let Some(why) = why {
                    return (!self.stopping.load(Relaxed)).then_some(why);
                }
            }
            if metrics.changed().await.is_err() {
                return (!self.stopping.load(Relaxed)).then(|| "Raft stopped".to_string());
            }
        }
    }

    /// Stops the node's Raft tasks.
    pub async fn shutdown(&self) {
        self.stopping.store(true, Relaxed);
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(node = self.id, "the node did not stop cleanly: {e}");
        }
    }
}

async fn forwarded_write(State(node): State<Arc<ClusterNode>>, body: Bytes) -> Response {
    let command: Command = match decode(&body) {
        Ok(c) => c,
        Err(why) => return refused(why),
    };
    answer(&Ok(node.propose(command).await))
}

/// Writes a follower gathered ([`crate::forward`]): each proposed as if it came alone (they
/// share the log's next appends), each answered in its place.
async fn forwarded_writes(State(node): State<Arc<ClusterNode>>, body: Bytes) -> Response {
    let commands: Vec<Command> = match decode(&body) {
        Ok(c) => c,
        Err(why) => return refused(why),
    };
    if commands.len() > WRITES_PER_REQUEST_MAX {
        return refused(format!(
            "{} writes in one request; the limit is {WRITES_PER_REQUEST_MAX}",
            commands.len()
        ));
    }
    let answers: Vec<Result<Applied, Detour>> =
        futures_util::future::join_all(commands.into_iter().map(|c| node.propose(c))).await;
    answer(&Ok(answers))
}

async fn forwarded_change(State(node): State<Arc<ClusterNode>>, body: Bytes) -> Response {
    let change: Change = match decode(&body) {
        Ok(c) => c,
        Err(why) => return refused(why),
    };
    answer(&Ok(node.change_here(change).await))
}

async fn read_index(State(node): State<Arc<ClusterNode>>) -> Response {
    answer(&Ok(node.read_index_here().await))
}
