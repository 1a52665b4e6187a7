//! Saved report definitions, pure: what a definition holds, the rules it must keep (checked
//! once, at the API's boundary, each failure naming its field) and which tests it selects.

use serde::{Deserialize, Serialize};

use super::Breakdowns;
use crate::error::FieldError;
use crate::model::{Status, TestRecord};

pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_SEARCH_CHARS: usize = 200;
/// Items in each list (statuses, tags, metrics).
pub const MAX_ITEMS: usize = 50;

/// A saved report: which tests, which of their metrics, which segments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Definition {
    pub name: String,
    #[serde(default)]
    pub tests: TestsFilter,
    /// Metric keys; every metric when empty.
    #[serde(default)]
    pub metrics: Vec<String>,
    /// Breakdowns besides `overall`.
    #[serde(default)]
    pub segments: Vec<Dimension>,
}

/// Which tests: all of the conditions given (an empty list or search is no condition).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestsFilter {
    /// The test has one of these statuses.
    #[serde(default)]
    pub status: Vec<Status>,
    /// The test carries at least one of these tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Case-insensitively in the test's key or description.
    #[serde(default)]
    pub search: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    Device,
    Persona,
}

impl Definition {
    /// Every rule the definition breaks, each naming its field.
    pub fn check(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if self.name.is_empty() || self.name.chars().count() > MAX_NAME_CHARS {
            errors.push(FieldError::new(
                "name",
                format!("must be 1 to {MAX_NAME_CHARS} characters"),
            ));
        }
        let mut list = |field: &str, len: usize| {
            if len > MAX_ITEMS {
                errors.push(FieldError::new(field, format!("at most {MAX_ITEMS} items")));
            }
        };
        list("tests.status", self.tests.status.len());
        list("tests.tags", self.tests.tags.len());
        list("metrics", self.metrics.len());
        for (i, t) in self.tests.tags.iter().enumerate() {
            if t.is_empty() || t.chars().count() > MAX_NAME_CHARS {
                errors.push(FieldError::new(
                    format!("tests.tags[{i}]"),
                    format!("must be 1 to {MAX_NAME_CHARS} characters"),
                ));
            }
        }
        if self.tests.search.chars().count() > MAX_SEARCH_CHARS {
            errors.push(FieldError::new(
                "tests.search",
                format!("at most {MAX_SEARCH_CHARS} characters"),
            ));
        }
        for (i, m) in self.metrics.iter().enumerate() {
            if !edgewise_shared::limits::is_key(m) {
                errors.push(FieldError::new(
                    format!("metrics[{i}]"),
                    "must be a metric key: 1 to 100 printable ASCII characters",
                ));
            }
        }
        errors
    }

    /// Whether the definition selects `t`.
    pub fn selects(&self, t: &TestRecord) -> bool {
        let f = &self.tests;
        let search = f.search.trim().to_lowercase();
        (f.status.is_empty() || f.status.contains(&t.status))
            && (f.tags.is_empty() || f.tags.iter().any(|tag| t.spec.tags.contains(tag)))
            && (search.is_empty()
                || t.spec.key.to_lowercase().contains(&search)
                || t.spec.description.to_lowercase().contains(&search))
    }

    pub fn breakdowns(&self) -> Breakdowns {
        Breakdowns {
            device: self.segments.contains(&Dimension::Device),
            persona: self.segments.contains(&Dimension::Persona),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(v: serde_json::Value) -> Definition {
        serde_json::from_value(v).unwrap()
    }

    fn test(key: &str, status: Status, tags: &[&str], description: &str) -> TestRecord {
        let spec = serde_json::json!({"key": key, "description": description, "tags": tags,
            "variants": [{"key": "a", "weight": 1}, {"key": "b", "weight": 1}]});
        TestRecord {
            spec: serde_json::from_value(spec).unwrap(),
            status,
            winner: None,
            started_at: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn each_broken_rule_names_its_field() {
        let bad = def(serde_json::json!({
            "name": "", "tests": {"tags": [""], "search": "x".repeat(201)},
            "metrics": ["ok", "has space"]
        }));
        let fields: Vec<String> = bad.check().into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            ["name", "tests.tags[0]", "tests.search", "metrics[1]"]
        );
        assert!(def(serde_json::json!({"name": "weekly"}))
            .check()
            .is_empty());
        let many = def(serde_json::json!({"name": "n", "metrics": vec!["m"; 51]}));
        assert_eq!(many.check()[0].field, "metrics");
    }

    #[test]
    fn unknown_fields_and_segments_are_refused() {
        assert!(
            serde_json::from_value::<Definition>(serde_json::json!({"name": "n", "x": 1})).is_err()
        );
        assert!(serde_json::from_value::<Definition>(
            serde_json::json!({"name": "n", "segments": ["country"]})
        )
        .is_err());
    }

    #[test]
    fn a_definition_selects_by_status_tags_and_search() {
        let d = def(serde_json::json!({"name": "n",
            "tests": {"status": ["running", "paused"], "tags": ["checkout"], "search": "Hero"}}));
        assert!(d.selects(&test("hero-1", Status::Running, &["checkout"], "")));
        assert!(d.selects(&test(
            "x",
            Status::Paused,
            &["a", "checkout"],
            "the HERO banner"
        )));
        assert!(!d.selects(&test("hero-2", Status::Stopped, &["checkout"], "")));
        assert!(!d.selects(&test("hero-3", Status::Running, &["other"], "")));
        assert!(!d.selects(&test("banner", Status::Running, &["checkout"], "")));
        let all = def(serde_json::json!({"name": "n"}));
        assert!(all.selects(&test("any", Status::Draft, &[], "")));
        assert_eq!(all.breakdowns(), Breakdowns::default());
        let both = def(serde_json::json!({"name": "n", "segments": ["persona", "device"]}));
        assert_eq!(both.breakdowns(), Breakdowns::ALL);
    }
}
