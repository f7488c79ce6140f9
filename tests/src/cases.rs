//! The replay cases. Each takes a [`Harness`] and panics with a message on failure.

use crate::fixtures::{concept, concepts, fact, id, link, open, write};
use crate::Harness;
use sutra_core::sim::{CrashMode, SnapshotStep};
use sutra_core::{
    AssociationKey, Clause, Concept, ConceptId, Db, Error, Filter, Kind, KindSet, Label, Language,
    Listing, Memory, Op, Options, Scalar, ValidAt, Value,
};

/// A named case.
pub type Case<H> = (&'static str, fn(&mut H));

macro_rules! case_list {
    ($($name:ident),*) => {
        vec![$((stringify!($name), $name::<H> as fn(&mut H))),*]
    };
}

/// Every case, in order, with its name.
pub fn all<H: Harness>() -> Vec<Case<H>> {
    crate::for_each_case!(case_list)
}

/// Runs every case, printing each name.
pub fn run_all<H: Harness>(harness: &mut H) {
    for (name, case) in all::<H>() {
        eprintln!("replay case: {name}");
        case(harness);
    }
}

fn concepts_of(db: &Db) -> Vec<Concept> {
    db.concepts().cloned().collect()
}

fn associations_of(db: &Db) -> Vec<sutra_core::Association> {
    let mut all: Vec<_> = db.all_associations().collect();
    all.sort_by_key(|a| a.key());
    all
}

fn assert_same(actual: &Db, expected: &Db, context: &str) {
    assert_eq!(
        concepts_of(actual),
        concepts_of(expected),
        "{context}: concepts differ"
    );
    assert_eq!(
        associations_of(actual),
        associations_of(expected),
        "{context}: associations differ"
    );
    assert_eq!(
        actual.counts().dimension,
        expected.counts().dimension,
        "{context}: dimension differs"
    );
    assert_eq!(
        actual.digest(),
        expected.digest(),
        "{context}: digests differ"
    );
}

/// Builds the expected state by applying batches to a fresh simulated memory.
fn expected_state(batches: &[Vec<Op>]) -> Memory<sutra_core::sim::SimStorage> {
    let (mut memory, _) = open(sutra_core::sim::SimDisk::new(0).open());
    for batch in batches {
        write(&mut memory, batch.clone());
    }
    memory
}

fn rich_batches() -> Vec<Vec<Op>> {
    vec![
        concepts(0, 6),
        vec![
            link(0, 1, Kind::Semantic),
            link(1, 2, Kind::Causal),
            link(2, 3, Kind::Temporal),
            link(3, 4, Kind::Hierarchical),
            link(4, 5, Kind::Compositional),
            link(5, 0, Kind::Semantic),
            link(0, 1, Kind::Causal),
        ],
        // Upserts: concept 1 learned again (created_ms must stay), association updated.
        vec![concept_updated(1), link(0, 1, Kind::Semantic)],
        vec![Op::DeleteAssociation {
            key: AssociationKey {
                source: id(2),
                target: id(3),
                kind: Kind::Temporal,
                label: Label::EMPTY,
            },
        }],
        vec![Op::DeleteConcept { id: id(4) }],
        concepts(6, 2),
    ]
}

fn concept_updated(i: u64) -> Op {
    match concept(i) {
        Op::PutConcept {
            id,
            content,
            embedding,
            metadata,
            at_ms,
            ..
        } => Op::PutConcept {
            id,
            content,
            embedding: embedding.map(|v| v.iter().map(|x| -x).collect()),
            strength: 42.0,
            confidence: 0.99,
            metadata,
            at_ms: at_ms + 5_000,
            created_ms: None,
        },
        other => other,
    }
}

/// Every operation kind survives write → reopen (clean and after a crash) with every field equal.
pub fn every_operation_survives_reopen<H: Harness>(h: &mut H) {
    let batches = rich_batches();
    let expected = expected_state(&batches);
    let e = &*expected.db();
    // Spot-check the expectation itself so the comparison below means something.
    let c1 = e.concept(id(1)).expect("concept 1");
    assert_eq!(c1.strength, 42.0);
    assert_eq!(c1.created_ms, 1_700_000_000_001);
    assert_eq!(c1.updated_ms, 1_700_000_005_001);
    assert!(e.concept(id(4)).is_none());
    assert_eq!(
        e.counts().associations,
        4,
        "7 put, 1 deleted, 2 cascaded with concept 4"
    );
    let a01 = e
        .associations(id(0), Listing::Out, KindSet::ALL, ValidAt::Any, 0.0, 100)
        .expect("list");
    assert_eq!(a01.len(), 2);

    let (mut memory, _) = open(h.create());
    for batch in &batches {
        write(&mut memory, batch.clone());
    }
    assert_same(&memory.db(), e, "live");
    let storage = h.reopen(memory.into_storage());
    let (memory, report) = open(storage);
    assert_eq!(report.records_replayed, batches.len() as u64);
    assert_eq!(report.torn_bytes_dropped, 0);
    assert_same(&memory.db(), e, "after clean reopen");
    let storage = h.crash(memory.into_storage(), CrashMode::DropPending);
    let (mut memory, _) = open(storage);
    assert_same(&memory.db(), e, "after crash");
    // Through a checkpoint too: the snapshot must carry every field.
    memory.seal_vectors().expect("seal");
    memory.checkpoint().expect("checkpoint");
    let storage = h.crash(memory.into_storage(), CrashMode::DropPending);
    let (memory, report) = open(storage);
    assert_eq!(report.snapshot_seq, Some(batches.len() as u64));
    assert_eq!(report.records_replayed, 0);
    assert_same(&memory.db(), e, "after checkpoint and crash");
    let hits = memory.db().similar_to(id(1), 3, None).expect("search");
    assert!(!hits.is_empty() && hits.iter().all(|hit| hit.id != id(1) && hit.id != id(4)));
}

/// Acknowledged writes always survive; staged (unsynced) ones survive whole, in order, or not at all.
pub fn unsynced_writes_vanish_whole<H: Harness>(h: &mut H) {
    let acked = vec![concepts(0, 3), vec![link(0, 1, Kind::Causal)]];
    let staged = vec![
        concepts(10, 4),
        vec![
            link(10, 11, Kind::Semantic),
            Op::DeleteConcept { id: id(2) },
        ],
        concepts(20, 3),
    ];
    let prefixes: Vec<u128> = (0..=staged.len())
        .map(|n| {
            let mut all = acked.clone();
            all.extend(staged[..n].iter().cloned());
            expected_state(&all).db().digest()
        })
        .collect();
    for mode in CrashMode::ALL {
        for round in 0..8 {
            let (mut memory, _) = open(h.create());
            for batch in &acked {
                write(&mut memory, batch.clone());
            }
            for batch in &staged {
                memory.stage(batch.clone()).expect("stage");
            }
            // Staged batches are not visible before their sync.
            assert_eq!(
                memory.db().digest(),
                prefixes[0],
                "staged writes became visible before sync"
            );
            let storage = h.crash(memory.into_storage(), mode);
            let (memory, _) = open(storage);
            let digest = memory.db().digest();
            let survived = prefixes.iter().position(|d| *d == digest);
            assert!(
                survived.is_some(),
                "{mode:?} round {round}: state after the crash is not the acknowledged state plus a prefix of whole batches"
            );
            if mode == CrashMode::DropPending {
                assert_eq!(survived, Some(0), "dropped writes came back");
            }
            if mode == CrashMode::KeepPending {
                assert_eq!(survived, Some(staged.len()), "kept writes were lost");
            }
        }
    }
}

/// A log cut at every byte offset inside its last record recovers exactly the records before it.
pub fn torn_tail_at_every_offset<H: Harness>(h: &mut H) {
    let batches = vec![
        concepts(0, 2),
        vec![link(0, 1, Kind::Causal)],
        concepts(5, 2),
    ];
    let before = expected_state(&batches[..2]).db().digest();
    let all = expected_state(&batches).db().digest();
    let (mut memory, _) = open(h.create());
    for batch in &batches[..2] {
        write(&mut memory, batch.clone());
    }
    let mut storage = memory.into_storage();
    let prefix_len = h.log_bytes(&mut storage).len();
    let (mut memory, _) = open(storage);
    write(&mut memory, batches[2].clone());
    let mut storage = memory.into_storage();
    let full = h.log_bytes(&mut storage);
    assert!(full.len() > prefix_len);
    for cut in prefix_len..=full.len() {
        storage = h.set_log_bytes(storage, full[..cut].to_vec());
        let (memory, report) = open(storage);
        let expect = if cut == full.len() { all } else { before };
        assert_eq!(
            memory.db().digest(),
            expect,
            "cut at {cut} of {}",
            full.len()
        );
        assert_eq!(
            report.torn_bytes_dropped,
            (cut - prefix_len) as u64 % (full.len() - prefix_len) as u64
        );
        storage = memory.into_storage();
        // The torn bytes are gone for good: the next open finds a clean log.
        let (mut memory, report) = open(h.reopen(storage));
        assert_eq!(
            report.torn_bytes_dropped, 0,
            "cut at {cut}: tail not truncated"
        );
        // And the memory takes new writes after it.
        write(&mut memory, concepts(100, 1));
        storage = h.reopen(memory.into_storage());
        let (memory, _) = open(storage);
        assert!(
            memory.db().concept(id(100)).is_some(),
            "cut at {cut}: write after recovery lost"
        );
        storage = memory.into_storage();
    }
}

fn record_starts(log: &[u8]) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut at = sutra_core::wal::LOG_HEADER_BYTES as usize;
    while at + 4 <= log.len() {
        starts.push(at);
        let len = u32::from_le_bytes([log[at], log[at + 1], log[at + 2], log[at + 3]]) as usize;
        at += sutra_core::wal::RECORD_HEADER_BYTES + len;
    }
    starts
}

