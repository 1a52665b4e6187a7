//! The wire format of element changes and split URLs inside a variant's content, and its
//! validation (docs/snapshot.md, "Page changes").
//!
//! ```json
//! "content": {
//!   "dom": [
//!     {"ew": "hero", "action": "set_text", "value": "Ship faster"},
//!     {"selector": "#cta", "action": "set_attr", "name": "href", "value": "/signup?b"},
//!     {"selector": ".promo", "action": "remove"}
//!   ],
//!   "split_url": {"url": "/pricing-b", "mode": "redirect"}
//! }
//! ```

use serde::Serialize;
use serde_json::Value;

use crate::limits::{MAX_DOM_CHANGES, MAX_SELECTOR_BYTES};
use crate::rewrite::selector;

/// What a change does to each element its selector matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action<'a> {
    /// Replace the element's content with text (escaped).
    SetText {
        value: &'a str,
    },
    /// Replace the element's content with HTML.
    SetHtml {
        value: &'a str,
    },
    SetAttr {
        name: &'a str,
        value: &'a str,
    },
    RemoveAttr {
        name: &'a str,
    },
    AddClass {
        value: &'a str,
    },
    RemoveClass {
        value: &'a str,
    },
    /// HTML before the element's start tag.
    InsertBefore {
        value: &'a str,
    },
    /// HTML after the element's end tag.
    InsertAfter {
        value: &'a str,
    },
    Remove,
    /// Set one property of the `style` attribute, keeping the others.
    SetStyle {
        name: &'a str,
        value: &'a str,
    },
}

/// One element change: a CSS selector (a `data-ew` marker becomes `[data-ew="…"]`) and an
/// action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change<'a> {
    pub selector: String,
    #[serde(flatten)]
    pub action: Action<'a>,
}

/// How a split-URL variant shows its URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitMode {
    /// 302 to the URL, the request's query string kept.
    Redirect,
    /// The worker fetches the URL's path from the origin instead; the address bar keeps the
    /// requested URL.
    Fetch,
}

/// `split_url`: the variant is another page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitUrl<'a> {
    /// A path (`/pricing-b`, maybe with a query) on the same site, or for a redirect an
    /// absolute `http(s)://` URL.
    pub url: &'a str,
    pub mode: SplitMode,
}

/// Reads the `dom` list of `content` (a variant's content after its overrides are merged).
/// Entries that do not parse are left out; compiled snapshots never hold any.
pub fn changes(content: &Value) -> impl Iterator<Item = Change<'_>> {
    content
        .get("dom")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| parse_change(v).ok())
}

/// Reads `split_url` of `content`, if valid.
pub fn split_url(content: &Value) -> Option<SplitUrl<'_>> {
    content.get("split_url").and_then(|v| parse_split(v).ok())
}

/// Validates the `dom` and `split_url` fields of a variant's content or of one override patch
/// (a patch replaces the whole list, so each patch is checked on its own). The error is the
/// field path below the content (`dom[2].selector`) and a message.
pub fn check_content(content: &Value) -> Result<(), (String, String)> {
    if let Some(dom) = content.get("dom") {
        let Some(list) = dom.as_array() else {
            if dom.is_null() {
                return Ok(()); // a patch removing the list
            }
            return Err(("dom".into(), "must be a list of element changes".into()));
        };
        if list.len() > MAX_DOM_CHANGES {
            return Err((
                "dom".into(),
                format!("at most {MAX_DOM_CHANGES} element changes"),
            ));
        }
        for (i, v) in list.iter().enumerate() {
            parse_change(v).map_err(|(field, m)| (format!("dom[{i}]{field}"), m))?;
        }
    }
    match content.get("split_url") {
        None | Some(Value::Null) => Ok(()),
        Some(v) => parse_split(v)
            .map(|_| ())
            .map_err(|(field, m)| (format!("split_url{field}"), m)),
    }
}

type Problem = (String, String);

fn bad(field: &str, message: impl Into<String>) -> Problem {
    (field.to_owned(), message.into())
}

