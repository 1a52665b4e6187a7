//! The audit log: an append-only, hash-chained record of every admin mutation.
//!
//! Each entry's hash is SHA-256 over the previous entry's hash and the entry's own fields as
//! stored, so editing, removing or reordering any entry breaks every hash after it; [`verify`]
//! recomputes the chain. Appends happen inside a [`super::Mutation`], which already holds the
//! lock that makes sequence numbers contiguous.

use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, FromRow};

use crate::error::AppResult;

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug)]
pub struct Entry<'a> {
    pub seq: i64,
    pub at: i64,
    pub actor: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub before: Option<&'a serde_json::Value>,
    pub after: Option<&'a serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct Stored {
    pub seq: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

/// The chain hash of one entry, from its stored text.
#[allow(clippy::too_many_arguments)]
fn chain_hash(
    prev: &str,
    seq: i64,
    at: i64,
    actor: &str,
    action: &str,
    target: &str,
    before: Option<&str>,
    after: Option<&str>,
) -> String {
    // JSON-encoding the fields as an array makes the byte string unambiguous.
    let canonical = serde_json::json!([prev, seq, at, actor, action, target, before, after]);
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

pub async fn append(conn: &mut AnyConnection, e: Entry<'_>) -> AppResult<()> {
    let prev: Option<String> = sqlx::query_scalar("SELECT hash FROM audit WHERE seq = $1")
        .bind(e.seq - 1)
        .fetch_optional(&mut *conn)
        .await?;
    let prev = prev.unwrap_or_else(|| GENESIS.to_owned());
    let before = e.before.map(|v| v.to_string());
    let after = e.after.map(|v| v.to_string());
    let hash = chain_hash(
        &prev,
        e.seq,
        e.at,
        e.actor,
        e.action,
        e.target,
        before.as_deref(),
        after.as_deref(),
    );
    sqlx::query(
        "INSERT INTO audit (seq, at, actor, action, target, before, after, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(e.seq)
    .bind(e.at)
    .bind(e.actor)
    .bind(e.action)
    .bind(e.target)
    .bind(before)
    .bind(after)
    .bind(prev)
    .bind(hash)
    .execute(conn)
    .await?;
    Ok(())
}

const COLS: &str = "seq, at, actor, action, target, before, after, prev_hash, hash";

/// Entries after `after_seq`, oldest first.
pub async fn list(conn: &mut AnyConnection, after_seq: i64, limit: i64) -> AppResult<Vec<Stored>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLS} FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2"
    ))
    .bind(after_seq)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

/// The newest entry's sequence number (0 for an empty log): where a reader of what changed
/// starts ([`crate::hub`]).
pub async fn last_seq(conn: &mut AnyConnection) -> AppResult<i64> {
    Ok(
        sqlx::query_scalar("SELECT CAST(COALESCE(MAX(seq), 0) AS BIGINT) FROM audit")
            .fetch_one(conn)
            .await?,
    )
}

/// The result of checking the whole chain.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub entries: i64,
    pub ok: bool,
    /// The first entry whose hash, link or sequence number is wrong.
    pub first_bad_seq: Option<i64>,
    pub problem: Option<String>,
}

/// Recomputes every hash, page by page.
pub async fn verify(conn: &mut AnyConnection) -> AppResult<Verdict> {
    let mut prev = GENESIS.to_owned();
    let mut expected_seq = 1;
    let mut count = 0;
    loop {
        let page = list(conn, expected_seq - 1, 1000).await?;
        if page.is_empty() {
            break;
        }
        for s in page {
            count += 1;
            let bad = |problem: &str| Verdict {
                entries: count,
                ok: false,
                first_bad_seq: Some(s.seq),
                problem: Some(problem.to_owned()),
            };
            if s.seq != expected_seq {
                return Ok(bad("sequence gap (an entry was removed)"));
            }
            if s.prev_hash != prev {
                return Ok(bad("prev_hash does not match the previous entry"));
            }
            let h = chain_hash(
                &prev,
                s.seq,
                s.at,
                &s.actor,
                &s.action,
                &s.target,
                s.before.as_deref(),
                s.after.as_deref(),
            );
            if h != s.hash {
                return Ok(bad("hash does not match the entry's content"));
            }
            prev = s.hash;
            expected_seq += 1;
        }
    }
    // The counter is bumped in the same transaction as every append, so a shorter chain
    // means entries were cut off the end.
    let counter: i64 = sqlx::query_scalar("SELECT value FROM counters WHERE name = 'audit'")
        .fetch_one(conn)
        .await?;
    if counter != expected_seq - 1 {
        return Ok(Verdict {
            entries: count,
            ok: false,
            first_bad_seq: Some(expected_seq),
            problem: Some(format!(
                "the log ends at {} but {} entries were written",
                expected_seq - 1,
                counter
            )),
        });
    }
    Ok(Verdict {
        entries: count,
        ok: true,
        first_bad_seq: None,
        problem: None,
    })
}
