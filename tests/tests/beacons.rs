//! `POST /v1/events` on the built worker: validation, and forwarding through the queue to a
//! stand-in for the control plane (`edgewise_tests::receiver`; the real control plane is not
//! merged yet and will replace it), including an outage that must lose nothing.

use std::time::{Duration, Instant};

use edgewise_tests::gen::{self, NOW_MS};
use edgewise_tests::receiver::{Mode, Receiver};
use edgewise_tests::tools;
use edgewise_tests::worker::{Worker, INGEST_KEY};
use serde_json::{json, Value};

const DESKTOP: &str = gen::USER_AGENTS[0];

fn example_snapshot() -> String {
    std::fs::read_to_string(tools::root().join("docs/example-snapshot.json"))
        .unwrap_or_else(|e| panic!("docs/example-snapshot.json: {e}"))
}

fn exposure(id: &str) -> Value {
    json!({"event_id": id, "type": "exposure", "test": "hero-headline", "variant": "benefit"})
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn bad_beacons_get_400_and_good_ones_202() {
    let worker = Worker::start(&[]);
    let text = [
        ("content-type", "text/plain;charset=UTF-8"),
        ("user-agent", DESKTOP),
    ];
    let post =
        |headers: &[(&str, &str)], body: &[u8]| worker.post("/v1/events?unit=u1", headers, body);

    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<u8>, &'a str);
    let cases: Vec<Case> = vec![
        ("malformed", text.to_vec(), b"{\"events\": [".to_vec(), "malformed_json"),
        ("not an object", text.to_vec(), b"[1, 2]".to_vec(), "malformed_json"),
        ("events not a list", text.to_vec(), br#"{"events": 3}"#.to_vec(), "malformed_json"),
        ("empty batch", text.to_vec(), br#"{"events": []}"#.to_vec(), "bad_batch_size"),
        (
            "wrong content type",
            vec![("content-type", "application/x-www-form-urlencoded")],
            exposure("e1").to_string().into_bytes(),
            "unsupported_content_type",
        ),
        (
            "oversized",
            text.to_vec(),
            json!({"events": (0..1200).map(|i| exposure(&format!("big-{i:04}"))).collect::<Vec<_>>()})
                .to_string()
                .into_bytes(),
            "payload_too_large",
        ),
        (
            "conversion without metric",
            text.to_vec(),
            json!({"events": [exposure("ok-1"), {"event_id": "c1", "type": "conversion", "test": "t", "variant": "v"}]})
                .to_string()
                .into_bytes(),
            "invalid_events",
        ),
        (
            "missing field",
            text.to_vec(),
            br#"{"event_id": "x", "type": "exposure", "test": "t"}"#.to_vec(),
            "invalid_events",
        ),
    ];
    for (name, headers, body, code) in cases {
        let r = post(&headers, &body);
        assert_eq!(r.status, 400, "{name}: {}", r.body);
        assert_eq!(r.json()["error"], code, "{name}: {}", r.body);
    }
    let missing_ct = worker.post("/v1/events", &[], exposure("e2").to_string().as_bytes());
    assert_eq!(missing_ct.status, 400);

    let r = post(
        &text,
        br#"{"event_id": "x", "type": "conversion", "test": "t", "variant": "v", "metric": "m"}"#,
    );
    let b = post(
        &text,
        json!({"events": [exposure("ok-1"), {"event_id": "c1", "type": "conversion", "test": "t", "variant": "v"}]})
            .to_string()
            .as_bytes(),
    );
    let rejected = &b.json()["rejected"];
    assert_eq!(
        rejected,
        &json!([{"index": 1, "field": "metric", "message": "a conversion needs a metric"}])
    );
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.json()["accepted"], 1);
    let json_ct = worker.post(
        "/v1/events?unit=u1",
        &[("content-type", "application/json")],
        json!({"events": [exposure("a"), exposure("b")]})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(json_ct.status, 202, "{}", json_ct.body);
    assert_eq!(json_ct.json()["accepted"], 2);
    // Without any unit id (no cookie, no parameter, none in the event) an event is refused.
    let r = worker.post(
        "/v1/events",
        &text,
        exposure("no-unit").to_string().as_bytes(),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["rejected"][0]["field"], "unit_id");
}

#[test]
fn beacons_reach_the_control_plane_and_survive_an_outage() {
    let receiver = Receiver::start(INGEST_KEY);
    let control = receiver.url();
    let worker = Worker::start(&[("CONTROL_URL", &control)]);
    assert_eq!(worker.push_snapshot(&example_snapshot()).status, 200);

    // A batch from a visitor with our cookie and a persona header; the worker fills in the rest.
    let batch = json!({"events": [
        exposure("b-1"),
        {"event_id": "b-2", "type": "conversion", "test": "hero-headline", "variant": "benefit",
         "metric": "revenue", "value": 12.5, "ts": 1_700_000_000_000_i64},
        {"event_id": "b-3", "type": "exposure", "test": "hero-headline", "variant": "control",
         "unit_id": "site-id-9", "persona": "RemoteDad", "snapshot_version": 3},
    ]});
    let r = worker.post(
        "/v1/events",
        &[
            ("content-type", "text/plain"),
            ("user-agent", gen::USER_AGENTS[3]),
            ("cookie", "edgewise_uid=cookie-id-1"),
            ("x-edgewise-persona", "TechEarlyAdopter"),
        ],
        batch.to_string().as_bytes(),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    wait_for("3 forwarded events", Duration::from_secs(30), || {
        receiver.with(|r| r.events.len()) >= 3
    });
    let events = receiver.with(|r| r.events.clone());
    let by_id = |id: &str| {
        events
            .iter()
            .find(|e| e["event_id"] == id)
            .cloned()
            .unwrap_or_default()
    };
    let b1 = by_id("b-1");
    assert_eq!(b1["unit_id"], "cookie-id-1");
    assert_eq!(b1["device"], "mobile");
    assert_eq!(b1["persona"], "TechEarlyAdopter");
    assert_eq!(b1["snapshot_version"], 7);
    assert!(b1["ts"]
        .as_i64()
        .is_some_and(|t| t > NOW_MS - 86_400_000 * 400));
    let b2 = by_id("b-2");
    assert_eq!(b2["value"], 12.5);
    assert_eq!(b2["ts"], 1_700_000_000_000_i64);
    let b3 = by_id("b-3");
    assert_eq!(b3["unit_id"], "site-id-9");
    assert_eq!(b3["persona"], "RemoteDad");
    assert_eq!(b3["snapshot_version"], 3);

    // expose=1 queues one exposure per counted decision, stamped with the visitor's values
    // of the test's dimensions.
    let a = worker
        .get(
            "/v1/assign?unit=exposed-1&expose=1&country=DE&url=%2Fhome%3Futm_source%3DNewsletter",
            &[("user-agent", DESKTOP)],
        )
        .json();
    let counted = a["decisions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["counted"] == true)
        .count();
    assert_eq!(a["exposures_logged"], counted);
    assert!(counted > 0, "{a}");
    wait_for("exposures of exposed-1", Duration::from_secs(30), || {
        receiver.with(|r| {
            r.events
                .iter()
                .filter(|e| e["unit_id"] == "exposed-1")
                .count()
        }) == counted
    });
    let hero = receiver.with(|r| {
        r.events
            .iter()
            .find(|e| e["unit_id"] == "exposed-1" && e["test"] == "hero-headline")
            .cloned()
    });
    assert_eq!(
        hero.map(|e| e["dimensions"].clone()),
        Some(json!({"country": "DE", "browser": "Chrome", "source": "newsletter"}))
    );

    // Outage: 503s, then hung-up connections, then recovery. Nothing may be lost.
    receiver.set_mode(Mode::Down);
    let failed_before = receiver.with(|r| r.posts_failed);
    let ids: Vec<String> = (0..20).map(|i| format!("outage-{i:02}")).collect();
    for chunk in ids.chunks(5) {
        let body = json!({"events": chunk.iter().map(|id| exposure(id)).collect::<Vec<_>>()});
        let r = worker.post(
            "/v1/events?unit=outage-visitor",
            &[("content-type", "text/plain"), ("user-agent", DESKTOP)],
            body.to_string().as_bytes(),
        );
        assert_eq!(r.status, 202, "{}", r.body);
    }
    wait_for("two failed deliveries", Duration::from_secs(30), || {
        receiver.with(|r| r.posts_failed) >= failed_before + 2
    });
    receiver.set_mode(Mode::Dropping);
    let failed_mid = receiver.with(|r| r.posts_failed);
    wait_for("a dropped delivery", Duration::from_secs(30), || {
        receiver.with(|r| r.posts_failed) > failed_mid
    });
    receiver.set_mode(Mode::Up);
    wait_for("all 20 outage events", Duration::from_secs(60), || {
        receiver.with(|r| ids.iter().all(|id| r.ids.contains(id)))
    });
    let (received, unauthorized) = receiver.with(|r| {
        let n = r
            .events
            .iter()
            .filter(|e| e["unit_id"] == "outage-visitor")
            .count();
        (n, r.posts_unauthorized)
    });
    assert_eq!(received, 20, "each outage event exactly once");
    assert_eq!(unauthorized, 0, "the worker must send INGEST_KEY");
}
