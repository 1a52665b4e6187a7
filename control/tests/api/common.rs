//! The harness: a fresh database and an in-process control plane per test, on SQLite (a temp
//! file) or PostgreSQL (a new database in `EDGEWISE_TEST_PG_URL`'s server).

use std::time::Duration;

use edgewise_control::app::App;
use edgewise_control::config::ServeArgs;
use edgewise_control::db::tokens::{create_ingest_key, create_token, Role};
use edgewise_control::db::{now_ms, Db};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::Connection;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each named test body on both backends: `both!(module_name, async_fn);`.
#[macro_export]
macro_rules! both {
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                if let Some(app) =
                    $crate::common::TestApp::spawn($crate::common::Backend::Sqlite).await
                {
                    super::$body(app).await;
                }
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(app) =
                    $crate::common::TestApp::spawn($crate::common::Backend::Postgres).await
                {
                    super::$body(app).await;
                }
            }
        }
    };
}

/// Like [`both!`], with `tweak` applied to the server's configuration:
/// `both_with!(module_name, async_fn, tweak_fn);`.
#[macro_export]
macro_rules! both_with {
    ($name:ident, $body:ident, $tweak:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                if let Some(app) = $crate::common::TestApp::spawn_with(
                    $crate::common::Backend::Sqlite,
                    super::$tweak,
                )
                .await
                {
                    super::$body(app).await;
                }
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(app) = $crate::common::TestApp::spawn_with(
                    $crate::common::Backend::Postgres,
                    super::$tweak,
                )
                .await
                {
                    super::$body(app).await;
                }
            }
        }
    };
}

/// A fresh database URL, or `None` when PostgreSQL tests are explicitly skipped.
pub async fn fresh_database(backend: Backend, dir: &std::path::Path) -> Option<String> {
    match backend {
        Backend::Sqlite => Some(format!("sqlite://{}/edgewise.db", dir.display())),
        Backend::Postgres => {
            let Ok(base) = std::env::var("EDGEWISE_TEST_PG_URL") else {
                if std::env::var("EDGEWISE_SKIP_PG").as_deref() == Ok("1") {
                    eprintln!("EDGEWISE_SKIP_PG=1: skipping the PostgreSQL variant");
                    return None;
                }
                panic!(
                    "EDGEWISE_TEST_PG_URL is not set: point it at a PostgreSQL server \
                     (e.g. postgres://postgres@127.0.0.1:55433/postgres) or set EDGEWISE_SKIP_PG=1"
                );
            };
            sqlx::any::install_default_drivers();
            let mut conn = sqlx::AnyConnection::connect(&base)
                .await
                .expect("connect to EDGEWISE_TEST_PG_URL");
            let mut buf = [0u8; 8];
            getrandom::fill(&mut buf).unwrap();
            let name = format!("ew_test_{}", hex::encode(buf));
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await
                .expect("create test database");
            conn.close().await.ok();
            let (server, _) = base.rsplit_once('/').expect("URL with a database name");
            Some(format!("{server}/{name}"))
        }
    }
}

#[derive(Debug)]
pub struct TestApp {
    pub base: String,
    pub database_url: String,
    pub db: Db,
    pub client: reqwest::Client,
    pub admin: String,
    pub _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(
        backend: Backend,
        tweak: impl FnOnce(&mut ServeArgs),
    ) -> Option<TestApp> {
        let dir = tempfile::tempdir().unwrap();
        let url = fresh_database(backend, dir.path()).await?;
        Some(Self::serve(url, dir, tweak).await)
    }

    /// A control plane on the database at `url` (already created), with the default settings.
    pub async fn spawn_on(url: String) -> TestApp {
        Self::serve(url, tempfile::tempdir().unwrap(), |_| {}).await
    }

    /// Stops the server and starts a new one on the same database, as a restart does.
    pub async fn restart(mut self) -> TestApp {
        let (url, dir) = (
            self.database_url.clone(),
            std::mem::replace(&mut self._dir, tempfile::tempdir().unwrap()),
        );
        self.db.close().await;
        self.shutdown().await;
        Self::serve(url, dir, |_| {}).await
    }

