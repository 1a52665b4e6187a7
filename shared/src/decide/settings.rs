//! How the monitor judges a test: org-wide [`DecisionSettings`], each field overridable per test
//! ([`DecisionOverrides`]), checked once at the boundary ([`DecisionSettings::check`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What an anomaly of a kind makes the monitor do (with `auto_pause` on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    /// Raise an alert only.
    Alert,
    /// Raise an alert and pause the test.
    Pause,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionSettings {
    /// No `ship` or `stop_no_winner` before the test has run this long.
    #[serde(default = "defaults::min_runtime_days")]
    pub min_runtime_days: f64,
    /// Nor before every arm has this many units.
    #[serde(
        default = "defaults::min_units_per_arm",
        deserialize_with = "whole::number"
    )]
    pub min_units_per_arm: u64,
    /// The relative minimum detectable effect the test is sized for (0.05 = 5%).
    #[serde(default = "defaults::mde")]
    pub mde: f64,
    #[serde(default = "defaults::alpha")]
    pub alpha: f64,
    #[serde(default = "defaults::power")]
    pub power: f64,
    /// The relative drop a guardrail metric may show before it counts as a regression, unless
    /// [`DecisionSettings::guardrails`] names its own.
    #[serde(default = "defaults::max_regression")]
    pub max_regression: f64,
    /// Per guardrail metric: its own `max_regression`.
    #[serde(default)]
    pub guardrails: BTreeMap<String, f64>,
    /// Stop a test recommended `ship`, serving the winner to everyone.
    #[serde(default)]
    pub auto_stop: bool,
    /// Pause a test on the anomalies whose response is [`Response::Pause`].
    #[serde(default = "defaults::yes")]
    pub auto_pause: bool,
    /// SRM p-values (Holm-adjusted across segments) below this are an anomaly.
    #[serde(default = "defaults::srm_p")]
    pub srm_p: f64,
    #[serde(default = "defaults::pause")]
    pub on_srm: Response,
    #[serde(default = "defaults::pause")]
    pub on_guardrail: Response,
    #[serde(default = "defaults::alert")]
    pub on_traffic_drop: Response,
    #[serde(default = "defaults::alert")]
    pub on_broken_tracking: Response,
    /// Bayesian results use the prior learned from past tests (docs/learning.md) instead of
    /// the flat one, where enough past tests make one.
    #[serde(default)]
    pub learned_prior: bool,
}

/// Counts written `100` or `100.0` (JSON does not tell them apart, nor does JSON Schema's
/// `integer`), from 0 to [`MAX_COUNT`].
mod whole {
    use serde::{Deserialize, Deserializer};

    /// The largest count a setting takes: exact as a float, and past any real test.
    pub const MAX_COUNT: f64 = 1e12;

    fn count<E: serde::de::Error>(x: f64) -> Result<u64, E> {
        if x.fract() == 0.0 && (0.0..=MAX_COUNT).contains(&x) {
            Ok(x as u64)
        } else {
            Err(E::custom(format!(
                "expected a whole number from 0 to 1e12, got {x}"
            )))
        }
    }

    pub fn number<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        count(f64::deserialize(d)?)
    }

    pub fn optional<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        Option::<f64>::deserialize(d)?.map(count).transpose()
    }
}

mod defaults {
    use super::Response;
    pub fn min_runtime_days() -> f64 {
        7.0
    }
    pub fn min_units_per_arm() -> u64 {
        100
    }
    pub fn mde() -> f64 {
        0.05
    }
    pub fn alpha() -> f64 {
        0.05
    }
    pub fn power() -> f64 {
        0.8
    }
    pub fn max_regression() -> f64 {
        0.01
    }
    pub fn yes() -> bool {
        true
    }
    pub fn srm_p() -> f64 {
        0.001
    }
    pub fn pause() -> Response {
        Response::Pause
    }
    pub fn alert() -> Response {
        Response::Alert
    }
}

impl Default for DecisionSettings {
    fn default() -> Self {
        DecisionSettings {
            min_runtime_days: defaults::min_runtime_days(),
            min_units_per_arm: defaults::min_units_per_arm(),
            mde: defaults::mde(),
            alpha: defaults::alpha(),
            power: defaults::power(),
            max_regression: defaults::max_regression(),
            guardrails: BTreeMap::new(),
            auto_stop: false,
            auto_pause: true,
            srm_p: defaults::srm_p(),
            on_srm: Response::Pause,
            on_guardrail: Response::Pause,
            on_traffic_drop: Response::Alert,
            on_broken_tracking: Response::Alert,
            learned_prior: false,
        }
    }
}

/// A field of the settings that is out of range, named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SettingsError {
    pub field: String,
    pub message: &'static str,
}

