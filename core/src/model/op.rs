//! Operations: the changes a batch (one log record) holds, and their validation.

use crate::error::{Error, Result};
use crate::limits::*;
use crate::model::rules::*;
use crate::model::{
    AssociationKey, ConceptId, ConceptInput, Kind, Label, Language, Metadata, Validity,
};
use serde::{Deserialize, Serialize};

/// One change to a memory. A batch of these is one log record and is atomic.
///
/// Every operation carries its timestamp so that replay reproduces the state exactly.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub enum Op {
    /// Create or replace a concept (all fields). `created_ms` is kept on replace.
    PutConcept {
        /// The concept's id.
        id: ConceptId,
        /// Its text.
        content: String,
        /// Its embedding.
        embedding: Option<Vec<f32>>,
        /// Its strength.
        strength: f32,
        /// Its confidence.
        confidence: f32,
        /// Its metadata.
        metadata: Metadata,
        /// When (ms): the concept's `updated_ms`, and its `created_ms` when it is new.
        at_ms: u64,
        /// An explicit creation time (import of an exported memory); `None` keeps the existing
        /// concept's creation time, or uses `at_ms` for a new one.
        created_ms: Option<u64>,
    },
    /// Delete a concept and every association that touches it.
    DeleteConcept {
        /// The concept.
        id: ConceptId,
    },
    /// Create or update an association. `created_ms` is kept on update.
    PutAssociation {
        /// Source.
        source: ConceptId,
        /// Target.
        target: ConceptId,
        /// Kind.
        kind: Kind,
        /// Label (part of the key).
        label: Label,
        /// Confidence (0..=1).
        confidence: f32,
        /// Weight (finite, ≥ 0).
        weight: f32,
        /// Metadata.
        metadata: Metadata,
        /// When it holds.
        validity: Validity,
        /// When (ms): its `updated_ms`, and its `created_ms` when it is new.
        at_ms: u64,
        /// An explicit creation time (import); `None` keeps the existing one or uses `at_ms`.
        created_ms: Option<u64>,
    },
    /// Delete one association.
    DeleteAssociation {
        /// Its key.
        key: AssociationKey,
    },
    /// Fix the memory's embedding dimension before any embedding is stored.
    SetDimension {
        /// The dimension.
        dimension: u32,
    },
    /// Close an association's validity without deleting it: it holds until `until_ms` (or
    /// until an earlier end it already had), and reads that ask what holds now stop seeing it.
    InvalidateAssociation {
        /// Its key.
        key: AssociationKey,
        /// The first moment it no longer holds (ms).
        until_ms: u64,
        /// When (ms): its `updated_ms`.
        at_ms: u64,
    },
    /// Stem the memory's texts in `language` for full-text search (added in log format 4).
    /// Chosen once: a memory that stems in another language refuses it; the texts learnt
    /// before it are indexed again, stemmed, at the next search by words.
    SetLanguage {
        /// The language.
        language: Language,
    },
    /// Index these metadata keys, and no others, for filters (added in log format 5): the
    /// keys a filter may name. The concepts written before are indexed at once (at the next
    /// filtered read).
    IndexMetadata {
        /// The keys, in strictly increasing order (see [`Op::index_metadata`]).
        keys: Vec<String>,
    },
}

impl Op {
    /// The operation that learns `input` at `at_ms`.
    pub fn put_concept(input: ConceptInput, at_ms: u64) -> Op {
        let id = input.resolved_id();
        Op::PutConcept {
            id,
            content: input.content,
            embedding: input.embedding,
            strength: input.strength,
            confidence: input.confidence,
            metadata: input.metadata,
            at_ms,
            created_ms: None,
        }
    }

    /// The operation that indexes `keys` for filters (sorted, each once).
    pub fn index_metadata(mut keys: Vec<String>) -> Op {
        keys.sort_unstable();
        keys.dedup();
        Op::IndexMetadata { keys }
    }

    /// The operation that learns an association at `at_ms` (no label, no metadata, always
    /// valid).
    pub fn put_association(
        source: ConceptId,
        target: ConceptId,
        kind: Kind,
        confidence: f32,
        weight: f32,
        at_ms: u64,
    ) -> Op {
        Op::PutAssociation {
            source,
            target,
            kind,
            label: Label::EMPTY,
            confidence,
            weight,
            metadata: Metadata::new(),
            validity: Validity::ALWAYS,
            at_ms,
            created_ms: None,
        }
    }

    /// Checks everything about the operation that does not depend on the memory's state, naming
    /// fields inside `field` (`ops[2].confidence`; just `confidence` when `field` is empty).
    pub fn validate(&self, field: &str) -> Result<()> {
        self.validate_under(field, Rules::Write)
    }

    /// [`validate`](Self::validate) under `rules`.
    pub(crate) fn validate_under(&self, field: &str, rules: Rules) -> Result<()> {
        match self {
            Op::PutConcept {
                content,
                embedding,
                strength,
                confidence,
                metadata,
                at_ms,
                created_ms,
                ..
            } => {
                check_created(field, *created_ms, *at_ms)?;
                if content.len() > CONTENT_BYTES_MAX {
                    return Err(Error::limit(
                        format!("{} (bytes)", sub(field, "content")),
                        CONTENT_BYTES_MAX as u64,
                        content.len() as u64,
                    ));
                }
                if content.is_empty() {
                    return Err(Error::invalid(
                        sub(field, "content"),
                        "content must not be empty",
                    ));
                }
                check_strength(&sub(field, "strength"), *strength)?;
                check_unit(&sub(field, "confidence"), *confidence)?;
                check_metadata(&sub(field, "metadata"), metadata)?;
                if let Some(vector) = embedding {
                    match rules {
                        Rules::Write => check_embedding(&sub(field, "embedding"), vector)?,
                        Rules::Logged => check_logged_embedding(&sub(field, "embedding"), vector)?,
                    }
                }
                Ok(())
            }
            Op::PutAssociation {
                label,
                confidence,
                weight,
                metadata,
                validity,
                at_ms,
                created_ms,
                ..
            } => {
                check_created(field, *created_ms, *at_ms)?;
                check_label(&sub(field, "label"), label)?;
                check_unit(&sub(field, "confidence"), *confidence)?;
                check_strength(&sub(field, "weight"), *weight)?;
                check_metadata(&sub(field, "metadata"), metadata)?;
                check_validity(field, validity)
            }
            Op::SetDimension { dimension } => check_dimension(&sub(field, "dimension"), *dimension),
            Op::DeleteAssociation { key } | Op::InvalidateAssociation { key, .. } => {
                check_label(&sub(field, "label"), &key.label)
            }
            Op::IndexMetadata { keys } => check_indexed_keys(&sub(field, "keys"), keys),
            Op::DeleteConcept { .. } | Op::SetLanguage { .. } => Ok(()),
        }
    }
}
