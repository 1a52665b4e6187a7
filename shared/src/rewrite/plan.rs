//! Which page changes apply for one visitor: those of the variants the visitor is shown.
//!
//! Only a decision that shows a variant (`assigned`, or `forced` for a QA preview) changes the
//! page; every other reason (paused, bot, not targeted, holdout, …) shows the origin's page as
//! it is, whatever the control's content holds. The content is the decision's, with device
//! and persona overrides already merged, so a mobile patch that replaces `dom` replaces the
//! changes. Changes keep the order of the decisions (the snapshot's test order), then of each
//! `dom` list; a later change to the same element applies after an earlier one.

use serde_json::Value;

use crate::assign::{Decision, Reason};
use crate::rewrite::change::{self, Change, SplitMode, SplitUrl};

/// The part of a decision planning reads: from a [`Decision`], or from the `/v1/assign` JSON
/// the worker already rendered.
#[derive(Debug, Clone, Copy)]
pub struct DecisionView<'a> {
    pub test: &'a str,
    /// Whether the visitor is shown the variant (`assigned` or `forced`).
    pub shown: bool,
    pub content: &'a Value,
}

impl<'a> From<&'a Decision<'a>> for DecisionView<'a> {
    fn from(d: &'a Decision<'a>) -> Self {
        DecisionView {
            test: d.test,
            shown: d.variant.is_some() && matches!(d.reason, Reason::Assigned | Reason::Forced),
            content: d.content,
        }
    }
}

impl<'a> DecisionView<'a> {
    /// One decision of a `/v1/assign` body (`{"test", "variant", "reason", "content", …}`).
    pub fn from_json(d: &'a Value) -> Option<DecisionView<'a>> {
        let reason = d.get("reason")?.as_str()?;
        Some(DecisionView {
            test: d.get("test")?.as_str()?,
            shown: d.get("variant").is_some_and(Value::is_string)
                && matches!(reason, "assigned" | "forced"),
            content: d.get("content")?,
        })
    }
}

/// What to do to one page for one visitor.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan<'a> {
    /// The element changes, in order.
    pub changes: Vec<Change<'a>>,
    /// The first shown variant's split URL, with the test that asks for it.
    pub split: Option<(&'a str, SplitUrl<'a>)>,
}

/// Plans the page for `decisions`.
pub fn plan<'a>(decisions: impl IntoIterator<Item = DecisionView<'a>>) -> Plan<'a> {
    let mut out = Plan::default();
    for d in decisions.into_iter().filter(|d| d.shown) {
        out.changes.extend(change::changes(d.content));
        if out.split.is_none() {
            out.split = change::split_url(d.content).map(|s| (d.test, s));
        }
    }
    out
}

impl Plan<'_> {
    /// The changes as JSON, for the code that applies them.
    pub fn changes_json(&self) -> String {
        serde_json::to_string(&self.changes).unwrap_or_else(|_| "[]".into())
    }
}

