//! Ingestion: idempotent re-delivery, per-unit counting, rejections, limits, unit deletion.

use edgewise_control::db::now_ms;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both;
use crate::common::{conversion, exposure, total, TestApp};

async fn aggregates(app: &TestApp, test: &str) -> Value {
    let (s, a) = app.get(&format!("/api/v1/tests/{test}/aggregates")).await;
    assert_eq!(s, StatusCode::OK, "{a}");
    a
}

fn cell<'a>(agg: &'a Value, kind: &str, variant: &str, metric: Option<&str>) -> Vec<&'a Value> {
    agg["aggregates"][kind]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["variant"] == variant && metric.is_none_or(|m| r["metric"] == m))
        .collect()
}

both!(idempotent_redelivery, idempotent_redelivery);
async fn idempotent_redelivery(app: TestApp) {
    app.running_test("t").await;
    let key = app.ingest_key().await;
    let batch = json!([
        exposure("e1", "u1", "t", "control"),
        exposure("e2", "u2", "t", "b"),
        conversion("e3", "u1", "t", "revenue", Some(5.0)),
        conversion("e3", "u1", "t", "revenue", Some(5.0)),
    ]);
    let (s, r) = app.ingest(&key, batch.clone()).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(
        (r["accepted"].as_u64(), r["duplicates"].as_u64()),
        (Some(3), Some(1)),
        "{r}"
    );
    let first = aggregates(&app, "t").await;
    for _ in 0..2 {
        let (_, r) = app.ingest(&key, batch.clone()).await;
        assert_eq!(
            (r["accepted"].as_u64(), r["duplicates"].as_u64()),
            (Some(0), Some(4)),
            "{r}"
        );
    }
    assert_eq!(
        aggregates(&app, "t").await,
        first,
        "re-delivery changes nothing"
    );
    assert_eq!(total(&first, "exposures", "units", |_| true), 2.0);
    assert_eq!(
        total(&first, "metrics", "sum", |r| r["metric"] == "revenue"),
        5.0
    );
    // One bare event is accepted as a body too.
    let (s, r) = app
        .call(
            reqwest::Method::POST,
            "/v1/events",
            Some(&key),
            Some(&exposure("e9", "u9", "t", "b")),
        )
        .await;
    assert_eq!((s, r["accepted"].as_u64()), (StatusCode::OK, Some(1)));
    app.shutdown().await;
}

both!(per_unit_counting, per_unit_counting);
async fn per_unit_counting(app: TestApp) {
    app.running_test("t").await;
    let key = app.ingest_key().await;
    // Conversions before any exposure are stored but not counted.
    let (_, r) = app
        .ingest(&key, json!([conversion("c0", "u1", "t", "buy", None)]))
        .await;
    assert_eq!(r["accepted"], 1);
    let mut second = exposure("x2", "u1", "t", "b");
    second["device"] = json!("desktop");
    second["ts"] = json!(now_ms() + 60_000);
    let (_, r) = app
        .ingest(&key, json!([exposure("x1", "u1", "t", "control"), second]))
        .await;
    assert_eq!(r["accepted"], 2);
    let (_, r) = app
        .ingest(
            &key,
            json!([
                exposure("x3", "u1", "t", "b"),
                conversion("c1", "u1", "t", "buy", None),
                conversion("c2", "u1", "t", "buy", None),
                conversion("c3", "u1", "t", "revenue", Some(3.0)),
                conversion("c4", "u1", "t", "revenue", Some(4.0)),
                exposure("x4", "u2", "t", "control"),
                conversion("c5", "u2", "t", "revenue", Some(2.0)),
                conversion("c6", "u3", "t", "buy", None),
            ]),
        )
        .await;
    assert_eq!(r["accepted"], 8, "{r}");
    let (_, r) = app
        .ingest(
            &key,
            json!([conversion("c7", "u1", "t", "revenue", Some(1.0))]),
        )
        .await;
    assert_eq!(r["accepted"], 1);
    let agg = aggregates(&app, "t").await;
    // u1's first exposure fixed control/mobile; later exposures and conversion devices don't move it.
    let exp = cell(&agg, "exposures", "control", None);
    assert_eq!(exp.len(), 1, "{agg}");
    assert_eq!(
        (exp[0]["units"].as_i64(), exp[0]["device"].as_str()),
        (Some(2), Some("mobile"))
    );
    assert!(cell(&agg, "exposures", "b", None).is_empty(), "{agg}");
    let buy = cell(&agg, "metrics", "control", Some("buy"));
    assert_eq!(
        (
            buy[0]["units"].as_i64(),
            buy[0]["sum"].as_f64(),
            buy[0]["sum_sq"].as_f64()
        ),
        (Some(1), Some(1.0), Some(1.0)),
        "a binomial metric counts u1 once; u3 was never exposed: {agg}"
    );
    let rev = cell(&agg, "metrics", "control", Some("revenue"));
    // Per-unit values: u1 = 3 + 4 + 1 = 8, u2 = 2.
    assert_eq!(
        (
            rev[0]["units"].as_i64(),
            rev[0]["sum"].as_f64(),
            rev[0]["sum_sq"].as_f64()
        ),
        (Some(2), Some(10.0), Some(68.0)),
        "{agg}"
    );
    app.shutdown().await;
}

