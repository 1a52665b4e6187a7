//! A simulation scenario: who visits, how often they come back, and the true conversion rates
//! (and revenue) per variant and per segment that the system under test should recover.
//!
//! Read from JSON (`docs/simulator.md` documents every field; `scenarios/` has examples). The
//! truth is a pure function of (variant, device, persona), so the report can compare what the
//! control plane computed against it.

use std::collections::BTreeMap;

use edgewise_shared::DeviceClass;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Seeds every random draw: the same scenario and seed send the same traffic.
    pub seed: u64,
    /// The test under study; it must be running in the control plane.
    pub test: String,
    pub days: u32,
    /// Visits per simulated day, new and returning together.
    pub visits_per_day: u32,
    /// Share of a day's visits made by visitors seen on an earlier day.
    #[serde(default)]
    pub returning_share: f64,
    /// Relative weights of device classes among human visitors.
    pub devices: BTreeMap<DeviceClass, f64>,
    /// Relative weights of personas; the key `"none"` means no persona.
    #[serde(default)]
    pub personas: BTreeMap<String, f64>,
    pub metrics: Vec<MetricTruth>,
    #[serde(default)]
    pub faults: Faults,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricTruth {
    pub key: String,
    /// Per variant key: the truth for a unit in that variant.
    pub variants: BTreeMap<String, Truth>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Truth {
    /// Probability that a unit converts at all.
    pub rate: f64,
    /// For value metrics: the mean value of a conversion (drawn from an exponential, so revenue is
    /// skewed like real revenue). Absent for binomial metrics.
    #[serde(default)]
    pub value_mean: Option<f64>,
    /// Rates that replace `rate` on a device class.
    #[serde(default)]
    pub by_device: BTreeMap<DeviceClass, f64>,
    /// Rates that replace `rate` (and the device rate) for a persona.
    #[serde(default)]
    pub by_persona: BTreeMap<String, f64>,
}

impl Truth {
    pub fn rate_for(&self, device: DeviceClass, persona: Option<&str>) -> f64 {
        persona
            .and_then(|p| self.by_persona.get(p))
            .or_else(|| self.by_device.get(&device))
            .copied()
            .unwrap_or(self.rate)
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Faults {
    /// Drop this share of one variant's exposure beacons: a sample-ratio mismatch.
    #[serde(default)]
    pub srm: Option<SrmFault>,
    /// Share of visits made by crawlers (bot User-Agents): they must be neither assigned nor
    /// counted.
    #[serde(default)]
    pub bot_share: f64,
    /// Share of beacon batches sent twice: the counts must not change.
    #[serde(default)]
    pub duplicate_share: f64,
    /// Restart the control plane (with `--restart-command`) once this share of visits is done.
    #[serde(default)]
    pub restart_at: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SrmFault {
    pub variant: String,
    pub drop_share: f64,
    /// Only visitors on this device class lose exposures (all when absent).
    #[serde(default)]
    pub device: Option<DeviceClass>,
    /// Only visitors with this persona lose exposures (all when absent).
    #[serde(default)]
    pub persona: Option<String>,
}

impl Scenario {
    /// Checks ranges and cross-references; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        let share = |name: &str, v: f64| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(format!("{name} must be in [0, 1], got {v}"))
            }
        };
        share("returning_share", self.returning_share)?;
        share("faults.bot_share", self.faults.bot_share)?;
        share("faults.duplicate_share", self.faults.duplicate_share)?;
        if let Some(r) = self.faults.restart_at {
            share("faults.restart_at", r)?;
        }
        if let Some(srm) = &self.faults.srm {
            share("faults.srm.drop_share", srm.drop_share)?;
        }
        if self.days == 0 || self.visits_per_day == 0 {
            return Err("days and visits_per_day must be at least 1".into());
        }
        let positive = |name: &str, weights: &mut dyn Iterator<Item = f64>| {
            let all: Vec<f64> = weights.collect();
            if all.iter().any(|w| !w.is_finite() || *w < 0.0) || all.iter().sum::<f64>() <= 0.0 {
                Err(format!(
                    "{name} needs non-negative weights that are not all zero"
                ))
            } else {
                Ok(())
            }
        };
        positive("devices", &mut self.devices.values().copied())?;
        if !self.personas.is_empty() {
            positive("personas", &mut self.personas.values().copied())?;
        }
        if self.devices.contains_key(&DeviceClass::Bot) {
            return Err("devices: use faults.bot_share for bot traffic".into());
        }
        if self.metrics.is_empty() {
            return Err("metrics: at least one metric is needed".into());
        }
        for m in &self.metrics {
            for (variant, t) in &m.variants {
                let at = format!("metrics[{}].variants.{variant}", m.key);
                share(&format!("{at}.rate"), t.rate)?;
                for r in t.by_device.values().chain(t.by_persona.values()) {
                    share(&format!("{at}: segment rates"), *r)?;
                }
                if t.value_mean.is_some_and(|v| !v.is_finite() || v <= 0.0) {
                    return Err(format!("{at}.value_mean must be > 0"));
                }
            }
        }
        Ok(())
    }
}
