//! `GET /api/v1/tests/{key}/export`: the results' own numbers, per segment, metric and
//! variant, as JSON and as RFC 4180 CSV; a format it does not know is 400 naming `format`.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::TestApp;

/// A CSV body's records (RFC 4180: quoted fields, doubled quotes, CRLF line ends).
pub fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let (mut record, mut field) = (Vec::new(), String::new());
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') => {
                assert_eq!(chars.next(), Some('\n'), "CR without LF");
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(field.is_empty() && record.is_empty(), "no CRLF at the end");
    records
}

/// The results' numbers for one segment, metric and variant: units, conversions, the
/// fixed-horizon relative lift, its interval and p-value, the chance to win.
fn expected(results: &Value, segment: &str, metric: &str, variant: &str) -> [Value; 7] {
    let m = results["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["key"] == metric)
        .unwrap();
    let s = match segment.split_once(':') {
        None => &m["overall"],
        Some(("device", d)) => &m["by_device"][d],
        Some(("persona", p)) => &m["by_persona"][p],
        _ => panic!("segment {segment}"),
    };
    let v = s["variants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == variant)
        .unwrap();
    let c = s["comparisons"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["variant"] == variant));
    let f = c.map(|c| &c["frequentist"]["relative"]);
    let pick = |path: &[&str]| -> Value {
        let mut x = match f {
            Some(x) => x,
            None => return Value::Null,
        };
        for p in path {
            x = &x[*p];
        }
        x.clone()
    };
    [
        v["n"].clone(),
        v.get("conversions").cloned().unwrap_or(Value::Null),
        pick(&["estimate"]),
        pick(&["ci"]).get(0).cloned().unwrap_or(Value::Null),
        pick(&["ci"]).get(1).cloned().unwrap_or(Value::Null),
        pick(&["p_value"]),
        c.map_or(Value::Null, |c| {
            c["bayesian"]["relative"]["chance_to_win"].clone()
        }),
    ]
}

fn close(got: &Value, want: &Value, at: &str) {
    crate::results::assert_close(got, want, at);
}

crate::both!(exports_carry_the_results_numbers, exports);
async fn exports(app: TestApp) {
    crate::results::running_with_traffic(&app).await;
    let (_, results) = app.get("/api/v1/tests/t/results").await;

    // JSON.
    let (s, ex) = app.get("/api/v1/tests/t/export?format=json").await;
    assert_eq!(s, StatusCode::OK, "{ex}");
    let rows = ex["rows"].as_array().unwrap();
    // 2 metrics × (overall, 2 devices, 2 personas) × 2 variants.
    assert_eq!(rows.len(), 2 * 5 * 2, "{ex}");
    for r in rows {
        let at = format!("{} {} {}", r["segment"], r["metric"], r["variant"]);
        let want = expected(
            &results,
            r["segment"].as_str().unwrap(),
            r["metric"].as_str().unwrap(),
            r["variant"].as_str().unwrap(),
        );
        let got = [
            &r["units"],
            &r["conversions"],
            &r["lift"],
            &r["ci_low"],
            &r["ci_high"],
            &r["p_value"],
            &r["chance_to_win"],
        ];
        for (g, w) in got.iter().zip(&want) {
            close(g, w, &at);
        }
    }
    let b_buy = rows
        .iter()
        .find(|r| r["segment"] == "overall" && r["metric"] == "buy" && r["variant"] == "b")
        .unwrap();
    assert_eq!(b_buy["value"], json!(15.0 / 50.0));
    assert!(b_buy["lift"].is_f64() && b_buy["chance_to_win"].is_f64());
    // The device × persona units add up to each variant's.
    let cells = ex["cells"].as_array().unwrap();
    let units = |v: &str| -> i64 {
        cells
            .iter()
            .filter(|c| c["variant"] == v)
            .map(|c| c["units"].as_i64().unwrap())
            .sum()
    };
    assert_eq!((units("control"), units("b")), (60, 50));
    assert!(cells
        .iter()
        .any(|c| c["device"] == "desktop" && c["persona"] == "P"));

    // CSV: the same numbers.
    let resp = app
        .client
        .get(format!("{}/api/v1/tests/t/export?format=csv", app.base))
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "text/csv; charset=utf-8");
    assert_eq!(
        resp.headers()["content-disposition"],
        "attachment; filename=\"t-results.csv\""
    );
    let records = parse_csv(&resp.text().await.unwrap());
    let header = &records[0];
    assert_eq!(header[..3], ["test", "segment", "metric"]);
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let metric_rows: Vec<&Vec<String>> = records[1..].iter().filter(|r| !r[2].is_empty()).collect();
    assert_eq!(metric_rows.len(), rows.len());
    for r in metric_rows {
        let want = expected(
            &results,
            &r[col("segment")],
            &r[col("metric")],
            &r[col("variant")],
        );
        let names = [
            "units",
            "conversions",
            "lift",
            "ci_low",
            "ci_high",
            "p_value",
            "chance_to_win",
        ];
        for (name, w) in names.iter().zip(&want) {
            let text = &r[col(name)];
            let got = if text.is_empty() {
                Value::Null
            } else {
                json!(text.parse::<f64>().unwrap())
            };
            close(&got, w, &format!("csv {name} {r:?}"));
        }
    }
    let cell_rows = records[1..].iter().filter(|r| r[2].is_empty()).count();
    assert_eq!(cell_rows, cells.len());

    // Formats it does not know, and tests that do not exist.
    for bad in ["xml", "CSV", ""] {
        let (s, e) = app
            .get(&format!("/api/v1/tests/t/export?format={bad}"))
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {e}");
        assert_eq!(e["errors"][0]["field"], "format");
    }
    let (s, _) = app.get("/api/v1/tests/nope/export?format=csv").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    app.shutdown().await;
}