both!(rejections_and_limits, rejections_and_limits);
async fn rejections_and_limits(app: TestApp) {
    app.running_test("t").await;
    app.post("/api/v1/tests", crate::common::test_spec("draft"))
        .await;
    let key = app.ingest_key().await;
    let mut old = exposure("r3", "u", "t", "control");
    old["ts"] = json!(now_ms() - 30 * 24 * 3600 * 1000);
    let mut future = exposure("r4", "u", "t", "control");
    future["ts"] = json!(now_ms() + 3600 * 1000);
    let (s, r) = app
        .ingest(
            &key,
            json!([
                exposure("r0", "u", "t", "control"),
                exposure("r1", "u", "nope", "control"),
                exposure("r2", "u", "t", "zzz"),
                old,
                future,
                conversion("r5", "u", "t", "revenue", Some(-1.0)),
                conversion("r6", "u", "t", "revenue", None),
                conversion("r7", "u", "t", "nope", None),
                {"event_id": "r8", "type": "exposure", "unit_id": "u", "test": "t"},
                exposure("r9", "u", "draft", "control"),
                exposure("", "u", "t", "control"),
            ]),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(r["accepted"], 1, "{r}");
    let got: Vec<(u64, &str)> = r["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["index"].as_u64().unwrap(), x["field"].as_str().unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            (1, "test"),
            (2, "variant"),
            (3, "ts"),
            (4, "ts"),
            (5, "value"),
            (6, "value"),
            (7, "metric"),
            (8, "variant"),
            (9, "test"),
            (10, "event_id")
        ]
    );
    let many: Vec<Value> = (0..1001)
        .map(|i| exposure(&format!("m{i}"), "u", "t", "b"))
        .collect();
    let (s, _) = app.ingest(&key, json!(many)).await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "more than 1,000 events"
    );
    assert_eq!(app.post_oversized(&key, 2 * 1024 * 1024).await, 413);
    let (s, _) = app
        .call(
            reqwest::Method::POST,
            "/v1/events",
            Some(&key),
            Some(&json!("garbage")),
        )
        .await;
    assert!(s.is_client_error());
    app.shutdown().await;
}

both!(unit_deletion, unit_deletion);
async fn unit_deletion(app: TestApp) {
    app.running_test("t").await;
    app.running_test("t2").await;
    let key = app.ingest_key().await;
    app.ingest(
        &key,
        json!([
            exposure("a1", "alice", "t", "control"),
            exposure("a2", "alice", "t2", "b"),
            conversion("a3", "alice", "t", "buy", None),
            conversion("a4", "alice", "t", "revenue", Some(7.0)),
            conversion("a5", "alice", "t2", "revenue", Some(1.5)),
            exposure("b1", "bob", "t", "control"),
            conversion("b2", "bob", "t", "revenue", Some(2.0)),
        ]),
    )
    .await;
    let (s, d) = app
        .call(
            reqwest::Method::DELETE,
            "/api/v1/units/alice",
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{d}");
    assert_eq!(
        (d["events"].as_u64(), d["exposures"].as_u64()),
        (Some(5), Some(2)),
        "{d}"
    );
    let agg = aggregates(&app, "t").await;
    assert_eq!(total(&agg, "exposures", "units", |_| true), 1.0, "{agg}");
    assert_eq!(
        total(&agg, "metrics", "units", |r| r["metric"] == "buy"),
        0.0
    );
    let rev = cell(&agg, "metrics", "control", Some("revenue"));
    assert_eq!(
        (
            rev[0]["units"].as_i64(),
            rev[0]["sum"].as_f64(),
            rev[0]["sum_sq"].as_f64()
        ),
        (Some(1), Some(2.0), Some(4.0))
    );
    let agg2 = aggregates(&app, "t2").await;
    assert_eq!(total(&agg2, "exposures", "units", |_| true), 0.0);
    assert_eq!(total(&agg2, "metrics", "sum", |_| true), 0.0);
    // Audited, without the unit id in the clear.
    let (_, log) = app.get("/api/v1/audit").await;
    let last = log["entries"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["action"], "unit.delete");
    assert!(!last.to_string().contains("alice"), "{last}");
    // Deleting again removes nothing more.
    let (_, d) = app
        .call(
            reqwest::Method::DELETE,
            "/api/v1/units/alice",
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(d["events"], 0);
    assert_eq!(aggregates(&app, "t").await, agg);
    app.shutdown().await;
}
