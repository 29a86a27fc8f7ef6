//! How the core reaches an asset's snapshots and cover:
//! - observe: the asset (ShowAssetDetail), its snapshot tasks (ListThumbnailTask), and, once
//!   the task has finished, its results (ListThumbnailDetails, every page);
//! - create: start a task with the spec's settings (CreateAssetProcessTask);
//! - diff and update: the cover (UpdateCoverByThumbnail), compared with what this object last
//!   applied, since the asset reports a cover URL of its own rather than the snapshot's;
//! - delete: the task's snapshots (DeleteThumbnails).

use std::sync::Arc;
use std::time::Duration;

use kube::Resource;

use super::reads::SharedReads;
use super::resource::{
    LISTED_SNAPSHOTS, SnapshotRef, ThumbnailSpec, VodAssetSnapshot, VodAssetSnapshotStatus,
    VodAtProvider,
};
use super::{reason, results};
use crate::clouds::huawei::error::Operation;
use crate::clouds::huawei::gateway::Gateway;
use crate::clouds::huawei::vod::{AssetDetail, Snapshot, ThumbnailPara, ThumbnailTask, VodClient};
use crate::clouds::huawei::{ApiError, ClientConfig};
use crate::core::clients::ClientPool;
use crate::core::managed::{
    Connector, Deleted, External, FieldDrift, Look, Observation, OwnershipState, Progress, Purpose,
};
use crate::core::metrics::Metrics;
use crate::core::{ReconcileError, UpstreamSettings};

/// The service's defaults, filled in so that a task listed back compares equal to the spec.
const DEFAULT_TIME: i64 = 12;
const JPG: i64 = 1;
/// `thumbnail_status` once every task of the asset has finished.
const SUCCEEDED: &str = "THUMBNAIL_SUCCEED";
const THUMBNAIL_FAILED: &str = "THUMBNAIL_FAILED";
/// `atProvider.taskState` of a failed task.
const TASK_FAILED: &str = "Failed";
/// `atProvider.taskState` of a task whose results are in.
const FINISHED: &str = "Finished";

pub struct VodConnector {
    pool: ClientPool<SharedReads>,
}

pub struct VodExternal {
    client: Arc<SharedReads>,
    /// Writes the results' ConfigMaps (spec.resultsConfigMap).
    kube: kube::Client,
    /// The asset's task ids as this round's look listed them: a create intent records them, so
    /// that a task that appears later is told from every task that existed before.
    listed: std::sync::Mutex<Option<Vec<String>>>,
}

/// `Ownership::key` of a task this object started: `task:<id>`, the id the create answered.
const TASK_KEY: &str = "task:";
/// `Ownership::key` of the one task with the spec's settings that appeared after a create whose
/// answer was lost: `found:<id>`. Most likely this object's, so it is followed and covered from
/// (the cover is of the asset this object holds, from a task with the same settings), but it
/// cannot be proven this object's, so it is never deleted with the object.
const FOUND_KEY: &str = "found:";
/// `Ownership::key` of a create intent: `before:<id>,<id>...`, the tasks that existed before it.
const BEFORE_KEY: &str = "before:";

/// What the proven ownership record says of this object's own task.
enum OwnTask<'a> {
    /// Its id, and how it is known (`TASK_KEY` or `FOUND_KEY`).
    Id(&'static str, &'a str),
    /// Started after these tasks (a create whose answer may have been lost).
    After(Vec<&'a str>),
    /// No proven record of a task of its own.
    Unknown,
}

fn own_task(status: &VodAssetSnapshotStatus) -> OwnTask<'_> {
    let key = status
        .managed
        .ownership
        .as_ref()
        .and_then(|o| o.key.as_deref());
    match key {
        Some(k) if k.starts_with(TASK_KEY) => OwnTask::Id(TASK_KEY, &k[TASK_KEY.len()..]),
        Some(k) if k.starts_with(FOUND_KEY) => OwnTask::Id(FOUND_KEY, &k[FOUND_KEY.len()..]),
        Some(k) if k.starts_with(BEFORE_KEY) => OwnTask::After(
            k[BEFORE_KEY.len()..]
                .split(',')
                .filter(|t| !t.is_empty())
                .collect(),
        ),
        _ => OwnTask::Unknown,
    }
}

