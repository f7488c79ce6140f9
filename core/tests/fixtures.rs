//! The on-disk format, frozen: `core/tests/fixtures/` holds logs and snapshots written by each
//! version — every kind of operation, vectors, metadata, explicit creation times, a checkpoint
//! with a log after it — and corrupt variants of them:
//! - `v1/`: log format 1, snapshot format 3 (metadata values strings only);
//! - `v2/`: log format 2, snapshot format 4 (typed metadata values);
//! - `v3/`: log format 2, snapshot format 5 (the text index stored: the checkpointed fixture's
//!   memory was searched by words before its checkpoint);
//! - `v4/`: log format 3, snapshot format 6 (associations with a label, metadata and validity,
//!   and their invalidation);
//! - `v5/`: log format 4, snapshot format 7 (a stemming language set after the first batches:
//!   the checkpointed fixture's text index holds English stems);
//! - `v6/`: log format 5, snapshot format 8 (metadata keys indexed for filters).
//!
//! - Each fixture opens to exactly the state that the same operations give when applied now.
//! - Files of an older version are rewritten in today's when they open, and open again to the
//!   same state.
//! - Today's encoders write exactly the newest fixture's bytes: a change to the bytes (a
//!   reordered field, a new one) fails here. Such a change must bump the format version, keep
//!   these files and the code that reads them, and add fixtures of the new version beside them.
//! - Each corrupt variant is refused (or its torn tail cut) as `docs/FORMAT.md` says, at the
//!   byte offset it names.
//!
//! The files are made by `SUTRA_WRITE_FIXTURES=1 cargo test -p sutra-core --test fixtures`, once
//! per format version, into the newest version's folder; never to make a failing test pass.

use std::path::{Path, PathBuf};
use sutra_core::sim::{SimDisk, SimStorage};
use sutra_core::{
    AssociationKey, ConceptId, ConceptInput, HnswParams, Kind, Label, Language, Memory, Metadata,
    Op, Options, Rewritten, Storage, Validity, Value,
};

/// The fixture folders, oldest first; the last is today's format.
const VERSIONS: [&str; 6] = ["v1", "v2", "v3", "v4", "v5", "v6"];
/// Today's format's folder.
const NEWEST: &str = VERSIONS[VERSIONS.len() - 1];

fn dir(version: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/{version}"))
}

fn id(name: &str) -> ConceptId {
    ConceptId::from_content(name)
}

