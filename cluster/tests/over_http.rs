//! Three nodes in one process talking over real HTTP on loopback (each on its own listener,
//! with the cluster token): elected, replicating, failing over when the leader stops; and a
//! request without the token is refused.

use openraft::{Config, Raft};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use sutra_cluster::command::{Applied, Command};
use sutra_cluster::log::LogStore;
use sutra_cluster::machine::StateMachine;
use sutra_cluster::network::{routes, HttpNetwork, Node};
use sutra_cluster::raft::Member;
use sutra_core::{ConceptId, ConceptInput, HnswParams, Op};

const TOKEN: &str = "a cluster token for the test";

struct Running {
    node: Node,
    server: tokio::task::JoinHandle<()>,
}

async fn start(id: u64, dir: &Path, listener: tokio::net::TcpListener) -> Running {
    let config = Config {
        heartbeat_interval: 50,
        election_timeout_min: 300,
        election_timeout_max: 600,
        ..Default::default()
    };
    let config = Arc::new(config.validate().expect("config"));
    let log = LogStore::open(dir).expect("log");
    let machine = StateMachine::open(dir, HnswParams::default()).expect("state machine");
    let node = Raft::new(id, config, HttpNetwork::new(TOKEN), log, machine)
        .await
        .expect("node");
    let app = routes(node.clone(), TOKEN);
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Running { node, server }
}

async fn leader_of(nodes: &BTreeMap<u64, Running>) -> Node {
    for _ in 0..200 {
        for running in nodes.values() {
            if let Some(id) = running.node.current_leader().await {
                if let Some(found) = nodes.get(&id) {
                    return found.node.clone();
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no leader within 10 s");
}

/// Writes through the leader, finding it again while the write is refused with "not the
/// leader" (then it was not proposed, so sending it again cannot apply it twice).
async fn write(nodes: &BTreeMap<u64, Running>, command: Command) -> u64 {
    for _ in 0..50 {
        let leader = leader_of(nodes).await;
        match leader.client_write(command.clone()).await {
            Ok(answer) => {
                assert!(matches!(answer.data, Applied::Done { .. }), "{answer:?}");
                return answer.log_id.index;
            }
            Err(e) if e.forward_to_leader().is_some() => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("write: {e}"),
        }
    }
    panic!("no leader took the write in 50 tries");
}

fn put(text: &str) -> Command {
    Command::Batch {
        memory: "notes".into(),
        ops: vec![Op::put_concept(ConceptInput::new(text), 1)],
    }
}

async fn concepts_at(node: &Node, index: u64) -> u64 {
    node.wait(Some(Duration::from_secs(10)))
        .applied_index_at_least(Some(index), "catch up")
        .await
        .expect("applied");
    node.with_state_machine(|sm: &mut StateMachine| {
        let n = sm.memory("notes").map_or(0, |r| r.db().counts().concepts);
        Box::pin(async move { n })
    })
    .await
    .expect("state machine")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_over_http_replicate_and_fail_over() {
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().expect("dir")).collect();
    let mut listeners = Vec::new();
    let mut members = BTreeMap::new();
    for id in 1..=3u64 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        members.insert(id, Member::new(addr, "unused"));
        listeners.push(listener);
    }
    let mut nodes = BTreeMap::new();
    for (i, listener) in listeners.into_iter().enumerate() {
        let id = i as u64 + 1;
        nodes.insert(id, start(id, dirs[i].path(), listener).await);
    }
    nodes[&1]
        .node
        .initialize(members.clone())
        .await
        .expect("initialize");
    write(
        &nodes,
        Command::CreateMemory {
            name: "notes".into(),
            dimension: None,
        },
    )
    .await;
    let mut last = 0;
    for i in 0..10 {
        last = write(&nodes, put(&format!("fact {i}"))).await;
    }
    for running in nodes.values() {
        assert_eq!(concepts_at(&running.node, last).await, 10);
    }

    // Without the token, a node refuses.
    let addr = members[&2].raft.clone();
    let refused = tokio::task::spawn_blocking(move || {
        ureq::post(&format!("http://{addr}/raft/vote"))
            .config()
            .http_status_as_error(false)
            .build()
            .send(&[0u8; 4][..])
            .map(|r| r.status().as_u16())
    })
    .await
    .expect("join")
    .expect("an answer");
    assert_eq!(refused, 401);

    // The leader stops (its node and its listener); the two others elect one and go on.
    let first = leader_of(&nodes).await;
    let old = *first.node_id();
    let stopped = nodes.remove(&old).expect("the leader");
    stopped.node.shutdown().await.expect("shutdown");
    stopped.server.abort();
    for i in 10..15 {
        last = write(&nodes, put(&format!("fact {i}"))).await;
    }
    let second = leader_of(&nodes).await;
    assert_ne!(*second.node_id(), old);
    for running in nodes.values() {
        assert_eq!(concepts_at(&running.node, last).await, 15);
    }
    let has = second
        .with_state_machine(|sm: &mut StateMachine| {
            let found = sm
                .memory("notes")
                .is_some_and(|r| r.db().concept(ConceptId::from_content("fact 14")).is_some());
            Box::pin(async move { found })
        })
        .await
        .expect("state machine");
    assert!(has);
    for running in nodes.into_values() {
        running.node.shutdown().await.expect("shutdown");
        running.server.abort();
    }
}
