//! `GET /api/v1/openapi.json`: the hand-written OpenAPI 3.1 document (`control/openapi.json`).
//! A test checks that every route in [`crate::app::ROUTES`] appears in it.

use axum::http::header;
use axum::response::IntoResponse;

pub const DOCUMENT: &str = include_str!("../../openapi.json");

pub async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}
