//! The monitor's tick: close the last time bucket into the history, evaluate every running
//! test ([`super::evaluate`]), plan what to do about its findings (`decide::plan`), act
//! through the lifecycle as actor `monitor`, then store the evaluations, what the monitor
//! remembers, the alerts and their webhook deliveries.
//!
//! Actions come before the bookkeeping: if the process dies in between, the next tick plans
//! again from the old memory and finds the test already paused, so nothing is done twice.

use edgewise_shared::decide::{plan, Action, Memory};
use serde::Serialize;

use super::evaluate::{evaluate, Evaluation};
use crate::db::{aggregates, history, monitor, settings, tests, webhooks, Actor, Db, MONITOR};
use crate::error::AppError;
use crate::lifecycle;
use crate::model::{Status, Transition};

/// Closed buckets the drift checks look back over (a day of hourly buckets and two more).
const LOOKBACK_BUCKETS: i64 = 26;

/// What one tick did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TickReport {
    pub at: i64,
    /// The bucket closed into the history, if this tick closed one.
    pub closed_bucket: Option<i64>,
    pub tests: usize,
    pub alerts: usize,
    pub actions: Vec<ActionTaken>,
    /// Bandits whose weights this tick changed ([`super::bandit`]).
    pub bandits: Vec<String>,
    /// Tests whose ramp stepped or paused this tick ([`super::ramp`]).
    pub ramps: Vec<String>,
    /// Scheduled tests this tick started or stopped ([`super::schedule`]).
    pub scheduled: Vec<String>,
    /// Whether a new snapshot version was published (an action changed assignment).
    #[serde(skip)]
    pub published: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ActionTaken {
    pub test: String,
    #[serde(flatten)]
    pub action: Action,
}

/// The start of the bucket holding `t`.
pub fn bucket_of(t: i64, bucket_ms: i64) -> i64 {
    t - t.rem_euclid(bucket_ms)
}

