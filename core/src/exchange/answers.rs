//! The answers of the API as Rust types, serialized by serde: the one definition of each shape
//! the native server sends and the browser build answers (the HTTP API's bodies). Numbers of
//! type `f32` serialize in their shortest decimal form (0.9, not 0.8999999761581421), and a
//! value that is not a number (which validation keeps out) as `null`.

use crate::engine::{CheckpointReport, Stats};
use crate::graph::{PathsResult, Step};
#[cfg(feature = "openapi")]
use crate::model::Kind;
use crate::model::Language;
use crate::model::{Association, Concept, Metadata};
use crate::state::Db;
use crate::vector::VectorCounts;
use serde::Serialize;

/// A concept with every field.
#[derive(Serialize, Debug, Clone, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConceptAnswer {
    /// Its id (32 hex characters).
    pub id: String,
    /// Its text.
    pub content: String,
    /// Its embedding, if it has one.
    pub embedding: Option<Vec<f32>>,
    /// Strength.
    pub strength: f32,
    /// Confidence, in 0..=1.
    pub confidence: f32,
    /// Metadata (string keys to a string, a number, a boolean or a list of strings).
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = std::collections::BTreeMap<String, crate::exchange::bounded::MetadataValue>)
    )]
    pub metadata: Metadata,
    /// When it was first learned (ms since the epoch).
    pub created_ms: u64,
    /// When it was last changed.
    pub updated_ms: u64,
}

impl From<&Concept> for ConceptAnswer {
    fn from(c: &Concept) -> Self {
        ConceptAnswer {
            id: c.id.to_string(),
            content: c.content.to_string(),
            embedding: c.embedding.as_ref().map(|v| v.to_vec()),
            strength: c.strength,
            confidence: c.confidence,
            metadata: (*c.metadata).clone(),
            created_ms: c.created_ms,
            updated_ms: c.updated_ms,
        }
    }
}

/// An association with every field.
#[derive(Serialize, Debug, Clone, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AssociationAnswer {
    /// Where it starts.
    pub source: String,
    /// Where it ends.
    pub target: String,
    /// Its kind.
    #[cfg_attr(feature = "openapi", schema(value_type = Kind))]
    pub kind: &'static str,
    /// Its label, the predicate of the fact (empty: none).
    pub label: String,
    /// Confidence, in 0..=1.
    pub confidence: f32,
    /// Weight.
    pub weight: f32,
    /// Metadata (string keys to a string, a number, a boolean or a list of strings).
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = std::collections::BTreeMap<String, crate::exchange::bounded::MetadataValue>)
    )]
    pub metadata: Metadata,
    /// Since when it holds (ms since the epoch; null: always did).
    pub valid_from_ms: Option<u64>,
    /// The first moment it no longer holds (null: it still does).
    pub valid_until_ms: Option<u64>,
    /// When it was first learned.
    pub created_ms: u64,
    /// When it was last changed.
    pub updated_ms: u64,
}

impl From<&Association> for AssociationAnswer {
    fn from(a: &Association) -> Self {
        AssociationAnswer {
            source: a.source.to_string(),
            target: a.target.to_string(),
            kind: a.kind.as_str(),
            label: a.label.to_string(),
            confidence: a.confidence,
            weight: a.weight,
            metadata: (*a.metadata).clone(),
            valid_from_ms: a.validity.from_ms,
            valid_until_ms: a.validity.until_ms,
            created_ms: a.created_ms,
            updated_ms: a.updated_ms,
        }
    }
}

/// A page of concepts in id order.
#[derive(Serialize, Debug, Clone, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PageAnswer {
    /// The concepts of the page.
    pub concepts: Vec<ConceptAnswer>,
    /// Where the next page starts (`after`), if there is one.
    pub next: Option<String>,
}

/// A concept's associations.
#[derive(Serialize, Debug, Clone, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AssociationsAnswer {
    /// The associations.
    pub associations: Vec<AssociationAnswer>,
}

/// A concept within a neighbourhood.
#[derive(Serialize, Debug, Clone, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NeighbourAnswer {
    /// Its id.
    pub id: String,
    /// Hops from the centre.
    pub hops: u32,
    /// Its text (absent if it was deleted meanwhile).
    pub content: Option<String>,
    /// Its strength.
    pub strength: Option<f32>,
    /// Its confidence.
    pub confidence: Option<f32>,
}

