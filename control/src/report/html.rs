//! The printable report of one test: a self-contained page (inline CSS with print rules, no
//! scripts, no external resources) with the summary, the variants and their content, every
//! metric's per-variant table, the cumulative lift chart, the monitor's decision with its
//! reasons, the SRM, and how the numbers were computed. Pure: data in, HTML out; every piece
//! of text that came from a user or from data is escaped by [`esc`].

use std::fmt::Write;

use serde_json::Value;

use super::chart::{self, Series};
use super::{esc, Row};
use crate::model::TestRecord;
use crate::results::{Analysis, Results, SRM_ALERT_P};

/// What the page shows.
#[derive(Debug)]
pub struct Page<'a> {
    pub test: &'a TestRecord,
    /// When the page was made (Unix ms).
    pub now: i64,
    pub results: &'a Results,
    /// The overall rows of every metric ([`super::rows`]).
    pub rows: &'a [Row],
    /// The metric the chart shows, and its series.
    pub chart_metric: Option<&'a str>,
    pub series: &'a [Series],
    /// The monitor's latest evaluation (`GET /api/v1/tests/{key}/monitor`), if any.
    pub evaluation: Option<&'a Value>,
}

const STYLE: &str = "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;\
color:#111;max-width:60rem;margin:2rem auto;padding:0 1rem}h1{font-size:1.6rem;margin:0}\
h2{font-size:1.15rem;margin:1.8rem 0 .5rem;border-bottom:1px solid #ccc}\
table{border-collapse:collapse;width:100%;margin:.4rem 0}th,td{text-align:left;\
padding:.25rem .5rem;border-bottom:1px solid #e4e4e4;vertical-align:top}\
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}.muted{color:#666}\
.bad{color:#b00020;font-weight:600}.good{color:#0a7a32;font-weight:600}\
pre{white-space:pre-wrap;word-break:break-all;margin:0;font-size:12px}\
.chart{max-width:100%;height:auto}\
@media print{body{margin:0;max-width:none;font-size:11pt}h2{break-after:avoid}\
table,svg,section{break-inside:avoid}a{color:inherit;text-decoration:none}}";

fn pct(x: Option<f64>) -> String {
    x.filter(|v| v.is_finite())
        .map_or("—".into(), |v| format!("{:+.2}%", v * 100.0))
}

fn num(x: Option<f64>, places: usize) -> String {
    x.filter(|v| v.is_finite())
        .map_or("—".into(), |v| format!("{v:.places$}"))
}

fn date(ms: Option<i64>) -> String {
    ms.map_or("—".into(), |t| format!("{} UTC", chart::when(t)))
}

fn th(out: &mut String, heads: &[(&str, bool)]) {
    out.push_str("<tr>");
    for (h, n) in heads {
        let class = if *n { " class=\"n\"" } else { "" };
        let _ = write!(out, "<th{class}>{h}</th>");
    }
    out.push_str("</tr>");
}

pub fn render(p: &Page<'_>) -> String {
    let t = p.test;
    let key = esc(&t.spec.key);
    let mut o = String::new();
    let _ = write!(
        o,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Edgewise report: {key}</title><style>{STYLE}</style></head><body>"
    );
    let _ = write!(o, "<header><h1>{key}</h1>");
    if !t.spec.description.is_empty() {
        let _ = write!(o, "<p>{}</p>", esc(&t.spec.description));
    }
    let _ = write!(
        o,
        "<p class=\"muted\">Report made {}</p></header>",
        date(Some(p.now))
    );
    summary(&mut o, p);
    variants(&mut o, p);
    metrics(&mut o, p);
    o.push_str("<section><h2>Cumulative lift over time</h2>");
    if let Some(m) = p.chart_metric {
        let _ = write!(
            o,
            "<p class=\"muted\">Relative lift of {} against the control, with its \
             fixed-horizon interval, at the end of each closed bucket and now.</p>",
            esc(m)
        );
    }
    o.push_str(&chart::lift_chart(p.series));
    o.push_str("</section>");
    decision(&mut o, p);
    srm(&mut o, p);
    methodology(&mut o, p);
    o.push_str("</body></html>");
    o
}

