//! The admin model and its pure rules: test specs, the lifecycle, site settings, and how they
//! become a wire [`Snapshot`]. No I/O here; handlers load rows, call these, and store results.
//!
//! Validation reuses the edge's own compiler and limits ([`publishable`]): a change is valid
//! exactly when the edge would accept its result next to everything already published, so the
//! control plane never stores what it cannot publish. What an older database holds that this
//! build cannot publish is left out of the snapshot per item, never failing the whole.

use edgewise_shared::bandit::{Allocation, BanditSettings};
use edgewise_shared::compile::{without_skipped, Warning};
use edgewise_shared::decide::{DecisionOverrides, DecisionSettings};
use edgewise_shared::limits::{
    is_key, is_path_segment, KEY_RULE, MAX_DESCRIPTION_CHARS, MAX_TAGS, PATH_SEGMENT_RULE,
};
use edgewise_shared::snapshot::{
    HoldoutDef, LayerDef, LayerSlot, MetricDef, MetricRole, PersonaDef, Snapshot, Targeting,
    TestDef, TestStatus as WireStatus, VariantDef, SCHEMA_VERSION,
};
use edgewise_shared::{CompiledSnapshot, SnapshotError};
use serde::{Deserialize, Serialize};

use crate::error::{AppError, FieldError};

/// Where a test is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Draft,
    Running,
    Paused,
    Stopped,
    Archived,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
            Status::Archived => "archived",
        }
    }
    pub fn parse(s: &str) -> Option<Status> {
        [
            Status::Draft,
            Status::Running,
            Status::Paused,
            Status::Stopped,
            Status::Archived,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
    /// Whether the edge serves this test (as running or paused).
    pub fn published(self) -> bool {
        matches!(self, Status::Running | Status::Paused | Status::Stopped)
    }
}

/// A lifecycle action an API route performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Start,
    Pause,
    Resume,
    Stop,
    Archive,
}

impl Transition {
    pub fn name(self) -> &'static str {
        match self {
            Transition::Start => "start",
            Transition::Pause => "pause",
            Transition::Resume => "resume",
            Transition::Stop => "stop",
            Transition::Archive => "archive",
        }
    }
    /// draft → running → paused ↔ running → stopped → archived.
    pub fn apply(self, from: Status) -> Option<Status> {
        use Status::*;
        match (self, from) {
            (Transition::Start, Draft) => Some(Running),
            (Transition::Pause, Running) => Some(Paused),
            (Transition::Resume, Paused) => Some(Running),
            (Transition::Stop, Running | Paused) => Some(Stopped),
            (Transition::Archive, Stopped) => Some(Archived),
            _ => None,
        }
    }
}

/// The editable definition of a test (everything but its status).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestSpec {
    pub key: String,
    #[serde(default)]
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_at: Option<String>,
    #[serde(default = "full")]
    pub coverage: f64,
    pub variants: Vec<VariantDef>,
    #[serde(default)]
    pub targeting: Targeting,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<LayerSlot>,
    #[serde(default)]
    pub metrics: Vec<MetricDef>,
    /// The monitor's decision settings for this test, over the org's.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "edgewise_shared::decide::settings::object_or_null"
    )]
    pub decision: Option<DecisionOverrides>,
    /// Free-form labels (`headline`, `checkout`, the template it came from): learning across
    /// tests pools past lifts by tag (docs/learning.md).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// `fixed` (the default) keeps the variants' weights; `bandit` moves them toward the best
    /// arm while the test runs (docs/bandits.md).
    #[serde(default, skip_serializing_if = "Allocation::is_fixed")]
    pub allocation: Allocation,
    /// A bandit's settings (defaults when absent); only with `allocation: bandit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bandit: Option<BanditSettings>,
    /// Exposure dimensions the results are broken down by, besides device and persona
    /// (`country`, `browser`, `source`, `attr.NAME`; at most 5; docs/control.md).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dimensions: Vec<String>,
    /// The template it was drafted from: its variants must carry the template's content keys
    /// (docs/automation.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// The pages or elements it changes (URL paths, element markers): two published tests on
    /// one page must share a layer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pages: Vec<String>,
    /// Coverage in steps once it runs, each held for its hours while the monitor finds no
    /// guardrail regression or SRM (docs/automation.md); the ramp sets the coverage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ramp: Option<edgewise_shared::plan::ramp::Ramp>,
    /// The job runner starts this draft at its `start_at` and stops it at its `end_at`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub scheduled: bool,
}

