//! Concept ids: 128 bits, written as 32 lowercase hex characters.

use crate::error::Error;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The id of a concept: 128 bits, shown as 32 lowercase hexadecimal characters.
///
/// When a caller gives no id, [`ConceptId::from_content`] derives one from the content with
/// XXH3-128, a hash with a frozen specification, so the same text always maps to the same id on
/// every platform and version.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ConceptId(pub u128);

/// Number of characters in the text form of a [`ConceptId`].
pub const CONCEPT_ID_CHARS: usize = 32;

impl ConceptId {
    /// The id derived from a concept's content.
    pub fn from_content(content: &str) -> Self {
        ConceptId(xxhash_rust::xxh3::xxh3_128(content.as_bytes()))
    }

    /// Parses the 32-character lowercase hex form.
    pub fn parse(text: &str) -> Result<Self, Error> {
        Self::parse_field("id", text)
    }

    /// Parses the 32-character lowercase hex form of the field `field` (named in the error).
    pub fn parse_field(field: &str, text: &str) -> Result<Self, Error> {
        let bad = || Error::InvalidId {
            field: field.to_string(),
            text: text.chars().take(64).collect(),
        };
        if text.len() != CONCEPT_ID_CHARS {
            return Err(bad());
        }
        let mut value: u128 = 0;
        for byte in text.bytes() {
            let digit = match byte {
                b'0'..=b'9' => byte - b'0',
                b'a'..=b'f' => byte - b'a' + 10,
                _ => return Err(bad()),
            };
            value = (value << 4) | u128::from(digit);
        }
        Ok(ConceptId(value))
    }
}

impl fmt::Display for ConceptId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl fmt::Debug for ConceptId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConceptId({self})")
    }
}

impl FromStr for ConceptId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        ConceptId::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_text() {
        let id = ConceptId(0x0123_4567_89ab_cdef_0011_2233_4455_6677);
        assert_eq!(id.to_string(), "0123456789abcdef0011223344556677");
        assert_eq!(ConceptId::parse(&id.to_string()), Ok(id));
        assert_eq!(ConceptId(1).to_string(), "00000000000000000000000000000001");
    }

    #[test]
    fn rejects_bad_text_with_a_helpful_message() {
        for bad in [
            "",
            "abc",
            "0123456789ABCDEF0123456789abcdef",
            "0123456789abcdef0123456789abcdeg",
            "0123456789abcdef0123456789abcdef0",
            "é123456789abcdef0123456789abcde",
        ] {
            let err = ConceptId::parse(bad).expect_err(bad);
            assert_eq!(err.code(), "invalid_id");
            assert!(
                err.to_string().contains("32 lowercase hexadecimal"),
                "{err}"
            );
        }
    }

    #[test]
    fn derived_ids_are_stable() {
        // Frozen: changing the hash would silently split existing concepts in two.
        assert_eq!(
            ConceptId::from_content("hello").to_string(),
            "b5e9c1ad071b3e7fc779cfaa5e523818"
        );
        assert_eq!(ConceptId::from_content("a"), ConceptId::from_content("a"));
        assert_ne!(ConceptId::from_content("a"), ConceptId::from_content("b"));
    }
}
