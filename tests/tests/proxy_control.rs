//! Proxy mode into the real control plane: pages the worker rewrites log their exposures at
//! render, flagged `logged_by: edge`, through the queue to `edgewise serve`, whose results
//! count them as the edge's (`edge_units`); an exposure the page's script asks for
//! (`/v1/assign?expose=1`) is counted as the browser's. Every view is one unit, counted once.

use std::collections::HashMap;
use std::time::Duration;

use edgewise_tests::control::{control_and_worker, decision_of, edge_assign, ControlPlane};
use edgewise_tests::gen::USER_AGENTS;
use edgewise_tests::origin::{Origin, Page};
use serde_json::{json, Value};

const PAGE: &str = "<!doctype html>\n<html><head><title>Hero</title></head><body>\
<h1 data-ew=\"hero\">Control headline</h1></body></html>\n";
const VIEWS: u64 = 12;

/// (units, edge_units) summed over the test's variants, as the results report them.
fn counted(control: &ControlPlane) -> (u64, u64) {
    let r = control.api("GET", "/api/v1/tests/hero/results", None);
    let v: Value = r.json();
    v["variants"].as_array().map_or((0, 0), |vs| {
        vs.iter().fold((0, 0), |(u, e), x| {
            (
                u + x["units"].as_u64().unwrap_or(0),
                e + x["edge_units"].as_u64().unwrap_or(0),
            )
        })
    })
}

#[test]
fn rendered_exposures_reach_the_control_plane_flagged_as_the_edges() {
    let mut pages = HashMap::new();
    pages.insert("/p/hero".to_owned(), Page::html(PAGE));
    let origin = Origin::start(pages);
    let (control, worker) = control_and_worker(&[("PROXY_ORIGIN", origin.base.as_str())], &[]);
    let spec = json!({
        "key": "hero",
        "variants": [
            {"key": "control", "weight": 1, "content": {}},
            {"key": "b", "weight": 1, "content": {"dom": [
                {"ew": "hero", "action": "set_text", "value": "Variant B headline"}]}}
        ],
        "metrics": [{"key": "buy", "kind": "binomial", "role": "primary"}]
    });
    let r = control.api("POST", "/api/v1/tests", Some(&spec));
    assert_eq!(r.status, 201, "{}", r.body);
    let r = control.api("POST", "/api/v1/tests/hero/start", None);
    assert_eq!(r.status, 200, "{}", r.body);
    ControlPlane::wait_until(Duration::from_secs(30), || {
        decision_of(&edge_assign(&worker, "probe"), "hero")
            .is_some_and(|d| d["reason"] == "assigned")
    })
    .expect("the edge serves the test");

    // Each view without a cookie is a new visitor: one exposure logged by the worker.
    let mut saw_b = 0;
    for i in 0..VIEWS {
        let ua = USER_AGENTS[i as usize % 3];
        let page = worker.get("/p/hero", &[("user-agent", ua)]);
        assert_eq!(page.status, 200, "{}", page.body);
        saw_b += u64::from(page.body.contains(">Variant B headline</h1>"));
    }
    assert!(
        saw_b > 0 && saw_b < VIEWS,
        "both variants served: {saw_b} of {VIEWS} saw b"
    );
    let arrived = ControlPlane::wait_until(Duration::from_secs(60), || {
        counted(&control) == (VIEWS, VIEWS)
    });
    assert!(
        arrived.is_some(),
        "results (units, edge_units) {:?}, want ({VIEWS}, {VIEWS})\n{}",
        counted(&control),
        worker.log_text()
    );

    // The snippet's path: the page's script asks for the exposure, so it is the browser's.
    let r = worker.get(
        "/v1/assign?unit=from-the-browser&expose=1",
        &[("user-agent", USER_AGENTS[0])],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let arrived = ControlPlane::wait_until(Duration::from_secs(60), || {
        counted(&control) == (VIEWS + 1, VIEWS)
    });
    assert!(
        arrived.is_some(),
        "results {:?}, want ({}, {VIEWS})",
        counted(&control),
        VIEWS + 1
    );
    // Nothing more arrives later (no view counted twice).
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(counted(&control), (VIEWS + 1, VIEWS));
}
