//! `lso-quickstart`: the whole thing on this machine in one command. Starts a local control
//! plane (etcd + kube-apiserver), the Live API simulator on 127.0.0.1:8443, installs the CRD,
//! runs the operator, applies examples/, prints `kubectl get lst` once every template is Ready,
//! and keeps running until Ctrl-C.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::Api;
use live_snapshot_operator::controller::{self, Settings};
use live_snapshot_operator::credentials::CloudDefaults;
use live_snapshot_operator::metrics::Metrics;
use live_snapshot_operator::resource::LiveSnapshotTemplate;
use live_snapshot_operator::upstream::{Auth, Credentials};
use lso_sim::devenv::{ControlPlane, tools_dir};
use lso_sim::{FaultSettings, KeyPair, spawn_local};

const SIM_ADDR: &str = "127.0.0.1:8443";
const AK: &str = "SIMACCESSKEY0000";
const SK: &str = "simSecretKey0123456789abcdefghijklmn";
const PROJECT: &str = "0123456789abcdef0123456789abcdef";

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn kubectl(cp: &ControlPlane, repo: &PathBuf, args: &[&str]) -> Result<String, BoxError> {
    let out = cp.kubectl().args(args).current_dir(repo).output()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        return Err(format!("kubectl {}: {text}", args.join(" ")).into());
    }
    Ok(text)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    live_snapshot_operator::telemetry::init("text", "warn,live_snapshot_operator=info", None)?;
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    println!(
        "==> building or finding etcd, kube-apiserver, kubectl and helm (cached after the first run)"
    );
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

    println!("==> installing the CRD");
    cp.install_crd(&repo)?;

    println!("==> running the operator");
    let cloud = CloudDefaults {
        endpoint: Some(endpoint.clone()),
        region: None,
        project_id: Some(PROJECT.into()),
        auth: Some(Auth::AkSk(Credentials {
            access_key: AK.into(),
            secret_key: SK.into(),
            security_token: None,
        })),
        endpoint_allowlist: vec![endpoint],
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

    println!("==> kubectl apply -f examples/");
    print!("{}", kubectl(&cp, &repo, &["apply", "-f", "examples/"])?);
    let api: Api<LiveSnapshotTemplate> = Api::namespaced(client, "default");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let list = api.list(&Default::default()).await?;
        let ready = |o: &LiveSnapshotTemplate| {
            o.status.as_ref().is_some_and(|s| {
                s.conditions
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True")
            })
        };
        if !list.items.is_empty() && list.items.iter().all(ready) {
            break;
        }
        if Instant::now() > deadline {
            eprintln!("not every template became Ready within 60s:");
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!("==> kubectl get lst");
    print!("{}", kubectl(&cp, &repo, &["get", "lst", "-o", "wide"])?);
    println!(
        "\nThe control plane, simulator and operator keep running until Ctrl-C. In another shell:\n\n  export KUBECONFIG={}\n  kubectl get lst\n  kubectl describe lst live-every-10s\n  curl -s http://{SIM_ADDR}/admin/stats\n",
        cp.kubeconfig.display()
    );
    if let Some(kubectl) = [tools.join("kubectl")].into_iter().find(|p| p.exists()) {
        println!(
            "  (a kubectl matching the API server is at {})\n",
            kubectl.display()
        );
    }
    tokio::signal::ctrl_c().await?;
    println!("stopping");
    Ok(())
}
