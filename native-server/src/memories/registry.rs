//! The memories of a data directory: one subdirectory per named memory, each with its own
//! writer.
//!
//! - **Create, drop and reopen are atomic with respect to each other** for a name: each puts the
//!   name in a busy state under the registry's lock before it touches a file, so a create of a
//!   name being dropped is answered 409 until the drop is done, and no request ever reaches a
//!   memory whose files are going away. A new memory is made in a hidden directory and renamed
//!   into place whole; a dropped one is renamed to a hidden directory, then deleted. A crash
//!   in the middle leaves the whole memory or nothing, and the hidden directories are removed
//!   at the next start.
//! - **Memories that fail recover on their own**: one poisoned by a storage failure (a full
//!   disk, an I/O error) is reopened — recovered from its log — in the background, with
//!   backoff, and `POST /v1/memories/{name}/reopen` does it at once; one that could not be
//!   opened for a storage error is retried the same way. One that is corrupt stays listed with
//!   the reason (`sutra check`, `sutra repair`), so the server still serves the others.
//! - **A limit on memories** (`--max-memories`): a data directory holding more at start opens
//!   the first ones in name order and lists the rest as not opened, saying why.

use crate::files::storage::{self, FileStorage};
use crate::http::error::ApiError;
use crate::memories::metrics::{MemoryGauges, Metrics};
use crate::memories::writer::{MemoryHandle, WriterConfig};
use axum::http::StatusCode;
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};
use sutra_core::{Language, Memory, Options, RecoveryReport};

/// Default most memories in one data directory.
pub const MEMORIES_MAX: usize = 256;
/// The data directory's lock file.
pub const DATA_LOCK_FILE: &str = "sutra.lock";
/// Prefix of a memory being created (hidden, not a valid memory name).
const CREATING_PREFIX: &str = ".creating-";
/// Prefix of a memory being deleted after a drop (hidden, not a valid memory name).
const DROPPED_PREFIX: &str = ".dropped-";
/// First wait before a failed memory is reopened again; it doubles up to [`RETRY_MAX`].
pub const RETRY_FIRST: Duration = Duration::from_secs(1);
/// Longest wait between two attempts to reopen a failed memory.
pub const RETRY_MAX: Duration = Duration::from_secs(60);
/// How often the background recovery looks for memories to reopen.
const RECOVERY_TICK: Duration = Duration::from_millis(250);
/// A memory that stayed writable this long after a reopen starts its backoff over.
const HEALTHY_AFTER: Duration = Duration::from_secs(60);

