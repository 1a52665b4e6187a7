//! The cumulative lift over time as an inline SVG: per variant, its relative lift at each
//! point of the test's history as a line, its interval as a band behind it, and the zero
//! line. Pure: points in, markup out; names are escaped.

use std::fmt::Write;

use super::esc;

/// One variant's lift over time: `(at, lift, interval)` per point, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(i64, f64, Option<[f64; 2]>)>,
}

const W: f64 = 720.0;
const H: f64 = 260.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 40.0;
const COLORS: &[&str] = &[
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b",
];

/// `ms` since the epoch as `YYYY-MM-DD HH:MM` UTC.
pub fn when(ms: i64) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)) else {
        return ms.to_string();
    };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

/// The chart, or a sentence when there is nothing to draw.
pub fn lift_chart(series: &[Series]) -> String {
    let finite = |x: &f64| x.is_finite();
    let ats: Vec<i64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    let ys: Vec<f64> = series
        .iter()
        .flat_map(|s| {
            s.points.iter().flat_map(|(_, l, ci)| {
                std::iter::once(*l).chain(ci.iter().flat_map(|c| c.iter().copied()))
            })
        })
        .filter(finite)
        .collect();
    let (Some(&t0), Some(&t1)) = (ats.iter().min(), ats.iter().max()) else {
        return "<p class=\"muted\">No history to draw yet.</p>".into();
    };
    if ys.is_empty() {
        return "<p class=\"muted\">No lift to draw yet.</p>".into();
    }
    let lo = ys.iter().copied().fold(0.0_f64, f64::min);
    let hi = ys.iter().copied().fold(0.0_f64, f64::max);
    let pad = ((hi - lo) * 0.1).max(0.01);
    let (lo, hi) = (lo - pad, hi + pad);
    let span = (t1 - t0).max(1) as f64;
    let x = |t: i64| LEFT + (t - t0) as f64 / span * (W - LEFT - RIGHT);
    let y = |v: f64| TOP + (hi - v.clamp(lo, hi)) / (hi - lo) * (H - TOP - BOTTOM);
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {H}\" width=\"100%\" \
         role=\"img\" aria-label=\"Cumulative relative lift over time\" class=\"chart\">"
    );
    let _ = write!(
        svg,
        "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{z:.1}\" y2=\"{z:.1}\" stroke=\"#555\" \
         stroke-dasharray=\"4 3\"/>",
        W - RIGHT,
        z = y(0.0)
    );
    for v in [hi, 0.0, lo] {
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\">{:+.1}%</text>",
            LEFT - 6.0,
            y(v) + 4.0,
            v * 100.0
        );
    }
    for (t, anchor) in [(t0, "start"), (t1, "end")] {
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{}\" font-size=\"11\" text-anchor=\"{anchor}\">{} UTC</text>",
            x(t),
            H - BOTTOM + 16.0,
            when(t)
        );
    }
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let band: Vec<(i64, [f64; 2])> = s
            .points
            .iter()
            .filter_map(|(t, _, ci)| ci.filter(|c| c.iter().all(finite)).map(|c| (*t, c)))
            .collect();
        if !band.is_empty() {
            let upper = band
                .iter()
                .map(|(t, c)| format!("{:.1},{:.1}", x(*t), y(c[1])));
            let lower = band
                .iter()
                .rev()
                .map(|(t, c)| format!("{:.1},{:.1}", x(*t), y(c[0])));
            let pts: Vec<String> = upper.chain(lower).collect();
            let _ = write!(
                svg,
                "<polygon points=\"{}\" fill=\"{color}\" fill-opacity=\"0.15\" stroke=\"none\"/>",
                pts.join(" ")
            );
        }
        let line: Vec<String> = s
            .points
            .iter()
            .filter(|p| p.1.is_finite())
            .map(|(t, l, _)| format!("{:.1},{:.1}", x(*t), y(*l)))
            .collect();
        let _ = write!(
            svg,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"/>",
            line.join(" ")
        );
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" font-size=\"12\" fill=\"{color}\">{}</text>",
            LEFT + 8.0 + 140.0 * i as f64,
            H - 8.0,
            esc(&s.name)
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_draws_each_variant_with_its_band_and_escapes_names() {
        let s = Series {
            name: "<b>\"x\"".into(),
            points: vec![
                (0, 0.1, Some([-0.1, 0.3])),
                (3_600_000, 0.05, Some([0.0, 0.1])),
                (7_200_000, f64::NAN, None),
            ],
        };
        let svg = lift_chart(&[s]);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 1);
        assert_eq!(svg.matches("<polygon").count(), 1);
        assert!(svg.contains("&lt;b&gt;&quot;x&quot;"), "{svg}");
        assert!(!svg.contains("<b>"));
        assert!(!svg.contains("NaN"));
        assert!(svg.contains("1970-01-01 00:00 UTC"));
    }

    #[test]
    fn nothing_to_draw_is_said() {
        assert!(lift_chart(&[]).contains("No history"));
        let empty = Series {
            name: "b".into(),
            points: vec![(0, f64::NAN, None)],
        };
        assert!(lift_chart(&[empty]).contains("No lift"));
    }
}
