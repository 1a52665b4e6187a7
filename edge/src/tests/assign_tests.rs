//! `/v1/assign`: parameters, cookies, consent, identity, and the reply.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use edgewise_shared::{CompiledSnapshot, DeviceClass};
use serde_json::json;

use super::{body, cfg, example, get, minter, test_cfg, GOOGLEBOT, IPHONE};
use crate::assign::{
    assign, cookie, has_consent, identify, valid_cookie_id, AssignParams, UnitSource,
};
use crate::http::RequestHead;
use crate::render::RenderCache;

#[test]
fn parses_every_parameter() {
    let head = get(
        "https://e.example/v1/assign?unit=site-1&persona=RemoteDad&device=tablet\
        &url=https%3A%2F%2Fshop.example%2Fcheckout%3Fa%3D1&ref=https%3A%2F%2Fx.edu%2F&local_hour=21\
        &attr.company_size=12&force.hero-headline=benefit&consent=1&expose=1\
        &now=2026-11-27T10%3A00%3A00Z&country=DE",
    );
    let p = AssignParams::parse(&head, true);
    assert_eq!(p.unit.as_deref(), Some("site-1"));
    assert_eq!(p.persona.as_deref(), Some("RemoteDad"));
    assert_eq!(p.device, Some(DeviceClass::Tablet));
    assert_eq!(p.url.as_deref(), Some("https://shop.example/checkout?a=1"));
    assert_eq!(p.referrer.as_deref(), Some("https://x.edu/"));
    assert_eq!(p.local_hour, Some(21));
    assert_eq!(p.attrs, vec![("company_size".into(), "12".into())]);
    assert_eq!(p.forced, vec![("hero-headline".into(), "benefit".into())]);
    assert_eq!(p.consent, Some(true));
    assert!(p.expose);
    assert_eq!(p.now_ms, Some(1_795_773_600_000));
    assert_eq!(p.country.as_deref(), Some("DE"));
}

#[test]
fn test_only_parameters_need_test_mode_and_bad_values_are_dropped() {
    let head = get("/v1/assign?now=5&country=DE&local_hour=24&device=phone&unit=&expose=maybe");
    let p = AssignParams::parse(&head, false);
    assert_eq!((p.now_ms, p.country), (None, None));
    assert_eq!((p.local_hour, p.device, p.unit), (None, None, None));
    assert!(!p.expose);
    let p = AssignParams::parse(&get("/v1/assign?now=5&country=de"), true);
    assert_eq!((p.now_ms, p.country), (Some(5), None));
}

#[test]
fn attribute_and_force_lists_are_bounded() {
    let query: String = (0..100)
        .map(|i| format!("&attr.a{i}=1&force.t{i}=v"))
        .collect();
    let url = format!("/v1/assign?x=1{query}");
    let p = AssignParams::parse(&get(&url), false);
    assert_eq!((p.attrs.len(), p.forced.len()), (32, 32));
}

#[test]
fn cookies_are_found_among_others() {
    let h = Some("a=1; edgewise_uid=\"abc-1\" ;b=2");
    assert_eq!(cookie(h, "edgewise_uid"), Some("abc-1"));
    assert_eq!(cookie(h, "b"), Some("2"));
    assert_eq!(cookie(h, "edgewise"), None);
    assert_eq!(cookie(None, "a"), None);
    assert!(valid_cookie_id("0f3e-AB_9.x:1"));
    assert!(!valid_cookie_id("a b") && !valid_cookie_id("") && !valid_cookie_id(&"a".repeat(129)));
}

#[test]
fn consent_signals() {
    let p = AssignParams::default();
    let mut head = get("/v1/assign");
    assert!(has_consent(&head, &p));
    head.sec_gpc = Some("1");
    assert!(!has_consent(&head, &p));
    head.sec_gpc = Some("0");
    head.cookie = Some("edgewise_consent=0");
    assert!(!has_consent(&head, &p));
    head.cookie = Some("edgewise_consent=1");
    assert!(has_consent(&head, &p));
    let no = AssignParams {
        consent: Some(false),
        ..AssignParams::default()
    };
    assert!(!has_consent(&head, &no));
}

