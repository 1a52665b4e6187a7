//! A/A simulation: with no true difference, how often does each method cry "significant"?
//! 2,000 seeded experiments of two arms at a 20% conversion rate, 20 batches of 100 units per arm.
//! At α = 0.05 the fixed-horizon t-test, read once at the end, must reject 4–6% of the time;
//! the sequential test, read after every batch (20 peeks), must stay at or below 5%.
//! (The 4–6% band is ±2 binomial standard errors at 2,000 runs; the seed is fixed, so the test
//! is deterministic.) The same loop also shows why the sequential method exists: the t-test
//! peeked at after every batch rejects far more often than 5%.
#![cfg(feature = "stats")]

use edgewise_shared::stats::{analyze, AnalysisInput, MetricType, Outcome, VariantInput};

mod common;
use common::Rng;

const EXPERIMENTS: usize = 2_000;
const BATCHES: usize = 20;
const BATCH: u64 = 100;
const RATE: f64 = 0.2;
const ALPHA: f64 = 0.05;

fn input(arms: [(u64, u64); 2]) -> AnalysisInput {
    AnalysisInput {
        metric_type: MetricType::Binomial,
        alpha: ALPHA,
        expected_weights: None,
        sequential_tuning_parameter: 5_000.0,
        control_index: 0,
        prior: None,
        correction: None,
        variants: arms
            .iter()
            .map(|&(n, c)| VariantInput {
                name: String::new(),
                n,
                conversions: Some(c),
                ..VariantInput::default()
            })
            .collect(),
    }
}

fn significant(o: &Outcome<edgewise_shared::stats::Estimate>) -> bool {
    o.value().is_some_and(|e| e.p_value < ALPHA)
}

#[test]
fn a_a_false_positive_rates() {
    let mut rng = Rng(0x5eed_ab7e_57ed);
    let (mut fixed, mut sequential, mut peeking) = (0, 0, 0);
    for _ in 0..EXPERIMENTS {
        let mut arms = [(0_u64, 0_u64); 2];
        let (mut seq_hit, mut peek_hit) = (false, false);
        for _ in 0..BATCHES {
            for arm in &mut arms {
                arm.0 += BATCH;
                arm.1 += (0..BATCH).filter(|_| rng.uniform() < RATE).count() as u64;
            }
            let out = analyze(&input(arms)).unwrap();
            let c = &out.comparisons[0];
            seq_hit |= significant(&c.sequential.relative);
            peek_hit |= significant(&c.frequentist.relative);
        }
        let out = analyze(&input(arms)).unwrap();
        fixed += usize::from(significant(&out.comparisons[0].frequentist.relative));
        sequential += usize::from(seq_hit);
        peeking += usize::from(peek_hit);
    }
    let rate = |k: usize| k as f64 / EXPERIMENTS as f64;
    println!(
        "A/A over {EXPERIMENTS}: fixed horizon {:.2}%, sequential with {BATCHES} peeks {:.2}%, \
         t-test with {BATCHES} peeks {:.2}%",
        100.0 * rate(fixed),
        100.0 * rate(sequential),
        100.0 * rate(peeking)
    );
    assert!(
        (0.04..=0.06).contains(&rate(fixed)),
        "fixed horizon {}",
        rate(fixed)
    );
    assert!(rate(sequential) <= 0.05, "sequential {}", rate(sequential));
    assert!(
        rate(peeking) > 0.06,
        "peeking should inflate: {}",
        rate(peeking)
    );
}
