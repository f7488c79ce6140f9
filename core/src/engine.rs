//! The engine: opening (recovery), the write path with group commit, checkpoints and repair.
//!
//! Write path: validate → encode → append → sync → apply. Nothing is visible to readers before
//! the sync that made it durable succeeded, and a failed append or sync poisons the memory:
//! every later write is refused until it is reopened (and so recovered from the log).

use crate::error::{Error, Result};
use crate::graph::{self, Interrupt, PathQuery, PathsResult, View};
use crate::id::ConceptId;
use crate::model::{Op, Rules};
use crate::query::Hit;
use crate::snapshot;
use crate::state::{Db, Overlay};
use crate::storage::{Storage, StorageError};
use crate::vector::{Built, HnswParams, SealInput, VectorCounts};
use crate::wal::{self, LogSource, Tail, LOG_HEADER_BYTES};
use std::sync::atomic::{AtomicU32, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Options for [`Memory::open`].
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Options {
    /// The vector dimension to fix for a new memory (checked against an existing one).
    pub dimension: Option<u32>,
    /// Parameters of the sealed vector index.
    pub hnsw: HnswParams,
}

/// What recovery found and did when a memory was opened.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct RecoveryReport {
    /// Sequence number covered by the snapshot that was loaded (`None`: no snapshot).
    pub snapshot_seq: Option<u64>,
    /// Log records applied on top of the snapshot.
    pub records_replayed: u64,
    /// Log records skipped because the snapshot already covers them.
    pub records_skipped: u64,
    /// Bytes of a torn final record that were truncated.
    pub torn_bytes_dropped: u64,
    /// Sequence number of the last applied record.
    pub last_seq: u64,
    /// A snapshot that failed its checks and was not needed: the log had never been trimmed
    /// (its base is 0), so it holds the whole history and the state was rebuilt from it alone.
    /// Why the snapshot failed. (A snapshot whose checkpoint trimmed the log is never passed
    /// over: opening then refuses.)
    pub discarded_snapshot: Option<String>,
}

/// What [`repair`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepairReport {
    /// Valid records kept.
    pub records_kept: u64,
    /// Log length after the repair.
    pub truncated_at: u64,
    /// Bytes removed from the end of the log.
    pub bytes_dropped: u64,
}

/// What a checkpoint did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckpointReport {
    /// The sequence number the new snapshot covers.
    pub seq: u64,
    /// Size of the snapshot in bytes.
    pub snapshot_bytes: u64,
    /// Log bytes dropped because the snapshot covers them.
    pub log_bytes_dropped: u64,
}

/// What one step of background vector indexing did.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexStep {
    /// Vectors in the graph it built.
    pub vectors: usize,
    /// False if another install overtook it or the build failed (nothing changed).
    pub installed: bool,
    /// Why the build failed, if it did ([`Error::IndexBuild`], a bug: the vectors stay in the
    /// fresh tier, searched exactly, and the same step would fail again).
    pub error: Option<Error>,
}

/// Counts for monitoring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stats {
    /// Number of concepts.
    pub concepts: u64,
    /// Number of associations.
    pub associations: u64,
    /// The vector dimension, once fixed.
    pub dimension: Option<u32>,
    /// Vectors served by the sealed index, by the fresh tier, and stale sealed entries.
    pub vectors: VectorCounts,
    /// Sequence number of the last acknowledged record.
    pub last_seq: u64,
    /// Size of the log in bytes.
    pub log_bytes: u64,
    /// Sequence number covered by the last checkpoint.
    pub checkpoint_seq: Option<u64>,
    /// Why the memory refuses writes, if it does.
    pub poisoned: Option<String>,
}

fn storage_err(during: &'static str) -> impl Fn(StorageError) -> Error {
    move |e| Error::Storage {
        during,
        message: e.message,
    }
}

/// Adapts a storage's log to the scanner.
struct LogReader<'a, S: Storage> {
    storage: &'a mut S,
    len: u64,
}

