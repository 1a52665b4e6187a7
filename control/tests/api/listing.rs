//! `GET /api/v1/tests` carries each test's `summary` for the dashboard's list: days running,
//! units, the primary lift with its interval and the recommendation (the monitor's latest
//! evaluation), open alerts and the risk score, each equal to what its own route says.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{test_spec, TestApp};

crate::both_with!(the_tests_list_summarises_each_test, listing, manual_monitor);
fn manual_monitor(c: &mut edgewise_control::config::ServeArgs) {
    crate::monitor::manual(c);
}
async fn listing(app: TestApp) {
    crate::results::running_with_traffic(&app).await;
    app.running_test("srm").await;
    crate::monitor::seed(&app, "srm", crate::monitor::MOBILE_SRM).await;
    let (s, b) = app.post("/api/v1/tests", test_spec("draft")).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, r) = app.post("/api/v1/monitor/run", json!(null)).await;
    assert_eq!(s, StatusCode::OK, "{r}");

    let (s, list) = app.get("/api/v1/tests").await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let summary = |key: &str| -> Value {
        list["tests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["key"] == key)
            .unwrap()["summary"]
            .clone()
    };
    let t = summary("t");
    assert_eq!(t["units"], 110, "{t}");
    assert!(
        (0.0..0.01).contains(&t["days_running"].as_f64().unwrap()),
        "{t}"
    );
    let (_, e) = app.get("/api/v1/tests/t/monitor").await;
    let rec = &e["recommendation"];
    assert_eq!(t["recommendation"], rec["recommendation"], "{t} vs {e}");
    assert_eq!(t["primary"]["metric"], "buy");
    assert_eq!(t["primary"]["variant"], "b");
    assert_eq!(t["primary"]["lift"], rec["arms"][0]["lift"], "{e}");
    assert_eq!(t["primary"]["ci"], rec["arms"][0]["ci"], "{e}");
    assert!(t["primary"]["lift"].is_f64(), "{t}");
    assert_eq!(t["open_alerts"], 0);
    let (_, approvals) = app.get("/api/v1/tests/t/approvals").await;
    assert_eq!(t["risk"], approvals["risk"]["score"], "{approvals}");

    let srm = summary("srm");
    assert_eq!(srm["open_alerts"], 1, "{srm}");
    assert_eq!(srm["units"], 498_000, "{srm}");

    let draft = summary("draft");
    assert_eq!(
        (
            &draft["units"],
            &draft["days_running"],
            &draft["primary"],
            &draft["recommendation"]
        ),
        (&json!(0), &Value::Null, &Value::Null, &Value::Null),
        "{draft}"
    );
    assert!(draft["risk"].is_u64(), "{draft}");
    // Filtering by status still works, with summaries.
    let (_, drafts) = app.get("/api/v1/tests?status=draft").await;
    assert_eq!(drafts["tests"].as_array().unwrap().len(), 1);
    assert!(drafts["tests"][0]["summary"].is_object());
    app.shutdown().await;
}
