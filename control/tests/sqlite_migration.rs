//! SQLite migrations 0002 (events clustered by test and unit) and 0003 (events in time order,
//! per-unit state in its own tables again) carry a database written under 0001 forward: the
//! same aggregates, the same per-unit state, idempotency for old events, and the ingestion
//! writer goes on from there.

use std::str::FromStr;
use std::sync::Arc;

use edgewise_control::config::DbArgs;
use edgewise_control::db::aggregates::{self, Aggregates};
use edgewise_control::db::events::NewEvent;
use edgewise_control::db::Db;
use edgewise_control::writer::Writer;
use edgewise_shared::beacon::EventKind;
use edgewise_shared::metrics::{readers, Reader};
use edgewise_shared::snapshot::MetricDef;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};

const OLD_DATA: &str = r#"
INSERT INTO tests (key, status, winner, spec, created_at, updated_at) VALUES ('t', 'running', NULL,
  '{"key":"t","variants":[{"key":"control","weight":1},{"key":"b","weight":1}],
    "metrics":[{"key":"buy","kind":"binomial","role":"primary"},{"key":"rev","kind":"value"}]}', 0, 0);
INSERT INTO events (event_id, kind, unit_id, test, variant, metric, value, device, persona, ts,
                    snapshot_version, site, received_at) VALUES
  ('e1', 'exposure',   'u1', 't', 'control', '',    0, 'mobile',  '', 10, 1, 's', 100),
  ('e2', 'exposure',   'u1', 't', 'b',       '',    0, 'desktop', '', 20, 1, 's', 200),
  ('c1', 'conversion', 'u1', 't', 'control', 'buy', 0, 'mobile',  '', 15, 1, 's', 150),
  ('c2', 'conversion', 'u1', 't', 'control', 'rev', 3, 'mobile',  '', 15, 1, 's', 150),
  ('c3', 'conversion', 'u1', 't', 'control', 'rev', 4, 'mobile',  '', 30, 1, 's', 300),
  ('c4', 'conversion', 'u2', 't', 'b',       'buy', 0, 'mobile',  '', 50, 1, 's', 50),
  ('e3', 'exposure',   'u2', 't', 'b',       '',    0, 'mobile',  '', 60, 1, 's', 60);
INSERT INTO exposures (test, unit_id, variant, device, persona, ts) VALUES
  ('t', 'u1', 'control', 'mobile', '', 10), ('t', 'u2', 'b', 'mobile', '', 60);
INSERT INTO unit_metrics (test, unit_id, metric, conversions, value) VALUES
  ('t', 'u1', 'buy', 1, 0), ('t', 'u1', 'rev', 2, 7);
INSERT INTO agg_exposures (test, variant, device, persona, units) VALUES
  ('t', 'control', 'mobile', '', 1), ('t', 'b', 'mobile', '', 1);
INSERT INTO agg_metrics (test, variant, device, persona, metric, units, sum, sum_sq) VALUES
  ('t', 'control', 'mobile', '', 'buy', 1, 1, 1), ('t', 'control', 'mobile', '', 'rev', 1, 7, 49);
"#;

