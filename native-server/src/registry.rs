//! The memories of a data directory: one subdirectory per named memory, each with its own
//! writer. Memories that fail to open (corruption) stay listed with the reason, so the server
//! still serves the others and says what to do.

use crate::error::ApiError;
use crate::metrics::{MemoryGauges, Metrics};
use crate::storage::FileStorage;
use crate::writer::{MemoryHandle, WriterConfig};
use axum::http::StatusCode;
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Instant;
use sutra_core::{Memory, Options, RecoveryReport};

/// Most memories in one data directory.
pub const MEMORIES_MAX: usize = 256;
/// The data directory's lock file.
pub const DATA_LOCK_FILE: &str = "sutra.lock";

/// Checks a memory name (the rule is the core's, shared with the browser build).
pub fn check_name(name: &str) -> Result<(), ApiError> {
    match sutra_core::exchange::memory_name_problem(name) {
        None => Ok(()),
        Some(problem) => Err(ApiError::invalid("invalid_name", problem)),
    }
}

/// An open memory and what its recovery found.
pub struct OpenMemory {
    /// The running memory.
    pub handle: Arc<MemoryHandle>,
    /// What recovery found.
    pub report: RecoveryReport,
    /// How long recovery took.
    pub replay_seconds: f64,
}

enum Slot {
    Open(OpenMemory),
    Failed(String),
}

/// A memory as listed.
pub struct Listed {
    /// Its name.
    pub name: String,
    /// Its handle, or why it could not be opened.
    pub state: Result<Arc<MemoryHandle>, String>,
}

/// All memories of a data directory.
pub struct Registry {
    root: PathBuf,
    config: WriterConfig,
    metrics: Arc<Metrics>,
    slots: RwLock<BTreeMap<String, Slot>>,
    _lock: File,
}

fn open_memory(
    dir: &Path,
    name: &str,
    dimension: Option<u32>,
    config: WriterConfig,
    metrics: &Arc<Metrics>,
) -> Result<OpenMemory, String> {
    let started = Instant::now();
    let storage = FileStorage::open(dir).map_err(|e| e.to_string())?;
    let (memory, report) = Memory::open(
        storage,
        Options {
            dimension,
            ..Options::default()
        },
    )
    .map_err(|e| e.to_string())?;
    let replay_seconds = started.elapsed().as_secs_f64();
    let handle = MemoryHandle::start(name, memory, config, metrics.clone())
        .map_err(|e| format!("cannot start writer thread: {e}"))?;
    Ok(OpenMemory {
        handle: Arc::new(handle),
        report,
        replay_seconds,
    })
}

