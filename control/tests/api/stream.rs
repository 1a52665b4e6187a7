//! The live stream (`GET /api/v1/stream`) read with a real HTTP client: ingestion shows as a
//! `results` event naming the test within 2 s, a pause as `status`, the monitor's alert and
//! its acknowledgement as `alert`; 401 without a token; and on PostgreSQL, a change made
//! through one replica reaches a stream opened on another.

use std::time::{Duration, Instant};

use edgewise_control::db::tokens::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::{exposure, fresh_database, Backend, TestApp};

/// One server-sent event.
#[derive(Debug, Clone)]
pub struct Sse {
    pub event: String,
    pub id: String,
    pub data: Value,
}

/// An open stream, read a chunk at a time.
pub struct Stream {
    resp: reqwest::Response,
    buf: String,
    /// Keep-alive comments seen.
    pub comments: usize,
}

impl Stream {
    /// Opens the stream with `token` and reads up to its `ready` event.
    pub async fn open(app: &TestApp, token: &str) -> Stream {
        let resp = app
            .client
            .get(format!("{}/api/v1/stream", app.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(
            resp.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        let mut s = Stream {
            resp,
            buf: String::new(),
            comments: 0,
        };
        let ready = s
            .next(Duration::from_secs(10))
            .await
            .expect("a ready event");
        assert_eq!(ready.event, "ready", "{ready:?}");
        s
    }

    /// The next event, or `None` once `within` has passed.
    pub async fn next(&mut self, within: Duration) -> Option<Sse> {
        let deadline = Instant::now() + within;
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut e = Sse {
                    event: "message".into(),
                    id: String::new(),
                    data: Value::Null,
                };
                let mut data = String::new();
                for line in block.lines() {
                    if line.starts_with(':') {
                        self.comments += 1;
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        e.event = v.into();
                    } else if let Some(v) = line.strip_prefix("id: ") {
                        e.id = v.into();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data.push_str(v);
                    }
                }
                if !data.is_empty() {
                    e.data = serde_json::from_str(&data).expect("JSON data");
                    return Some(e);
                }
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            match tokio::time::timeout(left, self.resp.chunk()).await {
                Ok(Ok(Some(bytes))) => self.buf.push_str(&String::from_utf8_lossy(&bytes)),
                Ok(Ok(None)) | Ok(Err(_)) | Err(_) => return None,
            }
        }
    }

    /// The first event matching `pred` within `within` (others are passed over).
    pub async fn until(&mut self, within: Duration, pred: impl Fn(&Sse) -> bool) -> Option<Sse> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let e = self.next(left).await?;
            if pred(&e) {
                return Some(e);
            }
        }
    }
}

fn names(e: &Sse, test: &str) -> bool {
    e.event == "results"
        && e.data["tests"]
            .as_array()
            .is_some_and(|t| t.iter().any(|k| k == test))
}

