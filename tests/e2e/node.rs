//! The chart on a real node: a one-node cluster (etcd, kube-apiserver, kube-controller-manager,
//! kube-scheduler, containerd and a kubelet, `tests/e2e/node/up.sh`) on this machine's own
//! address, where `helm install` runs the operator image as Pods that the kubelet probes, one
//! object of each kind converges against the simulators (listening where Pods reach them), a
//! rolling update hands the Lease to a new Pod without a second upstream write.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lso_sim::vod::store::AssetState;
use lso_sim::{FaultSettings, KeyPair};

use crate::harness::{AK, PROJECT, SK, Shared, eventually};

const CHART: &str = "charts/live-snapshot-operator";
const ASSET: &str = "6e7605d4cb0b4fc9b2f5bf00c2cb511f";

/// Runs a command to its end. The simulators answer the operator's Pods from this test's own
/// runtime, so a long command (`kubectl wait`) must not hold one of its worker threads.
fn run(cmd: &mut Command) -> (bool, String) {
    let out = tokio::task::block_in_place(|| cmd.output()).expect("command runs");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The first IPv4 address of this machine that is not loopback: Pods reach the API server and
/// the simulators there.
fn host_address() -> String {
    let (ok, out) = run(Command::new("ip").args(["-4", "-o", "addr", "show", "scope", "global"]));
    assert!(ok, "ip addr: {out}");
    out.lines()
        .find_map(|l| {
            let mut it = l.split_whitespace();
            it.find(|w| *w == "inet")?;
            it.next()?.split('/').next().map(str::to_string)
        })
        .expect("an IPv4 address that is not loopback")
}

/// Stops the node cluster however the test ends.
struct Node {
    dir: PathBuf,
    repo: PathBuf,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = Command::new(self.repo.join("tests/e2e/node/down.sh"))
            .arg(&self.dir)
            .output();
    }
}

struct Cluster {
    tools: PathBuf,
    kubeconfig: PathBuf,
    helm_home: tempfile::TempDir,
}

impl Cluster {
    fn kubectl(&self, args: &[&str]) -> (bool, String) {
        run(Command::new(self.tools.join("kubectl"))
            .arg(format!("--kubeconfig={}", self.kubeconfig.display()))
            .args(args))
    }

    fn helm(&self, repo: &Path, args: &[&str]) -> (bool, String) {
        let h = self.helm_home.path();
        run(Command::new(self.tools.join("helm"))
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HELM_CACHE_HOME", h.join("cache"))
            .env("HELM_CONFIG_HOME", h.join("config"))
            .env("HELM_DATA_HOME", h.join("data"))
            .args(args)
            .current_dir(repo))
    }

    fn pod_names(&self) -> String {
        let (_, out) = self.kubectl(&[
            "-n",
            "lso-system",
            "get",
            "pods",
            "-o",
            "jsonpath={.items[*].metadata.name}",
        ]);
        out
    }

    fn lease_holder(&self) -> String {
        let (_, out) = self.kubectl(&[
            "-n",
            "lso-system",
            "get",
            "lease",
            "live-snapshot-operator",
            "-o",
            "jsonpath={.spec.holderIdentity}",
        ]);
        out.trim().to_string()
    }
}

