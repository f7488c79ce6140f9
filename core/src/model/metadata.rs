//! Metadata: string keys to typed values — a string, a whole number, a number, a flag or a list
//! of strings — ordered by key.
//!
//! A value is written two ways. In JSON (and any other human-readable format) it is the plain
//! JSON value: `"en"`, `2024`, `0.5`, `true`, `["run", "ran"]`, so that callers neither tag nor
//! encode anything. In the log and the snapshot (postcard, not self-describing) it is an enum:
//! a tag byte, then the value (`docs/FORMAT.md`).

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;

use crate::limits::METADATA_LIST_ITEMS_MAX;

/// Metadata: string keys to typed values, ordered by key.
pub type Metadata = BTreeMap<String, Value>;

/// A metadata value.
#[derive(Clone, PartialEq, Debug)]
pub enum Value {
    /// A string.
    Text(String),
    /// A whole number (a JSON number without a fraction or exponent that fits in 64 bits).
    Integer(i64),
    /// Any other finite number.
    Number(f64),
    /// A flag.
    Bool(bool),
    /// A list of strings (lemmas, tags, aliases).
    List(Vec<String>),
}

impl Value {
    /// The bytes it counts for against the metadata size limits: a string's length; 8 for a
    /// number, 1 for a flag; a list's strings plus one byte per item (so that the byte limits
    /// bound how many items a list holds, too).
    pub fn bytes(&self) -> usize {
        match self {
            Value::Text(s) => s.len(),
            Value::Integer(_) | Value::Number(_) => 8,
            Value::Bool(_) => 1,
            Value::List(items) => items.iter().map(|s| s.len() + 1).sum(),
        }
    }

    /// What kind of value it is, as its JSON type is called.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Text(_) => "string",
            Value::Integer(_) => "integer",
            Value::Number(_) => "number",
            Value::Bool(_) => "boolean",
            Value::List(_) => "list of strings",
        }
    }

    /// The string, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Text(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Text(s)
    }
}

/// The binary form: postcard writes the variant's index, then its value. The order of these
/// variants is the format: never reorder them, only add new ones at the end (with a format
/// version bump).
#[derive(Serialize)]
enum TaggedRef<'a> {
    Text(&'a str),
    Integer(i64),
    Number(f64),
    Bool(bool),
    List(&'a [String]),
}

/// [`TaggedRef`] read back (the same variants, in the same order).
#[derive(Deserialize)]
enum Tagged {
    Text(String),
    Integer(i64),
    Number(f64),
    Bool(bool),
    List(Vec<String>),
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            match self {
                Value::Text(s) => serializer.serialize_str(s),
                Value::Integer(n) => serializer.serialize_i64(*n),
                Value::Number(x) => serializer.serialize_f64(*x),
                Value::Bool(b) => serializer.serialize_bool(*b),
                Value::List(items) => serializer.collect_seq(items),
            }
        } else {
            match self {
                Value::Text(s) => TaggedRef::Text(s),
                Value::Integer(n) => TaggedRef::Integer(*n),
                Value::Number(x) => TaggedRef::Number(*x),
                Value::Bool(b) => TaggedRef::Bool(*b),
                Value::List(items) => TaggedRef::List(items),
            }
            .serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            deserializer.deserialize_any(Plain)
        } else {
            Ok(match Tagged::deserialize(deserializer)? {
                Tagged::Text(s) => Value::Text(s),
                Tagged::Integer(n) => Value::Integer(n),
                Tagged::Number(x) => Value::Number(x),
                Tagged::Bool(b) => Value::Bool(b),
                Tagged::List(items) => Value::List(items),
            })
        }
    }
}

/// Reads a plain JSON value. A list is read item by item and refused once it has more than
/// [`METADATA_LIST_ITEMS_MAX`] items, so that a huge list is never held.
struct Plain;

impl<'de> Visitor<'de> for Plain {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string, a number, a boolean or a list of strings")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Text(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::Text(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Integer(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        // Beyond i64 a whole number is kept as a number (as JavaScript would read it).
        Ok(i64::try_from(v).map_or(Value::Number(v as f64), Value::Integer))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Number(v))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<ListItem>()? {
            if items.len() == METADATA_LIST_ITEMS_MAX {
                return Err(de::Error::custom(format_args!(
                    "a list of more than {METADATA_LIST_ITEMS_MAX} items"
                )));
            }
            items.push(item.0);
        }
        Ok(Value::List(items))
    }
}

/// An item of a list value: a string, or an error that says lists hold strings.
struct ListItem(String);

