//! Pushes every new snapshot version to the configured edge workers.
//!
//! One background task per process: woken after each admin change (and every second, to notice
//! versions other replicas made), it `PUT`s the latest snapshot to each edge URL's
//! `/v1/admin/snapshot`. A failed push is retried with exponential backoff (0.5 s doubling to
//! 30 s), and after [`ALERT_AFTER`] failed tries of one version an alert (kind `publish`)
//! says so, while the edge keeps serving what it has; only the latest version is ever pushed,
//! since it supersedes older ones. An edge that
//! answers 409 already has this version or a newer one, which counts as published. The state
//! per target is stored in `publish_state`, which `GET /api/v1/publish` shows.
//!
//! [`check_stored`] runs at start-up, before serving: a database written by an older build may
//! hold a definition this build's limits refuse. Such running tests are paused, and a latest
//! snapshot this build cannot publish cleanly is replaced, each change audited by `system`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{watch, Notify};

use edgewise_shared::{CompiledSnapshot, Warning};

use crate::config::Secret;
use crate::db::snapshots::{self, PublishState};
use crate::db::tests as experiments;
use crate::db::{now_ms, settings, Actor, Db, Mutation, SYSTEM};
use crate::error::AppError;
use crate::lifecycle;
use crate::model::{build_snapshot, Transition};

#[derive(Debug, Default)]
struct Target {
    version: i64,
    done: bool,
    attempts: i64,
    next_try: Option<Instant>,
}

/// Failed pushes of one version to one edge before an alert says so (about 7.5 s of backoff).
pub const ALERT_AFTER: i64 = 5;

fn backoff(attempts: i64) -> Duration {
    let exp = u32::try_from(attempts.clamp(1, 7) - 1).unwrap_or(0);
    Duration::from_millis(500 * 2u64.pow(exp)).min(Duration::from_secs(30))
}

/// The extra root certificates in `file` (`--edge-ca-file`), checked at start.
pub fn roots(file: Option<&std::path::Path>) -> anyhow::Result<Vec<reqwest::Certificate>> {
    let Some(path) = file else {
        return Ok(Vec::new());
    };
    let pem = std::fs::read(path)
        .map_err(|e| anyhow::anyhow!("--edge-ca-file {}: {e}", path.display()))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| anyhow::anyhow!("--edge-ca-file {}: {e}", path.display()))?;
    anyhow::ensure!(
        !certs.is_empty(),
        "--edge-ca-file {}: no PEM certificate in it",
        path.display()
    );
    Ok(certs)
}

