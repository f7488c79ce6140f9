//! Errors on the wire: `{"error": {"code": "...", "message": "...", "field": "...", "limit": N}}`
//! with the right status; `field` (the request field the error is about, as the request named
//! it) and `limit` (the limit passed) only where there is one.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;

/// The codes of the server's own errors (the engine's are [`sutra_core::Error::CODES`]).
pub const SERVER_CODES: [&str; 32] = [
    "bad_request",
    "behind",
    "body_read_error",
    "body_timeout",
    "busy",
    "closing",
    "cluster_member",
    "headers_too_large",
    "host_not_allowed",
    "idempotency_key_reused",
    "internal",
    "invalid_json",
    "invalid_name",
    "invalid_path",
    "invalid_query",
    "malformed_json",
    "membership_refused",
    "memory_busy",
    "memory_exists",
    "memory_not_found",
    "memory_unavailable",
    "method_not_allowed",
    "no_leader",
    "no_route",
    "not_a_cluster",
    "origin_not_allowed",
    "outcome_unknown",
    "payload_too_large",
    "query_timeout",
    "unauthorized",
    "unsupported_media_type",
    "uri_too_long",
];

/// Whether `code` is one the API publishes.
pub fn is_published(code: &str) -> bool {
    SERVER_CODES.contains(&code) || sutra_core::Error::CODES.contains(&code)
}

/// The error body: `{"error": {...}}`.
#[derive(Serialize, Debug, utoipa::ToSchema)]
pub struct ErrorAnswer {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Serialize, Debug, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code.
    #[schema(value_type = ErrorCode)]
    pub code: &'static str,
    /// What was wrong, naming the field, the value and the limit.
    pub message: String,
    /// The request field the error is about, as the request named it (confidence,
    /// ops[2].embedding), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The limit that was passed, for limit_exceeded (the memory's dimension for
    /// dimension_mismatch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

/// Every error code of the API, as one string enum in the schema: the engine's and the
/// server's, from their lists (written once, there).
pub struct ErrorCode;

impl utoipa::PartialSchema for ErrorCode {
    fn schema() -> RefOr<Schema> {
        let codes: BTreeMap<&str, ()> = sutra_core::Error::CODES
            .iter()
            .chain(SERVER_CODES.iter())
            .map(|c| (*c, ()))
            .collect();
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("Stable machine-readable code."))
            .enum_values(Some(codes.into_keys()))
            .into()
    }
}

impl utoipa::ToSchema for ErrorCode {}

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code (the core's codes, plus the server's own).
    pub code: &'static str,
    /// What was wrong, naming the field, value and limit.
    pub message: String,
    /// Seconds after which to retry (503 when busy).
    pub retry_after_s: Option<u32>,
    /// The request field the error is about, as the request named it (`confidence`,
    /// `ops[2].embedding`), when there is one.
    pub field: Option<String>,
    /// The limit that was passed, for `limit_exceeded`.
    pub limit: Option<u64>,
}

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        debug_assert!(
            is_published(code),
            "error code {code:?} is not in a published list"
        );
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after_s: None,
            field: None,
            limit: None,
        }
    }

    /// 400: the request could not be read.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 404.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 422: the request was read but its values are not acceptable.
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    /// The same error, about request field `field`.
    pub fn about(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// 503 with `Retry-After`.
    pub fn busy(message: impl Into<String>) -> Self {
        ApiError {
            retry_after_s: Some(1),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", message)
        }
    }
}

impl ApiError {
    /// The error for a refusal known by its code (a cluster's apply step answers the engine's
    /// error, or the server's, by code): its status as the error itself would have it.
    pub fn refused(code: &str, message: String) -> Self {
        let status = match code {
            "invalid_id"
            | "invalid_argument"
            | "limit_exceeded"
            | "dimension_mismatch"
            | "invalid_name"
            | "idempotency_key_reused" => StatusCode::UNPROCESSABLE_ENTITY,
            "concept_not_found" | "association_not_found" | "memory_not_found" => {
                StatusCode::NOT_FOUND
            }
            "conflict" | "memory_exists" => StatusCode::CONFLICT,
            "integrity" | "index_build" => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        };
        let published = sutra_core::Error::CODES
            .iter()
            .chain(SERVER_CODES.iter())
            .find(|c| **c == code);
        match published {
            Some(code) => ApiError::new(status, code, message),
            None => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!("{message} (an unknown code {code:?})"),
            ),
        }
    }
}

impl From<sutra_core::Error> for ApiError {
    fn from(e: sutra_core::Error) -> Self {
        use sutra_core::Error as E;
        let status = match &e {
            E::InvalidId { .. }
            | E::Invalid { .. }
            | E::LimitExceeded { .. }
            | E::DimensionMismatch { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            E::ConceptNotFound { .. } | E::AssociationNotFound { .. } => StatusCode::NOT_FOUND,
            E::Conflict { .. } => StatusCode::CONFLICT,
            E::Poisoned { .. } | E::Storage { .. } | E::Interrupted => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            E::CorruptLog { .. } | E::CorruptSnapshot { .. } | E::UnsupportedVersion { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            E::Integrity { .. } | E::IndexBuild { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError {
            field: e.field(),
            limit: e.limit_passed(),
            ..ApiError::new(status, e.code(), e.to_string())
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorAnswer {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                field: self.field,
                limit: self.limit,
            },
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after_s {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
