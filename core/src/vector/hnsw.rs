//! A sealed segment's HNSW graph as the engine keeps it in memory.
//!
//! Graphs are grown by insertions (see [`super::growing`]) and packed here: the codes end to
//! end, and each layer's neighbour lists end to end with the offset where each one ends
//! (`docs/BENCHMARKS.md`, workload 9, has what that saves against a layout of fixed slots).
//!
//! The search is HNSW's (a greedy descent through the upper layers, then a beam of `ef_search`
//! candidates in the bottom one), step for step the one instant-distance runs on the same graph,
//! ties broken alike, so it returns the same candidates (a test holds it to that).
//!
//! The stored form is instant-distance's serialized layout, unchanged (neighbour lists padded to
//! their slots with `u32::MAX`): instant-distance built the segments of earlier versions, whose
//! snapshots read as before, and a grown graph's lists fit its slots. [`StoredMap`] decodes it
//! straight into the packed form, checking every neighbour id before a search can follow it.

use std::fmt;

use serde::de::{DeserializeSeed, Error as _, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, SerializeTuple};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::beam::{descend, with_scratch, AdmitId, Layers, Point};
use super::code::{similarity, Entry, Found};
use super::params::ef_for;
use crate::distance::prefetch;
use crate::model::ConceptId;

/// An empty neighbour slot in instant-distance's layout.
const NONE: u32 = u32::MAX;
/// Neighbour slots per node in the bottom layer of instant-distance's layout (its `2 · M`).
const ZERO_SLOTS: usize = 64;
/// Neighbour slots per node in the layers above (its `M`).
const UPPER_SLOTS: usize = 32;
/// Most elements reserved ahead from a length read in a stored graph: a forged length cannot
/// make the decoder allocate more than the bytes it actually reads justify.
const RESERVE_MAX: usize = 1 << 16;

/// Room to reserve for a sequence of a stored graph that says it has `hint` elements: at most
/// [`RESERVE_MAX`], so that a forged length cannot make the decoder allocate more than the
/// bytes it actually reads justify.
fn reserve(hint: Option<usize>) -> usize {
    hint.unwrap_or(0).min(RESERVE_MAX)
}

/// One layer's neighbour lists, end to end: node `i`'s are `ids[ends[i - 1]..ends[i]]`.
#[derive(Clone, Default)]
pub(crate) struct Links {
    pub(crate) ends: Vec<usize>,
    pub(crate) ids: Vec<u32>,
}

impl Links {
    fn len(&self) -> usize {
        self.ends.len()
    }

    /// Node `node`'s neighbours (none for a node the layer does not have).
    #[inline]
    fn of(&self, node: u32) -> &[u32] {
        let i = node as usize;
        let start = match i.checked_sub(1) {
            Some(before) => self.ends.get(before).copied().unwrap_or(usize::MAX),
            None => 0,
        };
        let end = self.ends.get(i).copied().unwrap_or(0);
        self.ids.get(start..end).unwrap_or(&[])
    }

    fn nodes(&self) -> impl Iterator<Item = &[u32]> {
        (0..self.len() as u32).map(move |i| self.of(i))
    }

    /// Gives back spare room.
    fn shrink(&mut self) {
        self.ends.shrink_to_fit();
        self.ids.shrink_to_fit();
    }
}

/// A built graph, packed. Point ids are instant-distance's: point 0 is the entry point and the
/// points of each upper layer are the first ones.
pub(crate) struct Graph {
    ef_search: usize,
    dimension: usize,
    scales: Vec<f32>,
    codes: Vec<i8>,
    /// What each point stands for, by point id: the concept and the vector version (kept side
    /// by side rather than as [`Entry`]s, which alignment pads from 24 bytes to 32).
    ids: Vec<ConceptId>,
    vseqs: Vec<u64>,
    zero: Links,
    /// The layers above the bottom one, lowest first: `layers[l - 1]` is layer `l`, over points
    /// `0..layers[l - 1].len()`.
    layers: Vec<Links>,
}

