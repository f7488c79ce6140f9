//! The fresh tier: vectors not yet in a graph, their codes in chunks side by side, scanned in
//! full by every search.

use std::sync::Arc;

use super::code::Code;
use crate::model::ConceptId;

/// Vectors per chunk of the fresh tier.
pub(super) const FRESH_CHUNK: usize = 1024;

/// Up to [`FRESH_CHUNK`] codes of the fresh tier, side by side so a scan reads them in one
/// sweep.
pub(super) struct FreshChunk {
    pub(super) ids: Vec<ConceptId>,
    pub(super) scales: Vec<f32>,
    pub(super) codes: Vec<i8>,
}

impl FreshChunk {
    pub(super) fn with_room(dimension: usize) -> FreshChunk {
        FreshChunk {
            ids: Vec::with_capacity(FRESH_CHUNK),
            scales: Vec::with_capacity(FRESH_CHUNK),
            codes: Vec::with_capacity(FRESH_CHUNK * dimension),
        }
    }
}

/// A copy made because a search still reads the original: room for a whole chunk, so the last
/// chunk's next pushes do not reallocate.
impl Clone for FreshChunk {
    fn clone(&self) -> FreshChunk {
        let dimension = self.codes.len() / self.ids.len().max(1);
        let mut copy = FreshChunk::with_room(dimension);
        copy.ids.extend_from_slice(&self.ids);
        copy.scales.extend_from_slice(&self.scales);
        copy.codes.extend_from_slice(&self.codes);
        copy
    }
}

/// The fresh tier: the codes of vectors not (validly) in a segment, in chunks that searches
/// share ([`SearchPlan`]): a search scans the chunks it took with no lock held, while the
/// writer changes the tier by copying a chunk a search still holds (copy on write), never by
/// waiting for it. Slot `s` is entry `s % FRESH_CHUNK` of chunk `s / FRESH_CHUNK`; every chunk
/// but the last is full.
#[derive(Default)]
pub(super) struct Fresh {
    pub(super) chunks: Vec<Arc<FreshChunk>>,
    pub(super) len: usize,
    pub(super) dimension: usize,
}

impl Fresh {
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// The id in slot `slot`.
    pub(super) fn id_at(&self, slot: usize) -> Option<ConceptId> {
        let chunk = self.chunks.get(slot / FRESH_CHUNK)?;
        chunk.ids.get(slot % FRESH_CHUNK).copied()
    }

    /// Checks the chunks: every one full but the last, the count right, the codes of one
    /// dimension beside their ids and scales.
    pub(super) fn check(&self) -> std::result::Result<(), String> {
        let mut total = 0;
        for (i, chunk) in self.chunks.iter().enumerate() {
            let n = chunk.ids.len();
            if i + 1 < self.chunks.len() && n != FRESH_CHUNK {
                return Err(format!("fresh chunk {i} is not the last but holds {n}"));
            }
            if chunk.scales.len() != n || chunk.codes.len() != n * self.dimension {
                return Err(format!("fresh chunk {i}'s arrays disagree"));
            }
            total += n;
        }
        if total != self.len {
            return Err(format!("{total} fresh codes, {} counted", self.len));
        }
        Ok(())
    }

    /// Adds a code; returns its slot.
    pub(super) fn push(&mut self, id: ConceptId, code: Code) -> u32 {
        self.dimension = code.q.len();
        if self.len == self.chunks.len() * FRESH_CHUNK {
            self.chunks
                .push(Arc::new(FreshChunk::with_room(self.dimension)));
        }
        if let Some(last) = self.chunks.last_mut() {
            let chunk = Arc::make_mut(last);
            chunk.ids.push(id);
            chunk.scales.push(code.scale);
            chunk.codes.extend_from_slice(&code.q);
        }
        self.len += 1;
        (self.len - 1) as u32
    }

    /// Removes the code in `slot` by moving the last one into it; returns the id moved, if any.
    pub(super) fn swap_remove(&mut self, slot: usize) -> Option<ConceptId> {
        let last = self.len.checked_sub(1)?;
        if slot > last {
            return None;
        }
        let d = self.dimension;
        let tail = Arc::make_mut(self.chunks.last_mut()?);
        let id = tail.ids.pop()?;
        let scale = tail.scales.pop()?;
        let code = tail.codes.split_off(tail.codes.len().saturating_sub(d));
        if tail.ids.is_empty() {
            self.chunks.pop();
        }
        self.len = last;
        if slot == last {
            return None;
        }
        let chunk = Arc::make_mut(self.chunks.get_mut(slot / FRESH_CHUNK)?);
        let at = slot % FRESH_CHUNK;
        chunk.ids[at] = id;
        chunk.scales[at] = scale;
        chunk.codes[at * d..(at + 1) * d].copy_from_slice(&code);
        Some(id)
    }

    /// Every entry, in slot order: (id, scale, components).
    pub(super) fn entries(&self) -> impl Iterator<Item = (ConceptId, f32, &[i8])> {
        scan_entries(&self.chunks, self.dimension)
    }
}

/// The entries of fresh-tier chunks, in order: (id, scale, components).
pub(super) fn scan_entries(
    chunks: &[Arc<FreshChunk>],
    dimension: usize,
) -> impl Iterator<Item = (ConceptId, f32, &[i8])> {
    chunks.iter().flat_map(move |c| {
        c.ids
            .iter()
            .zip(&c.scales)
            .zip(c.codes.chunks_exact(dimension.max(1)))
            .map(|((id, scale), q)| (*id, *scale, q))
    })
}
