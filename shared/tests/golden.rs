//! Golden bucketing vectors from an independent MurmurHash3 (PyPI `mmh3`, see
//! `scripts/bucket_vectors.py`). Runs natively and on wasm32 under wasm-bindgen-test.

use edgewise_shared::hash::{bucket, hash};
use serde::Deserialize;

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

#[derive(Deserialize)]
struct File {
    vectors: Vec<Vector>,
}

#[derive(Deserialize)]
struct Vector {
    unit_id: String,
    hash_id: String,
    hash: u32,
    bucket: u32,
}

fn vectors() -> Vec<Vector> {
    let file: File = serde_json::from_str(include_str!("vectors/buckets.json")).unwrap();
    file.vectors
}

#[test]
fn hashes_match_the_reference_implementation() {
    let vectors = vectors();
    assert!(vectors.len() >= 50);
    assert!(
        vectors.iter().any(|v| !v.unit_id.is_ascii()),
        "needs non-ASCII ids"
    );
    for v in &vectors {
        assert_eq!(
            hash(&v.unit_id, &v.hash_id),
            v.hash,
            "{:?} + {:?}",
            v.unit_id,
            v.hash_id
        );
    }
}

#[test]
fn buckets_match_the_reference_implementation() {
    for v in &vectors() {
        assert_eq!(
            bucket(&v.unit_id, &v.hash_id),
            v.bucket,
            "{:?} + {:?}",
            v.unit_id,
            v.hash_id
        );
    }
}
