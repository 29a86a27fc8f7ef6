//! How the core reaches an MPS snapshot job: submitted once (`SubmitSnapshotJob`, tagged with
//! the object's UID in `UserData`), then followed through the batched by-id query until final.
//! A submit whose answer was lost is found again by its tag through the paged, filtered query
//! before anything is submitted again.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::batch::{JobBatcher, Polled};
use super::lookup::{LOOKBACK, PipelineIndex, TAG_PREFIX};
use super::reason;
use super::resource::{
    MnsMessageResult, MpsAtProvider, MpsSnapshotJob, MpsSnapshotJobStatus, OssObject, WrittenFiles,
};
use crate::clouds::alibaba::gateway::RpcGateway;
use crate::clouds::alibaba::mps::{JobState, MpsClient, OssFile, SnapshotJob};
use crate::clouds::alibaba::signer::escape;
use crate::clouds::error::ApiError;
use crate::clouds::huawei::ClientConfig;
use crate::core::clients::ClientPool;
use crate::core::managed::{
    Connector, Deleted, External, FieldDrift, Look, Observation, Progress, Purpose,
};
use crate::core::metrics::Metrics;
use crate::core::{ReconcileError, UpstreamSettings};

/// How long a job read in a batch answers its own object's poll (objects poll every 3 s).
const BATCH_WINDOW: Duration = Duration::from_secs(2);

pub struct MpsConnector {
    pool: ClientPool<(JobBatcher, PipelineIndex)>,
}

pub struct MpsExternal {
    shared: Arc<(JobBatcher, PipelineIndex)>,
}

#[async_trait::async_trait]
impl Connector<MpsSnapshotJob> for MpsConnector {
    type External = MpsExternal;

    fn new(settings: &UpstreamSettings, metrics: &Arc<Metrics>) -> Self {
        Self {
            pool: ClientPool::new(settings, metrics),
        }
    }

    async fn connect(
        &self,
        _kube: &kube::Client,
        _obj: &MpsSnapshotJob,
        config: &ClientConfig,
        _purpose: Purpose,
    ) -> Result<MpsExternal, ReconcileError> {
        let batcher = self.pool.get(config, || {
            let gateway = RpcGateway::new(config.clone())?
                .with_limiter(self.pool.limiter())
                .with_fence(self.pool.fence())
                .with_observer(self.pool.observer());
            let client = MpsClient::new(gateway);
            // The per-object observe mode (`--observe per-object`) polls each job on its own.
            let batcher = match self.pool.settings().coalesce_window {
                Some(_) => JobBatcher::new(client, BATCH_WINDOW),
                None => JobBatcher::per_job(client),
            };
            Ok(Arc::new((batcher, PipelineIndex::default())))
        })?;
        Ok(MpsExternal { shared: batcher })
    }

    fn evict_idle(&self, idle: Duration) {
        self.pool.evict_idle(idle);
    }
}

/// The operator's tag of this object's job: `lso-` and 32 hex digits of a digest of what the
/// manifest says (spec.jobKey, or the namespace, the name and the spec) and of the retry
/// request being served. The same manifest gives the same tag on any cluster, so a rebuilt
/// cluster finds its jobs; a retry gives a new one, so a retried job is a new job.
pub fn tag(obj: &MpsSnapshotJob) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    match &obj.spec.job_key {
        Some(key) => h.update(format!("jobKey\n{key}")),
        None => {
            let meta = &obj.metadata;
            h.update(format!(
                "object\n{}\n{}\n",
                meta.namespace.as_deref().unwrap_or_default(),
                meta.name.as_deref().unwrap_or_default()
            ));
            // Field order is the struct's and unset fields are left out: stable across
            // clusters and releases that add optional fields.
            h.update(serde_json::to_vec(&obj.spec).unwrap_or_default());
        }
    }
    if let Some(retry) = crate::core::managed::Managed::retry_request(obj) {
        h.update(format!("\nretry\n{retry}"));
    }
    format!("{TAG_PREFIX}{}", &hex::encode(h.finalize())[..32])
}

/// The `UserData` a job is submitted with: the user's own value, then the operator's tag.
pub fn user_data(obj: &MpsSnapshotJob) -> String {
    match &obj.spec.user_data {
        Some(own) => format!("{own}-{}", tag(obj)),
        None => tag(obj),
    }
}

fn oss(o: &OssObject) -> OssFile {
    OssFile {
        bucket: o.bucket.clone(),
        location: o.location.clone(),
        // The API takes the object name URL-encoded.
        object: escape(&o.object),
        role_arn: o.role_arn.clone(),
    }
}

