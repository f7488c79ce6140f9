//! Errors on the wire: `{"error": {"code": "...", "message": "...", "field": "...", "limit": N}}`
//! with the right status; `field` (the request field the error is about, as the request named
//! it) and `limit` (the limit passed) only where there is one.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

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
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(field) = self.field {
            error["field"] = json!(field);
        }
        if let Some(limit) = self.limit {
            error["limit"] = json!(limit);
        }
        let body = json!({ "error": error });
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after_s {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
