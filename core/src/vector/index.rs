use std::sync::Arc;

use super::code::{quantize, Code, Entry, Rounding};
use super::fresh::*;
use super::growing::{Growing, CHUNK, CHUNKS_MAX};
use super::params::HnswParams;
use super::plan::*;
use super::seal::*;
use super::topk::*;
use crate::distance::{cosine, dot, inv_norm};
use crate::model::ConceptId;
use crate::vector::id_table::IdTable;
use serde::{Deserialize, Serialize};

/// Counts for stats.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VectorCounts {
    /// Live vectors served by the sealed graphs.
    pub sealed: u64,
    /// Live vectors in the fresh tier (not yet in a segment).
    pub fresh: u64,
    /// Sealed entries hidden because their concept was deleted or re-embedded.
    pub stale: u64,
    /// Segments of the sealed tier (each its own graph).
    pub segments: u64,
}

/// Marks a [`Live::place`] that is a segment id (otherwise it is a slot of the fresh tier).
pub(super) const SEALED: u32 = 1 << 31;

/// A live vector's version, inverse norm, and where that version is: a segment, or a slot of
/// the fresh tier (its components stay in the concept, not here). 16 bytes, as it is kept for
/// every vector.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Live {
    pub(super) vseq: u64,
    pub(super) inv_norm: f32,
    pub(super) place: u32,
}

impl Live {
    fn segment(&self) -> Option<u32> {
        (self.place & SEALED != 0).then_some(self.place & !SEALED)
    }
    fn fresh_slot(&self) -> Option<usize> {
        (self.place & SEALED == 0).then_some(self.place as usize)
    }
}

/// Looks up a concept's embedding: the index keeps no copy of the vectors, only their versions,
/// norms and (sealed) quantized codes.
pub type Lookup<'f, 'v> = &'f dyn Fn(&ConceptId) -> Option<&'v [f32]>;

/// One graph of the sealed tier and how many of its entries are still current.
pub(super) struct Segment {
    pub(super) id: u32,
    /// Shared with the searches that are reading it.
    pub(super) graph: Arc<Sealed>,
    pub(super) live: usize,
}

/// Segments merged at once: a merge takes this many segments of similar size.
pub const MERGE_FANOUT: usize = 4;
/// Segments of similar size: the largest of a merge is less than this many times the smallest.
pub(super) const MERGE_SIZE_RATIO: usize = 4;
/// A segment with at least this many entries, more than half of them stale, is rebuilt alone.
pub(super) const MERGE_GARBAGE_MIN: usize = 1_000;
/// Segments beyond which a due merge goes before a seal. When vectors arrive faster than they
/// can be indexed there is always a seal due; preferring it every time would leave every merge
/// waiting and the number of segments (each searched by every query) growing without bound.
pub const SEGMENTS_SOFT_MAX: usize = 2 * MERGE_FANOUT;
/// Most vectors one step of background indexing inserts into the growing graph (the step after
/// takes the rest): each step's install takes its vectors out of the fresh tier, so a writer
/// waiting for the fresh tier to shrink (see the server's `WriterConfig::fresh_bytes_max`)
/// waits for one short step (about 0.3 s at two million vectors here), and a checkpoint, which
/// packs the growing graph, waits little for it.
pub const GROW_STEP_MAX: usize = CHUNK;

/// The growing graph and how many of its nodes are current.
pub(super) struct GrowingSegment {
    pub(super) id: u32,
    pub(super) graph: Arc<Growing>,
    pub(super) live: usize,
}

/// The tiered vector index: a fresh tier scanned in full, the growing graph the background
/// indexer inserts the fresh tier into (each vector once, while searches go on), and sealed
/// segments (packed HNSW graphs: a growing graph once full or mostly stale, graphs loaded from a
/// snapshot, graphs built whole). A snapshot's packed growing graph is taken up again at open,
/// a segment no larger than the growing graph is absorbed into it, and segments of similar size
/// are merged in the background (size-tiered, like an LSM tree), which keeps their number
/// logarithmic in the index size.
pub struct VectorIndex {
    pub(super) params: HnswParams,
    /// Version, inverse norm and segment of every concept that has a vector.
    pub(super) current: IdTable<Live>,
    /// Vectors not (validly) in a segment, scanned in full by their codes.
    pub(super) fresh: Fresh,
    pub(super) segments: Vec<Segment>,
    /// Where new vectors are indexed (created with the first vector after it was retired).
    pub(super) growing: Option<GrowingSegment>,
    /// Chunks of the growing graph (see [`super::growing`]); fewer in tests.
    pub(super) growing_chunks: usize,
    pub(super) next_segment: u32,
    /// Current vectors in segments and the growing graph.
    pub(super) sealed_live: usize,
    pub(super) next_vseq: u64,
    /// Builds installed since this index was made (not stored): what tells a checkpoint that
    /// the index changed though no write came.
    pub(super) installs: u64,
}

impl VectorIndex {
    /// An empty index.
    pub fn new(params: HnswParams) -> Self {
        VectorIndex {
            params,
            current: IdTable::default(),
            fresh: Fresh::default(),
            segments: Vec::new(),
            growing: None,
            growing_chunks: CHUNKS_MAX,
            next_segment: 1,
            sealed_live: 0,
            next_vseq: 1,
            installs: 0,
        }
    }

    /// An empty index whose growing graph holds at most `chunks` chunks, so tests see it
    /// packed into segments, and those merge, at small sizes.
    #[cfg(test)]
    fn with_growing_chunks(params: HnswParams, chunks: usize) -> Self {
        VectorIndex {
            growing_chunks: chunks,
            ..VectorIndex::new(params)
        }
    }

    /// Whether `e`, found in segment `segment`, is the current version of its concept.
    fn valid(&self, e: &Entry, segment: u32) -> bool {
        self.current
            .get(&e.id)
            .is_some_and(|l| l.vseq == e.vseq && l.segment() == Some(segment))
    }

    /// How many entries of segment `id` (or of the growing graph, by its id) are current.
    fn live_mut(&mut self, id: u32) -> Option<&mut usize> {
        if let Some(g) = self.growing.as_mut().filter(|g| g.id == id) {
            return Some(&mut g.live);
        }
        self.segments
            .iter_mut()
            .find(|s| s.id == id)
            .map(|s| &mut s.live)
    }

    /// Starts a growing graph of codes of `dimension` components if there is none.
    fn ensure_growing(&mut self, dimension: usize) {
        if self.growing.is_some() {
            return;
        }
        let id = self.new_segment_id();
        self.growing = Some(GrowingSegment {
            id,
            graph: Arc::new(Growing::new(
                dimension,
                self.params.ef_construction,
                self.params.ef_search,
                self.growing_chunks,
                self.params.seed ^ u64::from(id),
            )),
            live: 0,
        });
    }

    /// An id for a new segment (ids only need to differ among the segments alive at once).
    fn new_segment_id(&mut self) -> u32 {
        let id = self.next_segment;
        self.next_segment = ((self.next_segment + 1) & !SEALED).max(1);
        id
    }

    /// Takes the code in `slot` out of the fresh tier, keeping the moved one's place right.
    fn fresh_remove(&mut self, slot: usize) {
        if let Some(moved) = self.fresh.swap_remove(slot) {
            if let Some(l) = self.current.get_mut(&moved) {
                l.place = slot as u32;
            }
        }
    }

    /// Puts `id`'s vector in the fresh tier and records its slot (and makes sure there is a
    /// growing graph to index it into).
    pub(super) fn fresh_add(&mut self, id: ConceptId, vector: &[f32]) {
        self.ensure_growing(vector.len());
        if let Some(inv) = self.current.get(&id).map(|l| l.inv_norm) {
            let slot = self.fresh.push(id, Code::new(vector, inv));
            if let Some(l) = self.current.get_mut(&id) {
                l.place = slot;
            }
        }
    }

    fn forget(&mut self, id: &ConceptId) {
        if let Some(old) = self.current.remove(id) {
            if let Some(segment) = old.segment() {
                if let Some(live) = self.live_mut(segment) {
                    *live -= 1;
                }
                self.sealed_live -= 1;
            } else if let Some(slot) = old.fresh_slot() {
                self.fresh_remove(slot);
            }
        }
    }

    /// Sets (or replaces) a concept's vector (which the concept itself holds).
    pub fn upsert(&mut self, id: ConceptId, vector: &[f32]) {
        self.forget(&id);
        let vseq = self.next_vseq;
        self.next_vseq += 1;
        let live = Live {
            vseq,
            inv_norm: inv_norm(vector),
            place: 0,
        };
        self.current.insert(id, live);
        self.fresh_add(id, vector);
    }

    /// Removes a concept's vector, if it has one.
    pub fn remove(&mut self, id: &ConceptId) {
        self.forget(id);
    }

    /// Concepts with a live vector.
    pub fn live(&self) -> usize {
        self.current.len()
    }