crate::both!(csv_fields_are_quoted, csv_quoting);
async fn csv_quoting(app: TestApp) {
    // A variant key with a comma and quotes (keys are any printable ASCII).
    let mut spec = crate::common::test_spec("q");
    spec["variants"][1]["key"] = json!("b,\"x\"");
    let (s, b) = app.post("/api/v1/tests", spec).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = app.post("/api/v1/tests/q/start", json!(null)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let key = app.ingest_key().await;
    let events: Vec<Value> = (0..4)
        .map(|i| {
            let v = if i % 2 == 0 { "control" } else { "b,\"x\"" };
            crate::common::exposure(&format!("e{i}"), &format!("u{i}"), "q", v)
        })
        .collect();
    assert_eq!(app.ingest(&key, json!(events)).await.0, StatusCode::OK);
    let resp = app
        .client
        .get(format!("{}/api/v1/tests/q/export?format=csv", app.base))
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap();
    let text = resp.text().await.unwrap();
    assert!(text.contains(",\"b,\"\"x\"\"\","), "{text}");
    let records = parse_csv(&text);
    assert!(records.iter().all(|r| r.len() == records[0].len()));
    assert!(records.iter().any(|r| r[5] == "b,\"x\""));
    app.shutdown().await;
}

const EVIL: &str = "<script>alert(1)</script> \"><img onerror=alert(1)>";

crate::both_with!(
    the_printable_report_escapes_user_text,
    printable_report,
    manual_monitor
);
fn manual_monitor(c: &mut edgewise_control::config::ServeArgs) {
    crate::monitor::manual(c);
}
async fn printable_report(app: TestApp) {
    let mut spec = crate::common::test_spec("t");
    spec["description"] = json!(EVIL);
    spec["variants"][1]["content"] = json!({"headline": EVIL});
    spec["variants"][1]["key"] = json!("<b>");
    let (s, b) = app.post("/api/v1/tests", spec).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = app.post("/api/v1/tests/t/start", json!(null)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let traffic: Vec<Value> = crate::results::traffic()
        .into_iter()
        .map(|mut e| {
            if e["variant"] == "b" {
                e["variant"] = json!("<b>");
            }
            e
        })
        .collect();
    let key = app.ingest_key().await;
    assert_eq!(app.ingest(&key, json!(traffic)).await.0, StatusCode::OK);
    // A closed bucket for the chart, and the monitor's evaluation.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (s, r) = app.post("/api/v1/monitor/run", json!(null)).await;
    assert_eq!(s, StatusCode::OK, "{r}");

    let resp = app
        .client
        .get(format!("{}/api/v1/tests/t/report", app.base))
        .bearer_auth(app.token(edgewise_control::db::tokens::Role::Viewer).await)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "text/html; charset=utf-8");
    assert!(resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'none'"));
    let html = resp.text().await.unwrap();
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("<img"), "{html}");
    assert!(!html.contains("<b>"), "{html}");
    let escaped = "&lt;script&gt;alert(1)&lt;/script&gt; &quot;&gt;&lt;img onerror=alert(1)&gt;";
    // The description, and the variant's content (inside its JSON, quotes escaped too).
    assert!(html.contains(escaped), "{html}");
    assert!(html.contains("&lt;b&gt;"), "{html}");
    assert!(
        html.contains("@media print") && html.contains("<svg"),
        "{html}"
    );
    assert_eq!(
        html.matches("<polyline").count(),
        1,
        "one variant against the control"
    );
    for part in [
        "Summary",
        "running",
        "Units exposed",
        "110",
        "Cumulative lift",
        "The monitor",
        "keep running",
        "Sample ratio",
        "Methodology",
        "α = 0.05",
    ] {
        assert!(html.contains(part), "{part} missing: {html}");
    }
    let (s, _) = app.get("/api/v1/tests/nope/report").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    app.shutdown().await;
}
