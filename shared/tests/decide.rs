//! The monitor's recommendation on simulated tests, checked at every tick as the monitor does:
//! A/A tests are almost never shipped (the sequential analysis keeps its error rate however
//! often it is asked), a known winner is shipped after the minimum runtime and not before, a
//! neutral test with ample traffic is stopped without a winner, and a guardrail regression
//! stops the test.

use edgewise_shared::decide::{
    recommend, DecisionSettings, GuardrailInput, RecommendInput, Verdict,
};
use edgewise_shared::stats::{AnalysisInput, MetricType, VariantInput};

mod common;
use common::Rng;

struct Arm {
    n: u64,
    conversions: u64,
}

fn input(arms: &[Arm], days: f64, daily_units: f64, decision: DecisionSettings) -> RecommendInput {
    RecommendInput {
        primary: AnalysisInput {
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
                .map(|(i, a)| VariantInput {
                    name: if i == 0 {
                        "control".into()
                    } else {
                        format!("v{i}")
                    },
                    n: a.n,
                    conversions: Some(a.conversions),
                    ..VariantInput::default()
                })
                .collect(),
        },
        days_running: days,
        daily_units,
        decision,
        guardrails: Vec::new(),
    }
}

/// Runs one simulated test for `days`, checking every `per_day`-th of a day; returns the
/// verdict at each tick.
fn run(
    seed: u64,
    rates: &[f64],
    daily_per_arm: u64,
    days: u32,
    per_day: u32,
) -> Vec<(f64, Verdict)> {
    let mut rng = Rng(seed);
    let mut arms: Vec<Arm> = rates
        .iter()
        .map(|_| Arm {
            n: 0,
            conversions: 0,
        })
        .collect();
    let step = daily_per_arm / u64::from(per_day);
    let mut verdicts = Vec::new();
    for tick in 1..=days * per_day {
        for (a, p) in arms.iter_mut().zip(rates) {
            a.n += step;
            a.conversions += rng.binomial(step, *p);
        }
        let day = f64::from(tick) / f64::from(per_day);
        let daily = (daily_per_arm * rates.len() as u64) as f64;
        let r = recommend(&input(&arms, day, daily, DecisionSettings::default())).unwrap();
        verdicts.push((day, r.recommendation));
    }
    verdicts
}

#[test]
fn a_a_tests_are_shipped_at_most_five_percent_of_the_time_checked_every_tick() {
    let tests = 2_000;
    // 14 days at 2,000 units per arm per day, checked four times a day: 56 looks per test.
    let shipped = (0..tests)
        .filter(|&seed| {
            run(seed, &[0.10, 0.10], 2_000, 14, 4)
                .iter()
                .any(|(_, v)| *v == Verdict::Ship)
        })
        .count();
    let rate = shipped as f64 / f64::from(tests as u32);
    eprintln!(
        "A/A: {shipped} of {tests} shipped at some tick ({:.2}%)",
        100.0 * rate
    );
    assert!(rate <= 0.05, "{shipped} of {tests} A/A tests were shipped");
}

#[test]
fn a_known_winner_ships_after_the_minimum_runtime_not_before() {
    // +15% on a 10% rate, 5,000 units per arm per day.
    let verdicts = run(7, &[0.10, 0.115], 5_000, 14, 4);
    let first_ship = verdicts
        .iter()
        .find(|(_, v)| *v == Verdict::Ship)
        .map(|(d, _)| *d);
    let first_ship = first_ship.expect("the winner is shipped within 14 days");
    assert!(first_ship >= 7.0, "shipped on day {first_ship}");
    assert!(
        verdicts
            .iter()
            .all(|(d, v)| *d >= 7.0 || *v == Verdict::KeepRunning),
        "nothing but keep_running before the minimum runtime"
    );
    let last = input(
        &[
            Arm {
                n: 70_000,
                conversions: 7_000,
            },
            Arm {
                n: 70_000,
                conversions: 8_050,
            },
        ],
        14.0,
        10_000.0,
        DecisionSettings::default(),
    );
    let r = recommend(&last).unwrap();
    assert_eq!(
        (r.recommendation, r.variant.as_deref()),
        (Verdict::Ship, Some("v1"))
    );
}

#[test]
fn a_neutral_test_with_ample_traffic_stops_without_a_winner() {
    // The MDE of 5% needs about 58,000 units per arm at a 10% rate; this test gets 200,000.
    let verdicts = run(11, &[0.10, 0.10], 20_000, 10, 1);
    let (day, v) = verdicts.last().unwrap();
    assert_eq!(*v, Verdict::StopNoWinner, "day {day}");
    // Before the minimum runtime it keeps running, with the days it still needs.
    let early = recommend(&input(
        &[
            Arm {
                n: 20_000,
                conversions: 2_000,
            },
            Arm {
                n: 20_000,
                conversions: 2_010,
            },
        ],
        1.0,
        40_000.0,
        DecisionSettings::default(),
    ))
    .unwrap();
    assert_eq!(early.recommendation, Verdict::KeepRunning);
    let days = early.days_remaining.unwrap();
    assert!((6.0..=7.0).contains(&days), "{days}");
}

#[test]
fn a_guardrail_regression_stops_the_test() {
    let mut i = input(
        &[
            Arm {
                n: 50_000,
                conversions: 5_000,
            },
            Arm {
                n: 50_000,
                conversions: 5_050,
            },
        ],
        3.0,
        20_000.0,
        DecisionSettings::default(),
    );
    i.guardrails.push(GuardrailInput {
        key: "revenue".into(),
        metric_type: MetricType::Mean,
        max_regression: Some(0.01),
        higher_is_better: true,
        variants: vec![
            VariantInput {
                name: "control".into(),
                n: 50_000,
                sum: Some(500_000.0),
                sum_squares: Some(10_000_000.0),
                ..VariantInput::default()
            },
            VariantInput {
                name: "v1".into(),
                n: 50_000,
                sum: Some(450_000.0),
                sum_squares: Some(9_000_000.0),
                ..VariantInput::default()
            },
        ],
    });
    let r = recommend(&i).unwrap();
    assert_eq!(r.recommendation, Verdict::StopGuardrail, "{:?}", r.reasons);
    assert_eq!(r.variant.as_deref(), Some("v1"));
    assert!(r.guardrails[0].regressed && r.guardrails[0].severity > 3.0);
    // Within the allowed regression it does not stop.
    i.guardrails[0].max_regression = Some(0.2);
    assert_eq!(recommend(&i).unwrap().recommendation, Verdict::KeepRunning);
}

#[test]
fn bad_settings_name_the_field() {
    let d = DecisionSettings {
        power: 1.5,
        ..DecisionSettings::default()
    };
    let e = recommend(&input(
        &[
            Arm {
                n: 1,
                conversions: 0,
            },
            Arm {
                n: 1,
                conversions: 0,
            },
        ],
        0.0,
        0.0,
        d,
    ))
    .unwrap_err();
    assert_eq!(e.field, "decision.power");
}
