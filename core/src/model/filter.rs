//! Metadata filters: which concepts a search, a listing or a scan keeps, by the values of the
//! metadata keys a memory indexes. A filter is clauses joined by AND; a clause names a key and
//! the values it may have (one: equality; more: one of them). A list of strings has each of its
//! strings: `{"tags": "weather"}` keeps a concept whose `tags` hold "weather".
//!
//! Values compare by what they say, not how they were written: the whole number 2024 and the
//! number 2024.0 are one value; a string never equals a number.

use crate::error::{Error, Result};
use crate::limits::METADATA_KEY_BYTES_MAX;
use crate::model::{Metadata, Value};

/// Most clauses a filter has.
pub const FILTER_CLAUSES_MAX: usize = 16;
/// Most values a clause may allow.
pub const FILTER_VALUES_MAX: usize = 64;

/// Metadata keys to index for filters as a memory keeps them: in increasing order, each once;
/// refused, naming `field`, when there are more than [`INDEXED_KEYS_MAX`] or one is not a
/// metadata key.
///
/// [`INDEXED_KEYS_MAX`]: crate::limits::INDEXED_KEYS_MAX
pub fn indexed_keys(field: &str, mut keys: Vec<String>) -> Result<Vec<String>> {
    keys.sort_unstable();
    keys.dedup();
    crate::model::rules::check_indexed_keys(field, &keys)?;
    Ok(keys)
}

/// One value as filters and the index of metadata compare it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scalar {
    /// A flag.
    Bool(bool),
    /// A whole number (also a number with no fraction that fits in 64 bits).
    Integer(i64),
    /// Any other finite number, by its bits.
    Number(u64),
    /// A string (also each string of a list).
    Text(Box<str>),
}

impl Scalar {
    /// The scalar of a number: whole when it is one.
    fn number(x: f64) -> Scalar {
        // i64's range, exactly: 2^63 is not in it.
        const LIMIT: f64 = 9_223_372_036_854_775_808.0;
        if x.fract() == 0.0 && (-LIMIT..LIMIT).contains(&x) {
            Scalar::Integer(x as i64)
        } else {
            Scalar::Number(x.to_bits())
        }
    }

    /// The scalars a metadata value has: one, or each string of a list.
    pub fn of(value: &Value) -> Vec<Scalar> {
        match value {
            Value::Text(s) => vec![Scalar::Text(s.as_str().into())],
            Value::Integer(n) => vec![Scalar::Integer(*n)],
            Value::Number(x) => vec![Scalar::number(*x)],
            Value::Bool(b) => vec![Scalar::Bool(*b)],
            Value::List(items) => items
                .iter()
                .map(|s| Scalar::Text(s.as_str().into()))
                .collect(),
        }
    }

    /// The scalar a filter asks for with `value` (`field` names it in an error): a list is not
    /// one value.
    pub fn wanted(field: &str, value: &Value) -> Result<Scalar> {
        match value {
            Value::List(_) => Err(Error::invalid(
                field,
                "a filter's value is a string, a number or a flag; to allow several, give them as {\"in\": [...]}",
            )),
            other => Ok(Scalar::of(other).remove(0)),
        }
    }
}

/// A clause: `key` has one of `any_of`.
#[derive(Clone, Debug, PartialEq)]
pub struct Clause {
    /// The metadata key.
    pub key: String,
    /// The values it may have (at least one), in order, each once.
    pub any_of: Vec<Scalar>,
}

/// A filter: every clause holds.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Filter {
    clauses: Vec<Clause>,
}

