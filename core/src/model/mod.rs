//! The data model: concepts, associations and the operations that change them.
//!
//! - `id`: concept ids (128-bit, shown as 32 hex characters).
//! - `kind`: the five association kinds and sets of them.
//! - `concept`, `association`: what a memory stores; `metadata`: their typed metadata values.
//! - `op`: the operations a batch holds, and their validation by the rules in `rules`.

mod association;
mod concept;
mod filter;
mod id;
mod kind;
mod language;
mod metadata;
mod op;
pub(crate) mod rules;

pub use association::{Association, AssociationKey, Label, ValidAt, Validity};
pub use concept::{Concept, ConceptInput};
pub use filter::{indexed_keys, Clause, Filter, Scalar, FILTER_CLAUSES_MAX, FILTER_VALUES_MAX};
pub use id::{ConceptId, CONCEPT_ID_CHARS};
pub use kind::{Kind, KindSet};
pub use language::Language;
pub use metadata::{KeptMetadata, Metadata, Value};
pub use op::Op;
pub(crate) use rules::{check_dimension, check_embedding, Rules};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::*;

    fn put(content: &str) -> Op {
        Op::put_concept(ConceptInput::new(content), 1)
    }

    #[test]
    fn times_in_errors_read_as_utc_dates() {
        use rules::time_text;
        for (ms, text) in [
            (0, "0 (1970-01-01T00:00:00Z)"),
            (999, "999 (1970-01-01T00:00:00.999Z)"),
            (951_782_400_000, "951782400000 (2000-02-29T00:00:00Z)"),
            (
                1_709_210_096_789,
                "1709210096789 (2024-02-29T12:34:56.789Z)",
            ),
            (4_102_444_800_000, "4102444800000 (2100-01-01T00:00:00Z)"),
            (
                253_402_300_799_999,
                "253402300799999 (9999-12-31T23:59:59.999Z)",
            ),
        ] {
            assert_eq!(time_text(ms), text);
        }
        // Day after day for 3,000 years, each date follows the one before.
        let date = |day: u64| -> (u64, u64, u64) {
            let text = time_text(day * 86_400_000);
            let inner = &text[text.find('(').map_or(0, |i| i + 1)..text.find('T').unwrap_or(0)];
            let parts: Vec<u64> = inner.split('-').filter_map(|p| p.parse().ok()).collect();
            (parts[0], parts[1], parts[2])
        };
        let mut before = date(0);
        for day in 1..3_000 * 366 {
            let now = date(day);
            let (y, m, d) = before;
            let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
            let last = match m {
                2 if leap => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            let next = if d < last {
                (y, m, d + 1)
            } else if m < 12 {
                (y, m + 1, 1)
            } else {
                (y + 1, 1, 1)
            };
            assert_eq!(now, next, "day {day}");
            before = now;
        }
        assert!(time_text(u64::MAX).starts_with("18446744073709551615 ("));
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
            "invalid ops[2].confidence: must be from 0 to 1, not 1.5"
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
        let with = |key: &str, value: Value| {
            let mut input = ConceptInput::new("x");
            input.metadata.insert(key.into(), value);
            Op::put_concept(input, 1).validate("op")
        };
        assert_eq!(
            with("w", Value::Number(f64::NAN))
                .expect_err("NaN")
                .to_string(),
            "invalid op.metadata[\"w\"]: NaN is not a finite number"
        );
        let err = with("tags", Value::List(vec![String::new(); 1025])).expect_err("items");
        assert_eq!(
            err.to_string(),
            "op.metadata[\"tags\"] (items) is too large: 1025 exceeds the limit of 1024"
        );
        let err = with("tags", Value::List(vec!["x".repeat(99); 90])).expect_err("bytes");
        assert_eq!(
            err.to_string(),
            "op.metadata[\"tags\"] (bytes) is too large: 9000 exceeds the limit of 8192"
        );
        for fine in [
            Value::Integer(i64::MIN),
            Value::Number(-0.5),
            Value::Bool(false),
            Value::List(vec!["a".into(); 1024]),
        ] {
            assert_eq!(with("k", fine), Ok(()));
        }
    }
}
