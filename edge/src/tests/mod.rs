//! Unit tests of the runtime-free modules, run natively (`cargo test -p edgewise-edge`) and on
//! wasm32 in Node (`wasm-bindgen-test-runner`): on wasm32 `#[test]` is wasm-bindgen-test's
//! attribute, so the same tests check the same code in both builds.

mod admin_tests;
mod assign_tests;
mod events_tests;
mod misc_tests;
mod render_tests;

use edgewise_shared::CompiledSnapshot;

use crate::config::Config;
use crate::http::RequestHead;

pub const EXAMPLE: &str = include_str!("../../../docs/example-snapshot.json");

pub fn example() -> CompiledSnapshot {
    CompiledSnapshot::from_json(EXAMPLE)
        .map(|(s, _)| s)
        .unwrap_or_else(|e| panic!("example snapshot: {e}"))
}

pub fn cfg() -> Config {
    Config::from_vars(|_| None)
}

pub fn test_cfg() -> Config {
    Config::from_vars(|k| (k == "EDGEWISE_TEST_MODE").then(|| "1".to_owned()))
}

pub const DESKTOP: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36";
pub const IPHONE: &str =
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148";
pub const GOOGLEBOT: &str =
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

/// A GET of `url` from a desktop browser.
pub fn get(url: &str) -> RequestHead<'_> {
    RequestHead {
        method: "GET",
        url,
        user_agent: Some(DESKTOP),
        ..RequestHead::default()
    }
}

/// A minter handing out `id-1`, `id-2`, …
pub fn minter() -> impl FnMut() -> String {
    let mut n = 0;
    move || {
        n += 1;
        format!("id-{n}")
    }
}

pub fn body(reply: &crate::http::Reply) -> serde_json::Value {
    serde_json::from_str(&reply.body).unwrap_or_else(|e| panic!("{e}: {}", reply.body))
}
