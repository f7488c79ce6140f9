//! Read queries on a [`Db`]: lookups, scans, associations, paths, vector search, stats.

use crate::error::{Error, Result};
use crate::graph::{
    self, Direction, ExpandOptions, Listing, Neighbourhood, PathOptions, PathsResult, Reached,
};
use crate::limits::{
    SCAN_EXAMINED_MAX, SCAN_LIMIT_MAX, SORTED_SCAN_MAX, TEXT_QUERY_BYTES_MAX, TEXT_QUERY_TERMS_MAX,
    VECTOR_EF_MAX, VECTOR_K_MAX,
};
use crate::model::Language;
use crate::model::{check_embedding, Association, AssociationKey, Concept, KindSet, ValidAt};
use crate::model::{ConceptId, Filter};
use crate::state::filters::MetadataIndex;
use crate::state::Db;
use crate::text::{query_terms, TextIndex};
use crate::vector::{Candidates, SearchPlan, VectorCounts, VectorIndex};
use std::sync::Arc;

/// The order of a concept listing other than the ids'.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortedBy {
    /// The last updated first (ties: by id).
    Updated,
    /// By content, byte-wise (ties: by id).
    Content,
}

/// Where a sorted listing goes on: after this concept, as it was when the page ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SortCursor {
    /// The concept the previous page ended on.
    pub id: ConceptId,
    /// Its update time then (the updated order; a concept updated since moves, so the cursor
    /// keeps the time it had).
    pub updated_ms: u64,
}

/// One page of a sorted listing: where it goes on is a [`SortCursor`].
pub type SortedPage<'a> = Page<'a, SortCursor>;

/// A concept's place in a sorted listing (smaller comes first).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum SortKey<'a> {
    Updated(std::cmp::Reverse<u64>, ConceptId),
    Content(&'a [u8], ConceptId),
}

impl<'a> SortKey<'a> {
    fn of(by: SortedBy, c: &'a Concept) -> Self {
        match by {
            SortedBy::Updated => SortKey::Updated(std::cmp::Reverse(c.updated_ms), c.id),
            SortedBy::Content => SortKey::Content(c.content.as_bytes(), c.id),
        }
    }

    fn id(&self) -> ConceptId {
        match self {
            SortKey::Updated(_, id) | SortKey::Content(_, id) => *id,
        }
    }
}

/// One page of a concept scan (`Next`: where the next page starts — an id in id order).
#[derive(Clone, Debug, PartialEq)]
pub struct Page<'a, Next = ConceptId> {
    /// Concepts in the listing's order.
    pub concepts: Vec<&'a Concept>,
    /// Pass as `after` to get the next page; `None` at the end.
    pub next: Option<Next>,
}

/// A search hit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hit {
    /// The concept.
    pub id: ConceptId,
    /// Cosine similarity to the query (−1..=1) for a vector search; the BM25 score (≥ 0) for
    /// a text search.
    pub score: f32,
}

/// Counts that describe a state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateCounts {
    /// Number of concepts.
    pub concepts: u64,
    /// Number of associations.
    pub associations: u64,
    /// Number of distinct association labels in use.
    pub labels: u64,
    /// The memory's vector dimension, once fixed.
    pub dimension: Option<u32>,
    /// The language its texts are stemmed in.
    pub language: Option<Language>,
    /// Vector index tiers.
    pub vectors: VectorCounts,
    /// Sequence number of the last applied record.
    pub last_seq: u64,
}