#[test]
fn identity_rules() {
    let cfg = cfg();
    let mut mint = minter();
    let plain = AssignParams::default();
    let mut head = get("/v1/assign");

    let minted = identify(&head, &plain, &cfg, true, &mut mint);
    assert_eq!(minted.unit_id, "id-1");
    assert_eq!(minted.source, UnitSource::Minted);
    let c = minted.set_cookie.unwrap_or_default();
    assert!(c.starts_with("edgewise_uid=id-1; Max-Age=31536000; Path=/; Secure; HttpOnly"));

    head.cookie = Some("edgewise_uid=known-7");
    let reused = identify(&head, &plain, &cfg, true, &mut mint);
    assert_eq!(
        (reused.unit_id.as_str(), reused.source),
        ("known-7", UnitSource::Cookie)
    );
    assert_eq!(reused.set_cookie, None);

    let withdrawn = identify(&head, &plain, &cfg, false, &mut mint);
    assert_eq!(withdrawn.source, UnitSource::Ephemeral);
    assert_ne!(withdrawn.unit_id, "known-7");
    assert!(withdrawn
        .set_cookie
        .is_some_and(|c| c.starts_with("edgewise_uid=; Max-Age=0")));

    head.cookie = None;
    let anonymous = identify(&head, &plain, &cfg, false, &mut mint);
    assert_eq!(
        (anonymous.source, anonymous.set_cookie),
        (UnitSource::Ephemeral, None)
    );

    let site = AssignParams {
        unit: Some("user-42".into()),
        ..AssignParams::default()
    };
    let s = identify(&head, &site, &cfg, true, &mut mint);
    assert_eq!(
        (s.unit_id.as_str(), s.source, s.set_cookie),
        ("user-42", UnitSource::Site, None)
    );

    // A cookie value we could not have minted is ignored and replaced.
    head.cookie = Some("edgewise_uid=<script>");
    let replaced = identify(&head, &plain, &cfg, true, &mut mint);
    assert_eq!(replaced.source, UnitSource::Minted);
}

#[test]
fn cookie_name_and_domain_come_from_config() {
    let cfg = crate::config::Config::from_vars(|k| match k {
        "COOKIE_NAME" => Some("uid".into()),
        "COOKIE_DOMAIN" => Some(".shop.example".into()),
        _ => None,
    });
    let head = RequestHead {
        cookie: Some("uid=abc"),
        ..get("/v1/assign")
    };
    let id = identify(&head, &AssignParams::default(), &cfg, true, &mut minter());
    assert_eq!(id.unit_id, "abc");
    let fresh = identify(
        &get("/"),
        &AssignParams::default(),
        &cfg,
        true,
        &mut minter(),
    );
    assert!(fresh
        .set_cookie
        .is_some_and(|c| c.starts_with("uid=id-1;") && c.ends_with("; Domain=.shop.example")));
}

#[test]
fn reply_carries_decisions_cookie_and_cors() {
    let snapshot = example();
    let head = RequestHead {
        origin: Some("https://shop.example"),
        ..get("https://edge.example/v1/assign?now=1795773600000")
    };
    let out = assign(
        Some(&snapshot),
        &head,
        &test_cfg(),
        0,
        &mut minter(),
        &mut RenderCache::default(),
    );
    assert_eq!(out.reply.status, 200);
    assert_eq!(out.reply.header("cache-control"), Some("private, no-store"));
    assert_eq!(
        out.reply.header("access-control-allow-origin"),
        Some("https://shop.example")
    );
    assert!(out
        .reply
        .header("set-cookie")
        .is_some_and(|c| c.starts_with("edgewise_uid=id-1;")));
    let b = body(&out.reply);
    assert_eq!(b["unit_id"], "id-1");
    assert_eq!(b["snapshot_version"], 7);
    assert_eq!(b["snapshot_loaded"], true);
    assert_eq!(b["device"], "desktop");
    assert_eq!(b["decisions"].as_array().map(Vec::len), Some(4));
    assert_eq!(b["unit_source"], "minted");
    assert!(out.exposures.is_empty());
}