fn summary(o: &mut String, p: &Page<'_>) {
    let t = p.test;
    let units: u64 = p.results.variants.iter().map(|v| v.units).sum();
    let days = p
        .evaluation
        .and_then(|e| e["days_running"].as_f64())
        .or_else(|| {
            t.started_at
                .map(|s| ((p.now - s) as f64 / 86_400_000.0).max(0.0))
        });
    o.push_str("<section><h2>Summary</h2><table>");
    let mut row = |k: &str, v: String| {
        let _ = write!(o, "<tr><th>{k}</th><td>{v}</td></tr>");
    };
    row("Status", esc(t.status.as_str()));
    if let Some(w) = &t.winner {
        row("Winner", esc(w));
    }
    row("Created", date(Some(t.created_at)));
    row("Started", date(t.started_at));
    row("Last changed", date(Some(t.updated_at)));
    row("Days running", num(days, 1));
    row("Units exposed", units.to_string());
    if !t.spec.tags.is_empty() {
        row("Tags", esc(&t.spec.tags.join(", ")));
    }
    o.push_str("</table></section>");
}

fn variants(o: &mut String, p: &Page<'_>) {
    o.push_str("<section><h2>Variants</h2><table>");
    th(
        o,
        &[
            ("Variant", false),
            ("Weight", true),
            ("Units", true),
            ("Content", false),
        ],
    );
    for (v, u) in p.test.spec.variants.iter().zip(&p.results.variants) {
        let content = serde_json::to_string_pretty(&v.content).unwrap_or_default();
        let _ = write!(
            o,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td><pre>{}</pre></td></tr>",
            esc(&v.key),
            v.weight,
            u.units,
            esc(&content)
        );
    }
    o.push_str("</table></section>");
}

fn metrics(o: &mut String, p: &Page<'_>) {
    o.push_str("<section><h2>Results</h2>");
    if p.rows.is_empty() {
        o.push_str("<p class=\"muted\">The test has no metrics.</p>");
    }
    for m in &p.results.metrics {
        let rows: Vec<&Row> = p.rows.iter().filter(|r| r.metric == m.key).collect();
        let Some(first) = rows.first() else {
            continue;
        };
        let _ = write!(
            o,
            "<h3>{} <span class=\"muted\">({}, {})</span></h3>",
            esc(&m.key),
            esc(&first.kind),
            esc(&first.role)
        );
        if let Some(e) = &first.error {
            let _ = write!(o, "<p class=\"muted\">Not analysed: {}</p>", esc(e));
        }
        o.push_str("<table>");
        th(
            o,
            &[
                ("Variant", false),
                ("Units", true),
                ("Conversions", true),
                ("Rate / mean", true),
                ("Lift", true),
                ("Interval", true),
                ("p-value", true),
                ("Chance to win", true),
            ],
        );
        for r in rows {
            let interval = match (r.ci_low, r.ci_high) {
                (Some(a), Some(b)) => format!("{} to {}", pct(Some(a)), pct(Some(b))),
                _ => "—".into(),
            };
            let class = match (r.ci_low, r.ci_high) {
                (Some(a), _) if a > 0.0 => " class=\"n good\"",
                (_, Some(b)) if b < 0.0 => " class=\"n bad\"",
                _ => " class=\"n\"",
            };
            let _ = write!(
                o,
                "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
                 <td class=\"n\">{}</td><td{class}>{}</td><td class=\"n\">{}</td>\
                 <td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                esc(&r.variant),
                r.units,
                r.conversions.map_or("—".into(), |c| c.to_string()),
                num(r.value, 4),
                pct(r.lift),
                interval,
                num(r.p_value, 4),
                r.chance_to_win
                    .filter(|c| c.is_finite())
                    .map_or("—".into(), |c| format!("{:.1}%", c * 100.0)),
            );
        }
        o.push_str("</table>");
    }
    o.push_str("</section>");
}

