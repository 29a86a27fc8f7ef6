//! The controller: shared context, the watches that trigger reconciles, and the run loop.
//! The reconcile itself reads top to bottom in `reconcile.rs`.

pub mod backoff;
pub mod clients;
pub mod ownership;
pub mod reconcile;
pub mod report;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{Predicate, WatchStreamExt, predicates, watcher};
use kube::{Api, ResourceExt};

use crate::credentials::{CloudDefaults, referenced_secrets};
use crate::metrics::{Metrics, UpstreamObserver};
use crate::resource::LiveSnapshotTemplate;
use backoff::Backoff;
use clients::ClientPool;
pub use reconcile::{ReconcileError, reconcile};

pub const MANAGER: &str = "live-snapshot-operator";

#[derive(Clone, Debug)]
pub struct Settings {
    /// How often an in-sync object is checked against upstream (jittered).
    pub resync: Duration,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Reconciles running at once.
    pub concurrency: u16,
    /// Only this namespace; all when `None`.
    pub namespace: Option<String>,
    /// Label selector limiting the objects watched.
    pub label_selector: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            resync: Duration::from_secs(300),
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            concurrency: 16,
            namespace: None,
            label_selector: None,
        }
    }
}

pub struct Context {
    pub kube: kube::Client,
    pub settings: Settings,
    pub cloud: CloudDefaults,
    pub clients: ClientPool,
    pub recorder: Recorder,
    pub templates: Store<LiveSnapshotTemplate>,
    pub backoff: Backoff,
    pub metrics: Arc<Metrics>,
}

fn error_policy(obj: Arc<LiveSnapshotTemplate>, err: &ReconcileError, ctx: Arc<Context>) -> Action {
    let delay = ctx.backoff.next(&ObjectRef::from_obj(&*obj));
    tracing::warn!(object = %ObjectRef::from_obj(&*obj), error = %err, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

/// Runs the controller until `shutdown` resolves; reconciles in flight then finish.
pub async fn run(
    kube: kube::Client,
    settings: Settings,
    cloud: CloudDefaults,
    metrics: Arc<Metrics>,
    ready: Option<tokio::sync::watch::Sender<bool>>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let api: Api<LiveSnapshotTemplate> = match &settings.namespace {
        Some(ns) => Api::namespaced(kube.clone(), ns),
        None => Api::all(kube.clone()),
    };
    let secrets: Api<Secret> = match &settings.namespace {
        Some(ns) => Api::namespaced(kube.clone(), ns),
        None => Api::all(kube.clone()),
    };
    let mut wc = watcher::Config::default();
    if let Some(sel) = &settings.label_selector {
        wc = wc.labels(sel);
    }
    let (reader, writer) = reflector::store();
    // Reconcile on spec, annotation (pause, reconcile-requested-at), finalizer and deletion
    // changes, not on our own status writes: those would cost an upstream read each.
    let objects = watcher(api, wc)
        .default_backoff()
        .reflect(writer)
        .applied_objects()
        .predicate_filter(
            predicates::generation
                .combine(predicates::annotations)
                .combine(predicates::finalizers),
            Default::default(),
        );
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
        clients: ClientPool::new(Some(Arc::new(UpstreamObserver(metrics.clone())))),
        settings: settings.clone(),
        cloud,
        recorder,
        templates: reader.clone(),
        metrics,
    });
    if let Some(ready) = ready {
        let reader = reader.clone();
        tokio::spawn(async move {
            if reader.wait_until_ready().await.is_ok() {
                let _ = ready.send(true);
            }
        });
    }
    let store = reader.clone();
    // A Secret change re-reconciles the objects that read it (missing or wrong credentials).
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
    Controller::for_stream(objects, reader)
        .with_config(kube::runtime::controller::Config::default().concurrency(settings.concurrency))
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