/// A flipped bit at every byte of a small log is detected: the log is cut before the damaged
/// record (torn tail) or opening fails with corruption — never different data.
pub fn bit_flips_in_log_are_detected<H: Harness>(h: &mut H) {
    let batches = vec![
        concepts(0, 2),
        vec![link(0, 1, Kind::Causal)],
        vec![concept(7)],
    ];
    let digests: Vec<u128> = (0..=batches.len())
        .map(|n| expected_state(&batches[..n]).db().digest())
        .collect();
    let (mut memory, _) = open(h.create());
    for batch in &batches {
        write(&mut memory, batch.clone());
    }
    let mut storage = memory.into_storage();
    let log = h.log_bytes(&mut storage);
    let starts = record_starts(&log);
    assert_eq!(starts.len(), batches.len());
    let (mut torn, mut refused) = (0, 0);
    for byte in 0..log.len() {
        let mut damaged = log.clone();
        damaged[byte] ^= 1 << (byte % 8);
        storage = h.set_log_bytes(storage, damaged);
        match Memory::open(storage, Options::default()) {
            Ok((memory, report)) => {
                let record = starts.iter().rposition(|&s| s <= byte);
                let Some(record) = record else {
                    panic!("flip in the log header at byte {byte} was not detected");
                };
                assert_eq!(
                    memory.db().digest(),
                    digests[record],
                    "flip at byte {byte} (record {record}) loaded different data"
                );
                assert!(
                    report.torn_bytes_dropped > 0,
                    "flip at byte {byte}: nothing reported"
                );
                torn += 1;
                storage = memory.into_storage();
            }
            Err(e) => {
                assert!(
                    matches!(
                        e,
                        Error::CorruptLog { .. } | Error::UnsupportedVersion { .. }
                    ),
                    "flip at byte {byte}: unexpected error {e}"
                );
                refused += 1;
                let fresh = h.create();
                storage = h.set_log_bytes(fresh, log.clone());
            }
        }
    }
    assert!(
        torn > 0 && refused > 0,
        "expected both outcomes, got torn {torn}, refused {refused}"
    );
}

