//! Coalesced observation: one listing of a domain (all pages) answers every template of that
//! domain for a short window, with at most one listing of a domain in flight. Writes update the
//! cached listing. The API's domain-wide paging is known to be unreliable, so absence is taken
//! from a listing only when that listing proves it: for an object not yet settled upstream, a
//! listing that started after the operator first saw the object and came back complete and
//! consistent (the pages agree on `total`, no duplicates, the items add up). Otherwise a
//! template missing from a listing is confirmed by a targeted read. Coalescing may save calls, never cause a
//! duplicate or a wrong write; a create's own "already exists" answer stays the last guard.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::api::SnapshotApi;
use super::error::ApiError;
use super::model::LiveSnapshotConfig;

/// How long a domain's listing is kept for the new objects it may serve, when nothing else
/// asks for the slot.
const NEW_OBJECT_KEEP: Duration = Duration::from_secs(600);

/// One domain's last listing.
struct Entry {
    /// When its first page was asked for: it reflects every write that finished before.
    started: Instant,
    /// When it came back: it serves resyncs for `window` from then.
    finished: Instant,
    complete: bool,
    templates: HashMap<String, LiveSnapshotConfig>,
}

type Listing = Option<Entry>;

pub struct Coalescing {
    inner: Arc<dyn SnapshotApi>,
    window: Duration,
    domains: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Listing>>>>,
}

impl Coalescing {
    pub fn new(inner: Arc<dyn SnapshotApi>, window: Duration) -> Self {
        Self {
            inner,
            window,
            domains: Mutex::default(),
        }
    }

    fn slot(&self, domain: &str) -> Arc<tokio::sync::Mutex<Listing>> {
        let mut d = self.domains.lock().unwrap_or_else(|p| p.into_inner());
        if !d.contains_key(domain) {
            // Drop the listings nobody is using that no longer serve: past the resync window,
            // and old enough that the new objects they could prove absent for are done (a
            // domain's new objects keep one listing busy for as long as a convergence takes
            // to come round to them). The map holds the domains in use, not every domain seen.
            let keep = self.window.max(NEW_OBJECT_KEEP);
            // A slot somebody holds is in use even before its first listing: dropping it then
            // would let the next reader of the domain start a second listing beside the first.
            d.retain(|_, slot| {
                Arc::strong_count(slot) > 1
                    || match slot.try_lock() {
                        Ok(l) => l.as_ref().is_some_and(|e| e.finished.elapsed() < keep),
                        Err(_) => true,
                    }
            });
        }
        d.entry(domain.to_string()).or_default().clone()
    }

    /// A listing of `domain` now, keeping only that domain's templates.
    async fn list(&self, domain: &str) -> Result<Entry, ApiError> {
        let started = Instant::now();
        let (all, complete) = self.inner.list_domain_checked(domain).await?;
        let before = all.len();
        // A service that answers with another domain's templates must not make them stand in
        // for this domain's, and such an answer proves nothing.
        let templates: HashMap<String, LiveSnapshotConfig> = all
            .into_iter()
            .filter(|t| t.domain == domain)
            .map(|t| (t.app_name.clone(), t))
            .collect();
        Ok(Entry {
            started,
            finished: Instant::now(),
            complete: complete && templates.len() == before,
            templates,
        })
    }

    /// Applies our own write to a cached listing, so the next reader sees it without a call.
    async fn record(&self, domain: &str, app: &str, value: Option<LiveSnapshotConfig>) {
        let slot = self.slot(domain);
        let mut listing = slot.lock().await;
        if let Some(entry) = listing.as_mut() {
            match value {
                Some(v) => entry.templates.insert(app.to_string(), v),
                None => entry.templates.remove(app),
            };
        }
    }
}

#[async_trait]
impl SnapshotApi for Coalescing {
    fn project_id(&self) -> &str {
        self.inner.project_id()
    }

    async fn observe(
        &self,
        domain: &str,
        app_name: &str,
    ) -> Result<Option<LiveSnapshotConfig>, ApiError> {
        let found = {
            let slot = self.slot(domain);
            // Holding the slot while listing keeps one listing of a domain in flight; the
            // reconciles that queue behind it reuse its answer.
            let mut listing = slot.lock().await;
            let fresh = listing
                .as_ref()
                .is_some_and(|e| e.finished.elapsed() < self.window);
            if !fresh {
                *listing = Some(self.list(domain).await?);
            }
            listing
                .as_ref()
                .and_then(|e| e.templates.get(app_name).cloned())
        };
        match found {
            Some(t) => Ok(Some(t)),
            None => {
                let confirmed = self.inner.observe(domain, app_name).await?;
                if confirmed.is_some() {
                    self.record(domain, app_name, confirmed.clone()).await;
                }
                Ok(confirmed)
            }
        }
    }

    async fn observe_new(
        &self,
        domain: &str,
        app_name: &str,
        seen: Instant,
    ) -> Result<Option<LiveSnapshotConfig>, ApiError> {
        let (found, proven) = {
            let slot = self.slot(domain);
            // The new objects of a domain queue here behind one listing (single flight) and
            // share it, as long as it started after the operator first saw them.
            let mut listing = slot.lock().await;
            let usable = listing.as_ref().is_some_and(|e| e.started >= seen);
            if !usable {
                *listing = Some(self.list(domain).await?);
            }
            match listing.as_ref() {
                Some(e) => (e.templates.get(app_name).cloned(), e.complete),
                None => (None, false),
            }
        };
        match found {
            Some(t) => Ok(Some(t)),
            None if proven => Ok(None),
            None => self.observe_fresh(domain, app_name).await,
        }
    }

    async fn observe_fresh(
        &self,
        domain: &str,
        app_name: &str,
    ) -> Result<Option<LiveSnapshotConfig>, ApiError> {
        let seen = self.inner.observe(domain, app_name).await?;
        self.record(domain, app_name, seen.clone()).await;
        Ok(seen)
    }

    async fn list_domain(&self, domain: &str) -> Result<Vec<LiveSnapshotConfig>, ApiError> {
        self.inner.list_domain(domain).await
    }

    async fn create(&self, config: &LiveSnapshotConfig) -> Result<(), ApiError> {
        self.inner.create(config).await?;
        self.record(&config.domain, &config.app_name, Some(config.clone()))
            .await;
        Ok(())
    }

    async fn update(&self, config: &LiveSnapshotConfig) -> Result<(), ApiError> {
        self.inner.update(config).await?;
        self.record(&config.domain, &config.app_name, Some(config.clone()))
            .await;
        Ok(())
    }

    async fn delete(&self, domain: &str, app_name: &str) -> Result<(), ApiError> {
        let result = self.inner.delete(domain, app_name).await;
        // Gone either way when it succeeded or was already absent; on other errors forget the
        // listing entry too, so the next observation asks upstream.
        self.record(domain, app_name, None).await;
        result
    }
}
