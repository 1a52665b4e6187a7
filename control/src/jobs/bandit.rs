//! The bandit job: on each runner tick, every running bandit whose update is due gets new
//! weights from [`edgewise_shared::bandit::update`] over its per-period aggregates. A change
//! of weights is one period: stored with the first snapshot version serving it, published,
//! and audited as the `monitor` (action `test.bandit_update`). The first change also stores
//! period 0, the weights the test started with.

use edgewise_shared::bandit::periods::{by_period, expected_split};
use edgewise_shared::bandit::{update, BanditSettings};
use edgewise_shared::stats::MetricType;
use serde_json::json;

use crate::db::bandits::{self, PeriodRow, StratumRow};
use crate::db::{tests, Actor, Db, Mutation, MONITOR};
use crate::error::AppResult;
use crate::model::{Status, TestRecord};

/// Weights closer than this to the current ones are not a change (no new period).
const MIN_CHANGE: f64 = 0.0005;

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct BanditReport {
    /// Bandits that got new weights.
    pub updated: Vec<String>,
}

/// A bandit's state as the job and the API read it.
#[derive(Debug, Clone)]
pub struct BanditState {
    pub settings: BanditSettings,
    pub metric: String,
    pub kind: MetricType,
    pub periods: Vec<PeriodRow>,
    /// Per period (time order, period 0 first), per variant: units and the metric's sums.
    pub data: Vec<Vec<edgewise_shared::bandit::periods::ArmSums>>,
    /// Each variant's expected share of the units given the periods' weights (what the
    /// sample-ratio checks compare with); `None` before the first change of weights.
    pub expected: Option<Vec<f64>>,
}

/// Reads a bandit's settings, periods and per-period aggregates; `None` for a test with fixed
/// weights (or settings that no longer check).
pub async fn state(db: &Db, rec: &TestRecord) -> AppResult<Option<BanditState>> {
    let Some(settings) = rec.spec.bandit_settings() else {
        return Ok(None);
    };
    let Ok((metric, kind)) = settings.check(rec.spec.variants.len(), &rec.spec.metrics) else {
        return Ok(None);
    };
    let metric = metric.key.clone();
    let key = &rec.spec.key;
    let schemas = db.shard_schemas();
    let mut conn = db.reader.acquire().await?;
    let periods = bandits::periods(&mut conn, key).await?;
    let exposed = bandits::strata(&mut conn, &schemas, key, "").await?;
    let values = bandits::strata(&mut conn, &schemas, key, &metric).await?;
    let arm = |r: &StratumRow| {
        rec.spec
            .variants
            .iter()
            .position(|v| v.key == r.variant)
            .unwrap_or(usize::MAX)
    };
    let starts: Vec<i64> = periods
        .iter()
        .filter(|p| p.period > 0)
        .map(|p| p.snapshot_version)
        .collect();
    let data = by_period(
        rec.spec.variants.len(),
        &starts,
        &exposed
            .iter()
            .map(|r| (r.stratum, arm(r), r.units.max(0) as u64))
            .collect::<Vec<_>>(),
        &values
            .iter()
            .map(|r| (r.stratum, arm(r), r.sum, r.sum_sq))
            .collect::<Vec<_>>(),
    );
    let weights: Vec<Vec<f64>> = periods
        .iter()
        .map(|p| serde_json::from_str(&p.weights).unwrap_or_default())
        .collect();
    let expected = expected_split(&data, &weights);
    Ok(Some(BanditState {
        settings,
        metric,
        kind,
        periods,
        data,
        expected,
    }))
}

/// The split a test's units are expected in: its weights, or for a bandit whose weights have
/// changed, each variant's share over the periods ([`BanditState::expected`]).
pub async fn expected_weights(db: &Db, rec: &TestRecord) -> AppResult<Vec<f64>> {
    let fixed = || rec.spec.variants.iter().map(|v| v.weight).collect();
    Ok(state(db, rec)
        .await?
        .and_then(|s| s.expected)
        .unwrap_or_else(fixed))
}

