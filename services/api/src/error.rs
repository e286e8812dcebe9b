//! One error type for every handler: clients get `{"error": {"code", "message", ...}}`
//! with a fitting status; the full cause of a 500 is logged once, here, and
//! never sent to the client.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{message}")]
    Validation { field: String, message: String },
    #[error("{0}")]
    InvalidJson(String),
    #[error("request body larger than the limit of {0} bytes")]
    PayloadTooLarge(usize),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("too many runs created; retry in {} s", .0.as_secs().max(1))]
    TooManyRequests(std::time::Duration),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    RequestTimeout(String),
    #[error("the API is at its limit of {0} requests in progress; retry shortly")]
    Overloaded(usize),
    #[error("internal error")]
    Internal(#[from] Box<dyn std::error::Error + Send + Sync>),
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                tracing::warn!(error = %e, "database unavailable");
                ApiError::Unavailable("the database is unavailable; retry shortly".into())
            }
            // Connection exceptions (08xxx) and an operator's shutdown or a
            // server still starting (57P01..57P03): Postgres is restarting.
            sqlx::Error::Database(db) if db.code().is_some_and(|c| c.starts_with("08") || matches!(c.as_ref(), "57P01" | "57P02" | "57P03")) => {
                tracing::warn!(error = %db, "database unavailable");
                ApiError::Unavailable("the database is unavailable; retry shortly".into())
            }
            sqlx::Error::Database(db) if db.code().as_deref() == Some("42P01") => {
                tracing::warn!(error = %db, "database schema missing: the aggregator runs the migrations");
                ApiError::Unavailable("the database schema is not set up yet; retry shortly".into())
            }
            other => ApiError::Internal(Box::new(other)),
        }
    }
}

impl ApiError {
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Validation { field: field.into(), message: message.into() }
    }

    fn status_and_code(&self) -> (StatusCode, ErrorCode) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, ErrorCode::BadRequest),
            ApiError::Validation { .. } => (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::ValidationError),
            ApiError::InvalidJson(_) => (StatusCode::BAD_REQUEST, ErrorCode::InvalidJson),
            ApiError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::PayloadTooLarge),
            ApiError::UnsupportedMediaType(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, ErrorCode::UnsupportedMediaType),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, ErrorCode::NotFound),
            ApiError::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, ErrorCode::MethodNotAllowed),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, ErrorCode::Conflict),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, ErrorCode::Forbidden),
            ApiError::TooManyRequests(_) => (StatusCode::TOO_MANY_REQUESTS, ErrorCode::RateLimited),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Unavailable),
            ApiError::RequestTimeout(_) => (StatusCode::REQUEST_TIMEOUT, ErrorCode::RequestTimeout),
            ApiError::Overloaded(_) => (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Overloaded),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::InternalError),
        }
    }
}

/// Every error's body: what went wrong, for programs (`code`) and for people
/// (`message`), and the field a validation error is about.
#[derive(Serialize, ToSchema)]
#[schema(as = Error, example = json!({"error": {"code": "validation_error", "message": "input_smiles[1] must be a string, got a number", "field": "input_smiles"}}))]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    code: ErrorCode,
    message: String,
    /// The field a `validation_error` is about (`input_smiles[3]`,
    /// `pipeline_config.adapters[0]`); only on those.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    field: Option<String>,
}

/// What went wrong, for programs (the message is for people).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    ValidationError,
    InvalidJson,
    PayloadTooLarge,
    UnsupportedMediaType,
    NotFound,
    MethodNotAllowed,
    Conflict,
    Unauthorized,
    Forbidden,
    RateLimited,
    Unavailable,
    RequestTimeout,
    Overloaded,
    InternalError,
}

/// As in the body (`validation_error`): serde writes a unit variant's name straight into a formatter.
impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.serialize(f)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        match &self {
            ApiError::Internal(cause) => tracing::error!(error = %cause, "request failed"),
            // Shed load is counted, not logged one line per request.
            ApiError::Overloaded(_) => tracing::debug!("request shed: too many in progress"),
            other => tracing::info!(status = status.as_u16(), code = %code, message = %other, "request rejected"),
        }
        let field = match &self {
            ApiError::Validation { field, .. } => Some(field.clone()),
            _ => None,
        };
        let body = ErrorBody { error: ErrorDetail { code, message: self.to_string(), field } };
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        match &self {
            ApiError::Unauthorized(_) => {
                headers.insert(axum::http::header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Bearer"));
            }
            ApiError::TooManyRequests(wait) => {
                let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                if let Ok(v) = axum::http::HeaderValue::from_str(&secs.max(1).to_string()) {
                    headers.insert(axum::http::header::RETRY_AFTER, v);
                }
            }
            ApiError::Overloaded(_) | ApiError::Unavailable(_) => {
                headers.insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_reads_as_in_the_body() {
        assert_eq!(ErrorCode::ValidationError.to_string(), "validation_error");
        assert_eq!(serde_json::to_value(ErrorCode::RateLimited).unwrap(), "rate_limited");
    }
}
