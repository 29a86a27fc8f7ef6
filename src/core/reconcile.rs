//! The reconcile loop of every kind, top to bottom: pause, a one-shot object's final failure or
//! retry, the sync (`sync.rs`: credentials, ownership, observe, create / adopt / update or
//! report), how a failure reads and when it is retried, the status write; and on deletion,
//! delete what this object owns or leave it. What is kind-specific (how to observe, create,
//! update, delete and diff) is the kind's `External` (see `managed.rs`).
//!
//! Cleanup deletes only what a proven record says this object owns, only in the recorded
//! project and endpoint, and never hangs: when that is impossible it leaves the upstream object
//! and says so in a Warning.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::{Api, ResourceExt};
use tracing::Instrument;

use super::context::Context;
use super::error::ReconcileError;
use super::managed::{
    Connector, Deleted, DeletionPolicy, External, FINALIZER, KindStatus, Managed, ManagementPolicy,
    Ownership, Purpose,
};
use super::proof::{keep_unproven, trusted_status};
use super::report::{Report, event, previous_reason, reason, write_status};
use super::sync::sync;
use crate::clouds::error::{ApiError, ErrorClass};
use crate::core::conditions::{Desired, FAILED, READY, SYNCED, Status};
use crate::core::credentials::{self, CredentialsError};

/// How soon an object whose upstream is still becoming available (a task running) is looked
/// at again.
const PENDING_POLL: Duration = Duration::from_secs(3);
/// How soon a reconcile that found its cached object behind the API server tries again.
const STALE_RETRY: Duration = Duration::from_secs(1);

pub async fn reconcile<K: Managed>(
    obj: Arc<K>,
    ctx: Arc<Context<K>>,
) -> Result<Action, ReconcileError> {
    let started = Instant::now();
    // Every log line of the reconcile, and every upstream call (a child span), carries the
    // object and, once known, the outcome.
    let span = tracing::info_span!(
        "reconcile",
        kind = K::KIND,
        namespace = obj.namespace().unwrap_or_default(),
        name = obj.name_any(),
        outcome = tracing::field::Empty,
    );
    // Set by a sync that failed but was reported in status (its result is still Ok).
    let failed = AtomicBool::new(false);
    let in_flight = InFlight::new(&ctx.metrics.in_flight);
    let result = reconcile_inner(obj, &ctx, &failed)
        .instrument(span.clone())
        .await;
    drop(in_flight);
    let label = match &result {
        Ok(_) if !failed.load(Ordering::Relaxed) => "success",
        _ => "error",
    };
    span.record("outcome", label);
    ctx.metrics.reconciled(K::KIND, label, started.elapsed());
    result
}

/// Counts a reconcile as running until it ends, however it ends (a dropped future included).
struct InFlight<'a>(&'a prometheus_client::metrics::gauge::Gauge);