    /// Checks the index against itself and the concepts' embeddings (`lookup`): the version
    /// table's own rules; every live vector's concept has an embedding whose inverse norm is the
    /// one kept, and its place (a fresh slot that holds its id, or a segment that exists); each
    /// segment's count of live entries; the fresh tier's chunks (all full but the last, codes of
    /// one dimension), each slot held by a vector that says it is there; and every graph's
    /// structure. The integrity checker's part for the vector index.
    pub(crate) fn check(&self, lookup: Lookup<'_, '_>) -> std::result::Result<(), String> {
        self.current
            .check()
            .map_err(|e| format!("version table: {e}"))?;
        let mut per_segment: std::collections::BTreeMap<u32, usize> = Default::default();
        let mut in_fresh = 0usize;
        for (id, live) in self.current.iter() {
            let Some(vector) = lookup(id) else {
                return Err(format!("{id} is indexed but has no embedding"));
            };
            if inv_norm(vector).to_bits() != live.inv_norm.to_bits() {
                return Err(format!("{id}'s inverse norm is not its embedding's"));
            }
            match (live.segment(), live.fresh_slot()) {
                (Some(segment), _) => *per_segment.entry(segment).or_default() += 1,
                (None, Some(slot)) => {
                    if self.fresh.id_at(slot) != Some(*id) {
                        return Err(format!("{id} is in fresh slot {slot}, which holds another"));
                    }
                    in_fresh += 1;
                }
                (None, None) => return Err(format!("{id} has no place")),
            }
        }
        if in_fresh != self.fresh.len() {
            return Err(format!(
                "{} fresh slots, {in_fresh} vectors in them",
                self.fresh.len()
            ));
        }
        self.fresh.check()?;
        let growing = self.growing.iter().map(|g| (g.id, g.live));
        let segments = self.segments.iter().map(|s| (s.id, s.live)).chain(growing);
        let mut sealed = 0usize;
        for (id, live) in segments {
            let counted = per_segment.remove(&id).unwrap_or(0);
            if counted != live {
                return Err(format!(
                    "segment {id} counts {live} live entries, {counted} point to it"
                ));
            }
            sealed += live;
        }
        if let Some((segment, n)) = per_segment.into_iter().next() {
            return Err(format!(
                "{n} vectors are in segment {segment}, which does not exist"
            ));
        }
        if sealed != self.sealed_live {
            return Err(format!(
                "{sealed} live sealed entries, {} counted",
                self.sealed_live
            ));
        }
        for segment in &self.segments {
            segment
                .graph
                .graph
                .check()
                .map_err(|e| format!("segment {}: {e}", segment.id))?;
        }
        if let Some(growing) = &self.growing {
            growing
                .graph
                .check()
                .map_err(|e| format!("the growing graph: {e}"))?;
        }
        Ok(())
    }

    /// Counts for stats.
    /// The growing graph counts as a segment once it has nodes.
    pub fn counts(&self) -> VectorCounts {
        let growing = self.growing.as_ref().map_or(0, |g| g.graph.len());
        let sealed_total: usize =
            self.segments.iter().map(|s| s.graph.len()).sum::<usize>() + growing;
        VectorCounts {
            sealed: self.sealed_live as u64,
            fresh: self.fresh.len() as u64,
            stale: sealed_total.saturating_sub(self.sealed_live) as u64,
            segments: (self.segments.len() + usize::from(growing > 0)) as u64,
        }
    }