impl Graph {
    /// A packed graph from its parts, laid out as instant-distance lays a graph out (point 0 is
    /// the entry point; the points of each upper layer are the first ones, and each layer's
    /// neighbour ids are inside it): the caller guarantees it.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn from_parts(
        ef_search: usize,
        dimension: usize,
        scales: Vec<f32>,
        codes: Vec<i8>,
        ids: Vec<ConceptId>,
        vseqs: Vec<u64>,
        zero: Links,
        layers: Vec<Links>,
    ) -> Graph {
        Graph {
            ef_search,
            dimension,
            scales,
            codes,
            ids,
            vseqs,
            zero,
            layers,
        }
    }

    /// Number of points.
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    /// Checks the structure a search relies on (the integrity checker's part for a packed
    /// graph): the arrays of one length, the codes of one dimension, every neighbour inside its
    /// layer and no node its own neighbour, each upper layer non-empty and no larger than the one
    /// below, every end offset in order, every scale finite and positive.
    pub(crate) fn check(&self) -> Result<(), String> {
        let n = self.len();
        if self.vseqs.len() != n || self.scales.len() != n || self.zero.len() != n {
            return Err(format!(
                "sizes disagree: {n} ids, {} versions, {} scales, {} nodes",
                self.vseqs.len(),
                self.scales.len(),
                self.zero.len()
            ));
        }
        if self.codes.len() != n * self.dimension {
            return Err(format!(
                "{} code bytes for {n} points of dimension {}",
                self.codes.len(),
                self.dimension
            ));
        }
        if let Some(s) = self.scales.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(format!("a point has the scale {s}"));
        }
        let mut below = n;
        for (level, layer) in std::iter::once(&self.zero).chain(&self.layers).enumerate() {
            if layer.len() > below || (n > 0 && layer.len() == 0) {
                return Err(format!("layer {level} has {} nodes", layer.len()));
            }
            if layer.ends.windows(2).any(|w| w[0] > w[1])
                || layer.ends.last().is_some_and(|&e| e != layer.ids.len())
            {
                return Err(format!("layer {level}'s end offsets are out of order"));
            }
            for (node, links) in layer.nodes().enumerate() {
                if let Some(&bad) = links.iter().find(|&&l| l as usize >= layer.len()) {
                    return Err(format!(
                        "node {node} of layer {level} links to {bad}, outside the layer"
                    ));
                }
                if links.contains(&(node as u32)) {
                    return Err(format!("node {node} of layer {level} links to itself"));
                }
            }
            below = layer.len();
        }
        Ok(())
    }

    /// The candidate list size of its searches (see [`ef_for`]).
    pub(crate) fn ef(&self) -> usize {
        ef_for(self.ef_search, self.len())
    }

    /// The dimension of its codes (0 if it has no points).
    pub(crate) fn dimension(&self) -> usize {
        self.dimension
    }

    /// Layers above the bottom one.
    pub(crate) fn top(&self) -> usize {
        self.layers.len()
    }

    /// Point `pid`'s level: the highest layer it is in (the points of each upper layer are the
    /// first ones).
    pub(crate) fn level(&self, pid: u32) -> usize {
        self.layers
            .iter()
            .take_while(|l| (pid as usize) < l.len())
            .count()
    }

    /// Point `pid`'s neighbours in `layer` (none where it is not in that layer).
    pub(crate) fn links(&self, layer: usize, pid: u32) -> &[u32] {
        match layer.checked_sub(1) {
            None => self.zero.of(pid),
            Some(upper) => self.layers.get(upper).map_or(&[], |l| l.of(pid)),
        }
    }

    /// What point `pid` stands for.
    pub(crate) fn entry(&self, pid: u32) -> Option<Entry> {
        let i = pid as usize;
        Some(Entry {
            id: *self.ids.get(i)?,
            vseq: *self.vseqs.get(i)?,
        })
    }

    /// What each point stands for, by point id.
    pub(crate) fn entries(&self) -> impl Iterator<Item = Entry> + '_ {
        (0..self.len() as u32).filter_map(|pid| self.entry(pid))
    }

    /// Point `pid`'s code: its scale and components.
    #[inline]
    pub(crate) fn point(&self, pid: u32) -> (f32, &[i8]) {
        let i = pid as usize;
        let d = self.dimension;
        let scale = self.scales.get(i).copied().unwrap_or(0.0);
        let q = self.codes.get(i * d..(i + 1) * d).unwrap_or(&[]);
        (scale, q)
    }

    /// Up to `ef` points nearest the code (`scale`, `q`) (a candidate list that long; its
    /// own is [`ef`](Self::ef)), nearest first, as (what the point stands for, approximate
    /// similarity).
    pub(crate) fn search(
        &self,
        scale: f32,
        q: &[i8],
        ef: usize,
        admit: AdmitId<'_>,
        out: &mut Vec<Found>,
    ) {
        if self.ids.is_empty() {
            return;
        }
        with_scratch(|s| {
            // Point 0 is the entry point, in every layer.
            if descend(self, s, 0, self.layers.len(), ef, (scale, q), admit) {
                out.extend(s.nearest.iter().filter_map(|c| {
                    Some(Found {
                        entry: self.entry(c.pid)?,
                        similarity: 1.0 - c.distance,
                        scale: self.point(c.pid).0,
                    })
                }));
            }
        });
    }

    /// The form it is stored in (instant-distance's `HnswMap` layout).
    pub(crate) fn image(&self) -> MapOut<'_> {
        MapOut {
            hnsw: HnswOut {
                ef_search: self.ef_search,
                points: PointsOut(self),
                zero: LayerOut(&self.zero),
                layers: self.layers.iter().map(LayerOut).collect(),
            },
            values: ValuesOut(self),
        }
    }
}

