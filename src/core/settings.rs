//! What an installation decides for every kind: timings, scopes, the upstream budget, fencing,
//! the kinds it runs, the ownership key and how Secrets are read.

use std::sync::Arc;
use std::time::Duration;

use futures::future::{BoxFuture, Shared};

use super::clients::{Fencing, UpstreamSettings};
use super::credentials::CloudDefaults;
use super::metrics::Metrics;
use super::{proof, shard};

/// The field manager and Event reporter of every write.
pub const MANAGER: &str = "live-snapshot-operator";

pub(crate) type Shutdown = Shared<BoxFuture<'static, ()>>;

/// What one kind's controller starts from.
pub struct KindRun {
    pub(crate) kube: kube::Client,
    pub(crate) settings: Settings,
    pub(crate) key: Arc<proof::OwnershipKey>,
    pub(crate) cloud: CloudDefaults,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) ready: tokio::sync::watch::Sender<bool>,
    pub(crate) shutdown: Shutdown,
}

/// One kind the core can run: its name and how to start its controller. The list of kinds lives
/// in `crate::kinds`; the core runs whichever it is given.
#[derive(Clone, Copy)]
pub struct Kind {
    pub name: &'static str,
    pub(crate) run: fn(KindRun) -> BoxFuture<'static, ()>,
}

impl std::fmt::Debug for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

#[derive(Clone, Debug)]
pub struct Settings {
    /// How often an in-sync object is checked against upstream (jittered).
    pub resync: Duration,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Reconciles running at once (per watched namespace).
    pub concurrency: u16,
    /// Watch only these namespaces; all namespaces when empty.
    pub namespaces: Vec<String>,
    /// Label selector limiting the objects watched.
    pub label_selector: Option<String>,
    pub upstream: UpstreamSettings,
    /// Longest one reconcile may take, every upstream call and retry included.
    pub reconcile_timeout: Duration,
    pub fencing: Fencing,
    /// This process's slice of the objects; all of them when `None`.
    pub shard: Option<shard::Shard>,
    /// The kinds this process manages (each needs its CRD installed).
    pub kinds: Vec<Kind>,
    /// Where the key that proves ownership records comes from (see `proof.rs`).
    pub ownership_key: proof::KeySource,
    /// How the operator may read tenants' Secrets.
    pub secrets: SecretAccess,
}

/// How the operator reads the Secrets objects name. By default it holds no cluster-wide right
/// on Secrets: a namespace grants it `get` with a RoleBinding to the ClusterRole the chart ships,
/// and a Secret is read by a targeted GET at each reconcile, so a rotation takes effect at the
/// object's next reconcile (within one resync period). Only an installer who grants cluster-wide
/// `list` and `watch` turns on the metadata-only Secret watch, which re-reconciles an object
/// within seconds of a change of a Secret it names.
#[derive(Clone, Debug)]
pub struct SecretAccess {
    /// Watch Secrets' metadata (needs `list` and `watch` on Secrets in every watched namespace).
    pub watch: bool,
    /// The ClusterRole a namespace binds to grant the operator `get` on its Secrets.
    pub cluster_role: String,
    /// The operator's ServiceAccount, as namespace:name, for the RoleBinding a reason names.
    pub service_account: Option<String>,
}

/// The ClusterRole name the chart ships under by default.
pub const SECRETS_CLUSTER_ROLE: &str = "live-snapshot-operator-secrets";

impl Default for SecretAccess {
    fn default() -> Self {
        Self {
            watch: false,
            cluster_role: SECRETS_CLUSTER_ROLE.into(),
            service_account: None,
        }
    }
}

impl SecretAccess {
    /// The one command that grants the operator `get` on the Secrets of `namespace`.
    pub fn grant_command(&self, namespace: &str) -> String {
        format!(
            "kubectl -n {namespace} create rolebinding {SECRETS_CLUSTER_ROLE} --clusterrole={} --serviceaccount={}",
            self.cluster_role,
            self.service_account
                .as_deref()
                .unwrap_or("<operator-namespace>:<operator-serviceaccount>")
        )
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            resync: Duration::from_secs(300),
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            concurrency: 16,
            namespaces: Vec::new(),
            label_selector: None,
            upstream: UpstreamSettings::default(),
            reconcile_timeout: Duration::from_secs(120),
            fencing: Fencing::default(),
            shard: None,
            // The list of kinds lives in `crate::kinds` (`kinds::all()`): the core knows none.
            kinds: Vec::new(),
            ownership_key: proof::KeySource::Secret {
                namespace: "default".into(),
                name: proof::DEFAULT_SECRET.into(),
            },
            secrets: SecretAccess::default(),
        }
    }
}
