//! `edgewise simulate`: synthetic visitors through the real edge and control plane.
//!
//! [`scenario`] says who visits and what is true; [`population`] draws visitors and their
//! conversions (pure, seeded); this module does the I/O: it asks the edge for each visitor's
//! variants (`GET /v1/assign`, with a real User-Agent), sends the beacons a browser would send
//! (`POST /v1/events` on the edge), injects the scenario's faults, waits until the control plane
//! has counted everything, and reports its results next to the truth ([`report`]).

pub mod bandit;
pub mod population;
pub mod random;
pub mod report;
pub mod scenario;

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use edgewise_shared::beacon::Event;
use serde_json::Value;

use population::{Population, Stamp};
use scenario::Scenario;

/// Where the system under test runs and how hard to drive it.
#[derive(Debug, Clone)]
pub struct Target {
    pub edge: String,
    pub control: String,
    /// An admin API token that may read results (viewer or above).
    pub token: String,
    /// Visits in flight at once.
    pub concurrency: usize,
    /// Shell command that restarts the control plane (for `faults.restart_at`).
    pub restart_command: Option<String>,
    /// How long to wait for the control plane to count every sent event.
    pub settle_timeout: Duration,
    pub progress: bool,
}

/// What was sent, for the report and for tests.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Sent {
    pub visits: u64,
    pub crawler_visits: u64,
    /// Crawler visits the edge nevertheless assigned and counted (must be 0).
    pub crawlers_counted: u64,
    pub events: u64,
    pub duplicate_batches: u64,
    pub restarted: bool,
    pub seconds: f64,
}

const BATCH: usize = 250;

pub async fn run(scenario: &Scenario, target: &Target) -> anyhow::Result<report::Report> {
    scenario
        .validate()
        .map_err(|e| anyhow::anyhow!("scenario: {e}"))?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let mut pop = Population::new(scenario);
    let total = u64::from(scenario.days) * u64::from(scenario.visits_per_day);
    let started = Instant::now();
    let mut sent = Sent::default();
    let mut pending: Vec<Event> = Vec::new();
    let restart_after = scenario
        .faults
        .restart_at
        .map(|share| (share * total as f64) as u64);
    if restart_after.is_some() && target.restart_command.is_none() {
        bail!("the scenario restarts the control plane: pass --restart-command");
    }

    let mut done = 0u64;
    while done < total {
        let wave = (total - done).min(target.concurrency as u64) as usize;
        let visits: Vec<Option<usize>> = (0..wave).map(|_| pop.next_visit()).collect();
        let mut requests = tokio::task::JoinSet::new();
        for (slot, visit) in visits.iter().enumerate() {
            let (unit, ua, persona, arms) = match visit {
                Some(i) => {
                    let v = &pop.seen[*i];
                    (
                        v.unit_id.clone(),
                        v.user_agent,
                        v.persona.clone(),
                        v.arms_cookie.clone(),
                    )
                }
                None => {
                    let (unit, ua) = pop.crawler();
                    (unit, ua, None, None)
                }
            };
            let client = client.clone();
            let url = format!("{}/v1/assign", target.edge);
            requests.spawn(async move {
                let mut query = vec![("unit", unit)];
                if let Some(p) = persona {
                    query.push(("persona", p));
                }
                let reply: anyhow::Result<(Value, Option<String>)> = async {
                    // A request lost on the way (a timeout, a refused connection) is asked
                    // again, as a browser's reload would; it decides nothing twice, since the
                    // same visitor gets the same answer.
                    let mut tries = 0;
                    let r = loop {
                        tries += 1;
                        let mut request = client.get(&url).query(&query).header("user-agent", ua);
                        // A browser sends back the cookie remembering its bandit arms.
                        if let Some(c) = &arms {
                            request = request.header("cookie", c);
                        }
                        match request.send().await {
                            Ok(r) => break r,
                            Err(e) if tries < 3 && (e.is_timeout() || e.is_connect()) => {
                                tracing::warn!(error = %e, "assign request lost; asking again");
                            }
                            Err(e) => return Err(e.into()),
                        }
                    };
                    let r = r.error_for_status()?;
                    let arms = r
                        .headers()
                        .get_all("set-cookie")
                        .iter()
                        .filter_map(|v| v.to_str().ok())
                        .find(|v| v.starts_with("edgewise_arms="))
                        .and_then(|v| v.split(';').next())
                        .map(str::to_owned);
                    Ok((r.json().await?, arms))
                }
                .await;
                (slot, reply)
            });
        }
        let mut replies: Vec<Option<(Value, Option<String>)>> = vec![None; wave];
        while let Some(joined) = requests.join_next().await {
            let (slot, reply) = joined?;
            replies[slot] = Some(reply.context("GET /v1/assign on the edge")?);
        }
        for (visit, reply) in visits.iter().zip(replies) {
            let (reply, arms) = reply.unzip();
            if let (Some(i), Some(Some(c))) = (visit, arms) {
                pop.seen[*i].arms_cookie = Some(c);
            }
            let decision = reply
                .as_ref()
                .and_then(|r| r["decisions"].as_array())
                .and_then(|ds| ds.iter().find(|d| d["test"] == scenario.test.as_str()));
            let counted = decision.and_then(|d| {
                (d["counted"] == true)
                    .then(|| d["variant"].as_str())
                    .flatten()
            });
            let stamp = Stamp {
                snapshot_version: decision.and_then(|d| d["snapshot_version"].as_u64()),
                propensity: decision.and_then(|d| d["propensity"].as_f64()),
            };
            match (visit, counted) {
                (None, Some(_)) => sent.crawlers_counted += 1,
                (None, None) => {}
                (Some(i), Some(variant)) => pending.extend(pop.visit_events(*i, variant, stamp)),
                (Some(_), None) => {}
            }
            if visit.is_some() {
                sent.visits += 1;
            } else {
                sent.crawler_visits += 1;
            }
        }
        done += wave as u64;
        while pending.len() >= BATCH {
            let batch: Vec<Event> = pending.drain(..BATCH).collect();
            send_batch(&client, target, &batch, &mut pop, &mut sent).await?;
        }
        if let Some(at) = restart_after {
            if !sent.restarted && done >= at {
                restart(target).await?;
                sent.restarted = true;
            }
        }
        if target.progress {
            progress(done, total, started.elapsed());
        }
    }
    if !pending.is_empty() {
        let batch = std::mem::take(&mut pending);
        send_batch(&client, target, &batch, &mut pop, &mut sent).await?;
    }
    sent.seconds = started.elapsed().as_secs_f64();
    if target.progress {
        eprintln!();
    }
    let expected = report::expected_counts(scenario, &pop);
    let results = settle(&client, target, scenario, &expected).await?;
    Ok(report::Report::new(scenario, expected, sent, results))
}

