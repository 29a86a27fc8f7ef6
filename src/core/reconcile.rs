//! The reconcile loop of every kind, top to bottom: pause, finalizer, credentials, ownership,
//! observe, create / adopt / update or report, status; and on deletion, delete what this object
//! owns or leave it. What is kind-specific (how to observe, create, update, delete and diff) is
//! the kind's `External` (see `managed.rs`).
//!
//! Ownership rules, in one place:
//! - an object writes upstream only what it created or explicitly adopted
//!   (`spec.adoptionPolicy`), and records which in `status.ownership` before the first write;
//! - a create intent (`Creating`) stays recorded through failures and restarts until a later
//!   observation settles whether the template exists, so an unanswered create is never mistaken
//!   for someone else's object;
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
use kube::{Api, ResourceExt};
use tracing::Instrument;

use super::Context;
use super::managed::{
    AdoptionPolicy, Connector, DeletionPolicy, External, FINALIZER, FieldDrift, KindStatus, Look,
    Managed, ManagementPolicy, Observation, Ownership, OwnershipState, Progress, Purpose,
    RECONCILE_ANNOTATION,
};
use super::ownership::Identity;
use super::proof::Trust;
use super::report::{Report, event, previous_reason, reason, write_status};
use crate::clouds::huawei::{ApiError, ErrorClass};
use crate::core::conditions::{Desired, FAILED, READY, SYNCED, Status};
use crate::core::credentials::{self, CredentialsError};