impl<S: Storage> LogSource for LogReader<'_, S> {
    fn size(&self) -> u64 {
        self.len
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.storage
            .log_read(offset, buf)
            .map_err(storage_err("log read"))
    }
}

/// What the writer knows that readers may ask about.
#[derive(Clone, Debug, Default)]
struct Status {
    log_bytes: u64,
    checkpoint_seq: Option<u64>,
    poisoned: Option<String>,
}

/// The part of a memory that readers share with its writer.
struct Shared {
    db: RwLock<Db>,
    status: Mutex<Status>,
    /// Writers waiting for the state's lock. A long graph query lets them in between two
    /// concepts when this is not zero (the lock makes readers that come after a waiting writer
    /// wait for it too, so a query that held on would stall every reader behind the writer).
    writers_waiting: AtomicU32,
}

impl Shared {
    // A panic while a lock was held can only come from a bug in the engine; the state it
    // guards was validated before any change, so reads go on rather than cascade the panic.
    fn read(&self) -> RwLockReadGuard<'_, Db> {
        self.db.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Db> {
        self.writers_waiting.fetch_add(1, AtomicOrdering::Relaxed);
        let guard = self.db.write().unwrap_or_else(PoisonError::into_inner);
        self.writers_waiting.fetch_sub(1, AtomicOrdering::Relaxed);
        guard
    }

    fn status(&self) -> MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// How many times a path query is run again when a hop it found was removed while it ran, before
/// it gives up with [`Error::Conflict`].
pub const PATH_QUERY_ATTEMPTS: u32 = 3;

/// The state's lock held by a long graph query, let go between two concepts while a writer
/// waits (see [`Reader::paths`]).
struct Leased<'a> {
    shared: &'a Shared,
    guard: Option<RwLockReadGuard<'a, Db>>,
    interrupt: &'a Interrupt,
    /// The state's sequence number when the query started.
    started_seq: u64,
}

impl<'a> Leased<'a> {
    fn new(shared: &'a Shared, interrupt: &'a Interrupt) -> Self {
        let guard = shared.read();
        let started_seq = guard.last_seq;
        Leased {
            shared,
            guard: Some(guard),
            interrupt,
            started_seq,
        }
    }

    /// Whether writes were applied since the query started.
    fn moved(&self) -> bool {
        self.db().last_seq != self.started_seq
    }
}

impl View for Leased<'_> {
    fn db(&self) -> &Db {
        self.guard
            .as_deref()
            .expect("a lease holds the lock except inside pace")
    }

    fn pace(&mut self) -> Result<()> {
        if self.interrupt.is_raised() {
            return Err(Error::Interrupted);
        }
        if self.shared.writers_waiting.load(AtomicOrdering::Relaxed) > 0 {
            // Let go first: taking the lock again while holding it, with a writer waiting,
            // would wait for that writer, which waits for us.
            self.guard = None;
            self.guard = Some(self.shared.read());
        }
        Ok(())
    }
}

/// A cheap, cloneable read handle on a memory, for other threads: reads take a read lock that
/// the writer holds only while it applies already-synced batches (never during I/O).
#[derive(Clone)]
pub struct Reader {
    shared: Arc<Shared>,
}

