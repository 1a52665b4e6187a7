//! One monitor tick over many running tests, timed: `cargo run --release -p edgewise-control
//! --example bench_monitor -- DATABASE_URL [tests] [ticks]`; `scripts/bench-monitor` wraps it.
//!
//! It fills a fresh database with `tests` running tests (default 1,000), each with two
//! variants, three metrics (a binomial primary, a value metric, a binomial guardrail) and 16
//! segments (4 device classes × 4 personas, one aggregate cell per variant and segment), all
//! written straight into the tables, then runs `ticks` ticks (default 5). The first tick also
//! closes a history bucket (every cell copied into the history); the others only evaluate,
//! store the evaluations and plan. It prints each tick's time, then the time of the poll the
//! dashboard's live stream makes every 0.5 s while a stream is open (`hub::poll`).

use std::time::Instant;

use edgewise_control::config::DbArgs;
use edgewise_control::db::{now_ms, Db};
use edgewise_control::jobs::monitor::tick;

const DEVICES: [&str; 4] = ["mobile", "tablet", "desktop", "bot"];
const PERSONAS: [&str; 4] = ["", "p1", "p2", "p3"];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let url = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "sqlite://bench-monitor.db".into());
    let tests: usize = args.get(2).map_or(Ok(1000), |s| s.parse())?;
    let ticks: usize = args.get(3).map_or(Ok(5), |s| s.parse())?;
    let db = Db::connect(&DbArgs::new(&url), "NORMAL").await?;
    let started = Instant::now();
    let now = now_ms();
    let mut tx = db.writer.begin().await?;
    for t in 0..tests {
        let key = format!("t{t:04}");
        let spec = serde_json::json!({
            "key": key,
            "variants": [{"key": "control", "weight": 1}, {"key": "b", "weight": 1}],
            "metrics": [
                {"key": "buy", "kind": "binomial", "role": "primary"},
                {"key": "revenue", "kind": "value", "role": "secondary"},
                {"key": "errors", "kind": "binomial", "role": "guardrail", "higher_is_better": false}
            ]
        });
        sqlx::query(
            "INSERT INTO tests (key, status, winner, spec, created_at, updated_at, started_at) \
             VALUES ($1, 'running', NULL, $2, $3, $3, $4)",
        )
        .bind(&key)
        .bind(spec.to_string())
        .bind(now)
        .bind(now - 3 * 86_400_000)
        .execute(&mut *tx)
        .await?;
        for variant in ["control", "b"] {
            for device in DEVICES {
                for persona in PERSONAS {
                    // Equal arms: a steady state with nothing to alert on or act upon.
                    let units = 1000 + (t as i64 * 7) % 50;
                    sqlx::query(
                        "INSERT INTO agg_exposures (test, variant, device, persona, units) \
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(&key)
                    .bind(variant)
                    .bind(device)
                    .bind(persona)
                    .bind(units)
                    .execute(&mut *tx)
                    .await?;
                    for (metric, converted, sum, sum_sq) in [
                        ("buy", units / 10, (units / 10) as f64, (units / 10) as f64),
                        (
                            "revenue",
                            units / 20,
                            40.0 * units as f64,
                            3000.0 * units as f64,
                        ),
                        (
                            "errors",
                            units / 100,
                            (units / 100) as f64,
                            (units / 100) as f64,
                        ),
                    ] {
                        sqlx::query(
                            "INSERT INTO agg_metrics \
                             (test, variant, device, persona, metric, units, sum, sum_sq) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                        )
                        .bind(&key)
                        .bind(variant)
                        .bind(device)
                        .bind(persona)
                        .bind(metric)
                        .bind(converted)
                        .bind(sum)
                        .bind(sum_sq)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
            }
        }
    }
    tx.commit().await?;
    println!(
        "database: {}, {tests} running tests × 3 metrics × 16 segments × 2 variants, filled in {:.1} s",
        url.split("://").next().unwrap_or("?"),
        started.elapsed().as_secs_f64()
    );
    for i in 0..ticks {
        let t = Instant::now();
        let report = tick(&db, now_ms(), 3_600_000).await?;
        println!(
            "tick {}: {:.1} ms ({} tests, bucket closed: {}, {} alerts, {} actions)",
            i + 1,
            t.elapsed().as_secs_f64() * 1000.0,
            report.tests,
            report.closed_bucket.is_some(),
            report.alerts,
            report.actions.len()
        );
    }
    // What every process with an open dashboard stream does every 0.5 s (crate::hub).
    let mut cursor = edgewise_control::hub::baseline(&db).await?;
    let mut polls = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        edgewise_control::hub::poll(&db, &mut cursor).await?;
        polls.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    polls.sort_by(f64::total_cmp);
    println!(
        "live-stream poll: median {:.1} ms, worst {:.1} ms (20 polls)",
        polls[polls.len() / 2],
        polls[polls.len() - 1]
    );
    db.close().await;
    Ok(())
}