impl Registry {
    /// Opens every memory under `root` (creating `root` if needed), after taking the data
    /// directory's lock so that a second server fails at once.
    pub fn open(
        root: &Path,
        config: WriterConfig,
        metrics: Arc<Metrics>,
    ) -> Result<Registry, String> {
        fs::create_dir_all(root)
            .map_err(|e| format!("cannot create data directory {}: {e}", root.display()))?;
        let lock_path = root.join(DATA_LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| format!("cannot open {}: {e}", lock_path.display()))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(format!(
                "data directory {} is already in use by another Sutra process (lock {} is held)",
                root.display(),
                lock_path.display()
            ))
            }
            Err(TryLockError::Error(e)) => {
                return Err(format!("cannot lock {}: {e}", lock_path.display()))
            }
        }
        let mut slots = BTreeMap::new();
        let entries =
            fs::read_dir(root).map_err(|e| format!("cannot list {}: {e}", root.display()))?;
        for entry in entries.flatten() {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if !entry.path().is_dir() || check_name(&name).is_err() {
                continue;
            }
            let slot = match open_memory(&entry.path(), &name, None, config, &metrics) {
                Ok(open) => {
                    tracing::info!(
                        memory = %name,
                        snapshot_seq = ?open.report.snapshot_seq,
                        replayed = open.report.records_replayed,
                        torn_bytes = open.report.torn_bytes_dropped,
                        seconds = open.replay_seconds,
                        "memory opened"
                    );
                    Slot::Open(open)
                }
                Err(e) => {
                    tracing::error!(memory = %name, error = %e, "memory could not be opened");
                    Slot::Failed(e)
                }
            };
            slots.insert(name, slot);
        }
        Ok(Registry {
            root: root.to_path_buf(),
            config,
            metrics,
            slots: RwLock::new(slots),
            _lock: lock,
        })
    }

    /// The data directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Every memory, in name order.
    pub fn list(&self) -> Vec<Listed> {
        let slots = self.slots.read().unwrap_or_else(|e| e.into_inner());
        slots
            .iter()
            .map(|(name, slot)| Listed {
                name: name.clone(),
                state: match slot {
                    Slot::Open(open) => Ok(open.handle.clone()),
                    Slot::Failed(e) => Err(e.clone()),
                },
            })
            .collect()
    }

    /// A memory's handle: 404 if there is none, 503 if it failed to open.
    pub fn get(&self, name: &str) -> Result<Arc<MemoryHandle>, ApiError> {
        let slots = self.slots.read().unwrap_or_else(|e| e.into_inner());
        match slots.get(name) {
            Some(Slot::Open(open)) => Ok(open.handle.clone()),
            Some(Slot::Failed(e)) => Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "memory_unavailable",
                format!("memory {name:?} could not be opened: {e}. Stop the server and run `sutra check`, then `sutra repair` if the log is corrupt"),
            )),
            None => Err(ApiError::not_found("memory_not_found", format!("memory {name:?} does not exist"))),
        }
    }

    /// Creates a memory (with an optional vector dimension).
    pub fn create(
        &self,
        name: &str,
        dimension: Option<u32>,
    ) -> Result<Arc<MemoryHandle>, ApiError> {
        check_name(name)?;
        if let Some(d) = dimension {
            if d == 0 || d > sutra_core::limits::DIMENSION_MAX {
                return Err(ApiError::invalid(
                    "limit_exceeded",
                    format!(
                        "dimension {d} is outside 1..={}",
                        sutra_core::limits::DIMENSION_MAX
                    ),
                ));
            }
        }
        let mut slots = self.slots.write().unwrap_or_else(|e| e.into_inner());
        if slots.contains_key(name) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "memory_exists",
                format!("memory {name:?} already exists"),
            ));
        }
        if slots.len() >= MEMORIES_MAX {
            return Err(ApiError::invalid(
                "limit_exceeded",
                format!("a data directory holds at most {MEMORIES_MAX} memories"),
            ));
        }
        let dir = self.root.join(name);
        let open = open_memory(&dir, name, dimension, self.config, &self.metrics)
            .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "storage_error", e))?;
        let handle = open.handle.clone();
        slots.insert(name.to_string(), Slot::Open(open));
        Ok(handle)
    }

    /// Drops a memory: stops its writer and deletes its files.
    pub fn drop_memory(&self, name: &str) -> Result<(), ApiError> {
        let slot = {
            let mut slots = self.slots.write().unwrap_or_else(|e| e.into_inner());
            slots.remove(name).ok_or_else(|| {
                ApiError::not_found(
                    "memory_not_found",
                    format!("memory {name:?} does not exist"),
                )
            })?
        };
        if let Slot::Open(open) = slot {
            open.handle.close();
        }
        let dir = self.root.join(name);
        fs::remove_dir_all(&dir).map_err(|e| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_error",
                format!("cannot delete {}: {e}", dir.display()),
            )
        })?;
        crate::storage::sync_dir(&self.root)
            .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "storage_error", e.message))
    }

    /// Gauges for `/metrics`.
    pub fn gauges(&self) -> Vec<MemoryGauges> {
        let slots = self.slots.read().unwrap_or_else(|e| e.into_inner());
        slots
            .iter()
            .filter_map(|(name, slot)| match slot {
                Slot::Open(open) => {
                    let stats = open.handle.reader().stats();
                    Some(MemoryGauges {
                        name: name.clone(),
                        log_bytes: stats.log_bytes,
                        queue_depth: open.handle.queue_depth(),
                        concepts: stats.concepts,
                        associations: stats.associations,
                        replay_seconds: open.replay_seconds,
                        replayed_records: open.report.records_replayed,
                        poisoned: stats.poisoned.is_some(),
                    })
                }
                Slot::Failed(_) => None,
            })
            .collect()
    }

    /// Finishes every memory's queued writes, writes a final checkpoint of each, and stops
    /// their writers.
    pub fn shutdown(&self) {
        let slots = self.slots.read().unwrap_or_else(|e| e.into_inner());
        for slot in slots.values() {
            if let Slot::Open(open) = slot {
                open.handle.close();
            }
        }
    }
}
