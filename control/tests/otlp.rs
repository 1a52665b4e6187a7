//! OpenTelemetry export (a build with the `otlp` feature): the real `edgewise serve` with
//! `--otlp-endpoint` pointed at a local collector receives its request spans over OTLP/HTTP,
//! each carrying the request id, continuing the caller's W3C trace; a malformed endpoint
//! stops the process with a message naming the setting.
//!
//! Run: `cargo test -p edgewise-control --features otlp --test otlp`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::routing::post;
use axum::Router;
use reqwest::StatusCode;
use tokio::io::{AsyncBufReadExt, BufReader};

/// `traceparent` of a caller's trace: version, trace id, parent span id, sampled.
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";

/// A collector that keeps every OTLP/HTTP traces request body it is sent.
async fn collector() -> (String, Arc<Mutex<Vec<Bytes>>>) {
    let got: Arc<Mutex<Vec<Bytes>>> = Arc::default();
    let keep = got.clone();
    let app = Router::new().route(
        "/v1/traces",
        post(move |body: Bytes| {
            let keep = keep.clone();
            async move {
                keep.lock().unwrap().push(body);
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), got)
}

fn serve(db: &str, endpoint: &str) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_edgewise"));
    c.args(["serve", "--database-url", db, "--listen", "127.0.0.1:0"])
        .args(["--otlp-endpoint", endpoint])
        // Export every 100 ms rather than every 5 s.
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    c
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_spans_reach_the_collector() {
    let (endpoint, got) = collector().await;
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/o.db", dir.path().display());
    let mut child = serve(&db, &endpoint).spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = out.next_line().await.unwrap().unwrap();
    let addr = first.strip_prefix("listening on ").unwrap().to_owned();

    let resp = reqwest::Client::new()
        .get(format!("http://{addr}/api/v1/tests"))
        .header("x-request-id", "otlp-me-7")
        .header("traceparent", format!("00-{TRACE_ID}-{PARENT_ID}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    // OTLP/HTTP bodies are protobuf: strings and ids travel as raw bytes.
    let trace_id = hex::decode(TRACE_ID).unwrap();
    let parent_id = hex::decode(PARENT_ID).unwrap();
    let span = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let found = got
                .lock()
                .unwrap()
                .iter()
                .find(|b| contains(b, b"otlp-me-7"))
                .cloned();
            if let Some(body) = found {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the request's span exported within 20 s");
    for (what, needle) in [
        ("span name", b"request".as_slice()),
        ("route", b"/api/v1/tests"),
        ("service name", b"edgewise-control"),
        ("caller's trace id", &trace_id),
        ("caller's span as parent", &parent_id),
    ] {
        assert!(contains(&span, needle), "{what} missing from the export");
    }
    child.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_endpoint_stops_the_process() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/o.db", dir.path().display());
    let out = serve(&db, "collector:4318").output().await.unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--otlp-endpoint collector:4318"),
        "stderr: {err}"
    );
}