impl Filter {
    /// The filter of `clauses`, checked (`field` names the request's filter in errors): at most
    /// [`FILTER_CLAUSES_MAX`] clauses, each key once and within the key limit, each with one
    /// to [`FILTER_VALUES_MAX`] values.
    pub fn new(field: &str, clauses: Vec<Clause>) -> Result<Filter> {
        Error::check_count(field, clauses.len() as u32, FILTER_CLAUSES_MAX as u32)?;
        let mut clauses = clauses;
        for clause in &mut clauses {
            let at = format!("{field}[{:?}]", clause.key);
            if clause.key.is_empty() || clause.key.len() > METADATA_KEY_BYTES_MAX {
                return Err(Error::invalid(
                    at,
                    format!("a key is 1 to {METADATA_KEY_BYTES_MAX} bytes"),
                ));
            }
            if clause.any_of.is_empty() {
                return Err(Error::invalid(at, "allows no value: give at least one"));
            }
            Error::check_count(&at, clause.any_of.len() as u32, FILTER_VALUES_MAX as u32)?;
            clause.any_of.sort();
            clause.any_of.dedup();
        }
        clauses.sort_by(|a, b| a.key.cmp(&b.key));
        if let Some(w) = clauses.windows(2).find(|w| w[0].key == w[1].key) {
            return Err(Error::invalid(
                format!("{field}[{:?}]", w[0].key),
                "is named twice",
            ));
        }
        Ok(Filter { clauses })
    }

    /// Its clauses, by key.
    pub fn clauses(&self) -> &[Clause] {
        &self.clauses
    }

    /// Whether it keeps everything (no clause).
    pub fn is_empty(&self) -> bool {
        self.clauses.is_empty()
    }

    /// Whether a concept with `metadata` passes.
    pub fn matches(&self, metadata: &Metadata) -> bool {
        self.clauses.iter().all(|clause| {
            metadata.get(&clause.key).is_some_and(|value| {
                Scalar::of(value)
                    .iter()
                    .any(|s| clause.any_of.binary_search(s).is_ok())
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(pairs: &[(&str, Value)]) -> Metadata {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    fn clause(key: &str, values: &[Value]) -> Clause {
        Clause {
            key: key.into(),
            any_of: values
                .iter()
                .map(|v| Scalar::wanted("filter", v).expect("a scalar"))
                .collect(),
        }
    }

    #[test]
    fn clauses_join_by_and_values_by_or_and_lists_hold_their_strings() {
        let alice = metadata(&[
            ("user", "alice".into()),
            ("year", Value::Integer(2024)),
            ("tags", Value::List(vec!["weather".into(), "rain".into()])),
            ("done", Value::Bool(true)),
        ]);
        let bob = metadata(&[("user", "bob".into()), ("year", Value::Number(2023.0))]);
        let f = |clauses| Filter::new("filter", clauses).expect("valid");
        let user = f(vec![clause("user", &["alice".into()])]);
        assert!(user.matches(&alice) && !user.matches(&bob));
        let either = f(vec![clause("user", &["bob".into(), "alice".into()])]);
        assert!(either.matches(&alice) && either.matches(&bob));
        // 2023.0 is the whole number 2023.
        let year = f(vec![clause("year", &[Value::Integer(2023)])]);
        assert!(year.matches(&bob) && !year.matches(&alice));
        let tagged = f(vec![
            clause("tags", &["rain".into()]),
            clause("done", &[Value::Bool(true)]),
        ]);
        assert!(
            tagged.matches(&alice) && !tagged.matches(&bob),
            "bob has no tags"
        );
        // A string never equals a number; a missing key never matches.
        assert!(!f(vec![clause("year", &["2024".into()])]).matches(&alice));
        assert!(!f(vec![clause("absent", &["x".into()])]).matches(&alice));
        assert!(Filter::default().matches(&bob));
    }

    #[test]
    fn bad_filters_are_refused_by_name() {
        let err = |clauses| {
            Filter::new("filter", clauses)
                .expect_err("refused")
                .to_string()
        };
        assert_eq!(
            err(vec![clause("user", &[])]),
            "invalid filter[\"user\"]: allows no value: give at least one"
        );
        assert_eq!(
            err(vec![clause("a", &["x".into()]), clause("a", &["y".into()])]),
            "invalid filter[\"a\"]: is named twice"
        );
        assert!(err((0..17)
            .map(|i| clause(&format!("k{i}"), &["x".into()]))
            .collect())
        .contains("16"));
        assert!(Scalar::wanted("filter[\"tags\"]", &Value::List(vec![]))
            .expect_err("a list")
            .to_string()
            .contains("{\"in\": [...]}"));
    }
}
