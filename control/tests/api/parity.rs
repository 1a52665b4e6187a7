//! Engine parity: SQLite and PostgreSQL fed the same stream, with copies inside a batch, events
//! re-sent in later batches, whole batches re-sent, an id reused at another time (a new event
//! on both), conversions before their unit's exposure and second exposures, answer every
//! batch with the same counts and end with the same raw events, unit rows and aggregates.

use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::Row;

use crate::common::{Backend, Lcg, TestApp};

/// A seeded stream in batches of events, as a website would send them.
fn stream() -> Vec<Vec<Value>> {
    let mut rng = Lcg(20_261_207);
    let t0 = edgewise_control::db::now_ms() - 3_600_000;
    let mut all: Vec<Value> = Vec::new();
    for u in 0..400 {
        let unit = format!("u{u}");
        let variant = if rng.below(2) == 0 { "control" } else { "b" };
        let device = ["mobile", "desktop", "tablet"][rng.below(3) as usize];
        let ts = t0 + rng.below(1_000_000) as i64;
        let event = |id: String, kind: &str, ts: i64| {
            json!({"event_id": id, "type": kind, "unit_id": unit, "test": "t",
                   "variant": variant, "device": device, "ts": ts})
        };
        all.push(event(format!("x{u}"), "exposure", ts));
        if u % 7 == 0 {
            // A second exposure later: it changes nothing about the unit.
            all.push(event(format!("x{u}b"), "exposure", ts + 5_000));
        }
        for c in 0..rng.below(3) {
            // Some conversions come before the exposure they follow on the site.
            let at = ts + rng.below(600_000) as i64 - 60_000;
            let mut buy = event(format!("b{u}-{c}"), "conversion", at);
            buy["metric"] = json!("buy");
            all.push(buy);
            let mut rev = event(format!("r{u}-{c}"), "conversion", at + 1);
            rev["metric"] = json!("revenue");
            rev["value"] = json!((rng.below(10_000) as f64) / 100.0);
            all.push(rev);
        }
        if u % 50 == 0 {
            // The same id at another time: a new event on both engines.
            let mut again = event(format!("b{u}-0"), "conversion", ts + 7_777);
            again["metric"] = json!("buy");
            all.push(again);
        }
    }
    // Shuffled into batches of about 100, with copies and re-sends.
    for i in (1..all.len()).rev() {
        all.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let mut batches: Vec<Vec<Value>> = Vec::new();
    for chunk in all.chunks(100) {
        let mut batch = chunk.to_vec();
        batch.push(chunk[0].clone()); // a copy inside the batch
        if let Some(prev) = batches.last() {
            batch.extend(prev.iter().take(5).cloned()); // re-sent from the last batch
        }
        batches.push(batch);
        if batches.len().is_multiple_of(4) {
            batches.push(batches.last().unwrap().clone()); // the whole batch again
        }
    }
    batches
}

/// Every row of `table` over the database's files, as sorted text lines.
async fn rows(app: &TestApp, table: &str, cols: &str) -> Vec<String> {
    let mut conn = app.db.reader.acquire().await.unwrap();
    let schemas = app.db.shard_schemas();
    let tables: Vec<String> = if schemas.is_empty() {
        vec![table.to_owned()]
    } else {
        schemas.iter().map(|s| format!("{s}.{table}")).collect()
    };
    let n = cols.split(',').count();
    let mut out = Vec::new();
    for t in tables {
        let sql = format!("SELECT {cols} FROM {t}");
        for r in sqlx::query(&sql).fetch_all(&mut *conn).await.unwrap() {
            let line: Vec<String> = (0..n)
                .map(|i| {
                    r.try_get::<String, _>(i)
                        .or_else(|_| r.try_get::<i64, _>(i).map(|x| x.to_string()))
                        .or_else(|_| r.try_get::<f64, _>(i).map(|x| format!("{x:.6}")))
                        .unwrap_or_else(|_| "NULL".into())
                })
                .collect();
            out.push(line.join("|"));
        }
    }
    out.sort();
    out
}

/// Equal row sets, or a failure naming the first rows only one side has.
fn same(a: &[String], b: &[String], what: &str) {
    let only = |x: &[String], y: &[String]| -> Vec<String> {
        x.iter()
            .filter(|r| !y.contains(r))
            .take(5)
            .cloned()
            .collect()
    };
    assert!(
        a == b,
        "{what}: {} vs {} rows; only on SQLite {:?}; only on PostgreSQL {:?}",
        a.len(),
        b.len(),
        only(a, b),
        only(b, a)
    );
}

/// The aggregate rows, each list sorted, with sums rounded to 1e-6 (the engines add in their
/// own order).
fn normalized(v: &Value) -> Value {
    match v {
        Value::Array(items) => {
            let mut items: Vec<Value> = items.iter().map(normalized).collect();
            items.sort_by_key(|x| x.to_string());
            Value::Array(items)
        }
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, x)| (k.clone(), normalized(x))).collect())
        }
        Value::Number(n) if n.is_f64() => json!((n.as_f64().unwrap() * 1e6).round() / 1e6),
        x => x.clone(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_and_postgres_count_one_stream_alike() {
    let Some(sqlite) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let Some(pg) = TestApp::spawn(Backend::Postgres).await else {
        return;
    };
    let batches = stream();
    let mut answers = [Vec::new(), Vec::new()];
    for (app, answers) in [&sqlite, &pg].into_iter().zip(answers.iter_mut()) {
        app.running_test("t").await;
        let key = app.ingest_key().await;
        for b in &batches {
            let (s, r) = app.ingest(&key, json!(b)).await;
            assert_eq!(s, StatusCode::OK, "{r}");
            answers.push((
                r["accepted"].clone(),
                r["duplicates"].clone(),
                r["rejected"].clone(),
            ));
        }
    }
    assert_eq!(answers[0], answers[1], "each batch answered alike");
    let duplicates: u64 = answers[0].iter().map(|a| a.1.as_u64().unwrap()).sum();
    assert!(duplicates > 150, "the stream re-sends: {duplicates}");
    let sent: usize = batches.iter().map(Vec::len).sum();
    eprintln!(
        "parity: {sent} events in {} batches, {duplicates} duplicates",
        batches.len()
    );

    // PostgreSQL stores an absent metric and value as '' and 0 (its multi-row inserts bind
    // no NULLs), SQLite as NULL: the same event either way.
    let events = "event_id, kind, unit_id, test, variant, metric, value, device, persona, ts";
    let absent = |rows: Vec<String>| -> Vec<String> {
        let mut out: Vec<String> = rows
            .into_iter()
            .map(|r| {
                let mut f: Vec<&str> = r.split('|').collect();
                for (i, none) in [(5, ""), (6, "0.000000")] {
                    if f[i] == "NULL" {
                        f[i] = none;
                    }
                }
                f.join("|")
            })
            .collect();
        out.sort();
        out
    };
    let a = absent(rows(&sqlite, "events", events).await);
    let b = absent(rows(&pg, "events", events).await);
    same(&a, &b, "raw events");
    for (table, cols) in [
        ("exposures", "test, unit_id, variant, device, persona, ts"),
        ("unit_metrics", "test, unit_id, metric, conversions, value"),
    ] {
        let (a, b) = (
            rows(&sqlite, table, cols).await,
            rows(&pg, table, cols).await,
        );
        assert!(!a.is_empty());
        same(&a, &b, table);
    }
    let (_, a) = sqlite.get("/api/v1/tests/t/aggregates").await;
    let (_, b) = pg.get("/api/v1/tests/t/aggregates").await;
    assert_eq!(normalized(&a["aggregates"]), normalized(&b["aggregates"]));
    sqlite.shutdown().await;
    pg.shutdown().await;
}