impl Reader {
    /// The state as of the last acknowledged write.
    pub fn db(&self) -> RwLockReadGuard<'_, Db> {
        self.shared.read()
    }

    /// [`Db::search_vectors`], holding the state's lock only to start (checks, and sharing the
    /// graphs and fresh codes it reads) and to finish (checking and scoring what it found): the
    /// graph walks and the fresh scan run with no lock, so a long search holds no write back.
    pub fn search_vectors(&self, query: &[f32], k: u32) -> Result<Vec<Hit>> {
        let plan = self.shared.read().plan_search(query, k)?;
        let found = plan.run();
        Ok(self.shared.read().finish_search(&plan, found))
    }

    /// [`Db::similar_to`], with the lock held as [`search_vectors`](Self::search_vectors) holds it.
    pub fn similar_to(&self, id: ConceptId, k: u32) -> Result<Vec<Hit>> {
        let plan = self.shared.read().plan_similar(id, k)?;
        let found = plan.run();
        Ok(self.shared.read().finish_search(&plan, found))
    }

    /// Runs a path query, letting writers in between two concepts while they wait (so a long
    /// query holds no write back, and no read queued behind a write), and stopping when
    /// `interrupt` is raised ([`Error::Interrupted`]).
    ///
    /// Isolation: the query sees every write acknowledged before it started, and may see some
    /// made while it ran (read committed, as a graph database's default). Each path it returns
    /// exists when it returns — every hop read again from the state it ended on, with the
    /// confidences of then; a path one of whose hops was removed meanwhile makes it run again
    /// (at most [`PATH_QUERY_ATTEMPTS`] times, then [`Error::Conflict`]).
    pub fn paths(&self, query: &PathQuery, interrupt: &Interrupt) -> Result<PathsResult> {
        let shortest = query.algorithm == graph::Algorithm::Shortest;
        for _ in 0..PATH_QUERY_ATTEMPTS {
            let mut view = Leased::new(&self.shared, interrupt);
            match graph::run_paths(&mut view, query) {
                Ok(mut result) => {
                    if !view.moved() || graph::refresh(view.db(), &mut result, shortest) {
                        return Ok(result);
                    }
                }
                Err(e) if graph::vanished(&e) && view.moved() => {}
                Err(e) => return Err(e),
            }
        }
        Err(Error::Conflict {
            reason: format!(
                "the graph changed under the path query {PATH_QUERY_ATTEMPTS} times in a row (a hop it found was removed each time); run it again"
            ),
        })
    }

    /// Counts for monitoring.
    pub fn stats(&self) -> Stats {
        let counts = self.shared.read().counts();
        let status = self.shared.status().clone();
        Stats {
            concepts: counts.concepts,
            associations: counts.associations,
            dimension: counts.dimension,
            vectors: counts.vectors,
            last_seq: counts.last_seq,
            log_bytes: status.log_bytes,
            checkpoint_seq: status.checkpoint_seq,
            poisoned: status.poisoned,
        }
    }

    /// A frozen view of every live vector, for building one graph that replaces every segment
    /// of the sealed index, on any thread.
    pub fn freeze_vectors(&self) -> SealInput {
        let db = self.shared.read();
        db.vectors.freeze(&|id| db.embedding(id))
    }

    /// The next piece of background indexing, if any: the fresh tier once it holds `fresh_min`
    /// vectors (sealed into a new segment), or segments due for a merge.
    pub fn freeze_next_vectors(&self, fresh_min: usize) -> Option<SealInput> {
        let db = self.shared.read();
        db.vectors.freeze_next(fresh_min, &|id| db.embedding(id))
    }

    /// One piece of background indexing on the calling thread: freezes what
    /// [`freeze_next_vectors`](Self::freeze_next_vectors) gives, builds it (no lock held) and
    /// installs it. `None` if nothing was due.
    pub fn index_vectors_step(&self, fresh_min: usize) -> Option<IndexStep> {
        let input = self.freeze_next_vectors(fresh_min)?;
        let vectors = input.len();
        Some(match input.build() {
            Ok(sealed) => IndexStep {
                vectors,
                installed: self.install_vectors(sealed),
                error: None,
            },
            Err(e) => IndexStep {
                vectors,
                installed: false,
                error: Some(e),
            },
        })
    }

    /// Installs what was built from [`freeze_vectors`](Self::freeze_vectors) or
    /// [`freeze_next_vectors`](Self::freeze_next_vectors); writes made since the freeze stay
    /// searchable and correct. The index is not logged: it is rebuilt from the data if lost, and
    /// a checkpoint stores it. False if another install overtook this one (nothing changed).
    pub fn install_vectors(&self, built: Built) -> bool {
        let mut guard = self.shared.write();
        let db = &mut *guard;
        let concepts = &db.concepts;
        db.vectors
            .install(built, &|id| concepts.get(id)?.embedding.as_deref())
    }
}

