//! Full results for 100 tests × 16 segments × 10 variants (1,600 analyses, 14,400 comparisons,
//! each with the frequentist, sequential and Bayesian methods on both effect types, plus SRM).
//! The inputs come from a seeded SplitMix64 that `scripts/bench_gbstats.py` reproduces bit for
//! bit, so gbstats can be timed on the very same numbers. Floor: < 50 ms per full pass.

use criterion::{criterion_group, criterion_main, Criterion};
use edgewise_shared::stats::{analyze, AnalysisInput, MetricType, VariantInput};

struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// (next % m) / d as a float: the same double in Python.
    fn frac(&mut self, m: u64, d: f64) -> f64 {
        (self.next() % m) as f64 / d
    }
}

/// Test t is binomial when t % 3 == 0, a mean metric when 1, a CUPED mean metric when 2.
fn inputs() -> Vec<AnalysisInput> {
    let mut rng = SplitMix64(2026);
    let mut out = Vec::with_capacity(1_600);
    for test in 0..100 {
        for _segment in 0..16 {
            let variants = (0..10)
                .map(|v| {
                    let n = 1_000 + rng.next() % 200_000;
                    let nf = n as f64;
                    let name = format!("v{v}");
                    if test % 3 == 0 {
                        let rate = 0.02 + rng.frac(1_000, 10_000.0);
                        return VariantInput {
                            name,
                            n,
                            conversions: Some((nf * rate).floor() as u64),
                            ..VariantInput::default()
                        };
                    }
                    let mean = 5.0 + rng.frac(1_000, 100.0);
                    let sd = 1.0 + rng.frac(1_000, 100.0);
                    let sum = mean * nf;
                    let mut variant = VariantInput {
                        name,
                        n,
                        sum: Some(sum),
                        sum_squares: Some(sd * sd * (nf - 1.0) + sum * sum / nf),
                        ..VariantInput::default()
                    };
                    if test % 3 == 2 {
                        let cov_sum = 0.9 * mean * nf;
                        variant.covariate_sum = Some(cov_sum);
                        variant.covariate_sum_squares =
                            Some(sd * sd * (nf - 1.0) + cov_sum * cov_sum / nf);
                        variant.sum_product_metric_covariate =
                            Some(0.5 * sd * sd * (nf - 1.0) + sum * cov_sum / nf);
                    }
                    variant
                })
                .collect();
            out.push(AnalysisInput {
                metric_type: if test % 3 == 0 {
                    MetricType::Binomial
                } else {
                    MetricType::Mean
                },
                alpha: 0.05,
                expected_weights: None,
                sequential_tuning_parameter: 5_000.0,
                control_index: 0,
                prior: None,
                correction: None,
                variants,
            });
        }
    }
    out
}

fn full_results(c: &mut Criterion) {
    let inputs = inputs();
    c.bench_function("stats/100 tests x 10 variants x 16 segments", |b| {
        b.iter(|| {
            let mut comparisons = 0;
            for input in &inputs {
                if let Ok(out) = analyze(std::hint::black_box(input)) {
                    comparisons += out.comparisons.len();
                }
            }
            assert_eq!(comparisons, 14_400);
            comparisons
        })
    });
}

criterion_group!(benches, full_results);
criterion_main!(benches);
