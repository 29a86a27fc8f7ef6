//! How the core reaches a Live template: a pooled client per credential (rate limited, with
//! coalesced domain listings), the desired template built from spec and the callback key, and
//! the read each `Look` asks for.

use std::sync::Arc;
use std::time::Duration;

use super::desired::{at_provider, desired, diff, merged_update};
use super::resource::{AtProvider, LiveSnapshotTemplate};
use crate::clouds::huawei::coalesce::Coalescing;
use crate::clouds::huawei::{ApiError, ClientConfig, LiveClient, LiveSnapshotConfig, SnapshotApi};
use crate::core::clients::ClientPool;
use crate::core::credentials::{self, CredentialsError};
use crate::core::managed::{Connector, Deleted, External, FieldDrift, Look, Observation, Purpose};
use crate::core::metrics::Metrics;
use crate::core::{ReconcileError, UpstreamSettings};

pub struct LiveConnector {
    pool: ClientPool<dyn SnapshotApi>,
}

pub struct LiveExternal {
    api: Arc<dyn SnapshotApi>,
    /// The template spec asks for (`None` when connected only to delete).
    want: Option<LiveSnapshotConfig>,
}

#[async_trait::async_trait]
impl Connector<LiveSnapshotTemplate> for LiveConnector {
    type External = LiveExternal;

    fn new(settings: &UpstreamSettings, metrics: &Arc<Metrics>) -> Self {
        Self {
            pool: ClientPool::new(settings, metrics),
        }
    }

    async fn connect(
        &self,
        kube: &kube::Client,
        obj: &LiveSnapshotTemplate,
        config: &ClientConfig,
        purpose: Purpose,
    ) -> Result<LiveExternal, ReconcileError> {
        let want = match purpose {
            Purpose::Sync => Some(desired(&obj.spec, auth_key(kube, obj).await?)),
            Purpose::Delete => None,
        };
        let api = self.pool.get(config, || {
            let client = LiveClient::new(config.clone())?
                .with_limiter(self.pool.limiter())
                .with_fence(self.pool.fence())
                .with_observer(self.pool.observer());
            Ok(match self.pool.settings().coalesce_window {
                Some(window) => Arc::new(Coalescing::new(Arc::new(client), window)),
                None => Arc::new(client),
            })
        })?;
        Ok(LiveExternal { api, want })
    }

    fn evict_idle(&self, idle: Duration) {
        self.pool.evict_idle(idle);
    }
}

impl LiveExternal {
    fn want(&self) -> Result<&LiveSnapshotConfig, ApiError> {
        self.want
            .as_ref()
            .ok_or_else(|| ApiError::Config("connected for deletion only".into()))
    }
}

#[async_trait::async_trait]
impl External<LiveSnapshotTemplate> for LiveExternal {
    type Observed = LiveSnapshotConfig;

    async fn observe(
        &self,
        obj: &LiveSnapshotTemplate,
        _status: &super::resource::LiveSnapshotTemplateStatus,
        look: Look,
    ) -> Result<Observation<LiveSnapshotConfig>, ApiError> {
        let (domain, app) = (obj.spec.domain.as_str(), obj.spec.app_name.as_str());
        let seen = match look {
            Look::Fresh => self.api.observe_fresh(domain, app).await?,
            // Any complete listing of the domain started after `since` proves absence; the new
            // objects of a domain share one.
            Look::Since(since) => self.api.observe_new(domain, app, since).await?,
            Look::Shared => self.api.observe(domain, app).await?,
        };
        Ok(match seen {
            Some(t) => Observation::Present(t),
            None => Observation::Absent,
        })
    }

    async fn create(&self, _obj: &LiveSnapshotTemplate) -> Result<LiveSnapshotConfig, ApiError> {
        let want = self.want()?;
        self.api.create(want).await?;
        Ok(want.clone())
    }

    fn diff(&self, _obj: &LiveSnapshotTemplate, seen: &LiveSnapshotConfig) -> Vec<FieldDrift> {
        match &self.want {
            Some(want) => diff(want, seen),
            None => Vec::new(),
        }
    }

    /// Sends the whole template, spec's fields over what upstream has for the rest.
    async fn update(
        &self,
        _obj: &LiveSnapshotTemplate,
        seen: &LiveSnapshotConfig,
    ) -> Result<LiveSnapshotConfig, ApiError> {
        let body = merged_update(self.want()?, seen);
        self.api.update(&body).await?;
        Ok(body)
    }

    async fn delete(
        &self,
        obj: &LiveSnapshotTemplate,
        _status: &super::resource::LiveSnapshotTemplateStatus,
    ) -> Result<Deleted, ApiError> {
        self.api
            .delete(&obj.spec.domain, &obj.spec.app_name)
            .await?;
        Ok(Deleted::Gone)
    }

    fn at_provider(&self, seen: &LiveSnapshotConfig) -> AtProvider {
        at_provider(seen)
    }
}

/// The callback key, when the spec references one.
async fn auth_key(
    client: &kube::Client,
    obj: &LiveSnapshotTemplate,
) -> Result<Option<String>, CredentialsError> {
    let Some(reference) = obj
        .spec
        .callback
        .as_ref()
        .and_then(|c| c.auth_key_secret_ref.as_ref())
    else {
        return Ok(None);
    };
    let namespace = kube::ResourceExt::namespace(obj).unwrap_or_default();
    let key =
        credentials::secret_value(client, &namespace, &reference.name, &reference.key).await?;
    let n = key.chars().count();
    if !(32..=128).contains(&n) {
        return Err(CredentialsError::KeyInvalid {
            name: reference.name.clone(),
            key: reference.key.clone(),
            problem: format!("a callback key must be 32 to 128 characters, this one has {n}"),
        });
    }
    Ok(Some(key))
}