/// An open memory: its state, its storage, and the write path. Owned by one writer (a thread
/// or a worker); other threads read through [`Reader`]s.
pub struct Memory<S: Storage> {
    storage: S,
    shared: Arc<Shared>,
    reader: Reader,
    overlay: Overlay,
    staged: Vec<(u64, Vec<Op>)>,
    next_seq: u64,
    log_bytes: u64,
    /// Size of the snapshot last loaded or written (0: none yet).
    snapshot_bytes: u64,
}

impl<S: Storage> Memory<S> {
    /// Opens a memory: loads the snapshot, replays newer log records, truncates a torn tail, and
    /// refuses (with the offset and sequence number) a log with a bad record followed by valid
    /// ones, or a snapshot that fails its checks.
    pub fn open(mut storage: S, options: Options) -> Result<(Self, RecoveryReport)> {
        let mut report = RecoveryReport::default();
        let (mut db, snapshot_seq, snapshot_bytes, discarded) =
            load_snapshot_or_whole_log(&mut storage, options.hnsw)?;
        report.snapshot_seq = snapshot_seq;
        report.discarded_snapshot = discarded;
        let covered = db.last_seq;
        let len = storage.log_len().map_err(storage_err("log length"))?;
        if len < LOG_HEADER_BYTES {
            // A new log, or one whose creation (or reset by a checkpoint) was cut short before
            // its header was synced.
            reset_log(&mut storage, covered)?;
            report.torn_bytes_dropped = len;
        }
        let Replayed {
            end,
            cut,
            skipped,
            replayed,
        } = replay(&mut storage, &mut db)?;
        if let Some(cut) = cut {
            // New records go right after the last valid one.
            storage
                .log_truncate(cut.offset)
                .map_err(storage_err("log truncate"))?;
            report.torn_bytes_dropped += cut.torn_bytes;
        }
        let mut log_bytes = end.valid_len;
        if replayed == 0 && skipped > 0 {
            // Finish a checkpoint that was interrupted after its snapshot was in place.
            reset_log(&mut storage, covered)?;
            log_bytes = LOG_HEADER_BYTES;
        }
        report.records_replayed = replayed;
        report.records_skipped = skipped;
        report.last_seq = db.last_seq;
        let existing_dimension = db.dimension;
        let shared = Arc::new(Shared {
            db: RwLock::new(db),
            status: Mutex::new(Status {
                log_bytes,
                checkpoint_seq: report.snapshot_seq,
                poisoned: None,
            }),
            writers_waiting: AtomicU32::new(0),
        });
        let mut memory = Memory {
            storage,
            reader: Reader {
                shared: shared.clone(),
            },
            shared,
            overlay: Overlay::default(),
            staged: Vec::new(),
            next_seq: end.last_seq.unwrap_or(0).max(covered) + 1,
            log_bytes,
            snapshot_bytes,
        };
        if let Some(dimension) = options.dimension {
            match existing_dimension {
                Some(existing) if existing != dimension => {
                    return Err(Error::DimensionMismatch {
                        expected: existing,
                        actual: dimension,
                    })
                }
                Some(_) => {}
                None => {
                    memory.write(vec![Op::SetDimension { dimension }])?;
                }
            }
        }
        Ok((memory, report))
    }