fn decision(o: &mut String, p: &Page<'_>) {
    o.push_str("<section><h2>The monitor's decision</h2>");
    let Some(e) = p.evaluation else {
        o.push_str("<p class=\"muted\">The monitor has not evaluated this test (it evaluates running tests).</p></section>");
        return;
    };
    let r = &e["recommendation"];
    let _ = write!(
        o,
        "<p class=\"muted\">As of {}.</p>",
        date(e["at"].as_i64())
    );
    if r.is_object() {
        let verdict = r["recommendation"]
            .as_str()
            .unwrap_or("—")
            .replace('_', " ");
        let _ = write!(o, "<p><strong>{}</strong>", esc(&verdict));
        if let Some(v) = r["variant"].as_str() {
            let _ = write!(o, ": {}", esc(v));
        }
        if let Some(d) = r["days_remaining"].as_f64() {
            let _ = write!(o, " <span class=\"muted\">({d:.1} days remaining)</span>");
        }
        o.push_str("</p><ul>");
        for reason in r["reasons"].as_array().into_iter().flatten() {
            let _ = write!(o, "<li>{}</li>", esc(reason.as_str().unwrap_or_default()));
        }
        o.push_str("</ul>");
    } else if let Some(why) = e["recommendation_error"].as_str() {
        let _ = write!(o, "<p>No recommendation: {}</p>", esc(why));
    }
    let findings: Vec<&Value> = e["findings"].as_array().into_iter().flatten().collect();
    if !findings.is_empty() {
        o.push_str("<h3>Findings</h3><ul>");
        for f in findings {
            let _ = write!(
                o,
                "<li><strong>{}</strong>: {}</li>",
                esc(f["key"].as_str().unwrap_or_default()),
                esc(f["message"].as_str().unwrap_or_default())
            );
        }
        o.push_str("</ul>");
    }
    o.push_str("</section>");
}

fn srm(o: &mut String, p: &Page<'_>) {
    let s = &p.results.srm;
    let verdict = if s.alert {
        "<span class=\"bad\">sample ratio mismatch</span>"
    } else {
        "<span class=\"good\">no mismatch</span>"
    };
    let _ = write!(
        o,
        "<section><h2>Sample ratio</h2><p>Overall: p = {} ({verdict}; alert below {SRM_ALERT_P}).</p>",
        num(Some(s.p_value), 4)
    );
    let segments: Vec<&Value> = p
        .evaluation
        .and_then(|e| e["srm"].as_array())
        .into_iter()
        .flatten()
        .collect();
    if !segments.is_empty() {
        o.push_str("<table>");
        th(
            o,
            &[
                ("Segment", false),
                ("p", true),
                ("Holm-adjusted p", true),
                ("Anomaly", false),
            ],
        );
        for g in segments {
            let _ = write!(
                o,
                "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                esc(g["segment"].as_str().unwrap_or_default()),
                num(g["p_value"].as_f64(), 4),
                num(g["p_adjusted"].as_f64(), 4),
                if g["anomaly"] == true { "yes" } else { "no" }
            );
        }
        o.push_str("</table>");
    }
    o.push_str("</section>");
}

