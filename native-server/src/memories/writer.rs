//! One writer thread per memory, with group commit.
//!
//! Requests queue up in a bounded channel. The writer takes everything waiting (up to
//! [`GROUP_BATCHES_MAX`]), stages each batch (appending it to the log), makes them durable with
//! one `fdatasync`, publishes them (each batch whole), and only then answers each request — from
//! an answering thread, so that waking the waiting requests overlaps the next group's sync. A
//! full queue is refused at once (the HTTP layer answers 503 with `Retry-After`); an accepted
//! write is never dropped. Reads never wait for a sync: they go through a [`Reader`], whose lock
//! the writer takes only to apply a batch that is already durable, one batch at a time.

use crate::files::storage::FileStorage;
use crate::memories::metrics::Metrics;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use sutra_core::{Budgets, CheckpointReport, Error, Maintenance, Memory, Op, Reader};
use tokio::sync::oneshot;

/// Most batches committed by one sync.
pub const GROUP_BATCHES_MAX: usize = 256;
/// How often a writer with no writes looks at what maintenance is due (the core's policy:
/// indexing a quiet memory's vectors, a checkpoint retried after a failure).
const MAINTENANCE_TICK: std::time::Duration = std::time::Duration::from_millis(500);

/// Tuning of a memory's writer.
#[derive(Clone, Copy, Debug)]
pub struct WriterConfig {
    /// Most writes waiting in a memory's queue before new ones are refused.
    pub queue_max: usize,
    /// Log size that triggers an automatic checkpoint, at the least: it also waits until the log
    /// is as large as the last snapshot (see `Memory::checkpoint_due`).
    pub checkpoint_log_bytes: u64,
    /// Vectors in the fresh tier that trigger background indexing (their insertion into the
    /// growing graph, then any packing or merges that are due).
    pub reseal_fresh_min: u64,
    /// Bytes of codes in the fresh tier (vectors × dimension) past which the writer waits for
    /// the indexer before it takes more writes. Every search scans the fresh tier whole, so
    /// while vectors arrive faster than they are indexed this bounds what a search costs (and
    /// the queue, then 503 + `Retry-After`, pushes back on the writers instead).
    pub fresh_bytes_max: u64,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            queue_max: 4096,
            checkpoint_log_bytes: Budgets::SERVER.checkpoint_log_bytes,
            reseal_fresh_min: Budgets::SERVER.index_fresh_min as u64,
            fresh_bytes_max: 32 * 1024 * 1024,
        }
    }
}

/// Why a request could not be queued.
#[derive(Debug, PartialEq, Eq)]
pub enum SubmitError {
    /// The queue is full: retry later.
    Busy,
    /// The memory is closing.
    Closed,
}

type WriteReply = oneshot::Sender<Result<u64, Error>>;

enum Job {
    Write {
        ops: Vec<Op>,
        reply: WriteReply,
    },
    Checkpoint {
        reply: oneshot::Sender<Result<CheckpointReport, Error>>,
    },
}