    /// The state as of the last acknowledged write: every read goes through this.
    pub fn db(&self) -> RwLockReadGuard<'_, Db> {
        self.shared.read()
    }

    /// A read handle for other threads.
    pub fn reader(&self) -> Reader {
        self.reader.clone()
    }

    /// Whether (and why) the memory refuses writes.
    pub fn poisoned(&self) -> Option<String> {
        self.shared.status().poisoned.clone()
    }

    fn poison(&mut self, error: Error) -> Error {
        self.shared.status().poisoned = Some(error.to_string());
        self.staged.clear();
        self.overlay.clear();
        error
    }

    fn check_writable(&self) -> Result<()> {
        match &self.shared.status().poisoned {
            Some(cause) => Err(Error::Poisoned {
                cause: cause.clone(),
            }),
            None => Ok(()),
        }
    }

    fn set_log_bytes(&mut self, log_bytes: u64) {
        self.log_bytes = log_bytes;
        self.shared.status().log_bytes = log_bytes;
    }

    /// Writes one atomic batch durably and applies it: returns its sequence number once synced.
    pub fn write(&mut self, ops: Vec<Op>) -> Result<u64> {
        if !self.staged.is_empty() {
            return Err(Error::Conflict {
                reason: "a group commit is staged; commit it before writing".into(),
            });
        }
        let seq = self.stage(ops)?;
        self.commit()?;
        Ok(seq)
    }

    /// Group commit, first half: validates a batch against the state plus everything staged
    /// before it, encodes it and appends it to the log, without syncing. Returns the batch's
    /// sequence number. The batch is neither durable nor visible until [`commit`](Self::commit).
    /// A batch that fails validation leaves nothing behind and does not affect other batches.
    pub fn stage(&mut self, mut ops: Vec<Op>) -> Result<u64> {
        self.check_writable()?;
        let seq = self.next_seq;
        let record = wal::encode_record(seq, &ops)?;
        self.overlay
            .stage(&self.shared.read(), &ops, Rules::Write)?;
        // The operations move into the state when applied. Text or vectors with spare room
        // are copied to an exact fit here, off the lock (shrinking in place would keep the
        // allocator's larger block), so the state holds no more than its data.
        for op in &mut ops {
            if let Op::PutConcept {
                content, embedding, ..
            } = op
            {
                if content.capacity() > content.len() {
                    *content = content.as_str().to_owned();
                }
                if let Some(v) = embedding.as_mut().filter(|v| v.capacity() > v.len()) {
                    *v = v.as_slice().to_vec();
                }
            }
        }
        if let Err(e) = self.storage.log_append(&record) {
            return Err(self.poison(storage_err("log append")(e)));
        }
        self.set_log_bytes(self.log_bytes + record.len() as u64);
        self.next_seq += 1;
        self.staged.push((seq, ops));
        Ok(seq)
    }

    /// Number of staged batches waiting for [`commit`](Self::commit).
    pub fn staged(&self) -> usize {
        self.staged.len()
    }

    /// Group commit, second half: one sync for every staged batch, then they become visible,
    /// each whole, in order. Returns the last sequence number committed (`None` if nothing was
    /// staged). If the sync fails the memory is poisoned and none of them is acknowledged.
    pub fn commit(&mut self) -> Result<Option<u64>> {
        self.check_writable()?;
        if self.staged.is_empty() {
            return Ok(None);
        }
        // The sync runs with no lock held: readers go on meanwhile.
        if let Err(e) = self.storage.log_sync() {
            return Err(self.poison(storage_err("log sync")(e)));
        }
        let mut last = None;
        for (seq, ops) in self.staged.drain(..) {
            // The lock is taken per batch, not per group: a reader waits for one batch to be
            // applied at most, never for a whole group of them.
            self.shared.write().apply(seq, ops);
            last = Some(seq);
        }
        self.overlay.clear();
        Ok(last)
    }

    /// Writes a snapshot of the whole state through the storage (atomically), then drops the
    /// log records it covers. Refused while a group commit is staged.
    pub fn checkpoint(&mut self) -> Result<CheckpointReport> {
        self.check_writable()?;
        if !self.staged.is_empty() {
            return Err(Error::Conflict {
                reason: "a group commit is staged; commit it before a checkpoint".into(),
            });
        }
        // Encoded under a read lock (readers go on); written with no lock held. Only this
        // writer changes the data, so the state cannot move in between.
        let (bytes, seq) = {
            let db = self.shared.read();
            (snapshot::encode(&db)?, db.last_seq)
        };
        // A failed replacement leaves the old snapshot and the whole log: nothing is lost, so
        // the memory stays writable.
        self.storage
            .snapshot_replace(&bytes)
            .map_err(storage_err("snapshot replace"))?;
        let dropped = self.log_bytes - LOG_HEADER_BYTES;
        if let Err(e) = reset_log(&mut self.storage, seq) {
            return Err(self.poison(e));
        }
        self.set_log_bytes(LOG_HEADER_BYTES);
        self.snapshot_bytes = bytes.len() as u64;
        self.shared.status().checkpoint_seq = Some(seq);
        Ok(CheckpointReport {
            seq,
            snapshot_bytes: bytes.len() as u64,
            log_bytes_dropped: dropped,
        })
    }

    /// Size of the log in bytes, staged batches included.
    pub fn log_bytes(&self) -> u64 {
        self.log_bytes
    }

    /// Size of the snapshot last loaded or written, in bytes (0 if there is none yet).
    pub fn snapshot_bytes(&self) -> u64 {
        self.snapshot_bytes
    }

    /// Whether an automatic checkpoint is due: the log is past `log_bytes_min` and past the last
    /// snapshot's size. A checkpoint writes the whole state, so waiting for the log to be as
    /// large as the snapshot keeps what each one writes to about what was logged since the
    /// last (the write amplification stays bounded however large the memory grows), and the log
    /// a crash replays to about the snapshot's size.
    pub fn checkpoint_due(&self, log_bytes_min: u64) -> bool {
        self.log_bytes > log_bytes_min.max(self.snapshot_bytes)
    }

    /// Freezes, builds and installs the vector index on this thread (hosts with threads do the
    /// build elsewhere through [`Reader::freeze_vectors`] and [`Reader::install_vectors`]).
    /// An error is a build that failed (see [`SealInput::build`]).
    pub fn seal_vectors(&mut self) -> Result<()> {
        let sealed = self.reader.freeze_vectors().build()?;
        self.reader.install_vectors(sealed);
        Ok(())
    }

    /// One piece of background indexing on this thread (see
    /// [`Reader::index_vectors_step`]); true if there was one, an error if its build failed.
    pub fn index_vectors_step(&mut self, fresh_min: usize) -> Result<bool> {
        match self.reader.index_vectors_step(fresh_min) {
            Some(IndexStep { error: Some(e), .. }) => Err(e),
            step => Ok(step.is_some()),
        }
    }

    /// Counts for monitoring.
    pub fn stats(&self) -> Stats {
        self.reader.stats()
    }

    /// The storage, e.g. for fault injection in tests or a host's own bookkeeping. Writing
    /// through it behind the engine's back corrupts the memory.
    pub fn storage_mut(&mut self) -> &mut S {
        &mut self.storage
    }

    /// Gives the storage back (e.g. to simulate a crash and reopen).
    pub fn into_storage(self) -> S {
        self.storage
    }
}

