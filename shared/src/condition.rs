//! Conditions for targeting and persona rules: `all` / `any` / `not` over attribute tests.
//!
//! Wire form (see `docs/snapshot.md`):
//! `{"all": [c, …]}`, `{"any": [c, …]}`, `{"not": c}`, or a leaf
//! `{"attr": NAME, "op": OP, "value": V}` with OP one of `eq ne in not_in gt gte lt lte regex
//! prefix exists not_exists`. A missing attribute fails every op except `ne`, `not_in` and
//! `not_exists`. Comparisons are exact (case-sensitive); numeric ops compare as numbers.
//!
//! [`Condition`] is the parsed wire shape; [`Cond`] is its compiled form (regexes built,
//! numbers parsed, attributes resolved to [`Attr`]), evaluated against [`Facts`].

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::limits::{
    MAX_CONDITION_DEPTH, MAX_CONDITION_LIST, MAX_CONDITION_NODES, MAX_CONDITION_TEXT_CHARS,
};
use crate::visitor::{Attr, AttrValue, Facts};

/// A condition as written in a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Value", into = "Value")]
pub enum Condition {
    All(Vec<Condition>),
    Any(Vec<Condition>),
    Not(Box<Condition>),
    Leaf {
        attr: String,
        op: String,
        value: Option<Value>,
    },
}

impl TryFrom<Value> for Condition {
    type Error = String;

    fn try_from(v: Value) -> Result<Self, String> {
        let Value::Object(mut map) = v else {
            return Err("a condition must be an object".into());
        };
        for group in ["all", "any"] {
            if let Some(list) = map.remove(group) {
                if !map.is_empty() {
                    return Err(format!("`{group}` must be the only field of its object"));
                }
                let Value::Array(items) = list else {
                    return Err(format!("`{group}` must be an array of conditions"));
                };
                let parsed = items
                    .into_iter()
                    .map(Condition::try_from)
                    .collect::<Result<Vec<_>, _>>()?;
                return Ok(if group == "all" {
                    Condition::All(parsed)
                } else {
                    Condition::Any(parsed)
                });
            }
        }
        if let Some(inner) = map.remove("not") {
            if !map.is_empty() {
                return Err("`not` must be the only field of its object".into());
            }
            return Ok(Condition::Not(Box::new(Condition::try_from(inner)?)));
        }
        let attr = match map.remove("attr") {
            Some(Value::String(s)) => s,
            Some(_) => return Err("`attr` must be a string".into()),
            None => return Err("a condition needs `all`, `any`, `not` or `attr`".into()),
        };
        let op = match map.remove("op") {
            Some(Value::String(s)) => s,
            Some(_) => return Err(format!("`op` of attr `{attr}` must be a string")),
            None => return Err(format!("attr `{attr}` needs an `op`")),
        };
        let value = map.remove("value");
        if let Some(extra) = map.keys().next() {
            return Err(format!("unknown field `{extra}` in condition on `{attr}`"));
        }
        Ok(Condition::Leaf { attr, op, value })
    }
}

impl From<Condition> for Value {
    fn from(c: Condition) -> Value {
        match c {
            Condition::All(v) => serde_json::json!({ "all": v }),
            Condition::Any(v) => serde_json::json!({ "any": v }),
            Condition::Not(c) => serde_json::json!({ "not": *c }),
            Condition::Leaf { attr, op, value } => match value {
                Some(value) => serde_json::json!({ "attr": attr, "op": op, "value": value }),
                None => serde_json::json!({ "attr": attr, "op": op }),
            },
        }
    }
}

impl AttrValue<'_> {
    fn as_number(&self) -> Option<f64> {
        match *self {
            AttrValue::Num(n) => Some(n),
            AttrValue::Str(s) => s.trim().parse().ok(),
        }
    }

    fn equals(&self, expected: &Scalar) -> bool {
        match *self {
            AttrValue::Str(s) => s == expected.text,
            AttrValue::Num(n) => expected.number == Some(n),
        }
    }
}

/// A condition value kept both as text and, where it parses, as a number.
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    text: String,
    number: Option<f64>,
}

