//! One error type for every handler: clients get `{"error": {"code", "message", ...}}`
//! with a fitting status; the full cause of a 500 is logged once, here, and
//! never sent to the client.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

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

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Validation { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "validation_error"),
            ApiError::InvalidJson(_) => (StatusCode::BAD_REQUEST, "invalid_json"),
            ApiError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::UnsupportedMediaType(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::TooManyRequests(_) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::RequestTimeout(_) => (StatusCode::REQUEST_TIMEOUT, "request_timeout"),
            ApiError::Overloaded(_) => (StatusCode::SERVICE_UNAVAILABLE, "overloaded"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal_error"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        match &self {
            ApiError::Internal(cause) => tracing::error!(error = %cause, "request failed"),
            // Shed load is counted, not logged one line per request.
            ApiError::Overloaded(_) => tracing::debug!("request shed: too many in progress"),
            other => tracing::info!(status = status.as_u16(), code, message = %other, "request rejected"),
        }
        let mut body = json!({"code": code, "message": self.to_string()});
        if let ApiError::Validation { field, .. } = &self {
            body["field"] = json!(field);
        }
        let mut response = (status, Json(json!({ "error": body }))).into_response();
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
