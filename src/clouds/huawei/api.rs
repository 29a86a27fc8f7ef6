//! The seam between the reconcile loop and the cloud: the operator only ever calls these.

use async_trait::async_trait;

use super::error::ApiError;
use super::model::LiveSnapshotConfig;

#[async_trait]
pub trait SnapshotApi: Send + Sync {
    /// The project the calls act in (part of a template's identity).
    fn project_id(&self) -> &str;
    /// The template of (domain, app_name), by a targeted list; `None` when absent.
    async fn observe(
        &self,
        domain: &str,
        app_name: &str,
    ) -> Result<Option<LiveSnapshotConfig>, ApiError>;
    /// Like `observe`, but never answered from a shared listing: for reconciles a user asked for.
    async fn observe_fresh(
        &self,
        domain: &str,
        app_name: &str,
    ) -> Result<Option<LiveSnapshotConfig>, ApiError> {
        self.observe(domain, app_name).await
    }
    /// Every template of a domain, all pages.
    async fn list_domain(&self, domain: &str) -> Result<Vec<LiveSnapshotConfig>, ApiError>;
    /// Like `list_domain`, and whether the listing was complete and consistent (see
    /// [`super::client::Listing::complete`]); an implementation that cannot tell says false.
    async fn list_domain_checked(
        &self,
        domain: &str,
    ) -> Result<(Vec<LiveSnapshotConfig>, bool), ApiError> {
        Ok((self.list_domain(domain).await?, false))
    }
    /// For an object not yet settled upstream (new, or with an unanswered create) that this
    /// process first saw at `seen`: absence must be proven, by a complete listing started
    /// after `seen` or by a targeted read.
    async fn observe_new(
        &self,
        domain: &str,
        app_name: &str,
        _seen: std::time::Instant,
    ) -> Result<Option<LiveSnapshotConfig>, ApiError> {
        self.observe_fresh(domain, app_name).await
    }
    async fn create(&self, config: &LiveSnapshotConfig) -> Result<(), ApiError>;
    async fn update(&self, config: &LiveSnapshotConfig) -> Result<(), ApiError>;
    async fn delete(&self, domain: &str, app_name: &str) -> Result<(), ApiError>;
}

/// Told of every upstream call, for metrics (the transport's, shared by every cloud).
pub use crate::clouds::http::CallObserver;