/// What observe found: the asset, the task, and (once it has finished) its snapshots.
pub struct Seen {
    asset: AssetDetail,
    task_id: String,
    running: bool,
    /// The task failed: VOD's description of why.
    failed: Option<String>,
    snapshots: Vec<Snapshot>,
    /// How many snapshots the task made (`snapshots` may hold only the first ones, as recorded).
    count: i64,
    /// The cover this object last applied, as status records it (for this task).
    applied: Option<VodAtProvider>,
    /// The snapshot spec.cover names, once the snapshots are known.
    cover: Option<Snapshot>,
    /// The snapshots and cover are as status recorded them, not as read this round.
    recorded: bool,
    /// How the task is known to be this object's (`TASK_KEY`, `FOUND_KEY`), if it is.
    proof: Option<&'static str>,
    /// The ConfigMaps holding every result (spec.resultsConfigMap).
    results: Vec<String>,
}

#[async_trait::async_trait]
impl Connector<VodAssetSnapshot> for VodConnector {
    type External = VodExternal;

    fn new(settings: &UpstreamSettings, metrics: &Arc<Metrics>) -> Self {
        Self {
            pool: ClientPool::new(settings, metrics),
        }
    }

    async fn connect(
        &self,
        kube: &kube::Client,
        _obj: &VodAssetSnapshot,
        config: &ClientConfig,
        _purpose: Purpose,
    ) -> Result<VodExternal, ReconcileError> {
        let client = self.pool.get(config, || {
            let gateway = Gateway::new(config.clone())?
                .with_limiter(self.pool.limiter())
                .with_fence(self.pool.fence())
                .with_observer(self.pool.observer());
            let window = self.pool.settings().coalesce_window;
            Ok(Arc::new(SharedReads::new(VodClient::new(gateway), window)))
        })?;
        Ok(VodExternal {
            client,
            kube: kube.clone(),
            listed: Default::default(),
        })
    }

    fn evict_idle(&self, idle: Duration) {
        self.pool.evict_idle(idle);
    }

    /// The results' ConfigMaps go with the object, whatever its deletion policy.
    async fn release(
        &self,
        kube: &kube::Client,
        obj: &VodAssetSnapshot,
    ) -> Result<(), kube::Error> {
        results::remove(kube, obj).await
    }
}

/// Whether `task` is the asset's newest and the asset says its snapshots failed (VOD keeps the
/// state per asset, for the newest task).
fn failed_newest(asset: &AssetDetail, tasks: &[ThumbnailTask], task: &ThumbnailTask) -> bool {
    tasks.last().is_some_and(|t| t.task_id == task.task_id)
        && asset.thumbnail_status.as_deref() == Some(THUMBNAIL_FAILED)
}

/// The `thumbnail` object the spec asks for, with the service's defaults filled in.
pub fn thumbnail_para(spec: &ThumbnailSpec) -> ThumbnailPara {
    use super::resource::ThumbnailType::*;
    ThumbnailPara {
        kind: spec.kind.as_upstream().into(),
        time: (spec.kind == Time).then(|| spec.time.unwrap_or(DEFAULT_TIME)),
        dots: spec.dots.clone().filter(|_| spec.kind == Dots),
        quantity: spec.quantity.filter(|_| spec.kind == Quantity),
        quantity_time: spec.quantity_time.filter(|_| spec.kind == Quantity),
        cover_position: None,
        format: Some(JPG),
        aspect_ratio: Some(spec.aspect_ratio.as_upstream()),
        max_length: spec.max_length,
    }
}

/// Whether a task listed upstream was started with these settings (defaults filled in on both
/// sides; the cover position is not compared, since this object sets the cover itself).
pub fn same_settings(want: &ThumbnailPara, have: &ThumbnailPara) -> bool {
    let norm = |p: &ThumbnailPara| ThumbnailPara {
        kind: p.kind.clone(),
        time: match p.kind.as_str() {
            "time" => Some(p.time.unwrap_or(DEFAULT_TIME)),
            _ => None,
        },
        dots: p.dots.clone(),
        quantity: p.quantity,
        quantity_time: p.quantity_time.filter(|t| *t != 0),
        cover_position: None,
        format: Some(p.format.unwrap_or(JPG)),
        aspect_ratio: Some(p.aspect_ratio.unwrap_or(0)),
        max_length: p.max_length,
    };
    norm(want) == norm(have)
}

