//! Sealing: the graphs of the sealed tier (`Sealed`) and the work that makes them — inserting
//! the fresh tier into the growing graph, packing it, building a graph whole, merging segments
//! — frozen under the host's lock (`SealInput`) and done anywhere (`SealInput::build`).

use super::beam::AdmitId;
use std::sync::Arc;

#[cfg(test)]
use super::code::CodeRef;
use super::code::{Code, Entry, Found};
use super::growing::{Growing, CHUNK};
use super::hnsw::{Graph, MapOut, StoredMap};
use super::params::HnswParams;
use crate::error::Error;
use crate::model::ConceptId;
use serde::{Deserialize, Serialize};

/// The approximate-nearest-neighbour structure behind the sealed tier, kept behind a small
/// trait so it can be replaced.
pub(super) trait Ann {
    /// Up to `ef` entries near `query` (a candidate list that long), nearest first, with
    /// their approximate similarity and their codes' scale; only those `admit` admits.
    fn search(&self, query: &Code, ef: usize, admit: AdmitId<'_>, out: &mut Vec<Found>);
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
    fn search(&self, query: &Code, ef: usize, admit: AdmitId<'_>, out: &mut Vec<Found>) {
        self.graph.search(query.scale, &query.q, ef, admit, out);
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
    fn search(&self, query: &Code, ef: usize, admit: AdmitId<'_>, out: &mut Vec<Found>) {
        Growing::search(self, query.scale, &query.q, ef, admit, out);
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
    /// The current vectors of segment `from` inserted into the growing graph (by its segment
    /// id), which replaces it.
    Absorb {
        id: u32,
        graph: Arc<Growing>,
        from: u32,
    },
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
    /// These entries of segment `from` were inserted into the growing graph with this id.
    Absorbed {
        id: u32,
        from: u32,
        entries: Vec<Entry>,
    },
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
    /// inserting its vectors into a graph of its own, deterministically (the same view gives
    /// the same graph), then packed.
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
                insert(&graph, &entries, &scales, &codes)?;
                return Ok(Built {
                    kind: BuiltKind::Grown { id, entries },
                });
            }
            Work::Absorb { id, graph, from } => {
                insert(&graph, &entries, &scales, &codes)?;
                return Ok(Built {
                    kind: BuiltKind::Absorbed { id, from, entries },
                });
            }
            Work::Retire { id, graph } => {
                let sealed = Sealed {
                    graph: graph.to_graph(),
                    params,
                    replaces: Vec::new(),
                };
                return Ok(Built {
                    kind: BuiltKind::Retired { id, sealed },
                });
            }
        };
        // Grown whole, on this thread: the same insertions as the growing graph's (so a merge
        // makes as good a graph as one run of writes would have), into a graph just large
        // enough, then packed. Deterministic: one inserter, levels drawn from the seed.
        let graph = Growing::new(
            dimension,
            params.ef_construction,
            params.ef_search,
            entries.len().div_ceil(CHUNK).max(1),
            params.seed,
        );
        insert(&graph, &entries, &scales, &codes)?;
        Ok(Built {
            kind: BuiltKind::Segment(Sealed {
                graph: graph.to_graph(),
                params,
                replaces,
            }),
        })
    }
}

/// Inserts vectors (what each stands for, and their codes) into a growing graph.
fn insert(graph: &Growing, entries: &[Entry], scales: &[f32], codes: &[i8]) -> Result<(), String> {
    let (ids, vseqs): (Vec<ConceptId>, Vec<u64>) = entries.iter().map(|e| (e.id, e.vseq)).unzip();
    graph.insert(&ids, &vseqs, scales, codes)
}

/// instant-distance's graph over the codes (`dimension` components each, end to end): what
/// built segments before this version, kept for the tests that check the stored layout (which
/// is instant-distance's, so files written then still load) against instant-distance's own.
#[cfg(test)]
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
/// deterministic. Running the build in a one-thread pool keeps it deterministic.
#[cfg(test)]
fn single_threaded<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    match rayon::ThreadPoolBuilder::new().num_threads(1).build() {
        Ok(pool) => pool.install(f),
        Err(_) => f(),
    }
}
