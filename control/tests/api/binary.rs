//! The real `edgewise` binary: kill -9 (or SIGTERM) in the middle of a load loses nothing
//! acknowledged and duplicates nothing; two processes on one PostgreSQL ingest concurrently with exact totals.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::common::{conversion, exposure, fresh_database, test_spec, Backend};

const BIN: &str = env!("CARGO_BIN_EXE_edgewise");

pub(crate) fn cli(args: &[&str]) -> String {
    let out = std::process::Command::new(BIN).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) base: String,
}

async fn serve(url: &str) -> Server {
    serve_with(url, &[]).await
}

pub(crate) async fn serve_with(url: &str, args: &[&str]) -> Server {
    let mut child = Command::new(BIN)
        .args(["serve", "--database-url", url, "--listen", "127.0.0.1:0"])
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines
        .next_line()
        .await
        .unwrap()
        .expect("server printed its address");
    let addr = line.strip_prefix("listening on ").unwrap().to_owned();
    Server {
        child,
        base: format!("http://{addr}"),
    }
}

async fn post(client: &reqwest::Client, url: String, token: &str, body: &Value) -> Option<Value> {
    let resp = client
        .post(url)
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .ok()?;
    if resp.status() != StatusCode::OK && resp.status() != StatusCode::CREATED {
        eprintln!(
            "{}: {}",
            resp.status(),
            resp.text().await.unwrap_or_default()
        );
        return None;
    }
    resp.json().await.ok()
}

pub(crate) async fn setup(url: &str) -> (String, String) {
    let token = cli(&["token", "create", "--role", "admin", "--database-url", url]);
    let key = cli(&["ingest-key", "create", "--site", "s", "--database-url", url]);
    (token, key)
}

