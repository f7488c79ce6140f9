//! The rules every operation is checked by: field by field, each error naming its field.

use crate::error::{Error, Result};
use crate::limits::*;
use crate::model::{Label, Metadata, Validity, Value};

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

/// A time in ms since the epoch as errors show it: the number as it was sent, and the time it
/// stands for in UTC (`1000 (1970-01-01T00:00:01Z)`; milliseconds shown when there are any).
pub(crate) fn time_text(ms: u64) -> String {
    // Days since 1970-01-01 to a civil date (the proleptic Gregorian calendar), by eras of 400
    // years (146,097 days) that start on March 1st, so that a leap day ends its year.
    let days = ms / 86_400_000;
    let of_day = ms % 86_400_000;
    let shifted = days + 719_468; // days from 0000-03-01 to 1970-01-01
    let era = shifted / 146_097;
    let day_of_era = shifted % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    let (hours, minutes) = (of_day / 3_600_000, of_day / 60_000 % 60);
    let (seconds, millis) = (of_day / 1_000 % 60, of_day % 1_000);
    let fraction = if millis == 0 {
        String::new()
    } else {
        format!(".{millis:03}")
    };
    format!("{ms} ({year:04}-{month:02}-{day:02}T{hours:02}:{minutes:02}:{seconds:02}{fraction}Z)")
}

pub(crate) fn check_created(field: &str, created_ms: Option<u64>, at_ms: u64) -> Result<()> {
    match created_ms {
        Some(created) if created > at_ms => Err(Error::invalid(
            sub(field, "created_ms"),
            format!(
                "{} is after the update time {}",
                time_text(created),
                time_text(at_ms)
            ),
        )),
        _ => Ok(()),
    }
}

/// Checks a value that must be in 0..=1 (a confidence, a least confidence, a balance).
pub(crate) fn check_unit(field: &str, value: f32) -> Result<()> {
    if value.is_finite() && (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!("must be from 0 to 1, not {value}"),
        ))
    }
}

pub(crate) fn check_strength(field: &str, value: f32) -> Result<()> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!("must be 0 or more, not {value}"),
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
    let norm_sq = crate::distance::dot(vector, vector);
    if !norm_sq.is_finite() {
        return Err(Error::invalid(
            field,
            format!(
                "the vector's squared length overflows 32-bit floats ({norm_sq}); scale it down (cosine similarity does not depend on length)"
            ),
        ));
    }
    let inv = crate::distance::inv_norm(vector);
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
pub(crate) fn check_logged_embedding(field: &str, vector: &[f32]) -> Result<()> {
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

/// The keys a memory indexes for filters: at most [`INDEXED_KEYS_MAX`], each a metadata key
/// (1 to [`METADATA_KEY_BYTES_MAX`] bytes), in strictly increasing order.
pub(crate) fn check_indexed_keys(field: &str, keys: &[String]) -> Result<()> {
    if keys.len() > INDEXED_KEYS_MAX {
        return Err(Error::limit(
            format!("{field} (keys)"),
            INDEXED_KEYS_MAX as u64,
            keys.len() as u64,
        ));
    }
    for (i, key) in keys.iter().enumerate() {
        if key.is_empty() || key.len() > METADATA_KEY_BYTES_MAX {
            return Err(Error::invalid(
                format!("{field}[{i}]"),
                format!("a metadata key is 1 to {METADATA_KEY_BYTES_MAX} bytes"),
            ));
        }
        if i > 0 && keys[i - 1] >= *key {
            return Err(Error::invalid(
                format!("{field}[{i}]"),
                "keys are listed in increasing order, each once",
            ));
        }
    }
    Ok(())
}

pub(crate) fn check_metadata(field: &str, metadata: &Metadata) -> Result<()> {
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
        let bytes = value.bytes();
        if bytes > METADATA_VALUE_BYTES_MAX {
            return Err(Error::limit(
                format!("{field}[{key:?}] (bytes)"),
                METADATA_VALUE_BYTES_MAX as u64,
                bytes as u64,
            ));
        }
        match value {
            Value::Number(x) if !x.is_finite() => {
                return Err(Error::invalid(
                    format!("{field}[{key:?}]"),
                    format!("{x} is not a finite number"),
                ));
            }
            Value::List(items) if items.len() > METADATA_LIST_ITEMS_MAX => {
                return Err(Error::limit(
                    format!("{field}[{key:?}] (items)"),
                    METADATA_LIST_ITEMS_MAX as u64,
                    items.len() as u64,
                ));
            }
            _ => {}
        }
        total += key.len() + bytes;
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

/// A label: at most [`LABEL_BYTES_MAX`] bytes, no control characters (a label is one line).
pub(crate) fn check_label(field: &str, label: &Label) -> Result<()> {
    let text = label.as_str();
    if text.len() > LABEL_BYTES_MAX {
        return Err(Error::limit(
            format!("{field} (bytes)"),
            LABEL_BYTES_MAX as u64,
            text.len() as u64,
        ));
    }
    if let Some(c) = text.chars().find(|c| c.is_control()) {
        return Err(Error::invalid(
            field,
            format!("labels are one line of text: {c:?} is a control character"),
        ));
    }
    Ok(())
}

/// A validity interval: it may not end before it starts. (`field` names the association;
/// the error names `valid_until_ms`.)
pub(crate) fn check_validity(field: &str, validity: &Validity) -> Result<()> {
    match (validity.from_ms, validity.until_ms) {
        (Some(from), Some(until)) if validity.is_backwards() => Err(Error::invalid(
            sub(field, "valid_until_ms"),
            format!(
                "{} is before valid_from_ms {}",
                time_text(until),
                time_text(from)
            ),
        )),
        _ => Ok(()),
    }
}
