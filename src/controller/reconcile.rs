//! The reconcile loop, top to bottom: pause, finalizer, credentials, ownership, observe,
//! create / adopt / update or report, status; and on deletion, delete or orphan upstream.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::runtime::controller::Action;
use kube::runtime::finalizer::{self, Event as FinalizerEvent, finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Resource, ResourceExt};

use super::report::{Report, event, previous_reason, reason, write_status};
use super::schedule::next_resync;
use super::{Context, ownership};
use crate::conditions::{Desired, READY, SYNCED, Status};
use crate::credentials::{self, CredentialsError};
use crate::desired::{at_provider, desired, diff, merged_update};
use crate::resource::{
    DeletionPolicy, FINALIZER, LiveSnapshotTemplate, ManagementPolicy, RECONCILE_ANNOTATION,
};
use crate::upstream::{ApiError, ErrorClass};

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    #[error(transparent)]
    Upstream(#[from] ApiError),
    #[error("{0}")]
    Finalizer(#[source] Box<finalizer::Error<ReconcileError>>),
    #[error("the object has no namespace")]
    NoNamespace,
}

pub async fn reconcile(
    obj: Arc<LiveSnapshotTemplate>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let started = Instant::now();
    let result = reconcile_inner(obj, &ctx).await;
    let label = match &result {
        Ok(_) => "success",
        Err(_) => "error",
    };
    ctx.metrics.reconciled(label, started.elapsed());
    result
}

async fn reconcile_inner(
    obj: Arc<LiveSnapshotTemplate>,
    ctx: &Context,
) -> Result<Action, ReconcileError> {
    let namespace = obj.namespace().ok_or(ReconcileError::NoNamespace)?;
    if obj.is_paused() {
        // Paused objects keep their finalizer and make no upstream call, even on deletion.
        write_status(ctx, &obj, &Report::paused()).await?;
        return Ok(Action::await_change());
    }
    let api: Api<LiveSnapshotTemplate> = Api::namespaced(ctx.kube.clone(), &namespace);
    finalizer(&api, FINALIZER, obj, |ev| async move {
        match ev {
            FinalizerEvent::Apply(obj) => apply(&obj, ctx).await,
            FinalizerEvent::Cleanup(obj) => cleanup(&obj, ctx).await,
        }
    })
    .await
    .map_err(|e| ReconcileError::Finalizer(Box::new(e)))
}

/// Makes upstream match spec (or, with Observe, reports how it differs) and records the result.
async fn apply(obj: &LiveSnapshotTemplate, ctx: &Context) -> Result<Action, ReconcileError> {
    let key = ObjectRef::from_obj(obj);
    let (mut report, action) = match sync(obj, ctx).await {
        Ok(report) => {
            ctx.backoff.reset(&key);
            (report, Action::requeue(resync_delay(obj, ctx)))
        }
        Err(ReconcileError::Kube(e)) => return Err(ReconcileError::Kube(e)),
        Err(e) => failed(obj, ctx, &e).await,
    };
    report.handled_request = reconcile_request(obj).map(str::to_string);
    write_status(ctx, obj, &report).await?;
    Ok(action)
}

async fn sync(obj: &LiveSnapshotTemplate, ctx: &Context) -> Result<Report, ReconcileError> {
    let (domain, app) = (obj.spec.domain.as_str(), obj.spec.app_name.as_str());
    let observing = obj.spec.management_policy == ManagementPolicy::Observe;

    // 1. Credentials decide the project, and the project decides who owns (domain, appName).
    let config = credentials::resolve(&ctx.kube, &ctx.cloud, obj).await?;
    let project = config.project_id.clone();
    let all = ctx.claimants(obj);
    if let Some(owner) = ownership::rival_owner(obj, &project, all.iter().map(|o| &**o)) {
        let owner = format!(
            "{}/{}",
            owner.namespace().unwrap_or_default(),
            owner.name_any()
        );
        let msg = format!(
            "{owner} already manages {domain}/{app} in this project; this object never writes upstream"
        );
        if previous_reason(obj, SYNCED) != Some(reason::CONFLICT) {
            event(ctx, obj, true, reason::CONFLICT, "Claim", msg.clone()).await;
        }
        let mut r = Report::new(
            Desired::new(READY, Status::False, reason::CONFLICT, msg.clone()),
            Desired::new(SYNCED, Status::False, reason::CONFLICT, msg),
        );
        r.project_id = Some(project);
        return Ok(r);
    }
    let auth_key = credentials::auth_key(&ctx.kube, obj).await?;
    let upstream = ctx.clients.get(&config)?;
    let want = desired(&obj.spec, auth_key);

    // 2. Observe: from the domain's shared listing, except for an object never seen upstream
    //    (it is most likely new, and absence from a listing would need a targeted read anyway)
    //    and for a reconcile a user asked for.
    let requested = reconcile_request(obj).is_some_and(|r| {
        obj.status
            .as_ref()
            .and_then(|s| s.last_handled_reconcile_at.as_deref())
            != Some(r)
    });
    let never_seen = obj.status.as_ref().is_none_or(|s| s.at_provider.is_none());
    let seen = if requested || never_seen {
        upstream.observe_fresh(domain, app).await?
    } else {
        upstream.observe(domain, app).await?
    };

    // 3. Absent: create (Manage) or report (Observe).
    let seen = match seen {
        Some(seen) => seen,
        None if observing => {
            let mut r = Report::new(
                Desired::new(
                    READY,
                    Status::False,
                    reason::NOT_FOUND,
                    format!("no upstream template for {domain}/{app}"),
                ),
                Report::success(reason::OBSERVING),
            );
            r.project_id = Some(project);
            return Ok(r);
        }
        None => {
            // Recorded before the call so that, after a restart mid-create, the template found
            // upstream is recognised as ours rather than announced as adopted.
            let mut intent = Report::creating();
            intent.project_id = Some(project.clone());
            write_status(ctx, obj, &intent).await?;
            match upstream.create(&want).await {
                Ok(()) => {
                    event(
                        ctx,
                        obj,
                        false,
                        "Created",
                        "Create",
                        format!("created upstream template {domain}/{app}"),
                    )
                    .await;
                    let mut r = Report::in_sync(at_provider(&want), false);
                    r.project_id = Some(project);
                    return Ok(r);
                }
                // Someone created it between our read and our write: observe it and carry on.
                Err(e) if e.class() == ErrorClass::AlreadyExists => {
                    match upstream.observe_fresh(domain, app).await? {
                        Some(seen) => seen,
                        None => return Err(e.into()),
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
    };

    // 4. Present: adopt when it predates us, then diff.
    let known = obj.status.as_ref().is_some_and(|s| s.at_provider.is_some())
        || previous_reason(obj, READY) == Some(reason::CREATING);
    if !known {
        event(
            ctx,
            obj,
            false,
            "Adopted",
            "Adopt",
            format!("found existing upstream template {domain}/{app}; this object now manages it"),
        )
        .await;
    }
    let drift = diff(&want, &seen);
    if drift.is_empty() {
        let mut r = Report::in_sync(at_provider(&seen), observing);
        r.project_id = Some(project);
        return Ok(r);
    }
    ctx.metrics.drift_detected.inc();
    let fields = drift
        .iter()
        .map(|d| d.field.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if observing {
        let mut r = Report::new(
            Desired::new(
                READY,
                Status::False,
                reason::DRIFTED,
                format!("upstream differs from spec in: {fields}"),
            ),
            Report::success(reason::OBSERVING),
        );
        r.at_provider = Some(at_provider(&seen));
        r.drift = Some(drift);
        r.project_id = Some(project);
        return Ok(r);
    }
    let body = merged_update(&want, &seen);
    upstream.update(&body).await?;
    let spec_changed =
        obj.status.as_ref().and_then(|s| s.observed_generation) != obj.meta().generation;
    let (ev_reason, note) = if spec_changed || !known {
        (
            "Updated",
            format!("updated upstream template {domain}/{app}: {fields}"),
        )
    } else {
        (
            "DriftCorrected",
            format!(
                "upstream template {domain}/{app} had drifted from spec in {fields}; corrected"
            ),
        )
    };
    event(ctx, obj, false, ev_reason, "Update", note).await;
    let mut r = Report::in_sync(at_provider(&body), false);
    r.project_id = Some(project);
    Ok(r)
}

fn reconcile_request(obj: &LiveSnapshotTemplate) -> Option<&str> {
    obj.annotations()
        .get(RECONCILE_ANNOTATION)
        .map(String::as_str)
}

/// With coalesced observation a domain's objects share a slot (and so one listing); otherwise
/// each object has its own.
fn resync_delay(obj: &LiveSnapshotTemplate, ctx: &Context) -> Duration {
    let key = match ctx.settings.upstream.coalesce_window {
        Some(_) => obj.spec.domain.clone(),
        None => obj.uid().unwrap_or_else(|| obj.name_any()),
    };
    next_resync(ctx.settings.resync, &key, std::time::SystemTime::now())
}

/// Status and retry delay for a failed sync. Terminal failures wait for a change of the spec or
/// of a referenced Secret (both trigger a reconcile), with the resync as a safety net.
async fn failed(
    obj: &LiveSnapshotTemplate,
    ctx: &Context,
    err: &ReconcileError,
) -> (Report, Action) {
    let key = ObjectRef::from_obj(obj);
    let resync = Action::requeue(resync_delay(obj, ctx));
    let (why, ready, action) = match err {
        ReconcileError::Credentials(c) if c.waits_for_secret() => {
            let why = match c {
                CredentialsError::SecretMissing { .. } => reason::SECRET_MISSING,
                CredentialsError::NoDefault | CredentialsError::NoEndpoint => {
                    reason::CREDENTIALS_MISSING
                }
                _ => reason::INVALID_SECRET,
            };
            (why, Status::False, resync)
        }
        ReconcileError::Credentials(_) => (
            reason::SECRET_UNREADABLE,
            Status::Unknown,
            Action::requeue(ctx.backoff.next(&key)),
        ),
        ReconcileError::Upstream(e) => match e.class() {
            ErrorClass::Terminal => (reason::INVALID_SPEC, Status::False, resync),
            ErrorClass::Auth => (
                reason::AUTH_FAILED,
                Status::False,
                Action::requeue(ctx.backoff.next(&key)),
            ),
            ErrorClass::Throttled(after) => {
                let delay = ctx.backoff.next(&key).max(after.unwrap_or(Duration::ZERO));
                (reason::THROTTLED, Status::Unknown, Action::requeue(delay))
            }
            _ => (
                reason::UPSTREAM_ERROR,
                Status::Unknown,
                Action::requeue(ctx.backoff.next(&key)),
            ),
        },
        _ => (
            reason::UPSTREAM_ERROR,
            Status::Unknown,
            Action::requeue(ctx.backoff.next(&key)),
        ),
    };
    let msg = err.to_string();
    tracing::warn!(object = %key, reason = why, error = %msg, "sync failed");
    if previous_reason(obj, SYNCED) != Some(why) {
        event(ctx, obj, true, why, "Sync", msg.clone()).await;
    }
    // Ready keeps saying what it said only when upstream cannot differ because of this error.
    let report = Report::new(
        Desired::new(READY, ready, why, msg.clone()),
        Desired::new(SYNCED, Status::False, why, msg),
    );
    (report, action)
}

/// Deletion: remove the upstream template (Delete) or leave it (Orphan, Observe, or when
/// another object owns it); the finalizer is dropped only once that is done.
async fn cleanup(obj: &LiveSnapshotTemplate, ctx: &Context) -> Result<Action, ReconcileError> {
    let (domain, app) = (obj.spec.domain.as_str(), obj.spec.app_name.as_str());
    let keep = obj.spec.deletion_policy == DeletionPolicy::Orphan
        || obj.spec.management_policy == ManagementPolicy::Observe
        || previous_reason(obj, SYNCED) == Some(reason::CONFLICT);
    if keep {
        event(
            ctx,
            obj,
            false,
            "Orphaned",
            "Delete",
            format!("left upstream template {domain}/{app} in place"),
        )
        .await;
        return Ok(Action::await_change());
    }
    let result = async {
        let config = credentials::resolve(&ctx.kube, &ctx.cloud, obj).await?;
        let all = ctx.claimants(obj);
        if ownership::rival_owner(obj, &config.project_id, all.iter().map(|o| &**o)).is_some() {
            return Ok(false);
        }
        write_status(ctx, obj, &Report::deleting()).await?;
        match ctx.clients.get(&config)?.delete(domain, app).await {
            Ok(()) => Ok(true),
            Err(e) if e.class() == ErrorClass::NotFound => Ok(true),
            Err(e) => Err(ReconcileError::from(e)),
        }
    }
    .await;
    match result {
        Ok(true) => {
            event(
                ctx,
                obj,
                false,
                "Deleted",
                "Delete",
                format!("deleted upstream template {domain}/{app}"),
            )
            .await;
            Ok(Action::await_change())
        }
        Ok(false) => Ok(Action::await_change()),
        Err(ReconcileError::Kube(e)) => Err(ReconcileError::Kube(e)),
        Err(e) => {
            let (report, _) = failed(obj, ctx, &e).await;
            write_status(ctx, obj, &report).await?;
            Err(e)
        }
    }
}
