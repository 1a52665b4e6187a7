//! The browser snippet in a real browser: headless Chromium (Debian's package, driven by npm
//! `playwright-core` in `tests/browser/demo.mjs`) opens the demo page, which loads
//! `/v1/sdk.js` from the worker on workerd. The page must show the assigned variant's content,
//! and the conversion the test clicks must arrive in the real control plane's results.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use edgewise_tests::control::{control_and_worker, ControlPlane};
use edgewise_tests::tools::{self, TempDir};
use serde_json::{json, Value};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_demo_page_shows_its_variant_and_the_click_converts() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "{chromium} is missing: `apt-get install chromium` (scripts/test does it)"
    );
    let (control, worker) = control_and_worker(&[], &[]);

    // The demo site, with the worker's URL in its script tag.
    let site = TempDir::new("edgewise-demo");
    let page = std::fs::read_to_string(tools::root().join("demo/index.html")).unwrap();
    std::fs::write(
        site.path().join("index.html"),
        page.replace("EDGE_URL", &worker.base),
    )
    .unwrap();
    let lease = tools::PortLease::new();
    let port = lease.port;
    let demo = format!("http://127.0.0.1:{port}");
    let _server = Server(
        Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--directory",
            ])
            .arg(site.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 -m http.server"),
    );

    let spec: Value = serde_json::from_str(
        &std::fs::read_to_string(tools::root().join("demo/hero-headline.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        control
            .api("PUT", "/api/v1/allowed-origins", Some(&json!([demo])))
            .status,
        200
    );
    assert_eq!(
        control.api("POST", "/api/v1/tests", Some(&spec)).status,
        201
    );
    assert_eq!(
        control
            .api("POST", "/api/v1/tests/hero-headline/start", None)
            .status,
        200
    );
    let served = ControlPlane::wait_until(Duration::from_secs(30), || {
        worker
            .get("/v1/assign?unit=probe", &[])
            .body
            .contains("hero-headline")
    });
    assert!(served.is_some(), "the edge never served the demo test");
    ControlPlane::wait_until(Duration::from_secs(10), || {
        Command::new("curl")
            .args(["-fsS", "-o", "/dev/null", &demo])
            .status()
            .is_ok_and(|s| s.success())
    })
    .expect("the demo site did not start");

    let out = Command::new("node")
        .arg(tools::root().join("tests/browser/demo.mjs"))
        .arg(&demo)
        .env("CHROMIUM", &chromium)
        .current_dir(tools::root())
        .output()
        .expect("node tests/browser/demo.mjs");
    assert!(
        out.status.success(),
        "the browser run failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    let variant = seen["variant"].as_str().unwrap().to_owned();
    assert!(variant == "control" || variant == "benefit", "{seen}");

    // The exposure and the click's conversion travel sendBeacon → worker → queue → control plane.
    let arrived = ControlPlane::wait_until(Duration::from_secs(60), || {
        let results = control
            .api("GET", "/api/v1/tests/hero-headline/results", None)
            .json();
        let signup = results["metrics"]
            .as_array()
            .and_then(|ms| ms.iter().find(|m| m["key"] == "signup").cloned());
        signup.is_some_and(|m| {
            m["overall"]["variants"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|v| v["name"] == variant.as_str() && v["n"] == 1 && v["conversions"] == 1)
        })
    });
    assert!(
        arrived.is_some(),
        "the click's conversion never reached the results of {variant}: {}",
        control
            .api("GET", "/api/v1/tests/hero-headline/aggregates", None)
            .body
    );
}
