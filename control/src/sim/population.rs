//! Synthetic visitors: who arrives on each simulated day, what their browser says, and whether
//! they convert once the edge has told us their variant. Pure and seeded; no I/O.

use edgewise_shared::beacon::{Event, EventKind};
use edgewise_shared::DeviceClass;

use super::random::Draw;
use super::scenario::Scenario;

/// Representative User-Agents per class, so the edge classifies visitors for real.
pub fn user_agent(device: DeviceClass, pick: usize) -> &'static str {
    const MOBILE: [&str; 2] = [
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    ];
    const TABLET: [&str; 2] = [
        "Mozilla/5.0 (iPad; CPU OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    ];
    const DESKTOP: [&str; 2] = [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:133.0) Gecko/20100101 Firefox/133.0",
    ];
    const BOT: [&str; 2] = [
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm) Chrome/116.0.1938.76 Safari/537.36",
    ];
    let list = match device {
        DeviceClass::Mobile => &MOBILE,
        DeviceClass::Tablet => &TABLET,
        DeviceClass::Desktop => &DESKTOP,
        DeviceClass::Bot => &BOT,
    };
    list[pick % list.len()]
}

/// One synthetic visitor and what has happened to them so far.
#[derive(Debug, Clone)]
pub struct Visitor {
    pub unit_id: String,
    pub device: DeviceClass,
    pub persona: Option<String>,
    pub user_agent: &'static str,
    /// The variant the edge assigned (and counted), once known.
    pub variant: Option<String>,
    /// Conversions already drawn, per metric index: `Some(value)` if converted.
    pub outcome: Option<Vec<Option<f64>>>,
    /// The SRM fault swallows every exposure of this visitor.
    pub exposures_lost: bool,
    /// The edge's `edgewise_arms` cookie (`name=value`), sent back as a browser would.
    pub arms_cookie: Option<String>,
}

/// What the edge's decision says about how the variant was assigned; exposures carry it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stamp {
    pub snapshot_version: Option<u64>,
    pub propensity: Option<f64>,
}

/// Draws visitors and outcomes for one scenario.
#[derive(Debug)]
pub struct Population<'s> {
    scenario: &'s Scenario,
    draw: Draw,
    devices: Vec<(DeviceClass, f64)>,
    personas: Vec<(Option<String>, f64)>,
    pub seen: Vec<Visitor>,
}

impl<'s> Population<'s> {
    pub fn new(scenario: &'s Scenario) -> Population<'s> {
        let personas = scenario
            .personas
            .iter()
            .map(|(k, w)| ((k != "none").then(|| k.clone()), *w))
            .collect();
        Population {
            scenario,
            draw: Draw::new(scenario.seed),
            devices: scenario.devices.iter().map(|(d, w)| (*d, *w)).collect(),
            personas,
            seen: Vec::new(),
        }
    }

    /// The next visit: an index into `seen` (returning or new), or a crawler (`None`).
    pub fn next_visit(&mut self) -> Option<usize> {
        if self.draw.chance(self.scenario.faults.bot_share) {
            return None;
        }
        if !self.seen.is_empty() && self.draw.chance(self.scenario.returning_share) {
            return Some(self.draw.below(self.seen.len()));
        }
        let weights: Vec<f64> = self.devices.iter().map(|(_, w)| *w).collect();
        let device = self.devices[self.draw.weighted(&weights)].0;
        let persona = if self.personas.is_empty() {
            None
        } else {
            let weights: Vec<f64> = self.personas.iter().map(|(_, w)| *w).collect();
            self.personas[self.draw.weighted(&weights)].0.clone()
        };
        let pick = self.draw.below(2);
        self.seen.push(Visitor {
            unit_id: format!("sim-{}", self.draw.hex_id()),
            device,
            persona,
            user_agent: user_agent(device, pick),
            variant: None,
            outcome: None,
            exposures_lost: false,
            arms_cookie: None,
        });
        Some(self.seen.len() - 1)
    }

    /// A crawler's visit: a fresh id and a bot User-Agent.
    pub fn crawler(&mut self) -> (String, &'static str) {
        let pick = self.draw.below(2);
        (
            format!("bot-{}", self.draw.hex_id()),
            user_agent(DeviceClass::Bot, pick),
        )
    }

    /// Records the edge's counted variant for visitor `i` and, on the first such visit, draws
    /// their conversions from the truth. Returns the events this visit sends; its exposure
    /// carries `stamp`.
    pub fn visit_events(&mut self, i: usize, variant: &str, stamp: Stamp) -> Vec<Event> {
        let scenario = self.scenario;
        let mut events = Vec::new();
        let first = self.seen[i].outcome.is_none();
        if first {
            let (device, persona) = (self.seen[i].device, self.seen[i].persona.clone());
            let outcome = scenario
                .metrics
                .iter()
                .map(|m| {
                    let truth = m.variants.get(variant)?;
                    if !self.draw.chance(truth.rate_for(device, persona.as_deref())) {
                        return None;
                    }
                    Some(
                        truth
                            .value_mean
                            .map_or(1.0, |mean| self.draw.exponential(mean)),
                    )
                })
                .collect();
            self.seen[i].outcome = Some(outcome);
            self.seen[i].variant = Some(variant.to_owned());
            self.seen[i].exposures_lost = scenario.faults.srm.as_ref().is_some_and(|f| {
                f.variant == variant
                    && f.device.is_none_or(|d| d == device)
                    && f.persona
                        .as_ref()
                        .is_none_or(|p| Some(p) == persona.as_ref())
                    && self.draw.chance(f.drop_share)
            });
        }
        let v = &self.seen[i];
        let base = |kind, draw: &mut Draw| Event {
            event_id: draw.hex_id(),
            kind,
            unit_id: v.unit_id.clone(),
            test: scenario.test.clone(),
            variant: variant.to_owned(),
            snapshot_version: None,
            propensity: None,
            device: Some(v.device),
            persona: v.persona.clone(),
            // The edge stamps the receive time: simulated days are not wall-clock days, and
            // the control plane refuses events from the distant past.
            ts: None,
            metric: None,
            value: None,
            dimensions: None,
            covariates: None,
            logged_by: None,
        };
        if !v.exposures_lost {
            let mut e = base(EventKind::Exposure, &mut self.draw);
            e.snapshot_version = stamp.snapshot_version;
            e.propensity = stamp.propensity;
            events.push(e);
        }
        // Conversions go out on the first visit only: a unit converts once per metric here.
        if first {
            let outcome = v.outcome.clone().unwrap_or_default();
            for (m, converted) in scenario.metrics.iter().zip(outcome) {
                if let Some(value) = converted {
                    let mut e = base(EventKind::Conversion, &mut self.draw);
                    e.metric = Some(m.key.clone());
                    let is_value = m.variants.values().any(|t| t.value_mean.is_some());
                    e.value = is_value.then_some(value);
                    events.push(e);
                }
            }
        }
        events
    }

    pub fn duplicate(&mut self) -> bool {
        self.draw.chance(self.scenario.faults.duplicate_share)
    }
}
