//! The visitor an assignment is for, and the [`Facts`] conditions read about them.
//!
//! The caller (edge worker or CLI) fills a [`Visitor`] from what it already parsed: request
//! headers, cookies, query parameters. [`Facts`] derives the rest once per visitor (device class,
//! URL path and parameters, referrer host) so evaluating many tests re-parses nothing.

use std::borrow::Cow;
use std::cell::RefCell;

use crate::device::DeviceClass;

/// Everything known about one visitor at one request.
#[derive(Debug, Clone, Copy, Default)]
pub struct Visitor<'a> {
    /// The bucketing id: a first-party cookie id or the site's own user id.
    pub unit_id: &'a str,
    pub user_agent: Option<&'a str>,
    /// An explicit device class wins over the User-Agent.
    pub device: Option<DeviceClass>,
    /// An explicit persona (cookie, header or parameter) wins over the snapshot's rules.
    pub persona: Option<&'a str>,
    /// ISO 3166-1 alpha-2, upper case.
    pub country: Option<&'a str>,
    /// The page URL (absolute, or a path with query).
    pub url: Option<&'a str>,
    pub referrer: Option<&'a str>,
    /// The visitor's local hour, 0–23.
    pub local_hour: Option<u8>,
    /// Caller-supplied attributes for targeting.
    pub attributes: &'a [(String, String)],
    /// QA preview: `(test key, variant key)` pairs to force; never counted.
    pub forced: &'a [(String, String)],
}

impl Visitor<'_> {
    /// The device class: explicit if given, else from the User-Agent (none means a bot).
    pub fn device_class(&self) -> DeviceClass {
        self.device
            .unwrap_or_else(|| DeviceClass::from_user_agent(self.user_agent.unwrap_or("")))
    }
}

/// What a leaf condition reads from the visitor.
#[derive(Debug, Clone, PartialEq)]
pub enum Attr {
    Device,
    Country,
    Url,
    /// The URL's path, without query or fragment.
    Path,
    Referrer,
    /// The referrer's host name.
    ReferrerHost,
    Persona,
    LocalHour,
    /// `query.NAME` (also `utm_source`, `utm_medium`, `utm_campaign`, `utm_term`,
    /// `utm_content` directly): a parameter of the page URL.
    Query(String),
    /// Any other name: a caller-supplied attribute.
    Custom(String),
}

impl Attr {
    pub(crate) fn parse(name: &str) -> Attr {
        match name {
            "device" => Attr::Device,
            "country" => Attr::Country,
            "url" => Attr::Url,
            "path" => Attr::Path,
            "referrer" => Attr::Referrer,
            "referrer_host" => Attr::ReferrerHost,
            "persona" => Attr::Persona,
            "local_hour" => Attr::LocalHour,
            "utm_source" | "utm_medium" | "utm_campaign" | "utm_term" | "utm_content" => {
                Attr::Query(name.to_owned())
            }
            _ => match name.strip_prefix("query.") {
                Some(param) => Attr::Query(param.to_owned()),
                None => Attr::Custom(name.to_owned()),
            },
        }
    }
}

/// An attribute's value for one visitor.
#[derive(Debug, Clone, Copy)]
pub enum AttrValue<'a> {
    Str(&'a str),
    Num(f64),
}

/// A decoded URL query parameter.
pub type QueryParam<'a> = (Cow<'a, str>, Cow<'a, str>);

/// A visitor's attributes, derived once, as conditions read them.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    pub device: DeviceClass,
    pub persona: Option<&'a str>,
    pub country: Option<&'a str>,
    pub url: Option<&'a str>,
    pub path: Option<&'a str>,
    pub referrer: Option<&'a str>,
    pub referrer_host: Option<&'a str>,
    pub local_hour: Option<u8>,
    pub query: Vec<QueryParam<'a>>,
    pub attributes: &'a [(String, String)],
    /// Regex results already known for this visitor: many tests share a pattern (a referrer
    /// host, a campaign), and matching is the dearest thing a condition does.
    regex_memo: RefCell<Vec<RegexMemo>>,
}

/// One regex result: the pattern, the address and length of the text it was matched against
/// (a value these facts hold, so it stays put while they live), and the answer.
#[derive(Debug, Clone)]
struct RegexMemo {
    pattern: Box<str>,
    text: (usize, usize),
    matched: bool,
}

/// Past this many distinct (pattern, text) pairs a visitor's results are no longer kept.
const MAX_REGEX_MEMO: usize = 16;

