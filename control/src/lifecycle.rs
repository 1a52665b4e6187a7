//! A test's lifecycle as one function: the API's actions and the control plane's own (the
//! start-up check, and the jobs that pause or stop tests by themselves) all go through
//! [`transition`], so every move is checked, stored, published and audited the same way.

use std::collections::BTreeMap;

use edgewise_shared::bandit::Allocation;
use edgewise_shared::snapshot::{MetricDef, MetricRole};

use crate::db::{aggregates, learned, settings, tests, Actor, Db, Mutation};
use crate::error::{AppError, AppResult, FieldError};
use crate::model::{validate_test, Status, TestRecord, TestSpec, Transition};
use crate::results::{self, ResultsQuery};

/// Applies `t` to test `key` as `actor`: `winner` names the variant a stop serves, `reason`
/// (for actions the control plane takes by itself) is recorded in the audit entry. Returns the
/// record and the snapshot version the change published, if any.
pub async fn transition(
    db: &Db,
    actor: &Actor,
    key: &str,
    t: Transition,
    winner: Option<String>,
    reason: Option<&str>,
) -> AppResult<(TestRecord, Option<i64>)> {
    let mut m = Mutation::begin(db).await?;
    let old = tests::get_or_404(&mut m.tx, key).await?;
    let Some(next) = t.apply(old.status) else {
        return Err(AppError::Conflict(format!(
            "cannot {} a {} test",
            t.name(),
            old.status.as_str()
        )));
    };
    if t == Transition::Start {
        let others: Vec<TestRecord> = tests::list(&mut m.tx, None)
            .await?
            .into_iter()
            .filter(|o| o.status.published())
            .collect();
        let cfg = settings::load(&mut m.tx).await?;
        let templates = crate::db::templates::all(&mut m.tx).await?;
        validate_test(&old.spec, &others, &cfg, &templates, true).into_conflict()?;
        let findings = crate::checks::run(&mut m.tx, &db.shard_schemas(), &old.spec).await?;
        crate::checks::refuse_errors(&findings)?;
        let (risk, approvals) = crate::checks::approval(&mut m.tx, &old.spec).await?;
        crate::checks::refuse_unapproved(&risk, &approvals)?;
    }
    let mut rec = old.clone();
    if let Some(w) = winner {
        if !rec.spec.variants.iter().any(|v| v.key == w) {
            return Err(AppError::Conflicts(vec![FieldError::new(
                "winner",
                "must be one of the test's variants",
            )]));
        }
        rec.winner = Some(w);
    }
    if t == Transition::Start {
        rec.started_at = Some(m.at);
        // A ramp starts at its first step's coverage.
        if let Some(r) = &rec.spec.ramp {
            if let Some(first) = r.steps.first() {
                rec.spec.coverage = first.coverage;
            }
            let state = edgewise_shared::plan::ramp::RampState {
                step: 0,
                since_ms: m.at,
                held_back: false,
            };
            crate::db::monitor::set_state(
                &mut m.tx,
                &crate::db::monitor::ramp_state(key),
                &serde_json::to_string(&state)?,
            )
            .await?;
        }
    }
    rec.status = next;
    rec.updated_at = m.at;
    tests::update(&mut m.tx, &rec, m.at).await?;
    if next == Status::Stopped {
        // What the test taught, for learning across tests: written once, from its aggregates.
        let schemas = db.shard_schemas();
        let mut agg = aggregates::aggregates(&mut m.tx, &schemas, key).await?;
        agg.unit_events =
            crate::db::unit_events::load(&mut m.tx, &schemas, key, &rec.spec.metrics).await?;
        let weights: Vec<f64> = rec.spec.variants.iter().map(|v| v.weight).collect();
        let query = ResultsQuery {
            alpha: 0.05,
            correction: None,
        };
        // With the flat prior: what this test alone says.
        let results = results::compute(&rec.spec, &weights, &agg, &query, &Default::default());
        let effects = results::learned_effects(&results, &rec.spec.tags);
        learned::record(&mut m.tx, key, &effects, m.at).await?;
    }
    let before = serde_json::to_value(&old)?;
    let mut after = serde_json::to_value(&rec)?;
    if let (Some(reason), Some(fields)) = (reason, after.as_object_mut()) {
        fields.insert("reason".into(), reason.into());
    }
    let action = format!("test.{}", t.name());
    let version = m
        .finish(actor, &action, key, Some(&before), Some(&after))
        .await?;
    Ok((rec, version))
}

/// Changes a running test may not make: they would mix incomparable data.
pub fn frozen_change(old: &TestSpec, new: &TestSpec) -> Option<&'static str> {
    let keys = |s: &TestSpec| s.variants.iter().map(|v| v.key.clone()).collect::<Vec<_>>();
    // What a metric counts: everything but its role and direction.
    let metrics = |s: &TestSpec| {
        s.metrics
            .iter()
            .map(|m| {
                let counted = MetricDef {
                    role: MetricRole::Secondary,
                    higher_is_better: true,
                    ..m.clone()
                };
                (
                    m.key.clone(),
                    serde_json::to_string(&counted).unwrap_or_default(),
                )
            })
            .collect::<BTreeMap<_, _>>()
    };
    if keys(old) != keys(new) {
        Some("variants cannot be added, removed or renamed once a test has started")
    } else if old.hash_id != new.hash_id {
        Some("hash_id cannot change once a test has started")
    } else if old.allocation != new.allocation {
        Some("allocation cannot change once a test has started")
    } else if old.allocation == Allocation::Bandit
        && old
            .variants
            .iter()
            .zip(&new.variants)
            .any(|(a, b)| a.weight != b.weight)
    {
        // Each change of a bandit's weights is a period the bandit records; an edit would not be.
        Some("a running bandit's weights are set by the bandit, not edited")
    } else if old.ramp != new.ramp {
        Some("a ramp cannot change once a test has started")
    } else if old.ramp.is_some() && old.coverage != new.coverage {
        Some("a ramping test's coverage is set by its ramp, not edited")
    } else if old.dimensions != new.dimensions {
        Some("dimensions cannot change once a test has started: units keep the values of their first exposure")
    } else if metrics(old) != metrics(new) {
        Some(
            "metrics cannot be added, removed or change what they count once a test has \
             started (only role and higher_is_better can)",
        )
    } else {
        None
    }
}
