//! # sutra-replay: the shared replay and crash suite
//!
//! The cases are written once, against a [`Harness`]: something that can create a storage,
//! crash the process holding it, reopen it, and reach its raw bytes. Every storage
//! implementation runs every case: the simulated disk here, files in the native server, OPFS in
//! the browser build.
//!
//! Each case asserts data a user cares about (the concept is there with every field equal after
//! the crash; the half-written batch is not), never only that a call returned.

pub mod cases;

/// Calls `$m!(case, case, …)` with the name of every replay case, in order: the one list that
/// [`cases::all`] and each storage's test file (which turns every case into a test) are built from.
#[macro_export]
macro_rules! for_each_case {
    ($m:ident) => {
        $m! {
            every_operation_survives_reopen,
            unsynced_writes_vanish_whole,
            torn_tail_at_every_offset,
            bit_flips_in_log_are_detected,
            bit_flips_in_snapshot_are_detected,
            checkpoint_crash_at_every_step,
            interrupted_checkpoint_log_trim,
            batches_are_atomic_across_crashes,
            deletes_replay,
            failed_sync_poisons,
            replay_is_deterministic,
            corruption_is_refused_and_repair_truncates,
            sequence_numbers_survive_checkpoints,
            a_snapshot_older_than_the_log_is_refused,
            a_damaged_snapshot_is_passed_over_only_while_the_log_is_whole,
            files_of_older_formats_open_and_are_rewritten,
            the_stored_text_index_survives_crashes,
            labelled_facts_and_invalidations_survive_crashes,
            declared_keys_and_filters_survive_crashes
        }
    };
}
pub mod faulty;
pub mod fixtures;
pub mod model;
pub mod sim_harness;

use sutra_core::sim::{CrashMode, SnapshotStep};
use sutra_core::Storage;

/// What a storage implementation provides to run the suite.
pub trait Harness {
    /// The storage under test.
    type Storage: Storage;

    /// A new, empty storage in a place no other case uses.
    fn create(&mut self) -> Self::Storage;

    /// Simulates a crash of the process holding `storage`: the handle is dropped without any
    /// further sync and bytes not yet synced are treated according to `mode` (storages that
    /// cannot lose written bytes, like files after a process kill, may treat every mode as
    /// `KeepPending` for bytes the OS accepted, but must honour `TornPrefix` by cutting the file).
    /// Returns the storage as a restarted process opens it.
    fn crash(&mut self, storage: Self::Storage, mode: CrashMode) -> Self::Storage;

    /// Closes cleanly and opens again.
    fn reopen(&mut self, storage: Self::Storage) -> Self::Storage;

    /// The durable bytes of the log.
    fn log_bytes(&mut self, storage: &mut Self::Storage) -> Vec<u8>;

    /// Replaces the log's bytes (durably) and returns the reopened storage.
    fn set_log_bytes(&mut self, storage: Self::Storage, bytes: Vec<u8>) -> Self::Storage;

    /// The durable bytes of the snapshot.
    fn snapshot_bytes(&mut self, storage: &mut Self::Storage) -> Option<Vec<u8>>;

    /// Replaces the snapshot's bytes (durably) and returns the reopened storage.
    fn set_snapshot_bytes(&mut self, storage: Self::Storage, bytes: Vec<u8>) -> Self::Storage;

    /// Makes the sync after the next `n` successful ones fail.
    fn fail_sync_after(&mut self, storage: &mut Self::Storage, n: u64);

    /// Makes the next snapshot replacement crash at `step`.
    fn crash_snapshot_at(&mut self, storage: &mut Self::Storage, step: SnapshotStep);
}

/// What a simulated crash does to a log on a real storage (files, OPFS): see [`crash_damage`].
#[derive(Debug, PartialEq, Eq)]
pub enum Damage {
    /// Nothing: every byte the process wrote survives.
    None,
    /// The log is cut to this length.
    CutAt(u64),
    /// These bytes are written at this offset (lost bytes read back as zeros, or garbage).
    Write { at: u64, bytes: Vec<u8> },
}

/// Decides what a crash in `mode` does to a log whose first `synced` bytes were made durable,
/// whose bytes end at `written`, and whose file is `len` long (any reserved zeros after
/// `written` included). Only the unsynced log bytes are lost, torn or garbled — and garbage may
/// reach into the first reserved zeros, as a torn sector would.
pub fn crash_damage(
    mode: sutra_core::sim::CrashMode,
    synced: u64,
    written: u64,
    len: u64,
    rng: &mut sutra_core::sim::Rng,
) -> Damage {
    use sutra_core::sim::CrashMode;
    let end = written.min(len);
    let pending = end.saturating_sub(synced);
    match mode {
        CrashMode::DropPending => Damage::CutAt(synced),
        CrashMode::KeepPending => Damage::None,
        CrashMode::TornPrefix => {
            let cut = synced + rng.below(pending + 1);
            if rng.chance(50) {
                Damage::CutAt(cut)
            } else {
                // The lost bytes read back as the zeros reserved there before.
                Damage::Write {
                    at: cut,
                    bytes: vec![0u8; (end - cut) as usize],
                }
            }
        }
        CrashMode::Garbled => {
            let from = synced + rng.below(pending + 1);
            let to = len.min(written + 4096).max(from);
            Damage::Write {
                at: from,
                bytes: (from..to).map(|_| rng.next_u64() as u8).collect(),
            }
        }
    }
}

/// Reads a positive integer from the environment, with a default.
pub fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(text) => match text.trim().parse() {
            Ok(value) => value,
            Err(_) => panic!("{name}={text:?} is not a whole number"),
        },
        Err(_) => default,
    }
}
