//! The reconcile loop, top to bottom: pause, finalizer, credentials, ownership, observe, create /
//! adopt / update or report, status; and on deletion, delete what this object owns or leave it.
//!
//! Ownership rules, in one place:
//! - an object writes upstream only a template it created or explicitly adopted
//!   (`spec.adoptionPolicy`), and records which in `status.ownership` before the first write;
//! - a create intent (`Creating`) stays recorded through failures and restarts until a later
//!   observation settles whether the template exists, so an unanswered create is never mistaken
//!   for someone else's template;
//! - a claim is granted by the in-memory registry (`ownership.rs`), which only the leader
//!   consults, rebuilt from statuses before any write;
//! - cleanup deletes only what status records, only in the recorded project and endpoint, and
//!   never hangs: when that is impossible it leaves the template and says so in a Warning.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{self, Event as FinalizerEvent, finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Resource, ResourceExt};
use tracing::Instrument;

use super::Context;
use super::ownership::Identity;
use super::report::{Report, event, previous_reason, reason, write_status};
use super::schedule::next_resync;
use crate::conditions::{Desired, READY, SYNCED, Status};
use crate::credentials::{self, CredentialsError};
use crate::desired::{at_provider, desired, diff, merged_update};
use crate::resource::{
    AdoptionPolicy, DeletionPolicy, FINALIZER, LiveSnapshotTemplate, LiveSnapshotTemplateStatus,
    ManagementPolicy, Ownership, OwnershipState, RECONCILE_ANNOTATION,
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
    /// The create was refused, so no template was made: the create intent is withdrawn.
    #[error(transparent)]
    CreateRefused(ApiError),
    #[error("the reconcile did not finish within {0:?}")]
    TimedOut(Duration),
    #[error("not writing upstream: {0}")]
    Fenced(String),
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
    // Every log line of the reconcile, and every upstream call (a child span), carries the
    // object and, once known, the outcome.
    let span = tracing::info_span!(
        "reconcile",
        kind = "LiveSnapshotTemplate",
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
    ctx.metrics.reconciled(label, started.elapsed());
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

async fn reconcile_inner(
    obj: Arc<LiveSnapshotTemplate>,
    ctx: &Context,
    failed: &AtomicBool,
) -> Result<Action, ReconcileError> {
    let namespace = obj.namespace().ok_or(ReconcileError::NoNamespace)?;
    ctx.caches_synced().await;
    let api: Api<LiveSnapshotTemplate> = Api::namespaced(ctx.kube.clone(), &namespace);
    finalizer(&api, FINALIZER, obj, |ev| async move {
        match ev {
            FinalizerEvent::Apply(obj) => apply(&obj, ctx, failed).await,
            FinalizerEvent::Cleanup(obj) => cleanup(&obj, ctx).await,
        }
    })
    .await
    .map_err(|e| ReconcileError::Finalizer(Box::new(e)))
}

/// Makes upstream match spec (or, with Observe, reports how it differs) and records the result.
async fn apply(
    obj: &LiveSnapshotTemplate,
    ctx: &Context,
    failed: &AtomicBool,
) -> Result<Action, ReconcileError> {
    let key = ObjectRef::from_obj(obj);
    let mut current = obj.status.clone().unwrap_or_default();
    if obj.is_paused() {
        // Paused objects make no upstream call; they keep their finalizer and their claim.
        write_status(ctx, obj, &mut current, &Report::paused()).await?;
        return Ok(Action::await_change());
    }
    let limit = ctx.settings.reconcile_timeout;
    let outcome = tokio::time::timeout(limit, sync(obj, ctx, &mut current))
        .await
        .unwrap_or(Err(ReconcileError::TimedOut(limit)));
    let (mut report, action) = match outcome {
        Ok(report) => {
            ctx.backoff.reset(&key);
            let action = Action::requeue(resync_delay(obj, ctx));
            (report, action)
        }
        Err(ReconcileError::Kube(e)) => return Err(ReconcileError::Kube(e)),
        Err(e) => {
            failed.store(true, Ordering::Relaxed);
            let (mut report, action) = failure(obj, ctx, &e).await;
            if matches!(e, ReconcileError::CreateRefused(_)) {
                ctx.claims.release(obj);
                report.ownership = Some(None);
            }
            (report, action)
        }
    };
    report.handled_request = reconcile_request(obj).map(str::to_string);
    write_status(ctx, obj, &mut current, &report).await?;
    Ok(action)
}

async fn sync(
    obj: &LiveSnapshotTemplate,
    ctx: &Context,
    current: &mut LiveSnapshotTemplateStatus,
) -> Result<Report, ReconcileError> {
    let (domain, app) = (obj.spec.domain.as_str(), obj.spec.app_name.as_str());
    let observing = obj.spec.management_policy == ManagementPolicy::Observe;

    // 1. Credentials decide the project and endpoint. A template this object owns stays where
    //    it is: credentials that now point elsewhere are refused, never followed.
    let config = credentials::resolve(&ctx.kube, &ctx.cloud, obj).await?;
    let project = config.project_id.clone();
    if let Some(own) = &current.ownership
        && (own.project_id != project || own.endpoint != config.endpoint)
    {
        let msg = format!(
            "this object owns {domain}/{app} in project {} at {}, but its credentials now resolve to project {project} at {}; restore them, or delete this object with deletionPolicy Orphan and create a new one",
            own.project_id, own.endpoint, config.endpoint
        );
        return Ok(Report::new(
            Desired::new(READY, Status::False, reason::OWNER_MOVED, msg.clone()),
            Desired::new(SYNCED, Status::False, reason::OWNER_MOVED, msg),
        )
        .with_project(&project));
    }

    // 2. Another object holding this template: this one never writes it.
    let id = Identity::of(obj, &project);
    if !observing && let Some(rival) = ctx.claims.rival(&id, obj, |r| ctx.exists(r)) {
        return Ok(conflict(ctx, obj, current, &rival.object, &project).await);
    }
    let auth_key = credentials::auth_key(&ctx.kube, obj).await?;
    let upstream = ctx.clients.get(&config)?;
    let want = desired(&obj.spec, auth_key);

    // 3. Observe. A reconcile a user asked for, and an object with an unanswered create on
    //    record, read the template itself. A new object needs proof of absence: a complete
    //    domain listing started after this process first saw it, shared with the other new
    //    objects of the domain, or else a targeted read; so does a settled object's first look
    //    after a restart. Later looks read the domain's shared listing.
    let requested = reconcile_request(obj)
        .is_some_and(|r| current.last_handled_reconcile_at.as_deref() != Some(r));
    let settled = current.at_provider.is_some()
        && current
            .ownership
            .as_ref()
            .is_some_and(|o| o.state != OwnershipState::Creating);
    let seen = if requested || (!settled && current.ownership.is_some()) {
        // An unanswered create of ours may land at any time, so no listing is proof against
        // it: read the template itself.
        upstream.observe_fresh(domain, app).await?
    } else if !settled {
        // Never written by us: any complete listing started after this process first saw the
        // object proves absence.
        upstream
            .observe_new(domain, app, ctx.first_seen(obj))
            .await?
    } else if let Some(since) = ctx.seen_since(obj) {
        // The first look at a settled object since this process saw it (a restart): one
        // listing per domain, started after the objects were seen, confirms them all.
        let seen = upstream.observe_new(domain, app, since).await?;
        ctx.forget_seen(obj);
        seen
    } else {
        upstream.observe(domain, app).await?
    };

    // 4. Absent: create (Manage) or report (Observe).
    let prior = current.ownership.clone();
    // Whether `own` came from this reconcile's own create race, rather than from status.
    let (seen, mut own, raced) = match seen {
        Some(seen) => (seen, prior.clone(), false),
        None if observing => {
            let msg = format!("no upstream template for {domain}/{app}");
            return Ok(Report::new(
                Desired::new(READY, Status::False, reason::NOT_FOUND, msg),
                Report::success(reason::OBSERVING),
            )
            .with_project(&project));
        }
        None => {
            let intent = Ownership {
                state: OwnershipState::Creating,
                project_id: project.clone(),
                endpoint: config.endpoint.clone(),
                since: prior
                    .as_ref()
                    .map(|o| o.since.clone())
                    .unwrap_or_else(|| Time(jiff::Timestamp::now())),
            };
            if let Err(rival) = ctx.claims.try_claim(&id, obj, &intent, |r| ctx.exists(r)) {
                return Ok(conflict(ctx, obj, current, &rival.object, &project).await);
            }
            // Recorded before the call, and kept by every later status write until an
            // observation settles it, so an unanswered create is recognised as ours.
            let record = Report::creating()
                .with_project(&project)
                .with_ownership(Some(intent.clone()));
            write_status(ctx, obj, current, &record).await?;
            ctx.fenced().await?;
            match upstream.create(&want).await {
                Ok(()) => {
                    let note = format!("created upstream template {domain}/{app}");
                    event(ctx, obj, false, "Created", "Create", note).await;
                    let own = Ownership {
                        state: OwnershipState::Created,
                        ..intent
                    };
                    return Ok(Report::in_sync(at_provider(&want), false)
                        .with_project(&project)
                        .with_ownership(Some(own)));
                }
                Err(e) if e.class() == ErrorClass::AlreadyExists => {
                    let seen = upstream
                        .observe_fresh(domain, app)
                        .await?
                        .ok_or(ReconcileError::Upstream(e))?;
                    // With an earlier unanswered create of ours on record, the template may be
                    // that create landing late; without one, someone else made it after our read.
                    let ours = prior
                        .as_ref()
                        .is_some_and(|p| p.state == OwnershipState::Creating);
                    (seen, ours.then_some(intent), true)
                }
                Err(e) if e.class() == ErrorClass::Terminal => {
                    return Err(ReconcileError::CreateRefused(e));
                }
                // Outcome unknown (timeout, 5xx, throttled): the intent stays recorded.
                Err(e) => return Err(e.into()),
            }
        }
    };

    // 5. Present. Ours when status records it; otherwise adopt only as the spec allows.
    if !observing && own.is_none() && !raced {
        // The cache may lag our own intent write of a previous reconcile: ask the API server
        // before refusing a template that could be ours.
        own = fresh_ownership(ctx, obj).await?;
    }
    let drift = diff(&want, &seen);
    let own = match own {
        _ if observing => None,
        Some(o) if o.state == OwnershipState::Creating => {
            let note = format!(
                "created upstream template {domain}/{app} (confirmed after an unanswered create)"
            );
            event(ctx, obj, false, "Created", "Create", note).await;
            Some(Ownership {
                state: OwnershipState::Created,
                ..o
            })
        }
        Some(o) => Some(o),
        None => {
            let allowed = match obj.spec.adoption_policy {
                AdoptionPolicy::Never => false,
                AdoptionPolicy::IfMatching => drift.is_empty(),
                AdoptionPolicy::Always => true,
            };
            if !allowed {
                ctx.claims.release(obj);
                return Ok(already_exists(ctx, obj, current, &seen, &drift, &project).await);
            }
            let adopted = Ownership {
                state: OwnershipState::Adopted,
                project_id: project.clone(),
                endpoint: config.endpoint.clone(),
                since: Time(jiff::Timestamp::now()),
            };
            if let Err(rival) = ctx.claims.try_claim(&id, obj, &adopted, |r| ctx.exists(r)) {
                return Ok(conflict(ctx, obj, current, &rival.object, &project).await);
            }
            // Recorded before the first write, so cleanup knows it may delete it.
            let record = Report::intent(reason::CREATING, "adopting the upstream template")
                .with_project(&project)
                .with_ownership(Some(adopted.clone()));
            write_status(ctx, obj, current, &record).await?;
            let note = format!(
                "took over existing upstream template {domain}/{app} (adoptionPolicy {:?}); this object now manages it and deletes it with deletionPolicy Delete",
                obj.spec.adoption_policy
            );
            event(ctx, obj, false, "Adopted", "Adopt", note).await;
            Some(adopted)
        }
    };

    // 6. Diff: in sync, drift reported (Observe), or updated.
    if drift.is_empty() {
        let r = Report::in_sync(at_provider(&seen), observing).with_project(&project);
        return Ok(match own {
            Some(o) => r.with_ownership(Some(o)),
            None => r,
        });
    }
    // A difference is drift only when upstream moved under a spec already applied; a new
    // generation or a template just created or adopted is an ordinary update.
    let spec_changed = current.observed_generation != obj.meta().generation;
    let just_owned = prior
        .as_ref()
        .is_none_or(|p| p.state == OwnershipState::Creating);
    let drifted = !(spec_changed || just_owned);
    if drifted {
        ctx.metrics.drift_detected.inc();
    }
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
        )
        .with_project(&project);
        r.at_provider = Some(at_provider(&seen));
        r.drift = Some(drift);
        return Ok(r);
    }
    let body = merged_update(&want, &seen);
    ctx.fenced().await?;
    upstream.update(&body).await?;
    let (ev_reason, note) = if !drifted {
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
    Ok(Report::in_sync(at_provider(&body), false)
        .with_project(&project)
        .with_ownership(own))
}

/// The ownership record as the API server has it now.
async fn fresh_ownership(
    ctx: &Context,
    obj: &LiveSnapshotTemplate,
) -> Result<Option<Ownership>, kube::Error> {
    let api: Api<LiveSnapshotTemplate> =
        Api::namespaced(ctx.kube.clone(), &obj.namespace().unwrap_or_default());
    let fresh = api.get_opt(&obj.name_any()).await?;
    Ok(fresh
        .filter(|f| f.uid() == obj.uid())
        .and_then(|f| f.status)
        .and_then(|s| s.ownership))
}

/// A template exists upstream that this object did not create and may not adopt.
async fn already_exists(
    ctx: &Context,
    obj: &LiveSnapshotTemplate,
    current: &LiveSnapshotTemplateStatus,
    seen: &crate::upstream::LiveSnapshotConfig,
    drift: &[crate::resource::FieldDrift],
    project: &str,
) -> Report {
    let (domain, app) = (&obj.spec.domain, &obj.spec.app_name);
    let msg = match obj.spec.adoption_policy {
        AdoptionPolicy::IfMatching => format!(
            "upstream template {domain}/{app} exists and was not created by this object; adoptionPolicy IfMatching takes it over only when it equals spec, and it differs in: {}",
            drift
                .iter()
                .map(|d| d.field.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => format!(
            "upstream template {domain}/{app} exists and was not created by this object; it is left untouched. Set spec.adoptionPolicy to IfMatching or Always to take it over"
        ),
    };
    if previous_reason(current, READY) != Some(reason::ALREADY_EXISTS) {
        event(ctx, obj, true, reason::ALREADY_EXISTS, "Claim", msg.clone()).await;
    }
    let mut r = Report::new(
        Desired::new(READY, Status::False, reason::ALREADY_EXISTS, msg.clone()),
        Desired::new(SYNCED, Status::False, reason::ALREADY_EXISTS, msg),
    )
    .with_project(project)
    .with_ownership(None);
    r.at_provider = Some(at_provider(seen));
    r.drift = Some(drift.to_vec());
    r
}

/// Another object holds the template. Its name is given only within the same namespace.
async fn conflict(
    ctx: &Context,
    obj: &LiveSnapshotTemplate,
    current: &LiveSnapshotTemplateStatus,
    holder: &ObjectRef<LiveSnapshotTemplate>,
    project: &str,
) -> Report {
    let (domain, app) = (&obj.spec.domain, &obj.spec.app_name);
    let who = if holder.namespace == obj.namespace() {
        format!("object {}", holder.name)
    } else {
        "an object in another namespace".to_string()
    };
    let msg = format!(
        "{who} already manages {domain}/{app} in this project; this object never writes upstream"
    );
    if previous_reason(current, SYNCED) != Some(reason::CONFLICT) {
        event(ctx, obj, true, reason::CONFLICT, "Claim", msg.clone()).await;
    }
    Report::new(
        Desired::new(READY, Status::False, reason::CONFLICT, msg.clone()),
        Desired::new(SYNCED, Status::False, reason::CONFLICT, msg),
    )
    .with_project(project)
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

/// How a failure reads in status, and when to try again.
enum Retry {
    /// Wait for a change of the spec or of a referenced Secret (the resync is the safety net).
    OnChange,
    Backoff,
    /// Back off, but no sooner than the service asked.
    After(Option<Duration>),
}

fn classify(err: &ReconcileError) -> (&'static str, Status, Retry) {
    match err {
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
        ReconcileError::Credentials(_) => {
            (reason::SECRET_UNREADABLE, Status::Unknown, Retry::Backoff)
        }
        ReconcileError::Upstream(e) | ReconcileError::CreateRefused(e) => match e.class() {
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
async fn failure(
    obj: &LiveSnapshotTemplate,
    ctx: &Context,
    err: &ReconcileError,
) -> (Report, Action) {
    let key = ObjectRef::from_obj(obj);
    let (why, ready, retry) = classify(err);
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
            let secrets: Vec<&str> = credentials::referenced_secrets(obj).collect();
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
    let action = Action::requeue(delay.unwrap_or_else(|| resync_delay(obj, ctx)));
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

async fn failure_report(
    ctx: &Context,
    obj: &LiveSnapshotTemplate,
    err: &ReconcileError,
    why: &'static str,
    ready: Status,
) -> Report {
    let msg = err.to_string();
    ctx.metrics
        .failures
        .get_or_create(&crate::metrics::ReasonLabels { reason: why })
        .inc();
    tracing::warn!(object = %ObjectRef::from_obj(obj), reason = why, error = %msg, "sync failed");
    event(ctx, obj, true, why, "Sync", msg.clone()).await;
    Report::new(
        Desired::new(READY, ready, why, msg.clone()),
        Desired::new(SYNCED, Status::False, why, msg),
    )
}

/// Deletion: remove the upstream template when this object owns it and deletionPolicy is
/// Delete; otherwise leave it. The finalizer is dropped once that is done, and deletion never
/// waits for something that may not come back (a deleted Secret, an unpaused object).
async fn cleanup(obj: &LiveSnapshotTemplate, ctx: &Context) -> Result<Action, ReconcileError> {
    let (domain, app) = (obj.spec.domain.as_str(), obj.spec.app_name.as_str());
    let mut current = obj.status.clone().unwrap_or_default();
    let Some(own) = current.ownership.clone() else {
        if obj.spec.management_policy == ManagementPolicy::Manage {
            let note = format!(
                "nothing deleted upstream: this object never created or adopted {domain}/{app}"
            );
            event(ctx, obj, false, "NothingToDelete", "Delete", note).await;
        }
        return Ok(Action::await_change());
    };
    let place = format!("{domain}/{app} in project {}", own.project_id);
    let kept = |why: String| format!("left upstream template {place} in place: {why}");
    if obj.spec.deletion_policy == DeletionPolicy::Orphan
        || obj.spec.management_policy == ManagementPolicy::Observe
    {
        let why = if obj.spec.deletion_policy == DeletionPolicy::Orphan {
            "deletionPolicy is Orphan"
        } else {
            "managementPolicy is Observe"
        };
        return orphan(ctx, obj, false, kept(why.into())).await;
    }
    if obj.is_paused() {
        return orphan(ctx, obj, true, kept("the object is paused, so no upstream call is made; delete the template by hand or unpause before deleting".into())).await;
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
            "its credentials now resolve to project {} at {}, not {} where the template lives",
            config.project_id, config.endpoint, own.endpoint
        );
        return orphan(ctx, obj, true, kept(why)).await;
    }
    let deleting = Report::deleting();
    write_status(ctx, obj, &mut current, &deleting).await?;
    if let Err(e) = ctx.fenced().await {
        return cleanup_failed(ctx, obj, &current, e).await;
    }
    let deleted = match ctx.clients.get(&config) {
        Ok(upstream) => upstream.delete(domain, app).await,
        Err(e) => Err(e),
    };
    match deleted {
        Ok(()) => {}
        Err(e) if e.class() == ErrorClass::NotFound => {}
        Err(e) => return cleanup_failed(ctx, obj, &current, e.into()).await,
    }
    ctx.claims.release(obj);
    let note = format!("deleted upstream template {place}");
    event(ctx, obj, false, "Deleted", "Delete", note).await;
    Ok(Action::await_change())
}

async fn orphan(
    ctx: &Context,
    obj: &LiveSnapshotTemplate,
    warning: bool,
    note: String,
) -> Result<Action, ReconcileError> {
    ctx.claims.release(obj);
    event(ctx, obj, warning, "Orphaned", "Delete", note).await;
    Ok(Action::await_change())
}

/// Records why cleanup failed and returns the error, which keeps the finalizer; the retry delay
/// comes from `error_policy` alone, so a failure is counted once.
async fn cleanup_failed(
    ctx: &Context,
    obj: &LiveSnapshotTemplate,
    current: &LiveSnapshotTemplateStatus,
    err: ReconcileError,
) -> Result<Action, ReconcileError> {
    let (why, ready, _) = classify(&err);
    let report = failure_report(ctx, obj, &err, why, ready).await;
    let mut current = current.clone();
    write_status(ctx, obj, &mut current, &report).await?;
    Err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_create_waits_for_a_change_and_a_timeout_backs_off() {
        let refused = ReconcileError::CreateRefused(ApiError::Status {
            operation: crate::upstream::error::Operation::Create,
            status: 400,
            code: "LIVE.100011001".into(),
            message: "bad".into(),
            request_id: None,
            retry_after: None,
        });
        assert!(matches!(
            classify(&refused),
            (reason::INVALID_SPEC, Status::False, Retry::OnChange)
        ));
        assert!(matches!(
            classify(&ReconcileError::TimedOut(Duration::from_secs(1))),
            (reason::TIMED_OUT, Status::Unknown, Retry::Backoff)
        ));
        let denied = ReconcileError::Credentials(CredentialsError::DefaultsNotAllowed {
            namespace: "n".into(),
        });
        assert!(matches!(
            classify(&denied),
            (
                reason::DEFAULT_CREDENTIALS_DENIED,
                Status::False,
                Retry::OnChange
            )
        ));
    }
}
