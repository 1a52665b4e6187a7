//! `GET /v1/assign`: from request to decisions, identity cookie and exposure events.
//!
//! [`AssignParams::parse`] reads the query; [`identify`] picks the bucketing id (the site's own
//! id, the first-party cookie, or a freshly minted one) under the consent rules; [`assign`]
//! calls the shared engine and builds the reply. For sticky (bandit) tests the visitor's
//! earlier variants come from the `edgewise_arms` cookie and new ones are added to it, with
//! consent only ([`remember`]). Nothing here can fail: a visitor always gets
//! a 200, with no decisions and `snapshot_loaded: false` when the worker has no snapshot yet.

use edgewise_shared::bandit::sticky::{self, Remembered};
use edgewise_shared::beacon::{Event, EventKind};
use edgewise_shared::dimensions;
use edgewise_shared::limits::{
    MAX_ID_BYTES, MAX_VISITOR_PAIRS as MAX_PAIRS, MAX_VISITOR_TEXT_BYTES as MAX_TEXT,
};
use edgewise_shared::timestamp::parse_rfc3339_ms;
use std::fmt::Write as _;

use edgewise_shared::{Assignment, CompiledSnapshot, DeviceClass, Visitor};
use serde::Serialize;

use crate::config::{Config, ARMS_COOKIE, CONSENT_COOKIE, PERSONA_COOKIE};
use crate::cors;
use crate::http::{Reply, RequestHead};
use crate::render::{self, RenderCache};

/// What the query string of `/v1/assign` says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AssignParams {
    /// `unit`: the site's own id for the visitor (bucketing uses it, no cookie is set).
    pub unit: Option<String>,
    /// `persona`: an explicit persona.
    pub persona: Option<String>,
    /// `device`: mobile, tablet, desktop or bot, overriding the User-Agent.
    pub device: Option<DeviceClass>,
    /// `url`: the page URL (default: the `Referer` header, which is the page for a fetch).
    pub url: Option<String>,
    /// `ref`: the page's own referrer (`document.referrer`).
    pub referrer: Option<String>,
    /// `local_hour`: the visitor's local hour, 0–23.
    pub local_hour: Option<u8>,
    /// `attr.KEY=VALUE`: targeting attributes.
    pub attrs: Vec<(String, String)>,
    /// `force.TEST=VARIANT`: QA preview, never counted.
    pub forced: Vec<(String, String)>,
    /// `consent=0` / `consent=1`.
    pub consent: Option<bool>,
    /// `expose=1`: log exposure events for the counted decisions.
    pub expose: bool,
    /// `now` (RFC 3339 or Unix ms), honoured in test mode only.
    pub now_ms: Option<i64>,
    /// `country`, honoured in test mode only.
    pub country: Option<String>,
}

impl AssignParams {
    pub fn parse(head: &RequestHead<'_>, test_mode: bool) -> AssignParams {
        let mut p = AssignParams::default();
        let text = |v: &str| (!v.is_empty() && v.len() <= MAX_TEXT).then(|| v.to_owned());
        for (k, v) in head.query() {
            match k.as_ref() {
                "unit" => p.unit = valid_id(&v).then(|| v.to_string()),
                "persona" => p.persona = valid_id(&v).then(|| v.to_string()),
                "device" => p.device = DeviceClass::parse(&v),
                "url" => p.url = text(&v),
                "ref" => p.referrer = text(&v),
                "local_hour" => p.local_hour = v.parse::<u8>().ok().filter(|h| *h < 24),
                "consent" => p.consent = parse_flag(&v),
                "expose" => p.expose = parse_flag(&v) == Some(true),
                "now" if test_mode => p.now_ms = parse_now(&v),
                "country" if test_mode => p.country = valid_country(&v).then(|| v.to_string()),
                key => {
                    if let Some(name) = key.strip_prefix("attr.") {
                        if !name.is_empty() && p.attrs.len() < MAX_PAIRS && v.len() <= MAX_TEXT {
                            p.attrs.push((name.to_owned(), v.to_string()));
                        }
                    } else if let Some(test) = key.strip_prefix("force.") {
                        if !test.is_empty() && p.forced.len() < MAX_PAIRS {
                            p.forced.push((test.to_owned(), v.to_string()));
                        }
                    }
                }
            }
        }
        p
    }
}

fn parse_flag(v: &str) -> Option<bool> {
    match v {
        "1" | "true" | "yes" => Some(true),
        "0" | "false" | "no" => Some(false),
        _ => None,
    }
}

fn parse_now(v: &str) -> Option<i64> {
    v.parse::<i64>().ok().or_else(|| parse_rfc3339_ms(v).ok())
}

fn valid_country(v: &str) -> bool {
    v.len() == 2 && v.bytes().all(|b| b.is_ascii_uppercase())
}

/// A site-supplied id or persona: 1–200 bytes, no control characters.
pub fn valid_id(v: &str) -> bool {
    !v.is_empty() && v.len() <= MAX_ID_BYTES && !v.chars().any(char::is_control)
}

