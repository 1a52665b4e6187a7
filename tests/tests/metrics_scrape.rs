//! `GET /metrics` while `edgewise simulate` drives visitors through the built worker on
//! workerd into the real control plane (SQLite), duplicate beacons and crawlers included:
//! scraped every 200 ms, the counters only grow and are seen mid-run; once the run settles,
//! the events counted `accepted` are exactly the raw events in the database files, none
//! rejected, and the results hold exactly the simulator's units.

use std::collections::HashMap;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use edgewise_tests::control::{simulate, system_with, ControlPlane};
use edgewise_tests::http::Client;
use serde_json::json;

const TEST: &str = "scrape-me";

/// The samples of one scrape, by metric name with its labels (`name{a="b"}`).
fn scrape(control: &ControlPlane) -> HashMap<String, f64> {
    let r = Client::new().get(&format!("{}/metrics", control.base), &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_owned(), v.parse().ok()?))
        })
        .collect()
}

fn events(samples: &HashMap<String, f64>, outcome: &str) -> f64 {
    samples
        .get(&format!(
            "edgewise_ingest_events_total{{outcome=\"{outcome}\"}}"
        ))
        .copied()
        .unwrap_or(0.0)
}

/// Raw events in every database file, read with Python's sqlite3 (the server keeps running).
fn raw_events(control: &ControlPlane) -> u64 {
    let main = control.database_file();
    let script = "import glob, sqlite3, sys\n\
                  n = 0\n\
                  for f in [sys.argv[1]] + glob.glob(sys.argv[1] + '.shard*'):\n    \
                      if f.endswith(('-wal', '-shm')): continue\n    \
                      c = sqlite3.connect('file:' + f + '?mode=ro', uri=True)\n    \
                      n += c.execute('SELECT COUNT(*) FROM events').fetchone()[0]\n\
                  print(n)";
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(&main)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[test]
fn metrics_count_what_the_database_holds() {
    let spec = json!({
        "key": TEST,
        "variants": [
            {"key": "control", "weight": 1, "content": {"cta": "Buy"}},
            {"key": "b", "weight": 1, "content": {"cta": "Get it"}}
        ],
        "metrics": [{"key": "buy", "kind": "binomial", "role": "primary"}]
    });
    let (control, worker, _) = system_with(&spec);
    let scenario = json!({
        "seed": 22,
        "test": TEST,
        "days": 2,
        "visits_per_day": 3000,
        "returning_share": 0.2,
        "devices": {"mobile": 1, "desktop": 1},
        "personas": {"none": 1},
        "metrics": [{"key": "buy", "variants": {
            "control": {"rate": 0.2}, "b": {"rate": 0.25}
        }}],
        "faults": {"bot_share": 0.05, "duplicate_share": 0.3}
    });

    let running = Arc::new(AtomicBool::new(true));
    let scraper = {
        let (running, base) = (running.clone(), control.base.clone());
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            while running.load(Ordering::Relaxed) {
                let r = Client::new().get(&format!("{base}/metrics"), &[]);
                assert_eq!(r.status, 200);
                let v = r
                    .body
                    .lines()
                    .find_map(|l| {
                        l.strip_prefix("edgewise_ingest_events_total{outcome=\"accepted\"} ")
                    })
                    .map_or(0.0, |v| v.parse::<f64>().unwrap());
                seen.push(v);
                std::thread::sleep(Duration::from_millis(200));
            }
            seen
        })
    };
    let report = simulate(&control, &worker, &scenario, false);
    running.store(false, Ordering::Relaxed);
    let seen = scraper.join().unwrap();

    let end = scrape(&control);
    let accepted = events(&end, "accepted");
    assert!(
        seen.windows(2).all(|w| w[0] <= w[1]),
        "the accepted counter went down: {seen:?}"
    );
    let mid_run = seen.iter().filter(|&&v| v > 0.0 && v < accepted).count();
    assert!(mid_run >= 1, "no scrape saw the run under way: {seen:?}");

    let stored = raw_events(&control);
    println!(
        "{} scrapes; accepted {accepted}, duplicate {}, rejected {}; {stored} raw events stored",
        seen.len(),
        events(&end, "duplicate"),
        events(&end, "rejected")
    );
    assert_eq!(
        accepted, stored as f64,
        "accepted events against the database"
    );
    // Duplicate beacons were sent; whether the edge's queue or the control plane recognised
    // them, none was stored twice (the units below are exact too).
    assert!(report["sent"]["duplicate_batches"].as_u64().unwrap() > 0);
    assert_eq!(events(&end, "rejected"), 0.0);
    let units: u64 = report["results"]["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["units"].as_u64().unwrap())
        .sum();
    let expected: u64 = report["expected"]["units"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(units, expected, "{}", report["results"]);
}