impl<'a> InFlight<'a> {
    fn new(gauge: &'a prometheus_client::metrics::gauge::Gauge) -> Self {
        gauge.inc();
        Self(gauge)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

async fn reconcile_inner<K: Managed>(
    obj: Arc<K>,
    ctx: &Context<K>,
    failed: &AtomicBool,
) -> Result<Action, ReconcileError> {
    let namespace = obj.namespace().ok_or(ReconcileError::NoNamespace)?;
    ctx.caches_synced().await;
    let api: Api<K> = Api::namespaced(ctx.kube.clone(), &namespace);
    finalizer(&api, FINALIZER, obj, |ev| async move {
        match ev {
            FinalizerEvent::Apply(obj) => apply(&*obj, ctx, failed).await,
            FinalizerEvent::Cleanup(obj) => cleanup(&*obj, ctx).await,
        }
    })
    .await
    .map_err(|e| ReconcileError::Finalizer(Box::new(e)))
}

/// Makes upstream match spec (or, with Observe, reports how it differs) and records the result.
async fn apply<K: Managed>(
    obj: &K,
    ctx: &Context<K>,
    failed: &AtomicBool,
) -> Result<Action, ReconcileError> {
    let key = ObjectRef::from_obj(obj);
    // Only a record this operator can prove is acted on; an unproven one is kept aside.
    let (mut current, mut unproven) = trusted_status(&ctx.key, obj);
    let limit = ctx.settings.reconcile_timeout;
    // A sync that finds the cache behind the API server runs once more on the fresh object,
    // which passes the same gate first (a pause or a failure the cache had not shown yet).
    let mut fresh: Option<K> = None;
    let outcome = loop {
        let target = fresh.as_ref().unwrap_or(obj);
        if let Some(action) = gate(ctx, target, &mut current, unproven.as_ref()).await? {
            return Ok(action);
        }
        let mut slot = None;
        let outcome = tokio::time::timeout(
            limit,
            sync(target, ctx, &mut current, unproven.as_ref(), &mut slot),
        )
        .await
        .unwrap_or(Err(ReconcileError::TimedOut(limit)));
        match (outcome, slot) {
            (Err(ReconcileError::Stale), Some(newer)) if fresh.is_none() => {
                (current, unproven) = trusted_status(&ctx.key, &newer);
                fresh = Some(newer);
            }
            (outcome, _) => break outcome,
        }
    };
    let obj = fresh.as_ref().unwrap_or(obj);
    let (mut report, action) = match outcome {
        Ok(report) => {
            if !report.unrecognised {
                ctx.backoff.reset(&key);
            }
            let action = if report.unrecognised {
                // Not a state we know to wait on at the pending pace.
                ctx.resync
                    .hold(obj, Action::requeue(ctx.backoff.next(&key)))
            } else if report.quiet {
                // Final upstream: nothing will change there; only a spec change wakes it.
                ctx.resync.hold(obj, Action::await_change())
            } else if report.pending {
                ctx.resync
                    .hold(obj, Action::requeue(PENDING_POLL.min(ctx.settings.resync)))
            } else {
                ctx.resync.settled(obj)
            };
            (report, action)
        }
        Err(ReconcileError::Kube(e)) => return Err(ReconcileError::Kube(e)),
        // Nothing was decided: no status is written from a copy that may be behind, and the
        // newer object's own event (or this retry) starts the next reconcile.
        Err(ReconcileError::Stale | ReconcileError::Superseded) => {
            return Ok(ctx.resync.hold(obj, Action::requeue(STALE_RETRY)));
        }
        Err(e) => {
            failed.store(true, Ordering::Relaxed);
            let (mut report, action) = failure(obj, ctx, &e).await;
            if let ReconcileError::CreateRefused(refusal) = &e {
                ctx.claims.release(obj);
                report.ownership = Some(None);
                if K::one_shot() {
                    refused_for_good(&mut report, refusal);
                }
            }
            (report, action)
        }
    };
    report.handled_request = obj.reconcile_request().map(str::to_string);
    // An unproven record nothing decided on (a failure before the observation, a conflict)
    // stays for a later reconcile to judge: server-side apply would drop it if omitted.
    if report.ownership.is_none() {
        keep_unproven(&mut current, unproven.as_ref());
    }
    report.rewrite = obj
        .status()
        .is_some_and(|s| s.managed().ownership.is_some())
        && current.managed().ownership.is_none()
        && report.ownership.is_none();
    write_status(ctx, obj, &mut current, &report).await?;
    Ok(action)
}

/// What stops an object before any upstream call: a pause (recorded in status), or, for a
/// one-shot object, a failure for good with no new retry request. A new retry request is
/// recorded and lets the object through. `Some` is the action to return.
async fn gate<K: Managed>(
    ctx: &Context<K>,
    obj: &K,
    current: &mut K::Status,
    unproven: Option<&Ownership>,
) -> Result<Option<Action>, ReconcileError> {
    if obj.is_paused() {
        // Paused objects make no upstream call; they keep their finalizer and their claim.
        keep_unproven(current, unproven);
        write_status(ctx, obj, current, &Report::paused()).await?;
        return Ok(Some(ctx.resync.hold(obj, Action::await_change())));
    }
    // An object that failed for good (a refused submit, a failed job or task) is retried when
    // the retry annotation takes a new value, for every kind. A one-shot object stays failed
    // otherwise: no upstream call, no resubmit at a resync or after a restart.
    match retry_due(obj, current) {
        Some(request) => {
            write_status(ctx, obj, current, &Report::retrying(request)).await?;
            ctx.claims.release(obj);
            Ok(None)
        }
        None if K::one_shot() && failed_for_good(obj, current) => {
            Ok(Some(ctx.resync.hold(obj, Action::await_change())))
        }
        None => Ok(None),
    }
}

/// A new retry request on an object that failed for good.
fn retry_due<'a, K: Managed>(obj: &'a K, current: &K::Status) -> Option<&'a str> {
    let request = obj.retry_request()?;
    let handled = current.managed().last_handled_retry_at.as_deref() == Some(request);
    (!handled && failed_for_good(obj, current)).then_some(request)
}