/// Loads the server, stops it (SIGKILL, or SIGTERM when `graceful`), restarts it, and checks
/// every acknowledged event is stored exactly once. On SQLite the WAL starts over every MiB
/// (a few times a second under this load), so the kill can land in or after a restart.
async fn interrupted(backend: Backend, graceful: bool) {
    let dir = tempfile::tempdir().unwrap();
    let Some(url) = fresh_database(backend, dir.path()).await else {
        return;
    };
    let (token, key) = setup(&url).await;
    let mut server = serve_with(&url, &["--sqlite-wal-restart-mib", "1"]).await;
    let client = reqwest::Client::new();
    post(
        &client,
        format!("{}/api/v1/tests", server.base),
        &token,
        &test_spec("t"),
    )
    .await
    .unwrap();
    post(
        &client,
        format!("{}/api/v1/tests/t/start", server.base),
        &token,
        &json!(null),
    )
    .await
    .unwrap();

    let acked: Arc<Mutex<Vec<Value>>> = Arc::default();
    let mut loaders = Vec::new();
    for w in 0..4 {
        let (client, base, key, acked) = (
            client.clone(),
            server.base.clone(),
            key.clone(),
            acked.clone(),
        );
        loaders.push(tokio::spawn(async move {
            for b in 0.. {
                let events: Vec<Value> = (0..200)
                    .map(|i: u32| {
                        let id = format!("w{w}-b{b}-{i}");
                        exposure(
                            &id,
                            &id,
                            "t",
                            if i.is_multiple_of(2) { "control" } else { "b" },
                        )
                    })
                    .collect();
                let body = json!({ "events": events });
                match post(&client, format!("{base}/v1/events"), &key, &body).await {
                    Some(r) => {
                        assert_eq!(r["accepted"], 200, "{r}");
                        acked.lock().unwrap().push(body);
                    }
                    None => return,
                }
            }
        }));
    }
    while acked.lock().unwrap().len() < 20 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    if graceful {
        let pid = server.child.id().unwrap().to_string();
        let term = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(term.success());
        let status = server.child.wait().await.unwrap();
        assert!(status.success(), "a graceful shutdown exits 0: {status}");
    } else {
        server.child.start_kill().unwrap(); // SIGKILL
        server.child.wait().await.unwrap();
    }
    for l in loaders {
        l.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();

    let server = serve(&url).await;
    for body in &acked {
        let r = post(&client, format!("{}/v1/events", server.base), &key, body)
            .await
            .unwrap();
        assert_eq!(
            (r["accepted"].as_u64(), r["duplicates"].as_u64()),
            (Some(0), Some(200)),
            "an acknowledged event was lost"
        );
    }
    let resp = client
        .get(format!("{}/api/v1/tests/t/aggregates", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let agg: Value = resp.json().await.unwrap();
    let units: i64 = agg["aggregates"]["exposures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["units"].as_i64().unwrap())
        .sum();
    let args = edgewise_control::config::DbArgs::new(&url);
    let db = edgewise_control::db::Db::connect(&args, "FULL")
        .await
        .unwrap();
    let stored = edgewise_control::db::events::count_events(
        &mut db.reader.acquire().await.unwrap(),
        &db.shard_schemas(),
    )
    .await
    .unwrap();
    // Each event is its own unit: aggregates and raw events agree, nothing counted twice.
    assert_eq!(units, stored, "{agg}");
    assert!(stored >= 200 * acked.len() as i64);
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_loses_nothing_acknowledged_sqlite() {
    interrupted(Backend::Sqlite, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_requests_sqlite() {
    interrupted(Backend::Sqlite, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_requests_postgres() {
    interrupted(Backend::Postgres, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_loses_nothing_acknowledged_postgres() {
    interrupted(Backend::Postgres, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_postgres_are_exact() {
    let dir = tempfile::tempdir().unwrap();
    let Some(url) = fresh_database(Backend::Postgres, dir.path()).await else {
        return;
    };
    let (token, key) = setup(&url).await;
    let (a, b) = (serve(&url).await, serve(&url).await);
    let client = reqwest::Client::new();
    post(
        &client,
        format!("{}/api/v1/tests", a.base),
        &token,
        &test_spec("t"),
    )
    .await
    .unwrap();
    post(
        &client,
        format!("{}/api/v1/tests/t/start", b.base),
        &token,
        &json!(null),
    )
    .await
    .unwrap();

    // 400 units; a unit's variant is fixed by its number so the expected cells are known.
    let variant = |u: usize| if u.is_multiple_of(3) { "b" } else { "control" };
    let mut exposures = Vec::new();
    for i in 0..2000 {
        let u = (i * 7) % 400;
        exposures.push(exposure(
            &format!("x{i}"),
            &format!("u{u}"),
            "t",
            variant(u),
        ));
    }
    let mut conversions = Vec::new();
    let mut revenue: BTreeMap<usize, f64> = BTreeMap::new();
    let mut buyers = BTreeSet::new();
    for i in 0..1200usize {
        let u = (i * 13) % 400;
        if i.is_multiple_of(2) {
            conversions.push(conversion(
                &format!("c{i}"),
                &format!("u{u}"),
                "t",
                "buy",
                None,
            ));
            buyers.insert(u);
        } else {
            let v = (i % 10) as f64;
            conversions.push(conversion(
                &format!("c{i}"),
                &format!("u{u}"),
                "t",
                "revenue",
                Some(v),
            ));
            *revenue.entry(u).or_default() += v;
        }
    }
    let mut accepted = 0;
    for phase in [exposures, conversions] {
        // Every batch goes to both processes at once: each event is accepted exactly once.
        let mut sends = Vec::new();
        for chunk in phase.chunks(250) {
            let body = json!({ "events": chunk });
            for base in [&a.base, &b.base] {
                let (client, url, key, body) = (
                    client.clone(),
                    format!("{base}/v1/events"),
                    key.clone(),
                    body.clone(),
                );
                sends.push(tokio::spawn(async move {
                    post(&client, url, &key, &body).await.unwrap()
                }));
            }
        }
        let mut dup = 0;
        for s in sends {
            let r = s.await.unwrap();
            accepted += r["accepted"].as_u64().unwrap();
            dup += r["duplicates"].as_u64().unwrap();
            assert_eq!(r["rejected"], json!([]));
        }
        assert!(dup > 0);
    }
    assert_eq!(accepted, 3200);
    let resp = client
        .get(format!("{}/api/v1/tests/t/aggregates", a.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let agg: Value = resp.json().await.unwrap();
    let sum = |kind: &str, field: &str, metric: Option<&str>, var: &str| -> f64 {
        agg["aggregates"][kind]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["variant"] == var && metric.is_none_or(|m| r["metric"] == m))
            .map(|r| r[field].as_f64().unwrap())
            .sum()
    };
    for var in ["control", "b"] {
        let units = (0..400).filter(|u| variant(*u) == var).count() as f64;
        assert_eq!(sum("exposures", "units", None, var), units, "{agg}");
        let buy = buyers.iter().filter(|u| variant(**u) == var).count() as f64;
        assert_eq!(sum("metrics", "units", Some("buy"), var), buy);
        let rev: Vec<f64> = revenue
            .iter()
            .filter(|(u, _)| variant(**u) == var)
            .map(|(_, v)| *v)
            .collect();
        assert_eq!(
            sum("metrics", "sum", Some("revenue"), var),
            rev.iter().sum::<f64>()
        );
        assert_eq!(
            sum("metrics", "sum_sq", Some("revenue"), var),
            rev.iter().map(|v| v * v).sum::<f64>()
        );
    }
}

/// Revoking from the CLI, on the database directly, takes effect in a running server: for an
/// API token, and for an ingestion key the server had already seen valid and remembered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_revocation_reaches_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(Backend::Sqlite, dir.path()).await.unwrap();
    let (admin, key) = setup(&url).await;
    let viewer = cli(&[
        "token",
        "create",
        "--role",
        "viewer",
        "--database-url",
        &url,
    ]);
    let server = serve(&url).await;
    let client = reqwest::Client::new();
    let events = format!("{}/v1/events", server.base);
    let ingest = |key: &str| {
        client
            .post(&events)
            .bearer_auth(key)
            .json(&json!({ "events": [] }))
            .send()
    };
    let tests = |token: &str| {
        client
            .get(format!("{}/api/v1/tests", server.base))
            .bearer_auth(token)
            .send()
    };
    let listing = |path: &str| {
        client
            .get(format!("{}/api/v1/{path}", server.base))
            .bearer_auth(&admin)
            .send()
    };
    assert_eq!(ingest(&key).await.unwrap().status(), StatusCode::OK);
    assert_eq!(tests(&viewer).await.unwrap().status(), StatusCode::OK);

    let id_of = |list: &Value, field: &str, value: &str| -> String {
        let entry = list.as_array().unwrap().iter().find(|e| e[field] == value);
        entry.unwrap()["id"].as_str().unwrap().to_owned()
    };
    let tokens: Value = listing("tokens").await.unwrap().json().await.unwrap();
    let keys: Value = listing("ingest-keys").await.unwrap().json().await.unwrap();
    let viewer_id = id_of(&tokens["tokens"], "role", "viewer");
    let key_id = id_of(&keys["ingest_keys"], "site", "s");
    cli(&["token", "revoke", &viewer_id, "--database-url", &url]);
    cli(&["ingest-key", "revoke", &key_id, "--database-url", &url]);

    let status = tests(&viewer).await.unwrap().status();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let status = ingest(&key).await.unwrap().status();
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the remembered key is forgotten"
    );
    let unknown = std::process::Command::new(BIN)
        .args(["token", "revoke", "tok_none", "--database-url", &url])
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(1));
}

/// Two replicas on one PostgreSQL: exactly one leads the monitor and ticks; when it is killed
/// with SIGKILL, the other takes over within two intervals (1 s each here; the check allows 3 s
/// on a shared machine, and prints what it took).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_one_monitor_and_a_takeover_after_kill9() {
    let dir = tempfile::tempdir().unwrap();
    let Some(url) = fresh_database(Backend::Postgres, dir.path()).await else {
        return;
    };
    let (token, _) = setup(&url).await;
    let args = ["--monitor-interval-secs", "1"];
    let mut servers = vec![serve_with(&url, &args).await, serve_with(&url, &args).await];
    let client = reqwest::Client::new();
    let monitor = |base: String| {
        let (client, token) = (client.clone(), token.clone());
        async move {
            let v: Value = client
                .get(format!("{base}/api/v1/monitor"))
                .bearer_auth(&token)
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            Some((v["leader"].as_bool()?, v["last_tick"].as_i64()))
        }
    };
    // Exactly one leads, the whole time.
    let mut leader = None;
    for _ in 0..30 {
        let a = monitor(servers[0].base.clone()).await.unwrap();
        let b = monitor(servers[1].base.clone()).await.unwrap();
        assert!(!(a.0 && b.0), "both replicas lead");
        if a.0 || b.0 {
            leader = Some(usize::from(b.0));
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let leader = leader.expect("a replica leads within 6 s");
    let other = 1 - leader;
    let (s, _) = {
        let r = client
            .post(format!("{}/api/v1/monitor/run", servers[other].base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        (r.status(), ())
    };
    assert_eq!(s, StatusCode::CONFLICT, "the other replica does not tick");

    // kill -9 the leader: the other takes over and ticks within two intervals (plus start-up).
    servers[leader].child.kill().await.unwrap();
    let killed_at = edgewise_control::db::now_ms();
    let started = std::time::Instant::now();
    loop {
        let (leads, last_tick) = monitor(servers[other].base.clone()).await.unwrap();
        if leads && last_tick.is_some_and(|t| t > killed_at) {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(3),
            "no takeover {} ms after the kill",
            started.elapsed().as_millis()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    eprintln!("takeover after {} ms", started.elapsed().as_millis());
    servers.clear();
}
