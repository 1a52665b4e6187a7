//! Scheduled starts and ends: on each runner tick, a draft marked `scheduled` starts once its
//! `start_at` has come (through the same lifecycle as a person's start: checks and approvals
//! included), and a running or paused scheduled test stops at its `end_at` (serving the
//! control to everyone, no winner). Only the leading replica ticks, and a transition happens
//! once (a second attempt finds the test already moved), so a schedule fires once.

use edgewise_shared::timestamp::parse_rfc3339_ms;

use crate::db::{tests, Actor, Db, MONITOR};
use crate::error::AppResult;
use crate::model::{Status, Transition};

/// One pass: the tests it started or stopped.
pub async fn tick(db: &Db, now: i64) -> AppResult<Vec<String>> {
    let all = {
        let mut conn = db.reader.acquire().await?;
        tests::list(&mut conn, None).await?
    };
    let due = |at: &Option<String>| {
        at.as_deref()
            .and_then(|s| parse_rfc3339_ms(s).ok())
            .is_some_and(|t| t <= now)
    };
    let mut moved = Vec::new();
    for rec in all.iter().filter(|r| r.spec.scheduled) {
        let (t, reason) = match rec.status {
            Status::Draft if due(&rec.spec.start_at) && !due(&rec.spec.end_at) => {
                (Transition::Start, "scheduled start")
            }
            Status::Running | Status::Paused if due(&rec.spec.end_at) => {
                (Transition::Stop, "scheduled end")
            }
            _ => continue,
        };
        let actor = Actor(MONITOR.to_owned());
        match crate::lifecycle::transition(db, &actor, &rec.spec.key, t, None, Some(reason)).await {
            Ok(_) => moved.push(rec.spec.key.clone()),
            // Refused (checks, approvals) or moved meanwhile: the next tick tries again.
            Err(e) => tracing::warn!(test = %rec.spec.key, error = %e, "{reason} refused"),
        }
    }
    Ok(moved)
}
