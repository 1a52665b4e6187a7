//! The metrics people define, through the whole system: the built worker on workerd and the
//! real control plane (SQLite). This test is the simulator: 600 visitors with known per-unit
//! events ask the edge for their variant (`expose=1`, with a country, a browser's
//! User-Agent and a page URL), and send their clicks, pageviews, orders and visits as beacons
//! through the edge, which forwards them to the control plane. The served results of a ratio
//! (clicks per pageview), a unit-level p50 of order value, revenue capped at its 95th
//! percentile, a conversion within 1 hour of exposure and a day-1 retention, overall and by
//! country and browser, equal an independent computation over the same raw stream.

use std::collections::BTreeMap;
use std::time::Duration;

use edgewise_tests::control::{decision_of, system_with, ControlPlane};
use serde_json::{json, Value};

const TEST: &str = "metrics-system";
const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

const BROWSERS: [(&str, &str); 3] = [
    ("Chrome", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"),
    ("Firefox", "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"),
    ("Safari", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15"),
];
const COUNTRIES: [&str; 4] = ["US", "DE", "FR", "BR"];

fn spec() -> Value {
    json!({
        "key": TEST,
        "variants": [{"key": "control", "weight": 1}, {"key": "b", "weight": 1}],
        "dimensions": ["country", "browser"],
        "metrics": [
            {"key": "buy_1h", "kind": "binomial", "role": "primary", "event": "order",
             "conversion_window_hours": 1},
            {"key": "clicks", "kind": "count", "event": "click"},
            {"key": "views", "kind": "count", "event": "pageview"},
            {"key": "ctr", "kind": "ratio", "numerator": "clicks", "denominator": "views"},
            {"key": "aov_p50", "kind": "quantile", "event": "order", "quantile": {"nu": 0.5}},
            {"key": "revenue", "kind": "value", "event": "order",
             "cap": {"type": "percentile", "value": 0.95}},
            {"key": "d1", "kind": "retention", "event": "visit", "from_day": 1, "to_day": 2},
        ]
    })
}

struct Visitor {
    id: String,
    country: &'static str,
    browser: usize,
    variant: String,
    /// (metric, time after exposure, value)
    events: Vec<(&'static str, i64, f64)>,
}

struct Lcg(u64);
impl Lcg {
    fn unit(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: usize) -> usize {
        (self.unit() * n as f64) as usize
    }
}

fn events_of(rng: &mut Lcg) -> Vec<(&'static str, i64, f64)> {
    let mut e = Vec::new();
    for j in 0..1 + rng.below(5) as i64 {
        e.push(("pageview", j * 60_000 + 1, 0.0));
        if rng.unit() < 0.35 {
            e.push(("click", j * 60_000 + 2, 0.0));
        }
    }
    if rng.unit() < 0.4 {
        for _ in 0..1 + rng.below(2) {
            // Half within the hour, half later.
            let at = if rng.unit() < 0.5 {
                10 * 60_000
            } else {
                5 * HOUR
            };
            e.push((
                "order",
                at,
                (rng.unit() * 4.0).exp().mul_add(10.0, 0.0).round(),
            ));
        }
    }
    if rng.unit() < 0.5 {
        let at = [HOUR, DAY + 2 * HOUR, 2 * DAY + HOUR][rng.below(3)];
        e.push(("visit", at, 0.0));
    }
    e
}

/// A unit's per-metric values: (numerator or value, denominator).
fn values(v: &Visitor) -> BTreeMap<&'static str, (f64, f64)> {
    let count = |m: &str| v.events.iter().filter(|e| e.0 == m).count() as f64;
    let orders: Vec<&(&str, i64, f64)> = v.events.iter().filter(|e| e.0 == "order").collect();
    BTreeMap::from([
        (
            "buy_1h",
            (f64::from(u8::from(orders.iter().any(|e| e.1 < HOUR))), 0.0),
        ),
        ("ctr", (count("click"), count("pageview"))),
        ("revenue", (orders.iter().map(|e| e.2).sum(), 0.0)),
        (
            "d1",
            (
                f64::from(u8::from(
                    v.events
                        .iter()
                        .any(|e| e.0 == "visit" && (DAY..2 * DAY).contains(&e.1)),
                )),
                0.0,
            ),
        ),
    ])
}

fn nearest_rank(values: &[f64], q: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1]
}

fn close(got: &Value, want: f64, tolerance: f64, at: &str) {
    let g = got.as_f64().unwrap_or_else(|| panic!("{at}: {got}"));
    assert!(
        (g - want).abs() <= tolerance * want.abs().max(1.0),
        "{at}: served {g}, expected {want}"
    );
}

/// Checks one segment's served per-variant inputs against the units in it.
fn check_segment(metric: &str, served: &Value, units: &[&Visitor], cap: f64, at: &str) {
    for (i, variant) in ["control", "b"].iter().enumerate() {
        let mine: Vec<&&Visitor> = units.iter().filter(|u| u.variant == *variant).collect();
        let got = &served["variants"][i];
        let at = format!("{at}.{variant}");
        assert_eq!(got["name"], *variant, "{at}");
        if metric == "aov_p50" {
            let totals: Vec<f64> = mine.iter().map(|u| values(u)["revenue"].0).collect();
            assert_eq!(got["n"], totals.len(), "{at}");
            close(&got["quantile_hat"], nearest_rank(&totals, 0.5), 1e-3, &at);
            continue;
        }
        assert_eq!(got["n"], mine.len(), "{at}");
        let vals: Vec<(f64, f64)> = mine
            .iter()
            .map(|u| {
                let (x, y) = values(u)[metric];
                if metric == "revenue" {
                    (x.min(cap), y)
                } else {
                    (x, y)
                }
            })
            .collect();
        let sum = |f: &dyn Fn(&(f64, f64)) -> f64| vals.iter().map(f).sum::<f64>();
        match metric {
            "buy_1h" | "d1" => close(&got["conversions"], sum(&|v| v.0), 0.0, &at),
            "ctr" => {
                close(&got["numerator_sum"], sum(&|v| v.0), 0.0, &at);
                close(&got["denominator_sum"], sum(&|v| v.1), 0.0, &at);
                close(
                    &got["numerator_denominator_sum_product"],
                    sum(&|v| v.0 * v.1),
                    0.0,
                    &at,
                );
            }
            _ => {
                close(&got["sum"], sum(&|v| v.0), 1e-3, &at);
                close(&got["sum_squares"], sum(&|v| v.0 * v.0), 2e-3, &at);
            }
        }
    }
}

#[test]
fn ratio_quantile_capped_windowed_and_retention_metrics_by_country_and_browser() {
    let (control, worker, _) = system_with(&spec());
    // Exposed three days ago, so the retention window (day 1 to 2) has passed.
    let t0 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        - 3 * DAY;
    let mut rng = Lcg(25);
    let mut visitors = Vec::new();
    for i in 0..600 {
        let country = COUNTRIES[rng.below(4)];
        let browser = rng.below(3);
        let id = format!("v{i}");
        let reply = worker
            .get(
                &format!("/v1/assign?unit={id}&expose=1&now={t0}&country={country}&url=%2Fshop"),
                &[("user-agent", BROWSERS[browser].1)],
            )
            .json();
        let d = decision_of(&reply, TEST).unwrap_or_else(|| panic!("{reply}"));
        assert_eq!(d["reason"], "assigned", "{reply}");
        let events = events_of(&mut rng);
        visitors.push(Visitor {
            id,
            country,
            browser,
            variant: d["variant"].as_str().unwrap().to_owned(),
            events,
        });
    }
    // The beacons, through the edge, a visitor's events in one beacon.
    let mut sent = 0;
    for v in &visitors {
        let events: Vec<Value> = v
            .events
            .iter()
            .enumerate()
            .map(|(k, (metric, after, value))| {
                let mut e = json!({"event_id": format!("{}-{k}", v.id), "type": "conversion",
                    "test": TEST, "variant": v.variant, "metric": metric, "ts": t0 + after});
                if *metric == "order" {
                    e["value"] = json!(value);
                }
                e
            })
            .collect();
        sent += events.len();
        let r = worker.post(
            &format!("/v1/events?unit={}", v.id),
            &[
                ("content-type", "text/plain"),
                ("user-agent", BROWSERS[v.browser].1),
            ],
            json!({ "events": events }).to_string().as_bytes(),
        );
        assert_eq!(r.status, 202, "{}", r.body);
    }
    assert!(sent > 2000, "{sent} events");

    // Wait until every exposure and event has been counted.
    let views: f64 = visitors.iter().map(|v| values(v)["ctr"].1).sum();
    let settled = ControlPlane::wait_until(Duration::from_secs(120), || {
        let r = control.api("GET", &format!("/api/v1/tests/{TEST}/results"), None);
        let res = r.json();
        let units: u64 = res["variants"]
            .as_array()
            .map_or(0, |v| v.iter().filter_map(|x| x["units"].as_u64()).sum());
        let ctr = res["metrics"]
            .as_array()
            .and_then(|m| m.iter().find(|m| m["key"] == "ctr"))
            .map_or(0.0, |m| {
                m["overall"]["variants"].as_array().map_or(0.0, |v| {
                    v.iter().filter_map(|x| x["denominator_sum"].as_f64()).sum()
                })
            });
        units == 600 && ctr == views
    });
    assert!(
        settled.is_some(),
        "not all counted:\n{}",
        control.log_text()
    );

    let res = control
        .api("GET", &format!("/api/v1/tests/{TEST}/results"), None)
        .json();
    let pooled: Vec<f64> = visitors.iter().map(|v| values(v)["revenue"].0).collect();
    let cap = nearest_rank(&pooled, 0.95);
    let all: Vec<&Visitor> = visitors.iter().collect();
    for metric in ["buy_1h", "ctr", "aov_p50", "revenue", "d1"] {
        let m = res["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["key"] == metric)
            .unwrap();
        check_segment(metric, &m["overall"], &all, cap, metric);
        assert!(m["overall"]["comparisons"].is_array(), "{metric}: {m}");
        if metric == "aov_p50" {
            continue;
        }
        if metric == "revenue" {
            // Percentile-capped metrics are not broken down by dimension.
            close(&m["cap_value"], cap, 1e-3, "cap_value");
            assert!(m.get("by_dimension").is_none(), "{m}");
            continue;
        }
        for (dim, of) in [
            (
                "country",
                &(|v: &Visitor| v.country.to_owned()) as &dyn Fn(&Visitor) -> String,
            ),
            ("browser", &|v: &Visitor| BROWSERS[v.browser].0.to_owned()),
        ] {
            let segments = m["by_dimension"][dim]
                .as_object()
                .unwrap_or_else(|| panic!("{m}"));
            let mut seen: Vec<String> = visitors.iter().map(of).collect();
            seen.sort();
            seen.dedup();
            assert_eq!(
                segments.keys().cloned().collect::<Vec<_>>(),
                seen,
                "{metric}.{dim}"
            );
            for (value, served) in segments {
                let units: Vec<&Visitor> = visitors.iter().filter(|v| &of(v) == value).collect();
                check_segment(
                    metric,
                    served,
                    &units,
                    cap,
                    &format!("{metric}.{dim}.{value}"),
                );
            }
        }
    }
}
