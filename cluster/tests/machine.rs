//! The state machine applies commands with the core's check, answers each entry, and moves
//! whole to another node through a snapshot.

use futures_util::stream;
use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine};
use openraft::testing::log_id;
use sutra_cluster::command::{Applied, Command};
use sutra_cluster::machine::{SnapshotFile, StateMachine};
use sutra_cluster::raft::{Entry, Payload, TypeConfig};
use sutra_core::{ConceptId, ConceptInput, Kind, Language, Op};

fn entry(index: u64, command: Command) -> Entry {
    Entry {
        log_id: log_id::<TypeConfig>(1, 1, index),
        payload: Payload::Normal(command),
    }
}

fn put(memory: &str, text: &str, at: u64) -> Command {
    Command::Batch {
        memory: memory.into(),
        ops: vec![Op::put_concept(ConceptInput::new(text), at)],
    }
}

#[tokio::test]
async fn commands_apply_in_log_order_and_a_snapshot_carries_the_state_whole() {
    let log = vec![
        entry(
            1,
            Command::Create {
                name: "notes".into(),
                dimension: Some(2),
                language: Some(Language::English),
                indexed_keys: vec!["source".into(), "user".into()],
            },
        ),
        entry(2, put("notes", "rain", 10)),
        entry(3, put("elsewhere", "x", 10)),
        entry(
            4,
            Command::CreateMemory {
                name: "notes".into(),
                dimension: None,
            },
        ),
        entry(
            5,
            Command::Batch {
                memory: "notes".into(),
                ops: vec![Op::put_association(
                    ConceptId::from_content("rain"),
                    ConceptId::from_content("nobody"),
                    Kind::Causal,
                    0.5,
                    1.0,
                    11,
                )],
            },
        ),
        entry(6, put("notes", "wet streets", 12)),
        entry(
            7,
            // As the first versions wrote it (no language): still applied.
            Command::CreateMemory {
                name: "scratch".into(),
                dimension: None,
            },
        ),
        entry(
            8,
            Command::DropMemory {
                name: "scratch".into(),
            },
        ),
    ];
    let mut machine = StateMachine::default();
    let mut answers = Vec::new();
    for e in log {
        // The responder is openraft's; the answers are read back from what apply returns to
        // it, so apply entries one by one and read the state machine's own record instead.
        machine
            .apply(stream::iter(vec![Ok((e.clone(), None))]))
            .await
            .expect("apply");
        answers.push(
            machine
                .applied_state()
                .await
                .expect("state")
                .0
                .map(|l| l.index),
        );
    }
    assert_eq!(
        answers,
        (1..=8).map(Some).collect::<Vec<_>>(),
        "every entry is applied, refused ones too"
    );
    assert_eq!(machine.memories(), ["notes"]);
    let notes_image = machine
        .memory("notes")
        .expect("notes")
        .db()
        .encode_snapshot()
        .expect("image");
    {
        let notes = machine.memory("notes").expect("notes");
        let notes = notes.db();
        let counts = notes.counts();
        assert_eq!(
            (
                counts.concepts,
                counts.associations,
                counts.dimension,
                counts.language
            ),
            (2, 0, Some(2), Some(Language::English))
        );
        assert_eq!(counts.last_seq, 6, "the last batch applied is entry 6");
        assert!(notes.concept(ConceptId::from_content("rain")).is_some());
        assert_eq!(notes.indexed_keys().collect::<Vec<_>>(), ["source", "user"]);
    }

    let mut builder = machine.get_snapshot_builder().await;
    let snapshot = builder.build_snapshot().await.expect("snapshot");
    assert_eq!(snapshot.meta.last_log_id.map(|l| l.index), Some(8));
    let mut follower = StateMachine::default();
    follower
        .install_snapshot(&snapshot.meta, snapshot.snapshot.clone())
        .await
        .expect("install");
    assert_eq!(follower.memories(), ["notes"]);
    let notes_of = |machine: &StateMachine| {
        machine
            .memory("notes")
            .expect("notes")
            .db()
            .encode_snapshot()
            .expect("image")
    };
    assert_eq!(
        notes_of(&follower),
        notes_image,
        "the follower's memory is the leader's, byte for byte"
    );
    // The language came with it: stemmed in English, "street" finds "wet streets".
    let found = follower
        .memory("notes")
        .expect("notes")
        .db()
        .search_text("street", 5)
        .expect("words");
    assert_eq!(
        found.iter().map(|h| h.id).collect::<Vec<_>>(),
        [ConceptId::from_content("wet streets")]
    );
    // A damaged snapshot file is refused (by the checksum of the whole file a transfer checks,
    // and by loading, which checks every image and the manifest), at every 64th of its
    // length, and the follower keeps what it had.
    snapshot
        .snapshot
        .verify()
        .expect("a whole snapshot file checks");
    let whole = std::fs::read(snapshot.snapshot.path()).expect("the snapshot file");
    let scratch = tempfile::tempdir().expect("dir");
    let damaged_path = scratch.path().join("damaged");
    let step = (whole.len() / 64).max(1);
    let mut tried = 0;
    for at in (0..whole.len()).step_by(step) {
        let mut damaged = whole.clone();
        damaged[at] ^= 0x10;
        std::fs::write(&damaged_path, &damaged).expect("write");
        let file = SnapshotFile::open(&damaged_path).expect("open");
        assert!(file.verify().is_err(), "flipped at {at} of {}", whole.len());
        let refused = follower.install_snapshot(&snapshot.meta, file).await;
        // A flip inside a section's padding or an unread reserved field is caught by the whole
        // file's checksum only: loading may take it, with the same state.
        if refused.is_ok() {
            assert_eq!(
                notes_of(&follower),
                notes_image,
                "a flip at {at} that loads changed nothing"
            );
        }
        assert_eq!(follower.memories(), ["notes"]);
        tried += 1;
    }
    assert!(tried >= 64);
    // Cut short at any length: refused.
    for cut in (0..whole.len()).step_by(step) {
        std::fs::write(&damaged_path, &whole[..cut]).expect("write");
        let file = SnapshotFile::open(&damaged_path).expect("open");
        assert!(file.verify().is_err(), "cut at {cut}");
        let refused = follower.install_snapshot(&snapshot.meta, file).await;
        assert!(refused.is_err(), "a snapshot cut at {cut} installs");
    }
    assert_eq!(follower.memories(), ["notes"]);
}

