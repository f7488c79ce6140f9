//! Sealing: the graphs of the sealed tier (`Sealed`) and the work that makes them — inserting
//! the fresh tier into the growing graph, packing it, building a graph whole, merging segments
//! — frozen under the host's lock (`SealInput`) and done anywhere (`SealInput::build`).

use std::sync::Arc;

use super::code::{Code, CodeRef, Entry};
use super::growing::Growing;
use super::hnsw::{BuiltMap, Graph, MapOut, StoredMap};
use super::params::{HnswParams, GROW_EF_CONSTRUCTION};
use crate::error::Error;
use crate::model::ConceptId;
use serde::{Deserialize, Serialize};

/// The approximate-nearest-neighbour structure behind the sealed tier, kept behind a small
/// trait so it can be replaced.
pub(super) trait Ann {
    /// Up to `ef` entries near `query` (a candidate list that long), nearest first, with
    /// their approximate similarity.
    fn search(&self, query: &Code, ef: usize, out: &mut Vec<(Entry, f32)>);
    /// Every entry.
    fn for_each(&self, f: &mut dyn FnMut(Entry));
    /// The graph's own candidate list: what a search that asks for no length uses.
    fn candidates_max(&self) -> usize;
    /// Number of entries.
    fn len(&self) -> usize;
}

/// A built HNSW graph over a frozen set of quantized vectors: one segment of the sealed tier.
/// Stored as instant-distance's `HnswMap` is (see `hnsw.rs`), with its parameters and
/// length.
pub struct Sealed {
    pub(super) graph: Graph,
    pub(super) params: HnswParams,
    /// The segments (by id) this graph replaces when installed; not stored.
    pub(super) replaces: Vec<u32>,
}

/// [`Sealed`] as stored.
#[derive(Deserialize)]
pub(crate) struct SealedImage {
    pub(super) map: StoredMap,
    pub(super) params: HnswParams,
    pub(super) len: usize,
}

impl TryFrom<SealedImage> for Sealed {
    type Error = String;
    fn try_from(image: SealedImage) -> Result<Sealed, String> {
        let graph = Graph::try_from(image.map)?;
        if graph.len() != image.len {
            return Err(format!(
                "vector graph sizes disagree: {} points, length {}",
                graph.len(),
                image.len
            ));
        }
        Ok(Sealed {
            graph,
            params: image.params,
            replaces: Vec::new(),
        })
    }
}

impl Serialize for Sealed {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct SealedOut<'a> {
            map: MapOut<'a>,
            params: HnswParams,
            len: usize,
        }
        SealedOut {
            map: self.graph.image(),
            params: self.params,
            len: self.graph.len(),
        }
        .serialize(s)
    }
}

impl Ann for Sealed {
    fn search(&self, query: &Code, ef: usize, out: &mut Vec<(Entry, f32)>) {
        self.graph.search(query.scale, &query.q, ef, out);
    }
    fn for_each(&self, f: &mut dyn FnMut(Entry)) {
        for entry in self.graph.entries() {
            f(entry);
        }
    }
    fn candidates_max(&self) -> usize {
        self.graph.ef()
    }
    fn len(&self) -> usize {
        self.graph.len()
    }
}

impl Ann for Growing {
    fn search(&self, query: &Code, ef: usize, out: &mut Vec<(Entry, f32)>) {
        Growing::search(self, query.scale, &query.q, ef, out);
    }
    fn for_each(&self, f: &mut dyn FnMut(Entry)) {
        Growing::for_each(self, f);
    }
    fn candidates_max(&self) -> usize {
        self.ef()
    }
    fn len(&self) -> usize {
        Growing::len(self)
    }
}

/// What a [`SealInput`] is for.
pub(super) enum Work {
    /// A graph built whole from its vectors, replacing the segments listed.
    Build { replaces: Vec<u32> },
    /// Its vectors inserted into the growing graph (by its segment id).
    Grow { id: u32, graph: Arc<Growing> },
    /// The growing graph (by its segment id) packed into a sealed segment.
    Retire { id: u32, graph: Arc<Growing> },
}

/// The result of [`SealInput::build`], for [`VectorIndex::install`].
pub struct Built {
    pub(super) kind: BuiltKind,
}

pub(super) enum BuiltKind {
    /// A new segment.
    Segment(Sealed),
    /// These entries were inserted into the growing graph with this segment id.
    Grown { id: u32, entries: Vec<Entry> },
    /// The growing graph with this segment id, packed.
    Retired { id: u32, sealed: Sealed },
}

/// One piece of background indexing, frozen: vectors (what each stands for, and its code,
/// scales and components end to end) to insert into the growing graph or to build a segment
/// from, or the growing graph to pack.
pub struct SealInput {
    pub(super) entries: Vec<Entry>,
    pub(super) scales: Vec<f32>,
    pub(super) codes: Vec<i8>,
    pub(super) dimension: usize,
    pub(super) params: HnswParams,
    pub(super) work: Work,
}

