//! Load generator for `POST /v1/events`: batches of 500 events over HTTP from many concurrent
//! clients, many units, several tests. Sets the tests up through the admin API first.
//!
//! `cargo run --release -p edgewise-control --example bench_ingest -- URL ADMIN_TOKEN INGEST_KEY
//! [seconds] [concurrency] [tests] [units] [rate]`; `scripts/bench-ingest` wraps it.
//!
//! Without a rate (or 0) each client sends its next batch as soon as the last is answered:
//! the server's maximum. With a rate (events/s over all clients) each client sends on a fixed
//! schedule, and a batch's latency counts from when it was due, not from when it went out,
//! so a stall also counts against the batches it held back (no coordinated omission).
//!
//! URL may list several replicas, comma-separated: client k starts on the k-th, and a batch
//! that fails (no answer, or a 5xx) is sent again, the same bytes, to the next one until one
//! acknowledges it (for up to 60 s after the end), as a load balancer's client would;
//! `acked=` then counts the events of acknowledged batches (accepted or duplicates), which
//! `scripts/bench-scaleout` compares with what the database holds.
//!
//! With `BENCH_TRACE=FILE` it also writes FILE: a line `# started UNIX_SECONDS`, then one line
//! per batch, `DUE_MS LATENCY_MS`, due time counted from the start (`scripts/bench-trace`
//! summarises it).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

const BATCH: usize = 500;

