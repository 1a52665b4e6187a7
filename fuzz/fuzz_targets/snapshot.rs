//! Snapshot JSON as the worker receives it from `PUT /v1/admin/snapshot` (and the control plane
//! from its own database): parse, compile, assign. Whatever compiles, less what it skipped, must
//! serialise to a snapshot that compiles again with no warnings and the same tests: the
//! property that keeps the control plane from storing what it cannot publish.
#![no_main]

use edgewise_shared::compile::without_skipped;
use edgewise_shared::{CompiledSnapshot, DeviceClass, Snapshot, Visitor};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(json) = std::str::from_utf8(data) else {
        return;
    };
    let Ok((compiled, warnings)) = CompiledSnapshot::from_json(json) else {
        return;
    };
    for (unit, device) in [("u1", DeviceClass::Mobile), ("visitor-2", DeviceClass::Desktop)] {
        let visitor = Visitor {
            unit_id: unit,
            device: Some(device),
            url: Some("https://shop.example/p?utm_source=x"),
            ..Visitor::default()
        };
        let a = compiled.assign(&visitor, 1_800_000_000_000);
        assert_eq!(a.decisions.len(), compiled.tests().count());
    }
    let wire: Snapshot = serde_json::from_str(json).expect("compiled, so it parses");
    let clean = serde_json::to_string(&without_skipped(&wire, &warnings)).expect("serialises");
    let (again, left) = CompiledSnapshot::from_json(&clean).expect("a clean snapshot compiles");
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(again.tests().count(), compiled.tests().count());
});