fn metadata(pairs: &[(&str, Value)]) -> Metadata {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// The operations of the log-only fixture of `version`, batch by batch (the dimension is the
/// first record, written by opening with a dimension): version 1's six batches, from version 2
/// on a seventh with metadata of every type, and from version 4 on two more with labelled,
/// attributed, time-bound associations and an invalidation, and from version 5 on one that
/// sets the memory's stemming language.
fn first_batches(version: &str) -> Vec<Vec<Op>> {
    let concept = |name: &str, vector: Option<Vec<f32>>, at: u64| {
        let mut input = ConceptInput::new(name);
        input.embedding = vector;
        Op::put_concept(input, at)
    };
    let mut batches = vec![
        vec![
            Op::PutConcept {
                id: id("rain"),
                content: "rain".into(),
                embedding: Some(vec![1.0, 0.0, 0.5, -0.25]),
                strength: 2.5,
                confidence: 0.75,
                metadata: metadata(&[("source", "weather".into()), ("lang", "en".into())]),
                at_ms: 10,
                created_ms: Some(5),
            },
            concept("wet streets", None, 10),
            concept("umbrella", Some(vec![0.0, 1.0, 0.0, 0.0]), 10),
        ],
        vec![
            Op::PutAssociation {
                source: id("rain"),
                target: id("wet streets"),
                kind: Kind::Causal,
                label: Label::EMPTY,
                confidence: 0.8,
                weight: 2.0,
                metadata: Metadata::new(),
                validity: Validity::ALWAYS,
                at_ms: 12,
                created_ms: Some(11),
            },
            Op::put_association(id("rain"), id("umbrella"), Kind::Semantic, 0.6, 1.0, 12),
            Op::put_association(
                id("wet streets"),
                id("umbrella"),
                Kind::Temporal,
                0.5,
                1.0,
                12,
            ),
        ],
        vec![Op::DeleteAssociation {
            key: AssociationKey {
                source: id("wet streets"),
                target: id("umbrella"),
                kind: Kind::Temporal,
                label: Label::EMPTY,
            },
        }],
        vec![concept("fleeting", Some(vec![0.5, 0.5, 0.5, 0.5]), 13)],
        vec![Op::DeleteConcept { id: id("fleeting") }],
        vec![
            // An update: created_ms kept from the first write.
            concept("rain", Some(vec![0.9, 0.1, 0.5, -0.25]), 20),
        ],
    ];
    if version != "v1" {
        let mut typed = ConceptInput::new("drizzle");
        typed.metadata = metadata(&[
            ("lang", "en".into()),
            ("year", Value::Integer(-2024)),
            ("intensity", Value::Number(0.125)),
            ("observed", Value::Bool(true)),
            (
                "lemmas",
                Value::List(vec!["drizzle".into(), "drizzled".into()]),
            ),
        ]);
        batches.push(vec![Op::put_concept(typed, 21)]);
    }
    if labelled(version) > 0 {
        batches.push(vec![
            // Beside the unlabelled causal association of the same ends: another fact.
            Op::PutAssociation {
                source: id("rain"),
                target: id("wet streets"),
                kind: Kind::Causal,
                label: Label::from("floods"),
                confidence: 0.5,
                weight: 1.5,
                metadata: metadata(&[("doc", "almanac".into()), ("page", Value::Integer(7))]),
                validity: Validity {
                    from_ms: Some(15),
                    until_ms: None,
                },
                at_ms: 22,
                created_ms: None,
            },
            Op::PutAssociation {
                source: id("drizzle"),
                target: id("rain"),
                kind: Kind::Semantic,
                label: Label::from("lighter than"),
                confidence: 0.9,
                weight: 1.0,
                metadata: Metadata::new(),
                validity: Validity {
                    from_ms: None,
                    until_ms: Some(100),
                },
                at_ms: 22,
                created_ms: None,
            },
        ]);
        batches.push(vec![Op::InvalidateAssociation {
            key: floods(),
            until_ms: 40,
            at_ms: 23,
        }]);
    }
    if let Some(language) = stemmed(version) {
        batches.push(vec![Op::SetLanguage { language }]);
    }
    if !indexed(version).is_empty() {
        batches.push(vec![Op::index_metadata(
            indexed(version).iter().map(|k| k.to_string()).collect(),
        )]);
    }
    batches
}

/// The metadata keys the fixtures of `version` index for filters (none before version 6).
fn indexed(version: &str) -> &'static [&'static str] {
    if matches!(version, "v1" | "v2" | "v3" | "v4" | "v5") {
        &[]
    } else {
        &["lang", "source"]
    }
}

/// The language the fixtures of `version` stem in (none before version 5).
fn stemmed(version: &str) -> Option<Language> {
    (!matches!(version, "v1" | "v2" | "v3" | "v4")).then_some(Language::English)
}

/// How many labelled associations the fixtures of `version` hold (none before version 4).
fn labelled(version: &str) -> u64 {
    if matches!(version, "v1" | "v2" | "v3") {
        0
    } else {
        2
    }
}

/// The key of the labelled association the version 4 fixtures invalidate.
fn floods() -> AssociationKey {
    AssociationKey {
        source: id("rain"),
        target: id("wet streets"),
        kind: Kind::Causal,
        label: Label::from("floods"),
    }
}

