//! The `k` best of a stream of scored ids, ties to the lower id.

use crate::model::ConceptId;

/// The `k` best of what it is offered, by similarity (ties: the lower id), kept as it goes.
pub(super) struct Best {
    pub(super) k: usize,
    /// The worst kept on top.
    pub(super) heap: std::collections::BinaryHeap<Ranked>,
}

/// A candidate as [`Best`] keeps it: greater means worse (lower similarity, then higher id), so
/// the heap's top is the one to drop.
pub(super) struct Ranked(f32, ConceptId);

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}
impl Eq for Ranked {}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.0.total_cmp(&self.0).then(self.1.cmp(&other.1))
    }
}

impl Best {
    pub(super) fn new(k: usize) -> Best {
        Best {
            k,
            heap: std::collections::BinaryHeap::with_capacity(k.saturating_add(1).min(4096)),
        }
    }

    pub(super) fn offer(&mut self, id: ConceptId, similarity: f32) {
        // A NaN would sort above every number and come first: never rank one.
        if self.k == 0 || similarity.is_nan() {
            return;
        }
        let candidate = Ranked(similarity, id);
        if self.heap.len() < self.k {
            self.heap.push(candidate);
        } else if self.heap.peek().is_some_and(|worst| candidate < *worst) {
            self.heap.pop();
            self.heap.push(candidate);
        }
    }

    /// The similarity a candidate must beat to be kept, once `k` are kept.
    pub(super) fn worst(&self) -> Option<f32> {
        let full = self.heap.len() >= self.k;
        self.heap.peek().filter(|_| full).map(|worst| worst.0)
    }

    /// Best first.
    pub(super) fn into_sorted(self) -> Vec<(ConceptId, f32)> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|Ranked(sim, id)| (id, sim))
            .collect()
    }
}
