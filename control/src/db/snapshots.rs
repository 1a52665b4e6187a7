//! Snapshot versions and their publish state.
//!
//! [`refresh`] runs at the end of every admin mutation: it rebuilds the snapshot from the tables
//! and stores a new version only if the content differs from the latest, so versions mean
//! "assignment changed" and never repeat content by accident. The version counter is bumped
//! in the same transaction, under the mutation lock, so it is monotonic across replicas.
//!
//! What is stored is [`publishable`]: an item the edge would skip (a definition an older
//! database holds that this build's limits refuse) is left out, and reported once, when it
//! leaves the published snapshot, so the caller can audit it.

use serde::Serialize;
use sqlx::{AnyConnection, FromRow};

use crate::error::{AppError, AppResult};
use crate::model::{build_snapshot, publishable, Problems};
use edgewise_shared::{Snapshot, Warning};

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct SnapshotMeta {
    pub version: i64,
    pub created_at: i64,
    pub created_by: String,
    pub reason: String,
}

/// A stored version, and the items it left out that the version before it still served.
#[derive(Debug)]
pub struct Published {
    pub version: i64,
    pub newly_skipped: Vec<Warning>,
}

/// The latest stored snapshot, parsed; `None` if there is none or this build cannot read it.
async fn latest_parsed(conn: &mut AnyConnection) -> AppResult<Option<Snapshot>> {
    Ok(latest(conn)
        .await?
        .and_then(|(_, body)| serde_json::from_str(&body).ok()))
}

/// Stores a new version if the tables now describe a different snapshot.
pub async fn refresh(
    conn: &mut AnyConnection,
    now: i64,
    actor: &str,
    reason: &str,
) -> AppResult<Option<Published>> {
    let tests = super::tests::list(conn, None).await?;
    let settings = super::settings::load(conn).await?;
    let built = build_snapshot(0, &tests, &settings);
    let (fresh, skipped) = checked(&built)?;
    let previous = latest_parsed(conn).await?;
    match &previous {
        Some(old) => {
            let mut old = old.clone();
            old.snapshot_version = 0;
            old.generated_at = None;
            if old == fresh {
                return Ok(None);
            }
        }
        None if latest_version(conn).await?.is_none()
            && fresh.tests.is_empty()
            && settings == Default::default() =>
        {
            return Ok(None)
        }
        None => {}
    }
    let version = insert(conn, fresh, now, actor, reason).await?;
    Ok(Some(Published {
        version,
        newly_skipped: newly_skipped(&built, skipped, previous.as_ref()),
    }))
}

/// Stores `snap` (less what the edge would skip) as the next version, whatever the latest.
pub async fn publish(
    conn: &mut AnyConnection,
    snap: Snapshot,
    now: i64,
    actor: &str,
    reason: &str,
) -> AppResult<Published> {
    let (clean, skipped) = checked(&snap)?;
    let previous = latest_parsed(conn).await?;
    let version = insert(conn, clean, now, actor, reason).await?;
    Ok(Published {
        version,
        newly_skipped: newly_skipped(&snap, skipped, previous.as_ref()),
    })
}

/// [`publishable`], a snapshot-wide refusal (too large) as the change's error.
fn checked(snap: &Snapshot) -> AppResult<(Snapshot, Vec<Warning>)> {
    publishable(snap).map_err(Problems::refusal)
}

/// The keys (origins: the values) of one of the snapshot's lists, as warnings name them.
fn names<'s>(snap: &'s Snapshot, list: &str) -> Vec<&'s str> {
    match list {
        "tests" => snap.tests.iter().map(|t| t.key.as_str()).collect(),
        "layers" => snap.layers.iter().map(|l| l.key.as_str()).collect(),
        "personas" => snap.personas.iter().map(|p| p.key.as_str()).collect(),
        "allowed_origins" => snap.allowed_origins.iter().map(String::as_str).collect(),
        _ => Vec::new(),
    }
}

/// The skipped items of `built` that `previous` served (all of them if it is unreadable):
/// each is reported once, when it leaves the published snapshot.
fn newly_skipped(
    built: &Snapshot,
    skipped: Vec<Warning>,
    previous: Option<&Snapshot>,
) -> Vec<Warning> {
    let Some(prev) = previous else {
        return skipped;
    };
    skipped
        .into_iter()
        .filter(|w| match w.item() {
            Some((list, i)) => names(built, list)
                .get(i)
                .is_some_and(|name| names(prev, list).contains(name)),
            None => true,
        })
        .collect()
}

/// Stores `snap` as the next version.
async fn insert(
    conn: &mut AnyConnection,
    mut snap: Snapshot,
    now: i64,
    actor: &str,
    reason: &str,
) -> AppResult<i64> {
    let version: i64 = sqlx::query_scalar(
        "UPDATE counters SET value = value + 1 WHERE name = 'snapshot' RETURNING value",
    )
    .fetch_one(&mut *conn)
    .await?;
    snap.snapshot_version = u64::try_from(version).map_err(anyhow::Error::from)?;
    snap.generated_at = Some(edgewise_shared::timestamp::format_rfc3339_ms(now));
    sqlx::query(
        "INSERT INTO snapshots (version, body, created_at, created_by, reason) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(version)
    .bind(serde_json::to_string(&snap)?)
    .bind(now)
    .bind(actor)
    .bind(reason)
    .execute(conn)
    .await?;
    Ok(version)
}

/// The latest version and its JSON body.
pub async fn latest(conn: &mut AnyConnection) -> AppResult<Option<(i64, String)>> {
    Ok(
        sqlx::query_as("SELECT version, body FROM snapshots ORDER BY version DESC LIMIT 1")
            .fetch_optional(conn)
            .await?,
    )
}

pub async fn latest_version(conn: &mut AnyConnection) -> AppResult<Option<i64>> {
    Ok(sqlx::query_scalar("SELECT MAX(version) FROM snapshots")
        .fetch_one(conn)
        .await?)
}

pub async fn get(conn: &mut AnyConnection, version: i64) -> AppResult<String> {
    sqlx::query_scalar("SELECT body FROM snapshots WHERE version = $1")
        .bind(version)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("snapshot version {version}")))
}

pub async fn list(conn: &mut AnyConnection, limit: i64) -> AppResult<Vec<SnapshotMeta>> {
    Ok(sqlx::query_as(
        "SELECT version, created_at, created_by, reason FROM snapshots \
         ORDER BY version DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

/// Publish state of one edge target.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct PublishState {
    pub target: String,
    pub version: i64,
    pub state: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub updated_at: i64,
}

pub async fn publish_states(conn: &mut AnyConnection) -> AppResult<Vec<PublishState>> {
    Ok(sqlx::query_as(
        "SELECT target, version, state, attempts, last_error, updated_at \
         FROM publish_state ORDER BY target",
    )
    .fetch_all(conn)
    .await?)
}

pub async fn set_publish_state(conn: &mut AnyConnection, s: &PublishState) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO publish_state (target, version, state, attempts, last_error, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (target) DO UPDATE SET \
         version = excluded.version, state = excluded.state, attempts = excluded.attempts, \
         last_error = excluded.last_error, updated_at = excluded.updated_at",
    )
    .bind(&s.target)
    .bind(s.version)
    .bind(&s.state)
    .bind(s.attempts)
    .bind(s.last_error.as_deref())
    .bind(s.updated_at)
    .execute(conn)
    .await?;
    Ok(())
}
