//! The engine's write path and reads: group commit, validation, upserts, scans, listings.

use sutra_core::sim::{SimDisk, SimStorage};
use sutra_core::{
    ConceptId, ConceptInput, Kind, KindSet, Label, Listing, Memory, Op, Options, ValidAt,
};

fn open(disk: &SimDisk, dimension: Option<u32>) -> Memory<SimStorage> {
    Memory::open(
        disk.open(),
        Options {
            dimension,
            ..Options::default()
        },
    )
    .expect("open")
    .0
}

fn c(text: &str) -> Op {
    Op::put_concept(ConceptInput::new(text), 10)
}

fn id(text: &str) -> ConceptId {
    ConceptId::from_content(text)
}

#[test]
fn group_commit_costs_one_sync_and_publishes_together() {
    let disk = SimDisk::new(1);
    let mut m = open(&disk, None);
    m.write(vec![c("y")]).expect("write");
    let syncs_before = disk.syncs();
    let a = m.stage(vec![c("x")]).expect("stage a");
    // Validated against the staged batch before it: x exists once a commits.
    let b = m
        .stage(vec![Op::put_association(
            id("x"),
            id("y"),
            Kind::Causal,
            0.5,
            1.0,
            11,
        )])
        .expect("stage b");
    let err = m
        .stage(vec![Op::put_association(
            id("x"),
            id("nowhere"),
            Kind::Causal,
            0.5,
            1.0,
            11,
        )])
        .expect_err("missing endpoint");
    assert_eq!(err.code(), "concept_not_found");
    assert!(err.to_string().contains(&id("nowhere").to_string()));
    // A deletion staged after them sees both.
    let d = m
        .stage(vec![Op::DeleteConcept { id: id("y") }])
        .expect("stage d");
    assert_eq!(
        (a, b, d),
        (2, 3, 4),
        "consecutive sequence numbers, the refused batch takes none"
    );
    assert!(m.db().concept(id("x")).is_none(), "visible before its sync");
    assert_eq!(m.commit().expect("commit"), Some(4));
    assert_eq!(
        disk.syncs() - syncs_before,
        1,
        "one sync for the whole group"
    );
    assert!(m.db().concept(id("x")).is_some());
    assert!(m.db().concept(id("y")).is_none());
    assert_eq!(m.db().counts().associations, 0, "cascaded with y");
    assert_eq!(m.commit().expect("empty commit"), None);
}

#[test]
fn refused_batch_leaves_no_trace_in_a_group() {
    let disk = SimDisk::new(1);
    let mut m = open(&disk, None);
    // Second op fails: the first must not count as staged for later batches.
    let err = m
        .stage(vec![c("p"), Op::DeleteConcept { id: id("ghost") }])
        .expect_err("ghost");
    assert_eq!(err.code(), "concept_not_found");
    let err = m
        .stage(vec![Op::put_association(
            id("p"),
            id("p"),
            Kind::Semantic,
            1.0,
            1.0,
            1,
        )])
        .expect_err("p was never staged");
    assert_eq!(err.code(), "concept_not_found");
    assert_eq!(m.staged(), 0);
}

#[test]
fn learning_the_same_text_twice_updates_one_concept() {
    let disk = SimDisk::new(1);
    let mut m = open(&disk, None);
    m.write(vec![Op::put_concept(ConceptInput::new("gravity"), 100)])
        .expect("first");
    let mut again = ConceptInput::new("gravity");
    again.strength = 3.0;
    m.write(vec![Op::put_concept(again, 200)]).expect("second");
    assert_eq!(m.db().counts().concepts, 1);
    let db = m.db();
    let g = db.concept(id("gravity")).expect("there");
    assert_eq!((g.created_ms, g.updated_ms, g.strength), (100, 200, 3.0));
}

