//! The monitor on a real database: history written from the aggregates once per bucket, the
//! recommendation and its automatic stop, SRM within one segment pausing a test while the
//! overall split looks fine (and a human's resume not overruled), alerts, and drift. Webhooks
//! are in `webhooks.rs`.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{exposure, test_spec, TestApp};

/// Ticks only when asked (`POST /api/v1/monitor/run`); one-second history buckets.
pub(crate) fn manual(c: &mut edgewise_control::config::ServeArgs) {
    c.monitor_interval_secs = 86_400;
    c.history_bucket_secs = 1;
}

crate::both_with!(history_is_written_once_per_bucket, history, manual);
async fn history(app: TestApp) {
    app.running_test("h").await;
    // Running but not yet ticked: the test is there, its evaluation is not (yet) — a state,
    // not a missing resource; an unknown test is the 404.
    let (s, e) = app.get("/api/v1/tests/h/monitor").await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert!(e["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("no evaluation yet"));
    assert_eq!(
        app.get("/api/v1/tests/nope/monitor").await.0,
        StatusCode::NOT_FOUND
    );
    let key = app.ingest_key().await;
    let events: Vec<Value> = (0..20)
        .map(|i| {
            exposure(
                &format!("e{i}"),
                &format!("u{i}"),
                "h",
                if i % 2 == 0 { "control" } else { "b" },
            )
        })
        .collect();
    assert_eq!(app.ingest(&key, json!(events)).await.0, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (s, r) = app.post("/api/v1/monitor/run", json!(null)).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert!(r["closed_bucket"].is_i64(), "{r}");
    // The same bucket is not closed twice.
    let (_, again) = app.post("/api/v1/monitor/run", json!(null)).await;
    assert!(again["closed_bucket"].is_null() || again["closed_bucket"] != r["closed_bucket"]);
    let more: Vec<Value> = (20..30)
        .map(|i| exposure(&format!("e{i}"), &format!("u{i}"), "h", "control"))
        .collect();
    app.ingest(&key, json!(more)).await;
    let (s, h) = app
        .get("/api/v1/tests/h/history?segment=device:mobile")
        .await;
    assert_eq!(s, StatusCode::OK, "{h}");
    let points = h["points"].as_array().unwrap();
    let units = |p: &Value| -> Vec<u64> {
        p["variants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["n"].as_u64().unwrap())
            .collect()
    };
    let closed: Vec<&Value> = points.iter().filter(|p| p["closed"] == true).collect();
    assert!(!closed.is_empty(), "{h}");
    assert_eq!(
        units(closed[0]),
        [10, 10],
        "the closed bucket holds what stood then"
    );
    let live = points.last().unwrap();
    assert_eq!(
        (live["closed"].as_bool(), units(live)),
        (Some(false), vec![20, 10])
    );
    assert_eq!(h["metric"], "buy");
    let (s, e) = app.get("/api/v1/tests/h/history?segment=bogus").await;
    assert_eq!(
        (s, e["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("segment"))
    );
    let (s, e) = app.get("/api/v1/tests/h/history?metric=nope").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{e}");
    app.shutdown().await;
}

/// Adds exposed units (and binomial conversions of `buy`) straight to the aggregate tables: the
/// monitor's input, at volumes the API tests could not ingest in time. Rows are
/// (variant, device, persona, units, conversions).
/// A test's exposures where 2% of the variant's mobile ones were lost and desktop is balanced:
/// an SRM in one segment while overall stays quiet.
pub(crate) const MOBILE_SRM: &[(&str, &str, &str, i64, i64)] = &[
    ("control", "mobile", "", 100_000, 0),
    ("b", "mobile", "", 98_000, 0),
    ("control", "desktop", "", 150_000, 0),
    ("b", "desktop", "", 150_000, 0),
];

pub(crate) async fn seed(app: &TestApp, test: &str, rows: &[(&str, &str, &str, i64, i64)]) {
    let mut conn = app.db.writer.acquire().await.unwrap();
    for (variant, device, persona, units, conversions) in rows {
        sqlx::query(
            "INSERT INTO agg_exposures (test, variant, device, persona, units) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (test, variant, device, persona) \
             DO UPDATE SET units = agg_exposures.units + excluded.units",
        )
        .bind(test)
        .bind(*variant)
        .bind(*device)
        .bind(*persona)
        .bind(*units)
        .execute(&mut *conn)
        .await
        .unwrap();
        if *conversions > 0 {
            sqlx::query(
                "INSERT INTO agg_metrics (test, variant, device, persona, metric, units, sum, sum_sq) \
                 VALUES ($1, $2, $3, $4, 'buy', $5, $6, $6)",
            )
            .bind(test)
            .bind(*variant)
            .bind(*device)
            .bind(*persona)
            .bind(*conversions)
            .bind(*conversions as f64)
            .execute(&mut *conn)
            .await
            .unwrap();
        }
    }
}

async fn audit_by(app: &TestApp, actor: &str) -> Vec<Value> {
    let (_, a) = app.get("/api/v1/audit?limit=1000").await;
    a["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] == actor)
        .cloned()
        .collect()
}

crate::both_with!(
    a_winner_is_shipped_and_stopped_by_the_monitor,
    winner,
    manual
);
async fn winner(app: TestApp) {
    let mut spec = test_spec("w");
    spec["decision"] = json!({"min_runtime_days": 0, "auto_stop": true});
    assert_eq!(app.post("/api/v1/tests", spec).await.0, StatusCode::CREATED);
    assert_eq!(
        app.post("/api/v1/tests/w/start", json!(null)).await.0,
        StatusCode::OK
    );
    // 10% against 13% on 20,000 units per arm.
    seed(
        &app,
        "w",
        &[
            ("control", "mobile", "", 20_000, 2_000),
            ("b", "mobile", "", 20_000, 2_600),
        ],
    )
    .await;
    let (s, r) = app.post("/api/v1/monitor/run", json!(null)).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(
        r["actions"],
        json!([{"test": "w", "action": "stop", "finding": "ship:b", "winner": "b"}])
    );
    let (_, t) = app.get("/api/v1/tests/w").await;
    assert_eq!(
        (t["status"].as_str(), t["winner"].as_str()),
        (Some("stopped"), Some("b"))
    );
    let (_, e) = app.get("/api/v1/tests/w/monitor").await;
    assert_eq!(e["recommendation"]["recommendation"], "ship", "{e}");
    assert_eq!(e["recommendation"]["variant"], "b");
    let by_monitor = audit_by(&app, "monitor").await;
    assert_eq!(by_monitor.len(), 1);
    assert_eq!(by_monitor[0]["action"], "test.stop");
    let after: Value = serde_json::from_str(by_monitor[0]["after"].as_str().unwrap()).unwrap();
    assert!(
        after["reason"].as_str().unwrap().contains("`b` wins"),
        "{after}"
    );
    let (_, alerts) = app.get("/api/v1/alerts?test=w").await;
    assert_eq!(alerts["alerts"][0]["kind"], "ship");
    assert_eq!(alerts["alerts"][0]["action"], "stop");
    // The snapshot serves the winner to everyone.
    let snap: Value = app
        .client
        .get(format!("{}/v1/snapshot", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let w = snap["tests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["key"] == "w")
        .unwrap();
    assert_eq!(
        (w["status"].as_str(), w["variants"][0]["key"].as_str()),
        (Some("paused"), Some("b"))
    );
    app.shutdown().await;
}

crate::both_with!(
    srm_in_one_segment_pauses_the_test_while_overall_is_quiet,
    segment_srm,
    manual
);
async fn segment_srm(app: TestApp) {
    for (key, rows) in [
        // 2% of the variant's mobile exposures lost; desktop balanced.
        ("mob", MOBILE_SRM.to_vec()),
        // 2% of one persona's lost; the rest balanced.
        (
            "per",
            vec![
                ("control", "desktop", "P", 100_000, 0),
                ("b", "desktop", "P", 98_000, 0),
                ("control", "desktop", "", 150_000, 0),
                ("b", "desktop", "", 150_000, 0),
            ],
        ),
    ] {
        app.running_test(key).await;
        seed(&app, key, &rows).await;
    }
    let (s, r) = app.post("/api/v1/monitor/run", json!(null)).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let mut paused: Vec<String> = r["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| format!("{} {} {}", a["test"], a["action"], a["finding"]))
        .collect();
    paused.sort();
    assert_eq!(
        paused,
        [
            "\"mob\" \"pause\" \"srm:device:mobile\"",
            "\"per\" \"pause\" \"srm:persona:P\"",
        ]
    );
    for key in ["mob", "per"] {
        let (_, e) = app.get(&format!("/api/v1/tests/{key}/monitor")).await;
        let overall = e["srm"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["segment"] == "overall")
            .unwrap();
        assert_eq!(overall["anomaly"], false, "{e}");
        assert!(overall["p_adjusted"].as_f64().unwrap() > 0.001, "{overall}");
        let (_, t) = app.get(&format!("/api/v1/tests/{key}")).await;
        assert_eq!(t["status"], "paused");
    }
    assert_eq!(audit_by(&app, "monitor").await.len(), 2);
    let (_, alerts) = app.get("/api/v1/alerts").await;
    assert_eq!(alerts["alerts"].as_array().unwrap().len(), 2);

    // A human resumes one: the same finding does not pause it again, nor alert again.
    assert_eq!(
        app.post("/api/v1/tests/mob/resume", json!(null)).await.0,
        StatusCode::OK
    );
    let (_, r) = app.post("/api/v1/monitor/run", json!(null)).await;
    assert_eq!(
        (r["actions"].as_array().unwrap().len(), r["alerts"].as_u64()),
        (0, Some(0)),
        "{r}"
    );
    let (_, t) = app.get("/api/v1/tests/mob").await;
    assert_eq!(t["status"], "running");
    // Ten times worse (raw p from 7e-6 to 7e-8) on mobile, while overall stays quiet, it does.
    seed(&app, "mob", &[("control", "mobile", "", 400, 0)]).await;
    let (_, r) = app.post("/api/v1/monitor/run", json!(null)).await;
    assert_eq!(r["actions"][0]["finding"], "srm:device:mobile", "{r}");
    assert_eq!(r["actions"].as_array().unwrap().len(), 1, "{r}");

    // Acknowledging an alert.
    let id = alerts["alerts"][0]["id"].as_i64().unwrap();
    let (s, a) = app
        .post(&format!("/api/v1/alerts/{id}/ack"), json!(null))
        .await;
    assert_eq!(s, StatusCode::OK, "{a}");
    assert!(a["acked_at"].is_i64());
    let (_, open) = app.get("/api/v1/alerts?unacked=true").await;
    assert!(open["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["id"] != id));
    assert_eq!(
        app.post("/api/v1/alerts/999999/ack", json!(null)).await.0,
        StatusCode::NOT_FOUND
    );
    app.shutdown().await;
}

/// Writes a test's history straight into the history tables: per closed bucket (oldest first,
/// ending with the one that closed last), its cumulative exposed units and `buy` conversions.
async fn seed_history(app: &TestApp, test: &str, bucket_ms: i64, cumulative: &[(i64, i64)]) {
    let mut conn = app.db.writer.acquire().await.unwrap();
    let now = edgewise_control::db::now_ms();
    let last = now - now.rem_euclid(bucket_ms) - bucket_ms;
    let first = last - (cumulative.len() as i64 - 1) * bucket_ms;
    for (i, (units, conversions)) in cumulative.iter().enumerate() {
        let bucket = first + i as i64 * bucket_ms;
        sqlx::query(
            "INSERT INTO history_exposures (test, bucket, variant, device, persona, units) \
             VALUES ($1, $2, 'control', 'mobile', '', $3)",
        )
        .bind(test)
        .bind(bucket)
        .bind(*units)
        .execute(&mut *conn)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO history_metrics \
             (test, bucket, variant, device, persona, metric, units, sum, sum_sq) \
             VALUES ($1, $2, 'control', 'mobile', '', 'buy', $3, $4, $4)",
        )
        .bind(test)
        .bind(bucket)
        .bind(*conversions)
        .bind(*conversions as f64)
        .execute(&mut *conn)
        .await
        .unwrap();
    }
    // The monitor has closed these buckets already.
    sqlx::query(
        "INSERT INTO monitor_state (name, value) VALUES ('history.closed', $1) \
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    )
    .bind(last.to_string())
    .execute(&mut *conn)
    .await
    .unwrap();
}

/// Hour-long buckets, ticks on demand: the history below stays as written.
fn hourly(c: &mut edgewise_control::config::ServeArgs) {
    c.monitor_interval_secs = 86_400;
    c.history_bucket_secs = 3600;
}

crate::both_with!(
    a_traffic_drop_and_broken_tracking_are_found_in_the_history,
    drift,
    hourly
);
async fn drift(app: TestApp) {
    app.running_test("drop").await;
    app.running_test("silent").await;
    // 1,000 new units an hour, then 40 in the last one.
    seed_history(
        &app,
        "drop",
        3_600_000,
        &[
            (1000, 100),
            (2000, 200),
            (3000, 300),
            (4000, 400),
            (4040, 404),
        ],
    )
    .await;
    // Conversions stop while the units keep coming: 10% of 2,000 units expected, none seen.
    seed_history(
        &app,
        "silent",
        3_600_000,
        &[(1000, 100), (2000, 200), (3000, 200), (4000, 200)],
    )
    .await;
    let (s, r) = app.post("/api/v1/monitor/run", json!(null)).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert!(r["closed_bucket"].is_null(), "{r}");
    let findings = |e: &Value| -> Vec<String> {
        e["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["key"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, e) = app.get("/api/v1/tests/drop/monitor").await;
    assert_eq!(findings(&e), ["traffic_drop"], "{e}");
    let (_, e) = app.get("/api/v1/tests/silent/monitor").await;
    assert_eq!(findings(&e), ["broken_tracking:buy"], "{e}");
    // Both alert; neither pauses by default.
    assert!(r["actions"].as_array().unwrap().is_empty(), "{r}");
    let (_, alerts) = app.get("/api/v1/alerts").await;
    let mut kinds: Vec<&str> = alerts["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    kinds.sort();
    assert_eq!(kinds, ["broken_tracking", "traffic_drop"]);
    app.shutdown().await;
}
