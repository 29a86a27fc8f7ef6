//! Finding a job by its tag (`UserData`) when no job id is on record: a submit whose answer was
//! lost, or a manifest applied to a rebuilt cluster whose job was submitted from the old one.
//!
//! Objects of one pipeline share one index of the operator's jobs in it (only jobs whose
//! `UserData` carries an operator tag are kept), built by paged listings bounded on both ends
//! by creation time and extended as objects ask: the older part once, the newer part by one
//! listing since the last one (usually one call), shared by every object that asked before it
//! started. A pipeline of 50,000 jobs costs its pages once per process, not once per object.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use jiff::{SignedDuration, Timestamp};
use tokio::time::Instant;

use crate::clouds::alibaba::mps::{JobFilter, MpsClient, SnapshotJob};
use crate::clouds::error::ApiError;

/// How far the service's clock may be from the operator's: the gateway refuses requests more
/// than 15 minutes off (`InvalidTimeStamp.Expired`), so a job's CreationTime is within this of
/// the operator's clock at its submit.
pub const CLOCK_SKEW: SignedDuration = SignedDuration::from_mins(15);
/// How far back a new object's job is looked for before it is first submitted: a manifest
/// re-applied to a rebuilt cluster within this finds the job its old object submitted.
pub const LOOKBACK: SignedDuration = SignedDuration::from_hours(7 * 24);
/// What marks a job as submitted by this operator.
pub const TAG_PREFIX: &str = "lso-";

#[derive(Default)]
struct Covered {
    /// Creation times covered by listings so far: [from, to].
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    /// When the listing of the newest part last started.
    refreshed: Option<Instant>,
    /// The operator's jobs, by `UserData`.
    jobs: HashMap<String, SnapshotJob>,
}

#[derive(Default)]
pub struct PipelineIndex {
    pipelines: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Covered>>>>,
}

impl PipelineIndex {
    /// The job tagged `user_data` in `pipeline`, created no earlier than `since` (less the clock
    /// skew), as known from a listing that started after `asked`.
    pub async fn find(
        &self,
        client: &MpsClient,
        pipeline: &str,
        user_data: &str,
        since: Timestamp,
        asked: Instant,
    ) -> Result<(Option<SnapshotJob>, usize), ApiError> {
        let entry = {
            let mut map = self.pipelines.lock().unwrap_or_else(|p| p.into_inner());
            map.entry(pipeline.to_string()).or_default().clone()
        };
        let mut c = entry.lock().await;
        let mut calls = 0;
        let now = Timestamp::now();
        let start = since - CLOCK_SKEW;
        // The older part, once.
        match (c.from, c.to) {
            (Some(from), Some(_)) if start >= from => {}
            (from, to) => {
                let end = from.unwrap_or(now + CLOCK_SKEW);
                calls += fill(client, pipeline, start, end, &mut c.jobs).await?;
                c.from = Some(start);
                if to.is_none() {
                    c.to = Some(now);
                    c.refreshed = Some(Instant::now());
                }
            }
        }
        // The newer part, unless a listing started after this object asked.
        if c.refreshed.is_none_or(|r| r < asked) {
            let started = Instant::now();
            let from = c.to.unwrap_or(start) - CLOCK_SKEW;
            let now = Timestamp::now();
            calls += fill(client, pipeline, from, now + CLOCK_SKEW, &mut c.jobs).await?;
            c.to = Some(now);
            c.refreshed = Some(started);
        }
        Ok((c.jobs.get(user_data).cloned(), calls))
    }
}

/// Lists the pipeline's jobs created in [from, to] into the index; the calls made.
async fn fill(
    client: &MpsClient,
    pipeline: &str,
    from: Timestamp,
    to: Timestamp,
    jobs: &mut HashMap<String, SnapshotJob>,
) -> Result<usize, ApiError> {
    let filter = JobFilter {
        pipeline_id: Some(pipeline.to_string()),
        created_from: Some(from),
        created_to: Some(to),
        ..Default::default()
    };
    client
        .for_each(&filter, |job| {
            if let Some(tag) = job.user_data.clone().filter(|u| u.contains(TAG_PREFIX)) {
                // Newest first: the first seen of a tag is the newest.
                jobs.entry(tag).or_insert(job);
            }
        })
        .await
}
