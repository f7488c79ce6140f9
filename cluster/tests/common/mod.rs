//! The in-process cluster the tests run: nodes on the real log (files) and state machine, with
//! openraft between them over a network of direct calls that a test can cut (a node isolated
//! from every other, both ways).

#![allow(dead_code)]

use openraft::error::{RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory, RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::{Config, Raft};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use sutra_cluster::command::{Applied, Command};
use sutra_cluster::log::{Faults, LogStore};
use sutra_cluster::machine::StateMachine;
pub use sutra_cluster::raft::Member;
use sutra_cluster::raft::{Snapshot, TypeConfig, Vote};
use sutra_core::{ConceptInput, HnswParams, Op};

pub type Node = Raft<TypeConfig, StateMachine>;

/// The nodes that are up, by id, and the nodes cut off from the others.
#[derive(Clone, Default)]
pub struct Router {
    nodes: Arc<Mutex<BTreeMap<u64, Node>>>,
    isolated: Arc<Mutex<BTreeSet<u64>>>,
    /// Each message waits up to this many milliseconds first (drawn from the runtime's
    /// randomness: seeded in a simulation); 0: none.
    jitter_ms: Arc<std::sync::atomic::AtomicU64>,
}

impl Router {
    pub fn get(&self, id: u64) -> Option<Node> {
        self.nodes.lock().ok()?.get(&id).cloned()
    }
    pub fn put(&self, id: u64, node: Node) {
        if let Ok(mut nodes) = self.nodes.lock() {
            nodes.insert(id, node);
        }
    }
    pub fn remove(&self, id: u64) -> Option<Node> {
        self.nodes.lock().ok()?.remove(&id)
    }
    /// Cuts node `id` off from every other node, both ways (it keeps running).
    pub fn isolate(&self, id: u64) {
        if let Ok(mut isolated) = self.isolated.lock() {
            isolated.insert(id);
        }
    }
    /// Makes each message wait up to `ms` milliseconds.
    pub fn set_jitter(&self, ms: u64) {
        self.jitter_ms
            .store(ms, std::sync::atomic::Ordering::Relaxed);
    }
    /// Joins every node again.
    pub fn heal(&self) {
        if let Ok(mut isolated) = self.isolated.lock() {
            isolated.clear();
        }
    }
    fn cut(&self, a: u64, b: u64) -> bool {
        self.isolated
            .lock()
            .map(|i| i.contains(&a) || i.contains(&b))
            .unwrap_or(true)
    }
}

/// The network as node `from` sees it.
#[derive(Clone)]
pub struct Network {
    from: u64,
    router: Router,
}

pub struct Connection {
    from: u64,
    target: u64,
    router: Router,
}

impl Connection {
    /// Waits as the router's jitter says.
    async fn delay(&self) {
        use openraft::rt::AsyncRuntime;
        use rand::RngExt;
        let jitter = self
            .router
            .jitter_ms
            .load(std::sync::atomic::Ordering::Relaxed);
        if jitter > 0 {
            let ms = sutra_cluster::runtime::Runtime::thread_rng().random_range(0..=jitter);
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
    }

    fn node(&self) -> Result<Node, Unreachable<TypeConfig>> {
        if self.router.cut(self.from, self.target) {
            return Err(Unreachable::from_string(format!(
                "node {} is cut off from node {}",
                self.target, self.from
            )));
        }
        self.router
            .get(self.target)
            .ok_or_else(|| Unreachable::from_string(format!("node {} is down", self.target)))
    }
}

impl RaftNetworkV2<TypeConfig> for Connection {
    type SnapshotData = sutra_cluster::machine::SnapshotFile;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.delay().await;
        let node = self.node()?;
        node.append_entries(rpc)
            .await
            .map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.delay().await;
        let node = self.node()?;
        node.vote(rpc)
            .await
            .map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: Snapshot,
        _cancel: impl Future<Output = ReplicationClosed> + Send + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let node = self.node()?;
        node.install_full_snapshot(vote, snapshot)
            .await
            .map_err(|e| StreamingError::Unreachable(Unreachable::new(&e)))
    }
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Connection;

    async fn new_client(&mut self, target: u64, _node: &Member) -> Connection {
        Connection {
            from: self.from,
            target,
            router: self.router.clone(),
        }
    }
}

/// The timing the tests run with: heartbeats every 50 ms, elections after 300-600 ms.
pub fn config() -> Config {
    Config {
        heartbeat_interval: 50,
        election_timeout_min: 300,
        election_timeout_max: 600,
        ..Default::default()
    }
}

/// Starts node `id` on the log and snapshot in `dir` (the state machine is rebuilt from the
/// snapshot, the log and the leader).
pub async fn start(id: u64, dir: &Path, router: &Router) -> Node {
    start_with(id, dir, router, config()).await
}

/// [`start`] with `config`.
pub async fn start_with(id: u64, dir: &Path, router: &Router, config: Config) -> Node {
    start_faulty(id, dir, router, config, Arc::default()).await
}

/// [`start_with`], the node's log failing as `faults` say.
pub async fn start_faulty(
    id: u64,
    dir: &Path,
    router: &Router,
    config: Config,
    faults: Arc<Faults>,
) -> Node {
    let config = Arc::new(config.validate().expect("config"));
    let log = LogStore::open_with_faults(dir, faults).expect("open the log");
    let network = Network {
        from: id,
        router: router.clone(),
    };
    let machine = StateMachine::open(dir, HnswParams::default()).expect("open the state machine");
    let node = Raft::new(id, config, network, log, machine)
        .await
        .expect("start a node");
    router.put(id, node.clone());
    node
}

/// The leader among nodes `among`, once one is elected and known to them (10 s at most).
pub async fn leader(router: &Router, among: &[u64]) -> Node {
    for _ in 0..200 {
        for id in among {
            if let Some(node) = router.get(*id) {
                if let Some(leader) = node.current_leader().await {
                    if among.contains(&leader) {
                        if let Some(found) = router.get(leader) {
                            return found;
                        }
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no leader among {among:?} within 10 s");
}

/// Writes through the leader among nodes `among`; while the write is refused with "not the
/// leader" (an election is under way), through whichever node leads next (the write was not
/// proposed then, so sending it again cannot apply it twice).
pub async fn write(router: &Router, among: &[u64], command: Command) -> Applied {
    for _ in 0..50 {
        let node = leader(router, among).await;
        match node.client_write(command.clone()).await {
            Ok(answer) => return answer.data,
            Err(e) if e.forward_to_leader().is_some() => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("write: {e}"),
        }
    }
    panic!("the write was refused 50 times");
}

/// Writes a blank entry through the leader among `among` (retried as [`write`] is) and gives
/// its index: every node that has applied it has applied everything acknowledged before.
pub async fn blank(router: &Router, among: &[u64]) -> u64 {
    for _ in 0..50 {
        let node = leader(router, among).await;
        match node.write_blank().await {
            Ok(answer) => return answer.log_id.index,
            Err(e) if e.forward_to_leader().is_some() => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("blank entry: {e}"),
        }
    }
    panic!("the blank entry was refused 50 times");
}

/// A batch learning one concept in memory `notes`.
pub fn put(text: &str, at: u64) -> Command {
    Command::Batch {
        memory: "notes".into(),
        ops: vec![Op::put_concept(ConceptInput::new(text), at)],
    }
}

/// The memory's image on `node` once it has applied entry `index`.
pub async fn image_at(node: &Node, index: u64) -> Vec<u8> {
    node.wait(Some(Duration::from_secs(10)))
        .applied_index_at_least(Some(index), "catch up")
        .await
        .expect("applied");
    node.with_state_machine(|sm: &mut StateMachine| {
        let image = sm.memory("notes").map(|r| r.db().encode_snapshot());
        Box::pin(async move { image })
    })
    .await
    .expect("state machine")
    .expect("the memory exists")
    .expect("encodes")
}

/// Starts nodes 1, 2 and 3 on `dirs` and makes them one cluster.
pub async fn three(dirs: &[std::path::PathBuf], router: &Router) -> Vec<Node> {
    three_with(dirs, router, config()).await
}

/// [`three`] with `config`.
pub async fn three_with(dirs: &[std::path::PathBuf], router: &Router, config: Config) -> Vec<Node> {
    let mut nodes = Vec::new();
    for (i, dir) in dirs.iter().enumerate() {
        nodes.push(start_with(i as u64 + 1, dir, router, config.clone()).await);
    }
    nodes[0]
        .initialize(three_members())
        .await
        .expect("initialize");
    nodes
}

/// Nodes 1, 2 and 3, as members.
pub fn three_members() -> BTreeMap<u64, Member> {
    BTreeMap::from([
        (1u64, Member::new("node 1", "api 1")),
        (2, Member::new("node 2", "api 2")),
        (3, Member::new("node 3", "api 3")),
    ])
}

/// The contents of memory `notes`' concepts on `node`, sorted (none if it has no such memory).
pub async fn texts(node: &Node) -> Vec<String> {
    node.with_state_machine(|sm: &mut StateMachine| {
        let mut texts = Vec::new();
        if let Some(reader) = sm.memory("notes") {
            let db = reader.db();
            let mut after = None;
            while let Ok(page) = db.scan(after, 1000) {
                texts.extend(page.concepts.iter().map(|c| c.content.to_string()));
                match page.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
        }
        texts.sort();
        Box::pin(async move { texts })
    })
    .await
    .expect("state machine")
}

/// Three nodes on fresh directories made one cluster with `config`, and memory `notes` created
/// in it: the directories (removed when dropped), their paths, and the router.
pub async fn cluster_with_notes(
    config: Config,
) -> (Vec<tempfile::TempDir>, Vec<std::path::PathBuf>, Router) {
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().expect("dir")).collect();
    let paths: Vec<std::path::PathBuf> = dirs.iter().map(|d| d.path().to_path_buf()).collect();
    let router = Router::default();
    three_with(&paths, &router, config).await;
    let created = write(
        &router,
        &[1, 2, 3],
        Command::CreateMemory {
            name: "notes".into(),
            dimension: None,
        },
    )
    .await;
    assert!(matches!(created, Applied::Done { .. }), "{created:?}");
    (dirs, paths, router)
}