/// The operations after the checkpoint of the checkpointed fixture.
fn after_checkpoint() -> Vec<Vec<Op>> {
    vec![
        vec![
            Op::put_concept(
                ConceptInput::new("weather").with_embedding(vec![0.5, 0.5, 0.0, 0.0]),
                30,
            ),
            Op::put_association(id("weather"), id("rain"), Kind::Hierarchical, 1.0, 1.0, 30),
        ],
        vec![Op::put_association(
            id("umbrella"),
            id("rain"),
            Kind::Compositional,
            0.25,
            3.0,
            31,
        )],
    ]
}

/// A memory made as the fixtures were: with the index parameters of the time (each graph
/// records the `ef_construction` it was built with, 24 then, and that value is data, not
/// format: the default is 40 now).
fn new_memory(disk: &SimDisk) -> Memory<SimStorage> {
    let options = Options {
        dimension: Some(4),
        language: None,
        indexed_keys: Vec::new(),
        hnsw: HnswParams {
            ef_construction: 24,
            ..HnswParams::default()
        },
    };
    Memory::open(disk.open(), options).expect("open").0
}

fn write(memory: &mut Memory<SimStorage>, batches: Vec<Vec<Op>>) {
    for batch in batches {
        memory.write(batch).expect("write");
    }
}

/// (log, snapshot) of today's log-only fixture.
fn make_log_only() -> (Vec<u8>, Option<Vec<u8>>) {
    let disk = SimDisk::new(1);
    let mut memory = new_memory(&disk);
    write(&mut memory, first_batches(NEWEST));
    drop(memory);
    (disk.log(), disk.snapshot())
}

/// (log, snapshot) of today's checkpointed fixture: the first batches, a checkpoint (the
/// vectors sealed into the index first, so the snapshot holds a graph), then more batches.
fn make_checkpointed() -> (Vec<u8>, Option<Vec<u8>>) {
    let disk = SimDisk::new(1);
    let mut memory = new_memory(&disk);
    write(&mut memory, first_batches(NEWEST));
    memory.seal_vectors().expect("seal");
    // Searched by words: the text index is built, and the snapshot stores it.
    memory.db().search_text("rain", 1).expect("search");
    memory.checkpoint().expect("checkpoint");
    write(&mut memory, after_checkpoint());
    drop(memory);
    (disk.log(), disk.snapshot())
}

/// The state the operations of `version`'s fixture give today (`checkpointed`: with the
/// batches after its checkpoint).
fn expected(version: &str, checkpointed: bool) -> Memory<SimStorage> {
    let disk = SimDisk::new(3);
    let mut memory = new_memory(&disk);
    write(&mut memory, first_batches(version));
    if checkpointed {
        write(&mut memory, after_checkpoint());
    }
    memory
}

/// A record's start offsets in a log (after its header), from its length fields.
fn record_offsets(log: &[u8]) -> Vec<usize> {
    let mut offsets = Vec::new();
    let mut at = sutra_core::wal::LOG_HEADER_BYTES as usize;
    while at + 4 <= log.len() {
        let len = u32::from_le_bytes([log[at], log[at + 1], log[at + 2], log[at + 3]]) as usize;
        if len == 0 {
            break;
        }
        offsets.push(at);
        at += sutra_core::wal::RECORD_HEADER_BYTES + len;
    }
    offsets
}

fn read(version: &str, name: &str) -> Vec<u8> {
    std::fs::read(dir(version).join(name)).unwrap_or_else(|e| {
        panic!("fixture {version}/{name}: {e} (made by SUTRA_WRITE_FIXTURES=1, once per format version)")
    })
}

fn open_bytes(log: Vec<u8>, snapshot: Option<Vec<u8>>) -> sutra_core::Result<Memory<SimStorage>> {
    let disk = SimDisk::new(2);
    disk.set_log(log);
    disk.set_snapshot(snapshot);
    Memory::open(disk.open(), Options::default()).map(|(m, _)| m)
}

/// The format versions a log's and a snapshot's headers say.
fn versions(log: &[u8], snapshot: Option<&[u8]>) -> (u32, Option<u32>) {
    let log = sutra_core::wal::check_header(log)
        .expect("log header")
        .version;
    (
        log,
        snapshot.map(|s| sutra_core::snapshot::version(s).expect("snapshot header")),
    )
}

