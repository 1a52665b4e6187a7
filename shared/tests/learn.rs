//! Learning across tests: the meta-analysis against statsmodels' `combine_effects`
//! (fixtures from scripts/meta_fixtures.py), and simulated histories with known true lifts:
//! shrinkage beats the raw estimates, predictive intervals cover, signs are predicted.
#![cfg(feature = "stats")]

mod common;

use common::Rng;
use edgewise_shared::learn::meta::{
    dersimonian_laird, heterogeneity, paule_mandel, shrink, Predictive,
};
use edgewise_shared::learn::{learn, pool, predict, Draft, History, PastTest};
use serde_json::Value;

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * b.abs().max(1e-3)
}

#[test]
fn dersimonian_laird_and_paule_mandel_agree_with_statsmodels() {
    let text = include_str!("vectors/meta/pools.json");
    let doc: Value = serde_json::from_str(text).unwrap();
    let mut checked = 0;
    for case in doc["cases"].as_array().unwrap() {
        let effects: Vec<(f64, f64)> = case["tests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["lift"].as_f64().unwrap(), t["se"].as_f64().unwrap()))
            .collect();
        let name = case["name"].as_str().unwrap();
        let dl = dersimonian_laird(&effects).unwrap();
        let e = &case["dl"];
        for (what, got, want) in [
            ("mu", dl.mu, e["mu"].as_f64().unwrap()),
            ("se", dl.se, e["se"].as_f64().unwrap()),
            ("tau2", dl.tau2, e["tau2"].as_f64().unwrap()),
        ] {
            assert!(close(got, want, 1e-9), "{name} dl {what}: {got} vs {want}");
        }
        let h = heterogeneity(&effects);
        assert!(close(h.q, e["q"].as_f64().unwrap(), 1e-9), "{name} q");
        assert!(close(h.i2, e["i2"].as_f64().unwrap(), 1e-9), "{name} i2");
        // statsmodels iterates Paule–Mandel to its own tolerance; ours solves Q(τ²) = k − 1
        // to machine precision.
        let pm = paule_mandel(&effects).unwrap();
        let e = &case["pm"];
        for (what, got, want) in [
            ("mu", pm.mu, e["mu"].as_f64().unwrap()),
            ("se", pm.se, e["se"].as_f64().unwrap()),
            ("tau2", pm.tau2, e["tau2"].as_f64().unwrap()),
        ] {
            assert!(close(got, want, 1e-4), "{name} pm {what}: {got} vs {want}");
        }
        checked += 1;
    }
    assert_eq!(checked, 12);
}

/// A history of `n` tests whose true lifts are N(mu, tau²), with standard errors varying
/// ten-fold; returns the tests and their true lifts.
fn history(rng: &mut Rng, n: usize, mu: f64, tau: f64) -> (Vec<PastTest>, Vec<f64>) {
    let mut tests = Vec::new();
    let mut truth = Vec::new();
    for i in 0..n {
        let true_lift = mu + tau * rng.normal();
        let se = 0.005 * 10f64.powf(rng.uniform());
        tests.push(PastTest {
            key: format!("t{i}"),
            tags: vec![],
            metric: "conversion".into(),
            lift: true_lift + se * rng.normal(),
            se,
            segments: Default::default(),
        });
        truth.push(true_lift);
    }
    (tests, truth)
}

/// Leave-one-out over many simulated histories: (MSE of shrunken / MSE of raw, 80% interval
/// coverage, share of signs right).
fn leave_one_out(mu: f64, tau: f64, seed: u64) -> (f64, f64, f64) {
    let mut rng = Rng(seed);
    let (mut raw, mut shrunk, mut covered, mut signs, mut n) = (0.0, 0.0, 0, 0, 0);
    for _ in 0..100 {
        let (tests, truth) = history(&mut rng, 20, mu, tau);
        for i in 0..tests.len() {
            let others: Vec<(f64, f64)> = tests
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, t)| (t.lift, t.se))
                .collect();
            let prior = pool(&others).unwrap();
            let (lift, _) = shrink(tests[i].lift, tests[i].se, &prior);
            raw += (tests[i].lift - truth[i]).powi(2);
            shrunk += (lift - truth[i]).powi(2);
            // The prediction for a new test before it runs.
            let p = Predictive::new(&others).unwrap();
            if (p.quantile(0.1)..=p.quantile(0.9)).contains(&truth[i]) {
                covered += 1;
            }
            if (p.mean() > 0.0) == (truth[i] > 0.0) {
                signs += 1;
            }
            n += 1;
        }
    }
    let n = f64::from(n);
    (shrunk / raw, f64::from(covered) / n, f64::from(signs) / n)
}