/// A flipped bit at every byte of a small snapshot is detected: opening fails.
pub fn bit_flips_in_snapshot_are_detected<H: Harness>(h: &mut H) {
    let (mut memory, _) = open(h.create());
    write(&mut memory, concepts(0, 3));
    write(
        &mut memory,
        vec![link(0, 1, Kind::Causal), link(1, 2, Kind::Semantic)],
    );
    memory.seal_vectors().expect("seal");
    write(&mut memory, concepts(3, 1));
    memory.checkpoint().expect("checkpoint");
    let mut storage = memory.into_storage();
    let snapshot = h.snapshot_bytes(&mut storage).expect("snapshot written");
    assert!(
        snapshot.len() < 64 * 1024,
        "snapshot should be small for this case"
    );
    for byte in 0..snapshot.len() {
        let mut damaged = snapshot.clone();
        damaged[byte] ^= 1 << (byte % 8);
        storage = h.set_snapshot_bytes(storage, damaged);
        match Memory::open(storage, Options::default()) {
            Ok(_) => panic!(
                "flip at snapshot byte {byte} of {} was loaded",
                snapshot.len()
            ),
            Err(e) => assert!(
                matches!(
                    e,
                    Error::CorruptSnapshot { .. } | Error::UnsupportedVersion { .. }
                ),
                "flip at byte {byte}: unexpected error {e}"
            ),
        }
        storage = h.create();
    }
}

/// A crash at each step of a checkpoint leaves the old or the new state, never a mix.
/// Crashes `memory`'s next checkpoint at `step` (the checkpoint must fail), then the storage in
/// `mode`, and reopens it.
fn crash_a_checkpoint<H: Harness>(
    h: &mut H,
    memory: Memory<H::Storage>,
    step: SnapshotStep,
    mode: CrashMode,
) -> Memory<H::Storage> {
    let mut storage = memory.into_storage();
    h.crash_snapshot_at(&mut storage, step);
    let (mut memory, _) = open(storage);
    assert!(
        memory.checkpoint().is_err(),
        "{step:?}: injected crash did not fail the checkpoint"
    );
    open(h.crash(memory.into_storage(), mode)).0
}

pub fn checkpoint_crash_at_every_step<H: Harness>(h: &mut H) {
    let first = vec![concepts(0, 3), vec![link(0, 1, Kind::Causal)]];
    let second = vec![vec![Op::DeleteConcept { id: id(1) }], concepts(3, 2)];
    let mut both = first.clone();
    both.extend(second.iter().cloned());
    let a = expected_state(&first).db().digest();
    let ab = expected_state(&both).db().digest();
    for step in SnapshotStep::ALL {
        for mode in CrashMode::ALL {
            // Crash during the first checkpoint (no snapshot yet).
            let (mut memory, _) = open(h.create());
            for batch in &first {
                write(&mut memory, batch.clone());
            }
            let mut memory = crash_a_checkpoint(h, memory, step, mode);
            assert_eq!(
                memory.db().digest(),
                a,
                "{step:?}/{mode:?}: first checkpoint crash changed the data"
            );
            // A good checkpoint, more writes, then a crash during the second checkpoint.
            memory.checkpoint().expect("checkpoint");
            for batch in &second {
                write(&mut memory, batch.clone());
            }
            let memory = crash_a_checkpoint(h, memory, step, mode);
            assert_eq!(
                memory.db().digest(),
                ab,
                "{step:?}/{mode:?}: second checkpoint crash changed the data"
            );
        }
    }
}

