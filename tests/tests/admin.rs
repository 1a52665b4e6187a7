//! `PUT /v1/admin/snapshot` and `GET /v1/health` on the built worker: authentication,
//! validation and the version rule (only newer snapshots are accepted).

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
