//! The worker's whole `GET /v1/assign` path, natively: query and cookie parsing, identity, the
//! engine's decisions and the body, for varied visitors against `scripts/bench-edge`'s
//! generated snapshot (`gen-snapshot TESTS 1 42`) of 100 and 1,000 tests. `engine` is the
//! shared engine alone for the same visitors, so `request - engine` is the worker's own part.
//!
//! Run: `cargo bench -p edgewise-edge --bench assign` (native only: empty on wasm32, where
//! criterion and the generators do not build).
#![cfg_attr(target_arch = "wasm32", no_main)]
#![cfg(not(target_arch = "wasm32"))]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use edgewise_edge::assign::assign;
use edgewise_edge::config::Config;
use edgewise_edge::http::RequestHead;
use edgewise_edge::render::RenderCache;
use edgewise_shared::{CompiledSnapshot, Visitor};
use edgewise_tests::gen;

/// The User-Agents, personas, pages and referrers of `scripts/bench/assign.lua`.
const UAS: [&str; 6] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
];
const PERSONAS: [&str; 7] = [
    "",
    "",
    "",
    "&persona=TechEarlyAdopter",
    "&persona=RemoteDad",
    "&persona=StudentHustler",
    "&persona=BusinessOwner",
];
const PAGES: [&str; 4] = [
    "https%3A%2F%2Fshop.example%2F",
    "https%3A%2F%2Fshop.example%2Fpricing%3Futm_source%3Dnewsletter",
    "https%3A%2F%2Fshop.example%2Fcheckout%2Fcart",
    "https%3A%2F%2Fshop.example%2Fblog%2Flaunch%3Futm_source%3Dtechcrunch%26promo%3Dstudent",
];
const REFS: [&str; 4] = [
    "",
    "&ref=https%3A%2F%2Fnews.ycombinator.com%2F",
    "&ref=https%3A%2F%2Fcs.stanford.edu%2F",
    "&ref=https%3A%2F%2Fwww.google.com%2F",
];

/// One request as the worker sees it: URL, User-Agent, Cookie.
struct Req {
    url: String,
    ua: &'static str,
    cookie: Option<String>,
}

fn requests(n: usize) -> Vec<Req> {
    let mut rng = gen::Rng::new(7);
    (0..n)
        .map(|_| {
            let id = rng.hex(16);
            let mut url = format!(
                "https://edge.example/v1/assign?url={}{}{}&local_hour={}",
                rng.pick(&PAGES),
                rng.pick(&PERSONAS),
                rng.pick(&REFS),
                rng.below(24)
            );
            let cookie = if rng.chance(70) {
                Some(format!("edgewise_uid={id}"))
            } else {
                url.push_str(&format!("&unit={id}"));
                None
            };
            Req {
                url,
                ua: rng.pick_str(&UAS),
                cookie,
            }
        })
        .collect()
}

fn head(r: &Req) -> RequestHead<'_> {
    RequestHead {
        method: "GET",
        url: &r.url,
        user_agent: Some(r.ua),
        cookie: r.cookie.as_deref(),
        ..RequestHead::default()
    }
}

fn bench(c: &mut Criterion) {
    let cfg = Config::from_vars(|_| None);
    let reqs = requests(256);
    let mut group = c.benchmark_group("edge_assign");
    for tests in [100usize, 1000] {
        let wire = gen::snapshot(1, tests, 42).to_string();
        let (snapshot, _) = CompiledSnapshot::from_json(&wire).expect("generated snapshot");
        let now = gen::NOW_MS;
        let mut cache = RenderCache::default();
        let mut i = 0usize;
        group.bench_function(BenchmarkId::new("request", tests), |b| {
            b.iter(|| {
                i = (i + 1) % reqs.len();
                let mut mint = || "minted-id".to_owned();
                let out = assign(
                    Some(&snapshot),
                    &head(&reqs[i]),
                    &cfg,
                    now,
                    &mut mint,
                    &mut cache,
                );
                out.reply.body.len()
            })
        });
        let units: Vec<String> = (0..reqs.len()).map(|k| format!("{k:016x}")).collect();
        group.bench_function(BenchmarkId::new("engine", tests), |b| {
            b.iter(|| {
                i = (i + 1) % reqs.len();
                let v = Visitor {
                    unit_id: &units[i],
                    user_agent: Some(reqs[i].ua),
                    url: Some("https://shop.example/pricing?utm_source=newsletter"),
                    referrer: Some("https://news.ycombinator.com/"),
                    local_hour: Some(14),
                    ..Visitor::default()
                };
                snapshot.assign(&v, now).decisions.len()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
