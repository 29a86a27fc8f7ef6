//! Batched polling of running jobs. `QuerySnapshotJobList` takes up to 10 job ids a call, so a
//! poll for one job also refreshes the 9 running jobs of the same credential that were looked
//! at least recently; their own polls, moments later, are answered from that read. A thousand
//! running jobs cost about a hundred calls a polling round instead of a thousand, the way the
//! Live kind's domain listings serve every template of a domain. A job leaves the batch once it
//! is final (its object stops polling) or once its object stops asking (deleted).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::clouds::alibaba::mps::{IDS_PER_QUERY, MpsClient, SnapshotJob};
use crate::clouds::error::ApiError;

/// An object that has not polled for this long is gone (deleted, or another shard's now).
const FORGET_AFTER: Duration = Duration::from_secs(600);
/// A job rides along in others' batches only while its object polls (every 3 s while the job
/// runs): one whose object went quiet would waste a slot.
const ACTIVE_WITHIN: Duration = Duration::from_secs(30);

#[derive(Default)]
struct Entry {
    /// The job as last read; `None`, once read, when the service did not know it.
    job: Option<SnapshotJob>,
    fetched: Option<Instant>,
    /// When the job's own object last asked.
    asked: Option<Instant>,
    /// Set while a batch that covers the job is in flight; it turns true when that batch ends.
    in_flight: Option<tokio::sync::watch::Receiver<bool>>,
}

/// What a poll found.
#[derive(Clone, Debug, PartialEq)]
pub enum Polled {
    Job(Box<SnapshotJob>),
    /// The service does not know the id.
    Missing,
}

pub struct JobBatcher {
    client: MpsClient,
    /// A read this recent answers a poll even when the object has not looked since it.
    window: Duration,
    /// Ids per query: [`IDS_PER_QUERY`], or 1 to poll each job on its own (for comparison).
    batch: usize,
    jobs: Mutex<HashMap<String, Entry>>,
}

impl JobBatcher {
    pub fn new(client: MpsClient, window: Duration) -> Self {
        Self {
            client,
            window,
            batch: IDS_PER_QUERY,
            jobs: Mutex::default(),
        }
    }

    /// One job per query and no shared answers: what polling costs without batching.
    pub fn per_job(client: MpsClient) -> Self {
        Self {
            client,
            window: Duration::ZERO,
            batch: 1,
            jobs: Mutex::default(),
        }
    }