#[test]
fn each_command_answers_what_applying_it_did() {
    let mut machine = StateMachine::default();
    let code_of = |a: &Applied| match a {
        Applied::Done { .. } => None,
        Applied::Refused { code, .. } => Some(code.clone()),
    };
    let created = machine.apply_command(
        1,
        Command::CreateMemory {
            name: "m".into(),
            dimension: None,
        },
    );
    assert_eq!(created, Applied::Done { seq: 1 });
    assert_eq!(
        machine.apply_command(2, put("m", "a", 1)),
        Applied::Done { seq: 2 }
    );
    let before = machine
        .memory("m")
        .expect("m")
        .db()
        .encode_snapshot()
        .expect("image");
    let answers = [
        machine.apply_command(3, put("missing", "b", 2)),
        machine.apply_command(
            4,
            Command::CreateMemory {
                name: "m".into(),
                dimension: Some(3),
            },
        ),
        machine.apply_command(
            5,
            Command::DropMemory {
                name: "other".into(),
            },
        ),
        machine.apply_command(
            6,
            Command::Batch {
                memory: "m".into(),
                ops: vec![Op::DeleteConcept {
                    id: ConceptId::from_content("nobody"),
                }],
            },
        ),
    ];
    let codes: Vec<Option<String>> = answers.iter().map(code_of).collect();
    assert_eq!(
        codes,
        [
            Some("memory_not_found".to_string()),
            Some("memory_exists".to_string()),
            Some("memory_not_found".to_string()),
            Some("concept_not_found".to_string()),
        ]
    );
    assert_eq!(
        machine
            .memory("m")
            .expect("m")
            .db()
            .encode_snapshot()
            .expect("image"),
        before,
        "refused commands change nothing"
    );
    assert_eq!(
        machine.apply_command(7, Command::DropMemory { name: "m".into() }),
        Applied::Done { seq: 7 }
    );
    assert!(machine.memories().is_empty());
}