/// The snapshot spec.cover names: by position from 1, or the one nearest an offset (the
/// earlier on a tie). Snapshots are taken in time order.
pub fn pick_cover(cover: &super::resource::CoverSpec, snapshots: &[Snapshot]) -> Option<Snapshot> {
    let mut sorted: Vec<&Snapshot> = snapshots.iter().collect();
    sorted.sort_by_key(|s| s.offset);
    if let Some(url) = &cover.url {
        return snapshots.iter().find(|s| &s.url == url).cloned();
    }
    match (cover.index, cover.offset) {
        (Some(i), _) => usize::try_from(i - 1)
            .ok()
            .and_then(|i| sorted.get(i).map(|s| (*s).clone())),
        (None, Some(at)) => sorted
            .iter()
            .min_by_key(|s| ((s.offset - at).abs(), s.offset))
            .map(|s| (*s).clone()),
        (None, None) => None,
    }
}

#[async_trait::async_trait]
impl External<VodAssetSnapshot> for VodExternal {
    type Observed = Seen;

    async fn observe(
        &self,
        obj: &VodAssetSnapshot,
        status: &VodAssetSnapshotStatus,
        look: Look,
    ) -> Result<Observation<Seen>, ApiError> {
        let asset_id = obj.spec.asset_id.as_str();
        // What a look may take from a read another object of the asset made (see `reads.rs`).
        let (fresh, since) = match look {
            Look::Fresh => (true, None),
            Look::Since(t) => (false, Some(t)),
            Look::Shared => (false, None),
        };
        let Some(asset) = self.client.show_asset(asset_id, fresh, since).await? else {
            return Ok(Observation::Unavailable {
                reason: reason::ASSET_NOT_FOUND,
                message: format!(
                    "VOD asset {asset_id} does not exist in this project (VOD.10062); retrying, in case it is being uploaded"
                ),
            });
        };
        // This object's own task is the one its proven ownership record names (a tenant can
        // write status, but not a record the operator's key proves). After a create whose answer
        // was lost, it is the one task with the spec's settings that did not exist before the
        // create. A followed task (spec.taskId) is named by the spec itself. Without either, the
        // newest task with the spec's settings is someone else's, for the core's adoption rules.
        let own = own_task(status);
        let legacy = status
            .at_provider
            .as_ref()
            .and_then(|a| a.task_id.clone())
            .filter(|_| {
                // A release before task ids were recorded: its proven record names no task.
                matches!(own, OwnTask::Unknown)
                    && status
                        .managed
                        .ownership
                        .as_ref()
                        .is_some_and(|o| o.state != OwnershipState::Creating)
            });
        let from_earlier_release = legacy.is_some();
        let recorded = match &own {
            OwnTask::Id(_, id) => Some(id.to_string()),
            _ => obj.spec.task_id.clone().or(legacy),
        };
        let want = obj.spec.thumbnail.as_ref().map(thumbnail_para);
        let tasks = self.client.list_tasks(asset_id, fresh, since).await?;
        *self.listed.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(tasks.iter().map(|t| t.task_id.clone()).collect());
        let alike = |t: &&ThumbnailTask| {
            want.as_ref().is_some_and(|w| {
                t.thumbnail_para
                    .as_ref()
                    .is_some_and(|p| same_settings(w, p))
            })
        };
        let task = match (&recorded, &own) {
            (Some(id), _) => tasks.iter().find(|t| &t.task_id == id),
            (None, OwnTask::After(before)) => {
                let new: Vec<&ThumbnailTask> = tasks
                    .iter()
                    .filter(alike)
                    .filter(|t| !before.contains(&t.task_id.as_str()))
                    .collect();
                if new.len() > 1 {
                    let ids: Vec<&str> = new.iter().map(|t| t.task_id.as_str()).collect();
                    return Ok(Observation::Unavailable {
                        reason: reason::TASK_AMBIGUOUS,
                        message: format!(
                            "after a create whose answer was lost, {} tasks with this object's settings were started on asset {asset_id} ({}); none is taken as this object's, covered from or deleted: set spec.taskId to follow one",
                            new.len(),
                            ids.join(", ")
                        ),
                    });
                }
                new.first().copied()
            }
            // A failed task is nobody's to adopt: after a retry, a new one is started.
            (None, _) => tasks
                .iter()
                .rev()
                .filter(alike)
                .find(|t| !failed_newest(&asset, &tasks, t)),
        };
        let Some(task) = task else {
            if let Some(id) = &obj.spec.task_id {
                return Ok(Observation::Unavailable {
                    reason: reason::TASK_NOT_FOUND,
                    message: format!("VOD asset {asset_id} has no snapshot task {id}"),
                });
            }
            return Ok(Observation::Absent);
        };
        let proof = match &own {
            // A followed task is never this object's.
            _ if obj.spec.task_id.is_some() => None,
            OwnTask::Id(how, _) => Some(*how),
            OwnTask::After(_) => Some(FOUND_KEY),
            // A release before task ids were recorded: most likely its own, never proven.
            OwnTask::Unknown if from_earlier_release => Some(FOUND_KEY),
            // Someone else's task, found by its settings: this object's only if the core adopts
            // it (spec.adoptionPolicy), and then the user chose to let it be deleted.
            OwnTask::Unknown => Some(TASK_KEY),
        };
        let applied = status
            .at_provider
            .clone()
            .filter(|a| a.task_id.as_deref() == Some(task.task_id.as_str()));
        // The asset's thumbnail_status and exec_desc describe its newest task only (VOD keeps
        // one per asset): they are this task's only while it is the newest. A task with
        // results has finished whatever the asset says.
        let newest = tasks.last().is_some_and(|t| t.task_id == task.task_id);
        let state = asset.thumbnail_status.as_deref().filter(|_| newest);
        let finished = task.thumbnail_count.is_some_and(|n| n > 0) || state == Some(SUCCEEDED);
        // A failed task never runs again: once recorded, it stays failed even after a newer
        // task took over the asset's state.
        let recorded_failure = applied
            .as_ref()
            .filter(|a| a.task_state.as_deref() == Some(TASK_FAILED))
            .map(|a| a.failure.clone().unwrap_or_default());
        let failed = if finished {
            None
        } else if state == Some(THUMBNAIL_FAILED) {
            Some(
                asset
                    .exec_desc
                    .clone()
                    .unwrap_or_else(|| "VOD gave no description".into()),
            )
        } else {
            recorded_failure
        };
        if failed.is_some() {
            return Ok(Observation::Present(Seen {
                asset,
                task_id: task.task_id.clone(),
                running: false,
                failed,
                snapshots: Vec::new(),
                count: 0,
                applied,
                cover: None,
                recorded: false,
                proof,
                results: Vec::new(),
            }));
        }
        // A finished task's results never change. With the spec as it was when they were
        // recorded, only the asset's cover can have moved, so a resync does not read them
        // again (a reconcile a person asks for does).
        let recorded = applied.as_ref().filter(|a| {
            finished
                && look != Look::Fresh
                && a.task_state.as_deref() == Some(FINISHED)
                && obj.meta().generation == status.managed.observed_generation
                && (obj.spec.cover.is_none() || a.cover_url.is_some())
                && (obj.spec.results_config_map.is_none() || !a.results_config_maps.is_empty())
        });
        if let Some(known) = recorded {
            return Ok(Observation::Present(Seen {
                asset,
                task_id: task.task_id.clone(),
                running: false,
                failed: None,
                snapshots: known
                    .snapshots
                    .iter()
                    .map(|s| Snapshot {
                        offset: s.offset,
                        url: s.url.clone(),
                    })
                    .collect(),
                count: known.snapshot_count,
                cover: known.cover_url.clone().map(|url| Snapshot {
                    offset: known.cover_offset.unwrap_or_default(),
                    url,
                }),
                applied: Some(known.clone()),
                recorded: true,
                proof,
                results: known.results_config_maps.clone(),
            }));
        }
        // A running task has no results to read yet.
        let details = if finished {
            self.client.thumbnail_details(&task.task_id).await?
        } else {
            Default::default()
        };
        // The count is the task's total, also when its results run past what the API pages.
        let (snapshots, total) = (details.snapshots, details.total);
        let cover = match &obj.spec.cover {
            Some(c) if finished => match pick_cover(c, &snapshots) {
                Some(s) => Some(s),
                None => {
                    return Ok(Observation::Unavailable {
                        reason: reason::COVER_NOT_FOUND,
                        message: match &c.url {
                            Some(url) => format!(
                                "spec.cover.url {url} is not a snapshot of task {} of asset {asset_id}; no cover is set",
                                task.task_id
                            ),
                            None => format!(
                                "spec.cover names no snapshot: task {} made {} snapshots",
                                task.task_id,
                                snapshots.len()
                            ),
                        },
                    });
                }
            },
            _ => None,
        };
        let results = match &obj.spec.results_config_map {
            Some(name) if finished => {
                match results::publish(&self.kube, obj, name, &task.task_id, &snapshots).await {
                    Ok(names) => names,
                    Err(e) => {
                        let reason = match e {
                            results::PublishError::Taken { .. } => reason::RESULTS_CONFIGMAP_TAKEN,
                            _ => reason::RESULTS_NOT_WRITTEN,
                        };
                        return Ok(Observation::Unavailable {
                            reason,
                            message: e.to_string(),
                        });
                    }
                }
            }
            _ => Vec::new(),
        };
        Ok(Observation::Present(Seen {
            asset,
            task_id: task.task_id.clone(),
            running: !finished,
            failed: None,
            count: total,
            snapshots,
            applied,
            cover,
            recorded: false,
            proof,
            results,
        }))
    }

