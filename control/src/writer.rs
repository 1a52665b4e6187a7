//! Group commit for SQLite ingestion.
//!
//! SQLite has one writer at a time, so concurrent ingestion requests queue anyway. This task
//! owns that queue: it takes every batch waiting (up to [`MAX_GROUP_EVENTS`] events), applies
//! them together in a single transaction and commits once, then answers each request.
//! Pages the batches share (upper B-tree levels, aggregate rows) are written to the WAL once
//! per group instead of once per batch. Each batch still gets its own accepted/duplicate
//! counts, and nobody is answered before the commit. If a group fails, its batches are retried
//! one by one so a single bad batch cannot fail the others.

use tokio::sync::{mpsc, oneshot};

use crate::db::events::{apply, Applied, NewEvent};
use crate::db::Db;
use crate::error::{AppError, AppResult};

/// Events one transaction may carry before the rest wait for the next.
const MAX_GROUP_EVENTS: usize = 5000;

#[derive(Debug)]
struct Job {
    events: Vec<NewEvent>,
    reply: oneshot::Sender<Result<Applied, String>>,
}

/// A handle to the writer task; cheap to clone.
#[derive(Debug, Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    pub fn spawn(db: Db) -> Writer {
        let (jobs, rx) = mpsc::channel(256);
        tokio::spawn(run(db, rx));
        Writer { jobs }
    }

    /// Stores one batch; returns after it is committed.
    pub async fn submit(&self, events: Vec<NewEvent>) -> AppResult<Applied> {
        let (reply, answer) = oneshot::channel();
        let job = Job { events, reply };
        self.jobs
            .send(job)
            .await
            .map_err(|_| anyhow::anyhow!("the writer has stopped"))?;
        answer
            .await
            .map_err(|_| anyhow::anyhow!("the writer dropped the batch"))?
            .map_err(|e| AppError::Internal(anyhow::anyhow!(e)))
    }
}

async fn run(db: Db, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut size = first.events.len();
        let mut jobs = vec![first];
        while size < MAX_GROUP_EVENTS {
            match rx.try_recv() {
                Ok(job) => {
                    size += job.events.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        match commit(&db, &jobs).await {
            Ok(applied) => {
                for (job, a) in jobs.into_iter().zip(applied) {
                    let _ = job.reply.send(Ok(a));
                }
            }
            Err(e) if jobs.len() > 1 => {
                tracing::warn!(error = %e, batches = jobs.len(), "group commit failed; retrying batches alone");
                for job in jobs {
                    let result = commit(&db, std::slice::from_ref(&job)).await;
                    let _ = job
                        .reply
                        .send(result.map(|mut a| a.remove(0)).map_err(|e| e.to_string()));
                }
            }
            Err(e) => {
                for job in jobs {
                    let _ = job.reply.send(Err(e.to_string()));
                }
            }
        }
    }
}

/// One transaction for all the jobs' events: fewer, larger statements than job by job.
async fn commit(db: &Db, jobs: &[Job]) -> AppResult<Vec<Applied>> {
    let all: Vec<NewEvent> = jobs.iter().flat_map(|j| j.events.iter().cloned()).collect();
    let mut tx = db.writer.begin().await?;
    let mut inserted = apply(&mut tx, db.dialect, &all).await?;
    tx.commit().await?;
    Ok(jobs
        .iter()
        .map(|j| Applied::count(&j.events, &mut inserted))
        .collect())
}