/// A packed graph's layers for the shared search: layer 0 is `zero`, layer `l` above it
/// `layers[l - 1]`.
impl Layers for Graph {
    fn id_bound(&self) -> usize {
        self.len()
    }

    type Layer<'a> = &'a Links;

    fn layer(&self, l: usize) -> Option<&Links> {
        match l.checked_sub(1) {
            None => Some(&self.zero),
            Some(upper) => self.layers.get(upper),
        }
    }

    #[inline]
    fn neighbours<'g: 'a, 'a>(
        &'g self,
        layer: &'g Links,
        pid: u32,
        _: &'a mut Vec<u32>,
    ) -> &'a [u32] {
        layer.of(pid)
    }

    #[inline]
    fn prefetch(&self, pid: u32) {
        prefetch(self.point(pid).1);
        let i = pid as usize;
        prefetch(self.scales.get(i..=i).unwrap_or(&[]));
    }

    #[inline]
    fn distance(&self, (scale, q): Point<'_>, pid: u32) -> Option<f32> {
        let (p_scale, p) = self.point(pid);
        Some(1.0 - similarity(scale, q, p_scale, p))
    }

    fn concept(&self, pid: u32) -> Option<ConceptId> {
        self.ids.get(pid as usize).copied()
    }
}

/// instant-distance's `HnswMap` as stored (a snapshot's graph), decoded into the packed form
/// (see [`Graph`]).
#[derive(Deserialize)]
pub(crate) struct StoredMap {
    hnsw: HnswImage,
    values: ValuesImage,
}

#[derive(Deserialize)]
struct HnswImage {
    ef_search: usize,
    points: PointsImage,
    zero: LayerImage<ZERO_SLOTS>,
    layers: Vec<LayerImage<UPPER_SLOTS>>,
}

impl TryFrom<StoredMap> for Graph {
    type Error = String;

    /// Checks what a search relies on: as many points as values and bottom-layer nodes, every
    /// neighbour id inside its layer, each upper layer non-empty and no larger than the one
    /// below, and every scale finite and positive.
    fn try_from(image: StoredMap) -> Result<Graph, String> {
        let HnswImage {
            ef_search,
            points,
            zero,
            layers,
        } = image.hnsw;
        let n = points.scales.len();
        if let Some((a, b)) = points.mixed {
            return Err(format!(
                "vector graph holds points of dimensions {a} and {b}"
            ));
        }
        if zero.gap || layers.iter().any(|l| l.gap) {
            return Err("vector graph has a neighbour after an empty slot".into());
        }
        let ValuesImage { ids, vseqs } = image.values;
        if ids.len() != n || zero.links.len() != n {
            return Err(format!(
                "vector graph sizes disagree: {n} points, {} values, {} nodes",
                ids.len(),
                zero.links.len()
            ));
        }
        if points.scales.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return Err("vector graph holds a point with a bad scale".into());
        }
        let in_range = |links: &Links, len: usize| links.ids.iter().all(|&id| (id as usize) < len);
        if !in_range(&zero.links, n) {
            return Err("vector graph has a neighbour id out of range in layer 0".into());
        }
        let mut below = n;
        let mut upper = Vec::with_capacity(layers.len().min(RESERVE_MAX));
        for (i, LayerImage { links: layer, .. }) in layers.into_iter().enumerate() {
            if layer.len() > below || (n > 0 && layer.len() == 0) {
                return Err(format!(
                    "vector graph layer {} has a bad size {}",
                    i + 1,
                    layer.len()
                ));
            }
            if !in_range(&layer, layer.len()) {
                return Err(format!(
                    "vector graph has a neighbour id out of range in layer {}",
                    i + 1
                ));
            }
            below = layer.len();
            upper.push(layer);
        }
        let mut graph = Graph {
            ef_search,
            dimension: points.dimension.unwrap_or(0),
            scales: points.scales,
            codes: points.codes,
            ids,
            vseqs,
            zero: zero.links,
            layers: upper,
        };
        graph.scales.shrink_to_fit();
        graph.codes.shrink_to_fit();
        graph.ids.shrink_to_fit();
        graph.vseqs.shrink_to_fit();
        graph.zero.shrink();
        graph.layers.iter_mut().for_each(Links::shrink);
        Ok(graph)
    }
}

