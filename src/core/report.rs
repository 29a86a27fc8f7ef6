//! What one reconcile tells the world: the status it writes (only when something changed)
//! and the Events it publishes.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams};
use kube::runtime::events::{Event, EventType};
use kube::{Api, ResourceExt};

use super::context::Context;
use super::managed::{AtProviderOf, FieldDrift, KindStatus, Managed, ManagedStatus, Ownership};
use super::settings::MANAGER;
use crate::core::conditions::{self, Desired, READY, RECONCILING, STALLED, SYNCED, Status};

/// Condition reasons; each names a state a person or a script can act on.
pub mod reason {
    pub const AVAILABLE: &str = "Available";
    pub const CREATING: &str = "Creating";
    pub const DRIFTED: &str = "Drifted";
    pub const DELETING: &str = "Deleting";
    pub const NOT_FOUND: &str = "NotFound";
    pub const OBSERVING: &str = "Observing";
    pub const RECONCILE_SUCCESS: &str = "ReconcileSuccess";
    pub const PAUSED: &str = "Paused";
    pub const CONFLICT: &str = "Conflict";
    pub const INVALID_SPEC: &str = "InvalidSpec";
    pub const AUTH_FAILED: &str = "AuthFailed";
    pub const THROTTLED: &str = "Throttled";
    pub const UPSTREAM_ERROR: &str = "UpstreamError";
    pub const SECRET_MISSING: &str = "SecretMissing";
    pub const INVALID_SECRET: &str = "InvalidSecret";
    pub const CREDENTIALS_MISSING: &str = "CredentialsMissing";
    pub const SECRET_UNREADABLE: &str = "SecretUnreadable";
    /// The object's namespace has not granted the operator read access to its Secrets.
    pub const SECRET_ACCESS_DENIED: &str = "SecretAccessDenied";
    /// A template with this identity exists upstream and this object did not create it.
    pub const ALREADY_EXISTS: &str = "AlreadyExists";
    /// The credentials now point at another project or endpoint than the one holding the
    /// template this object owns.
    pub const OWNER_MOVED: &str = "CredentialsMoved";
    /// The operator's default credentials do not serve this namespace.
    pub const DEFAULT_CREDENTIALS_DENIED: &str = "DefaultCredentialsNotAllowed";
    pub const TIMED_OUT: &str = "ReconcileTimeout";
    /// Something the upstream object needs is not ready yet (the service said retry later).
    pub const NOT_READY: &str = "UpstreamNotReady";
    /// The upstream object finished and failed (a job): terminal.
    pub const FAILED: &str = "Failed";
    /// The service refused to create a one-shot object (a job): terminal until a retry.
    pub const CREATE_REFUSED: &str = "CreateRefused";
    /// A retry asked for by annotation is under way.
    pub const RETRYING: &str = "Retrying";
    /// The upstream object is in a state this operator does not know.
    pub const UNKNOWN_STATE: &str = "UnknownState";
}

/// The status a reconcile arrived at. `None` fields keep what status already says.
#[derive(Debug)]
pub struct Report<K: Managed> {
    pub ready: Desired,
    /// `None` keeps Synced as it is: an intent recorded mid-reconcile says nothing about
    /// whether the reconcile will succeed.
    pub synced: Option<Desired>,
    pub at_provider: Option<AtProviderOf<K>>,
    pub drift: Option<Vec<FieldDrift>>,
    pub project_id: Option<String>,
    /// `Some(Some(o))` records a claim, `Some(None)` withdraws it, `None` keeps what is there.
    pub ownership: Option<Option<Ownership>>,
    /// The reconcile request (annotation value) this reconcile answered.
    pub handled_request: Option<String>,
    /// The upstream object is still becoming available: look again soon.
    pub pending: bool,
    /// The upstream object is final: no more upstream calls until the spec changes.
    pub quiet: bool,
    /// Conditions beyond Ready and Synced (a terminal `Failed`), merged as they are.
    pub extra: Vec<Desired>,
    /// Written only if the object is still at this resourceVersion (an intent decided on it).
    pub precondition: Option<String>,
    /// The retry request (annotation value) this reconcile acted on: the upstream object of
    /// the failed attempt is forgotten.
    pub retried: Option<String>,
    /// The upstream object is in a state the operator does not know: looked at again with
    /// backoff, not at the pending pace.
    pub unrecognised: bool,
    /// The stored status holds an ownership record this operator cannot prove: written even
    /// when nothing else changed, so the record does not stay to mislead a reader.
    pub rewrite: bool,
}

impl<K: Managed> Report<K> {
    pub fn new(ready: Desired, synced: Desired) -> Self {
        Self {
            ready,
            synced: Some(synced),
            at_provider: None,
            drift: None,
            project_id: None,
            ownership: None,
            handled_request: None,
            pending: false,
            quiet: false,
            extra: Vec::new(),
            precondition: None,
            retried: None,
            unrecognised: false,
            rewrite: false,
        }
    }

    pub fn with_project(mut self, project: &str) -> Self {
        self.project_id = Some(project.to_string());
        self
    }