/// Concepts within some hops of a centre, and the associations among them.
#[derive(Serialize, Debug, Clone, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NeighbourhoodAnswer {
    /// The concepts, the centre first.
    pub concepts: Vec<NeighbourAnswer>,
    /// The associations among them.
    pub associations: Vec<AssociationAnswer>,
    /// Whether the limit cut the neighbourhood short.
    pub truncated: bool,
}

/// A concept on a path.
#[derive(Serialize, Debug, Clone, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PathConceptAnswer {
    /// Its id.
    pub id: String,
    /// Its text (absent if it was deleted meanwhile).
    pub content: Option<String>,
}

/// One hop of a path: the association followed, and whether against its direction.
#[derive(Serialize, Debug, Clone, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StepAnswer {
    /// The concept the hop leaves.
    pub from: String,
    /// The concept it reaches.
    pub to: String,
    /// The association's kind.
    #[cfg_attr(feature = "openapi", schema(value_type = Kind))]
    pub kind: &'static str,
    /// The association's label (empty: none).
    pub label: String,
    /// The association's confidence.
    pub confidence: f32,
    /// The association's weight.
    pub weight: f32,
    /// Whether the hop goes against the association's direction.
    pub reversed: bool,
}

impl From<&Step> for StepAnswer {
    fn from(s: &Step) -> Self {
        StepAnswer {
            from: s.from().to_string(),
            to: s.to().to_string(),
            kind: s.association.kind.as_str(),
            label: s.association.label.to_string(),
            confidence: s.association.confidence,
            weight: s.association.weight,
            reversed: s.reversed,
        }
    }
}

/// One path: its concepts, its hops, and its confidence (the product of the hops').
#[derive(Serialize, Debug, Clone, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PathAnswer {
    /// The concepts, from first to last.
    pub concepts: Vec<PathConceptAnswer>,
    /// The hops between them.
    pub steps: Vec<StepAnswer>,
    /// The product of the hops' confidences.
    pub confidence: f32,
}

/// The answer of a path query: the reasoning trail.
#[derive(Serialize, Debug, Clone, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PathsAnswer {
    /// `shortest`, `most_confident` or `k_best`.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::exchange::PathAlgorithm))]
    pub algorithm: &'static str,
    /// The paths found, best first.
    pub paths: Vec<PathAnswer>,
    /// Concepts the search expanded.
    pub visited: u32,
    /// Whether the search ran out of its budget of expanded concepts.
    pub budget_exhausted: bool,
    /// Whether the depth limit left a concept that leads on unexpanded.
    pub depth_limited: bool,
    /// The sequence number of the state the answer is of.
    pub seq: u64,
}

impl PathsAnswer {
    /// The answer for `result`, with each concept's text as `db` has it.
    pub fn new(algorithm: &'static str, result: &PathsResult, db: &Db) -> Self {
        PathsAnswer {
            algorithm,
            paths: result
                .paths
                .iter()
                .map(|p| PathAnswer {
                    concepts: p
                        .concepts
                        .iter()
                        .map(|id| PathConceptAnswer {
                            id: id.to_string(),
                            content: db.concept(*id).map(|c| c.content.to_string()),
                        })
                        .collect(),
                    steps: p.steps.iter().map(StepAnswer::from).collect(),
                    confidence: p.confidence,
                })
                .collect(),
            visited: result.visited,
            budget_exhausted: result.budget_exhausted,
            depth_limited: result.depth_limited,
            seq: result.seq,
        }
    }
}

/// One hit of a search.
#[derive(Serialize, Debug, Clone, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HitAnswer {
    /// The concept's id.
    pub id: String,
    /// Its score: the cosine similarity (a vector search), the BM25 score (a text search), or
    /// the reciprocal rank fusion of both (`Σ 1 / (60 + rank)`, a search with both); for a
    /// concept reached along the graph, the score of the hit it was reached from times the
    /// confidences of the trail. Hits come best first, except with `mmr`: then in the order
    /// maximal marginal relevance chose them.
    pub score: f32,
    /// The concept's text.
    pub content: String,
    /// Which retrievers found it, with its rank (from 1) and score in each.
    pub found_by: Vec<FoundBy>,
}