/// `SnapshotConfig` as the API takes it: scalars as strings, time points as numbers.
pub fn snapshot_config(obj: &MpsSnapshotJob) -> Value {
    let s = &obj.spec.snapshot;
    let mut c = Map::new();
    if let Some(output) = &obj.spec.output {
        c.insert("OutputFile".into(), json!(oss(output)));
    }
    let mut put = |k: &str, v: Option<i64>| {
        if let Some(v) = v {
            c.insert(k.into(), Value::String(v.to_string()));
        }
    };
    put("Time", s.time_ms);
    put("Interval", s.interval);
    put("Num", s.num);
    put("Width", s.width);
    put("Height", s.height);
    if let Some(f) = s.frame_type {
        let name = match f {
            super::resource::FrameType::Normal => "normal",
            super::resource::FrameType::Intra => "intra",
        };
        c.insert("FrameType".into(), name.into());
    }
    if let Some(points) = &s.time_points_ms {
        // Whole milliseconds go as integers (1000, not 1000.0), fractions as they are.
        let points: Vec<Value> = points
            .iter()
            .map(|&p| {
                if p.fract() == 0.0 && p.abs() < 9.0e15 {
                    json!(p as i64)
                } else {
                    json!(p)
                }
            })
            .collect();
        c.insert("TimeArray".into(), json!({"TimePointList": points}));
    }
    if let Some(t) = &s.tile {
        let mut tile = Map::new();
        for (k, v) in [
            ("Lines", t.lines),
            ("Columns", t.columns),
            ("CellWidth", t.cell_width),
            ("CellHeight", t.cell_height),
            ("CellSelStep", t.cell_sel_step),
            ("Margin", t.margin),
            ("Padding", t.padding),
        ] {
            if let Some(v) = v {
                tile.insert(k.into(), Value::String(v.to_string()));
            }
        }
        if let Some(color) = &t.color {
            tile.insert("Color".into(), color.clone().into());
        }
        if let Some(keep) = t.keep_cell_pictures {
            tile.insert("IsKeepCellPic".into(), keep.to_string().into());
        }
        c.insert("TileOut".into(), Value::Object(tile));
        c.insert("TileOutputFile".into(), json!(oss(&t.output)));
    }
    Value::Object(c)
}

#[async_trait::async_trait]
impl External<MpsSnapshotJob> for MpsExternal {
    type Observed = SnapshotJob;

    async fn observe(
        &self,
        obj: &MpsSnapshotJob,
        status: &MpsSnapshotJobStatus,
        look: Look,
    ) -> Result<Observation<SnapshotJob>, ApiError> {
        if let Some(at) = status.at_provider.as_ref().filter(|a| !a.job_id.is_empty()) {
            // A final job never changes: it costs no call unless a person asks.
            if look != Look::Fresh && JobState::parse(&at.state).is_some_and(|s| s.is_final()) {
                return Ok(Observation::Present(from_status(at)));
            }
            return Ok(
                match self.batcher().poll(&at.job_id, look == Look::Fresh).await? {
                    Polled::Job(job) => Observation::Present(*job),
                    Polled::Missing => Observation::Unavailable {
                        reason: reason::JOB_NOT_FOUND,
                        message: format!(
                            "MPS no longer knows job {}; create a new object to run it again",
                            at.job_id
                        ),
                    },
                },
            );
        }
        // A job submitted elsewhere, followed by its id: read-only.
        if let Some(id) = &obj.spec.job_id {
            return Ok(match self.batcher().poll(id, look == Look::Fresh).await? {
                Polled::Job(job) => Observation::Present(*job),
                Polled::Missing => Observation::Absent,
            });
        }
        let Some(pipeline) = obj.spec.pipeline_id.as_deref() else {
            return Ok(Observation::Absent);
        };
        // No job recorded. With an intent on record, a submit whose answer was lost is found
        // by the tag the intent names; without one, the job this manifest submitted from a
        // cluster since rebuilt is found by the same tag, within the lookback.
        let own = status.managed.ownership.as_ref();
        let tagged = match own {
            Some(o) => o.key.clone().unwrap_or_else(|| {
                // An intent recorded by a release that tagged jobs with the object's UID.
                format!(
                    "{TAG_PREFIX}{}",
                    kube::ResourceExt::uid(obj).unwrap_or_default()
                )
            }),
            None => user_data(obj),
        };
        let since = own.map_or_else(|| jiff::Timestamp::now() - LOOKBACK, |o| o.since.0);
        let asked = match look {
            Look::Since(t) => tokio::time::Instant::from_std(t),
            _ => tokio::time::Instant::now(),
        };
        let (found, _) = self
            .shared
            .1
            .find(self.batcher().client(), pipeline, &tagged, since, asked)
            .await?;
        Ok(match found {
            Some(job) => Observation::Present(job),
            None => Observation::Absent,
        })
    }

