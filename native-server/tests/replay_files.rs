//! The shared replay suite and the model-based crash test on real files.
//!
//! A process crash cannot lose bytes the OS accepted, so a "crash" here drops the handle and then
//! cuts or garbles the log's unsynced tail (tracked by the storage) as a power cut could. Faults
//! are injected by a wrapper that fails a chosen sync, or stops a snapshot replacement after any
//! of its real file steps (write temp, sync temp, rename, sync directory).

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use sutra_core::sim::{CrashMode, Rng, SnapshotStep};
use sutra_core::{Storage, StorageError};
use sutra_replay::{cases, crash_damage, env_u64, model, Damage, Harness};
use sutra_server::files::storage::{FileStorage, LOG_FILE, SNAPSHOT_FILE};

type Faulty = sutra_replay::faulty::Faulty<FileStorage>;

/// The real file steps of a snapshot replacement, stopped before `step`.
fn partial_replace(
    storage: &mut FileStorage,
    bytes: &[u8],
    step: SnapshotStep,
) -> Result<(), StorageError> {
    if step == SnapshotStep::WriteTemp {
        storage.snapshot_write_temp(&bytes[..bytes.len() / 2])?;
        return Ok(());
    }
    let temp = storage.snapshot_write_temp(bytes)?;
    if step == SnapshotStep::SyncTemp {
        return Ok(());
    }
    storage.snapshot_sync_temp(&temp)?;
    drop(temp);
    if step == SnapshotStep::Rename {
        return Ok(());
    }
    storage.snapshot_rename()
}

struct FileHarness {
    root: tempfile::TempDir,
    next: u64,
    rng: Rng,
}

impl FileHarness {
    fn new(seed: u64) -> Self {
        FileHarness {
            root: tempfile::tempdir().expect("temp dir"),
            next: 0,
            rng: Rng::new(seed),
        }
    }

    fn open(dir: &std::path::Path) -> Faulty {
        let storage =
            FileStorage::open(dir).unwrap_or_else(|e| panic!("open {}: {e}", dir.display()));
        Faulty::new(storage, partial_replace)
    }

    fn path(storage: &Faulty) -> PathBuf {
        storage.inner.dir().to_path_buf()
    }
}

impl Harness for FileHarness {
    type Storage = Faulty;

    fn create(&mut self) -> Faulty {
        self.next += 1;
        FileHarness::open(&self.root.path().join(format!("memory-{}", self.next)))
    }

    fn crash(&mut self, storage: Faulty, mode: CrashMode) -> Faulty {
        let dir = FileHarness::path(&storage);
        let synced = storage.inner.synced_log_len();
        let mut storage = storage;
        // Where the log's bytes end; after it the file holds reserved zeros.
        let written = Storage::log_len(&mut storage.inner).expect("log length");
        drop(storage);
        let path = dir.join(LOG_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .expect("open log");
        let len = file.metadata().expect("stat").len();
        match crash_damage(mode, synced, written, len, &mut self.rng) {
            Damage::None => {}
            Damage::CutAt(at) => file.set_len(at).expect("cut"),
            Damage::Write { at, bytes } => file.write_all_at(&bytes, at).expect("damage"),
        }
        file.sync_all().expect("sync");
        FileHarness::open(&dir)
    }

    fn reopen(&mut self, storage: Faulty) -> Faulty {
        let dir = FileHarness::path(&storage);
        drop(storage);
        FileHarness::open(&dir)
    }

    fn log_bytes(&mut self, storage: &mut Faulty) -> Vec<u8> {
        let bytes = std::fs::read(FileHarness::path(storage).join(LOG_FILE)).expect("read log");
        bytes[..storage.inner.synced_log_len() as usize].to_vec()
    }

    fn set_log_bytes(&mut self, storage: Faulty, bytes: Vec<u8>) -> Faulty {
        let dir = FileHarness::path(&storage);
        drop(storage);
        std::fs::write(dir.join(LOG_FILE), bytes).expect("write log");
        FileHarness::open(&dir)
    }

    fn snapshot_bytes(&mut self, storage: &mut Faulty) -> Option<Vec<u8>> {
        std::fs::read(FileHarness::path(storage).join(SNAPSHOT_FILE)).ok()
    }

    fn set_snapshot_bytes(&mut self, storage: Faulty, bytes: Vec<u8>) -> Faulty {
        let dir = FileHarness::path(&storage);
        drop(storage);
        std::fs::write(dir.join(SNAPSHOT_FILE), bytes).expect("write snapshot");
        FileHarness::open(&dir)
    }

    fn fail_sync_after(&mut self, storage: &mut Faulty, n: u64) {
        storage.fail_sync_after(n);
    }

    fn crash_snapshot_at(&mut self, storage: &mut Faulty, step: SnapshotStep) {
        storage.crash_snapshot_at(step);
    }
}

macro_rules! replay_cases {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                cases::$name(&mut FileHarness::new(0xf11e));
            }
        )*
    };
}