/// A running memory: its reader and its writer's queue.
pub struct MemoryHandle {
    reader: Reader,
    /// Set when the memory is being dropped: its writer exits without a final checkpoint.
    abandoned: Arc<AtomicBool>,
    queue: Mutex<Option<SyncSender<Job>>>,
    depth: Arc<AtomicU64>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl MemoryHandle {
    /// Starts the writer thread for an opened memory.
    pub fn start(
        name: &str,
        memory: Memory<FileStorage>,
        config: WriterConfig,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<MemoryHandle> {
        let (tx, rx) = mpsc::sync_channel(config.queue_max);
        let depth = Arc::new(AtomicU64::new(0));
        let reader = memory.reader();
        let (answers, answer_rx) = mpsc::channel::<Vec<Answer>>();
        let abandoned = Arc::new(AtomicBool::new(false));
        std::thread::Builder::new()
            .name(format!("sutra-answer-{name}"))
            .spawn(move || answer(answer_rx))?;
        let writer = Writer {
            answers,
            memory,
            rx,
            depth: depth.clone(),
            config,
            metrics,
            resealing: Arc::new(AtomicBool::new(false)),
            name: name.to_string(),
            abandoned: abandoned.clone(),
            maintenance: Maintenance::new(Budgets {
                checkpoint_log_bytes: config.checkpoint_log_bytes,
                index_fresh_min: usize::try_from(config.reseal_fresh_min).unwrap_or(usize::MAX),
            }),
            started: std::time::Instant::now(),
        };
        let thread = std::thread::Builder::new()
            .name(format!("sutra-writer-{name}"))
            .spawn(move || writer.run())?;
        Ok(MemoryHandle {
            reader,
            abandoned,
            queue: Mutex::new(Some(tx)),
            depth,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// The read handle.
    pub fn reader(&self) -> &Reader {
        &self.reader
    }

    /// Writes waiting in the queue.
    pub fn queue_depth(&self) -> u64 {
        self.depth.load(Ordering::Relaxed)
    }

    /// Queues a job; gives it back when it cannot be queued.
    fn submit(&self, job: Job) -> Result<(), (SubmitError, Job)> {
        let queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let Some(tx) = queue.as_ref() else {
            return Err((SubmitError::Closed, job));
        };
        self.depth.fetch_add(1, Ordering::Relaxed);
        match tx.try_send(job) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.depth.fetch_sub(1, Ordering::Relaxed);
                Err(match e {
                    TrySendError::Full(job) => (SubmitError::Busy, job),
                    TrySendError::Disconnected(job) => (SubmitError::Closed, job),
                })
            }
        }
    }

    /// Queues a batch; the receiver answers once it is durable (or refused).
    pub fn write(
        &self,
        ops: Vec<Op>,
    ) -> Result<oneshot::Receiver<Result<u64, Error>>, SubmitError> {
        self.try_write(ops).map_err(|(e, _)| e)
    }

    /// [`write`](Self::write), giving the operations back when they cannot be queued (so that
    /// a caller that waits and tries again holds one copy of them, not two).
    #[allow(clippy::type_complexity)]
    pub fn try_write(
        &self,
        ops: Vec<Op>,
    ) -> Result<oneshot::Receiver<Result<u64, Error>>, (SubmitError, Vec<Op>)> {
        let (reply, rx) = oneshot::channel();
        match self.submit(Job::Write { ops, reply }) {
            Ok(()) => Ok(rx),
            Err((e, Job::Write { ops, .. })) => Err((e, ops)),
            Err((e, Job::Checkpoint { .. })) => Err((e, Vec::new())),
        }
    }

    /// Queues a checkpoint (after the writes queued before it).
    pub fn checkpoint(
        &self,
    ) -> Result<oneshot::Receiver<Result<CheckpointReport, Error>>, SubmitError> {
        let (reply, rx) = oneshot::channel();
        self.submit(Job::Checkpoint { reply }).map_err(|(e, _)| e)?;
        Ok(rx)
    }

    /// Stops accepting writes, lets the writer finish everything queued, write a final
    /// checkpoint and exit, and waits for it. Returns the memory's storage lock with it.
    pub fn close(&self) {
        self.stop();
    }

    /// [`close`](Self::close) without the final checkpoint: for a memory about to be deleted.
    /// The writes queued are still finished (they were accepted; the drop comes after them).
    pub fn abandon(&self) {
        self.abandoned.store(true, Ordering::Release);
        self.stop();
    }

    fn stop(&self) {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).take();
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = thread {
            if thread.join().is_err() {
                tracing::error!("a writer thread panicked while closing");
            }
        }
    }
}

impl Drop for MemoryHandle {
    fn drop(&mut self) {
        self.close();
    }
}

/// A write's answer, sent to its waiting request by the answering thread.
type Answer = (WriteReply, Result<u64, Error>);

/// Sends the answers of each committed group. Waking the waiting requests (one thread wake-up
/// each) is the longest part of a group after its sync; done here, it overlaps the writer's sync
/// of the next group instead of delaying it. Ends when the writer is gone.
fn answer(groups: Receiver<Vec<Answer>>) {
    while let Ok(group) = groups.recv() {
        for (reply, result) in group {
            let _ = reply.send(result);
        }
    }
}

struct Writer {
    /// Answers of committed groups, to the answering thread.
    answers: mpsc::Sender<Vec<Answer>>,
    memory: Memory<FileStorage>,
    rx: Receiver<Job>,
    depth: Arc<AtomicU64>,
    config: WriterConfig,
    metrics: Arc<Metrics>,
    resealing: Arc<AtomicBool>,
    name: String,
    abandoned: Arc<AtomicBool>,
    /// The core's maintenance policy with this server's budgets (and its checkpoint failures).
    maintenance: Maintenance,
    /// The writer's clock for the policy: milliseconds since it started.
    started: std::time::Instant,
}

impl Writer {
    fn run(mut self) {
        // Ends when every sender is gone (close) and the queue is empty: nothing accepted is
        // dropped. While no write comes, maintenance is looked at every tick (a quiet memory's
        // last vectors, and those found at open, are indexed without waiting for a write).
        loop {
            let first = match self.rx.recv_timeout(MAINTENANCE_TICK) {
                Ok(job) => job,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    self.maintain();
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            let mut jobs = vec![first];
            while jobs.len() < GROUP_BATCHES_MAX {
                match self.rx.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
            self.depth.fetch_sub(jobs.len() as u64, Ordering::Relaxed);
            self.handle(jobs);
            self.maintain();
            self.wait_for_index();
        }
        if self.memory.poisoned().is_none() && !self.abandoned.load(Ordering::Acquire) {
            match self.memory.checkpoint() {
                Ok(report) if report.written => {
                    self.metrics.checkpointed();
                    tracing::info!(memory = %self.name, seq = report.seq, "final checkpoint written");
                }
                Ok(report) => {
                    tracing::info!(memory = %self.name, seq = report.seq, "nothing new since the last checkpoint: none written");
                }
                Err(e) => {
                    tracing::error!(memory = %self.name, error = %e, "final checkpoint failed")
                }
            }
        }
    }

    fn handle(&mut self, jobs: Vec<Job>) {
        // (reply, sequence number, operations) of each staged batch.
        let mut staged: Vec<(WriteReply, u64, u64)> = Vec::new();
        let mut checkpoints = Vec::new();
        for job in jobs {
            match job {
                Job::Write { ops, reply } => {
                    let n = ops.len() as u64;
                    match self.memory.stage(ops) {
                        Ok(seq) => staged.push((reply, seq, n)),
                        Err(e) => {
                            let _ = reply.send(Err(e));
                        }
                    }
                }
                Job::Checkpoint { reply } => checkpoints.push(reply),
            }
        }
        if !staged.is_empty() {
            match self.memory.commit() {
                Ok(_) => {
                    let ops = staged.iter().map(|s| s.2).sum();
                    self.metrics.committed(staged.len() as u64, ops);
                    let group = staged
                        .into_iter()
                        .map(|(reply, seq, _)| (reply, Ok(seq)))
                        .collect();
                    self.send_answers(group);
                }
                Err(e) => {
                    tracing::error!(memory = %self.name, error = %e, "commit failed; memory poisoned");
                    let group = staged
                        .into_iter()
                        .map(|(reply, _, _)| (reply, Err(e.clone())))
                        .collect();
                    self.send_answers(group);
                }
            }
        }
        for reply in checkpoints {
            let result = self.memory.checkpoint();
            if result.as_ref().is_ok_and(|r| r.written) {
                self.metrics.checkpointed();
            }
            let _ = reply.send(result);
        }
    }

    /// Hands a group's answers to the answering thread (or, should it be gone, sends them here).
    fn send_answers(&self, group: Vec<Answer>) {
        if let Err(mpsc::SendError(group)) = self.answers.send(group) {
            for (reply, result) in group {
                let _ = reply.send(result);
            }
        }
    }

    /// Waits while the fresh tier is over [`WriterConfig::fresh_bytes_max`] and the indexer is
    /// working it down (never when the indexer is not running: it is started again after the
    /// next group, and a failing build must not stop writes).
    fn wait_for_index(&mut self) {
        let started = std::time::Instant::now();
        loop {
            let stats = self.memory.stats();
            let bytes = stats
                .vectors
                .fresh
                .saturating_mul(u64::from(stats.dimension.unwrap_or(0)));
            if bytes <= self.config.fresh_bytes_max
                || stats.poisoned.is_some()
                || !self.resealing.load(Ordering::Acquire)
            {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let waited = started.elapsed();
        if waited >= std::time::Duration::from_millis(1) {
            self.metrics.waited_for_index(waited);
        }
    }

    /// Automatic checkpoint and background indexing of vectors, when the core's policy says
    /// they are due.
    fn maintain(&mut self) {
        let now_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let due = self.maintenance.due(&self.memory, now_ms);
        if due.checkpoint {
            let outcome = self.memory.checkpoint();
            let retry_in = self.maintenance.checkpointed(outcome.is_ok(), now_ms);
            match outcome {
                Ok(report) => {
                    self.metrics.checkpointed();
                    tracing::info!(memory = %self.name, seq = report.seq, bytes = report.snapshot_bytes, "automatic checkpoint");
                }
                Err(e) => {
                    self.metrics.checkpoint_failed();
                    let failures = self.maintenance.failures();
                    let retry_in_s = retry_in.unwrap_or(0) as f64 / 1000.0;
                    tracing::error!(memory = %self.name, error = %e, failures, retry_in_s, "automatic checkpoint failed")
                }
            }
        }
        let Some(fresh_min) = due.index else {
            return;
        };
        if !self.resealing.swap(true, Ordering::AcqRel) {
            let reader = self.memory.reader();
            let flag = self.resealing.clone();
            let metrics = self.metrics.clone();
            let name = self.name.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("sutra-reseal-{name}"))
                .spawn(move || {
                    // Inserts the fresh tier into the growing graph (a step at a time, so
                    // whatever was written meanwhile goes in too), then does whatever packing
                    // or merges are due.
                    let started = std::time::Instant::now();
                    let (mut steps, mut vectors) = (0u64, 0usize);
                    while let Some(step) = reader.index_vectors_step(fresh_min) {
                        if let Some(e) = step.error {
                            // The vectors stay in the fresh tier (searched exactly); the same
                            // build would fail again, so this round stops here.
                            tracing::error!(memory = %name, vectors = step.vectors, error = %e, "vector segment build failed");
                            break;
                        }
                        if step.installed {
                            metrics.resealed();
                            steps += 1;
                            vectors += step.vectors;
                            // A step is a chunk of insertions (a few a second while vectors
                            // arrive), a packing or a merge: the round is what is worth a line.
                            tracing::debug!(memory = %name, vectors = step.vectors, "vector index step installed");
                        }
                    }
                    if steps > 0 {
                        tracing::info!(memory = %name, steps, vectors, seconds = started.elapsed().as_secs_f64(), "vector indexing caught up");
                    }
                    // The builds' temporaries and the codes the seals took out of the fresh
                    // tier are free now; their pages go back to the system.
                    crate::heap::release_free_memory();
                    flag.store(false, Ordering::Release);
                });
            if let Err(e) = spawned {
                self.resealing.store(false, Ordering::Release);
                tracing::error!(memory = %self.name, error = %e, "could not start a re-seal thread");
            }
        }
    }
}