/// A crash after the snapshot was replaced but before the log was trimmed: the covered records
/// are skipped on replay (idempotent), and the trim is finished.
pub fn interrupted_checkpoint_log_trim<H: Harness>(h: &mut H) {
    let batches = vec![
        concepts(0, 3),
        vec![link(0, 2, Kind::Hierarchical)],
        vec![Op::DeleteConcept { id: id(1) }],
    ];
    let expected = expected_state(&batches).db().digest();
    let (mut memory, _) = open(h.create());
    for batch in &batches {
        write(&mut memory, batch.clone());
    }
    let mut storage = memory.into_storage();
    let old_log = h.log_bytes(&mut storage);
    let (mut memory, _) = open(storage);
    memory.checkpoint().expect("checkpoint");
    let storage = h.set_log_bytes(memory.into_storage(), old_log);
    let (mut memory, report) = open(storage);
    assert_eq!(report.records_skipped, 3);
    assert_eq!(report.records_replayed, 0);
    assert_eq!(memory.db().digest(), expected);
    assert_eq!(
        memory.stats().log_bytes,
        sutra_core::wal::LOG_HEADER_BYTES,
        "trim not finished"
    );
    let seq = write(&mut memory, concepts(9, 1));
    assert_eq!(seq, 4, "sequence numbers continue after the snapshot");
    let (memory, _) = open(h.crash(memory.into_storage(), CrashMode::DropPending));
    assert!(memory.db().concept(id(9)).is_some());
}

/// A large batch cut anywhere by a crash is all there or not there at all.
pub fn batches_are_atomic_across_crashes<H: Harness>(h: &mut H) {
    let mut big = concepts(0, 40);
    for i in 0..39 {
        big.push(link(i, i + 1, Kind::Temporal));
    }
    let none = expected_state(&[concepts(100, 1)]).db().digest();
    let whole = expected_state(&[concepts(100, 1), big.clone()])
        .db()
        .digest();
    let mut outcomes = [0u32; 2];
    for mode in [
        CrashMode::TornPrefix,
        CrashMode::Garbled,
        CrashMode::TornPrefix,
        CrashMode::Garbled,
    ] {
        for _ in 0..16 {
            let (mut memory, _) = open(h.create());
            write(&mut memory, concepts(100, 1));
            memory.stage(big.clone()).expect("stage");
            let (memory, _) = open(h.crash(memory.into_storage(), mode));
            let digest = memory.db().digest();
            if digest == none {
                outcomes[0] += 1;
            } else if digest == whole {
                outcomes[1] += 1;
            } else {
                panic!(
                    "{mode:?}: batch half applied ({} concepts)",
                    memory.db().counts().concepts
                );
            }
        }
    }
    assert!(
        outcomes[0] > 0,
        "no crash lost the unsynced batch: the crash modes are not exercised"
    );
}

/// Deletes (with their cascades) replay exactly.
pub fn deletes_replay<H: Harness>(h: &mut H) {
    let (mut memory, _) = open(h.create());
    write(&mut memory, concepts(0, 4));
    write(
        &mut memory,
        vec![
            link(0, 1, Kind::Causal),
            link(1, 2, Kind::Causal),
            link(2, 1, Kind::Semantic),
            link(3, 1, Kind::Temporal),
            link(2, 3, Kind::Causal),
        ],
    );
    write(&mut memory, vec![Op::DeleteConcept { id: id(1) }]);
    write(
        &mut memory,
        vec![Op::DeleteAssociation {
            key: AssociationKey {
                source: id(2),
                target: id(3),
                kind: Kind::Causal,
                label: Label::EMPTY,
            },
        }],
    );
    let err = memory
        .write(vec![Op::DeleteConcept { id: id(1) }])
        .expect_err("deleting twice");
    assert_eq!(err.code(), "concept_not_found");
    let (memory, _) = open(h.crash(memory.into_storage(), CrashMode::KeepPending));
    let db = memory.db();
    assert!(db.concept(id(1)).is_none());
    assert_eq!(db.counts().concepts, 3);
    assert_eq!(
        db.counts().associations,
        0,
        "cascaded and deleted associations came back"
    );
    for i in [0, 2, 3] {
        assert!(db
            .associations(id(i), Listing::Both, KindSet::ALL, ValidAt::Any, 0.0, 100)
            .expect("list")
            .is_empty());
    }
    assert!(db
        .similar_to(id(2), 10, None)
        .expect("search")
        .iter()
        .all(|hit| hit.id != id(1)));
}

