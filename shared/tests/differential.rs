//! Differential impact on simulated tests with 20 segments (a "country" dimension whose values
//! have Zipf-like sizes, 100,000 units per test, exact binomial draws): over 10,000 A/A tests
//! about 5% flag any segment (Benjamini–Hochberg's nominal rate), although most have a raw
//! p < 0.05 somewhere among their 20 segments; a segment whose lift really differs is found.

mod common;
use common::Rng;

use edgewise_shared::segments::{flag, impacts, Impact, Segment};
use edgewise_shared::stats::{AnalysisInput, MetricType, VariantInput};

const SEGMENTS: usize = 20;
const UNITS: f64 = 100_000.0;
const RATE: f64 = 0.10;

fn binomial(arms: [(u64, u64); 2]) -> AnalysisInput {
    AnalysisInput {
        metric_type: MetricType::Binomial,
        alpha: 0.05,
        expected_weights: None,
        sequential_tuning_parameter: 5_000.0,
        control_index: 0,
        prior: None,
        correction: None,
        variants: ["control", "treatment"]
            .iter()
            .zip(arms)
            .map(|(name, (n, c))| VariantInput {
                name: (*name).into(),
                n,
                conversions: Some(c),
                ..VariantInput::default()
            })
            .collect(),
    }
}

/// One simulated test: per segment, (units, conversions) of control and treatment, the
/// treatment's rate lifted by `lift(segment)`; then every segment against the rest, flagged as
/// one family.
fn simulate(rng: &mut Rng, lift: impl Fn(usize) -> f64) -> Vec<Impact> {
    let harmonic: f64 = (1..=SEGMENTS).map(|i| 1.0 / i as f64).sum();
    let cells: Vec<[(u64, u64); 2]> = (0..SEGMENTS)
        .map(|s| {
            let n = (UNITS / (s + 1) as f64 / harmonic / 2.0).round() as u64;
            let p = RATE * (1.0 + lift(s));
            [
                (n, rng.binomial_exact(n, RATE)),
                (n, rng.binomial_exact(n, p)),
            ]
        })
        .collect();
    let mut family = Vec::new();
    for (s, inside) in cells.iter().enumerate() {
        let mut rest = [(0, 0); 2];
        for (_, other) in cells.iter().enumerate().filter(|(o, _)| *o != s) {
            for arm in 0..2 {
                rest[arm].0 += other[arm].0;
                rest[arm].1 += other[arm].1;
            }
        }
        let value = format!("c{s}");
        let at = Segment {
            metric: "purchase",
            dimension: "country",
            value: &value,
        };
        family.extend(impacts(at, &binomial(*inside), &binomial(rest)));
    }
    flag(&mut family);
    family
}

#[test]
fn a_a_tests_rarely_flag_any_segment() {
    // Ten blocks of 1,000 A/A tests, so the rate is known to ±0.2 points, not ±0.7.
    let (blocks, tests) = (10, 1_000);
    let (mut flagged, mut raw, mut comparisons) = (0, 0, 0);
    for block in 0..blocks {
        let mut rng = Rng(0x00d1_ff00_5e95 + block);
        let mut in_block = 0;
        for _ in 0..tests {
            let family = simulate(&mut rng, |_| 0.0);
            comparisons += family.len();
            in_block += usize::from(family.iter().any(|i| i.flagged));
            raw += usize::from(family.iter().any(|i| i.p_value < 0.05));
        }
        let rate = in_block as f64 / tests as f64;
        println!("A/A block {block}: {rate:.3} of {tests} tests flag a segment");
        // One block is 1,000 tests: within three standard errors of 5%.
        assert!(
            rate <= 0.05 + 3.0 * (0.05f64 * 0.95 / tests as f64).sqrt(),
            "{rate}"
        );
        flagged += in_block;
    }
    let all = (blocks as usize * tests) as f64;
    let (rate, raw_rate) = (flagged as f64 / all, raw as f64 / all);
    println!("A/A: {rate:.4} of tests flag a segment; {raw_rate:.3} have a raw p < 0.05");
    // Every segment of every test had a lift to compare.
    assert_eq!(comparisons, blocks as usize * tests * SEGMENTS);
    // Benjamini–Hochberg's false-alarm rate when no segment differs is its nominal 5%: the
    // pooled rate of 10,000 tests is within two standard errors of it (measured 5.18% here,
    // 4.95% with approximate draws, 4.78% with per-unit draws).
    assert!(rate <= 0.05 + 2.0 * (0.05f64 * 0.95 / all).sqrt(), "{rate}");
    // Uncorrected, one p < 0.05 among 20 segments is the rule, not the exception.
    assert!(raw_rate > 0.4, "{raw_rate}");
}

#[test]
fn a_segment_that_responds_differently_is_flagged() {
    let mut rng = Rng(0x00d1_ff00_0001);
    let tests = 200;
    let (mut found, mut first) = (0, 0);
    for _ in 0..tests {
        // The third-largest country (~9% of units) converts 35% more in treatment; no other
        // country responds.
        let family = simulate(&mut rng, |s| if s == 2 { 0.35 } else { 0.0 });
        found += usize::from(family.iter().any(|i| i.segment == "c2" && i.flagged));
        let top = family
            .iter()
            .min_by(|a, b| a.p_value.total_cmp(&b.p_value))
            .unwrap();
        first += usize::from(top.segment == "c2" && top.difference > 0.0);
    }
    let (power, first) = (found as f64 / tests as f64, first as f64 / tests as f64);
    println!(
        "one country differs: flagged in {power:.3} of tests, the most significant in {first:.3}"
    );
    assert!(power >= 0.9, "{power}");
    // Other countries' lifts differ from a rest that holds it, but none as clearly.
    assert!(first >= 0.95, "{first}");
}
