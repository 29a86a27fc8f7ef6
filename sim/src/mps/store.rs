//! The MPS simulator's state: OSS objects that jobs may read, and snapshot jobs that move from
//! `Submitted` through `Snapshoting` to `Success` or `Fail` over a configurable time.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// One submitted job, kept exactly as submitted.
#[derive(Clone, Debug)]
pub struct Job {
    pub id: String,
    pub created: jiff::Timestamp,
    pub started: Instant,
    pub input: Value,
    pub config: Value,
    pub pipeline_id: String,
    pub user_data: String,
    /// The input object did not exist: the job fails.
    pub missing_input: bool,
    /// No Interval and no Num: done when the submit returns.
    pub synchronous: bool,
    pub count: i64,
    pub tile_count: i64,
}

/// A paged query in progress: the filters it was asked with and where the next page starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub filter: String,
    pub offset: usize,
}

#[derive(Default)]
pub struct MpsStore {
    /// (bucket, object) -> duration in seconds.
    objects: Mutex<HashMap<(String, String), i64>>,
    /// By creation order.
    jobs: Mutex<Vec<Job>>,
    cursors: Mutex<HashMap<String, Cursor>>,
    job_time: Mutex<Duration>,
    next: Mutex<u64>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl MpsStore {
    /// Uploads an OSS object of `duration` seconds that jobs may read.
    pub fn put_object(&self, bucket: &str, object: &str, duration: i64) {
        lock(&self.objects).insert((bucket.into(), object.into()), duration);
    }

    /// How long an asynchronous job takes from submit to its final state.
    pub fn set_job_time(&self, d: Duration) {
        *lock(&self.job_time) = d;
    }

    pub fn job_time(&self) -> Duration {
        *lock(&self.job_time)
    }

    fn object(&self, bucket: &str, object: &str) -> Option<i64> {
        lock(&self.objects)
            .get(&(bucket.to_string(), object.to_string()))
            .copied()
    }

    /// Records a validated submit; the new job.
    pub fn submit(&self, input: Value, config: Value, pipeline_id: &str, user_data: &str) -> Job {
        let id = {
            let mut n = lock(&self.next);
            *n += 1;
            format!("{:032x}", 0x5e1f_0000_0000_u64 + *n)
        };
        let text = |v: &Value, k: &str| v[k].as_str().unwrap_or_default().to_string();
        // The API takes the object name URL-encoded.
        let object =
            url::form_urlencoded::parse(format!("o={}", text(&input, "Object")).as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
        let duration = self.object(&text(&input, "Bucket"), &object);
        let num = |k: &str| number(&config[k]);
        let synchronous = config.get("Interval").is_none()
            && config.get("Num").is_none()
            && config.get("TimeArray").is_none();
        let count = if let Some(points) = config["TimeArray"]["TimePointList"].as_array() {
            points.len() as i64
        } else if let Some(n) = num("Num") {
            n.max(1)
        } else if let Some(interval) = num("Interval") {
            let start = num("Time").unwrap_or(0) / 1000;
            ((duration.unwrap_or(0) - start).max(0) / interval.max(1)).max(1)
        } else {
            1
        };
        let tile_count = match config.get("TileOut") {
            Some(t) => {
                let cells = number(&t["Lines"]).unwrap_or(10) * number(&t["Columns"]).unwrap_or(10);
                (count + cells.max(1) - 1) / cells.max(1)
            }
            None => 0,
        };
        let job = Job {
            id,
            created: jiff::Timestamp::now(),
            started: Instant::now(),
            input,
            config,
            pipeline_id: pipeline_id.into(),
            user_data: user_data.into(),
            missing_input: duration.is_none(),
            synchronous,
            count,
            tile_count,
        };
        lock(&self.jobs).push(job.clone());
        job
    }

    /// The state, code and message of a job now.
    pub fn state(&self, job: &Job) -> (&'static str, Option<(&'static str, &'static str)>) {
        let t = self.job_time();
        let elapsed = job.started.elapsed();
        if !job.synchronous && elapsed < t / 3 {
            ("Submitted", None)
        } else if !job.synchronous && elapsed < t {
            ("Snapshoting", None)
        } else if job.missing_input {
            (
                "Fail",
                Some((
                    "InvalidParameter.ResourceNotFound",
                    "The resource operated InputFile is not found",
                )),
            )
        } else {
            ("Success", None)
        }
    }

    /// A job as the API shows it: every scalar of its config as a string.
    pub fn view(&self, job: &Job) -> Value {
        let (state, failure) = self.state(job);
        let done = state == "Success";
        let mut v = json!({
            "Id": job.id,
            "State": state,
            "CreationTime": job.created.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "Input": job.input,
            "PipelineId": job.pipeline_id,
            "UserData": job.user_data,
            "SnapshotConfig": stringify(&job.config),
            "Count": if done { job.count.to_string() } else { "0".into() },
            "TileCount": if done { job.tile_count.to_string() } else { "0".into() },
            "MNSMessageResult": {},
        });
        if let Some((code, message)) = failure {
            v["Code"] = code.into();
            v["Message"] = message.into();
            v["MNSMessageResult"] = json!({"ErrorCode": code, "ErrorMessage": message});
        }
        v
    }

    pub fn find(&self, id: &str) -> Option<Job> {
        lock(&self.jobs).iter().find(|j| j.id == id).cloned()
    }

    /// Jobs matching the filters, newest first.
    pub fn matching(
        &self,
        pipeline: Option<&str>,
        state: Option<&str>,
        from: Option<jiff::Timestamp>,
        to: Option<jiff::Timestamp>,
    ) -> Vec<Job> {
        let jobs = lock(&self.jobs).clone();
        jobs.into_iter()
            .rev()
            .filter(|j| pipeline.is_none_or(|p| j.pipeline_id == p))
            .filter(|j| state.is_none_or(|s| self.state(j).0 == s))
            .filter(|j| from.is_none_or(|f| j.created >= f))
            .filter(|j| to.is_none_or(|t| j.created <= t))
            .collect()
    }

    /// Issues a fresh token for the next page of a paged query.
    pub fn issue_token(&self, cursor: Cursor) -> String {
        let token = hex::encode(rand::random::<[u8; 16]>());
        lock(&self.cursors).insert(token.clone(), cursor);
        token
    }

    /// The cursor a token stands for; it is used up.
    pub fn take_token(&self, token: &str) -> Option<Cursor> {
        lock(&self.cursors).remove(token)
    }

    pub fn job_count(&self) -> usize {
        lock(&self.jobs).len()
    }

    /// Every job's user data, by id (for tests).
    pub fn user_data(&self) -> BTreeMap<String, String> {
        lock(&self.jobs)
            .iter()
            .map(|j| (j.id.clone(), j.user_data.clone()))
            .collect()
    }
}

/// An integer sent as a number or a string.
pub fn number(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The config as the API echoes it: numbers and booleans as strings, lists of time points kept.
fn stringify(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let kept = k == "TimePointList";
                    (k.clone(), if kept { v.clone() } else { stringify(v) })
                })
                .collect(),
        ),
        Value::Number(n) => Value::String(n.to_string()),
        Value::Bool(b) => Value::String(b.to_string()),
        other => other.clone(),
    }
}
