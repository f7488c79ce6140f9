//! Writes sent to a follower are forwarded to the leader gathered: many writes arriving at once
//! share requests, and each keeps its own answer (its own entry, its own refusal). Three
//! `ClusterNode`s in one process, on real HTTP listeners on loopback.

use openraft::Config;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use sutra_cluster::command::{Applied, Command};
use sutra_cluster::node::{ClusterNode, NodeConfig};
use sutra_cluster::raft::Member;
use sutra_core::{ConceptId, ConceptInput, HnswParams, Op};

const TOKEN: &str = "a token for the forwarding test";

async fn three(dirs: &[tempfile::TempDir]) -> Vec<Arc<ClusterNode>> {
    let mut listeners = Vec::new();
    let mut members = BTreeMap::new();
    for id in 1..=3u64 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        members.insert(id, Member::new(&addr, format!("api of {id}")));
        listeners.push(listener);
    }
    let mut nodes = Vec::new();
    for (i, listener) in listeners.into_iter().enumerate() {
        let node = ClusterNode::start(NodeConfig {
            id: i as u64 + 1,
            dir: dirs[i].path().to_path_buf(),
            members: members.clone(),
            token: TOKEN.into(),
            params: HnswParams::default(),
            raft: Config {
                heartbeat_interval: 50,
                election_timeout_min: 300,
                election_timeout_max: 600,
                ..Default::default()
            },
            source_ip: None,
            snapshot_bytes_per_s: sutra_cluster::network::SNAPSHOT_BYTES_PER_S_DEFAULT,
        })
        .await
        .expect("start");
        let routes = node.routes(TOKEN);
        tokio::spawn(async move {
            let _ = axum::serve(listener, routes).await;
        });
        nodes.push(node);
    }
    nodes
}

fn put(text: &str, at: u64) -> Command {
    Command::Batch {
        memory: "notes".into(),
        ops: vec![Op::put_concept(ConceptInput::new(text), at)],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_forwarded_at_once_share_requests_and_keep_their_own_answers() {
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().expect("dir")).collect();
    let nodes = three(&dirs).await;
    let mut leader = None;
    for _ in 0..200 {
        leader = nodes[0].leader().map(|(id, _)| id);
        if leader.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let leader = leader.expect("a leader within 10 s");
    let follower = nodes
        .iter()
        .find(|n| n.id() != leader)
        .expect("a follower")
        .clone();
    let made = follower
        .write(Command::CreateMemory {
            name: "notes".into(),
            dimension: None,
        })
        .await
        .expect("created");
    assert!(matches!(made.applied, Applied::Done { .. }), "{made:?}");
    assert_eq!(made.leader, leader);
    let requests_before = follower.forward_requests();

    // 200 writes at once through the follower, and one that the leader refuses.
    let mut tasks = Vec::new();
    for i in 0..200u64 {
        let follower = follower.clone();
        tasks.push(tokio::spawn(async move {
            follower.write(put(&format!("fact {i}"), i + 1)).await
        }));
    }
    let refused = {
        let follower = follower.clone();
        tokio::spawn(async move {
            follower
                .write(Command::Batch {
                    memory: "no such memory".into(),
                    ops: vec![Op::put_concept(ConceptInput::new("lost"), 1)],
                })
                .await
        })
    };
    let mut seqs = BTreeSet::new();
    for task in tasks {
        let written = task.await.expect("task").expect("written");
        assert_eq!(written.leader, leader);
        match written.applied {
            Applied::Done { seq } => assert!(seqs.insert(seq), "seq {seq} answered twice"),
            other => panic!("{other:?}"),
        }
    }
    let refused = refused.await.expect("task").expect("answered");
    assert!(
        matches!(&refused.applied, Applied::Refused { code, .. } if code == "memory_not_found"),
        "{refused:?}"
    );
    let requests = follower.forward_requests() - requests_before;
    assert!(
        requests < 100,
        "201 writes forwarded in {requests} requests: not gathered"
    );
    // Every write is on the leader, once.
    let last = *seqs.last().expect("a seq");
    let on_leader = nodes.iter().find(|n| n.id() == leader).expect("the leader");
    on_leader.applied(last).await.expect("applied");
    let notes = on_leader.catalog().get("notes").expect("notes").reader();
    let db = notes.db();
    for i in 0..200 {
        assert!(db
            .concept(ConceptId::from_content(&format!("fact {i}")))
            .is_some());
    }
    drop(db);
    assert_eq!(notes.stats().concepts, 200);
    println!("201 writes forwarded at once in {requests} requests");
}