impl<'de> Deserialize<'de> for ListItem {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Item;
        impl Visitor<'_> for Item {
            type Value = ListItem;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string (a list value holds strings)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ListItem, E> {
                Ok(ListItem(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<ListItem, E> {
                Ok(ListItem(v))
            }
        }
        deserializer.deserialize_string(Item)
    }
}

/// Metadata as a concept or an association keeps it: one pointer, null when there is none
/// (most have none; a [`Metadata`] map is three words even when empty), shared by its copies
/// (an association copied into every path step that takes it). Reads as a [`Metadata`].
#[derive(Clone, Default, PartialEq)]
pub struct KeptMetadata(Option<std::sync::Arc<Metadata>>);

/// What an absent [`KeptMetadata`] reads as.
static NO_METADATA: Metadata = Metadata::new();

impl From<Metadata> for KeptMetadata {
    fn from(map: Metadata) -> Self {
        KeptMetadata((!map.is_empty()).then(|| std::sync::Arc::new(map)))
    }
}

impl std::ops::Deref for KeptMetadata {
    type Target = Metadata;
    fn deref(&self) -> &Metadata {
        self.0.as_deref().unwrap_or(&NO_METADATA)
    }
}

impl fmt::Debug for KeptMetadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<'de> Deserialize<'de> for KeptMetadata {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Metadata::deserialize(deserializer).map(KeptMetadata::from)
    }
}

impl Serialize for KeptMetadata {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Metadata {
        [
            ("lang", Value::from("en")),
            ("year", Value::Integer(2024)),
            ("score", Value::Number(0.25)),
            ("checked", Value::Bool(true)),
            ("lemmas", Value::List(vec!["run".into(), "ran".into()])),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    #[test]
    fn values_are_plain_in_json_and_tagged_in_postcard() {
        let map = sample();
        let json = serde_json::to_string(&map).expect("json");
        assert_eq!(
            json,
            r#"{"checked":true,"lang":"en","lemmas":["run","ran"],"score":0.25,"year":2024}"#
        );
        assert_eq!(serde_json::from_str::<Metadata>(&json).expect("back"), map);
        let bytes = postcard::to_allocvec(&map).expect("postcard");
        assert_eq!(postcard::from_bytes::<Metadata>(&bytes).expect("back"), map);
        // The tag bytes are the format: Text 0, Integer 1, Number 2, Bool 3, List 4.
        let one = |v: Value| postcard::to_allocvec(&v).expect("postcard")[0];
        assert_eq!(
            [
                one(Value::from("x")),
                one(Value::Integer(1)),
                one(Value::Number(1.5)),
                one(Value::Bool(false)),
                one(Value::List(vec![]))
            ],
            [0, 1, 2, 3, 4]
        );
    }

    #[test]
    fn json_numbers_keep_whole_numbers_whole() {
        let map: Metadata =
            serde_json::from_str(r#"{"a": 3, "b": -3, "c": 3.0, "d": 18446744073709551615}"#)
                .expect("parse");
        assert_eq!(map["a"], Value::Integer(3));
        assert_eq!(map["b"], Value::Integer(-3));
        assert_eq!(map["c"], Value::Number(3.0));
        assert_eq!(map["d"], Value::Number(u64::MAX as f64));
    }

    #[test]
    fn wrong_values_say_what_a_value_may_be() {
        let err = serde_json::from_str::<Metadata>(r#"{"a": null}"#).expect_err("null");
        assert!(
            err.to_string()
                .contains("a string, a number, a boolean or a list of strings"),
            "{err}"
        );
        let err = serde_json::from_str::<Metadata>(r#"{"a": ["x", 1]}"#).expect_err("mixed");
        assert!(
            err.to_string().contains("a list value holds strings"),
            "{err}"
        );
        let err = serde_json::from_str::<Metadata>(r#"{"a": {"b": "c"}}"#).expect_err("object");
        assert!(err.to_string().contains("invalid type: map"), "{err}");
        let long = format!(
            r#"{{"a": [{}]}}"#,
            vec!["\"x\""; METADATA_LIST_ITEMS_MAX + 1].join(",")
        );
        let err = serde_json::from_str::<Metadata>(&long).expect_err("long");
        assert!(err.to_string().contains("more than 1024 items"), "{err}");
    }

    #[test]
    fn sizes_count_every_value() {
        assert_eq!(Value::from("abc").bytes(), 3);
        assert_eq!(Value::Integer(7).bytes(), 8);
        assert_eq!(Value::Bool(true).bytes(), 1);
        assert_eq!(Value::List(vec!["ab".into(), String::new()]).bytes(), 4);
    }
}
