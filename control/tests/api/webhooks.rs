//! Webhooks on a real database: alerts signed (HMAC), retried with backoff against a real HTTP
//! receiver on loopback that is down at first, and delivered once across a restart.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use edgewise_control::jobs::webhooks::signature;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::TestApp;
use crate::monitor::{manual, seed};
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