/// Empties the log and gives it a header that continues after `base_seq`, durably. A crash in
/// between leaves a log shorter than its header, which opening resets the same way.
fn reset_log<S: Storage>(storage: &mut S, base_seq: u64) -> Result<()> {
    storage
        .log_truncate(0)
        .map_err(storage_err("log truncate"))?;
    storage
        .log_append(&wal::encode_header(base_seq))
        .map_err(storage_err("log append"))?;
    storage.log_sync().map_err(storage_err("log sync"))
}

/// Decodes the snapshot, if there is one.
/// The state a snapshot holds (an empty one without a snapshot), the sequence number it covers
/// and its size in bytes.
fn load_snapshot<S: Storage>(storage: &mut S, hnsw: HnswParams) -> Result<(Db, Option<u64>, u64)> {
    match storage
        .snapshot_read()
        .map_err(storage_err("snapshot read"))?
    {
        Some(bytes) => {
            let bytes: &[u8] = (*bytes).as_ref();
            let db = snapshot::decode(bytes, hnsw)?;
            let seq = db.last_seq;
            Ok((db, Some(seq), bytes.len() as u64))
        }
        None => Ok((Db::new(hnsw), None, 0)),
    }
}

/// The recovery rule for a snapshot that fails its checks, one for every storage: refused
/// (the error), unless the log was never trimmed by a checkpoint — its header's base is 0, so
/// it holds every record ever written and the snapshot is not needed. That is what a first
/// checkpoint cut short leaves where a snapshot is replaced without an atomic rename (the
/// browser's two slots: `docs/FORMAT.md`); on files it is a damaged snapshot whose loss costs
/// nothing. Returns the state to start from and why the snapshot was passed over.
fn load_snapshot_or_whole_log<S: Storage>(
    storage: &mut S,
    hnsw: HnswParams,
) -> Result<(Db, Option<u64>, u64, Option<String>)> {
    match load_snapshot(storage, hnsw) {
        Ok((db, seq, bytes)) => Ok((db, seq, bytes, None)),
        Err(e @ Error::CorruptSnapshot { .. }) => {
            let len = storage.log_len().map_err(storage_err("log length"))?;
            let mut header = [0u8; LOG_HEADER_BYTES as usize];
            let whole = len >= LOG_HEADER_BYTES
                && storage.log_read(0, &mut header).is_ok()
                && wal::check_header(&header) == Ok(0);
            if whole {
                Ok((Db::new(hnsw), None, 0, Some(e.to_string())))
            } else {
                Err(e)
            }
        }
        Err(e) => Err(e),
    }
}

