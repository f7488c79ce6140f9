//! The data model: concepts, associations and the operations that change them.

use crate::error::{Error, Result};
use crate::id::ConceptId;
use crate::limits::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The kind of an association. Part of its key: `(source, target, kind)`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub enum Kind {
    /// Related in meaning.
    Semantic,
    /// The source causes the target.
    Causal,
    /// The source comes before the target.
    Temporal,
    /// The source is a parent/category of the target.
    Hierarchical,
    /// The source is made of (contains) the target.
    Compositional,
}

impl Kind {
    /// All kinds, in their canonical order.
    pub const ALL: [Kind; 5] = [
        Kind::Semantic,
        Kind::Causal,
        Kind::Temporal,
        Kind::Hierarchical,
        Kind::Compositional,
    ];

    /// The lowercase name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Semantic => "semantic",
            Kind::Causal => "causal",
            Kind::Temporal => "temporal",
            Kind::Hierarchical => "hierarchical",
            Kind::Compositional => "compositional",
        }
    }

    /// Parses a lowercase kind name.
    pub fn parse(text: &str) -> Result<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == text)
            .ok_or_else(|| {
                Error::invalid(
                    "kind",
                    format!(
                        "{:?} is not a kind; use one of semantic, causal, temporal, hierarchical, compositional",
                        text.chars().take(64).collect::<String>()
                    ),
                )
            })
    }

    /// A bit for kind sets.
    pub(crate) fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of association kinds (a filter). Empty means "no kinds".
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct KindSet(u8);

impl KindSet {
    /// Every kind.
    pub const ALL: KindSet = KindSet(0b1_1111);

    /// The set of the given kinds.
    pub fn of(kinds: &[Kind]) -> KindSet {
        KindSet(kinds.iter().fold(0, |acc, k| acc | k.bit()))
    }

    /// Whether `kind` is in the set.
    pub fn contains(self, kind: Kind) -> bool {
        self.0 & kind.bit() != 0
    }
}

impl Default for KindSet {
    fn default() -> Self {
        KindSet::ALL
    }
}

/// Metadata: string keys to string values, ordered by key.
pub type Metadata = BTreeMap<String, String>;

/// A concept: a unit of knowledge.
///
/// Laid out for a memory that holds millions of them (80 bytes besides its text, embedding and
/// metadata): the text and the embedding are boxed slices (no spare capacity to track) and the
/// metadata a [`ConceptMetadata`] (one pointer, none when empty).
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
    pub metadata: ConceptMetadata,
    /// When it was first learned, ms since the Unix epoch (from the caller).
    pub created_ms: u64,
    /// When it was last learned, ms since the Unix epoch (from the caller).
    pub updated_ms: u64,
}

/// A concept's metadata as it is kept: one pointer, null when there is none (most concepts
/// have none; a [`Metadata`] map is three words even when empty). Reads as a [`Metadata`].
#[derive(Clone, Default, PartialEq)]
pub struct ConceptMetadata(Option<Box<Metadata>>);

/// What an absent [`ConceptMetadata`] reads as.
static NO_METADATA: Metadata = Metadata::new();

impl From<Metadata> for ConceptMetadata {
    fn from(map: Metadata) -> Self {
        ConceptMetadata((!map.is_empty()).then(|| Box::new(map)))
    }
}

impl std::ops::Deref for ConceptMetadata {
    type Target = Metadata;
    fn deref(&self) -> &Metadata {
        self.0.as_deref().unwrap_or(&NO_METADATA)
    }
}

impl fmt::Debug for ConceptMetadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl Serialize for ConceptMetadata {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        (**self).serialize(serializer)
    }
}

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
        /// Confidence (0..=1).
        confidence: f32,
        /// Weight (finite, ≥ 0).
        weight: f32,
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

    /// The operation that learns an association at `at_ms`.
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
            confidence,
            weight,
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
                confidence,
                weight,
                at_ms,
                created_ms,
                ..
            } => {
                check_created(field, *created_ms, *at_ms)?;
                check_unit(&sub(field, "confidence"), *confidence)?;
                check_strength(&sub(field, "weight"), *weight)
            }
            Op::SetDimension { dimension } => check_dimension(&sub(field, "dimension"), *dimension),
            Op::DeleteConcept { .. } | Op::DeleteAssociation { .. } => Ok(()),
        }
    }
}

/// Which rules an operation is checked by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rules {
    /// A new write: today's rules.
    Write,
    /// A record already in a log or snapshot: the rules it was accepted under. A rule made
    /// stricter since must not make a memory that was written fine refuse to open.
    Logged,
}

/// `name` inside `field` (`ops[2].name`), or `name` alone at the top level.
pub(crate) fn sub(field: &str, name: &str) -> String {
    if field.is_empty() {
        name.to_string()
    } else {
        format!("{field}.{name}")
    }
}

fn check_created(field: &str, created_ms: Option<u64>, at_ms: u64) -> Result<()> {
    match created_ms {
        Some(created) if created > at_ms => Err(Error::invalid(
            sub(field, "created_ms"),
            format!("{created} is after the update time {at_ms}"),
        )),
        _ => Ok(()),
    }
}

fn check_unit(field: &str, value: f32) -> Result<()> {
    if value.is_finite() && (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(Error::invalid(field, format!("{value} is outside 0..=1")))
    }
}

fn check_strength(field: &str, value: f32) -> Result<()> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!("{value} must be a finite number ≥ 0"),
        ))
    }
}

pub(crate) fn check_dimension(field: &str, dimension: u32) -> Result<()> {
    if dimension == 0 {
        return Err(Error::invalid(field, "dimension must be at least 1"));
    }
    if dimension > DIMENSION_MAX {
        return Err(Error::limit(
            field,
            u64::from(DIMENSION_MAX),
            u64::from(dimension),
        ));
    }
    Ok(())
}

