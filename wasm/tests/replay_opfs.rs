//! The shared replay suite and the model-based crash test on OPFS, in a dedicated worker in
//! headless Chromium.
//!
//! Opening sync access handles is asynchronous and the suite is not, so each test first opens a
//! small pool of memories' files; the harness hands them out emptied, and "crashes" a storage by
//! dropping it without a flush and cutting or garbling the log's unflushed tail.
#![cfg(target_arch = "wasm32")]

use std::rc::Rc;
use sutra_core::sim::{CrashMode, Rng, SnapshotStep};
use sutra_core::{Storage, StorageError};
use sutra_replay::{cases, crash_damage, model, Damage, Harness};
use sutra_wasm::opfs::{self, read_all, write_at, OpfsFiles, OpfsStorage};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_dedicated_worker);

type Faulty = sutra_replay::faulty::Faulty<OpfsStorage>;

/// The real OPFS steps of a snapshot replacement (write the next slot, flush it), stopped at
/// `step`. Before the flush the new slot may be torn; after it, it is the snapshot.
fn partial_replace(
    storage: &mut OpfsStorage,
    bytes: &[u8],
    step: SnapshotStep,
) -> Result<(), StorageError> {
    let slot = storage.next_slot();
    match step {
        SnapshotStep::WriteTemp => storage.write_slot(slot, &bytes[..bytes.len() / 2]),
        SnapshotStep::SyncTemp => storage.write_slot(slot, bytes),
        SnapshotStep::Rename | SnapshotStep::SyncDirectory => {
            storage.write_slot(slot, bytes)?;
            storage.flush_slot(slot)
        }
    }
}

struct OpfsHarness {
    pool: Vec<Rc<OpfsFiles>>,
    rng: Rng,
}

impl OpfsHarness {
    async fn new(test: &str, size: usize) -> OpfsHarness {
        let mut pool = Vec::new();
        for i in 0..size {
            let dir = opfs::memory_dir(&format!("{test}-{i}"))
                .await
                .expect("OPFS directory");
            pool.push(Rc::new(OpfsFiles::open(&dir).await.expect("OPFS files")));
        }
        OpfsHarness {
            pool,
            rng: Rng::new(0x0bf5),
        }
    }

    fn storage(files: Rc<OpfsFiles>) -> Faulty {
        Faulty::new(OpfsStorage::new(files).expect("storage"), partial_replace)
    }
}

fn clear(files: &OpfsFiles) {
    for handle in std::iter::once(&files.log).chain(files.slots.iter()) {
        handle.truncate_with_f64(0.0).expect("truncate");
        handle.flush().expect("flush");
    }
}

impl Harness for OpfsHarness {
    type Storage = Faulty;

    fn create(&mut self) -> Faulty {
        let files = self
            .pool
            .iter()
            .find(|f| Rc::strong_count(f) == 1)
            .cloned()
            .expect("every pooled memory is in use: enlarge the pool");
        clear(&files);
        OpfsHarness::storage(files)
    }

    fn crash(&mut self, storage: Faulty, mode: CrashMode) -> Faulty {
        let files = storage.inner.files().clone();
        let synced = storage.inner.synced_log_len();
        let mut storage = storage;
        // Where the log's bytes end; after it the file holds reserved zeros.
        let written = Storage::log_len(&mut storage.inner).expect("log length");
        drop(storage);
        let log = &files.log;
        let len = log.get_size().expect("size") as u64;
        match crash_damage(mode, synced, written, len, &mut self.rng) {
            Damage::None => {}
            Damage::CutAt(at) => log.truncate_with_f64(at as f64).expect("cut"),
            Damage::Write { at, bytes } => write_at(log, &bytes, at).expect("damage"),
        }
        log.flush().expect("flush");
        OpfsHarness::storage(files)
    }

    fn reopen(&mut self, storage: Faulty) -> Faulty {
        let files = storage.inner.files().clone();
        drop(storage);
        OpfsHarness::storage(files)
    }

    fn log_bytes(&mut self, storage: &mut Faulty) -> Vec<u8> {
        let bytes = read_all(&storage.inner.files().log).expect("read log");
        bytes[..storage.inner.synced_log_len() as usize].to_vec()
    }

    fn set_log_bytes(&mut self, storage: Faulty, bytes: Vec<u8>) -> Faulty {
        let files = storage.inner.files().clone();
        drop(storage);
        files.log.truncate_with_f64(0.0).expect("truncate");
        write_at(&files.log, &bytes, 0).expect("write");
        files.log.flush().expect("flush");
        OpfsHarness::storage(files)
    }

    fn snapshot_bytes(&mut self, storage: &mut Faulty) -> Option<Vec<u8>> {
        let bytes = storage.inner.snapshot_read().expect("read snapshot")?;
        Some((*bytes).as_ref().to_vec())
    }