/// A failed sync poisons the memory: the write is not acknowledged or visible, later writes are
/// refused, reads go on, and reopening recovers.
pub fn failed_sync_poisons<H: Harness>(h: &mut H) {
    for mode in [CrashMode::DropPending, CrashMode::KeepPending] {
        let (mut memory, _) = open(h.create());
        write(&mut memory, concepts(0, 2));
        let mut storage = memory.into_storage();
        h.fail_sync_after(&mut storage, 1);
        let (mut memory, _) = open(storage);
        write(&mut memory, concepts(2, 1));
        let err = memory.write(concepts(3, 1)).expect_err("sync fails");
        assert_eq!(err.code(), "storage_error", "{err}");
        assert!(
            memory.db().concept(id(3)).is_none(),
            "unsynced write became visible"
        );
        let err = memory.write(concepts(4, 1)).expect_err("poisoned");
        assert_eq!(err.code(), "poisoned");
        assert!(err.to_string().contains("log sync"), "{err}");
        assert!(
            memory.checkpoint().is_err(),
            "a poisoned memory wrote a checkpoint"
        );
        assert!(memory.stats().poisoned.is_some());
        assert_eq!(memory.db().counts().concepts, 3, "reads must go on");
        let (mut reopened, _) = open(h.crash(memory.into_storage(), mode));
        let n = reopened.db().counts().concepts;
        let expected = if mode == CrashMode::KeepPending { 4 } else { 3 };
        assert_eq!(
            n, expected,
            "{mode:?}: the unacknowledged write must be whole or absent"
        );
        assert!(
            reopened.db().concept(id(4)).is_none(),
            "a refused write appeared"
        );
        write(&mut reopened, concepts(5, 1));
        assert!(reopened.db().concept(id(5)).is_some());
    }
}

/// Replaying the same bytes twice gives an identical state.
pub fn replay_is_deterministic<H: Harness>(h: &mut H) {
    let (mut memory, _) = open(h.create());
    for batch in rich_batches() {
        write(&mut memory, batch);
    }
    let live = memory.db().digest();
    let mut storage = memory.into_storage();
    let log = h.log_bytes(&mut storage);
    let fresh = h.create();
    let (first, _) = open(h.set_log_bytes(fresh, log.clone()));
    let fresh = h.create();
    let (second, _) = open(h.set_log_bytes(fresh, log));
    assert_eq!(first.db().digest(), live);
    assert_eq!(second.db().digest(), live);
    assert_same(&first.db(), &second.db(), "two replays");
}

/// A bad record followed by valid ones refuses to open, naming offset and sequence number;
/// repair truncates there and the records before it load.
pub fn corruption_is_refused_and_repair_truncates<H: Harness>(h: &mut H) {
    let batches = vec![concepts(0, 2), concepts(2, 2), concepts(4, 2)];
    let first = expected_state(&batches[..1]).db().digest();
    let (mut memory, _) = open(h.create());
    for batch in &batches {
        write(&mut memory, batch.clone());
    }
    let mut storage = memory.into_storage();
    let mut log = h.log_bytes(&mut storage);
    let starts = record_starts(&log);
    log[starts[1] + 20] ^= 0x40;
    let storage = h.set_log_bytes(storage, log.clone());
    let storage = match Memory::open(storage, Options::default()) {
        Err(Error::CorruptLog { offset, seq, .. }) => {
            assert_eq!(offset, starts[1] as u64);
            assert_eq!(seq, 2);
            h.create()
        }
        Err(e) => panic!("wrong error {e}"),
        Ok(_) => panic!("a corrupt log was opened"),
    };
    let mut storage = h.set_log_bytes(storage, log.clone());
    let report = sutra_core::repair(&mut storage).expect("repair");
    assert_eq!(report.truncated_at, starts[1] as u64);
    assert_eq!(report.records_kept, 1);
    assert_eq!(report.bytes_dropped, (log.len() - starts[1]) as u64);
    let (memory, _) = open(h.reopen(storage));
    assert_eq!(memory.db().digest(), first);
}

/// Sequence numbers never reset, not even by checkpoints and reopens.
pub fn sequence_numbers_survive_checkpoints<H: Harness>(h: &mut H) {
    let (mut memory, _) = open(h.create());
    let mut last = 0;
    for round in 0..4u64 {
        for i in 0..3 {
            let seq = write(&mut memory, concepts(round * 10 + i, 1));
            assert_eq!(seq, last + 1);
            last = seq;
        }
        if round % 2 == 0 {
            memory.checkpoint().expect("checkpoint");
        }
        let (reopened, report) = open(h.crash(memory.into_storage(), CrashMode::DropPending));
        assert_eq!(report.last_seq, last);
        memory = reopened;
    }
    assert_eq!(memory.stats().last_seq, 12);
}

/// A snapshot rolled back to an older one (or lost) while the log was already trimmed by a newer
/// checkpoint is detected: the log's header says where it continues from.
pub fn a_snapshot_older_than_the_log_is_refused<H: Harness>(h: &mut H) {
    let (mut memory, _) = open(h.create());
    write(&mut memory, concepts(0, 2));
    memory.checkpoint().expect("first checkpoint");
    let mut storage = memory.into_storage();
    let old = h.snapshot_bytes(&mut storage).expect("snapshot");
    let (mut memory, _) = open(storage);
    write(&mut memory, concepts(2, 2));
    memory.checkpoint().expect("second checkpoint");
    write(&mut memory, concepts(4, 1));
    let storage = h.set_snapshot_bytes(memory.into_storage(), old);
    match Memory::open(storage, Options::default()) {
        Err(e) => {
            assert_eq!(e.code(), "corrupt_snapshot", "{e}");
            assert!(e.to_string().contains("older than the log"), "{e}");
        }
        Ok((memory, _)) => panic!(
            "an old snapshot was loaded with {} concepts: records 2..3 would be silently missing",
            memory.db().counts().concepts
        ),
    }
}

