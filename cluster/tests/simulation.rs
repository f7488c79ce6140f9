//! Deterministic simulation: three nodes in one process on one thread, on a Tokio clock that
//! moves only when every task waits (simulated time), with openraft's randomness seeded
//! ([`sutra_cluster::runtime::Runtime`]), the real log and state machine on files, and a
//! network of direct calls that faults cut. From a seed, the test draws a schedule of faults —
//! a node cut off from the others and healed, a node stopped and restarted on its files —
//! under four writers, then heals everything and checks: every acknowledged write is on every
//! node, nothing is there that was never acknowledged or left unknown, and the nodes'
//! memories are byte-identical. Every event is written to a trace (simulated milliseconds,
//! leaders, each write's outcome and entry); each seed is run twice and the traces must be
//! equal (the events of one simulated millisecond compared as a set: tasks woken at the same
//! instant may run in another order) — a failing seed replays, with
//! `SUTRA_CLUSTER_SIM_SEED=S`. Both runs' traces are written to
//! `target/tmp/cluster-sim/seed-S.trace` and `seed-S.again.trace`.
//!
//! `SUTRA_CLUSTER_SIM_SEEDS` (default 3) seeds from `SUTRA_CLUSTER_SIM_SEED` (default 1), each
//! `SUTRA_CLUSTER_SIM_SECONDS` (default 20) of simulated time.

mod common;

use common::{put, three_members, Node, Router};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use sutra_cluster::command::{Applied, Command};
use sutra_cluster::runtime::Runtime;
use tokio::time::Instant;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The trace of a run, shared by its tasks.
#[derive(Clone)]
struct Trace {
    lines: Arc<Mutex<Vec<String>>>,
    started: Instant,
}

impl Trace {
    fn note(&self, line: String) {
        let at = self.started.elapsed().as_millis();
        if let Ok(mut lines) = self.lines.lock() {
            lines.push(format!("{at:>7} {line}"));
        }
    }
}

/// How a write ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Acked,
    Unknown,
}

/// The leader the running nodes agree on, if there is one.
async fn leader(router: &Router) -> Option<Node> {
    for id in 1..=3 {
        if let Some(node) = router.get(id) {
            if let Some(leader) = node.current_leader().await {
                if let Some(found) = router.get(leader) {
                    if found.current_leader().await == Some(leader) {
                        return Some(found);
                    }
                }
            }
        }
    }
    None
}

/// Writes `command` through the leader, for at most 3 s of simulated time: acknowledged (with
/// its entry), or unknown (it may have been proposed).
async fn write(router: &Router, command: Command) -> (Outcome, u64) {
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        let Some(node) = leader(router).await else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        match tokio::time::timeout(Duration::from_secs(1), node.client_write(command.clone())).await
        {
            Ok(Ok(answer)) => {
                assert!(
                    matches!(answer.data, Applied::Done { .. }),
                    "{:?}",
                    answer.data
                );
                return (Outcome::Acked, answer.log_id.index);
            }
            Ok(Err(e)) if e.forward_to_leader().is_some() => {
                // Not proposed by that node: nothing written by this try.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            _ => return (Outcome::Unknown, 0),
        }
    }
    // Out of time with only refusals ("not the leader": never proposed) or no leader at all;
    // reported unknown all the same, the safe side for the check.
    (Outcome::Unknown, 0)
}

/// How a membership step ended, within 3 s of simulated time: "ok", or why not.
async fn step<T, E: std::fmt::Display>(
    change: impl std::future::Future<Output = Result<T, E>>,
) -> String {
    match tokio::time::timeout(Duration::from_secs(3), change).await {
        Ok(Ok(_)) => "ok".to_string(),
        Ok(Err(e)) => format!(
            "failed: {}",
            e.to_string().chars().take(60).collect::<String>()
        ),
        Err(_) => "failed: timed out".to_string(),
    }
}

/// One run of `seed`: its trace, and what it checked.
fn run(seed: u64, seconds: u64) -> Vec<String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("a runtime");
    runtime.block_on(Runtime::scope(seed, scenario(seed, seconds)))
}

