//! The HNSW tuning, in one place: the graphs' parameters and how a search's candidate list grows
//! with a graph's size. Chosen by measurement (see `docs/FORMAT.md`, "Vector index parameters").

use serde::{Deserialize, Serialize};

/// Parameters of the sealed HNSW graph, chosen by measurement (see `docs/FORMAT.md`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct HnswParams {
    /// Candidate list size while inserting (every graph is grown by insertions, see
    /// [`super::growing`]). On real sentence embeddings (workload 10: 116,945 × 384-d
    /// all-MiniLM-L6-v2, one thread) a wider list buys a better-connected graph, which then
    /// needs fewer candidates per query for the same recall: 40 gave recall@10 0.966 at ef 96
    /// and reached 0.97 at 1.5 k queries/s (0.44× hnswlib's speed at that recall), building
    /// 7.4 k vectors/s; 64 gave 0.979 at ef 96; 100 gives 0.984 at ef 96 and reaches 0.97 at
    /// 3.3 k queries/s (0.93×), building about 4.5 k vectors/s (hnswlib at its 200: 1.6 k/s).
    /// Once each step of a query cost less (codes prefetched, fewer candidates scored
    /// exactly), the graph's quality was what held the high end back: 150 reaches 0.995 at
    /// `ef` 192 where 100 needed 320 (about 1.6 k against 1.0 k queries/s), building about
    /// 3.2 k vectors/s; 200 gave the same curve, building 2.8 k/s.
    pub ef_construction: usize,
    /// Candidate list size while searching, unless a search asks for its own (see [`ef_for`]
    /// for how it grows with a graph's size).
    pub ef_search: usize,
    /// Whether the neighbour-selection heuristic was used: what segments built whole by
    /// instant-distance (in snapshots written before December 2026) record; a grown graph always
    /// uses it.
    pub heuristic: bool,
    /// Seed for the layer assignment; fixed, so builds are deterministic.
    pub seed: u64,
}

impl Default for HnswParams {
    fn default() -> Self {
        HnswParams {
            ef_construction: 150,
            ef_search: 96,
            heuristic: true,
            seed: 0x5u64 << 60 | 0x7574_7261,
        }
    }
}

/// Points up to which a graph is searched with its own `ef_search`.
const EF_BASE_POINTS: usize = 100_000;

/// The candidate list size a search of a graph of `points` uses: the graph's `ef_search` up to
/// [`EF_BASE_POINTS`], then growing with its size to the power 0.7, up to eight times
/// `ef_search` (reached at 1.95 M points). At a fixed list size recall falls as a graph grows:
/// on the benchmark's clustered 128-d vectors, against an exhaustive search of the same codes,
/// 96 candidates find 0.985 of the best ten at 100,000 points and 0.892 at 400,000 (0.937 with
/// 160, 0.949 with 256); a graph built by instant-distance falls alike (0.867 at 400,000). So
/// the list grows faster than the square root of the size (which it did, up to four times:
/// workload 6b's recall@10 was 0.933 with 1.7 M vectors in the growing graph; 0.954 with this).
pub(crate) fn ef_for(ef_search: usize, points: usize) -> usize {
    let ef_search = ef_search.max(1);
    if points <= EF_BASE_POINTS {
        return ef_search;
    }
    let grown = ef_search as f64 * (points as f64 / EF_BASE_POINTS as f64).powf(0.7);
    (grown as usize).clamp(ef_search, 8 * ef_search)
}