/// Updates every running bandit that is due at `now` (Unix ms).
pub async fn tick(db: &Db, now: i64) -> anyhow::Result<BanditReport> {
    let running = {
        let mut conn = db.reader.acquire().await?;
        tests::list(&mut conn, Some(Status::Running)).await?
    };
    let mut report = BanditReport::default();
    for rec in running {
        if let Some(s) = state(db, &rec).await? {
            if update_one(db, &rec, &s, now).await? {
                report.updated.push(rec.spec.key.clone());
            }
        }
    }
    Ok(report)
}

/// One bandit's update if it is due and past its burn-in; whether its weights changed.
async fn update_one(db: &Db, rec: &TestRecord, s: &BanditState, now: i64) -> AppResult<bool> {
    let started = rec.started_at.unwrap_or(now);
    let last = s.periods.last().map_or(started, |p| p.started_at);
    if !s.periods.is_empty() && now - last < s.settings.update_interval_seconds * 1000 {
        return Ok(false);
    }
    if ((now - started) as f64) < s.settings.burn_in_hours * 3_600_000.0 {
        return Ok(false);
    }
    let units = |arm: usize| s.data.iter().map(|p| p[arm].units).sum::<u64>();
    let arms = rec.spec.variants.len();
    if (0..arms).any(|a| units(a) < s.settings.burn_in_units.max(1) as u64) {
        return Ok(false);
    }
    let Some(next) = update(s.kind, &s.data, s.settings.floor) else {
        return Ok(false);
    };
    let total: f64 = rec.spec.variants.iter().map(|v| v.weight).sum();
    let moved = rec
        .spec
        .variants
        .iter()
        .zip(&next.weights)
        .any(|(v, w)| (v.weight / total - w).abs() >= MIN_CHANGE);
    if !moved {
        return Ok(false);
    }

    let key = &rec.spec.key;
    let mut m = Mutation::begin(db).await?;
    let old = tests::get_or_404(&mut m.tx, key).await?;
    if old.status != Status::Running || old.spec.variants.len() != arms {
        return Ok(false);
    }
    let mut fresh = old.clone();
    for (v, w) in fresh.spec.variants.iter_mut().zip(&next.weights) {
        v.weight = *w;
    }
    fresh.updated_at = m.at;
    tests::update(&mut m.tx, &fresh, m.at).await?;
    // The new weights reach the edge in the snapshot this mutation publishes: the next
    // version (mutations take turns, so nobody else takes it).
    let current: i64 = sqlx::query_scalar("SELECT value FROM counters WHERE name = 'snapshot'")
        .fetch_one(&mut *m.tx)
        .await?;
    let period = PeriodRow {
        period: s.periods.last().map_or(1, |p| p.period + 1),
        started_at: m.at,
        snapshot_version: current + 1,
        weights: serde_json::to_string(&next.weights)?,
        probability_best: serde_json::to_string(&next.probability_best)?,
    };
    if s.periods.is_empty() {
        // Period 0: the weights the test started with, for the history.
        let start = PeriodRow {
            period: 0,
            started_at: started,
            snapshot_version: 0,
            weights: serde_json::to_string(
                &old.spec
                    .variants
                    .iter()
                    .map(|v| v.weight / total)
                    .collect::<Vec<_>>(),
            )?,
            probability_best: "[]".into(),
        };
        bandits::insert_period(&mut m.tx, key, &start).await?;
    }
    bandits::insert_period(&mut m.tx, key, &period).await?;
    let before = json!({"weights": old.spec.variants.iter().map(|v| v.weight).collect::<Vec<_>>()});
    let after = json!({
        "weights": next.weights,
        "probability_best": next.probability_best,
        "period": period.period,
        "metric": s.metric,
    });
    let version = m
        .finish(
            &Actor(MONITOR.into()),
            "test.bandit_update",
            key,
            Some(&before),
            Some(&after),
        )
        .await?;
    if version != Some(period.snapshot_version) {
        tracing::error!(
            test = %key,
            expected = period.snapshot_version,
            published = ?version,
            "a bandit period's snapshot version is not the one published"
        );
    }
    Ok(true)
}
