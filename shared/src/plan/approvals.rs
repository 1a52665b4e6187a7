//! Four eyes: whether a test has the approvals its risk score calls for
//! ([`super::risk::approvals_needed`]). An entry counts only for the definition it concerned
//! (its hash): a change withdraws every approval. Approvals count once per person and never
//! from an author (whoever created or changed the test); a rejection of the current
//! definition blocks the start until the test changes.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Reject,
}

/// One recorded approval or rejection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub actor: String,
    pub decision: Decision,
    pub comment: String,
    pub spec_hash: String,
    pub at: i64,
}

/// Where a test stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    pub needed: u32,
    /// Distinct non-authors who approved the current definition.
    pub approved_by: Vec<String>,
    /// Who rejected the current definition, and why.
    pub rejected_by: Vec<(String, String)>,
    /// Whether the test may start.
    pub satisfied: bool,
}

pub fn status(needed: u32, entries: &[Entry], current: &str, authors: &[String]) -> Status {
    let mut approved_by: Vec<String> = Vec::new();
    let mut rejected_by = Vec::new();
    for e in entries.iter().filter(|e| e.spec_hash == current) {
        match e.decision {
            Decision::Approve => {
                if !authors.contains(&e.actor) && !approved_by.contains(&e.actor) {
                    approved_by.push(e.actor.clone());
                }
            }
            Decision::Reject => rejected_by.push((e.actor.clone(), e.comment.clone())),
        }
    }
    let satisfied = rejected_by.is_empty() && approved_by.len() as u32 >= needed;
    Status {
        needed,
        approved_by,
        rejected_by,
        satisfied,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(actor: &str, decision: Decision, hash: &str) -> Entry {
        Entry {
            actor: actor.into(),
            decision,
            comment: String::new(),
            spec_hash: hash.into(),
            at: 0,
        }
    }

    #[test]
    fn approvals_count_once_per_person_never_from_an_author_and_only_for_the_definition() {
        let authors = vec!["ann".to_owned()];
        let entries = [
            e("ann", Decision::Approve, "h1"),
            e("bob", Decision::Approve, "h1"),
            e("bob", Decision::Approve, "h1"),
            e("cid", Decision::Approve, "h0"),
        ];
        let s = status(2, &entries, "h1", &authors);
        assert_eq!(s.approved_by, ["bob"]);
        assert!(!s.satisfied);
        assert!(status(1, &entries, "h1", &authors).satisfied);
        // The definition changed: every approval is withdrawn.
        assert!(!status(1, &entries, "h2", &authors).satisfied);
        assert!(status(0, &entries, "h2", &authors).satisfied);
        // A rejection of the current definition blocks.
        let rejected = [
            e("bob", Decision::Approve, "h1"),
            e("dan", Decision::Reject, "h1"),
        ];
        assert!(!status(1, &rejected, "h1", &authors).satisfied);
    }
}
