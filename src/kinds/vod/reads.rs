//! Reads of one asset shared between the objects that look at it: many objects following tasks
//! of one asset (spec.taskId) resync together (one resync slot per asset) and take the asset
//! and its task list from one read made within the coalescing window, rather than two calls
//! each. One cache per client, and so per credential set: objects with other credentials never
//! see these reads. A look that must be fresh (a reconcile asked for, a create of ours that may
//! be landing) always reads; a look that needs proof of absence takes only a read started after
//! the moment it names; this client's own writes to an asset drop its entry.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::clouds::error::ApiError;
use crate::clouds::huawei::vod::{AssetDetail, ThumbnailTask, VodClient};

#[derive(Default)]
struct Entry {
    asset: Option<(Instant, Option<AssetDetail>)>,
    tasks: Option<(Instant, Vec<ThumbnailTask>)>,
}

pub struct SharedReads {
    client: VodClient,
    /// How long a read serves others; `None`: never shared.
    window: Option<Duration>,
    entries: Mutex<HashMap<String, Entry>>,
}

impl std::ops::Deref for SharedReads {
    type Target = VodClient;

    fn deref(&self) -> &VodClient {
        &self.client
    }
}

impl SharedReads {
    pub fn new(client: VodClient, window: Option<Duration>) -> Self {
        Self {
            client,
            window,
            entries: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The oldest read a look may take: `since` itself, or (for any recent read) the window.
    fn floor(&self, since: Option<Instant>) -> Option<Instant> {
        let window = self.window?;
        let recent = Instant::now().checked_sub(window)?;
        Some(since.map_or(recent, |s| s.max(recent)))
    }

    /// The asset, from a read started at or after `since` (`None`: any read within the window)
    /// when `fresh` is false.
    pub async fn show_asset(
        &self,
        asset_id: &str,
        fresh: bool,
        since: Option<Instant>,
    ) -> Result<Option<AssetDetail>, ApiError> {
        self.shared(
            asset_id,
            self.floor(since).filter(|_| !fresh),
            |e| &mut e.asset,
            self.client.show_asset(asset_id),
        )
        .await
    }

    /// The asset's tasks, as `show_asset` shares them.
    pub async fn list_tasks(
        &self,
        asset_id: &str,
        fresh: bool,
        since: Option<Instant>,
    ) -> Result<Vec<ThumbnailTask>, ApiError> {
        self.shared(
            asset_id,
            self.floor(since).filter(|_| !fresh),
            |e| &mut e.tasks,
            self.client.list_tasks(asset_id),
        )
        .await
    }

    /// The value `slot` holds for the asset when it was read at or after `floor`; otherwise
    /// `read`'s, kept for the others.
    async fn shared<T: Clone>(
        &self,
        asset_id: &str,
        floor: Option<Instant>,
        slot: impl Fn(&mut Entry) -> &mut Option<(Instant, T)>,
        read: impl std::future::Future<Output = Result<T, ApiError>>,
    ) -> Result<T, ApiError> {
        if let Some(floor) = floor {
            let mut entries = self.lock();
            if let Some((at, value)) = entries.get_mut(asset_id).and_then(|e| slot(e).clone())
                && at >= floor
            {
                return Ok(value);
            }
        }
        let started = Instant::now();
        let value = read.await?;
        if self.window.is_some() {
            self.store(asset_id, |e| *slot(e) = Some((started, value.clone())));
        }
        Ok(value)
    }

    /// This client wrote to the asset: its reads are stale.
    pub fn forget(&self, asset_id: &str) {
        self.lock().remove(asset_id);
    }

    fn store(&self, asset_id: &str, set: impl FnOnce(&mut Entry)) {
        let mut entries = self.lock();
        // Entries past the window serve nobody: drop them as others are added.
        if let Some(window) = self.window
            && let Some(old) = Instant::now().checked_sub(window)
        {
            entries.retain(|_, e| {
                e.asset.as_ref().is_some_and(|(at, _)| *at >= old)
                    || e.tasks.as_ref().is_some_and(|(at, _)| *at >= old)
            });
        }
        set(entries.entry(asset_id.to_string()).or_default());
    }
}