    async fn create(&self, obj: &MpsSnapshotJob) -> Result<SnapshotJob, ApiError> {
        let (Some(pipeline), Some(input)) = (&obj.spec.pipeline_id, &obj.spec.input) else {
            return Err(ApiError::Config(
                "a job is submitted only with pipelineId, input and output".into(),
            ));
        };
        let job = self
            .batcher()
            .client()
            .submit(
                &oss(input),
                &snapshot_config(obj),
                pipeline,
                &user_data(obj),
            )
            .await?;
        self.batcher().register(&job);
        Ok(job)
    }

    /// Nothing to compare: the spec is immutable and the job was submitted with it.
    fn diff(&self, _obj: &MpsSnapshotJob, _seen: &SnapshotJob) -> Vec<FieldDrift> {
        Vec::new()
    }

    async fn update(
        &self,
        _obj: &MpsSnapshotJob,
        _seen: &SnapshotJob,
    ) -> Result<SnapshotJob, ApiError> {
        Err(ApiError::Config("a submitted job is never changed".into()))
    }

    /// A finished job and its output stay: there is nothing to delete upstream.
    async fn delete(
        &self,
        _obj: &MpsSnapshotJob,
        _status: &MpsSnapshotJobStatus,
    ) -> Result<Deleted, ApiError> {
        Ok(Deleted::Gone)
    }

    fn at_provider(&self, job: &SnapshotJob) -> MpsAtProvider {
        MpsAtProvider {
            job_id: job.id.clone(),
            state: job.state.clone(),
            code: job.code.clone(),
            message: job.message.clone(),
            count: job.count.unwrap_or(0),
            tile_count: job.tile_count.unwrap_or(0),
            creation_time: job.creation_time.clone(),
            pipeline_id: job.pipeline_id.clone(),
            user_data: job.user_data.clone(),
            output: written(job, "OutputFile", job.count),
            tile_output: written(job, "TileOutputFile", job.tile_count),
            mns_message_result: job.mns_message_result.as_ref().map(|m| MnsMessageResult {
                message_id: m.message_id.clone(),
                error_code: m.error_code.clone(),
                error_message: m.error_message.clone(),
            }),
        }
    }

    fn tag(&self, job: &SnapshotJob) -> Option<String> {
        job.user_data.clone()
    }

    fn progress(&self, job: &SnapshotJob) -> Progress {
        match job.job_state() {
            Some(JobState::Success) => Progress::Final {
                ready: true,
                reason: reason::SUCCEEDED,
                message: format!(
                    "job {} took {} snapshots ({} mosaic images)",
                    job.id,
                    job.count.unwrap_or(0),
                    job.tile_count.unwrap_or(0)
                ),
            },
            Some(JobState::Fail) => Progress::Final {
                ready: false,
                reason: crate::core::report::reason::FAILED,
                message: format!(
                    "job {} failed: {}: {}",
                    job.id,
                    job.code.as_deref().unwrap_or("no code"),
                    job.message.as_deref().unwrap_or("no message")
                ),
            },
            Some(JobState::Snapshotting) => Progress::Pending {
                reason: reason::SNAPSHOTTING,
                message: format!("job {} is taking snapshots", job.id),
            },
            Some(JobState::Submitted) => Progress::Pending {
                reason: reason::SUBMITTED,
                message: format!(
                    "job {} is queued in pipeline {}",
                    job.id,
                    job.pipeline_id.as_deref().unwrap_or("?")
                ),
            },
            None => Progress::Unrecognised {
                message: format!(
                    "job {} is in state {:?}, which this operator does not know; looking again with backoff",
                    job.id, job.state
                ),
            },
        }
    }
}

impl MpsExternal {
    fn batcher(&self) -> &JobBatcher {
        &self.shared.0
    }
}

/// Where a job wrote `file` (`OutputFile`, `TileOutputFile`) as it echoes its config, decoded.
fn written(job: &SnapshotJob, file: &str, count: Option<i64>) -> Option<WrittenFiles> {
    let f = job.snapshot_config.as_ref()?.get(file)?;
    let text = |k: &str| f.get(k).and_then(|v| v.as_str()).unwrap_or_default();
    Some(WrittenFiles {
        bucket: text("Bucket").into(),
        location: text("Location").into(),
        object_pattern: percent_encoding::percent_decode_str(text("Object"))
            .decode_utf8_lossy()
            .into_owned(),
        count: count.unwrap_or(0),
    })
}

/// The job as status last recorded it (a final job is not read again).
fn from_status(at: &MpsAtProvider) -> SnapshotJob {
    SnapshotJob {
        id: at.job_id.clone(),
        state: at.state.clone(),
        code: at.code.clone(),
        message: at.message.clone(),
        count: Some(at.count),
        tile_count: Some(at.tile_count),
        creation_time: at.creation_time.clone(),
        pipeline_id: at.pipeline_id.clone(),
        user_data: at.user_data.clone(),
        ..Default::default()
    }
}