#[test]
fn dimension_is_fixed_at_creation_or_by_the_first_embedding() {
    let disk = SimDisk::new(1);
    let mut m = open(&disk, Some(3));
    let err = m
        .write(vec![Op::put_concept(
            ConceptInput::new("v").with_embedding(vec![1.0, 2.0]),
            1,
        )])
        .expect_err("wrong dimension");
    assert_eq!(
        err.to_string(),
        "embedding has dimension 2, but this memory's vectors have dimension 3"
    );
    drop(m);
    disk.crash(sutra_core::sim::CrashMode::DropPending);
    let m = open(&disk, None);
    assert_eq!(m.stats().dimension, Some(3), "dimension survives a crash");
    drop(m);
    let err = Memory::open(
        disk.open(),
        Options {
            dimension: Some(4),
            ..Options::default()
        },
    )
    .err()
    .expect("mismatch");
    assert_eq!(err.code(), "dimension_mismatch");

    let disk = SimDisk::new(2);
    let mut m = open(&disk, None);
    m.write(vec![Op::put_concept(
        ConceptInput::new("v").with_embedding(vec![1.0, 2.0]),
        1,
    )])
    .expect("first fixes it");
    assert_eq!(m.stats().dimension, Some(2));
    let err = m
        .write(vec![Op::put_concept(
            ConceptInput::new("w").with_embedding(vec![1.0, 2.0, 3.0]),
            1,
        )])
        .expect_err("second differs");
    assert_eq!(err.code(), "dimension_mismatch");
    // Within one batch the first embedding fixes it for the rest.
    let disk = SimDisk::new(3);
    let mut m = open(&disk, None);
    let err = m
        .write(vec![
            Op::put_concept(ConceptInput::new("a").with_embedding(vec![1.0]), 1),
            Op::put_concept(ConceptInput::new("b").with_embedding(vec![1.0, 1.0]), 1),
        ])
        .expect_err("mixed");
    assert_eq!(err.code(), "dimension_mismatch");
    assert_eq!(m.stats().dimension, None, "a refused batch fixes nothing");
}

#[test]
fn scan_pages_through_every_concept_once() {
    let disk = SimDisk::new(1);
    let mut m = open(&disk, None);
    m.write((0..25).map(|i| c(&format!("item {i}"))).collect())
        .expect("write");
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let db = m.db();
        let page = db.scan(after, 10).expect("scan");
        seen.extend(page.concepts.iter().map(|c| c.id));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen.len(), 25);
    assert!(seen.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(
        m.db().scan(None, 1001).expect_err("limit").code(),
        "limit_exceeded"
    );
}

#[test]
fn association_listing_filters() {
    let disk = SimDisk::new(1);
    let mut m = open(&disk, None);
    m.write(vec![c("a"), c("b"), c("d")]).expect("concepts");
    m.write(vec![
        Op::put_association(id("a"), id("b"), Kind::Causal, 0.9, 1.0, 1),
        Op::put_association(id("a"), id("b"), Kind::Semantic, 0.2, 1.0, 1),
        Op::put_association(id("d"), id("a"), Kind::Temporal, 0.6, 1.0, 1),
    ])
    .expect("links");
    let db = m.db();
    assert_eq!(
        db.associations(id("a"), Listing::Out, KindSet::ALL, ValidAt::Any, 0.0, 100)
            .expect("out")
            .len(),
        2
    );
    let incoming = db
        .associations(id("a"), Listing::In, KindSet::ALL, ValidAt::Any, 0.0, 100)
        .expect("in");
    assert_eq!(incoming.len(), 1);
    assert_eq!(incoming[0].source, id("d"));
    assert_eq!(
        db.associations(id("a"), Listing::Both, KindSet::ALL, ValidAt::Any, 0.5, 100)
            .expect("both")
            .len(),
        2
    );
    let causal = db
        .associations(
            id("a"),
            Listing::Both,
            KindSet::of(&[Kind::Causal]),
            ValidAt::Any,
            0.0,
            100,
        )
        .expect("kind");
    assert_eq!(causal.len(), 1);
    assert_eq!(causal[0].confidence, 0.9);
    assert_eq!(
        db.associations(id("a"), Listing::Both, KindSet::ALL, ValidAt::Any, 0.0, 1)
            .expect("limit")
            .len(),
        1
    );
    assert_eq!(
        db.associations(id("zz"), Listing::Out, KindSet::ALL, ValidAt::Any, 0.0, 1)
            .expect_err("missing")
            .code(),
        "concept_not_found"
    );
    drop(db);
    let err = m
        .write(vec![Op::DeleteAssociation {
            key: sutra_core::AssociationKey {
                source: id("b"),
                target: id("a"),
                kind: Kind::Causal,
                label: Label::EMPTY,
            },
        }])
        .expect_err("no such association");
    assert_eq!(err.code(), "association_not_found");
}

