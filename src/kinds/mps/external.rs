//! How the core reaches an MPS snapshot job: submitted once (`SubmitSnapshotJob`, tagged with
//! the object's UID in `UserData`), then followed through the batched by-id query until final.
//! A submit whose answer was lost is found again by its tag through the paged, filtered query
//! before anything is submitted again.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::batch::{JobBatcher, Polled};
use super::reason;
use super::resource::{MpsAtProvider, MpsSnapshotJob, MpsSnapshotJobStatus, OssObject};
use crate::clouds::alibaba::gateway::RpcGateway;
use crate::clouds::alibaba::mps::{JobFilter, JobState, MpsClient, OssFile, SnapshotJob};
use crate::clouds::alibaba::signer::escape;
use crate::clouds::error::ApiError;
use crate::clouds::huawei::ClientConfig;
use crate::core::clients::ClientPool;
use crate::core::managed::{Connector, External, FieldDrift, Look, Observation, Progress, Purpose};
use crate::core::metrics::Metrics;
use crate::core::{Context, ReconcileError, UpstreamSettings};

/// How long a job read in a batch answers its own object's poll (objects poll every 3 s).
const BATCH_WINDOW: Duration = Duration::from_secs(2);
/// How far before the recorded intent a lost submit is looked for (clock skew between the
/// operator and the service).
const SEARCH_SLACK: jiff::SignedDuration = jiff::SignedDuration::from_mins(10);

pub struct MpsConnector {
    pool: ClientPool<JobBatcher>,
}

pub struct MpsExternal {
    batcher: Arc<JobBatcher>,
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
        _ctx: &Context<MpsSnapshotJob>,
        _obj: &MpsSnapshotJob,
        config: &ClientConfig,
        _purpose: Purpose,
    ) -> Result<MpsExternal, ReconcileError> {
        let batcher = self.pool.get(config, || {
            let gateway = RpcGateway::new(config.clone())?
                .with_limiter(self.pool.limiter())
                .with_observer(self.pool.observer());
            let client = MpsClient::new(gateway);
            // The per-object observe mode (`--observe per-object`) polls each job on its own.
            Ok(Arc::new(match self.pool.settings().coalesce_window {
                Some(_) => JobBatcher::new(client, BATCH_WINDOW),
                None => JobBatcher::per_job(client),
            }))
        })?;
        Ok(MpsExternal { batcher })
    }

    fn evict_idle(&self, idle: Duration) {
        self.pool.evict_idle(idle);
    }
}

/// The `UserData` a job is tagged with: how a lost submit is recognised as this object's.
pub fn tag(obj: &MpsSnapshotJob) -> String {
    format!("lso-{}", kube::ResourceExt::uid(obj).unwrap_or_default())
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
    c.insert("OutputFile".into(), json!(oss(&obj.spec.output)));
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
                match self.batcher.poll(&at.job_id, look == Look::Fresh).await? {
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
        // No job recorded. The intent is written before any submit, so without one nothing
        // was submitted; with one, a submit whose answer was lost is found by its tag.
        let Some(own) = status.managed.ownership.as_ref() else {
            return Ok(Observation::Absent);
        };
        let filter = JobFilter {
            pipeline_id: Some(obj.spec.pipeline_id.clone()),
            created_from: Some(own.since.0 - SEARCH_SLACK),
            ..Default::default()
        };
        let tag = tag(obj);
        let jobs = self.batcher.client().list(&filter).await?;
        Ok(
            match jobs
                .into_iter()
                .find(|j| j.user_data.as_deref() == Some(tag.as_str()))
            {
                Some(job) => Observation::Present(job),
                None => Observation::Absent,
            },
        )
    }

    async fn create(&self, obj: &MpsSnapshotJob) -> Result<SnapshotJob, ApiError> {
        let job = self
            .batcher
            .client()
            .submit(
                &oss(&obj.spec.input),
                &snapshot_config(obj),
                &obj.spec.pipeline_id,
                &tag(obj),
            )
            .await?;
        self.batcher.register(&job);
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
    ) -> Result<(), ApiError> {
        Ok(())
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
        }
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
            Some(JobState::Submitted) | None => Progress::Pending {
                reason: reason::SUBMITTED,
                message: format!(
                    "job {} is queued in pipeline {}",
                    job.id,
                    job.pipeline_id.as_deref().unwrap_or("?")
                ),
            },
        }
    }
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
        ..Default::default()
    }
}
