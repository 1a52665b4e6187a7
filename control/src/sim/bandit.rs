//! The bandit scenario of `edgewise simulate`: many seeded runs of a Thompson-sampling bandit
//! against a known truth, offline (no edge, no control plane), reporting what the bandit cost
//! and how well its period-weighted estimates cover the truth (docs/bandits.md).
//!
//! Each run splits time into update periods. In each, the period's units are shared among the
//! arms by the current weights, each arm converts at its true rate times the day's baseline
//! drift, and then [`edgewise_shared::bandit::update`] (the function the control plane's job
//! calls) sets the next period's weights. Regret is the expected conversions lost to arms
//! other than the best, against uniform allocation's.

use edgewise_shared::bandit::periods::{estimates, ArmSums};
use edgewise_shared::bandit::{check_floor, update, DEFAULT_FLOOR};
use edgewise_shared::stats::special::norm_isf;
use edgewise_shared::stats::MetricType;
use serde::{Deserialize, Serialize};

use super::random::Draw;

/// A scenario file holding `{"bandit": {...}}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BanditScenarioFile {
    pub bandit: BanditScenario,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BanditScenario {
    /// Each arm's true conversion rate on a day whose drift is 1.
    pub rates: Vec<f64>,
    /// The baseline's multiplier per day of the week, from the first day on (repeats).
    #[serde(default = "no_drift")]
    pub weekly_drift: Vec<f64>,
    pub horizon_days: u32,
    pub update_hours: u32,
    pub units_per_day: u64,
    #[serde(default = "default_floor")]
    pub floor: f64,
    /// Units every arm needs before weights move.
    #[serde(default)]
    pub burn_in_units: u64,
    pub runs: u32,
    pub seed: u64,
}

fn no_drift() -> Vec<f64> {
    vec![1.0]
}

fn default_floor() -> f64 {
    DEFAULT_FLOOR
}

impl BanditScenario {
    pub fn validate(&self) -> Result<(), String> {
        if self.rates.len() < 2 {
            return Err("bandit.rates: needs at least two arms".into());
        }
        let peak = self.weekly_drift.iter().cloned().fold(0.0, f64::max);
        if self
            .rates
            .iter()
            .any(|r| !(r.is_finite() && *r >= 0.0 && r * peak <= 1.0))
        {
            return Err("bandit.rates: every rate × drift must be within [0, 1]".into());
        }
        if self.weekly_drift.is_empty() || self.weekly_drift.iter().any(|d| d.is_nan() || *d <= 0.0)
        {
            return Err("bandit.weekly_drift: needs positive multipliers".into());
        }
        if self.horizon_days == 0 || self.update_hours == 0 || self.update_hours > 24 * 366 {
            return Err("bandit.horizon_days and bandit.update_hours must be positive".into());
        }
        if self.units_per_day == 0 || self.runs == 0 {
            return Err("bandit.units_per_day and bandit.runs must be positive".into());
        }
        check_floor(self.floor, self.rates.len()).map_err(|m| format!("bandit.floor: {m}"))
    }
}

/// What the runs showed, averaged over them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BanditReport {
    pub runs: u32,
    pub periods: u32,
    pub units_per_run: u64,
    /// Expected conversions lost to non-best arms per run: the bandit's, uniform allocation's,
    /// and their ratio.
    pub regret: f64,
    pub uniform_regret: f64,
    pub regret_ratio: f64,
    /// Share of runs in which the best arm holds the most traffic at the horizon.
    pub best_arm_most_traffic: f64,
    /// Per arm: share of its traffic over the runs.
    pub traffic_share: Vec<f64>,
    /// Share of the period-weighted 95% intervals (arms × runs) that cover the arm's true
    /// rate over the test's population; per arm below.
    pub coverage: f64,
    pub coverage_per_arm: Vec<f64>,
    /// The pooled (naive) estimator's 95% intervals, for comparison.
    pub naive_coverage: f64,
    /// Mean relative error of each arm's estimate against its true rate, period-weighted and
    /// naive.
    pub relative_bias: Vec<f64>,
    pub naive_relative_bias: Vec<f64>,
}

/// Binomial(n, p): the gaps between successes are geometric, so this draws about
/// `n · min(p, 1 − p)` numbers.
fn binomial(draw: &mut Draw, n: u64, p: f64) -> u64 {
    if p <= 0.0 || n == 0 {
        return 0;
    }
    if p >= 1.0 {
        return n;
    }
    if p > 0.5 {
        return n - binomial(draw, n, 1.0 - p);
    }
    let log_q = (-p).ln_1p();
    let (mut at, mut hits) = (0u64, 0u64);
    loop {
        let gap = ((1.0 - draw.unit()).ln() / log_q).floor();
        if gap >= (n - at) as f64 {
            return hits;
        }
        at += gap as u64 + 1;
        hits += 1;
    }
}

/// An estimate and its 95% interval.
type Interval = (f64, [f64; 2]);

/// One run's outcome.
struct Run {
    regret: f64,
    uniform_regret: f64,
    best_leads: bool,
    traffic: Vec<u64>,
    /// Per arm: (truth, period-weighted estimate and its interval, pooled estimate and its).
    arms: Vec<(f64, Option<Interval>, Interval)>,
}