/// Where opening cuts the log, and how many of the bytes cut were a torn write (the rest,
/// if any, being zeros a storage reserved).
#[derive(Clone, Copy)]
struct Cut {
    offset: u64,
    torn_bytes: u64,
}

/// What [`replay`] did.
struct Replayed {
    end: wal::ScanEnd,
    /// What follows the last valid record and is to be cut off, if anything.
    cut: Option<Cut>,
    skipped: u64,
    replayed: u64,
}

/// The one replay routine: applies every valid log record newer than `db` to it, each
/// validated against the state before it. Reads only. A bad record followed by valid ones is
/// returned as corruption; a torn tail is reported for the caller to truncate (or not). The log
/// must continue from a sequence number the state covers: a log whose header says it continues
/// after `B` cannot follow a snapshot that stops before `B`.
fn replay<S: Storage>(storage: &mut S, db: &mut Db) -> Result<Replayed> {
    let len = storage.log_len().map_err(storage_err("log length"))?;
    let mut header = [0u8; LOG_HEADER_BYTES as usize];
    storage
        .log_read(0, &mut header)
        .map_err(storage_err("log read"))?;
    let base = wal::check_header(&header)?;
    if base > db.last_seq {
        return Err(Error::corrupt_snapshot(format!(
            "the log continues after sequence number {base}, but the snapshot covers only up to {}: the snapshot is older than the log (it was lost, replaced or rolled back)",
            db.last_seq
        )));
    }
    let mut skipped = 0u64;
    let mut replayed = 0u64;
    let end = wal::scan(&mut LogReader { storage, len }, |offset, seq, ops| {
        if seq <= db.last_seq {
            skipped += 1;
            return Ok(());
        }
        let corrupt = |reason: String| Error::CorruptLog {
            offset,
            seq,
            reason,
        };
        let mut check = Overlay::default();
        check.stage(db, &ops, Rules::Logged).map_err(|e| {
            corrupt(format!(
                "record {seq} does not apply to the state before it: {e}"
            ))
        })?;
        db.apply(seq, ops);
        replayed += 1;
        Ok(())
    })?;
    let cut = match &end.tail {
        Tail::Clean => None,
        Tail::Torn { offset, bytes } => Some(Cut {
            offset: *offset,
            torn_bytes: *bytes,
        }),
        // Reserved space, not data: cut, but nothing torn.
        Tail::Padding { offset, .. } => Some(Cut {
            offset: *offset,
            torn_bytes: 0,
        }),
        Tail::Corrupt {
            offset,
            seq,
            reason,
        } => {
            return Err(Error::CorruptLog {
                offset: *offset,
                seq: *seq,
                reason: reason.clone(),
            })
        }
    };
    Ok(Replayed {
        end,
        cut,
        skipped,
        replayed,
    })
}

