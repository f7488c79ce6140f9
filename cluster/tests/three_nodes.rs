//! Three nodes in one process, on the real log (files in temporary directories) and state
//! machine, with openraft between them and a network of direct calls that a test can cut (the
//! HTTP network between processes comes next). A leader is elected, writes are committed and
//! applied the same on every node (a refused batch refused everywhere), the leader stops, another
//! takes over, writes go on, and the old leader restarts from its log and catches up: every node
//! ends byte-identical, and no acknowledged write is missing.

use openraft::error::{RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::impls::BasicNode;
use openraft::network::{RPCOption, RaftNetworkFactory, RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::{Config, Raft};
use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use sutra_cluster::command::{Applied, Command};
use sutra_cluster::log::LogStore;
use sutra_cluster::machine::StateMachine;
use sutra_cluster::raft::{Snapshot, TypeConfig, Vote};
use sutra_core::{ConceptId, ConceptInput, Kind, Op};

type Node = Raft<TypeConfig, StateMachine>;

/// The nodes that are up, by id.
#[derive(Clone, Default)]
struct Router {
    nodes: Arc<Mutex<BTreeMap<u64, Node>>>,
}

impl Router {
    fn get(&self, id: u64) -> Option<Node> {
        self.nodes.lock().ok()?.get(&id).cloned()
    }
    fn put(&self, id: u64, node: Node) {
        if let Ok(mut nodes) = self.nodes.lock() {
            nodes.insert(id, node);
        }
    }
    fn remove(&self, id: u64) -> Option<Node> {
        self.nodes.lock().ok()?.remove(&id)
    }
}

struct Connection {
    target: u64,
    router: Router,
}

impl Connection {
    fn node(&self) -> Result<Node, Unreachable<TypeConfig>> {
        self.router
            .get(self.target)
            .ok_or_else(|| Unreachable::from_string(format!("node {} is down", self.target)))
    }
}

impl RaftNetworkV2<TypeConfig> for Connection {
    type SnapshotData = Vec<u8>;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
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

impl RaftNetworkFactory<TypeConfig> for Router {
    type Network = Connection;

    async fn new_client(&mut self, target: u64, _node: &BasicNode) -> Connection {
        Connection {
            target,
            router: self.clone(),
        }
    }
}

async fn start(id: u64, dir: &Path, router: &Router) -> Node {
    let config = Config {
        heartbeat_interval: 50,
        election_timeout_min: 300,
        election_timeout_max: 600,
        ..Default::default()
    };
    let config = Arc::new(config.validate().expect("config"));
    let log = LogStore::open(dir).expect("open the log");
    let node = Raft::new(id, config, router.clone(), log, StateMachine::default())
        .await
        .expect("start a node");
    router.put(id, node.clone());
    node
}

async fn leader(router: &Router, among: &[u64]) -> Node {
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

async fn write(node: &Node, command: Command) -> Applied {
    node.client_write(command).await.expect("committed").data
}

fn put(text: &str, at: u64) -> Command {
    Command::Batch {
        memory: "notes".into(),
        ops: vec![Op::put_concept(ConceptInput::new(text), at)],
    }
}

/// The memory's image on `node` once it has applied entry `index`.
async fn image_at(node: &Node, index: u64) -> Vec<u8> {
    node.wait(Some(Duration::from_secs(10)))
        .applied_index_at_least(Some(index), "catch up")
        .await
        .expect("applied");
    node.with_state_machine(|sm: &mut StateMachine| {
        let image = sm.memory("notes").map(|db| db.encode_snapshot());
        Box::pin(async move { image })
    })
    .await
    .expect("state machine")
    .expect("the memory exists")
    .expect("encodes")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_survive_the_leaders_stop_and_every_node_ends_the_same() {
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().expect("dir")).collect();
    let paths: Vec<PathBuf> = dirs.iter().map(|d| d.path().to_path_buf()).collect();
    let router = Router::default();
    let mut nodes = Vec::new();
    for (i, dir) in paths.iter().enumerate() {
        nodes.push(start(i as u64 + 1, dir, &router).await);
    }
    nodes[0]
        .initialize(BTreeMap::from([
            (1u64, BasicNode::new("node 1")),
            (2, BasicNode::new("node 2")),
            (3, BasicNode::new("node 3")),
        ]))
        .await
        .expect("initialize");
    let first = leader(&router, &[1, 2, 3]).await;
    let created = write(
        &first,
        Command::CreateMemory {
            name: "notes".into(),
            dimension: None,
        },
    )
    .await;
    assert!(matches!(created, Applied::Done { .. }), "{created:?}");
    let mut acknowledged = Vec::new();
    for i in 0..20 {
        let text = format!("fact {i}");
        match write(&first, put(&text, i)).await {
            Applied::Done { seq } => acknowledged.push((text, seq)),
            other => panic!("{other:?}"),
        }
    }
    let refused = write(
        &first,
        Command::Batch {
            memory: "notes".into(),
            ops: vec![Op::put_association(
                ConceptId::from_content("fact 0"),
                ConceptId::from_content("nobody"),
                Kind::Causal,
                0.5,
                1.0,
                30,
            )],
        },
    )
    .await;
    assert!(
        matches!(&refused, Applied::Refused { code, .. } if code == "concept_not_found"),
        "{refused:?}"
    );

    // The leader stops; another is elected among the two left, and writes go on.
    let old = *first.node_id();
    router.remove(old).expect("the leader was up");
    first.shutdown().await.expect("shutdown");
    drop(first);
    let left: Vec<u64> = [1u64, 2, 3].into_iter().filter(|id| *id != old).collect();
    let second = leader(&router, &left).await;
    assert_ne!(*second.node_id(), old);
    let mut last = 0;
    for i in 20..30 {
        let text = format!("fact {i}");
        match write(&second, put(&text, i)).await {
            Applied::Done { seq } => {
                acknowledged.push((text, seq));
                last = seq;
            }
            other => panic!("{other:?}"),
        }
    }

    // The old leader restarts from its log, with an empty state machine, and catches up.
    let restarted = start(old, &paths[(old - 1) as usize], &router).await;
    let mut images = Vec::new();
    for id in [1u64, 2, 3] {
        let node = if id == old {
            restarted.clone()
        } else {
            router.get(id).expect("up")
        };
        images.push(image_at(&node, last).await);
    }
    assert!(
        images.iter().all(|i| i == &images[0]),
        "every node's memory is byte-identical"
    );
    let concepts = restarted
        .with_state_machine(|sm: &mut StateMachine| {
            let concepts = sm.memory("notes").map(|db| db.counts().concepts);
            Box::pin(async move { concepts })
        })
        .await
        .expect("state machine");
    assert_eq!(concepts, Some(30), "30 acknowledged concepts, nothing more");
    let present = restarted
        .with_state_machine(move |sm: &mut StateMachine| {
            let db = sm.memory("notes");
            let all = acknowledged.iter().all(|(text, _)| {
                db.is_some_and(|db| db.concept(ConceptId::from_content(text)).is_some())
            });
            Box::pin(async move { all })
        })
        .await
        .expect("state machine");
    assert!(present, "every acknowledged write is on the restarted node");
    for node in [restarted, second] {
        node.shutdown().await.expect("shutdown");
    }
}
