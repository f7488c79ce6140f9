//! A simulated disk for crash testing (feature `sim`).
//!
//! It keeps durable and pending bytes apart: the log is one buffer of which the first
//! `synced` bytes are durable. At a simulated crash the pending bytes are dropped, kept, cut to a
//! random prefix, or garbled — chosen by the caller and a seeded generator, so a failing run
//! replays exactly. It can fail the k-th sync, crash at each step of a snapshot replacement, and
//! flip bits in durable bytes.
//!
//! A [`SimDisk`] is shared between the [`SimStorage`] handle the engine uses and the test that
//! injects faults. A crash bumps the disk's generation; handles from before it fail every call,
//! as a dead process's file descriptors would.

use crate::storage::{SnapshotBytes, Storage, StorageError};
use std::sync::{Arc, Mutex, MutexGuard};

/// A small, fast, seedable generator (SplitMix64) for tests. Not for anything secret.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// A float in `0..1`.
    pub fn unit_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// What a crash does to bytes appended but not yet synced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashMode {
    /// They are lost.
    DropPending,
    /// They all reached the disk.
    KeepPending,
    /// A random prefix of them reached the disk.
    TornPrefix,
    /// A random prefix reached the disk and the rest of their length holds garbage.
    Garbled,
}

impl CrashMode {
    /// Every mode.
    pub const ALL: [CrashMode; 4] = [
        CrashMode::DropPending,
        CrashMode::KeepPending,
        CrashMode::TornPrefix,
        CrashMode::Garbled,
    ];
}

/// The steps of a snapshot replacement (write temp, sync temp, rename, sync directory).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnapshotStep {
    /// Crash after part of the temporary file was written.
    WriteTemp,
    /// Crash after the temporary file was written, before it was synced.
    SyncTemp,
    /// Crash after the sync, before the rename.
    Rename,
    /// Crash after the rename, before the directory was synced: either file may be found.
    SyncDirectory,
}

impl SnapshotStep {
    /// Every step, in order.
    pub const ALL: [SnapshotStep; 4] = [
        SnapshotStep::WriteTemp,
        SnapshotStep::SyncTemp,
        SnapshotStep::Rename,
        SnapshotStep::SyncDirectory,
    ];
}

#[derive(Debug)]
struct Disk {
    log: Vec<u8>,
    synced: usize,
    snapshot: Option<Vec<u8>>,
    /// A replacement interrupted after its rename but before the directory sync.
    snapshot_in_flight: Option<Vec<u8>>,
    generation: u64,
    syncs_until_failure: Option<u64>,
    snapshot_crash: Option<SnapshotStep>,
    rng: Rng,
    /// Set when an injected fault "killed the process": every call fails until `crash`.
    dead: bool,
    syncs: u64,
}

/// A simulated disk holding one memory's log and snapshot.
#[derive(Clone, Debug)]
pub struct SimDisk(Arc<Mutex<Disk>>);

impl SimDisk {
    /// An empty disk whose random choices follow `seed`.
    pub fn new(seed: u64) -> Self {
        SimDisk(Arc::new(Mutex::new(Disk {
            log: Vec::new(),
            synced: 0,
            snapshot: None,
            snapshot_in_flight: None,
            generation: 0,
            syncs_until_failure: None,
            snapshot_crash: None,
            rng: Rng::new(seed),
            dead: false,
            syncs: 0,
        })))
    }

    fn lock(&self) -> MutexGuard<'_, Disk> {
        // A panicking test thread must not hide the disk from the next assertion.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A storage handle on this disk, as a freshly started process would open it.
    pub fn open(&self) -> SimStorage {
        let generation = self.lock().generation;
        SimStorage {
            disk: self.clone(),
            generation,
        }
    }

    /// Simulates a crash (power cut): applies `mode` to unsynced log bytes, resolves an
    /// interrupted snapshot replacement, and invalidates every open handle.
    pub fn crash(&self, mode: CrashMode) {
        let mut d = self.lock();
        let pending = d.log.len() - d.synced;
        match mode {
            CrashMode::DropPending => {
                let synced = d.synced;
                d.log.truncate(synced);
            }
            CrashMode::KeepPending => {}
            CrashMode::TornPrefix => {
                let keep = d.synced + d.rng.below(pending as u64 + 1) as usize;
                d.log.truncate(keep);
            }
            CrashMode::Garbled => {
                let from = d.synced + d.rng.below(pending as u64 + 1) as usize;
                let disk = &mut *d;
                for byte in &mut disk.log[from..] {
                    *byte = disk.rng.next_u64() as u8;
                }
            }
        }
        d.synced = d.log.len();
        if let Some(new) = d.snapshot_in_flight.take() {
            if d.rng.chance(50) {
                d.snapshot = Some(new);
            }
        }
        d.generation += 1;
        d.dead = false;
        d.syncs_until_failure = None;
        d.snapshot_crash = None;
    }

