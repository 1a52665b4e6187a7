//! Edgewise's edge worker: the Cloudflare Worker browsers and websites talk to.
//!
//! A thin shell around `edgewise-shared`. The runtime-free modules do all the deciding and are
//! tested natively and under wasm-bindgen-test: [`http`] holds the request facts and the
//! [`Reply`](http::Reply) type, [`router`] maps method and path to a route, [`assign`] answers
//! `GET /v1/assign` (identity cookie, consent, decisions, exposures) and [`render`] writes its
//! body, [`events`] validates
//! beacons for `POST /v1/events`, [`admin`] checks pushed snapshots and [`stats`] reports the
//! isolate's counters, [`cache`] is the isolate's snapshot cache, [`forward`] decides what happens to queued beacons, [`cors`] and [`config`]
//! do what they say. [`proxy`] is proxy mode: the worker serves the site's pages from its
//! origin, rewritten for each visitor's variants (docs/proxy.md). The `entry` module (wasm32
//! only) is the worker's `fetch` handler; `runtime` (wasm32 only) is the glue to the runtime:
//! KV, the queue, `fetch`, the clock and randomness.
//!
//! A visitor never sees an error page: `/v1/assign` answers 200 even without a snapshot, and
//! nothing here panics (a panic would kill the isolate).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod admin;
pub mod assign;
pub mod cache;
pub mod config;
pub mod cors;
pub mod events;
pub mod forward;
pub mod http;
pub mod proxy;
pub mod render;
pub mod router;
pub mod stats;

#[cfg(target_arch = "wasm32")]
mod entry;
#[cfg(target_arch = "wasm32")]
mod runtime;

#[cfg(test)]
mod tests;