#[test]
fn batch_limits_are_enforced() {
    let disk = SimDisk::new(1);
    let mut m = open(&disk, None);
    let err = m.write(vec![]).expect_err("empty");
    assert_eq!(err.code(), "invalid_argument");
    let too_many: Vec<Op> = (0..10_001).map(|i| c(&format!("n{i}"))).collect();
    let err = m.write(too_many).expect_err("too many");
    assert_eq!(
        err.to_string(),
        "ops (operations in a batch) is too large: 10001 exceeds the limit of 10000"
    );
    assert!(m.poisoned().is_none(), "bad input must not poison");
    m.write(vec![c("still fine")]).expect("writable");
}

#[test]
fn explicit_creation_times_are_kept_and_checked() {
    let disk = SimDisk::new(1);
    let mut m = open(&disk, None);
    let mut op = Op::put_concept(ConceptInput::new("imported"), 500);
    if let Op::PutConcept { created_ms, .. } = &mut op {
        *created_ms = Some(100);
    }
    m.write(vec![op]).expect("import");
    let db = m.db();
    let c = db.concept(id("imported")).expect("there");
    assert_eq!((c.created_ms, c.updated_ms), (100, 500));
    drop(db);
    let mut late =
        Op::put_association(id("imported"), id("imported"), Kind::Semantic, 0.5, 1.0, 10);
    if let Op::PutAssociation { created_ms, .. } = &mut late {
        *created_ms = Some(11);
    }
    let err = m.write(vec![late]).expect_err("created after updated");
    assert_eq!(
        err.to_string(),
        "invalid ops[0].created_ms: 11 (1970-01-01T00:00:00.011Z) is after the update time 10 (1970-01-01T00:00:00.010Z)"
    );
}

#[test]
fn readers_on_other_threads_see_each_acknowledged_write() {
    let disk = SimDisk::new(1);
    let mut m = open(&disk, None);
    let reader = m.reader();
    let watcher = std::thread::spawn(move || {
        // Counts only ever grow, one whole batch (two concepts) at a time.
        let mut last = 0;
        while last < 200 {
            let now = reader.db().counts().concepts;
            assert!(
                now >= last && now.is_multiple_of(2),
                "saw {now} after {last}"
            );
            last = now;
            std::thread::yield_now();
        }
        reader.stats()
    });
    for i in 0..100 {
        m.write(vec![c(&format!("left {i}")), c(&format!("right {i}"))])
            .expect("write");
    }
    let stats = watcher.join().expect("reader thread");
    assert_eq!(stats.concepts, 200);
    assert_eq!(stats.last_seq, 100);
    assert!(stats.log_bytes > 16);
}

