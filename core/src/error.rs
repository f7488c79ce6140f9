//! Every way a Sutra operation can fail, one variant per cause.
//!
//! Each variant has a stable machine-readable [`Error::code`] that hosts put on the wire
//! (the HTTP API and the JavaScript API use the same codes), and a message that names the
//! field, the value and the limit involved.

/// Errors returned by the core engine.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// An id was not 32 lowercase hexadecimal characters.
    #[error("invalid {field} {text:?}: a concept id is 32 lowercase hexadecimal characters (128 bits), e.g. \"0123456789abcdef0123456789abcdef\"")]
    InvalidId {
        /// The field that held it (`id`, `source`, `ops[2].target`, …).
        field: String,
        /// The offending text (shortened when long).
        text: String,
    },
    /// A field had a value outside its domain.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field, e.g. `confidence` or `ops[3].metadata`.
        field: String,
        /// What was wrong, naming the value and the allowed range.
        reason: String,
    },
    /// A field exceeded an explicit limit.
    #[error("{field} is too large: {actual} exceeds the limit of {limit}")]
    LimitExceeded {
        /// The field, e.g. `content` (bytes) or `k`.
        field: String,
        /// The limit.
        limit: u64,
        /// The value that was given.
        actual: u64,
    },
    /// An embedding's dimension differs from the memory's dimension.
    #[error(
        "embedding has dimension {actual}, but this memory's vectors have dimension {expected}"
    )]
    DimensionMismatch {
        /// The memory's dimension.
        expected: u32,
        /// The embedding's dimension.
        actual: u32,
    },
    /// A concept the operation needs does not exist.
    #[error("concept {id} not found")]
    ConceptNotFound {
        /// The missing concept.
        id: String,
    },
    /// An association the operation needs does not exist.
    #[error("association {key} not found")]
    AssociationNotFound {
        /// Its key as text: `source -[kind "label"]-> target`.
        key: Box<str>,
    },
    /// The operation conflicts with the memory's state (e.g. a staged group is pending).
    #[error("conflict: {reason}")]
    Conflict {
        /// What conflicted.
        reason: String,
    },
    /// An earlier write failed to reach the disk; the memory refuses writes until reopened.
    #[error("memory is poisoned by an earlier storage failure and refuses writes until it is reopened: {cause}")]
    Poisoned {
        /// The failure that poisoned the memory.
        cause: String,
    },
    /// The integrity checker found a structure that disagrees with itself or with the rest of
    /// the state: a bug, never bad input (see [`crate::Db::check_integrity`]).
    #[error("integrity check failed in the {structure}: {problem}")]
    Integrity {
        /// Which structure (`adjacency`, `vector index`, `concepts`).
        structure: &'static str,
        /// What disagrees.
        problem: String,
    },
    /// Building part of the vector index failed: a bug, never bad input. The vectors stay in
    /// the fresh tier, where searches find them exactly.
    #[error("building the vector index over {vectors} vectors failed: {reason} (a bug; the vectors stay searchable, exactly, in the fresh tier)")]
    IndexBuild {
        /// Vectors the build was over.
        vectors: usize,
        /// What failed.
        reason: String,
    },
    /// A query was stopped by its host before it finished (see [`crate::Interrupt`]).
    #[error(
        "the query was stopped before it finished (its time limit passed, or its client went away)"
    )]
    Interrupted,
    /// The storage reported an I/O error.
    #[error("storage error during {during}: {message}")]
    Storage {
        /// The step that failed, e.g. `log sync`.
        during: &'static str,
        /// The storage's own message.
        message: String,
    },
    /// The write-ahead log holds a bad record followed by valid ones, or a record that does not
    /// follow from the state before it.
    #[error("write-ahead log is corrupt at byte offset {offset} (record with sequence number {seq}): {reason}. Repair truncates the log at this offset; the records from here on are lost")]
    CorruptLog {
        /// Byte offset of the first bad record.
        offset: u64,
        /// The sequence number that record should have had.
        seq: u64,
        /// What was wrong with it.
        reason: String,
    },
    /// The snapshot failed a check.
    #[error("snapshot is corrupt: {reason}")]
    CorruptSnapshot {
        /// What was wrong.
        reason: String,
    },
    /// A file was written by a format version this build does not read.
    #[error(
        "{file} has format version {found}, this build reads versions {oldest} to {supported}"
    )]
    UnsupportedVersion {
        /// `log` or `snapshot`.
        file: &'static str,
        /// The version in the file.
        found: u32,
        /// The oldest version this build reads.
        oldest: u32,
        /// The version this build writes (the newest it reads).
        supported: u32,
    },
}

