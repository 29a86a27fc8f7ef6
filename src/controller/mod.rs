//! The controller: shared context, the watches that trigger reconciles, and the run loop.
//! The reconcile itself reads top to bottom in `reconcile.rs`.

pub mod backoff;
pub mod clients;
pub mod ownership;
pub mod reconcile;
pub mod report;
pub mod schedule;

use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{Predicate, WatchStreamExt, predicates, watcher};
use kube::{Api, ResourceExt};

use crate::credentials::{CloudDefaults, referenced_secrets};
use crate::metrics::{self, Metrics, UpstreamObserver};
use crate::resource::LiveSnapshotTemplate;
use backoff::Backoff;
use clients::ClientPool;
pub use clients::UpstreamSettings;
pub use reconcile::{ReconcileError, reconcile};

pub const MANAGER: &str = "live-snapshot-operator";

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
        }
    }
}

pub struct Context {
    pub kube: kube::Client,
    pub settings: Settings,
    pub cloud: CloudDefaults,
    pub clients: ClientPool,
    pub recorder: Recorder,
    /// One cache per watched scope (all namespaces, or each listed namespace).
    pub stores: Vec<Store<LiveSnapshotTemplate>>,
    /// Who claims which (domain, appName), across scopes.
    pub claims: ownership::Claims,
    pub backoff: Backoff,
    pub metrics: Arc<Metrics>,
}

impl Context {
    /// Every object the operator sees, across scopes.
    pub fn all_templates(&self) -> Vec<Arc<LiveSnapshotTemplate>> {
        self.stores.iter().flat_map(|s| s.state()).collect()
    }

    /// The cached objects claiming the same (domain, appName) as `obj`, itself included.
    pub fn claimants(&self, obj: &LiveSnapshotTemplate) -> Vec<Arc<LiveSnapshotTemplate>> {
        self.claims
            .claimants(obj)
            .iter()
            .filter_map(|r| self.stores.iter().find_map(|s| s.get(r)))
            .collect()
    }
}

fn error_policy(obj: Arc<LiveSnapshotTemplate>, err: &ReconcileError, ctx: Arc<Context>) -> Action {
    let delay = ctx.backoff.next(&ObjectRef::from_obj(&*obj));
    tracing::warn!(object = %ObjectRef::from_obj(&*obj), error = %err, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

/// Runs the controller until `shutdown` resolves; reconciles in flight then finish.
/// `ready` turns true once every cache has synced.
pub async fn run(
    kube: kube::Client,
    settings: Settings,
    cloud: CloudDefaults,
    metrics: Arc<Metrics>,
    ready: Option<tokio::sync::watch::Sender<bool>>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let scopes: Vec<Option<String>> = if settings.namespaces.is_empty() {
        vec![None]
    } else {
        settings.namespaces.iter().cloned().map(Some).collect()
    };
    let (stores, writers): (Vec<_>, Vec<_>) = scopes.iter().map(|_| reflector::store()).unzip();
    let recorder = Recorder::new(
        kube.clone(),
        Reporter {
            controller: MANAGER.into(),
            instance: None,
        },
    );
    let ctx = Arc::new(Context {
        kube: kube.clone(),
        backoff: Backoff::new(settings.backoff_base, settings.backoff_max),
        clients: ClientPool::new(
            settings.upstream.clone(),
            Some(Arc::new(UpstreamObserver(metrics.clone()))),
        ),
        settings: settings.clone(),
        cloud,
        recorder,
        stores: stores.clone(),
        claims: ownership::Claims::default(),
        metrics: metrics.clone(),
    });
    let readiness = {
        let stores = stores.clone();
        async move {
            let synced =
                futures::future::join_all(stores.iter().map(|s| s.wait_until_ready())).await;
            if synced.iter().all(Result::is_ok)
                && let Some(ready) = ready
            {
                let _ = ready.send(true);
            }
        }
    };
    let gauges = {
        let ctx = ctx.clone();
        async move {
            loop {
                metrics::update_template_gauges(&ctx.metrics, &ctx.all_templates());
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
    };
    let background = tokio::spawn(async move { tokio::join!(readiness, gauges) });
    let shutdown = shutdown.shared();
    let controllers =
        scopes
            .into_iter()
            .zip(writers)
            .zip(stores)
            .map(|((scope, writer), store)| {
                scope_controller(scope, writer, store, ctx.clone(), shutdown.clone())
            });
    futures::future::join_all(controllers).await;
    background.abort();
}

/// The controller of one scope: its watch, its cache, and the Secret watch that re-triggers
/// objects reading a changed Secret.
async fn scope_controller(
    scope: Option<String>,
    writer: reflector::store::Writer<LiveSnapshotTemplate>,
    reader: Store<LiveSnapshotTemplate>,
    ctx: Arc<Context>,
    shutdown: futures::future::Shared<
        impl std::future::Future<Output = ()> + Send + Sync + 'static,
    >,
) {
    let kube = ctx.kube.clone();
    let (api, secrets): (Api<LiveSnapshotTemplate>, Api<Secret>) = match &scope {
        Some(ns) => (Api::namespaced(kube.clone(), ns), Api::namespaced(kube, ns)),
        None => (Api::all(kube.clone()), Api::all(kube)),
    };
    let mut wc = watcher::Config::default();
    if let Some(sel) = &ctx.settings.label_selector {
        wc = wc.labels(sel);
    }
    // Reconcile on spec, annotation (pause, reconcile-requested-at), finalizer and deletion
    // changes, not on our own status writes: those would cost an upstream read each.
    let objects = watcher(api, wc)
        .default_backoff()
        // The cache holds every object for as long as the operator runs: keep only what the
        // reconcile reads (managed fields and kubectl's last-applied copy can triple an object).
        .modify(|o| {
            o.managed_fields_mut().clear();
            o.annotations_mut()
                .remove("kubectl.kubernetes.io/last-applied-configuration");
        })
        .reflect(writer)
        .inspect_ok({
            let ctx = ctx.clone();
            move |ev| match ev {
                watcher::Event::Apply(o) | watcher::Event::InitApply(o) => ctx.claims.add(o),
                watcher::Event::Delete(o) => ctx.claims.remove(o),
                watcher::Event::Init | watcher::Event::InitDone => {}
            }
        })
        .applied_objects()
        .predicate_filter(
            predicates::generation
                .combine(predicates::annotations)
                .combine(predicates::finalizers),
            Default::default(),
        );
    let store = reader.clone();
    let secret_mapper = move |secret: Secret| {
        let ns = secret.namespace();
        let name = secret.name_any();
        store
            .state()
            .into_iter()
            .filter(|o| o.namespace() == ns && referenced_secrets(o).any(|s| s == name))
            .map(|o| ObjectRef::from_obj(&*o))
            .collect::<Vec<_>>()
    };
    let concurrency = ctx.settings.concurrency;
    Controller::for_stream(objects, reader)
        .with_config(kube::runtime::controller::Config::default().concurrency(concurrency))
        .watches(secrets, watcher::Config::default(), secret_mapper)
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "controller event");
            }
        })
        .await;
}