fn run_once(s: &BanditScenario, draw: &mut Draw) -> Run {
    let k = s.rates.len();
    let periods = (s.horizon_days * 24).div_ceil(s.update_hours);
    let per_period = (s.units_per_day * u64::from(s.update_hours)).div_ceil(24);
    let best = s.rates.iter().cloned().fold(0.0, f64::max);
    let mean_rate = s.rates.iter().sum::<f64>() / k as f64;
    let mut weights = vec![1.0 / k as f64; k];
    let mut data: Vec<Vec<ArmSums>> = Vec::with_capacity(periods as usize);
    let (mut regret, mut uniform_regret) = (0.0, 0.0);
    let mut truth = vec![0.0; k];
    let mut traffic = vec![0u64; k];
    for p in 0..periods {
        let day = (p * s.update_hours / 24) as usize;
        let drift = s.weekly_drift[day % s.weekly_drift.len()];
        let mut left = per_period;
        let mut weight_left = 1.0;
        let mut period = Vec::with_capacity(k);
        for a in 0..k {
            let n = if a + 1 == k {
                left
            } else {
                binomial(draw, left, (weights[a] / weight_left).min(1.0))
            };
            left -= n;
            weight_left -= weights[a];
            let c = binomial(draw, n, s.rates[a] * drift);
            regret += n as f64 * (best - s.rates[a]) * drift;
            truth[a] += per_period as f64 * s.rates[a] * drift;
            traffic[a] += n;
            period.push(ArmSums {
                units: n,
                sum: c as f64,
                sum_sq: c as f64,
            });
        }
        uniform_regret += per_period as f64 * (best - mean_rate) * drift;
        data.push(period);
        let burnt_in = traffic.iter().all(|&n| n >= s.burn_in_units.max(1));
        if burnt_in {
            if let Some(u) = update(MetricType::Binomial, &data, s.floor) {
                weights = u.weights;
            }
        }
    }
    let total = (periods as u64 * per_period) as f64;
    let best_arm = (0..k)
        .max_by(|&a, &b| s.rates[a].total_cmp(&s.rates[b]))
        .unwrap_or(0);
    let z = norm_isf(0.025);
    let est = estimates(&data, 0.05);
    let arms = (0..k)
        .map(|a| {
            let (n, c): (u64, f64) = data
                .iter()
                .fold((0, 0.0), |(n, c), p| (n + p[a].units, c + p[a].sum));
            let pooled = if n > 0 { c / n as f64 } else { 0.0 };
            let se = (pooled * (1.0 - pooled) / n.max(1) as f64).sqrt();
            (
                truth[a] / total,
                est[a].map(|e| (e.mean, e.ci)),
                (pooled, [pooled - z * se, pooled + z * se]),
            )
        })
        .collect();
    Run {
        regret,
        uniform_regret,
        best_leads: (0..k).all(|a| a == best_arm || weights[best_arm] > weights[a]),
        traffic,
        arms,
    }
}

/// Runs the scenario (checked with [`BanditScenario::validate`]).
pub fn simulate(s: &BanditScenario) -> BanditReport {
    let k = s.rates.len();
    let mut draw = Draw::new(s.seed);
    let runs: Vec<Run> = (0..s.runs).map(|_| run_once(s, &mut draw)).collect();
    let r = f64::from(s.runs);
    let covers = |ci: [f64; 2], x: f64| ci[0] <= x && x <= ci[1];
    let coverage_per_arm: Vec<f64> = (0..k)
        .map(|a| {
            runs.iter()
                .filter(|run| {
                    let (truth, est, _) = run.arms[a];
                    est.is_some_and(|(_, ci)| covers(ci, truth))
                })
                .count() as f64
                / r
        })
        .collect();
    let naive = runs
        .iter()
        .flat_map(|run| &run.arms)
        .filter(|(truth, _, (_, ci))| covers(*ci, *truth))
        .count() as f64
        / (r * k as f64);
    let bias = |pick: &dyn Fn(&Run, usize) -> Option<f64>| -> Vec<f64> {
        (0..k)
            .map(|a| {
                runs.iter()
                    .filter_map(|run| pick(run, a).map(|x| x / run.arms[a].0 - 1.0))
                    .sum::<f64>()
                    / r
            })
            .collect()
    };
    let regret = runs.iter().map(|x| x.regret).sum::<f64>() / r;
    let uniform_regret = runs.iter().map(|x| x.uniform_regret).sum::<f64>() / r;
    let all_traffic: u64 = runs.iter().flat_map(|x| &x.traffic).sum();
    let periods = (s.horizon_days * 24).div_ceil(s.update_hours);
    BanditReport {
        runs: s.runs,
        periods,
        units_per_run: u64::from(periods)
            * (s.units_per_day * u64::from(s.update_hours)).div_ceil(24),
        regret,
        uniform_regret,
        regret_ratio: regret / uniform_regret,
        best_arm_most_traffic: runs.iter().filter(|x| x.best_leads).count() as f64 / r,
        traffic_share: (0..k)
            .map(|a| runs.iter().map(|x| x.traffic[a]).sum::<u64>() as f64 / all_traffic as f64)
            .collect(),
        coverage: coverage_per_arm.iter().sum::<f64>() / k as f64,
        coverage_per_arm,
        naive_coverage: naive,
        relative_bias: bias(&|run, a| run.arms[a].1.map(|(m, _)| m)),
        naive_relative_bias: bias(&|run, a| Some(run.arms[a].2 .0)),
    }
}
