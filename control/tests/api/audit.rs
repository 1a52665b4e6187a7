//! The audit log records who changed what, and its hash chain exposes tampering, through the
//! API and through `edgewise audit verify`.

use std::process::Command;

use edgewise_control::db::tokens::Role;
use reqwest::StatusCode;
use serde_json::json;

use crate::both;
use crate::common::{test_spec, TestApp};

fn cli_verify(database_url: &str) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_edgewise"))
        .args(["audit", "verify", "--database-url", database_url])
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

both!(audit_chain, audit_chain);
async fn audit_chain(app: TestApp) {
    let editor = app.token(Role::Editor).await;
    let (s, _) = app
        .call(
            reqwest::Method::POST,
            "/api/v1/tests",
            Some(&editor),
            Some(&test_spec("t")),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    app.post("/api/v1/tests/t/start", json!(null)).await;
    app.put("/api/v1/allowed-origins", json!(["https://shop.example"]))
        .await;

    let (s, log) = app.get("/api/v1/audit").await;
    assert_eq!(s, StatusCode::OK);
    let entries = log["entries"].as_array().unwrap();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["test.create", "test.start", "settings.allowed_origins"]
    );
    assert!(entries[0]["actor"].as_str().unwrap().starts_with("tok_"));
    assert_ne!(
        entries[0]["actor"], entries[1]["actor"],
        "editor created, admin started"
    );
    assert!(entries[0]["before"].is_null());
    let before: serde_json::Value =
        serde_json::from_str(entries[1]["before"].as_str().unwrap()).unwrap();
    let after: serde_json::Value =
        serde_json::from_str(entries[1]["after"].as_str().unwrap()).unwrap();
    assert_eq!(
        (before["status"].as_str(), after["status"].as_str()),
        (Some("draft"), Some("running"))
    );
    for w in entries.windows(2) {
        assert_eq!(w[1]["prev_hash"], w[0]["hash"]);
    }
    let (_, v) = app.get("/api/v1/audit/verify").await;
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["entries"], 3);
    assert!(cli_verify(&app.database_url).0);

    // Rewrite history: the change to entry 2 is detected there.
    sqlx::query("UPDATE audit SET after = $1 WHERE seq = 2")
        .bind(r#"{"status":"paused"}"#)
        .execute(&app.db.writer)
        .await
        .unwrap();
    let (_, v) = app.get("/api/v1/audit/verify").await;
    assert_eq!(
        (v["ok"].as_bool(), v["first_bad_seq"].as_i64()),
        (Some(false), Some(2)),
        "{v}"
    );
    let (ok, out) = cli_verify(&app.database_url);
    assert!(!ok, "the CLI exits non-zero on tampering: {out}");

    // Dropping the last entry is detected too.
    sqlx::query("UPDATE audit SET after = $1 WHERE seq = 2")
        .bind(entries[1]["after"].as_str().unwrap())
        .execute(&app.db.writer)
        .await
        .unwrap();
    assert_eq!(app.get("/api/v1/audit/verify").await.1["ok"], true);
    sqlx::query("DELETE FROM audit WHERE seq = 3")
        .execute(&app.db.writer)
        .await
        .unwrap();
    let (_, v) = app.get("/api/v1/audit/verify").await;
    assert_eq!(v["ok"], false, "{v}");
    app.shutdown().await;
}