impl Scalar {
    fn from_json(v: &Value) -> Option<Scalar> {
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => return None,
        };
        let number = text.trim().parse().ok();
        Some(Scalar { text, number })
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cmp {
    Gt,
    Gte,
    Lt,
    Lte,
}

/// The test a leaf applies to its attribute.
#[derive(Debug, Clone)]
pub enum Test {
    Eq(Scalar),
    Ne(Scalar),
    In(Vec<Scalar>),
    NotIn(Vec<Scalar>),
    Num(Cmp, f64),
    Regex(regex_lite::Regex),
    Prefix(String),
    Exists,
    NotExists,
}

/// A compiled condition, ready to evaluate.
#[derive(Debug, Clone)]
pub enum Cond {
    All(Vec<Cond>),
    Any(Vec<Cond>),
    Not(Box<Cond>),
    Leaf(Attr, Test),
}

fn long(s: &str) -> bool {
    s.chars().count() > MAX_CONDITION_TEXT_CHARS
}

/// What each op takes as its value (the OpenAPI document's `Condition` says the same):
/// `eq`/`ne` a string, number or boolean; `in`/`not_in` a list of them; the comparisons a
/// number, or a string written as a JSON number; `regex` and `prefix` a string; `exists` and
/// `not_exists` none. Strings hold at most [`MAX_CONDITION_TEXT_CHARS`] characters. Errors name
/// the field (`value` or `op`) relative to the leaf.
fn leaf_test(op: &str, value: Option<&Value>) -> Result<Test, (&'static str, String)> {
    fn bad<T>(m: String) -> Result<T, (&'static str, String)> {
        Err(("value", m))
    }
    let scalar = |v: &Value| match v {
        Value::String(s) if long(s) => bad(format!(
            "strings hold at most {MAX_CONDITION_TEXT_CHARS} characters"
        )),
        Value::String(_) | Value::Number(_) | Value::Bool(_) => {
            Scalar::from_json(v).map_or_else(|| bad("not a scalar".into()), Ok)
        }
        _ => bad(format!("`{op}` needs a string, number or boolean value")),
    };
    let text = || match value {
        Some(Value::String(s)) if !long(s) => Ok(s.clone()),
        _ => bad(format!(
            "`{op}` needs a string value of at most {MAX_CONDITION_TEXT_CHARS} characters"
        )),
    };
    let number = |cmp| {
        let n = match value {
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) if is_json_number(s) => s.parse::<f64>().ok(),
            _ => None,
        };
        // A string past f64's range parses to an infinity, which compares as such.
        match n {
            Some(n) => Ok(Test::Num(cmp, n)),
            None => bad(format!(
                "`{op}` needs a number, or a string written as a JSON number"
            )),
        }
    };
    Ok(match op {
        "eq" | "ne" => {
            let Some(v) = value else {
                return bad(format!("`{op}` needs a value"));
            };
            let s = scalar(v)?;
            if op == "eq" {
                Test::Eq(s)
            } else {
                Test::Ne(s)
            }
        }
        "in" | "not_in" => {
            let Some(Value::Array(items)) = value else {
                return bad(format!("`{op}` needs a list value"));
            };
            if items.len() > MAX_CONDITION_LIST {
                return bad(format!("a list holds at most {MAX_CONDITION_LIST} items"));
            }
            let list = items.iter().map(scalar).collect::<Result<Vec<_>, _>>()?;
            if op == "in" {
                Test::In(list)
            } else {
                Test::NotIn(list)
            }
        }
        "gt" => number(Cmp::Gt)?,
        "gte" => number(Cmp::Gte)?,
        "lt" => number(Cmp::Lt)?,
        "lte" => number(Cmp::Lte)?,
        "prefix" => Test::Prefix(text()?),
        "regex" => {
            let pattern = text()?;
            match regex_lite::Regex::new(&pattern) {
                Ok(re) => Test::Regex(re),
                Err(e) => return bad(format!("invalid regex: {e}")),
            }
        }
        "exists" | "not_exists" => {
            if value.is_some() {
                return bad(format!("`{op}` takes no value"));
            }
            if op == "exists" {
                Test::Exists
            } else {
                Test::NotExists
            }
        }
        other => {
            return Err((
                "op",
                format!(
                    "unknown op `{other}`; expected one of eq, ne, in, not_in, gt, gte, lt, \
                     lte, regex, prefix, exists, not_exists"
                ),
            ))
        }
    })
}

