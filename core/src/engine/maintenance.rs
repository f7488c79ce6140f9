//! One maintenance policy for every host: when a checkpoint is due, when vector indexing is
//! due, and how long to wait after a checkpoint failed. The host gives its budgets (how large a
//! log, how many fresh vectors) and the time (the core has no clock), and chooses the thread
//! that does the work: the server a thread of its own, the browser's worker a step between two
//! requests.

use super::memory::Memory;
use crate::storage::Storage;

/// A host's budgets for the maintenance decisions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budgets {
    /// Log size past which a checkpoint is due, at the least: it also waits until the log is as
    /// large as the last snapshot (see [`Memory::checkpoint_due`]).
    pub checkpoint_log_bytes: u64,
    /// Vectors in the fresh tier (searched by a scan) that make indexing due: their insertion
    /// into the growing graph, then any packing or merge. `usize::MAX`: no background
    /// indexing at all, quiet or not (a short-lived process, such as an offline import).
    pub index_fresh_min: usize,
}

impl Budgets {
    /// The native server's: a checkpoint past 256 MiB of log, indexing from 5,000 fresh vectors
    /// (on its own thread, while writes go on).
    pub const SERVER: Budgets = Budgets {
        checkpoint_log_bytes: 256 * 1024 * 1024,
        index_fresh_min: 5_000,
    };
    /// The browser's: a checkpoint past 64 MiB (an origin's storage quota is tighter, and a
    /// smaller log replays faster when the page opens again), indexing from 2,000 fresh vectors
    /// (each step runs in the worker between two requests, so it is kept short).
    pub const BROWSER: Budgets = Budgets {
        checkpoint_log_bytes: 64 * 1024 * 1024,
        index_fresh_min: 2_000,
    };
}

/// How long a memory must have taken no write before its last fresh vectors are indexed,
/// however few (under [`Budgets::index_fresh_min`] they would otherwise be scanned by every
/// search for good once writes stop), and vectors found at open (imported, or replayed from
/// the log) without waiting for a write.
pub const INDEX_QUIET_MS: u64 = 2_000;

/// The wait after a first failed checkpoint; it doubles with each failure in a row.
pub const CHECKPOINT_RETRY_FIRST_MS: u64 = 500;
/// The longest wait between two checkpoint attempts after failures.
pub const CHECKPOINT_RETRY_MAX_MS: u64 = 60_000;

const _: () =
    assert!(CHECKPOINT_RETRY_FIRST_MS > 0 && CHECKPOINT_RETRY_FIRST_MS <= CHECKPOINT_RETRY_MAX_MS);

/// What maintenance is due now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Due {
    /// Write a checkpoint ([`Memory::checkpoint`]).
    pub checkpoint: bool,
    /// Index fresh vectors: [`Memory::index_vectors_step`] or
    /// [`Reader::index_vectors_step`](super::Reader::index_vectors_step) with this as its
    /// `fresh_min` — [`Budgets::index_fresh_min`], or 1 once the memory is quiet
    /// ([`IndexPolicy`]).
    pub index: Option<usize>,
}

/// When a memory's fresh vectors are due for indexing: once `fresh_min` of them are there, or
/// any number once the memory has taken no write for [`INDEX_QUIET_MS`]. Part of
/// [`Maintenance`]; alone for a host that applies a replicated log (a cluster's node indexes
/// its own copy of each memory).
#[derive(Clone, Debug)]
pub struct IndexPolicy {
    fresh_min: usize,
    /// The last sequence number seen, and when it was first seen (`None`: nothing seen yet).
    changed: Option<(u64, u64)>,
}

impl IndexPolicy {
    /// A policy indexing from `fresh_min` fresh vectors (and any once quiet).
    pub fn new(fresh_min: usize) -> Self {
        IndexPolicy {
            fresh_min,
            changed: None,
        }
    }

