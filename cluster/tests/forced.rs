//! `force_new_cluster`: a node of a cluster whose other nodes are gone for good becomes a new
//! cluster of one, holding what it knew committed — every write acknowledged before it stopped
//! that it had applied — and nothing it did not know committed (entries of its log never
//! committed are dropped, and counted); its old files are kept aside; it then takes writes.

mod common;

use common::*;
use openraft::type_config::async_runtime::WatchReceiver;
use openraft::Config;
use std::collections::BTreeMap;
use std::time::Duration;
use sutra_cluster::command::{Applied, Command};
use sutra_cluster::forced::force_new_cluster;
use sutra_cluster::node::{ClusterNode, NodeConfig};
use sutra_core::{ConceptId, HnswParams};

async fn alone(dir: &std::path::Path, id: u64) -> std::sync::Arc<ClusterNode> {
    ClusterNode::start(NodeConfig {
        id,
        dir: dir.to_path_buf(),
        members: BTreeMap::new(),
        token: "a token for the forced test".into(),
        params: HnswParams::default(),
        raft: Config {
            heartbeat_interval: 50,
            election_timeout_min: 200,
            election_timeout_max: 400,
            ..Default::default()
        },
        source_ip: None,
        snapshot_bytes_per_s: sutra_cluster::network::SNAPSHOT_BYTES_PER_S_DEFAULT,
    })
    .await
    .expect("start the reformed node")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_survivor_becomes_a_cluster_of_one_with_what_it_knew_committed() {
    let (_dirs, paths, router) = cluster_with_notes(config()).await;
    for i in 0..30 {
        let applied = write(&router, &[1, 2, 3], put(&format!("fact {i}"), i)).await;
        assert!(matches!(applied, Applied::Done { .. }), "{applied:?}");
    }
    // Node 1 leads, then is cut off and takes writes it can never commit.
    let first = leader(&router, &[1, 2, 3]).await;
    let first_id = first.metrics().borrow_watched().id;
    let last = blank(&router, &[1, 2, 3]).await;
    for node in [1u64, 2, 3] {
        image_at(&router.get(node).expect("up"), last).await;
    }
    router.isolate(first_id);
    let mut stranded = 0;
    for i in 0..3 {
        let proposed = tokio::time::timeout(
            Duration::from_millis(300),
            first.client_write(put(&format!("never committed {i}"), 100 + i)),
        )
        .await;
        match proposed {
            Err(_) => stranded += 1,
            Ok(Err(e)) => eprintln!("refused: {e}"),
            Ok(Ok(a)) => panic!("a cut-off leader committed a write: {a:?}"),
        }
    }
    // Every node stops; the others are lost for good.
    for id in [1u64, 2, 3] {
        if let Some(node) = router.remove(id) {
            node.shutdown().await.expect("shutdown");
        }
    }
    let dir = &paths[(first_id - 1) as usize];
    let reformed = force_new_cluster(dir, first_id, None, "test", HnswParams::default())
        .await
        .expect("force a new cluster");
    assert_eq!(reformed.memories, ["notes"]);
    assert_eq!(reformed.kept_up_to, Some(last), "what it knew committed");
    assert_eq!(
        reformed.dropped_entries, stranded,
        "the never-committed entries"
    );
    assert!(
        reformed.old_files.join("raft.log").is_file(),
        "the old files are kept"
    );

    let node = alone(dir, first_id).await;
    node.linearizable().await.expect("it leads its new cluster");
    let status = node.status();
    assert_eq!(status.role, "leader");
    assert_eq!(status.members.len(), 1);
    {
        let notes = node.catalog().get("notes").expect("notes").reader();
        let db = notes.db();
        assert_eq!(
            db.counts().concepts,
            30,
            "every acknowledged write, nothing more"
        );
        for i in 0..30 {
            assert!(db
                .concept(ConceptId::from_content(&format!("fact {i}")))
                .is_some());
        }
        assert!(db
            .concept(ConceptId::from_content("never committed 0"))
            .is_none());
    }
    let written = node
        .write(Command::Batch {
            memory: "notes".into(),
            ops: vec![sutra_core::Op::put_concept(
                sutra_core::ConceptInput::new("after the reform"),
                200,
            )],
        })
        .await
        .expect("it takes writes");
    assert!(matches!(written.applied, Applied::Done { seq } if seq > last));
    node.shutdown().await;

    // And it starts again from its new files.
    let again = alone(dir, first_id).await;
    again.linearizable().await.expect("leads again");
    let count = again
        .catalog()
        .get("notes")
        .expect("notes")
        .reader()
        .db()
        .counts()
        .concepts;
    assert_eq!(count, 31);
    again.shutdown().await;
}