#[test]
fn prefix_scan_finds_matches_across_pages() {
    let disk = SimDisk::new(1);
    let mut m = open(&disk, None);
    let mut ops: Vec<Op> = (0..30).map(|i| c(&format!("apple {i}"))).collect();
    ops.extend((0..30).map(|i| c(&format!("pear {i}"))));
    m.write(ops).expect("write");
    let db = m.db();
    let mut found = Vec::new();
    let mut after = None;
    loop {
        let page = db.scan_prefix("apple", after, 7).expect("scan");
        assert!(page.concepts.len() <= 7);
        found.extend(page.concepts.iter().map(|c| c.content.clone()));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    found.sort();
    assert_eq!(found.len(), 30);
    assert!(found.iter().all(|t| t.starts_with("apple")));
}

#[test]
fn verify_reads_without_changing_anything() {
    let disk = SimDisk::new(1);
    let mut m = open(&disk, None);
    m.write(vec![c("one"), c("two")]).expect("write");
    m.checkpoint().expect("checkpoint");
    m.write(vec![c("three")]).expect("write");
    drop(m);
    let mut log = disk.log();
    log.extend_from_slice(&[1, 2, 3]); // a torn tail
    disk.set_log(log.clone());
    let report = sutra_core::verify(&mut disk.open(), Default::default()).expect("verify");
    assert_eq!(report.snapshot_seq, Some(1));
    assert_eq!(report.records, 1);
    assert_eq!(report.torn_bytes, 3);
    assert_eq!(report.counts.concepts, 3);
    assert_eq!(disk.log(), log, "verify must not truncate");
    let mut bad = log.clone();
    bad[20] ^= 1;
    bad.extend_from_slice(&log[16..]);
    disk.set_log(bad);
    let err = sutra_core::verify(&mut disk.open(), Default::default()).expect_err("corrupt");
    assert_eq!(err.code(), "corrupt_log");
}

/// The one maintenance policy both hosts call: a checkpoint when the log passes the budget and
/// the last snapshot's size, never with batches staged or on a poisoned memory, and after a
/// failure only once a doubling wait is over; indexing from the budget's fresh vectors, or any
/// once the memory has been quiet for `INDEX_QUIET_MS`.
#[test]
fn the_maintenance_policy_decides_checkpoints_and_indexing_from_the_hosts_budgets() {
    use sutra_core::{Budgets, Due, Maintenance, CHECKPOINT_RETRY_MAX_MS, INDEX_QUIET_MS};
    let disk = SimDisk::new(7);
    let mut m = open(&disk, Some(2));
    let budgets = Budgets {
        checkpoint_log_bytes: 2_000,
        index_fresh_min: 3,
    };
    let mut policy = Maintenance::new(budgets);
    assert_eq!(policy.due(&m, 0), Due::default());
    let vector = |i: usize| {
        let mut input = ConceptInput::new(format!("v{i}"));
        input.embedding = Some(vec![1.0, i as f32 + 1.0]);
        Op::put_concept(input, 10)
    };
    m.write(vec![vector(0), vector(1)]).expect("write");
    assert_eq!(
        policy.due(&m, 100).index,
        None,
        "2 fresh vectors are under the budget of 3"
    );
    // Quiet for INDEX_QUIET_MS since the policy saw the write: the 2 are due (fresh_min 1).
    assert_eq!(policy.due(&m, 100 + INDEX_QUIET_MS - 1).index, None);
    assert_eq!(policy.due(&m, 100 + INDEX_QUIET_MS).index, Some(1));
    m.write(vec![vector(2)]).expect("write");
    assert_eq!(m.stats().vectors.fresh, 3);
    assert_eq!(
        policy.due(&m, 100 + INDEX_QUIET_MS).index,
        Some(3),
        "3 fresh vectors are the budget, quiet or not"
    );
    while m.log_bytes() <= 2_000 {
        m.write(vec![c(&format!("filler {}", m.log_bytes()))])
            .expect("write");
    }
    assert!(policy.due(&m, 0).checkpoint, "log {} bytes", m.log_bytes());

    // Staged batches are not in the state a checkpoint writes: not due until committed.
    m.stage(vec![c("staged")]).expect("stage");
    assert!(!policy.due(&m, 0).checkpoint);
    m.commit().expect("commit");
    assert!(policy.due(&m, 0).checkpoint);

    // Failures in a row wait 500 ms, then twice as long each time, up to a minute.
    let waits: Vec<u64> = (0..10)
        .map(|_| policy.checkpointed(false, 1_000).expect("a wait"))
        .collect();
    assert_eq!(
        waits,
        [500, 1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000]
    );
    assert_eq!(policy.failures(), 10);
    assert!(
        !policy
            .due(&m, 1_000 + CHECKPOINT_RETRY_MAX_MS - 1)
            .checkpoint
    );
    assert!(policy.due(&m, 1_000 + CHECKPOINT_RETRY_MAX_MS).checkpoint);
    policy.checkpointed(false, 0);
    assert_eq!(policy.checkpointed(true, 0), None);
    assert_eq!(policy.failures(), 0);
    assert!(policy.due(&m, 0).checkpoint, "a success ends the wait");

    // After the checkpoint the log is empty again: nothing due but the indexing.
    m.checkpoint().expect("checkpoint");
    assert_eq!(
        policy.due(&m, 0),
        Due {
            checkpoint: false,
            index: Some(3)
        }
    );
    assert!(m
        .index_vectors_step(budgets.index_fresh_min)
        .expect("index"));
    assert_eq!(policy.due(&m, 0).index, None);
    assert_eq!(
        policy.due(&m, INDEX_QUIET_MS * 10).index,
        None,
        "nothing fresh"
    );

    // A poisoned memory is refused every write until reopened: nothing is due on it.
    for i in 3..6 {
        m.write(vec![vector(i)]).expect("write");
    }
    assert_eq!(policy.due(&m, 0).index, Some(3));
    disk.fail_sync_after(0);
    m.write(vec![c("lost")]).expect_err("the sync fails");
    assert!(m.poisoned().is_some());
    assert_eq!(policy.due(&m, 0), Due::default());
}

#[test]
fn a_replicas_apply_gives_every_node_the_same_verdict_and_the_same_state() {
    // What a replicated log's apply step relies on: the same batches, in the same order, give
    // the same verdicts and byte-identical states on every replica; a refused batch leaves the
    // state exactly as it was (its number is skipped, as a log's non-batch entries are).
    use sutra_core::{Db, HnswParams};
    let vector =
        |text: &str, v: Vec<f32>| Op::put_concept(ConceptInput::new(text).with_embedding(v), 10);
    let log: Vec<(u64, Vec<Op>)> = vec![
        (1, vec![vector("a", vec![1.0, 0.0]), c("b")]),
        // Refused: its association's target does not exist.
        (
            2,
            vec![Op::put_association(
                id("a"),
                id("nobody"),
                Kind::Causal,
                0.5,
                1.0,
                10,
            )],
        ),
        (
            4,
            vec![Op::put_association(
                id("a"),
                id("b"),
                Kind::Causal,
                0.5,
                1.0,
                10,
            )],
        ),
        // Refused: the dimension is 2 since batch 1.
        (5, vec![c("c"), vector("d", vec![1.0, 0.0, 0.0])]),
        // Refused: there is no such association to delete.
        (
            6,
            vec![Op::DeleteAssociation {
                key: sutra_core::AssociationKey {
                    source: id("b"),
                    target: id("a"),
                    kind: Kind::Semantic,
                    label: Label::EMPTY,
                },
            }],
        ),
        (7, vec![Op::DeleteConcept { id: id("b") }, c("e")]),
    ];
    let mut replicas: Vec<Db> = (0..3).map(|_| Db::empty(HnswParams::default())).collect();
    let mut verdicts: Vec<Vec<Option<String>>> = vec![Vec::new(); 3];
    for (seq, ops) in &log {
        for (replica, verdict) in replicas.iter_mut().zip(verdicts.iter_mut()) {
            let before = replica.encode_snapshot().expect("encode");
            let result = replica.apply_checked(*seq, ops.clone());
            if result.is_err() {
                assert_eq!(
                    replica.encode_snapshot().expect("encode"),
                    before,
                    "a refused batch leaves no trace"
                );
            }
            verdict.push(result.err().map(|e| e.code().to_string()));
            replica.check_integrity().expect("integrity");
        }
    }
    let want: Vec<Option<String>> = [
        None,
        Some("concept_not_found"),
        None,
        Some("dimension_mismatch"),
        Some("association_not_found"),
        None,
    ]
    .into_iter()
    .map(|v| v.map(String::from))
    .collect();
    for verdict in &verdicts {
        assert_eq!(verdict, &want);
    }
    let images: Vec<Vec<u8>> = replicas
        .iter()
        .map(|r| r.encode_snapshot().expect("encode"))
        .collect();
    assert!(
        images.iter().all(|i| i == &images[0]),
        "the replicas' states are byte-identical"
    );
    let counts = replicas[0].counts();
    assert_eq!(
        (counts.concepts, counts.associations, counts.last_seq),
        (2, 0, 7)
    );
    assert!(replicas[0].concept(id("e")).is_some() && replicas[0].concept(id("b")).is_none());
    // A batch numbered at or below the last one applied is refused: the log's order binds.
    let again = replicas[0]
        .apply_checked(7, vec![c("f")])
        .expect_err("old number");
    assert_eq!(again.code(), "conflict");
}

/// The indexing policy alone (as a cluster's node runs it for each memory it applies): the
/// first look counts as a change, a new batch starts the quiet wait again, work on the graphs
/// (a merge) is due at once, and a budget of `usize::MAX` never indexes (an offline import).
#[test]
fn the_indexing_policy_waits_for_quiet_and_can_be_turned_off() {
    use sutra_core::{IndexPolicy, INDEX_QUIET_MS};
    let mut policy = IndexPolicy::new(100);
    assert_eq!(policy.due(5, false, 7, 1_000), None, "just opened: waits");
    assert_eq!(policy.due(5, false, 7, 1_000 + INDEX_QUIET_MS), Some(1));
    assert_eq!(
        policy.due(6, false, 8, 1_000 + INDEX_QUIET_MS),
        None,
        "a new batch"
    );
    assert_eq!(policy.due(6, false, 8, 1_000 + 2 * INDEX_QUIET_MS), Some(1));
    assert_eq!(
        policy.due(0, false, 8, 1_000 + 3 * INDEX_QUIET_MS),
        None,
        "nothing fresh"
    );
    assert_eq!(
        policy.due(100, false, 9, 1_000 + 3 * INDEX_QUIET_MS),
        Some(100),
        "the budget"
    );
    assert_eq!(
        policy.due(0, true, 10, 1_000 + 3 * INDEX_QUIET_MS),
        Some(100),
        "graph work (a merge) waits for nothing"
    );
    let mut off = IndexPolicy::new(usize::MAX);
    assert_eq!(off.due(5, false, 7, 0), None);
    assert_eq!(off.due(u64::MAX, false, 7, u64::MAX), None);
    assert_eq!(off.due(0, true, 7, 0), None);
}

/// A checkpoint with nothing new since the last snapshot — no write logged, no vector indexing
/// installed — writes nothing (no sync, the snapshot untouched) and says so; indexing alone or
/// a write makes the next one write; a memory reopened on an empty log has nothing new.
#[test]
fn a_checkpoint_with_nothing_new_writes_nothing() {
    let disk = SimDisk::new(21);
    let mut m = open(&disk, Some(2));
    let vector = |i: usize| {
        let mut input = ConceptInput::new(format!("v{i}"));
        input.embedding = Some(vec![1.0, i as f32]);
        Op::put_concept(input, 10)
    };
    m.write((0..20).map(vector).collect()).expect("write");
    let first = m.checkpoint().expect("checkpoint");
    assert!(first.written && first.log_bytes_dropped > 0, "{first:?}");
    let (syncs, image) = (disk.syncs(), disk.snapshot());
    let again = m.checkpoint().expect("checkpoint");
    assert!(!again.written, "{again:?}");
    assert_eq!(
        (again.seq, again.snapshot_bytes, again.log_bytes_dropped),
        (first.seq, first.snapshot_bytes, 0)
    );
    assert_eq!(disk.syncs(), syncs, "nothing synced");
    assert_eq!(disk.snapshot(), image, "the snapshot untouched");
    assert_eq!(m.stats().checkpoint_seq, Some(first.seq));

    // Indexing alone changes what a snapshot holds (the graphs): written, at the same seq.
    assert!(m.index_vectors_step(1).expect("index"));
    let indexed = m.checkpoint().expect("checkpoint");
    assert!(indexed.written, "{indexed:?}");
    assert_eq!(indexed.seq, first.seq);
    assert_ne!(disk.snapshot(), image);
    assert!(!m.checkpoint().expect("checkpoint").written);

    m.write(vec![c("one more")]).expect("write");
    let written = m.checkpoint().expect("checkpoint");
    assert!(
        written.written && written.seq == first.seq + 1,
        "{written:?}"
    );
    drop(m);

    // Reopened on the empty log the checkpoint left: nothing new. With a record: written.
    let mut m = open(&disk, Some(2));
    assert!(!m.checkpoint().expect("checkpoint").written);
    m.write(vec![c("after the reopen")]).expect("write");
    drop(m);
    let mut m = open(&disk, Some(2));
    assert!(m.checkpoint().expect("checkpoint").written);
    assert_eq!(m.stats().concepts, 22);
}

/// Text search answers the same from an index kept up to date through writes and from one built
/// afresh (from the log, from a snapshot), and never finds a deleted or replaced text; the
/// integrity check covers the text index.
#[test]
fn text_search_is_the_same_replayed_or_restored_and_never_stale() {
    let disk = SimDisk::new(9);
    let mut m = open(&disk, None);
    let words = ["rain", "river", "snow", "storm", "sun"];
    let batches: Vec<Vec<Op>> = (0..60)
        .map(|i| {
            vec![c(&format!(
                "{} {} and {} number {i}",
                words[i % 5],
                words[(i * 3) % 5],
                words[(i / 5) % 5]
            ))]
        })
        .collect();
    for batch in batches {
        m.write(batch).expect("write");
    }
    // The first search builds the index; the writes after it keep it up to date (and the
    // memories opened below build theirs from the concepts as they are: the same answers).
    let first = m.db().search_text("rain", 100).expect("search");
    assert!(first
        .iter()
        .any(|h| h.id == id("rain rain and rain number 0")));
    m.write(vec![Op::DeleteConcept {
        id: id("rain rain and rain number 0"),
    }])
    .expect("delete");
    m.write(vec![Op::put_concept(
        ConceptInput::new("a calm day").with_id(id("sun snow and rain number 4")),
        20,
    )])
    .expect("replace");
    let query = |m: &Memory<SimStorage>, q: &str| m.db().search_text(q, 10).expect("search");
    let before: Vec<_> = ["rain", "storm snow", "number 7", "calm"]
        .iter()
        .map(|q| query(&m, q))
        .collect();
    for hits in &before[..3] {
        assert!(!hits.is_empty());
        assert!(hits
            .iter()
            .all(|h| h.id != id("rain rain and rain number 0")
                && h.id != id("sun snow and rain number 4")));
    }
    assert_eq!(
        before[3].len(),
        1,
        "the replaced text is found by its new words"
    );
    m.db().check_integrity().expect("integrity");
    // From the log alone, and from a snapshot.
    drop(m);
    let replayed = open(&disk, None);
    let again: Vec<_> = ["rain", "storm snow", "number 7", "calm"]
        .iter()
        .map(|q| query(&replayed, q))
        .collect();
    assert_eq!(again, before);
    let mut replayed = replayed;
    replayed.checkpoint().expect("checkpoint");
    drop(replayed);
    let restored = open(&disk, None);
    assert_eq!(restored.stats().last_seq, 62);
    let again: Vec<_> = ["rain", "storm snow", "number 7", "calm"]
        .iter()
        .map(|q| query(&restored, q))
        .collect();
    assert_eq!(again, before);
    restored.db().check_integrity().expect("integrity");
}

/// The sections of a snapshot file, by its table (`docs/FORMAT.md`, "Snapshot").
fn sections_of(file: &[u8]) -> Vec<Vec<u8>> {
    let u64_at = |at: usize| {
        let mut x = [0u8; 8];
        x.copy_from_slice(&file[at..at + 8]);
        u64::from_le_bytes(x) as usize
    };
    let count = u32::from_le_bytes([file[12], file[13], file[14], file[15]]) as usize;
    (0..count)
        .map(|i| {
            let at = 32 + i * 32;
            let (offset, len) = (u64_at(at + 8), u64_at(at + 16));
            file[offset..offset + len].to_vec()
        })
        .collect()
}

/// A memory searched by words stores its text index in its checkpoint and loads it on open;
/// a stored index that names a concept the snapshot does not hold is refused as corrupt.
#[test]
fn the_text_index_is_stored_by_a_checkpoint_and_checked_when_loaded() {
    let disk = SimDisk::new(21);
    let mut m = open(&disk, None);
    m.write(vec![c("rain on the roof"), c("rain again"), c("the sun")])
        .expect("write");
    m.checkpoint().expect("checkpoint");
    drop(m);
    // Never searched by words: no index stored, none loaded.
    let m = open(&disk, None);
    assert!(!m.db().text_index_built());
    let hits = m.db().search_text("rain", 5).expect("search");
    assert_eq!(hits.len(), 2);
    let mut m = m;
    m.write(vec![c("rain and wind")]).expect("write");
    m.checkpoint().expect("checkpoint");
    let stored = disk.snapshot().expect("a snapshot");
    drop(m);
    let m = open(&disk, None);
    assert!(m.db().text_index_built(), "loaded with the snapshot");
    assert_eq!(m.db().search_text("rain", 5).expect("search").len(), 3);
    m.db().check_integrity().expect("integrity");
    drop(m);

    // Another memory's index in this memory's snapshot: every section's checksum is right,
    // and still the file is refused.
    let other = SimDisk::new(22);
    let mut o = open(&other, None);
    o.write(vec![c("rain elsewhere")]).expect("write");
    o.db().search_text("rain", 1).expect("search");
    o.checkpoint().expect("checkpoint");
    let mut sections = sections_of(&stored);
    sections[5] = sections_of(&other.snapshot().expect("a snapshot"))[5].clone();
    let spliced = sutra_core::snapshot::assemble(
        sutra_core::snapshot::covered_seq(&stored).expect("seq"),
        &sections,
    );
    let err = sutra_core::Db::decode_snapshot(&spliced, sutra_core::HnswParams::default())
        .err()
        .expect("refused");
    assert_eq!(err.code(), "corrupt_snapshot");
    assert!(err.to_string().contains("which is not a concept"), "{err}");
}

/// Every page of a listing through the exchange layer (as the API and the browser call it).
fn pages(
    m: &Memory<SimStorage>,
    order: &str,
    prefix: Option<&str>,
    limit: u32,
) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = sutra_core::exchange::scan(
            &m.db(),
            &sutra_core::exchange::ScanQuery {
                order: Some(order.into()),
                after: after.take(),
                limit: Some(limit),
                prefix: prefix.map(String::from),
                filter: None,
            },
        )
        .expect("scan");
        assert!(page.concepts.len() <= limit as usize);
        out.push(page.concepts.into_iter().map(|c| c.content).collect());
        match page.next {
            Some(next) => after = Some(next),
            None => return out,
        }
    }
}

