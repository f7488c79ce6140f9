//! Prometheus metrics: counters and gauges kept with atomics, rendered in the text format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

/// Upper bounds of the group-commit size histogram buckets (batches per sync).
const GROUP_BUCKETS: [u64; 9] = [1, 2, 4, 8, 16, 32, 64, 128, 256];

/// Server-wide metrics.
#[derive(Default)]
pub struct Metrics {
    syncs: AtomicU64,
    batches: AtomicU64,
    ops: AtomicU64,
    rejected_full_queue: AtomicU64,
    group_buckets: [AtomicU64; GROUP_BUCKETS.len()],
    group_count: AtomicU64,
    group_sum: AtomicU64,
    checkpoints: AtomicU64,
    checkpoint_failures: AtomicU64,
    reopens: AtomicU64,
    reseals: AtomicU64,
    index_wait_us: AtomicU64,
    requests: Mutex<BTreeMap<u16, u64>>,
}

impl Metrics {
    /// One sync that committed `batches` batches of `ops` operations in all.
    pub fn committed(&self, batches: u64, ops: u64) {
        self.syncs.fetch_add(1, Relaxed);
        self.batches.fetch_add(batches, Relaxed);
        self.ops.fetch_add(ops, Relaxed);
        self.group_count.fetch_add(1, Relaxed);
        self.group_sum.fetch_add(batches, Relaxed);
        for (i, bound) in GROUP_BUCKETS.iter().enumerate() {
            if batches <= *bound {
                self.group_buckets[i].fetch_add(1, Relaxed);
            }
        }
    }

    /// A write refused because its memory's queue was full.
    pub fn queue_full(&self) {
        self.rejected_full_queue.fetch_add(1, Relaxed);
    }

    /// A checkpoint was written.
    pub fn checkpointed(&self) {
        self.checkpoints.fetch_add(1, Relaxed);
    }

    /// An automatic checkpoint failed.
    pub fn checkpoint_failed(&self) {
        self.checkpoint_failures.fetch_add(1, Relaxed);
    }

    /// Automatic checkpoints that failed so far.
    pub fn checkpoint_failures(&self) -> u64 {
        self.checkpoint_failures.load(Relaxed)
    }

    /// A memory was reopened (recovered from its files without a restart).
    pub fn reopened(&self) {
        self.reopens.fetch_add(1, Relaxed);
    }

    /// A vector index was re-sealed.
    pub fn resealed(&self) {
        self.reseals.fetch_add(1, Relaxed);
    }

    /// The writer waited this long for the vector indexer (the fresh tier was over its bound).
    pub fn waited_for_index(&self, waited: std::time::Duration) {
        self.index_wait_us.fetch_add(
            u64::try_from(waited.as_micros()).unwrap_or(u64::MAX),
            Relaxed,
        );
    }

    /// Time the writer has waited for the vector indexer so far.
    pub fn index_wait(&self) -> std::time::Duration {
        std::time::Duration::from_micros(self.index_wait_us.load(Relaxed))
    }

    /// Vector index re-seals so far.
    pub fn reseals(&self) -> u64 {
        self.reseals.load(Relaxed)
    }

    /// An HTTP response with this status.
    pub fn request(&self, status: u16) {
        let mut map = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        *map.entry(status).or_insert(0) += 1;
    }

    /// Renders everything, with per-memory gauges supplied by the caller.
    pub fn render(&self, memories: &[MemoryGauges]) -> String {
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        };
        counter(
            "sutra_log_syncs_total",
            "Log syncs (fdatasync) that succeeded.",
            self.syncs.load(Relaxed),
        );
        counter(
            "sutra_batches_committed_total",
            "Write batches acknowledged.",
            self.batches.load(Relaxed),
        );
        counter(
            "sutra_ops_committed_total",
            "Operations acknowledged.",
            self.ops.load(Relaxed),
        );
        counter(
            "sutra_writes_rejected_queue_full_total",
            "Writes answered 503 because a queue was full.",
            self.rejected_full_queue.load(Relaxed),
        );
        counter(
            "sutra_checkpoints_total",
            "Checkpoints written.",
            self.checkpoints.load(Relaxed),
        );
        counter(
            "sutra_checkpoint_failures_total",
            "Automatic checkpoints that failed (each retried later, with backoff).",
            self.checkpoint_failures.load(Relaxed),
        );
        counter(
            "sutra_memory_reopens_total",
            "Memories reopened from their files without a restart (after a storage failure).",
            self.reopens.load(Relaxed),
        );
        counter(
            "sutra_vector_reseals_total",
            "Vector indexes re-sealed.",
            self.reseals.load(Relaxed),
        );
        counter(
            "sutra_writer_index_wait_microseconds_total",
            "Time writers waited for the vector indexer, the fresh tier being over its bound.",
            self.index_wait_us.load(Relaxed),
        );
        let _ = writeln!(out, "# HELP sutra_group_commit_batches Batches committed per sync.\n# TYPE sutra_group_commit_batches histogram");
        for (i, bound) in GROUP_BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "sutra_group_commit_batches_bucket{{le=\"{bound}\"}} {}",
                self.group_buckets[i].load(Relaxed)
            );
        }
        let count = self.group_count.load(Relaxed);
        let _ = writeln!(
            out,
            "sutra_group_commit_batches_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "sutra_group_commit_batches_sum {}",
            self.group_sum.load(Relaxed)
        );
        let _ = writeln!(out, "sutra_group_commit_batches_count {count}");
        let _ = writeln!(out, "# HELP sutra_http_requests_total HTTP responses by status.\n# TYPE sutra_http_requests_total counter");
        for (status, n) in self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(out, "sutra_http_requests_total{{status=\"{status}\"}} {n}");
        }
        type Gauge = (&'static str, &'static str, fn(&MemoryGauges) -> f64);
        let gauges: [Gauge; 7] = [
            ("sutra_log_bytes", "Size of the write-ahead log.", |g| {
                g.log_bytes as f64
            }),
            ("sutra_queue_depth", "Writes waiting for the writer.", |g| {
                g.queue_depth as f64
            }),
            ("sutra_concepts", "Concepts stored.", |g| g.concepts as f64),
            ("sutra_associations", "Associations stored.", |g| {
                g.associations as f64
            }),
            (
                "sutra_replay_seconds",
                "Time the last open spent recovering.",
                |g| g.replay_seconds,
            ),
            (
                "sutra_replayed_records",
                "Log records replayed at the last open.",
                |g| g.replayed_records as f64,
            ),
            (
                "sutra_poisoned",
                "1 when the memory refuses writes after a storage failure.",
                |g| f64::from(u8::from(g.poisoned)),
            ),
        ];
        for (name, help, get) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
            for g in memories {
                let _ = writeln!(out, "{name}{{memory=\"{}\"}} {}", g.name, get(g));
            }
        }
        out
    }
}

/// Per-memory values for [`Metrics::render`].
pub struct MemoryGauges {
    /// Memory name (names are restricted to `[a-z0-9_-]`, so no escaping is needed).
    pub name: String,
    /// Log size.
    pub log_bytes: u64,
    /// Queued writes.
    pub queue_depth: u64,
    /// Concepts.
    pub concepts: u64,
    /// Associations.
    pub associations: u64,
    /// Recovery time at open.
    pub replay_seconds: f64,
    /// Records replayed at open.
    pub replayed_records: u64,
    /// Refusing writes.
    pub poisoned: bool,
}
