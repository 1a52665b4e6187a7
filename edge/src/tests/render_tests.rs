//! The fast body writer against serde's rendering of the same decisions, byte for byte.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use edgewise_shared::{CompiledSnapshot, Decision, Visitor};

use super::{example, DESKTOP, GOOGLEBOT, IPHONE};
use crate::render::{write_decisions, RenderCache};

fn fast(decisions: &[Decision<'_>], cache: &mut RenderCache) -> String {
    let mut out = String::new();
    write_decisions(&mut out, decisions, cache);
    out
}

fn serde(decisions: &[Decision<'_>]) -> String {
    serde_json::to_string(decisions).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn example_snapshot_decisions_match_serde_and_a_foreign_snapshot_is_written_slowly() {
    let a = example();
    let other = CompiledSnapshot::from_json(&super::EXAMPLE.replace("Ship experiments", "Other"))
        .map(|(s, _)| s)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut cache = RenderCache::default();
    cache.bind(&a);
    for (i, ua) in [DESKTOP, IPHONE, GOOGLEBOT].into_iter().enumerate() {
        let unit = format!("u{i}");
        let v = Visitor {
            unit_id: &unit,
            user_agent: Some(ua),
            ..Default::default()
        };
        let d = a.assign(&v, 0).decisions;
        assert_eq!(fast(&d, &mut cache), serde(&d));
        // Bound to `a`, the cache has no text for `other`'s decisions: same bytes anyway.
        let d = other.assign(&v, 0).decisions;
        assert_eq!(fast(&d, &mut cache), serde(&d));
        assert!(serde(&d).contains("Other"));
    }
}

/// `scripts/bench-edge`'s generated snapshot of 1,000 tests, every seventh test sticky, and 400
/// visitors of every device class, persona, page and referrer; some force a variant, and every
/// third returns with arms an older snapshot assigned (so decisions carry that version and a
/// propensity). One cache serves them all, as in an isolate.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn generated_snapshot_decisions_are_byte_identical_to_serde() {
    use edgewise_shared::bandit::sticky::Remembered;
    use edgewise_tests::gen::{self, Rng, VisitorCase};

    let compile = |version: u64| {
        let mut wire = gen::snapshot(version, 1000, 42);
        for (i, t) in wire["tests"]
            .as_array_mut()
            .into_iter()
            .flatten()
            .enumerate()
        {
            if i % 7 == 0 {
                t["sticky"] = true.into();
            }
        }
        let (s, warnings) = CompiledSnapshot::from_json(&wire.to_string())
            .unwrap_or_else(|e| panic!("generated snapshot: {e}"));
        assert!(warnings.is_empty(), "{warnings:?}");
        s
    };
    let (older, current) = (compile(2), compile(3));
    let mut cache = RenderCache::default();
    cache.bind(&current);
    let mut rng = Rng::new(11);
    let (mut remembered_decisions, mut propensities) = (0, 0);
    for n in 0..400 {
        let v = VisitorCase::random(&mut rng);
        let attrs: Vec<(String, String)> = v
            .company_size
            .map(|c| vec![("company_size".to_owned(), c.to_string())])
            .unwrap_or_default();
        let forced = if n % 10 == 0 {
            vec![("test-005".to_owned(), "v1".to_owned())]
        } else {
            Vec::new()
        };
        let visitor = Visitor {
            unit_id: &v.unit,
            user_agent: Some(v.user_agent),
            persona: v.persona,
            country: Some(v.country),
            url: Some(&v.url),
            referrer: v.referrer,
            local_hour: v.local_hour,
            attributes: &attrs,
            forced: &forced,
            ..Default::default()
        };
        let remembered: Vec<Remembered> = if n % 3 == 0 {
            older
                .assign(&visitor, gen::NOW_MS)
                .decisions
                .iter()
                .filter_map(|d| d.remember)
                .collect()
        } else {
            Vec::new()
        };
        let a = current.assign_remembering(&visitor, gen::NOW_MS, &remembered);
        remembered_decisions += a
            .decisions
            .iter()
            .filter(|d| d.snapshot_version == 2)
            .count();
        propensities += a
            .decisions
            .iter()
            .filter(|d| d.propensity.is_some())
            .count();
        assert_eq!(
            fast(&a.decisions, &mut cache),
            serde(&a.decisions),
            "visitor {n}"
        );
    }
    assert!(
        remembered_decisions > 100 && propensities > 1000,
        "{remembered_decisions} {propensities}"
    );
}
