//! What the graphs and the fresh tier hold of a vector: its unit vector quantized to one byte
//! per component, and the entry (concept and vector version) it stands for.

use crate::distance::dot_i8;
use crate::model::ConceptId;
use serde::{Deserialize, Serialize};

/// A unit vector quantized to one signed byte per component (`component ≈ scale · q[i]`): what
/// the sealed graphs and the fresh tier hold of each vector. A quarter of the memory of `f32`
/// components, and a search reads a quarter of the bytes per distance. Its distances only choose
/// candidates: every score returned is recomputed exactly from the concept's own embedding.
#[derive(Clone, Debug, PartialEq)]
pub struct Code {
    pub(super) scale: f32,
    pub(super) q: Vec<i8>,
}

impl Code {
    /// Quantizes `v` scaled by `inv_norm` (its inverse norm), i.e. the unit vector along `v`.
    pub fn new(v: &[f32], inv_norm: f32) -> Code {
        let mut q = Vec::with_capacity(v.len());
        let scale = quantize(v, inv_norm, &mut q);
        Code { scale, q }
    }
}

/// Appends the components of `v`'s unit vector (`v` scaled by `inv_norm`, its inverse norm),
/// quantized, to `out`; returns the scale.
pub(crate) fn quantize(v: &[f32], inv_norm: f32, out: &mut Vec<i8>) -> f32 {
    let max = v.iter().fold(0f32, |m, x| m.max((x * inv_norm).abs()));
    let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
    let k = inv_norm / scale;
    // `as` saturates; rounding keeps every value within ±127.
    out.extend(v.iter().map(|x| (x * k).round() as i8));
    scale
}

/// The approximate cosine similarity of the unit vectors two codes stand for, given as their
/// parts (scale and components).
#[inline]
pub(crate) fn similarity(scale_a: f32, a: &[i8], scale_b: f32, b: &[i8]) -> f32 {
    scale_a * scale_b * dot_i8(a, b) as f32
}

/// A borrowed code: the point type instant-distance builds graphs over, in the tests that
/// check the stored layout against instant-distance's own. It serializes as the stored
/// layout's points do.
#[cfg(test)]
#[derive(Clone, Copy, Debug, Serialize)]
pub(crate) struct CodeRef<'a> {
    pub(crate) scale: f32,
    pub(crate) q: &'a [i8],
}

#[cfg(test)]
impl instant_distance::Point for CodeRef<'_> {
    fn distance(&self, other: &Self) -> f32 {
        1.0 - similarity(self.scale, self.q, other.scale, other.q)
    }
}

/// What a sealed entry stands for: a concept and the version of its vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The concept.
    pub id: ConceptId,
    /// The vector version it was sealed with.
    pub vseq: u64,
}
