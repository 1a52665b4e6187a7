//! Ramps: a running test's coverage goes up in steps (5% → 25% → 50% → 100%), each held for
//! its hours, and only while the monitor finds no guardrail regression and no sample ratio
//! mismatch. On such a breach the ramp steps back one step (or pauses the test, as
//! configured) and holds there until the breach is gone. [`decide`] is the whole rule; the
//! control plane's job runner applies its answer once per tick.

use serde::{Deserialize, Serialize};

use crate::limits::MAX_WINDOW_HOURS;

/// Steps per ramp.
pub const MAX_STEPS: usize = 10;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ramp {
    pub steps: Vec<Step>,
    #[serde(default)]
    pub on_breach: OnBreach,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// The test's coverage during the step, in (0, 1].
    pub coverage: f64,
    /// How long the step lasts before the next one, in hours.
    pub hold_hours: f64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnBreach {
    /// Back to the previous step (the first step's breach pauses).
    #[default]
    StepBack,
    Pause,
}

/// Where a ramp stands: its step, since when (Unix ms), and whether it stepped back for a
/// breach not yet gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RampState {
    pub step: usize,
    pub since_ms: i64,
    #[serde(default)]
    pub held_back: bool,
}

/// What the runner does now.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum RampAction {
    Hold,
    Advance { step: usize, coverage: f64 },
    StepBack { step: usize, coverage: f64 },
    Pause,
}

/// A ramp that cannot run: the field (`ramp.steps[2].coverage`) and why.
pub fn check(r: &Ramp) -> Result<(), (String, String)> {
    if r.steps.is_empty() || r.steps.len() > MAX_STEPS {
        return Err(("ramp.steps".into(), format!("1 to {MAX_STEPS} steps")));
    }
    let mut last = 0.0;
    for (i, s) in r.steps.iter().enumerate() {
        if !(s.coverage > last && s.coverage <= 1.0) {
            return Err((
                format!("ramp.steps[{i}].coverage"),
                "each step's coverage is above the last one's and at most 1".into(),
            ));
        }
        if !(0.0..=MAX_WINDOW_HOURS).contains(&s.hold_hours) {
            return Err((
                format!("ramp.steps[{i}].hold_hours"),
                format!("must be 0 to {MAX_WINDOW_HOURS}"),
            ));
        }
        last = s.coverage;
    }
    Ok(())
}

/// The next action of a ramp in `state` at `now_ms`, `breach` telling whether the monitor's
/// latest evaluation found a guardrail regression or a sample ratio mismatch.
pub fn decide(r: &Ramp, state: RampState, now_ms: i64, breach: bool) -> RampAction {
    if breach {
        if state.held_back {
            return RampAction::Hold;
        }
        return match (r.on_breach, state.step) {
            (OnBreach::StepBack, s) if s > 0 => RampAction::StepBack {
                step: s - 1,
                coverage: r.steps[s - 1].coverage,
            },
            _ => RampAction::Pause,
        };
    }
    let Some(step) = r.steps.get(state.step) else {
        return RampAction::Hold;
    };
    let held = (now_ms - state.since_ms) as f64 >= step.hold_hours * 3_600_000.0;
    match r.steps.get(state.step + 1) {
        Some(next) if held => RampAction::Advance {
            step: state.step + 1,
            coverage: next.coverage,
        },
        _ => RampAction::Hold,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    fn ramp(on_breach: OnBreach) -> Ramp {
        Ramp {
            steps: [(0.05, 24.0), (0.25, 24.0), (0.5, 48.0), (1.0, 0.0)]
                .map(|(coverage, hold_hours)| Step {
                    coverage,
                    hold_hours,
                })
                .to_vec(),
            on_breach,
        }
    }

    fn at(step: usize, since_ms: i64, held_back: bool) -> RampState {
        RampState {
            step,
            since_ms,
            held_back,
        }
    }

    #[test]
    fn steps_advance_after_their_hold_and_stop_at_the_last() {
        let r = ramp(OnBreach::StepBack);
        assert_eq!(
            decide(&r, at(0, 0, false), 24 * H - 1, false),
            RampAction::Hold
        );
        assert_eq!(
            decide(&r, at(0, 0, false), 24 * H, false),
            RampAction::Advance {
                step: 1,
                coverage: 0.25
            }
        );
        assert_eq!(
            decide(&r, at(3, 0, false), 1000 * H, false),
            RampAction::Hold
        );
    }

    #[test]
    fn a_breach_steps_back_once_and_holds_or_pauses() {
        let r = ramp(OnBreach::StepBack);
        assert_eq!(
            decide(&r, at(2, 0, false), 100 * H, true),
            RampAction::StepBack {
                step: 1,
                coverage: 0.25
            }
        );
        // Still breached after stepping back: hold there, no further step back.
        assert_eq!(decide(&r, at(1, 0, true), 100 * H, true), RampAction::Hold);
        // At the first step there is nothing to step back to.
        assert_eq!(decide(&r, at(0, 0, false), H, true), RampAction::Pause);
        let p = ramp(OnBreach::Pause);
        assert_eq!(decide(&p, at(2, 0, false), H, true), RampAction::Pause);
    }

    #[test]
    fn bad_ramps_name_the_field() {
        let mut r = ramp(OnBreach::StepBack);
        assert!(check(&r).is_ok());
        r.steps[2].coverage = 0.2;
        assert_eq!(check(&r).unwrap_err().0, "ramp.steps[2].coverage");
        r.steps[2].coverage = 0.5;
        r.steps[1].hold_hours = -1.0;
        assert_eq!(check(&r).unwrap_err().0, "ramp.steps[1].hold_hours");
        r.steps.clear();
        assert_eq!(check(&r).unwrap_err().0, "ramp.steps");
    }
}