/// The points of a stored graph, decoded end to end: each is a struct of a scale and a sequence
/// of components, all of one dimension (the first two that differ are noted, and refused after
/// decoding, where the refusal can say why).
struct PointsImage {
    scales: Vec<f32>,
    codes: Vec<i8>,
    dimension: Option<usize>,
    mixed: Option<(usize, usize)>,
}

impl<'de> Deserialize<'de> for PointsImage {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Points;
        impl<'de> Visitor<'de> for Points {
            type Value = PointsImage;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a sequence of quantized points")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<PointsImage, A::Error> {
                let hint = reserve(seq.size_hint());
                let mut points = PointsImage {
                    scales: Vec::with_capacity(hint),
                    codes: Vec::new(),
                    dimension: None,
                    mixed: None,
                };
                while let Some(()) = seq.next_element_seed(PointSeed(&mut points))? {}
                Ok(points)
            }
        }
        d.deserialize_seq(Points)
    }
}

/// Decodes one point, appending it to the [`PointsImage`].
struct PointSeed<'p>(&'p mut PointsImage);

impl<'de> DeserializeSeed<'de> for PointSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_struct("Code", &["scale", "q"], self)
    }
}

impl<'de> Visitor<'de> for PointSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a point: a scale and its components")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let points = self.0;
        let scale: f32 = seq
            .next_element()?
            .ok_or_else(|| A::Error::invalid_length(0, &"a scale"))?;
        let before = points.codes.len();
        seq.next_element_seed(ComponentsSeed(&mut points.codes))?
            .ok_or_else(|| A::Error::invalid_length(1, &"components"))?;
        let dimension = points.codes.len() - before;
        match points.dimension {
            None => {
                points.dimension = Some(dimension);
            }
            Some(d) if d != dimension => {
                points.mixed.get_or_insert((d, dimension));
            }
            Some(_) => {}
        }
        points.scales.push(scale);
        Ok(())
    }
}

/// Appends a sequence of components to a code buffer.
struct ComponentsSeed<'c>(&'c mut Vec<i8>);

impl<'de> DeserializeSeed<'de> for ComponentsSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ComponentsSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("quantized components")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(c) = seq.next_element::<i8>()? {
            self.0.push(c);
        }
        Ok(())
    }
}

/// One layer as stored: a sequence of nodes of `N` neighbour slots each, decoded into [`Links`].
/// A node's neighbours are the slots before its first empty one; a neighbour after an empty
/// slot (`gap`) is refused after decoding (instant-distance never writes one, and would not
/// read it).
struct LayerImage<const N: usize> {
    links: Links,
    gap: bool,
}

impl<'de, const N: usize> Deserialize<'de> for LayerImage<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Nodes<const N: usize>;
        impl<'de, const N: usize> Visitor<'de> for Nodes<N> {
            type Value = LayerImage<N>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a sequence of nodes of {N} neighbour slots")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let hint = reserve(seq.size_hint());
                let mut layer = LayerImage {
                    links: Links {
                        ends: Vec::with_capacity(hint),
                        ids: Vec::new(),
                    },
                    gap: false,
                };
                while let Some(()) = seq.next_element_seed(NodeSeed(&mut layer))? {}
                Ok(layer)
            }
        }
        d.deserialize_seq(Nodes::<N>)
    }
}

/// Decodes one node's `N` slots, appending its neighbours to the layer.
struct NodeSeed<'l, const N: usize>(&'l mut LayerImage<N>);

impl<'de, const N: usize> DeserializeSeed<'de> for NodeSeed<'_, N> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_tuple(N, self)
    }
}