    pub fn with_ownership(mut self, ownership: Option<Ownership>) -> Self {
        self.ownership = Some(ownership);
        self
    }

    pub fn success(synced_reason: &'static str) -> Desired {
        Desired::new(SYNCED, Status::True, synced_reason, "")
    }

    pub fn in_sync(at_provider: AtProviderOf<K>, observing: bool) -> Self {
        let synced = if observing {
            reason::OBSERVING
        } else {
            reason::RECONCILE_SUCCESS
        };
        let mut r = Self::new(
            Desired::new(
                READY,
                Status::True,
                reason::AVAILABLE,
                "the upstream object matches spec",
            ),
            Self::success(synced),
        );
        r.at_provider = Some(at_provider);
        r.drift = Some(Vec::new());
        r
    }

    pub fn paused() -> Self {
        Self::new(
            Desired::new(
                READY,
                Status::Unknown,
                reason::PAUSED,
                "reconciliation is paused; upstream is not checked",
            ),
            Desired::new(
                SYNCED,
                Status::False,
                reason::PAUSED,
                "the live.snapshot.dev/paused annotation is \"true\": no upstream calls are made",
            ),
        )
    }

    /// Ready as an intent says it; Synced left as it is.
    pub fn intent(reason: &'static str, message: &str) -> Self {
        let mut r = Self::new(
            Desired::new(READY, Status::False, reason, message),
            Self::success(reason),
        );
        r.synced = None;
        r
    }

    pub fn creating() -> Self {
        Self::intent(reason::CREATING, "creating the upstream object")
    }

    pub fn deleting() -> Self {
        Self::intent(reason::DELETING, "deleting the upstream object")
    }

    /// A retry asked for by annotation: the failed attempt is forgotten (its claim, its
    /// upstream object and the Failed condition) before anything is created again.
    pub fn retrying(request: &str) -> Self {
        let mut r = Self::intent(reason::RETRYING, "retrying as the retry annotation asks");
        r.retried = Some(request.to_string());
        r.ownership = Some(None);
        r.extra = vec![Desired::new(
            conditions::FAILED,
            Status::False,
            reason::RETRYING,
            "",
        )];
        r
    }
}

/// Writes status through the status subresource when it differs from `current`, the status as
/// this reconcile last wrote or read it (not the cached object, which lags behind our own writes
/// within a reconcile). Every write sends the whole status, so `current` is what keeps a field
/// written earlier in the reconcile (a create intent, say) from being dropped by a later one.
/// Returns whether it wrote.
pub async fn write_status<K: Managed>(
    ctx: &Context<K>,
    obj: &K,
    current: &mut K::Status,
    report: &Report<K>,
) -> Result<bool, kube::Error> {
    let old = current.clone();
    let now = Time(jiff::Timestamp::now());
    let generation = obj.meta().generation;
    let mut status = old.clone();
    if let Some(r) = &report.retried {
        status.clear_at_provider();
        status.managed_mut().last_handled_retry_at = Some(r.clone());
    }
    if let Some(a) = &report.at_provider {
        status.set_at_provider(a.clone());
    }
    let new = status.managed_mut();
    conditions::merge(&mut new.conditions, &report.ready, generation, &now);
    if let Some(synced) = &report.synced {
        conditions::merge(&mut new.conditions, synced, generation, &now);
    }
    for progress in progress(&report.ready, report.quiet) {
        conditions::merge(&mut new.conditions, &progress, generation, &now);
    }
    for extra in &report.extra {
        conditions::merge(&mut new.conditions, extra, generation, &now);
    }
    new.observed_generation = generation;
    if let Some(d) = &report.drift {
        new.drift = d.clone();
    }
    if let Some(p) = &report.project_id {
        new.project_id = Some(p.clone());
    }
    if let Some(o) = &report.ownership {
        // Every record this operator writes carries its proof (see `proof.rs`).
        new.ownership = o.as_ref().map(|o| ctx.key.sign(obj, o));
    }
    if let Some(r) = &report.handled_request {
        new.last_handled_reconcile_at = Some(r.clone());
    }
    // A guarded write is sent even when nothing changed: the API server's check of the
    // resourceVersion is what it is for.
    if status == old && report.precondition.is_none() && !report.rewrite {
        return Ok(false);
    }
    status.managed_mut().last_sync_time = Some(now);
    let api: Api<K> = Api::namespaced(ctx.kube.clone(), &obj.namespace().unwrap_or_default());
    if report.rewrite && status.managed().ownership.is_none() {
        // A record someone else wrote is theirs under server-side apply, which would keep it
        // whatever this apply omits: it is removed by a merge patch.
        api.patch_status(
            &obj.name_any(),
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"status": {"ownership": null}})),
        )
        .await?;
    }
    let patch = StatusApply {
        api_version: K::api_version(&()).into_owned(),
        kind: K::kind(&()).into_owned(),
        metadata: report.precondition.as_ref().map(|v| Precondition {
            resource_version: v,
        }),
        status: &status,
    };
    api.patch_status(
        &obj.name_any(),
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    *current = status;
    Ok(true)
}

