//! `sutra serve` as a node of a replicated cluster: the flags checked into [`ClusterOptions`],
//! the node started on `<data>/cluster` with its cluster listener ([`start`]), its memories'
//! vector indexing in the background, and a stop that hands leadership over first ([`stop`]).

use crate::memories::home::Home;
use openraft::{Config, SnapshotPolicy};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use sutra_cluster::node::{ClusterNode, NodeConfig};
use sutra_cluster::raft::Member;
use sutra_core::{Budgets, HnswParams, IndexPolicy};

/// The directory of the data directory that holds a node's log and snapshot.
pub const CLUSTER_DIR: &str = "cluster";
/// Shortest cluster token.
pub const TOKEN_CHARS_MIN: usize = 16;
/// How often the background indexer looks for vectors to index.
const INDEX_TICK: Duration = Duration::from_millis(500);
/// How long a stopping leader waits for another node to take over.
const HANDOVER_WAIT: Duration = Duration::from_secs(3);
/// The exit status of a node that stopped on a storage fault (fail-stop): a supervisor
/// restarts it, and it catches up from the others.
pub const HALTED_EXIT: i32 = 75;

/// The cluster's timing and snapshot policy.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Between two heartbeats of the leader.
    pub heartbeat_ms: u64,
    /// Shortest election timeout (the longest is twice this).
    pub election_timeout_ms: u64,
    /// Entries between two snapshots.
    pub snapshot_every: u64,
    /// The most snapshot bytes a leader sends a follower each second, in MiB.
    pub snapshot_mib_per_s: u64,
}

/// A node's options, checked.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Its id.
    pub id: u64,
    /// The members the cluster is first made of.
    pub members: BTreeMap<u64, Member>,
    /// Where its cluster listener listens.
    pub listen: SocketAddr,
    /// The cluster token.
    pub token: String,
    /// Timing.
    pub timing: Timing,
    /// Where its connections to the other nodes leave from.
    pub source_ip: Option<std::net::IpAddr>,
}

/// Reads one `--member ID=API_ADDR/CLUSTER_ADDR`.
fn parse_member(text: &str) -> Result<(u64, Member), String> {
    let bad = |why: &str| {
        format!("--member {text:?}: {why} (expected ID=API_ADDR/CLUSTER_ADDR, e.g. 1=127.0.0.1:7001/127.0.0.1:7101)")
    };
    let (id, addrs) = text.split_once('=').ok_or_else(|| bad("no ="))?;
    let id: u64 = id
        .trim()
        .parse()
        .ok()
        .filter(|&id| id > 0)
        .ok_or_else(|| bad("the id is not a number of 1 or more"))?;
    let (api, raft) = addrs.split_once('/').ok_or_else(|| bad("no /"))?;
    for addr in [api, raft] {
        if addr.parse::<SocketAddr>().is_err() && !addr.contains(':') {
            return Err(bad(&format!("{addr:?} is not host:port")));
        }
    }
    Ok((id, Member::new(raft.trim(), api.trim())))
}

/// Checks the cluster flags of `sutra serve`.
pub fn cluster_options(
    id: u64,
    members: &[String],
    listen: Option<SocketAddr>,
    token: Option<String>,
    timing: Timing,
    source_ip: Option<std::net::IpAddr>,
) -> Result<ClusterOptions, String> {
    let token = token.ok_or(
        "a cluster node needs --cluster-token (or SUTRA_CLUSTER_TOKEN): the nodes require it of each other",
    )?;
    if token.chars().count() < TOKEN_CHARS_MIN || token.chars().any(char::is_whitespace) {
        return Err(format!(
            "--cluster-token must be at least {TOKEN_CHARS_MIN} characters, without spaces"
        ));
    }
    let mut parsed = BTreeMap::new();
    for text in members {
        let (member_id, member) = parse_member(text)?;
        if parsed.insert(member_id, member).is_some() {
            return Err(format!("--member {member_id} is given twice"));
        }
    }
    if !parsed.is_empty() && !parsed.contains_key(&id) {
        return Err(format!(
            "--node-id {id} is not among the --member entries ({:?})",
            parsed.keys().collect::<Vec<_>>()
        ));
    }
    let listen = match (listen, parsed.get(&id)) {
        (Some(listen), _) => listen,
        (None, Some(me)) => me.raft.parse().map_err(|_| {
            format!(
                "cannot listen on {:?} (this node's cluster address): give --cluster-listen",
                me.raft
            )
        })?,
        (None, None) => {
            return Err(
                "give --cluster-listen, or this node's --member entry (the first start of a cluster needs every --member)"
                    .into(),
            )
        }
    };
    Ok(ClusterOptions {
        id,
        members: parsed,
        listen,
        token,
        timing,
        source_ip,
    })
}

