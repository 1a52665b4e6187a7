//! Dashboard sign-in sessions: an API token exchanged for a cookie. Only the cookie secret's
//! SHA-256 hash is stored; a session lives until it expires, is signed out, or its token is
//! revoked (the role is read from the token on every request, so a revocation ends it at once).

use sqlx::AnyConnection;

use super::tokens::{random_hex, sha256_hex, Role};
use super::Db;
use crate::error::AppResult;

/// A signed-in browser: who it acts as and the CSRF value its changes must repeat.
#[derive(Debug, Clone)]
pub struct Session {
    pub token_id: String,
    pub role: Role,
    pub csrf: String,
    pub expires_at: i64,
}

/// Stores a new session for `token_id`; returns the cookie secret (shown once) and the session.
pub async fn create(
    db: &Db,
    token_id: &str,
    role: Role,
    now: i64,
    ttl_ms: i64,
) -> AppResult<(String, Session)> {
    let secret = random_hex(32)?;
    let session = Session {
        token_id: token_id.to_owned(),
        role,
        csrf: random_hex(16)?,
        expires_at: now.saturating_add(ttl_ms),
    };
    let _turn = db.write_turn().await;
    let mut conn = db.writer.acquire().await?;
    // Expired sessions go as new ones arrive: the table stays as small as the live ones.
    sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
        .bind(now)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO sessions (hash, token_id, csrf, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(sha256_hex(&secret))
    .bind(&session.token_id)
    .bind(&session.csrf)
    .bind(now)
    .bind(session.expires_at)
    .execute(&mut *conn)
    .await?;
    Ok((secret, session))
}

/// The live session with this cookie secret, with its token's current role.
pub async fn check(conn: &mut AnyConnection, secret: &str, now: i64) -> AppResult<Option<Session>> {
    let row: Option<(String, String, String, i64)> = sqlx::query_as(
        "SELECT t.id, t.role, s.csrf, s.expires_at FROM sessions s \
         JOIN tokens t ON t.id = s.token_id WHERE s.hash = $1 AND s.expires_at > $2",
    )
    .bind(sha256_hex(secret))
    .bind(now)
    .fetch_optional(conn)
    .await?;
    Ok(row.and_then(|(token_id, role, csrf, expires_at)| {
        Role::parse(&role).map(|role| Session {
            token_id,
            role,
            csrf,
            expires_at,
        })
    }))
}

/// Signs a session out; true if it existed.
pub async fn delete(db: &Db, secret: &str) -> AppResult<bool> {
    let _turn = db.write_turn().await;
    let mut conn = db.writer.acquire().await?;
    let done = sqlx::query("DELETE FROM sessions WHERE hash = $1")
        .bind(sha256_hex(secret))
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() > 0)
}
