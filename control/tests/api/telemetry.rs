//! `GET /metrics` on both engines: after a stream with duplicates and bad events, the ingestion
//! counters equal what the responses said and what the database holds; requests are counted
//! by route and status; results, the database and (SQLite) the writer's queue are timed or
//! shown; a token, when configured, closes it.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::{conversion, exposure, total, TestApp};
use crate::{both, both_with};

/// The value of the sample `name` whose labels include every `labels` pair.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (series, value) = l.rsplit_once(' ')?;
        let (n, rest) = series.split_once('{').unwrap_or((series, "}"));
        let ok = n == name
            && labels
                .iter()
                .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
        ok.then(|| value.parse().ok()).flatten()
    })
}

async fn scrape(app: &TestApp, token: Option<&str>) -> (StatusCode, String) {
    let mut req = app.client.get(format!("{}/metrics", app.base));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    (resp.status(), resp.text().await.unwrap())
}

both!(metrics_count_what_the_database_holds, counts);
async fn counts(app: TestApp) {
    app.running_test("t").await;
    let key = app.ingest_key().await;
    let (mut accepted, mut duplicates, mut rejected, mut batches) = (0, 0, 0, 0);
    let mut previous: Vec<Value> = Vec::new();
    for b in 0..6 {
        let mut events: Vec<Value> = Vec::new();
        for i in 0..50 {
            let unit = format!("u{b}-{i}");
            let variant = if i % 2 == 0 { "control" } else { "b" };
            events.push(exposure(&format!("x{b}-{i}"), &unit, "t", variant));
            if i % 5 == 0 {
                events.push(conversion(&format!("c{b}-{i}"), &unit, "t", "buy", None));
            }
        }
        // The previous batch's first ten events again, as they were (duplicates), and three
        // bad events.
        let fresh = events.clone();
        events.extend(previous.iter().take(10).cloned());
        previous = fresh;
        events.push(exposure("bad-1", "u", "no-such-test", "control"));
        events.push(json!({"type": "exposure"}));
        events.push(exposure("bad-3", "u", "t", "no-such-variant"));
        let (s, r) = app.ingest(&key, json!(events)).await;
        assert_eq!(s, StatusCode::OK, "{r}");
        accepted += r["accepted"].as_u64().unwrap();
        duplicates += r["duplicates"].as_u64().unwrap();
        rejected += r["rejected"].as_array().unwrap().len() as u64;
        batches += 1;
    }
    assert_eq!((accepted, duplicates, rejected), (360, 50, 18));
    let (s, _) = app.get("/api/v1/tests/t/results").await;
    assert_eq!(s, StatusCode::OK);

    let (s, m) = scrape(&app, None).await;
    assert_eq!(s, StatusCode::OK, "{m}");
    let events = |o| sample(&m, "edgewise_ingest_events_total", &[("outcome", o)]);
    assert_eq!(events("accepted"), Some(accepted as f64), "{m}");
    assert_eq!(events("duplicate"), Some(duplicates as f64), "{m}");
    assert_eq!(events("rejected"), Some(rejected as f64), "{m}");
    // What the database holds: 300 exposed units and 60 converted ones.
    let (_, agg) = app.get("/api/v1/tests/t/aggregates").await;
    let units = total(&agg, "exposures", "units", |_| true);
    let converted = total(&agg, "metrics", "units", |r| r["metric"] == "buy");
    assert_eq!(units + converted, accepted as f64, "{agg}");
    assert_eq!(
        sample(&m, "edgewise_ingest_batch_seconds_count", &[]),
        Some(batches as f64)
    );
    assert_eq!(
        sample(
            &m,
            "edgewise_http_requests_total",
            &[
                ("route", "/v1/events"),
                ("method", "POST"),
                ("status", "200")
            ]
        ),
        Some(batches as f64),
        "{m}"
    );
    assert_eq!(
        sample(
            &m,
            "edgewise_http_requests_total",
            &[("route", "/api/v1/tests/{key}/results"), ("status", "200")]
        ),
        Some(1.0),
        "{m}"
    );
    assert_eq!(sample(&m, "edgewise_results_seconds_count", &[]), Some(1.0));
    assert_eq!(sample(&m, "edgewise_db_ping_seconds_count", &[]), Some(1.0));
    let queue = sample(&m, "edgewise_writer_queue_depth", &[]);
    assert_eq!(queue, Some(0.0), "idle after the batches: {m}");
    // A tick is timed and stamped.
    let (s, _) = app
        .call(Method::POST, "/api/v1/monitor/run", Some(&app.admin), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, m) = scrape(&app, None).await;
    assert_eq!(
        sample(&m, "edgewise_monitor_tick_seconds_count", &[]),
        Some(1.0)
    );
    let last = sample(&m, "edgewise_monitor_last_tick_timestamp_seconds", &[]).unwrap();
    let now = edgewise_control::db::now_ms() as f64 / 1000.0;
    assert!((now - last).abs() < 60.0, "{last} vs {now}");
    app.shutdown().await;
}

fn with_token(c: &mut edgewise_control::config::ServeArgs) {
    c.metrics_token = edgewise_control::config::Secret::new("scrape-me");
}

both_with!(a_token_closes_metrics, closed, with_token);
async fn closed(app: TestApp) {
    assert_eq!(scrape(&app, None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        scrape(&app, Some("wrong")).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (s, m) = scrape(&app, Some("scrape-me")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(m.contains("edgewise_ingest_events_total"), "{m}");
    app.shutdown().await;
}

both!(every_request_has_an_id, request_ids);
async fn request_ids(app: TestApp) {
    let id = |r: &reqwest::Response| {
        r.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let url = format!("{}/healthz", app.base);
    let a = app.client.get(&url).send().await.unwrap();
    let b = app.client.get(&url).send().await.unwrap();
    let (a, b) = (id(&a).expect("an id"), id(&b).expect("an id"));
    assert_ne!(a, b);
    let given = app
        .client
        .get(&url)
        .header("x-request-id", "from-the-caller")
        .send()
        .await
        .unwrap();
    assert_eq!(id(&given).as_deref(), Some("from-the-caller"));
    app.shutdown().await;
}

/// The real binary with JSON logs: a request's log lines carry its id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_log_lines_carry_the_request_id() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/e.db", dir.path().display());
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_edgewise"))
        .args([
            "serve",
            "--database-url",
            &db,
            "--listen",
            "127.0.0.1:0",
            "--log-json",
        ])
        .env("RUST_LOG", "info,sqlx=warn,tower_http=debug")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = out.next_line().await.unwrap().unwrap();
    let addr = first.strip_prefix("listening on ").unwrap().to_owned();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let resp = reqwest::Client::new()
        .get(format!("http://{addr}/api/v1/tests"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let found = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let Ok(v) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if v["span"]["request_id"] == "trace-me-42" {
                return Some(v);
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
    .expect("a JSON log line of the request");
    assert_eq!(found["span"]["path"], "/api/v1/tests", "{found}");
    child.kill().await.unwrap();
}

/// A build without the `otlp` feature refuses `--otlp-endpoint` at start rather than
/// silently exporting nothing.
#[cfg(not(feature = "otlp"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_endpoint_needs_the_feature() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/e.db", dir.path().display());
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_edgewise"))
        .args(["serve", "--database-url", &db, "--listen", "127.0.0.1:0"])
        .args(["--otlp-endpoint", "http://127.0.0.1:4318"])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--otlp-endpoint http://127.0.0.1:4318") && err.contains("--features otlp"),
        "stderr: {err}"
    );
}