/// Writes today's fixture files (only when asked: `SUTRA_WRITE_FIXTURES=1`).
#[test]
fn write_fixtures_when_asked() {
    if std::env::var_os("SUTRA_WRITE_FIXTURES").is_none() {
        return;
    }
    let dir = dir(NEWEST);
    std::fs::create_dir_all(&dir).expect("fixture directory");
    let (log, _) = make_log_only();
    std::fs::write(dir.join("log-only.wal"), &log).expect("write");
    let (log2, snapshot) = make_checkpointed();
    std::fs::write(dir.join("checkpointed.wal"), &log2).expect("write");
    std::fs::write(
        dir.join("checkpointed.snapshot"),
        snapshot.as_deref().expect("snapshot"),
    )
    .expect("write");
    // Corrupt variants.
    let offsets = record_offsets(&log);
    let mut bad_record = log.clone();
    bad_record[offsets[2] + sutra_core::wal::RECORD_HEADER_BYTES + 3] ^= 0x40;
    std::fs::write(dir.join("corrupt-record.wal"), bad_record).expect("write");
    let torn = &log[..log.len() - 7];
    std::fs::write(dir.join("torn-tail.wal"), torn).expect("write");
    let mut bad_header = log.clone();
    bad_header[14] ^= 0x01;
    std::fs::write(dir.join("bad-header.wal"), bad_header).expect("write");
    let mut bad_snapshot = snapshot.expect("snapshot");
    let at = bad_snapshot.len() / 2;
    bad_snapshot[at] ^= 0x10;
    std::fs::write(dir.join("corrupt-section.snapshot"), bad_snapshot).expect("write");
}

/// Opens `log` (and `snapshot`) of `version`, checks the state is the one `expected` holds, and
/// that files of an older version were rewritten in today's and open again to the same state.
fn opens_to(
    version: &str,
    log: Vec<u8>,
    snapshot: Option<Vec<u8>>,
    expected: &Memory<SimStorage>,
) -> Memory<SimStorage> {
    let found = versions(&log, snapshot.as_deref());
    let disk = SimDisk::new(4);
    disk.set_log(log);
    disk.set_snapshot(snapshot);
    let (memory, report) = Memory::open(disk.open(), Options::default()).expect("opens");
    assert_eq!(memory.db().digest(), expected.db().digest(), "{version}");
    let now = versions(&disk.log(), disk.snapshot().as_deref());
    let today = (
        sutra_core::wal::LOG_VERSION,
        Some(sutra_core::snapshot::SNAPSHOT_VERSION),
    );
    let outdated = found.0 < today.0 || found.1.is_some_and(|s| Some(s) < today.1);
    if !outdated {
        assert_eq!(
            report.rewritten_from, None,
            "{version}: today's files are kept"
        );
    } else {
        assert_eq!(
            report.rewritten_from,
            Some(Rewritten {
                log_version: found.0,
                snapshot_version: found.1
            })
        );
        assert_eq!(
            now, today,
            "{version}'s files are rewritten in today's format"
        );
        assert_eq!(memory.log_bytes(), sutra_core::wal::LOG_HEADER_BYTES);
        drop(memory);
        let (again, report) = Memory::open(disk.open(), Options::default()).expect("reopens");
        assert_eq!(report.rewritten_from, None);
        assert_eq!(again.db().digest(), expected.db().digest());
        return again;
    }
    memory
}

