//! Publishing to edge workers: a tiny local receiver plays the edge's
//! `PUT /v1/admin/snapshot`, failing at first, so retries and the publish state are visible.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::put;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::common::{Backend, TestApp};

#[derive(Debug, Default)]
struct Edge {
    /// Versions received with the right secret, in order.
    received: Vec<u64>,
    /// Requests to fail with 500 before accepting.
    fail_first: usize,
    bad_auth: usize,
}

async fn receive(
    State(edge): State<Arc<Mutex<Edge>>>,
    headers: HeaderMap,
    Json(snap): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let mut e = edge.lock().unwrap();
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer edge-secret") {
        e.bad_auth += 1;
        return (StatusCode::UNAUTHORIZED, Json(json!({})));
    }
    if e.fail_first > 0 {
        e.fail_first -= 1;
        return (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({})));
    }
    let v = snap["snapshot_version"].as_u64().unwrap();
    let have = e.received.last().copied().unwrap_or(0);
    if v <= have {
        return (
            StatusCode::CONFLICT,
            Json(json!({"snapshot_version": have})),
        );
    }
    e.received.push(v);
    (StatusCode::OK, Json(json!({"snapshot_version": v})))
}

async fn edge(fail_first: usize, has: Option<u64>) -> (String, Arc<Mutex<Edge>>) {
    let state = Arc::new(Mutex::new(Edge {
        fail_first,
        received: has.into_iter().collect(),
        ..Edge::default()
    }));
    let router = Router::new()
        .route("/v1/admin/snapshot", put(receive))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (format!("http://{addr}"), state)
}

