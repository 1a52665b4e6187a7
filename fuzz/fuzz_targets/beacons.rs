//! Beacon bodies as browsers send them to the worker's `POST /v1/events`: whatever the worker
//! accepts it queues, and each queue message must parse back (at the forwarder and the control
//! plane) into exactly the events accepted, each passing the shape check.
#![no_main]

use edgewise_edge::events::{parse_beacons, queue_chunks, BeaconContext};
use edgewise_shared::beacon::EventBody;
use edgewise_shared::DeviceClass;
use libfuzzer_sys::{arbitrary, fuzz_target};

#[derive(Debug, arbitrary::Arbitrary)]
struct Input<'a> {
    unit_id: Option<String>,
    persona: Option<String>,
    snapshot_version: Option<u64>,
    now_ms: i64,
    body: &'a [u8],
}

fuzz_target!(|input: Input<'_>| {
    let ctx = BeaconContext {
        unit_id: input.unit_id,
        device: DeviceClass::Mobile,
        persona: input.persona,
        snapshot_version: input.snapshot_version,
        now_ms: input.now_ms,
    };
    let Ok(events) = parse_beacons(input.body, &ctx) else {
        return;
    };
    let mut again = Vec::new();
    for chunk in queue_chunks(&events) {
        let body: EventBody = serde_json::from_str(&chunk).expect("a queue message parses");
        again.extend(body.into_events());
    }
    assert_eq!(again, events);
    for e in &events {
        e.check_shape().expect("accepted events pass the shape check");
    }
});
