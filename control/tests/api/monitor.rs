//! The monitor on a real database: history written from the aggregates once per bucket, the
//! recommendation and its automatic stop, SRM within one segment pausing a test while the
//! overall split looks fine (and a human's resume not overruled), alerts, and webhooks signed,
//! retried and delivered once across a restart to a real HTTP receiver.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use edgewise_control::jobs::webhooks::signature;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{exposure, test_spec, TestApp};

/// Ticks only when asked (`POST /api/v1/monitor/run`); one-second history buckets.
fn manual(c: &mut edgewise_control::config::ServeArgs) {
    c.monitor_interval_secs = 86_400;
    c.history_bucket_secs = 1;
}

crate::both_with!(history_is_written_once_per_bucket, history, manual);
async fn history(app: TestApp) {
    app.running_test("h").await;
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
async fn seed(app: &TestApp, test: &str, rows: &[(&str, &str, &str, i64, i64)]) {
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
        (
            "mob",
            vec![
                ("control", "mobile", "", 100_000, 0),
                ("b", "mobile", "", 98_000, 0),
                ("control", "desktop", "", 150_000, 0),
                ("b", "desktop", "", 150_000, 0),
            ],
        ),
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

/// A request a receiver got: its headers (names in lower case) and body.
type Request = (Vec<(String, String)>, String);

/// A real HTTP receiver on loopback: answers `status` to every POST (0: closes the connection
/// without answering, as a receiver that is down) and keeps what it got.
#[derive(Clone)]
struct Receiver {
    url: String,
    status: Arc<Mutex<u16>>,
    got: Arc<Mutex<Vec<Request>>>,
}

async fn receiver(status: u16) -> Receiver {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let r = Receiver {
        url,
        status: Arc::new(Mutex::new(status)),
        got: Arc::default(),
    };
    let (status, got) = (r.status.clone(), r.got.clone());
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let (status, got) = (status.clone(), got.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let (head, body) = loop {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let len: usize = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if body.len() >= len {
                            break (head.to_owned(), body[..len].to_owned());
                        }
                    }
                };
                let headers = head
                    .lines()
                    .skip(1)
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                    .collect();
                let code = *status.lock().unwrap();
                if code == 0 {
                    // Down: the connection closes with no answer at all.
                    return;
                }
                if code < 300 {
                    got.lock().unwrap().push((headers, body));
                }
                let reply =
                    format!("HTTP/1.1 {code} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                let _ = sock.write_all(reply.as_bytes()).await;
            });
        }
    });
    r
}

async fn create_webhook(app: &TestApp, url: &str) -> String {
    let (s, w) = app
        .post(
            "/api/v1/webhooks",
            json!({"url": url, "secret": "s3cret", "events": ["srm"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{w}");
    assert!(w.get("secret").is_none());
    w["id"].as_str().unwrap().to_owned()
}

async fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..300 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

crate::both_with!(
    webhooks_are_signed_and_survive_a_dead_receiver_and_a_restart,
    webhooks,
    manual
);
async fn webhooks(app: TestApp) {
    let rx = receiver(0).await;
    let id = create_webhook(&app, &rx.url).await;
    app.running_test("s").await;
    seed(
        &app,
        "s",
        &[
            ("control", "mobile", "", 50_000, 0),
            ("b", "mobile", "", 45_000, 0),
        ],
    )
    .await;
    let (_, r) = app.post("/api/v1/monitor/run", json!(null)).await;
    // One mobile, persona-less segment: overall, device:mobile and persona:none all see it.
    assert_eq!(r["alerts"], 3, "{r}");
    // The receiver is down: the attempts fail and are logged.
    let log = || async {
        let (_, d) = app.get(&format!("/api/v1/webhooks/{id}/deliveries")).await;
        d["deliveries"].as_array().unwrap().clone()
    };
    for _ in 0..100 {
        if !log().await.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let failed = log().await;
    assert_eq!(
        (failed[0]["status"].as_i64(), failed[0]["state"].as_str()),
        (None, Some("pending")),
        "{failed:?}"
    );
    assert!(failed[0]["error"].is_string());

    // The control plane restarts; the receiver comes back; the alert arrives, once.
    let app = app.restart().await;
    *rx.status.lock().unwrap() = 200;
    let got = rx.got.clone();
    wait_for("the deliveries", || got.lock().unwrap().len() >= 3).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let got = rx.got.lock().unwrap().clone();
    assert_eq!(got.len(), 3, "each alert delivered once");
    let mut ids = std::collections::BTreeSet::new();
    let mut paused_by = Vec::new();
    for (headers, body) in &got {
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        let ts: i64 = header("edgewise-timestamp").parse().unwrap();
        assert_eq!(
            header("edgewise-signature"),
            format!("v1={}", signature("s3cret", ts, body))
        );
        assert!(
            ids.insert(header("edgewise-delivery")),
            "a delivery came twice"
        );
        let payload: Value = serde_json::from_str(body).unwrap();
        assert_eq!(payload["kind"], "srm");
        assert!(
            payload["text"]
                .as_str()
                .unwrap()
                .starts_with("Edgewise: test `s`"),
            "{payload}"
        );
        if payload["action"] == "pause" {
            paused_by.push(payload["finding"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(paused_by, ["srm:overall"]);
    let log: Vec<Value> = {
        let (_, d) = app.get(&format!("/api/v1/webhooks/{id}/deliveries")).await;
        d["deliveries"].as_array().unwrap().clone()
    };
    let ok: Vec<&Value> = log.iter().filter(|d| d["status"] == 200).collect();
    assert_eq!(ok.len(), 3);
    assert!(ok.iter().all(|d| d["state"] == "delivered"));
    // A filter leaves other kinds out; deleting stops deliveries.
    let (s, _) = app
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/webhooks/{id}"),
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, list) = app.get("/api/v1/webhooks").await;
    assert_eq!(list["webhooks"], json!([]));
    let (s, e) = app
        .post(
            "/api/v1/webhooks",
            json!({"url": "ftp://x", "secret": "", "events": ["nope"]}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = e["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["url", "secret", "events[0]"]);
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