impl Error {
    /// Every code [`Error::code`] gives, in the order of the variants: the list hosts publish
    /// (the OpenAPI document's error codes), held to `code` by a test.
    pub const CODES: [&'static str; 15] = [
        "invalid_id",
        "invalid_argument",
        "limit_exceeded",
        "dimension_mismatch",
        "concept_not_found",
        "association_not_found",
        "conflict",
        "poisoned",
        "interrupted",
        "integrity",
        "index_build",
        "storage_error",
        "corrupt_log",
        "corrupt_snapshot",
        "unsupported_version",
    ];

    /// Whether the storage failed (or had failed: the memory is poisoned), rather than the
    /// request: then nothing about the request is wrong, and a bulk job (an import) stops
    /// instead of rejecting the request and going on.
    pub fn is_storage_failure(&self) -> bool {
        matches!(self, Error::Storage { .. } | Error::Poisoned { .. })
    }

    /// The stable machine-readable code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidId { .. } => "invalid_id",
            Error::Invalid { .. } => "invalid_argument",
            Error::LimitExceeded { .. } => "limit_exceeded",
            Error::DimensionMismatch { .. } => "dimension_mismatch",
            Error::ConceptNotFound { .. } => "concept_not_found",
            Error::AssociationNotFound { .. } => "association_not_found",
            Error::Conflict { .. } => "conflict",
            Error::Poisoned { .. } => "poisoned",
            Error::Interrupted => "interrupted",
            Error::Integrity { .. } => "integrity",
            Error::IndexBuild { .. } => "index_build",
            Error::Storage { .. } => "storage_error",
            Error::CorruptLog { .. } => "corrupt_log",
            Error::CorruptSnapshot { .. } => "corrupt_snapshot",
            Error::UnsupportedVersion { .. } => "unsupported_version",
        }
    }

    /// The request field the error is about, as the request named it (`confidence`,
    /// `ops[2].embedding[3]`, `metadata["year"]`), without the unit a message adds to it
    /// (`content (bytes)` is the field `content`). Hosts put it on the wire, so that a client
    /// shows the error beside its input without reading the message.
    pub fn field(&self) -> Option<String> {
        let named = match self {
            Error::InvalidId { field, .. }
            | Error::Invalid { field, .. }
            | Error::LimitExceeded { field, .. } => field.as_str(),
            Error::DimensionMismatch { .. } => "embedding",
            _ => return None,
        };
        let bare = named
            .split(" (")
            .next()
            .unwrap_or(named)
            .trim_end_matches(" key")
            .trim();
        (!bare.is_empty()).then(|| bare.to_string())
    }

    /// The limit that was passed, for [`Error::LimitExceeded`] (and the memory's dimension for
    /// [`Error::DimensionMismatch`]).
    pub fn limit_passed(&self) -> Option<u64> {
        match self {
            Error::LimitExceeded { limit, .. } => Some(*limit),
            Error::DimensionMismatch { expected, .. } => Some(u64::from(*expected)),
            _ => None,
        }
    }

    /// The same error, its field named inside `context` (e.g. `ops[3]`).
    pub fn within(self, context: &str) -> Error {
        match self {
            Error::InvalidId { field, text } => Error::InvalidId {
                field: format!("{context}.{field}"),
                text,
            },
            Error::Invalid { field, reason } => Error::Invalid {
                field: format!("{context}.{field}"),
                reason,
            },
            Error::LimitExceeded {
                field,
                limit,
                actual,
            } => Error::LimitExceeded {
                field: format!("{context}.{field}"),
                limit,
                actual,
            },
            other => other,
        }
    }

    /// The error of a write of one operation, checked as the first of a batch: its field named
    /// as the request named it (`valid_until_ms`, not `ops[0].valid_until_ms`).
    pub fn outside_batch(self) -> Error {
        let strip = |field: String| match field.strip_prefix("ops[0].") {
            Some(rest) => rest.to_string(),
            None => field,
        };
        match self {
            Error::InvalidId { field, text } => Error::InvalidId {
                field: strip(field),
                text,
            },
            Error::Invalid { field, reason } => Error::Invalid {
                field: strip(field),
                reason,
            },
            Error::LimitExceeded {
                field,
                limit,
                actual,
            } => Error::LimitExceeded {
                field: strip(field),
                limit,
                actual,
            },
            other => other,
        }
    }

    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn limit(field: impl Into<String>, limit: u64, actual: u64) -> Self {
        Error::LimitExceeded {
            field: field.into(),
            limit,
            actual,
        }
    }

    /// Checks a count that must be in `1..=max` (a page size, k, a depth…), naming `field`.
    pub(crate) fn check_count(field: &str, value: u32, max: u32) -> Result<()> {
        if value == 0 {
            return Err(Error::invalid(
                field,
                format!("must be from 1 to {max}, not 0"),
            ));
        }
        if value > max {
            return Err(Error::limit(field, u64::from(max), u64::from(value)));
        }
        Ok(())
    }

    pub(crate) fn corrupt_snapshot(reason: impl Into<String>) -> Self {
        Error::CorruptSnapshot {
            reason: reason.into(),
        }
    }
}

