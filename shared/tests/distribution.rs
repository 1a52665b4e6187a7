//! Statistical properties of bucketing and allocation over many synthetic visitors.

use edgewise_shared::hash::bucket;
use edgewise_shared::{CompiledSnapshot, DeviceClass, Reason, Visitor, BUCKETS};
use serde_json::json;

/// Pearson χ² of `counts` against a uniform expectation.
fn chi_square_uniform(counts: &[u64]) -> f64 {
    let total: u64 = counts.iter().sum();
    let expected = total as f64 / counts.len() as f64;
    counts
        .iter()
        .map(|&c| (c as f64 - expected).powi(2) / expected)
        .sum()
}

/// Upper 0.1% point of χ² with `df` degrees of freedom (Wilson–Hilferty).
fn chi_square_critical_999(df: f64) -> f64 {
    let z = 3.090_232; // Φ⁻¹(0.999)
    df * (1.0 - 2.0 / (9.0 * df) + z * (2.0 / (9.0 * df)).sqrt()).powi(3)
}

#[test]
fn buckets_are_uniform_over_a_million_ids() {
    let mut fine = vec![0u64; BUCKETS as usize];
    for i in 0..1_000_000u32 {
        fine[bucket(&format!("visitor-{i}"), "uniformity") as usize] += 1;
    }
    let coarse: Vec<u64> = fine.chunks(100).map(|c| c.iter().sum()).collect();
    for (counts, label) in [(&fine, "10000 buckets"), (&coarse, "100 bins")] {
        let chi2 = chi_square_uniform(counts);
        let critical = chi_square_critical_999(counts.len() as f64 - 1.0);
        assert!(chi2 < critical, "{label}: χ² = {chi2:.1} ≥ {critical:.1}");
    }
}

#[test]
fn different_hash_ids_are_independent() {
    // A visitor's bucket in one test must not predict it in another: the 2×2 table of
    // "first half" in test A vs test B is close to 25% per cell.
    let mut cells = [0u64; 4];
    for i in 0..200_000u32 {
        let u = format!("u{i}");
        let a = usize::from(bucket(&u, "test-a") < 5000);
        let b = usize::from(bucket(&u, "test-b") < 5000);
        cells[a * 2 + b] += 1;
    }
    let chi2 = chi_square_uniform(&cells);
    assert!(
        chi2 < chi_square_critical_999(3.0),
        "cells {cells:?}, χ² = {chi2:.1}"
    );
}

fn snapshot(weights: &[f64], coverage: f64) -> CompiledSnapshot {
    let variants: Vec<_> = weights
        .iter()
        .enumerate()
        .map(|(i, w)| json!({"key": format!("v{i}"), "weight": w, "content": i}))
        .collect();
    let wire = json!({
        "schema_version": 1, "snapshot_version": 1, "hash_version": 1,
        "tests": [{"key": "t", "status": "running", "coverage": coverage, "variants": variants}]
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
fn weights_and_coverage_are_honoured() {
    let weights = [1.0, 2.0, 7.0];
    let coverage = 0.4;
    let s = snapshot(&weights, coverage);
    let n = 200_000;
    let mut counts = [0u64; 3];
    let mut outside = 0u64;
    for i in 0..n {
        let a = s.assign(&visitor(&format!("w{i}")), 0);
        let d = &a.decisions[0];
        match d.variant {
            Some(v) => counts[v[1..].parse::<usize>().unwrap()] += 1,
            None => {
                assert_eq!(d.reason, Reason::OutsideCoverage);
                outside += 1;
            }
        }
    }
    let total_w: f64 = weights.iter().sum();
    for (i, w) in weights.iter().enumerate() {
        let p = coverage * w / total_w;
        let sd = (p * (1.0 - p) / n as f64).sqrt();
        let observed = counts[i] as f64 / n as f64;
        assert!(
            (observed - p).abs() < 4.0 * sd,
            "variant {i}: {observed} vs {p}"
        );
    }
    let p_out = 1.0 - coverage;
    let observed = outside as f64 / n as f64;
    assert!((observed - p_out).abs() < 4.0 * (p_out * coverage / n as f64).sqrt());
}

#[test]
fn raising_coverage_keeps_every_assigned_visitor_in_place() {
    let steps = [0.05, 0.1, 0.25, 0.5, 0.8, 1.0];
    let snapshots: Vec<_> = steps
        .iter()
        .map(|c| snapshot(&[1.0, 1.0, 1.0], *c))
        .collect();
    let mut moved = 0;
    let mut entered = vec![0u32; steps.len()];
    for i in 0..20_000 {
        let u = format!("ramp-{i}");
        let mut previous: Option<String> = None;
        for (k, s) in snapshots.iter().enumerate() {
            let a = s.assign(&visitor(&u), 0);
            let now = a.decisions[0].variant.map(str::to_owned);
            if previous.is_some() && now != previous {
                moved += 1;
            }
            if now.is_some() {
                entered[k] += 1;
            }
            previous = now.or(previous);
        }
    }
    assert_eq!(moved, 0);
    assert!(entered.windows(2).all(|w| w[0] < w[1]), "{entered:?}");
}

#[test]
fn decisions_are_deterministic() {
    let s = snapshot(&[1.0, 1.0], 0.7);
    for i in 0..1000 {
        let u = format!("d{i}");
        assert_eq!(s.assign(&visitor(&u), 0), s.assign(&visitor(&u), 0));
    }
}
