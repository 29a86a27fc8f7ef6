//! The VOD simulator's state: media assets, their snapshot tasks and their cover. Snapshot
//! results appear a configurable time after a task starts, as the real service's do.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// The asset states that matter here (the service has more; these are the ones a snapshot
/// task and a cover update look at).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AssetState {
    /// Still uploading or transcoding: tasks answer VOD.10060, cover updates VOD.10061.
    Transcoding,
    Published,
}

/// The `thumbnail` object as sent: the operator client's wire model, so the two cannot drift.
pub use live_snapshot_operator::clouds::huawei::vod::ThumbnailPara as ThumbnailParams;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    pub offset: i64,
    pub url: String,
}

#[derive(Clone, Debug)]
pub struct Task {
    pub id: String,
    pub params: ThumbnailParams,
    pub started: Instant,
    pub results: Vec<Snapshot>,
    /// The task fails once it has run, with this `exec_desc`.
    pub fails: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Asset {
    pub id: String,
    pub state: AssetState,
    pub duration: i64,
    /// The cover as ShowAssetDetail reports it: a cover object of its own, never the snapshot
    /// URL that was set (the real service's relation is undocumented; this is the reading that
    /// forces a client to remember what it applied).
    pub cover_url: Option<String>,
    /// The snapshot URL last set as cover.
    pub cover_source: Option<String>,
    pub covers_set: u64,
    pub tasks: Vec<Task>,
}

pub const CDN: &str = "https://sim-cdn.vod.example.com";

#[derive(Default)]
pub struct VodStore {
    assets: Mutex<BTreeMap<(String, String), Asset>>,
    next_task: Mutex<u64>,
    /// How long a task takes before its snapshots appear.
    pub task_delay: Mutex<Duration>,
    /// Assets whose next tasks fail, with the `exec_desc` they report.
    failing: Mutex<BTreeMap<String, String>>,
}

impl VodStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, String), Asset>> {
        self.assets.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_task_delay(&self, d: Duration) {
        *self.task_delay.lock().unwrap_or_else(|p| p.into_inner()) = d;
    }

