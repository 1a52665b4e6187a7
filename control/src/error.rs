//! The service's one error type and the one place errors become HTTP responses.
//!
//! Every 4xx has the same shape, `{"errors": [{"field": path, "message": m}]}`, including bad
//! JSON. 5xx details are logged, never returned.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

/// A problem with one field of a request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("missing or invalid token")]
    Unauthorized,
    #[error("this needs the {0} role")]
    Forbidden(&'static str),
    /// A change sent with the dashboard's session cookie but without its CSRF value.
    #[error(
        "a change made with the session cookie must repeat the session's csrf value in this header"
    )]
    Csrf,
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// The request is valid but does not fit what is already there, field by field.
    #[error("conflict")]
    Conflicts(Vec<FieldError>),
    #[error("invalid request")]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    BadRequest(String),
    /// A part of the request that cannot be read, named.
    #[error("{}", .0.message)]
    Malformed(FieldError),
    #[error("this method is not allowed here")]
    MethodNotAllowed,
    #[error("request body too large")]
    TooLarge,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    /// 422: `field` was read and is invalid.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::Validation(vec![FieldError::new(field, message)])
    }

    /// 400: `field` cannot be read at all.
    pub fn invalid_syntax(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::Malformed(FieldError::new(field, message))
    }

    fn status(&self) -> StatusCode {
        match self {
            AppError::Unauthorized => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) | AppError::Csrf => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict(_) | AppError::Conflicts(_) => StatusCode::CONFLICT,
            AppError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::BadRequest(_) | AppError::Malformed(_) => StatusCode::BAD_REQUEST,
            AppError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            AppError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::Db(e) if unavailable(e) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Db(_) | AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The database cannot be reached (down, restarting, the network cut, every connection busy
/// past the pool's wait): nothing was stored, and the same request can be sent again.
fn unavailable(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
    )
}

impl From<serde_json::Error> for AppError {
    fn from(e: serde_json::Error) -> Self {
        AppError::Internal(e.into())
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let errors = match self {
            AppError::Validation(errors) | AppError::Conflicts(errors) => errors,
            AppError::Malformed(error) => vec![error],
            AppError::Csrf => vec![FieldError::new("X-CSRF-Token", AppError::Csrf.to_string())],
            AppError::Db(e) if status == StatusCode::SERVICE_UNAVAILABLE => {
                tracing::warn!(error = %e, "database unavailable");
                vec![FieldError::new(
                    "",
                    "the database is unavailable: nothing was stored; send it again",
                )]
            }
            AppError::Db(e) => {
                tracing::error!(error = %e, "database error");
                vec![FieldError::new("", "internal error")]
            }
            AppError::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "internal error");
                vec![FieldError::new("", "internal error")]
            }
            other => vec![FieldError::new("", other.to_string())],
        };
        let mut resp = (status, Json(serde_json::json!({ "errors": errors }))).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        resp
    }
}

pub type AppResult<T> = Result<T, AppError>;

/// The last word on every response: an error that did not come from [`AppError`] (axum's own
/// rejections, a panic caught by a layer) gets the same shape, its headers (`Allow`,
/// `WWW-Authenticate`) kept.
pub async fn json_errors(resp: Response) -> Response {
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    let message = match std::str::from_utf8(&text).map(str::trim) {
        Ok(t) if !t.is_empty() && !status.is_server_error() => t.to_owned(),
        _ => status
            .canonical_reason()
            .unwrap_or("error")
            .to_ascii_lowercase(),
    };
    let body = serde_json::json!({ "errors": [FieldError::new("", message)] });
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    parts.headers.insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, axum::body::Body::from(body.to_string()))
}
