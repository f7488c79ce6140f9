//! A vector search in two halves: the plan taken under the state's lock, and the run with no
//! lock held.

use std::sync::Arc;

use super::beam::AdmitId;
use super::code::{similarity, Code, Found, Rounding};
use super::fresh::*;
use super::seal::*;
use super::topk::*;
use crate::model::ConceptId;

/// A graph a search reads, and how many of its entries were current when the search began.
pub(super) struct PlannedGraph {
    pub(super) graph: Arc<dyn Ann + Send + Sync>,
    pub(super) live: usize,
}

/// A vector search's view of the index, taken under the state's lock by
/// [`VectorIndex::plan`]: the query's code and unit vector, and the graphs and fresh-tier
/// chunks it reads — shared with the index, so [`run`](Self::run) goes on with no lock held
/// while the writer applies writes and the indexer installs its work.
pub struct SearchPlan {
    pub(super) k: usize,
    /// The candidate list asked for in each graph (at least `k + 1`); `None`: each graph's own.
    pub(super) ef: Option<usize>,
    pub(super) exclude: Option<ConceptId>,
    /// The only concepts it may return (a filter's, in increasing id order), if it is
    /// filtered.
    pub(super) among: Option<Arc<[ConceptId]>>,
    /// Whether `among`'s concepts are all scored exactly (few enough), no graph walked.
    pub(super) exact: bool,
    pub(super) unit: Vec<f32>,
    pub(super) code: Code,
    /// How far the code's similarities can be from the exact ones.
    pub(super) rounding: Rounding,
    pub(super) graphs: Vec<PlannedGraph>,
    pub(super) fresh: Vec<Arc<FreshChunk>>,
    pub(super) dimension: usize,
}

/// What [`SearchPlan::run`] found, for [`VectorIndex::finish`] to check and score.
pub struct Candidates {
    /// Each planned graph's candidates (`None`: read the graph whole instead, as its candidate
    /// list is shorter than `k`).
    pub(super) graphs: Vec<Option<Vec<Found>>>,
    /// The fresh tier's best by approximate similarity.
    pub(super) fresh: Vec<(ConceptId, f32)>,
    /// The largest scale of the fresh codes scanned (bounding the rounding of every fresh
    /// candidate's similarity at once).
    pub(super) fresh_scale: f32,
}

impl SearchPlan {
    /// The slow part of a search, with no lock: walks each graph by the query's code and scans
    /// the fresh chunks, keeping the fresh tier's best as it goes (a large tier is not copied).
    pub fn run(&self) -> Candidates {
        let keep = |id: &ConceptId| self.keeps(id);
        // A filtered search keeps only the filter's points in each graph's beam.
        let admit: AdmitId<'_> = self
            .among
            .as_ref()
            .map(|_| &keep as &dyn Fn(&ConceptId) -> bool);
        let graphs = self
            .graphs
            .iter()
            .map(|planned| {
                // The length asked for, or the graph's own.
                let ef = self.ef.unwrap_or_else(|| planned.graph.candidates_max());
                (self.k < ef).then(|| {
                    let mut found = Vec::new();
                    planned.graph.search(&self.code, ef, admit, &mut found);
                    found.retain(|f| keep(&f.entry.id));
                    found
                })
            })
            .collect();
        let mut best = Best::new(rescored(self.k));
        let mut fresh_scale = 0f32;
        for (id, scale, q) in scan_entries(&self.fresh, self.dimension) {
            if keep(&id) {
                fresh_scale = fresh_scale.max(scale.abs());
                best.offer(id, similarity(scale, q, self.code.scale, &self.code.q));
            }
        }
        Candidates {
            graphs,
            fresh: best.into_sorted(),
            fresh_scale,
        }
    }
}

impl SearchPlan {
    /// Whether the search may return concept `id`: not the one searched by, and kept by the
    /// filter if it has one.
    pub(super) fn keeps(&self, id: &ConceptId) -> bool {
        self.exclude != Some(*id)
            && self
                .among
                .as_deref()
                .is_none_or(|among| among.binary_search(id).is_ok())
    }

    /// How many concepts at most it may return of a graph of `live` entries.
    pub(super) fn wanted(&self, live: usize) -> usize {
        let most = self.among.as_ref().map_or(live, |a| a.len().min(live));
        self.k
            .min(most)
            .saturating_sub(usize::from(self.exclude.is_some()))
    }
}

/// A filter keeping at most this many of `live` vectors' concepts is answered by scoring each
/// of them exactly, not by walking the graphs: a few thousand, or one in 32 of the vectors
/// (where a walk keeping one point in 32 would visit most of a graph to fill its beam).
pub fn exact_among_max(live: usize) -> usize {
    (live / 32).max(EXACT_AMONG_MIN)
}

/// A filter keeping this many concepts or fewer is always answered exactly.
const EXACT_AMONG_MIN: usize = 4096;

/// How many candidates at most are scored exactly for a search of `k`, the best by how high
/// their exact similarity can be: enough that the codes' small error cannot push one of the
/// true best `k` out. Fewer are scored where the bound shows the rest cannot make the best `k`
/// (see [`VectorIndex::finish`]).
pub(super) fn rescored(k: usize) -> usize {
    4 * k + 64
}