/// Whether the object's current generation ended in a failure that only a retry undoes.
fn failed_for_good<K: Managed>(obj: &K, current: &K::Status) -> bool {
    let st = current.managed();
    st.observed_generation == obj.meta().generation
        && crate::core::conditions::find(&st.conditions, FAILED).is_some_and(|c| c.status == "True")
}

/// A one-shot create the service refused: Failed with the service's code, and how to retry.
fn refused_for_good<K: Managed>(report: &mut Report<K>, refusal: &ApiError) {
    let message = format!(
        "the service refused the submit: {refusal}; nothing is submitted again until the annotation {} takes a new value",
        super::managed::RETRY_ANNOTATION
    );
    for c in [Some(&mut report.ready), report.synced.as_mut()]
        .into_iter()
        .flatten()
    {
        c.reason = reason::CREATE_REFUSED;
        c.message = message.clone();
    }
    report.extra = vec![Desired::new(
        FAILED,
        Status::True,
        reason::CREATE_REFUSED,
        message,
    )];
}

/// How a failure reads in status, and when to try again.
enum Retry {
    /// Wait for a change of the spec, the retry annotation or a referenced Secret.
    OnChange,
    Backoff,
    /// Back off, but no sooner than the service asked.
    After(Option<Duration>),
}

fn classify<K: Managed>(err: &ReconcileError) -> (&'static str, Status, Retry) {
    match err {
        ReconcileError::Unavailable { reason, .. } => (reason, Status::False, Retry::Backoff),
        ReconcileError::Credentials(c) if c.waits_for_secret() => {
            let why = match c {
                CredentialsError::SecretMissing { .. } => reason::SECRET_MISSING,
                CredentialsError::NoDefault | CredentialsError::NoEndpoint => {
                    reason::CREDENTIALS_MISSING
                }
                CredentialsError::DefaultsNotAllowed { .. } => reason::DEFAULT_CREDENTIALS_DENIED,
                _ => reason::INVALID_SECRET,
            };
            (why, Status::False, Retry::OnChange)
        }
        // Fixed by a RoleBinding, which the operator does not watch: retried with backoff.
        ReconcileError::Credentials(CredentialsError::SecretForbidden { .. }) => {
            (reason::SECRET_ACCESS_DENIED, Status::False, Retry::Backoff)
        }
        ReconcileError::Credentials(_) => {
            (reason::SECRET_UNREADABLE, Status::Unknown, Retry::Backoff)
        }
        // The kind's own name for the error (an asset not ready, say), retried as its class says.
        ReconcileError::Upstream(e) | ReconcileError::CreateRefused(e)
            if let Some(why) = K::reason_for(e) =>
        {
            let retry = match e.class() {
                ErrorClass::Terminal => Retry::OnChange,
                _ => Retry::Backoff,
            };
            (why, Status::False, retry)
        }
        ReconcileError::Upstream(e) | ReconcileError::CreateRefused(e) => match e.class() {
            ErrorClass::NotReady => (reason::NOT_READY, Status::False, Retry::Backoff),
            ErrorClass::Terminal => (reason::INVALID_SPEC, Status::False, Retry::OnChange),
            ErrorClass::Auth => (reason::AUTH_FAILED, Status::False, Retry::Backoff),
            ErrorClass::Throttled(after) => {
                (reason::THROTTLED, Status::Unknown, Retry::After(after))
            }
            _ => (reason::UPSTREAM_ERROR, Status::Unknown, Retry::Backoff),
        },
        ReconcileError::TimedOut(_) => (reason::TIMED_OUT, Status::Unknown, Retry::Backoff),
        _ => (reason::UPSTREAM_ERROR, Status::Unknown, Retry::Backoff),
    }
}

/// Status and retry delay for a failed sync, and a Warning Event for every failure (the
/// recorder folds repeats into one Event with a count).
async fn failure<K: Managed>(
    obj: &K,
    ctx: &Context<K>,
    err: &ReconcileError,
) -> (Report<K>, Action) {
    let key = ObjectRef::from_obj(obj);
    let (why, ready, retry) = classify::<K>(err);
    let delay = match retry {
        Retry::OnChange => None,
        Retry::Backoff => Some(ctx.backoff.next(&key)),
        Retry::After(after) => Some(
            ctx.backoff.next(&key).max(
                after
                    .unwrap_or(Duration::ZERO)
                    .min(ctx.settings.backoff_max),
            ),
        ),
    };
    let next = match delay {
        Some(d) => format!("retrying in {}s", d.as_secs_f64().ceil() as u64),
        None => {
            let secrets: Vec<&str> = obj.secrets();
            if secrets.is_empty() {
                "waiting for a change of the spec".to_string()
            } else {
                format!(
                    "waiting for a change of the spec or of Secret {}",
                    secrets.join(", ")
                )
            }
        }
    };
    // A refusal that only a change can fix waits for that change (its spec or the retry
    // annotation, a referenced Secret, a restart with new settings): the resync clock leaves
    // it alone, so it is neither retried nor logged again every period.
    let action = match delay {
        Some(d) => ctx.resync.hold(obj, Action::requeue(d)),
        None => ctx.resync.hold(obj, Action::await_change()),
    };
    let mut report = failure_report(ctx, obj, err, why, ready).await;
    // The condition says what happens next, so `kubectl describe` is enough to act on; the
    // Event keeps the bare error, so repeats fold into one series.
    for c in [Some(&mut report.ready), report.synced.as_mut()]
        .into_iter()
        .flatten()
    {
        c.message = format!("{}; {next}", c.message);
    }
    (report, action)
}

