//! HTML rewriting at the edge, the pure part: what a variant does to a page, and which of
//! those changes apply to one visitor.
//!
//! A variant's content may carry `dom`, a list of element changes ([`change`]), and
//! `split_url`, another URL to show instead ([`SplitUrl`]). Both live inside the content, so
//! device and persona overrides (JSON merge patches) replace them as they replace any other
//! field. [`change::check_content`] validates them when a snapshot compiles (a bad one skips
//! the test with a warning naming the field; the control plane turns that into a 4xx);
//! [`selector`] accepts the CSS subset both lol_html and workerd's `HTMLRewriter` understand.
//! [`plan`] turns a visitor's decisions into the changes to apply and the split URL to
//! follow; the worker's proxy applies them while the page streams through.

pub mod change;
pub mod plan;
pub mod selector;

pub use change::{Action, Change, SplitMode, SplitUrl};
pub use plan::{plan, DecisionView, Plan};
