//! `PUT /v1/admin/snapshot` and `GET /v1/health` on the built worker: authentication,
//! validation and the version rule (only newer snapshots are accepted).

use std::time::{Duration, Instant};

use edgewise_tests::gen;
use edgewise_tests::worker::{Worker, ADMIN_SECRET};
use serde_json::json;

#[test]
fn snapshot_push_is_authenticated_validated_and_versioned() {
    let worker = Worker::start(&[]);
    let v5 = gen::snapshot(5, 10, 1).to_string();

    // Bad or missing secrets: 401, and nothing is stored.
    for secret in ["wrong", "", &format!("{ADMIN_SECRET}x"), &ADMIN_SECRET[1..]] {
        let r = worker.push_snapshot_with(&v5, secret);
        assert_eq!(r.status, 401, "secret {secret:?}: {}", r.body);
        assert_eq!(r.json()["error"], "unauthorized");
    }
    let r = worker.client.send(
        "PUT",
        &worker.url("/v1/admin/snapshot"),
        &[],
        Some(v5.as_bytes()),
    );
    assert_eq!(r.status, 401);
    assert!(worker.get("/v1/health", &[]).json()["snapshot_version"].is_null());

    // Invalid snapshots: 400 naming the problem.
    let mut bad_schema = gen::snapshot(9, 2, 1);
    bad_schema["schema_version"] = json!(99);
    let mut bad_hash = gen::snapshot(9, 2, 1);
    bad_hash["hash_version"] = json!(7);
    for (body, needle) in [
        ("{not json".to_owned(), "invalid snapshot JSON"),
        (r#"{"tests": []}"#.to_owned(), "schema_version"),
        (bad_schema.to_string(), "schema_version 99"),
        (bad_hash.to_string(), "hash_version 7"),
    ] {
        let r = worker.push_snapshot(&body);
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        let b = r.json();
        assert_eq!(b["error"], "invalid_snapshot");
        let message = b["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{message:?} lacks {needle:?}");
    }

    // Accepted, then only newer versions.
    let r = worker.push_snapshot(&v5);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["snapshot_version"], 5);
    for older in [5, 4, 1] {
        let r = worker.push_snapshot(&gen::snapshot(older, 3, 2).to_string());
        assert_eq!(r.status, 409, "v{older}: {}", r.body);
        assert_eq!(r.json()["error"], "stale_snapshot");
    }
    let r = worker.push_snapshot(&gen::snapshot(6, 3, 2).to_string());
    assert_eq!(r.status, 200, "{}", r.body);

    let health = worker.get("/v1/health", &[]).json();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["snapshot_version"], 6);
    assert_eq!(health["tests"], 3);
    assert!(health["snapshot_age_seconds"]
        .as_i64()
        .is_some_and(|a| (0..60).contains(&a)));
    assert!(health["worker_version"].is_string());
    let a = worker.get("/v1/assign?unit=u", &[("user-agent", gen::USER_AGENTS[0])]);
    assert_eq!(a.json()["snapshot_version"], 6);

    // Unknown routes and methods are plain JSON errors.
    assert_eq!(worker.get("/nope", &[]).status, 404);
    assert_eq!(worker.get("/v1/admin/snapshot", &[]).status, 405);
}