/// How soon an object whose upstream is still becoming available (a task running) is looked
/// at again.
const PENDING_POLL: Duration = Duration::from_secs(3);
/// How soon a reconcile that found its cached object behind the API server tries again.
const STALE_RETRY: Duration = Duration::from_secs(1);

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
    #[error("{0}")]
    Finalizer(#[source] Box<finalizer::Error<ReconcileError>>),
    #[error("the object has no namespace")]
    NoNamespace,
    /// The cached object this reconcile started from is behind the API server (a lagging
    /// watch): the decision is made again from the fresh object, never from the stale copy.
    /// The fresh object is handed back through `sync`'s `fresh` slot.
    #[error("the cached object is behind the API server")]
    Stale,
    /// The object changed or went away while an intent was being recorded: nothing was
    /// written upstream, and the next reconcile starts from the newer object.
    #[error("the object changed while an intent was being recorded")]
    Superseded,
    /// Something the upstream object needs is missing (see `Observation::Unavailable`).
    #[error("{message}")]
    Unavailable {
        reason: &'static str,
        message: String,
    },
}

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
    let (mut current, mut unproven) = trusted_status(ctx, obj);
    if obj.is_paused() {
        // Paused objects make no upstream call; they keep their finalizer and their claim.
        keep_unproven(&mut current, unproven.as_ref());
        write_status(ctx, obj, &mut current, &Report::paused()).await?;
        return Ok(ctx.resync.hold(obj, Action::await_change()));
    }
    // A one-shot object that failed for good stays failed: no upstream call, no resubmit at a
    // resync or after a restart, until the retry annotation takes a new value.
    if K::one_shot() {
        match retry_due(obj, &current) {
            Some(request) => {
                write_status(ctx, obj, &mut current, &Report::retrying(request)).await?;
                ctx.claims.release(obj);
            }
            None if failed_for_good(obj, &current) => {
                return Ok(ctx.resync.hold(obj, Action::await_change()));
            }
            None => {}
        }
    }
    let limit = ctx.settings.reconcile_timeout;
    // A sync that finds the cache behind the API server runs once more on the fresh object.
    let mut fresh: Option<K> = None;
    let mut reread = false;
    let outcome = loop {
        let target = fresh.as_ref().unwrap_or(obj);
        let mut slot = None;
        let outcome = tokio::time::timeout(
            limit,
            sync(target, ctx, &mut current, unproven.as_ref(), &mut slot),
        )
        .await
        .unwrap_or(Err(ReconcileError::TimedOut(limit)));
        match (outcome, slot) {
            (Err(ReconcileError::Stale), Some(newer)) if !reread => {
                (current, unproven) = trusted_status(ctx, &newer);
                fresh = Some(newer);
                reread = true;
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
    report.handled_request = reconcile_request(obj).map(str::to_string);
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

async fn sync<K: Managed>(
    obj: &K,
    ctx: &Context<K>,
    current: &mut K::Status,
    unproven: Option<&Ownership>,
    fresh: &mut Option<K>,
) -> Result<Report<K>, ReconcileError> {
    let (what, identity) = (obj.describe(), obj.identity());
    let policies = obj.policies();
    let observing = policies.management == ManagementPolicy::Observe;

    // 1. Credentials decide the project and endpoint. An upstream object this object owns stays
    //    where it is: credentials that now point elsewhere are refused, never followed.
    let config = credentials::resolve(&ctx.kube, &ctx.cloud, obj).await?;
    let project = config.project_id.clone();
    if let Some(own) = &current.managed().ownership
        && (own.project_id != project || own.endpoint != config.endpoint)
    {
        let msg = format!(
            "this object owns {identity} in project {} at {}, but its credentials now resolve to project {project} at {}; restore them, or delete this object with deletionPolicy Orphan and create a new one",
            own.project_id, own.endpoint, config.endpoint
        );
        return Ok(Report::new(
            Desired::new(READY, Status::False, reason::OWNER_MOVED, msg.clone()),
            Desired::new(SYNCED, Status::False, reason::OWNER_MOVED, msg),
        )
        .with_project(&project));
    }

    // 2. Another object holding this upstream object: this one never writes it.
    let id = Identity::of(obj, &project);
    if !observing && let Some(rival) = ctx.claims.rival(&id, obj, |r| ctx.exists(r)) {
        return Ok(conflict(ctx, obj, current, &rival.object, &project).await);
    }
    let external = ctx
        .connector
        .connect(ctx, obj, &config, Purpose::Sync)
        .await?;

    // 3. Observe. A reconcile a user asked for, and an object with an unanswered create on
    //    record, read the upstream object itself. A new object needs proof of absence: a read
    //    started after this process first saw it (which a kind may share between the new
    //    objects it batches); so does a settled object's first look after a restart. Later looks
    //    may use any recent shared read.
    let requested = reconcile_request(obj)
        .is_some_and(|r| current.managed().last_handled_reconcile_at.as_deref() != Some(r));
    let prior = current.managed().ownership.clone();
    let settled = current.at_provider().is_some()
        && prior
            .as_ref()
            .is_some_and(|o| o.state != OwnershipState::Creating);
    let (look, restarted) = if requested || (!settled && prior.is_some()) {
        // An unanswered create of ours may land at any time, so no shared read is proof
        // against it.
        (Look::Fresh, false)
    } else if !settled {
        (Look::Since(ctx.first_seen(obj)), false)
    } else if let Some(since) = ctx.seen_since(obj) {
        (Look::Since(since), true)
    } else {
        (Look::Shared, false)
    };
    let seen = external.observe(obj, current, look).await?;
    if restarted {
        ctx.forget_seen(obj);
    }

    // 4. Absent: create (Manage) or report (Observe).
    // Whether `own` came from this reconcile's own create race, rather than from status.
    let (seen, mut own, raced) = match seen {
        Observation::Unavailable { reason, message } => {
            return Err(ReconcileError::Unavailable { reason, message });
        }
        Observation::Present(seen) => (seen, prior.clone(), false),
        Observation::Absent if observing => {
            let msg = format!("{what} does not exist");
            return Ok(Report::new(
                Desired::new(READY, Status::False, reason::NOT_FOUND, msg),
                Report::<K>::success(reason::OBSERVING),
            )
            .with_project(&project));
        }
        Observation::Absent => {
            // A create is the one write that cannot be taken back (a paid job, a task): it is
            // decided on the API server's copy of the object, not the cache's, and its intent is
            // recorded only if the object is still that copy.
            let guard = fresh_truth(ctx, obj, current, fresh).await?;
            let intent = Ownership {
                state: OwnershipState::Creating,
                project_id: project.clone(),
                endpoint: config.endpoint.clone(),
                since: prior
                    .as_ref()
                    .map(|o| o.since.clone())
                    .unwrap_or_else(|| Time(jiff::Timestamp::now())),
                key: prior
                    .as_ref()
                    .map_or_else(|| obj.intent_key(), |o| o.key.clone()),
                proof: None,
            };
            if let Err(rival) = ctx.claims.try_claim(&id, obj, &intent, |r| ctx.exists(r)) {
                return Ok(conflict(ctx, obj, current, &rival.object, &project).await);
            }
            // Recorded before the call, and kept by every later status write until an
            // observation settles it, so an unanswered create is recognised as ours.
            let mut record = Report::creating()
                .with_project(&project)
                .with_ownership(Some(intent.clone()));
            record.precondition = Some(guard);
            match write_status(ctx, obj, current, &record).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 409 => {
                    ctx.claims.release(obj);
                    return Err(ReconcileError::Superseded);
                }
                Err(e) => return Err(e.into()),
            }
            match external.create(obj).await {
                Ok(created) => {
                    event(
                        ctx,
                        obj,
                        false,
                        "Created",
                        "Create",
                        format!("created {what}"),
                    )
                    .await;
                    let own = Ownership {
                        state: OwnershipState::Created,
                        ..intent
                    };
                    return Ok(settled_report(&external, &created, false)
                        .with_project(&project)
                        .with_ownership(Some(own)));
                }
                Err(e) if e.class() == ErrorClass::AlreadyExists => {
                    let Observation::Present(seen) =
                        external.observe(obj, current, Look::Fresh).await?
                    else {
                        return Err(ReconcileError::Upstream(e));
                    };
                    // With an earlier unanswered create of ours on record, the object may be
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
        // before refusing an upstream object that could be ours.
        own = fresh_ownership(ctx, obj).await?;
    }
    let drift = external.diff(obj, &seen);
    // An unproven record is honoured only where upstream already equals spec (see below).
    let reownable = unproven.filter(|_| drift.is_empty()).cloned();
    let own = match (own, reownable) {
        _ if observing => None,
        (Some(o), _) if o.state == OwnershipState::Creating => {
            let note = format!("created {what} (confirmed after an unanswered create)");
            event(ctx, obj, false, "Created", "Create", note).await;
            Some(Ownership {
                state: OwnershipState::Created,
                ..o
            })
        }
        (Some(o), _) => Some(o),
        // Created under this object's manifest-derived tag (a rebuilt cluster re-applying the
        // same manifest): its own, not someone else's to adopt.
        (None, _) if obj.intent_key().is_some() && external.tag(&seen) == obj.intent_key() => {
            let found = Ownership {
                state: OwnershipState::Created,
                project_id: project.clone(),
                endpoint: config.endpoint.clone(),
                since: Time(jiff::Timestamp::now()),
                key: obj.intent_key(),
                proof: None,
            };
            if let Err(rival) = ctx.claims.try_claim(&id, obj, &found, |r| ctx.exists(r)) {
                return Ok(conflict(ctx, obj, current, &rival.object, &project).await);
            }
            let note = format!(
                "found {what}, created under this manifest's tag before this object existed (a rebuilt or restored cluster); nothing was created"
            );
            event(ctx, obj, false, "Found", "Create", note).await;
            Some(found)
        }
        // A record without a proof (written by an earlier release, or forged to look so) is
        // honoured as IfMatching adoption would be: only where upstream already equals spec
        // (and, as every claim, only where nobody else holds it). It is recorded again with a
        // proof, under a new date, so it never outranks an older proven claim.
        (None, Some(record)) => {
            let renewed = Ownership {
                state: match record.state {
                    OwnershipState::Creating => OwnershipState::Created,
                    other => other,
                },
                project_id: project.clone(),
                endpoint: config.endpoint.clone(),
                since: Time(jiff::Timestamp::now()),
                proof: None,
                ..record
            };
            if let Err(rival) = ctx.claims.try_claim(&id, obj, &renewed, |r| ctx.exists(r)) {
                return Ok(conflict(ctx, obj, current, &rival.object, &project).await);
            }
            let note = format!(
                "re-recorded this object's ownership of {what} with the operator's proof (the record had none; upstream equals spec)"
            );
            event(ctx, obj, false, "OwnershipProven", "Claim", note).await;
            Some(renewed)
        }
        (None, None) => {
            let allowed = match policies.adoption {
                AdoptionPolicy::Never => false,
                AdoptionPolicy::IfMatching => drift.is_empty(),
                AdoptionPolicy::Always => true,
            };
            if !allowed {
                ctx.claims.release(obj);
                let at = external.at_provider(&seen);
                return Ok(already_exists(ctx, obj, current, at, &drift, &project).await);
            }
            let adopted = Ownership {
                state: OwnershipState::Adopted,
                project_id: project.clone(),
                endpoint: config.endpoint.clone(),
                since: Time(jiff::Timestamp::now()),
                key: None,
                proof: None,
            };
            if let Err(rival) = ctx.claims.try_claim(&id, obj, &adopted, |r| ctx.exists(r)) {
                return Ok(conflict(ctx, obj, current, &rival.object, &project).await);
            }
            // Recorded before the first write, so cleanup knows it may delete it.
            let record = Report::intent(reason::CREATING, "adopting the upstream object")
                .with_project(&project)
                .with_ownership(Some(adopted.clone()));
            write_status(ctx, obj, current, &record).await?;
            let deletes = if policies.deletion == DeletionPolicy::Delete && K::deletes_upstream() {
                "and deletes it with the object"
            } else {
                "and leaves it in place when the object is deleted"
            };
            let note = format!(
                "took over existing {what} (adoptionPolicy {:?}); this object now manages it {deletes}",
                policies.adoption
            );
            event(ctx, obj, false, "Adopted", "Adopt", note).await;
            Some(adopted)
        }
    };

    // 6. Diff: in sync (or still becoming available), drift reported (Observe), or updated.
    if drift.is_empty() {
        let r = settled_report(&external, &seen, observing).with_project(&project);
        return Ok(match own {
            Some(o) => r.with_ownership(Some(o)),
            None => r,
        });
    }
    // A difference is drift only when upstream moved away from a spec this object had
    // confirmed in sync; a new generation, an object just created or adopted, or one never yet
    // in sync (a VOD cover set once its task finishes) is an ordinary update.
    let spec_changed = current.managed().observed_generation != obj.meta().generation;
    let just_owned = prior
        .as_ref()
        .is_none_or(|p| p.state == OwnershipState::Creating);
    let was_in_sync = crate::core::conditions::find(&current.managed().conditions, READY)
        .is_some_and(|c| c.status == "True");
    let drifted = was_in_sync && !(spec_changed || just_owned);
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
            Report::<K>::success(reason::OBSERVING),
        )
        .with_project(&project);
        r.at_provider = Some(external.at_provider(&seen));
        r.drift = Some(drift);
        return Ok(r);
    }
    let after = external.update(obj, &seen).await?;
    let (ev_reason, note) = if !drifted {
        ("Updated", format!("updated {what}: {fields}"))
    } else {
        (
            "DriftCorrected",
            format!("{what} had drifted from spec in {fields}; corrected"),
        )
    };
    event(ctx, obj, false, ev_reason, "Update", note).await;
    Ok(settled_report(&external, &after, false)
        .with_project(&project)
        .with_ownership(own))
}

/// Upstream matches spec: Ready; or, while the object is still becoming available (a task
/// running), not yet Ready with the kind's reason and looked at again soon; or final (a job
/// that ended), with no more upstream calls.
fn settled_report<K: Managed, E: External<K>>(
    external: &E,
    seen: &E::Observed,
    observing: bool,
) -> Report<K> {
    let at = external.at_provider(seen);
    let synced = if observing {
        reason::OBSERVING
    } else {
        reason::RECONCILE_SUCCESS
    };
    let with = |ready: Desired| {
        let mut r = Report::new(ready, Report::<K>::success(synced));
        r.at_provider = Some(at.clone());
        r.drift = Some(Vec::new());
        r
    };
    match external.progress(seen) {
        Progress::Ready => Report::in_sync(at, observing),
        Progress::Pending { reason, message } => {
            let mut r = with(Desired::new(READY, Status::False, reason, message));
            r.pending = true;
            r
        }
        Progress::Unrecognised { message } => {
            let mut r = with(Desired::new(
                READY,
                Status::Unknown,
                reason::UNKNOWN_STATE,
                message,
            ));
            r.unrecognised = true;
            r
        }
        Progress::Final {
            ready,
            reason,
            message,
        } => {
            let status = if ready { Status::True } else { Status::False };
            let mut r = with(Desired::new(READY, status, reason, message.clone()));
            let failed = if ready { Status::False } else { Status::True };
            let note = if ready { String::new() } else { message };
            r.extra = vec![Desired::new(FAILED, failed, reason, note)];
            r.quiet = true;
            r
        }
    }
}

/// The resourceVersion an intent may be recorded against: the API server's copy of the object,
/// when it says what the cache says. When it says more (a status written by an earlier
/// reconcile that the watch has not delivered yet, a newer spec), the sync is run again on it.
async fn fresh_truth<K: Managed>(
    ctx: &Context<K>,
    obj: &K,
    current: &K::Status,
    fresh: &mut Option<K>,
) -> Result<String, ReconcileError> {
    let api: Api<K> = Api::namespaced(ctx.kube.clone(), &obj.namespace().unwrap_or_default());
    let Some(newer) = api.get_opt(&obj.name_any()).await? else {
        return Err(ReconcileError::Superseded);
    };
    if newer.uid() != obj.uid() || newer.meta().deletion_timestamp.is_some() {
        return Err(ReconcileError::Superseded);
    }
    let same = newer.meta().generation == obj.meta().generation
        && trusted_status(ctx, &newer).0 == *current;
    let version = newer.resource_version().unwrap_or_default();
    if !same {
        *fresh = Some(newer);
        return Err(ReconcileError::Stale);
    }
    Ok(version)
}

/// The ownership record as the API server has it now.
async fn fresh_ownership<K: Managed>(
    ctx: &Context<K>,
    obj: &K,
) -> Result<Option<Ownership>, kube::Error> {
    let api: Api<K> = Api::namespaced(ctx.kube.clone(), &obj.namespace().unwrap_or_default());
    let fresh = api.get_opt(&obj.name_any()).await?;
    Ok(fresh.filter(|f| f.uid() == obj.uid()).and_then(|f| {
        let record = f.status().and_then(|s| s.managed().ownership.clone());
        ctx.key.proven(&f, record.as_ref())
    }))
}

/// Puts an unproven record back where no record stands, so a status write keeps it as it was.
fn keep_unproven<S: KindStatus>(current: &mut S, unproven: Option<&Ownership>) {
    if current.managed().ownership.is_none()
        && let Some(u) = unproven
    {
        current.managed_mut().ownership = Some(u.clone());
    }
}

/// The object's status with only a proven ownership record in it, and an unproven record
/// (none, or one written without a proof) aside. A record whose proof fails is dropped: the next
/// status write removes it.
fn trusted_status<K: Managed>(ctx: &Context<K>, obj: &K) -> (K::Status, Option<Ownership>) {
    let mut status = obj.status().cloned().unwrap_or_default();
    let record = status.managed_mut().ownership.take();
    match ctx.key.judge(obj, record.as_ref()) {
        Trust::Proven(own) => {
            status.managed_mut().ownership = Some(own);
            (status, None)
        }
        Trust::Unproven(own) => (status, Some(own)),
        Trust::None => (status, None),
    }
}

/// An upstream object exists that this object did not create and may not adopt.
async fn already_exists<K: Managed>(
    ctx: &Context<K>,
    obj: &K,
    current: &K::Status,
    at: super::managed::AtProviderOf<K>,
    drift: &[FieldDrift],
    project: &str,
) -> Report<K> {
    let what = obj.describe();
    let msg = match obj.policies().adoption {
        AdoptionPolicy::IfMatching => format!(
            "{what} exists and was not created by this object; adoptionPolicy IfMatching takes it over only when it equals spec, and it differs in: {}",
            drift
                .iter()
                .map(|d| d.field.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => format!(
            "{what} exists and was not created by this object; it is left untouched. Set spec.adoptionPolicy to IfMatching or Always to take it over"
        ),
    };
    if previous_reason(current.managed(), READY) != Some(reason::ALREADY_EXISTS) {
        event(ctx, obj, true, reason::ALREADY_EXISTS, "Claim", msg.clone()).await;
    }
    let mut r = Report::new(
        Desired::new(READY, Status::False, reason::ALREADY_EXISTS, msg.clone()),
        Desired::new(SYNCED, Status::False, reason::ALREADY_EXISTS, msg),
    )
    .with_project(project)
    .with_ownership(None);
    r.at_provider = Some(at);
    r.drift = Some(drift.to_vec());
    r
}

/// Another object holds the upstream object. Its name is given only within the same namespace.
async fn conflict<K: Managed>(
    ctx: &Context<K>,
    obj: &K,
    current: &K::Status,
    holder: &ObjectRef<K>,
    project: &str,
) -> Report<K> {
    let identity = obj.identity();
    let who = if holder.namespace == obj.namespace() {
        format!("object {}", holder.name)
    } else {
        "an object in another namespace".to_string()
    };
    let msg = format!(
        "{who} already manages {identity} in this project; this object never writes upstream"
    );
    if previous_reason(current.managed(), SYNCED) != Some(reason::CONFLICT) {
        event(ctx, obj, true, reason::CONFLICT, "Claim", msg.clone()).await;
    }
    Report::new(
        Desired::new(READY, Status::False, reason::CONFLICT, msg.clone()),
        Desired::new(SYNCED, Status::False, reason::CONFLICT, msg),
    )
    .with_project(project)
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

fn reconcile_request<K: Managed>(obj: &K) -> Option<&str> {
    obj.meta()
        .annotations
        .as_ref()?
        .get(RECONCILE_ANNOTATION)
        .map(String::as_str)
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
    let (mut current, unproven) = trusted_status(ctx, obj);
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
        .connect(ctx, obj, &config, Purpose::Delete)
        .await
    {
        Ok(external) => external.delete(obj, &current).await.map_err(Into::into),
        Err(e) => Err(e),
    };
    match deleted {
        Ok(()) => {}
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
