//! Worker configuration from `wrangler.toml` vars, parsed once per isolate.
//!
//! Every var has a default so a missing or malformed one never fails a request; secrets
//! (`EDGE_ADMIN_SECRET`, `INGEST_KEY`) are read where they are used and never stored here.

/// Default first-party cookie holding the visitor id.
pub const DEFAULT_COOKIE_NAME: &str = "edgewise_uid";
/// Cookie a site sets to `0` when the visitor declined consent.
pub const CONSENT_COOKIE: &str = "edgewise_consent";
/// Cookie remembering a visitor's variant of each sticky (bandit) test, set with consent only.
pub const ARMS_COOKIE: &str = "edgewise_arms";
/// Cookie (or `X-Edgewise-Persona` header / `persona` parameter) naming the persona.
pub const PERSONA_COOKIE: &str = "edgewise_persona";

/// Parsed vars.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `COOKIE_NAME`.
    pub cookie_name: String,
    /// `COOKIE_DOMAIN`: set to share the id across subdomains; host-only when absent.
    pub cookie_domain: Option<String>,
    /// `COOKIE_MAX_AGE_DAYS` (default 365; browsers cap at 400).
    pub cookie_max_age_s: u64,
    /// `SNAPSHOT_TTL_SECONDS` (default 30): how long an isolate trusts its in-memory snapshot
    /// before asking KV whether a newer one exists.
    pub snapshot_ttl_ms: i64,
    /// `CONTROL_URL`: base URL of the control plane beacons are forwarded to.
    pub control_url: String,
    /// `EVENTS_RETRY_BASE_SECONDS` (default 10): the first retry delay of a failed forward.
    pub retry_base_s: u32,
    /// `EVENTS_RETRY_MAX_SECONDS` (default 300): the longest retry delay.
    pub retry_max_s: u32,
    /// `EDGEWISE_TEST_MODE=1`: honour the `now` and `country` parameters of `/v1/assign`.
    /// Integration tests need a pinned clock and chosen countries; production never sets it.
    pub test_mode: bool,
}

impl Config {
    /// Builds the config from a var lookup (the Worker's `env.var`).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Config {
        let num = |name: &str, default: u64| -> u64 {
            var(name)
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(default)
        };
        let non_empty = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        Config {
            cookie_name: non_empty("COOKIE_NAME")
                .filter(|n| is_cookie_name(n))
                .unwrap_or_else(|| DEFAULT_COOKIE_NAME.to_owned()),
            cookie_domain: non_empty("COOKIE_DOMAIN"),
            cookie_max_age_s: num("COOKIE_MAX_AGE_DAYS", 365).min(400) * 86_400,
            snapshot_ttl_ms: i64::try_from(num("SNAPSHOT_TTL_SECONDS", 30).min(86_400) * 1000)
                .unwrap_or(30_000),
            control_url: non_empty("CONTROL_URL")
                .map(|u| u.trim_end_matches('/').to_owned())
                .unwrap_or_default(),
            retry_base_s: u32::try_from(num("EVENTS_RETRY_BASE_SECONDS", 10).clamp(1, 43_200))
                .unwrap_or(10),
            retry_max_s: u32::try_from(num("EVENTS_RETRY_MAX_SECONDS", 300).clamp(1, 43_200))
                .unwrap_or(300),
            test_mode: var("EDGEWISE_TEST_MODE").is_some_and(|v| v.trim() == "1"),
        }
    }
}

fn is_cookie_name(n: &str) -> bool {
    n.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let c = Config::from_vars(|_| None);
        assert_eq!(c.cookie_name, DEFAULT_COOKIE_NAME);
        assert_eq!(c.snapshot_ttl_ms, 30_000);
        assert!(!c.test_mode);
        let c = Config::from_vars(|k| match k {
            "COOKIE_NAME" => Some("uid".into()),
            "SNAPSHOT_TTL_SECONDS" => Some("5".into()),
            "CONTROL_URL" => Some("http://127.0.0.1:9/".into()),
            "EDGEWISE_TEST_MODE" => Some("1".into()),
            "COOKIE_MAX_AGE_DAYS" => Some("junk".into()),
            _ => None,
        });
        assert_eq!(c.cookie_name, "uid");
        assert_eq!(c.snapshot_ttl_ms, 5_000);
        assert_eq!(c.control_url, "http://127.0.0.1:9");
        assert_eq!(c.cookie_max_age_s, 365 * 86_400);
        assert!(c.test_mode);
    }

    #[test]
    fn bad_cookie_name_falls_back() {
        let c = Config::from_vars(|k| (k == "COOKIE_NAME").then(|| "a b;c".into()));
        assert_eq!(c.cookie_name, DEFAULT_COOKIE_NAME);
    }
}
