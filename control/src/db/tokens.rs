//! API tokens (with a role) and per-site ingestion keys. Only SHA-256 hashes are stored; the
//! plain token is shown once, when created.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::AnyConnection;

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

fn random_hex(bytes: usize) -> anyhow::Result<String> {
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