#[tokio::test]
async fn a_nodes_snapshot_is_kept_on_disk_and_a_damaged_one_does_not_load() {
    let dir = tempfile::tempdir().expect("dir");
    let mut machine = StateMachine::open(dir.path(), Default::default()).expect("open");
    assert!(machine.memories().is_empty());
    machine
        .apply(stream::iter(vec![
            Ok((
                entry(
                    1,
                    Command::CreateMemory {
                        name: "m".into(),
                        dimension: None,
                    },
                ),
                None,
            )),
            Ok((entry(2, put("m", "kept", 1)), None)),
        ]))
        .await
        .expect("apply");
    let image = machine
        .memory("m")
        .expect("m")
        .db()
        .encode_snapshot()
        .expect("image");
    machine
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .expect("snapshot");
    drop(machine);

    let mut reopened = StateMachine::open(dir.path(), Default::default()).expect("reopen");
    assert_eq!(
        reopened
            .memory("m")
            .expect("m")
            .db()
            .encode_snapshot()
            .expect("image"),
        image
    );
    let (applied, _) = reopened.applied_state().await.expect("state");
    assert_eq!(applied.map(|l| l.index), Some(2));

    let path = dir.path().join("snapshot");
    let mut bytes = std::fs::read(&path).expect("the snapshot file");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&path, &bytes).expect("write");
    let refused = StateMachine::open(dir.path(), Default::default());
    assert_eq!(
        refused.err().map(|e| e.kind()),
        Some(std::io::ErrorKind::InvalidData),
        "a damaged snapshot is refused"
    );
}

#[tokio::test]
async fn a_keyed_command_applies_once_and_its_keys_travel_in_snapshots() {
    let keyed = |key: &str, digest: u64, command: Command| Command::Idempotent {
        key: key.into(),
        digest,
        command: Box::new(command),
    };
    let mut machine = StateMachine::default();
    let create = Command::CreateMemory {
        name: "m".into(),
        dimension: None,
    };
    assert_eq!(
        machine.apply_command(1, keyed("make m", 7, create.clone())),
        Applied::Done { seq: 1 }
    );
    // Sent again (a retry whose first try's outcome was unknown): the first answer, nothing
    // applied again (a second create would be refused).
    assert_eq!(
        machine.apply_command(2, keyed("make m", 7, create.clone())),
        Applied::Done { seq: 1 }
    );
    assert_eq!(
        machine.apply_command(3, keyed("fact", 9, put("m", "rain", 5))),
        Applied::Done { seq: 3 }
    );
    assert_eq!(
        machine.apply_command(4, keyed("fact", 9, put("m", "rain", 6))),
        Applied::Done { seq: 3 }
    );
    let updated = machine
        .memory("m")
        .expect("m")
        .db()
        .concept(ConceptId::from_content("rain"))
        .expect("rain")
        .updated_ms;
    assert_eq!(updated, 5, "the retry did not apply");
    // The same key for another request is refused; a refusal is kept as the key's answer.
    assert!(matches!(
        machine.apply_command(5, keyed("fact", 10, put("m", "snow", 7))),
        Applied::Refused { ref code, .. } if code == "idempotency_key_reused"
    ));
    let refused = machine.apply_command(6, keyed("nowhere", 1, put("absent", "x", 8)));
    assert!(matches!(refused, Applied::Refused { ref code, .. } if code == "memory_not_found"));
    assert_eq!(
        machine.apply_command(7, keyed("nowhere", 1, put("absent", "x", 8))),
        refused
    );
    assert!(machine
        .memory("m")
        .expect("m")
        .db()
        .concept(ConceptId::from_content("snow"))
        .is_none());

    // A snapshot carries the keys: the node that installs it answers a retry the same way.
    let mut builder = machine.get_snapshot_builder().await;
    let snapshot = builder.build_snapshot().await.expect("snapshot");
    let mut other = StateMachine::default();
    other
        .install_snapshot(&snapshot.meta, snapshot.snapshot)
        .await
        .expect("install");
    assert_eq!(
        other.apply_command(8, keyed("fact", 9, put("m", "rain", 9))),
        Applied::Done { seq: 3 }
    );
    assert!(matches!(
        other.apply_command(9, keyed("fact", 11, put("m", "rain", 9))),
        Applied::Refused { ref code, .. } if code == "idempotency_key_reused"
    ));
}