async fn send_batch(
    client: &reqwest::Client,
    target: &Target,
    batch: &[Event],
    pop: &mut Population<'_>,
    sent: &mut Sent,
) -> anyhow::Result<()> {
    // Beacons are text/plain JSON, as navigator.sendBeacon sends them.
    let body = serde_json::to_string(&serde_json::json!({ "events": batch }))?;
    let copies = if pop.duplicate() { 2 } else { 1 };
    for _ in 0..copies {
        let r = client
            .post(format!("{}/v1/events", target.edge))
            .header("content-type", "text/plain;charset=UTF-8")
            .body(body.clone())
            .send()
            .await
            .context("POST /v1/events on the edge")?;
        if !r.status().is_success() {
            bail!(
                "the edge refused a beacon batch: {} {}",
                r.status(),
                r.text().await.unwrap_or_default()
            );
        }
    }
    sent.events += batch.len() as u64;
    sent.duplicate_batches += copies - 1;
    Ok(())
}

async fn restart(target: &Target) -> anyhow::Result<()> {
    let Some(cmd) = &target.restart_command else {
        return Ok(());
    };
    let status = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .status()
        .await
        .context("running --restart-command")?;
    if !status.success() {
        bail!("--restart-command failed: {status}");
    }
    Ok(())
}

/// Polls the control plane's results until it has counted every exposure that was sent.
async fn settle(
    client: &reqwest::Client,
    target: &Target,
    scenario: &Scenario,
    expected: &report::Expected,
) -> anyhow::Result<Value> {
    let deadline = Instant::now() + target.settle_timeout;
    let url = format!("{}/api/v1/tests/{}/results", target.control, scenario.test);
    loop {
        let reply = client.get(&url).bearer_auth(&target.token).send().await;
        if let Ok(r) = reply {
            if r.status().is_success() {
                let results: Value = r.json().await?;
                if report::exposures_counted(&results) >= expected.exposed_units {
                    return Ok(results);
                }
                if Instant::now() > deadline {
                    eprintln!(
                        "warning: after {:?} the control plane counts {} of {} exposed units",
                        target.settle_timeout,
                        report::exposures_counted(&results),
                        expected.exposed_units
                    );
                    return Ok(results);
                }
            } else if Instant::now() > deadline {
                bail!("GET {url}: {}", r.status());
            }
        } else if Instant::now() > deadline {
            bail!("GET {url}: the control plane does not answer");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn progress(done: u64, total: u64, elapsed: Duration) {
    let width = 30;
    let filled = (done * width / total.max(1)) as usize;
    let rate = done as f64 / elapsed.as_secs_f64().max(1e-9);
    eprint!(
        "\r[{}{}] {:>3}%  {done}/{total} visits  {rate:.0} visits/s ",
        "#".repeat(filled),
        ".".repeat(width as usize - filled),
        done * 100 / total.max(1)
    );
}
