//! Association kinds and sets of them (filters).

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The kind of an association. Part of its key: `(source, target, kind, label)`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
// On the wire a kind is its lowercase name (`as_str`); serde's own names are the log's and
// never reach JSON.
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(rename_all = "lowercase")
)]
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
                let names: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
                Error::invalid(
                    "kind",
                    format!(
                        "{:?} is not a kind; use one of {}",
                        text.chars().take(64).collect::<String>(),
                        names.join(", ")
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
