//! SQLite's events spread over several files: the same events give the same aggregates on
//! one file and on three, each file really holds its share, unit deletion reaches the file
//! that holds the unit, and the file count is fixed when the database is created.

use edgewise_control::config::DbArgs;
use edgewise_control::db::{shard_of, Db};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::{conversion, exposure, Backend, TestApp};

async fn sqlite_app(shards: u32) -> TestApp {
    TestApp::spawn_with(Backend::Sqlite, |c| c.db.sqlite_shards = shards)
        .await
        .expect("SQLite always runs")
}

/// 120 units over two tests: exposures, conversions of both kinds, a conversion before
/// any exposure, and every event sent twice.
fn events() -> Vec<Value> {
    let mut events = Vec::new();
    for u in 0..120 {
        let unit = format!("u{u}");
        let test = if u % 3 == 0 { "t2" } else { "t" };
        let variant = if u % 2 == 0 { "control" } else { "b" };
        if u % 10 == 9 {
            events.push(conversion(&format!("early{u}"), &unit, test, "buy", None));
        }
        events.push(exposure(&format!("e{u}"), &unit, test, variant));
        if u % 4 == 0 {
            events.push(conversion(&format!("c{u}"), &unit, test, "buy", None));
        }
        if u % 5 == 0 {
            let value = f64::from(u) / 4.0;
            events.push(conversion(
                &format!("v{u}"),
                &unit,
                test,
                "revenue",
                Some(value),
            ));
            events.push(conversion(
                &format!("w{u}"),
                &unit,
                test,
                "revenue",
                Some(1.0),
            ));
        }
    }
    events
}

async fn ingest_twice(app: &TestApp) -> (Value, Value) {
    app.running_test("t").await;
    app.running_test("t2").await;
    let key = app.ingest_key().await;
    let all = events();
    let (s, first) = app.ingest(&key, json!(all)).await;
    assert_eq!(s, StatusCode::OK, "{first}");
    let (s, again) = app.ingest(&key, json!(all)).await;
    assert_eq!(s, StatusCode::OK, "{again}");
    assert_eq!(again["accepted"], 0, "{again}");
    assert_eq!(again["duplicates"].as_u64(), first["accepted"].as_u64());
    (aggregates(app, "t").await, aggregates(app, "t2").await)
}

async fn aggregates(app: &TestApp, test: &str) -> Value {
    let (s, a) = app.get(&format!("/api/v1/tests/{test}/aggregates")).await;
    assert_eq!(s, StatusCode::OK, "{a}");
    a
}

async fn events_per_file(db: &Db) -> Vec<i64> {
    let mut counts = Vec::new();
    for schema in db.shard_schemas() {
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {schema}.events"))
            .fetch_one(&db.reader)
            .await
            .unwrap();
        counts.push(n);
    }
    counts
}

async fn delete(app: &TestApp, unit: &str) -> Value {
    let path = format!("/api/v1/units/{unit}");
    let (s, d) = app
        .call(Method::DELETE, &path, Some(&app.admin), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{d}");
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_files_count_like_one() {
    let one = sqlite_app(1).await;
    let three = sqlite_app(3).await;
    assert_eq!(one.db.shard_schemas(), ["main"]);
    assert_eq!(three.db.shard_schemas(), ["main", "shard1", "shard2"]);

    let expected = ingest_twice(&one).await;
    assert_eq!(ingest_twice(&three).await, expected);
    let units: i64 = expected.0["aggregates"]["exposures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["units"].as_i64().unwrap())
        .sum();
    assert_eq!(units, 80, "{}", expected.0);

    // Every file holds its share; together they hold each event once.
    let per_file = events_per_file(&three.db).await;
    assert!(per_file.iter().all(|&n| n > 0), "{per_file:?}");
    let stored: i64 = per_file.iter().sum();
    assert_eq!(stored, events_per_file(&one.db).await[0]);

    // A unit held by the last file and one held by the main file, deleted on both layouts.
    let unit_in = |k: usize| {
        (0..120)
            .filter(|u| u % 3 != 0)
            .map(|u| format!("u{u}"))
            .find(|u| shard_of("t", u, 3) == k)
            .unwrap()
    };
    for unit in [unit_in(2), unit_in(0)] {
        let before = events_per_file(&three.db).await;
        let gone = delete(&three, &unit).await;
        assert_eq!(delete(&one, &unit).await, gone);
        assert!(gone["events"].as_u64().unwrap() >= 1, "{gone}");
        let after = events_per_file(&three.db).await;
        let k = shard_of("t", &unit, 3);
        assert_eq!(
            before[k] - after[k],
            gone["events"].as_i64().unwrap(),
            "{unit} is in file {k}"
        );
    }
    assert_eq!(aggregates(&three, "t").await, aggregates(&one, "t").await);
    assert_ne!(
        aggregates(&three, "t").await,
        expected.0,
        "the deletions show"
    );
    one.shutdown().await;
    three.shutdown().await;
}

#[tokio::test]
async fn the_file_count_is_fixed_when_the_database_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let args = file_args(&dir);
    let db = Db::connect(&args(3), "NORMAL").await.unwrap();
    db.close().await;
    let db = Db::connect(&args(1), "NORMAL").await.unwrap();
    assert_eq!(db.shard_schemas(), ["main", "shard1", "shard2"]);
    db.close().await;

    std::fs::remove_file(dir.path().join("e.db.shard2")).unwrap();
    let err = Db::connect(&args(3), "NORMAL").await.unwrap_err();
    assert!(err.to_string().contains("e.db.shard2 is missing"), "{err}");
}

/// The other files are created before their count is recorded, so a first start that fails
/// in between records nothing, and the next start decides again.
#[tokio::test]
async fn a_first_start_that_failed_to_create_the_files_records_no_count() {
    let dir = tempfile::tempdir().unwrap();
    let args = file_args(&dir);
    // A directory where the second file should go makes creating it fail.
    let blocker = dir.path().join("e.db.shard1");
    std::fs::create_dir(&blocker).unwrap();
    assert!(Db::connect(&args(3), "NORMAL").await.is_err());
    std::fs::remove_dir(&blocker).unwrap();

    let db = Db::connect(&args(2), "NORMAL").await.unwrap();
    assert_eq!(db.shard_schemas(), ["main", "shard1"]);
    db.close().await;
    let db = Db::connect(&args(3), "NORMAL").await.unwrap();
    assert_eq!(db.shard_schemas(), ["main", "shard1"], "2 is now recorded");
    db.close().await;
}

/// `DbArgs` for `e.db` in `dir`, by file count.
fn file_args(dir: &tempfile::TempDir) -> impl Fn(u32) -> DbArgs {
    let url = format!("sqlite://{}/e.db", dir.path().display());
    move |shards| DbArgs {
        sqlite_shards: shards,
        ..DbArgs::new(&url)
    }
}