fn methodology(o: &mut String, p: &Page<'_>) {
    let r = p.results;
    let _ = write!(
        o,
        "<section><h2>Methodology</h2><ul>\
         <li>Statistics: Edgewise's engine (reproducing GrowthBook's gbstats), from the \
         incremental aggregates; α = {}, two-sided.</li>\
         <li>Lift and interval: frequentist Welch t-test on the relative lift (delta method \
         for ratios); the monitor decides on the sequential interval (tuning 5,000).</li>\
         <li>Chance to win: Bayesian posterior of the relative lift.</li>\
         <li>Multiple comparisons: {}.</li>\
         <li>SRM: χ² test of the exposed units against the configured weights.</li>",
        r.alpha,
        r.correction
            .and_then(|c| serde_json::to_value(c).ok())
            .and_then(|v| v.as_str().map(esc))
            .unwrap_or_else(|| "none".into())
    );
    for m in &r.metrics {
        let prior = m.prior.as_ref().map_or("flat".to_owned(), |pr| {
            format!(
                "learned from {} past tests ({})",
                pr.n_tests,
                esc(&pr.source)
            )
        });
        let cuped = matches!(&m.overall.analysis, Analysis::Done(out) if out.cuped);
        let _ = write!(
            o,
            "<li>{}: Bayesian prior {prior}{}{}</li>",
            esc(&m.key),
            if cuped { "; CUPED-adjusted" } else { "" },
            m.cap_value
                .map_or(String::new(), |c| format!("; values capped at {c}"))
        );
    }
    o.push_str("</ul>");
    if let Some(settings) = p.evaluation.and_then(|e| e["settings"].as_object()) {
        o.push_str("<h3>Decision settings</h3><table>");
        for (k, v) in settings {
            let _ = write!(
                o,
                "<tr><th>{}</th><td>{}</td></tr>",
                esc(k),
                esc(&v.to_string())
            );
        }
        o.push_str("</table>");
    }
    o.push_str("</section>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::aggregates::Aggregates;
    use crate::model::Status;

    const EVIL: &str = "<script>alert(1)</script> \"><img onerror=alert(1)>";

    fn record() -> TestRecord {
        let spec = serde_json::json!({
            "key": "<b>",
            "description": EVIL,
            "tags": [EVIL],
            "variants": [
                {"key": "control", "weight": 1, "content": {"text": EVIL}},
                {"key": "<i>", "weight": 1, "content": {}}
            ],
            "metrics": [{"key": "buy'", "kind": "binomial", "role": "primary"}]
        });
        TestRecord {
            spec: serde_json::from_value(spec).unwrap(),
            status: Status::Running,
            winner: Some(EVIL.into()),
            started_at: Some(0),
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn esc_covers_the_five() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn every_user_text_is_escaped_and_the_page_is_whole() {
        let t = record();
        let results = crate::results::compute(
            &t.spec,
            &[1.0, 1.0],
            &Aggregates::default(),
            &crate::results::ResultsQuery {
                alpha: 0.05,
                correction: None,
            },
            &Default::default(),
        );
        let rows = crate::report::rows(&results, &[], crate::report::Breakdowns::default());
        let evaluation = serde_json::json!({
            "at": 0, "days_running": 2.5,
            "recommendation": {"recommendation": "keep_running", "variant": EVIL,
                               "reasons": [EVIL]},
            "findings": [{"key": EVIL, "message": EVIL}],
            "srm": [{"segment": EVIL, "p_value": 0.5, "p_adjusted": 0.9, "anomaly": false}],
            "settings": {EVIL: EVIL}
        });
        let series = [Series {
            name: EVIL.into(),
            points: vec![(0, 0.1, Some([0.0, 0.2])), (1000, 0.2, None)],
        }];
        let html = render(&Page {
            test: &t,
            now: 86_400_000,
            results: &results,
            rows: &rows,
            chart_metric: Some(EVIL),
            series: &series,
            evaluation: Some(&evaluation),
        });
        assert!(html.starts_with("<!doctype html>") && html.ends_with("</body></html>"));
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<b>") && !html.contains("<i>"));
        assert!(html.contains(
            "&lt;script&gt;alert(1)&lt;/script&gt; &quot;&gt;&lt;img onerror=alert(1)&gt;"
        ));
        assert!(html.contains("@media print"));
        assert!(html.contains("<svg"));
        for needle in [
            "Summary",
            "Variants",
            "Results",
            "The monitor",
            "Sample ratio",
            "Methodology",
        ] {
            assert!(html.contains(needle), "{needle}");
        }
    }
}