/// The test's metrics reading `metric`, as the ingestion catalog lists them.
fn reads(metric: Option<&str>) -> Arc<[Reader]> {
    let defs: Vec<MetricDef> =
        serde_json::from_str(r#"[{"key":"buy","kind":"binomial"},{"key":"rev","kind":"value"}]"#)
            .unwrap();
    metric
        .and_then(|m| readers(&defs).remove(m))
        .map(Arc::from)
        .unwrap_or_default()
}

fn event(
    id: &str,
    unit: &str,
    variant: &str,
    metric: Option<&str>,
    value: Option<f64>,
) -> NewEvent {
    NewEvent {
        event_id: id.into(),
        kind: if metric.is_some() {
            EventKind::Conversion
        } else {
            EventKind::Exposure
        },
        unit_id: unit.into(),
        test: "t".into(),
        variant: variant.into(),
        metric: metric.map(Into::into),
        value,
        reads: reads(metric),
        device: "mobile".into(),
        persona: String::new(),
        ts: 1_000,
        snapshot_version: Some(1),
        propensity: None,
        stratum: None,
        dims: Vec::new(),
        covs: Vec::new(),
        logged_by: Default::default(),
        site: "s".into(),
        received_at: 1_000,
    }
}

/// `(variant, units)` per exposure cell and `(variant, metric, units, sum, sum_sq)` per metric
/// cell (all mobile, no persona here).
#[allow(clippy::type_complexity)]
fn summary(a: &Aggregates) -> (Vec<(String, i64)>, Vec<(String, String, i64, f64, f64)>) {
    (
        a.exposures
            .iter()
            .map(|c| (c.variant.clone(), c.units))
            .collect(),
        a.metrics
            .iter()
            .map(|c| {
                (
                    c.variant.clone(),
                    c.metric.clone(),
                    c.units,
                    c.sum,
                    c.sum_sq,
                )
            })
            .collect(),
    )
}

async fn read(db: &Db) -> (Vec<(String, i64)>, Vec<(String, String, i64, f64, f64)>) {
    let mut conn = db.reader.acquire().await.unwrap();
    summary(
        &aggregates::aggregates(&mut conn, &db.shard_schemas(), "t")
            .await
            .unwrap(),
    )
}

#[tokio::test]
async fn old_counts_survive_and_ingestion_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/old.db", dir.path().display());
    sqlx::any::install_default_drivers();
    {
        // The database as 0001 left it, with data stored by the old ingestion.
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .connect_with(AnyConnectOptions::from_str(&format!("{url}?mode=rwc")).unwrap())
            .await
            .unwrap();
        let mut first = sqlx::migrate!("../migrations/sqlite");
        first.migrations = first
            .migrations
            .iter()
            .filter(|m| m.version == 1)
            .cloned()
            .collect::<Vec<_>>()
            .into();
        first.run(&pool).await.unwrap();
        sqlx::raw_sql(OLD_DATA).execute(&pool).await.unwrap();
        pool.close().await;
    }

    let db = Db::connect(&DbArgs::new(&url), "NORMAL").await.unwrap();
    // It held events before there were several files, so it keeps its one.
    assert_eq!(db.shard_schemas(), ["main"]);
    let exposures: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT unit_id, variant, ts FROM exposures ORDER BY unit_id")
            .fetch_all(&db.reader)
            .await
            .unwrap();
    // Each unit's first exposure fixed it.
    assert_eq!(
        exposures,
        [
            ("u1".into(), "control".into(), 10),
            ("u2".into(), "b".into(), 60)
        ]
    );
    let metrics: Vec<(String, String, i64, f64)> = sqlx::query_as(
        "SELECT unit_id, metric, conversions, value FROM unit_metrics ORDER BY unit_id, metric",
    )
    .fetch_all(&db.reader)
    .await
    .unwrap();
    // u1's conversions after its exposure; not u2's, which came before its exposure.
    assert_eq!(
        metrics,
        [
            ("u1".into(), "buy".into(), 1, 0.0),
            ("u1".into(), "rev".into(), 2, 7.0)
        ]
    );
    let events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events")
        .fetch_one(&db.reader)
        .await
        .unwrap();
    assert_eq!(events, 7);
    let before = (
        vec![("b".into(), 1), ("control".into(), 1)],
        vec![
            ("control".into(), "buy".into(), 1, 1.0, 1.0),
            ("control".into(), "rev".into(), 1, 7.0, 49.0),
        ],
    );
    assert_eq!(
        read(&db).await,
        before,
        "rebuilt aggregates equal the old ones"
    );

    let writer = Writer::spawn(&db.sqlite, 1 << 20).unwrap();
    let applied = writer
        .submit(vec![
            // A re-delivery of an old event: the same id, unit, test and time.
            NewEvent {
                ts: 30,
                ..event("c3", "u1", "control", Some("rev"), Some(4.0))
            },
            event("c5", "u1", "control", Some("rev"), Some(1.0)),
            event("c6", "u2", "b", Some("buy"), None),
            event("e4", "u3", "control", None, None),
            event("e5", "u1", "b", None, None),
        ])
        .await
        .unwrap();
    assert_eq!((applied.accepted, applied.duplicates), (4, 1));
    assert_eq!(
        read(&db).await,
        (
            vec![("b".into(), 1), ("control".into(), 2)],
            vec![
                ("b".into(), "buy".into(), 1, 1.0, 1.0),
                ("control".into(), "buy".into(), 1, 1.0, 1.0),
                // u1's value goes from 7 to 8.
                ("control".into(), "rev".into(), 1, 8.0, 64.0),
            ],
        )
    );
}