    /// The `fresh_min` to index with at `now_ms`, if indexing is due, for a memory holding
    /// `fresh` vectors not yet in a graph whose last applied batch is `last_seq`, and whose
    /// index has work on its graphs due or not (`graph_work`: see
    /// [`Reader::vector_graph_work_due`](super::Reader::vector_graph_work_due), due at once,
    /// e.g. a merge of segments a snapshot stored). The first call counts as a change: a
    /// memory just opened waits [`INDEX_QUIET_MS`] to index fewer than `fresh_min` fresh
    /// vectors, like one just written.
    pub fn due(
        &mut self,
        fresh: u64,
        graph_work: bool,
        last_seq: u64,
        now_ms: u64,
    ) -> Option<usize> {
        if self.fresh_min == usize::MAX {
            return None;
        }
        let since = match self.changed {
            Some((seq, since)) if seq == last_seq => since,
            _ => {
                self.changed = Some((last_seq, now_ms));
                now_ms
            }
        };
        if graph_work || fresh >= self.fresh_min as u64 {
            Some(self.fresh_min)
        } else if fresh > 0 && now_ms.saturating_sub(since) >= INDEX_QUIET_MS {
            Some(1)
        } else {
            None
        }
    }
}

/// A memory's maintenance state: its budgets, the checkpoint failures in a row, and its
/// indexing policy.
#[derive(Clone, Debug)]
pub struct Maintenance {
    budgets: Budgets,
    failures: u32,
    retry_at_ms: u64,
    index: IndexPolicy,
}

impl Maintenance {
    /// A policy with the host's budgets.
    pub fn new(budgets: Budgets) -> Self {
        Maintenance {
            budgets,
            failures: 0,
            retry_at_ms: 0,
            index: IndexPolicy::new(budgets.index_fresh_min),
        }
    }

    /// The budgets it decides with.
    pub fn budgets(&self) -> Budgets {
        self.budgets
    }

    /// Checkpoint failures in a row (0 after a success).
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// What is due at `now_ms` (a host's monotonic clock; a host calls this after its writes
    /// and also every so often while none come, so that a quiet memory's work gets done).
    /// Nothing on a poisoned memory (it is refused every write until reopened); no checkpoint
    /// while batches are staged (they are not in the state a checkpoint writes), nor before the
    /// wait after a failure is over: each attempt writes the whole snapshot, so on a full disk
    /// trying after every write would write it again and again. Indexing as
    /// [`IndexPolicy`] says.
    pub fn due<S: Storage>(&mut self, memory: &Memory<S>, now_ms: u64) -> Due {
        if memory.poisoned().is_some() {
            return Due::default();
        }
        let stats = memory.stats();
        Due {
            checkpoint: now_ms >= self.retry_at_ms
                && memory.staged() == 0
                && memory.checkpoint_due(self.budgets.checkpoint_log_bytes),
            index: self.index.due(
                stats.vectors.fresh,
                memory.reader().vector_graph_work_due(),
                stats.last_seq,
                now_ms,
            ),
        }
    }

    /// Records a checkpoint's outcome at `now_ms`. After a failure, returns the wait before the
    /// next attempt: [`CHECKPOINT_RETRY_FIRST_MS`] doubled with each failure in a row, at most
    /// [`CHECKPOINT_RETRY_MAX_MS`].
    pub fn checkpointed(&mut self, ok: bool, now_ms: u64) -> Option<u64> {
        if ok {
            self.failures = 0;
            self.retry_at_ms = 0;
            return None;
        }
        self.failures = self.failures.saturating_add(1);
        let wait = CHECKPOINT_RETRY_FIRST_MS
            .saturating_mul(1 << (self.failures - 1).min(16))
            .min(CHECKPOINT_RETRY_MAX_MS);
        debug_assert!((CHECKPOINT_RETRY_FIRST_MS..=CHECKPOINT_RETRY_MAX_MS).contains(&wait));
        self.retry_at_ms = now_ms.saturating_add(wait);
        Some(wait)
    }
}