/// Runs until `shutdown` turns true.
pub async fn run(
    db: Db,
    roots: Vec<reqwest::Certificate>,
    metrics: Arc<crate::telemetry::Metrics>,
    urls: Vec<String>,
    secret: Secret,
    wake: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    if urls.is_empty() {
        return;
    }
    let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(10));
    for cert in roots {
        builder = builder.add_root_certificate(cert);
    }
    let client = match builder.build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the HTTP client; not publishing");
            return;
        }
    };
    let mut targets: HashMap<String, Target> = HashMap::new();
    loop {
        let mut next_wake = Duration::from_secs(1);
        match latest(&db).await {
            Err(e) => tracing::warn!(error = %e, "cannot read the latest snapshot"),
            Ok(None) => {}
            Ok(Some((version, body))) => {
                for url in &urls {
                    let t = targets.entry(url.clone()).or_default();
                    if t.version != version {
                        *t = Target {
                            version,
                            ..Target::default()
                        };
                    }
                    if t.done {
                        continue;
                    }
                    if let Some(at) = t.next_try {
                        if at > Instant::now() {
                            next_wake = next_wake.min(at - Instant::now());
                            continue;
                        }
                    }
                    t.attempts += 1;
                    let result = push(&client, url, secret.expose(), version, &body).await;
                    let last_error = match result {
                        Ok(()) => {
                            t.done = true;
                            metrics.publish_attempts.with_label_values(&["ok"]).inc();
                            metrics.published_version.set(version);
                            tracing::info!(target_url = %url, version, "snapshot published");
                            None
                        }
                        Err(e) => {
                            metrics
                                .publish_attempts
                                .with_label_values(&["failed"])
                                .inc();
                            let wait = backoff(t.attempts);
                            t.next_try = Some(Instant::now() + wait);
                            next_wake = next_wake.min(wait);
                            tracing::warn!(target_url = %url, version, error = %e, "publish failed");
                            Some(e)
                        }
                    };
                    let state = PublishState {
                        target: url.clone(),
                        version,
                        state: if t.done { "published" } else { "retrying" }.into(),
                        attempts: t.attempts,
                        last_error,
                        updated_at: now_ms(),
                    };
                    if let Err(e) = store(&db, &state).await {
                        tracing::warn!(error = %e, "cannot record publish state");
                    }
                    if t.attempts == ALERT_AFTER {
                        if let Some(error) = &state.last_error {
                            if let Err(e) = alert(&db, url, version, t.attempts, error).await {
                                tracing::warn!(error = %e, "cannot record the publish alert");
                            }
                        }
                    }
                }
            }
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(next_wake) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Pauses running tests whose definitions this build cannot publish, then replaces a latest
/// snapshot that does not compile cleanly. Returns the keys of the paused tests.
pub async fn check_stored(db: &Db) -> anyhow::Result<Vec<String>> {
    let system = Actor(SYSTEM.into());
    let (all, cfg) = {
        let mut conn = db.reader.acquire().await?;
        (
            experiments::list(&mut conn, None).await?,
            settings::load(&mut conn).await?,
        )
    };
    let (_, warnings) = CompiledSnapshot::compile(&build_snapshot(0, &all, &cfg))?;
    let mut paused = Vec::new();
    for w in &warnings {
        let (Warning::InvalidTest { test, .. } | Warning::ConflictingTest { test, .. }) = w else {
            continue;
        };
        let reason = w.to_string();
        // Only a running test moves; any other state answers Conflict and is left as it is.
        match lifecycle::transition(db, &system, test, Transition::Pause, None, Some(&reason)).await
        {
            Ok(_) => {
                tracing::warn!(test = %test, reason = %w, "paused a test this build cannot publish");
                paused.push(test.clone());
            }
            Err(AppError::Conflict(_)) => {}
            Err(e) => return Err(anyhow::anyhow!("pausing `{test}`: {e}")),
        }
    }
    // Checked again under the mutation lock: another replica starting may have replaced it.
    let mut m = Mutation::begin(db).await?;
    let clean = snapshots::latest(&mut m.tx).await?.is_none_or(|(_, body)| {
        CompiledSnapshot::from_json(&body).is_ok_and(|(_, warnings)| warnings.is_empty())
    });
    if !clean {
        if let Some(version) = m
            .finish(&system, "snapshot.republish", "snapshot", None, None)
            .await?
        {
            tracing::warn!(version, "replaced a snapshot this build cannot publish");
        }
    }
    Ok(paused)
}

async fn latest(db: &Db) -> anyhow::Result<Option<(i64, String)>> {
    let mut conn = db.reader.acquire().await?;
    Ok(snapshots::latest(&mut conn).await?)
}

async fn alert(db: &Db, url: &str, version: i64, attempts: i64, error: &str) -> anyhow::Result<()> {
    let _turn = db.write_turn().await;
    let mut conn = db.writer.acquire().await?;
    crate::db::monitor::insert_publish_alert(&mut conn, now_ms(), url, version, attempts, error)
        .await?;
    Ok(())
}

async fn store(db: &Db, s: &PublishState) -> anyhow::Result<()> {
    let _turn = db.write_turn().await;
    let mut conn = db.writer.acquire().await?;
    Ok(snapshots::set_publish_state(&mut conn, s).await?)
}

#[derive(serde::Deserialize)]
struct EdgeAnswer {
    snapshot_version: Option<i64>,
}

async fn push(
    client: &reqwest::Client,
    url: &str,
    secret: &str,
    version: i64,
    body: &str,
) -> Result<(), String> {
    let endpoint = format!("{}/v1/admin/snapshot", url.trim_end_matches('/'));
    let resp = client
        .put(&endpoint)
        .bearer_auth(secret)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let status = resp.status();
    let answer: Option<EdgeAnswer> = resp.json().await.ok();
    let edge_version = answer.and_then(|a| a.snapshot_version);
    match status.as_u16() {
        200..=299 => Ok(()),
        409 if edge_version.is_some_and(|v| v >= version) => Ok(()),
        code => Err(format!("edge answered {code}")),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn backoff_doubles_up_to_a_cap() {
        assert_eq!(super::backoff(1).as_millis(), 500);
        assert_eq!(super::backoff(2).as_millis(), 1000);
        assert_eq!(super::backoff(50).as_secs(), 30);
    }
}