pub async fn chart_runs_on_a_real_node(shared: Arc<Shared>) {
    let started = Instant::now();
    let repo = shared.repo.clone();
    let ip = host_address();
    let (ok, out) = run(Command::new("bash")
        .arg("scripts/build-image.sh")
        .env("LSO_IMAGE_SKIP_CARGO", "1")
        .current_dir(&repo));
    assert!(ok, "scripts/build-image.sh: {out}");
    let image = out.lines().last().unwrap_or_default().trim().to_string();
    let (repository, tag) = image.rsplit_once(':').expect("image:tag");

    let dir = tempfile::Builder::new()
        .prefix("lso-node-")
        .tempdir()
        .expect("tempdir")
        .keep();
    let _node = Node {
        dir: dir.clone(),
        repo: repo.clone(),
    };
    let (ok, out) = run(Command::new(repo.join("tests/e2e/node/up.sh"))
        .arg(&dir)
        .arg(&ip)
        .arg(&image));
    assert!(ok, "tests/e2e/node/up.sh: {out}");
    let tools = lso_sim::devenv::tools_dir(&repo).expect("tools");
    let cluster = Cluster {
        tools,
        kubeconfig: dir.join("kubeconfig"),
        helm_home: tempfile::tempdir().expect("tempdir"),
    };
    // The kubelet registers the node, then reports it Ready.
    let mut waited = 0;
    loop {
        let (_, out) = cluster.kubectl(&[
            "get",
            "node",
            "lso-node",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
        ]);
        if out.trim() == "True" {
            break;
        }
        waited += 1;
        assert!(
            waited < 180,
            "the node did not turn Ready in 180 s: {out}; see {}/kubelet.log",
            dir.display()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    // The simulators, where Pods reach them.
    let keys = || vec![KeyPair::new(AK, SK)];
    let bind = format!("{ip}:0");
    let (live, live_endpoint) =
        lso_sim::spawn_local(&bind, keys(), vec![], FaultSettings::default())
            .await
            .expect("live simulator");
    let (vod, vod_endpoint) = lso_sim::vod::spawn_local(&bind, keys(), FaultSettings::default())
        .await
        .expect("vod simulator");
    let (mps, mps_endpoint) = lso_sim::mps::spawn_local(&bind, keys(), FaultSettings::default())
        .await
        .expect("mps simulator");
    vod.store.set_task_delay(Duration::from_millis(500));
    vod.store
        .put_asset(PROJECT, ASSET, AssetState::Published, 60);
    mps.store.set_job_time(Duration::from_millis(500));
    mps.store.put_object("media", "videos/launch.mp4", 60);

    // Installed as a user would: the default credentials in a Secret, the image already on
    // the node (nothing can be pulled here). Without kube-proxy, the Pod is told the API
    // server's own address instead of the service's.
    let api_port = std::fs::read_to_string(dir.join("api-port")).expect("api port");
    let tenant = "media";
    for ns in ["lso-system", tenant] {
        let (ok, out) = cluster.kubectl(&["create", "namespace", ns]);
        assert!(ok, "{out}");
    }
    let (ok, out) = cluster.kubectl(&[
        "-n",
        "lso-system",
        "create",
        "secret",
        "generic",
        "live-default-credentials",
        &format!("--from-literal=accessKey={AK}"),
        &format!("--from-literal=secretKey={SK}"),
    ]);
    assert!(ok, "{out}");
    let values = dir.join("values.yaml");
    std::fs::write(
        &values,
        format!(
            r#"image:
  repository: {repository}
  tag: "{tag}"
  pullPolicy: Never
replicas: 2
extraEnv:
  - name: KUBERNETES_SERVICE_HOST
    value: "{ip}"
  - name: KUBERNETES_SERVICE_PORT
    value: "{port}"
cloud:
  projectId: {PROJECT}
  endpoint: {live_endpoint}
  vodEndpoint: {vod_endpoint}
  mpsEndpoint: {mps_endpoint}
  endpointAllowlist: [{live_endpoint}, {vod_endpoint}, {mps_endpoint}]
  allowInsecureHttp: true
  credentials:
    existingSecret: live-default-credentials
    namespaces: [{tenant}]
secrets:
  namespaces: [{tenant}]
"#,
            port = api_port.trim()
        ),
    )
    .expect("values");
    let values_arg = values.display().to_string();
    let (ok, out) = cluster.helm(
        &repo,
        &[
            "install",
            "lso",
            CHART,
            "-n",
            "lso-system",
            "-f",
            &values_arg,
            "--wait",
            "--timeout=240s",
        ],
    );
    assert!(ok, "helm install on the node: {out}");
    let (ok, out) = cluster.kubectl(&[
        "-n",
        "lso-system",
        "rollout",
        "status",
        "deployment/lso-live-snapshot-operator",
        "--timeout=240s",
    ]);
    assert!(
        ok,
        "the Pods turn Ready through the kubelet's readiness probe: {out}"
    );
    let (_, wide) = cluster.kubectl(&["get", "nodes,pods", "-A", "-o", "wide"]);
    eprintln!("node: kubectl get nodes,pods -A -o wide\n{wide}");

    // One object of each kind.
    let (ok, out) = cluster.kubectl(&[
        "-n",
        tenant,
        "create",
        "secret",
        "generic",
        "aliyun",
        &format!("--from-literal=accessKey={AK}"),
        &format!("--from-literal=secretKey={SK}"),
    ]);
    assert!(ok, "{out}");
    let manifests = dir.join("objects.yaml");
    std::fs::write(
        &manifests,
        format!(
            r#"apiVersion: live.snapshot.dev/v1alpha1
kind: LiveSnapshotTemplate
metadata: {{name: tpl, namespace: {tenant}}}
spec:
  domain: push.example.com
  appName: live
  timeInterval: 10
  obsLocation: {{bucket: snap-bucket, location: cn-north-4, object: snapshots/}}
---
apiVersion: live.snapshot.dev/v1alpha1
kind: VodAssetSnapshot
metadata: {{name: shots, namespace: {tenant}}}
spec:
  assetId: {ASSET}
  thumbnail: {{type: time, time: 10}}
  cover: {{offset: 20}}
---
apiVersion: live.snapshot.dev/v1alpha1
kind: MpsSnapshotJob
metadata: {{name: launch, namespace: {tenant}}}
spec:
  region: cn-shanghai
  pipelineId: b11c171cced04565b1f38f1ecc39aaaa
  input: {{bucket: media, location: oss-cn-shanghai, object: videos/launch.mp4}}
  output: {{bucket: media, location: oss-cn-shanghai, object: "shots/{{Count}}.jpg"}}
  snapshot: {{timeMs: 0, interval: 10, num: 3}}
  credentialsSecretRef: {{name: aliyun}}
"#
        ),
    )
    .expect("manifests");
    let (ok, out) = cluster.kubectl(&["apply", "-f", &manifests.display().to_string()]);
    assert!(ok, "{out}");
    for object in ["lst/tpl", "vas/shots", "msj/launch"] {
        let (ok, out) = cluster.kubectl(&[
            "-n",
            tenant,
            "wait",
            "--for=condition=Ready",
            object,
            "--timeout=120s",
        ]);
        if !ok {
            let (_, yaml) = cluster.kubectl(&["-n", tenant, "get", object, "-o", "yaml"]);
            panic!("{object} Ready: {out}\n{yaml}");
        }
    }
    let writes = || {
        [
            live.faults
                .stats()
                .calls
                .get("create")
                .copied()
                .unwrap_or(0),
            vod.faults
                .stats()
                .calls
                .get("create_task")
                .copied()
                .unwrap_or(0),
            vod.faults
                .stats()
                .calls
                .get("set_cover")
                .copied()
                .unwrap_or(0),
            mps.faults
                .stats()
                .calls
                .get("submit_snapshot_job")
                .copied()
                .unwrap_or(0),
        ]
    };
    assert_eq!(writes(), [1, 1, 1, 1], "one write of each");

    // A rolling update: new Pods, the Lease moves to one of them, the old Pods exit within
    // their grace period, and nothing is written twice.
    let before = cluster.lease_holder();
    let old_pods = cluster.pod_names();
    let (ok, out) = cluster.helm(
        &repo,
        &[
            "upgrade",
            "lso",
            CHART,
            "-n",
            "lso-system",
            "-f",
            &values_arg,
            "--set",
            "podAnnotations.rollout=second",
            "--wait",
            "--timeout=240s",
        ],
    );
    assert!(ok, "helm upgrade: {out}");
    let upgraded = Instant::now();
    let after = eventually("the Lease to move to a new Pod", || async {
        let holder = cluster.lease_holder();
        let pod = holder.rsplit_once('-').map(|(p, _)| p.to_string())?;
        (!holder.is_empty() && holder != before && !old_pods.contains(&pod)).then_some(holder)
    })
    .await;
    eventually("the old Pods to exit", || async {
        let pods = cluster.pod_names();
        old_pods
            .split_whitespace()
            .all(|p| !pods.split_whitespace().any(|q| q == p))
            .then_some(())
    })
    .await;
    // The chart gives a Pod 30 s to stop; the operator, told to, releases its Lease and exits.
    assert!(
        upgraded.elapsed() < Duration::from_secs(30),
        "the old Pods took {:?} to exit after the rollout",
        upgraded.elapsed()
    );
    // A reconcile asked of each object after the handover: read afresh, nothing written.
    for object in ["lst/tpl", "vas/shots", "msj/launch"] {
        let (ok, out) = cluster.kubectl(&[
            "-n",
            tenant,
            "annotate",
            "--overwrite",
            object,
            "live.snapshot.dev/reconcile-requested-at=after-rollout",
        ]);
        assert!(ok, "{out}");
    }
    for object in ["lst/tpl", "vas/shots", "msj/launch"] {
        let (ok, out) = cluster.kubectl(&[
            "-n",
            tenant,
            "wait",
            "--for=jsonpath={.status.lastHandledReconcileAt}=after-rollout",
            object,
            "--timeout=120s",
        ]);
        assert!(ok, "{object} looked at by the new leader: {out}");
    }
    assert_eq!(writes(), [1, 1, 1, 1], "nothing written twice");
    eprintln!("node: Lease holder {before} before the rolling update, {after} after");

    // `helm test` is left out here: its Pod reaches the operator through the metrics Service's
    // DNS name, and this cluster runs neither kube-proxy nor a DNS server (no image of either
    // can be pulled); `image.rs` runs the same probe against the image.
    eprintln!("node: the test took {:?}", started.elapsed());
}