/// Checks an embedding's values (not its dimension against the memory).
pub(crate) fn check_embedding(field: &str, vector: &[f32]) -> Result<()> {
    check_dimension(
        &format!("{field} (dimension)"),
        vector.len().min(u32::MAX as usize) as u32,
    )?;
    if let Some(i) = vector.iter().position(|v| !v.is_finite()) {
        return Err(Error::invalid(
            format!("{field}[{i}]"),
            format!(
                "{} is not a finite number (NaN and infinity are not allowed)",
                vector[i]
            ),
        ));
    }
    // Checked in the arithmetic that scores it: 32-bit floats, the search's own kernels. A
    // vector whose squared length overflows them (components near 1.8e19 or more) would score
    // as infinity or NaN; one so short that its inverse length overflows has no direction
    // they can represent.
    if vector.iter().all(|&x| x == 0.0) {
        return Err(Error::invalid(
            field,
            "the vector has zero length, so it has no direction to compare by cosine similarity",
        ));
    }
    let norm_sq = crate::vector::dot(vector, vector);
    if !norm_sq.is_finite() {
        return Err(Error::invalid(
            field,
            format!(
                "the vector's squared length overflows 32-bit floats ({norm_sq}); scale it down (cosine similarity does not depend on length)"
            ),
        ));
    }
    let inv = crate::vector::inv_norm(vector);
    if norm_sq == 0.0 || !(inv.is_finite() && inv.is_normal()) {
        return Err(Error::invalid(
            field,
            "the vector is too short for 32-bit floats to give it a direction; scale it up (cosine similarity does not depend on length)",
        ));
    }
    Ok(())
}

/// The embedding rule of builds before vectors were checked in 32-bit arithmetic: finite
/// components and a length that is finite and not zero in 64-bit arithmetic. Such vectors score
/// as nothing (they are never ranked) but the memory that holds them opens.
fn check_logged_embedding(field: &str, vector: &[f32]) -> Result<()> {
    check_dimension(
        &format!("{field} (dimension)"),
        vector.len().min(u32::MAX as usize) as u32,
    )?;
    let norm_sq: f64 = vector.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
    if vector.iter().any(|v| !v.is_finite()) || norm_sq == 0.0 || !norm_sq.is_finite() {
        return Err(Error::invalid(
            field,
            "not a finite vector of non-zero length",
        ));
    }
    Ok(())
}

fn check_metadata(field: &str, metadata: &Metadata) -> Result<()> {
    if metadata.len() > METADATA_ENTRIES_MAX {
        return Err(Error::limit(
            format!("{field} (entries)"),
            METADATA_ENTRIES_MAX as u64,
            metadata.len() as u64,
        ));
    }
    let mut total = 0usize;
    for (key, value) in metadata {
        if key.is_empty() {
            return Err(Error::invalid(field, "metadata keys must not be empty"));
        }
        if key.len() > METADATA_KEY_BYTES_MAX {
            return Err(Error::limit(
                format!("{field} key (bytes)"),
                METADATA_KEY_BYTES_MAX as u64,
                key.len() as u64,
            ));
        }
        if value.len() > METADATA_VALUE_BYTES_MAX {
            return Err(Error::limit(
                format!("{field}[{key:?}] (bytes)"),
                METADATA_VALUE_BYTES_MAX as u64,
                value.len() as u64,
            ));
        }
        total += key.len() + value.len();
    }
    if total > METADATA_BYTES_MAX {
        return Err(Error::limit(
            format!("{field} (total bytes)"),
            METADATA_BYTES_MAX as u64,
            total as u64,
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(content: &str) -> Op {
        Op::put_concept(ConceptInput::new(content), 1)
    }

    #[test]
    fn kinds_round_trip_and_bad_kind_lists_choices() {
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.as_str()), Ok(kind));
        }
        let err = Kind::parse("friendship").expect_err("unknown kind");
        assert!(err.to_string().contains("semantic, causal"), "{err}");
    }

    #[test]
    fn rejects_bad_values_naming_the_field() {
        let mut op = put("x");
        if let Op::PutConcept { confidence, .. } = &mut op {
            *confidence = 1.5;
        }
        let err = op.validate("ops[2]").expect_err("confidence 1.5");
        assert_eq!(
            err.to_string(),
            "invalid ops[2].confidence: 1.5 is outside 0..=1"
        );

        let op = Op::put_concept(
            ConceptInput::new("x").with_embedding(vec![1.0, f32::NAN]),
            1,
        );
        let err = op.validate("op").expect_err("NaN");
        assert!(err.to_string().contains("op.embedding[1]"), "{err}");

        let op = Op::put_concept(ConceptInput::new("x").with_embedding(vec![0.0, 0.0]), 1);
        assert!(op.validate("op").is_err());

        let op = Op::put_concept(ConceptInput::new("y".repeat(CONTENT_BYTES_MAX + 1)), 1);
        let err = op.validate("op").expect_err("too long");
        assert_eq!(err.code(), "limit_exceeded");
        assert!(err.to_string().contains("262144"), "{err}");

        let op = Op::put_association(ConceptId(1), ConceptId(2), Kind::Causal, 0.5, -1.0, 1);
        assert!(op
            .validate("op")
            .expect_err("weight")
            .to_string()
            .contains("op.weight"));
    }

    #[test]
    fn metadata_limits_are_enforced() {
        let mut input = ConceptInput::new("x");
        for i in 0..=METADATA_ENTRIES_MAX {
            input.metadata.insert(format!("k{i}"), "v".into());
        }
        let err = Op::put_concept(input, 1)
            .validate("op")
            .expect_err("entries");
        assert!(err.to_string().contains("entries"), "{err}");
    }
}