pub async fn tick(db: &Db, now: i64, bucket_ms: i64) -> anyhow::Result<TickReport> {
    let mut report = TickReport {
        at: now,
        ..TickReport::default()
    };
    let schemas = db.shard_schemas();
    let current = bucket_of(now, bucket_ms);

    // The last closed bucket, once.
    {
        let _turn = db.write_turn().await;
        let mut tx = db.writer.begin().await?;
        let closed: Option<i64> = monitor::state(&mut tx, "history.closed")
            .await?
            .and_then(|v| v.parse().ok());
        let due = current - bucket_ms;
        if closed.is_none_or(|c| c < due) {
            history::close(&mut tx, &schemas, due).await?;
            monitor::set_state(&mut tx, "history.closed", &due.to_string()).await?;
            report.closed_bucket = Some(due);
        }
        tx.commit().await?;
    }

    let (running, org, mut aggs, drift, memory) = {
        let mut conn = db.reader.acquire().await?;
        (
            tests::list(&mut conn, Some(Status::Running)).await?,
            settings::load(&mut conn).await?.decision,
            aggregates::of_running_tests(&mut conn, &schemas).await?,
            history::overall_since(&mut conn, current - LOOKBACK_BUCKETS * bucket_ms).await?,
            monitor::memory(&mut conn).await?,
        )
    };
    report.tests = running.len();

    let mut outcomes: Vec<Outcome> = Vec::new();
    let monitor_actor = Actor(MONITOR.into());
    for rec in &running {
        let key = &rec.spec.key;
        let settings = match &rec.spec.decision {
            Some(o) => org.with(o),
            None => org.clone(),
        };
        let agg = aggs.remove(key).unwrap_or_default();
        let units = drift.units.get(key).map_or(&[][..], Vec::as_slice);
        let conversions = |metric: &str| {
            drift
                .conversions
                .get(&(key.clone(), metric.to_owned()))
                .cloned()
                .unwrap_or_default()
        };
        let weights = super::bandit::expected_weights(db, rec).await?;
        let evaluation = evaluate(rec, &weights, &agg, units, &conversions, &settings, now);
        let remembered = memory.get(key).map_or(&[][..], Vec::as_slice);
        let mut p = plan(true, &settings, &evaluation.findings, remembered);

        // Act first (see the module's note); an action that no longer applies is not one.
        let mut acted = None;
        if let Some(action) = &p.action {
            let (t, winner, finding, name) = match action {
                Action::Pause { finding } => (Transition::Pause, None, finding, "pause"),
                Action::Stop { finding, winner } => {
                    (Transition::Stop, Some(winner.clone()), finding, "stop")
                }
            };
            let reason = evaluation
                .findings
                .iter()
                .find(|f| &f.key == finding)
                .map_or_else(String::new, |f| f.message.clone());
            match lifecycle::transition(db, &monitor_actor, key, t, winner, Some(&reason)).await {
                Ok((_, version)) => {
                    report.published |= version.is_some();
                    report.actions.push(ActionTaken {
                        test: key.clone(),
                        action: action.clone(),
                    });
                    acted = Some((finding.clone(), name));
                    tracing::warn!(test = %key, action = name, %reason, "monitor acted");
                }
                Err(AppError::Conflict(why)) => {
                    tracing::info!(test = %key, %why, "monitor action no longer applies");
                    forget_action(&mut p.memory, remembered, finding);
                }
                Err(e) => return Err(anyhow::anyhow!("acting on `{key}`: {e}")),
            }
        }
        // New findings are alerted; so is an action, even on a finding alerted before.
        let position = |key: &str| evaluation.findings.iter().position(|e| e.key == key);
        let mut alerts: Vec<(usize, Option<&'static str>)> = p
            .alerts
            .iter()
            .filter_map(|f| position(&f.key))
            .map(|i| (i, None))
            .collect();
        if let Some((finding, name)) = &acted {
            match alerts
                .iter_mut()
                .find(|(i, _)| evaluation.findings[*i].key == *finding)
            {
                Some(alert) => alert.1 = Some(name),
                None => alerts.extend(position(finding).map(|i| (i, Some(*name)))),
            }
        }
        // Memory is rewritten only when it changed (most ticks it does not).
        let sorted = |m: &[Memory]| {
            let mut m = m.to_vec();
            m.sort_by(|a, b| a.key.cmp(&b.key));
            m
        };
        let memory = (sorted(&p.memory) != sorted(remembered)).then_some(p.memory);
        outcomes.push(Outcome {
            evaluation,
            memory,
            alerts,
        });
    }

    // The bookkeeping, in one transaction.
    let _turn = db.write_turn().await;
    let mut tx = db.writer.begin().await?;
    for Outcome {
        evaluation,
        memory,
        alerts,
    } in &outcomes
    {
        let key = &evaluation.test;
        let body = serde_json::to_string(evaluation)?;
        monitor::put_evaluation(&mut tx, key, now, &body).await?;
        if let Some(memory) = memory {
            monitor::put_memory(&mut tx, key, memory).await?;
        }
        for (index, action) in alerts {
            let Some(finding) = evaluation.findings.get(*index) else {
                continue;
            };
            let alert = monitor::insert_alert(&mut tx, now, key, finding, *action).await?;
            let payload = payload(&alert, finding);
            webhooks::enqueue(&mut tx, alert.id, &alert.kind, &payload.to_string(), now).await?;
            report.alerts += 1;
        }
    }
    monitor::set_state(&mut tx, "tick.last", &now.to_string()).await?;
    tx.commit().await?;
    Ok(report)
}

/// One test's tick, to store: its evaluation, what to remember if that changed, and the alerts
/// to raise (each an index into the evaluation's findings, with the action taken on it).
struct Outcome {
    evaluation: Evaluation,
    /// What to remember, if it changed.
    memory: Option<Vec<Memory>>,
    alerts: Vec<(usize, Option<&'static str>)>,
}

/// After an action that did not happen, remember the finding as before it.
fn forget_action(memory: &mut [Memory], before: &[Memory], finding: &str) {
    let previous = before
        .iter()
        .find(|m| m.key == finding)
        .and_then(|m| m.acted_at_severity);
    if let Some(m) = memory.iter_mut().find(|m| m.key == finding) {
        m.acted_at_severity = previous;
    }
}

/// The webhook payload of an alert: the alert's fields, its numbers as JSON, and a
/// Slack-compatible `text`.
pub fn payload(
    alert: &monitor::Alert,
    finding: &edgewise_shared::decide::Finding,
) -> serde_json::Value {
    let action = match alert.action.as_deref() {
        Some("pause") => " The monitor paused the test.",
        Some("stop") => " The monitor stopped the test and serves the winner.",
        _ => "",
    };
    serde_json::json!({
        "event": "alert",
        "id": alert.id,
        "at": alert.at,
        "test": alert.test,
        "kind": alert.kind,
        "finding": alert.finding,
        "severity": alert.severity,
        "message": alert.message,
        "action": alert.action,
        "detail": finding.detail,
        "text": format!("Edgewise: test `{}`: {}.{action}", alert.test, alert.message),
    })
}