impl Db {
    /// Runs the integrity checker: every structure of the state agrees with itself and with the
    /// others — each concept's embedding of the memory's dimension; the adjacency both ways, and
    /// every association's ends concepts; the vector index against the embeddings (see
    /// `VectorIndex::check`), with one live vector per concept that has one. Tests run it after
    /// every step; `sutra check --deep` runs it on a real data directory. An error is a bug.
    pub fn check_integrity(&self) -> Result<()> {
        let fail = |structure: &'static str| {
            move |problem: String| Error::Integrity { structure, problem }
        };
        let mut with_vectors = 0usize;
        for c in self.concepts.values() {
            if let Some(v) = &c.embedding {
                with_vectors += 1;
                if self.dimension != Some(v.len() as u32) {
                    return Err(fail("concepts")(format!(
                        "{} has a vector of dimension {} in a memory of dimension {:?}",
                        c.id,
                        v.len(),
                        self.dimension
                    )));
                }
            }
        }
        self.links.check().map_err(fail("adjacency"))?;
        if let Some(a) = self.links.iter().find(|a| {
            !self.concepts.contains_key(&a.source) || !self.concepts.contains_key(&a.target)
        }) {
            return Err(fail("adjacency")(format!(
                "{} -[{}]-> {} has an end that is not a concept",
                a.source, a.kind, a.target
            )));
        }
        self.vectors
            .check(&|id| self.embedding(id))
            .map_err(fail("vector index"))?;
        if let Some(index) = self.filters.get() {
            if *index != self.build_metadata_index() {
                return Err(fail("metadata index")(
                    "differs from the concepts' metadata".to_string(),
                ));
            }
        }
        if let Some(text) = self.text.get() {
            text.check().map_err(fail("text index"))?;
            if text.language() != self.language {
                return Err(fail("text index")(format!(
                    "stems in {:?}, the memory in {:?}",
                    text.language(),
                    self.language
                )));
            }
            // The index holds exactly the concepts' texts: the one built from them now.
            let fresh = self.build_text_index();
            if text.image() != fresh.image() {
                return Err(fail("text index")(format!(
                    "differs from the concepts' texts ({} documents indexed, {} concepts with words)",
                    text.docs(),
                    fresh.docs()
                )));
            }
        }
        if self.vectors.live() != with_vectors {
            return Err(fail("vector index")(format!(
                "{} live vectors for {with_vectors} concepts with one",
                self.vectors.live()
            )));
        }
        Ok(())
    }

    /// A concept by id.
    pub fn concept(&self, id: ConceptId) -> Option<&Concept> {
        self.concepts.get(&id)
    }

    /// An association by key.
    pub fn get_association(&self, key: &AssociationKey) -> Option<Association> {
        self.association(key)
    }

    /// Concepts in id order, starting after `after`, at most `limit` (1..=1000).
    pub fn scan(&self, after: Option<ConceptId>, limit: u32) -> Result<Page<'_>> {
        self.scan_where(None, None, after, limit)
    }

    /// Concepts whose content starts with `prefix`, in id order, after `after`, at most `limit`.
    /// There is no index on content: each call examines at most [`SCAN_EXAMINED_MAX`]
    /// concepts, and `next` continues where it stopped, so a page may hold fewer than `limit`
    /// matches while `next` is still set.
    pub fn scan_prefix(
        &self,
        prefix: &str,
        after: Option<ConceptId>,
        limit: u32,
    ) -> Result<Page<'_>> {
        self.scan_where(Some(prefix), None, after, limit)
    }

    /// Concepts in id order after `after`, at most `limit`: those whose content starts with
    /// `prefix` (if given; as [`scan_prefix`](Self::scan_prefix) examines them) among `among`
    /// (if given, in increasing id order: what [`Db::filtered`] gives).
    pub fn scan_where(
        &self,
        prefix: Option<&str>,
        among: Option<&[ConceptId]>,
        after: Option<ConceptId>,
        limit: u32,
    ) -> Result<Page<'_>> {
        Error::check_count("limit", limit, SCAN_LIMIT_MAX)?;
        let candidates: Box<dyn Iterator<Item = &Concept>> = match among {
            Some(ids) => {
                let from = after.map_or(0, |after| ids.partition_point(|id| *id <= after));
                Box::new(ids[from..].iter().filter_map(|id| self.concepts.get(id)))
            }
            None => Box::new(self.concepts.after(after)),
        };
        let mut concepts = Vec::new();
        let mut examined = 0usize;
        let mut iter = candidates.peekable();
        while let Some(c) = iter.next() {
            examined += 1;
            if prefix.is_none_or(|p| c.content.starts_with(p)) {
                concepts.push(c);
            }
            let more = iter.peek().is_some();
            if more && (concepts.len() == limit as usize || examined == SCAN_EXAMINED_MAX) {
                return Ok(Page {
                    concepts,
                    next: Some(c.id),
                });
            }
        }
        Ok(Page {
            concepts,
            next: None,
        })
    }

    /// A page of concepts in another order than the ids' (see [`SortedBy`]), with the same
    /// prefix and filter as [`Db::scan_where`]. It reads every concept it may list (there is no
    /// index on these orders: none costs memory until asked for), at most
    /// [`SORTED_SCAN_MAX`]; a page keeps `limit` of them in a bounded heap.
    pub fn scan_sorted(
        &self,
        by: SortedBy,
        prefix: Option<&str>,
        among: Option<&[ConceptId]>,
        after: Option<SortCursor>,
        limit: u32,
    ) -> Result<SortedPage<'_>> {
        Error::check_count("limit", limit, SCAN_LIMIT_MAX)?;
        let total = among.map_or(self.concepts.len(), <[ConceptId]>::len);
        if total > SORTED_SCAN_MAX {
            return Err(Error::limit(
                "concepts to sort",
                SORTED_SCAN_MAX as u64,
                total as u64,
            ));
        }
        let start = match (after, by) {
            (None, _) => None,
            (Some(cursor), SortedBy::Updated) => Some(SortKey::Updated(
                std::cmp::Reverse(cursor.updated_ms),
                cursor.id,
            )),
            (Some(cursor), SortedBy::Content) => match self.concepts.get(&cursor.id) {
                Some(c) => Some(SortKey::of(by, c)),
                None => {
                    return Err(Error::invalid(
                        "after",
                        "the concept the last page ended on was deleted since: start again from the first page",
                    ))
                }
            },
        };
        let candidates: Box<dyn Iterator<Item = &Concept>> = match among {
            Some(ids) => Box::new(ids.iter().filter_map(|id| self.concepts.get(id))),
            None => Box::new(self.concepts.after(None)),
        };
        // The `limit + 1` smallest keys after the cursor (one more tells whether a page follows).
        let keep = limit as usize + 1;
        let mut heap = std::collections::BinaryHeap::with_capacity(keep + 1);
        for c in candidates {
            if !prefix.is_none_or(|p| c.content.starts_with(p)) {
                continue;
            }
            let k = SortKey::of(by, c);
            if start.is_some_and(|s| k <= s) {
                continue;
            }
            if heap.len() < keep {
                heap.push(k);
            } else if heap.peek().is_some_and(|top| k < *top) {
                heap.pop();
                heap.push(k);
            }
        }
        let mut sorted: Vec<&Concept> = heap
            .into_sorted_vec()
            .into_iter()
            .filter_map(|k| self.concepts.get(&k.id()))
            .collect();
        let more = sorted.len() > limit as usize;
        sorted.truncate(limit as usize);
        let next = match sorted.last() {
            Some(last) if more => Some(SortCursor {
                id: last.id,
                updated_ms: last.updated_ms,
            }),
            _ => None,
        };
        Ok(SortedPage {
            concepts: sorted,
            next,
        })
    }

    /// Associations of a concept, filtered by direction, kinds, validity and minimum
    /// confidence.
    pub fn associations(
        &self,
        id: ConceptId,
        listing: Listing,
        kinds: KindSet,
        valid_at: ValidAt,
        min_confidence: f32,
        limit: u32,
    ) -> Result<Vec<Association>> {
        let which = graph::Which {
            kinds,
            labels: None,
            valid_at,
            min_confidence,
        };
        graph::associations_of(self, id, listing, &which, limit)
    }

    /// Associations of a concept that `which` keeps (labels too), at most `limit`.
    pub fn associations_which(
        &self,
        id: ConceptId,
        listing: Listing,
        which: &graph::Which<'_>,
        limit: u32,
    ) -> Result<Vec<Association>> {
        graph::associations_of(self, id, listing, which, limit)
    }

    /// Fewest-hops path.
    pub fn shortest_path(
        &self,
        from: ConceptId,
        to: ConceptId,
        opts: &PathOptions,
    ) -> Result<PathsResult> {
        graph::shortest_path(&mut &*self, from, to, opts)
    }

    /// Most confident path.
    pub fn most_confident_path(
        &self,
        from: ConceptId,
        to: ConceptId,
        opts: &PathOptions,
    ) -> Result<PathsResult> {
        graph::most_confident_path(&mut &*self, from, to, opts)
    }

    /// The k most confident loopless paths.
    pub fn k_best_paths(
        &self,
        from: ConceptId,
        to: ConceptId,
        k: u32,
        opts: &PathOptions,
    ) -> Result<PathsResult> {
        graph::k_best_paths(&mut &*self, from, to, k, opts)
    }

    /// Concepts within `depth` hops of `centre`.
    pub fn neighbourhood(
        &self,
        centre: ConceptId,
        depth: u32,
        direction: Direction,
        kinds: KindSet,
        valid_at: ValidAt,
        limit: u32,
    ) -> Result<Neighbourhood> {
        graph::neighbourhood(self, centre, depth, direction, kinds, valid_at, limit)
    }

    /// The concepts that `hits` (with their scores, in rank order) lead to within the options'
    /// limits, best first, each with its trail (see [`graph::expand`]).
    pub fn expand(
        &self,
        hits: &[(ConceptId, f64)],
        options: &ExpandOptions,
    ) -> Result<Vec<Reached>> {
        options.validate(u32::try_from(hits.len()).unwrap_or(u32::MAX))?;
        Ok(graph::expand(self, hits, options))
    }

    /// Checks a search's `k` and effort `ef`.
    fn check_search(k: u32, ef: Option<u32>) -> Result<()> {
        Error::check_count("k", k, VECTOR_K_MAX)?;
        match ef {
            Some(ef) => Error::check_count("ef", ef, VECTOR_EF_MAX),
            None => Ok(()),
        }
    }

    /// The `k` concepts whose embeddings are most similar (cosine) to `query`, best first,
    /// each graph searched with a candidate list of `ef` (its own when `None`; see
    /// [`VectorIndex::plan`]). (A [`Reader`](crate::Reader)'s own `search_vectors` answers
    /// the same while holding the state's lock only to start and to finish.)
    pub fn search_vectors(&self, query: &[f32], k: u32, ef: Option<u32>) -> Result<Vec<Hit>> {
        let plan = self.plan_search(query, k, ef, None)?;
        let found = plan.run();
        Ok(self.finish_search(&plan, found))
    }

    /// [`search_vectors`](Self::search_vectors) among the concepts `among` only (in
    /// increasing id order: what [`Db::filtered`] gives).
    pub fn search_vectors_among(
        &self,
        query: &[f32],
        k: u32,
        ef: Option<u32>,
        among: Arc<[ConceptId]>,
    ) -> Result<Vec<Hit>> {
        let plan = self.plan_search(query, k, ef, Some(among))?;
        let found = plan.run();
        Ok(self.finish_search(&plan, found))
    }

    /// The `k` concepts most similar to concept `id` (itself excluded), best first, with the
    /// effort `ef` ([`search_vectors`](Self::search_vectors)).
    pub fn similar_to(&self, id: ConceptId, k: u32, ef: Option<u32>) -> Result<Vec<Hit>> {
        let plan = self.plan_similar(id, k, ef, None)?;
        let found = plan.run();
        Ok(self.finish_search(&plan, found))
    }

    /// The `k` concepts whose content best matches `query` by BM25 (see [`crate::text`]), best
    /// first, ties by id. The query is checked: at most [`TEXT_QUERY_BYTES_MAX`] bytes and
    /// [`TEXT_QUERY_TERMS_MAX`] distinct terms, and not empty.
    pub fn search_text(&self, query: &str, k: u32) -> Result<Vec<Hit>> {
        self.search_text_among(query, k, None)
    }

    /// [`search_text`](Self::search_text) among the concepts `among` only (in increasing id
    /// order: what [`Db::filtered`] gives).
    pub fn search_text_among(
        &self,
        query: &str,
        k: u32,
        among: Option<&[ConceptId]>,
    ) -> Result<Vec<Hit>> {
        Error::check_count("k", k, VECTOR_K_MAX)?;
        if query.len() > TEXT_QUERY_BYTES_MAX {
            return Err(Error::limit(
                "text (bytes)",
                TEXT_QUERY_BYTES_MAX as u64,
                query.len() as u64,
            ));
        }
        let terms = query_terms(self.language, query);
        if terms.is_empty() {
            return Err(Error::invalid(
                "text",
                "has no words to search for (stop words such as \"the\" are not indexed)",
            ));
        }
        if terms.len() > TEXT_QUERY_TERMS_MAX {
            return Err(Error::limit(
                "text (distinct words)",
                TEXT_QUERY_TERMS_MAX as u64,
                terms.len() as u64,
            ));
        }
        Ok(self
            .text_index()
            .search_among(&terms, k as usize, among)
            .into_iter()
            .map(|s| Hit {
                id: s.id,
                score: s.score,
            })
            .collect())
    }

    /// The concepts `filter` keeps, in id order (`field` names the filter in errors: a key the
    /// memory does not index is refused, naming those it does). The index of the memory's
    /// keys is built from the concepts by the first filtered read.
    pub fn filtered(&self, field: &str, filter: &Filter) -> Result<Arc<[ConceptId]>> {
        self.metadata_index().matching(field, filter)
    }

    /// The metadata keys the memory indexes for filters, in order.
    pub fn indexed_keys(&self) -> impl Iterator<Item = &str> {
        self.indexed.iter().map(|k| &**k)
    }

    /// The index of the memory's metadata keys, of its concepts now.
    fn build_metadata_index(&self) -> MetadataIndex {
        MetadataIndex::build(
            &self.indexed,
            self.concepts.values().map(|c| (c.id, &*c.metadata)),
        )
    }

    /// The index of the memory's metadata keys, built if this is its first filtered read.
    fn metadata_index(&self) -> &MetadataIndex {
        self.filters.get_or_init(|| self.build_metadata_index())
    }

    /// Whether the text index is built (by a search by words, or loaded with a snapshot that
    /// holds it).
    pub fn text_index_built(&self) -> bool {
        self.text.get().is_some()
    }

    /// About how many bytes the text index holds in memory (0 if it is not built).
    pub fn text_index_bytes(&self) -> usize {
        self.text.get().map_or(0, TextIndex::heap_bytes)
    }

    /// A text index of every concept's text, built now.
    fn build_text_index(&self) -> TextIndex {
        TextIndex::build(
            self.language,
            self.concepts.values().map(|c| (c.id, &*c.content)),
        )
    }

    /// The text index, built from the concepts if this is the memory's first search by words.
    fn text_index(&self) -> &TextIndex {
        let index = self.text.get_or_init(|| self.build_text_index());
        debug_assert_eq!(
            index.language(),
            self.language,
            "the index stems as the memory"
        );
        index
    }

    /// Checks a vector search and takes what it will read (see [`VectorIndex::plan`]): the
    /// `k` concepts nearest `query`, among `among` only if given (in increasing id order).
    pub fn plan_search(
        &self,
        query: &[f32],
        k: u32,
        ef: Option<u32>,
        among: Option<Arc<[ConceptId]>>,
    ) -> Result<SearchPlan> {
        Self::check_search(k, ef)?;
        check_embedding("vector", query)?;
        let Some(expected) = self.dimension else {
            return Err(Error::invalid(
                "vector",
                "this memory holds no vectors yet (its dimension is not fixed)",
            ));
        };
        if query.len() as u32 != expected {
            return Err(Error::DimensionMismatch {
                expected,
                actual: query.len() as u32,
            });
        }
        Ok(self
            .vectors
            .plan(query, k as usize, ef.map(|ef| ef as usize), None, among))
    }

    /// Checks a search by concept `id`'s embedding (itself excluded) and takes what it will
    /// read, as [`plan_search`](Self::plan_search).
    pub fn plan_similar(
        &self,
        id: ConceptId,
        k: u32,
        ef: Option<u32>,
        among: Option<Arc<[ConceptId]>>,
    ) -> Result<SearchPlan> {
        Self::check_search(k, ef)?;
        let concept = self
            .concepts
            .get(&id)
            .ok_or_else(|| Error::ConceptNotFound { id: id.to_string() })?;
        let Some(query) = &concept.embedding else {
            return Err(Error::invalid(
                "id",
                format!("concept {id} has no embedding to search by"),
            ));
        };
        Ok(self
            .vectors
            .plan(query, k as usize, ef.map(|ef| ef as usize), Some(id), among))
    }

    /// Checks what a search found against the state as it is now and scores the best exactly
    /// (see [`VectorIndex::finish`]).
    pub fn finish_search(&self, plan: &SearchPlan, found: Candidates) -> Vec<Hit> {
        self.vectors
            .finish(plan, found, &|id| self.embedding(id))
            .into_iter()
            .map(|(id, score)| Hit { id, score })
            .collect()
    }

    /// Exact vector search (no index), for measuring recall.
    pub fn search_vectors_exact(&self, query: &[f32], k: u32) -> Vec<Hit> {
        let vectors = self
            .concepts
            .values()
            .filter_map(|c| Some((c.id, c.embedding.as_deref()?)));
        VectorIndex::search_exact(query, k as usize, vectors)
            .into_iter()
            .map(|(id, score)| Hit { id, score })
            .collect()
    }

    /// Counts describing the state.
    pub fn counts(&self) -> StateCounts {
        StateCounts {
            concepts: self.concepts.len() as u64,
            associations: self.links.len(),
            labels: self.links.labels().len() as u64,
            dimension: self.dimension,
            language: self.language,
            vectors: self.vectors.counts(),
            last_seq: self.last_seq,
        }
    }

    /// A digest of the logical state (concepts, associations, dimension, language): equal digests mean
    /// equal data. Independent of how the state was reached (log, snapshot, index tiers).
    pub fn digest(&self) -> u128 {
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        let mut put = |bytes: &[u8]| hasher.update(bytes);
        put(&self
            .dimension
            .map_or(0u64, |d| u64::from(d) + 1)
            .to_le_bytes());
        put(&[self.language.map_or(0, |l| l as u8 + 1)]);
        put(&(self.indexed.len() as u64).to_le_bytes());
        for key in &self.indexed {
            put(&(key.len() as u64).to_le_bytes());
            put(key.as_bytes());
        }
        for c in self.concepts.values() {
            if let Ok(bytes) = postcard::to_allocvec(c) {
                put(&(bytes.len() as u64).to_le_bytes());
                put(&bytes);
            }
        }
        let mut associations: Vec<Association> = self.links.iter().collect();
        associations.sort_unstable_by_key(|a| a.key());
        put(&(associations.len() as u64).to_le_bytes());
        for a in &associations {
            if let Ok(bytes) = postcard::to_allocvec(a) {
                put(&(bytes.len() as u64).to_le_bytes());
                put(&bytes);
            }
        }
        hasher.digest128()
    }

    /// Every concept, in id order.
    pub fn concepts(&self) -> impl Iterator<Item = &Concept> {
        self.concepts.values()
    }

    /// Every association, grouped by source (sources in no particular order).
    pub fn all_associations(&self) -> impl Iterator<Item = Association> + '_ {
        self.links.iter()
    }
}
