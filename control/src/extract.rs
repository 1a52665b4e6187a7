//! Extractors whose failures have the service's error shape, `{"errors": [{field, message}]}`:
//! [`JsonBody`], [`Path`] and [`Query`] in place of axum's, whose rejections are plain text.
//!
//! One rule for the status: a request that cannot be read is 400 (JSON syntax, a path
//! parameter that is not UTF-8), one that was read but has an invalid field is 422 naming it
//! (a JSON path such as `variants[1].weight`, a query or path parameter's name), an oversized
//! body 413.

use std::collections::HashSet;

use axum::body::Bytes;
use axum::extract::path::ErrorKind;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::AppError;

#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                AppError::TooLarge
            } else {
                AppError::BadRequest(e.body_text())
            }
        })?;
        parse(&bytes).map(JsonBody)
    }
}

pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize(&mut de) {
        Ok(v) => Ok(v),
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if inner.is_data() {
                let message = inner.to_string();
                Err(AppError::invalid(field_of(&path, &message), message))
            } else {
                Err(AppError::BadRequest(format!("invalid JSON: {inner}")))
            }
        }
    }
}

/// The field an error is about: serde reports a missing field at the path of the object that
/// should hold it, naming it only in the message (`` missing field `key` ``).
fn field_of(path: &str, message: &str) -> String {
    let path = if path == "." { "" } else { path };
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(name, _)| name);
    match missing {
        Some(name) if path.is_empty() => name.to_owned(),
        Some(name) => format!("{path}.{name}"),
        None => path.to_owned(),
    }
}

/// Path parameters, like axum's `Path`; failures name the parameter.
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let e = match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => return Ok(Path(v)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => e,
            Err(e) => return Err(AppError::Internal(anyhow::anyhow!("path: {e}"))),
        };
        // A single parameter fails without its name: the route's only parameter has it.
        let only = RawPathParams::from_request_parts(parts, state)
            .await
            .ok()
            .and_then(|p| p.iter().next().map(|(k, _)| k.to_owned()))
            .unwrap_or_default();
        Err(match e.into_kind() {
            ErrorKind::InvalidUtf8InPathParam { key } => {
                AppError::invalid_syntax(key, "is not valid UTF-8 once percent-decoded")
            }
            ErrorKind::ParseErrorAtKey {
                key, expected_type, ..
            } => AppError::invalid(key, format!("must be {}", expected(expected_type))),
            ErrorKind::ParseError { expected_type, .. } => {
                AppError::invalid(only, format!("must be {}", expected(expected_type)))
            }
            ErrorKind::DeserializeError { key, message, .. } => AppError::invalid(key, message),
            other => AppError::invalid(only, other.to_string()),
        })
    }
}

fn expected(rust_type: &str) -> &'static str {
    match rust_type {
        "i64" | "u64" | "i32" | "u32" => "an integer",
        "f64" => "a number",
        _ => "text",
    }
}

/// A `limit` query parameter: 1 to 1000, `default` when absent.
pub fn limit(given: Option<i64>, default: i64) -> Result<i64, AppError> {
    match given {
        None => Ok(default),
        Some(n) if (1..=1000).contains(&n) => Ok(n),
        Some(_) => Err(AppError::invalid(
            "limit",
            "must be an integer from 1 to 1000",
        )),
    }
}

/// Query parameters, like axum's `Query`; failures name the parameter, and a parameter given
/// twice is refused rather than one of its values picked.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        let query = parts.uri.query().unwrap_or_default().as_bytes();
        let mut seen = HashSet::new();
        for (name, _) in form_urlencoded::parse(query) {
            if !seen.insert(name.clone()) {
                return Err(AppError::invalid(name, "is given more than once"));
            }
        }
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query));
        serde_path_to_error::deserialize(de)
            .map(Query)
            .map_err(|e| {
                let path = e.path().to_string();
                let message = e.into_inner().to_string();
                AppError::invalid(field_of(&path, &message), message)
            })
    }
}

/// The raw body, with the service's error shape when it is too large.
#[derive(Debug)]
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Bytes::from_request(req, state)
            .await
            .map(RawBody)
            .map_err(|e| {
                if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    AppError::TooLarge
                } else {
                    AppError::BadRequest(e.body_text())
                }
            })
    }
}
