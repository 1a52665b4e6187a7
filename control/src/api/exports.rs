//! A test's results to take away: `GET /api/v1/tests/{key}/export?format=csv|json` (the rows
//! of [`crate::report`]: per segment, metric and variant, and the device × persona units) and
//! `GET /api/v1/tests/{key}/report`, the printable page. Both compute the results as
//! `GET /api/v1/tests/{key}/results` does ([`super::tests::results_of`]).

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::auth::{Caller, Viewer};
use crate::db::tests;
use crate::error::{AppError, AppResult};
use crate::extract::{Path, Query};
use crate::report::{self, Breakdowns};
use crate::results::ResultsQuery;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tests/{key}/export", get(export))
        .route("/api/v1/tests/{key}/report", get(report_page))
}

/// Results at the API's defaults (α = 0.05, no correction).
pub fn default_query() -> ResultsQuery {
    ResultsQuery {
        alpha: 0.05,
        correction: None,
    }
}

#[derive(Debug, Deserialize)]
struct ExportQuery {
    format: Option<String>,
}

#[tracing::instrument(skip_all, fields(key))]
async fn export(
    State(state): State<AppState>,
    _: Caller<Viewer>,
    Path(key): Path<String>,
    Query(q): Query<ExportQuery>,
) -> AppResult<Response> {
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => {
            return Err(AppError::invalid_syntax(
                "format",
                "must be `csv` or `json`",
            ))
        }
    };
    let test = {
        let mut conn = state.db.reader.acquire().await?;
        tests::get_or_404(&mut conn, &key).await?
    };
    let (results, agg) = super::tests::results_of(&state, &test, &default_query()).await?;
    let rows = report::rows(&results, &[], Breakdowns::ALL);
    let cells = report::cells(&agg);
    if !csv {
        return Ok(Json(json!({
            "test": key,
            "status": test.status,
            "alpha": results.alpha,
            "srm": results.srm,
            "variants": results.variants,
            "rows": rows,
            "cells": cells,
        }))
        .into_response());
    }
    // The key is printable ASCII without spaces (validated); quotes and backslashes are all
    // a quoted filename must not hold.
    let name = key.replace(['"', '\\'], "_");
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}-results.csv\""),
            ),
        ],
        report::csv::export(&key, &rows, &cells),
    )
        .into_response())
}

/// The printable page: the results, the history of the chart's metric (the primary's), the
/// monitor's latest evaluation, rendered by [`report::html`].
#[tracing::instrument(skip_all, fields(key))]
async fn report_page(
    State(state): State<AppState>,
    _: Caller<Viewer>,
    Path(key): Path<String>,
) -> AppResult<Response> {
    let (test, evaluation) = {
        let mut conn = state.db.reader.acquire().await?;
        let test = tests::get_or_404(&mut conn, &key).await?;
        let evaluation = crate::db::monitor::evaluation(&mut conn, &key).await?;
        (test, evaluation)
    };
    let evaluation: Option<serde_json::Value> =
        evaluation.map(|e| serde_json::from_str(&e)).transpose()?;
    let (results, _) = super::tests::results_of(&state, &test, &default_query()).await?;
    let rows = report::rows(&results, &[], Breakdowns::default());
    let metric = super::monitor::history_metric(&test.spec, None)?;
    let points =
        super::monitor::history(&state, &test.spec, metric, crate::results::Filter::All).await?;
    let series: Vec<report::chart::Series> = test
        .spec
        .variants
        .iter()
        .skip(1)
        .map(|v| report::chart::Series {
            name: v.key.clone(),
            points: points
                .iter()
                .filter_map(|p| {
                    let c = p.comparisons.iter().find(|c| c.variant == v.key)?;
                    Some((p.at, c.lift?, c.ci))
                })
                .collect(),
        })
        .collect();
    let page = report::html::render(&report::html::Page {
        test: &test,
        now: crate::db::now_ms(),
        results: &results,
        rows: &rows,
        chart_metric: metric.map(|m| m.key.as_str()),
        series: &series,
        evaluation: evaluation.as_ref(),
    });
    // No scripts, nothing from elsewhere: the page is its own, even if an escape were missed.
    Ok((
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        page,
    )
        .into_response())
}