/// Polls the publish state until `done` holds (the publisher works in the background).
async fn wait_for(app: &TestApp, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..600 {
        let (_, s) = app.get("/api/v1/publish").await;
        if done(&s) {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "publish state never settled: {}",
        app.get("/api/v1/publish").await.1
    );
}

async fn publishing(backend: Backend) {
    let (healthy, healthy_state) = edge(0, None).await;
    let (flaky, flaky_state) = edge(2, None).await;
    // An edge that already has a newer version answers 409: that counts as published.
    let (ahead, ahead_state) = edge(0, Some(100)).await;
    let Some(app) = TestApp::spawn_with(backend, |c| {
        c.edge_urls = vec![healthy.clone(), format!("{flaky}/"), ahead.clone()];
        c.edge_secret = edgewise_control::config::Secret::new("edge-secret");
    })
    .await
    else {
        return;
    };
    app.running_test("t").await;
    let published = |v: i64| {
        move |s: &Value| {
            s["targets"].as_array().is_some_and(|ts| {
                ts.len() == 3
                    && ts
                        .iter()
                        .all(|t| t["state"] == "published" && t["version"] == v)
            })
        }
    };
    let s = wait_for(&app, published(1)).await;
    let flaky_row = s["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["target"].as_str().unwrap().starts_with(&flaky))
        .unwrap()
        .clone();
    assert_eq!(flaky_row["attempts"], 3, "two failures, then success: {s}");
    app.post("/api/v1/tests/t/pause", json!(null)).await;
    wait_for(&app, published(2)).await;
    assert_eq!(healthy_state.lock().unwrap().received, [1, 2]);
    assert_eq!(flaky_state.lock().unwrap().received, [1, 2]);
    assert_eq!(healthy_state.lock().unwrap().bad_auth, 0);
    assert_eq!(
        ahead_state.lock().unwrap().received,
        [100],
        "409: nothing replaced"
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_sqlite() {
    publishing(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_postgres() {
    publishing(Backend::Postgres).await;
}

/// An edge that keeps refusing: after five failed tries of one version, one alert (kind
/// `publish`) says so, and pushing goes on.
async fn a_failing_edge_raises_one_alert(backend: Backend) {
    let (failing, failing_state) = edge(1000, None).await;
    let Some(app) = TestApp::spawn_with(backend, |c| {
        c.edge_urls = vec![failing.clone()];
        c.edge_secret = edgewise_control::config::Secret::new("edge-secret");
    })
    .await
    else {
        return;
    };
    app.running_test("t").await;
    let s = wait_for(&app, |s| {
        s["targets"]
            .as_array()
            .is_some_and(|ts| ts.iter().any(|t| t["attempts"].as_i64() >= Some(6)))
    })
    .await;
    assert_eq!(s["targets"][0]["state"], "retrying", "{s}");
    let (_, alerts) = app.get("/api/v1/alerts").await;
    let publish: Vec<&Value> = alerts["alerts"]
        .as_array()
        .or_else(|| alerts.as_array())
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "publish")
        .collect();
    assert_eq!(publish.len(), 1, "{alerts}");
    assert!(
        publish[0]["message"]
            .as_str()
            .unwrap()
            .contains("version 1"),
        "{alerts}"
    );
    assert!(failing_state.lock().unwrap().received.is_empty());
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_edge_raises_one_alert_sqlite() {
    a_failing_edge_raises_one_alert(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_edge_raises_one_alert_postgres() {
    a_failing_edge_raises_one_alert(Backend::Postgres).await;
}

/// A CA and a certificate it signed for `localhost` and 127.0.0.1, made with openssl: the
/// CA's PEM, the edge's certificate chain and its key.
fn certificates(dir: &std::path::Path) -> [std::path::PathBuf; 3] {
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl (scripts/test installs it)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    run(&[
        &["req", "-x509"][..],
        &ec,
        &[
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=edgewise test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    ]
    .concat());
    run(&[
        &["req"][..],
        &ec,
        &[
            "-keyout",
            "edge.key",
            "-out",
            "edge.csr",
            "-subj",
            "/CN=localhost",
        ],
    ]
    .concat());
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "edge.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "edge.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    ["ca.pem", "edge.pem", "edge.key"].map(|f| dir.join(f))
}

/// TLS over a TCP listener, for `axum::serve`: a failed handshake is dropped, not fatal.
struct Tls {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for Tls {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// Publishing to an `https` edge: with the edge's CA given (`--edge-ca-file`) the snapshot
/// arrives; without it the certificate is refused and the target keeps retrying.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_over_https() {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let dir = tempfile::tempdir().unwrap();
    let [ca, cert, key] = certificates(dir.path());
    let chain = CertificateDer::pem_file_iter(&cert)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, PrivateKeyDer::from_pem_file(&key).unwrap())
    .unwrap();
    let state = Arc::new(Mutex::new(Edge::default()));
    let router = Router::new()
        .route("/v1/admin/snapshot", put(receive))
        .with_state(state.clone());
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = tcp.local_addr().unwrap().port();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    tokio::spawn(async move { axum::serve(Tls { tcp, acceptor }, router).await.unwrap() });
    let url = format!("https://localhost:{port}");

    let trusting = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.edge_urls = vec![url.clone()];
        c.edge_secret = edgewise_control::config::Secret::new("edge-secret");
        c.edge_ca_file = Some(ca.clone());
    })
    .await
    .unwrap();
    trusting.running_test("t").await;
    let s = wait_for(&trusting, |s| s["targets"][0]["state"] == "published").await;
    assert_eq!(s["targets"][0]["version"], 1, "{s}");
    assert_eq!(state.lock().unwrap().received, [1]);
    trusting.shutdown().await;

    // Without the CA: the certificate is unknown, nothing arrives, the target retries.
    let wary = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.edge_urls = vec![url.clone()];
        c.edge_secret = edgewise_control::config::Secret::new("edge-secret");
    })
    .await
    .unwrap();
    wary.running_test("t").await;
    let s = wait_for(&wary, |s| s["targets"][0]["attempts"].as_i64() >= Some(2)).await;
    assert_eq!(s["targets"][0]["state"], "retrying", "{s}");
    assert!(
        s["targets"][0]["last_error"]
            .as_str()
            .unwrap_or("")
            .contains("request failed"),
        "{s}"
    );
    assert_eq!(state.lock().unwrap().received, [1], "nothing new arrived");
    wary.shutdown().await;

    // A CA file that holds no certificate stops the control plane at start.
    std::fs::write(dir.path().join("empty.pem"), "not a certificate\n").unwrap();
    let mut args = edgewise_control::config::ServeArgs::for_database(&format!(
        "sqlite://{}/x.db",
        dir.path().display()
    ));
    args.edge_ca_file = Some(dir.path().join("empty.pem"));
    let err = edgewise_control::app::App::build(&args).await.unwrap_err();
    assert!(err.to_string().contains("--edge-ca-file"), "{err}");
}
