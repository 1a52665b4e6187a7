//! `edgewise bandit` and the bandit scenario of `edgewise simulate`, as analysts run them: the
//! built binary's weights against an independent Monte Carlo estimate, bad inputs refused by
//! field, and the documented simulation (docs/scenarios/bandit.json, 1,000 seeded runs)
//! meeting the bandit's promises.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::{json, Value};

fn edgewise(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edgewise"))
        .args(args)
        .output()
        .unwrap()
}

fn bandit(input: &Value) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("input.json");
    std::fs::write(&path, input.to_string()).unwrap();
    edgewise(&["bandit", "--input", path.to_str().unwrap()])
}

fn numbers(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// SplitMix64 and Box–Muller: an independent way to the same probabilities.
struct Rng(u64);

impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform().max(1e-300), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

#[test]
fn probabilities_of_being_best_agree_with_monte_carlo_and_the_floor_holds() {
    // Three arms of a mean metric: posteriors Normal(mean, var / n).
    let arms = [(400u64, 10.0, 2.0), (500, 10.3, 2.5), (300, 10.2, 1.5)];
    let variants: Vec<Value> = arms
        .iter()
        .enumerate()
        .map(|(i, &(n, mean, sd))| {
            let n_f = n as f64;
            // sum_squares so the sample variance (n − 1 denominator) is sd².
            let sum = mean * n_f;
            let sum_squares = sd * sd * (n_f - 1.0) + sum * sum / n_f;
            json!({"name": format!("v{i}"), "n": n, "sum": sum, "sum_squares": sum_squares})
        })
        .collect();
    let out =
        bandit(&json!({"metric_type": "mean", "variants": variants, "floor": 0.05, "seed": 7}));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let (p, w) = (numbers(&v["probability_best"]), numbers(&v["weights"]));

    let draws = 1_000_000;
    let mut rng = Rng(42);
    let mut wins = [0u64; 3];
    for _ in 0..draws {
        let x: Vec<f64> = arms
            .iter()
            .map(|&(n, mean, sd)| mean + sd / (n as f64).sqrt() * rng.normal())
            .collect();
        let best = (0..3).max_by(|&a, &b| x[a].total_cmp(&x[b])).unwrap();
        wins[best] += 1;
    }
    for i in 0..3 {
        let mc = wins[i] as f64 / draws as f64;
        // The Monte Carlo estimate's standard error is at most 0.0005.
        assert!(
            (p[i] - mc).abs() < 0.0025,
            "arm {i}: {} vs Monte Carlo {mc}",
            p[i]
        );
    }
    assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-9, "{w:?}");
    assert!(w.iter().all(|x| *x >= 0.05), "{w:?}");
    // Above the floor, weights follow the probabilities.
    assert!(w[1] > w[2] && p[1] > p[2], "{w:?} {p:?}");
}

#[test]
fn conversion_rates_use_beta_posteriors_and_an_even_split_when_nothing_is_known() {
    let even = bandit(&json!({"metric_type": "binomial", "variants": [
        {"name": "a", "n": 0, "conversions": 0}, {"name": "b", "n": 0, "conversions": 0}]}));
    assert!(even.status.success());
    let v: Value = serde_json::from_slice(&even.stdout).unwrap();
    assert_eq!(numbers(&v["weights"]), vec![0.5, 0.5]);

    let clear = bandit(
        &json!({"metric_type": "binomial", "floor": 0.01, "variants": [
        {"name": "a", "n": 5000, "conversions": 500}, {"name": "b", "n": 5000, "conversions": 650}]}),
    );
    let v: Value = serde_json::from_slice(&clear.stdout).unwrap();
    assert_eq!(numbers(&v["weights"]), vec![0.01, 0.99]);
    assert!(numbers(&v["probability_best"])[1] > 0.9999);
}

#[test]
fn bad_inputs_exit_2_naming_the_field() {
    let two =
        json!([{"name": "a", "n": 10, "conversions": 1}, {"name": "b", "n": 10, "conversions": 2}]);
    let cases = [
        (
            json!({"metric_type": "binomial", "variants": two, "floor": 0.6}),
            "floor",
        ),
        (
            json!({"metric_type": "binomial", "variants": two, "floor": -0.1}),
            "floor",
        ),
        (
            json!({"metric_type": "ratio", "variants": two}),
            "metric_type",
        ),
        (
            json!({"metric_type": "binomial", "variants": [{"name": "a", "n": 10, "conversions": 1}, {"name": "b", "n": 10}]}),
            "variants[1].conversions",
        ),
        (
            json!({"metric_type": "binomial", "variants": [{"name": "a", "n": 10, "conversions": 11}, {"name": "b", "n": 10, "conversions": 1}]}),
            "variants[0].conversions",
        ),
        (
            json!({"metric_type": "binomial", "variants": [{"name": "a", "n": 1, "conversions": 0}]}),
            "variants",
        ),
        (
            json!({"metric_type": "binomial", "variants": two, "flor": 0.1}),
            "flor",
        ),
    ];
    for (input, field) in cases {
        let out = bandit(&input);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{input}: {err}");
        assert!(err.contains(field), "{input}: `{field}` not in {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn the_documented_simulation_keeps_the_bandits_promises() {
    let scenario = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/scenarios/bandit.json");
    let out = edgewise(&["simulate", "--scenario", scenario.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = |k: &str| r[k].as_f64().unwrap();
    assert_eq!(r["runs"], 1000);
    // Three arms at 10%, 11%, 12% with weekends converting 40% better, hourly updates.
    assert!(f("regret_ratio") <= 0.5, "{r}");
    assert!(f("best_arm_most_traffic") >= 0.95, "{r}");
    assert!((f("coverage") - 0.95).abs() <= 0.02, "{r}");
    // The pooled estimator is biased while traffic moves under a drifting baseline: the
    // arms that lost traffic early (on weekdays) look worse than they are.
    assert!(f("naive_coverage") < 0.85, "{r}");
    let naive = numbers(&r["naive_relative_bias"]);
    let weighted = numbers(&r["relative_bias"]);
    assert!(naive[0] < -0.03, "{r}");
    assert!(weighted.iter().all(|b| b.abs() < 0.01), "{r}");
}
