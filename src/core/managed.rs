//! What a kind plugs into the core: its custom resource (`Managed`), the status fields every
//! kind shares (`ManagedStatus`), and the adapter to its upstream object (`Connector` and
//! `External`, in the shape of Crossplane's `ExternalConnecter` and `ExternalClient`).
//!
//! The core owns every rule about ownership, adoption, policies, conditions, Events, backoff
//! and metrics; a kind says only how to observe, create, update, delete and diff.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::clients::UpstreamSettings;
use super::error::ReconcileError;
use super::metrics::Metrics;
use crate::clouds::Service;
use crate::clouds::config::ClientConfig;
use crate::clouds::error::ApiError;

/// `"true"` stops every upstream call for the object (any kind).
pub const PAUSED_ANNOTATION: &str = "live.snapshot.dev/paused";
/// Any new value (a timestamp, say) makes the operator reconcile the object at once.
pub const RECONCILE_ANNOTATION: &str = "live.snapshot.dev/reconcile-requested-at";
/// Any new value retries an object whose upstream work ended in failure for good (a refused
/// submit, a failed job): the one way, for every kind, to ask for what costs again.
pub const RETRY_ANNOTATION: &str = "live.snapshot.dev/retry-requested-at";
pub const FINALIZER: &str = "live.snapshot.dev/finalizer";

/// A custom resource the core manages.
pub trait Managed:
    kube::Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + Debug
    + Serialize
    + DeserializeOwned
    + Send
    + Sync
    + 'static
{
    /// The kind's name, as metrics and logs label it.
    const KIND: &'static str;
    type Status: KindStatus;
    type Connector: Connector<Self>;

    fn status(&self) -> Option<&Self::Status>;
    fn policies(&self) -> Policies;
    /// The Secret naming this object's credentials, if any.
    fn credentials_secret(&self) -> Option<&str>;
    /// Every Secret the object reads (a change of one re-triggers it).
    fn secrets(&self) -> Vec<&str>;
    /// Which cloud service the object's calls go to (decides the endpoint).
    fn service() -> Service;
    /// The region the object names itself, for a kind whose spec carries one (Alibaba Cloud).
    fn region(&self) -> Option<&str> {
        None
    }
    /// The upstream object's identity within a project: two objects with one identity would
    /// write one upstream object, so only one may hold it.
    fn identity(&self) -> String;
    /// What the upstream object is, for messages and Events: "upstream template d/app".
    fn describe(&self) -> String;
    /// The value objects are sharded by; objects that could claim one identity must agree.
    fn shard_key(&self) -> &str;
    /// Objects with one resync key share a resync slot (and so, where the kind coalesces, one
    /// upstream read).
    fn resync_key(&self, coalesced: bool) -> String;
    /// Whether objects share resync slots (rather than one each): then a clock triggers them at
    /// their slot instead of a timer per object.
    fn shares_resync(_coalesced: bool) -> bool {
        false
    }

    /// The kind's own condition reason for an upstream error, where the generic one would say
    /// less (an asset not ready, say).
    fn reason_for(_err: &ApiError) -> Option<&'static str> {
        None
    }

    /// Whether deleting the object can delete anything upstream. A kind whose upstream object
    /// outlives it by nature (a finished job and its output) says no, and deletion only says so.
    fn deletes_upstream() -> bool {
        true
    }

    /// Whether what the object creates runs once and costs each time (a job): then a refused
    /// create or a failed run is final, never repeated at a resync or after a restart, until
    /// the retry annotation (`RETRY_ANNOTATION`) takes a new value.
    fn one_shot() -> bool {
        false
    }

    /// The tag a create carries upstream, recorded with its intent (`Ownership::key`).
    fn intent_key(&self) -> Option<String> {
        None
    }

    /// The reconcile annotation's value, when set.
    fn reconcile_request(&self) -> Option<&str> {
        self.meta()
            .annotations
            .as_ref()?
            .get(RECONCILE_ANNOTATION)
            .map(String::as_str)
    }

    /// The retry annotation's value, when set.
    fn retry_request(&self) -> Option<&str> {
        self.meta()
            .annotations
            .as_ref()?
            .get(RETRY_ANNOTATION)
            .map(String::as_str)
    }

    fn is_paused(&self) -> bool {
        self.meta()
            .annotations
            .as_ref()
            .and_then(|a| a.get(PAUSED_ANNOTATION))
            .is_some_and(|v| v == "true")
    }
}

