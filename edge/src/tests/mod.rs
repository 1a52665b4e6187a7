//! Unit tests, run natively and on wasm32 under wasm-bindgen-test.
