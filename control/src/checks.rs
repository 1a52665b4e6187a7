//! The checks a test must pass before it starts ([`edgewise_shared::plan::checks`]), fed from
//! the database: the other published tests, the device × persona mix of the running tests'
//! exposed units, the busiest running test's daily units, and the test's primary metric's
//! observed rate in the running tests that share it. `POST /api/v1/tests/{key}/validate`
//! reports them; a start refuses while an error remains, and while the test lacks the
//! approvals its risk score calls for ([`approval`]).

use edgewise_shared::learn;
use edgewise_shared::plan::approvals::{self, Status as Approvals};
use edgewise_shared::plan::checks::{self, Finding, Other, Setup, Severity, Sizing, Traffic};
use edgewise_shared::plan::risk::{self, Risk, RiskInput};
use edgewise_shared::snapshot::MetricRole;
use edgewise_shared::DeviceClass;
use sqlx::AnyConnection;

use crate::db::{aggregates, approvals as stored, learned, monitor, now_ms, settings, tests};
use crate::error::{AppError, AppResult, FieldError};
use crate::model::{Status, TestRecord, TestSpec};

/// The longest a test should need to reach its power, in days.
pub const MAX_DAYS: f64 = 56.0;

/// What recent traffic looks like, from the running tests' aggregates.
pub(crate) async fn traffic(
    conn: &mut AnyConnection,
    schemas: &[String],
    spec: &TestSpec,
) -> AppResult<Traffic> {
    let running = tests::list(&mut *conn, Some(Status::Running)).await?;
    let agg = aggregates::of_running_tests(&mut *conn, schemas).await?;
    let mut t = Traffic::default();
    let mut mix: std::collections::BTreeMap<(DeviceClass, String), u64> = Default::default();
    for a in agg.values() {
        for c in &a.exposures {
            let Ok(device) = serde_json::from_value::<DeviceClass>(c.device.clone().into()) else {
                continue;
            };
            *mix.entry((device, c.persona.clone())).or_default() +=
                u64::try_from(c.units).unwrap_or(0);
        }
    }
    t.mix = mix.into_iter().map(|((d, p), n)| (d, p, n)).collect();
    let now = now_ms();
    t.daily_units = running
        .iter()
        .filter(|r| r.spec.key != spec.key)
        .filter_map(|r| {
            let units: i64 = agg
                .get(&r.spec.key)?
                .exposures
                .iter()
                .map(|c| c.units)
                .sum();
            let days = ((now - r.started_at?) as f64 / 86_400_000.0).max(1.0);
            Some(units as f64 / days)
        })
        .reduce(f64::max);
    if let Some(primary) = spec.metrics.iter().find(|m| m.role == MetricRole::Primary) {
        let (mut converted, mut units) = (0i64, 0i64);
        for r in running.iter().filter(|r| r.spec.key != spec.key) {
            let Some(a) = agg.get(&r.spec.key) else {
                continue;
            };
            if !r
                .spec
                .metrics
                .iter()
                .any(|m| m.key == primary.key && m.kind == primary.kind)
            {
                continue;
            }
            converted += a
                .metrics
                .iter()
                .filter(|m| m.metric == primary.key)
                .map(|m| m.units)
                .sum::<i64>();
            units += a.exposures.iter().map(|c| c.units).sum::<i64>();
        }
        t.baseline = (units > 0 && converted > 0).then(|| converted as f64 / units as f64);
    }
    Ok(t)
}

/// Every finding for `spec` against the other published tests and recent traffic.
pub async fn run(
    conn: &mut AnyConnection,
    schemas: &[String],
    spec: &TestSpec,
) -> AppResult<Vec<Finding>> {
    let others: Vec<TestRecord> = tests::list(&mut *conn, None)
        .await?
        .into_iter()
        .filter(|o| o.status.published() && o.spec.key != spec.key)
        .collect();
    let cfg = settings::load(&mut *conn).await?;
    let templates = crate::db::templates::all(&mut *conn).await?;
    let traffic = traffic(conn, schemas, spec).await?;
    let decision = match &spec.decision {
        Some(o) => cfg.decision.with(o),
        None => cfg.decision.clone(),
    };
    Ok(checks::check(
        &crate::model::candidate(spec),
        &others
            .iter()
            .map(|o| Other {
                key: &o.spec.key,
                pages: &o.spec.pages,
                layer: o.spec.layer.as_ref(),
            })
            .collect::<Vec<_>>(),
        &traffic,
        &Setup {
            templates: &templates,
            layers: &cfg.layers,
            holdout_hash_id: cfg.holdout.as_ref().filter(|h| h.share > 0.0).map(|h| {
                h.hash_id
                    .as_deref()
                    .unwrap_or(edgewise_shared::snapshot::DEFAULT_HOLDOUT_HASH_ID)
            }),
        },
        Sizing {
            mde: decision.mde,
            alpha: decision.alpha,
            power: decision.power,
            max_days: MAX_DAYS,
        },
    ))
}

