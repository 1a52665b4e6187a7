//! What the monitor does about its findings, idempotently: [`plan`] takes this tick's findings
//! and what the monitor remembers of earlier ones, and returns the alerts to raise, at most one
//! action (pause, or stop with a winner), and what to remember next.
//!
//! - A finding is alerted once while it lasts; when it clears and comes back, it is news again.
//! - A finding acts once: the monitor pauses (or stops) a running test for it and remembers the
//!   severity it acted at. The test can only be running again if a human resumed it, and the
//!   monitor does not overrule that for the same finding unless it has grown worse by
//!   [`WORSE_BY`] (ten times less likely by chance).

use serde::{Deserialize, Serialize};

use super::settings::{DecisionSettings, Response};

/// How much a finding's severity must grow before the monitor acts on it again after a human
/// resumed the test (severities are log10 scales).
pub const WORSE_BY: f64 = 1.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Srm,
    Guardrail,
    TrafficDrop,
    BrokenTracking,
    /// The recommendation is `ship`.
    Ship,
}

/// One thing the monitor found in one test at one tick.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable across ticks: `srm:persona:P`, `guardrail:errors:b`, `ship:b`, ….
    pub key: String,
    pub kind: Kind,
    /// Log10 scale: one more is ten times less likely by chance.
    pub severity: f64,
    pub message: String,
    /// The numbers behind it.
    pub detail: serde_json::Value,
    /// For `ship`: the winner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// What the monitor remembers of a finding between ticks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    pub key: String,
    /// The severity it acted at, if it acted.
    pub acted_at_severity: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    Pause { finding: String },
    Stop { finding: String, winner: String },
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    /// Findings to alert on (new since the last tick).
    pub alerts: Vec<Finding>,
    pub action: Option<Action>,
    /// What to remember: one entry per current finding.
    pub memory: Vec<Memory>,
}

/// The response `settings` give a finding's kind, with the switches applied.
fn acts(kind: Kind, s: &DecisionSettings) -> bool {
    let response = match kind {
        Kind::Ship => return s.auto_stop,
        Kind::Srm => s.on_srm,
        Kind::Guardrail => s.on_guardrail,
        Kind::TrafficDrop => s.on_traffic_drop,
        Kind::BrokenTracking => s.on_broken_tracking,
    };
    s.auto_pause && response == Response::Pause
}

/// `running`: whether the test is running now (only a running test is paused or stopped).
pub fn plan(
    running: bool,
    settings: &DecisionSettings,
    findings: &[Finding],
    memory: &[Memory],
) -> Plan {
    let mut plan = Plan::default();
    // Anomalies first: a pause outranks a stop, so a broken test is not shipped.
    let ordered = findings
        .iter()
        .filter(|f| f.kind != Kind::Ship)
        .chain(findings.iter().filter(|f| f.kind == Kind::Ship));
    for f in ordered {
        let before = memory.iter().find(|m| m.key == f.key);
        if before.is_none() {
            plan.alerts.push(f.clone());
        }
        let acted = before.and_then(|m| m.acted_at_severity);
        let due = running
            && plan.action.is_none()
            && acts(f.kind, settings)
            && acted.is_none_or(|s| f.severity >= s + WORSE_BY);
        if due {
            plan.action = Some(match (&f.kind, &f.variant) {
                (Kind::Ship, Some(winner)) => Action::Stop {
                    finding: f.key.clone(),
                    winner: winner.clone(),
                },
                _ => Action::Pause {
                    finding: f.key.clone(),
                },
            });
        }
        plan.memory.push(Memory {
            key: f.key.clone(),
            acted_at_severity: if due { Some(f.severity) } else { acted },
        });
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(key: &str, kind: Kind, severity: f64) -> Finding {
        Finding {
            key: key.into(),
            kind,
            severity,
            message: String::new(),
            detail: serde_json::Value::Null,
            variant: (kind == Kind::Ship).then(|| "b".into()),
        }
    }

    #[test]
    fn one_finding_one_alert_one_action() {
        let s = DecisionSettings::default();
        let f = [finding("srm:overall", Kind::Srm, 4.0)];
        let first = plan(true, &s, &f, &[]);
        assert_eq!(first.alerts.len(), 1);
        assert_eq!(
            first.action,
            Some(Action::Pause {
                finding: "srm:overall".into()
            })
        );
        // Paused now: nothing more to do, nothing new to say.
        let second = plan(false, &s, &f, &first.memory);
        assert!(second.alerts.is_empty() && second.action.is_none());
        // A human resumed it: the same finding does not pause it again...
        let f = [finding("srm:overall", Kind::Srm, 4.5)];
        let third = plan(true, &s, &f, &second.memory);
        assert!(third.action.is_none());
        // ...unless it got ten times worse.
        let f = [finding("srm:overall", Kind::Srm, 5.0)];
        assert!(plan(true, &s, &f, &third.memory).action.is_some());
        // Cleared, then back: news again.
        let cleared = plan(true, &s, &[], &third.memory);
        assert!(cleared.memory.is_empty());
        assert_eq!(plan(true, &s, &f, &cleared.memory).alerts.len(), 1);
    }

    #[test]
    fn switches_decide_what_acts() {
        let ship = [finding("ship:b", Kind::Ship, 0.0)];
        let off = DecisionSettings::default();
        assert!(
            plan(true, &off, &ship, &[]).action.is_none(),
            "auto_stop is off by default"
        );
        let on = DecisionSettings {
            auto_stop: true,
            ..off.clone()
        };
        assert_eq!(
            plan(true, &on, &ship, &[]).action,
            Some(Action::Stop {
                finding: "ship:b".into(),
                winner: "b".into()
            })
        );
        let drop = [finding("traffic_drop", Kind::TrafficDrop, 1.0)];
        let p = plan(true, &off, &drop, &[]);
        assert_eq!(p.alerts.len(), 1);
        assert!(p.action.is_none(), "a traffic drop alerts by default");
        let no_pause = DecisionSettings {
            auto_pause: false,
            ..off
        };
        let srm = [finding("srm:overall", Kind::Srm, 9.0)];
        assert!(plan(true, &no_pause, &srm, &[]).action.is_none());
        // With both a winner and an anomaly, the test is paused, not shipped.
        let both = [ship[0].clone(), srm[0].clone()];
        assert_eq!(
            plan(true, &on, &both, &[]).action,
            Some(Action::Pause {
                finding: "srm:overall".into()
            })
        );
    }
}
