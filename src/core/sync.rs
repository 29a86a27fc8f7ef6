//! One sync of an object that is not being deleted, in six named steps, top to bottom:
//! 1. `where_to`: credentials decide the project and endpoint; what this object owns stays put;
//! 2. a rival holding the upstream object stops this one from writing;
//! 3. `observe`: read upstream, as fresh as the object's state needs;
//! 4. `create`: absent upstream, create it (recording the intent first) or report it missing;
//! 5. `whose`: present upstream, decide whether this object owns it (its record, its tag, a
//!    re-owned unproven record, or adoption as the spec allows);
//! 6. `converge`: in sync, drift reported (Observe), or updated.
//!
//! Ownership rules, in one place:
//! - an object writes upstream only what it created or explicitly adopted
//!   (`spec.adoptionPolicy`), and records which in `status.ownership` before the first write;
//! - a create intent (`Creating`) stays recorded through failures and restarts until a later
//!   observation settles whether the object exists, so an unanswered create is never mistaken
//!   for someone else's object;
//! - a claim is granted by the in-memory registry (`ownership.rs`), which only the leader
//!   consults, rebuilt from statuses before any write.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::reflector::ObjectRef;
use kube::{Api, ResourceExt};

use super::conditions::{Desired, FAILED, READY, SYNCED, Status};
use super::context::Context;
use super::credentials;
use super::error::ReconcileError;
use super::managed::{
    AdoptionPolicy, AtProviderOf, Connector, DeletionPolicy, External, FieldDrift, KindStatus,
    Look, Managed, ManagementPolicy, Observation, Ownership, OwnershipState, Progress, Purpose,
};
use super::ownership::Identity;
use super::proof::trusted_status;
use super::report::{Report, event, previous_reason, reason, write_status};
use crate::clouds::config::ClientConfig;
use crate::clouds::error::ErrorClass;

/// What one sync knows once credentials are resolved.
struct Round<'a, K: Managed> {
    ctx: &'a Context<K>,
    obj: &'a K,
    config: ClientConfig,
    id: Identity,
    observing: bool,
    /// The proven ownership record the sync started from.
    prior: Option<Ownership>,
}

/// Whose the upstream object is, once step 5 has decided.
enum Whose<K: Managed> {
    /// This object's (or, observing, nobody's to claim).
    Owned(Option<Ownership>),
    /// Not this object's to write: the report says why.
    Refused(Box<Report<K>>),
}

/// What a create came to.
enum Created<K: Managed, O> {
    /// Created, refused for now, or superseded: the report is the sync's result.
    Done(Box<Report<K>>),
    /// Someone created it between the look and the create: what is there, and the intent when
    /// it may be our own earlier create landing late.
    Raced(O, Option<Ownership>),
}

pub async fn sync<K: Managed>(
    obj: &K,
    ctx: &Context<K>,
    current: &mut K::Status,
    unproven: Option<&Ownership>,
    fresh: &mut Option<K>,
) -> Result<Report<K>, ReconcileError> {
    // 1. Where the upstream object lives.
    let config = credentials::resolve(&ctx.kube, &ctx.cloud, obj).await?;
    if let Some(moved) = owner_moved(obj, current, &config) {
        return Ok(moved);
    }
    let round = Round {
        ctx,
        obj,
        id: Identity::of(obj, &config.project_id),
        config,
        observing: obj.policies().management == ManagementPolicy::Observe,
        prior: current.managed().ownership.clone(),
    };

    // 2. Another object holding this upstream object: this one never writes it.
    if !round.observing
        && let Some(rival) = ctx.claims.rival(&round.id, obj, |r| ctx.exists(r))
    {
        return Ok(round.conflict(current, &rival.object).await);
    }
    let external = ctx
        .connector
        .connect(&ctx.kube, obj, &round.config, Purpose::Sync)
        .await?;

    // 3. Observe.
    let seen = round.observe(current, &external).await?;

    // 4. Absent: create (Manage) or report (Observe).
    let (seen, own, raced) = match seen {
        Observation::Unavailable { reason, message } => {
            return Err(ReconcileError::Unavailable { reason, message });
        }
        Observation::Present(seen) => (seen, round.prior.clone(), false),
        Observation::Absent if round.observing => return Ok(round.missing()),
        Observation::Absent => match round.create(current, fresh, &external).await? {
            Created::Done(report) => return Ok(*report),
            Created::Raced(seen, own) => (seen, own, true),
        },
    };

    // 5. Present: ours when status records it; otherwise adopt only as the spec allows.
    let drift = external.diff(obj, &seen);
    let own = match round
        .whose(current, unproven, &external, &seen, &drift, own, raced)
        .await?
    {
        Whose::Owned(own) => own,
        Whose::Refused(report) => return Ok(*report),
    };

    // 6. In sync, drift reported, or updated.
    round.converge(current, &external, &seen, drift, own).await
}