    fn delay(&self) -> Duration {
        *self.task_delay.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds (or replaces) an asset of `duration` seconds in `project`.
    pub fn put_asset(&self, project: &str, id: &str, state: AssetState, duration: i64) {
        let initial_cover = Some(format!("{CDN}/shield/asset/{id}/cover/original.jpg"));
        self.lock().insert(
            (project.into(), id.into()),
            Asset {
                id: id.into(),
                state,
                duration,
                cover_url: initial_cover,
                cover_source: None,
                covers_set: 0,
                tasks: Vec::new(),
            },
        );
    }

    /// Tasks started on `asset` from now on fail with `exec_desc` (`None`: they succeed again).
    pub fn fail_tasks(&self, asset: &str, exec_desc: Option<&str>) {
        let mut f = self.failing.lock().unwrap_or_else(|p| p.into_inner());
        match exec_desc {
            Some(d) => f.insert(asset.into(), d.into()),
            None => f.remove(asset),
        };
    }

    /// Whether a task has run (its results or its failure are visible).
    pub fn done(&self, task: &Task) -> bool {
        task.started.elapsed() >= self.delay()
    }

    pub fn set_state(&self, project: &str, id: &str, state: AssetState) -> bool {
        match self.lock().get_mut(&(project.into(), id.into())) {
            Some(a) => {
                a.state = state;
                true
            }
            None => false,
        }
    }

    /// Somebody else sets the cover (the console, another tool): drift for an operator.
    pub fn set_cover_by_hand(&self, project: &str, id: &str, url: &str) {
        if let Some(a) = self.lock().get_mut(&(project.into(), id.into())) {
            a.cover_url = Some(url.into());
            a.cover_source = None;
        }
    }

    pub fn asset(&self, project: &str, id: &str) -> Option<Asset> {
        self.lock().get(&(project.into(), id.into())).cloned()
    }

    /// The snapshots of a task that are visible now (none until the task has run).
    pub fn visible(&self, task: &Task) -> Vec<Snapshot> {
        if task.fails.is_none() && self.done(task) {
            task.results.clone()
        } else {
            Vec::new()
        }
    }

    pub fn find_task(&self, project: &str, task_id: &str) -> Option<Task> {
        self.lock()
            .iter()
            .filter(|((p, _), _)| p == project)
            .flat_map(|(_, a)| a.tasks.iter())
            .find(|t| t.id == task_id)
            .cloned()
    }

    pub fn start_task(
        &self,
        project: &str,
        asset: &str,
        params: ThumbnailParams,
    ) -> Option<String> {
        let fails = self
            .failing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(asset)
            .cloned();
        let mut n = self.next_task.lock().unwrap_or_else(|p| p.into_inner());
        *n += 1;
        let id = format!("{:032x}", 0x7d3c_0000_u64 + *n);
        let mut assets = self.lock();
        let a = assets.get_mut(&(project.into(), asset.into()))?;
        let offsets = offsets(&params, a.duration);
        let results = offsets
            .into_iter()
            .enumerate()
            .map(|(i, offset)| Snapshot {
                offset,
                url: format!("{CDN}/shield/asset/{asset}/snapshot/{id}/{i}.jpg"),
            })
            .collect();
        a.tasks.push(Task {
            id: id.clone(),
            params,
            started: Instant::now(),
            results,
            fails,
        });
        Some(id)
    }

    /// Sets the cover from one of the asset's snapshots, found by its URL.
    pub fn set_cover(&self, project: &str, url: &str) -> Result<(), CoverError> {
        let delay = self.delay();
        let mut assets = self.lock();
        let asset = assets
            .iter_mut()
            .filter(|((p, _), _)| p == project)
            .map(|(_, a)| a)
            .find(|a| {
                a.tasks
                    .iter()
                    .any(|t| t.started.elapsed() >= delay && t.results.iter().any(|s| s.url == url))
            })
            .ok_or(CoverError::Unknown)?;
        if asset.state != AssetState::Published {
            return Err(CoverError::State);
        }
        asset.covers_set += 1;
        asset.cover_url = Some(format!(
            "{CDN}/shield/asset/{}/cover/{}.jpg",
            asset.id, asset.covers_set
        ));
        asset.cover_source = Some(url.into());
        Ok(())
    }

    /// Deletes tasks (their snapshots) of an asset; per task whether it existed.
    pub fn delete_tasks(
        &self,
        project: &str,
        asset: &str,
        tasks: &[String],
    ) -> Vec<(String, bool)> {
        let mut assets = self.lock();
        let Some(a) = assets.get_mut(&(project.into(), asset.into())) else {
            return tasks.iter().map(|t| (t.clone(), false)).collect();
        };
        tasks
            .iter()
            .map(|t| {
                let before = a.tasks.len();
                a.tasks.retain(|x| &x.id != t);
                (t.clone(), a.tasks.len() < before)
            })
            .collect()
    }

    pub fn task_count(&self) -> usize {
        self.lock().values().map(|a| a.tasks.len()).sum()
    }
}

pub enum CoverError {
    Unknown,
    State,
}

/// Where a task's snapshots fall, in seconds: every `time` seconds, at the given `dots`, or
/// `quantity` evenly spread.
pub fn offsets(p: &ThumbnailParams, duration: i64) -> Vec<i64> {
    let duration = duration.max(1);
    match p.kind.as_str() {
        "time" => {
            let step = p.time.unwrap_or(12).max(1);
            (0..duration).step_by(step as usize).collect()
        }
        "dots" => p
            .dots
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter(|d| (0..=duration).contains(d))
            .collect(),
        "quantity" => {
            let n = p.quantity.unwrap_or(1).max(1);
            let span = p
                .quantity_time
                .filter(|t| *t > 0)
                .unwrap_or(duration)
                .min(duration);
            (1..=n).map(|i| span * i / (n + 1)).collect()
        }
        _ => Vec::new(),
    }
}