#[test]
fn sorted_scans_page_by_last_update_and_by_content() {
    let disk = SimDisk::new(1);
    let mut m = open(&disk, None);
    // Learned at times 100, 101, …: "w0" oldest. Two at the same time: ties go by id.
    let words = ["pear", "apple", "fig", "apricot", "kiwi", "plum", "date"];
    for (i, w) in words.iter().enumerate() {
        m.write(vec![Op::put_concept(ConceptInput::new(*w), 100 + i as u64)])
            .expect("write");
    }
    m.write(vec![
        Op::put_concept(ConceptInput::new("lime"), 200),
        Op::put_concept(ConceptInput::new("lemon"), 200),
    ])
    .expect("write");
    let mut tie = [("lime", id("lime")), ("lemon", id("lemon"))];
    tie.sort_by_key(|(_, i)| *i);
    let newest: Vec<String> = tie
        .iter()
        .map(|(w, _)| w.to_string())
        .chain(words.iter().rev().map(|w| w.to_string()))
        .collect();
    let by_update = pages(&m, "updated", None, 3);
    assert_eq!(by_update.len(), 3);
    assert_eq!(by_update.concat(), newest);
    assert_eq!(
        pages(&m, "content", None, 4).concat(),
        ["apple", "apricot", "date", "fig", "kiwi", "lemon", "lime", "pear", "plum"]
    );
    assert_eq!(
        pages(&m, "content", Some("ap"), 1).concat(),
        ["apple", "apricot"]
    );
    assert_eq!(pages(&m, "updated", Some("p"), 10), [vec!["plum", "pear"]]);
    assert_eq!(pages(&m, "id", None, 100)[0].len(), 9);

    // A concept updated between two pages moves to the front: the pages after the cursor never
    // list it again, nor skip another.
    let first = sutra_core::exchange::scan(
        &m.db(),
        &sutra_core::exchange::ScanQuery {
            order: Some("updated".into()),
            limit: Some(3),
            ..Default::default()
        },
    )
    .expect("first page");
    m.write(vec![Op::put_concept(ConceptInput::new("apple"), 300)])
        .expect("touch apple");
    let rest = sutra_core::exchange::scan(
        &m.db(),
        &sutra_core::exchange::ScanQuery {
            order: Some("updated".into()),
            after: first.next.clone(),
            limit: Some(100),
            ..Default::default()
        },
    )
    .expect("the rest");
    let rest: Vec<String> = rest.concepts.into_iter().map(|c| c.content).collect();
    assert_eq!(rest, ["plum", "kiwi", "apricot", "fig", "pear"]);
    assert_eq!(pages(&m, "updated", None, 1)[0], ["apple"]);

    // Refusals: an unknown order, a cursor of another order, a content cursor whose concept is gone.
    let scan = |m: &Memory<SimStorage>, order: &str, after: Option<&str>| {
        sutra_core::exchange::scan(
            &m.db(),
            &sutra_core::exchange::ScanQuery {
                order: Some(order.into()),
                after: after.map(String::from),
                ..Default::default()
            },
        )
    };
    assert_eq!(
        scan(&m, "newest", None).expect_err("order").to_string(),
        "invalid order: \"newest\" is not an order: use id, updated or content"
    );
    assert_eq!(
        scan(&m, "updated", Some(&id("fig").to_string()))
            .expect_err("an id is not a sorted cursor")
            .field()
            .as_deref(),
        Some("after")
    );
    let cursor = format!("102-{}", id("fig"));
    m.write(vec![Op::DeleteConcept { id: id("fig") }])
        .expect("delete");
    assert_eq!(
        scan(&m, "content", Some(&cursor)).expect_err("gone").to_string(),
        "invalid after: the concept the last page ended on was deleted since: start again from the first page"
    );
    assert_eq!(
        scan(&m, "updated", Some(&cursor))
            .expect("a time needs no concept")
            .concepts
            .into_iter()
            .map(|c| c.content)
            .collect::<Vec<_>>(),
        ["pear"]
    );
}