/// The one rule for a snapshot that fails its checks, on every storage: refused once a
/// checkpoint has trimmed the log (the records it covered are gone), but passed over — the
/// state rebuilt from the log, and the report saying why — while the log was never trimmed and
/// so holds the whole history (what a first checkpoint cut short leaves in the browser's two
/// slots).
pub fn a_damaged_snapshot_is_passed_over_only_while_the_log_is_whole<H: Harness>(h: &mut H) {
    let batches = vec![concepts(0, 3), vec![link(0, 1, Kind::Causal)]];
    let expected = expected_state(&batches).db().digest();
    // A whole log (no checkpoint yet) and a damaged snapshot beside it.
    let (mut memory, _) = open(h.create());
    for batch in &batches {
        write(&mut memory, batch.clone());
    }
    let (mut other, _) = open(h.create());
    write(&mut other, concepts(10, 1));
    other.checkpoint().expect("a snapshot to damage");
    let mut other_storage = other.into_storage();
    let mut damaged = h.snapshot_bytes(&mut other_storage).expect("snapshot");
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0x20;
    let storage = h.set_snapshot_bytes(memory.into_storage(), damaged.clone());
    let (memory, report) = Memory::open(storage, Options::default()).expect("opens from the log");
    assert_eq!(
        memory.db().digest(),
        expected,
        "the log's whole history, nothing of the snapshot"
    );
    assert_eq!(report.snapshot_seq, None);
    let why = report
        .discarded_snapshot
        .expect("the report says it was passed over");
    assert!(why.contains("snapshot is corrupt"), "{why}");
    // Once a checkpoint has trimmed the log, the same damage is refused.
    let (mut memory, _) = open(h.create());
    write(&mut memory, concepts(0, 2));
    memory.checkpoint().expect("checkpoint");
    write(&mut memory, concepts(2, 1));
    let storage = h.set_snapshot_bytes(memory.into_storage(), damaged);
    match Memory::open(storage, Options::default()) {
        Err(e) => assert_eq!(e.code(), "corrupt_snapshot", "{e}"),
        Ok(_) => panic!("a damaged snapshot was passed over although the log was trimmed"),
    }
}

/// Memories written by older format versions — the first (`core/tests/fixtures/v1/`: a log of
/// format 1 after a snapshot of format 3) and the last before labelled associations (`v3/`: log
/// 2, snapshot 5) — open on every storage to the state they hold, are rewritten in today's
/// versions as they open, and take writes that survive a crash.
pub fn files_of_older_formats_open_and_are_rewritten<H: Harness>(h: &mut H) {
    let v1 = (
        include_bytes!("../../core/tests/fixtures/v1/checkpointed.wal").to_vec(),
        include_bytes!("../../core/tests/fixtures/v1/checkpointed.snapshot").to_vec(),
        (1, 3),
    );
    let v3 = (
        include_bytes!("../../core/tests/fixtures/v3/checkpointed.wal").to_vec(),
        include_bytes!("../../core/tests/fixtures/v3/checkpointed.snapshot").to_vec(),
        (2, 5),
    );
    for (log, snapshot, versions) in [v1, v3] {
        old_files_open_and_are_rewritten(h, log, snapshot, versions);
    }
}

fn old_files_open_and_are_rewritten<H: Harness>(
    h: &mut H,
    log: Vec<u8>,
    snapshot: Vec<u8>,
    (log_version, snapshot_version): (u32, u32),
) {
    // What the files hold, read on the simulated disk (`core/tests/fixtures.rs` proves that is
    // the state their operations give).
    let sim = sutra_core::sim::SimDisk::new(0);
    sim.set_log(log.clone());
    sim.set_snapshot(Some(snapshot.clone()));
    let (expected, _) = Memory::open(sim.open(), Options::default()).expect("opens on sim");
    let storage = h.create();
    let storage = h.set_log_bytes(storage, log);
    let storage = h.set_snapshot_bytes(storage, snapshot);
    let (memory, report) = Memory::open(storage, Options::default()).expect("opens");
    assert_eq!(memory.db().digest(), expected.db().digest());
    assert_eq!(
        report.rewritten_from,
        Some(sutra_core::Rewritten {
            log_version,
            snapshot_version: Some(snapshot_version)
        })
    );
    let mut storage = memory.into_storage();
    let log = h.log_bytes(&mut storage);
    let header = sutra_core::wal::check_header(&log).expect("log header");
    assert_eq!(header.version, sutra_core::wal::LOG_VERSION);
    let snapshot = h.snapshot_bytes(&mut storage).expect("snapshot");
    assert_eq!(
        sutra_core::snapshot::version(&snapshot).expect("snapshot header"),
        sutra_core::snapshot::SNAPSHOT_VERSION
    );
    let (mut memory, report) = Memory::open(storage, Options::default()).expect("reopens");
    assert_eq!(report.rewritten_from, None, "rewritten once");
    let mut typed = sutra_core::ConceptInput::new("after the upgrade");
    typed
        .metadata
        .insert("year".into(), sutra_core::Value::Integer(2026));
    let id = typed.resolved_id();
    memory
        .write(vec![Op::put_concept(typed, 40)])
        .expect("a write after the upgrade");
    let (memory, _) = Memory::open(
        h.crash(memory.into_storage(), CrashMode::DropPending),
        Options::default(),
    )
    .expect("opens after a crash");
    let concept = memory
        .db()
        .concept(id)
        .cloned()
        .expect("the write survived");
    assert_eq!(concept.metadata["year"], sutra_core::Value::Integer(2026));
    assert_eq!(
        memory.db().counts().concepts,
        expected.db().counts().concepts + 1
    );
}

