//! Invariants of the statistics engine on random inputs (proptest): every interval contains its
//! estimate; p-values fall as the effect grows; swapping control and variant mirrors the
//! absolute difference exactly.
#![cfg(feature = "stats")]

use edgewise_shared::stats::{
    analyze, AnalysisInput, AnalysisOutput, Comparison, MetricType, Outcome, VariantInput,
};
use proptest::prelude::*;

fn binomial(arms: &[(u64, u64)]) -> AnalysisInput {
    AnalysisInput {
        metric_type: MetricType::Binomial,
        alpha: 0.05,
        expected_weights: None,
        sequential_tuning_parameter: 5_000.0,
        control_index: 0,
        prior: None,
        correction: None,
        variants: arms
            .iter()
            .enumerate()
            .map(|(i, &(n, c))| VariantInput {
                name: format!("arm{i}"),
                n,
                conversions: Some(c),
                ..VariantInput::default()
            })
            .collect(),
    }
}

/// A mean-metric arm with the given mean and sample standard deviation.
fn mean_arm(name: &str, n: u64, mean: f64, sd: f64) -> VariantInput {
    let nf = n as f64;
    let sum = mean * nf;
    VariantInput {
        name: name.to_owned(),
        n,
        sum: Some(sum),
        sum_squares: Some(sd * sd * (nf - 1.0) + sum * sum / nf),
        ..VariantInput::default()
    }
}

fn means(arms: Vec<VariantInput>) -> AnalysisInput {
    AnalysisInput {
        metric_type: MetricType::Mean,
        variants: arms,
        ..binomial(&[])
    }
}

fn run(input: &AnalysisInput) -> AnalysisOutput {
    analyze(input).unwrap()
}

fn only(out: &AnalysisOutput) -> &Comparison {
    &out.comparisons[0]
}

fn arm() -> impl Strategy<Value = (u64, u64)> {
    (2_u64..200_000).prop_flat_map(|n| (Just(n), 0..=n))
}

