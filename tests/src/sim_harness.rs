//! The suite's harness for the simulated disk.

use crate::Harness;
use sutra_core::sim::{CrashMode, SimDisk, SimStorage, SnapshotStep};

/// Runs the suite on [`SimDisk`]s, seeded so every run is the same.
pub struct SimHarness {
    next_seed: u64,
}

impl SimHarness {
    /// A harness whose disks are seeded from `seed`.
    pub fn new(seed: u64) -> Self {
        SimHarness { next_seed: seed }
    }
}

impl Harness for SimHarness {
    type Storage = SimStorage;

    fn create(&mut self) -> SimStorage {
        self.next_seed = self.next_seed.wrapping_add(1);
        SimDisk::new(self.next_seed).open()
    }

    fn crash(&mut self, storage: SimStorage, mode: CrashMode) -> SimStorage {
        let disk = storage.disk().clone();
        drop(storage);
        disk.crash(mode);
        disk.open()
    }

    fn reopen(&mut self, storage: SimStorage) -> SimStorage {
        let disk = storage.disk().clone();
        drop(storage);
        // A clean close leaves nothing pending: every acknowledged write was synced.
        disk.crash(CrashMode::KeepPending);
        disk.open()
    }

    fn log_bytes(&mut self, storage: &mut SimStorage) -> Vec<u8> {
        storage.disk().durable_log()
    }

    fn set_log_bytes(&mut self, storage: SimStorage, bytes: Vec<u8>) -> SimStorage {
        let disk = storage.disk().clone();
        drop(storage);
        disk.crash(CrashMode::DropPending);
        disk.set_log(bytes);
        disk.open()
    }

    fn snapshot_bytes(&mut self, storage: &mut SimStorage) -> Option<Vec<u8>> {
        storage.disk().snapshot()
    }

    fn set_snapshot_bytes(&mut self, storage: SimStorage, bytes: Vec<u8>) -> SimStorage {
        let disk = storage.disk().clone();
        drop(storage);
        disk.crash(CrashMode::DropPending);
        disk.set_snapshot(Some(bytes));
        disk.open()
    }

    fn fail_sync_after(&mut self, storage: &mut SimStorage, n: u64) {
        storage.disk().fail_sync_after(n);
    }

    fn crash_snapshot_at(&mut self, storage: &mut SimStorage, step: SnapshotStep) {
        storage.disk().crash_snapshot_at(step);
    }
}