/// A small deterministic PRNG (xorshift), so runs are repeatable without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let urls: Vec<String> = args
        .get(1)
        .map_or("http://127.0.0.1:8787", String::as_str)
        .split(',')
        .map(str::to_owned)
        .collect();
    let url = urls[0].clone();
    let admin = args.get(2).cloned().unwrap_or_default();
    let key = args.get(3).cloned().unwrap_or_default();
    let seconds: u64 = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(30);
    let concurrency: usize = args.get(5).and_then(|s| s.parse().ok()).unwrap_or(8);
    let tests: usize = args.get(6).and_then(|s| s.parse().ok()).unwrap_or(5);
    let units: u64 = args
        .get(7)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let rate: f64 = args.get(8).and_then(|s| s.parse().ok()).unwrap_or(0.0);
    // Per client, the time between two batches' due times.
    let every =
        (rate > 0.0).then(|| Duration::from_secs_f64(BATCH as f64 * concurrency as f64 / rate));

    let client = reqwest::Client::new();
    let run = std::process::id();
    for t in 0..tests {
        let spec = json!({
            "key": format!("bench-{run}-{t}"),
            "variants": [{"key": "control", "weight": 1}, {"key": "b", "weight": 1}],
            "metrics": [{"key": "buy", "kind": "binomial", "role": "primary"},
                        {"key": "revenue", "kind": "value"}]
        });
        for (method, path, body) in [
            ("POST", "/api/v1/tests".to_owned(), Some(spec)),
            ("POST", format!("/api/v1/tests/bench-{run}-{t}/start"), None),
        ] {
            let mut req = client
                .request(method.parse()?, format!("{url}{path}"))
                .bearer_auth(&admin);
            if let Some(b) = body {
                req = req.json(&b);
            }
            let resp = req.send().await?;
            anyhow::ensure!(resp.status().is_success(), "{path}: {}", resp.text().await?);
        }
    }

    let sent = Arc::new(AtomicU64::new(0));
    let accepted = Arc::new(AtomicU64::new(0));
    let acked = Arc::new(AtomicU64::new(0));
    let retries = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let started_wall = std::time::SystemTime::now();
    let mut handles = Vec::new();
    for worker in 0..concurrency {
        let (client, urls, key) = (client.clone(), urls.clone(), key.clone());
        let (sent, accepted) = (sent.clone(), accepted.clone());
        let (acked, retries) = (acked.clone(), retries.clone());
        let mut at = worker % urls.len();
        handles.push(tokio::spawn(async move {
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((worker as u64 + 1) << 32) ^ u64::from(run));
            let mut latencies = Vec::new();
            let mut seq = 0u64;
            // Clients start spread over one period.
            let mut due = every.map(|e| started + e * worker as u32 / concurrency as u32);
            while Instant::now() < deadline {
                // Built as text: the load generator shares the machine with the server, so
                // it should spend as little CPU as possible.
                let mut body = String::with_capacity(BATCH * 190);
                body.push_str("{\"events\":[");
                let now_ms = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64);
                for i in 0..BATCH {
                    seq += 1;
                    let r = rng.next();
                    let unit = r % units;
                    let test = (r >> 20) as usize % tests;
                    let variant = if (r >> 30) & 1 == 0 { "control" } else { "b" };
                    if i > 0 {
                        body.push(',');
                    }
                    // Random 128-bit ids, like the snippet's crypto.randomUUID(): the events
                    // table's key gets no help from insertion order.
                    let id = (u128::from(rng.next()) << 64) | u128::from(rng.next() ^ seq);
                    // Stamped when they happened, as the snippet and the edge do: in the last
                    // two seconds, in no particular order.
                    let ts = now_ms - ((r >> 54) % 2000) as i64;
                    let common = format!(
                        "\"event_id\":\"{id:032x}\",\"unit_id\":\"u{unit}\",\
                         \"test\":\"bench-{run}-{test}\",\"variant\":\"{variant}\",\
                         \"device\":\"mobile\",\"ts\":{ts}"
                    );
                    match (r >> 40) % 10 {
                        0..=6 => body.push_str(&format!("{{\"type\":\"exposure\",{common}}}")),
                        7 | 8 => body.push_str(&format!(
                            "{{\"type\":\"conversion\",\"metric\":\"buy\",{common}}}"
                        )),
                        _ => body.push_str(&format!(
                            "{{\"type\":\"conversion\",\"metric\":\"revenue\",\"value\":{},{common}}}",
                            (r >> 50) % 100
                        )),
                    }
                }
                body.push_str("]}");
                let t0 = match due {
                    Some(at) => {
                        tokio::time::sleep_until(at.into()).await;
                        due = Some(at + every.unwrap_or_default());
                        at
                    }
                    None => Instant::now(),
                };
                let body = axum::body::Bytes::from(body);
                let mut ok = None;
                while Instant::now() < deadline + Duration::from_secs(60) {
                    let resp = client
                        .post(format!("{}/v1/events", urls[at]))
                        .bearer_auth(&key)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await;
                    let failed = match resp {
                        Ok(r) if r.status().is_success() => {
                            ok = r.json::<serde_json::Value>().await.ok();
                            ok.is_none()
                        }
                        Ok(r) if r.status().is_server_error() => true,
                        Ok(r) => {
                            eprintln!("status {}", r.status());
                            break;
                        }
                        Err(_) => true,
                    };
                    if !failed || urls.len() == 1 {
                        break;
                    }
                    // Another replica takes it: the same bytes again.
                    at = (at + 1) % urls.len();
                    retries.fetch_add(1, Ordering::Relaxed);
                }
                latencies.push((t0 - started, t0.elapsed()));
                sent.fetch_add(BATCH as u64, Ordering::Relaxed);
                if let Some(v) = ok {
                    let (a, d) = (v["accepted"].as_u64(), v["duplicates"].as_u64());
                    accepted.fetch_add(a.unwrap_or(0), Ordering::Relaxed);
                    acked.fetch_add(a.unwrap_or(0) + d.unwrap_or(0), Ordering::Relaxed);
                }
            }
            latencies
        }));
    }
    let mut trace = Vec::new();
    for h in handles {
        trace.extend(h.await?);
    }
    if let Ok(path) = std::env::var("BENCH_TRACE") {
        trace.sort();
        let lines: Vec<String> = trace
            .iter()
            .map(|(at, l)| format!("{:.1} {:.1}", at.as_secs_f64() * 1e3, l.as_secs_f64() * 1e3))
            .collect();
        let wall = started_wall
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs_f64();
        std::fs::write(path, format!("# started {wall:.3}\n{}\n", lines.join("\n")))?;
    }
    let mut lat: Vec<Duration> = trace.into_iter().map(|(_, l)| l).collect();
    let elapsed = started.elapsed().as_secs_f64();
    lat.sort();
    let pct =
        |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)].as_secs_f64() * 1e3;
    let acc = accepted.load(Ordering::Relaxed);
    println!(
        "batches={} events_sent={} accepted={} acked={} retries={} elapsed_s={:.1} events_per_s={:.0} \
         p50_ms={:.1} p99_ms={:.1} max_ms={:.1} concurrency={concurrency} tests={tests} units={units} \
         offered_rate={}",
        lat.len(),
        sent.load(Ordering::Relaxed),
        acc,
        acked.load(Ordering::Relaxed),
        retries.load(Ordering::Relaxed),
        elapsed,
        acc as f64 / elapsed,
        pct(0.50),
        pct(0.99),
        pct(1.0),
        if rate > 0.0 { format!("{rate:.0}") } else { "max".into() },
    );
    Ok(())
}
