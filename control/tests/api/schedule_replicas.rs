//! A scheduled start and end under two replicas of the real `edgewise` binary on one
//! PostgreSQL, ticking every second: the leader starts the test at its `start_at` and is
//! killed with SIGKILL while the test runs; the follower takes over, a replacement replica
//! joins as a follower, and the new leader stops the test at its `end_at`. Through all of it
//! the schedule fires once: one `test.start` and one `test.stop` by the `monitor` (the stop
//! after the kill), one snapshot version that starts the test and one that ends it, and the
//! status never goes back.

use std::time::{Duration, Instant};

use edgewise_control::db::now_ms;
use edgewise_shared::timestamp::format_rfc3339_ms;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::binary::{serve_with, setup, Server};
use crate::common::{fresh_database, test_spec, Backend};

const KEY: &str = "sched";
/// The runner ticks every second on the leader.
const ARGS: [&str; 2] = ["--monitor-interval-secs", "1"];

async fn get(client: &reqwest::Client, token: &str, url: String) -> Option<Value> {
    let r = client.get(url).bearer_auth(token).send().await.ok()?;
    if r.status() != StatusCode::OK {
        return None;
    }
    r.json().await.ok()
}

/// Which of `servers` leads the monitor, once exactly one says so (never both).
async fn leader(client: &reqwest::Client, token: &str, servers: &[&Server]) -> usize {
    let started = Instant::now();
    loop {
        let mut leading = Vec::new();
        for (i, s) in servers.iter().enumerate() {
            let m = get(client, token, format!("{}/api/v1/monitor", s.base)).await;
            if m.is_some_and(|m| m["leader"] == true) {
                leading.push(i);
            }
        }
        assert!(leading.len() < 2, "replicas {leading:?} all lead");
        if let [one] = leading[..] {
            return one;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no replica leads after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The test's status as `server` reads it, with when it was read (Unix ms).
async fn status(client: &reqwest::Client, token: &str, server: &Server) -> Option<(String, i64)> {
    let t = get(client, token, format!("{}/api/v1/tests/{KEY}", server.base)).await?;
    Some((t["status"].as_str()?.to_owned(), now_ms()))
}

/// Polls the status on `servers` until it reads `want` (by `deadline`, Unix ms), checking
/// that nothing else than `allowed` is seen meanwhile; returns when `want` was first seen.
async fn wait_status(
    client: &reqwest::Client,
    token: &str,
    servers: &[&Server],
    allowed: &str,
    want: &str,
    deadline: i64,
) -> i64 {
    loop {
        for s in servers {
            let Some((st, at)) = status(client, token, s).await else {
                continue;
            };
            if st == want {
                return at;
            }
            assert_eq!(
                st, allowed,
                "the test went from {allowed} to {st}, not {want}"
            );
        }
        assert!(
            now_ms() < deadline,
            "{KEY} still {allowed} {} ms after it should be {want}",
            now_ms() - deadline
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_fires_once_with_two_replicas_and_a_kill9_of_the_leader() {
    let dir = tempfile::tempdir().unwrap();
    let Some(url) = fresh_database(Backend::Postgres, dir.path()).await else {
        return;
    };
    let (token, _) = setup(&url).await;
    let mut a = serve_with(&url, &ARGS).await;
    let mut b = serve_with(&url, &ARGS).await;
    let client = reqwest::Client::new();
    let first = leader(&client, &token, &[&a, &b]).await;
    if first == 1 {
        std::mem::swap(&mut a, &mut b);
    }
    // `a` leads, `b` follows.

    let now = now_ms();
    let (start_at, end_at) = (now + 3_000, now + 10_000);
    let mut spec = test_spec(KEY);
    spec["scheduled"] = json!(true);
    spec["start_at"] = json!(format_rfc3339_ms(start_at));
    spec["end_at"] = json!(format_rfc3339_ms(end_at));
    let r = client
        .post(format!("{}/api/v1/tests", b.base))
        .bearer_auth(&token)
        .json(&spec)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap()
    );

    // Started by the leader at its first tick after `start_at` (a tick a second, plus slack).
    let running_at = wait_status(
        &client,
        &token,
        &[&a, &b],
        "draft",
        "running",
        start_at + 4_000,
    )
    .await;
    assert!(
        running_at >= start_at,
        "running {} ms early",
        start_at - running_at
    );
    eprintln!("started {} ms after start_at", running_at - start_at);

    // kill -9 the leader while the test runs: the follower takes over, then a replacement
    // replica joins (and follows).
    a.child.kill().await.unwrap();
    let killed_at = now_ms();
    assert!(killed_at < end_at - 3_000, "too late to test a takeover");
    leader(&client, &token, &[&b]).await;
    eprintln!("b leads {} ms after the kill", now_ms() - killed_at);
    let c = serve_with(&url, &ARGS).await;
    assert_eq!(
        leader(&client, &token, &[&b, &c]).await,
        0,
        "b keeps the lead"
    );

    let stopped_at = wait_status(
        &client,
        &token,
        &[&b, &c],
        "running",
        "stopped",
        end_at + 4_000,
    )
    .await;
    assert!(
        stopped_at >= end_at,
        "stopped {} ms early",
        end_at - stopped_at
    );
    eprintln!("stopped {} ms after end_at", stopped_at - end_at);
    // Three more ticks: nothing fires again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(status(&client, &token, &b).await.unwrap().0, "stopped");

    let audit = get(
        &client,
        &token,
        format!("{}/api/v1/audit?limit=500", c.base),
    )
    .await
    .unwrap();
    let moves: Vec<(&str, &str, i64)> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["target"] == KEY && e["action"] != "test.create")
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["actor"].as_str().unwrap(),
                e["at"].as_i64().unwrap(),
            )
        })
        .collect();
    let actions: Vec<(&str, &str)> = moves.iter().map(|m| (m.0, m.1)).collect();
    assert_eq!(
        actions,
        [("test.start", "monitor"), ("test.stop", "monitor")],
        "the test's moves in the audit log"
    );
    assert!(
        moves[0].2 >= start_at && moves[0].2 < killed_at,
        "start audited at {}",
        moves[0].2
    );
    assert!(
        moves[1].2 >= end_at && moves[1].2 > killed_at,
        "stop audited at {}: not by a replica alive after the kill",
        moves[1].2
    );

    // The snapshots: one version starts the test, one ends it, and it never starts twice.
    let list = get(
        &client,
        &token,
        format!("{}/api/v1/snapshots?limit=100", b.base),
    )
    .await
    .unwrap();
    let mut metas: Vec<&Value> = list["snapshots"].as_array().unwrap().iter().collect();
    metas.sort_by_key(|m| m["version"].as_i64());
    let by = |reason: &str| -> Vec<&str> {
        metas
            .iter()
            .filter(|m| m["reason"] == reason)
            .map(|m| m["created_by"].as_str().unwrap())
            .collect()
    };
    assert_eq!(by("test.start"), ["monitor"], "{list}");
    assert_eq!(by("test.stop"), ["monitor"], "{list}");
    let mut served = Vec::new();
    for m in &metas {
        let body = get(
            &client,
            &token,
            format!("{}/api/v1/snapshots/{}", b.base, m["version"]),
        )
        .await
        .unwrap();
        let test = body["tests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["key"] == KEY);
        let st = test.map_or("absent".to_owned(), |t| {
            t["status"].as_str().unwrap().to_owned()
        });
        if served.last() != Some(&st) && !(served.is_empty() && st == "absent") {
            served.push(st);
        }
    }
    // A stopped test is published paused, serving its control.
    assert_eq!(served, ["running", "paused"], "{list}");
    let versions: Vec<String> = metas
        .iter()
        .map(|m| format!("v{} {} by {}", m["version"], m["reason"], m["created_by"]))
        .collect();
    eprintln!("snapshots: {versions:?}");
}
