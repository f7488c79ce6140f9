//! An open memory: its state, its storage and its write path — validate, encode, append, sync,
//! apply — with group commit and checkpoints.

use super::reader::Reader;
use super::recovery::{load_snapshot_or_whole_log, replay, reset_log, Loaded, Replayed};
use super::reports::{CheckpointReport, IndexStep, Options, RecoveryReport, Rewritten, Stats};
use super::shared::{storage_err, Shared, Status};
use crate::error::{Error, Result};
use crate::format::snapshot;
use crate::format::wal::{self, LOG_HEADER_BYTES};
use crate::model::{Op, Rules};
use crate::state::{Db, Overlay};
use crate::storage::Storage;
use std::sync::atomic::AtomicU32;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

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
    /// What the last snapshot loaded or written holds of the indexes: the vector index's
    /// installs ([`crate::vector::VectorIndex::installs`]) and whether the text index was
    /// built (`None`: no snapshot, or one of an older format version). With an empty log and
    /// the same now, the state is the snapshot's and a checkpoint has nothing to write.
    snapshot_holds: Option<(u64, bool)>,
}

impl<S: Storage> Memory<S> {
    /// Opens a memory: loads the snapshot, replays newer log records, truncates a torn tail, and
    /// refuses (with the offset and sequence number) a log with a bad record followed by valid
    /// ones, or a snapshot that fails its checks. Files of an older format version are read and
    /// rewritten in the current one (a checkpoint) before the memory is handed over, so that
    /// nothing is ever appended to a log of another version.
    pub fn open(mut storage: S, options: Options) -> Result<(Self, RecoveryReport)> {
        let mut report = RecoveryReport::default();
        let Loaded {
            mut db,
            seq: snapshot_seq,
            bytes: snapshot_bytes,
            version: snapshot_version,
            discarded,
        } = load_snapshot_or_whole_log(&mut storage, options.hnsw)?;
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
        let existing_language = db.language;
        let more_keys = if options.indexed_keys.is_empty() {
            None
        } else {
            let had: Vec<String> = db.indexed_keys().map(String::from).collect();
            let mut keys = had.clone();
            keys.extend(options.indexed_keys.iter().cloned());
            // Refused, by field, if there would be too many keys or one is not a key.
            let keys = crate::model::indexed_keys("indexed_keys", keys)?;
            (keys != had).then_some(keys)
        };
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
            snapshot_holds: None,
        };
        let outdated_snapshot = snapshot_version.is_some_and(|v| v < snapshot::SNAPSHOT_VERSION);
        if outdated_snapshot || end.version < wal::LOG_VERSION {
            let rewritten = memory.checkpoint()?;
            debug_assert!(rewritten.written, "an outdated file is always rewritten");
            report.rewritten_from = Some(Rewritten {
                log_version: end.version,
                snapshot_version,
            });
        } else {
            let text = memory.shared.read().text_index_built();
            memory.snapshot_holds = snapshot_version.map(|_| (0, text));
        }
        if let Some(language) = options.language.filter(|l| existing_language != Some(*l)) {
            // Refused, by name, if the memory stems in another language.
            memory.write(vec![Op::SetLanguage { language }])?;
        }
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
        if let Some(keys) = more_keys {
            memory.write(vec![Op::IndexMetadata { keys }])?;
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
        let (bytes, seq, holds) = {
            let db = self.shared.read();
            let holds = (db.vectors.installs(), db.text_index_built());
            if self.log_bytes == LOG_HEADER_BYTES && self.snapshot_holds == Some(holds) {
                // Nothing logged since the last snapshot, no indexing installed and no text
                // index built: it holds this very state, and rewriting it would only cost the
                // time and the disk.
                return Ok(CheckpointReport {
                    seq: db.last_seq,
                    snapshot_bytes: self.snapshot_bytes,
                    log_bytes_dropped: 0,
                    written: false,
                });
            }
            (db.encode_snapshot()?, db.last_seq, holds)
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
        self.snapshot_holds = Some(holds);
        self.shared.status().checkpoint_seq = Some(seq);
        Ok(CheckpointReport {
            seq,
            snapshot_bytes: bytes.len() as u64,
            log_bytes_dropped: dropped,
            written: true,
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
    /// An error is a build that failed (see [`crate::vector::SealInput::build`]).
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
