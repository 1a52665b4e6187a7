//! Bucketing hash, version 1: Optimizely's published scheme.
//!
//! MurmurHash3 x86 32-bit, seed 1, over the UTF-8 bytes of the bucketing id immediately followed
//! by the test's `hash_id` (no separator); `bucket = floor(hash × 10000 / 2³²)`. A team migrating
//! from Optimizely keeps every visitor's bucket by reusing its experiment ids as `hash_id`s.
//! A different algorithm would be a new `hash_version`, never an edit of this one: golden vectors
//! in `shared/tests/vectors/buckets.json` pin it.

use std::io::Read;

use crate::BUCKETS;

/// The only hash version this build understands.
pub const HASH_VERSION: u32 = 1;

const SEED: u32 = 1;

/// MurmurHash3 x86_32 (seed 1) of `unit_id` followed by `hash_id`.
pub fn hash(unit_id: &str, hash_id: &str) -> u32 {
    let (a, b) = (unit_id.as_bytes(), hash_id.as_bytes());
    let len = a.len() + b.len();
    // One contiguous slice reads fastest; typical ids fit on the stack.
    let mut stack = [0u8; 256];
    let result = if len <= stack.len() {
        stack[..a.len()].copy_from_slice(a);
        stack[a.len()..len].copy_from_slice(b);
        murmur3::murmur3_32(&mut &stack[..len], SEED)
    } else {
        murmur3::murmur3_32(&mut a.chain(b), SEED)
    };
    // Reading from memory cannot fail; 0 keeps this total without a panic path.
    result.unwrap_or(0)
}

/// Maps a 32-bit hash onto `0..BUCKETS`.
pub fn bucket_of_hash(hash: u32) -> u32 {
    // hash < 2^32, so the product fits in u64 and the shift is the exact floor.
    ((u64::from(hash) * u64::from(BUCKETS)) >> 32) as u32
}

/// The visitor's bucket in `0..10000` for a hash space named `hash_id`.
pub fn bucket(unit_id: &str, hash_id: &str) -> u32 {
    bucket_of_hash(hash(unit_id, hash_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_stays_in_range_at_the_extremes() {
        assert_eq!(bucket_of_hash(0), 0);
        assert_eq!(bucket_of_hash(u32::MAX), BUCKETS - 1);
    }

    #[test]
    fn concatenation_has_no_separator() {
        assert_eq!(hash("ab", "c"), hash("a", "bc"));
        assert_ne!(hash("ab", "c"), hash("ab", "d"));
    }
}