#[test]
fn engine_inputs_come_from_headers_cf_and_parameters() {
    // One test targeted at /checkout pages in Germany, nothing else in the way.
    let (snapshot, _) = CompiledSnapshot::from_json(
        &json!({"schema_version": 1, "snapshot_version": 1, "hash_version": 1, "tests": [{
            "key": "t", "status": "running",
            "variants": [{"key": "a", "weight": 1}, {"key": "b", "weight": 1}],
            "targeting": {"when": {"all": [
                {"attr": "path", "op": "prefix", "value": "/checkout"},
                {"attr": "country", "op": "eq", "value": "DE"}]}}}]})
        .to_string(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let reason = |head: &RequestHead<'_>, cfg: &crate::config::Config| {
        let out = assign(
            Some(&snapshot),
            head,
            cfg,
            0,
            &mut minter(),
            &mut RenderCache::default(),
        );
        body(&out.reply)["decisions"][0]["reason"].clone()
    };
    let mut head = RequestHead {
        referer: Some("https://shop.example/checkout/pay"),
        country: Some("DE"),
        ..get("/v1/assign?unit=u1")
    };
    assert_eq!(reason(&head, &cfg()), "assigned");
    head.country = Some("FR");
    assert_eq!(reason(&head, &cfg()), "not_targeted");
    // The country parameter only counts in test mode.
    let with_param = RequestHead {
        url: "/v1/assign?unit=u1&country=DE",
        ..head.clone()
    };
    assert_eq!(reason(&with_param, &cfg()), "not_targeted");
    assert_eq!(reason(&with_param, &test_cfg()), "assigned");
    // An explicit url wins over the Referer.
    let other_page = RequestHead {
        url: "/v1/assign?unit=u1&url=https%3A%2F%2Fshop.example%2Fhome",
        country: Some("DE"),
        ..head.clone()
    };
    assert_eq!(reason(&other_page, &cfg()), "not_targeted");
    // Bots are never assigned.
    let bot = RequestHead {
        user_agent: Some(GOOGLEBOT),
        country: Some("DE"),
        ..head
    };
    assert_eq!(reason(&bot, &cfg()), "bot");
}

#[test]
fn persona_from_parameter_header_or_cookie() {
    let snapshot = example();
    let persona = |head: &RequestHead<'_>| {
        body(
            &assign(
                Some(&snapshot),
                head,
                &cfg(),
                0,
                &mut minter(),
                &mut RenderCache::default(),
            )
            .reply,
        )["persona"]
            .clone()
    };
    let mut head = get("/v1/assign?unit=u");
    head.cookie = Some("edgewise_persona=BusinessOwner");
    assert_eq!(persona(&head), "BusinessOwner");
    head.persona = Some("RemoteDad");
    assert_eq!(persona(&head), "RemoteDad");
    head.url = "/v1/assign?unit=u&persona=StudentHustler";
    assert_eq!(persona(&head), "StudentHustler");
    // None given: the snapshot's rules decide (an .edu referrer makes a StudentHustler).
    let ruled = get("/v1/assign?unit=u&ref=https%3A%2F%2Fcs.stanford.edu%2F");
    assert_eq!(persona(&ruled), "StudentHustler");
}

