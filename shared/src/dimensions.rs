//! Exposure dimensions: what else than device and persona a test's results are broken down
//! by. A test names up to [`MAX_DIMENSIONS`] of them; the edge stamps each exposure with the
//! visitor's value of each ([`value_of`]), and a site's own exposure beacons may carry them
//! too. The control plane fixes a unit's values at its first exposure and keeps marginal
//! aggregates per dimension and value (docs/control.md, "Results by dimension").
//!
//! Names: `country` (ISO 3166-1 alpha-2 from the edge's geolocation), `browser` (the
//! User-Agent's browser family, [`browser_family`]), `source` (the page URL's `utm_source`,
//! else the referrer's host, else `(direct)`), and `attr.NAME` (a visitor attribute the page
//! passes for targeting). A visitor without a value gets [`NONE`].

use crate::limits::is_key;
use crate::visitor::Visitor;

/// Dimensions per test.
pub const MAX_DIMENSIONS: usize = 5;
/// A dimension value, in characters; longer values are cut.
pub const MAX_VALUE_CHARS: usize = 64;
/// The value of a visitor who has none.
pub const NONE: &str = "(none)";
/// Values past the kept ones, merged.
pub const OTHER: &str = "(other)";

/// Why a dimension name is not one.
pub const NAME_RULE: &str =
    "must be `country`, `browser`, `source` or `attr.NAME` (NAME a key: 1–100 printable ASCII)";

/// Whether `name` names a dimension.
pub fn is_name(name: &str) -> bool {
    matches!(name, "country" | "browser" | "source")
        || name.strip_prefix("attr.").is_some_and(is_key)
}

/// A value as stored: trimmed, at most [`MAX_VALUE_CHARS`] characters, [`NONE`] when empty.
pub fn normalise(value: &str) -> String {
    let v = value.trim();
    if v.is_empty() {
        return NONE.to_owned();
    }
    v.chars().take(MAX_VALUE_CHARS).collect()
}

/// The visitor's value of dimension `name` (a name [`is_name`] accepted), normalised.
pub fn value_of(name: &str, v: &Visitor<'_>) -> String {
    let raw: Option<String> = match name {
        "country" => v.country.map(str::to_ascii_uppercase),
        "browser" => Some(browser_family(v.user_agent.unwrap_or("")).to_owned()),
        "source" => Some(source(v.url, v.referrer)),
        _ => name.strip_prefix("attr.").and_then(|key| {
            v.attributes
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, x)| x.clone())
        }),
    };
    normalise(raw.as_deref().unwrap_or(""))
}

/// The browser family of a User-Agent: `Edge`, `Opera`, `Samsung Internet`, `Firefox`,
/// `Chrome`, `Safari` or `Other` (bots, tools, unknown engines). Order matters: Edge, Opera
/// and Samsung Internet also say Chrome and Safari.
pub fn browser_family(user_agent: &str) -> &'static str {
    let ua = user_agent.to_ascii_lowercase();
    let has = |m: &str| ua.contains(m);
    if !ua.starts_with("mozilla/") || has("bot") || has("spider") || has("crawl") {
        "Other"
    } else if has("edg/") || has("edga/") || has("edgios/") {
        "Edge"
    } else if has("opr/") || has("opera") {
        "Opera"
    } else if has("samsungbrowser/") {
        "Samsung Internet"
    } else if has("firefox/") || has("fxios/") {
        "Firefox"
    } else if has("chrome/") || has("crios/") {
        "Chrome"
    } else if has("safari/") && has("version/") {
        "Safari"
    } else {
        "Other"
    }
}

/// The traffic source: the URL's `utm_source` (lower case), else the referrer's host, else
/// `(direct)`.
fn source(url: Option<&str>, referrer: Option<&str>) -> String {
    let utm = url
        .and_then(|u| u.split_once('?'))
        .and_then(|(_, q)| {
            q.split('#')
                .next()
                .unwrap_or("")
                .split('&')
                .find_map(|kv| kv.strip_prefix("utm_source="))
        })
        .filter(|s| !s.is_empty());
    if let Some(s) = utm {
        return percent_decoded(s).to_lowercase();
    }
    let host = referrer
        .and_then(|r| r.split_once("://"))
        .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or(""))
        .filter(|h| !h.is_empty());
    host.map_or_else(|| "(direct)".to_owned(), str::to_ascii_lowercase)
}

