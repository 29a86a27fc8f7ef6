//! The run loop: for every kind, the watches that trigger reconciles (one per watched scope),
//! their caches, the resync clock and the gauges, until shutdown.

use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, ResourceExt};

use super::backoff::Backoff;
use super::clients::UpstreamSettings;
use super::context::Context;
use super::credentials::CloudDefaults;
use super::error::ReconcileError;
use super::managed::{KindStatus, Managed};
use super::metrics::Metrics;
use super::reconcile::reconcile;
use super::settings::{Kind, KindRun, MANAGER, Settings, Shutdown};
use super::{changes, managed, metrics, ownership, proof, resync};

impl Kind {
    /// Kind `K`, as `Settings::kinds` lists it.
    pub fn of<K: Managed>() -> Self {
        Self {
            name: K::KIND,
            run: |r| run_kind::<K>(r).boxed(),
        }
    }
}

fn error_policy<K: Managed>(obj: Arc<K>, err: &ReconcileError, ctx: Arc<Context<K>>) -> Action {
    let delay = ctx.backoff.next(&ObjectRef::from_obj(&*obj));
    tracing::warn!(object = %ObjectRef::from_obj(&*obj), error = %err, retry_in = ?delay, "reconcile failed");
    ctx.resync.hold(&obj, Action::requeue(delay))
}

/// Runs the controllers of every configured kind until `shutdown` resolves; reconciles in
/// flight then finish. `ready` turns true once every kind's caches have synced.
pub async fn run(
    kube: kube::Client,
    settings: Settings,
    cloud: CloudDefaults,
    metrics: Arc<Metrics>,
    ready: Option<tokio::sync::watch::Sender<bool>>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let shutdown: Shutdown = shutdown.boxed().shared();
    // No write without the key that proves ownership: wait for it (its Secret readable, or
    // created on first start), saying why meanwhile.
    let key = tokio::select! {
        key = ownership_key(&kube, &settings.ownership_key) => key,
        _ = shutdown.clone() => return,
    };
    let mut synced = Vec::new();
    let mut controllers = Vec::new();
    for kind in &settings.kinds {
        let (tx, rx) = tokio::sync::watch::channel(false);
        synced.push(rx);
        controllers.push((kind.run)(KindRun {
            kube: kube.clone(),
            settings: settings.clone(),
            key: key.clone(),
            cloud: cloud.clone(),
            metrics: metrics.clone(),
            ready: tx,
            shutdown: shutdown.clone(),
        }));
    }
    let readiness = async move {
        for mut rx in synced {
            // An error means that kind's controller stopped: nothing to wait for.
            let _ = rx.wait_for(|s| *s).await;
        }
        if let Some(ready) = ready {
            let _ = ready.send(true);
        }
    };
    let readiness = tokio::spawn(readiness);
    // The controllers run from here on: this process is (or acts as) the leader.
    metrics.leader.set(1);
    futures::future::join_all(controllers).await;
    metrics.leader.set(0);
    readiness.abort();
}

