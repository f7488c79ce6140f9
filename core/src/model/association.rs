//! Associations: typed, labelled, weighted, directed edges between two concepts, valid for a
//! time, and their keys.

use crate::model::{ConceptId, KeptMetadata, Kind};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::sync::Arc;

/// An association's label: the predicate of the fact it states (`works_at`, `founded`), free
/// text, empty by default. Two associations between the same concepts with the same kind are
/// two facts when their labels differ. Compares and orders as its text; cheap to copy (an
/// empty label holds nothing, another shares its text).
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label(Option<Arc<str>>);

impl Label {
    /// The empty label.
    pub const EMPTY: Label = Label(None);

    /// Its text.
    pub fn as_str(&self) -> &str {
        self.0.as_deref().unwrap_or("")
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }
}

impl From<&str> for Label {
    fn from(text: &str) -> Self {
        Label((!text.is_empty()).then(|| Arc::from(text)))
    }
}

impl From<String> for Label {
    fn from(text: String) -> Self {
        Label((!text.is_empty()).then(|| Arc::from(text)))
    }
}

impl fmt::Debug for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Label {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Label {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Label::from)
    }
}

/// When a fact holds: from `from_ms` (inclusive; `None`: always did) until `until_ms`
/// (exclusive; `None`: still does). Times are the caller's (ms since the Unix epoch).
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Validity {
    /// Since when it holds.
    pub from_ms: Option<u64>,
    /// Until when it holds (the first moment it no longer does).
    pub until_ms: Option<u64>,
}

impl Validity {
    /// Always valid.
    pub const ALWAYS: Validity = Validity {
        from_ms: None,
        until_ms: None,
    };

    /// Whether it ends before it starts (which no write may say).
    pub fn is_backwards(&self) -> bool {
        matches!((self.from_ms, self.until_ms), (Some(from), Some(until)) if until < from)
    }

    /// It, ended at `until_ms` (or at the earlier end it has): what an invalidation makes of it.
    pub fn ended_at(self, until_ms: u64) -> Validity {
        Validity {
            until_ms: Some(self.until_ms.map_or(until_ms, |u| u.min(until_ms))),
            ..self
        }
    }

    /// Whether it holds at `t_ms`.
    #[inline]
    pub fn holds_at(&self, t_ms: u64) -> bool {
        self.from_ms.is_none_or(|from| from <= t_ms)
            && self.until_ms.is_none_or(|until| t_ms < until)
    }
}

/// Which associations a read sees.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ValidAt {
    /// Those valid at this time (ms): what reads see by default, at the host's "now".
    Time(u64),
    /// All of them, invalidated ones too.
    Any,
}

impl ValidAt {
    /// Whether an association of `validity` is seen.
    #[inline]
    pub fn admits(self, validity: &Validity) -> bool {
        match self {
            ValidAt::Any => true,
            ValidAt::Time(t) => validity.holds_at(t),
        }
    }
}

/// An association: a typed, labelled, weighted, directed edge between two concepts.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct Association {
    /// Where it starts.
    pub source: ConceptId,
    /// Where it ends.
    pub target: ConceptId,
    /// What kind of link it is.
    pub kind: Kind,
    /// Its predicate (empty by default).
    pub label: Label,
    /// How sure we are of it (0..=1).
    pub confidence: f32,
    /// Its weight (finite, ≥ 0).
    pub weight: f32,
    /// When it was first learned (ms, from the caller).
    pub created_ms: u64,
    /// When it was last learned (ms, from the caller).
    pub updated_ms: u64,
    /// When it holds.
    pub validity: Validity,
    /// Its metadata (source document, extraction model, evidence, ...).
    pub metadata: KeptMetadata,
}

impl Association {
    /// Its key.
    pub fn key(&self) -> AssociationKey {
        AssociationKey {
            source: self.source,
            target: self.target,
            kind: self.kind,
            label: self.label.clone(),
        }
    }
}

/// The key of an association: learning the same key again updates it.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct AssociationKey {
    /// Where it starts.
    pub source: ConceptId,
    /// Where it ends.
    pub target: ConceptId,
    /// Its kind.
    pub kind: Kind,
    /// Its label.
    pub label: Label,
}

impl fmt::Display for AssociationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -[{}", self.source, self.kind)?;
        if !self.label.is_empty() {
            write!(f, " {:?}", self.label.as_str())?;
        }
        write!(f, "]-> {}", self.target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_order_as_their_text_and_validity_is_half_open() {
        let mut labels: Vec<Label> = ["works_at", "", "founded", "a"]
            .into_iter()
            .map(Label::from)
            .collect();
        labels.sort();
        let texts: Vec<&str> = labels.iter().map(Label::as_str).collect();
        assert_eq!(texts, ["", "a", "founded", "works_at"]);
        assert_eq!(Label::from(String::new()), Label::EMPTY);
        let v = Validity {
            from_ms: Some(10),
            until_ms: Some(20),
        };
        let seen: Vec<u64> = [9, 10, 19, 20]
            .into_iter()
            .filter(|t| v.holds_at(*t))
            .collect();
        assert_eq!(seen, [10, 19]);
        assert!(ValidAt::Any.admits(&v));
        assert!(!ValidAt::Time(25).admits(&v));
        assert!(ValidAt::Time(0).admits(&Validity::ALWAYS));
    }
}