/// The words a text index search of the stored-index case looks for, with their answers.
fn word_answers(db: &Db) -> Vec<Vec<sutra_core::Hit>> {
    ["fox", "number 3", "concept 11 brown", "renamed"]
        .iter()
        .map(|q| db.search_text(q, 20).expect("search by words"))
        .collect()
}

/// A memory searched by words stores its text index in its checkpoints: a crash at any step of
/// a checkpoint, in any way, reopens to an index that answers as one built from the texts, and
/// the writes after a checkpoint (new texts, a replaced one, deletes) reach the loaded index.
pub fn the_stored_text_index_survives_crashes<H: Harness>(h: &mut H) {
    let first = vec![concepts(0, 8)];
    let renamed = Op::put_concept(
        sutra_core::ConceptInput::new("renamed text").with_id(id(2)),
        1_700_000_200_000,
    );
    let second = vec![
        concepts(8, 6),
        vec![renamed, Op::DeleteConcept { id: id(5) }],
    ];
    let mut both = first.clone();
    both.extend(second.iter().cloned());
    let expected = word_answers(&expected_state(&both).db());
    for step in SnapshotStep::ALL {
        for mode in CrashMode::ALL {
            let (mut memory, _) = open(h.create());
            for batch in &first {
                write(&mut memory, batch.clone());
            }
            memory.db().search_text("fox", 1).expect("builds the index");
            memory.checkpoint().expect("checkpoint");
            let (mut memory, _) = open(memory.into_storage());
            assert!(
                memory.db().text_index_built(),
                "{step:?}/{mode:?}: the index is loaded with the snapshot"
            );
            for batch in &second {
                write(&mut memory, batch.clone());
            }
            let memory = crash_a_checkpoint(h, memory, step, mode);
            assert_eq!(
                word_answers(&memory.db()),
                expected,
                "{step:?}/{mode:?}: the answers after the crash"
            );
            // The index holds exactly the texts (rebuilt from them and compared).
            memory
                .db()
                .check_integrity()
                .unwrap_or_else(|e| panic!("{step:?}/{mode:?}: {e}"));
        }
    }
}