/// Result alias for the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_field_and_limit_are_those_the_request_named() {
        let cases = [
            (Error::invalid("confidence", "x"), Some("confidence"), None),
            (
                Error::invalid("ops[2].confidence", "x").within("ops[2]"),
                Some("ops[2].ops[2].confidence"),
                None,
            ),
            (
                Error::limit("content (bytes)", 10, 11),
                Some("content"),
                Some(10),
            ),
            (
                Error::limit("metadata (entries)", 64, 65),
                Some("metadata"),
                Some(64),
            ),
            (
                Error::limit("ops[1].metadata key (bytes)", 256, 300),
                Some("ops[1].metadata"),
                Some(256),
            ),
            (
                Error::limit("metadata[\"year\"] (bytes)", 8, 9),
                Some("metadata[\"year\"]"),
                Some(8),
            ),
            (
                Error::DimensionMismatch {
                    expected: 3,
                    actual: 4,
                },
                Some("embedding"),
                Some(3),
            ),
            (Error::Interrupted, None, None),
        ];
        for (error, field, limit) in cases {
            assert_eq!(error.field().as_deref(), field, "{error}");
            assert_eq!(error.limit_passed(), limit, "{error}");
        }
    }

    #[test]
    fn every_variant_has_its_code_in_the_published_list_once() {
        let s = || String::from("x");
        let one_of_each = [
            Error::InvalidId {
                field: s(),
                text: s(),
            },
            Error::invalid("f", "r"),
            Error::limit("f", 1, 2),
            Error::DimensionMismatch {
                expected: 1,
                actual: 2,
            },
            Error::ConceptNotFound { id: s() },
            Error::AssociationNotFound { key: s().into() },
            Error::Conflict { reason: s() },
            Error::Poisoned { cause: s() },
            Error::Interrupted,
            Error::Integrity {
                structure: "adjacency",
                problem: s(),
            },
            Error::IndexBuild {
                vectors: 1,
                reason: s(),
            },
            Error::Storage {
                during: "log sync",
                message: s(),
            },
            Error::CorruptLog {
                offset: 0,
                seq: 1,
                reason: s(),
            },
            Error::CorruptSnapshot { reason: s() },
            Error::UnsupportedVersion {
                file: "log",
                found: 9,
                oldest: 1,
                supported: 2,
            },
        ];
        let codes: Vec<&str> = one_of_each.iter().map(Error::code).collect();
        assert_eq!(codes, Error::CODES);
    }
}