async fn ingest_some(app: &TestApp, test: &str, from: usize, n: usize) {
    let key = app.ingest_key().await;
    let events: Vec<Value> = (from..from + n)
        .map(|i| {
            let v = if i % 2 == 0 { "control" } else { "b" };
            exposure(&format!("{test}-e{i}"), &format!("u{i}"), test, v)
        })
        .collect();
    let (s, b) = app.ingest(&key, json!(events)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
}

crate::both!(the_stream_needs_a_token, needs_token);
async fn needs_token(app: TestApp) {
    for token in [None, Some("ew_not_a_token")] {
        let (s, e) = app.call(Method::GET, "/api/v1/stream", token, None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{e}");
    }
    app.shutdown().await;
}

crate::both_with!(
    the_stream_tells_results_status_and_alerts,
    results_status_alerts,
    manual_monitor
);
fn manual_monitor(c: &mut edgewise_control::config::ServeArgs) {
    crate::monitor::manual(c);
}
async fn results_status_alerts(app: TestApp) {
    app.running_test("live").await;
    let viewer = app.token(Role::Viewer).await;
    let mut s = Stream::open(&app, &viewer).await;

    // Ingestion: a `results` event naming the test within 2 s of the batch's answer.
    ingest_some(&app, "live", 0, 10).await;
    let sent = Instant::now();
    let e = s
        .until(Duration::from_secs(2), |e| names(e, "live"))
        .await
        .expect("a results event naming the test within 2 s");
    assert!(sent.elapsed() < Duration::from_secs(2));
    assert!(e.id.parse::<u64>().is_ok(), "{e:?}");

    // A pause.
    let (st, b) = app.post("/api/v1/tests/live/pause", json!(null)).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let e = s
        .until(Duration::from_secs(5), |e| e.event == "status")
        .await
        .expect("a status event");
    assert_eq!(
        (&e.data["test"], &e.data["action"], &e.data["status"]),
        (&json!("live"), &json!("pause"), &json!("paused")),
        "{e:?}"
    );

    // An alert: a test whose mobile split lost 2% of one arm; the monitor pauses it.
    app.running_test("srm").await;
    crate::monitor::seed(&app, "srm", crate::monitor::MOBILE_SRM).await;
    let (st, r) = app.post("/api/v1/monitor/run", json!(null)).await;
    assert_eq!(st, StatusCode::OK, "{r}");
    let e = s
        .until(Duration::from_secs(5), |e| e.event == "alert")
        .await
        .expect("an alert event");
    assert_eq!(e.data["change"], "new", "{e:?}");
    assert_eq!(e.data["alert"]["test"], "srm", "{e:?}");
    assert_eq!(e.data["alert"]["finding"], "srm:device:mobile", "{e:?}");
    let id = e.data["alert"]["id"].as_i64().unwrap();

    // Its acknowledgement.
    let (st, b) = app
        .post(&format!("/api/v1/alerts/{id}/ack"), json!(null))
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let e = s
        .until(Duration::from_secs(5), |e| e.event == "alert")
        .await
        .expect("an acknowledgement");
    assert_eq!(
        (&e.data["change"], &e.data["alert"]["id"]),
        (&json!("acked"), &json!(id)),
        "{e:?}"
    );
    assert!(e.data["alert"]["acked_at"].is_i64(), "{e:?}");
    drop(s);
    app.shutdown().await;
}

/// Two control planes on one PostgreSQL: what happens through one reaches the other's stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_through_one_replica_reaches_the_others_stream() {
    let dir = tempfile::tempdir().unwrap();
    let Some(url) = fresh_database(Backend::Postgres, dir.path()).await else {
        return;
    };
    let a = TestApp::spawn_on(url.clone()).await;
    let b = TestApp::spawn_on(url).await;
    a.running_test("shared").await;
    let viewer = b.token(Role::Viewer).await;
    let mut s = Stream::open(&b, &viewer).await;

    ingest_some(&a, "shared", 0, 6).await;
    let sent = Instant::now();
    s.until(Duration::from_secs(2), |e| names(e, "shared"))
        .await
        .expect("replica B tells the results replica A ingested");
    assert!(sent.elapsed() < Duration::from_secs(2));

    let (st, body) = a.post("/api/v1/tests/shared/pause", json!(null)).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let e = s
        .until(Duration::from_secs(5), |e| e.event == "status")
        .await
        .expect("replica B tells the pause made through replica A");
    assert_eq!(e.data["test"], "shared");
    assert_eq!(e.data["status"], "paused");
    drop(s);
    a.shutdown().await;
    b.shutdown().await;
}

// Shutting down ends the open streams, so the server stops promptly.
crate::both!(shutdown_ends_open_streams, shutdown_ends);
async fn shutdown_ends(app: TestApp) {
    let viewer = app.token(Role::Viewer).await;
    let mut s = Stream::open(&app, &viewer).await;
    let stopping = Instant::now();
    app.shutdown().await;
    assert!(
        stopping.elapsed() < Duration::from_secs(25),
        "the stream held the server"
    );
    assert!(s.next(Duration::from_secs(5)).await.is_none());
}
