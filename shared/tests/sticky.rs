//! Sticky (bandit) tests: a visitor keeps the variant first assigned when the weights change,
//! with the version and propensity of that assignment; new visitors follow the new weights.

use edgewise_shared::bandit::sticky::{parse, render, Remembered};
use edgewise_shared::{CompiledSnapshot, DeviceClass, Reason, Visitor};
use serde_json::json;

fn snapshot(version: u64, weights: [f64; 3], status: &str) -> CompiledSnapshot {
    let wire = json!({
        "schema_version": 1, "snapshot_version": version, "hash_version": 1,
        "tests": [{
            "key": "bandit", "status": status, "sticky": true,
            "variants": [
                {"key": "a", "weight": weights[0]},
                {"key": "b", "weight": weights[1]},
                {"key": "c", "weight": weights[2]}
            ]
        }]
    });
    let (s, warnings) = CompiledSnapshot::from_json(&wire.to_string()).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    s
}

fn visitor(unit_id: &str) -> Visitor<'_> {
    Visitor {
        unit_id,
        device: Some(DeviceClass::Desktop),
        ..Visitor::default()
    }
}

#[test]
fn remembered_visitors_keep_their_variant_and_new_ones_follow_the_new_weights() {
    let before = snapshot(1, [1.0, 1.0, 2.0], "running");
    let after = snapshot(2, [0.1, 0.1, 0.8], "running");
    let (mut kept, mut would_move) = (0, 0);
    for i in 0..2_000 {
        let id = format!("visitor-{i}");
        let first = before.assign(&visitor(&id), 0);
        let d = &first.decisions[0];
        assert_eq!(d.reason, Reason::Assigned);
        let expected = [0.25, 0.25, 0.5][["a", "b", "c"]
            .iter()
            .position(|v| Some(*v) == d.variant)
            .unwrap()];
        assert_eq!(d.propensity, Some(expected));
        assert_eq!(d.snapshot_version, 1);
        let memory = d.remember.expect("a sticky decision is remembered");
        // Through the cookie's text, as the edge keeps it.
        let stored = parse(&render(&[memory]));
        let again = after.assign_remembering(&visitor(&id), 0, &stored);
        let a = &again.decisions[0];
        assert_eq!(
            (a.variant, a.snapshot_version, a.propensity),
            (d.variant, 1, Some(expected))
        );
        assert_eq!(a.remember, Some(memory));
        kept += 1;
        if after.assign(&visitor(&id), 0).decisions[0].variant != d.variant {
            would_move += 1;
        }
    }
    assert_eq!(kept, 2_000);
    // Without the memory, the new weights would have moved a large share of them.
    assert!(would_move > 600, "{would_move}");

    // New visitors: the new weights, version and propensities.
    let mut counts = [0u32; 3];
    for i in 0..20_000 {
        let id = format!("new-{i}");
        let a = after.assign(&visitor(&id), 0);
        let d = &a.decisions[0];
        let k = ["a", "b", "c"]
            .iter()
            .position(|v| Some(*v) == d.variant)
            .unwrap();
        counts[k] += 1;
        assert_eq!(d.propensity, Some([0.1, 0.1, 0.8][k]));
        assert_eq!(d.snapshot_version, 2);
    }
    let chi2: f64 = counts
        .iter()
        .zip([0.1, 0.1, 0.8])
        .map(|(&o, p)| (f64::from(o) - 20_000.0 * p).powi(2) / (20_000.0 * p))
        .sum();
    assert!(chi2 < 13.8, "χ² {chi2} for {counts:?} (p < 0.001 at 2 df)");
}

#[test]
fn memory_never_overrides_pausing_and_a_stale_entry_is_ignored() {
    let paused = snapshot(3, [1.0, 1.0, 1.0], "paused");
    let tag = edgewise_shared::bandit::sticky::tag("bandit");
    let memory = [Remembered {
        tag,
        variant: 2,
        version: 1,
        propensity_ppm: 333_333,
    }];
    let d = &paused
        .assign_remembering(&visitor("u"), 0, &memory)
        .decisions[0];
    assert_eq!(
        (d.reason, d.variant, d.propensity),
        (Reason::Paused, None, None)
    );

    // An index past the test's variants (the test was redefined) is bucketed afresh.
    let running = snapshot(4, [1.0, 1.0, 1.0], "running");
    let stale = [Remembered {
        tag,
        variant: 9,
        version: 1,
        propensity_ppm: 1,
    }];
    let d = &running
        .assign_remembering(&visitor("u"), 0, &stale)
        .decisions[0];
    assert_eq!(d.snapshot_version, 4);
    assert!(d.remember.is_some_and(|r| r.variant < 3 && r.version == 4));
    // Another test's entry does not apply.
    let other = [Remembered {
        tag: tag ^ 1,
        variant: 0,
        version: 1,
        propensity_ppm: 1,
    }];
    let d = &running
        .assign_remembering(&visitor("u"), 0, &other)
        .decisions[0];
    assert_eq!(d.snapshot_version, 4);
}

#[test]
fn tests_that_are_not_sticky_carry_no_propensity_and_nothing_to_remember() {
    let wire = json!({
        "schema_version": 1, "snapshot_version": 1, "hash_version": 1,
        "tests": [{"key": "plain", "status": "running",
                   "variants": [{"key": "a", "weight": 1}, {"key": "b", "weight": 1}]}]
    });
    let (s, _) = CompiledSnapshot::from_json(&wire.to_string()).unwrap();
    let d = &s.assign(&visitor("u"), 0).decisions[0];
    assert_eq!((d.propensity, d.remember), (None, None));
    assert!(!serde_json::to_string(d).unwrap().contains("propensity"));
}