    /// Makes the sync after the next `n` successful ones fail (`n` = 0: the next one).
    pub fn fail_sync_after(&self, n: u64) {
        self.lock().syncs_until_failure = Some(n);
    }

    /// Makes the next snapshot replacement crash the "process" at `step`.
    pub fn crash_snapshot_at(&self, step: SnapshotStep) {
        self.lock().snapshot_crash = Some(step);
    }

    /// The log's durable bytes.
    pub fn durable_log(&self) -> Vec<u8> {
        let d = self.lock();
        d.log[..d.synced].to_vec()
    }

    /// Every log byte, synced or not.
    pub fn log(&self) -> Vec<u8> {
        self.lock().log.clone()
    }

    /// Replaces the log's bytes (all durable), e.g. with a corrupted copy.
    pub fn set_log(&self, bytes: Vec<u8>) {
        let mut d = self.lock();
        d.synced = bytes.len();
        d.log = bytes;
    }

    /// The durable snapshot.
    pub fn snapshot(&self) -> Option<Vec<u8>> {
        self.lock().snapshot.clone()
    }

    /// Replaces the durable snapshot.
    pub fn set_snapshot(&self, bytes: Option<Vec<u8>>) {
        self.lock().snapshot = bytes;
    }

    /// Number of successful syncs so far.
    pub fn syncs(&self) -> u64 {
        self.lock().syncs
    }
}

/// The engine's handle on a [`SimDisk`].
#[derive(Debug)]
pub struct SimStorage {
    disk: SimDisk,
    generation: u64,
}

impl SimStorage {
    /// The disk this handle is on.
    pub fn disk(&self) -> &SimDisk {
        &self.disk
    }

    fn live(&self) -> Result<MutexGuard<'_, Disk>, StorageError> {
        let d = self.disk.lock();
        if d.generation != self.generation {
            return Err(StorageError::new("handle from before a crash"));
        }
        if d.dead {
            return Err(StorageError::new("process crashed (simulated)"));
        }
        Ok(d)
    }
}

impl Storage for SimStorage {
    fn log_len(&mut self) -> Result<u64, StorageError> {
        Ok(self.live()?.log.len() as u64)
    }

    fn log_read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        let d = self.live()?;
        let start = offset as usize;
        let end = start
            .checked_add(buf.len())
            .filter(|&e| e <= d.log.len())
            .ok_or_else(|| {
                StorageError::new(format!(
                    "read of {} bytes at {offset} past the end",
                    buf.len()
                ))
            })?;
        buf.copy_from_slice(&d.log[start..end]);
        Ok(())
    }

    fn log_append(&mut self, bytes: &[u8]) -> Result<(), StorageError> {
        self.live()?.log.extend_from_slice(bytes);
        Ok(())
    }

    fn log_sync(&mut self) -> Result<(), StorageError> {
        let mut d = self.live()?;
        match d.syncs_until_failure {
            Some(0) => {
                d.syncs_until_failure = None;
                return Err(StorageError::new("injected sync failure (EIO)"));
            }
            Some(n) => d.syncs_until_failure = Some(n - 1),
            None => {}
        }
        d.synced = d.log.len();
        d.syncs += 1;
        Ok(())
    }

    fn log_truncate(&mut self, len: u64) -> Result<(), StorageError> {
        let mut d = self.live()?;
        let len = len as usize;
        if len > d.log.len() {
            return Err(StorageError::new("truncate beyond the end"));
        }
        d.log.truncate(len);
        d.synced = d.synced.min(len);
        Ok(())
    }

    fn snapshot_read(&mut self) -> Result<Option<SnapshotBytes>, StorageError> {
        Ok(self
            .live()?
            .snapshot
            .clone()
            .map(|b| Box::new(b) as SnapshotBytes))
    }

    fn snapshot_replace(&mut self, bytes: &[u8]) -> Result<(), StorageError> {
        let mut d = self.live()?;
        match d.snapshot_crash.take() {
            None => {
                d.snapshot = Some(bytes.to_vec());
                Ok(())
            }
            Some(step) => {
                // Before the rename the old file is untouched whatever happened to the temp file;
                // after it, the new name may or may not have reached the directory.
                if step == SnapshotStep::SyncDirectory {
                    d.snapshot_in_flight = Some(bytes.to_vec());
                }
                d.dead = true;
                Err(StorageError::new(format!(
                    "simulated crash during snapshot replacement at {step:?}"
                )))
            }
        }
    }
}