    async fn create(&self, obj: &VodAssetSnapshot) -> Result<Seen, ApiError> {
        let asset_id = obj.spec.asset_id.as_str();
        let Some(thumbnail) = &obj.spec.thumbnail else {
            return Err(ApiError::Config(
                "a followed task (spec.taskId) is never started by the operator".into(),
            ));
        };
        let created = self
            .client
            .create_task(asset_id, &thumbnail_para(thumbnail))
            .await;
        // Answered or not, the asset may have a new task: no look may take an older read.
        self.client.forget(asset_id);
        let task_id = created?;
        Ok(Seen {
            asset: AssetDetail {
                asset_id: asset_id.into(),
                ..Default::default()
            },
            task_id,
            running: true,
            failed: None,
            snapshots: Vec::new(),
            count: 0,
            applied: None,
            cover: None,
            recorded: false,
            proof: Some(TASK_KEY),
            results: Vec::new(),
        })
    }

    /// The cover only: the task's settings cannot differ (they are what it was found by, or
    /// it was started with them, and spec.thumbnail is immutable).
    fn diff(&self, _obj: &VodAssetSnapshot, seen: &Seen) -> Vec<FieldDrift> {
        let Some(want) = &seen.cover else {
            return Vec::new();
        };
        let applied = seen.applied.as_ref();
        let desired = format!("snapshot at {}s", want.offset);
        if applied.and_then(|a| a.cover_url.as_deref()) != Some(want.url.as_str()) {
            let observed = match applied.and_then(|a| a.cover_offset) {
                Some(o) => format!("snapshot at {o}s"),
                None => "not set by this object".into(),
            };
            return vec![FieldDrift {
                field: "cover".into(),
                desired,
                observed,
            }];
        }
        match applied.and_then(|a| a.asset_cover_url.as_deref()) {
            Some(reported) if seen.asset.cover_url.as_deref() != Some(reported) => {
                vec![FieldDrift {
                    field: "cover".into(),
                    desired,
                    observed: format!(
                        "changed upstream to {}",
                        seen.asset.cover_url.as_deref().unwrap_or("no cover")
                    ),
                }]
            }
            _ => Vec::new(),
        }
    }

