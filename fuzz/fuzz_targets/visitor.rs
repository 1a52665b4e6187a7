//! Visitor requests to the worker's `GET /v1/assign`: any URL (query), cookie, User-Agent,
//! Referer, persona header, GPC header and country, against the example snapshot. The worker
//! must always answer 200 with JSON, never an error page. (The worker reads no
//! Accept-Language header.)
#![no_main]

use std::sync::LazyLock;

use edgewise_edge::assign::assign;
use edgewise_edge::config::Config;
use edgewise_edge::http::RequestHead;
use edgewise_edge::render::RenderCache;
use edgewise_shared::CompiledSnapshot;
use libfuzzer_sys::{arbitrary, fuzz_target};

static SNAPSHOT: LazyLock<CompiledSnapshot> = LazyLock::new(|| {
    let json = include_str!("../../docs/example-snapshot.json");
    CompiledSnapshot::from_json(json).expect("the example compiles").0
});

#[derive(Debug, arbitrary::Arbitrary)]
struct Input<'a> {
    query: &'a str,
    cookie: Option<&'a str>,
    user_agent: Option<&'a str>,
    referer: Option<&'a str>,
    persona: Option<&'a str>,
    sec_gpc: Option<&'a str>,
    country: Option<&'a str>,
    test_mode: bool,
    now_ms: i64,
}

fuzz_target!(|input: Input<'_>| {
    let url = format!("https://edge.example/v1/assign?{}", input.query);
    let head = RequestHead {
        method: "GET",
        url: &url,
        user_agent: input.user_agent,
        cookie: input.cookie,
        referer: input.referer,
        persona: input.persona,
        sec_gpc: input.sec_gpc,
        country: input.country,
        ..RequestHead::default()
    };
    let test_mode = input.test_mode;
    let cfg = Config::from_vars(|k| (k == "EDGEWISE_TEST_MODE" && test_mode).then(|| "1".into()));
    let mut minted = 0u32;
    let mut mint = || {
        minted += 1;
        format!("minted-{minted}")
    };
    let mut cache = RenderCache::default();
    let out = assign(Some(&SNAPSHOT), &head, &cfg, input.now_ms, &mut mint, &mut cache);
    assert_eq!(out.reply.status, 200);
    serde_json::from_str::<serde_json::Value>(&out.reply.body).expect("the reply is JSON");
    for e in &out.exposures {
        e.check_shape().expect("exposures the worker logs pass the shape check");
    }
});
