//! Concepts: what a memory stores, and what a caller gives to learn one.

use crate::model::{ConceptId, KeptMetadata, Metadata};
use serde::Serialize;

/// A concept: a unit of knowledge.
///
/// Laid out for a memory that holds millions of them (80 bytes besides its text, embedding and
/// metadata): the text and the embedding are boxed slices (no spare capacity to track) and the
/// metadata a [`KeptMetadata`] (one pointer, none when empty).
#[derive(Clone, PartialEq, Debug, Serialize)]
pub struct Concept {
    /// Its id.
    pub id: ConceptId,
    /// Its text.
    pub content: Box<str>,
    /// Its embedding, if any; every embedding of a memory has the memory's dimension.
    pub embedding: Option<Box<[f32]>>,
    /// How strongly it is held (finite, ≥ 0).
    pub strength: f32,
    /// How sure we are of it (0..=1).
    pub confidence: f32,
    /// Free-form metadata.
    pub metadata: KeptMetadata,
    /// When it was first learned, ms since the Unix epoch (from the caller).
    pub created_ms: u64,
    /// When it was last learned, ms since the Unix epoch (from the caller).
    pub updated_ms: u64,
}

/// What a caller gives to learn a concept. Defaults: derived id, no embedding, strength 1,
/// confidence 1, no metadata.
#[derive(Clone, PartialEq, Debug)]
pub struct ConceptInput {
    /// The id; derived from the content when `None`.
    pub id: Option<ConceptId>,
    /// The text.
    pub content: String,
    /// The embedding.
    pub embedding: Option<Vec<f32>>,
    /// Strength (finite, ≥ 0).
    pub strength: f32,
    /// Confidence (0..=1).
    pub confidence: f32,
    /// Metadata.
    pub metadata: Metadata,
}

impl ConceptInput {
    /// A concept with just content and the defaults.
    pub fn new(content: impl Into<String>) -> Self {
        ConceptInput {
            id: None,
            content: content.into(),
            embedding: None,
            strength: 1.0,
            confidence: 1.0,
            metadata: Metadata::new(),
        }
    }

    /// Sets the id.
    pub fn with_id(mut self, id: ConceptId) -> Self {
        self.id = Some(id);
        self
    }

    /// Sets the embedding.
    pub fn with_embedding(mut self, embedding: Vec<f32>) -> Self {
        self.embedding = Some(embedding);
        self
    }

    /// The id this input will be stored under.
    pub fn resolved_id(&self) -> ConceptId {
        self.id
            .unwrap_or_else(|| ConceptId::from_content(&self.content))
    }
}