impl<'a> Facts<'a> {
    /// Derives the facts of `v`; the persona is left for the caller to resolve.
    pub fn new(v: &Visitor<'a>, device: DeviceClass) -> Facts<'a> {
        let (path, query) = match v.url {
            Some(url) => split_url(url),
            None => (None, Vec::new()),
        };
        Facts {
            device,
            persona: None,
            country: v.country,
            url: v.url,
            path,
            referrer: v.referrer,
            referrer_host: v.referrer.and_then(host_of),
            local_hour: v.local_hour,
            query,
            attributes: v.attributes,
            regex_memo: RefCell::new(Vec::new()),
        }
    }

    /// Whether `re` matches `text`, a value [`Facts::get`] returned; each distinct pattern is
    /// run once per text.
    pub(crate) fn regex_match(&self, re: &regex_lite::Regex, text: &str) -> bool {
        let key = (text.as_ptr() as usize, text.len());
        let pattern = re.as_str();
        if let Ok(memo) = self.regex_memo.try_borrow() {
            if let Some(m) = memo
                .iter()
                .find(|m| m.text == key && &*m.pattern == pattern)
            {
                return m.matched;
            }
        }
        let matched = re.is_match(text);
        if let Ok(mut memo) = self.regex_memo.try_borrow_mut() {
            if memo.len() < MAX_REGEX_MEMO {
                memo.push(RegexMemo {
                    pattern: pattern.into(),
                    text: key,
                    matched,
                });
            }
        }
        matched
    }

    /// The value of `attr`, if the visitor has one.
    pub fn get(&self, attr: &Attr) -> Option<AttrValue<'_>> {
        let s = |o: Option<&'a str>| o.map(AttrValue::Str);
        match attr {
            Attr::Device => Some(AttrValue::Str(self.device.as_str())),
            Attr::Country => s(self.country),
            Attr::Url => s(self.url),
            Attr::Path => s(self.path),
            Attr::Referrer => s(self.referrer),
            Attr::ReferrerHost => s(self.referrer_host),
            Attr::Persona => s(self.persona),
            Attr::LocalHour => self.local_hour.map(|h| AttrValue::Num(f64::from(h))),
            Attr::Query(name) => self
                .query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| AttrValue::Str(v.as_ref())),
            Attr::Custom(name) => self
                .attributes
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| AttrValue::Str(v.as_str())),
        }
    }
}

/// Splits a URL into its path and decoded query parameters.
fn split_url(url: &str) -> (Option<&str>, Vec<QueryParam<'_>>) {
    let url = url.split('#').next().unwrap_or(url);
    let (before, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let path = match before.find("://") {
        Some(i) => {
            let rest = &before[i + 3..];
            rest.find('/').map_or("/", |j| &rest[j..])
        }
        None => before,
    };
    (Some(path), query.map(query_pairs).unwrap_or_default())
}

/// `application/x-www-form-urlencoded` pairs of a query string; a key without `=` has an empty
/// value. The edge parses its own request parameters with this too.
pub fn query_pairs(query: &str) -> Vec<QueryParam<'_>> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn host_of(url: &str) -> Option<&str> {
    let rest = &url[url.find("://")? + 3..];
    let end = rest.find(['/', '?', '#', ':']).unwrap_or(rest.len());
    let host = &rest[..end];
    let host = host.rsplit('@').next().unwrap_or(host);
    (!host.is_empty()).then_some(host)
}

/// `application/x-www-form-urlencoded` decoding; invalid escapes are kept as written, invalid
/// UTF-8 is replaced.
pub fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.contains(['%', '+']) {
        return Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parts() {
        let (path, q) =
            split_url("https://shop.example/pricing?utm_source=news%20letter&x=a+b#top");
        assert_eq!(path, Some("/pricing"));
        assert_eq!(q[0], ("utm_source".into(), "news letter".into()));
        assert_eq!(q[1], ("x".into(), "a b".into()));
        assert_eq!(split_url("https://shop.example").0, Some("/"));
        assert_eq!(split_url("/a/b?c=1").0, Some("/a/b"));
    }

    #[test]
    fn bad_escapes_are_kept() {
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%C3%A9"), "é");
    }

    #[test]
    fn referrer_host() {
        assert_eq!(
            host_of("https://www.google.com/search?q=x"),
            Some("www.google.com")
        );
        assert_eq!(
            host_of("https://user@news.example:8443/a"),
            Some("news.example")
        );
        assert_eq!(host_of("not a url"), None);
    }
}
