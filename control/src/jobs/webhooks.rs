//! Delivers queued webhook payloads: every due outbox row is POSTed to its webhook with a
//! timestamp and an HMAC-SHA256 signature; a 2xx marks it delivered, anything else schedules a
//! retry with exponential backoff (1 s doubling to an hour, 20 attempts in all, about five and
//! a half hours). The queue lives in the database, so it survives a restart; a slow or dead
//! receiver delays only its own deliveries, each bounded by a 10 s timeout.
//!
//! Receivers verify a delivery by computing
//! `hex(HMAC-SHA256(secret, "{Edgewise-Timestamp}.{body}"))` and comparing it with the
//! `v1=` value of `Edgewise-Signature`; `Edgewise-Delivery` is the same for every attempt of
//! one delivery, so a receiver that saw it already can drop a repeat.

use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::db::webhooks::{self, Attempt, Due};
use crate::db::{now_ms, Db};

/// Attempts before a delivery is given up.
pub const MAX_ATTEMPTS: i64 = 20;
/// One attempt's timeout.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The signature of `body` sent at `timestamp` (Unix seconds) with `secret`.
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    // HMAC takes a key of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(format!("{timestamp}.{body}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The wait before attempt `attempts + 1`.
pub fn backoff(attempts: i64) -> Duration {
    let exp = u32::try_from(attempts.clamp(0, 12)).unwrap_or(12);
    Duration::from_secs(2u64.pow(exp)).min(Duration::from_secs(3600))
}

/// Sends every due delivery once; returns how many were attempted.
pub async fn deliver_due(
    db: &Db,
    client: &reqwest::Client,
    metrics: &crate::telemetry::Metrics,
) -> anyhow::Result<usize> {
    let due = {
        let mut conn = db.reader.acquire().await?;
        webhooks::due(&mut conn, now_ms(), 32).await?
    };
    // Side by side: each attempt is bounded by TIMEOUT, so the batch is too.
    let mut set = tokio::task::JoinSet::new();
    for (i, d) in due.iter().cloned().enumerate() {
        let client = client.clone();
        set.spawn(async move { (i, attempt(&client, &d).await) });
    }
    let mut attempts = Vec::with_capacity(due.len());
    while let Some(done) = set.join_next().await {
        attempts.push(done?);
    }
    attempts.sort_by_key(|(i, _)| *i);
    let attempts: Vec<(Attempt, bool)> = attempts.into_iter().map(|(_, a)| a).collect();
    for (d, (attempt, delivered)) in due.iter().zip(&attempts) {
        let retry_at = (!delivered && d.attempts + 1 < MAX_ATTEMPTS).then(|| {
            attempt.at + i64::try_from(backoff(d.attempts).as_millis()).unwrap_or(i64::MAX / 2)
        });
        metrics
            .webhook_deliveries
            .with_label_values(&[if *delivered { "delivered" } else { "failed" }])
            .inc();
        if !delivered {
            tracing::warn!(webhook = %d.webhook, delivery = d.id, status = ?attempt.status,
                error = ?attempt.error, "webhook delivery failed");
        }
        let _turn = db.write_turn().await;
        let mut conn = db.writer.acquire().await?;
        webhooks::record(&mut conn, d, attempt, *delivered, retry_at).await?;
    }
    Ok(due.len())
}

async fn attempt(client: &reqwest::Client, d: &Due) -> (Attempt, bool) {
    let started = Instant::now();
    let at = now_ms();
    let timestamp = at / 1000;
    let result = client
        .post(&d.url)
        .timeout(TIMEOUT)
        .header("content-type", "application/json")
        .header("edgewise-timestamp", timestamp.to_string())
        .header(
            "edgewise-signature",
            format!("v1={}", signature(&d.secret, timestamp, &d.payload)),
        )
        .header("edgewise-delivery", d.id.to_string())
        .body(d.payload.clone())
        .send()
        .await;
    let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    match result {
        Ok(resp) => {
            let status = resp.status();
            (
                Attempt {
                    at,
                    status: Some(i64::from(status.as_u16())),
                    error: None,
                    duration_ms,
                },
                status.is_success(),
            )
        }
        Err(e) => (
            Attempt {
                at,
                status: None,
                error: Some(e.to_string()),
                duration_ms,
            },
            false,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_of_timestamp_dot_body() {
        // RFC 4231 test case 2 shape: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            {
                let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
                mac.update(b"what do ya want for nothing?");
                hex::encode(mac.finalize().into_bytes())
            },
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(signature("s", 1, "{}").len(), 64);
        assert_ne!(signature("s", 1, "{}"), signature("s", 2, "{}"));
    }

    #[test]
    fn backoff_doubles_to_an_hour() {
        assert_eq!(backoff(0).as_secs(), 1);
        assert_eq!(backoff(3).as_secs(), 8);
        assert_eq!(backoff(19).as_secs(), 3600);
    }
}
