//! One visitor against 1, 10, 100 and 1,000 running tests with mixed targeting and layers.
//! Criterion reports time per visitor; with `Throughput::Elements(n)` it also reports
//! decisions per second, whose inverse is the cost of one (visitor, test) decision.
//!
//! Run: `cargo bench -p edgewise-shared --bench assign`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use edgewise_shared::hash::bucket;
use edgewise_shared::{CompiledSnapshot, DeviceClass, Visitor};
use serde_json::{json, Value};

const UA: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
                  Chrome/131.0.0.0 Safari/537.36";

/// `n` tests: a quarter untargeted, a quarter device-targeted, a quarter with a condition tree
/// (country, URL prefix, regex), a quarter persona-targeted; every third test sits in one of
/// ten layers.
fn snapshot(n: usize) -> CompiledSnapshot {
    let tests: Vec<Value> = (0..n)
        .map(|i| {
            let targeting = match i % 4 {
                0 => json!({}),
                1 => json!({"devices": ["desktop", "tablet"]}),
                2 => json!({"when": {"all": [
                    {"attr": "country", "op": "in", "value": ["US", "CA", "GB", "DE"]},
                    {"any": [
                        {"attr": "path", "op": "prefix", "value": "/pricing"},
                        {"attr": "url", "op": "regex", "value": "utm_source=(news|ads)"}
                    ]}
                ]}}),
                _ => json!({"personas": ["TechEarlyAdopter", "BusinessOwner"]}),
            };
            let mut t = json!({
                "key": format!("test-{i}"), "status": "running", "coverage": 0.8,
                "targeting": targeting,
                "variants": [
                    {"key": "control", "weight": 1, "content": {"title": "A", "i": i}},
                    {"key": "b", "weight": 1, "content": {"title": "B"},
                     "overrides": {"device": {"mobile": {"title": "b"}}}},
                    {"key": "c", "weight": 2, "content": {"title": "C"}}
                ]
            });
            if i % 3 == 0 {
                // Layered tests j = i / 3 go round-robin over 10 layers, each split evenly.
                let per_layer = n.div_ceil(3).div_ceil(10) as u32;
                let width = 10_000 / per_layer;
                let (j, slot) = (i / 3, (i / 30) as u32);
                let range = [slot * width, slot * width + width];
                t["layer"] = json!({"key": format!("layer-{}", j % 10), "range": range});
            }
            t
        })
        .collect();
    let wire = json!({
        "schema_version": 1, "snapshot_version": 1, "hash_version": 1,
        "layers": (0..10).map(|l| json!({"key": format!("layer-{l}")})).collect::<Vec<_>>(),
        "holdout": {"share": 0.02},
        "personas": [
            {"key": "StudentHustler", "when": {"attr": "referrer_host", "op": "regex", "value": "\\.edu$"}},
            {"key": "TechEarlyAdopter", "when": {"attr": "utm_source", "op": "eq", "value": "news"}},
            {"key": "BusinessOwner", "when": {"attr": "company_size", "op": "gte", "value": 5}}
        ],
        "tests": tests
    });
    let (s, warnings) = CompiledSnapshot::from_json(&wire.to_string()).expect("valid snapshot");
    assert!(
        warnings.is_empty(),
        "{} warnings, first {:?}",
        warnings.len(),
        warnings.first()
    );
    s
}

fn bench_assign(c: &mut Criterion) {
    let mut group = c.benchmark_group("assign");
    let attrs = [("company_size".to_owned(), "12".to_owned())];
    for n in [1usize, 10, 100, 1000] {
        let s = snapshot(n);
        group.throughput(Throughput::Elements(n as u64));
        let mut i = 0u64;
        group.bench_with_input(BenchmarkId::new("tests", n), &s, |b, s| {
            b.iter(|| {
                i += 1;
                let unit = format!("visitor-{i}");
                let v = Visitor {
                    unit_id: &unit,
                    user_agent: Some(UA),
                    country: Some("US"),
                    url: Some("https://shop.example/pricing?utm_source=news&plan=pro"),
                    referrer: Some("https://www.google.com/"),
                    attributes: &attrs,
                    ..Visitor::default()
                };
                s.assign(&v, 1_790_000_000_000)
            })
        });
    }
    group.finish();
}

/// The per-visitor and per-test pieces of one assignment.
fn bench_parts(c: &mut Criterion) {
    c.bench_function("parts/user_agent", |b| {
        b.iter(|| DeviceClass::from_user_agent(std::hint::black_box(UA)))
    });
    c.bench_function("parts/bucket", |b| {
        b.iter(|| {
            bucket(
                std::hint::black_box("3f2b8c1e-8d1a-4c1e-9b7e"),
                "checkout-button",
            )
        })
    });
}

criterion_group!(benches, bench_assign, bench_parts);
criterion_main!(benches);