proptest! {
    // No regression file: shrunk failures are printed, and the seed space is what CI covers.
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn every_interval_contains_its_estimate(a in arm(), b in arm(), c in arm()) {
        let out = run(&binomial(&[a, b, c]));
        for cmp in &out.comparisons {
            for e in [&cmp.frequentist, &cmp.sequential] {
                for o in [&e.relative, &e.absolute] {
                    if let Outcome::Value(v) = o {
                        prop_assert!(v.ci[0] <= v.estimate && v.estimate <= v.ci[1], "{v:?}");
                        prop_assert!((0.0..=1.0).contains(&v.p_value));
                    }
                }
            }
            for o in [&cmp.bayesian.relative, &cmp.bayesian.absolute] {
                if let Outcome::Value(v) = o {
                    prop_assert!(v.ci[0] <= v.estimate && v.estimate <= v.ci[1], "{v:?}");
                    prop_assert!((0.0..=1.0).contains(&v.chance_to_win));
                    prop_assert!(v.risk[0] >= 0.0 && v.risk[1] >= 0.0);
                }
            }
        }
    }

    #[test]
    fn p_value_falls_as_the_effect_grows(
        n_a in 10_u64..100_000,
        n_b in 10_u64..100_000,
        base in 0.5_f64..100.0,
        sd in 0.1_f64..50.0,
        lift in 0.0_f64..0.5,
        more in 0.0001_f64..0.5,
    ) {
        let at = |lift: f64| {
            run(&means(vec![
                mean_arm("control", n_a, base, sd),
                mean_arm("variant", n_b, base * (1.0 + lift), sd),
            ]))
        };
        let (small, large) = (at(lift), at(lift + more));
        let (s, l) = (only(&small), only(&large));
        for (x, y) in [
            (&s.frequentist.relative, &l.frequentist.relative),
            (&s.frequentist.absolute, &l.frequentist.absolute),
            (&s.sequential.relative, &l.sequential.relative),
            (&s.sequential.absolute, &l.sequential.absolute),
        ] {
            let (x, y) = (x.value().unwrap(), y.value().unwrap());
            prop_assert!(y.estimate > x.estimate);
            prop_assert!(y.p_value <= x.p_value * (1.0 + 1e-12), "{x:?} then {y:?}");
        }
        let (x, y) = (s.bayesian.absolute.value().unwrap(), l.bayesian.absolute.value().unwrap());
        prop_assert!(y.chance_to_win >= x.chance_to_win);
    }

    #[test]
    fn swapping_the_arms_mirrors_the_absolute_difference(a in arm(), b in arm()) {
        let forward = run(&binomial(&[a, b]));
        let backward = run(&binomial(&[b, a]));
        let (f, r) = (only(&forward), only(&backward));
        for (x, y) in [
            (&f.frequentist.absolute, &r.frequentist.absolute),
            (&f.sequential.absolute, &r.sequential.absolute),
        ] {
            match (x, y) {
                (Outcome::Value(x), Outcome::Value(y)) => {
                    prop_assert_eq!(x.estimate, -y.estimate);
                    prop_assert!((x.p_value - y.p_value).abs() <= 1e-15);
                    prop_assert!((x.ci[0] + y.ci[1]).abs() <= 1e-12);
                    prop_assert!((x.ci[1] + y.ci[0]).abs() <= 1e-12);
                }
                // Refusals are symmetric too, except a zero control mean, which is one-sided.
                (Outcome::Refused { .. }, _) | (_, Outcome::Refused { .. }) => {
                    prop_assert!(a.1 == 0 || b.1 == 0 || a.1 == a.0 || b.1 == b.0);
                }
            }
        }
        if let (Outcome::Value(x), Outcome::Value(y)) = (&f.bayesian.absolute, &r.bayesian.absolute) {
            prop_assert!((x.chance_to_win - (1.0 - y.chance_to_win)).abs() <= 1e-12);
            prop_assert!((x.risk[0] - y.risk[1]).abs() <= 1e-12 * x.risk[0].abs().max(1.0));
            prop_assert!((x.risk[1] - y.risk[0]).abs() <= 1e-12 * x.risk[1].abs().max(1.0));
        }
        prop_assert_eq!(forward.srm_p_value, backward.srm_p_value);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, failure_persistence: None, ..ProptestConfig::default() })]

    /// Whatever the aggregates (negative sums, impossible sums of squares, 1e300s), the output
    /// has no NaN or infinity: serde_json would print those as `null`.
    #[test]
    fn no_input_produces_a_non_finite_number(
        arms in proptest::collection::vec(
            (0_u64..u64::MAX, -1e300_f64..1e300, 0.0_f64..1e300, proptest::bool::ANY),
            2..5,
        ),
        alpha in 1e-12_f64..0.999,
    ) {
        let variants = arms
            .iter()
            .enumerate()
            .map(|(i, &(n, sum, sum_squares, small))| {
                // Half the arms realistic-sized, so refusals are not the only path exercised.
                let (n, sum, sum_squares) =
                    if small { (n % 1_000, sum % 1e4, sum_squares % 1e8) } else { (n, sum, sum_squares) };
                VariantInput { name: format!("arm{i}"), n, sum: Some(sum), sum_squares: Some(sum_squares), ..VariantInput::default() }
            })
            .collect();
        let input = AnalysisInput { alpha, ..means(variants) };
        let out = run(&input);
        let json = serde_json::to_string(&out).unwrap();
        prop_assert!(!json.contains("null"), "{json}");
    }
}

#[test]
fn refusals_never_carry_numbers_and_serialise_as_error() {
    let out = run(&binomial(&[(500, 0), (500, 3)]));
    let json = serde_json::to_value(&out).unwrap();
    assert_eq!(
        json["comparisons"][0]["frequentist"]["relative"],
        serde_json::json!({"error": "zero_control_mean"})
    );
}