    /// The exact cosine similarity of concept `id`'s vector to the unit vector `unit`.
    fn score<'v>(&self, id: &ConceptId, unit: &[f32], lookup: Lookup<'_, 'v>) -> Option<f32> {
        exact(lookup(id)?, unit, self.current.get(id)?.inv_norm)
    }

    /// The `k` most similar live vectors to `query` (already checked: finite, non-zero, right
    /// dimension), best first; ties broken by id. `exclude` is left out (search by a concept).
    ///
    /// Candidates come from each segment's graph and from a scan of the fresh tier, both by the
    /// quantized codes; those that can still make the best `k` by that approximate similarity
    /// and its bound (see [`finish`](Self::finish)) are scored exactly from the concepts'
    /// embeddings, and every score returned is exact. The same as [`plan`](Self::plan),
    /// [`SearchPlan::run`] and [`finish`](Self::finish) in a row, for a caller that holds the
    /// state throughout (the index's own tests; the state plans, runs and finishes apart so the
    /// host picks the thread).
    #[cfg(test)]
    pub fn search<'v>(
        &self,
        query: &[f32],
        k: usize,
        exclude: Option<ConceptId>,
        lookup: Lookup<'_, 'v>,
    ) -> Vec<(ConceptId, f32)> {
        let plan = self.plan(query, k, None, exclude, None);
        let found = plan.run();
        self.finish(&plan, found, lookup)
    }

    /// The start of a search (see [`search`](Self::search)): what it will read, taken in an
    /// instant — the query's code, the graphs, the fresh tier's chunks, all shared — so the
    /// reading itself ([`SearchPlan::run`]) needs no lock and holds no writer back.
    ///
    /// `ef` is the search effort: how long each graph's candidate list is (at least `k + 1`,
    /// so that a graph can answer `k` without being read whole). `None` gives each graph its
    /// own: the `ef_search` it was built with, grown with its size ([`ef_for`](super::params::ef_for)).
    ///
    /// `among` (concept ids in increasing order: a filter's) limits what the search returns:
    /// the graphs are walked keeping only those points (widening through the others); a
    /// filter keeping at most [`exact_among_max`] concepts is answered exactly instead, each
    /// of its concepts scored by [`finish`](Self::finish) (under the state's lock: as fast as
    /// copying their vectors out of it would be).
    pub fn plan(
        &self,
        query: &[f32],
        k: usize,
        ef: Option<usize>,
        exclude: Option<ConceptId>,
        among: Option<Arc<[ConceptId]>>,
    ) -> SearchPlan {
        let inv = inv_norm(query);
        // A filter that keeps few concepts is answered by scoring each of them (in
        // `finish`), not by walking graphs mostly made of others.
        let exact = among
            .as_ref()
            .is_some_and(|among| among.len() <= exact_among_max(self.live()));
        // A search for nothing reads nothing (and so finds nothing).
        let (graphs, fresh) = if k == 0 || exact {
            (Vec::new(), Vec::new())
        } else {
            let growing = self
                .growing
                .iter()
                .map(|g| (g.live, g.graph.clone() as Arc<dyn Ann + Send + Sync>));
            let graphs = self
                .segments
                .iter()
                .map(|s| (s.live, s.graph.clone() as Arc<dyn Ann + Send + Sync>))
                .chain(growing)
                .filter(|(live, _)| *live > 0)
                .map(|(live, graph)| PlannedGraph { graph, live })
                .collect();
            (graphs, self.fresh.chunks.clone())
        };
        let unit: Vec<f32> = query.iter().map(|x| x * inv).collect();
        let code = Code::new(query, inv);
        SearchPlan {
            k,
            ef: ef.map(|ef| ef.max(k + 1)),
            exclude,
            among,
            exact,
            rounding: Rounding::of(&unit, &code),
            unit,
            code,
            graphs,
            fresh,
            dimension: self.fresh.dimension,
        }
    }

    /// The end of a search: checks what [`SearchPlan::run`] found against the index as it is
    /// now and scores the best exactly. While the search ran, the index may have changed:
    /// an entry counts only if its concept still has that version of its vector (a vector
    /// re-embedded or deleted meanwhile is not returned for its old code), a fresh-tier entry
    /// only if its concept still has a vector (scored by the vector it has now), and a concept
    /// found twice (moved from the fresh tier into a graph meanwhile, or in a graph and the
    /// one that replaced it) counts once. A vector acknowledged before the plan was taken is
    /// in the plan's fresh chunks or in one of its graphs.
    ///
    /// Candidates are scored in order of the highest exact similarity their codes allow
    /// ([`Rounding`]), at most [`rescored`](Self::rescored) of them, and scoring stops once
    /// none left can beat the `k`-th exact score: the answer scoring them all would give.
    pub fn finish<'v>(
        &self,
        plan: &SearchPlan,
        found: Candidates,
        lookup: Lookup<'_, 'v>,
    ) -> Vec<(ConceptId, f32)> {
        let k = plan.k;
        let keep = |id: &ConceptId| plan.keeps(id);
        let current = |e: &Entry| {
            self.current
                .get(&e.id)
                .filter(|l| l.vseq == e.vseq)
                .map(|l| l.inv_norm)
        };
        // (the most its exact similarity can be, id, its vector's inverse norm), and ids that
        // are scored exactly whatever their rank.
        let mut approx: Vec<(f32, ConceptId, f32)> = Vec::new();
        let mut always: Vec<ConceptId> = match (&plan.among, plan.exact) {
            (Some(among), true) if k > 0 => among
                .iter()
                .filter(|id| keep(id) && self.current.get(id).is_some())
                .copied()
                .collect(),
            _ => Vec::new(),
        };
        for (planned, candidates) in plan.graphs.iter().zip(found.graphs) {
            let wanted = plan.wanted(planned.live);
            let valid: Option<Vec<(f32, ConceptId, f32)>> = candidates.map(|c| {
                c.iter()
                    .filter_map(|f| {
                        let most = plan.rounding.most(f.similarity, f.scale);
                        Some((most, f.entry.id, current(&f.entry)?))
                    })
                    .collect()
            });
            match valid {
                Some(valid) if valid.len() >= wanted => approx.extend(valid),
                // Too many stale entries or too large a k for the graph's candidate list:
                // answer exactly for this graph instead of returning fewer results than exist.
                _ => planned.graph.for_each(&mut |e| {
                    if current(&e).is_some() && keep(&e.id) {
                        always.push(e.id);
                    }
                }),
            }
        }
        approx.extend(found.fresh.into_iter().filter_map(|(id, similarity)| {
            let most = plan.rounding.most(similarity, found.fresh_scale);
            Some((most, id, self.current.get(&id)?.inv_norm))
        }));
        always.sort_unstable();
        always.dedup();
        // One candidate per concept (its highest bound), none of those scored anyway.
        approx.sort_unstable_by(|a, b| a.1.cmp(&b.1).then(b.0.total_cmp(&a.0)));
        approx.dedup_by_key(|a| a.1);
        approx.retain(|a| always.binary_search(&a.1).is_err());
        // Highest bound first, at most `rescored`.
        approx.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        approx.truncate(Self::rescored(k));
        let mut best = Best::new(k);
        for id in always {
            if let Some(score) = self.score(&id, &plan.unit, lookup) {
                best.offer(id, score);
            }
        }
        for (most, id, inv_norm) in approx {
            if best.worst().is_some_and(|worst| most < worst) {
                // Neither this candidate nor any after it can make the best `k`.
                break;
            }
            if let Some(score) = lookup(&id).and_then(|v| exact(v, &plan.unit, inv_norm)) {
                best.offer(id, score);
            }
        }
        best.into_sorted()
    }

    /// The most candidates scored exactly for a search of `k` (see [`rescored`]).
    pub fn rescored(k: usize) -> usize {
        rescored(k)
    }

    /// The exact answer over `vectors` (every concept's embedding, in any order), for tests and
    /// recall measurement: scored as [`search`](Self::search) scores, best first, ties by id.
    /// Reads the vectors in the order given (in concept order from the state, one sweep), not
    /// by looking each one up.
    pub fn search_exact<'v>(
        query: &[f32],
        k: usize,
        vectors: impl Iterator<Item = (ConceptId, &'v [f32])>,
    ) -> Vec<(ConceptId, f32)> {
        let inv = inv_norm(query);
        let unit: Vec<f32> = query.iter().map(|x| x * inv).collect();
        let mut best = Best::new(k);
        for (id, v) in vectors {
            if let Some(score) = exact(v, &unit, inv_norm(v)) {
                best.offer(id, score);
            }
        }
        best.into_sorted()
    }

    fn input<'v>(
        &self,
        ids: impl Iterator<Item = ConceptId>,
        work: Work,
        lookup: Lookup<'_, 'v>,
    ) -> SealInput {
        let mut ids: Vec<ConceptId> = ids.collect();
        ids.sort_unstable();
        let mut input = SealInput {
            entries: Vec::with_capacity(ids.len()),
            scales: Vec::with_capacity(ids.len()),
            codes: Vec::new(),
            dimension: 0,
            params: self.params,
            work,
        };
        for id in ids {
            let (Some(live), Some(vector)) = (self.current.get(&id), lookup(&id)) else {
                continue;
            };
            if input.entries.is_empty() {
                input.dimension = vector.len();
                input
                    .codes
                    .reserve_exact(vector.len() * input.scales.capacity());
            }
            input.entries.push(Entry {
                id,
                vseq: live.vseq,
            });
            input
                .scales
                .push(quantize(vector, live.inv_norm, &mut input.codes));
        }
        input
    }

    /// The first `take` vectors of the fresh tier as they are there (their codes already made:
    /// nothing to look up or quantize again).
    fn fresh_input(&self, take: usize, work: Work) -> SealInput {
        let d = self.fresh.dimension;
        let mut input = SealInput {
            entries: Vec::with_capacity(take),
            scales: Vec::with_capacity(take),
            codes: Vec::with_capacity(take * d),
            dimension: d,
            params: self.params,
            work,
        };
        for (id, scale, q) in self.fresh.entries().take(take) {
            let Some(live) = self.current.get(&id) else {
                continue;
            };
            input.entries.push(Entry {
                id,
                vseq: live.vseq,
            });
            input.scales.push(scale);
            input.codes.extend_from_slice(q);
        }
        input
    }

    /// A frozen, quantized copy of every live vector, to build one graph that replaces every
    /// segment.
    pub fn freeze<'v>(&self, lookup: Lookup<'_, 'v>) -> SealInput {
        let replaces = self
            .segments
            .iter()
            .map(|s| s.id)
            .chain(self.growing.iter().map(|g| g.id))
            .collect();
        self.input(
            self.current.keys().copied(),
            Work::Build { replaces },
            lookup,
        )
    }

    /// The next piece of background work, if any: packing the growing graph into a sealed
    /// segment once it is full or mostly stale; inserting the fresh tier into the growing graph
    /// once it holds `fresh_min` vectors (at most [`GROW_STEP_MAX`] at a time); absorbing a
    /// segment no larger than the growing graph into it; or else merging segments of similar
    /// size (or rebuilding one that is mostly stale). With [`SEGMENTS_SOFT_MAX`] segments or
    /// more, a due merge goes before an insertion.
    ///
    /// One piece at a time: the next is asked for once the last one is installed.
    pub fn freeze_next<'v>(&self, fresh_min: usize, lookup: Lookup<'_, 'v>) -> Option<SealInput> {
        if let Some(g) = self.retire_due() {
            return Some(SealInput {
                entries: Vec::new(),
                scales: Vec::new(),
                codes: Vec::new(),
                dimension: g.graph.dimension(),
                params: self.params,
                work: Work::Retire {
                    id: g.id,
                    graph: g.graph.clone(),
                },
            });
        }
        let merge = self.merge_due();
        let merge_first = merge.is_some() && self.segments.len() >= SEGMENTS_SOFT_MAX;
        if self.fresh.len() >= fresh_min.max(1) && !merge_first {
            if let Some(g) = &self.growing {
                let room = g.graph.chunks_left() * CHUNK;
                let take = self.fresh.len().min(GROW_STEP_MAX).min(room);
                let work = Work::Grow {
                    id: g.id,
                    graph: g.graph.clone(),
                };
                let input = self.fresh_input(take, work);
                // (Empty only if no fresh vector had a version, which the index rules out.)
                return (!input.is_empty()).then_some(input);
            }
        }
        if let Some((g, s)) = self.absorb_due() {
            let ids = self.valid_ids(s);
            let work = Work::Absorb {
                id: g.id,
                graph: g.graph.clone(),
                from: s.id,
            };
            return Some(self.input(ids.into_iter(), work, lookup));
        }
        let merge = merge?;
        let ids: Vec<ConceptId> = self
            .segments
            .iter()
            .filter(|s| merge.contains(&s.id))
            .flat_map(|s| self.valid_ids(s))
            .collect();
        Some(self.input(ids.into_iter(), Work::Build { replaces: merge }, lookup))
    }

    /// The concepts whose current vectors segment `s` holds.
    fn valid_ids(&self, s: &Segment) -> Vec<ConceptId> {
        let mut ids = Vec::with_capacity(s.live);
        s.graph.for_each(&mut |e| {
            if self.valid(&e, s.id) {
                ids.push(e.id);
            }
        });
        ids
    }

    /// The segment due to be absorbed into the growing graph, if any: the smallest, if it is
    /// no larger than the growing graph and its current vectors fit in the room left there.
    /// Its vectors are inserted into the growing graph (each costs about what building it
    /// into a merged segment would, and a growing graph's insertions make a better graph than
    /// the merges' builds), and the segment goes. Segments come from restarts before the
    /// growing graph was resumed, builds of everything, and packed graphs: absorbed, they
    /// stop costing every query a search of their own.
    fn absorb_due(&self) -> Option<(&GrowingSegment, &Segment)> {
        let g = self.growing.as_ref()?;
        let s = self.segments.iter().min_by_key(|s| (s.graph.len(), s.id))?;
        let fits = s.live <= g.graph.chunks_left() * CHUNK;
        (s.graph.len() <= g.graph.len() && fits).then_some((g, s))
    }

    /// The growing graph, if it is due to be packed into a segment: full, or mostly stale.
    fn retire_due(&self) -> Option<&GrowingSegment> {
        self.growing.as_ref().filter(|g| {
            let nodes = g.graph.len();
            let full = g.graph.chunks_left() == 0;
            let stale = nodes >= MERGE_GARBAGE_MIN && g.live * 2 < nodes;
            nodes > 0 && (full || stale)
        })
    }

    /// Whether work on the graphs themselves is due — packing the growing graph, absorbing a
    /// segment into it, or a merge — which, unlike indexing fresh vectors, waits for nothing
    /// (e.g. segments a snapshot stored, due to be absorbed or merged when it is opened).
    pub fn graph_work_due(&self) -> bool {
        self.retire_due().is_some() || self.absorb_due().is_some() || self.merge_due().is_some()
    }

    /// Segments due for a merge: a mostly stale one alone, or the smallest run of
    /// [`MERGE_FANOUT`] segments whose sizes are within [`MERGE_SIZE_RATIO`] of each other, or
    /// with [`SEGMENTS_SOFT_MAX`] segments or more the [`MERGE_FANOUT`] smallest.
    fn merge_due(&self) -> Option<Vec<u32>> {
        if let Some(s) = self
            .segments
            .iter()
            .find(|s| s.graph.len() >= MERGE_GARBAGE_MIN && s.live * 2 < s.graph.len())
        {
            return Some(vec![s.id]);
        }
        let mut by_size: Vec<(usize, u32)> = self
            .segments
            .iter()
            .map(|s| (s.graph.len(), s.id))
            .collect();
        by_size.sort_unstable();
        let similar = by_size.windows(MERGE_FANOUT).find_map(|run| {
            let (smallest, largest) = (run[0].0.max(1), run[MERGE_FANOUT - 1].0);
            (largest < smallest * MERGE_SIZE_RATIO).then(|| run.iter().map(|r| r.1).collect())
        });
        // Too many segments and none of similar size (seals of very different sizes): the
        // smallest ones merge anyway, so that their number stays bounded.
        similar.or_else(|| {
            (by_size.len() >= SEGMENTS_SOFT_MAX)
                .then(|| by_size[..MERGE_FANOUT].iter().map(|r| r.1).collect())
        })
    }

    /// Installs what [`SealInput::build`] made of a [`freeze`](Self::freeze) or
    /// [`freeze_next`](Self::freeze_next): a graph, replacing the segments it was built from;
    /// vectors inserted into the growing graph, which leave the fresh tier; or the growing graph
    /// packed, which becomes a segment. Vectors written, replaced or deleted since the freeze
    /// stay correct: the fresh tier keeps what no segment holds at its current version. Returns
    /// false (and changes nothing) if a segment it replaces is gone, i.e. another install
    /// overtook it.
    pub fn install<'v>(&mut self, built: Built, lookup: Lookup<'_, 'v>) -> bool {
        let installed = self.install_built(built, lookup);
        self.installs += u64::from(installed);
        installed
    }

    /// Builds installed since this index was made or loaded.
    pub fn installs(&self) -> u64 {
        self.installs
    }

    fn install_built<'v>(&mut self, built: Built, lookup: Lookup<'_, 'v>) -> bool {
        match built.kind {
            BuiltKind::Segment(graph) => self.install_segment(graph, lookup),
            BuiltKind::Grown { id, entries } => {
                if self.growing.as_ref().is_none_or(|g| g.id != id) {
                    return false;
                }
                let mut claimed = 0;
                for e in entries {
                    let Some(l) = self.current.get(&e.id).copied() else {
                        continue;
                    };
                    // Replaced or deleted since the freeze: the node stands for nothing.
                    let Some(slot) = l.fresh_slot().filter(|_| l.vseq == e.vseq) else {
                        continue;
                    };
                    self.fresh_remove(slot);
                    if let Some(l) = self.current.get_mut(&e.id) {
                        l.place = SEALED | id;
                    }
                    claimed += 1;
                }
                if let Some(g) = self.growing.as_mut() {
                    g.live += claimed;
                }
                self.sealed_live += claimed;
                true
            }
            BuiltKind::Absorbed { id, from, entries } => {
                let growing = self.growing.as_ref().is_some_and(|g| g.id == id);
                if !growing || !self.segments.iter().any(|s| s.id == from) {
                    return false;
                }
                let mut claimed = 0;
                for e in entries {
                    let Some(l) = self.current.get_mut(&e.id) else {
                        continue;
                    };
                    // Replaced or deleted since the freeze: the node stands for nothing.
                    if l.vseq == e.vseq && l.segment() == Some(from) {
                        l.place = SEALED | id;
                        claimed += 1;
                    }
                }
                if let Some(g) = self.growing.as_mut() {
                    g.live += claimed;
                }
                self.return_to_fresh(&[from], lookup);
                self.segments.retain(|s| s.id != from);
                true
            }
            BuiltKind::Retired { id, sealed } => {
                let Some(g) = self.growing.take_if(|g| g.id == id) else {
                    return false;
                };
                self.segments.push(Segment {
                    id,
                    graph: Arc::new(sealed),
                    live: g.live,
                });
                // The fresh tier goes on into a new one.
                self.ensure_growing(g.graph.dimension());
                true
            }
        }
    }

    /// Puts back into the fresh tier, rather than let them vanish, the current vectors still
    /// placed in segments that are going (not expected: what replaces a segment was frozen from
    /// it, and a vector replaced since is in the fresh tier already).
    fn return_to_fresh<'v>(&mut self, going: &[u32], lookup: Lookup<'_, 'v>) {
        let orphans: Vec<ConceptId> = self
            .current
            .iter()
            .filter(|(_, l)| l.segment().is_some_and(|s| going.contains(&s)))
            .map(|(cid, _)| *cid)
            .collect();
        for cid in orphans {
            self.sealed_live -= 1;
            if let Some(v) = lookup(&cid) {
                self.fresh_add(cid, v);
            }
        }
    }

    pub(super) fn install_segment<'v>(&mut self, graph: Sealed, lookup: Lookup<'_, 'v>) -> bool {
        let replaces = graph.replaces.clone();
        let growing = self.growing.as_ref().map(|g| g.id);
        if !replaces
            .iter()
            .all(|id| self.segments.iter().any(|s| s.id == *id) || growing == Some(*id))
        {
            return false;
        }
        self.segments.retain(|s| !replaces.contains(&s.id));
        if growing.is_some_and(|g| replaces.contains(&g)) {
            // (A new one starts with the next vector indexed, or the first orphan below.)
            self.growing = None;
        }
        let id = self.new_segment_id();
        let mut claimed = Vec::new();
        graph.for_each(&mut |e| {
            if self.current.get(&e.id).is_some_and(|l| l.vseq == e.vseq) {
                claimed.push(e.id);
            }
        });
        let live = claimed.len();
        for cid in claimed {
            let Some(l) = self.current.get(&cid).copied() else {
                continue;
            };
            if let Some(old) = l.segment() {
                // Moves from a segment this graph does not replace (two rebuilds overlapped).
                if !replaces.contains(&old) {
                    if let Some(live) = self.live_mut(old) {
                        *live -= 1;
                    }
                }
            } else if let Some(slot) = l.fresh_slot() {
                self.fresh_remove(slot);
                self.sealed_live += 1;
            }
            if let Some(l) = self.current.get_mut(&cid) {
                l.place = SEALED | id;
            }
        }
        if !replaces.is_empty() {
            self.return_to_fresh(&replaces, lookup);
        }
        self.segments.push(Segment {
            id,
            graph: Arc::new(graph),
            live,
        });
        true
    }
}

