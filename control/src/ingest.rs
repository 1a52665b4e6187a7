//! `POST /v1/events`: beacon ingestion.
//!
//! [`validate`] is pure: it checks each event against the test catalog and the clock and
//! returns the storable events plus rejections by index and field, so one bad event never
//! sinks a batch. The handler then stores the rest, on SQLite through the writer thread
//! ([`crate::writer`]), on PostgreSQL in a transaction of its own
//! ([`crate::db::events::apply`]), and answers only after it committed. The catalog (which
//! tests accept events, their variants and metrics) is cached and reloaded whenever the audit
//! counter moves, since every admin change bumps it.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use edgewise_shared::beacon::{Event, EventBody, EventKind, MAX_BATCH_EVENTS};
use edgewise_shared::dimensions;
use edgewise_shared::metrics::{self, PerUnit};
use serde::Serialize;

use crate::auth::bearer;
use crate::db::events::{apply, Applied, NewEvent};
use crate::db::{dialect, now_ms, tests};
use crate::error::{AppError, AppResult};
use crate::model::Status;
use crate::state::{AppState, Catalog, CatalogTest, Limits};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rejection {
    pub index: usize,
    pub field: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IngestResponse {
    pub accepted: usize,
    pub duplicates: usize,
    pub rejected: Vec<Rejection>,
}

/// Splits a batch into storable events and rejections.
pub fn validate(
    events: Vec<Event>,
    catalog: &Catalog,
    site: &str,
    now: i64,
    limits: Limits,
) -> (Vec<NewEvent>, Vec<Rejection>) {
    let mut ok = Vec::with_capacity(events.len());
    let mut rejected = Vec::new();
    for (index, e) in events.into_iter().enumerate() {
        match check(e, catalog, site, now, limits) {
            Ok(ev) => ok.push(ev),
            Err((field, message)) => rejected.push(Rejection {
                index,
                field: field.to_owned(),
                message,
            }),
        }
    }
    (ok, rejected)
}

fn check(
    e: Event,
    catalog: &Catalog,
    site: &str,
    now: i64,
    limits: Limits,
) -> Result<NewEvent, (&'static str, String)> {
    e.check_shape().map_err(|f| (f.field, f.message))?;
    let Some(test) = catalog.tests.get(&e.test) else {
        return Err(("test", format!("unknown test `{}`", e.test)));
    };
    if test.status != Status::Running {
        return Err((
            "test",
            format!("test is {} and counts no events", test.status.as_str()),
        ));
    }
    if !test.variants.contains(&e.variant) {
        return Err(("variant", format!("unknown variant `{}`", e.variant)));
    }
    // Required here (the edge stamps its receive time on events without one): with the
    // event id it is how SQLite recognises a re-delivery (docs/control.md).
    let Some(ts) = e.ts else {
        return Err(("ts", "is required (Unix ms)".into()));
    };
    if ts < now - limits.max_age_ms {
        return Err(("ts", "is too old".into()));
    }
    if ts > now + limits.max_future_ms {
        return Err(("ts", "is in the future".into()));
    }
    let mut reads = Arc::default();
    if e.kind == EventKind::Conversion {
        let metric = e.metric.as_deref().unwrap_or_default();
        let Some(readers) = test.metrics.get(metric) else {
            return Err(("metric", format!("unknown metric `{metric}`")));
        };
        match e.value {
            None if readers.iter().any(|r| r.rule.per_unit == PerUnit::Sum) => {
                return Err(("value", "a value metric needs a value".into()))
            }
            Some(v) if v < 0.0 => return Err(("value", "must not be negative".into())),
            _ => {}
        }
        reads = readers.clone();
    }
    let snapshot_version = e
        .snapshot_version
        .map(i64::try_from)
        .transpose()
        .map_err(|_| ("snapshot_version", "is too large".to_owned()))?;
    // A bandit's exposure counts in the stratum of the snapshot that assigned it, and says
    // with which probability (the edge's decision carries both).
    let stratum = match (test.bandit, e.kind, snapshot_version, e.propensity) {
        (true, EventKind::Exposure, None, _) => {
            return Err((
                "snapshot_version",
                "is required on an exposure to a bandit test".into(),
            ))
        }
        (true, EventKind::Exposure, _, None) => {
            return Err((
                "propensity",
                "is required on an exposure to a bandit test".into(),
            ))
        }
        (true, EventKind::Exposure, v, _) => v,
        _ => None,
    };
    // A unit's dimension values come with its exposure, one per dimension of the test.
    if let Some(k) = e
        .dimensions
        .iter()
        .flatten()
        .map(|(k, _)| k)
        .find(|k| !test.dimensions.contains(k))
    {
        return Err((
            "dimensions",
            format!("`{k}` is not a dimension of this test"),
        ));
    }
    let dims = if e.kind == EventKind::Exposure {
        test.dimensions
            .iter()
            .map(|name| {
                let v = e.dimensions.as_ref().and_then(|d| d.get(name));
                (
                    name.clone(),
                    dimensions::normalise(v.map_or("", String::as_str)),
                )
            })
            .collect()
    } else {
        Vec::new()
    };
    // CUPED covariates come with the exposure, named by the test's metrics.
    if let Some(k) = e
        .covariates
        .iter()
        .flatten()
        .map(|(k, _)| k)
        .find(|k| !test.covariates.iter().any(|(_, c)| c == *k))
    {
        return Err((
            "covariates",
            format!("`{k}` is no covariate of this test's metrics"),
        ));
    }
    let covs = if e.kind == EventKind::Exposure {
        test.covariates
            .iter()
            .map(|(metric, name)| {
                let x = e.covariates.as_ref().and_then(|c| c.get(name)).copied();
                (metric.clone(), x.unwrap_or(0.0))
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(NewEvent {
        event_id: e.event_id,
        kind: e.kind,
        unit_id: e.unit_id,
        test: e.test,
        variant: e.variant,
        metric: e.metric,
        value: e.value,
        reads,
        device: e.device.map_or("unknown", |d| d.as_str()).to_owned(),
        persona: e.persona.unwrap_or_default(),
        ts,
        snapshot_version,
        propensity: e.propensity,
        stratum,
        dims,
        covs,
        logged_by: e.logged_by.unwrap_or_default(),
        site: site.to_owned(),
        received_at: now,
    })
}

/// Parses the body; events that do not even have the right shape are rejected by index and
/// JSON path instead of failing the batch. The common case parses once, straight into events.
#[allow(clippy::type_complexity)]
pub fn parse_batch(body: &[u8]) -> AppResult<(Vec<(usize, Event)>, Vec<Rejection>)> {
    // Straight into the batch type first: `EventBody` is untagged, and serde buffers untagged
    // input into an intermediate tree before trying each shape, which doubles parsing work.
    #[derive(serde::Deserialize)]
    struct Batch {
        events: Vec<Event>,
    }
    if let Ok(b) = serde_json::from_slice::<Batch>(body) {
        return Ok((b.events.into_iter().enumerate().collect(), Vec::new()));
    }
    if let Ok(b) = serde_json::from_slice::<EventBody>(body) {
        return Ok((
            b.into_events().into_iter().enumerate().collect(),
            Vec::new(),
        ));
    }
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| AppError::BadRequest(format!("invalid JSON: {e}")))?;
    let items = match value {
        serde_json::Value::Object(mut o) if o.contains_key("events") => match o.remove("events") {
            Some(serde_json::Value::Array(items)) => items,
            _ => return Err(AppError::invalid("events", "must be an array")),
        },
        one @ serde_json::Value::Object(_) => vec![one],
        _ => {
            return Err(AppError::invalid(
                "",
                "expected {\"events\": [...]} or one event object",
            ))
        }
    };
    let mut ok = Vec::new();
    let mut rejected = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        match serde_path_to_error::deserialize::<_, Event>(item) {
            Ok(e) => ok.push((index, e)),
            Err(e) => {
                let message = e.inner().to_string();
                // serde reports a missing field at its parent; name the field itself.
                let field = match message.strip_prefix("missing field `") {
                    Some(rest) => rest.split('`').next().unwrap_or_default().to_owned(),
                    None => e.path().to_string(),
                };
                rejected.push(Rejection {
                    index,
                    field,
                    message,
                })
            }
        }
    }
    Ok((ok, rejected))
}

/// The cached catalog, reloaded if an admin change happened since.
async fn catalog(state: &AppState) -> AppResult<Arc<Catalog>> {
    let mut conn = state.db.reader.acquire().await?;
    let version: i64 = sqlx::query_scalar("SELECT value FROM counters WHERE name = 'audit'")
        .fetch_one(&mut *conn)
        .await?;
    {
        let cached = state.catalog.read().await;
        if cached.version == version {
            return Ok(cached.clone());
        }
    }
    let mut tests_map = HashMap::new();
    for t in tests::list(&mut conn, None).await? {
        tests_map.insert(
            t.spec.key.clone(),
            CatalogTest {
                status: t.status,
                variants: t.spec.variants.iter().map(|v| v.key.clone()).collect(),
                metrics: metrics::readers(&t.spec.metrics)
                    .into_iter()
                    .map(|(event, readers)| (event, Arc::from(readers)))
                    .collect(),
                bandit: t.spec.bandit_settings().is_some(),
                dimensions: t.spec.dimensions.clone(),
                covariates: t
                    .spec
                    .metrics
                    .iter()
                    .filter_map(|m| Some((m.key.clone(), m.covariate.clone()?)))
                    .collect(),
            },
        );
    }
    let fresh = Arc::new(Catalog {
        version,
        tests: tests_map,
    });
    *state.catalog.write().await = fresh.clone();
    Ok(fresh)
}

#[tracing::instrument(skip_all, fields(events))]
pub async fn post_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    crate::extract::RawBody(body): crate::extract::RawBody,
) -> AppResult<Json<IngestResponse>> {
    let key = bearer(&headers).ok_or(AppError::Unauthorized)?;
    // The catalog first: its version says whether remembered keys still hold.
    let catalog = catalog(&state).await?;
    let site = ingest_site(&state, key, catalog.version).await?;
    let started = std::time::Instant::now();
    let (events, mut rejected) = parse_batch(&body)?;
    tracing::Span::current().record("events", events.len() + rejected.len());
    if events.len() + rejected.len() > MAX_BATCH_EVENTS {
        return Err(AppError::invalid(
            "events",
            format!("at most {MAX_BATCH_EVENTS} events per batch"),
        ));
    }
    let now = now_ms();
    let (indices, events): (Vec<usize>, Vec<Event>) = events.into_iter().unzip();
    let (ok, mut invalid) = validate(events, &catalog, &site, now, state.limits);
    for r in &mut invalid {
        r.index = indices[r.index];
    }
    rejected.append(&mut invalid);
    rejected.sort_by_key(|r| r.index);
    let applied = match &state.writer {
        _ if ok.is_empty() => Applied::default(),
        Some(writer) => writer.submit(ok).await?,
        None => apply_with_retry(&state, &ok).await?,
    };
    state
        .metrics
        .ingested(&applied, rejected.len(), started.elapsed());
    Ok(Json(IngestResponse {
        accepted: applied.accepted,
        duplicates: applied.duplicates,
        rejected,
    }))
}

/// The site of a valid ingestion key. A key seen valid is remembered (by hash) while the audit
/// counter stays at `version`, saving a database round trip per batch; a revocation moves
/// the counter, in this process or another.
async fn ingest_site(state: &AppState, key: &str, version: i64) -> AppResult<String> {
    let hash = crate::db::tokens::sha256_hex(key);
    {
        let (seen_at, sites) = &*state.ingest_keys.read().await;
        let remembered = sites.get(&hash).filter(|_| *seen_at == version);
        if let Some(site) = remembered {
            return Ok(site.clone());
        }
    }
    let mut conn = state.db.reader.acquire().await?;
    let site = crate::db::tokens::check_ingest_key(&mut conn, key)
        .await?
        .ok_or(AppError::Unauthorized)?;
    let mut cache = state.ingest_keys.write().await;
    if cache.0 != version {
        *cache = (version, HashMap::new());
    }
    cache.1.insert(hash, site.clone());
    Ok(site)
}

/// PostgreSQL: one transaction per request, rerun on deadlock or serialization failure
/// (concurrent processes touching the same rows).
async fn apply_with_retry(state: &AppState, events: &[NewEvent]) -> AppResult<Applied> {
    let mut attempt = 0;
    loop {
        let mut tx = state.db.writer.begin().await?;
        match apply(&mut tx, events).await {
            Ok(mut inserted) => match tx.commit().await {
                Ok(()) => return Ok(Applied::count(events, &mut inserted)),
                Err(e) if dialect::is_retryable(&e) && attempt < 5 => {}
                Err(e) => return Err(e.into()),
            },
            Err(AppError::Db(e)) if dialect::is_retryable(&e) && attempt < 5 => drop(tx),
            Err(e) => return Err(e),
        }
        attempt += 1;
        tracing::debug!(attempt, "retrying ingest transaction");
    }
}

#[cfg(test)]
mod tests_ {
    use super::*;
    use edgewise_shared::snapshot::MetricDef;

    fn catalog() -> Catalog {
        let mut tests = HashMap::new();
        tests.insert(
            "t".to_owned(),
            CatalogTest {
                status: Status::Running,
                variants: ["a".to_owned(), "b".to_owned()].into(),
                metrics: metrics::readers(
                    &serde_json::from_value::<Vec<MetricDef>>(serde_json::json!([
                        {"key": "buy", "kind": "binomial"},
                        {"key": "rev", "kind": "value"},
                    ]))
                    .unwrap(),
                )
                .into_iter()
                .map(|(event, readers)| (event, Arc::from(readers)))
                .collect(),
                bandit: false,
                dimensions: Vec::new(),
                covariates: Vec::new(),
            },
        );
        Catalog { version: 1, tests }
    }

    fn ev(json: serde_json::Value) -> Event {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn rejects_by_index_and_field() {
        let limits = Limits {
            max_age_ms: 1000,
            max_future_ms: 100,
        };
        let base = serde_json::json!({"event_id": "e", "type": "exposure", "unit_id": "u",
            "test": "t", "variant": "a", "ts": 10_000});
        let mut bad_variant = base.clone();
        bad_variant["variant"] = "z".into();
        let mut old = base.clone();
        old["ts"] = 1.into();
        let mut future = base.clone();
        future["ts"] = 20_000.into();
        let neg = serde_json::json!({"event_id": "c", "type": "conversion", "unit_id": "u",
            "test": "t", "variant": "a", "metric": "rev", "value": -1.0, "ts": 10_000});
        let no_value = serde_json::json!({"event_id": "d", "type": "conversion", "unit_id": "u",
            "test": "t", "variant": "a", "metric": "rev", "ts": 10_000});
        let mut unknown = base.clone();
        unknown["test"] = "nope".into();
        let mut no_ts = base.clone();
        no_ts.as_object_mut().unwrap().remove("ts");
        let events = [
            base,
            bad_variant,
            old,
            future,
            neg,
            no_value,
            unknown,
            no_ts,
        ]
        .into_iter()
        .map(ev)
        .collect();
        let (ok, rej) = validate(events, &catalog(), "s", 10_000, limits);
        assert_eq!(ok.len(), 1);
        let got: Vec<(usize, &str)> = rej.iter().map(|r| (r.index, r.field.as_str())).collect();
        assert_eq!(
            got,
            [
                (1, "variant"),
                (2, "ts"),
                (3, "ts"),
                (4, "value"),
                (5, "value"),
                (6, "test"),
                (7, "ts")
            ]
        );
    }
}