#[test]
fn exposures_only_for_counted_decisions_with_consent() {
    let snapshot = example();
    let cfg = test_cfg();
    let head = RequestHead {
        user_agent: Some(IPHONE),
        ..get("/v1/assign?unit=visitor-3&expose=1&now=1795773600000&force.checkout-copy=urgency")
    };
    let out = assign(
        Some(&snapshot),
        &head,
        &cfg,
        0,
        &mut minter(),
        &mut RenderCache::default(),
    );
    let b = body(&out.reply);
    let counted: Vec<_> = b["decisions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["counted"] == true)
        .collect();
    assert!(
        !counted.is_empty(),
        "pick a unit that is assigned somewhere: {b}"
    );
    assert_eq!(out.exposures.len(), counted.len());
    assert_eq!(b["exposures_logged"], counted.len());
    for (e, d) in out.exposures.iter().zip(&counted) {
        assert_eq!(
            (e.test.as_str(), Some(e.variant.as_str())),
            (d["test"].as_str().unwrap_or(""), d["variant"].as_str())
        );
        assert_eq!(e.unit_id, "visitor-3");
        assert_eq!(e.device, Some(DeviceClass::Mobile));
        assert_eq!(e.ts, Some(1_795_773_600_000));
        // Asked for by the page's script: the browser's exposure, not flagged `edge`.
        assert_eq!(e.logged_by, None);
    }
    // The forced decision is shown but never logged.
    assert!(out.exposures.iter().all(|e| e.test != "checkout-copy"));
    let no_consent = RequestHead {
        sec_gpc: Some("1"),
        ..head
    };
    assert!(assign(
        Some(&snapshot),
        &no_consent,
        &cfg,
        0,
        &mut minter(),
        &mut RenderCache::default()
    )
    .exposures
    .is_empty());
}

#[test]
fn without_a_snapshot_the_answer_is_still_200() {
    let head = RequestHead {
        origin: Some("https://shop.example"),
        ..get("/v1/assign?expose=1")
    };
    let out = assign(
        None,
        &head,
        &cfg(),
        0,
        &mut minter(),
        &mut RenderCache::default(),
    );
    assert_eq!(out.reply.status, 200);
    assert!(out.exposures.is_empty());
    assert_eq!(out.reply.header("access-control-allow-origin"), None);
    let b = body(&out.reply);
    assert_eq!(b["snapshot_loaded"], false);
    assert_eq!(b["snapshot_version"], serde_json::Value::Null);
    assert_eq!(b["decisions"], json!([]));
    assert_eq!(b["device"], "desktop");
}

#[test]
fn fast_body_equals_serde_rendering() {
    let snapshot = example();
    let mut cache = RenderCache::default();
    let agents = [
        super::DESKTOP,
        IPHONE,
        GOOGLEBOT,
        "Mozilla/5.0 (iPad; CPU OS 17_5) Mobile",
    ];
    let refs = [
        "",
        "&ref=https%3A%2F%2Fnews.ycombinator.com%2F",
        "&persona=Student%22Q",
    ];
    for i in 0..300 {
        let url = format!(
            "/v1/assign?unit=u{i}&url=https%3A%2F%2Fshop.example%2Fcheckout%3Fpromo%3Dstudent{}",
            refs[i % refs.len()]
        );
        let head = RequestHead {
            user_agent: Some(agents[i % agents.len()]),
            ..get(&url)
        };
        let out = assign(Some(&snapshot), &head, &cfg(), 0, &mut minter(), &mut cache);
        let fast = body(&out.reply);
        let persona = fast["persona"].as_str().map(str::to_owned);
        let visitor = edgewise_shared::Visitor {
            unit_id: &format!("u{i}"),
            user_agent: head.user_agent,
            persona: persona.as_deref(),
            url: Some("https://shop.example/checkout?promo=student"),
            referrer: (i % refs.len() == 1).then_some("https://news.ycombinator.com/"),
            ..Default::default()
        };
        let expected = serde_json::to_value(snapshot.assign(&visitor, 0)).unwrap_or_default();
        for field in [
            "unit_id",
            "snapshot_version",
            "device",
            "persona",
            "decisions",
        ] {
            assert_eq!(fast[field], expected[field], "{field} of visitor {i}");
        }
    }
    // Another snapshot must not be served the first one's cached content.
    let other = CompiledSnapshot::from_json(&super::EXAMPLE.replace("Ship experiments", "Other"))
        .map(|(s, _)| s)
        .unwrap_or_else(|e| panic!("{e}"));
    let head = get("/v1/assign?unit=u1");
    let b = body(&assign(Some(&other), &head, &cfg(), 0, &mut minter(), &mut cache).reply);
    let fresh = body(
        &assign(
            Some(&other),
            &head,
            &cfg(),
            0,
            &mut minter(),
            &mut RenderCache::default(),
        )
        .reply,
    );
    assert_eq!(b, fresh);
}
