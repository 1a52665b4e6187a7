//! Exposures the edge logged (issue 21, proxy mode): an event's `logged_by` is stored with the
//! raw event and the unit's counted exposure, shown per cell (`edge_units` in the aggregates)
//! and per variant (results), counted in `/metrics`, and taken back by an erasure. An unknown
//! value, or a conversion said to be logged by the edge, is rejected naming `logged_by`; a
//! re-delivered edge exposure counts once.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both;
use crate::common::{conversion, exposure, TestApp};

fn by(mut e: Value, logged_by: &str) -> Value {
    e["logged_by"] = json!(logged_by);
    e
}

/// Per variant of test `t`: (units, edge_units) summed over its aggregate cells.
async fn per_variant(app: &TestApp) -> Vec<(String, i64, i64)> {
    let (s, a) = app.get("/api/v1/tests/t/aggregates").await;
    assert_eq!(s, StatusCode::OK, "{a}");
    ["b", "control"]
        .iter()
        .map(|v| {
            let cells = a["aggregates"]["exposures"].as_array().unwrap().iter();
            let mine: Vec<&Value> = cells.filter(|c| c["variant"] == *v).collect();
            let sum = |f: &str| mine.iter().map(|c| c[f].as_i64().unwrap()).sum();
            ((*v).to_owned(), sum("units"), sum("edge_units"))
        })
        .collect()
}

/// `logged_by` of every stored raw event, by event id.
async fn stored(app: &TestApp) -> Vec<(String, String)> {
    let schemas = app.db.shard_schemas();
    let tables: Vec<String> = if schemas.is_empty() {
        vec!["events".into()]
    } else {
        schemas.iter().map(|s| format!("{s}.events")).collect()
    };
    let mut rows: Vec<(String, String)> = Vec::new();
    for t in tables {
        let sql = format!("SELECT event_id, logged_by FROM {t}");
        rows.extend(
            sqlx::query_as::<_, (String, String)>(&sql)
                .fetch_all(&app.db.reader)
                .await
                .unwrap(),
        );
    }
    rows.sort();
    rows
}

fn metric(text: &str, logged_by: &str) -> Option<f64> {
    let series = format!("edgewise_ingest_exposures_total{{logged_by=\"{logged_by}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&series))
        .and_then(|v| v.parse().ok())
}

both!(
    edge_exposures_are_kept_flagged,
    edge_exposures_are_kept_flagged
);
async fn edge_exposures_are_kept_flagged(app: TestApp) {
    app.running_test("t").await;
    let key = app.ingest_key().await;
    let batch = json!([
        by(exposure("e1", "u1", "t", "control"), "edge"),
        by(exposure("e2", "u2", "t", "b"), "edge"),
        exposure("e3", "u3", "t", "b"),
        by(exposure("e4", "u4", "t", "b"), "browser"),
        by(exposure("e5", "u5", "t", "b"), "server"),
        // The same edge exposure again in the batch: counted once.
        by(exposure("e1", "u1", "t", "control"), "edge"),
        // u1's later exposure from the browser: its unit is already counted, as the edge's.
        exposure("e6", "u1", "t", "control"),
        by(conversion("c1", "u1", "t", "buy", None), "edge"),
    ]);
    let (s, r) = app.ingest(&key, batch.clone()).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(
        (r["accepted"].as_u64(), r["duplicates"].as_u64()),
        (Some(5), Some(1)),
        "{r}"
    );
    let rejected: Vec<(u64, &str)> = r["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["index"].as_u64().unwrap(), x["field"].as_str().unwrap()))
        .collect();
    assert_eq!(rejected, [(4, "logged_by"), (7, "logged_by")], "{r}");
    assert!(
        r["rejected"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("server")),
        "{r}"
    );

    let counted = vec![("b".to_owned(), 3, 1), ("control".to_owned(), 1, 1)];
    assert_eq!(per_variant(&app).await, counted);
    // Re-delivered: nothing new, nothing counted twice.
    let (_, r) = app.ingest(&key, batch).await;
    assert_eq!(
        (r["accepted"].as_u64(), r["duplicates"].as_u64()),
        (Some(0), Some(6)),
        "{r}"
    );
    assert_eq!(per_variant(&app).await, counted);

    let (s, res) = app.get("/api/v1/tests/t/results").await;
    assert_eq!(s, StatusCode::OK, "{res}");
    let variants: Vec<(&str, u64, u64)> = res["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let n = |f: &str| v[f].as_u64().unwrap();
            (v["key"].as_str().unwrap(), n("units"), n("edge_units"))
        })
        .collect();
    assert_eq!(variants, [("control", 1, 1), ("b", 3, 1)], "{res}");

    let flag = |id: &str, f: &str| (id.to_owned(), f.to_owned());
    assert_eq!(
        stored(&app).await,
        [
            flag("e1", "edge"),
            flag("e2", "edge"),
            flag("e3", "browser"),
            flag("e4", "browser"),
            flag("e6", "browser"),
        ]
    );

    let m = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        (metric(&m, "edge"), metric(&m, "browser")),
        (Some(2.0), Some(3.0)),
        "{m}"
    );

    // Erasing a unit the edge exposed takes it out of both counts.
    app.erase("u2").await;
    assert_eq!(
        per_variant(&app).await,
        [("b".to_owned(), 2, 0), ("control".to_owned(), 1, 1)]
    );
    app.shutdown().await;
}