impl SealInput {
    /// Number of vectors it indexes (a growing graph being packed: its nodes).
    pub fn len(&self) -> usize {
        match &self.work {
            Work::Retire { graph, .. } => graph.len(),
            _ => self.entries.len(),
        }
    }

    /// Whether there is nothing to index.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether it is a merge (or rebuild) of segments.
    #[cfg(test)]
    pub(super) fn is_merge(&self) -> bool {
        matches!(&self.work, Work::Build { replaces } if !replaces.is_empty())
    }

    /// Does the work: slow (seconds for 100,000 vectors); call it on whatever thread the host
    /// chooses. Insertions go into the growing graph, which searches keep reading meanwhile;
    /// a pack copies the growing graph into the segments' layout. A segment is built by
    /// instant-distance, deterministically (the same view gives the same graph), then packed
    /// (see `hnsw.rs`) by way of its stored form, which is also how a snapshot loads it;
    /// an error there means that packing refused what instant-distance built, i.e. a bug; the
    /// vectors stay in the fresh tier, searched exactly.
    ///
    /// An insertion into the growing graph is refused only if the graph has no room (the index
    /// never asks for more than it has) or the codes are not of its dimension.
    pub fn build(self) -> Result<Built, Error> {
        let vectors = self.entries.len();
        self.build_inner()
            .map_err(|reason| Error::IndexBuild { vectors, reason })
    }

    pub(super) fn build_inner(self) -> Result<Built, String> {
        let SealInput {
            entries,
            scales,
            codes,
            dimension,
            params,
            work,
        } = self;
        let replaces = match work {
            Work::Build { replaces } => replaces,
            Work::Grow { id, graph } => {
                let (ids, vseqs): (Vec<ConceptId>, Vec<u64>) =
                    entries.iter().map(|e| (e.id, e.vseq)).unzip();
                graph.insert(&ids, &vseqs, &scales, &codes)?;
                return Ok(Built {
                    kind: BuiltKind::Grown { id, entries },
                });
            }
            Work::Retire { id, graph } => {
                let sealed = Sealed {
                    graph: graph.to_graph(),
                    params: grown_params(params),
                    replaces: Vec::new(),
                };
                return Ok(Built {
                    kind: BuiltKind::Retired { id, sealed },
                });
            }
        };
        let map = build_map(&scales, &codes, dimension, entries, params);
        // Sized first, so the bytes are one allocation of their exact size.
        let bytes = postcard::experimental::serialized_size(&map)
            .and_then(|size| postcard::to_extend(&map, Vec::with_capacity(size)))
            .map_err(|e| format!("vector graph does not encode: {e}"))?;
        drop(map);
        let image: BuiltMap = postcard::from_bytes(&bytes)
            .map_err(|e| format!("vector graph does not decode: {e}"))?;
        drop(bytes);
        Ok(Built {
            kind: BuiltKind::Segment(Sealed {
                graph: Graph::try_from(image)?,
                params,
                replaces,
            }),
        })
    }
}

/// The parameters a packed growing graph is stored with.
pub(super) fn grown_params(params: HnswParams) -> HnswParams {
    HnswParams {
        ef_construction: GROW_EF_CONSTRUCTION,
        heuristic: true,
        ..params
    }
}

/// instant-distance's graph over the codes (`dimension` components each, end to end).
pub(crate) fn build_map<'a>(
    scales: &'a [f32],
    codes: &'a [i8],
    dimension: usize,
    entries: Vec<Entry>,
    params: HnswParams,
) -> instant_distance::HnswMap<CodeRef<'a>, Entry> {
    let points: Vec<CodeRef<'a>> = scales
        .iter()
        .zip(codes.chunks_exact(dimension.max(1)))
        .map(|(&scale, q)| CodeRef { scale, q })
        .collect();
    let builder = instant_distance::Builder::default()
        .ef_construction(params.ef_construction)
        .ef_search(params.ef_search)
        .seed(params.seed)
        .select_heuristic(if params.heuristic {
            Some(instant_distance::Heuristic::default())
        } else {
            None
        });
    single_threaded(move || builder.build(points, entries))
}

/// instant-distance inserts points in parallel with rayon, and parallel insertion order is not
/// deterministic. Running the build in a one-thread pool keeps it deterministic (and on the
/// budget of one core, which is what the benchmarks target).
#[cfg(not(target_arch = "wasm32"))]
pub(super) fn single_threaded<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    match rayon::ThreadPoolBuilder::new().num_threads(1).build() {
        Ok(pool) => pool.install(f),
        // Without a pool (thread creation refused) build on this thread through the global pool.
        Err(_) => f(),
    }
}

#[cfg(target_arch = "wasm32")]
pub(super) fn single_threaded<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    f()
}