impl<'de, const N: usize> Visitor<'de> for NodeSeed<'_, N> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{N} point ids")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let layer = self.0;
        let mut ended = false;
        for i in 0..N {
            let id: u32 = seq
                .next_element()?
                .ok_or_else(|| A::Error::invalid_length(i, &"a node's every slot"))?;
            if id == NONE {
                ended = true;
            } else if ended {
                layer.gap = true;
            } else {
                layer.links.ids.push(id);
            }
        }
        layer.links.ends.push(layer.links.ids.len());
        Ok(())
    }
}

/// The values of a stored graph (a sequence of [`Entry`]), decoded side by side.
struct ValuesImage {
    ids: Vec<ConceptId>,
    vseqs: Vec<u64>,
}

impl<'de> Deserialize<'de> for ValuesImage {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Values;
        impl<'de> Visitor<'de> for Values {
            type Value = ValuesImage;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a sequence of entries")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let hint = reserve(seq.size_hint());
                let mut values = ValuesImage {
                    ids: Vec::with_capacity(hint),
                    vseqs: Vec::with_capacity(hint),
                };
                while let Some(entry) = seq.next_element::<Entry>()? {
                    values.ids.push(entry.id);
                    values.vseqs.push(entry.vseq);
                }
                Ok(values)
            }
        }
        d.deserialize_seq(Values)
    }
}

/// [`Graph::image`]: instant-distance's `HnswMap` layout, borrowed from the packed graph.
#[derive(Serialize)]
pub(crate) struct MapOut<'a> {
    hnsw: HnswOut<'a>,
    values: ValuesOut<'a>,
}

struct ValuesOut<'a>(&'a Graph);

impl Serialize for ValuesOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let graph = self.0;
        let mut seq = s.serialize_seq(Some(graph.ids.len().min(graph.vseqs.len())))?;
        for entry in graph.entries() {
            seq.serialize_element(&entry)?;
        }
        seq.end()
    }
}

#[derive(Serialize)]
struct HnswOut<'a> {
    ef_search: usize,
    points: PointsOut<'a>,
    zero: LayerOut<'a, ZERO_SLOTS>,
    layers: Vec<LayerOut<'a, UPPER_SLOTS>>,
}

struct PointsOut<'a>(&'a Graph);

/// One point as instant-distance's point type (our quantized code) serializes itself.
#[derive(Serialize)]
struct PointOut<'a> {
    scale: f32,
    q: &'a [i8],
}

impl Serialize for PointsOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let graph = self.0;
        let n = graph.scales.len();
        let mut seq = s.serialize_seq(Some(n))?;
        for pid in 0..n as u32 {
            let (scale, q) = graph.point(pid);
            seq.serialize_element(&PointOut { scale, q })?;
        }
        seq.end()
    }
}

struct LayerOut<'a, const N: usize>(&'a Links);

impl<const N: usize> Serialize for LayerOut<'_, N> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for node in self.0.nodes() {
            seq.serialize_element(&NodeOut::<N>(node))?;
        }
        seq.end()
    }
}

/// A node's neighbours in `N` slots, the rest empty.
struct NodeOut<'a, const N: usize>(&'a [u32]);

