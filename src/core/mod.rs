//! The managed-resource core: one reconcile loop and everything every kind shares. A kind
//! plugs in through `managed.rs`; this file holds the shared context, the watches that trigger
//! reconciles, and the run loop. The reconcile itself reads top to bottom in `reconcile.rs`.

pub mod backoff;
pub mod changes;
pub mod clients;
pub mod conditions;
pub mod credentials;
pub mod managed;
pub mod metrics;
pub mod ownership;
pub mod proof;
pub mod reconcile;
pub mod report;
pub mod resync;
pub mod schedule;
pub mod shard;

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

use crate::kinds::live::resource::LiveSnapshotTemplate;
use crate::kinds::mps::resource::MpsSnapshotJob;
use crate::kinds::vod::resource::VodAssetSnapshot;
use backoff::Backoff;
pub use clients::UpstreamSettings;
use credentials::CloudDefaults;
use managed::{KindStatus, Managed};
use metrics::Metrics;
pub use reconcile::{ReconcileError, reconcile};

pub const MANAGER: &str = "live-snapshot-operator";

/// Asked by the transport right before every upstream write leaves, once the rate limiter granted
/// it, whether this process may still write (leader election); an error refuses the write.
pub use crate::clouds::http::WriteFence as Fence;

/// The fence of a run, if any (none without leader election).
#[derive(Clone, Default)]
pub struct Fencing(pub Option<Arc<dyn Fence>>);

impl std::fmt::Debug for Fencing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Fencing(lease)"
        } else {
            "Fencing(none)"
        })
    }
}

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
    /// Longest one reconcile may take, every upstream call and retry included.
    pub reconcile_timeout: Duration,
    pub fencing: Fencing,
    /// This process's slice of the objects; all of them when `None`.
    pub shard: Option<shard::Shard>,
    /// The kinds this process manages (each needs its CRD installed).
    pub kinds: Vec<KindName>,
    /// Where the key that proves ownership records comes from (see `proof.rs`).
    pub ownership_key: proof::KeySource,
    /// How the operator may read tenants' Secrets.
    pub secrets: SecretAccess,
}

/// How the operator reads the Secrets objects name. By default it holds no cluster-wide right
/// on Secrets: a namespace grants it `get` with a RoleBinding to the ClusterRole the chart ships,
/// and a Secret is read by a targeted GET at each reconcile, so a rotation takes effect at the
/// object's next reconcile (within one resync period). Only an installer who grants cluster-wide
/// `list` and `watch` turns on the metadata-only Secret watch, which re-reconciles an object
/// within seconds of a change of a Secret it names.
#[derive(Clone, Debug)]
pub struct SecretAccess {
    /// Watch Secrets' metadata (needs `list` and `watch` on Secrets in every watched namespace).
    pub watch: bool,
    /// The ClusterRole a namespace binds to grant the operator `get` on its Secrets.
    pub cluster_role: String,
    /// The operator's ServiceAccount, as namespace:name, for the RoleBinding a reason names.
    pub service_account: Option<String>,
}

/// The ClusterRole name the chart ships under by default.
pub const SECRETS_CLUSTER_ROLE: &str = "live-snapshot-operator-secrets";

impl Default for SecretAccess {
    fn default() -> Self {
        Self {
            watch: false,
            cluster_role: SECRETS_CLUSTER_ROLE.into(),
            service_account: None,
        }
    }
}

impl SecretAccess {
    /// The one command that grants the operator `get` on the Secrets of `namespace`.
    pub fn grant_command(&self, namespace: &str) -> String {
        format!(
            "kubectl -n {namespace} create rolebinding {SECRETS_CLUSTER_ROLE} --clusterrole={} --serviceaccount={}",
            self.cluster_role,
            self.service_account
                .as_deref()
                .unwrap_or("<operator-namespace>:<operator-serviceaccount>")
        )
    }
}

/// The kinds the operator can manage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum KindName {
    #[value(name = "LiveSnapshotTemplate")]
    LiveSnapshotTemplate,
    #[value(name = "VodAssetSnapshot")]
    VodAssetSnapshot,
    #[value(name = "MpsSnapshotJob")]
    MpsSnapshotJob,
}

impl KindName {
    pub const ALL: [KindName; 3] = [
        KindName::LiveSnapshotTemplate,
        KindName::VodAssetSnapshot,
        KindName::MpsSnapshotJob,
    ];
}

impl std::fmt::Display for KindName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KindName::LiveSnapshotTemplate => "LiveSnapshotTemplate",
            KindName::VodAssetSnapshot => "VodAssetSnapshot",
            KindName::MpsSnapshotJob => "MpsSnapshotJob",
        })
    }
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
            reconcile_timeout: Duration::from_secs(120),
            fencing: Fencing::default(),
            shard: None,
            kinds: KindName::ALL.to_vec(),
            ownership_key: proof::KeySource::Secret {
                namespace: "default".into(),
                name: proof::DEFAULT_SECRET.into(),
            },
            secrets: SecretAccess::default(),
        }
    }
}

