//! API tokens (with a role) and per-site ingestion keys. Only SHA-256 hashes are stored; the
//! plain token is shown once, when created.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, FromRow};

use crate::error::AppResult;

/// Roles, each including the powers of the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Editor,
    Approver,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Approver => "approver",
            Role::Admin => "admin",
        }
    }
    pub fn parse(s: &str) -> Option<Role> {
        [Role::Viewer, Role::Editor, Role::Approver, Role::Admin]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

pub fn random_hex(bytes: usize) -> anyhow::Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(hex::encode(buf))
}

/// A newly created credential: `id` is public (audit logs name it), `secret` is shown once.
#[derive(Debug)]
pub struct Created {
    pub id: String,
    pub secret: String,
}

pub async fn create_token(
    conn: &mut AnyConnection,
    role: Role,
    name: &str,
    now: i64,
) -> AppResult<Created> {
    let id = format!("tok_{}", random_hex(6)?);
    let secret = format!("ew_{}", random_hex(32)?);
    sqlx::query(
        "INSERT INTO tokens (hash, id, role, name, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(sha256_hex(&secret))
    .bind(&id)
    .bind(role.as_str())
    .bind(name)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(Created { id, secret })
}

/// The token's id and role, if the secret is valid.
pub async fn check_token(
    conn: &mut AnyConnection,
    secret: &str,
) -> AppResult<Option<(String, Role)>> {
    let row: Option<(String, String)> =
        sqlx::query_as("SELECT id, role FROM tokens WHERE hash = $1")
            .bind(sha256_hex(secret))
            .fetch_optional(conn)
            .await?;
    Ok(row.and_then(|(id, role)| Role::parse(&role).map(|r| (id, r))))
}

pub async fn create_ingest_key(
    conn: &mut AnyConnection,
    site: &str,
    now: i64,
) -> AppResult<Created> {
    let id = format!("key_{}", random_hex(6)?);
    let secret = format!("ewi_{}", random_hex(32)?);
    sqlx::query("INSERT INTO ingest_keys (hash, id, site, created_at) VALUES ($1, $2, $3, $4)")
        .bind(sha256_hex(&secret))
        .bind(&id)
        .bind(site)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(Created { id, secret })
}

/// The site an ingestion key belongs to, if valid.
pub async fn check_ingest_key(conn: &mut AnyConnection, secret: &str) -> AppResult<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT site FROM ingest_keys WHERE hash = $1")
            .bind(sha256_hex(secret))
            .fetch_optional(conn)
            .await?,
    )
}

/// An API token as listings show it: never the secret or its hash.
#[derive(Debug, Clone, PartialEq, Serialize, FromRow)]
pub struct TokenInfo {
    pub id: String,
    pub role: String,
    pub name: String,
    pub created_at: i64,
}

/// An ingestion key as listings show it.
#[derive(Debug, Clone, PartialEq, Serialize, FromRow)]
pub struct IngestKeyInfo {
    pub id: String,
    pub site: String,
    pub created_at: i64,
}

pub async fn list_tokens(conn: &mut AnyConnection) -> AppResult<Vec<TokenInfo>> {
    Ok(
        sqlx::query_as("SELECT id, role, name, created_at FROM tokens ORDER BY created_at, id")
            .fetch_all(conn)
            .await?,
    )
}

pub async fn list_ingest_keys(conn: &mut AnyConnection) -> AppResult<Vec<IngestKeyInfo>> {
    Ok(
        sqlx::query_as("SELECT id, site, created_at FROM ingest_keys ORDER BY created_at, id")
            .fetch_all(conn)
            .await?,
    )
}

/// Deletes a token; what it was, or `None` if there is no such id.
pub async fn revoke_token(conn: &mut AnyConnection, id: &str) -> AppResult<Option<TokenInfo>> {
    Ok(
        sqlx::query_as("DELETE FROM tokens WHERE id = $1 RETURNING id, role, name, created_at")
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

/// Deletes an ingestion key; what it was, or `None` if there is no such id.
pub async fn revoke_ingest_key(
    conn: &mut AnyConnection,
    id: &str,
) -> AppResult<Option<IngestKeyInfo>> {
    Ok(
        sqlx::query_as("DELETE FROM ingest_keys WHERE id = $1 RETURNING id, site, created_at")
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

/// What [`revoke`] revokes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    Token,
    IngestKey,
}

/// Revokes an API token or an ingestion key, as one audited mutation (`token.revoke`,
/// `ingest_key.revoke`); returns what it was. 404 if there is no such id. The mutation moves
/// the audit counter, which is what makes every server drop its cached ingestion keys.
pub async fn revoke(
    db: &super::Db,
    actor: &super::Actor,
    kind: Credential,
    id: &str,
) -> AppResult<serde_json::Value> {
    let mut m = super::Mutation::begin(db).await?;
    let (action, what, before) = match kind {
        Credential::Token => (
            "token.revoke",
            "token",
            revoke_token(&mut m.tx, id)
                .await?
                .map(serde_json::to_value)
                .transpose()?,
        ),
        Credential::IngestKey => (
            "ingest_key.revoke",
            "ingestion key",
            revoke_ingest_key(&mut m.tx, id)
                .await?
                .map(serde_json::to_value)
                .transpose()?,
        ),
    };
    let Some(before) = before else {
        return Err(crate::error::AppError::NotFound(format!("{what} `{id}`")));
    };
    m.finish(actor, action, id, Some(&before), None).await?;
    Ok(before)
}
