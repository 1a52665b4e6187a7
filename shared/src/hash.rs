//! Bucketing hash, version 1: Optimizely's published scheme.
//!
//! MurmurHash3 x86 32-bit, seed 1, over the UTF-8 bytes of the bucketing id immediately followed
//! by the test's `hash_id` (no separator); `bucket = floor(hash × 10000 / 2³²)`. A team migrating
//! from Optimizely keeps every visitor's bucket by reusing its experiment ids as `hash_id`s.
//! A different algorithm would be a new `hash_version`, never an edit of this one: golden vectors
//! in `shared/tests/vectors/buckets.json` pin it, and a property test checks this implementation
//! against the `murmur3` crate.
//!
//! The id comes first, so [`UnitHasher`] mixes its whole 4-byte blocks once per visitor and
//! each test's hash only mixes the rest: with a 16-byte id and an 8-byte key, a third of the
//! work.

use crate::BUCKETS;

/// The only hash version this build understands.
pub const HASH_VERSION: u32 = 1;

const SEED: u32 = 1;
const C1: u32 = 0xcc9e_2d51;
const C2: u32 = 0x1b87_3593;

fn mix_block(h: u32, block: [u8; 4]) -> u32 {
    let k = u32::from_le_bytes(block)
        .wrapping_mul(C1)
        .rotate_left(15)
        .wrapping_mul(C2);
    (h ^ k)
        .rotate_left(13)
        .wrapping_mul(5)
        .wrapping_add(0xe654_6b64)
}

/// Mixes the whole blocks of `data` into `h`; returns the state and the 0–3 bytes left over.
fn mix_blocks(mut h: u32, data: &[u8]) -> (u32, &[u8]) {
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        h = mix_block(h, [c[0], c[1], c[2], c[3]]);
    }
    (h, chunks.remainder())
}

/// The tail (0–3 bytes), the length and the final avalanche.
fn finish(mut h: u32, tail: &[u8], len: usize) -> u32 {
    if !tail.is_empty() {
        let mut block = [0u8; 4];
        block[..tail.len()].copy_from_slice(tail);
        let k = u32::from_le_bytes(block)
            .wrapping_mul(C1)
            .rotate_left(15)
            .wrapping_mul(C2);
        h ^= k;
    }
    // The reference hashes the length modulo 2^32.
    h ^= len as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// MurmurHash3 state after one visitor's bucketing id, for hashing it with many `hash_id`s.
#[derive(Debug, Clone, Copy)]
pub struct UnitHasher {
    h: u32,
    /// The id's bytes after its last whole block.
    rest: [u8; 3],
    rest_len: usize,
    len: usize,
}

impl UnitHasher {
    pub fn new(unit_id: &str) -> UnitHasher {
        let (h, tail) = mix_blocks(SEED, unit_id.as_bytes());
        let mut rest = [0u8; 3];
        rest[..tail.len()].copy_from_slice(tail);
        UnitHasher {
            h,
            rest,
            rest_len: tail.len(),
            len: unit_id.len(),
        }
    }

    /// MurmurHash3 x86_32 (seed 1) of the id followed by `hash_id`.
    pub fn hash(&self, hash_id: &str) -> u32 {
        let b = hash_id.as_bytes();
        let len = self.len + b.len();
        if self.rest_len == 0 {
            let (h, tail) = mix_blocks(self.h, b);
            return finish(h, tail, len);
        }
        // Complete the id's partial block with the first bytes of `hash_id`.
        let need = 4 - self.rest_len;
        if b.len() < need {
            let mut tail = [0u8; 3];
            tail[..self.rest_len].copy_from_slice(&self.rest[..self.rest_len]);
            tail[self.rest_len..self.rest_len + b.len()].copy_from_slice(b);
            return finish(self.h, &tail[..self.rest_len + b.len()], len);
        }
        let mut block = [0u8; 4];
        block[..self.rest_len].copy_from_slice(&self.rest[..self.rest_len]);
        block[self.rest_len..].copy_from_slice(&b[..need]);
        let (h, tail) = mix_blocks(mix_block(self.h, block), &b[need..]);
        finish(h, tail, len)
    }

    /// The id's bucket in `0..10000` for a hash space named `hash_id`.
    pub fn bucket(&self, hash_id: &str) -> u32 {
        bucket_of_hash(self.hash(hash_id))
    }
}

/// MurmurHash3 x86_32 (seed 1) of `unit_id` followed by `hash_id`.
pub fn hash(unit_id: &str, hash_id: &str) -> u32 {
    UnitHasher::new(unit_id).hash(hash_id)
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

    #[cfg(not(target_arch = "wasm32"))]
    mod against_the_murmur3_crate {
        use super::super::*;
        use proptest::prelude::*;

        fn reference(unit_id: &str, hash_id: &str) -> u32 {
            let bytes = [unit_id.as_bytes(), hash_id.as_bytes()].concat();
            murmur3::murmur3_32(&mut bytes.as_slice(), SEED).unwrap()
        }

        #[test]
        fn every_split_of_short_inputs() {
            // Every id length 0..=9 against every key length 0..=9 covers each way the id's
            // partial block can meet the key.
            let text = "héllo-wörld-0123";
            for i in 0..=9 {
                for j in 0..=9 {
                    let (a, b) = (&text.as_bytes()[..i], &text.as_bytes()[3..3 + j]);
                    let (Ok(a), Ok(b)) = (std::str::from_utf8(a), std::str::from_utf8(b)) else {
                        continue;
                    };
                    assert_eq!(hash(a, b), reference(a, b), "{a:?} + {b:?}");
                }
            }
        }

        proptest! {
            #[test]
            fn equals_the_crate(unit_id in ".{0,40}", hash_ids in prop::collection::vec(".{0,40}", 1..5)) {
                let hasher = UnitHasher::new(&unit_id);
                for hash_id in &hash_ids {
                    prop_assert_eq!(hasher.hash(hash_id), reference(&unit_id, hash_id));
                }
            }
        }
    }
}