    /// Sets the cover, then reads back the URL the asset reports for it, so that a later
    /// change by someone else can be told from this one.
    async fn update(&self, obj: &VodAssetSnapshot, seen: &Seen) -> Result<Seen, ApiError> {
        let Some(picked) = &seen.cover else {
            return Err(ApiError::Config("no cover to set".into()));
        };
        // The URL alone decides which asset's cover changes (the call takes no asset id), so it
        // is written only as the task's results say now: a cover recorded in status (which a
        // tenant can write) is checked against them first.
        let fresh;
        let want = match (&obj.spec.cover, seen.recorded) {
            (Some(spec), true) => {
                let details = self.client.thumbnail_details(&seen.task_id).await?;
                fresh = pick_cover(spec, &details.snapshots).ok_or_else(|| {
                    ApiError::Config(format!(
                        "spec.cover names no snapshot of task {} of asset {}; no cover is set",
                        seen.task_id, obj.spec.asset_id
                    ))
                })?;
                &fresh
            }
            _ => picked,
        };
        self.client.set_cover(&want.url).await?;
        self.client.forget(&obj.spec.asset_id);
        let asset = self
            .client
            .show_asset(&obj.spec.asset_id, true, None)
            .await?
            .ok_or_else(|| ApiError::Decode {
                operation: Operation::ShowAsset,
                detail: "the asset vanished right after its cover was set".into(),
            })?;
        let mut applied = self.at_provider(seen);
        applied.cover_url = Some(want.url.clone());
        applied.cover_offset = Some(want.offset);
        applied.asset_cover_url = asset.cover_url.clone();
        Ok(Seen {
            asset,
            task_id: seen.task_id.clone(),
            running: seen.running,
            failed: None,
            snapshots: seen.snapshots.clone(),
            count: seen.count,
            applied: Some(applied),
            cover: Some(want.clone()),
            recorded: false,
            proof: seen.proof,
            results: seen.results.clone(),
        })
    }