#[test]
fn every_log_only_fixture_opens_to_the_state_its_operations_give() {
    for version in VERSIONS {
        let log = read(version, "log-only.wal");
        let memory = opens_to(version, log, None, &expected(version, false));
        let batches = first_batches(version).len() as u64;
        assert_eq!(
            memory.stats().last_seq,
            1 + batches,
            "{version}: the dimension, then each batch"
        );
        let rain = memory.db().concept(id("rain")).cloned().expect("rain");
        assert_eq!(rain.created_ms, 5, "kept through the update");
        assert_eq!(rain.updated_ms, 20);
        assert_eq!(rain.strength, 1.0, "the update wrote every field");
        assert_eq!(rain.embedding.as_deref(), Some(&[0.9, 0.1, 0.5, -0.25][..]));
        assert!(memory.db().concept(id("fleeting")).is_none());
        let causal = memory
            .db()
            .get_association(&AssociationKey {
                source: id("rain"),
                target: id("wet streets"),
                kind: Kind::Causal,
                label: Label::EMPTY,
            })
            .expect("association");
        assert_eq!(
            (
                causal.confidence,
                causal.weight,
                causal.created_ms,
                causal.updated_ms
            ),
            (0.8, 2.0, 11, 12)
        );
        assert_eq!(memory.stats().associations, 2 + labelled(version));
        assert_eq!(memory.stats().language, stemmed(version), "{version}");
        assert_eq!(
            memory.db().indexed_keys().collect::<Vec<_>>(),
            indexed(version),
            "{version}"
        );
        // From version 6 on "lang" is indexed: a filter on it finds drizzle (rain's update
        // wrote it without metadata).
        let filter = sutra_core::Filter::new(
            "filter",
            vec![sutra_core::Clause {
                key: "lang".into(),
                any_of: vec![sutra_core::Scalar::Text("en".into())],
            }],
        )
        .expect("filter");
        match memory.db().filtered("filter", &filter) {
            Ok(found) => {
                assert_eq!(*found, [id("drizzle")], "{version}");
            }
            Err(e) => assert!(indexed(version).is_empty(), "{version}: {e}"),
        }
        // Stemmed in English, "street" finds "wet streets"; unstemmed it does not.
        let found = memory.db().search_text("street", 5).expect("search");
        assert_eq!(
            found.iter().map(|h| h.id).collect::<Vec<_>>(),
            stemmed(version).map_or(vec![], |_| vec![id("wet streets")]),
            "{version}"
        );
        if labelled(version) > 0 {
            let floods = memory.db().get_association(&floods()).expect("floods");
            assert_eq!(
                (floods.label.as_str(), floods.validity, floods.updated_ms),
                (
                    "floods",
                    Validity {
                        from_ms: Some(15),
                        until_ms: Some(40)
                    },
                    23
                )
            );
            assert_eq!(floods.metadata["page"], Value::Integer(7));
        }
        let hits = memory
            .db()
            .search_vectors(&[0.0, 1.0, 0.0, 0.0], 1, None)
            .expect("search");
        assert_eq!(hits[0].id, id("umbrella"));
    }
    // Version 1's string values read as strings; version 2 keeps every type.
    let v1 = open_bytes(read("v1", "log-only.wal"), None).expect("v1");
    assert!(v1.db().concept(id("drizzle")).is_none());
    let v2 = open_bytes(read("v2", "log-only.wal"), None).expect("v2");
    let drizzle = v2.db().concept(id("drizzle")).cloned().expect("drizzle");
    assert_eq!(drizzle.metadata["year"], Value::Integer(-2024));
    assert_eq!(drizzle.metadata["intensity"], Value::Number(0.125));
    assert_eq!(drizzle.metadata["observed"], Value::Bool(true));
    assert_eq!(
        drizzle.metadata["lemmas"],
        Value::List(vec!["drizzle".into(), "drizzled".into()])
    );
    // Today's encoder writes exactly the newest fixture's bytes.
    assert_eq!(
        make_log_only().0,
        read(NEWEST, "log-only.wal"),
        "the log's bytes changed: bump the log format version"
    );
}

