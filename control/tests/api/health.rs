//! `GET /healthz` and `GET /readyz` answer without a token; readiness reports the database,
//! the migrations (this build's newest applied), SQLite's writer threads and leadership.

use reqwest::{Method, StatusCode};

use crate::common::TestApp;

crate::both!(ready_when_the_database_and_writer_are, ready);
async fn ready(app: TestApp) {
    let (s, _) = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, r) = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["ready"], true, "{r}");
    assert_eq!(r["database"], "ok", "{r}");
    assert_eq!(
        r["migrations"]["applied"], r["migrations"]["expected"],
        "{r}"
    );
    assert!(r["migrations"]["expected"].as_i64().unwrap() >= 5, "{r}");
    let writer = r["writer"].as_str().unwrap();
    assert!(writer == "running" || writer == "none", "{r}");
    assert!(r["leads_monitor"].is_boolean(), "{r}");
    app.shutdown().await;
}

/// A bad setting stops `edgewise serve` at once, with a message naming it (flag or variable).
#[test]
fn a_bad_setting_stops_the_process_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/e.db", dir.path().display());
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_edgewise"))
            .args(["serve", "--database-url", &db])
            .args(args)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for (args, env, names) in [
        (
            &["--monitor-interval-secs", "0"][..],
            &[][..],
            "--monitor-interval-secs",
        ),
        (
            &[],
            &[("EDGEWISE_SQLITE_SHARDS", "99")][..],
            "--sqlite-shards",
        ),
        (
            &[],
            &[("EDGEWISE_LISTEN", "not-an-address")][..],
            "--listen",
        ),
        (
            &["--sqlite-synchronous", "OFF"],
            &[],
            "--sqlite-synchronous",
        ),
        (&["--max-body-bytes=lots"], &[], "--max-body-bytes"),
    ] {
        let (code, err) = run(args, env);
        assert_eq!(code, Some(2), "{args:?} {env:?}: {err}");
        assert!(err.contains(names), "{args:?} {env:?}: {err}");
    }
}