    /// Deletes the snapshots of the task status records; a task never recorded (a create whose
    /// answer was lost) is found by its settings.
    async fn delete(
        &self,
        obj: &VodAssetSnapshot,
        status: &VodAssetSnapshotStatus,
    ) -> Result<Deleted, ApiError> {
        // A followed task is someone else's: never deleted by this object.
        if obj.spec.thumbnail.is_none() {
            return Ok(Deleted::Gone);
        }
        // Only a task the create answered with, as the proven record names it.
        let task_id = match own_task(status) {
            OwnTask::Id(how, id) if how == TASK_KEY => id.to_string(),
            OwnTask::Id(_, id) => {
                return Ok(Deleted::Kept(format!(
                    "snapshot task {id} appeared after a create whose answer was lost, so it cannot be proven this object's; delete it by hand if it is"
                )));
            }
            OwnTask::After(_) => {
                return Ok(Deleted::Kept(
                    "the create's answer was lost and no task of it was confirmed; any task it started is left".into(),
                ));
            }
            OwnTask::Unknown => match status.at_provider.as_ref().and_then(|a| a.task_id.clone()) {
                Some(id) => {
                    return Ok(Deleted::Kept(format!(
                        "snapshot task {id} was recorded by an earlier release without proof that this object started it; delete it by hand if it is"
                    )));
                }
                None => return Ok(Deleted::Gone),
            },
        };
        let results = self
            .client
            .delete_thumbnails(&obj.spec.asset_id, std::slice::from_ref(&task_id))
            .await;
        self.client.forget(&obj.spec.asset_id);
        let results = results?;
        match results.iter().find(|r| r.task_id == task_id) {
            Some(r) if r.status == "FAILED" => Err(ApiError::Status {
                operation: Operation::DeleteThumbnails,
                status: 200,
                code: "DeleteFailed".into(),
                message: format!("the service could not delete the snapshots of task {task_id}"),
                request_id: None,
                retry_after: None,
            }),
            _ => Ok(Deleted::Gone),
        }
    }