fn parse_change(v: &Value) -> Result<Change<'_>, Problem> {
    let Some(obj) = v.as_object() else {
        return Err(bad("", "must be an object {selector | ew, action, ...}"));
    };
    for key in obj.keys() {
        if !matches!(
            key.as_str(),
            "selector" | "ew" | "action" | "name" | "value"
        ) {
            return Err(bad(&format!(".{key}"), "unknown field"));
        }
    }
    let text = |field: &str| -> Result<Option<&str>, Problem> {
        match obj.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(bad(&format!(".{field}"), "must be a string")),
        }
    };
    let selector = match (text("selector")?, text("ew")?) {
        (Some(s), None) => {
            selector::check(s).map_err(|m| bad(".selector", m))?;
            s.to_owned()
        }
        (None, Some(ew)) => {
            if ew.is_empty()
                || ew.len() > MAX_SELECTOR_BYTES
                || !ew
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
            {
                return Err(bad(
                    ".ew",
                    "a data-ew marker is 1 to 1024 characters of A-Z, a-z, 0-9, - and _",
                ));
            }
            format!("[data-ew=\"{ew}\"]")
        }
        (Some(_), Some(_)) => return Err(bad(".ew", "give either selector or ew, not both")),
        (None, None) => {
            return Err(bad(
                ".selector",
                "a change needs a selector or an ew marker",
            ))
        }
    };
    let action_name = text("action")?.ok_or_else(|| bad(".action", "is required"))?;
    let value = || text("value")?.ok_or_else(|| bad(".value", "is required for this action"));
    let name = || text("name")?.ok_or_else(|| bad(".name", "is required for this action"));
    let action = match action_name {
        "set_text" => Action::SetText { value: value()? },
        "set_html" => Action::SetHtml { value: value()? },
        "set_attr" => Action::SetAttr {
            name: attr_name(name()?)?,
            value: value()?,
        },
        "remove_attr" => Action::RemoveAttr {
            name: attr_name(name()?)?,
        },
        "add_class" => Action::AddClass {
            value: class_name(value()?)?,
        },
        "remove_class" => Action::RemoveClass {
            value: class_name(value()?)?,
        },
        "insert_before" => Action::InsertBefore { value: value()? },
        "insert_after" => Action::InsertAfter { value: value()? },
        "remove" => Action::Remove,
        "set_style" => {
            let n = name()?;
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                return Err(bad(".name", "a CSS property name: letters, digits and -"));
            }
            let v = value()?;
            if v.contains([';', '{', '}', '<']) {
                return Err(bad(".value", "a CSS value may not hold ; { } or <"));
            }
            Action::SetStyle { name: n, value: v }
        }
        other => {
            return Err(bad(
                ".action",
                format!(
                    "unknown action `{other}` (set_text, set_html, set_attr, remove_attr, \
                     add_class, remove_class, insert_before, insert_after, remove, set_style)"
                ),
            ))
        }
    };
    Ok(Change { selector, action })
}

fn attr_name(n: &str) -> Result<&str, Problem> {
    let ok = n
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b':' | b'.'));
    if ok && n.len() <= 256 {
        Ok(n)
    } else {
        Err(bad(
            ".name",
            "an attribute name: a letter or _, then letters, digits, - _ : .",
        ))
    }
}

fn class_name(c: &str) -> Result<&str, Problem> {
    if c.is_empty() || c.len() > 256 || c.chars().any(char::is_whitespace) {
        Err(bad(
            ".value",
            "one class name: 1 to 256 characters, no whitespace",
        ))
    } else {
        Ok(c)
    }
}

