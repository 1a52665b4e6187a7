//! CSV (RFC 4180): a header row, then one line per row, CRLF line ends; a field holding a
//! comma, a double quote, CR or LF is quoted, its quotes doubled. Numbers are written as the
//! shortest text that reads back as the same double, so a CSV reader gets the JSON's numbers.

use super::{Cell, Row};

/// One field, quoted when it must be.
pub fn field(s: &str) -> String {
    if s.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn line(out: &mut String, fields: &[String]) {
    let quoted: Vec<String> = fields.iter().map(|f| field(f)).collect();
    out.push_str(&quoted.join(","));
    out.push_str("\r\n");
}

fn num<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

pub const HEADER: &[&str] = &[
    "test",
    "segment",
    "metric",
    "kind",
    "role",
    "variant",
    "units",
    "conversions",
    "value",
    "lift",
    "ci_low",
    "ci_high",
    "p_value",
    "chance_to_win",
    "error",
];

/// One test's export: its result rows, then its exposed units per variant × device × persona
/// (segment `device:<class>/persona:<key>`, no metric).
pub fn export(test: &str, rows: &[Row], cells: &[Cell]) -> String {
    let mut out = String::new();
    line(
        &mut out,
        &HEADER.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>(),
    );
    for r in rows {
        line(
            &mut out,
            &[
                test.to_owned(),
                r.segment.clone(),
                r.metric.clone(),
                r.kind.clone(),
                r.role.clone(),
                r.variant.clone(),
                r.units.to_string(),
                num(r.conversions),
                num(r.value),
                num(r.lift),
                num(r.ci_low),
                num(r.ci_high),
                num(r.p_value),
                num(r.chance_to_win),
                r.error.clone().unwrap_or_default(),
            ],
        );
    }
    for c in cells {
        let mut f = vec![String::new(); HEADER.len()];
        f[0] = test.to_owned();
        f[1] = format!("device:{}/persona:{}", c.device, c.persona);
        f[5] = c.variant.clone();
        f[6] = c.units.to_string();
        line(&mut out, &f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_as_rfc_4180_says() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
        assert_eq!(field("cr\r"), "\"cr\r\"");
        assert_eq!(field(""), "");
    }

    #[test]
    fn numbers_read_back_exactly() {
        let x = 0.1 + 0.2;
        assert_eq!(num(Some(x)).parse::<f64>().unwrap(), x);
        assert_eq!(num::<f64>(None), "");
    }

    #[test]
    fn an_export_has_a_header_and_crlf_lines() {
        let cells = [Cell {
            variant: "b,\"x\"".into(),
            device: "mobile".into(),
            persona: "none".into(),
            units: 3,
        }];
        let out = export("t", &[], &cells);
        let lines: Vec<&str> = out.split("\r\n").collect();
        assert_eq!(lines[0], HEADER.join(","));
        assert_eq!(
            lines[1],
            "t,device:mobile/persona:none,,,,\"b,\"\"x\"\"\",3,,,,,,,,"
        );
        assert_eq!(lines[2], "");
    }
}
