//! Results latency of one large test: creates a test with a unit-level p90 of order value and
//! revenue capped at its 99th percentile (both read the quantile sketch), ingests UNITS units
//! over HTTP (each exposed; 60% order once or more, log-normal values; devices and personas
//! spread so the sketch has many cells), then times `GET /api/v1/tests/{key}/results`.
//!
//! `cargo run --release -p edgewise-control --example bench_results -- URL ADMIN_TOKEN
//! INGEST_KEY [units] [concurrency] [requests]`; `scripts/bench-results` wraps it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde_json::json;

const BATCH: u64 = 500;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let url = args.get(1).cloned().unwrap_or_default();
    let admin = args.get(2).cloned().unwrap_or_default();
    let key = args.get(3).cloned().unwrap_or_default();
    let units: u64 = args
        .get(4)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000_000);
    let concurrency: u64 = args.get(5).and_then(|s| s.parse().ok()).unwrap_or(4);
    let requests: usize = args.get(6).and_then(|s| s.parse().ok()).unwrap_or(20);
    let client = reqwest::Client::new();
    let test = format!("results-{}", std::process::id());
    let spec = json!({
        "key": test,
        "variants": [{"key": "control", "weight": 1}, {"key": "b", "weight": 1}],
        "metrics": [
            {"key": "aov_p90", "kind": "quantile", "role": "primary", "event": "order",
             "quantile": {"nu": 0.9}},
            {"key": "revenue", "kind": "value", "event": "order",
             "cap": {"type": "percentile", "value": 0.99}}
        ]
    });
    for (path, body) in [
        ("/api/v1/tests".to_owned(), spec),
        (
            format!("/api/v1/tests/{test}/start"),
            serde_json::Value::Null,
        ),
    ] {
        let resp = client
            .post(format!("{url}{path}"))
            .bearer_auth(&admin)
            .json(&body)
            .send()
            .await?;
        anyhow::ensure!(resp.status().is_success(), "{path}: {}", resp.text().await?);
    }

    // Ingestion: client c sends the units c, c + concurrency, … in batches.
    let started = Instant::now();
    let accepted = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    for c in 0..concurrency {
        let (client, url, key, test, accepted) = (
            client.clone(),
            url.clone(),
            key.clone(),
            test.clone(),
            accepted.clone(),
        );
        handles.push(tokio::spawn(async move {
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (c + 1));
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            let mut unit = c;
            let mut body = String::new();
            let mut in_body = 0;
            while unit < units || in_body > 0 {
                if unit < units {
                    // Cells from a hash of the unit, so every client's units split evenly at
                    // every moment (by parity, the clients' relative speed would show as a
                    // sample ratio mismatch, which the monitor pauses the test for).
                    let h = unit.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                    let h = (h ^ (h >> 31)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                    let variant = if h >> 63 == 0 { "control" } else { "b" };
                    let device = ["mobile", "desktop", "tablet"][(h % 3) as usize];
                    let persona = ["", "new", "returning"][(h / 3 % 3) as usize];
                    let common = format!(
                        "\"unit_id\":\"u{unit}\",\"test\":\"{test}\",\"variant\":\"{variant}\",\
                         \"device\":\"{device}\",\"persona\":\"{persona}\",\"ts\":{now}"
                    );
                    let mut push = |e: String| {
                        body.push_str(if body.is_empty() {
                            "{\"events\":["
                        } else {
                            ","
                        });
                        body.push_str(&e);
                        in_body += 1;
                    };
                    push(format!(
                        "{{\"event_id\":\"x{unit}\",\"type\":\"exposure\",{common}}}"
                    ));
                    if rng.unit() < 0.6 {
                        for k in 0..1 + (rng.unit() * 1.5) as u32 {
                            let value = ((rng.unit() * 3.0).exp() * 10.0 * 100.0).round() / 100.0;
                            push(format!(
                                "{{\"event_id\":\"o{unit}-{k}\",\"type\":\"conversion\",\
                                 \"metric\":\"order\",\"value\":{value},{common}}}"
                            ));
                        }
                    }
                    unit += concurrency;
                }
                if in_body >= BATCH || (unit >= units && in_body > 0) {
                    body.push_str("]}");
                    let resp = client
                        .post(format!("{url}/v1/events"))
                        .bearer_auth(&key)
                        .header("content-type", "application/json")
                        .body(std::mem::take(&mut body))
                        .send()
                        .await?;
                    let status = resp.status();
                    let v: serde_json::Value = resp.json().await?;
                    anyhow::ensure!(status.is_success(), "{status}: {v}");
                    if let Some(r) = v["rejected"].as_array().and_then(|r| r.first()) {
                        anyhow::bail!("rejected: {r}");
                    }
                    accepted.fetch_add(v["accepted"].as_u64().unwrap_or(0), Ordering::Relaxed);
                    in_body = 0;
                }
            }
            anyhow::Ok(())
        }));
    }
    for h in handles {
        h.await??;
    }
    let ingest_s = started.elapsed().as_secs_f64();

    let mut times = Vec::new();
    let mut last = serde_json::Value::Null;
    for _ in 0..requests {
        let t = Instant::now();
        let resp = client
            .get(format!("{url}/api/v1/tests/{test}/results"))
            .bearer_auth(&admin)
            .send()
            .await?;
        anyhow::ensure!(resp.status().is_success(), "results: {}", resp.status());
        last = resp.json().await?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    let units_seen: u64 = last["variants"]
        .as_array()
        .map_or(0, |v| v.iter().filter_map(|x| x["units"].as_u64()).sum());
    let p90 = &last["metrics"][0]["overall"]["variants"];
    println!(
        "units={units_seen} events_accepted={} ingest_s={ingest_s:.0} requests={requests} \
         results_ms_min={:.0} median={:.0} max={:.0} cap_value={} p90_control={} p90_b={}",
        accepted.load(Ordering::Relaxed),
        times[0],
        times[times.len() / 2],
        times[times.len() - 1],
        last["metrics"][1]["cap_value"],
        p90[0]["quantile_hat"],
        p90[1]["quantile_hat"],
    );
    Ok(())
}
