//! Deciding a visitor's variant of every test in a compiled snapshot.
//!
//! Per test, the first rule that applies gives the [`Reason`]: a valid forced variant (QA),
//! paused, outside the schedule, bot, global holdout, targeting, layer slot, and finally the
//! test's own bucket against its coverage and weights. Anything but `assigned` shows the
//! control's content and is not counted.
//!
//! A sticky (bandit) test first looks the visitor up in what the edge remembers
//! ([`crate::bandit::sticky`]): a visitor assigned before keeps that variant, with the
//! snapshot version and propensity of that first assignment, whatever the weights are now.

use serde::Serialize;
use serde_json::Value;

use crate::bandit::sticky::Remembered;
use crate::compile::{CompiledSnapshot, CompiledTest};
use crate::device::DeviceClass;
use crate::hash::UnitHasher;
use crate::snapshot::TestStatus;
use crate::visitor::{Facts, Visitor};

/// Why a decision came out the way it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    Assigned,
    Forced,
    Paused,
    NotStarted,
    Ended,
    Bot,
    InHoldout,
    NotTargeted,
    ExcludedByLayer,
    OutsideCoverage,
}

/// One test's decision for one visitor.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision<'s> {
    pub test: &'s str,
    /// `None` unless assigned or forced.
    pub variant: Option<&'s str>,
    /// The visitor's bucket in this test's hash space, `0..10000`.
    pub bucket: u32,
    pub reason: Reason,
    /// Whether exposures of this decision count in the results (only `assigned` ones do).
    pub counted: bool,
    /// The variant's content, or the control's when no variant applies.
    pub content: &'s Value,
    /// The snapshot version that assigned the variant: this snapshot's, or for a remembered
    /// assignment of a sticky test, the version that first assigned it.
    pub snapshot_version: u64,
    /// Sticky tests: the probability with which the variant was assigned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub propensity: Option<f64>,
    /// Sticky tests: what the edge should remember of this assignment.
    #[serde(skip)]
    pub remember: Option<Remembered>,
    /// The test's exposure dimensions, whose values the edge stamps on exposures.
    #[serde(skip)]
    pub dimensions: &'s [String],
}

/// All decisions for one visitor.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assignment<'s> {
    pub unit_id: String,
    pub snapshot_version: u64,
    pub device: DeviceClass,
    pub persona: Option<String>,
    pub decisions: Vec<Decision<'s>>,
}

impl CompiledSnapshot {
    /// Decides every test for `visitor` at `now_ms` (Unix milliseconds).
    pub fn assign<'s>(&'s self, visitor: &Visitor<'_>, now_ms: i64) -> Assignment<'s> {
        self.assign_remembering(visitor, now_ms, &[])
    }

