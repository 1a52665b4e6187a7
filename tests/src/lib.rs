//! Harness for Edgewise's end-to-end tests and benchmarks.
//!
//! [`tools`] finds (and if needed builds) what the tests run: the release worker in
//! `edge/build/`, the npm tooling and the `edgewise` CLI, failing loudly when something is
//! missing; [`worker`] runs the built worker on workerd through `wrangler dev` in its own
//! process group; [`receiver`] is a tiny HTTP server standing in for the control plane's
//! ingestion endpoint; [`origin`] is a real origin site for the proxy tests, with a raw client,
//! and [`websocket`] its websocket echo and a websocket client; [`gen`] generates snapshots
//! with many tests and mixed targeting (also used by `scripts/bench-edge` through the
//! `gen-snapshot` binary); [`http`] is a small client.

pub mod control;
pub mod gen;
pub mod http;
pub mod origin;
pub mod receiver;
pub mod tools;
pub mod websocket;
pub mod worker;