/// Whether `s` is written as a JSON number (`-12.5e3`; no spaces, no `+`, no leading zeros).
fn is_json_number(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    let int_start = i;
    match digits(&mut i) {
        0 => return false,
        n if n > 1 && b[int_start] == b'0' => return false,
        _ => {}
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Why a condition does not compile, and where (a path such as `when.all[1].value`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionError {
    pub path: String,
    pub message: String,
}

impl Cond {
    /// Compiles `c` within the condition limits of [`crate::limits`]; `path` names it in
    /// errors.
    pub fn compile(c: &Condition, path: &str) -> Result<Cond, ConditionError> {
        Cond::compile_within(c, path, 0, &mut 0)
    }

    /// `depth` groups enclose `c`; `nodes` counts the nodes compiled so far.
    fn compile_within(
        c: &Condition,
        path: &str,
        depth: usize,
        nodes: &mut usize,
    ) -> Result<Cond, ConditionError> {
        let err = |p: String, m: String| ConditionError {
            path: p,
            message: m,
        };
        *nodes += 1;
        if *nodes > MAX_CONDITION_NODES {
            return Err(err(
                path.to_owned(),
                format!("a condition may hold at most {MAX_CONDITION_NODES} groups and leaves"),
            ));
        }
        if depth > MAX_CONDITION_DEPTH {
            return Err(err(
                path.to_owned(),
                format!("conditions nest at most {MAX_CONDITION_DEPTH} levels of all/any/not"),
            ));
        }
        let too_long = |p: String| {
            err(
                p,
                format!("must be at most {MAX_CONDITION_TEXT_CHARS} characters"),
            )
        };
        Ok(match c {
            Condition::All(items) | Condition::Any(items) => {
                let group = if matches!(c, Condition::All(_)) {
                    "all"
                } else {
                    "any"
                };
                let compiled = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        let path = format!("{path}.{group}[{i}]");
                        Cond::compile_within(item, &path, depth + 1, nodes)
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                if group == "all" {
                    Cond::All(compiled)
                } else {
                    Cond::Any(compiled)
                }
            }
            Condition::Not(inner) => Cond::Not(Box::new(Cond::compile_within(
                inner,
                &format!("{path}.not"),
                depth + 1,
                nodes,
            )?)),
            Condition::Leaf { attr, op, value } => {
                if long(attr) {
                    return Err(too_long(format!("{path}.attr")));
                }
                let test = leaf_test(op, value.as_ref())
                    .map_err(|(field, m)| err(format!("{path}.{field}"), m))?;
                Cond::Leaf(Attr::parse(attr), test)
            }
        })
    }

    /// Does the visitor described by `facts` satisfy this condition?
    pub fn eval(&self, facts: &Facts<'_>) -> bool {
        match self {
            Cond::All(items) => items.iter().all(|c| c.eval(facts)),
            Cond::Any(items) => items.iter().any(|c| c.eval(facts)),
            Cond::Not(inner) => !inner.eval(facts),
            Cond::Leaf(attr, test) => {
                let value = facts.get(attr);
                match (test, value) {
                    (Test::Exists, v) => v.is_some(),
                    (Test::NotExists, v) => v.is_none(),
                    (Test::Ne(_) | Test::NotIn(_), None) => true,
                    (_, None) => false,
                    (Test::Eq(s), Some(v)) => v.equals(s),
                    (Test::Ne(s), Some(v)) => !v.equals(s),
                    (Test::In(list), Some(v)) => list.iter().any(|s| v.equals(s)),
                    (Test::NotIn(list), Some(v)) => !list.iter().any(|s| v.equals(s)),
                    (Test::Num(cmp, bound), Some(v)) => match v.as_number() {
                        Some(n) => match cmp {
                            Cmp::Gt => n > *bound,
                            Cmp::Gte => n >= *bound,
                            Cmp::Lt => n < *bound,
                            Cmp::Lte => n <= *bound,
                        },
                        None => false,
                    },
                    (Test::Prefix(p), Some(AttrValue::Str(s))) => s.starts_with(p.as_str()),
                    (Test::Regex(re), Some(AttrValue::Str(s))) => facts.regex_match(re, s),
                    (Test::Prefix(_) | Test::Regex(_), Some(AttrValue::Num(n))) => match test {
                        Test::Prefix(p) => n.to_string().starts_with(p.as_str()),
                        Test::Regex(re) => re.is_match(&n.to_string()),
                        _ => false,
                    },
                }
            }
        }
    }
}