/// Refuses a start while an error remains (409, every error by field).
pub fn refuse_errors(findings: &[Finding]) -> AppResult<()> {
    let errors: Vec<FieldError> = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| FieldError::new(f.field.clone(), format!("{}: {}", f.rule, f.message)))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Conflicts(errors))
    }
}

/// The hash of a test's definition: approvals concern one definition.
pub fn spec_hash(spec: &TestSpec) -> String {
    crate::db::tokens::sha256_hex(&serde_json::to_string(spec).unwrap_or_default())
}

/// A test's risk score (docs/automation.md): its definition, the share of past tests sharing
/// one of its tags that regressed a guardrail (stopped or archived tests with a `guardrail`
/// alert), and the probability of a negative lift on its primary metric under what past tests
/// taught (`POST /api/v1/predict`'s predictive distribution).
pub async fn risk(conn: &mut AnyConnection, spec: &TestSpec) -> AppResult<Risk> {
    Ok(RiskContext::load(conn).await?.risk(spec))
}

/// What a risk score reads besides the test, loaded once to score many tests (the tests
/// list scores every test).
#[derive(Debug)]
pub struct RiskContext {
    tests: Vec<TestRecord>,
    regressed: std::collections::HashSet<String>,
    past: learn::History,
    learned: learn::Learned,
}

impl RiskContext {
    pub async fn load(conn: &mut AnyConnection) -> AppResult<RiskContext> {
        let tests = tests::list(&mut *conn, None).await?;
        let regressed = monitor::tests_alerted(&mut *conn, "guardrail").await?;
        let past = learned::history(&mut *conn).await?;
        let learned = learn::learn(&past);
        Ok(RiskContext {
            tests,
            regressed,
            past,
            learned,
        })
    }

    pub fn risk(&self, spec: &TestSpec) -> Risk {
        let sensitive_tag = spec
            .tags
            .iter()
            .any(|t| ["checkout", "pricing"].contains(&t.as_str()));
        let revenue = spec
            .metrics
            .iter()
            .any(|m| m.kind == edgewise_shared::snapshot::MetricKind::Value);
        let similar: Vec<&str> = self
            .tests
            .iter()
            .filter(|o| matches!(o.status, Status::Stopped | Status::Archived))
            .filter(|o| o.spec.key != spec.key && o.spec.tags.iter().any(|t| spec.tags.contains(t)))
            .map(|o| o.spec.key.as_str())
            .collect();
        let bad = similar
            .iter()
            .filter(|k| self.regressed.contains(**k))
            .count();
        let history = (!similar.is_empty()).then_some((bad as u32, similar.len() as u32));
        let downside = spec
            .metrics
            .iter()
            .find(|m| m.role == MetricRole::Primary)
            .and_then(|primary| {
                learn::predictive(&primary.key, &spec.tags, &self.past.tests, &self.learned)
                    .map(|(_, p, _)| p.cdf(0.0))
            });
        risk::score(&RiskInput {
            coverage: spec.coverage,
            surfaces: spec.pages.len().max(1) as u32,
            sensitive_page: sensitive_tag || revenue,
            guardrails: spec
                .metrics
                .iter()
                .filter(|m| m.role == MetricRole::Guardrail)
                .count(),
            all_devices: spec.targeting.devices.is_empty(),
            history,
            downside,
        })
    }
}

/// The risk of `spec` and where its approvals stand.
pub async fn approval(conn: &mut AnyConnection, spec: &TestSpec) -> AppResult<(Risk, Approvals)> {
    let cfg = settings::load(&mut *conn).await?;
    let r = risk(&mut *conn, spec).await?;
    let needed = risk::approvals_needed(r.score, cfg.approval_thresholds);
    let entries = stored::list(&mut *conn, &spec.key).await?;
    let authors = stored::authors(&mut *conn, &spec.key).await?;
    let status = approvals::status(needed, &entries, &spec_hash(spec), &authors);
    Ok((r, status))
}

/// Refuses a start without the approvals it needs (409 on `approvals`).
pub fn refuse_unapproved(r: &Risk, a: &Approvals) -> AppResult<()> {
    if a.satisfied {
        return Ok(());
    }
    let mut message = format!(
        "risk {} needs {} approval(s) of this definition by an approver who is not its author; \
         it has {}",
        r.score,
        a.needed,
        a.approved_by.len()
    );
    for (who, why) in &a.rejected_by {
        message.push_str(&format!("; rejected by {who}: {why}"));
    }
    Err(AppError::Conflicts(vec![FieldError::new(
        "approvals",
        message,
    )]))
}
