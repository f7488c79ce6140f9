//! The index as a snapshot stores it, and its rebuilding from one.

use std::sync::Arc;

use super::growing::Growing;
use super::index::*;
use super::params::HnswParams;
use super::seal::*;
use crate::distance::inv_norm;
use crate::model::ConceptId;
use crate::vector::id_table::IdTable;
use serde::{Deserialize, Serialize};

/// A segment as a snapshot stores it: one of the index's, or the growing graph packed.
pub(crate) enum SegmentOut<'a> {
    Kept(&'a Sealed),
    Packed(Box<Sealed>),
}

impl Serialize for SegmentOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            SegmentOut::Kept(sealed) => sealed.serialize(s),
            SegmentOut::Packed(sealed) => sealed.serialize(s),
        }
    }
}

/// What a snapshot keeps of the index: its segments as `S` (borrowed [`Sealed`] graphs when
/// encoding, [`SealedImage`]s when decoding, [`Sealed`] graphs once checked).
#[derive(Serialize, Deserialize)]
pub(crate) struct IndexImage<S = Sealed> {
    pub segments: Vec<S>,
    /// Current versions, sorted by id.
    pub current: Vec<(ConceptId, u64)>,
    pub next_vseq: u64,
}

impl VectorIndex {
    /// The image a snapshot stores.
    /// The growing graph is stored packed, as a segment.
    pub(crate) fn image(&self) -> IndexImage<SegmentOut<'_>> {
        let current: Vec<(ConceptId, u64)> = self
            .current
            .to_sorted_vec()
            .into_iter()
            .map(|(id, live)| (id, live.vseq))
            .collect();
        let growing = self.growing.iter().filter(|g| g.graph.len() > 0).map(|g| {
            SegmentOut::Packed(Box::new(Sealed {
                graph: g.graph.to_graph(),
                params: self.params,
                replaces: Vec::new(),
            }))
        });
        IndexImage {
            segments: self
                .segments
                .iter()
                .map(|s| SegmentOut::Kept(&s.graph))
                .chain(growing)
                .collect(),
            current,
            next_vseq: self.next_vseq,
        }
    }

    /// Rebuilds the index from a snapshot image and the concepts' embeddings.
    pub(crate) fn restore<'a>(
        params: HnswParams,
        image: IndexImage,
        embeddings: impl Iterator<Item = (ConceptId, &'a [f32])>,
    ) -> Result<Self, String> {
        let mut index = VectorIndex::new(params);
        index.next_vseq = image.next_vseq;
        let versions = image.current.into_iter().map(|(id, vseq)| {
            let live = Live {
                vseq,
                inv_norm: 0.0,
                place: 0,
            };
            (id, live)
        });
        index.current = IdTable::from_sorted(versions.collect())
            .map_err(|id| format!("vector index lists concept {id} out of order"))?;
        let mut with_vectors = 0usize;
        for (id, vector) in embeddings {
            with_vectors += 1;
            match index.current.get_mut(&id) {
                Some(live) if live.vseq < index.next_vseq => {
                    live.inv_norm = inv_norm(vector);
                }
                _ => {
                    return Err(format!(
                        "vector index has no valid version for concept {id}"
                    ))
                }
            }
            index.fresh_add(id, vector);
        }
        if with_vectors != index.current.len() {
            return Err(format!(
                "vector index lists {} vectors but {with_vectors} concepts have embeddings",
                index.current.len()
            ));
        }
        for graph in image.segments {
            // Stored segments replace nothing, so nothing needs looking up.
            index.install_segment(graph, &|_| None);
        }
        index.resume_growing();
        Ok(index)
    }

    /// Takes the growing graph a snapshot stored (packed, as its last segment) back as the
    /// growing graph, if a growing graph can hold it and has room left, in place of the empty
    /// one the fresh tier started: the vectors indexed after a restart go on into it instead
    /// of into a new graph, and restarts leave no more segments behind than a run without
    /// them. Its entries keep their segment id, so nothing else changes. (If the growing
    /// graph was empty at the snapshot, the last segment is another graph, which is as good
    /// a graph to go on growing.)
    fn resume_growing(&mut self) {
        if self.growing.as_ref().is_some_and(|g| g.graph.len() > 0) {
            return;
        }
        let Some(at) = self.segments.len().checked_sub(1) else {
            return;
        };
        let segment = &self.segments[at];
        let resumed = Growing::from_graph(
            &segment.graph.graph,
            self.params.ef_construction,
            self.params.ef_search,
            self.growing_chunks,
            self.params.seed ^ u64::from(segment.id),
        );
        // (Refused: a graph a growing one cannot hold stays a segment, as it always could.)
        if let Some(graph) = resumed.ok().filter(|g| g.chunks_left() > 0) {
            let segment = self.segments.remove(at);
            self.growing = Some(GrowingSegment {
                id: segment.id,
                graph: Arc::new(graph),
                live: segment.live,
            });
        }
    }
}

/// Decodes a snapshot's index image. Each graph is checked as it decodes (see
/// [`super::hnsw`]): a graph that passed its checksum but is inconsistent (a bug, or a crafted
/// file) is refused here rather than followed by a later search.
pub(crate) fn decode_image(bytes: &[u8], dimension: Option<u32>) -> Result<IndexImage, String> {
    // (Checked after decoding, not inside: postcard keeps no message of a decoder's own error.)
    let stored = match postcard::take_from_bytes::<IndexImage<SealedImage>>(bytes) {
        Ok((stored, [])) => stored,
        Ok((_, rest)) => {
            return Err(format!(
                "vector index section has {} trailing bytes",
                rest.len()
            ))
        }
        Err(e) => return Err(format!("vector index section does not decode: {e}")),
    };
    let image = IndexImage {
        segments: stored
            .segments
            .into_iter()
            .map(Sealed::try_from)
            .collect::<Result<_, _>>()?,
        current: stored.current,
        next_vseq: stored.next_vseq,
    };
    if let Some(dim) = dimension {
        if let Some(s) = image
            .segments
            .iter()
            .find(|s| s.graph.len() > 0 && s.graph.dimension() != dim as usize)
        {
            return Err(format!(
                "vector graph holds points of dimension {}, expected {dim}",
                s.graph.dimension()
            ));
        }
    }
    Ok(image)
}
