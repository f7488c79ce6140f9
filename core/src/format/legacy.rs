//! The shapes of earlier format versions, frozen: read and turned into today's types, never
//! written. Each type here encodes exactly as the version it names did (postcard follows the
//! declaration: the order of variants and fields is the format), so it must never change;
//! `core/tests/fixtures/` holds files of each version that prove it.
//!
//! - Log version 1 and snapshot version 3: metadata values were strings only.
//! - Log versions 1 and 2, snapshot versions 3 to 5: associations had no label, metadata or
//!   validity (they read as label "", no metadata, always valid).

use crate::model::{
    Association, AssociationKey, ConceptId, KeptMetadata, Kind, Label, Metadata, Op, Validity,
    Value,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Metadata as log version 1 and snapshot version 3 held it: strings only.
pub type MetadataV1 = BTreeMap<String, String>;

/// Version 1 metadata as today's: every value a string.
pub fn metadata_from_v1(map: MetadataV1) -> Metadata {
    map.into_iter().map(|(k, v)| (k, Value::Text(v))).collect()
}

/// An association's key as log version 1 held it.
#[derive(Clone, Copy, PartialEq, Debug, Serialize, Deserialize)]
pub struct KeyV1 {
    /// Where it starts.
    pub source: ConceptId,
    /// Where it ends.
    pub target: ConceptId,
    /// Its kind.
    pub kind: Kind,
}

/// An operation as log version 1 (and the cluster's first `Batch` entries) held it.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub enum OpV1 {
    /// See [`Op::PutConcept`].
    #[allow(missing_docs)]
    PutConcept {
        id: ConceptId,
        content: String,
        embedding: Option<Vec<f32>>,
        strength: f32,
        confidence: f32,
        metadata: MetadataV1,
        at_ms: u64,
        created_ms: Option<u64>,
    },
    /// See [`Op::DeleteConcept`].
    #[allow(missing_docs)]
    DeleteConcept { id: ConceptId },
    /// See [`Op::PutAssociation`].
    #[allow(missing_docs)]
    PutAssociation {
        source: ConceptId,
        target: ConceptId,
        kind: Kind,
        confidence: f32,
        weight: f32,
        at_ms: u64,
        created_ms: Option<u64>,
    },
    /// See [`Op::DeleteAssociation`].
    #[allow(missing_docs)]
    DeleteAssociation { key: KeyV1 },
    /// See [`Op::SetDimension`].
    #[allow(missing_docs)]
    SetDimension { dimension: u32 },
}

impl From<KeyV1> for AssociationKey {
    fn from(key: KeyV1) -> AssociationKey {
        AssociationKey {
            source: key.source,
            target: key.target,
            kind: key.kind,
            label: Label::EMPTY,
        }
    }
}

/// An operation as log version 2 (and the cluster's `Batch` entries before labels) held it:
/// typed metadata on concepts, associations without label, metadata or validity.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub enum OpV2 {
    /// See [`Op::PutConcept`].
    #[allow(missing_docs)]
    PutConcept {
        id: ConceptId,
        content: String,
        embedding: Option<Vec<f32>>,
        strength: f32,
        confidence: f32,
        metadata: Metadata,
        at_ms: u64,
        created_ms: Option<u64>,
    },
    /// See [`Op::DeleteConcept`].
    #[allow(missing_docs)]
    DeleteConcept { id: ConceptId },
    /// See [`Op::PutAssociation`].
    #[allow(missing_docs)]
    PutAssociation {
        source: ConceptId,
        target: ConceptId,
        kind: Kind,
        confidence: f32,
        weight: f32,
        at_ms: u64,
        created_ms: Option<u64>,
    },
    /// See [`Op::DeleteAssociation`].
    #[allow(missing_docs)]
    DeleteAssociation { key: KeyV1 },
    /// See [`Op::SetDimension`].
    #[allow(missing_docs)]
    SetDimension { dimension: u32 },
}

