//! `lso-quickstart`: the whole thing on this machine in one command. Starts a local control
//! plane (etcd + kube-apiserver), the Live API simulator on 127.0.0.1:8443, the VOD one on
//! 127.0.0.1:8444 (with the example's asset uploaded) and the Alibaba Cloud MPS one on
//! 127.0.0.1:8445 (with the example's video), installs the CRDs, runs the operator, applies
//! examples/, prints `kubectl get lst,vas,msj` once every object of the three kinds is Ready,
//! and keeps running until Ctrl-C.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::{Api, ResourceExt};
use live_snapshot_operator::clouds::huawei::{Auth, Credentials};
use live_snapshot_operator::core::credentials::CloudDefaults;
use live_snapshot_operator::core::managed::{KindStatus, Managed};
use live_snapshot_operator::core::metrics::Metrics;
use live_snapshot_operator::core::{self as controller, Settings};
use live_snapshot_operator::kinds::live::resource::LiveSnapshotTemplate;
use live_snapshot_operator::kinds::mps::resource::MpsSnapshotJob;
use live_snapshot_operator::kinds::vod::resource::VodAssetSnapshot;
use lso_sim::devenv::{ControlPlane, tools_dir};
use lso_sim::{FaultSettings, KeyPair, spawn_local};

const SIM_ADDR: &str = "127.0.0.1:8443";
const VOD_ADDR: &str = "127.0.0.1:8444";
const MPS_ADDR: &str = "127.0.0.1:8445";
/// The demo AccessKey of examples/mps-snapshot-job.yaml.
const MPS_AK: &str = "LTAI5tQuickstartKey0001";
const MPS_SK: &str = "quickstartSecret0123456789abcdef";
/// The asset examples/vod-asset-cover.yaml names.
const EXAMPLE_ASSET: &str = "6e7605d4cb0b4fc9b2f5bf00c2cb511f";
const AK: &str = "SIMACCESSKEY0000";
const SK: &str = "simSecretKey0123456789abcdefghijklmn";
const PROJECT: &str = "0123456789abcdef0123456789abcdef";

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    live_snapshot_operator::telemetry::init("text", "warn,live_snapshot_operator=info", None)?;
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    // This binary lives in the workspace member `sim/`; examples, CRDs and tools are at the top.
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .ok_or("the sim crate has no parent directory")?;
    // scripts/quickstart.sh builds them first (with progress); run on its own, this builds them.
    println!("==> finding etcd and kube-apiserver (built once, cached)");
    let tools = tools_dir(&repo)?;
    println!("==> starting a local control plane");
    let cp = ControlPlane::start(&tools).await?;

    println!("==> starting live-api-sim on http://{SIM_ADDR} (access key {AK})");
    // The simulator serves until the process ends.
    let (_sim, endpoint) = spawn_local(
        SIM_ADDR,
        vec![KeyPair::new(AK, SK)],
        vec![],
        FaultSettings::default(),
    )
    .await
    .map_err(|e| format!("cannot listen on {SIM_ADDR} (is another quick start running?): {e}"))?;

    println!("==> starting the VOD simulator on http://{VOD_ADDR}, with asset {EXAMPLE_ASSET}");
    let (vod, vod_endpoint) = lso_sim::vod::spawn_local(
        VOD_ADDR,
        vec![KeyPair::new(AK, SK)],
        FaultSettings::default(),
    )
    .await
    .map_err(|e| format!("cannot listen on {VOD_ADDR}: {e}"))?;
    vod.store.put_asset(
        PROJECT,
        EXAMPLE_ASSET,
        lso_sim::vod::AssetState::Published,
        60,
    );
    vod.store.set_task_delay(Duration::from_secs(2));

    println!("==> starting the MPS simulator on http://{MPS_ADDR}, with the example's video");
    let (mps, mps_endpoint) = lso_sim::mps::spawn_local(
        MPS_ADDR,
        vec![KeyPair::new(MPS_AK, MPS_SK)],
        FaultSettings::default(),
    )
    .await
    .map_err(|e| format!("cannot listen on {MPS_ADDR}: {e}"))?;
    mps.store
        .put_object("media-cn-shanghai", "videos/launch.mp4", 60);
    mps.store.set_job_time(Duration::from_secs(3));

    println!("==> installing the CRDs (server-side apply of crds/)");
    cp.apply_dir(&repo.join("crds")).await?;

    println!("==> running the operator");
    let cloud = CloudDefaults {
        endpoint: Some(endpoint.clone()),
        vod_endpoint: Some(vod_endpoint.clone()),
        mps_endpoint: Some(mps_endpoint.clone()),
        region: None,
        project_id: Some(PROJECT.into()),
        auth: Some(Auth::AkSk(Credentials {
            access_key: AK.into(),
            secret_key: SK.into(),
            security_token: None,
        })),
        endpoint_allowlist: vec![endpoint, vod_endpoint, mps_endpoint],
        // The examples live in the default namespace; every other one brings its own Secret.
        default_namespaces: vec!["default".into()],
        timeout: Duration::from_secs(10),
        ..CloudDefaults::default()
    };
    let client = cp.client().await?;
    let settings = Settings {
        resync: Duration::from_secs(60),
        ..Settings::default()
    };
    tokio::spawn(controller::run(
        client.clone(),
        settings,
        cloud,
        Arc::new(Metrics::new()),
        None,
        std::future::pending(),
    ));

    println!("==> applying examples/ (server-side apply)");
    for applied in cp.apply_dir(&repo.join("examples")).await? {
        println!("    {applied}");
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let live: Api<LiveSnapshotTemplate> = Api::namespaced(client.clone(), "default");
    let vod: Api<VodAssetSnapshot> = Api::namespaced(client.clone(), "default");
    let mps: Api<MpsSnapshotJob> = Api::namespaced(client, "default");
    while !(all_ready(&live).await? && all_ready(&vod).await? && all_ready(&mps).await?) {
        if Instant::now() > deadline {
            eprintln!("not every object became Ready within 60s:");
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!("==> the objects, as `kubectl get lst,vas,msj` shows them");
    println!(
        "{:<24} {:<32} {:<6} {:<16} MESSAGE",
        "KIND", "NAME", "READY", "REASON"
    );
    print_rows(&live).await?;
    print_rows(&vod).await?;
    print_rows(&mps).await?;
    println!(
        "\nThe control plane, simulators and operator keep running until Ctrl-C. In another shell:\n\n  export KUBECONFIG={}\n  kubectl get lst,vas,msj\n  kubectl describe lst live-every-10s\n  kubectl describe vas launch-video\n  kubectl describe msj launch-thumbnails\n  curl -s http://{SIM_ADDR}/admin/stats http://{VOD_ADDR}/admin/stats http://{MPS_ADDR}/admin/stats\n\n  (any kubectl of 1.35-1.37 works; `tests/e2e/tools/build.sh kubectl` builds the pinned one)\n",
        cp.kubeconfig.display()
    );
    tokio::signal::ctrl_c().await?;
    println!("stopping");
    Ok(())
}

/// One line per object: its kind, name and Ready condition.
async fn print_rows<K: Managed>(api: &Api<K>) -> Result<(), BoxError> {
    for o in api.list(&Default::default()).await?.items {
        let ready = o.status().and_then(|s| {
            s.managed()
                .conditions
                .iter()
                .find(|c| c.type_ == "Ready")
                .cloned()
        });
        let (status, reason, message) = ready
            .map(|c| (c.status, c.reason, c.message))
            .unwrap_or_else(|| ("-".into(), "-".into(), String::new()));
        println!(
            "{:<24} {:<32} {:<6} {:<16} {}",
            K::kind(&()),
            o.name_any(),
            status,
            reason,
            message
        );
    }
    Ok(())
}

/// Whether there are objects of this kind and every one is Ready.
async fn all_ready<K: Managed>(api: &Api<K>) -> Result<bool, BoxError> {
    let list = api.list(&Default::default()).await?;
    let ready = |o: &K| {
        o.status().is_some_and(|s| {
            s.managed()
                .conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        })
    };
    Ok(!list.items.is_empty() && list.items.iter().all(ready))
}