/// What another location's push looks like to this isolate: KV changes underneath it. The
/// worker must pick a newer snapshot up after its TTL, and keep the last good one when the
/// stored snapshot does not compile.
#[test]
fn kv_changes_are_picked_up_after_the_ttl_and_bad_ones_ignored() {
    let worker = Worker::start(&[("SNAPSHOT_TTL_SECONDS", "1")]);
    assert_eq!(
        worker
            .push_snapshot(&gen::snapshot(3, 5, 1).to_string())
            .status,
        200
    );
    let health = || worker.get("/v1/health", &[]).json();
    let wait_for = |what: &str, done: &dyn Fn(&serde_json::Value) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let h = health();
            if done(&h) {
                return h;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {h}"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    };

    worker.kv_put("snapshot/current", &gen::snapshot(4, 7, 2).to_string());
    worker.kv_put("snapshot/meta", r#"{"version": 4, "stored_at_ms": 1000}"#);
    let h = wait_for("version 4", &|h| h["snapshot_version"] == 4);
    assert_eq!(h["tests"], 7);
    assert_eq!(h["snapshot_stored_at"], "1970-01-01T00:00:01Z");

    worker.kv_put(
        "snapshot/current",
        r#"{"schema_version": 1, "snapshot_version": 5"#,
    );
    worker.kv_put("snapshot/meta", r#"{"version": 5, "stored_at_ms": 2000}"#);
    let h = wait_for("a failed refresh", &|h| {
        h["refresh_failures"].as_u64() >= Some(1)
    });
    assert_eq!(h["snapshot_version"], 4, "the last good snapshot stays");
    let a = worker
        .get("/v1/assign?unit=u", &[("user-agent", gen::USER_AGENTS[0])])
        .json();
    assert_eq!(a["snapshot_version"], 4);
    assert_eq!(a["decisions"].as_array().map(Vec::len), Some(7));

    // A push repairs it; the stored version (5) is what a new one must beat.
    assert_eq!(
        worker
            .push_snapshot(&gen::snapshot(5, 2, 3).to_string())
            .status,
        409
    );
    assert_eq!(
        worker
            .push_snapshot(&gen::snapshot(6, 2, 3).to_string())
            .status,
        200
    );
    let h = wait_for("version 6", &|h| h["snapshot_version"] == 6);
    assert_eq!(h["refresh_failures"], 0);
}

/// `GET /v1/admin/stats` with the admin secret: the snapshot version served and what this
/// isolate counted — an answer without a snapshot is a fallback; queued beacons; a forward to a
/// control plane that is not there is retried.
#[test]
fn the_isolate_reports_its_counters() {
    // Nothing listens on port 9 (discard): every forward fails and is retried.
    let worker = Worker::start(&[("CONTROL_URL", "http://127.0.0.1:9")]);
    let stats = |secret: &str| {
        let auth = format!("Bearer {secret}");
        worker.get("/v1/admin/stats", &[("authorization", &auth)])
    };
    assert_eq!(stats("wrong").status, 401);
    assert_eq!(worker.get("/v1/admin/stats", &[]).status, 401);
    let ua = [("user-agent", gen::USER_AGENTS[0])];
    assert_eq!(worker.get("/v1/assign?unit=u0", &ua).status, 200);
    assert_eq!(
        worker
            .push_snapshot(&gen::snapshot(7, 3, 1).to_string())
            .status,
        200
    );
    for i in 1..=4 {
        let r = worker.get(&format!("/v1/assign?unit=u{i}"), &ua);
        assert_eq!(r.json()["snapshot_version"], 7);
    }
    let s = stats(ADMIN_SECRET);
    assert_eq!(s.status, 200, "{}", s.body);
    let s = s.json();
    assert_eq!(s["snapshot_version"], 7, "{s}");
    assert_eq!(
        (s["assign_requests"].clone(), s["fallbacks"].clone()),
        (json!(5), json!(1)),
        "{s}"
    );
    assert!(s["since_ms"].as_i64().unwrap() > 0, "{s}");

    let beacon =
        json!({"event_id": "s1", "type": "exposure", "test": "test-000", "variant": "control"});
    let r = worker.post(
        "/v1/events?unit=u1",
        &[("content-type", "text/plain;charset=UTF-8"), ua[0]],
        beacon.to_string().as_bytes(),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let deadline = Instant::now() + Duration::from_secs(30);
    let s = loop {
        let s = stats(ADMIN_SECRET).json();
        if s["forward_retried"].as_u64() >= Some(1) {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "no forward retried after 30 s: {s}"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(s["beacons_queued"], 1, "{s}");
    assert_eq!(
        (s["forward_acked"].clone(), s["queue_failures"].clone()),
        (json!(0), json!(0)),
        "{s}"
    );
}