impl<const N: usize> Serialize for NodeOut<'_, N> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut tuple = s.serialize_tuple(N)?;
        for i in 0..N {
            tuple.serialize_element(&self.0.get(i).copied().unwrap_or(NONE))?;
        }
        tuple.end()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_candidate_list_grows_with_the_graph_up_to_eight_times() {
        assert_eq!(ef_for(96, 0), 96);
        assert_eq!(ef_for(96, 100_000), 96);
        assert_eq!(ef_for(96, 400_000), 253);
        assert_eq!(ef_for(96, 1_000_000), 481);
        assert_eq!(ef_for(96, 10_000_000), 768);
        assert_eq!(ef_for(0, 10), 1);
        let mut last = 0;
        for points in (0..3_000_000).step_by(50_000) {
            let ef = ef_for(96, points);
            assert!(ef >= last, "shrinks at {points}");
            last = ef;
        }
    }

    use super::*;
    use crate::distance::inv_norm;
    use crate::model::ConceptId;
    use crate::storage::sim::Rng;
    use crate::vector::code::{quantize, CodeRef};
    use crate::vector::params::HnswParams;
    use crate::vector::seal::build_map;

    /// `n` codes of dimension `d` around a few centres (clustered, as real embeddings are).
    fn codes(n: usize, d: usize, seed: u64) -> (Vec<f32>, Vec<i8>, Vec<Entry>) {
        let mut rng = Rng::new(seed);
        let centres: Vec<Vec<f32>> = (0..8)
            .map(|_| (0..d).map(|_| rng.unit_f32() - 0.5).collect())
            .collect();
        let (mut scales, mut q, mut entries) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..n {
            let c = &centres[i % centres.len()];
            let v: Vec<f32> = c.iter().map(|x| x + 0.3 * (rng.unit_f32() - 0.5)).collect();
            scales.push(quantize(&v, inv_norm(&v), &mut q));
            entries.push(Entry {
                id: ConceptId(i as u128 * 7 + 1),
                vseq: i as u64 + 1,
            });
        }
        (scales, q, entries)
    }

    /// The parameters instant-distance built segments with (before every graph was grown).
    const BUILT_WITH: HnswParams = HnswParams {
        ef_construction: 24,
        ef_search: 96,
        heuristic: true,
        seed: 0x5u64 << 60 | 0x7574_7261,
    };

    fn packed(bytes: &[u8]) -> Result<Graph, String> {
        let image: StoredMap = postcard::from_bytes(bytes).map_err(|e| e.to_string())?;
        Graph::try_from(image)
    }

    #[test]
    fn packing_keeps_instant_distance_layout_byte_for_byte() {
        for n in [1, 2, 5, 40, 300, 3000] {
            let (scales, q, entries) = codes(n, 16, n as u64);
            let map = build_map(&scales, &q, 16, entries, BUILT_WITH);
            let stored = postcard::to_allocvec(&map).expect("encode");
            let graph = packed(&stored).expect("instant-distance's graph passes the checks");
            assert_eq!(graph.len(), n);
            assert_eq!(graph.dimension(), 16);
            let again = postcard::to_allocvec(&graph.image()).expect("encode");
            assert_eq!(again, stored, "{n} points");
            // Fewer ids than slots: the packing is what saves memory.
            let slots = n * ZERO_SLOTS;
            assert!(
                graph.zero.ids.len() < slots,
                "{} of {slots}",
                graph.zero.ids.len()
            );
        }
    }

    #[test]
    fn search_returns_what_instant_distance_returns_on_the_same_graph() {
        let d = 24;
        let (scales, q, entries) = codes(4000, d, 11);
        let map = build_map(&scales, &q, d, entries, BUILT_WITH);
        let graph = packed(&postcard::to_allocvec(&map).expect("encode")).expect("packed");
        assert!(!graph.layers.is_empty(), "the test needs upper layers");
        let (qs, qq, _) = codes(300, d, 99);
        let mut theirs = instant_distance::Search::default();
        let mut ours = Vec::new();
        let mut differ = 0;
        for (i, &scale) in qs.iter().enumerate() {
            let query = CodeRef {
                scale,
                q: &qq[i * d..(i + 1) * d],
            };
            let expected: Vec<(Entry, f32)> = map
                .search(&query, &mut theirs)
                .map(|item| (*item.value, 1.0 - item.distance))
                .collect();
            ours.clear();
            graph.search(scale, query.q, graph.ef(), None, &mut ours);
            assert_eq!(ours.len(), HnswParams::default().ef_search.min(4000));
            let ours: Vec<(Entry, f32)> = ours.iter().map(|f| (f.entry, f.similarity)).collect();
            if ours != expected {
                differ += 1;
            }
        }
        assert_eq!(differ, 0, "queries answered differently");
        // An empty graph answers nothing.
        let empty = build_map(&[], &[], d, Vec::new(), BUILT_WITH);
        let empty = packed(&postcard::to_allocvec(&empty).expect("encode")).expect("packed");
        ours.clear();
        empty.search(1.0, &qq[..d], empty.ef(), None, &mut ours);
        assert!(ours.is_empty());
    }

    /// A graph of 300 points, changed by `edit`, stored and decoded again.
    fn edited(edit: impl FnOnce(&mut Graph)) -> Result<Graph, String> {
        let (scales, q, entries) = codes(300, 8, 5);
        let map = build_map(&scales, &q, 8, entries, BUILT_WITH);
        let mut graph = packed(&postcard::to_allocvec(&map).expect("encode"))?;
        edit(&mut graph);
        packed(&postcard::to_allocvec(&graph.image()).expect("encode"))
    }

    /// A packed graph passes its checker, and an edited one does not.
    #[test]
    fn the_checker_finds_a_neighbour_outside_its_layer() {
        let built = || {
            let (scales, q, entries) = codes(300, 8, 3);
            let map = build_map(&scales, &q, 8, entries, BUILT_WITH);
            packed(&postcard::to_allocvec(&map).expect("encode")).expect("packs")
        };
        assert_eq!(built().check(), Ok(()));
        let mut broken = built();
        if let Some(first) = broken.zero.ids.first_mut() {
            *first = 10_000;
        }
        assert!(broken
            .check()
            .expect_err("range")
            .contains("outside the layer"));
        let mut broken = built();
        broken.scales[3] = f32::NAN;
        assert!(broken.check().is_err());
    }

    #[test]
    fn inconsistent_graphs_are_refused_as_they_decode() {
        assert!(edited(|_| {}).is_ok());
        type Edit = Box<dyn FnOnce(&mut Graph)>;
        let cases: Vec<(&str, Edit)> = vec![
            (
                "vector graph has a neighbour id out of range in layer 0",
                Box::new(|g| g.zero.ids[3] = 300),
            ),
            (
                "vector graph has a neighbour id out of range in layer 1",
                Box::new(|g| {
                    let len = g.layers[0].len() as u32;
                    g.layers[0].ids[0] = len;
                }),
            ),
            (
                "vector graph sizes disagree: 300 points, 299 values, 300 nodes",
                Box::new(|g| {
                    g.ids.pop();
                    g.vseqs.pop();
                }),
            ),
            (
                "vector graph holds a point with a bad scale",
                Box::new(|g| g.scales[7] = f32::NAN),
            ),
            (
                "vector graph holds a point with a bad scale",
                Box::new(|g| g.scales[7] = 0.0),
            ),
            (
                "vector graph layer 1 has a bad size 0",
                Box::new(|g| g.layers[0] = Links::default()),
            ),
            (
                "vector graph has a neighbour after an empty slot",
                Box::new(|g| g.zero.ids[1] = NONE),
            ),
        ];
        for (message, edit) in cases {
            let err = edited(edit).err().unwrap_or_default();
            assert!(err.contains(message), "expected {message:?}, got {err:?}");
        }
        // A layer larger than the one below it.
        let err = edited(|g| {
            let mut larger = g.zero.clone();
            larger.ends.push(larger.ids.len());
            g.layers[0] = larger;
        })
        .err()
        .unwrap_or_default();
        assert_eq!(err, "vector graph layer 1 has a bad size 301");
    }

    #[test]
    fn points_of_different_dimensions_are_refused() {
        #[derive(Serialize)]
        struct Point {
            scale: f32,
            q: Vec<i8>,
        }
        let points = vec![
            Point {
                scale: 0.5,
                q: vec![1, 2, 3],
            },
            Point {
                scale: 0.5,
                q: vec![1, 2],
            },
        ];
        let bytes = postcard::to_allocvec(&points).expect("encode");
        let decoded: PointsImage = postcard::from_bytes(&bytes).expect("decodes");
        assert_eq!(decoded.mixed, Some((3, 2)));
        assert!(postcard::from_bytes::<PointsImage>(&bytes[..bytes.len() - 1]).is_err());
        // And the graph holding them is refused, saying why.
        let err = edited(|g| {
            g.dimension = 4;
            g.codes.truncate(4 * 299 + 3);
        })
        .err()
        .unwrap_or_default();
        assert!(err.contains("points of dimensions 4 and"), "{err}");
    }

    #[test]
    fn a_forged_length_does_not_allocate_ahead_of_the_bytes() {
        // A layer claiming 2^40 nodes and holding none: refused for running out of bytes,
        // having reserved at most RESERVE_MAX nodes.
        let mut bytes = Vec::new();
        let mut n: u64 = 1 << 40;
        while n >= 0x80 {
            bytes.push((n as u8) | 0x80);
            n >>= 7;
        }
        bytes.push(n as u8);
        assert!(postcard::from_bytes::<LayerImage<ZERO_SLOTS>>(&bytes).is_err());
        assert!(postcard::from_bytes::<PointsImage>(&bytes).is_err());
        assert!(postcard::from_bytes::<ValuesImage>(&bytes).is_err());
    }
}
