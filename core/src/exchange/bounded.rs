//! Sequences and maps read from JSON that stop growing once they pass their limit.
//!
//! A request body of a few megabytes can hold a million tiny operations or metadata entries;
//! read into a plain `Vec` or map, each would be allocated before the limit on their number is
//! checked. These keep the first `MAX` (plus one, so the limit check has something to report)
//! and only count the rest, which are parsed but not kept; [`Capped::check`] then reports the
//! limit with the real count.

use crate::error::{Error, Result};
use crate::limits::METADATA_ENTRIES_MAX;
use crate::model::{Metadata, Value};
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::marker::PhantomData;

/// A sequence of at most `MAX` kept items, and how many it had in all.
#[derive(Debug, Clone, PartialEq)]
pub struct Capped<T, const MAX: usize> {
    items: Vec<T>,
    total: usize,
}

impl<T, const MAX: usize> Capped<T, MAX> {
    /// The items, or the limit error naming `field` when there were more than `MAX`.
    pub fn check(self, field: &str) -> Result<Vec<T>> {
        if self.total > MAX {
            return Err(Error::limit(field, MAX as u64, self.total as u64));
        }
        Ok(self.items)
    }

    /// The items borrowed, or the limit error naming `field` when there were more than `MAX`.
    pub fn checked(&self, field: &str) -> Result<&[T]> {
        if self.total > MAX {
            return Err(Error::limit(field, MAX as u64, self.total as u64));
        }
        Ok(&self.items)
    }

    /// How many items the sequence had (kept or not).
    pub fn total(&self) -> usize {
        self.total
    }
}

impl<T, const MAX: usize> From<Vec<T>> for Capped<T, MAX> {
    fn from(items: Vec<T>) -> Self {
        Capped {
            total: items.len(),
            items,
        }
    }
}

impl<'de, T: Deserialize<'de>, const MAX: usize> Deserialize<'de> for Capped<T, MAX> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct Seq<T, const MAX: usize>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>, const MAX: usize> Visitor<'de> for Seq<T, MAX> {
            type Value = Capped<T, MAX>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "an array (of at most {MAX} items)")
            }

            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                let room = seq.size_hint().unwrap_or(0).min(MAX).min(4096);
                let mut items = Vec::with_capacity(room);
                let mut total = 0usize;
                loop {
                    if total < MAX {
                        match seq.next_element::<T>()? {
                            Some(item) => items.push(item),
                            None => break,
                        }
                    } else if seq.next_element::<IgnoredAny>()?.is_none() {
                        break;
                    }
                    total += 1;
                }
                Ok(Capped { items, total })
            }
        }

        deserializer.deserialize_seq(Seq::<T, MAX>(PhantomData))
    }
}

/// A metadata value: a string, a number (a whole number stays whole), a boolean or a list of
/// strings.
// For the OpenAPI document only: the engine reads and writes `model::Value`.
#[cfg(feature = "openapi")]
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum MetadataValue {
    /// A string.
    Text(String),
    /// A number (finite; one without a fraction that fits in 64 bits is kept as a whole number).
    Number(f64),
    /// A flag.
    Bool(bool),
    /// A list of strings (at most 1024).
    List(Vec<String>),
}

/// Metadata as a client sends it: string keys to values (a string, a number, a boolean or a
/// list of strings), the first [`METADATA_ENTRIES_MAX`] kept and the rest counted. A value of
/// another type is refused with its key named.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetadataIn {
    map: Metadata,
    total: usize,
}

impl MetadataIn {
    /// The metadata given (none when absent), or the limit error naming `metadata`.
    pub fn or_none(given: Option<MetadataIn>) -> Result<Metadata> {
        Ok(given
            .map(|m| m.check("metadata"))
            .transpose()?
            .unwrap_or_default())
    }

    /// The metadata, or the limit error naming `field` when it had too many entries.
    pub fn check(self, field: &str) -> Result<Metadata> {
        if self.total > METADATA_ENTRIES_MAX {
            return Err(Error::limit(
                format!("{field} (entries)"),
                METADATA_ENTRIES_MAX as u64,
                self.total as u64,
            ));
        }
        Ok(self.map)
    }
}

impl From<Metadata> for MetadataIn {
    fn from(map: Metadata) -> Self {
        MetadataIn {
            total: map.len(),
            map,
        }
    }
}

impl<'de> Deserialize<'de> for MetadataIn {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct Entries;

        impl<'de> Visitor<'de> for Entries {
            type Value = MetadataIn;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(
                    f,
                    "an object of metadata values (at most {METADATA_ENTRIES_MAX} entries)"
                )
            }

            fn visit_map<A: MapAccess<'de>>(
                self,
                mut entries: A,
            ) -> std::result::Result<MetadataIn, A::Error> {
                let mut map = Metadata::new();
                let mut total = 0usize;
                while let Some(key) = entries.next_key::<String>()? {
                    if total < METADATA_ENTRIES_MAX {
                        let value = entries.next_value::<Value>().map_err(|e| {
                            de::Error::custom(format!(
                                "metadata[{:?}]: {e}",
                                key.chars().take(64).collect::<String>()
                            ))
                        })?;
                        map.insert(key, value);
                    } else {
                        entries.next_value::<IgnoredAny>()?;
                    }
                    total += 1;
                }
                Ok(MetadataIn { map, total })
            }
        }

        deserializer.deserialize_map(Entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_keep_their_limit_and_count_the_rest() {
        let small: Capped<u32, 3> = serde_json::from_str("[1, 2, 3]").expect("parse");
        assert_eq!(small.check("xs"), Ok(vec![1, 2, 3]));
        let big: Capped<u32, 3> =
            serde_json::from_str("[1, 2, 3, 4, 5, {\"a\": [6]}]").expect("parse");
        assert_eq!(big.total(), 6);
        assert_eq!(big.items.len(), 3, "only the first MAX are kept");
        let err = big.check("xs").expect_err("over");
        assert_eq!(err.to_string(), "xs is too large: 6 exceeds the limit of 3");
        // A wrong item inside the limit is still an error.
        assert!(serde_json::from_str::<Capped<u32, 3>>("[1, \"x\"]").is_err());
    }

    #[test]
    fn metadata_names_the_key_of_a_value_of_another_type() {
        let parsed: MetadataIn =
            serde_json::from_str(r#"{"a": "1", "year": 2024, "tags": ["x"]}"#).expect("typed");
        assert_eq!(parsed.map["year"], Value::Integer(2024));
        let err = serde_json::from_str::<MetadataIn>(r#"{"a": "1", "owner": {"name": "x"}}"#)
            .expect_err("object");
        let text = err.to_string();
        assert!(
            text.starts_with("metadata[\"owner\"]: invalid type: map, expected a string, a number, a boolean or a list of strings"),
            "{text}"
        );
        let many: String = format!(
            "{{{}}}",
            (0..100_000)
                .map(|i| format!("\"k{i}\": \"v\""))
                .collect::<Vec<_>>()
                .join(",")
        );
        let parsed: MetadataIn = serde_json::from_str(&many).expect("parse");
        assert_eq!(parsed.map.len(), METADATA_ENTRIES_MAX);
        let err = parsed.check("metadata").expect_err("over");
        assert_eq!(err.code(), "limit_exceeded");
        assert!(err.to_string().contains("100000"), "{err}");
    }
}
