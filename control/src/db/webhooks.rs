//! Webhooks, their durable outbox and the delivery log. An alert becomes one outbox row per
//! webhook whose filter takes its kind, in the transaction that stores the alert; the delivery
//! job ([`crate::jobs::webhooks`]) sends due rows and records every attempt here, so a delivery
//! survives a restart and is made once it has been acknowledged.

use serde::Serialize;
use sqlx::{AnyConnection, FromRow};

use crate::error::AppResult;

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct Webhook {
    pub id: String,
    pub url: String,
    /// Alert kinds delivered, JSON array; empty delivers every kind.
    #[serde(skip)]
    pub events: String,
    pub created_at: i64,
}

impl Webhook {
    pub fn kinds(&self) -> Vec<String> {
        serde_json::from_str(&self.events).unwrap_or_default()
    }
}

/// Its JSON form: the event filter as a list, never the secret.
#[derive(Debug, Serialize)]
pub struct WebhookInfo {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    pub created_at: i64,
}

impl From<Webhook> for WebhookInfo {
    fn from(w: Webhook) -> Self {
        WebhookInfo {
            events: w.kinds(),
            id: w.id,
            url: w.url,
            created_at: w.created_at,
        }
    }
}

pub async fn create(
    conn: &mut AnyConnection,
    id: &str,
    url: &str,
    secret: &str,
    events: &[String],
    at: i64,
) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO webhooks (id, url, secret, events, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(url)
    .bind(secret)
    .bind(serde_json::to_string(events)?)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn list(conn: &mut AnyConnection) -> AppResult<Vec<Webhook>> {
    Ok(
        sqlx::query_as("SELECT id, url, events, created_at FROM webhooks ORDER BY id")
            .fetch_all(conn)
            .await?,
    )
}

pub async fn get(conn: &mut AnyConnection, id: &str) -> AppResult<Option<Webhook>> {
    Ok(
        sqlx::query_as("SELECT id, url, events, created_at FROM webhooks WHERE id = $1")
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

/// Deletes a webhook and its pending deliveries; its log stays. False if it did not exist.
pub async fn delete(conn: &mut AnyConnection, id: &str) -> AppResult<bool> {
    let done = sqlx::query("DELETE FROM webhooks WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM webhook_outbox WHERE webhook = $1 AND state = 'pending'")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Queues `payload` (the alert's JSON) for every webhook that takes `kind`.
pub async fn enqueue(
    conn: &mut AnyConnection,
    alert: i64,
    kind: &str,
    payload: &str,
    now: i64,
) -> AppResult<()> {
    for w in list(conn).await? {
        let kinds = w.kinds();
        if kinds.is_empty() || kinds.iter().any(|k| k == kind) {
            sqlx::query(
                "INSERT INTO webhook_outbox \
                 (webhook, alert, payload, state, attempts, next_at, created_at) \
                 VALUES ($1, $2, $3, 'pending', 0, $4, $4) ON CONFLICT DO NOTHING",
            )
            .bind(&w.id)
            .bind(alert)
            .bind(payload)
            .bind(now)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

/// A queued delivery with where it goes.
#[derive(Debug, Clone, FromRow)]
pub struct Due {
    pub id: i64,
    pub webhook: String,
    pub payload: String,
    pub attempts: i64,
    pub url: String,
    pub secret: String,
}

/// Up to `limit` pending deliveries whose time has come, oldest first.
pub async fn due(conn: &mut AnyConnection, now: i64, limit: i64) -> AppResult<Vec<Due>> {
    Ok(sqlx::query_as(
        "SELECT o.id, o.webhook, o.payload, o.attempts, w.url, w.secret \
         FROM webhook_outbox o JOIN webhooks w ON w.id = o.webhook \
         WHERE o.state = 'pending' AND o.next_at <= $1 ORDER BY o.next_at, o.id LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

/// The soonest time a pending delivery is due, if any.
pub async fn next_due(conn: &mut AnyConnection) -> AppResult<Option<i64>> {
    Ok(
        sqlx::query_scalar("SELECT MIN(next_at) FROM webhook_outbox WHERE state = 'pending'")
            .fetch_one(conn)
            .await?,
    )
}

/// One attempt's outcome.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub at: i64,
    pub status: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// Records an attempt of delivery `id` and moves it on: delivered, due again at `retry_at`,
/// or failed for good when `retry_at` is `None`.
pub async fn record(
    conn: &mut AnyConnection,
    d: &Due,
    attempt: &Attempt,
    delivered: bool,
    retry_at: Option<i64>,
) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO webhook_deliveries (outbox, webhook, at, attempt, status, error, duration_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(d.id)
    .bind(&d.webhook)
    .bind(attempt.at)
    .bind(d.attempts + 1)
    .bind(attempt.status)
    .bind(attempt.error.as_deref())
    .bind(attempt.duration_ms)
    .execute(&mut *conn)
    .await?;
    let (state, next_at) = match (delivered, retry_at) {
        (true, _) => ("delivered", attempt.at),
        (false, Some(t)) => ("pending", t),
        (false, None) => ("failed", attempt.at),
    };
    sqlx::query(
        "UPDATE webhook_outbox SET state = $2, attempts = attempts + 1, next_at = $3 WHERE id = $1",
    )
    .bind(d.id)
    .bind(state)
    .bind(next_at)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct Delivery {
    pub id: i64,
    /// The alert it carried.
    pub alert: i64,
    pub at: i64,
    pub attempt: i64,
    /// The receiver's HTTP status, if it answered.
    pub status: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
    /// Where the delivery stands now: `pending`, `delivered` or `failed`.
    pub state: String,
}

/// A webhook's delivery attempts, newest first.
pub async fn deliveries(
    conn: &mut AnyConnection,
    webhook: &str,
    limit: i64,
) -> AppResult<Vec<Delivery>> {
    Ok(sqlx::query_as(
        "SELECT d.id, o.alert, d.at, d.attempt, d.status, d.error, d.duration_ms, o.state \
         FROM webhook_deliveries d JOIN webhook_outbox o ON o.id = d.outbox \
         WHERE d.webhook = $1 ORDER BY d.id DESC LIMIT $2",
    )
    .bind(webhook)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

/// Delivery attempts since `since` that failed (no answer, or not 2xx), and deliveries that
/// failed for good (out of retries), ever.
pub async fn failures(conn: &mut AnyConnection, since: i64) -> AppResult<(i64, i64)> {
    let attempts: i64 = sqlx::query_scalar(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM webhook_deliveries \
         WHERE at >= $1 AND (status IS NULL OR status < 200 OR status >= 300)",
    )
    .bind(since)
    .fetch_one(&mut *conn)
    .await?;
    let given_up: i64 = sqlx::query_scalar(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM webhook_outbox WHERE state = 'failed'",
    )
    .fetch_one(conn)
    .await?;
    Ok((attempts, given_up))
}
