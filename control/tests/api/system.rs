//! `GET /api/v1/system`: ingestion over the last minute and hour and its lag, publishing,
//! the database's size, the monitor's last tick and webhook delivery failures.

use edgewise_control::db::now_ms;
use edgewise_control::db::tokens::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::{exposure, TestApp};

crate::both_with!(
    the_system_summary_tells_ingestion_and_the_rest,
    system,
    manual_monitor
);
fn manual_monitor(c: &mut edgewise_control::config::ServeArgs) {
    crate::monitor::manual(c);
}
async fn system(app: TestApp) {
    let viewer = app.token(Role::Viewer).await;
    let get = || async {
        app.call(Method::GET, "/api/v1/system", Some(&viewer), None)
            .await
    };
    let (s, before) = get().await;
    assert_eq!(s, StatusCode::OK, "{before}");
    assert_eq!(before["ingestion"]["events_last_hour"], 0);
    assert_eq!(before["ingestion"]["lag_ms"], Value::Null);
    assert_eq!(before["monitor"]["last_tick"], Value::Null);
    assert!(
        before["database"]["bytes"].as_i64().unwrap() > 0,
        "{before}"
    );
    assert_eq!(before["webhooks"]["failed_attempts_last_day"], 0);

    app.running_test("t").await;
    let key = app.ingest_key().await;
    let mut events: Vec<Value> = (0..10)
        .map(|i| exposure(&format!("e{i}"), &format!("u{i}"), "t", "control"))
        .collect();
    // Ten minutes old: in the last hour, not the last minute.
    let mut old = exposure("old", "u-old", "t", "b");
    old["ts"] = json!(now_ms() - 600_000);
    events.push(old);
    let (s, r) = app.ingest(&key, json!(events)).await;
    assert_eq!((s, &r["accepted"]), (StatusCode::OK, &json!(11)), "{r}");
    let (s, r) = app.post("/api/v1/monitor/run", json!(null)).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    // A failed webhook delivery attempt, as the deliverer records one.
    {
        let mut conn = app.db.writer.acquire().await.unwrap();
        sqlx::query(
            "INSERT INTO webhook_deliveries (outbox, webhook, at, attempt, status, error, \
             duration_ms) VALUES (1, 'wh_x', $1, 1, 500, 'server error', 3)",
        )
        .bind(now_ms())
        .execute(&mut *conn)
        .await
        .unwrap();
    }

    let (s, after) = get().await;
    assert_eq!(s, StatusCode::OK, "{after}");
    let ing = &after["ingestion"];
    assert_eq!(ing["events_last_minute"], 10, "{after}");
    assert_eq!(ing["events_last_hour"], 11, "{after}");
    assert_eq!(ing["accepted_by_this_replica"], 11, "{after}");
    let lag = ing["lag_ms"].as_i64().unwrap();
    assert!((0..60_000).contains(&lag), "{after}");
    assert!(after["monitor"]["last_tick"].as_i64().unwrap() >= before["at"].as_i64().unwrap());
    assert_eq!(after["monitor"]["leader"], true);
    assert_eq!(after["publish"]["latest_version"], 1, "{after}");
    assert!(after["publish"]["targets"].is_array());
    assert_eq!(after["webhooks"]["failed_attempts_last_day"], 1, "{after}");
    let engine = after["database"]["engine"].as_str().unwrap();
    if engine == "sqlite" {
        let files = after["database"]["files"].as_array().unwrap();
        assert_eq!(files[0]["file"], "main", "{after}");
        let total: i64 = files.iter().map(|f| f["bytes"].as_i64().unwrap()).sum();
        assert_eq!(after["database"]["bytes"], total);
    } else {
        assert_eq!(engine, "postgres");
    }
    app.shutdown().await;
}
