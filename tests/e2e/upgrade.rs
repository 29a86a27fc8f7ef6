//! An upgrade in place from the previous release (what last landed, `tests/e2e/previous-release`):
//! its chart installed and its operator binary run with that chart's ServiceAccount, one object
//! of each kind converged, then `helm upgrade` to this chart and this binary. Every object is
//! Ready again after a fresh look, with no upstream write.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use live_snapshot_operator::kinds::live::resource::LiveSnapshotTemplate;
use live_snapshot_operator::kinds::mps::resource::MpsSnapshotJob;
use live_snapshot_operator::kinds::vod::resource::VodAssetSnapshot;
use lso_sim::vod::store::AssetState;

use crate::harness::{AK, PROJECT, SK, Scenario, Shared, eventually, spec};
use crate::install::{run, service_account_kubeconfig, spawn_binary};

const CHART: &str = "charts/live-snapshot-operator";
const ASSET: &str = "6e7605d4cb0b4fc9b2f5bf00c2cb511f";

fn previous_release(repo: &std::path::Path) -> PathBuf {
    let (ok, out) =
        run(std::process::Command::new("scripts/previous-release.sh").current_dir(repo));
    assert!(ok, "scripts/previous-release.sh: {out}");
    PathBuf::from(out.lines().last().unwrap_or_default().trim())
}

/// Upstream writes of every kind, as the simulators count them.
fn writes(s: &Scenario) -> [u64; 4] {
    [
        s.writes(),
        s.vod_calls("create_task"),
        s.vod_calls("set_cover"),
        s.mps_calls("submit_snapshot_job"),
    ]
}