#[test]
fn every_checkpointed_fixture_opens_to_the_state_its_operations_give() {
    for version in VERSIONS {
        let log = read(version, "checkpointed.wal");
        let snapshot = read(version, "checkpointed.snapshot");
        let disk = SimDisk::new(4);
        disk.set_log(log.clone());
        disk.set_snapshot(Some(snapshot.clone()));
        let (_, report) = Memory::open(disk.open(), Options::default()).expect("opens");
        let batches = first_batches(version).len() as u64;
        assert_eq!(report.snapshot_seq, Some(1 + batches), "{version}");
        assert_eq!(report.records_replayed, 2);
        let memory = opens_to(version, log, Some(snapshot), &expected(version, true));
        assert_eq!(memory.stats().associations, 4 + labelled(version));
        assert_eq!(
            memory.stats().vectors.sealed,
            2,
            "the snapshot's graph was loaded"
        );
        let hits = memory
            .db()
            .search_vectors(&[1.0, 0.0, 0.5, -0.25], 1, None)
            .expect("search");
        assert_eq!(hits[0].id, id("rain"));
        // From version 3 on the snapshot holds the text index: it is loaded, not rebuilt, and
        // answers as the one built from the texts.
        assert_eq!(
            memory.db().text_index_built(),
            !matches!(version, "v1" | "v2"),
            "{version}: the text index loaded"
        );
        let words = memory.db().search_text("rain drizzle", 5).expect("words");
        let fresh = expected(version, true);
        assert_eq!(
            words,
            fresh.db().search_text("rain drizzle", 5).expect("words")
        );
        assert!(!words.is_empty(), "{version}");
        memory.db().check_integrity().expect("integrity");
        // Version 5's stored index holds English stems: "street" finds "wet streets".
        let streets = memory.db().search_text("street", 5).expect("words");
        assert_eq!(
            streets.iter().map(|h| h.id).collect::<Vec<_>>(),
            stemmed(version).map_or(vec![], |_| vec![id("wet streets")]),
            "{version}"
        );
    }
    let (made_log, made_snapshot) = make_checkpointed();
    assert_eq!(
        made_log,
        read(NEWEST, "checkpointed.wal"),
        "the log's bytes changed: bump the log format version"
    );
    assert_eq!(
        made_snapshot,
        Some(read(NEWEST, "checkpointed.snapshot")),
        "the snapshot's bytes changed: bump the snapshot format version"
    );
}

#[test]
fn corrupt_fixtures_of_every_version_are_refused_where_the_format_says() {
    for version in VERSIONS {
        let log = read(version, "log-only.wal");
        let offsets = record_offsets(&log);
        let records = 1 + first_batches(version).len();
        assert_eq!(
            offsets.len(),
            records,
            "{version}: {records} records, the first at {}",
            offsets[0]
        );
        match open_bytes(read(version, "corrupt-record.wal"), None) {
            Err(sutra_core::Error::CorruptLog { offset, seq, .. }) => {
                assert_eq!((offset, seq), (offsets[2] as u64, 3), "{version}");
            }
            Err(e) => panic!("{version}: wrong error: {e}"),
            Ok(_) => panic!("{version}: a bad record followed by valid ones opened"),
        }
        let err = open_bytes(read(version, "bad-header.wal"), None)
            .err()
            .expect("a bad header is refused");
        assert_eq!(err.code(), "corrupt_log", "{version}: {err}");
        let err = open_bytes(
            read(version, "checkpointed.wal"),
            Some(read(version, "corrupt-section.snapshot")),
        )
        .err()
        .expect("a corrupt snapshot is refused");
        assert_eq!(err.code(), "corrupt_snapshot", "{version}: {err}");
        // A torn tail is cut: everything before the last record is there.
        let disk = SimDisk::new(6);
        disk.set_log(read(version, "torn-tail.wal"));
        let (memory, report) = Memory::open(disk.open(), Options::default()).expect("opens");
        assert_eq!(report.last_seq, records as u64 - 1, "{version}");
        assert_eq!(
            report.torn_bytes_dropped,
            (log.len() - 7 - offsets[records - 1]) as u64,
            "{version}: the torn record is dropped whole"
        );
        if version == NEWEST {
            let mut storage = memory.into_storage();
            assert_eq!(storage.log_len().expect("len"), offsets[records - 1] as u64);
        }
    }
}

