//! The ramp job: on each runner tick, every running test with a `ramp` moves its coverage as
//! [`edgewise_shared::plan::ramp::decide`] says, reading the monitor's latest evaluation of it
//! (a guardrail regression or a sample ratio mismatch is a breach). A step is one admin change
//! by the `monitor`: the new coverage published, the ramp's state stored in the same
//! transaction (`monitor_state`, `ramp:<test>`), audited as `test.ramp`; a pause goes through
//! the lifecycle. Only the leading replica ticks, so each step happens once.

use edgewise_shared::plan::ramp::{self, RampAction, RampState};
use serde_json::json;

use crate::db::{monitor, tests, Actor, Db, Mutation, MONITOR};
use crate::error::AppResult;
use crate::model::{Status, Transition};

/// Whether the monitor's latest evaluation of `test` found a guardrail regression or an SRM.
fn breached(evaluation: Option<&str>) -> bool {
    let Some(v) = evaluation.and_then(|e| serde_json::from_str::<serde_json::Value>(e).ok()) else {
        return false;
    };
    v["findings"].as_array().is_some_and(|f| {
        f.iter()
            .any(|x| x["kind"] == "srm" || x["kind"] == "guardrail")
    })
}

/// One pass: the tests whose ramp moved (stepped or paused).
pub async fn tick(db: &Db, now: i64) -> AppResult<Vec<String>> {
    let mut moved = Vec::new();
    let running = {
        let mut conn = db.reader.acquire().await?;
        tests::list(&mut conn, Some(Status::Running)).await?
    };
    for rec in running {
        let Some(r) = rec.spec.ramp.clone() else {
            continue;
        };
        let key = rec.spec.key.clone();
        let (state, evaluation) = {
            let mut conn = db.reader.acquire().await?;
            let state = monitor::state(&mut conn, &monitor::ramp_state(&key)).await?;
            (state, monitor::evaluation(&mut conn, &key).await?)
        };
        let state: RampState =
            state
                .and_then(|s| serde_json::from_str(&s).ok())
                .unwrap_or(RampState {
                    step: 0,
                    since_ms: rec.started_at.unwrap_or(now),
                    held_back: false,
                });
        let breach = breached(evaluation.as_deref());
        let action = ramp::decide(&r, state, now, breach);
        let (step, coverage, held_back) = match action {
            RampAction::Hold => {
                if state.held_back && !breach {
                    // The breach is gone: the ramp may go on from its current step.
                    let cleared = RampState {
                        held_back: false,
                        since_ms: now,
                        ..state
                    };
                    let mut conn = db.writer.acquire().await?;
                    monitor::set_state(
                        &mut conn,
                        &monitor::ramp_state(&key),
                        &serde_json::to_string(&cleared)?,
                    )
                    .await?;
                }
                continue;
            }
            RampAction::Pause => {
                crate::lifecycle::transition(
                    db,
                    &Actor(MONITOR.to_owned()),
                    &key,
                    Transition::Pause,
                    None,
                    Some("ramp: a guardrail regression or a sample ratio mismatch"),
                )
                .await?;
                moved.push(key);
                continue;
            }
            RampAction::Advance { step, coverage } => (step, coverage, false),
            RampAction::StepBack { step, coverage } => (step, coverage, true),
        };
        let mut m = Mutation::begin(db).await?;
        let mut now_rec = tests::get_or_404(&mut m.tx, &key).await?;
        if now_rec.status != Status::Running {
            continue;
        }
        let before = json!({"coverage": now_rec.spec.coverage, "step": state.step});
        now_rec.spec.coverage = coverage;
        now_rec.updated_at = m.at;
        tests::update(&mut m.tx, &now_rec, m.at).await?;
        let next = RampState {
            step,
            since_ms: m.at,
            held_back,
        };
        monitor::set_state(
            &mut m.tx,
            &monitor::ramp_state(&key),
            &serde_json::to_string(&next)?,
        )
        .await?;
        let after = json!({"coverage": coverage, "step": step, "breach": breach});
        m.finish(
            &Actor(MONITOR.to_owned()),
            "test.ramp",
            &key,
            Some(&before),
            Some(&after),
        )
        .await?;
        moved.push(key);
    }
    Ok(moved)
}