async fn scenario(seed: u64, seconds: u64) -> Vec<String> {
    let trace = Trace {
        lines: Arc::default(),
        started: Instant::now(),
    };
    let root = tempfile::tempdir().expect("dir");
    let dirs: Vec<PathBuf> = (1..=3).map(|i| root.path().join(format!("n{i}"))).collect();
    let router = Router::default();
    let mut nodes = Vec::new();
    for (i, dir) in dirs.iter().enumerate() {
        nodes.push(common::start_with(i as u64 + 1, dir, &router, common::config()).await);
    }
    nodes[0]
        .initialize(three_members())
        .await
        .expect("initialize");
    drop(nodes);
    let made = write(
        &router,
        Command::CreateMemory {
            name: "notes".into(),
            dimension: None,
        },
    )
    .await;
    assert_eq!(made.0, Outcome::Acked, "the memory is made");
    trace.note(format!("memory made at entry {}", made.1));

    // Writers: each writes its own contents, one after another.
    let end = Instant::now() + Duration::from_secs(seconds);
    let outcomes: Arc<Mutex<Vec<(String, Outcome)>>> = Arc::default();
    let mut writers = Vec::new();
    for w in 0..4u64 {
        let (router, trace, outcomes) = (router.clone(), trace.clone(), outcomes.clone());
        writers.push(Runtime::spawn_seeded(async move {
            let mut i = 0u64;
            while Instant::now() < end {
                let content = format!("w{w}-{i}");
                let (outcome, index) = write(&router, put(&content, 1_000 + i)).await;
                trace.note(format!("{content} {outcome:?} {index}"));
                if let Ok(mut all) = outcomes.lock() {
                    all.push((content, outcome));
                }
                i += 1;
                tokio::time::sleep(Duration::from_millis(10 + (w * 3))).await;
            }
        }));
    }

    // Faults, drawn from the seed; every message waits 0-5 ms.
    router.set_jitter(5);
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut stopped: Vec<u64> = Vec::new();
    let mut faults = 0;
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(rng.random_range(200..900))).await;
        let mut id = rng.random_range(1..=3u64);
        let kind = rng.random_range(0..4u32);
        // Half the cuts and stops hit the leader.
        if rng.random_range(0..2u32) == 0 {
            if let Some(leading) = leader(&router).await {
                id = *leading.node_id();
            }
        }
        match kind {
            0 => {
                router.isolate(id);
                trace.note(format!("cut {id}"));
                tokio::time::sleep(Duration::from_millis(rng.random_range(300..1500))).await;
                router.heal();
                trace.note("healed".to_string());
            }
            1 if stopped.is_empty() => {
                if let Some(node) = router.remove(id) {
                    node.shutdown().await.expect("shutdown");
                    stopped.push(id);
                    trace.note(format!("stopped {id}"));
                }
            }
            2 if stopped.is_empty() => {
                // A membership change: a follower removed from the voters, then added back as
                // a learner and promoted (each step may fail under faults: traced).
                if let Some(node) = leader(&router).await {
                    let lead = *node.node_id();
                    let id = (1..=3).find(|&i| i != lead && i != id).unwrap_or(id);
                    if id != lead {
                        let removed = step(node.change_membership(
                            openraft::ChangeMembers::RemoveVoters([id].into()),
                            true,
                        ))
                        .await;
                        trace.note(format!("voter {id} removed: {removed}"));
                        let member = three_members()[&id].clone();
                        let added = step(node.add_learner(id, member, true)).await;
                        trace.note(format!("learner {id} added: {added}"));
                        let promoted = step(node.change_membership(
                            openraft::ChangeMembers::AddVoterIds([id].into()),
                            false,
                        ))
                        .await;
                        trace.note(format!("voter {id} promoted: {promoted}"));
                    }
                }
            }
            _ => {
                for id in stopped.drain(..) {
                    common::start_with(id, &dirs[(id - 1) as usize], &router, common::config())
                        .await;
                    trace.note(format!("restarted {id}"));
                }
            }
        }
        faults += 1;
        let leading = leader(&router).await.map(|n| *n.node_id());
        trace.note(format!("leader {leading:?}"));
    }
    for writer in writers {
        writer.await.expect("writer");
    }
    router.heal();
    for id in stopped.drain(..) {
        common::start_with(id, &dirs[(id - 1) as usize], &router, common::config()).await;
        trace.note(format!("restarted {id}"));
    }

    // Every node a voter again (a membership change may have stopped half way).
    for _ in 0..50 {
        let Some(node) = leader(&router).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let voters: BTreeSet<u64> = node
            .with_raft_state(|s| s.membership_state.effective().voter_ids().collect())
            .await
            .unwrap_or_default();
        if voters.len() == 3 {
            break;
        }
        for id in 1..=3u64 {
            if !voters.contains(&id) {
                let member = three_members()[&id].clone();
                let _ = node.add_learner(id, member, true).await;
            }
        }
        let _ = node
            .change_membership(
                openraft::ChangeMembers::AddVoterIds([1, 2, 3].into()),
                false,
            )
            .await;
    }
    trace.note("every node a voter".to_string());

    // Everything acknowledged is on every node; nothing never acknowledged nor unknown is.
    let last = common::blank(&router, &[1, 2, 3]).await;
    let mut images = Vec::new();
    let mut held: Vec<BTreeSet<String>> = Vec::new();
    for id in 1..=3 {
        let node = router.get(id).expect("running");
        images.push(common::image_at(&node, last).await);
        held.push(common::texts(&node).await.into_iter().collect());
    }
    let outcomes = outcomes.lock().expect("outcomes").clone();
    let acked: Vec<&String> = outcomes
        .iter()
        .filter(|(_, o)| *o == Outcome::Acked)
        .map(|(c, _)| c)
        .collect();
    let sent: BTreeSet<&String> = outcomes.iter().map(|(c, _)| c).collect();
    for (i, held) in held.iter().enumerate() {
        let lost = acked.iter().filter(|c| !held.contains(**c)).count();
        assert_eq!(
            lost,
            0,
            "seed {seed}: node {} lost {lost} acknowledged writes",
            i + 1
        );
        let invented: Vec<&String> = held.iter().filter(|c| !sent.contains(c)).collect();
        assert!(
            invented.is_empty(),
            "seed {seed}: node {} holds {invented:?}",
            i + 1
        );
    }
    assert!(
        images.iter().all(|i| i == &images[0]),
        "seed {seed}: the nodes' memories differ"
    );
    let digest = crc32fast::hash(&images[0]);
    trace.note(format!(
        "end: {faults} faults, {} writes acknowledged of {}, entry {last}, image crc {digest:08x}",
        acked.len(),
        outcomes.len()
    ));
    for id in 1..=3 {
        if let Some(node) = router.remove(id) {
            node.shutdown().await.expect("shutdown");
        }
    }
    let lines = trace.lines.lock().expect("trace").clone();
    lines
}

