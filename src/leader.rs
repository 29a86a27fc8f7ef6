//! Leader election through a `coordination.k8s.io` Lease (kube-lease-manager): only the holder
//! reconciles; a standby takes over once the holder stops renewing.

use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube_lease_manager::{LeaseManagerBuilder, LeaseManagerError};
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Clone, Debug)]
pub struct LeaderConfig {
    pub namespace: String,
    pub lease_name: String,
    pub identity: String,
    pub duration: Duration,
    pub grace: Duration,
}

/// A running election: `leading` says whether this process holds the Lease right now.
pub struct Election {
    pub leading: watch::Receiver<bool>,
    task: JoinHandle<Result<kube_lease_manager::LeaseManager, LeaseManagerError>>,
}

pub async fn start(
    client: kube::Client,
    cfg: &LeaderConfig,
) -> Result<Election, LeaseManagerError> {
    let manager = LeaseManagerBuilder::new(client, cfg.lease_name.clone())
        .with_namespace(cfg.namespace.clone())
        .with_identity(cfg.identity.clone())
        .with_duration(cfg.duration.as_secs().max(2))
        .with_grace(
            cfg.grace
                .as_secs()
                .clamp(1, cfg.duration.as_secs().max(2) - 1),
        )
        .build()
        .await?;
    let (leading, task) = manager.watch().await;
    Ok(Election { leading, task })
}

impl Election {
    /// Waits until this process leads; `false` when `stop` fired first.
    pub async fn acquired(&mut self, mut stop: watch::Receiver<bool>) -> bool {
        loop {
            if *self.leading.borrow_and_update() {
                return true;
            }
            tokio::select! {
                changed = self.leading.changed() => if changed.is_err() { return false },
                _ = stop.wait_for(|s| *s) => return false,
            }
        }
    }

    /// Resolves when leadership is lost.
    pub fn lost(&self) -> impl std::future::Future<Output = ()> + Send + Sync + 'static {
        let mut leading = self.leading.clone();
        async move {
            let _ = leading.wait_for(|l| !*l).await;
        }
    }

    /// Releases the Lease (closing the channel makes the manager release it), so a standby
    /// need not wait for it to expire.
    pub async fn release(self) {
        drop(self.leading);
        match tokio::time::timeout(Duration::from_secs(5), self.task).await {
            Ok(Ok(Ok(_))) => tracing::info!("released the leader lease"),
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "releasing the leader lease"),
            _ => tracing::warn!("the leader lease was not released in time; it will expire"),
        }
    }
}

/// Checks, right before an upstream write, that this process still holds the Lease with time to
/// spare, reading the Lease from the API server rather than trusting a local flag that a paused
/// or partitioned process cannot update. A former leader that wakes up after a standby took over
/// is refused here instead of writing beside the new leader. The transport asks it once the
/// rate limiter granted a write, right before the write leaves (one GET per upstream write;
/// reads are not fenced). A process that stalls between that check and the send can still slip
/// one write through, which only a fencing token at the cloud API could close.
pub struct LeaseFence {
    api: Api<Lease>,
    name: String,
    identity: String,
    duration: Duration,
    /// The Lease must stay valid at least this long after the check (the write's own time).
    margin: Duration,
    leading: watch::Receiver<bool>,
}

impl LeaseFence {
    pub fn new(
        client: kube::Client,
        cfg: &LeaderConfig,
        margin: Duration,
        election: &Election,
    ) -> Self {
        Self {
            api: Api::namespaced(client, &cfg.namespace),
            name: cfg.lease_name.clone(),
            identity: cfg.identity.clone(),
            duration: cfg.duration,
            margin,
            leading: election.leading.clone(),
        }
    }
}

#[async_trait]
impl crate::core::Fence for LeaseFence {
    async fn check(&self) -> Result<(), String> {
        if !*self.leading.borrow() {
            return Err("this replica no longer leads".into());
        }
        let lease = self
            .api
            .get(&self.name)
            .await
            .map_err(|e| format!("reading the leader Lease: {e}"))?;
        let spec = lease.spec.unwrap_or_default();
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return Err(format!(
                "the leader Lease is held by {}",
                spec.holder_identity.as_deref().unwrap_or("nobody")
            ));
        }
        let duration = spec
            .lease_duration_seconds
            .map(|s| Duration::from_secs(s.max(0) as u64))
            .unwrap_or(self.duration);
        let renewed = spec
            .renew_time
            .map(|t| t.0)
            .ok_or("the Lease was never renewed")?;
        let expires = renewed + jiff::SignedDuration::try_from(duration).unwrap_or_default();
        let spare = jiff::Timestamp::now()
            + jiff::SignedDuration::try_from(self.margin).unwrap_or_default();
        if expires <= spare {
            return Err("the leader Lease expires before the write could finish".into());
        }
        Ok(())
    }
}

/// Identity for the Lease: the pod name when running in a pod, otherwise the host name; with a
/// random suffix so two processes on one host never share it.
pub fn default_identity() -> String {
    let base = std::env::var("POD_NAME")
        .ok()
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "live-snapshot-operator".into());
    format!("{base}-{}", hex::encode(rand::random::<[u8; 4]>()))
}