/// An id we minted and keep in a cookie: 1–128 bytes of `[A-Za-z0-9._:-]`.
pub fn valid_cookie_id(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 128
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(header: Option<&'a str>, name: &str) -> Option<&'a str> {
    header?.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k.trim() == name).then(|| v.trim().trim_matches('"'))
    })
}

/// Whether the site and browser let us store an id: no `consent=0` parameter, no
/// `edgewise_consent=0` cookie, no `Sec-GPC: 1`.
pub fn has_consent(head: &RequestHead<'_>, params: &AssignParams) -> bool {
    let gpc = head.sec_gpc.is_some_and(|v| v.trim() == "1");
    let cookie_says_no = cookie(head.cookie, CONSENT_COOKIE).and_then(parse_flag) == Some(false);
    !gpc && !cookie_says_no && params.consent != Some(false)
}

/// Where the bucketing id came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitSource {
    /// The site passed its own id.
    Site,
    /// Our first-party cookie.
    Cookie,
    /// Minted now and set as a cookie.
    Minted,
    /// No consent and no site id: a one-off id for this response only, not stored anywhere.
    Ephemeral,
}

/// The visitor's bucketing id and the cookie header to send, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub unit_id: String,
    pub source: UnitSource,
    pub set_cookie: Option<String>,
}

/// Picks the bucketing id. Without consent no cookie is set, and an existing id cookie is
/// expired (the visitor withdrew consent).
pub fn identify(
    head: &RequestHead<'_>,
    params: &AssignParams,
    cfg: &Config,
    consent: bool,
    mint: &mut dyn FnMut() -> String,
) -> Identity {
    let existing = cookie(head.cookie, &cfg.cookie_name).filter(|v| valid_cookie_id(v));
    let expire = (!consent && existing.is_some()).then(|| expired_cookie(cfg));
    if let Some(unit) = &params.unit {
        return Identity {
            unit_id: unit.clone(),
            source: UnitSource::Site,
            set_cookie: expire,
        };
    }
    match (consent, existing) {
        (true, Some(id)) => Identity {
            unit_id: id.to_owned(),
            source: UnitSource::Cookie,
            set_cookie: None,
        },
        (true, None) => {
            let id = mint();
            Identity {
                set_cookie: Some(set_cookie(cfg, &id)),
                unit_id: id,
                source: UnitSource::Minted,
            }
        }
        (false, _) => Identity {
            unit_id: mint(),
            source: UnitSource::Ephemeral,
            set_cookie: expire,
        },
    }
}

/// The `Set-Cookie` value storing `id`: first-party, HttpOnly, Secure, Lax.
pub fn set_cookie(cfg: &Config, id: &str) -> String {
    cookie_header(cfg, &cfg.cookie_name, id, cfg.cookie_max_age_s)
}

fn expired_cookie(cfg: &Config) -> String {
    cookie_header(cfg, &cfg.cookie_name, "", 0)
}

fn cookie_header(cfg: &Config, name: &str, value: &str, max_age_s: u64) -> String {
    let mut c =
        format!("{name}={value}; Max-Age={max_age_s}; Path=/; Secure; HttpOnly; SameSite=Lax");
    if let Some(d) = &cfg.cookie_domain {
        c.push_str("; Domain=");
        c.push_str(d);
    }
    c
}

/// What the `/v1/assign` body says besides the engine's assignment.
#[derive(Debug, Clone, Copy)]
struct BodyExtras {
    /// False while the worker has no snapshot: no decisions, everyone sees the site's default.
    snapshot_loaded: bool,
    consent: bool,
    unit_source: UnitSource,
    cookie_set: bool,
    /// Exposure events queued for this response (`expose=1`).
    exposures_logged: usize,
}

/// The body: the engine's assignment (as `edgewise assign` prints it) plus [`BodyExtras`].
fn render_body(
    a: &Assignment<'_>,
    snapshot: Option<&CompiledSnapshot>,
    extras: BodyExtras,
    cache: &mut RenderCache,
) -> String {
    let mut out = String::with_capacity(cache.size_hint(a.decisions.len()));
    out.push_str("{\"unit_id\":");
    render::write_str(&mut out, &a.unit_id);
    match snapshot {
        Some(_) => {
            let _ = write!(out, ",\"snapshot_version\":{}", a.snapshot_version);
        }
        None => out.push_str(",\"snapshot_version\":null"),
    }
    let _ = write!(out, ",\"device\":\"{}\",\"persona\":", a.device.as_str());
    match &a.persona {
        Some(p) => render::write_str(&mut out, p),
        None => out.push_str("null"),
    }
    out.push_str(",\"decisions\":");
    if let Some(s) = snapshot {
        cache.bind(s);
    }
    render::write_decisions(&mut out, &a.decisions, cache);
    let source = match extras.unit_source {
        UnitSource::Site => "site",
        UnitSource::Cookie => "cookie",
        UnitSource::Minted => "minted",
        UnitSource::Ephemeral => "ephemeral",
    };
    let _ = write!(
        out,
        ",\"snapshot_loaded\":{},\"consent\":{},\"unit_source\":\"{source}\",\"cookie_set\":{},\"exposures_logged\":{}}}",
        extras.snapshot_loaded, extras.consent, extras.cookie_set, extras.exposures_logged
    );
    cache.written(out.len());
    out
}