/// Checks a memory name (the rule is the core's, shared with the browser build).
pub fn check_name(name: &str) -> Result<(), ApiError> {
    match sutra_core::exchange::memory_name_problem(name) {
        None => Ok(()),
        Some(problem) => Err(ApiError::invalid("invalid_name", problem).about("name")),
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

/// When a failed memory is tried again.
#[derive(Clone, Copy, Debug)]
struct Retry {
    at: Instant,
    attempts: u32,
}

/// The wait after `attempts` failed attempts: [`RETRY_FIRST`], doubling, at most [`RETRY_MAX`].
fn backoff(attempts: u32) -> Duration {
    RETRY_FIRST
        .saturating_mul(1 << attempts.min(16))
        .min(RETRY_MAX)
}

impl Retry {
    /// The next attempt after `attempts` earlier ones.
    fn after(attempts: u32) -> Retry {
        Retry {
            at: Instant::now() + backoff(attempts),
            attempts: attempts + 1,
        }
    }
}

enum Slot {
    Open {
        memory: OpenMemory,
        /// Reopens so far without a healthy spell, and when the last one was.
        reopened: Option<(u32, Instant)>,
    },
    /// Could not be opened: why, and when to try again (`None`: it needs an operator).
    Failed {
        reason: String,
        retry: Option<Retry>,
    },
    /// Being created, dropped or reopened (the word says which): the name is taken meanwhile.
    Busy(&'static str),
}

/// A memory as listed.
pub struct Listed {
    /// Its name.
    pub name: String,
    /// Its handle, or why it is not open.
    pub state: Result<Arc<MemoryHandle>, String>,
}

/// What a reopen did.
#[derive(Debug, Clone)]
pub struct Reopened {
    /// What recovery found.
    pub report: RecoveryReport,
    /// How long recovery took.
    pub replay_seconds: f64,
}

/// Why a memory could not be opened.
struct OpenFailure {
    message: String,
    /// A storage error, which may pass (retried); otherwise corruption or a bug.
    transient: bool,
}

/// All memories of a data directory.
pub struct Registry {
    root: PathBuf,
    config: WriterConfig,
    metrics: Arc<Metrics>,
    memories_max: usize,
    slots: RwLock<BTreeMap<String, Slot>>,
    stopping: Arc<AtomicBool>,
    recovery: Mutex<Option<std::thread::JoinHandle<()>>>,
    _lock: File,
}

fn open_memory(
    dir: &Path,
    name: &str,
    dimension: Option<u32>,
    config: WriterConfig,
    metrics: &Arc<Metrics>,
) -> Result<OpenMemory, OpenFailure> {
    let started = Instant::now();
    let storage = FileStorage::open(dir).map_err(|e| OpenFailure {
        message: e.to_string(),
        transient: true,
    })?;
    let (memory, report) = Memory::open(
        storage,
        Options {
            dimension,
            ..Options::default()
        },
    )
    .map_err(|e| OpenFailure {
        transient: matches!(e, sutra_core::Error::Storage { .. }),
        message: e.to_string(),
    })?;
    let replay_seconds = started.elapsed().as_secs_f64();
    let handle =
        MemoryHandle::start(name, memory, config, metrics.clone()).map_err(|e| OpenFailure {
            message: format!("cannot start writer thread: {e}"),
            transient: true,
        })?;
    Ok(OpenMemory {
        handle: Arc::new(handle),
        report,
        replay_seconds,
    })
}

/// A hidden name for a directory on its way in or out (unique within this process's run).
fn hidden(prefix: &str, name: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{name}-{}-{n}", std::process::id())
}

fn storage_error(message: impl Into<String>) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "storage_error",
        message.into(),
    )
}

impl Registry {
    /// Opens every memory under `root` (creating `root` if needed), after taking the data
    /// directory's lock so that a second server fails at once, with the default limit on
    /// memories.
    pub fn open(
        root: &Path,
        config: WriterConfig,
        metrics: Arc<Metrics>,
    ) -> Result<Registry, String> {
        Registry::open_with(root, config, metrics, MEMORIES_MAX)
    }

    /// [`open`](Self::open) with a limit on memories: past it, the memories that would be
    /// opened last in name order are listed as not opened, with the reason.
    pub fn open_with(
        root: &Path,
        config: WriterConfig,
        metrics: Arc<Metrics>,
        memories_max: usize,
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
        let mut names = Vec::new();
        let entries =
            fs::read_dir(root).map_err(|e| format!("cannot list {}: {e}", root.display()))?;
        for entry in entries.flatten() {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if !entry.path().is_dir() {
                continue;
            }
            if name.starts_with(CREATING_PREFIX) || name.starts_with(DROPPED_PREFIX) {
                // A create or a drop cut short by a crash: the memory was never there, or is
                // gone. Finish the job.
                match fs::remove_dir_all(entry.path()) {
                    Ok(()) => {
                        tracing::info!(directory = %name, "removed what an interrupted create or drop left")
                    }
                    Err(e) => {
                        tracing::warn!(directory = %name, error = %e, "could not remove what an interrupted create or drop left")
                    }
                }
                continue;
            }
            if check_name(&name).is_ok() {
                names.push(name);
            }
        }
        names.sort();
        if names.len() > memories_max {
            tracing::error!(
                found = names.len(),
                limit = memories_max,
                "the data directory holds more memories than the limit; the last ones in name order are not opened (raise --max-memories, or move some to another data directory)"
            );
        }
        let mut slots = BTreeMap::new();
        for (i, name) in names.into_iter().enumerate() {
            if i >= memories_max {
                let reason = format!(
                    "not opened: the data directory holds more memories than the limit of {memories_max}; raise --max-memories, or move some to another data directory"
                );
                slots.insert(
                    name,
                    Slot::Failed {
                        reason,
                        retry: None,
                    },
                );
                continue;
            }
            let slot = match open_memory(&root.join(&name), &name, None, config, &metrics) {
                Ok(open) => {
                    tracing::info!(
                        memory = %name,
                        snapshot_seq = ?open.report.snapshot_seq,
                        replayed = open.report.records_replayed,
                        torn_bytes = open.report.torn_bytes_dropped,
                        seconds = open.replay_seconds,
                        "memory opened"
                    );
                    if let Some(old) = open.report.rewritten_from {
                        tracing::info!(
                            memory = %name,
                            log_version = old.log_version,
                            snapshot_version = ?old.snapshot_version,
                            "files of an older format version rewritten in today's"
                        );
                    }
                    Slot::Open {
                        memory: open,
                        reopened: None,
                    }
                }
                Err(e) => {
                    tracing::error!(memory = %name, error = %e.message, "memory could not be opened");
                    Slot::Failed {
                        reason: e.message,
                        retry: e.transient.then(|| Retry::after(0)),
                    }
                }
            };
            slots.insert(name, slot);
        }
        Ok(Registry {
            root: root.to_path_buf(),
            config,
            metrics,
            memories_max,
            slots: RwLock::new(slots),
            stopping: Arc::new(AtomicBool::new(false)),
            recovery: Mutex::new(None),
            _lock: lock,
        })
    }

    /// Starts the background recovery: memories poisoned by a storage failure, or that could
    /// not be opened for one, are reopened with backoff until they work.
    pub fn start_recovery(self: &Arc<Self>) -> std::io::Result<()> {
        let registry: Weak<Registry> = Arc::downgrade(self);
        let stopping = self.stopping.clone();
        let thread = std::thread::Builder::new()
            .name("sutra-recovery".into())
            .spawn(move || {
                while !stopping.load(Ordering::Acquire) {
                    std::thread::sleep(RECOVERY_TICK);
                    let Some(registry) = registry.upgrade() else {
                        return;
                    };
                    registry.recover_due();
                }
            })?;
        *self.recovery.lock().unwrap_or_else(|e| e.into_inner()) = Some(thread);
        Ok(())
    }

    /// Reopens the memories whose time has come (see [`start_recovery`](Self::start_recovery)):
    /// a poisoned memory at once the first time, then after a wait that doubles with each
    /// reopen that did not last ([`backoff`]); one that could not be opened at its retry time.
    pub fn recover_due(&self) {
        let now = Instant::now();
        let (due, healthy) = {
            let slots = self.slots.read().unwrap_or_else(|e| e.into_inner());
            let (mut due, mut healthy) = (Vec::new(), Vec::new());
            for (name, slot) in slots.iter() {
                match slot {
                    Slot::Open { memory, reopened } => {
                        let poisoned = memory.handle.reader().stats().poisoned.is_some();
                        match (poisoned, *reopened) {
                            (true, None) => due.push(name.clone()),
                            (true, Some((attempts, at))) if now >= at + backoff(attempts - 1) => {
                                due.push(name.clone())
                            }
                            (false, Some((_, at))) if now.duration_since(at) > HEALTHY_AFTER => {
                                healthy.push(name.clone())
                            }
                            _ => {}
                        }
                    }
                    Slot::Failed {
                        retry: Some(retry), ..
                    } if now >= retry.at => due.push(name.clone()),
                    _ => {}
                }
            }
            (due, healthy)
        };
        if !healthy.is_empty() {
            let mut slots = self.slots.write().unwrap_or_else(|e| e.into_inner());
            for name in healthy {
                if let Some(Slot::Open { reopened, .. }) = slots.get_mut(&name) {
                    *reopened = None;
                }
            }
        }
        for name in due {
            if self.stopping.load(Ordering::Acquire) {
                return;
            }
            match self.reopen(&name) {
                Ok(done) => tracing::info!(
                    memory = %name,
                    replayed = done.report.records_replayed,
                    seconds = done.replay_seconds,
                    "memory reopened after a storage failure"
                ),
                Err(e) => {
                    tracing::warn!(memory = %name, error = %e.message, "memory could not be reopened yet")
                }
            }
        }
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
                    Slot::Open { memory, .. } => Ok(memory.handle.clone()),
                    Slot::Failed { reason, .. } => Err(reason.clone()),
                    Slot::Busy(what) => Err(format!("being {what}")),
                },
            })
            .collect()
    }

    /// A memory's handle: 404 if there is none, 503 if it is not open.
    pub fn get(&self, name: &str) -> Result<Arc<MemoryHandle>, ApiError> {
        let slots = self.slots.read().unwrap_or_else(|e| e.into_inner());
        match slots.get(name) {
            Some(Slot::Open { memory, .. }) => Ok(memory.handle.clone()),
            Some(Slot::Failed { reason, retry }) => Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "memory_unavailable",
                if retry.is_some() {
                    format!("memory {name:?} could not be opened: {reason}. The server tries again on its own (or POST /v1/memories/{name}/reopen)")
                } else {
                    format!("memory {name:?} could not be opened: {reason}. Stop the server and run `sutra check`, then `sutra repair` if the log is corrupt")
                },
            )),
            Some(Slot::Busy(what)) => Err(ApiError {
                retry_after_s: Some(1),
                ..ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "memory_busy",
                    format!("memory {name:?} is being {what}; retry after a second"),
                )
            }),
            None => Err(ApiError::not_found(
                "memory_not_found",
                format!("memory {name:?} does not exist"),
            )),
        }
    }

    /// Creates a memory (with an optional vector dimension, stemming language and metadata
    /// keys indexed for filters). It is made in a hidden directory and renamed into place
    /// whole: a create that fails, or a crash during one, leaves nothing behind.
    pub fn create(
        &self,
        name: &str,
        dimension: Option<u32>,
        language: Option<Language>,
        indexed_keys: Vec<String>,
    ) -> Result<Arc<MemoryHandle>, ApiError> {
        check_name(name)?;
        if let Some(d) = dimension {
            if d == 0 || d > sutra_core::limits::DIMENSION_MAX {
                return Err(ApiError {
                    limit: Some(u64::from(sutra_core::limits::DIMENSION_MAX)),
                    ..ApiError::invalid(
                        "limit_exceeded",
                        format!(
                            "invalid dimension: must be from 1 to {}, not {d}",
                            sutra_core::limits::DIMENSION_MAX
                        ),
                    )
                    .about("dimension")
                });
            }
        }
        let indexed_keys = sutra_core::indexed_keys("indexed_keys", indexed_keys)?;
        let dir = self.root.join(name);
        {
            let mut slots = self.slots.write().unwrap_or_else(|e| e.into_inner());
            match slots.get(name) {
                Some(Slot::Busy(what)) => {
                    return Err(ApiError::new(
                        StatusCode::CONFLICT,
                        "memory_busy",
                        format!("memory {name:?} is being {what}; try again once that is done"),
                    ))
                }
                Some(_) => {
                    return Err(ApiError::new(
                        StatusCode::CONFLICT,
                        "memory_exists",
                        format!("memory {name:?} already exists"),
                    ))
                }
                None => {}
            }
            if slots.len() >= self.memories_max {
                return Err(ApiError {
                    limit: Some(self.memories_max as u64),
                    ..ApiError::invalid(
                        "limit_exceeded",
                        format!(
                            "a data directory holds at most {} memories",
                            self.memories_max
                        ),
                    )
                });
            }
            if dir.exists() {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "memory_exists",
                    format!("a directory {name:?} is in the data directory but is not an open memory; restart the server to open it, or move it away"),
                ));
            }
            slots.insert(name.to_string(), Slot::Busy("created"));
        }
        let options = Options {
            dimension,
            language,
            indexed_keys,
            ..Options::default()
        };
        let made = self.make(name, options).and_then(|()| {
            open_memory(&dir, name, None, self.config, &self.metrics).map_err(|e| {
                // Renamed into place but not openable: take it out again.
                if let Err(left) = self.discard(&dir) {
                    tracing::error!(memory = %name, error = %left, "a memory that could not be opened after its creation could not be removed");
                }
                storage_error(e.message)
            })
        });
        let mut slots = self.slots.write().unwrap_or_else(|e| e.into_inner());
        match made {
            Ok(open) => {
                let handle = open.handle.clone();
                slots.insert(
                    name.to_string(),
                    Slot::Open {
                        memory: open,
                        reopened: None,
                    },
                );
                Ok(handle)
            }
            Err(e) => {
                slots.remove(name);
                Err(e)
            }
        }
    }

    /// Makes a memory's files in a hidden directory and renames it to `name`, durably.
    fn make(&self, name: &str, options: Options) -> Result<(), ApiError> {
        let hidden_dir = self.root.join(hidden(CREATING_PREFIX, name));
        let made = FileStorage::open(&hidden_dir)
            .map_err(|e| e.to_string())
            .and_then(|storage| {
                Memory::open(storage, options)
                    .map(drop)
                    .map_err(|e| e.to_string())
            })
            .and_then(|()| {
                fs::rename(&hidden_dir, self.root.join(name))
                    .map_err(|e| format!("cannot rename the new memory into place: {e}"))
            })
            .and_then(|()| storage::sync_dir(&self.root).map_err(|e| e.to_string()));
        made.map_err(|e| {
            let _ = fs::remove_dir_all(&hidden_dir);
            storage_error(format!("memory {name:?} could not be created: {e}"))
        })
    }

    /// Takes a memory's directory out of the data directory (renamed to a hidden name, which a
    /// crash leaves to be removed at the next start), then deletes it.
    fn discard(&self, dir: &Path) -> Result<(), String> {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let trash = self.root.join(hidden(DROPPED_PREFIX, &name));
        match fs::rename(dir, &trash) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                return Err(format!(
                    "cannot move {name:?} out of the data directory: {e}"
                ))
            }
        }
        storage::sync_dir(&self.root).map_err(|e| e.to_string())?;
        if let Err(e) = fs::remove_dir_all(&trash) {
            // Out of the data directory already: the next start removes it.
            tracing::warn!(memory = %name, error = %e, "could not delete a dropped memory's files yet");
        }
        Ok(())
    }

    /// Marks an existing memory as being `what` (dropped, reopened) and gives back its slot as
    /// it was: 404 if there is none, 409 if it is already busy.
    fn claim(&self, name: &str, what: &'static str) -> Result<Slot, ApiError> {
        let mut slots = self.slots.write().unwrap_or_else(|e| e.into_inner());
        match slots.get_mut(name) {
            None => Err(ApiError::not_found(
                "memory_not_found",
                format!("memory {name:?} does not exist"),
            )),
            Some(Slot::Busy(doing)) => Err(ApiError::new(
                StatusCode::CONFLICT,
                "memory_busy",
                format!("memory {name:?} is being {doing}"),
            )),
            Some(slot) => Ok(std::mem::replace(slot, Slot::Busy(what))),
        }
    }

    /// Drops a memory: stops its writer (no final checkpoint) and removes its files. The name
    /// stays taken until the files are out of the data directory.
    pub fn drop_memory(&self, name: &str) -> Result<(), ApiError> {
        let slot = self.claim(name, "dropped")?;
        if let Slot::Open { memory, .. } = slot {
            memory.handle.abandon();
        }
        let discarded = self.discard(&self.root.join(name));
        let mut slots = self.slots.write().unwrap_or_else(|e| e.into_inner());
        match discarded {
            Ok(()) => {
                slots.remove(name);
                Ok(())
            }
            Err(e) => {
                // The files are still in place: the memory comes back by a reopen.
                slots.insert(
                    name.to_string(),
                    Slot::Failed {
                        reason: format!("a drop failed: {e}"),
                        retry: Some(Retry::after(0)),
                    },
                );
                Err(storage_error(e))
            }
        }
    }

    /// Closes a memory and opens it again from its files (recovering from its log): how a
    /// memory poisoned by a storage failure becomes writable again once the cause is gone.
    pub fn reopen(&self, name: &str) -> Result<Reopened, ApiError> {
        let slot = self.claim(name, "reopened")?;
        let reopened = match &slot {
            Slot::Open { reopened, .. } => reopened.map_or(0, |r| r.0),
            Slot::Failed { retry, .. } => retry.map_or(0, |r| r.attempts),
            Slot::Busy(_) => 0,
        };
        if let Slot::Open { memory, .. } = slot {
            // A poisoned writer writes no final checkpoint; a healthy one does.
            memory.handle.close();
        }
        let opened = open_memory(
            &self.root.join(name),
            name,
            None,
            self.config,
            &self.metrics,
        );
        let mut slots = self.slots.write().unwrap_or_else(|e| e.into_inner());
        match opened {
            Ok(open) => {
                self.metrics.reopened();
                let done = Reopened {
                    report: open.report.clone(),
                    replay_seconds: open.replay_seconds,
                };
                slots.insert(
                    name.to_string(),
                    Slot::Open {
                        memory: open,
                        reopened: Some((reopened + 1, Instant::now())),
                    },
                );
                Ok(done)
            }
            Err(e) => {
                let message = e.message.clone();
                slots.insert(
                    name.to_string(),
                    Slot::Failed {
                        reason: e.message,
                        retry: e.transient.then(|| Retry::after(reopened)),
                    },
                );
                Err(storage_error(format!(
                    "memory {name:?} could not be reopened: {message}"
                )))
            }
        }
    }

    /// Gauges for `/metrics`.
    pub fn gauges(&self) -> Vec<MemoryGauges> {
        let slots = self.slots.read().unwrap_or_else(|e| e.into_inner());
        slots
            .iter()
            .filter_map(|(name, slot)| match slot {
                Slot::Open { memory: open, .. } => {
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
                Slot::Failed { .. } | Slot::Busy(_) => None,
            })
            .collect()
    }

    /// Stops the background recovery, finishes every memory's queued writes, writes a final
    /// checkpoint of each, and stops their writers.
    pub fn shutdown(&self) {
        self.stopping.store(true, Ordering::Release);
        let recovery = self
            .recovery
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(thread) = recovery {
            let _ = thread.join();
        }
        let slots = self.slots.read().unwrap_or_else(|e| e.into_inner());
        for slot in slots.values() {
            if let Slot::Open { memory, .. } = slot {
                memory.handle.close();
            }
        }
    }
}
