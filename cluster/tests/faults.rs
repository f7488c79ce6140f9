//! Writers against a three-node cluster while faults come one after another, seeded and
//! replayable: the leader stopped and restarted from its files, any node stopped and
//! restarted, a node cut off and joined again (never two faults at once, so a quorum stays).
//! At the end every node is byte-identical, every acknowledged write is there, and nothing is
//! there that was never written.
//!
//! Size: SUTRA_CLUSTER_FAULT_ROUNDS (default 8 rounds, about 10 s) and SUTRA_CLUSTER_FAULT_SEED
//! (default a fixed seed; a failure prints the seed to run it again).

mod common;

use common::*;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use sutra_cluster::command::Applied;

/// A small seeded generator (xorshift64*): the faults' order and timing, replayable.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The leader as the nodes that are up see it, if one is known and up.
async fn current_leader(router: &Router) -> Option<Node> {
    for id in [1u64, 2, 3] {
        if let Some(node) = router.get(id) {
            if let Some(leader) = node.current_leader().await {
                if let Some(found) = router.get(leader) {
                    return Some(found);
                }
            }
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_a_sequence_of_stops_restarts_and_cuts() {
    let rounds = env_u64("SUTRA_CLUSTER_FAULT_ROUNDS", 8);
    let seed = env_u64("SUTRA_CLUSTER_FAULT_SEED", 0x5eed_cafe).max(1);
    eprintln!("faults: {rounds} rounds, seed {seed} (SUTRA_CLUSTER_FAULT_SEED={seed} to replay)");
    let (_dirs, paths, router) = cluster_with_notes(config()).await;

    // Four writers, each writing distinct texts through whichever node leads.
    let stop = Arc::new(AtomicBool::new(false));
    let attempted = Arc::new(Mutex::new(BTreeSet::<String>::new()));
    let acknowledged = Arc::new(Mutex::new(BTreeSet::<String>::new()));
    let unknown = Arc::new(AtomicU64::new(0));
    let mut writers = Vec::new();
    for w in 0..4u64 {
        let (router, stop) = (router.clone(), stop.clone());
        let (attempted, acknowledged, unknown) =
            (attempted.clone(), acknowledged.clone(), unknown.clone());
        writers.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let Some(node) = current_leader(&router).await else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                let text = format!("writer {w} fact {n}");
                n += 1;
                if let Ok(mut a) = attempted.lock() {
                    a.insert(text.clone());
                }
                let sent =
                    tokio::time::timeout(Duration::from_secs(2), node.client_write(put(&text, n)))
                        .await;
                match sent {
                    Ok(Ok(answer)) => {
                        assert!(matches!(answer.data, Applied::Done { .. }), "{answer:?}");
                        if let Ok(mut a) = acknowledged.lock() {
                            a.insert(text);
                        }
                    }
                    // Not acknowledged: its outcome is unknown (it may still be committed).
                    _ => {
                        unknown.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
        }));
    }

    let mut dice = Dice(seed);
    let mut faults = [0u32; 3];
    for round in 0..rounds {
        tokio::time::sleep(Duration::from_millis(200 + dice.below(300))).await;
        let kind = dice.below(3);
        let target = match kind {
            0 => match current_leader(&router).await {
                Some(node) => *node.node_id(),
                None => 1 + dice.below(3),
            },
            _ => 1 + dice.below(3),
        };
        let pause = Duration::from_millis(300 + dice.below(900));
        match kind {
            0 | 1 => {
                // Stop the node (the leader for kind 0) and start it again from its files.
                if let Some(node) = router.remove(target) {
                    node.shutdown().await.expect("shutdown");
                }
                tokio::time::sleep(pause).await;
                start(target, &paths[(target - 1) as usize], &router).await;
            }
            _ => {
                router.isolate(target);
                tokio::time::sleep(pause).await;
                router.heal();
            }
        }
        faults[kind as usize] += 1;
        eprintln!("round {round}: fault {kind} on node {target} for {pause:?}");
    }
    // Writes go on a little after the last fault, then stop.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.await.expect("writer");
    }

    let last = blank(&router, &[1, 2, 3]).await;
    let settled = leader(&router, &[1, 2, 3]).await;
    let mut images = Vec::new();
    for id in [1u64, 2, 3] {
        images.push(image_at(&router.get(id).expect("up"), last).await);
    }
    assert!(
        images.iter().all(|i| i == &images[0]),
        "the nodes differ at the end (seed {seed})"
    );
    let present = texts(&settled).await;
    let present: BTreeSet<String> = present.into_iter().collect();
    let acknowledged = acknowledged.lock().expect("acknowledged").clone();
    let attempted = attempted.lock().expect("attempted").clone();
    let lost: Vec<&String> = acknowledged.difference(&present).collect();
    let invented: Vec<&String> = present.difference(&attempted).collect();
    eprintln!(
        "faults survived: {} leader stops, {} node stops, {} cuts; {} writes acknowledged, {} unknown outcomes, {} present",
        faults[0],
        faults[1],
        faults[2],
        acknowledged.len(),
        unknown.load(Ordering::Relaxed),
        present.len()
    );
    assert!(
        lost.is_empty(),
        "acknowledged writes lost (seed {seed}): {lost:?}"
    );
    assert!(
        invented.is_empty(),
        "writes present that were never sent (seed {seed}): {invented:?}"
    );
    assert!(
        acknowledged.len() >= 20,
        "the writers made progress: {}",
        acknowledged.len()
    );
    for id in [1u64, 2, 3] {
        if let Some(node) = router.remove(id) {
            node.shutdown().await.expect("shutdown");
        }
    }
}