/// Everything `/v1/assign` produces: the reply and the exposure events to queue.
#[derive(Debug)]
pub struct AssignOutcome {
    pub reply: Reply,
    pub exposures: Vec<Event>,
}

/// Answers `/v1/assign`. `now_ms` is the clock; `mint` returns fresh random ids; `cache` keeps
/// the text of the snapshot's decisions between requests.
pub fn assign(
    snapshot: Option<&CompiledSnapshot>,
    head: &RequestHead<'_>,
    cfg: &Config,
    now_ms: i64,
    mint: &mut dyn FnMut() -> String,
    cache: &mut RenderCache,
) -> AssignOutcome {
    let params = AssignParams::parse(head, cfg.test_mode);
    let now_ms = params.now_ms.unwrap_or(now_ms);
    let consent = has_consent(head, &params);
    let identity = identify(head, &params, cfg, consent, mint);
    let persona = params
        .persona
        .as_deref()
        .or_else(|| header_persona(head))
        .or_else(|| cookie(head.cookie, PERSONA_COOKIE).filter(|p| valid_id(p)));
    let visitor = Visitor {
        unit_id: &identity.unit_id,
        user_agent: head.user_agent,
        device: params.device,
        persona,
        country: params.country.as_deref().or(head.country),
        url: params.url.as_deref().or(head.referer),
        referrer: params.referrer.as_deref(),
        local_hour: params.local_hour,
        attributes: &params.attrs,
        forced: &params.forced,
    };
    let remembered = if consent {
        sticky::parse(cookie(head.cookie, ARMS_COOKIE).unwrap_or(""))
    } else {
        Vec::new()
    };
    let assignment = match snapshot {
        Some(s) => s.assign_remembering(&visitor, now_ms, &remembered),
        None => Assignment {
            unit_id: identity.unit_id.clone(),
            snapshot_version: 0,
            device: visitor.device_class(),
            persona: persona.map(str::to_owned),
            decisions: Vec::new(),
        },
    };
    // Exposures only for counted decisions of a visitor we can recognise again.
    let exposures: Vec<Event> = if params.expose && consent {
        assignment
            .decisions
            .iter()
            .filter(|d| d.counted)
            .filter_map(|d| {
                Some(Event {
                    event_id: mint(),
                    kind: EventKind::Exposure,
                    unit_id: identity.unit_id.clone(),
                    test: d.test.to_owned(),
                    variant: d.variant?.to_owned(),
                    snapshot_version: Some(d.snapshot_version),
                    propensity: d.propensity,
                    device: Some(assignment.device),
                    persona: assignment.persona.clone(),
                    ts: Some(now_ms),
                    metric: None,
                    value: None,
                    dimensions: (!d.dimensions.is_empty()).then(|| {
                        d.dimensions
                            .iter()
                            .map(|n| (n.clone(), dimensions::value_of(n, &visitor)))
                            .collect()
                    }),
                    covariates: None,
                    logged_by: None,
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    let extras = BodyExtras {
        snapshot_loaded: snapshot.is_some(),
        consent,
        unit_source: identity.source,
        cookie_set: identity.source == UnitSource::Minted,
        exposures_logged: exposures.len(),
    };
    let mut reply = Reply::json_text(200, render_body(&assignment, snapshot, extras, cache));
    reply
        .headers
        .extend(cors::allow_headers(snapshot, head.origin));
    if let Some(c) = identity.set_cookie {
        reply.headers.push(("set-cookie", c));
    }
    if let Some(c) = remember(head, cfg, consent, &remembered, &assignment) {
        reply.headers.push(("set-cookie", c));
    }
    AssignOutcome { reply, exposures }
}

/// The `Set-Cookie` for the arms cookie after this visit, if it changes: the new sticky
/// assignments added, with consent; without consent an existing cookie is expired.
fn remember(
    head: &RequestHead<'_>,
    cfg: &Config,
    consent: bool,
    remembered: &[Remembered],
    assignment: &Assignment<'_>,
) -> Option<String> {
    if !consent {
        let stored = cookie(head.cookie, ARMS_COOKIE).is_some();
        return stored.then(|| cookie_header(cfg, ARMS_COOKIE, "", 0));
    }
    let fresh: Vec<Remembered> = assignment
        .decisions
        .iter()
        .filter_map(|d| d.remember)
        .filter(|r| !remembered.contains(r))
        .collect();
    (!fresh.is_empty()).then(|| {
        let list = sticky::merge(remembered, &fresh);
        cookie_header(
            cfg,
            ARMS_COOKIE,
            &sticky::render(&list),
            cfg.cookie_max_age_s,
        )
    })
}

fn header_persona<'a>(head: &RequestHead<'a>) -> Option<&'a str> {
    head.persona.map(str::trim).filter(|p| valid_id(p))
}