/// A crash at any step of rewriting old files (the snapshot written aside, synced, renamed; the
/// log reset) loses nothing: the next open finds the old files or the new ones, and the same
/// state either way.
#[test]
fn a_crash_while_old_files_are_rewritten_loses_nothing() {
    use sutra_core::sim::{CrashMode, SnapshotStep};
    let expected = expected("v1", true).db().digest();
    for step in SnapshotStep::ALL {
        for mode in CrashMode::ALL {
            let disk = SimDisk::new(7);
            disk.set_log(read("v1", "checkpointed.wal"));
            disk.set_snapshot(Some(read("v1", "checkpointed.snapshot")));
            disk.crash_snapshot_at(step);
            assert!(
                Memory::open(disk.open(), Options::default()).is_err(),
                "{step:?}: the injected crash fails the open"
            );
            disk.crash(mode);
            let (memory, _) = Memory::open(disk.open(), Options::default()).expect("reopens");
            assert_eq!(memory.db().digest(), expected, "{step:?}/{mode:?}");
            assert_eq!(
                versions(&disk.log(), disk.snapshot().as_deref()),
                (
                    sutra_core::wal::LOG_VERSION,
                    Some(sutra_core::snapshot::SNAPSHOT_VERSION)
                ),
                "{step:?}/{mode:?}: rewritten by the open after the crash"
            );
        }
    }
}

/// A version this build does not read is refused by its number, never guessed at.
#[test]
fn a_newer_format_version_is_refused() {
    let mut log = read(NEWEST, "log-only.wal");
    log[8..12].copy_from_slice(&(sutra_core::wal::LOG_VERSION + 1).to_le_bytes());
    let crc = crc32fast::hash(&log[..20]);
    log[20..24].copy_from_slice(&crc.to_le_bytes());
    let err = open_bytes(log, None).err().expect("refused");
    assert_eq!(err.code(), "unsupported_version");
    assert_eq!(
        err.to_string(),
        format!(
            "log has format version {}, this build reads versions 1 to {}",
            sutra_core::wal::LOG_VERSION + 1,
            sutra_core::wal::LOG_VERSION
        )
    );
}

/// The snapshot is written as it is encoded (never held whole): the bytes are still the ones
/// the committed fixture holds, written by the build that held them whole.
#[test]
fn the_streamed_snapshot_is_the_fixture_byte_for_byte() {
    let (_, snapshot) = make_checkpointed();
    let fixture = read(NEWEST, "checkpointed.snapshot");
    assert_eq!(snapshot.as_deref(), Some(&fixture[..]));
}

/// A writer that takes at most `piece` bytes a call and fails once `fail_at` bytes are in.
struct Grudging {
    out: Vec<u8>,
    piece: usize,
    fail_at: usize,
}

impl std::io::Write for Grudging {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if self.out.len() >= self.fail_at {
            return Err(std::io::Error::other("the disk is full"));
        }
        let n = bytes
            .len()
            .min(self.piece)
            .min(self.fail_at - self.out.len());
        self.out.extend_from_slice(&bytes[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_snapshot_written_in_small_pieces_is_whole_and_a_failed_write_is_an_error() {
    let disk = SimDisk::new(5);
    let mut memory = new_memory(&disk);
    write(&mut memory, first_batches(NEWEST));
    memory.seal_vectors().expect("seal");
    let whole = memory.db().encode_snapshot().expect("encode");
    let mut grudging = Grudging {
        out: Vec::new(),
        piece: 7,
        fail_at: usize::MAX,
    };
    let written = memory.db().write_snapshot(&mut grudging).expect("write");
    assert_eq!(written, whole.len() as u64);
    assert_eq!(grudging.out, whole);
    for fail_at in [0, 10, whole.len() / 2, whole.len() - 1] {
        let mut failing = Grudging {
            out: Vec::new(),
            piece: 4096,
            fail_at,
        };
        let e = memory
            .db()
            .write_snapshot(&mut failing)
            .expect_err("a failed write is an error");
        assert!(
            e.to_string().contains("the disk is full"),
            "the writer's error is told: {e}"
        );
    }
}
