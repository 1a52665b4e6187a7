//! SQLite's ingestion writer commits every waiting batch in one transaction; when that
//! transaction fails, it retries the batches one by one, so one failing batch cannot fail
//! the others. A trigger on the real database makes one batch fail.

use std::time::Duration;

use edgewise_control::config::DbArgs;
use edgewise_control::db::events::NewEvent;
use edgewise_control::db::Db;
use edgewise_control::writer::Writer;
use edgewise_shared::beacon::EventKind;

fn exposure(id: &str, unit: &str) -> NewEvent {
    NewEvent {
        event_id: id.into(),
        kind: EventKind::Exposure,
        unit_id: unit.into(),
        test: "t".into(),
        variant: "control".into(),
        metric: None,
        value: None,
        reads: Default::default(),
        device: "mobile".into(),
        persona: String::new(),
        ts: 1_000,
        snapshot_version: Some(1),
        propensity: None,
        stratum: None,
        dims: Vec::new(),
        covs: Vec::new(),
        logged_by: Default::default(),
        site: "s".into(),
        received_at: 1_000,
    }
}

#[tokio::test]
async fn a_failing_batch_does_not_fail_the_batches_committed_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/w.db", dir.path().display());
    let mut args = DbArgs::new(&url);
    args.sqlite_shards = 1;
    let db = Db::connect(&args, "NORMAL").await.unwrap();
    sqlx::raw_sql(
        "CREATE TRIGGER poison BEFORE INSERT ON events WHEN NEW.event_id = 'poison' \
         BEGIN SELECT RAISE(ABORT, 'poisoned event'); END;",
    )
    .execute(&db.writer)
    .await
    .unwrap();
    let writer = Writer::spawn(&db.sqlite, 1 << 20).unwrap();

    // Hold the file's write turn: the writer takes the first batch and waits for the turn,
    // while the next two queue up behind it and are then committed together.
    let turn = db.sqlite[0].gate.clone().lock_owned().await;
    let submit = |events: Vec<NewEvent>| {
        let writer = writer.clone();
        tokio::spawn(async move { writer.submit(events).await })
    };
    let first = submit(vec![exposure("a", "u1")]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let good = submit(vec![exposure("b", "u2"), exposure("c", "u3")]);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let bad = submit(vec![exposure("d", "u4"), exposure("poison", "u5")]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(turn);

    let first = first.await.unwrap().unwrap();
    assert_eq!((first.accepted, first.duplicates), (1, 0));
    let good = good
        .await
        .unwrap()
        .expect("the good batch is committed on its own");
    assert_eq!((good.accepted, good.duplicates), (2, 0));
    let bad = bad.await.unwrap().expect_err("the poisoned batch fails");
    assert!(bad.to_string().contains("poisoned event"), "{bad}");

    // Nothing of the failed batch is stored; everything of the others is, and counted.
    let stored: Vec<String> = sqlx::query_scalar("SELECT event_id FROM events ORDER BY event_id")
        .fetch_all(&db.reader)
        .await
        .unwrap();
    assert_eq!(stored, ["a", "b", "c"]);
    let units: i64 = sqlx::query_scalar("SELECT SUM(units) FROM agg_exposures")
        .fetch_one(&db.reader)
        .await
        .unwrap();
    assert_eq!(units, 3);
}
