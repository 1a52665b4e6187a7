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
