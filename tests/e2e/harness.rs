//! Shared pieces of the end-to-end suite: one real control plane per test binary, and for each
//! scenario its own namespace, its own simulator and its own operator (the production
//! controller, run in-process and restricted to that namespace).

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Event, Namespace, Secret};
use kube::Api;
use kube::api::{ApiResource, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use live_snapshot_operator::clouds::huawei::{Auth, Credentials, LiveSnapshotConfig};
use live_snapshot_operator::core::credentials::CloudDefaults;
use live_snapshot_operator::core::managed::{KindStatus, Managed};
use live_snapshot_operator::core::metrics::Metrics;
use live_snapshot_operator::core::{self as controller, Settings};
use live_snapshot_operator::kinds::live::resource::LiveSnapshotTemplate;
use live_snapshot_operator::kinds::vod::resource::VodAssetSnapshot;
use lso_sim::devenv::ControlPlane;
use lso_sim::{FaultSettings, KeyPair, Simulator, spawn_local};

pub const AK: &str = "E2EACCESSKEY0001";
pub const SK: &str = "e2eSecretKey0123456789abcdefghijk";
pub const PROJECT: &str = "e2eproject000000000000000000000a";
pub const WAIT: Duration = Duration::from_secs(45);
/// The Kubernetes version the pinned control plane runs; `helm template` and `helm lint` need it
/// offline, since the chart states the oldest version it supports (kubeVersion).
pub const KUBE_VERSION: &str = "1.36.3";

pub struct Shared {
    pub cp: ControlPlane,
    pub client: kube::Client,
    pub repo: std::path::PathBuf,
    pub logs: Arc<Mutex<Vec<u8>>>,
}

pub struct Operator {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
    pub metrics: Arc<Metrics>,
}

pub struct Scenario {
    pub ns: String,
    pub client: kube::Client,
    pub sim: Arc<Simulator>,
    pub endpoint: String,
    /// The VOD service, a simulator of its own (the real one has its own host).
    pub vod: Arc<lso_sim::vod::VodSimulator>,
    pub vod_endpoint: String,
    /// Alibaba Cloud MPS, likewise.
    pub mps: Arc<lso_sim::mps::MpsSimulator>,
    pub mps_endpoint: String,
    pub shared: Arc<Shared>,
    operator: Option<Operator>,
}

impl Shared {
    /// One local control plane for a test binary (`suite` names it in the printed line), with
    /// the CRD installed the way users install it.
    pub async fn start(suite: &str, logs: Arc<Mutex<Vec<u8>>>) -> Arc<Self> {
        let repo = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let started = Instant::now();
        let tools = lso_sim::devenv::tools_dir(&repo).expect("control-plane tools");
        let cp = ControlPlane::start(&tools)
            .await
            .expect("control plane starts");
        println!(
            "{suite}: control plane up at {} in {:.1}s (tools {})",
            cp.server,
            started.elapsed().as_secs_f64(),
            tools.display()
        );
        let client = cp.client().await.expect("client");
        cp.install_crd(&repo)
            .expect("the CRD installs and is Established");
        Arc::new(Shared {
            cp,
            client,
            repo,
            logs,
        })
    }
}

/// Polls `f` until it yields `Some`, failing the scenario at the deadline.
pub async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {WAIT:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl Scenario {
    pub async fn new(shared: Arc<Shared>, name: &str) -> Self {
        let client = shared.client.clone();
        let ns = format!("e2e-{name}");
        let nsapi: Api<Namespace> = Api::all(client.clone());
        let obj: Namespace =
            serde_json::from_value(serde_json::json!({"metadata": {"name": ns}})).unwrap();
        nsapi
            .create(&PostParams::default(), &obj)
            .await
            .expect("namespace created");
        let (sim, endpoint) = spawn_local(
            "127.0.0.1:0",
            vec![KeyPair::new(AK, SK)],
            vec![],
            FaultSettings::default(),
        )
        .await
        .unwrap();
        let (vod, vod_endpoint) = lso_sim::vod::spawn_local(
            "127.0.0.1:0",
            vec![KeyPair::new(AK, SK)],
            FaultSettings::default(),
        )
        .await
        .unwrap();
        let (mps, mps_endpoint) = lso_sim::mps::spawn_local(
            "127.0.0.1:0",
            vec![KeyPair::new(AK, SK)],
            FaultSettings::default(),
        )
        .await
        .unwrap();
        Scenario {
            ns,
            client,
            sim,
            endpoint,
            vod,
            vod_endpoint,
            mps,
            mps_endpoint,
            shared,
            operator: None,
        }
    }

    /// The same namespace and simulators as `other`, on another control plane (a rebuilt
    /// cluster): `client` is that control plane's.
    pub async fn on(client: kube::Client, other: &Scenario) -> Self {
        let nsapi: Api<Namespace> = Api::all(client.clone());
        let obj: Namespace =
            serde_json::from_value(serde_json::json!({"metadata": {"name": other.ns}})).unwrap();
        nsapi
            .create(&PostParams::default(), &obj)
            .await
            .expect("namespace created");
        Scenario {
            ns: other.ns.clone(),
            client,
            sim: other.sim.clone(),
            endpoint: other.endpoint.clone(),
            vod: other.vod.clone(),
            vod_endpoint: other.vod_endpoint.clone(),
            mps: other.mps.clone(),
            mps_endpoint: other.mps_endpoint.clone(),
            shared: other.shared.clone(),
            operator: None,
        }
    }

    pub fn cloud(&self) -> CloudDefaults {
        CloudDefaults {
            endpoint: Some(self.endpoint.clone()),
            vod_endpoint: Some(self.vod_endpoint.clone()),
            mps_endpoint: Some(self.mps_endpoint.clone()),
            region: None,
            project_id: Some(PROJECT.into()),
            auth: Some(Auth::AkSk(Credentials {
                access_key: AK.into(),
                secret_key: SK.into(),
                security_token: None,
            })),
            endpoint_allowlist: vec![self.endpoint.clone(), self.vod_endpoint.clone()],
            default_namespaces: vec![self.ns.clone()],
            timeout: Duration::from_secs(2),
            ..CloudDefaults::default()
        }
    }

    pub fn settings(&self) -> Settings {
        Settings {
            resync: Duration::from_secs(300),
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(4),
            concurrency: 4,
            namespaces: vec![self.ns.clone()],
            label_selector: None,
            upstream: Default::default(),
            reconcile_timeout: Duration::from_secs(30),
            fencing: Default::default(),
            shard: None,
            kinds: live_snapshot_operator::kinds::all(),
            // The operator's own Secret in a namespace no tenant of the suite uses.
            ownership_key: live_snapshot_operator::core::proof::KeySource::Secret {
                namespace: "default".into(),
                name: live_snapshot_operator::core::proof::DEFAULT_SECRET.into(),
            },
            // The suite's operator runs as the cluster admin: Secret changes are watched.
            secrets: live_snapshot_operator::core::SecretAccess {
                watch: true,
                ..Default::default()
            },
        }
    }

    pub fn start_operator(&mut self) {
        self.start_operator_with(self.client.clone(), self.settings(), self.cloud());
    }

    /// Starts the operator with another client (a recording one, say), settings or defaults.
    pub fn start_operator_with(
        &mut self,
        client: kube::Client,
        settings: Settings,
        cloud: CloudDefaults,
    ) {
        assert!(self.operator.is_none(), "operator already running");
        let (stop, rx) = tokio::sync::oneshot::channel::<()>();
        let metrics = Arc::new(Metrics::new());
        let task = tokio::spawn(controller::run(
            client,
            settings,
            cloud,
            metrics.clone(),
            None,
            async move {
                let _ = rx.await;
            },
        ));
        self.operator = Some(Operator {
            stop,
            task,
            metrics,
        });
    }

    /// Graceful stop: reconciles in flight finish.
    pub async fn stop_operator(&mut self) {
        if let Some(op) = self.operator.take() {
            let _ = op.stop.send(());
            let _ = op.task.await;
        }
    }

    /// A crash: the operator vanishes mid-whatever.
    pub async fn kill_operator(&mut self) {
        if let Some(op) = self.operator.take() {
            op.task.abort();
            let _ = op.task.await;
        }
    }

    pub fn metrics(&self) -> Arc<Metrics> {
        self.operator
            .as_ref()
            .expect("operator running")
            .metrics
            .clone()
    }

    /// Successful reconciles of the in-process operator, from its metrics.
    pub fn reconciles(&self) -> f64 {
        let text = self.metrics().encode();
        text.lines()
            .find(|l| l.starts_with("live_snapshot_operator_reconciles_total{kind=\"LiveSnapshotTemplate\",result=\"success\"}"))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or(0.0)
    }

    pub fn api(&self) -> Api<LiveSnapshotTemplate> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    pub fn dynamic(&self) -> Api<DynamicObject> {
        Api::namespaced_with(
            self.client.clone(),
            &self.ns,
            &ApiResource::erase::<LiveSnapshotTemplate>(&()),
        )
    }

    /// Creates an object from JSON (camelCase spec), returning the API server's answer.
    pub async fn create_json(
        &self,
        name: &str,
        spec: serde_json::Value,
    ) -> Result<DynamicObject, kube::Error> {
        let obj: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "live.snapshot.dev/v1alpha1",
            "kind": "LiveSnapshotTemplate",
            "metadata": {"name": name},
            "spec": spec,
        }))
        .unwrap();
        self.dynamic().create(&PostParams::default(), &obj).await
    }

    pub async fn create(&self, name: &str, spec: serde_json::Value) {
        self.create_json(name, spec)
            .await
            .unwrap_or_else(|e| panic!("create {name}: {e}"));
    }

    pub async fn patch_spec(&self, name: &str, spec: serde_json::Value) {
        self.api()
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(serde_json::json!({"spec": spec})),
            )
            .await
            .unwrap_or_else(|e| panic!("patch {name}: {e}"));
    }

    pub async fn annotate(&self, name: &str, key: &str, value: &str) {
        self.api()
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(serde_json::json!({"metadata": {"annotations": {key: value}}})),
            )
            .await
            .unwrap_or_else(|e| panic!("annotate {name}: {e}"));
    }

    /// Asks for an immediate reconcile, the way a user would.
    pub async fn poke(&self, name: &str) {
        let now = jiff::Timestamp::now().to_string();
        self.annotate(name, "live.snapshot.dev/reconcile-requested-at", &now)
            .await;
    }

    /// Every object of the scenario's namespace (none when the API server does not answer).
    #[allow(dead_code)] // the fault suite's checker reads it; the e2e scenarios do not
    pub async fn objects(&self) -> Vec<LiveSnapshotTemplate> {
        self.api()
            .list(&ListParams::default())
            .await
            .map(|l| l.items)
            .unwrap_or_default()
    }

    /// The identity holding the operator's leader Lease in `ns`.
    pub async fn lease_holder(&self, ns: &str) -> Option<String> {
        let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
            Api::namespaced(self.client.clone(), ns);
        leases
            .get_opt("live-snapshot-operator")
            .await
            .ok()??
            .spec?
            .holder_identity
            .filter(|h| !h.is_empty())
    }

    pub async fn get(&self, name: &str) -> LiveSnapshotTemplate {
        self.api()
            .get(name)
            .await
            .unwrap_or_else(|e| panic!("get {name}: {e}"))
    }

    /// Waits until condition `type_` has `status` (and `reason`, when given) for the current
    /// generation, and returns the object.
    pub async fn wait_condition(
        &self,
        name: &str,
        type_: &str,
        status: &str,
        reason: Option<&str>,
    ) -> LiveSnapshotTemplate {
        self.wait_kind(name, type_, status, reason).await
    }

    /// `wait_condition` for an object of any kind.
    pub async fn wait_kind<K: Managed>(
        &self,
        name: &str,
        type_: &str,
        status: &str,
        reason: Option<&str>,
    ) -> K {
        let what = format!("{}/{name} {type_}={status} {reason:?}", self.ns);
        let api: Api<K> = Api::namespaced(self.client.clone(), &self.ns);
        eventually(&what, || async {
            let o = api.get_opt(name).await.ok()??;
            let st = o.status()?.managed();
            let c = st.conditions.iter().find(|c| c.type_ == type_)?;
            let fresh = st.observed_generation == o.meta().generation;
            (fresh && c.status == status && reason.is_none_or(|r| c.reason == r)).then_some(o)
        })
        .await
    }

    /// Creates an object of kind `K` from JSON (camelCase spec).
    pub async fn create_kind_json<K: Managed>(
        &self,
        name: &str,
        spec: serde_json::Value,
    ) -> Result<DynamicObject, kube::Error> {
        let ar = ApiResource::erase::<K>(&());
        let obj: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": ar.api_version,
            "kind": ar.kind,
            "metadata": {"name": name},
            "spec": spec,
        }))
        .unwrap();
        let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), &self.ns, &ar);
        api.create(&PostParams::default(), &obj).await
    }

    /// Objects of kind `K` in the scenario's namespace, untyped.
    pub fn dynamic_kind<K: Managed>(&self) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), &self.ns, &ApiResource::erase::<K>(&()))
    }

    pub fn vod_api(&self) -> Api<VodAssetSnapshot> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    /// Creates a VodAssetSnapshot from JSON (camelCase spec).
    pub async fn create_vod_json(
        &self,
        name: &str,
        spec: serde_json::Value,
    ) -> Result<DynamicObject, kube::Error> {
        self.create_kind_json::<VodAssetSnapshot>(name, spec).await
    }

    pub async fn create_vod(&self, name: &str, spec: serde_json::Value) {
        self.create_vod_json(name, spec)
            .await
            .unwrap_or_else(|e| panic!("create {name}: {e}"));
    }

    /// Asks for an immediate reconcile of a VodAssetSnapshot.
    pub async fn poke_vod(&self, name: &str) {
        let now = jiff::Timestamp::now().to_string();
        let patch = serde_json::json!({"metadata": {"annotations": {"live.snapshot.dev/reconcile-requested-at": now}}});
        self.vod_api()
            .patch(name, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .unwrap_or_else(|e| panic!("annotate {name}: {e}"));
    }

    pub fn mps_calls(&self, op: &str) -> u64 {
        self.mps.faults.stats().calls.get(op).copied().unwrap_or(0)
    }

    pub fn vod_calls(&self, op: &str) -> u64 {
        self.vod.faults.stats().calls.get(op).copied().unwrap_or(0)
    }

    pub async fn wait_ready(&self, name: &str) -> LiveSnapshotTemplate {
        self.wait_condition(name, "Ready", "True", Some("Available"))
            .await
    }

    pub async fn wait_gone(&self, name: &str) {
        eventually(&format!("{name} to be deleted"), || async {
            matches!(self.api().get_opt(name).await, Ok(None)).then_some(())
        })
        .await
    }

    pub fn upstream(&self, domain: &str, app: &str) -> Option<LiveSnapshotConfig> {
        self.sim.store.get(PROJECT, domain, app)
    }

    pub fn calls(&self, op: &str) -> u64 {
        self.sim.faults.stats().calls.get(op).copied().unwrap_or(0)
    }

    pub fn writes(&self) -> u64 {
        self.calls("create") + self.calls("update") + self.calls("delete")
    }

    pub async fn events(&self, name: &str) -> Vec<Event> {
        let api: Api<Event> = Api::namespaced(self.client.clone(), &self.ns);
        let lp = ListParams::default().fields(&format!("involvedObject.name={name}"));
        api.list(&lp).await.map(|l| l.items).unwrap_or_default()
    }

    pub async fn wait_event(&self, name: &str, reason: &str) -> Event {
        eventually(&format!("event {reason} for {name}"), || async {
            self.events(name)
                .await
                .into_iter()
                .find(|e| e.reason.as_deref() == Some(reason))
        })
        .await
    }

    pub async fn create_secret(&self, name: &str, data: &[(&str, &str)]) {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), &self.ns);
        let string_data: serde_json::Map<String, serde_json::Value> = data
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
            .collect();
        let s: Secret = serde_json::from_value(
            serde_json::json!({"metadata": {"name": name}, "stringData": string_data}),
        )
        .unwrap();
        api.create(&PostParams::default(), &s)
            .await
            .unwrap_or_else(|e| panic!("secret {name}: {e}"));
    }

    /// A credentials Secret for this scenario's simulator, in `project`.
    pub async fn create_credentials(&self, name: &str, project: &str) {
        let endpoint = self.endpoint.clone();
        self.create_secret(
            name,
            &[
                ("accessKey", AK),
                ("secretKey", SK),
                ("projectId", project),
                ("endpoint", &endpoint),
            ],
        )
        .await;
    }

    pub fn kubectl(&self, args: &[&str]) -> (bool, String) {
        let out = self
            .shared
            .cp
            .kubectl()
            .args(args)
            .args(["-n", &self.ns])
            .current_dir(&self.shared.repo)
            .output()
            .expect("kubectl runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }
}

impl Drop for Scenario {
    fn drop(&mut self) {
        if let Some(op) = self.operator.take() {
            op.task.abort();
        }
    }
}

/// Condition `type_` of an object's status; panics when absent.
pub fn condition<K: Managed>(
    o: &K,
    type_: &str,
) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
    o.status()
        .and_then(|s| {
            s.managed()
                .conditions
                .iter()
                .find(|c| c.type_ == type_)
                .cloned()
        })
        .unwrap_or_else(|| panic!("no {type_} condition"))
}

/// A minimal valid spec for `app` on push.example.com.
pub fn spec(app: &str) -> serde_json::Value {
    serde_json::json!({
        "domain": "push.example.com",
        "appName": app,
        "timeInterval": 10,
        "obsLocation": {"bucket": "snap-bucket", "location": "cn-north-4", "object": "snapshots/"},
    })
}

pub fn with(mut base: serde_json::Value, patch: serde_json::Value) -> serde_json::Value {
    merge(&mut base, patch);
    base
}

fn merge(a: &mut serde_json::Value, b: serde_json::Value) {
    match (a, b) {
        (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(serde_json::Value::Null), v);
            }
        }
        (a, b) => *a = b,
    }
}
