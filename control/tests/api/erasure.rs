//! GDPR erasure while the erased unit's events keep arriving. The erasure scans raw events
//! without holding up ingestion; what it takes out must still be exactly what was stored
//! before it: the unit's state and aggregate share, and the raw events behind them. Whatever
//! arrives after it is new data and stays whole, its raw events included.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use edgewise_control::config::ServeArgs;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_with;
use crate::common::{conversion, exposure, total, TestApp};

fn three_files(c: &mut ServeArgs) {
    c.db.sqlite_shards = 3;
}

both_with!(erasure_during_ingestion, racing, three_files);

/// `table` in every file events are kept in (one on PostgreSQL).
fn tables(app: &TestApp, table: &str) -> Vec<String> {
    let schemas = app.db.shard_schemas();
    if schemas.is_empty() {
        return vec![table.to_owned()];
    }
    schemas.iter().map(|s| format!("{s}.{table}")).collect()
}

/// `sql` (with `{t}` for the table and one bound unit id) summed over every file.
async fn count(app: &TestApp, table: &str, sql: &str, unit: &str) -> i64 {
    let mut n = 0;
    for t in tables(app, table) {
        let q = sql.replace("{t}", &t);
        let k: i64 = sqlx::query_scalar(&q)
            .bind(unit)
            .fetch_one(&app.db.reader)
            .await
            .unwrap();
        n += k;
    }
    n
}

/// `sql` (with `{t}` for the table, one bound unit id, a floating-point sum) over every file.
async fn sum(app: &TestApp, table: &str, sql: &str, unit: &str) -> f64 {
    let mut n = 0.0;
    for t in tables(app, table) {
        let q = sql.replace("{t}", &t);
        let k: f64 = sqlx::query_scalar(&q)
            .bind(unit)
            .fetch_one(&app.db.reader)
            .await
            .unwrap();
        n += k;
    }
    n
}

/// The unit's rows are made of exactly the raw events stored for it (each of its batches
/// adds 2.0 of revenue once it is exposed), and the test's aggregates equal its unit rows.
async fn consistent(app: &TestApp, unit: &str, round: usize) {
    let exposed = count(
        app,
        "exposures",
        "SELECT COUNT(*) FROM {t} WHERE unit_id = $1",
        unit,
    )
    .await;
    let revenue = sum(
        app,
        "unit_metrics",
        "SELECT COALESCE(SUM(value), 0.0) FROM {t} WHERE unit_id = $1 AND metric = 'revenue'",
        unit,
    )
    .await;
    let raw_exposures = count(
        app,
        "events",
        "SELECT COUNT(*) FROM {t} WHERE unit_id = $1 AND kind = 'exposure'",
        unit,
    )
    .await;
    let raw_revenue = count(
        app,
        "events",
        "SELECT COUNT(*) FROM {t} WHERE unit_id = $1 AND metric = 'revenue'",
        unit,
    )
    .await;
    assert_eq!(
        (exposed > 0, revenue),
        (raw_exposures > 0, 2.0 * raw_revenue as f64),
        "round {round}: {unit}'s rows (exposed, revenue) against its raw events"
    );

    let (s, agg) = app.get("/api/v1/tests/t/aggregates").await;
    assert_eq!(s, StatusCode::OK, "{agg}");
    let units = count(
        app,
        "exposures",
        "SELECT COUNT(*) FROM {t} WHERE test = $1",
        "t",
    )
    .await;
    let buyers = count(
        app,
        "unit_metrics",
        "SELECT COUNT(*) FROM {t} WHERE test = $1 AND metric = 'buy' AND conversions > 0",
        "t",
    )
    .await;
    assert_eq!(
        total(&agg, "exposures", "units", |_| true),
        units as f64,
        "round {round}: {agg}"
    );
    assert_eq!(
        total(&agg, "metrics", "units", |r| r["metric"] == "buy"),
        buyers as f64,
        "round {round}: {agg}"
    );
}

async fn racing(app: TestApp) {
    app.running_test("t").await;
    let key = app.ingest_key().await;
    // Other visitors' events, so each erasure has raw events to scan.
    for b in 0..30 {
        let batch: Vec<Value> = (0..1000)
            .map(|i| exposure(&format!("o{b}-{i}"), &format!("o{b}-{i}"), "t", "b"))
            .collect();
        let (s, r) = app.ingest(&key, json!(batch)).await;
        assert_eq!(s, StatusCode::OK, "{r}");
    }
    let app = Arc::new(app);
    let mut fed_during = 0;
    for round in 0..12 {
        // A visitor who keeps converting while their erasure runs.
        let stop = Arc::new(AtomicBool::new(false));
        let feeder = {
            let (app, key, stop) = (app.clone(), key.clone(), stop.clone());
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let id = format!("r{round}-{n}");
                    let batch = json!([
                        exposure(&format!("{id}x"), "x", "t", "control"),
                        conversion(&format!("{id}c"), "x", "t", "buy", None),
                        conversion(&format!("{id}v"), "x", "t", "revenue", Some(2.0)),
                    ]);
                    let (s, r) = app.ingest(&key, batch).await;
                    assert_eq!(s, StatusCode::OK, "{r}");
                    n += 1;
                }
                n
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        app.erase("x").await;
        stop.store(true, Ordering::Relaxed);
        fed_during += feeder.await.unwrap();
        consistent(&app, "x", round).await;
    }
    assert!(fed_during > 24, "the visitor's batches: {fed_during}");

    // Erased at rest, nothing of the visitor is left, and everyone else is untouched.
    app.erase("x").await;
    for table in ["events", "exposures", "unit_metrics"] {
        let left = count(
            &app,
            table,
            "SELECT COUNT(*) FROM {t} WHERE unit_id = $1",
            "x",
        )
        .await;
        assert_eq!(left, 0, "{table}");
    }
    consistent(&app, "x", 12).await;
    let (_, agg) = app.get("/api/v1/tests/t/aggregates").await;
    assert_eq!(total(&agg, "exposures", "units", |_| true), 30_000.0);
    assert_eq!(total(&agg, "metrics", "units", |_| true), 0.0, "{agg}");
    Arc::into_inner(app).unwrap().shutdown().await;
}