/// Labelled facts (several between the same concepts, with metadata and validity), their
/// invalidation and deletion survive a crash at every checkpoint step in every mode: the state
/// is the one the operations give, reads of now hide what was invalidated, and reads of
/// everything still see it.
pub fn labelled_facts_and_invalidations_survive_crashes<H: Harness>(h: &mut H) {
    let key = |a, b, kind, label: &str| AssociationKey {
        source: id(a),
        target: id(b),
        kind,
        label: Label::from(label),
    };
    let first = vec![
        concepts(0, 4),
        vec![
            fact(0, 1, Kind::Semantic, "works_at", 1_000),
            fact(0, 1, Kind::Semantic, "founded", 0),
            link(0, 1, Kind::Semantic),
            fact(1, 2, Kind::Causal, "supplies", 0),
        ],
    ];
    let second = vec![
        vec![Op::InvalidateAssociation {
            key: key(0, 1, Kind::Semantic, "works_at"),
            until_ms: 2_000,
            at_ms: 1_700_000_400_000,
        }],
        vec![
            Op::DeleteAssociation {
                key: key(0, 1, Kind::Semantic, "founded"),
            },
            fact(2, 3, Kind::Temporal, "before", 0),
        ],
        // The memory's texts stemmed from now on (its text index, stored unstemmed by the
        // checkpoint, is built again).
        vec![Op::SetLanguage {
            language: Language::English,
        }],
    ];
    let mut both = first.clone();
    both.extend(second.iter().cloned());
    let expected = expected_state(&both);
    let now = ValidAt::Time(1_800_000_000_000);
    let seen = |db: &Db, at| {
        db.associations(id(0), Listing::Out, KindSet::ALL, at, 0.0, 100)
            .expect("list")
            .iter()
            .map(|a| a.label.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(seen(&expected.db(), now), [""]);
    assert_eq!(seen(&expected.db(), ValidAt::Any), ["", "works_at"]);
    for step in SnapshotStep::ALL {
        for mode in CrashMode::ALL {
            let (mut memory, _) = open(h.create());
            for batch in &first {
                write(&mut memory, batch.clone());
            }
            assert!(
                memory
                    .db()
                    .search_text("foxes", 10)
                    .expect("words")
                    .is_empty(),
                "not stemmed yet"
            );
            memory.checkpoint().expect("checkpoint");
            for batch in &second {
                write(&mut memory, batch.clone());
            }
            let memory = crash_a_checkpoint(h, memory, step, mode);
            let context = format!("{step:?}/{mode:?}");
            assert_same(&memory.db(), &expected.db(), &context);
            assert_eq!(seen(&memory.db(), now), [""], "{context}");
            assert_eq!(
                seen(&memory.db(), ValidAt::Time(1_500)),
                ["", "works_at"],
                "{context}"
            );
            assert_eq!(
                memory.stats().labels,
                3,
                "{context}: supplies, works_at, before"
            );
            assert_eq!(memory.stats().language, Some(Language::English));
            let foxes = memory.db().search_text("foxes", 10).expect("words");
            assert_eq!(
                foxes.len(),
                4,
                "{context}: stemmed, \"foxes\" finds every fox"
            );
        }
    }
}

/// The filters of the declared-keys case: (key, values) clauses, all of which must match.
const FILTERS: [&[(&str, &[i64])]; 4] = [
    &[("rank", &[3, 4, 5, 13])],
    &[("rank", &[1, 2, 4, 7, 8, 13, 14, 16])],
    &[("rank", &[0, 1, 2, 3, 4, 5, 6]), ("tags", &[])],
    &[("rank", &[99])],
];

/// What the declared-keys case reads: the keys, what each filter keeps, and a vector search
/// inside each.
fn filter_answers(db: &Db) -> (Vec<String>, Vec<Vec<ConceptId>>, Vec<Vec<sutra_core::Hit>>) {
    let keys = db.indexed_keys().map(str::to_string).collect();
    let (mut kept, mut near) = (Vec::new(), Vec::new());
    for clauses in FILTERS {
        let clauses = clauses
            .iter()
            .map(|(key, ranks)| Clause {
                key: key.to_string(),
                any_of: if ranks.is_empty() {
                    // (tags: the element every fixture's list holds)
                    vec![Scalar::wanted("filter", &Value::from("fox")).expect("a string")]
                } else {
                    ranks
                        .iter()
                        .map(|r| Scalar::wanted("filter", &Value::Integer(*r)).expect("a number"))
                        .collect()
                },
            })
            .collect();
        let filter = Filter::new("filter", clauses).expect("a filter");
        let among = db.filtered("filter", &filter).expect("declared keys");
        near.push(
            db.search_vectors_among(&crate::fixtures::vector(4), 3, None, among.clone())
                .expect("search"),
        );
        kept.push(among.to_vec());
    }
    (keys, kept, near)
}

/// The keys a memory declares for filters survive a crash at every checkpoint step in every
/// mode, and filters answer after it what the operations give: the concepts written, replaced
/// and deleted after the checkpoint included, with keys declared again in between.
pub fn declared_keys_and_filters_survive_crashes<H: Harness>(h: &mut H) {
    let first = vec![
        concepts(0, 12),
        vec![Op::index_metadata(vec!["rank".into()])],
    ];
    let second = vec![
        concepts(12, 6),
        vec![concept_updated(4), Op::DeleteConcept { id: id(5) }],
        vec![Op::index_metadata(vec!["tags".into(), "rank".into()])],
    ];
    let mut both = first.clone();
    both.extend(second.iter().cloned());
    let expected = filter_answers(&expected_state(&both).db());
    assert_eq!(expected.0, ["rank", "tags"]);
    let mut three = vec![id(3), id(4), id(13)];
    three.sort();
    assert_eq!(expected.1[0], three, "5 deleted");
    assert!(expected.1[3].is_empty());
    for step in SnapshotStep::ALL {
        for mode in CrashMode::ALL {
            let (mut memory, _) = open(h.create());
            for batch in &first {
                write(&mut memory, batch.clone());
            }
            // The index built (of the key declared then) before the checkpoint.
            let db = memory.db();
            assert_eq!(db.indexed_keys().collect::<Vec<_>>(), ["rank"]);
            let rank_3 = Filter::new(
                "filter",
                vec![Clause {
                    key: "rank".into(),
                    any_of: vec![Scalar::wanted("filter", &Value::Integer(3)).expect("a number")],
                }],
            )
            .expect("a filter");
            assert_eq!(*db.filtered("filter", &rank_3).expect("rank"), [id(3)]);
            drop(db);
            memory.checkpoint().expect("checkpoint");
            for batch in &second {
                write(&mut memory, batch.clone());
            }
            let memory = crash_a_checkpoint(h, memory, step, mode);
            let context = format!("{step:?}/{mode:?}");
            assert_eq!(filter_answers(&memory.db()), expected, "{context}");
            memory
                .db()
                .check_integrity()
                .unwrap_or_else(|e| panic!("{context}: {e}"));
        }
    }
}