impl From<OpV2> for Op {
    fn from(op: OpV2) -> Op {
        match op {
            OpV2::PutConcept {
                id,
                content,
                embedding,
                strength,
                confidence,
                metadata,
                at_ms,
                created_ms,
            } => Op::PutConcept {
                id,
                content,
                embedding,
                strength,
                confidence,
                metadata,
                at_ms,
                created_ms,
            },
            OpV2::DeleteConcept { id } => Op::DeleteConcept { id },
            OpV2::PutAssociation {
                source,
                target,
                kind,
                confidence,
                weight,
                at_ms,
                created_ms,
            } => Op::PutAssociation {
                source,
                target,
                kind,
                label: Label::EMPTY,
                confidence,
                weight,
                metadata: Metadata::new(),
                validity: Validity::ALWAYS,
                at_ms,
                created_ms,
            },
            OpV2::DeleteAssociation { key } => Op::DeleteAssociation { key: key.into() },
            OpV2::SetDimension { dimension } => Op::SetDimension { dimension },
        }
    }
}

impl From<OpV1> for Op {
    fn from(op: OpV1) -> Op {
        let v2 = match op {
            OpV1::PutConcept {
                id,
                content,
                embedding,
                strength,
                confidence,
                metadata,
                at_ms,
                created_ms,
            } => OpV2::PutConcept {
                id,
                content,
                embedding,
                strength,
                confidence,
                metadata: metadata_from_v1(metadata),
                at_ms,
                created_ms,
            },
            OpV1::DeleteConcept { id } => OpV2::DeleteConcept { id },
            OpV1::PutAssociation {
                source,
                target,
                kind,
                confidence,
                weight,
                at_ms,
                created_ms,
            } => OpV2::PutAssociation {
                source,
                target,
                kind,
                confidence,
                weight,
                at_ms,
                created_ms,
            },
            OpV1::DeleteAssociation { key } => OpV2::DeleteAssociation { key },
            OpV1::SetDimension { dimension } => OpV2::SetDimension { dimension },
        };
        Op::from(v2)
    }
}

/// An association as snapshot versions 3 to 5 held it.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct AssociationV1 {
    /// Where it starts.
    pub source: ConceptId,
    /// Where it ends.
    pub target: ConceptId,
    /// Its kind.
    pub kind: Kind,
    /// Its confidence.
    pub confidence: f32,
    /// Its weight.
    pub weight: f32,
    /// When it was first learned.
    pub created_ms: u64,
    /// When it was last learned.
    pub updated_ms: u64,
}

impl From<AssociationV1> for Association {
    fn from(a: AssociationV1) -> Association {
        Association {
            source: a.source,
            target: a.target,
            kind: a.kind,
            label: Label::EMPTY,
            confidence: a.confidence,
            weight: a.weight,
            created_ms: a.created_ms,
            updated_ms: a.updated_ms,
            validity: Validity::ALWAYS,
            metadata: KeptMetadata::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Today's operations without typed metadata still encode as version 1's did (so the
    /// cluster's first entries and version 1 logs read back whole), and a version 1 concept
    /// reads with every value a string.
    #[test]
    fn version_1_operations_read_as_todays() {
        let v1 = OpV1::PutConcept {
            id: ConceptId(7),
            content: "rain".into(),
            embedding: Some(vec![1.0, 0.5]),
            strength: 2.0,
            confidence: 0.5,
            metadata: [("lang".to_string(), "en".to_string())].into(),
            at_ms: 10,
            created_ms: Some(5),
        };
        let bytes = postcard::to_allocvec(&v1).expect("encode");
        let back: OpV1 = postcard::from_bytes(&bytes).expect("decode");
        let Op::PutConcept { metadata, .. } = Op::from(back) else {
            panic!("a concept");
        };
        assert_eq!(metadata["lang"], Value::from("en"));
        let key = OpV1::DeleteAssociation {
            key: KeyV1 {
                source: ConceptId(1),
                target: ConceptId(2),
                kind: Kind::Causal,
            },
        };
        assert_eq!(
            Op::from(key),
            Op::DeleteAssociation {
                key: AssociationKey {
                    source: ConceptId(1),
                    target: ConceptId(2),
                    kind: Kind::Causal,
                    label: Label::EMPTY,
                }
            }
        );
    }
}
