//! Associations: typed, weighted, directed edges between two concepts, and their keys.

use crate::model::{ConceptId, Kind};
use serde::{Deserialize, Serialize};

/// An association: a typed, weighted, directed edge between two concepts.
#[derive(Clone, Copy, PartialEq, Debug, Serialize, Deserialize)]
pub struct Association {
    /// Where it starts.
    pub source: ConceptId,
    /// Where it ends.
    pub target: ConceptId,
    /// What kind of link it is.
    pub kind: Kind,
    /// How sure we are of it (0..=1).
    pub confidence: f32,
    /// Its weight (finite, ≥ 0).
    pub weight: f32,
    /// When it was first learned (ms, from the caller).
    pub created_ms: u64,
    /// When it was last learned (ms, from the caller).
    pub updated_ms: u64,
}

impl Association {
    /// Its key.
    pub fn key(&self) -> AssociationKey {
        AssociationKey {
            source: self.source,
            target: self.target,
            kind: self.kind,
        }
    }
}

/// The key of an association: learning the same key again updates it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct AssociationKey {
    /// Where it starts.
    pub source: ConceptId,
    /// Where it ends.
    pub target: ConceptId,
    /// Its kind.
    pub kind: Kind,
}
