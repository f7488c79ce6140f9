//! The read handle on a memory that other threads use, and how a long graph query shares the
//! state's lock with the writer.

use super::reports::{IndexStep, Stats};
use super::shared::Shared;
use crate::error::{Error, Result};
use crate::graph::{self, Graph, Interrupt, PathQuery, PathsResult, View};
use crate::model::ConceptId;
use crate::state::query::Hit;
use crate::state::Db;
use crate::vector::{Built, SealInput};
use std::sync::atomic::Ordering as AtomicOrdering;
use std::sync::{Arc, RwLockReadGuard};

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

    /// The state, as of now.
    fn db(&self) -> &Db {
        self.guard
            .as_deref()
            .expect("a lease holds the lock except inside pace")
    }

    /// Whether writes were applied since the query started.
    fn moved(&self) -> bool {
        self.db().last_seq != self.started_seq
    }
}

impl View for Leased<'_> {
    fn graph(&self) -> &dyn Graph {
        self.db()
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
    pub(super) shared: Arc<Shared>,
}

impl Reader {
    /// The state as of the last acknowledged write.
    pub fn db(&self) -> RwLockReadGuard<'_, Db> {
        self.shared.read()
    }

    /// [`Db::search_vectors`], holding the state's lock only to start (checks, and sharing the
    /// graphs and fresh codes it reads) and to finish (checking and scoring what it found): the
    /// graph walks and the fresh scan run with no lock, so a long search holds no write back.
    /// Among `among` only, if given (in increasing id order: what [`Db::filtered`] gives).
    pub fn search_vectors(
        &self,
        query: &[f32],
        k: u32,
        ef: Option<u32>,
        among: Option<Arc<[ConceptId]>>,
    ) -> Result<Vec<Hit>> {
        let plan = self.shared.read().plan_search(query, k, ef, among)?;
        let found = plan.run();
        Ok(self.shared.read().finish_search(&plan, found))
    }

    /// [`Db::search_text`], under the state's read lock.
    pub fn search_text(&self, query: &str, k: u32) -> Result<Vec<Hit>> {
        self.shared.read().search_text(query, k)
    }

    /// [`Db::similar_to`], with the lock held as [`search_vectors`](Self::search_vectors) holds it.
    pub fn similar_to(
        &self,
        id: ConceptId,
        k: u32,
        ef: Option<u32>,
        among: Option<Arc<[ConceptId]>>,
    ) -> Result<Vec<Hit>> {
        let plan = self.shared.read().plan_similar(id, k, ef, among)?;
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
        let (counts, indexed_keys) = {
            let db = self.shared.read();
            (db.counts(), db.indexed_keys().map(String::from).collect())
        };
        let status = self.shared.status().clone();
        Stats {
            concepts: counts.concepts,
            associations: counts.associations,
            labels: counts.labels,
            dimension: counts.dimension,
            language: counts.language,
            indexed_keys,
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

    /// Whether the vector index has work due that waits for no fresh vectors: its growing
    /// graph to pack, a segment to absorb into it, or segments to merge (see
    /// [`IndexPolicy`](super::IndexPolicy)).
    pub fn vector_graph_work_due(&self) -> bool {
        self.shared.read().vectors.graph_work_due()
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
