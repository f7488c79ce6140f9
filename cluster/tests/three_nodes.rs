//! Three nodes in one process, on the real log (files in temporary directories) and state
//! machine, with openraft between them and a network of direct calls that a test can cut (the
//! HTTP network between processes comes next). A leader is elected, writes are committed and
//! applied the same on every node (a refused batch refused everywhere), the leader stops, another
//! takes over, writes go on, and the old leader restarts from its log and catches up: every node
//! ends byte-identical, and no acknowledged write is missing.

mod common;

use openraft::type_config::async_runtime::WatchReceiver;

use common::*;
use sutra_cluster::command::{Applied, Command};
use sutra_cluster::machine::StateMachine;
use sutra_core::{ConceptId, Kind, Op};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_survive_the_leaders_stop_and_every_node_ends_the_same() {
    let (_dirs, paths, router) = cluster_with_notes(config()).await;
    let mut acknowledged = Vec::new();
    for i in 0..20 {
        let text = format!("fact {i}");
        match write(&router, &[1, 2, 3], put(&text, i)).await {
            Applied::Done { seq } => acknowledged.push((text, seq)),
            other => panic!("{other:?}"),
        }
    }
    let refused = write(
        &router,
        &[1, 2, 3],
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
    let first = leader(&router, &[1, 2, 3]).await;
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
        match write(&router, &left, put(&text, i)).await {
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
            let concepts = sm.memory("notes").map(|r| r.db().counts().concepts);
            Box::pin(async move { concepts })
        })
        .await
        .expect("state machine");
    assert_eq!(concepts, Some(30), "30 acknowledged concepts, nothing more");
    let present = restarted
        .with_state_machine(move |sm: &mut StateMachine| {
            let reader = sm.memory("notes");
            let guard = reader.as_ref().map(|r| r.db());
            let db = guard.as_deref();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_cluster_restarts_from_its_snapshots_and_logs_after_purges() {
    // Snapshots every 10 entries and the log purged up to them: after every node stops and
    // starts again, the state comes back from each node's own snapshot and log.
    let config = openraft::Config {
        snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(10),
        max_in_snapshot_log_to_keep: 0,
        purge_batch_size: 1,
        ..config()
    };
    let (_dirs, paths, router) = cluster_with_notes(config.clone()).await;
    let first = leader(&router, &[1, 2, 3]).await;
    let mut last = 0;
    for i in 0..45 {
        match write(&router, &[1, 2, 3], put(&format!("fact {i}"), i)).await {
            Applied::Done { seq } => last = seq,
            other => panic!("{other:?}"),
        }
    }
    let before = image_at(&first, last).await;
    // Every node applies the last entry before any stops: a follower a heartbeat behind learns
    // that it is committed only from a leader, and once two nodes are down there is none.
    for id in [1u64, 2, 3] {
        image_at(&router.get(id).expect("up"), last).await;
    }
    for id in [1u64, 2, 3] {
        let node = router.get(id).expect("up");
        let purged = node.metrics().borrow_watched().purged.map(|p| p.index);
        assert!(
            purged.is_some_and(|p| p >= 10),
            "node {id} purged its log: {purged:?}"
        );
        router.remove(id);
        node.shutdown().await.expect("shutdown");
    }
    drop(first);
    for (i, dir) in paths.iter().enumerate() {
        start_with(i as u64 + 1, dir, &router, config.clone()).await;
    }
    leader(&router, &[1, 2, 3]).await;
    for id in [1u64, 2, 3] {
        let image = image_at(&router.get(id).expect("up"), last).await;
        assert_eq!(image, before, "node {id} after the restart");
    }
    assert!(matches!(
        write(&router, &[1, 2, 3], put("after the restart", 99)).await,
        Applied::Done { .. }
    ));
    for id in [1u64, 2, 3] {
        if let Some(node) = router.remove(id) {
            node.shutdown().await.expect("shutdown");
        }
    }
}
