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
    /// How the input object was uploaded (bad content, slow to decode).
    pub input_kind: InputKind,
    /// No Interval and no Num: done when the submit returns.
    pub synchronous: bool,
    pub count: i64,
    pub tile_count: i64,
}

/// What an uploaded object is like, for the failures the reference lists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InputKind {
    #[default]
    Good,
    /// Unreadable content: the job fails with `InvalidParameter.ResourceContentBad`.
    Bad,
    /// A synchronous snapshot of it takes more than 5 s: `SnapshotTimeOut`.
    Slow,
}

/// The reference does not say whether a synchronous job that times out is refused at submit
/// or reported as a failed job: the simulator does either.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TimeoutAnswer {
    #[default]
    FailedJob,
    SubmitError,
}

/// A paged query in progress: the filters it was asked with and where the next page starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub filter: String,
    pub offset: usize,
}

#[derive(Default)]
pub struct MpsStore {
    /// (bucket, object) -> duration in seconds and kind.
    objects: Mutex<HashMap<(String, String), (i64, InputKind)>>,
    timeout_answer: Mutex<TimeoutAnswer>,
    /// States reported instead of the real one, by job id (a state the API may add).
    state_overrides: Mutex<HashMap<String, String>>,
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
        self.put_object_of(bucket, object, duration, InputKind::Good);
    }

    /// Uploads an object that jobs fail on (bad content) or time out on (slow).
    pub fn put_object_of(&self, bucket: &str, object: &str, duration: i64, kind: InputKind) {
        lock(&self.objects).insert((bucket.into(), object.into()), (duration, kind));
    }

    pub fn set_timeout_answer(&self, answer: TimeoutAnswer) {
        *lock(&self.timeout_answer) = answer;
    }

    pub fn timeout_answer(&self) -> TimeoutAnswer {
        *lock(&self.timeout_answer)
    }

    /// Reports `state` for job `id` from now on, whatever it really is.
    pub fn override_state(&self, id: &str, state: &str) {
        lock(&self.state_overrides).insert(id.into(), state.into());
    }

    /// Whether a submit of `input` (synchronous when `config` has no Interval, Num or
    /// TimeArray) times out, to be refused at submit.
    pub fn times_out(&self, input: &Value, config: &Value) -> bool {
        let (_, kind) = self.input_of(input);
        kind == InputKind::Slow && is_synchronous(config)
    }

    fn input_of(&self, input: &Value) -> (Option<i64>, InputKind) {
        let text = |k: &str| input[k].as_str().unwrap_or_default().to_string();
        // The API takes the object name URL-encoded.
        let object = url::form_urlencoded::parse(format!("o={}", text("Object")).as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        match lock(&self.objects).get(&(text("Bucket"), object)) {
            Some((d, k)) => (Some(*d), *k),
            None => (None, InputKind::Good),
        }
    }

    /// How long an asynchronous job takes from submit to its final state.
    pub fn set_job_time(&self, d: Duration) {
        *lock(&self.job_time) = d;
    }

    pub fn job_time(&self) -> Duration {
        *lock(&self.job_time)
    }

    /// Records a validated submit; the new job.
    pub fn submit(&self, input: Value, config: Value, pipeline_id: &str, user_data: &str) -> Job {
        let id = {
            let mut n = lock(&self.next);
            *n += 1;
            format!("{:032x}", 0x5e1f_0000_0000_u64 + *n)
        };
        let (duration, input_kind) = self.input_of(&input);
        let num = |k: &str| number(&config[k]);
        let synchronous = is_synchronous(&config);
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
            input_kind,
            synchronous,
            count,
            tile_count,
        };
        lock(&self.jobs).push(job.clone());
        job
    }

    /// Adds `n` finished jobs to `pipeline`, created evenly over the `span` before now and
    /// tagged `UserData` by `user_data(i)`: a busy shared pipeline, for lookups and benchmarks.
    pub fn seed_jobs(
        &self,
        pipeline: &str,
        n: usize,
        span: Duration,
        user_data: impl Fn(usize) -> String,
    ) {
        let now = jiff::Timestamp::now();
        let step = span.as_secs_f64() / n.max(1) as f64;
        let mut jobs = lock(&self.jobs);
        let mut next = lock(&self.next);
        for i in 0..n {
            *next += 1;
            let age = jiff::SignedDuration::from_secs_f64(step * (n - i) as f64);
            jobs.push(Job {
                id: format!("{:032x}", 0x5eed_0000_0000_u64 + *next),
                created: now - age,
                started: Instant::now() - self.job_time(),
                input: json!({"Bucket": "media", "Location": "oss-cn-shanghai", "Object": "seed.mp4"}),
                config: json!({"OutputFile": {"Bucket": "media", "Location": "oss-cn-shanghai", "Object": "seed.jpg"}, "Time": "0"}),
                pipeline_id: pipeline.into(),
                user_data: user_data(i),
                missing_input: false,
                input_kind: InputKind::Good,
                synchronous: true,
                count: 1,
                tile_count: 0,
            });
        }
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
        } else if job.input_kind == InputKind::Bad {
            (
                "Fail",
                Some((
                    "InvalidParameter.ResourceContentBad",
                    "The resource operated InputFile is bad",
                )),
            )
        } else if job.input_kind == InputKind::Slow && job.synchronous {
            (
                "Fail",
                Some(("SnapshotTimeOut", "The snapshot took longer than 5 seconds")),
            )
        } else {
            ("Success", None)
        }
    }

    /// A job as the API shows it: every scalar of its config as a string.
    pub fn view(&self, job: &Job) -> Value {
        let (state, failure) = self.state(job);
        let overridden = lock(&self.state_overrides).get(&job.id).cloned();
        let state = overridden.as_deref().unwrap_or(state);
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
        if done {
            v["MNSMessageResult"] =
                json!({"MessageId": format!("{:032x}", job.created.as_nanosecond())});
        }
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

    /// One page of the jobs matching the filters, newest first, and how many match in all.
    /// Only the page is copied: a pipeline of 50,000 jobs is paged without cloning it.
    pub fn page(
        &self,
        pipeline: Option<&str>,
        state: Option<&str>,
        from: Option<jiff::Timestamp>,
        to: Option<jiff::Timestamp>,
        offset: usize,
        size: usize,
    ) -> (Vec<Job>, usize) {
        let jobs = lock(&self.jobs);
        let mut total = 0;
        let mut page = Vec::new();
        for j in jobs.iter().rev().filter(|j| {
            pipeline.is_none_or(|p| j.pipeline_id == p)
                && from.is_none_or(|f| j.created >= f)
                && to.is_none_or(|t| j.created <= t)
                && state.is_none_or(|s| self.state(j).0 == s)
        }) {
            if total >= offset && page.len() < size {
                page.push(j.clone());
            }
            total += 1;
        }
        (page, total)
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

/// No Interval, no Num and no TimeArray: one snapshot, taken before the submit returns.
fn is_synchronous(config: &Value) -> bool {
    config.get("Interval").is_none()
        && config.get("Num").is_none()
        && config.get("TimeArray").is_none()
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
