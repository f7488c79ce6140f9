//! Split-brain protection, in one process: a leader cut off from the others acknowledges no
//! write after the cut, the majority elects another leader and goes on, and when the cut heals
//! the old leader's unacknowledged entry is gone from every node.

mod common;

use common::*;
use std::time::Duration;
use sutra_cluster::command::Applied;
use sutra_cluster::machine::StateMachine;
use sutra_core::ConceptId;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_cut_off_acknowledges_nothing_and_its_write_is_dropped_on_healing() {
    let (_dirs, _paths, router) = cluster_with_notes(config()).await;
    assert!(matches!(
        write(&router, &[1, 2, 3], put("before the cut", 1)).await,
        Applied::Done { .. }
    ));

    let first = leader(&router, &[1, 2, 3]).await;
    let cut = *first.node_id();
    router.isolate(cut);
    // A write sent to the cut-off leader: it cannot reach a quorum, so it is never acknowledged
    // (it fails when the leader learns it was replaced, or is still waiting).
    let stranded = {
        let first = first.clone();
        tokio::spawn(async move {
            first
                .client_write(put("sent to the cut-off leader", 2))
                .await
        })
    };
    let others: Vec<u64> = [1u64, 2, 3].into_iter().filter(|id| *id != cut).collect();
    let second = leader(&router, &others).await;
    assert_ne!(*second.node_id(), cut, "a node cut off cannot be elected");
    let mut last = 0;
    for i in 0..5 {
        match write(&router, &others, put(&format!("after the cut {i}"), 3 + i)).await {
            Applied::Done { seq } => last = seq,
            other => panic!("{other:?}"),
        }
    }
    // Well past an election timeout (600 ms at most) after the cut: still not acknowledged.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert!(
        !stranded.is_finished() || stranded.await.expect("join").is_err(),
        "the cut-off leader acknowledged a write"
    );

    router.heal();
    let mut images = Vec::new();
    for id in [1u64, 2, 3] {
        images.push(image_at(&router.get(id).expect("up"), last).await);
    }
    assert!(
        images.iter().all(|i| i == &images[0]),
        "the nodes agree after healing"
    );
    let on_old = router
        .get(cut)
        .expect("up")
        .with_state_machine(|sm: &mut StateMachine| {
            let reader = sm.memory("notes");
            let guard = reader.as_ref().map(|r| r.db());
            let db = guard.as_deref();
            let stranded = db.and_then(|db| {
                db.concept(ConceptId::from_content("sent to the cut-off leader"))
                    .map(|_| ())
            });
            let concepts = db.map(|db| db.counts().concepts);
            Box::pin(async move { (stranded.is_some(), concepts) })
        })
        .await
        .expect("state machine");
    assert_eq!(
        on_old,
        (false, Some(6)),
        "the unacknowledged write is nowhere; the 6 others are"
    );
    for id in [1u64, 2, 3] {
        if let Some(node) = router.remove(id) {
            node.shutdown().await.expect("shutdown");
        }
    }
}