impl TestSpec {
    /// A bandit's settings, `None` for a test with fixed weights.
    pub fn bandit_settings(&self) -> Option<BanditSettings> {
        (self.allocation == Allocation::Bandit).then(|| self.bandit.clone().unwrap_or_default())
    }
}

fn full() -> f64 {
    1.0
}

/// A stored test.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TestRecord {
    #[serde(flatten)]
    pub spec: TestSpec,
    pub status: Status,
    pub winner: Option<String>,
    /// When it was started (Unix ms), if it has been.
    pub started_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl TestRecord {
    /// The wire form the edge serves. A stopped test is served paused with its winner first,
    /// so everyone sees the winner's content and nobody is counted.
    pub fn to_wire(&self) -> Option<TestDef> {
        let s = &self.spec;
        let mut variants = s.variants.clone();
        let status = match self.status {
            Status::Running => WireStatus::Running,
            Status::Paused => WireStatus::Paused,
            Status::Stopped => {
                if let Some(i) = variants
                    .iter()
                    .position(|v| Some(&v.key) == self.winner.as_ref())
                {
                    let w = variants.remove(i);
                    variants.insert(0, w);
                }
                WireStatus::Paused
            }
            Status::Draft | Status::Archived => return None,
        };
        Some(TestDef {
            key: s.key.clone(),
            hash_id: s.hash_id.clone(),
            status,
            start_at: s.start_at.clone(),
            end_at: s.end_at.clone(),
            coverage: s.coverage,
            variants,
            targeting: s.targeting.clone(),
            layer: s.layer.clone(),
            metrics: s.metrics.clone(),
            sticky: s.allocation == Allocation::Bandit,
            dimensions: s.dimensions.clone(),
        })
    }
}

/// Pages per test, and characters per page.
pub const MAX_PAGES: usize = 20;
pub const MAX_PAGE_CHARS: usize = 200;

/// Site-wide settings: the parts of every snapshot, and the monitor's decision defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub layers: Vec<LayerDef>,
    pub holdout: Option<HoldoutDef>,
    pub personas: Vec<PersonaDef>,
    pub allowed_origins: Vec<String>,
    pub decision: DecisionSettings,
    /// The exposure dimensions a test created without its own gets.
    #[serde(default)]
    pub dimensions: Vec<String>,
    /// Risk scores from which a start needs one, then two approvals.
    #[serde(default)]
    pub approval_thresholds: edgewise_shared::plan::ApprovalThresholds,
}

/// Builds the snapshot body for the published tests (sorted by key, so equal state gives equal
/// JSON and "did anything change" is a comparison).
pub fn build_snapshot(version: u64, tests: &[TestRecord], settings: &Settings) -> Snapshot {
    let mut wire: Vec<TestDef> = tests.iter().filter_map(TestRecord::to_wire).collect();
    wire.sort_by(|a, b| a.key.cmp(&b.key));
    Snapshot {
        schema_version: SCHEMA_VERSION,
        snapshot_version: version,
        hash_version: edgewise_shared::hash::HASH_VERSION,
        generated_at: None,
        tests: wire,
        layers: settings.layers.clone(),
        holdout: settings.holdout.clone(),
        personas: settings.personas.clone(),
        allowed_origins: settings.allowed_origins.clone(),
    }
}

/// The snapshot the edge is sent for `wire`: every item the edge would skip left out, and the
/// warnings saying which and why. The result is checked as the edge checks what it is pushed,
/// from its JSON with [`CompiledSnapshot::from_json`] (the byte limit included), so a stored
/// snapshot can always be parsed and published again.
pub fn publishable(wire: &Snapshot) -> Result<(Snapshot, Vec<Warning>), SnapshotError> {
    let (_, warnings) = CompiledSnapshot::compile(wire)?;
    let clean = without_skipped(wire, &warnings);
    let (_, left) = CompiledSnapshot::from_json(&serde_json::to_string(&clean)?)?;
    debug_assert!(left.is_empty(), "skipping left warnings: {left:?}");
    Ok((clean, warnings))
}

/// What validation found: problems of the request itself (422), and problems of how it fits
/// what is already there (409): a layer that does not exist, an overlapping slot, a snapshot
/// the edge would refuse as too large, a primary metric a running test needs.
#[derive(Debug, Default)]
pub struct Problems {
    pub invalid: Vec<FieldError>,
    pub conflicts: Vec<FieldError>,
}

impl Problems {
    pub fn into_result(self) -> Result<(), AppError> {
        if !self.invalid.is_empty() {
            Err(AppError::Validation(self.invalid))
        } else if !self.conflicts.is_empty() {
            Err(AppError::Conflicts(self.conflicts))
        } else {
            Ok(())
        }
    }