/// Reconciling and Stalled, read off Ready, so every status write states all three and they
/// can never disagree. Stalled reasons are the ones whose message says "waiting for a change":
/// retrying alone will not fix them; so is any final upstream state that is not Ready (a kind's
/// own failure reason, `quiet`).
pub fn progress(ready: &Desired, quiet: bool) -> [Desired; 2] {
    use reason::*;
    let (reconciling, stalled) = match (ready.status, ready.reason) {
        (Status::True, _) | (_, PAUSED) => (false, false),
        _ if quiet => (false, true),
        (
            _,
            INVALID_SPEC | ALREADY_EXISTS | CONFLICT | OWNER_MOVED | SECRET_MISSING
            | INVALID_SECRET | CREDENTIALS_MISSING | DEFAULT_CREDENTIALS_DENIED | AUTH_FAILED
            // A job that failed, or was refused, stays failed.
            | FAILED | CREATE_REFUSED
            // Observe reports a missing or drifted template and leaves it to a person.
            | NOT_FOUND | DRIFTED,
        ) => (false, true),
        _ => (true, false),
    };
    let state = |on: bool| if on { Status::True } else { Status::False };
    let message = |on: bool| {
        if on {
            ready.message.clone()
        } else {
            String::new()
        }
    };
    [
        Desired::new(
            RECONCILING,
            state(reconciling),
            ready.reason,
            message(reconciling),
        ),
        Desired::new(STALLED, state(stalled), ready.reason, message(stalled)),
    ]
}

/// The body of the status apply. Server-side apply removes fields the applier owned and no
/// longer sends, which is why `conditions` and `drift` serialise even when empty.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusApply<'a, S> {
    api_version: String,
    kind: String,
    /// Server-side apply refuses (409) a body whose resourceVersion is not the object's.
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Precondition<'a>>,
    status: &'a S,
}

#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Precondition<'a> {
    resource_version: &'a str,
}

/// The reason a condition has in `status`.
pub fn previous_reason<'a>(status: &'a ManagedStatus, type_: &str) -> Option<&'a str> {
    conditions::find(&status.conditions, type_).map(|c| c.reason.as_str())
}

/// Publishes an Event; a failure to publish is logged, never fatal.
pub async fn event<K: Managed>(
    ctx: &Context<K>,
    obj: &K,
    warning: bool,
    reason: &str,
    action: &str,
    note: String,
) {
    let reference = obj.object_ref(&());
    let result = if warning {
        // Warnings repeat (a failure retried, a conflict re-checked): the recorder folds them
        // into one Event with a count, which needs its cache.
        let ev = Event {
            type_: EventType::Warning,
            reason: reason.into(),
            note: Some(note),
            action: action.into(),
            secondary: None,
        };
        ctx.recorder.publish(&ev, &reference).await
    } else {
        // A Normal event (created, updated, deleted) happens once: written directly, so the
        // recorder's cache, which keeps every event for minutes, does not grow by one per
        // template while a fleet converges.
        normal_event(ctx, &reference, reason, action, note).await
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, reason, "could not publish event");
    }
}

async fn normal_event<K: Managed>(
    ctx: &Context<K>,
    reference: &k8s_openapi::api::core::v1::ObjectReference,
    reason: &str,
    action: &str,
    note: String,
) -> Result<(), kube::Error> {
    use k8s_openapi::api::events::v1::Event as K8sEvent;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
    let now = jiff::Timestamp::now();
    let namespace = reference.namespace.clone().unwrap_or_default();
    let event = K8sEvent {
        action: Some(action.into()),
        reason: Some(reason.into()),
        event_time: Some(MicroTime(now)),
        regarding: Some(reference.clone()),
        note: Some(note),
        metadata: ObjectMeta {
            namespace: Some(namespace.clone()),
            name: Some(format!(
                "{}.{:x}",
                reference.name.as_deref().unwrap_or(MANAGER),
                now.as_nanosecond()
            )),
            ..Default::default()
        },
        reporting_controller: Some(MANAGER.into()),
        reporting_instance: Some(MANAGER.into()),
        type_: Some("Normal".into()),
        ..Default::default()
    };
    Api::<K8sEvent>::namespaced(ctx.kube.clone(), &namespace)
        .create(&kube::api::PostParams::default(), &event)
        .await
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(ready: Status, why: &'static str) -> (Status, Status) {
        let [r, s] = progress(&Desired::new(READY, ready, why, "m"), false);
        (r.status, s.status)
    }

    #[test]
    fn reconciling_and_stalled_follow_ready() {
        use Status::*;
        assert_eq!(flags(True, reason::AVAILABLE), (False, False));
        assert_eq!(flags(Unknown, reason::PAUSED), (False, False));
        assert_eq!(flags(False, reason::CREATING), (True, False));
        assert_eq!(flags(Unknown, reason::THROTTLED), (True, False));
        assert_eq!(flags(Unknown, reason::UPSTREAM_ERROR), (True, False));
        assert_eq!(flags(False, reason::INVALID_SPEC), (False, True));
        assert_eq!(flags(False, reason::ALREADY_EXISTS), (False, True));
        assert_eq!(flags(False, reason::SECRET_MISSING), (False, True));
    }
}
