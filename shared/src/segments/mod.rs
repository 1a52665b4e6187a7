//! Results by segment. [`differential`]: which segments of a test respond differently from the
//! rest of it (heterogeneous treatment effects), each segment's lift tested against the lift of
//! every other unit, with Benjamini–Hochberg over all segments of the test.

mod differential;

pub use differential::{flag, impacts, Impact, Segment, FLAG_Q};