    pub fn client(&self) -> &MpsClient {
        &self.client
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The job `id` now: from a batch read made since its object last looked (unless `fresh`),
    /// else by a query that takes along up to 9 other running jobs whose objects have seen
    /// their last read.
    pub async fn poll(&self, id: &str, fresh: bool) -> Result<Polled, ApiError> {
        let waiting = {
            let mut jobs = self.lock();
            let now = Instant::now();
            jobs.retain(|_, e| e.asked.is_none_or(|a| now.duration_since(a) < FORGET_AFTER));
            let entry = jobs.entry(id.to_string()).or_default();
            let last_look = entry.asked.replace(now);
            if !fresh && let Some(answer) = self.news(entry, last_look, now) {
                return Ok(self.answered(&mut jobs, id, answer));
            }
            entry.in_flight.clone().filter(|_| !fresh)
        };
        // A batch covering this job is on its way: wait for it rather than read it again.
        if let Some(mut rx) = waiting {
            let _ = rx.wait_for(|done| *done).await;
            let mut jobs = self.lock();
            let cached = jobs
                .get(id)
                .and_then(|e| self.news(e, None, Instant::now()));
            if let Some(answer) = cached {
                return Ok(self.answered(&mut jobs, id, answer));
            }
            // That batch failed: read the job ourselves.
        }
        self.query_batch(id).await
    }

    /// The job as a batch read it, when that read is news to its object: made since the
    /// object's previous look, or within the window (a first look, or one racing the read).
    fn news(&self, entry: &Entry, last_look: Option<Instant>, now: Instant) -> Option<Polled> {
        let fetched = entry.fetched?;
        let since_last_look = last_look.is_some_and(|l| fetched > l);
        if !since_last_look && now.duration_since(fetched) > self.window {
            return None;
        }
        Some(match &entry.job {
            Some(j) => Polled::Job(Box::new(j.clone())),
            None => Polled::Missing,
        })
    }

    /// The object of `id` has its answer: it has seen the last read, so the next batch may
    /// refresh the job for it. A final job leaves the batch.
    fn answered(&self, jobs: &mut HashMap<String, Entry>, id: &str, answer: Polled) -> Polled {
        let done = match &answer {
            Polled::Job(j) => j.job_state().is_some_and(|s| s.is_final()),
            Polled::Missing => true,
        };
        if done {
            jobs.remove(id);
        } else if let Some(e) = jobs.get_mut(id) {
            e.asked = Some(Instant::now());
        }
        answer
    }

    /// Follows a job just submitted: the batches of other jobs refresh it before its object's
    /// first poll.
    pub fn register(&self, job: &SnapshotJob) {
        let now = Instant::now();
        self.lock().insert(
            job.id.clone(),
            Entry {
                job: Some(job.clone()),
                fetched: Some(now),
                asked: Some(now),
                in_flight: None,
            },
        );
    }

    async fn query_batch(&self, id: &str) -> Result<Polled, ApiError> {
        let (tx, rx) = tokio::sync::watch::channel(false);
        let batch: Vec<String> = {
            let mut jobs = self.lock();
            let now = Instant::now();
            // A job whose object has seen its last read (or that was never read) needs news.
            let stale = |e: &Entry| match (e.fetched, e.asked) {
                (None, _) => true,
                (Some(f), Some(a)) => f <= a,
                (Some(_), None) => false,
            };
            let mut others: Vec<(&String, Option<Instant>)> = jobs
                .iter()
                .filter(|(k, e)| {
                    k.as_str() != id
                        && e.in_flight.is_none()
                        && stale(e)
                        && !e
                            .job
                            .as_ref()
                            .is_some_and(|j| j.job_state().is_some_and(|s| s.is_final()))
                        && e.asked
                            .is_some_and(|a| now.duration_since(a) < ACTIVE_WITHIN)
                })
                .map(|(k, e)| (k, e.fetched))
                .collect();
            // The jobs read longest ago first (never-read ones before all).
            others.sort_by_key(|(_, fetched)| *fetched);
            let batch: Vec<String> = std::iter::once(id.to_string())
                .chain(others.into_iter().map(|(k, _)| k.clone()))
                .take(self.batch)
                .collect();
            for k in &batch {
                if let Some(e) = jobs.get_mut(k) {
                    e.in_flight = Some(rx.clone());
                }
            }
            batch
        };
        let result = self.client.query_ids(&batch).await;
        let mut jobs = self.lock();
        let now = Instant::now();
        for k in &batch {
            if let Some(e) = jobs.get_mut(k) {
                e.in_flight = None;
            }
        }
        let answer = match result {
            Ok(found) => {
                for job in found.jobs {
                    if let Some(e) = jobs.get_mut(&job.id) {
                        e.job = Some(job);
                        e.fetched = Some(now);
                    }
                }
                for missing in found.missing {
                    if let Some(e) = jobs.get_mut(&missing) {
                        e.job = None;
                        e.fetched = Some(now);
                    }
                }
                let answer = jobs
                    .get(id)
                    .and_then(|e| self.news(e, None, now))
                    .unwrap_or(Polled::Missing);
                Ok(self.answered(&mut jobs, id, answer))
            }
            Err(e) => Err(e),
        };
        drop(jobs);
        let _ = tx.send(true);
        answer
    }

    /// Jobs the batcher is following (for tests and metrics).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
