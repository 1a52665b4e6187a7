//! PostgreSQL going away and coming back, through a TCP proxy the test cuts: `/readyz` turns
//! 503 while the database cannot be reached and 200 once it can; ingestion answers 503
//! (retryable, `Retry-After`) rather than losing events, and a client that sends the refused
//! batches again ends with every event counted once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::common::{exposure, total, Backend, TestApp};

/// Forwards connections to `target` while up; cutting it closes every open connection and
/// refuses new ones.
struct Proxy {
    addr: String,
    up: Arc<AtomicBool>,
    cut: watch::Sender<u64>,
}

impl Proxy {
    async fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let up = Arc::new(AtomicBool::new(true));
        let (cut, _) = watch::channel(0u64);
        let (up2, cut2) = (up.clone(), cut.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                if !up2.load(Ordering::SeqCst) {
                    continue; // dropped: refused
                }
                let target = target.clone();
                let mut cuts = cut2.subscribe();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cuts.changed() => {}
                    }
                });
            }
        });
        Proxy { addr, up, cut }
    }

    fn down(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cut.send_modify(|n| *n += 1);
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

async fn ready(app: &TestApp) -> (StatusCode, Value) {
    let resp = app
        .client
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap();
    let s = resp.status();
    (s, resp.json().await.unwrap_or(Value::Null))
}

/// Events `from..from + n`, the same each time they are made (a re-send repeats them).
fn batch(from: usize, n: usize) -> Value {
    static T0: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    let t0 = *T0.get_or_init(edgewise_control::db::now_ms);
    json!((from..from + n)
        .map(|i| {
            let variant = if i % 2 == 0 { "control" } else { "b" };
            let mut e = exposure(&format!("x{i}"), &format!("u{i}"), "t", variant);
            e["ts"] = json!(t0 + i as i64);
            e
        })
        .collect::<Vec<_>>())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_and_back_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let Some(url) = crate::common::fresh_database(Backend::Postgres, dir.path()).await else {
        return;
    };
    let rest = url.split_once("://").unwrap().1;
    let (userhost, db) = rest.split_once('/').unwrap();
    let (user, host) = userhost.rsplit_once('@').unwrap();
    let proxy = Proxy::start(host.to_owned()).await;
    let via = format!("postgres://{user}@{}/{db}", proxy.addr);
    let app = TestApp::spawn_on(via).await;
    app.running_test("t").await;
    let key = app.ingest_key().await;
    let (s, r) = app.ingest(&key, batch(0, 100)).await;
    assert_eq!(
        (s, r["accepted"].as_u64()),
        (StatusCode::OK, Some(100)),
        "{r}"
    );
    assert_eq!(ready(&app).await.0, StatusCode::OK);

    proxy.down();
    let (s, body) = ready(&app).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["ready"], false, "{body}");
    // Batches sent meanwhile are refused as retryable; the client keeps them to send again.
    let mut refused = Vec::new();
    for b in 1..3 {
        let resp = app
            .client
            .post(format!("{}/v1/events", app.base))
            .bearer_auth(&key)
            .json(&batch(b * 100, 100))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            resp.headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
            Some("1")
        );
        refused.push(b);
    }

    proxy.restore();
    let back = Instant::now();
    loop {
        if ready(&app).await.0 == StatusCode::OK {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(30),
            "not ready again after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for b in refused {
        let (s, r) = app.ingest(&key, batch(b * 100, 100)).await;
        assert_eq!(
            (s, r["accepted"].as_u64()),
            (StatusCode::OK, Some(100)),
            "{r}"
        );
    }
    // And the first batch again: all duplicates.
    let (_, r) = app.ingest(&key, batch(0, 100)).await;
    assert_eq!(r["duplicates"].as_u64(), Some(100), "{r}");
    let (_, agg) = app.get("/api/v1/tests/t/aggregates").await;
    assert_eq!(total(&agg, "exposures", "units", |_| true), 300.0, "{agg}");
    app.shutdown().await;
}