sutra_replay::for_each_case!(replay_cases);

#[test]
fn every_case_is_listed_here() {
    assert_eq!(cases::all::<FileHarness>().len(), 19);
}

/// The model-based crash test on files (fewer cycles than on the simulated disk: every cycle
/// costs real syncs). `SUTRA_FILE_MODEL_CYCLES` sets the total.
#[test]
fn model_based_crash_cycles_on_files() {
    let total = env_u64("SUTRA_FILE_MODEL_CYCLES", 1_000);
    let per_seed = 100;
    for seed in 1..=total.div_ceil(per_seed) {
        if let Err(e) = model::run_seed(&mut FileHarness::new(seed), seed, per_seed) {
            panic!("{e}\n(files) replay with SUTRA_SEED={seed}");
        }
    }
}

/// The log file is grown ahead of its writes with zeros; those are not data: reopening finds
/// every record, reports nothing torn, cuts the zeros, and new records follow the last one.
#[test]
fn reserved_zeros_after_the_log_are_not_data() {
    use sutra_core::{ConceptId, ConceptInput, Memory, Op, Options};
    use sutra_server::files::storage::LOG_RESERVE_BYTES;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("m");
    let put = |i: u32| vec![Op::put_concept(ConceptInput::new(format!("c{i}")), 1)];
    let (mut memory, _) =
        Memory::open(FileStorage::open(&path).expect("open"), Options::default()).expect("memory");
    for i in 0..3 {
        memory.write(put(i)).expect("write");
    }
    let logical = memory.stats().log_bytes;
    drop(memory);
    let bytes = std::fs::read(path.join(LOG_FILE)).expect("read");
    let len = bytes.len() as u64;
    assert!(
        len > logical && len <= logical + LOG_RESERVE_BYTES,
        "{len} bytes for a log of {logical}"
    );
    assert!(bytes[logical as usize..].iter().all(|&b| b == 0));
    let mut storage = FileStorage::open(&path).expect("open");
    let verified = sutra_core::verify(&mut storage, Default::default()).expect("verify");
    assert_eq!(
        (verified.records, verified.torn_bytes, verified.log_bytes),
        (3, 0, logical)
    );
    let (mut memory, report) = Memory::open(storage, Options::default()).expect("reopen");
    assert_eq!(report.records_replayed, 3);
    assert_eq!(report.torn_bytes_dropped, 0);
    assert_eq!(memory.stats().log_bytes, logical);
    memory.write(put(3)).expect("write after reopen");
    drop(memory);
    let (memory, report) =
        Memory::open(FileStorage::open(&path).expect("open"), Options::default()).expect("again");
    assert_eq!(report.records_replayed, 4);
    assert_eq!(report.torn_bytes_dropped, 0);
    for i in 0..4 {
        let id = ConceptId::from_content(&format!("c{i}"));
        assert!(memory.db().concept(id).is_some(), "c{i} lost");
    }
}