async fn failure_report<K: Managed>(
    ctx: &Context<K>,
    obj: &K,
    err: &ReconcileError,
    why: &'static str,
    ready: Status,
) -> Report<K> {
    let mut msg = err.to_string();
    if let ReconcileError::Credentials(CredentialsError::SecretForbidden { namespace, .. }) = err {
        msg = format!(
            "{msg}; grant it with: {}",
            ctx.settings.secrets.grant_command(namespace)
        );
    }
    ctx.metrics
        .failures
        .get_or_create(&crate::core::metrics::ReasonLabels {
            kind: K::KIND,
            reason: why,
        })
        .inc();
    // A failure that repeats (a backoff retry finding the same refusal) is logged at WARN once,
    // when it begins; its repeats are in the Event's count.
    let object = ObjectRef::from_obj(obj);
    let repeat = obj
        .status()
        .and_then(|s| previous_reason(s.managed(), READY))
        == Some(why);
    if repeat {
        tracing::debug!(%object, reason = why, error = %msg, "sync failed again");
    } else {
        tracing::warn!(%object, reason = why, error = %msg, "sync failed");
    }
    event(ctx, obj, true, why, "Sync", msg.clone()).await;
    Report::new(
        Desired::new(READY, ready, why, msg.clone()),
        Desired::new(SYNCED, Status::False, why, msg),
    )
}

/// Deletion: remove the upstream object when this object owns it and deletionPolicy is Delete;
/// otherwise leave it. The finalizer is dropped once that is done, and deletion never waits for
/// something that may not come back (a deleted Secret, an unpaused object).
async fn cleanup<K: Managed>(obj: &K, ctx: &Context<K>) -> Result<Action, ReconcileError> {
    let (what, identity) = (obj.describe(), obj.identity());
    let policies = obj.policies();
    // What the kind wrote into Kubernetes goes with the object; a failure is said, never waited
    // on (the objects carry an ownerReference, so a garbage collector removes them too).
    if let Err(e) = ctx.connector.release(&ctx.kube, obj).await {
        let note = format!("could not delete what this object wrote into Kubernetes: {e}");
        event(ctx, obj, true, "ReleaseFailed", "Delete", note).await;
    }
    let (mut current, unproven) = trusted_status(&ctx.key, obj);
    if unproven.is_some() && policies.management == ManagementPolicy::Manage {
        let note = format!(
            "nothing deleted upstream: this object's ownership record of {identity} carries no proof that this operator wrote it; delete the upstream object by hand if it is yours"
        );
        event(ctx, obj, true, "Orphaned", "Delete", note).await;
        return Ok(Action::await_change());
    }
    let Some(own) = current.managed().ownership.clone() else {
        if policies.management == ManagementPolicy::Manage {
            let note = format!(
                "nothing deleted upstream: this object never created or adopted {identity}"
            );
            event(ctx, obj, false, "NothingToDelete", "Delete", note).await;
        }
        return Ok(Action::await_change());
    };
    let place = format!("{what} in project {}", own.project_id);
    let kept = |why: String| format!("left {place} in place: {why}");
    if !K::deletes_upstream() {
        let note = format!("nothing to delete upstream: {place} and its output stay");
        return orphan(ctx, obj, false, note).await;
    }
    if policies.deletion == DeletionPolicy::Orphan
        || policies.management == ManagementPolicy::Observe
    {
        let why = if policies.deletion == DeletionPolicy::Orphan {
            "deletionPolicy is Orphan"
        } else {
            "managementPolicy is Observe"
        };
        return orphan(ctx, obj, false, kept(why.into())).await;
    }
    if obj.is_paused() {
        return orphan(ctx, obj, true, kept("the object is paused, so no upstream call is made; delete it by hand or unpause before deleting".into())).await;
    }
    let config = match credentials::resolve(&ctx.kube, &ctx.cloud, obj).await {
        Ok(c) => c,
        Err(e) if e.waits_for_secret() => {
            return orphan(
                ctx,
                obj,
                true,
                kept(format!("its credentials cannot be used ({e})")),
            )
            .await;
        }
        Err(e) => return cleanup_failed(ctx, obj, &current, e.into()).await,
    };
    if config.project_id != own.project_id || config.endpoint != own.endpoint {
        let why = format!(
            "its credentials now resolve to project {} at {}, not {} where it lives",
            config.project_id, config.endpoint, own.endpoint
        );
        return orphan(ctx, obj, true, kept(why)).await;
    }
    let deleting = Report::deleting();
    write_status(ctx, obj, &mut current, &deleting).await?;
    let deleted = match ctx
        .connector
        .connect(&ctx.kube, obj, &config, Purpose::Delete)
        .await
    {
        Ok(external) => external.delete(obj, &current).await.map_err(Into::into),
        Err(e) => Err(e),
    };
    match deleted {
        Ok(Deleted::Gone) => {}
        Ok(Deleted::Kept(why)) => {
            ctx.claims.release(obj);
            return orphan(ctx, obj, true, kept(why)).await;
        }
        Err(ReconcileError::Upstream(e)) if e.class() == ErrorClass::NotFound => {}
        Err(e) => return cleanup_failed(ctx, obj, &current, e).await,
    }
    ctx.claims.release(obj);
    event(
        ctx,
        obj,
        false,
        "Deleted",
        "Delete",
        format!("deleted {place}"),
    )
    .await;
    Ok(Action::await_change())
}