/// The exact cosine similarity of `vector` (whose inverse norm is `inv_norm`) to the unit vector
/// `unit`.
fn exact(vector: &[f32], unit: &[f32], inv_norm: f32) -> Option<f32> {
    cosine(dot(vector, unit) * inv_norm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vector::code::similarity;
    use crate::vector::image::*;

    fn v(x: f32, y: f32) -> Vec<f32> {
        vec![x, y]
    }

    /// The concepts' embeddings, which the index looks vectors up in.
    #[derive(Default)]
    struct Store(rustc_hash::FxHashMap<ConceptId, Vec<f32>>);

    impl Store {
        fn put(&mut self, index: &mut VectorIndex, id: ConceptId, vector: Vec<f32>) {
            index.upsert(id, &vector);
            self.0.insert(id, vector);
        }
        fn remove(&mut self, index: &mut VectorIndex, id: ConceptId) {
            index.remove(&id);
            self.0.remove(&id);
        }
        fn vectors(&self) -> impl Iterator<Item = (ConceptId, &[f32])> {
            self.0.iter().map(|(id, v)| (*id, v.as_slice()))
        }
        fn lookup<'s>(&'s self) -> impl Fn(&ConceptId) -> Option<&'s [f32]> + 's {
            |id| self.0.get(id).map(Vec::as_slice)
        }
    }

    #[test]
    fn best_keeps_the_k_best_with_ties_to_the_lower_id() {
        let mut rng = crate::storage::sim::Rng::new(8);
        for k in [0, 1, 3, 10, 50] {
            // Similarities from a small set, so ties are common.
            let offered: Vec<(ConceptId, f32)> = (0..40)
                .map(|i| {
                    (
                        ConceptId(rng.below(1000) as u128 * 64 + i),
                        rng.below(6) as f32 / 5.0,
                    )
                })
                .collect();
            let mut best = Best::new(k);
            for (id, sim) in &offered {
                best.offer(*id, *sim);
            }
            let mut expected = offered.clone();
            expected.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            expected.truncate(k);
            assert_eq!(best.into_sorted(), expected, "k = {k}");
        }
    }

    #[test]
    fn codes_approximate_cosine_distance() {
        let a: Vec<f32> = (0..128).map(|i| (i as f32 * 0.7).sin() * 3.0).collect();
        let b: Vec<f32> = (0..128).map(|i| (i as f32 * 0.2).cos()).collect();
        let (ia, ib) = (inv_norm(&a), inv_norm(&b));
        let exact = 1.0 - dot(&a, &b) * ia * ib;
        let (ca, cb) = (Code::new(&a, ia), Code::new(&b, ib));
        let coded = 1.0 - similarity(ca.scale, &ca.q, cb.scale, &cb.q);
        assert!((exact - coded).abs() < 0.01, "{exact} vs {coded}");
        assert!((1.0 - similarity(ca.scale, &ca.q, ca.scale, &ca.q)).abs() < 0.01);
    }

    #[test]
    fn fresh_sealed_and_stale_entries_merge_correctly() {
        let mut index = VectorIndex::new(HnswParams::default());
        let mut store = Store::default();
        let ids: Vec<ConceptId> = (1..=4).map(ConceptId).collect();
        store.put(&mut index, ids[0], v(1.0, 0.0));
        store.put(&mut index, ids[1], v(0.0, 1.0));
        store.put(&mut index, ids[2], v(1.0, 1.0));
        let frozen = index.freeze(&store.lookup());
        // Written while the build runs: must stay visible after install.
        store.put(&mut index, ids[3], v(1.0, 0.1));
        store.put(&mut index, ids[1], v(1.0, 0.05)); // re-embedded
        store.remove(&mut index, ids[2]);
        index.install(frozen.build().expect("build"), &store.lookup());
        let counts = index.counts();
        assert_eq!(
            counts,
            VectorCounts {
                sealed: 1,
                fresh: 2,
                stale: 2,
                segments: 1
            }
        );
        let hits = index.search(&v(1.0, 0.0), 10, None, &store.lookup());
        let order: Vec<ConceptId> = hits.iter().map(|h| h.0).collect();
        assert_eq!(order, vec![ids[0], ids[1], ids[3]]);
        assert!((hits[0].1 - 1.0).abs() < 1e-6);
        // Scores are exact cosines, not the codes' approximations.
        let expected = 1.0 / (1.0f32 + 0.05 * 0.05).sqrt();
        assert!((hits[1].1 - expected).abs() < 1e-6, "{}", hits[1].1);
        assert_eq!(
            index
                .search(&v(1.0, 0.0), 10, Some(ids[0]), &store.lookup())
                .len(),
            2
        );
    }

    fn image_bytes(n: u64) -> Vec<u8> {
        let mut index = VectorIndex::new(HnswParams::default());
        let mut store = Store::default();
        for i in 0..n {
            let x = i as f32;
            store.put(
                &mut index,
                ConceptId(u128::from(i)),
                vec![x.sin() + 1.5, x.cos(), (x * 0.3).sin()],
            );
        }
        let sealed = index.freeze(&store.lookup()).build().expect("build");
        index.install(sealed, &store.lookup());
        postcard::to_allocvec(&index.image()).expect("encode")
    }

    #[test]
    fn stored_images_decode_with_their_dimension_checked() {
        for n in [0, 1, 5, 300] {
            let bytes = image_bytes(n);
            let image = decode_image(&bytes, Some(3)).expect("a real graph passes the checks");
            let sizes: Vec<usize> = image.segments.iter().map(|s| s.graph.len()).collect();
            assert_eq!(sizes, vec![n as usize]);
            let again = postcard::to_allocvec(&IndexImage {
                segments: image.segments.iter().collect(),
                current: image.current.clone(),
                next_vseq: image.next_vseq,
            })
            .expect("encode");
            assert_eq!(again, bytes, "decoding and encoding again changes nothing");
        }
        let err = decode_image(&image_bytes(5), Some(4)).err();
        assert_eq!(
            err.as_deref(),
            Some("vector graph holds points of dimension 3, expected 4")
        );
        let mut trailing = image_bytes(5);
        trailing.push(0);
        assert_eq!(
            decode_image(&trailing, Some(3)).err().as_deref(),
            Some("vector index section has 1 trailing bytes")
        );
    }

    fn point(rng: &mut crate::storage::sim::Rng) -> Vec<f32> {
        (0..8).map(|_| rng.unit_f32() - 0.5).collect()
    }

    /// Runs every piece of background indexing there is.
    fn index_all(index: &mut VectorIndex, store: &Store, fresh_min: usize) -> usize {
        let mut steps = 0;
        while let Some(input) = index.freeze_next(fresh_min, &store.lookup()) {
            assert!(index.install(input.build().expect("build"), &store.lookup()));
            steps += 1;
            assert!(steps < 1000, "background indexing does not settle");
        }
        steps
    }

    /// The index's checker passes through indexing, packing and changes, and finds what
    /// breaks its rules: a wrong count of live entries, a fresh slot holding another id, an
    /// inverse norm that is not the embedding's, a graph neighbour outside its layer.
    #[test]
    fn the_checker_passes_through_changes_and_finds_broken_rules() {
        let mut rng = crate::storage::sim::Rng::new(41);
        let mut index = VectorIndex::new(HnswParams::default());
        let mut store = Store::default();
        for i in 0..3000u128 {
            store.put(&mut index, ConceptId(i), point(&mut rng));
            if i % 500 == 499 {
                index_all(&mut index, &store, 400);
                assert_eq!(index.check(&store.lookup()), Ok(()), "after {i}");
            }
        }
        for i in (0..3000u128).step_by(7) {
            store.remove(&mut index, ConceptId(i));
        }
        for i in (1..3000u128).step_by(11) {
            store.put(&mut index, ConceptId(i), point(&mut rng));
        }
        assert_eq!(index.check(&store.lookup()), Ok(()));
        index.sealed_live += 1;
        assert!(index.check(&store.lookup()).is_err());
        index.sealed_live -= 1;
        let moved = index
            .current
            .iter()
            .find(|(_, l)| l.fresh_slot().is_some())
            .map(|(id, _)| *id);
        if let Some(id) = moved {
            let vector = store.0.get(&id).cloned().expect("vector");
            store
                .0
                .insert(id, vector.iter().map(|x| x * 2.0 + 1.0).collect());
            assert!(index
                .check(&store.lookup())
                .expect_err("norm")
                .contains("inverse norm"));
            store.0.insert(id, vector);
        }
        let swap = |index: &mut VectorIndex| {
            if let Some(chunk) = index.fresh.chunks.first_mut() {
                Arc::make_mut(chunk).ids.swap(0, 1);
            }
        };
        swap(&mut index);
        assert!(index
            .check(&store.lookup())
            .expect_err("slot")
            .contains("fresh slot"));
        swap(&mut index);
        assert_eq!(index.check(&store.lookup()), Ok(()));
    }

    /// A search that started before the index changed (the writer applied writes, the indexer
    /// installed its work, segments were packed and replaced) finishes with what is true now:
    /// every vector written before it began is found, nothing deleted or re-embedded meanwhile
    /// comes back for its old code, no concept twice, every score exact for the vector the
    /// concept has now.
    #[test]
    fn a_search_started_before_changes_finishes_with_the_index_as_it_is_now() {
        let mut rng = crate::storage::sim::Rng::new(21);
        let mut index = VectorIndex::with_growing_chunks(HnswParams::default(), 1);
        let mut store = Store::default();
        let mut next = 0u128;
        // Some vectors in the growing graph, some in the fresh tier (several chunks of it).
        for _ in 0..600 {
            next += 1;
            store.put(&mut index, ConceptId(next), point(&mut rng));
        }
        index_all(&mut index, &store, 1);
        for _ in 0..2_500 {
            next += 1;
            store.put(&mut index, ConceptId(next), point(&mut rng));
        }
        assert!(index.counts().fresh as usize > 2 * FRESH_CHUNK);
        for round in 0..40u128 {
            // A query equal to one vector in the fresh tier (the last ones written are there).
            let target = ConceptId(next - round * 7);
            let query = store.0[&target].clone();
            let plan = index.plan(&query, 10, None, None, None);
            let found = plan.run();
            let best_before: Vec<ConceptId> = index
                .search(&query, 10, None, &store.lookup())
                .into_iter()
                .map(|(id, _)| id)
                .collect();
            // Meanwhile: the fresh tier goes into the graph (and, as it fills, the graph is
            // packed into a segment), one of the answers is deleted, another re-embedded far
            // away, and new vectors arrive.
            index_all(&mut index, &store, 1);
            let deleted = best_before[1];
            store.remove(&mut index, deleted);
            let moved = best_before[2];
            let far: Vec<f32> = query.iter().map(|x| -x).collect();
            store.put(&mut index, moved, far);
            for _ in 0..50 {
                next += 1;
                store.put(&mut index, ConceptId(next), point(&mut rng));
            }
            let hits = index.finish(&plan, found, &store.lookup());
            assert_eq!(hits[0].0, target, "round {round}: the vector itself first");
            assert!((hits[0].1 - 1.0).abs() < 1e-5, "round {round}");
            let ids: std::collections::BTreeSet<ConceptId> = hits.iter().map(|h| h.0).collect();
            assert_eq!(ids.len(), hits.len(), "round {round}: a concept twice");
            assert!(!ids.contains(&deleted), "round {round}: deleted meanwhile");
            assert!(!ids.contains(&moved), "round {round}: re-embedded far away");
            for (id, score) in &hits {
                let v = &store.0[id];
                let exact = dot(v, &query) * inv_norm(v) * inv_norm(&query);
                assert!(
                    (score - exact).abs() < 1e-5,
                    "round {round}: {id:?} scored {score}, is {exact}"
                );
            }
            // The rest of the answer is what a search from scratch gives, but for the two.
            let now: Vec<ConceptId> = index
                .search(&query, 12, None, &store.lookup())
                .into_iter()
                .map(|(id, _)| id)
                .filter(|id| best_before.contains(id))
                .collect();
            for id in &now {
                assert!(ids.contains(id), "round {round}: {id:?} missing");
            }
        }
    }

    /// A search's fresh chunks stay as they were when it began, whatever the writer does to
    /// the tier meanwhile (it copies a chunk a search still holds), and the tier itself keeps
    /// every slot right through pushes and removals across chunk boundaries.
    #[test]
    fn fresh_chunks_a_search_holds_are_copied_not_changed() {
        let code = |x: f32| Code::new(&[x, 1.0, 0.5, 0.25], 1.0);
        let mut fresh = Fresh::default();
        let total = 3 * FRESH_CHUNK + 10;
        for i in 0..total {
            assert_eq!(fresh.push(ConceptId(i as u128), code(i as f32)), i as u32);
        }
        let held = fresh.chunks.clone();
        let before: Vec<(ConceptId, f32)> =
            scan_entries(&held, 4).map(|(id, s, _)| (id, s)).collect();
        // Remove from the first chunk (the last entry moves there), from the last, and past
        // the end (refused).
        assert_eq!(fresh.swap_remove(5), Some(ConceptId(total as u128 - 1)));
        assert_eq!(fresh.swap_remove(total - 2), None);
        assert_eq!(fresh.swap_remove(total), None);
        fresh.push(ConceptId(99_999), code(-1.0));
        assert_eq!(fresh.len(), total - 1);
        let after: Vec<(ConceptId, f32, Vec<i8>)> = fresh
            .entries()
            .map(|(id, s, q)| (id, s, q.to_vec()))
            .collect();
        assert_eq!(after.len(), total - 1);
        assert_eq!(after[5].0, ConceptId(total as u128 - 1));
        assert_eq!(after[5].2, code((total - 1) as f32).q);
        assert_eq!(after[total - 2].0, ConceptId(99_999));
        // What the search holds is untouched.
        let still: Vec<(ConceptId, f32)> =
            scan_entries(&held, 4).map(|(id, s, _)| (id, s)).collect();
        assert_eq!(still, before);
        // Emptying it drops every chunk.
        while fresh.len() > 0 {
            fresh.swap_remove(0);
        }
        assert!(fresh.chunks.is_empty());
    }

    #[test]
    fn new_vectors_grow_one_graph_that_is_packed_once_mostly_stale() {
        let mut rng = crate::storage::sim::Rng::new(7);
        let mut index = VectorIndex::new(HnswParams::default());
        let mut store = Store::default();
        let mut next = 0u128;
        for round in 0..16 {
            for _ in 0..100 {
                next += 1;
                store.put(&mut index, ConceptId(next), point(&mut rng));
            }
            assert_eq!(index_all(&mut index, &store, 100), 1, "round {round}");
            assert_eq!(
                index.counts(),
                VectorCounts {
                    sealed: next as u64,
                    fresh: 0,
                    stale: 0,
                    segments: 1
                },
                "round {round}"
            );
        }
        // Every vector is found by its own.
        for id in (1..=1_600u128).step_by(37) {
            let own = store.0[&ConceptId(id)].clone();
            assert_eq!(
                index.search(&own, 1, None, &store.lookup())[0].0,
                ConceptId(id)
            );
        }
        // Deleting most of it: packed into a segment, which is then rebuilt on its own.
        for id in 1..=1_200u128 {
            store.remove(&mut index, ConceptId(id));
        }
        assert_eq!(index.counts().stale, 1_200);
        assert_eq!(index_all(&mut index, &store, 100), 2);
        assert_eq!(
            index.counts(),
            VectorCounts {
                sealed: 400,
                fresh: 0,
                stale: 0,
                segments: 1
            }
        );
        // New vectors start a new growing graph beside it.
        for _ in 0..100 {
            next += 1;
            store.put(&mut index, ConceptId(next), point(&mut rng));
        }
        assert_eq!(index_all(&mut index, &store, 100), 1);
        assert_eq!(
            index.counts(),
            VectorCounts {
                sealed: 500,
                fresh: 0,
                stale: 0,
                segments: 2
            }
        );
        let own = store.0[&ConceptId(next)].clone();
        assert_eq!(
            index.search(&own, 1, None, &store.lookup())[0].0,
            ConceptId(next)
        );
    }

    /// A snapshot stores the growing graph packed, as a segment; restored, it is the growing
    /// graph again and holds what it held, and the vectors still in the fresh tier at the
    /// snapshot stay there. Restarts leave no segments behind: what is indexed after each one
    /// goes on into the same graph.
    #[test]
    fn the_growing_graph_is_stored_packed_and_resumed_after_a_restart() {
        let mut rng = crate::storage::sim::Rng::new(17);
        let mut index = VectorIndex::new(HnswParams::default());
        let mut store = Store::default();
        for i in 1..=1_500u128 {
            store.put(&mut index, ConceptId(i), point(&mut rng));
        }
        index_all(&mut index, &store, 1);
        // Replaced and deleted after the insertion: stale nodes in the graph.
        for i in 1..=50u128 {
            store.put(&mut index, ConceptId(i), point(&mut rng));
        }
        for i in 51..=80u128 {
            store.remove(&mut index, ConceptId(i));
        }
        let before = index.counts();
        assert_eq!(
            before,
            VectorCounts {
                sealed: 1_420,
                fresh: 50,
                stale: 80,
                segments: 1
            }
        );
        let bytes = postcard::to_allocvec(&index.image()).expect("encode");
        let image = decode_image(&bytes, Some(8)).expect("decode");
        assert_eq!(image.segments.len(), 1);
        assert_eq!(image.segments[0].graph.len(), 1_500);
        let mut embeddings: Vec<(ConceptId, &[f32])> = store.vectors().collect();
        embeddings.sort_unstable_by_key(|e| e.0);
        let restored = VectorIndex::restore(
            HnswParams::default(),
            image,
            embeddings.iter().map(|(id, v)| (*id, *v)),
        )
        .expect("restore");
        assert_eq!(restored.counts(), before);
        for _ in 0..30 {
            let q = point(&mut rng);
            assert_eq!(
                restored.search(&q, 10, None, &store.lookup()),
                index.search(&q, 10, None, &store.lookup())
            );
        }
        for i in [1u128, 50, 81, 700, 1_500] {
            let own = store.0[&ConceptId(i)].clone();
            assert_eq!(
                restored.search(&own, 1, None, &store.lookup())[0].0,
                ConceptId(i)
            );
        }
        let growing = |index: &VectorIndex| index.growing.as_ref().map(|g| g.graph.len());
        assert_eq!(
            growing(&restored),
            Some(1_500),
            "resumed as the growing graph"
        );
        assert!(restored.segments.is_empty());
        // Four more runs, each writing 500 vectors and indexing them before it stops.
        let mut index = restored;
        let mut next = 1_500u128;
        for run in 0..4 {
            for _ in 0..500 {
                next += 1;
                store.put(&mut index, ConceptId(next), point(&mut rng));
            }
            index_all(&mut index, &store, 1);
            let before = index.counts();
            index = restarted(&index, &store);
            assert_eq!(index.counts(), before, "run {run}");
            assert_eq!(index.counts().segments, 1, "run {run}: one graph");
            assert_eq!(index.check(&store.lookup()), Ok(()), "run {run}");
        }
        assert_eq!(growing(&index), Some(3_550));
        assert_eq!(index.counts().fresh, 0);
        for i in [1u128, 700, 1_501, 2_777, 3_500] {
            let own = store.0[&ConceptId(i)].clone();
            assert_eq!(
                index.search(&own, 1, None, &store.lookup())[0].0,
                ConceptId(i)
            );
        }
    }

    #[test]
    fn full_growing_graphs_become_segments_that_merge_by_size() {
        let mut rng = crate::storage::sim::Rng::new(7);
        // One chunk: each round's hundred fill a growing graph, which is then packed.
        let mut index = VectorIndex::with_growing_chunks(HnswParams::default(), 1);
        let mut store = Store::default();
        let mut next = 0u128;
        for round in 0..16 {
            for _ in 0..100 {
                next += 1;
                store.put(&mut index, ConceptId(next), point(&mut rng));
            }
            index_all(&mut index, &store, 100);
            let counts = index.counts();
            assert_eq!(counts.fresh, 0, "round {round}");
            assert_eq!(counts.sealed, next as u64, "round {round}");
            assert!(
                counts.segments <= 3 * 3,
                "round {round}: {} segments: merges keep them few",
                counts.segments
            );
        }
        // 16 seals of 100: merged by fours into one of 1,600.
        assert_eq!(index.counts().segments, 1);
        // Deleting most of a segment makes it due for a rebuild on its own.
        for id in 1..=1_200u128 {
            store.remove(&mut index, ConceptId(id));
        }
        assert_eq!(index.counts().stale, 1_200);
        assert_eq!(index_all(&mut index, &store, 100), 1);
        assert_eq!(
            index.counts(),
            VectorCounts {
                sealed: 400,
                fresh: 0,
                stale: 0,
                segments: 1
            }
        );
    }

    /// Vectors arriving faster than they are indexed: a seal is due before every step, yet the
    /// merges still happen once there are enough segments, so their number stays bounded.
    #[test]
    fn a_seal_always_due_does_not_starve_merges() {
        let mut rng = crate::storage::sim::Rng::new(5);
        let mut index = VectorIndex::with_growing_chunks(HnswParams::default(), 1);
        let mut store = Store::default();
        let mut next = 0u128;
        let mut merges = 0;
        for step in 0..60 {
            for _ in 0..50 {
                next += 1;
                store.put(&mut index, ConceptId(next), point(&mut rng));
            }
            // One step of background work per arrival of 50 (always at least 50 fresh).
            let input = index
                .freeze_next(50, &store.lookup())
                .expect("a seal is always due");
            merges += usize::from(input.is_merge());
            assert!(index.install(input.build().expect("build"), &store.lookup()));
            assert!(
                index.counts().segments <= SEGMENTS_SOFT_MAX as u64,
                "step {step}: {} segments",
                index.counts().segments
            );
        }
        // 30 growing graphs packed into segments, at most 8 left: at least 7 merges of four.
        assert!(merges >= 7, "merges happened {merges} times");
        let counts = index.counts();
        assert_eq!(counts.sealed + counts.fresh, next as u64);
    }

    /// Seals each 1.6 times larger than the last: no four segments are of similar size, yet
    /// their number stays bounded.
    #[test]
    fn segments_of_very_different_sizes_still_merge() {
        let mut rng = crate::storage::sim::Rng::new(9);
        let mut index = VectorIndex::with_growing_chunks(HnswParams::default(), 2);
        let mut store = Store::default();
        let mut next = 0u128;
        let mut arrival = 40.0f64;
        for step in 0..11 {
            for _ in 0..arrival as usize {
                next += 1;
                store.put(&mut index, ConceptId(next), point(&mut rng));
            }
            arrival *= 1.6;
            index_all(&mut index, &store, 1);
            assert!(
                index.counts().segments < SEGMENTS_SOFT_MAX as u64,
                "step {step}: {} segments",
                index.counts().segments
            );
        }
        assert_eq!(index.counts().sealed, next as u64);
    }

    #[test]
    fn search_across_segments_matches_exact_search_through_changes() {
        let mut rng = crate::storage::sim::Rng::new(11);
        let mut index = VectorIndex::with_growing_chunks(HnswParams::default(), 2);
        let mut store = Store::default();
        for step in 0..1_500u128 {
            let id = ConceptId(1 + rng.below(600) as u128);
            if rng.chance(15) {
                store.remove(&mut index, id);
            } else {
                store.put(&mut index, id, point(&mut rng));
            }
            if step % 97 == 0 {
                index_all(&mut index, &store, 50);
            }
        }
        assert!(index.counts().segments >= 2, "{:?}", index.counts());
        for _ in 0..50 {
            let q = point(&mut rng);
            let k = 1 + rng.below(20) as usize;
            let approx = index.search(&q, k, None, &store.lookup());
            let exact = VectorIndex::search_exact(&q, k, store.vectors());
            // Small segments: the graphs find everything, so the answers agree exactly.
            assert_eq!(approx, exact);
            let ids: std::collections::BTreeSet<ConceptId> = approx.iter().map(|h| h.0).collect();
            assert_eq!(ids.len(), approx.len(), "a concept listed twice");
        }
    }

    #[test]
    fn an_overtaken_install_changes_nothing() {
        let mut index = VectorIndex::new(HnswParams::default());
        let mut store = Store::default();
        for i in 1..=8u128 {
            store.put(&mut index, ConceptId(i), v(i as f32, 1.0));
            if i % 2 == 0 {
                index_all(&mut index, &store, 1);
            }
        }
        let merge = index.freeze_next(100, &store.lookup());
        assert!(
            merge.is_none(),
            "four segments of two, then merged: nothing due"
        );
        let full = index.freeze(&store.lookup());
        // Another full rebuild installs first: the older one's segments are gone.
        let other = index.freeze(&store.lookup()).build().expect("build");
        assert!(index.install(other, &store.lookup()));
        let before = index.counts();
        assert!(!index.install(full.build().expect("build"), &store.lookup()));
        assert_eq!(index.counts(), before);
    }

    /// The bound a search scores candidates by holds for every pair of codes — of vectors
    /// spread evenly and of vectors with one component far larger than the rest (whose codes
    /// are coarser) — and is tight enough to leave most candidates unscored.
    #[test]
    fn the_rounding_bound_holds_for_every_pair_of_codes() {
        let mut rng = crate::storage::sim::Rng::new(31);
        for (d, outlier) in [(384, 1.0), (384, 40.0), (32, 1.0), (1536, 10.0)] {
            let vector = |rng: &mut crate::storage::sim::Rng| -> Vec<f32> {
                let mut v: Vec<f32> = (0..d).map(|_| rng.unit_f32() - 0.5).collect();
                v[rng.below(d as u64) as usize] *= outlier;
                v
            };
            let points: Vec<Vec<f32>> = (0..60).map(|_| vector(&mut rng)).collect();
            let mut widest = 0f32;
            for _ in 0..20 {
                let query = vector(&mut rng);
                let inv = inv_norm(&query);
                let unit: Vec<f32> = query.iter().map(|x| x * inv).collect();
                let code = Code::new(&query, inv);
                let rounding = Rounding::of(&unit, &code);
                for p in &points {
                    let c = Code::new(p, inv_norm(p));
                    let approx = similarity(code.scale, &code.q, c.scale, &c.q);
                    let exact = dot(p, &unit) * inv_norm(p);
                    let room = rounding.most(approx, c.scale) - approx;
                    assert!(
                        (exact - approx).abs() <= room,
                        "{d}-d, outlier {outlier}: exact {exact}, approximate {approx}, bound {room}"
                    );
                    widest = widest.max(room);
                }
            }
            if outlier == 1.0 && d >= 384 {
                assert!(widest < 0.02, "{d}-d: a bound of {widest} scores too much");
            }
        }
    }

    /// A search scores exactly only the candidates whose bound can still reach its best `k`,
    /// and answers as if it had scored them all.
    #[test]
    fn only_candidates_that_can_make_the_best_k_are_scored() {
        let mut rng = crate::storage::sim::Rng::new(32);
        let centres: Vec<Vec<f32>> = (0..40)
            .map(|_| (0..32).map(|_| rng.unit_f32() * 2.0 - 1.0).collect())
            .collect();
        let mut index = VectorIndex::new(HnswParams::default());
        let mut store = Store::default();
        for i in 1..=3_000u128 {
            store.put(&mut index, ConceptId(i), clustered(&mut rng, &centres));
        }
        index_all(&mut index, &store, 1);
        assert_eq!(index.counts().fresh, 0);
        let (mut scored_all, mut searches) = (0, 0);
        for _ in 0..30 {
            let q = clustered(&mut rng, &centres);
            // A candidate list shorter than the most scored, so that every candidate could be.
            let ef = VectorIndex::rescored(10) - 4;
            let plan = index.plan(&q, 10, Some(ef), None, None);
            let found = plan.run();
            let candidates: Vec<ConceptId> = found
                .graphs
                .iter()
                .flatten()
                .flatten()
                .map(|f| f.entry.id)
                .collect();
            assert_eq!(candidates.len(), ef);
            let mut expected: Vec<(ConceptId, f32)> = candidates
                .iter()
                .map(|id| {
                    (
                        *id,
                        index.score(id, &plan.unit, &store.lookup()).expect("live"),
                    )
                })
                .collect();
            expected.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            expected.truncate(10);
            let looked_up = std::cell::Cell::new(0usize);
            let counting = |id: &ConceptId| {
                looked_up.set(looked_up.get() + 1);
                store.0.get(id).map(Vec::as_slice)
            };
            assert_eq!(index.finish(&plan, found, &counting), expected);
            assert!(looked_up.get() >= 10);
            scored_all += looked_up.get();
            searches += 1;
        }
        // Of 100 candidates, about 13 are scored here.
        assert!(
            scored_all < searches * 30,
            "{scored_all} scored in {searches} searches"
        );
    }

    #[test]
    fn a_large_fresh_tier_scanned_by_codes_still_answers_exactly() {
        let mut rng = crate::storage::sim::Rng::new(13);
        let mut index = VectorIndex::new(HnswParams::default());
        let mut store = Store::default();
        for i in 0..3_000u128 {
            let v: Vec<f32> = (0..32).map(|_| rng.unit_f32() - 0.5).collect();
            store.put(&mut index, ConceptId(i + 1), v);
        }
        assert_eq!(index.counts().fresh, 3_000);
        for _ in 0..50 {
            let q: Vec<f32> = (0..32).map(|_| rng.unit_f32() - 0.5).collect();
            assert_eq!(
                index.search(&q, 10, None, &store.lookup()),
                VectorIndex::search_exact(&q, 10, store.vectors())
            );
        }
        // A concept's own vector finds it first, as soon as it is written.
        let own = store.0[&ConceptId(1234)].clone();
        assert_eq!(
            index.search(&own, 1, None, &store.lookup())[0].0,
            ConceptId(1234)
        );
    }

    /// A filtered search returns only the filter's concepts, and the best of them: walking the
    /// graphs for a large filter (keeping the filter's points, widening through the others),
    /// scoring each of its concepts for a small one.
    #[test]
    fn filtered_searches_return_the_best_of_what_the_filter_keeps() {
        let mut rng = crate::storage::sim::Rng::new(34);
        let centres: Vec<Vec<f32>> = (0..40)
            .map(|_| (0..32).map(|_| rng.unit_f32() * 2.0 - 1.0).collect())
            .collect();
        let mut index = VectorIndex::new(HnswParams::default());
        let mut store = Store::default();
        let n = 15_000u128;
        for i in 1..=n {
            store.put(&mut index, ConceptId(i), clustered(&mut rng, &centres));
        }
        index_all(&mut index, &store, 1);
        assert_eq!(index.counts().fresh, 0);
        let queries: Vec<Vec<f32>> = (0..40).map(|_| clustered(&mut rng, &centres)).collect();
        // (one concept in `share` kept, whether the graphs are walked)
        for (share, walked) in [(2, true), (3, true), (50, false)] {
            let among: Arc<[ConceptId]> =
                (1..=n).filter(|i| i % share == 0).map(ConceptId).collect();
            let (mut matched, mut wanted) = (0, 0);
            for q in &queries {
                let plan = index.plan(q, 10, None, None, Some(among.clone()));
                assert_eq!(plan.exact, !walked, "one in {share}");
                assert_eq!(plan.graphs.is_empty(), !walked, "one in {share}");
                let found = plan.run();
                if walked {
                    // Each graph's beam is full of the filter's points, as long as unfiltered.
                    let unfiltered = index.plan(q, 10, None, None, None).run();
                    for (kept, all) in found.graphs.iter().zip(&unfiltered.graphs) {
                        let (kept, all) = (
                            kept.as_ref().expect("walked"),
                            all.as_ref().expect("walked"),
                        );
                        assert_eq!(kept.len(), all.len(), "one in {share}");
                        assert!(kept.iter().all(|f| f.entry.id.0 % share == 0));
                    }
                }
                let got = index.finish(&plan, found, &store.lookup());
                assert_eq!(got.len(), 10, "one in {share}");
                for (id, _) in &got {
                    assert_eq!(id.0 % share, 0, "{id} is not one in {share}");
                }
                let truth = VectorIndex::search_exact(
                    q,
                    10,
                    among.iter().map(|id| (*id, store.0[id].as_slice())),
                );
                if !walked {
                    assert_eq!(got, truth, "one in {share}: scored exactly");
                }
                matched += got.iter().filter(|g| truth.contains(g)).count();
                wanted += truth.len();
            }
            let recall = matched as f64 / wanted as f64;
            assert!(recall >= 0.95, "one in {share}: recall {recall}");
        }
        // Searching by a concept leaves it out of the filter's best too.
        let among: Arc<[ConceptId]> = (1..=n).filter(|i| i % 2 == 0).map(ConceptId).collect();
        let own = store.0[&ConceptId(10)].clone();
        let plan = index.plan(&own, 5, None, Some(ConceptId(10)), Some(among));
        let got = index.finish(&plan, plan.run(), &store.lookup());
        assert_eq!(got.len(), 5);
        assert!(got.iter().all(|(id, _)| id.0 % 2 == 0 && id.0 != 10));
    }

    /// Clustered 32-d points (40 centres, overlapping), so that a search of few candidates
    /// misses some of the best ten and recall says something.
    fn clustered(rng: &mut crate::storage::sim::Rng, centres: &[Vec<f32>]) -> Vec<f32> {
        let c = &centres[rng.below(centres.len() as u64) as usize];
        c.iter().map(|x| x + (rng.unit_f32() - 0.5) * 1.5).collect()
    }

    /// Recall@10 of the index's searches against an exhaustive search, each graph searched
    /// with `ef` candidates.
    fn recall_of(index: &VectorIndex, store: &Store, queries: &[Vec<f32>], ef: usize) -> f64 {
        let mut found = 0;
        for q in queries {
            let truth = VectorIndex::search_exact(q, 10, store.vectors());
            let plan = index.plan(q, 10, Some(ef), None, None);
            let got = index.finish(&plan, plan.run(), &store.lookup());
            found += got
                .iter()
                .filter(|(id, _)| truth.iter().any(|t| t.0 == *id))
                .count();
        }
        found as f64 / (10 * queries.len()) as f64
    }

    /// Search effort in the recall tests: low, so that recall is not always 1.
    const EF_LOW: usize = 12;

    /// An index as a version before the growing graph was resumed left it after `runs` runs
    /// of `per_run` vectors each: every run's growing graph packed into a segment of its own.
    fn piled_up(runs: usize, per_run: usize) -> (VectorIndex, Store, Vec<Vec<f32>>) {
        let mut rng = crate::storage::sim::Rng::new(23);
        let centres: Vec<Vec<f32>> = (0..40)
            .map(|_| (0..32).map(|_| rng.unit_f32() * 2.0 - 1.0).collect())
            .collect();
        let params = HnswParams::default();
        let mut index = VectorIndex::new(params);
        let mut store = Store::default();
        let mut next = 0u128;
        for _ in 0..runs {
            for _ in 0..per_run {
                next += 1;
                store.put(&mut index, ConceptId(next), clustered(&mut rng, &centres));
            }
            grow_all(&mut index, &store);
            let g = index.growing.take().expect("a growing graph");
            let graph = Sealed {
                graph: g.graph.to_graph(),
                params,
                replaces: Vec::new(),
            };
            index.segments.push(Segment {
                id: g.id,
                graph: Arc::new(graph),
                live: g.live,
            });
        }
        let queries = (0..200).map(|_| clustered(&mut rng, &centres)).collect();
        (index, store, queries)
    }

    /// Inserts the fresh tier into the growing graph, and does nothing else.
    fn grow_all(index: &mut VectorIndex, store: &Store) {
        while index.counts().fresh > 0 {
            let input = index.freeze_next(1, &store.lookup()).expect("work");
            assert!(matches!(input.work, Work::Grow { .. }));
            assert!(index.install(input.build().expect("build"), &store.lookup()));
        }
    }

    /// Stored and restored, as at a restart.
    fn restarted(index: &VectorIndex, store: &Store) -> VectorIndex {
        let bytes = postcard::to_allocvec(&index.image()).expect("encode");
        let image = decode_image(&bytes, None).expect("decode");
        let mut embeddings: Vec<(ConceptId, &[f32])> = store.vectors().collect();
        embeddings.sort_unstable_by_key(|e| e.0);
        VectorIndex::restore(
            index.params,
            image,
            embeddings.iter().map(|(id, v)| (*id, *v)),
        )
        .expect("restore")
    }

    /// Segments piled up by earlier restarts: at the next open the last becomes the growing
    /// graph again and the others are absorbed into it, work that is due without any write.
    /// One graph is left, which finds no less than the four did with the same candidates in
    /// all (four times as many from one graph).
    #[test]
    fn segments_left_by_restarts_are_absorbed_and_recall_does_not_drop() {
        let (index, store, queries) = piled_up(4, 1_500);
        assert_eq!(index.counts().segments, 4);
        let before = recall_of(&index, &store, &queries, EF_LOW);
        let mut index = restarted(&index, &store);
        assert_eq!(
            index.segments.len(),
            3,
            "the last one resumed as the growing graph"
        );
        assert!(
            index.graph_work_due(),
            "absorbing is due with nothing fresh"
        );
        assert_eq!(index_all(&mut index, &store, usize::MAX), 3);
        assert!(!index.graph_work_due());
        assert_eq!(
            index.counts(),
            VectorCounts {
                sealed: 6_000,
                fresh: 0,
                stale: 0,
                segments: 1
            }
        );
        assert_eq!(index.check(&store.lookup()), Ok(()));
        let after = recall_of(&index, &store, &queries, 4 * EF_LOW);
        assert!(
            after >= before,
            "recall@10 {before} from four graphs, {after} from one"
        );
    }

    /// A merge of segments of similar size (larger than the growing graph, so not absorbed)
    /// does not make recall worse either.
    #[test]
    fn a_merge_does_not_make_recall_worse() {
        let (mut index, mut store, queries) = piled_up(4, 1_500);
        // A small growing graph beside them.
        let mut rng = crate::storage::sim::Rng::new(3);
        for i in 0..100u128 {
            let v = (0..32).map(|_| rng.unit_f32() - 0.5).collect();
            store.put(&mut index, ConceptId(10_000 + i), v);
        }
        grow_all(&mut index, &store);
        assert_eq!(index.counts().segments, 5);
        let before = recall_of(&index, &store, &queries, EF_LOW);
        let merge = index
            .freeze_next(usize::MAX, &store.lookup())
            .expect("a merge");
        assert!(merge.is_merge());
        assert!(index.install(merge.build().expect("build"), &store.lookup()));
        assert_eq!(index.counts().segments, 2);
        assert_eq!(index.check(&store.lookup()), Ok(()));
        let after = recall_of(&index, &store, &queries, 4 * EF_LOW);
        assert!(
            after >= before,
            "recall@10 {before} from five graphs, {after} from two"
        );
    }
}