/// A trace with the events of each simulated millisecond in sorted order: tasks woken at the
/// same instant (several writers answered by one node's stop) may run in another order from
/// one run to the next; what happened, and when, may not differ.
fn canonical(trace: &[String]) -> Vec<String> {
    let mut out = trace.to_vec();
    let mut start = 0;
    while start < out.len() {
        let at = &out[start][..7];
        let end = start + out[start..].iter().take_while(|l| &l[..7] == at).count();
        out[start..end].sort();
        start = end;
    }
    out
}

#[test]
fn a_seeded_run_of_faults_loses_nothing_and_replays_exactly() {
    let first = env("SUTRA_CLUSTER_SIM_SEED", 1);
    let seeds = env("SUTRA_CLUSTER_SIM_SEEDS", 3);
    let seconds = env("SUTRA_CLUSTER_SIM_SECONDS", 20);
    let mut ends = BTreeSet::new();
    for seed in first..first + seeds {
        let once = run(seed, seconds);
        let again = run(seed, seconds);
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cluster-sim");
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join(format!("seed-{seed}.trace")), once.join("\n")).expect("trace");
        std::fs::write(
            dir.join(format!("seed-{seed}.again.trace")),
            again.join("\n"),
        )
        .expect("trace");
        if canonical(&once) != canonical(&again) {
            let at = once
                .iter()
                .zip(&again)
                .position(|(a, b)| a != b)
                .unwrap_or(once.len().min(again.len()));
            panic!(
                "seed {seed} did not replay: the traces part at line {at}: {:?} / {:?} (replay with SUTRA_CLUSTER_SIM_SEED={seed} SUTRA_CLUSTER_SIM_SEEDS=1)",
                once.get(at),
                again.get(at)
            );
        }
        ends.insert(once.clone());
        eprintln!(
            "seed {seed}: replayed ({} events); {}",
            once.len(),
            once.last().map_or("", |l| l.as_str())
        );
    }
    assert_eq!(
        ends.len() as u64,
        seeds,
        "every seed runs differently (the seed is what decides)"
    );
}