async fn orphan<K: Managed>(
    ctx: &Context<K>,
    obj: &K,
    warning: bool,
    note: String,
) -> Result<Action, ReconcileError> {
    ctx.claims.release(obj);
    event(ctx, obj, warning, "Orphaned", "Delete", note).await;
    Ok(Action::await_change())
}

/// Records why cleanup failed and returns the error, which keeps the finalizer; the retry delay
/// comes from `error_policy` alone, so a failure is counted once.
async fn cleanup_failed<K: Managed>(
    ctx: &Context<K>,
    obj: &K,
    current: &K::Status,
    err: ReconcileError,
) -> Result<Action, ReconcileError> {
    let (why, ready, _) = classify::<K>(&err);
    let report = failure_report(ctx, obj, &err, why, ready).await;
    let mut current = current.clone();
    write_status(ctx, obj, &mut current, &report).await?;
    Err(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::live::resource::LiveSnapshotTemplate;

    #[test]
    fn a_refused_create_waits_for_a_change_and_a_timeout_backs_off() {
        let refused = ReconcileError::CreateRefused(ApiError::Status {
            operation: crate::clouds::huawei::error::Operation::Create,
            status: 400,
            code: "LIVE.100011001".into(),
            message: "bad".into(),
            request_id: None,
            retry_after: None,
        });
        assert!(matches!(
            classify::<LiveSnapshotTemplate>(&refused),
            (reason::INVALID_SPEC, Status::False, Retry::OnChange)
        ));
        assert!(matches!(
            classify::<LiveSnapshotTemplate>(&ReconcileError::TimedOut(Duration::from_secs(1))),
            (reason::TIMED_OUT, Status::Unknown, Retry::Backoff)
        ));
        // A kind names its own errors: a VOD asset not yet published is retried as such.
        let not_published = ReconcileError::CreateRefused(ApiError::Status {
            operation: crate::clouds::huawei::error::Operation::CreateTask,
            status: 403,
            code: "VOD.10060".into(),
            message: "not published".into(),
            request_id: None,
            retry_after: None,
        });
        assert!(matches!(
            classify::<crate::kinds::vod::resource::VodAssetSnapshot>(&not_published),
            ("AssetNotReady", Status::False, Retry::Backoff)
        ));
        assert!(matches!(
            classify::<LiveSnapshotTemplate>(&not_published),
            (reason::NOT_READY, Status::False, Retry::Backoff)
        ));
        let denied = ReconcileError::Credentials(CredentialsError::DefaultsNotAllowed {
            namespace: "n".into(),
        });
        assert!(matches!(
            classify::<LiveSnapshotTemplate>(&denied),
            (
                reason::DEFAULT_CREDENTIALS_DENIED,
                Status::False,
                Retry::OnChange
            )
        ));
    }
}