    async fn serve(
        url: String,
        dir: tempfile::TempDir,
        tweak: impl FnOnce(&mut ServeArgs),
    ) -> TestApp {
        let mut config = ServeArgs::for_database(&url);
        tweak(&mut config);
        let app = App::build(&config).await.expect("build app");
        let base = format!("http://{}", app.addr);
        let db = app.state.db.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            app.run(async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        let mut t = TestApp {
            base,
            database_url: url,
            db,
            client: reqwest::Client::new(),
            admin: String::new(),
            _dir: dir,
            stop: Some(stop),
            server: Some(server),
        };
        t.admin = t.token(Role::Admin).await;
        t
    }

    pub async fn token(&self, role: Role) -> String {
        let mut conn = self.db.writer.acquire().await.unwrap();
        create_token(&mut conn, role, "test", now_ms())
            .await
            .unwrap()
            .secret
    }

    pub async fn ingest_key(&self) -> String {
        let mut conn = self.db.writer.acquire().await.unwrap();
        create_ingest_key(&mut conn, "test-site", now_ms())
            .await
            .unwrap()
            .secret
    }

    /// Erases a unit (`DELETE /api/v1/units/{id}`, as the admin); it must succeed.
    pub async fn erase(&self, id: &str) {
        let path = format!("/api/v1/units/{id}");
        let (s, b) = self
            .call(Method::DELETE, &path, Some(&self.admin), None)
            .await;
        assert_eq!(s, StatusCode::OK, "erasing {id}: {b}");
    }

    /// Sends a request; returns the status and the JSON body (`Null` if none).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// POSTs a `/v1/events` body of `size` bytes over a raw connection, a chunk at a time,
    /// and returns the status the server answers with. A plain client can lose that answer:
    /// the server replies 413 before reading the body and closes, and the peer's reset may
    /// discard the reply unread. Reading between chunks sees it as soon as it is sent.
    pub async fn post_oversized(&self, key: &str, size: usize) -> u16 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = self.base.trim_start_matches("http://");
        let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "POST /v1/events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\n\
             Content-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
        );
        conn.write_all(head.as_bytes()).await.unwrap();
        let chunk = vec![b' '; 16 * 1024];
        let mut reply = Vec::new();
        let mut sent = 0;
        loop {
            let mut buf = [0u8; 1024];
            match conn.try_read(&mut buf) {
                Ok(n) if n > 0 => reply.extend_from_slice(&buf[..n]),
                _ => {}
            }
            if reply.len() >= 12 {
                break;
            }
            if sent < size {
                let n = chunk.len().min(size - sent);
                if conn.write_all(&chunk[..n]).await.is_err() {
                    // The server stopped reading; its answer is already on the way.
                    sent = size;
                } else {
                    sent += n;
                }
            } else {
                let mut buf = [0u8; 1024];
                let n = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut buf))
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .filter(|n| *n > 0)
                    .expect("no answer to an oversized body");
                reply.extend_from_slice(&buf[..n]);
            }
        }
        let status = String::from_utf8_lossy(&reply[9..12]).to_string();
        status
            .parse()
            .unwrap_or_else(|_| panic!("bad status line: {:?}", String::from_utf8_lossy(&reply)))
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(&self.admin), None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(&self.admin), Some(&body))
            .await
    }
    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(&self.admin), Some(&body))
            .await
    }

    /// Creates and starts a two-variant test with a binomial and a value metric.
    pub async fn running_test(&self, key: &str) {
        let (s, b) = self.post("/api/v1/tests", test_spec(key)).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        let (s, b) = self
            .post(&format!("/api/v1/tests/{key}/start"), json!(null))
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }

    pub async fn ingest(&self, key: &str, events: Value) -> (StatusCode, Value) {
        self.call(
            Method::POST,
            "/v1/events",
            Some(key),
            Some(&json!({ "events": events })),
        )
        .await
    }

    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(30), server).await;
        }
    }
}

pub fn test_spec(key: &str) -> Value {
    json!({
        "key": key,
        "variants": [
            {"key": "control", "weight": 1, "content": {"color": "blue"}},
            {"key": "b", "weight": 1, "content": {"color": "green"}}
        ],
        "metrics": [
            {"key": "buy", "kind": "binomial", "role": "primary"},
            {"key": "revenue", "kind": "value", "role": "secondary"}
        ]
    })
}

pub fn exposure(id: &str, unit: &str, test: &str, variant: &str) -> Value {
    json!({"event_id": id, "type": "exposure", "unit_id": unit, "test": test,
           "variant": variant, "device": "mobile", "ts": now_ms()})
}

pub fn conversion(id: &str, unit: &str, test: &str, metric: &str, value: Option<f64>) -> Value {
    let mut e = json!({"event_id": id, "type": "conversion", "unit_id": unit, "test": test,
           "variant": "control", "metric": metric, "device": "desktop", "ts": now_ms()});
    if let Some(v) = value {
        e["value"] = json!(v);
    }
    e
}

/// Sum of a field over the aggregate rows matching `pred`.
pub fn total(agg: &Value, kind: &str, field: &str, pred: impl Fn(&Value) -> bool) -> f64 {
    agg["aggregates"][kind]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| pred(r))
        .map(|r| r[field].as_f64().unwrap())
        .sum()
}

/// A small seeded generator (64-bit LCG) for the tests' streams.
pub struct Lcg(pub u64);

impl Lcg {
    fn step(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0
    }

    /// A whole number below `n` (from the high bits).
    pub fn below(&mut self, n: u64) -> u64 {
        (self.step() >> 33) % n
    }

    /// A number in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.step() >> 11) as f64 / (1u64 << 53) as f64
    }
}