impl SplitUrl<'_> {
    /// Where the split sends a request whose query string is `query` (without `?`): the URL
    /// with the request's query appended (after the URL's own parameters, if it has any).
    pub fn target(&self, query: Option<&str>) -> String {
        let (base, fragment) = match self.url.split_once('#') {
            Some((b, f)) => (b, Some(f)),
            None => (self.url, None),
        };
        let mut out = base.to_owned();
        if let Some(q) = query.filter(|q| !q.is_empty()) {
            out.push(if base.contains('?') { '&' } else { '?' });
            out.push_str(q);
        }
        if let (Some(f), SplitMode::Redirect) = (fragment, self.mode) {
            out.push('#');
            out.push_str(f);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rewrite::Action;
    use crate::{CompiledSnapshot, DeviceClass, Visitor};
    use serde_json::json;

    fn snapshot(status: &str) -> CompiledSnapshot {
        let wire = json!({
            "schema_version": 1, "snapshot_version": 3, "hash_version": 1,
            "tests": [{
                "key": "hero", "status": status,
                "variants": [
                    {"key": "control", "weight": 0, "content": {"dom": [{"selector": "h1", "action": "remove"}]}},
                    {"key": "b", "weight": 1,
                     "content": {"dom": [{"ew": "hero", "action": "set_text", "value": "Desktop"}],
                                 "split_url": {"url": "/b", "mode": "fetch"}},
                     "overrides": {"device": {"mobile": {"dom": [{"ew": "hero", "action": "set_text", "value": "Mobile"}]}},
                                   "persona": {"Dev": {"dom": null}}}}
                ]
            }, {
                "key": "cta", "status": "running",
                "variants": [
                    {"key": "a", "weight": 0},
                    {"key": "b", "weight": 1, "content": {"dom": [{"selector": "#cta", "action": "add_class", "value": "big"}],
                                                        "split_url": {"url": "/c"}}}
                ]
            }]
        });
        let (s, warnings) =
            CompiledSnapshot::compile(&serde_json::from_value(wire).unwrap()).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        s
    }

    fn plan_for(
        s: &CompiledSnapshot,
        ua: &str,
        persona: Option<&str>,
    ) -> (Vec<String>, Option<String>) {
        let v = Visitor {
            unit_id: "u1",
            user_agent: Some(ua),
            persona,
            ..Visitor::default()
        };
        let a = s.assign(&v, 0);
        let p = plan(a.decisions.iter().map(DecisionView::from));
        let changes = p
            .changes
            .iter()
            .map(|c| serde_json::to_string(c).unwrap())
            .collect();
        (changes, p.split.map(|(t, s)| format!("{t}:{}", s.url)))
    }

    #[test]
    fn shown_variants_apply_with_their_overrides() {
        let s = snapshot("running");
        let desktop = "Mozilla/5.0 (X11; Linux x86_64)";
        let (c, split) = plan_for(&s, desktop, None);
        assert_eq!(
            c,
            [
                r#"{"selector":"[data-ew=\"hero\"]","action":"set_text","value":"Desktop"}"#,
                r##"{"selector":"#cta","action":"add_class","value":"big"}"##,
            ]
        );
        assert_eq!(
            split.as_deref(),
            Some("hero:/b"),
            "the first test's split wins"
        );
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) Mobile/15E148";
        assert_eq!(DeviceClass::from_user_agent(iphone), DeviceClass::Mobile);
        let (c, _) = plan_for(&s, iphone, None);
        assert!(c[0].contains("Mobile"), "{c:?}");
        // The persona patch removes the hero's changes; its split URL stays.
        let (c, split) = plan_for(&s, desktop, Some("Dev"));
        assert_eq!(c.len(), 1);
        assert_eq!(split.as_deref(), Some("hero:/b"));
    }

    #[test]
    fn paused_bots_and_the_control_change_nothing() {
        let s = snapshot("paused");
        let (c, split) = plan_for(&s, "Mozilla/5.0 (X11; Linux x86_64)", None);
        assert_eq!(c.len(), 1, "only the running test applies: {c:?}");
        assert_eq!(split.as_deref(), Some("cta:/c"));
        let (c, split) = plan_for(&s, "Googlebot/2.1", None);
        assert!(c.is_empty() && split.is_none());
    }

    #[test]
    fn json_decisions_plan_like_engine_decisions() {
        let d = json!([
            {"test": "t", "variant": "b", "reason": "forced", "content": {"dom": [{"selector": "p", "action": "remove"}]}},
            {"test": "u", "variant": null, "reason": "paused", "content": {"dom": [{"selector": "q", "action": "remove"}]}}
        ]);
        let p = plan(
            d.as_array()
                .unwrap()
                .iter()
                .filter_map(DecisionView::from_json),
        );
        assert_eq!(p.changes.len(), 1);
        assert_eq!(p.changes[0].action, Action::Remove);
        assert_eq!(p.changes_json(), r#"[{"selector":"p","action":"remove"}]"#);
    }

    #[test]
    fn a_malformed_change_skips_its_test_naming_the_field() {
        let wire = json!({
            "schema_version": 1, "snapshot_version": 1, "hash_version": 1,
            "tests": [{"key": "t", "status": "running", "variants": [
                {"key": "a", "weight": 1},
                {"key": "b", "weight": 1, "content": {"dom": [
                    {"selector": "h1", "action": "remove"},
                    {"selector": "h1 + p", "action": "remove"}]}}]},
                {"key": "u", "status": "running", "variants": [
                {"key": "a", "weight": 1},
                {"key": "b", "weight": 1, "overrides": {"persona": {"Dev": {"dom": [
                    {"ew": "x", "action": "set_attr", "value": "v"}]}}}}]}]
        });
        let (s, w) = CompiledSnapshot::compile(&serde_json::from_value(wire).unwrap()).unwrap();
        assert_eq!(s.tests().count(), 0);
        let paths: Vec<&str> = w.iter().map(crate::Warning::path).collect();
        assert_eq!(
            paths,
            [
                "tests[0].variants[1].content.dom[1].selector",
                "tests[1].variants[1].overrides.persona.Dev.dom[0].name"
            ]
        );
    }

    #[test]
    fn split_targets_keep_the_query() {
        let r = SplitUrl {
            url: "/b",
            mode: SplitMode::Redirect,
        };
        assert_eq!(r.target(Some("utm_source=x&a=1")), "/b?utm_source=x&a=1");
        assert_eq!(r.target(None), "/b");
        let r = SplitUrl {
            url: "https://b.example/p?v=2#top",
            mode: SplitMode::Redirect,
        };
        assert_eq!(r.target(Some("a=1")), "https://b.example/p?v=2&a=1#top");
        let f = SplitUrl {
            url: "/b#x",
            mode: SplitMode::Fetch,
        };
        assert_eq!(f.target(Some("a=1")), "/b?a=1");
    }
}