    /// The error for a snapshot the edge would refuse as a whole.
    pub fn refusal(e: SnapshotError) -> AppError {
        let mut p = Problems::default();
        p.refused(e);
        if p.invalid.is_empty() {
            AppError::Conflicts(p.conflicts)
        } else {
            AppError::Validation(p.invalid)
        }
    }

    /// Everything as a conflict: for a request with no body (start), the stored definition is
    /// what does not fit.
    pub fn into_conflict(mut self) -> Result<(), AppError> {
        self.conflicts.append(&mut self.invalid);
        self.into_result()
    }

    fn refused(&mut self, e: SnapshotError) {
        match e {
            // Only `PUT /api/v1/holdout` sets it: its body's field.
            SnapshotError::InvalidHoldout { field, .. } => {
                self.invalid.push(FieldError::new(field, e.to_string()));
            }
            e => self.conflicts.push(FieldError::new(
                "",
                format!("the edge would refuse the resulting snapshot: {e}"),
            )),
        }
    }
}

/// Checks `candidate` as if it were running beside the other published tests.
pub fn validate_test(
    candidate: &TestSpec,
    others: &[TestRecord],
    settings: &Settings,
    templates: &[edgewise_shared::plan::Template],
    require_primary: bool,
) -> Problems {
    let mut p = Problems::default();
    if !is_path_segment(&candidate.key) {
        p.invalid.push(FieldError::new("key", PATH_SEGMENT_RULE));
    }
    if candidate.description.chars().count() > MAX_DESCRIPTION_CHARS {
        p.invalid.push(FieldError::new(
            "description",
            format!("must be at most {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    if let Some(o) = &candidate.decision {
        if let Err(e) = settings.decision.with(o).check() {
            p.invalid
                .push(FieldError::new(format!("decision.{}", e.field), e.message));
        }
    }
    p.invalid.extend(own_fields(candidate, templates));
    if candidate.scheduled && candidate.start_at.is_none() {
        p.invalid.push(FieldError::new(
            "start_at",
            "a scheduled test starts at its start_at: it needs one",
        ));
    }
    if let Some(r) = &candidate.ramp {
        if let Err((field, message)) = edgewise_shared::plan::ramp::check(r) {
            p.invalid.push(FieldError::new(field, message));
        }
    }
    if candidate.pages.len() > MAX_PAGES {
        p.invalid.push(FieldError::new(
            "pages",
            format!("at most {MAX_PAGES} pages"),
        ));
    }
    for (i, page) in candidate.pages.iter().enumerate() {
        if page.is_empty() || page.chars().count() > MAX_PAGE_CHARS {
            p.invalid.push(FieldError::new(
                format!("pages[{i}]"),
                format!("must be 1 to {MAX_PAGE_CHARS} characters"),
            ));
        }
    }
    if candidate.tags.len() > MAX_TAGS {
        p.invalid
            .push(FieldError::new("tags", format!("at most {MAX_TAGS} tags")));
    }
    for (i, tag) in candidate.tags.iter().enumerate() {
        if !is_key(tag) {
            p.invalid
                .push(FieldError::new(format!("tags[{i}]"), KEY_RULE));
        }
    }
    match (candidate.bandit_settings(), &candidate.bandit) {
        (Some(b), _) => {
            if let Err((field, message)) = b.check(candidate.variants.len(), &candidate.metrics) {
                p.invalid
                    .push(FieldError::new(format!("bandit.{field}"), message));
            }
        }
        (None, Some(_)) => p.invalid.push(FieldError::new(
            "bandit",
            "bandit settings need `\"allocation\": \"bandit\"`",
        )),
        (None, None) => {}
    }
    let primaries = candidate
        .metrics
        .iter()
        .filter(|m| m.role == MetricRole::Primary)
        .count();
    if require_primary && primaries != 1 {
        p.conflicts.push(FieldError::new(
            "metrics",
            "a running test needs exactly one primary metric",
        ));
    }
    let record = TestRecord {
        spec: candidate.clone(),
        status: Status::Running,
        winner: None,
        started_at: None,
        created_at: 0,
        updated_at: 0,
    };
    let mut snap = build_snapshot(1, &[], settings);
    snap.tests = others
        .iter()
        .filter(|t| t.spec.key != candidate.key)
        .filter_map(TestRecord::to_wire)
        .collect();
    let index = snap.tests.len();
    snap.tests.extend(record.to_wire());
    let prefix = format!("tests[{index}]");
    match publishable(&snap) {
        Err(e) => p.refused(e),
        Ok((_, warnings)) => {
            for w in &warnings {
                let Some(rest) = w.path().strip_prefix(&prefix) else {
                    continue;
                };
                let field = rest.trim_start_matches('.');
                match w {
                    Warning::InvalidTest { message, .. } => {
                        p.invalid.push(FieldError::new(field, message));
                    }
                    Warning::ConflictingTest { message, .. } => {
                        p.conflicts.push(FieldError::new(field, message));
                    }
                    Warning::DuplicateTest { .. } => {
                        p.conflicts
                            .push(FieldError::new("key", "already used by another test"));
                    }
                    _ => {}
                }
            }
        }
    }
    p
}

/// Checks new settings against the published tests: a problem of the settings themselves is
/// invalid, one they cause in a published test a conflict.
pub fn validate_settings(settings: &Settings, tests: &[TestRecord]) -> Problems {
    let mut p = Problems::default();
    match publishable(&build_snapshot(1, tests, settings)) {
        Err(e) => p.refused(e),
        Ok((_, warnings)) => {
            for w in &warnings {
                let error = FieldError::new(w.path(), w.to_string());
                if w.item().is_some_and(|(list, _)| list == "tests") {
                    p.conflicts.push(error);
                } else {
                    p.invalid.push(error);
                }
            }
        }
    }
    p
}

/// The test as the checks before a start see it ([`edgewise_shared::plan::checks`]).
pub fn candidate(spec: &TestSpec) -> edgewise_shared::plan::checks::Candidate<'_> {
    edgewise_shared::plan::checks::Candidate {
        key: &spec.key,
        hash_id: spec.hash_id.as_deref().unwrap_or(&spec.key),
        template: spec.template.as_deref(),
        pages: &spec.pages,
        layer: spec.layer.as_ref(),
        variants: &spec.variants,
        metrics: &spec.metrics,
        targeting: &spec.targeting,
        coverage: spec.coverage,
    }
}

/// The checks' findings about the request's own fields (an unknown template, a variant
/// missing a content key its template needs), which every create and update refuses with a
/// 422. Without other tests, traffic, layers or a holdout only those rules can fire as errors.
fn own_fields(spec: &TestSpec, templates: &[edgewise_shared::plan::Template]) -> Vec<FieldError> {
    use edgewise_shared::plan::checks::{check, Setup, Severity, Sizing, Traffic};
    let setup = Setup {
        templates,
        layers: &[],
        holdout_hash_id: None,
    };
    let sizing = Sizing {
        mde: 0.05,
        alpha: 0.05,
        power: 0.8,
        max_days: f64::INFINITY,
    };
    check(&candidate(spec), &[], &Traffic::default(), &setup, sizing)
        .into_iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| FieldError::new(f.field, f.message))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(key: &str) -> TestSpec {
        serde_json::from_value(serde_json::json!({
            "key": key,
            "variants": [{"key": "a", "weight": 1}, {"key": "b", "weight": 1}],
            "metrics": [{"key": "buy", "kind": "binomial", "role": "primary"}]
        }))
        .unwrap()
    }

    #[test]
    fn lifecycle_allows_only_the_documented_moves() {
        use Status::*;
        assert_eq!(Transition::Start.apply(Draft), Some(Running));
        assert_eq!(Transition::Resume.apply(Paused), Some(Running));
        assert_eq!(Transition::Stop.apply(Paused), Some(Stopped));
        assert_eq!(Transition::Start.apply(Running), None);
        assert_eq!(Transition::Archive.apply(Running), None);
        assert_eq!(Transition::Resume.apply(Stopped), None);
    }

    #[test]
    fn validation_reports_paths_relative_to_the_test() {
        let mut s = spec("t");
        s.variants[1].weight = -1.0;
        let p = validate_test(&s, &[], &Settings::default(), &[], false);
        assert_eq!(p.invalid[0].field, "variants[1].weight");
        assert!(
            validate_test(&spec("t"), &[], &Settings::default(), &[], true)
                .into_result()
                .is_ok()
        );
    }

    #[test]
    fn stopped_tests_serve_the_winner_paused() {
        let rec = TestRecord {
            spec: spec("t"),
            status: Status::Stopped,
            winner: Some("b".into()),
            started_at: None,
            created_at: 0,
            updated_at: 0,
        };
        let wire = rec.to_wire().unwrap();
        assert_eq!(wire.status, WireStatus::Paused);
        assert_eq!(wire.variants[0].key, "b");
    }
}