/// A snapshot is written aside, synced, and renamed over the last one: a crash at any step of
/// building (or installing) one leaves the old snapshot or the new, whole, never a mix, and a
/// half-written file left aside neither loads nor stops the next snapshot.
#[tokio::test]
async fn a_crash_at_any_step_of_a_snapshot_leaves_the_old_one_or_the_new() {
    let dir = tempfile::tempdir().expect("dir");
    let mut machine = StateMachine::open(dir.path(), Default::default()).expect("open");
    machine
        .apply(stream::iter(vec![
            Ok((
                entry(
                    1,
                    Command::CreateMemory {
                        name: "m".into(),
                        dimension: None,
                    },
                ),
                None,
            )),
            Ok((entry(2, put("m", "in the old snapshot", 1)), None)),
        ]))
        .await
        .expect("apply");
    let image = |machine: &StateMachine| {
        machine
            .memory("m")
            .expect("m")
            .db()
            .encode_snapshot()
            .expect("image")
    };
    let old_image = image(&machine);
    let mut builder = machine.get_snapshot_builder().await;
    builder.build_snapshot().await.expect("the old snapshot");
    let path = dir.path().join("snapshot");
    let old = std::fs::read(&path).expect("the old snapshot file");
    machine
        .apply(stream::iter(vec![Ok((
            entry(3, put("m", "in the new snapshot", 2)),
            None,
        ))]))
        .await
        .expect("apply");
    let new_image = image(&machine);
    let mut builder = machine.get_snapshot_builder().await;
    builder.build_snapshot().await.expect("the new snapshot");
    drop(machine);
    let new = std::fs::read(&path).expect("the new snapshot file");
    assert_ne!(old, new);

    // Crashed while the new one was being written aside (every length of it), or after it was
    // synced but before the rename: the old one loads.
    let aside = dir.path().join("snapshot.building-7");
    std::fs::write(&path, &old).expect("restore the old");
    let step = (new.len() / 256).max(1);
    let mut states = 0;
    for cut in (0..=new.len()).step_by(step).chain([new.len()]) {
        std::fs::write(&aside, &new[..cut]).expect("the file aside");
        let mut reopened = StateMachine::open(dir.path(), Default::default()).expect("reopen");
        let (applied, _) = reopened.applied_state().await.expect("state");
        assert_eq!(
            applied.map(|l| l.index),
            Some(2),
            "cut at {cut} of {}",
            new.len()
        );
        assert_eq!(image(&reopened), old_image, "cut at {cut}");
        states += 1;
    }
    assert!(states > 100);
    // The leftover file aside is gone once the node opens; a later snapshot is made whole.
    let mut reopened = StateMachine::open(dir.path(), Default::default()).expect("reopen");
    reopened
        .apply(stream::iter(vec![Ok((
            entry(3, put("m", "in the new snapshot", 2)),
            None,
        ))]))
        .await
        .expect("apply");
    let mut builder = reopened.get_snapshot_builder().await;
    builder.build_snapshot().await.expect("over the leftover");
    assert!(!aside.exists(), "the file aside was removed");
    assert_eq!(std::fs::read(&path).expect("snapshot"), new);
    // Renamed: the new one loads.
    drop(reopened);
    let mut reopened = StateMachine::open(dir.path(), Default::default()).expect("reopen");
    let (applied, _) = reopened.applied_state().await.expect("state");
    assert_eq!(applied.map(|l| l.index), Some(3));
    assert_eq!(image(&reopened), new_image);
}

/// A memory's creation as the versions with the core's log format 4 wrote it into the Raft log
/// (variant 6: name, dimension, language; no declared keys) still decodes, as the `Create` it
/// means; today's creation is variant 7, so nothing written before changes meaning.
#[test]
fn a_creation_written_before_declared_keys_still_decodes() {
    // postcard: variant 6, "notes", Some(3), Some(Language::English: the fourth language).
    let written = [6u8, 5, b'n', b'o', b't', b'e', b's', 1, 3, 1, 3];
    let command: Command = postcard::from_bytes(&written).expect("decodes");
    assert_eq!(
        command,
        Command::CreateV4 {
            name: "notes".into(),
            dimension: Some(3),
            language: Some(Language::English),
        }
    );
    let today = Command::Create {
        name: "notes".into(),
        dimension: Some(3),
        language: Some(Language::English),
        indexed_keys: Vec::new(),
    };
    assert_eq!(command.upgraded(), today);
    let encoded = postcard::to_allocvec(&Command::Create {
        name: "notes".into(),
        dimension: Some(3),
        language: Some(Language::English),
        indexed_keys: vec!["user".into()],
    })
    .expect("encode");
    assert_eq!(
        encoded,
        [
            &[7u8, 5, b'n', b'o', b't', b'e', b's', 1, 3, 1, 3, 1, 4][..],
            b"user"
        ]
        .concat()
    );
}