    fn at_provider(&self, seen: &Seen) -> VodAtProvider {
        let mut snapshots: Vec<&Snapshot> = seen.snapshots.iter().collect();
        snapshots.sort_by_key(|s| s.offset);
        let applied = seen.applied.clone().unwrap_or_default();
        VodAtProvider {
            asset_id: seen.asset.asset_id.clone(),
            task_id: Some(seen.task_id.clone()),
            task_state: Some(
                match (&seen.failed, seen.running) {
                    (Some(_), _) => TASK_FAILED,
                    (None, true) => "Running",
                    (None, false) => FINISHED,
                }
                .into(),
            ),
            snapshot_count: seen.count,
            snapshots: snapshots
                .into_iter()
                .take(LISTED_SNAPSHOTS)
                .map(|s| SnapshotRef {
                    offset: s.offset,
                    url: s.url.clone(),
                })
                .collect(),
            cover_url: applied.cover_url,
            cover_offset: applied.cover_offset,
            asset_cover_url: applied.asset_cover_url,
            failure: seen.failed.clone(),
            results_config_maps: seen.results.clone(),
        }
    }

    /// The task's id, and how it is known to be this object's (see `own_task`).
    fn tag(&self, seen: &Seen) -> Option<String> {
        seen.proof.map(|how| format!("{how}{}", seen.task_id))
    }

    /// The tasks the asset had when this round looked: a task that appears later and has the
    /// spec's settings is this object's create landing, whatever else existed.
    fn intent(&self, obj: &VodAssetSnapshot) -> Option<String> {
        obj.spec.thumbnail.as_ref()?;
        let listed = self.listed.lock().unwrap_or_else(|p| p.into_inner());
        Some(format!(
            "{BEFORE_KEY}{}",
            listed.as_deref().unwrap_or_default().join(",")
        ))
    }

    fn progress(&self, seen: &Seen) -> Progress {
        if let Some(why) = &seen.failed {
            return Progress::Final {
                ready: false,
                reason: reason::SNAPSHOT_FAILED,
                message: format!(
                    "snapshot task {} failed on asset {}: {why}; set the annotation live.snapshot.dev/retry-requested-at to a new value to start a new task",
                    seen.task_id, seen.asset.asset_id
                ),
            };
        }
        if seen.running {
            Progress::Pending {
                reason: reason::SNAPSHOTTING,
                message: format!(
                    "snapshot task {} is running on asset {}",
                    seen.task_id, seen.asset.asset_id
                ),
            }
        } else {
            Progress::Ready
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::vod::resource::CoverSpec;

    fn shot(offset: i64) -> Snapshot {
        Snapshot {
            offset,
            url: format!("u{offset}"),
        }
    }

    #[test]
    fn the_cover_is_picked_by_position_or_nearest_offset() {
        let shots = [shot(24), shot(0), shot(12), shot(36)];
        let by = |index, offset| CoverSpec {
            index,
            offset,
            url: None,
        };
        assert_eq!(pick_cover(&by(Some(1), None), &shots), Some(shot(0)));
        assert_eq!(pick_cover(&by(Some(3), None), &shots), Some(shot(24)));
        assert_eq!(pick_cover(&by(Some(5), None), &shots), None);
        assert_eq!(pick_cover(&by(None, Some(13)), &shots), Some(shot(12)));
        // A tie goes to the earlier snapshot.
        assert_eq!(pick_cover(&by(None, Some(18)), &shots), Some(shot(12)));
        assert_eq!(pick_cover(&by(None, Some(999)), &shots), Some(shot(36)));
        assert_eq!(pick_cover(&by(None, Some(1)), &[]), None);
    }

    #[test]
    fn a_listed_task_matches_its_settings_with_defaults_filled_in() {
        let spec: ThumbnailSpec =
            serde_json::from_value(serde_json::json!({"type": "time"})).unwrap();
        let want = thumbnail_para(&spec);
        assert_eq!(want.time, Some(12));
        let listed = ThumbnailPara {
            kind: "time".into(),
            time: None,
            cover_position: Some(1),
            ..Default::default()
        };
        assert!(same_settings(&want, &listed));
        let other = ThumbnailPara {
            time: Some(10),
            ..listed
        };
        assert!(!same_settings(&want, &other));
    }
}