/// A kind's status: the shared fields, plus what the kind shows of its upstream object.
pub trait KindStatus:
    Default + Clone + Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// The upstream object as last observed, in the spec's vocabulary.
    type AtProvider: Clone + Debug + PartialEq + Send + Sync;

    fn managed(&self) -> &ManagedStatus;
    fn managed_mut(&mut self) -> &mut ManagedStatus;
    fn at_provider(&self) -> Option<&Self::AtProvider>;
    fn set_at_provider(&mut self, at: Self::AtProvider);
    /// Forgets the upstream object (a retry starts a new one).
    fn clear_at_provider(&mut self);
}

pub type AtProviderOf<K> = <<K as Managed>::Status as KindStatus>::AtProvider;

/// How much an observation must prove; the core picks it from the object's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Look {
    /// Read the object itself (a user asked, or a create of ours may be landing).
    Fresh,
    /// Absence must be proven by a read started after this moment (a new object, or the first
    /// look since a restart); a kind that batches reads may share one.
    Since(Instant),
    /// Any recent read will do (a settled object's resync).
    Shared,
}

/// What an observation found.
#[derive(Debug)]
pub enum Observation<T> {
    Present(T),
    Absent,
    /// Something the upstream object needs is not there (the VOD asset, say): nothing can be
    /// created or checked until it is. Retried with backoff.
    Unavailable {
        reason: &'static str,
        message: String,
    },
}

/// Where an upstream object that matches spec stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Usable: Ready, and checked again at the next resync.
    Ready,
    /// Not usable yet: Ready False with this reason and message, looked at again soon.
    Pending {
        reason: &'static str,
        message: String,
    },
    /// In a state the operator does not know (a value the service added): Ready Unknown with
    /// the raw value in the message, looked at again with backoff rather than at the pending
    /// pace.
    Unrecognised { message: String },
    /// Finished and never changing again (a job): no more upstream calls for it. `ready` says
    /// whether it ended well; an end that did not is terminal (Stalled), with a `Failed`
    /// condition carrying the upstream code.
    Final {
        ready: bool,
        reason: &'static str,
        message: String,
    },
}

/// What a connection is for: deleting needs only the client, never the spec's other Secrets
/// (a deletion must not wait for a Secret that may be gone for good).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    Sync,
    Delete,
}

/// Builds a kind's external client for one reconcile. It holds what is shared across
/// reconciles (a pool of clients per credential, with their rate limits).
#[async_trait::async_trait]
pub trait Connector<K: Managed>: Send + Sync + 'static {
    type External: External<K>;

    fn new(settings: &UpstreamSettings, metrics: &Arc<Metrics>) -> Self;

    async fn connect(
        &self,
        kube: &kube::Client,
        obj: &K,
        config: &ClientConfig,
        purpose: Purpose,
    ) -> Result<Self::External, ReconcileError>;

    /// Drops the clients nobody used within `idle`.
    fn evict_idle(&self, idle: Duration);

    /// Removes what the kind wrote into Kubernetes for the object (a results ConfigMap), as the
    /// object is deleted; upstream is cleanup's business.
    async fn release(&self, _kube: &kube::Client, _obj: &K) -> Result<(), kube::Error> {
        Ok(())
    }
}

/// One object's upstream, as the core sees it.
#[async_trait::async_trait]
pub trait External<K: Managed>: Send + Sync {
    /// The upstream object as read.
    type Observed: Send + Sync;