/// A retriever that found a hit.
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Retriever {
    /// The full-text index (BM25).
    Text,
    /// The vector index (cosine similarity).
    Vector,
    /// Following associations from the other retrievers' hits (`expand`).
    Graph,
}

/// Where one retriever ranked a hit.
#[derive(Serialize, Debug, Clone, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FoundBy {
    /// The retriever.
    pub retriever: Retriever,
    /// The hit's rank in its results, from 1.
    pub rank: u32,
    /// Its score there (cosine similarity, BM25, or for the graph: the score it was reached
    /// with).
    pub score: f32,
    /// For the graph: the associations followed from a hit to this concept (the first hop's
    /// `from` is the hit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trail: Option<Vec<StepAnswer>>,
}

/// The hits of a vector search, best first.
#[derive(Serialize, Debug, Clone, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HitsAnswer {
    /// The hits.
    pub hits: Vec<HitAnswer>,
}

/// A memory's counts, log, checkpoint and vector tiers.
#[derive(Serialize, Debug, Clone, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatsAnswer {
    /// Number of concepts.
    pub concepts: u64,
    /// Number of associations.
    pub associations: u64,
    /// Number of distinct association labels in use.
    pub labels: u64,
    /// The vector dimension, once fixed.
    pub dimension: Option<u32>,
    /// The language texts are stemmed in for full-text search (none: not stemmed).
    pub language: Option<Language>,
    /// The metadata keys indexed for filters, in order.
    pub indexed_keys: Vec<String>,
    /// Vectors by tier.
    pub vectors: VectorCounts,
    /// Sequence number of the last acknowledged record.
    pub last_seq: u64,
    /// Size of the log in bytes.
    pub log_bytes: u64,
    /// Sequence number covered by the last checkpoint.
    pub checkpoint_seq: Option<u64>,
    /// Why the memory refuses writes, if it does.
    pub poisoned: Option<String>,
}

impl From<&Stats> for StatsAnswer {
    fn from(s: &Stats) -> Self {
        StatsAnswer {
            concepts: s.concepts,
            associations: s.associations,
            labels: s.labels,
            dimension: s.dimension,
            language: s.language,
            indexed_keys: s.indexed_keys.clone(),
            vectors: s.vectors,
            last_seq: s.last_seq,
            log_bytes: s.log_bytes,
            checkpoint_seq: s.checkpoint_seq,
            poisoned: s.poisoned.clone(),
        }
    }
}

/// A durable write: the sequence number of the record that holds it.
#[derive(Serialize, Debug, Clone, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WriteAnswer {
    /// The record's sequence number.
    pub seq: u64,
}

/// A concept learned: its id and the record's sequence number.
#[derive(Serialize, Debug, Clone, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConceptWritten {
    /// The concept's id.
    pub id: String,
    /// The record's sequence number.
    pub seq: u64,
}

/// A batch applied: the record's sequence number and the id of each concept it learned.
#[derive(Serialize, Debug, Clone, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BatchWritten {
    /// The record's sequence number.
    pub seq: u64,
    /// The ids of the concepts the batch learned, in its order.
    pub ids: Vec<String>,
}

/// What a checkpoint did.
#[derive(Serialize, Debug, Clone, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CheckpointAnswer {
    /// The sequence number the snapshot covers.
    pub seq: u64,
    /// The snapshot's size in bytes.
    pub snapshot_bytes: u64,
    /// Log bytes the checkpoint made unnecessary.
    pub log_bytes_dropped: u64,
    /// Whether a snapshot was written: false when nothing changed since the last one (no
    /// write, no vector indexing), which is kept.
    pub written: bool,
}

impl From<&CheckpointReport> for CheckpointAnswer {
    fn from(r: &CheckpointReport) -> Self {
        CheckpointAnswer {
            seq: r.seq,
            snapshot_bytes: r.snapshot_bytes,
            log_bytes_dropped: r.log_bytes_dropped,
            written: r.written,
        }
    }
}
