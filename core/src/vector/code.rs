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

/// A candidate a graph found by the codes: what it stands for, its approximate similarity to
/// the query, and its code's scale (which bounds how far the rounding can have moved that
/// similarity, see [`Rounding`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Found {
    pub(crate) entry: Entry,
    pub(crate) similarity: f32,
    pub(crate) scale: f32,
}

/// Room for the rounding of the `f32` arithmetic itself (of both similarities: about
/// `dimension` · 2⁻²⁴, 2.3e-5 at 384 dimensions) on top of the codes' bound.
const ARITHMETIC_SLACK: f32 = 1e-3;

/// How far a query's approximate similarities can be from the exact ones: what lets a search
/// score exactly only the candidates that can still make its best `k`.
///
/// Write each unit vector `u` as its code's vector `c` (scale times components) plus the
/// rounding `r`; each component of `r` is within half the scale `s` (the components are
/// rounded, never clamped), so `|r| ≤ s/2 · √d`. Then for the query `q` and a point `p`:
/// `u_q·u_p − c_q·c_p = c_q·r_p + r_q·u_p`, at most `|c_q|·s_p/2·√d + |r_q|` in size
/// (`|u_p| = 1`). The query's `|c_q|` and `|r_q|` are measured once; the point's side is bounded by its scale.
/// On all-MiniLM-L6-v2's 384-d vectors the bound is about 0.02 (the largest error seen among
/// the 200 nearest of 999 queries: 0.0025).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rounding {
    /// `|r_q|`, the query's own rounding.
    query: f32,
    /// `|c_q| · √d / 2`: what a point's scale is multiplied by.
    per_scale: f32,
}

impl Rounding {
    /// The bound for a query whose unit vector is `unit` and whose code is `code`.
    pub(crate) fn of(unit: &[f32], code: &Code) -> Rounding {
        let (mut error, mut norm) = (0f64, 0f64);
        for (u, q) in unit.iter().zip(&code.q) {
            let c = f64::from(code.scale) * f64::from(*q);
            error += (f64::from(*u) - c).powi(2);
            norm += c * c;
        }
        Rounding {
            query: error.sqrt() as f32,
            per_scale: (norm.sqrt() * (unit.len() as f64).sqrt() / 2.0) as f32,
        }
    }

    /// The most the exact similarity can be of a point whose code has scale `scale` and the
    /// approximate similarity `similarity`.
    #[inline]
    pub(crate) fn most(&self, similarity: f32, scale: f32) -> f32 {
        similarity + self.query + self.per_scale * scale.abs() + ARITHMETIC_SLACK
    }
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
