//! `/v1/events`: content type and size checks, parsing, completion, chunking.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use edgewise_shared::beacon::{Event, EventKind};
use edgewise_shared::DeviceClass;
use serde_json::{json, Value};

use super::{body, cfg, get, IPHONE};
use crate::events::{
    accepted, check_head, parse_beacons, queue_chunks, BeaconContext, MAX_BEACON_BYTES,
    MAX_QUEUE_MESSAGE_BYTES,
};
use crate::http::RequestHead;

fn ctx() -> BeaconContext {
    BeaconContext {
        unit_id: Some("u-1".into()),
        device: DeviceClass::Mobile,
        persona: Some("RemoteDad".into()),
        snapshot_version: Some(7),
        now_ms: 1000,
    }
}

fn exposure(id: &str) -> Value {
    json!({"event_id": id, "type": "exposure", "test": "t", "variant": "v"})
}

fn error_code(r: &crate::http::Reply) -> String {
    assert_eq!(r.status, 400, "{}", r.body);
    body(r)["error"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn content_types() {
    let mut head = get("/v1/events");
    for ok in [
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/json",
        "Application/JSON; charset=utf-8",
    ] {
        head.content_type = Some(ok);
        assert!(check_head(&head).is_ok(), "{ok}");
    }
    for bad in [
        None,
        Some(""),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data"),
        Some("text/html"),
    ] {
        head.content_type = bad;
        let r = check_head(&head)
            .err()
            .unwrap_or_else(|| panic!("{bad:?} accepted"));
        assert_eq!(error_code(&r), "unsupported_content_type");
    }
    head.content_type = Some("text/plain");
    let too_long = (MAX_BEACON_BYTES + 1).to_string();
    head.content_length = Some(&too_long);
    assert_eq!(
        check_head(&head).err().map(|r| error_code(&r)).as_deref(),
        Some("payload_too_large")
    );
}

#[test]
fn the_request_fills_what_the_event_leaves_out() {
    let events = parse_beacons(exposure("e1").to_string().as_bytes(), &ctx())
        .unwrap_or_else(|r| panic!("{}", r.body));
    assert_eq!(
        events,
        vec![Event {
            event_id: "e1".into(),
            kind: EventKind::Exposure,
            unit_id: "u-1".into(),
            test: "t".into(),
            variant: "v".into(),
            snapshot_version: Some(7),
            propensity: None,
            device: Some(DeviceClass::Mobile),
            persona: Some("RemoteDad".into()),
            ts: Some(1000),
            metric: None,
            value: None,
            dimensions: None,
            covariates: None,
            logged_by: None,
        }]
    );
    let own = json!({"events": [{"event_id": "e2", "type": "conversion", "test": "t", "variant": "v",
        "metric": "revenue", "value": 9.5, "unit_id": "mine", "device": "desktop", "persona": "P",
        "snapshot_version": 3, "ts": 5}]});
    let e = &parse_beacons(own.to_string().as_bytes(), &ctx()).unwrap_or_default()[0];
    assert_eq!(
        (e.unit_id.as_str(), e.device, e.persona.as_deref()),
        ("mine", Some(DeviceClass::Desktop), Some("P"))
    );
    assert_eq!(
        (e.snapshot_version, e.ts, e.value),
        (Some(3), Some(5), Some(9.5))
    );
}

#[test]
fn context_reads_unit_persona_and_device_from_the_request() {
    let head = RequestHead {
        user_agent: Some(IPHONE),
        cookie: Some("edgewise_uid=c-9; edgewise_persona=BusinessOwner"),
        ..get("/v1/events")
    };
    let c = BeaconContext::from_request(&head, &cfg(), Some(4), 77);
    assert_eq!(c.unit_id.as_deref(), Some("c-9"));
    assert_eq!(c.persona.as_deref(), Some("BusinessOwner"));
    assert_eq!(
        (c.device, c.snapshot_version, c.now_ms),
        (DeviceClass::Mobile, Some(4), 77)
    );
    let param = RequestHead {
        persona: Some("RemoteDad"),
        ..get("/v1/events?unit=site-3")
    };
    let c = BeaconContext::from_request(&param, &cfg(), None, 0);
    assert_eq!(c.unit_id.as_deref(), Some("site-3"));
    assert_eq!(c.persona.as_deref(), Some("RemoteDad"));
}

#[test]
fn malformed_bodies_are_refused_whole() {
    let refused = |b: &[u8]| {
        error_code(
            &parse_beacons(b, &ctx())
                .err()
                .unwrap_or_else(|| panic!("accepted {:?}", String::from_utf8_lossy(b))),
        )
    };
    assert_eq!(refused(b"{"), "malformed_json");
    assert_eq!(refused(b"\"x\""), "malformed_json");
    assert_eq!(refused(br#"{"events": {}}"#), "malformed_json");
    assert_eq!(refused(br#"{"events": []}"#), "bad_batch_size");
    let many = json!({"events": (0..1001).map(|i| exposure(&i.to_string())).collect::<Vec<_>>()});
    assert_eq!(refused(many.to_string().as_bytes()), "bad_batch_size");
    assert_eq!(
        refused(&vec![b' '; MAX_BEACON_BYTES + 1]),
        "payload_too_large"
    );
}

#[test]
fn one_bad_event_refuses_the_batch_and_names_it() {
    let batch = json!({"events": [
        exposure("ok"),
        {"event_id": "", "type": "exposure", "test": "t", "variant": "v"},
        {"event_id": "c", "type": "conversion", "test": "t", "variant": "v"},
        {"event_id": "x", "type": "click", "test": "t", "variant": "v"},
        {"event_id": "n", "type": "conversion", "test": "t", "variant": "v", "metric": "m", "value": "NaN"},
        // Only the worker's own exposures say `edge`.
        {"event_id": "s", "type": "exposure", "test": "t", "variant": "v", "logged_by": "edge"},
        {"event_id": "w", "type": "exposure", "test": "t", "variant": "v", "logged_by": "server"},
    ]});
    let r = parse_beacons(batch.to_string().as_bytes(), &ctx())
        .err()
        .unwrap_or_else(|| panic!("accepted"));
    assert_eq!(error_code(&r), "invalid_events");
    let b = body(&r);
    let rejected: Vec<(u64, &str)> = b["rejected"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| {
            (
                x["index"].as_u64().unwrap_or(99),
                x["field"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        rejected,
        vec![
            (1, "event_id"),
            (2, "metric"),
            (3, "event"),
            (4, "event"),
            (5, "logged_by"),
            (6, "event")
        ]
    );
    assert!(b["message"]
        .as_str()
        .is_some_and(|m| m.contains("none were accepted")));
    // No unit id anywhere is a bad event too.
    let anonymous = BeaconContext {
        unit_id: None,
        ..ctx()
    };
    let r = parse_beacons(exposure("a").to_string().as_bytes(), &anonymous).err();
    assert_eq!(
        r.map(|r| body(&r)["rejected"][0]["field"].clone()),
        Some(json!("unit_id"))
    );
}

#[test]
fn queue_chunks_hold_every_event_once_under_the_size_limit() {
    let events: Vec<Event> = (0..1000)
        .map(|i| {
            let mut e: Event = serde_json::from_value(exposure(&format!("event-{i:04}")))
                .unwrap_or_else(|e| panic!("{e}"));
            e.unit_id = "u".repeat(200);
            e.test = "t".repeat(150);
            e
        })
        .collect();
    let chunks = queue_chunks(&events);
    assert!(chunks.len() > 1, "a large batch must be split");
    let mut seen = Vec::new();
    for c in &chunks {
        assert!(c.len() <= MAX_QUEUE_MESSAGE_BYTES, "{} bytes", c.len());
        let v: Value = serde_json::from_str(c).unwrap_or_else(|e| panic!("{e}"));
        for e in v["events"].as_array().into_iter().flatten() {
            seen.push(e["event_id"].as_str().unwrap_or("").to_owned());
        }
    }
    let expected: Vec<String> = events.iter().map(|e| e.event_id.clone()).collect();
    assert_eq!(seen, expected);
    assert_eq!(queue_chunks(&events[..1]).len(), 1);
    assert!(queue_chunks(&[]).is_empty());
}

#[test]
fn accepted_is_202() {
    let r = accepted(3);
    assert_eq!((r.status, r.body.as_str()), (202, r#"{"accepted":3}"#));
}