#[test]
fn shrinkage_beats_raw_estimates_and_predictions_cover() {
    // (true mean lift, spread of true lifts): a clear signal, a weaker one, a spread wider than
    // the signal, no signal at all. A new test's sign cannot be called right more often than
    // Φ(|μ| / τ) of the time (84% for the second, 63% for the third).
    for (mu, tau, seed) in [
        (0.02, 0.01, 1),
        (0.02, 0.02, 2),
        (0.01, 0.03, 3),
        (0.0, 0.01, 4),
    ] {
        let (mse_ratio, coverage, signs) = leave_one_out(mu, tau, seed);
        println!(
            "mu {mu}, tau {tau}: shrunken MSE {:.1}% of raw, 80% coverage {:.1}%, signs right {:.1}%",
            mse_ratio * 100.0,
            coverage * 100.0,
            signs * 100.0
        );
        assert!(mse_ratio <= 0.7, "mu {mu} tau {tau}: MSE ratio {mse_ratio}");
        assert!(
            (coverage - 0.8).abs() <= 0.05,
            "mu {mu} tau {tau}: coverage {coverage}"
        );
        let best = edgewise_shared::stats::special::norm_cdf(f64::abs(mu) / tau);
        if best >= 0.75 {
            assert!(signs >= 0.7, "mu {mu} tau {tau}: signs {signs}");
        }
    }
}

#[test]
fn a_draft_gets_the_tag_prior_and_a_flat_prior_without_history() {
    let mut rng = Rng(7);
    let (mut tests, _) = history(&mut rng, 12, 0.03, 0.01);
    for t in tests.iter_mut().take(6) {
        t.tags = vec!["headline".into()];
    }
    let h = History { tests };
    let learned = learn(&h);
    assert!(learned.by_tag.contains_key("headline"));
    let draft = Draft {
        metric: "conversion".into(),
        tags: vec!["headline".into()],
        baseline: 0.1,
        daily_units: 2000.0,
        variants: 2,
        alpha: 0.05,
        days: 14.0,
    };
    let p = predict(&draft, &h.tests, &learned);
    assert_eq!(p.prior.source, "tag:headline");
    assert_eq!(p.prior.n_tests, 6);
    let (mean, sd) = (p.lift.mean.unwrap(), p.lift.sd.unwrap());
    assert!(mean > 0.0 && sd > 0.0);
    assert!(p.p_positive.unwrap() > 0.5);
    let s = p.p_significant_by_day_n.unwrap();
    assert!((0.0..=1.0).contains(&s));
    // More days, more chance.
    let later = predict(
        &Draft {
            days: 60.0,
            ..draft.clone()
        },
        &h.tests,
        &learned,
    );
    assert!(later.p_significant_by_day_n.unwrap() > s);
    assert!(p.expected_days_to_significance.unwrap() > 0.0);

    let few = History {
        tests: h.tests[..3].to_vec(),
    };
    let p = predict(&draft, &few.tests, &learn(&few));
    assert_eq!((p.prior.source.as_str(), p.prior.n_tests), ("flat", 3));
    assert_eq!(p.lift.mean, None);
    assert!(!serde_json::to_string(&p).unwrap().contains("NaN"));
}