/// What [`verify`] found.
#[derive(Clone, Debug, PartialEq)]
pub struct VerifyReport {
    /// Sequence number covered by the snapshot (`None`: no snapshot).
    pub snapshot_seq: Option<u64>,
    /// Log records newer than the snapshot that apply cleanly.
    pub records: u64,
    /// Log records the snapshot already covers.
    pub records_skipped: u64,
    /// Log length (without the zeros a storage reserved after it).
    pub log_bytes: u64,
    /// Bytes of a torn tail (opening would truncate them).
    pub torn_bytes: u64,
    /// Concepts, associations and vectors after replay.
    pub counts: crate::query::StateCounts,
}

/// Checks every checksum of a memory's snapshot and log and replays the log onto the snapshot
/// in memory, changing nothing. A torn tail is reported (opening truncates it); corruption is
/// returned as the error that opening would give.
pub fn verify<S: Storage>(storage: &mut S, hnsw: HnswParams) -> Result<VerifyReport> {
    verify_with(storage, hnsw, false)
}

/// [`verify`], then the integrity checker on the state it rebuilt
/// ([`Db::check_integrity`]): every structure agrees with itself and with the others.
pub fn verify_deep<S: Storage>(storage: &mut S, hnsw: HnswParams) -> Result<VerifyReport> {
    verify_with(storage, hnsw, true)
}

fn verify_with<S: Storage>(storage: &mut S, hnsw: HnswParams, deep: bool) -> Result<VerifyReport> {
    let (mut db, snapshot_seq, _, _) = load_snapshot_or_whole_log(storage, hnsw)?;
    let log_bytes = storage.log_len().map_err(storage_err("log length"))?;
    if log_bytes < LOG_HEADER_BYTES {
        if deep {
            db.check_integrity()?;
        }
        return Ok(VerifyReport {
            snapshot_seq,
            records: 0,
            records_skipped: 0,
            log_bytes,
            torn_bytes: log_bytes,
            counts: db.counts(),
        });
    }
    let replayed = replay(storage, &mut db)?;
    if deep {
        db.check_integrity()?;
    }
    let torn_bytes = replayed.cut.map_or(0, |c| c.torn_bytes);
    Ok(VerifyReport {
        snapshot_seq,
        records: replayed.replayed,
        records_skipped: replayed.skipped,
        // Reserved zeros after the last record are not log.
        log_bytes: match replayed.end.tail {
            Tail::Padding { offset, .. } => offset,
            _ => log_bytes,
        },
        torn_bytes,
        counts: db.counts(),
    })
}

/// Truncates the log at its first bad record (or torn tail), keeping every valid record before
/// it. Records after a corrupt one are lost: hosts should copy the log aside first.
pub fn repair<S: Storage>(storage: &mut S) -> Result<RepairReport> {
    let len = storage.log_len().map_err(storage_err("log length"))?;
    let header_ok = len >= LOG_HEADER_BYTES && {
        let mut header = [0u8; LOG_HEADER_BYTES as usize];
        storage
            .log_read(0, &mut header)
            .map_err(storage_err("log read"))?;
        wal::check_header(&header).is_ok()
    };
    if !header_ok {
        // The log continues from whatever the snapshot covers.
        let base = match storage
            .snapshot_read()
            .map_err(storage_err("snapshot read"))?
        {
            Some(bytes) => snapshot::covered_seq((*bytes).as_ref())?,
            None => 0,
        };
        reset_log(storage, base)?;
        return Ok(RepairReport {
            records_kept: 0,
            truncated_at: 0,
            bytes_dropped: len,
        });
    }
    let end = wal::scan(&mut LogReader { storage, len }, |_, _, _| Ok(()))?;
    if end.valid_len < len {
        storage
            .log_truncate(end.valid_len)
            .map_err(storage_err("log truncate"))?;
    }
    Ok(RepairReport {
        records_kept: end.records,
        truncated_at: end.valid_len,
        // Reserved zeros after the last record are cut too, but they were never data.
        bytes_dropped: match end.tail {
            Tail::Padding { .. } => 0,
            _ => len - end.valid_len,
        },
    })
}