/// Starts the node on `<data>/cluster`: its log and state, its cluster listener, its
/// background indexing. A data directory that holds a single server's memories is refused
/// (a node starts on a directory of its own).
pub async fn start(data: &Path, options: ClusterOptions) -> Result<Home, String> {
    std::fs::create_dir_all(data)
        .map_err(|e| format!("cannot make the data directory {}: {e}", data.display()))?;
    let strangers: Vec<String> = std::fs::read_dir(data)
        .map_err(|e| format!("cannot read {}: {e}", data.display()))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| {
            // The node's files, a lock, and old files a force-new-cluster kept aside.
            name != CLUSTER_DIR && !name.starts_with('.') && !name.starts_with("cluster.")
        })
        .collect();
    if !strangers.is_empty() {
        return Err(format!(
            "{} holds a single server's memories ({}); a cluster node starts on a data directory of its own (give --data)",
            data.display(),
            strangers.join(", ")
        ));
    }
    let dir = data.join(CLUSTER_DIR);
    lock_node_dir(&dir)?;
    let timing = options.timing;
    let config = Config {
        cluster_name: "sutra".into(),
        heartbeat_interval: timing.heartbeat_ms,
        election_timeout_min: timing.election_timeout_ms,
        election_timeout_max: timing.election_timeout_ms * 2,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(timing.snapshot_every),
        // Keep as many entries after a snapshot, so that a follower a little behind catches
        // up from the log rather than with a whole snapshot.
        max_in_snapshot_log_to_keep: timing.snapshot_every,
        // Send new entries to the followers as soon as they are in the leader's log, while the
        // leader syncs it, rather than after: the leader's fdatasync and the followers' overlap
        // (an entry still counts as on the leader only once synced there).
        broadcast_submitted_on_append: Some(true),
        ..Default::default()
    };
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|e| {
            format!(
                "cannot listen on {} (--cluster-listen): {e}",
                options.listen
            )
        })?;
    let node = ClusterNode::start(NodeConfig {
        id: options.id,
        dir,
        members: options.members,
        token: options.token.clone(),
        params: HnswParams::default(),
        raft: config,
        source_ip: options.source_ip,
        snapshot_bytes_per_s: timing.snapshot_mib_per_s.saturating_mul(1024 * 1024),
    })
    .await
    .map_err(|e| format!("cannot start node {}: {e}", options.id))?;
    let routes = node.routes(&options.token);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, routes).await {
            tracing::error!("the cluster listener stopped: {e}");
        }
    });
    // Fail-stop: a node whose log failed a write or sync stops its Raft tasks; the process
    // then ends too, rather than serve reads from a node that can no longer follow.
    let watched = node.clone();
    tokio::spawn(async move {
        if let Some(why) = watched.halted().await {
            tracing::error!("the node stopped on a fault and the process exits ({HALTED_EXIT}); restart it and it catches up from the others: {why}");
            eprintln!("sutra: node {} stopped on a fault: {why}", watched.id());
            std::process::exit(HALTED_EXIT);
        }
    });
    let indexed = node.clone();
    std::thread::Builder::new()
        .name("sutra-indexer".into())
        .spawn(move || index_forever(&indexed))
        .map_err(|e| format!("cannot start the indexing thread: {e}"))?;
    tracing::info!(
        node = options.id,
        cluster = %options.listen,
        "cluster node started"
    );
    Ok(Home::Cluster(node))
}

/// Takes the advisory lock of a node's directory (`DIR/cluster/LOCK`) for the rest of the
/// process: a second process on the same node's files (a second `sutra serve --node-id`, or
/// `sutra cluster force-new-cluster` while the node runs) fails at once instead of writing the
/// same log.
pub fn lock_node_dir(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
    let path = dir.join("LOCK");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {
            // Held until the process exits (the lock goes with the file's descriptor).
            std::mem::forget(file);
            Ok(())
        }
        Err(std::fs::TryLockError::WouldBlock) => Err(format!(
            "the node's files in {} are in use by another process (its lock file {} is held)",
            dir.display(),
            path.display()
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(format!("lock {}: {e}", path.display())),
    }
}

/// Indexes the memories' fresh vectors in the background (each node indexes its own copy;
/// the index is not replicated, it is built from the data), by the core's policy (from the
/// server's budget of fresh vectors, or all of them once a memory is quiet), until the node
/// stops.
fn index_forever(node: &Arc<ClusterNode>) {
    let started = std::time::Instant::now();
    let mut policies: BTreeMap<String, IndexPolicy> = BTreeMap::new();
    while node.headline().running {
        let now_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let replicas = node.catalog().all();
        policies.retain(|name, _| replicas.iter().any(|(n, _)| n == name));
        for (name, replica) in replicas {
            let reader = replica.reader();
            let stats = reader.stats();
            let Some(fresh_min) = policies
                .entry(name)
                .or_insert_with(|| IndexPolicy::new(Budgets::SERVER.index_fresh_min))
                .due(
                    stats.vectors.fresh,
                    reader.vector_graph_work_due(),
                    stats.last_seq,
                    now_ms,
                )
            else {
                continue;
            };
            while let Some(step) = reader.index_vectors_step(fresh_min) {
                if let Some(e) = step.error {
                    tracing::error!("vector indexing failed: {e}");
                    break;
                }
            }
        }
        std::thread::sleep(INDEX_TICK);
    }
}

/// Stops the node: a leader first hands leadership to the most up-to-date voter (so that
/// writes see a short wait for the new leader rather than an election timeout), then Raft
/// stops.
pub async fn stop(node: &Arc<ClusterNode>) {
    let status = node.status();
    if status.leader == Some(node.id()) {
        let successor = status
            .members
            .iter()
            .filter(|m| m.id != node.id() && m.kind == "voter")
            .max_by_key(|m| m.matched);
        if let Some(successor) = successor {
            tracing::info!(to = successor.id, "handing leadership over before stopping");
            if node
                .raft()
                .trigger()
                .transfer_leader(successor.id)
                .await
                .is_ok()
            {
                let me = node.id();
                let _ = node
                    .raft()
                    .wait(Some(HANDOVER_WAIT))
                    .metrics(
                        |m| m.current_leader.is_some_and(|l| l != me),
                        "a new leader",
                    )
                    .await;
            }
        }
    }
    node.shutdown().await;
}