/// `%XX` and `+` decoded; anything malformed kept as it is.
fn percent_decoded(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Checks a test's dimension names: at most [`MAX_DIMENSIONS`], each a name, no repeats.
/// `Err((index, message))`; index `None` for the list as a whole.
pub fn check(names: &[String]) -> Result<(), (Option<usize>, String)> {
    if names.len() > MAX_DIMENSIONS {
        return Err((None, format!("at most {MAX_DIMENSIONS} dimensions")));
    }
    for (i, n) in names.iter().enumerate() {
        if !is_name(n) {
            return Err((Some(i), NAME_RULE.to_owned()));
        }
        if names[..i].contains(n) {
            return Err((Some(i), format!("`{n}` is named twice")));
        }
    }
    Ok(())
}

/// The values results show for one dimension, given each value's exposed units: the `keep`
/// largest (ties by value), and whether any are left over for [`OTHER`].
pub fn top_values<'a>(units: &[(&'a str, u64)], keep: usize) -> (Vec<&'a str>, Vec<&'a str>) {
    let mut v: Vec<(&str, u64)> = units.to_vec();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let rest = v.split_off(keep.min(v.len()));
    (
        v.into_iter().map(|(k, _)| k).collect(),
        rest.into_iter().map(|(k, _)| k).collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visitor<'a>(attrs: &'a [(String, String)]) -> Visitor<'a> {
        Visitor {
            unit_id: "u",
            user_agent: Some(
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
                 Chrome/120.0 Safari/537.36 Edg/120.0",
            ),
            device: None,
            persona: None,
            country: Some("de"),
            url: Some("https://shop.example/p?x=1&utm_source=News%20Letter#top"),
            referrer: Some("https://www.google.com/search?q=x"),
            local_hour: None,
            attributes: attrs,
            forced: &[],
        }
    }

    #[test]
    fn values_come_from_the_visitor() {
        let attrs = vec![("plan".to_owned(), " gold ".to_owned())];
        let v = visitor(&attrs);
        assert_eq!(value_of("country", &v), "DE");
        assert_eq!(value_of("browser", &v), "Edge");
        assert_eq!(value_of("source", &v), "news letter");
        assert_eq!(value_of("attr.plan", &v), "gold");
        assert_eq!(value_of("attr.tier", &v), NONE);
        let bare = Visitor {
            url: Some("/p"),
            country: None,
            ..v
        };
        assert_eq!(value_of("source", &bare), "www.google.com");
        assert_eq!(value_of("country", &bare), NONE);
        let direct = Visitor {
            url: None,
            referrer: None,
            ..bare
        };
        assert_eq!(value_of("source", &direct), "(direct)");
        assert_eq!(normalise(&"é".repeat(100)).chars().count(), MAX_VALUE_CHARS);
        assert_eq!(percent_decoded("a%2"), "a%2");
        assert_eq!(percent_decoded("%zz+%41"), "%zz A");
    }

    #[test]
    fn browser_families() {
        for (ua, family) in [
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1", "Safari"),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0 Mobile/15E148 Safari/604.1", "Chrome"),
            ("Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0", "Firefox"),
            ("Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0 Mobile Safari/537.36", "Samsung Internet"),
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36 OPR/105.0", "Opera"),
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36", "Chrome"),
            ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "Other"),
            ("curl/8.0", "Other"),
        ] {
            assert_eq!(browser_family(ua), family, "{ua}");
        }
    }

    #[test]
    fn names_are_checked() {
        let names = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(check(&names(&["country", "browser", "source", "attr.plan"])).is_ok());
        assert_eq!(check(&names(&["country", "city"])).unwrap_err().0, Some(1));
        assert_eq!(check(&names(&["attr."])).unwrap_err().0, Some(0));
        assert_eq!(
            check(&names(&["country", "country"])).unwrap_err().0,
            Some(1)
        );
        let six = names(&["country", "browser", "source", "attr.a", "attr.b", "attr.c"]);
        assert_eq!(check(&six).unwrap_err().0, None);
    }

    #[test]
    fn the_largest_values_are_kept() {
        let (kept, rest) = top_values(&[("FR", 5), ("US", 9), ("DE", 5), ("IT", 1)], 3);
        assert_eq!(kept, ["US", "DE", "FR"]);
        assert_eq!(rest, ["IT"]);
        assert_eq!(top_values(&[("US", 1)], 20), (vec!["US"], vec![]));
    }
}
