//! The keys of the aggregate rows and what a unit's first exposure stores beside its cell,
//! shared by ingestion (PostgreSQL's in [`super::events`], SQLite's in `crate::writer`), reads
//! ([`super::aggregates`], [`super::sketches`]) and erasure, below all of them.

use std::collections::{BTreeMap, HashMap};

use edgewise_shared::beacon::LoggedBy;

/// An aggregate cell's key: test, variant, device, persona.
pub(crate) type Cell = (String, String, String, String);

/// A change to a cell's `agg_exposures` row: exposed units, and of them those whose counted
/// exposure the edge logged (`edge_units`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Units {
    pub all: i64,
    pub edge: i64,
}

impl Units {
    /// One unit more (`sign` 1) or less (-1), its counted exposure logged by `logged_by`.
    pub(crate) fn one(sign: i64, logged_by: LoggedBy) -> Units {
        Units {
            all: sign,
            edge: if logged_by == LoggedBy::Edge { sign } else { 0 },
        }
    }

    pub(crate) fn add(&mut self, u: Units) {
        self.all += u.all;
        self.edge += u.edge;
    }
}

/// Reads `events.logged_by` and `exposures.logged_by` back, which store
/// [`LoggedBy::as_str`] (anything but `edge` is the browser).
pub(crate) fn logged_by_of(stored: &str) -> LoggedBy {
    if stored == LoggedBy::Edge.as_str() {
        LoggedBy::Edge
    } else {
        LoggedBy::Browser
    }
}

/// A bandit's per-stratum cell: test, stratum (the snapshot version that assigned the unit),
/// variant, metric (`""` counts exposed units).
pub(crate) type StratumCell = (String, i64, String, String);

/// The stratum stored for a unit outside any bandit.
pub(crate) const NO_STRATUM: i64 = -1;

/// The stored text of a unit's CUPED covariates (`exposures.covs`): a JSON object, metric key
/// to covariate; `""` without any.
pub(crate) fn covs_text(covs: &[(String, f64)]) -> String {
    if covs.is_empty() {
        return String::new();
    }
    let m: BTreeMap<&str, f64> = covs.iter().map(|(k, x)| (k.as_str(), *x)).collect();
    serde_json::to_string(&m).unwrap_or_default()
}

/// A unit's stored CUPED covariates, metric key to covariate.
pub(crate) fn parse_covs(text: &str) -> HashMap<String, f64> {
    if text.is_empty() {
        return HashMap::new();
    }
    serde_json::from_str(text).unwrap_or_default()
}