    async fn observe(
        &self,
        obj: &K,
        status: &K::Status,
        look: Look,
    ) -> Result<Observation<Self::Observed>, ApiError>;
    /// Creates the upstream object; what is upstream afterwards.
    async fn create(&self, obj: &K) -> Result<Self::Observed, ApiError>;
    /// Where upstream differs from spec (empty: nothing to write).
    fn diff(&self, obj: &K, seen: &Self::Observed) -> Vec<FieldDrift>;
    /// Makes upstream match spec; what is upstream afterwards.
    async fn update(&self, obj: &K, seen: &Self::Observed) -> Result<Self::Observed, ApiError>;
    /// Deletes what `status` records this object owns.
    async fn delete(&self, obj: &K, status: &K::Status) -> Result<Deleted, ApiError>;
    fn at_provider(&self, seen: &Self::Observed) -> AtProviderOf<K>;
    /// The tag the upstream object carries, for a kind that tags what it creates (compared
    /// with `Managed::intent_key`), or the id it proves this object's upstream object by. A
    /// record of this object's own upstream object takes it as its key, so that later rounds
    /// act on the proven record rather than on anything a tenant can write.
    fn tag(&self, _seen: &Self::Observed) -> Option<String> {
        None
    }
    /// What the create intent records (`Ownership::key`) so that a later look can tell this
    /// object's upstream object from anyone else's even when the create's answer is lost: the
    /// manifest's tag by default; a kind that cannot tag what it creates records what existed
    /// before the create (as this round observed it).
    fn intent(&self, obj: &K) -> Option<String> {
        obj.intent_key()
    }
    /// Where an upstream object that matches spec stands: usable (the default), still becoming
    /// usable (a task running), or finished for good (a job that succeeded or failed).
    fn progress(&self, _seen: &Self::Observed) -> Progress {
        Progress::Ready
    }
}

/// What a delete did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Deleted {
    /// Deleted (or already gone).
    Gone,
    /// Left in place, for this reason (a task the object cannot prove it started): the object
    /// goes, and a Warning says what stayed and why.
    Kept(String),
}

/// The policies every kind's spec carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policies {
    pub deletion: DeletionPolicy,
    pub management: ManagementPolicy,
    pub adoption: AdoptionPolicy,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum DeletionPolicy {
    #[default]
    Delete,
    Orphan,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum AdoptionPolicy {
    #[default]
    Never,
    IfMatching,
    Always,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum ManagementPolicy {
    #[default]
    Manage,
    Observe,
}

/// A Secret in the object's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct SecretRef {
    /// Secret name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// One key of a Secret in the object's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct SecretKeyRef {
    /// Secret name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key within the Secret's data.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// The status fields every kind shares; a kind's status flattens it in.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManagedStatus {
    /// The metadata.generation the conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready: the upstream object matches spec. Synced: the last reconcile succeeded.
    /// Reconciling and Stalled: still working towards spec, or unable to without a person.
    #[serde(default)]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
    /// Fields that differed from spec at the last observation.
    #[serde(default)]
    pub drift: Vec<FieldDrift>,
    /// Project that the object's credentials resolved to at the last reconcile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    /// How this object came to own its upstream object, where, and since when. Cleanup deletes
    /// upstream only what this records, and only in the project and endpoint it names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ownership: Option<Ownership>,
    /// The value of the live.snapshot.dev/reconcile-requested-at annotation last acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
    /// The value of the live.snapshot.dev/retry-requested-at annotation last acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_retry_at: Option<String>,
    /// When the operator last changed the upstream object or this status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<Time>,
}

/// This object's claim on its upstream object.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Ownership {
    /// Creating: a create was sent and its outcome is not yet known (kept across failures and
    /// restarts until it is); Created: this object created the upstream object; Adopted: it
    /// took over one that existed before it (spec.adoptionPolicy).
    pub state: OwnershipState,
    /// Project that holds the upstream object.
    pub project_id: String,
    /// API endpoint (scheme, host and port) the upstream object lives behind.
    pub endpoint: String,
    /// When the claim was first recorded.
    pub since: Time,
    /// What the upstream object was created under, for a kind that tags what it creates (an
    /// MPS job's UserData): a create whose answer was lost is looked for by this, whatever the
    /// object's annotations say later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The operator's proof that it wrote this record for this object and upstream identity
    /// (an HMAC with a key only the operator holds): a record without a valid one grants
    /// nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum OwnershipState {
    Creating,
    Created,
    Adopted,
}

/// One field that differs between spec and upstream.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FieldDrift {
    /// Spec path of the field, e.g. timeInterval or obsLocation.bucket.
    pub field: String,
    pub desired: String,
    pub observed: String,
}

fn conditions_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let item = g.subschema_for::<Condition>();
    schemars::json_schema!({
        "type": "array",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
        "items": item,
    })
}
