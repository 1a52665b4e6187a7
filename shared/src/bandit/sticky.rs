//! The edge's memory of a visitor's arm in each sticky (bandit) test.
//!
//! When a bandit's weights change, the bucket ranges move, and a returning visitor would land
//! in another arm. A sticky test therefore remembers, per visitor, the arm first assigned,
//! the snapshot version that assigned it and the probability it was assigned with; the worker
//! keeps the list in a first-party cookie (consent permitting) and the visitor keeps that arm
//! while the test runs. This module is the list and its cookie text; the decision itself is
//! made in [`crate::compile::CompiledSnapshot::assign_remembering`].
//!
//! The cookie text is `TAG-VARIANT-VERSION-PPM` entries joined by `.`, all in `[0-9a-f.-]`:
//! `TAG` is eight hex digits identifying the test (a hash of its key: keys may hold characters
//! a cookie cannot), `VARIANT` the arm's index, `VERSION` the snapshot version, `PPM` the
//! propensity in millionths. Malformed entries are skipped, never an error.

use crate::hash::hash;

/// How many tests one visitor's list remembers; the oldest entries go first.
pub const MAX_REMEMBERED: usize = 20;

/// One remembered assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Remembered {
    pub tag: u32,
    pub variant: u8,
    pub version: u64,
    /// The probability the arm was assigned with, in millionths.
    pub propensity_ppm: u32,
}

impl Remembered {
    pub fn propensity(&self) -> f64 {
        f64::from(self.propensity_ppm) / 1e6
    }
}

/// The tag of a test key: its MurmurHash3 under a fixed seed id.
pub fn tag(test_key: &str) -> u32 {
    hash(test_key, "edgewise-sticky")
}

/// The remembered entries in a cookie's text (at most [`MAX_REMEMBERED`]).
pub fn parse(text: &str) -> Vec<Remembered> {
    text.split('.')
        .filter_map(|entry| {
            let mut parts = entry.split('-');
            let tag = u32::from_str_radix(parts.next()?, 16).ok()?;
            let variant = parts.next()?.parse().ok()?;
            let version = parts.next()?.parse().ok()?;
            let propensity_ppm = parts.next()?.parse().ok().filter(|p| *p <= 1_000_000)?;
            parts.next().is_none().then_some(Remembered {
                tag,
                variant,
                version,
                propensity_ppm,
            })
        })
        .take(MAX_REMEMBERED)
        .collect()
}

/// The cookie text of `entries`.
pub fn render(entries: &[Remembered]) -> String {
    entries
        .iter()
        .map(|r| {
            format!(
                "{:08x}-{}-{}-{}",
                r.tag, r.variant, r.version, r.propensity_ppm
            )
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// The list to store after a visit: `previous` with this visit's assignments in `fresh`
/// (one per sticky test decided now) replacing entries of the same tests and going last;
/// the oldest beyond [`MAX_REMEMBERED`] are dropped.
pub fn merge(previous: &[Remembered], fresh: &[Remembered]) -> Vec<Remembered> {
    let mut out: Vec<Remembered> = previous
        .iter()
        .filter(|p| !fresh.iter().any(|f| f.tag == p.tag))
        .copied()
        .collect();
    out.extend_from_slice(fresh);
    let excess = out.len().saturating_sub(MAX_REMEMBERED);
    out.drain(..excess);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(tag: u32, variant: u8) -> Remembered {
        Remembered {
            tag,
            variant,
            version: 7,
            propensity_ppm: 250_000,
        }
    }

    #[test]
    fn round_trips_and_skips_what_it_cannot_read() {
        let entries = vec![r(0xdead_beef, 1), r(3, 0)];
        let text = render(&entries);
        assert_eq!(text, "deadbeef-1-7-250000.00000003-0-7-250000");
        assert_eq!(parse(&text), entries);
        assert_eq!(
            parse("zz-1-2-3.00000003-0-7-250000.1-2-3.1-2-3-4-5.1-2-3-2000000.1-300-3-4"),
            vec![r(3, 0)]
        );
        assert!(parse("").is_empty());
    }

    #[test]
    fn merging_replaces_a_tests_entry_and_keeps_the_newest() {
        let merged = merge(&[r(1, 0), r(2, 1)], &[r(1, 2)]);
        assert_eq!(merged, vec![r(2, 1), r(1, 2)]);
        let many: Vec<Remembered> = (0..MAX_REMEMBERED as u32).map(|t| r(t, 0)).collect();
        let merged = merge(&many, &[r(99, 1)]);
        assert_eq!(merged.len(), MAX_REMEMBERED);
        assert_eq!(merged[0].tag, 1);
        assert_eq!(merged.last(), Some(&r(99, 1)));
    }
}