pub async fn upgrade_from_the_previous_release_writes_nothing(shared: Arc<Shared>) {
    let previous = previous_release(&shared.repo);
    let s = Scenario::new(shared.clone(), "upgrade").await;
    let cp = &shared.cp;
    let system = "e2e-upgrade-system";
    s.vod.store.set_task_delay(Duration::from_millis(500));
    s.vod
        .store
        .put_asset(PROJECT, ASSET, AssetState::Published, 60);
    s.mps.store.set_job_time(Duration::from_millis(500));
    s.mps.store.put_object("media", "videos/launch.mp4", 60);
    s.create_secret("aliyun", &[("accessKey", AK), ("secretKey", SK)])
        .await;
    let values = [
        "--set".to_string(),
        format!("watch.namespaces={{{}}}", s.ns),
        "--set".to_string(),
        format!(
            "cloud.endpointAllowlist={{{},{},{}}}",
            s.endpoint, s.vod_endpoint, s.mps_endpoint
        ),
    ];
    let chart = previous.join("chart");
    let (ok, out) = run(cp
        .helm()
        .args(["install", "upg"])
        .arg(&chart)
        .args(["-n", system, "--create-namespace"])
        .args(&values)
        .current_dir(&shared.repo));
    assert!(ok, "helm install of the previous release: {out}");
    let dir = tempfile::tempdir().unwrap();
    let sa = "upg-live-snapshot-operator";
    let kubeconfig = service_account_kubeconfig(cp, dir.path(), system, sa, &s.ns);
    let endpoints = [
        "--vod-endpoint",
        &s.vod_endpoint,
        "--mps-endpoint",
        &s.mps_endpoint,
    ];
    let mut old = spawn_binary(
        &previous.join("live-snapshot-operator"),
        &s,
        dir.path(),
        &kubeconfig,
        "op-previous",
        system,
        &endpoints,
    );

    s.create("tpl", spec("tpl")).await;
    s.create_vod(
        "shots",
        serde_json::json!({
            "assetId": ASSET,
            "thumbnail": {"type": "time", "time": 10},
            "cover": {"offset": 20},
        }),
    )
    .await;
    s.create_kind_json::<MpsSnapshotJob>(
        "launch",
        serde_json::json!({
            "region": "cn-shanghai",
            "pipelineId": "b11c171cced04565b1f38f1ecc39aaaa",
            "input": {"bucket": "media", "location": "oss-cn-shanghai", "object": "videos/launch.mp4"},
            "output": {"bucket": "media", "location": "oss-cn-shanghai", "object": "shots/{Count}.jpg"},
            "snapshot": {"timeMs": 0, "interval": 10, "num": 3},
            "credentialsSecretRef": {"name": "aliyun"},
        }),
    )
    .await
    .expect("create");
    s.wait_kind::<LiveSnapshotTemplate>("tpl", "Ready", "True", Some("Available"))
        .await;
    s.wait_kind::<VodAssetSnapshot>("shots", "Ready", "True", Some("Available"))
        .await;
    s.wait_kind::<MpsSnapshotJob>("launch", "Ready", "True", Some("Succeeded"))
        .await;
    let before = writes(&s);
    assert_eq!(
        before,
        [1, 1, 1, 1],
        "one write of each under the previous release"
    );
    old.signal(libc::SIGTERM);
    let _ = tokio::time::timeout(Duration::from_secs(20), old.child.wait()).await;

    // Upgrade in place: this chart (CRDs first, as the upgrade guide says), this binary.
    let (ok, out) = run(cp
        .kubectl()
        .args(["apply", "--server-side", "--force-conflicts", "-f", "crds/"])
        .current_dir(&shared.repo));
    assert!(ok, "{out}");
    let (ok, out) = run(cp
        .helm()
        .args(["upgrade", "upg", CHART, "-n", system])
        .args(&values)
        .current_dir(&shared.repo));
    assert!(ok, "helm upgrade: {out}");
    let service_account = format!("{system}:{sa}");
    let mut extra = endpoints.to_vec();
    extra.extend([
        "--service-account",
        &service_account,
        "--secrets-cluster-role",
        "upg-live-snapshot-operator-secrets",
    ]);
    let mut new =
        crate::install::spawn_operator(&s, dir.path(), &kubeconfig, "op-current", system, &extra);
    // A fresh look at each: the reconcile annotation reads upstream itself.
    s.annotate(
        "tpl",
        "live.snapshot.dev/reconcile-requested-at",
        "upgraded",
    )
    .await;
    for (kind, name) in [("vas", "shots"), ("msj", "launch")] {
        let (ok, out) = s.kubectl(&[
            "annotate",
            kind,
            name,
            "live.snapshot.dev/reconcile-requested-at=upgraded",
        ]);
        assert!(ok, "{out}");
    }
    eventually(
        "every object looked at by this release, and Ready",
        || async {
            let tpl: LiveSnapshotTemplate = s.get("tpl").await;
            let vas = s.vod_api().get("shots").await.ok()?;
            let msj = kube::Api::<MpsSnapshotJob>::namespaced(s.client.clone(), &s.ns)
                .get("launch")
                .await
                .ok()?;
            let handled = |st: Option<&live_snapshot_operator::core::managed::ManagedStatus>| {
                st.and_then(|m| m.last_handled_reconcile_at.as_deref()) == Some("upgraded")
            };
            let ready = |st: Option<&live_snapshot_operator::core::managed::ManagedStatus>| {
                st.and_then(|m| {
                    live_snapshot_operator::core::conditions::find(&m.conditions, "Ready")
                })
                .is_some_and(|c| c.status == "True")
            };
            let all = [
                tpl.status.as_ref().map(|x| &x.managed),
                vas.status.as_ref().map(|x| &x.managed),
                msj.status.as_ref().map(|x| &x.managed),
            ];
            all.iter().all(|m| handled(*m) && ready(*m)).then_some(())
        },
    )
    .await;
    assert_eq!(writes(&s), before, "the upgrade wrote nothing upstream");
    let events: Vec<String> = s
        .events("tpl")
        .await
        .into_iter()
        .chain(s.events("shots").await)
        .filter_map(|e| e.reason)
        .collect();
    assert!(
        !events
            .iter()
            .any(|r| r == "OwnershipProven" || r == "Adopted"),
        "the previous release's proofs hold as they are: {events:?}"
    );
    new.signal(libc::SIGTERM);
    let _ = tokio::time::timeout(Duration::from_secs(20), new.child.wait()).await;
    let (ok, out) = run(cp.helm().args(["uninstall", "upg", "-n", system]));
    assert!(ok, "{out}");
}
