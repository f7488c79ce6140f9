//! A node's files written by the first version of the cluster (`tests/fixtures/node-v1/`: a
//! Raft log, a snapshot at entry 6 in the first image format, with no idempotency keys, the
//! vote and the committed hint, from a one-node cluster) still open: the snapshot loads, the log
//! after it applies, and the next snapshot is written in the current format and loads too.
//!
//! What the fixture holds (written through `sutra serve --node-id 1`): memory `notes`
//! (dimension 2) and `gone`; concepts "rain" ([1, 0], confidence 0.9, metadata source=fixture)
//! and "wet streets" ([0.8, 0.6]); a causal association rain → wet streets, confidence 0.8;
//! the snapshot (entry 6); then `gone` dropped (7) and "after the snapshot" ([0, 1]) learned (8).

use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine};
use openraft::Config;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use sutra_cluster::machine::{StateMachine, FILE_MAGIC};
use sutra_cluster::node::{ClusterNode, NodeConfig};
use sutra_core::{ConceptId, HnswParams};

fn copy_fixture(version: &str, to: &Path) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/{version}"));
    std::fs::create_dir_all(to).expect("dir");
    for entry in std::fs::read_dir(&from).expect("fixture") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
    }
}

/// Which format a node's snapshot file is in: 1 (no magic), 2 (the image's magic inside one
/// checksummed value), 3 (the current: a file that starts and ends with its magic).
fn format_of(path: &Path) -> u32 {
    let bytes = std::fs::read(path).expect("snapshot file");
    if bytes.starts_with(FILE_MAGIC) && bytes.ends_with(FILE_MAGIC) {
        3
    } else if bytes.windows(8).any(|w| w == b"SUTRAIM2") {
        2
    } else {
        1
    }
}

#[tokio::test]
async fn the_first_versions_snapshot_loads() {
    let dir = tempfile::tempdir().expect("dir");
    copy_fixture("node-v1", dir.path());
    let file = dir.path().join("snapshot");
    assert_eq!(format_of(&file), 1, "the fixture is of the first format");
    let mut machine = StateMachine::open(dir.path(), HnswParams::default()).expect("open");
    assert_eq!(format_of(&file), 3, "rewritten in the current format");
    let (applied, membership) = machine.applied_state().await.expect("state");
    assert_eq!(applied.map(|l| l.index), Some(6));
    assert_eq!(membership.voter_ids().collect::<Vec<_>>(), [1]);
    // The snapshot is from before the drop.
    assert_eq!(machine.memories(), ["gone", "notes"]);
    {
        let notes = machine.memory("notes").expect("notes");
        let db = notes.db();
        let counts = db.counts();
        assert_eq!(
            (counts.concepts, counts.associations, counts.dimension),
            (2, 1, Some(2))
        );
        let rain = db.concept(ConceptId::from_content("rain")).expect("rain");
        assert_eq!(rain.confidence, 0.9);
        assert_eq!(rain.embedding.as_deref(), Some(&[1.0f32, 0.0][..]));
    }

    // The next snapshot is written in the current format, and loads.
    let mut builder = machine.get_snapshot_builder().await;
    builder.build_snapshot().await.expect("snapshot");
    assert_eq!(format_of(&file), 3);
    let again = StateMachine::open(dir.path(), HnswParams::default()).expect("reopen");
    assert_eq!(again.memories(), ["gone", "notes"]);
}