    fn set_snapshot_bytes(&mut self, storage: Faulty, bytes: Vec<u8>) -> Faulty {
        let files = storage.inner.files().clone();
        drop(storage);
        files.slots[0].truncate_with_f64(0.0).expect("truncate");
        write_at(&files.slots[0], &bytes, 0).expect("write");
        files.slots[1].truncate_with_f64(0.0).expect("truncate");
        for slot in &files.slots {
            slot.flush().expect("flush");
        }
        OpfsHarness::storage(files)
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
            #[wasm_bindgen_test]
            async fn $name() {
                let mut harness = OpfsHarness::new(stringify!($name), 5).await;
                cases::$name(&mut harness);
            }
        )*
    };
}

sutra_replay::for_each_case!(replay_cases);

#[wasm_bindgen_test]
fn every_case_is_listed_here() {
    assert_eq!(cases::all::<OpfsHarness>().len(), 19);
}

/// The model-based crash test on OPFS, with fewer cycles than natively (every cycle flushes).
#[wasm_bindgen_test]
async fn model_based_crash_cycles_on_opfs() {
    let mut harness = OpfsHarness::new("model", 3).await;
    let (seeds, per_seed) = (3u64, 100u64);
    let mut stats = model::RunStats::default();
    for seed in 1..=seeds {
        match model::run_seed(&mut harness, seed, per_seed) {
            Ok(s) => stats.add(&s),
            Err(e) => panic!(
                "{e}\n(OPFS) replay with the same seed on the simulated disk: SUTRA_SEED={seed}"
            ),
        }
    }
    assert_eq!(stats.crashes, seeds * per_seed);
    assert!(stats.accepted > stats.crashes, "{stats:?}");
}

/// Two slots: a torn write of the next snapshot leaves the previous one in use.
#[wasm_bindgen_test]
async fn a_torn_snapshot_slot_falls_back_to_the_other() {
    let mut harness = OpfsHarness::new("slots", 2).await;
    let storage = harness.create();
    let (mut memory, _) = sutra_core::Memory::open(storage, Default::default()).expect("open");
    memory
        .write(vec![sutra_core::Op::put_concept(
            sutra_core::ConceptInput::new("first"),
            1,
        )])
        .expect("write");
    memory.checkpoint().expect("checkpoint");
    memory
        .write(vec![sutra_core::Op::put_concept(
            sutra_core::ConceptInput::new("second"),
            2,
        )])
        .expect("write");
    let mut storage = memory.into_storage();
    harness.crash_snapshot_at(&mut storage, SnapshotStep::WriteTemp);
    let (mut memory, _) = sutra_core::Memory::open(storage, Default::default()).expect("reopen");
    assert!(memory.checkpoint().is_err());
    let files = memory.into_storage().inner.files().clone();
    let sizes: Vec<f64> = files
        .slots
        .iter()
        .map(|s| s.get_size().expect("size"))
        .collect();
    assert!(
        sizes.iter().all(|&s| s > 0.0),
        "both slots hold bytes: {sizes:?}"
    );
    let storage = OpfsHarness::storage(files);
    let (memory, report) =
        sutra_core::Memory::open(storage, Default::default()).expect("reopen after the torn write");
    assert_eq!(
        report.snapshot_seq,
        Some(1),
        "the intact older slot is used"
    );
    assert_eq!(memory.stats().concepts, 2, "and the log replays the rest");
}

/// Real handles closed without a flush (as when a tab dies), then reopened: what was
/// acknowledged is there, and what was only staged is whole or absent.
#[wasm_bindgen_test]
async fn handles_dropped_without_flush_then_reopened() {
    let name = "dropped-handles";
    let storage = OpfsStorage::open(name).await.expect("open");
    let (mut memory, _) = sutra_core::Memory::open(storage, Default::default()).expect("memory");
    let batch = |from: u32| -> Vec<sutra_core::Op> {
        (from..from + 20)
            .map(|i| {
                sutra_core::Op::put_concept(sutra_core::ConceptInput::new(format!("item {i}")), 1)
            })
            .collect()
    };
    memory.write(batch(0)).expect("acknowledged");
    memory.stage(batch(20)).expect("staged, never flushed");
    drop(memory); // closes the sync access handles without flushing
    let storage = OpfsStorage::open(name)
        .await
        .expect("reopen: the handles were released");
    let (memory, _) = sutra_core::Memory::open(storage, Default::default()).expect("memory");
    let n = memory.stats().concepts;
    assert!(n == 20 || n == 40, "{n} concepts: a batch was torn");
    drop(memory);
    opfs::remove_memory_dir(name).await.expect("clean up");
}