    /// [`assign`](Self::assign) for a visitor whose earlier assignments to sticky tests the
    /// edge remembers.
    pub fn assign_remembering<'s>(
        &'s self,
        visitor: &Visitor<'_>,
        now_ms: i64,
        remembered: &[Remembered],
    ) -> Assignment<'s> {
        let device = visitor.device_class();
        let mut facts = Facts::new(visitor, device);
        let persona = match visitor.persona.filter(|p| !p.is_empty()) {
            Some(p) => Some(p),
            None => self.classify_persona(&facts),
        };
        facts.persona = persona;
        let hasher = UnitHasher::new(visitor.unit_id);
        let in_holdout = self
            .holdout
            .as_ref()
            .is_some_and(|h| hasher.bucket(&h.hash_id) < h.buckets);
        let mut layer_buckets: Vec<Option<u32>> = vec![None; self.layer_hash_ids.len()];
        let decisions = self
            .tests
            .iter()
            .map(|t| {
                let ctx = Ctx {
                    visitor,
                    hasher: &hasher,
                    facts: &facts,
                    now_ms,
                    in_holdout,
                    remembered,
                };
                self.decide(t, &ctx, &mut layer_buckets)
            })
            .collect();
        Assignment {
            unit_id: visitor.unit_id.to_owned(),
            snapshot_version: self.version,
            device,
            persona: persona.map(str::to_owned),
            decisions,
        }
    }

    /// The first persona rule the visitor matches.
    pub(crate) fn classify_persona<'s>(&'s self, facts: &Facts<'_>) -> Option<&'s str> {
        self.personas
            .iter()
            .find(|(_, rule)| rule.eval(facts))
            .map(|(key, _)| key.as_str())
    }

    fn decide<'s>(
        &'s self,
        t: &'s CompiledTest,
        ctx: &Ctx<'_, '_>,
        layer_buckets: &mut [Option<u32>],
    ) -> Decision<'s> {
        let facts = ctx.facts;
        let b = ctx.hasher.bucket(&t.hash_id);
        let decision = |variant: Option<usize>, reason: Reason| Decision {
            test: &t.key,
            variant: variant.map(|i| t.variants[i].key.as_str()),
            bucket: b,
            reason,
            counted: reason == Reason::Assigned,
            content: t.variants[variant.unwrap_or(0)]
                .content
                .get(facts.device, facts.persona),
            snapshot_version: self.version,
            propensity: None,
            remember: None,
            dimensions: &t.dimensions,
        };
        let forced = ctx
            .visitor
            .forced
            .iter()
            .filter(|(test, _)| *test == t.key)
            .find_map(|(_, v)| t.variants.iter().position(|cv| &cv.key == v));
        if forced.is_some() {
            return decision(forced, Reason::Forced);
        }
        if t.status == TestStatus::Paused {
            return decision(None, Reason::Paused);
        }
        if t.start_ms.is_some_and(|s| ctx.now_ms < s) {
            return decision(None, Reason::NotStarted);
        }
        if t.end_ms.is_some_and(|e| ctx.now_ms >= e) {
            return decision(None, Reason::Ended);
        }
        if facts.device == DeviceClass::Bot {
            return decision(None, Reason::Bot);
        }
        if ctx.in_holdout {
            return decision(None, Reason::InHoldout);
        }
        if !targeted(t, facts) {
            return decision(None, Reason::NotTargeted);
        }
        if let Some((layer, start, end)) = t.layer {
            let lb = *layer_buckets[layer]
                .get_or_insert_with(|| ctx.hasher.bucket(&self.layer_hash_ids[layer]));
            if !(start..end).contains(&lb) {
                return decision(None, Reason::ExcludedByLayer);
            }
        }
        let Some(tag) = t.sticky else {
            return match t.allocation.variant_for(b) {
                Some(i) => decision(Some(i), Reason::Assigned),
                None => decision(None, Reason::OutsideCoverage),
            };
        };
        let known = ctx
            .remembered
            .iter()
            .find(|r| r.tag == tag && usize::from(r.variant) < t.variants.len());
        if let Some(r) = known {
            return Decision {
                snapshot_version: r.version,
                propensity: Some(r.propensity()),
                remember: Some(*r),
                ..decision(Some(usize::from(r.variant)), Reason::Assigned)
            };
        }
        match t.allocation.variant_for(b) {
            Some(i) => {
                let p = t.allocation.share(i);
                Decision {
                    propensity: Some(p),
                    remember: u8::try_from(i).ok().map(|variant| Remembered {
                        tag,
                        variant,
                        version: self.version,
                        propensity_ppm: (p * 1e6).round() as u32,
                    }),
                    ..decision(Some(i), Reason::Assigned)
                }
            }
            None => decision(None, Reason::OutsideCoverage),
        }
    }
}

struct Ctx<'a, 'f> {
    visitor: &'a Visitor<'a>,
    /// The visitor's id, hashed once for every test's bucket.
    hasher: &'a UnitHasher,
    facts: &'a Facts<'f>,
    now_ms: i64,
    in_holdout: bool,
    remembered: &'a [Remembered],
}

fn targeted(t: &CompiledTest, facts: &Facts<'_>) -> bool {
    if t.devices != 0 && t.devices & (1 << facts.device.index()) == 0 {
        return false;
    }
    if !t.personas.is_empty()
        && !facts
            .persona
            .is_some_and(|p| t.personas.iter().any(|q| q == p))
    {
        return false;
    }
    t.when.as_ref().is_none_or(|c| c.eval(facts))
}