/// The second version's files (`tests/fixtures/node-v2/`, written through `sutra serve
/// --node-id 1` before snapshots became files of memory images): memories `notes` (dimension
/// 2) and `gone`; "rain" ([1, 0], confidence 0.9, metadata source=fixture), "wet streets"
/// ([0.8, 0.6]), rain → wet streets (causal, 0.8), "keyed" written with idempotency key
/// `fixture-key-1`; the snapshot (entry 7, by a checkpoint); then `gone` dropped (8) and
/// "after the snapshot" ([0, 1]) learned (9).
#[tokio::test]
async fn the_second_versions_snapshot_loads_with_its_keys() {
    let dir = tempfile::tempdir().expect("dir");
    copy_fixture("node-v2", dir.path());
    let file = dir.path().join("snapshot");
    assert_eq!(format_of(&file), 2, "the fixture is of the second format");
    let machine = StateMachine::open(dir.path(), HnswParams::default()).expect("open");
    assert_eq!(format_of(&file), 3, "rewritten in the current format");
    assert_eq!(machine.memories(), ["gone", "notes"]);
    assert!(machine.catalog().keys().contains("fixture-key-1"));
    let notes = machine.memory("notes").expect("notes");
    let db = notes.db();
    for text in ["rain", "wet streets", "keyed"] {
        assert!(
            db.concept(ConceptId::from_content(text)).is_some(),
            "{text}"
        );
    }
    assert_eq!(db.counts().associations, 1);
    drop(db);
    drop(machine);
    let again = StateMachine::open(dir.path(), HnswParams::default()).expect("reopen");
    assert!(again.catalog().keys().contains("fixture-key-1"));
    assert_eq!(again.memories(), ["gone", "notes"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_on_the_first_versions_files_recovers_all_of_it() {
    recovers_all_of("node-v1", 8, &["rain", "wet streets", "after the snapshot"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_on_the_second_versions_files_recovers_all_of_it() {
    recovers_all_of(
        "node-v2",
        9,
        &["rain", "wet streets", "keyed", "after the snapshot"],
    )
    .await;
}

async fn recovers_all_of(version: &str, last: u64, texts: &[&str]) {
    let dir = tempfile::tempdir().expect("dir");
    copy_fixture(version, dir.path());
    let node = ClusterNode::start(NodeConfig {
        id: 1,
        dir: dir.path().to_path_buf(),
        members: BTreeMap::new(),
        token: "a token for the fixture test".into(),
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
    .expect("start");
    node.raft()
        .wait(Some(Duration::from_secs(10)))
        .applied_index_at_least(Some(last), "the fixture's log applied")
        .await
        .expect("applied");
    assert_eq!(node.catalog().names(), ["notes"], "gone was dropped");
    {
        let notes = node.catalog().get("notes").expect("notes").reader();
        let db = notes.db();
        for text in texts {
            assert!(
                db.concept(ConceptId::from_content(text)).is_some(),
                "{text} is there"
            );
        }
        assert_eq!(db.counts().concepts, texts.len() as u64);
        assert_eq!(db.counts().associations, 1);
    }
    // It takes writes: a one-node cluster elects itself.
    node.linearizable().await.expect("a leader");
    node.shutdown().await;
}

/// The earlier versions' log files open with today's log: the single `raft.log` is read as the
/// active segment, and the `committed` hint of the first format (`[crc32][postcard]`, replaced
/// by a rename) is read; the next hint is written in today's format (64 bytes in place) and
/// read back.
#[tokio::test]
async fn the_earlier_versions_log_and_committed_hint_are_read() {
    use openraft::storage::{RaftLogReader, RaftLogStorage};
    for (version, last) in [("node-v1", 8u64), ("node-v2", 9)] {
        let dir = tempfile::tempdir().expect("dir");
        copy_fixture(version, dir.path());
        let mut log = sutra_cluster::log::LogStore::open(dir.path()).expect("open");
        let entries = log.try_get_log_entries(..).await.expect("entries");
        assert_eq!(
            entries.last().map(|e| e.log_id.index),
            Some(last),
            "{version}"
        );
        let hint = log.read_committed().await.expect("hint");
        assert_eq!(hint.map(|c| c.index), Some(last), "{version}'s hint");
        let earlier = entries[entries.len() - 2].log_id;
        log.save_committed(Some(earlier)).await.expect("save");
        assert_eq!(
            std::fs::metadata(dir.path().join("committed"))
                .expect("hint file")
                .len(),
            64,
            "rewritten in today's format"
        );
        drop(log);
        let mut log = sutra_cluster::log::LogStore::open(dir.path()).expect("reopen");
        assert_eq!(log.read_committed().await.expect("hint"), Some(earlier));
    }
}