impl DecisionSettings {
    /// Every field in range, or the first that is not.
    pub fn check(&self) -> Result<(), SettingsError> {
        let bad = |field: &str, message| {
            Err(SettingsError {
                field: field.to_owned(),
                message,
            })
        };
        if !(self.min_runtime_days >= 0.0 && self.min_runtime_days <= 3650.0) {
            return bad("min_runtime_days", "must be between 0 and 3650");
        }
        if !(self.mde > 0.0 && self.mde <= 10.0) {
            return bad("mde", "must be a relative effect in (0, 10]");
        }
        if !(self.alpha > 0.0 && self.alpha < 0.5) {
            return bad("alpha", "must be in (0, 0.5)");
        }
        if !(self.power > 0.0 && self.power < 1.0) {
            return bad("power", "must be in (0, 1)");
        }
        if !(self.srm_p > 0.0 && self.srm_p < 0.5) {
            return bad("srm_p", "must be in (0, 0.5)");
        }
        let regression = |r: f64| (0.0..=10.0).contains(&r);
        if !regression(self.max_regression) {
            return bad("max_regression", "must be a relative drop in [0, 10]");
        }
        if let Some((k, _)) = self.guardrails.iter().find(|(_, r)| !regression(**r)) {
            return bad(
                &format!("guardrails.{k}"),
                "must be a relative drop in [0, 10]",
            );
        }
        Ok(())
    }

    /// The regression a guardrail metric may show.
    pub fn max_regression_of(&self, metric: &str) -> f64 {
        self.guardrails
            .get(metric)
            .copied()
            .unwrap_or(self.max_regression)
    }

    /// These settings with a test's overrides on top.
    pub fn with(&self, o: &DecisionOverrides) -> DecisionSettings {
        let mut s = self.clone();
        macro_rules! take {
            ($($f:ident),*) => { $( if let Some(v) = &o.$f { s.$f = v.clone(); } )* };
        }
        take!(
            min_runtime_days,
            min_units_per_arm,
            mde,
            alpha,
            power,
            max_regression,
            auto_stop,
            auto_pause,
            srm_p,
            on_srm,
            on_guardrail,
            on_traffic_drop,
            on_broken_tracking,
            learned_prior
        );
        s.guardrails.extend(o.guardrails.clone());
        s
    }
}

/// A test's own decision settings: each field given replaces the org's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionOverrides {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_runtime_days: Option<f64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "whole::optional"
    )]
    pub min_units_per_arm: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mde: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpha: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_regression: Option<f64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub guardrails: BTreeMap<String, f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_stop: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_pause: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub srm_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_srm: Option<Response>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_guardrail: Option<Response>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_traffic_drop: Option<Response>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_broken_tracking: Option<Response>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learned_prior: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_replace_only_what_they_name() {
        let org = DecisionSettings {
            mde: 0.1,
            ..DecisionSettings::default()
        };
        let o: DecisionOverrides =
            serde_json::from_str(r#"{"min_runtime_days": 3, "guardrails": {"errors": 0.0}}"#)
                .unwrap();
        let s = org.with(&o);
        assert_eq!(s.min_runtime_days, 3.0);
        assert_eq!(s.mde, 0.1);
        assert_eq!(s.max_regression_of("errors"), 0.0);
        assert_eq!(s.max_regression_of("revenue"), 0.01);
        assert!(s.check().is_ok());
        let bad = DecisionSettings { alpha: 0.7, ..s };
        assert_eq!(bad.check().unwrap_err().field, "alpha");
    }
}

/// Deserializes an optional struct that must be written as a JSON object (or `null`): serde's
/// derived structs also take an array of their fields in order, which a request must not.
pub fn object_or_null<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    use serde::de::{value::MapAccessDeserializer, MapAccess, Visitor};
    struct V<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
        type Value = Option<T>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object or null")
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D2: serde::Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_map(self)
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            T::deserialize(MapAccessDeserializer::new(map)).map(Some)
        }
    }
    d.deserialize_option(V(std::marker::PhantomData))
}

#[cfg(test)]
mod object_tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Holder {
        #[serde(default, deserialize_with = "object_or_null")]
        decision: Option<DecisionOverrides>,
    }

    #[test]
    fn overrides_are_an_object_or_null_never_an_array() {
        let parse = |s: &str| serde_json::from_str::<Holder>(s).map(|h| h.decision);
        assert_eq!(parse(r#"{"decision": null}"#).unwrap(), None);
        assert_eq!(parse("{}").unwrap(), None);
        assert_eq!(
            parse(r#"{"decision": {"alpha": 0.1}}"#)
                .unwrap()
                .unwrap()
                .alpha,
            Some(0.1)
        );
        assert!(parse(r#"{"decision": [null, null]}"#).is_err());
        assert!(parse(r#"{"decision": {"colour": 1}}"#).is_err());
    }
}