/// An upstream object this object owns stays where it is: credentials that now point elsewhere
/// are refused, never followed.
fn owner_moved<K: Managed>(
    obj: &K,
    current: &K::Status,
    config: &ClientConfig,
) -> Option<Report<K>> {
    let own = current.managed().ownership.as_ref()?;
    let project = &config.project_id;
    if own.project_id == *project && own.endpoint == config.endpoint {
        return None;
    }
    let msg = format!(
        "this object owns {} in project {} at {}, but its credentials now resolve to project {project} at {}; restore them, or delete this object with deletionPolicy Orphan and create a new one",
        obj.identity(),
        own.project_id,
        own.endpoint,
        config.endpoint
    );
    Some(
        Report::new(
            Desired::new(READY, Status::False, reason::OWNER_MOVED, msg.clone()),
            Desired::new(SYNCED, Status::False, reason::OWNER_MOVED, msg),
        )
        .with_project(project),
    )
}

impl<K: Managed> Round<'_, K> {
    fn project(&self) -> &str {
        &self.config.project_id
    }

    /// A new ownership record in this round's project and endpoint.
    fn record(&self, state: OwnershipState, since: Time, key: Option<String>) -> Ownership {
        Ownership {
            state,
            project_id: self.config.project_id.clone(),
            endpoint: self.config.endpoint.clone(),
            since,
            key,
            proof: None,
        }
    }

    /// Claims `own` for this object, or reports the rival that holds it.
    async fn claim(&self, current: &K::Status, own: &Ownership) -> Result<(), Report<K>> {
        let ctx = self.ctx;
        match ctx
            .claims
            .try_claim(&self.id, self.obj, own, |r| ctx.exists(r))
        {
            Ok(()) => Ok(()),
            Err(rival) => Err(self.conflict(current, &rival.object).await),
        }
    }

    /// 3. A reconcile a user asked for, and an object with an unanswered create on record, read
    ///    the upstream object itself. A new object needs proof of absence: a read started after
    ///    this process first saw it (which a kind may share between the new objects it
    ///    batches); so does a settled object's first look after a restart. Later looks may use
    ///    any recent shared read.
    async fn observe<E: External<K>>(
        &self,
        current: &K::Status,
        external: &E,
    ) -> Result<Observation<E::Observed>, ReconcileError> {
        let (ctx, obj) = (self.ctx, self.obj);
        let requested = obj
            .reconcile_request()
            .is_some_and(|r| current.managed().last_handled_reconcile_at.as_deref() != Some(r));
        let settled = current.at_provider().is_some()
            && self
                .prior
                .as_ref()
                .is_some_and(|o| o.state != OwnershipState::Creating);
        let (look, restarted) = if requested || (!settled && self.prior.is_some()) {
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
        Ok(seen)
    }

    /// 4, observing: the upstream object does not exist, and nothing is created.
    fn missing(&self) -> Report<K> {
        let msg = format!("{} does not exist", self.obj.describe());
        Report::new(
            Desired::new(READY, Status::False, reason::NOT_FOUND, msg),
            Report::<K>::success(reason::OBSERVING),
        )
        .with_project(self.project())
    }

    /// 4. A create is the one write that cannot be taken back (a paid job, a task): it is
    ///    decided on the API server's copy of the object, not the cache's, and its intent is
    ///    recorded (and kept by every later status write until an observation settles it, so
    ///    an unanswered create is recognised as ours) only if the object is still that copy.
    async fn create<E: External<K>>(
        &self,
        current: &mut K::Status,
        fresh: &mut Option<K>,
        external: &E,
    ) -> Result<Created<K, E::Observed>, ReconcileError> {
        let (ctx, obj, prior) = (self.ctx, self.obj, self.prior.as_ref());
        let guard = fresh_truth(ctx, obj, current, fresh).await?;
        let intent = self.record(
            OwnershipState::Creating,
            prior.map_or_else(|| Time(jiff::Timestamp::now()), |o| o.since.clone()),
            prior.map_or_else(|| external.intent(obj), |o| o.key.clone()),
        );
        if let Err(refused) = self.claim(current, &intent).await {
            return Ok(Created::Done(Box::new(refused)));
        }
        let mut record = Report::creating()
            .with_project(self.project())
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
        let what = obj.describe();
        match external.create(obj).await {
            Ok(created) => {
                let note = format!("created {what}");
                event(ctx, obj, false, "Created", "Create", note).await;
                let own = Ownership {
                    state: OwnershipState::Created,
                    key: external.tag(&created).or(intent.key),
                    ..intent
                };
                Ok(Created::Done(Box::new(
                    settled_report(external, &created, false)
                        .with_project(self.project())
                        .with_ownership(Some(own)),
                )))
            }
            Err(e) if e.class() == ErrorClass::AlreadyExists => {
                let Observation::Present(seen) =
                    external.observe(obj, current, Look::Fresh).await?
                else {
                    return Err(ReconcileError::Upstream(e));
                };
                // With an earlier unanswered create of ours on record, the object may be that
                // create landing late; without one, someone else made it after our read.
                let ours = prior.is_some_and(|p| p.state == OwnershipState::Creating);
                Ok(Created::Raced(seen, ours.then_some(intent)))
            }
            Err(e) if e.class() == ErrorClass::Terminal => Err(ReconcileError::CreateRefused(e)),
            // Outcome unknown (timeout, 5xx, throttled): the intent stays recorded.
            Err(e) => Err(e.into()),
        }
    }

    /// 5. Whose the upstream object is: this object's record (an unanswered create of ours now
    ///    confirmed), its manifest's tag, an unproven record re-owned where upstream equals
    ///    spec, or adoption as the spec allows.
    #[allow(clippy::too_many_arguments)]
    async fn whose<E: External<K>>(
        &self,
        current: &mut K::Status,
        unproven: Option<&Ownership>,
        external: &E,
        seen: &E::Observed,
        drift: &[FieldDrift],
        own: Option<Ownership>,
        raced: bool,
    ) -> Result<Whose<K>, ReconcileError> {
        let (ctx, obj) = (self.ctx, self.obj);
        let what = obj.describe();
        if self.observing {
            return Ok(Whose::Owned(None));
        }
        // The cache may lag our own intent write of a previous reconcile: ask the API server
        // before refusing an upstream object that could be ours.
        let own = match own {
            None if !raced => fresh_ownership(ctx, obj).await?,
            own => own,
        };
        // An unproven record is honoured only where upstream already equals spec.
        let reownable = unproven.filter(|_| drift.is_empty()).cloned();
        let tag = obj
            .intent_key()
            .filter(|k| external.tag(seen).as_ref() == Some(k));
        let now = || Time(jiff::Timestamp::now());
        let own = match (own, reownable) {
            (Some(o), _) if o.state == OwnershipState::Creating => {
                let note = format!("created {what} (confirmed after an unanswered create)");
                event(ctx, obj, false, "Created", "Create", note).await;
                Ownership {
                    state: OwnershipState::Created,
                    key: external.tag(seen).or(o.key),
                    ..o
                }
            }
            // A record of what this object created learns the upstream object's own id once it
            // is known (a record from before ids were recorded, a create answered without one).
            (Some(o), _) if o.state != OwnershipState::Creating && external.tag(seen).is_some() => {
                Ownership {
                    key: external.tag(seen),
                    ..o
                }
            }
            (Some(o), _) => o,
            // Created under this object's manifest-derived tag (a rebuilt cluster re-applying
            // the same manifest): its own, not someone else's to adopt.
            (None, _) if tag.is_some() => {
                let found = self.record(OwnershipState::Created, now(), tag);
                if let Err(refused) = self.claim(current, &found).await {
                    return Ok(Whose::Refused(Box::new(refused)));
                }
                let note = format!(
                    "found {what}, created under this manifest's tag before this object existed (a rebuilt or restored cluster); nothing was created"
                );
                event(ctx, obj, false, "Found", "Create", note).await;
                found
            }
            // A record without a proof (written by an earlier release, or forged to look so) is
            // honoured as IfMatching adoption would be: only where upstream already equals spec
            // (and, as every claim, only where nobody else holds it). It is recorded again with
            // a proof, under a new date, so it never outranks an older proven claim.
            (None, Some(record)) => {
                let state = match record.state {
                    OwnershipState::Creating => OwnershipState::Created,
                    other => other,
                };
                let renewed = self.record(state, now(), record.key);
                if let Err(refused) = self.claim(current, &renewed).await {
                    return Ok(Whose::Refused(Box::new(refused)));
                }
                let note = format!(
                    "re-recorded this object's ownership of {what} with the operator's proof (the record had none; upstream equals spec)"
                );
                event(ctx, obj, false, "OwnershipProven", "Claim", note).await;
                renewed
            }
            (None, None) => match self.adopt(current, external, seen, drift).await? {
                Whose::Owned(Some(adopted)) => adopted,
                other => return Ok(other),
            },
        };
        Ok(Whose::Owned(Some(own)))
    }

    /// 5, nobody's record: adopt only as `spec.adoptionPolicy` allows, recording the claim
    /// before the first write so cleanup knows it may delete it.
    async fn adopt<E: External<K>>(
        &self,
        current: &mut K::Status,
        external: &E,
        seen: &E::Observed,
        drift: &[FieldDrift],
    ) -> Result<Whose<K>, ReconcileError> {
        let (ctx, obj) = (self.ctx, self.obj);
        let policies = obj.policies();
        let allowed = match policies.adoption {
            AdoptionPolicy::Never => false,
            AdoptionPolicy::IfMatching => drift.is_empty(),
            AdoptionPolicy::Always => true,
        };
        if !allowed {
            ctx.claims.release(obj);
            let at = external.at_provider(seen);
            let refused = self.already_exists(current, at, drift).await;
            return Ok(Whose::Refused(Box::new(refused)));
        }
        let adopted = self.record(
            OwnershipState::Adopted,
            Time(jiff::Timestamp::now()),
            external.tag(seen),
        );
        if let Err(refused) = self.claim(current, &adopted).await {
            return Ok(Whose::Refused(Box::new(refused)));
        }
        let record = Report::intent(reason::CREATING, "adopting the upstream object")
            .with_project(self.project())
            .with_ownership(Some(adopted.clone()));
        write_status(ctx, obj, current, &record).await?;
        let deletes = if policies.deletion == DeletionPolicy::Delete && K::deletes_upstream() {
            "and deletes it with the object"
        } else {
            "and leaves it in place when the object is deleted"
        };
        let note = format!(
            "took over existing {} (adoptionPolicy {:?}); this object now manages it {deletes}",
            obj.describe(),
            policies.adoption
        );
        event(ctx, obj, false, "Adopted", "Adopt", note).await;
        Ok(Whose::Owned(Some(adopted)))
    }

    /// 6. In sync (or still becoming available), drift reported (Observe), or updated.
    async fn converge<E: External<K>>(
        &self,
        current: &K::Status,
        external: &E,
        seen: &E::Observed,
        drift: Vec<FieldDrift>,
        own: Option<Ownership>,
    ) -> Result<Report<K>, ReconcileError> {
        let (ctx, obj) = (self.ctx, self.obj);
        if drift.is_empty() {
            let r = settled_report(external, seen, self.observing).with_project(self.project());
            return Ok(match own {
                Some(o) => r.with_ownership(Some(o)),
                None => r,
            });
        }
        // A difference is drift only when upstream moved away from a spec this object had
        // confirmed in sync; a new generation, an object just created or adopted, or one never
        // yet in sync (a VOD cover set once its task finishes) is an ordinary update.
        let spec_changed = current.managed().observed_generation != obj.meta().generation;
        let just_owned = self
            .prior
            .as_ref()
            .is_none_or(|p| p.state == OwnershipState::Creating);
        let was_in_sync = super::conditions::find(&current.managed().conditions, READY)
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
        if self.observing {
            let mut r = Report::new(
                Desired::new(
                    READY,
                    Status::False,
                    reason::DRIFTED,
                    format!("upstream differs from spec in: {fields}"),
                ),
                Report::<K>::success(reason::OBSERVING),
            )
            .with_project(self.project());
            r.at_provider = Some(external.at_provider(seen));
            r.drift = Some(drift);
            return Ok(r);
        }
        let after = external.update(obj, seen).await?;
        let what = obj.describe();
        let (ev_reason, note) = if !drifted {
            ("Updated", format!("updated {what}: {fields}"))
        } else {
            (
                "DriftCorrected",
                format!("{what} had drifted from spec in {fields}; corrected"),
            )
        };
        event(ctx, obj, false, ev_reason, "Update", note).await;
        Ok(settled_report(external, &after, false)
            .with_project(self.project())
            .with_ownership(own))
    }

    /// An upstream object exists that this object did not create and may not adopt.
    async fn already_exists(
        &self,
        current: &K::Status,
        at: AtProviderOf<K>,
        drift: &[FieldDrift],
    ) -> Report<K> {
        let (ctx, obj) = (self.ctx, self.obj);
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
        .with_project(self.project())
        .with_ownership(None);
        r.at_provider = Some(at);
        r.drift = Some(drift.to_vec());
        r
    }

    /// Another object holds the upstream object. Its name is given only within the same
    /// namespace.
    async fn conflict(&self, current: &K::Status, holder: &ObjectRef<K>) -> Report<K> {
        let (ctx, obj) = (self.ctx, self.obj);
        let who = if holder.namespace == obj.namespace() {
            format!("object {}", holder.name)
        } else {
            "an object in another namespace".to_string()
        };
        let msg = format!(
            "{who} already manages {} in this project; this object never writes upstream",
            obj.identity()
        );
        if previous_reason(current.managed(), SYNCED) != Some(reason::CONFLICT) {
            event(ctx, obj, true, reason::CONFLICT, "Claim", msg.clone()).await;
        }
        Report::new(
            Desired::new(READY, Status::False, reason::CONFLICT, msg.clone()),
            Desired::new(SYNCED, Status::False, reason::CONFLICT, msg),
        )
        .with_project(self.project())
    }
}

/// Upstream matches spec: Ready; or, while the object is still becoming available (a task
/// running), not yet Ready with the kind's reason and looked at again soon; or final (a job
/// that ended), with no more upstream calls.
pub fn settled_report<K: Managed, E: External<K>>(
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
        && trusted_status(&ctx.key, &newer).0 == *current;
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