/// The ownership key, retried every 5 s until it can be read or created.
async fn ownership_key(kube: &kube::Client, source: &proof::KeySource) -> Arc<proof::OwnershipKey> {
    let (namespace, name) = match source {
        proof::KeySource::Fixed(key) => return key.clone(),
        proof::KeySource::Secret { namespace, name } => (namespace, name),
    };
    loop {
        match proof::OwnershipKey::load_or_create(kube, namespace, name).await {
            Ok(key) => return Arc::new(key),
            Err(e) => {
                tracing::error!(error = %e, "cannot read or create the ownership key; nothing is reconciled until it can (the operator needs get and create on Secrets in its own namespace)");
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
    }
}

/// Runs one kind's controller (every watched scope) until `shutdown` resolves.
async fn run_kind<K: Managed>(run: KindRun) {
    let KindRun {
        kube,
        settings,
        key,
        cloud,
        metrics,
        ready,
        shutdown,
    } = run;
    let scopes: Vec<Option<String>> = if settings.namespaces.is_empty() {
        vec![None]
    } else {
        settings.namespaces.iter().cloned().map(Some).collect()
    };
    if !crd_installed::<K>(&kube, scopes.first().cloned().flatten()).await {
        // `helm upgrade` never installs a chart's new CRDs: an operator that waited for this
        // kind's cache would never turn ready and would stall the rollout of every other kind.
        tracing::error!(
            kind = K::KIND,
            "the {} CRD is not installed, so no {} object is managed; apply crds/ (helm upgrade does not install new CRDs) and restart the operator, or leave the kind out of --kinds",
            K::plural(&()),
            K::KIND
        );
        let _ = ready.send(true);
        return;
    }
    let (stores, writers): (Vec<_>, Vec<_>) = scopes.iter().map(|_| reflector::store()).unzip();
    let recorder = Recorder::new(
        kube.clone(),
        Reporter {
            controller: MANAGER.into(),
            instance: None,
        },
    );
    let ctx = Arc::new(Context::<K> {
        kube: kube.clone(),
        backoff: Backoff::new(settings.backoff_base, settings.backoff_max),
        resync: Arc::new(resync::Resync::new(
            settings.resync,
            settings.upstream.coalesce_window.is_some(),
        )),
        connector: <K::Connector as managed::Connector<K>>::new(
            &UpstreamSettings {
                fencing: settings.fencing.clone(),
                ..settings.upstream.clone()
            },
            &metrics,
        ),
        settings: settings.clone(),
        cloud,
        recorder,
        stores: stores.clone(),
        claims: ownership::Claims::default(),
        key,
        synced: tokio::sync::watch::Sender::new(vec![false; scopes.len()]),
        metrics: metrics.clone(),
        first_seen: Default::default(),
    });
    let readiness = {
        let ctx = ctx.clone();
        async move {
            ctx.caches_synced().await;
            let _ = ready.send(true);
        }
    };
    let gauges = {
        let ctx = ctx.clone();
        // A client untouched for two resync periods serves no object any more.
        let idle = settings
            .resync
            .saturating_mul(2)
            .max(Duration::from_secs(600));
        async move {
            loop {
                let objects = ctx.all_objects();
                metrics::update_object_gauges(
                    &ctx.metrics,
                    ctx.kind(),
                    objects.iter().map(|o| {
                        o.status()
                            .map(|s| s.managed().conditions.as_slice())
                            .unwrap_or_default()
                    }),
                );
                managed::Connector::evict_idle(&ctx.connector, idle);
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
    };
    let background = tokio::spawn(async move { tokio::join!(readiness, gauges) });
    let controllers = scopes.into_iter().zip(writers).zip(stores).enumerate().map(
        |(index, ((scope, writer), store))| {
            scope_controller(index, scope, writer, store, ctx.clone(), shutdown.clone())
        },
    );
    futures::future::join_all(controllers).await;
    background.abort();
}

/// Whether the API server serves kind `K` (any answer but 404 counts: a transient error or a
/// missing permission is left for the watcher to report and retry).
async fn crd_installed<K: Managed>(kube: &kube::Client, namespace: Option<String>) -> bool {
    let api: Api<K> = match &namespace {
        Some(ns) => Api::namespaced(kube.clone(), ns),
        None => Api::all(kube.clone()),
    };
    !matches!(
        api.list_metadata(&kube::api::ListParams::default().limit(1)).await,
        Err(kube::Error::Api(e)) if e.code == 404
    )
}

/// The controller of one scope: its watch, its cache, and the Secret watch that re-triggers
/// objects reading a changed Secret. That watch is metadata-only: Secret contents never enter
/// the operator's memory except by a targeted GET of a Secret an object names.
async fn scope_controller<K: Managed>(
    index: usize,
    scope: Option<String>,
    writer: reflector::store::Writer<K>,
    reader: Store<K>,
    ctx: Arc<Context<K>>,
    shutdown: Shutdown,
) {
    let kube = ctx.kube.clone();
    let (api, secrets): (Api<K>, Api<PartialObjectMeta<Secret>>) = match &scope {
        Some(ns) => (Api::namespaced(kube.clone(), ns), Api::namespaced(kube, ns)),
        None => (Api::all(kube.clone()), Api::all(kube)),
    };
    let mut wc = watcher::Config::default();
    if let Some(sel) = &ctx.settings.label_selector {
        wc = wc.labels(sel);
    }
    // Reconcile on spec, annotation (pause, reconcile-requested-at), finalizer and deletion
    // changes, not on our own status writes: those would cost an upstream read each.
    let shard = ctx.settings.shard;
    let changes = Arc::new(changes::Changes::new(reader.clone()));
    let objects = watcher(api, wc)
        .default_backoff()
        // Another shard's objects are not cached here, nor reconciled, nor counted.
        .try_filter(move |ev| {
            futures::future::ready(match ev {
                watcher::Event::Apply(o)
                | watcher::Event::Delete(o)
                | watcher::Event::InitApply(o) => shard.is_none_or(|s| s.owns(o.shard_key())),
                watcher::Event::Init | watcher::Event::InitDone => true,
            })
        })
        // The cache holds every object for as long as the operator runs: keep only what the
        // reconcile reads (managed fields and kubectl's last-applied copy can triple an object).
        .modify(|o: &mut K| {
            o.managed_fields_mut().clear();
            o.annotations_mut()
                .remove("kubectl.kubernetes.io/last-applied-configuration");
        })
        .inspect_ok({
            let changes = changes.clone();
            move |ev| changes.judge(ev)
        })
        .reflect(writer)
        .inspect_ok({
            let ctx = ctx.clone();
            // Every object of a (re)list counts as seen when the list began: a listing of its
            // domain started after that is as fresh as the list itself, so one listing serves
            // all of a domain's objects even when the list's pages bring them apart.
            let mut list_began = std::time::Instant::now();
            move |ev| match ev {
                // A new object, and every object of a (re)list, is confirmed through a listing
                // that started after this moment; a settled object's spec change is not (it
                // reads the shared listing, which our own writes keep current).
                watcher::Event::Apply(o) => {
                    ctx.learn_claim(o);
                    if o.status().is_none_or(|s| s.managed().ownership.is_none()) {
                        ctx.first_seen(o);
                    }
                }
                watcher::Event::InitApply(o) => {
                    ctx.learn_claim(o);
                    ctx.first_seen_at(o, list_began);
                }
                watcher::Event::Delete(o) => {
                    ctx.claims.release(o);
                    ctx.forget_seen(o);
                    ctx.backoff.reset(&ObjectRef::from_obj(o));
                    ctx.resync.forget(o);
                }
                watcher::Event::InitDone => ctx.synced.send_modify(|s| s[index] = true),
                watcher::Event::Init => list_began = std::time::Instant::now(),
            }
        })
        .applied_objects()
        .try_filter(move |_| futures::future::ready(changes.next_matters()));
    let store = reader.clone();
    let secret_mapper = move |secret: PartialObjectMeta<Secret>| {
        let ns = secret.namespace();
        let name = secret.name_any();
        store
            .state()
            .into_iter()
            .filter(|o| o.namespace() == ns && o.secrets().contains(&name.as_str()))
            .map(|o| ObjectRef::from_obj(&*o))
            .collect::<Vec<_>>()
    };
    let concurrency = ctx.settings.concurrency;
    let mut controller = Controller::for_stream(objects, reader.clone())
        .with_config(kube::runtime::controller::Config::default().concurrency(concurrency));
    // Objects in sync that share slots are triggered by the resync clock. Its stream ends with
    // the shutdown: the controller's own graceful shutdown ends only the watches it made, and
    // an endless trigger stream would keep it running after SIGTERM.
    if ctx.resync.clocked() {
        controller = controller.reconcile_on(
            ctx.resync
                .clone()
                .clock(reader)
                .take_until(shutdown.clone()),
        );
    }
    // Without the installer's cluster-wide grant there is no Secret watch: a Secret is read at
    // each reconcile, so a change is seen within one resync period.
    if ctx.settings.secrets.watch {
        controller = controller.watches_stream(
            watcher(secrets, watcher::Config::default()).touched_objects(),
            secret_mapper,
        );
    }
    controller
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "controller event");
            }
        })
        .await;
}