fn parse_split(v: &Value) -> Result<SplitUrl<'_>, Problem> {
    let Some(obj) = v.as_object() else {
        return Err(bad("", "must be an object {url, mode}"));
    };
    let url = obj
        .get("url")
        .and_then(Value::as_str)
        .ok_or_else(|| bad(".url", "is required: a path such as /pricing-b"))?;
    let mode = match obj.get("mode").map(|m| m.as_str()) {
        None | Some(Some("redirect")) => SplitMode::Redirect,
        Some(Some("fetch")) => SplitMode::Fetch,
        Some(_) => return Err(bad(".mode", "must be \"redirect\" or \"fetch\"")),
    };
    let path = url.starts_with('/') && !url.starts_with("//");
    let absolute = url.starts_with("https://") || url.starts_with("http://");
    if url.len() > 2048 || url.chars().any(|c| c.is_control() || c == ' ') {
        return Err(bad(
            ".url",
            "at most 2048 characters, no spaces or control characters",
        ));
    }
    match mode {
        SplitMode::Redirect if !(path || absolute) => {
            Err(bad(".url", "a path (/...) or an http(s):// URL"))
        }
        SplitMode::Fetch if !path => Err(bad(
            ".url",
            "a path on the same origin (/...): fetch mode serves it in place",
        )),
        _ => Ok(SplitUrl { url, mode }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_action_parses() {
        let content = json!({"dom": [
            {"ew": "hero", "action": "set_text", "value": "Grüße"},
            {"selector": "h1", "action": "set_html", "value": "<b>x</b>"},
            {"selector": "#cta", "action": "set_attr", "name": "href", "value": "/b"},
            {"selector": "#cta", "action": "remove_attr", "name": "target"},
            {"selector": ".btn", "action": "add_class", "value": "big"},
            {"selector": ".btn", "action": "remove_class", "value": "small"},
            {"selector": "nav", "action": "insert_before", "value": "<p>a</p>"},
            {"selector": "nav", "action": "insert_after", "value": "<p>b</p>"},
            {"selector": ".promo", "action": "remove"},
            {"selector": "footer", "action": "set_style", "name": "color", "value": "red"}
        ]});
        assert_eq!(check_content(&content), Ok(()));
        let all: Vec<Change<'_>> = changes(&content).collect();
        assert_eq!(all.len(), 10);
        assert_eq!(all[0].selector, "[data-ew=\"hero\"]");
        assert_eq!(all[0].action, Action::SetText { value: "Grüße" });
        assert_eq!(all[8].action, Action::Remove);
        assert_eq!(
            serde_json::to_value(&all[2]).unwrap(),
            json!({"selector": "#cta", "action": "set_attr", "name": "href", "value": "/b"})
        );
    }

    #[test]
    fn malformed_changes_name_their_field() {
        let cases = [
            (json!({"dom": {}}), "dom"),
            (json!({"dom": [1]}), "dom[0]"),
            (json!({"dom": [{"action": "remove"}]}), "dom[0].selector"),
            (
                json!({"dom": [{"selector": "h1 + p", "action": "remove"}]}),
                "dom[0].selector",
            ),
            (
                json!({"dom": [{"ew": "a b", "action": "remove"}]}),
                "dom[0].ew",
            ),
            (
                json!({"dom": [{"selector": "h1", "ew": "x", "action": "remove"}]}),
                "dom[0].ew",
            ),
            (json!({"dom": [{"selector": "h1"}]}), "dom[0].action"),
            (
                json!({"dom": [{"selector": "h1", "action": "explode"}]}),
                "dom[0].action",
            ),
            (
                json!({"dom": [{"selector": "h1", "action": "set_text"}]}),
                "dom[0].value",
            ),
            (
                json!({"dom": [{"selector": "h1", "action": "set_text", "value": 3}]}),
                "dom[0].value",
            ),
            (
                json!({"dom": [{"selector": "a", "action": "set_attr", "name": "1x", "value": ""}]}),
                "dom[0].name",
            ),
            (
                json!({"dom": [{"selector": "a", "action": "add_class", "value": "a b"}]}),
                "dom[0].value",
            ),
            (
                json!({"dom": [{"selector": "a", "action": "set_style", "name": "color", "value": "red;x"}]}),
                "dom[0].value",
            ),
            (
                json!({"dom": [{"selector": "a", "action": "remove", "colour": 1}]}),
                "dom[0].colour",
            ),
            (json!({"split_url": {"url": "pricing"}}), "split_url.url"),
            (
                json!({"split_url": {"url": "https://x.example/", "mode": "fetch"}}),
                "split_url.url",
            ),
            (
                json!({"split_url": {"url": "/b", "mode": "teleport"}}),
                "split_url.mode",
            ),
        ];
        for (content, field) in cases {
            let (f, _) = check_content(&content).expect_err(&content.to_string());
            assert_eq!(f, field, "{content}");
        }
        let many: Vec<Value> = (0..=MAX_DOM_CHANGES)
            .map(|_| json!({"selector": "p", "action": "remove"}))
            .collect();
        assert_eq!(check_content(&json!({"dom": many})).unwrap_err().0, "dom");
        // Content without page changes, and a patch removing them, are fine.
        assert_eq!(check_content(&json!({"headline": "x"})), Ok(()));
        assert_eq!(
            check_content(&json!({"dom": null, "split_url": null})),
            Ok(())
        );
    }

    #[test]
    fn split_urls() {
        let v = json!({"split_url": {"url": "/b?x=1"}});
        let s = split_url(&v).unwrap();
        assert_eq!(
            s,
            SplitUrl {
                url: "/b?x=1",
                mode: SplitMode::Redirect
            }
        );
        let v = json!({"split_url": {"url": "/b", "mode": "fetch"}});
        assert_eq!(split_url(&v).unwrap().mode, SplitMode::Fetch);
        assert!(split_url(&json!({"split_url": {"url": "https://b.example/x"}})).is_some());
        assert!(split_url(&json!({"split_url": {"url": "//evil.example"}})).is_none());
    }
}