/// What the reconciles of one kind share.
pub struct Context<K: Managed> {
    pub kube: kube::Client,
    pub settings: Settings,
    pub cloud: CloudDefaults,
    /// The kind's upstream clients, one per credential, with their rate limits.
    pub connector: K::Connector,
    pub recorder: Recorder,
    /// One cache per watched scope (all namespaces, or each listed namespace).
    pub stores: Vec<Store<K>>,
    /// Which object holds which upstream object, across scopes.
    pub claims: ownership::Claims<K>,
    /// Signs and checks ownership records.
    pub key: Arc<proof::OwnershipKey>,
    /// Per scope, whether its cache holds its initial list. A watch channel rather than
    /// `Store::wait_until_ready`, whose one-shot channel wakes only the last of several waiters.
    pub synced: tokio::sync::watch::Sender<Vec<bool>>,
    pub backoff: Backoff<K>,
    /// When objects in sync are checked again.
    pub resync: Arc<resync::Resync<K>>,
    pub metrics: Arc<Metrics>,
    /// When this process first saw each object not yet settled upstream: a read started after
    /// that proves what the object needs to know (see `Look::Since`). Entries leave when the
    /// object settles or goes, so the map holds the unsettled objects only.
    pub first_seen: std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
}

impl<K: Managed> Context<K> {
    /// The kind's name, as metrics and logs label it.
    pub fn kind(&self) -> &'static str {
        K::KIND
    }

    /// When this process first saw `obj` (now, if it never did before).
    pub fn first_seen(&self, obj: &K) -> std::time::Instant {
        self.first_seen_at(obj, std::time::Instant::now())
    }

    /// When this process first saw `obj`: `at`, unless it was seen before.
    pub fn first_seen_at(&self, obj: &K, at: std::time::Instant) -> std::time::Instant {
        let mut seen = self.first_seen.lock().unwrap_or_else(|p| p.into_inner());
        *seen.entry(obj.uid().unwrap_or_default()).or_insert(at)
    }

    /// Forgets when `obj` was first seen: it is settled upstream, or gone.
    pub fn forget_seen(&self, obj: &K) {
        if let Some(uid) = obj.uid() {
            self.first_seen
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&uid);
        }
    }

    /// When this process first saw `obj`, if it has not been settled since.
    pub fn seen_since(&self, obj: &K) -> Option<std::time::Instant> {
        let uid = obj.uid()?;
        self.first_seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&uid)
            .copied()
    }

    /// Every object the operator sees, across scopes.
    pub fn all_objects(&self) -> Vec<Arc<K>> {
        self.stores.iter().flat_map(|s| s.state()).collect()
    }

    /// Learns the claim an object's status records, when this operator's proof checks.
    pub fn learn_claim(&self, obj: &K) {
        let record = obj.status().and_then(|s| s.managed().ownership.as_ref());
        if let Some(own) = self.key.proven(obj, record) {
            self.claims.learn(obj, &own);
        }
    }

    /// Whether an object is in any watched scope's cache.
    pub fn exists(&self, r: &ObjectRef<K>) -> bool {
        self.stores.iter().any(|s| s.get(r).is_some())
    }

    /// Waits until every scope's cache holds its initial list, so that claims recorded in any
    /// watched namespace are known before any object writes upstream.
    pub async fn caches_synced(&self) {
        let mut rx = self.synced.subscribe();
        // An error means the sender is gone: the controller is stopping anyway.
        let _ = rx.wait_for(|scopes| scopes.iter().all(|s| *s)).await;
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
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let shutdown = shutdown.shared();
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
        let (k, s, c, m, stop) = (
            kube.clone(),
            (settings.clone(), key.clone()),
            cloud.clone(),
            metrics.clone(),
            shutdown.clone(),
        );
        controllers.push(match kind {
            KindName::LiveSnapshotTemplate => {
                run_kind::<LiveSnapshotTemplate>(k, s, c, m, tx, stop).boxed()
            }
            KindName::VodAssetSnapshot => {
                run_kind::<VodAssetSnapshot>(k, s, c, m, tx, stop).boxed()
            }
            KindName::MpsSnapshotJob => run_kind::<MpsSnapshotJob>(k, s, c, m, tx, stop).boxed(),
        });
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
async fn run_kind<K: Managed>(
    kube: kube::Client,
    (settings, key): (Settings, Arc<proof::OwnershipKey>),
    cloud: CloudDefaults,
    metrics: Arc<Metrics>,
    ready: tokio::sync::watch::Sender<bool>,
    shutdown: futures::future::Shared<
        impl std::future::Future<Output = ()> + Send + Sync + 'static,
    >,
) {
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
    shutdown: futures::future::Shared<
        impl std::future::Future<Output = ()> + Send + Sync + 'static,
    >,
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
