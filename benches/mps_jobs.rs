//! MPS polling benchmark: N MpsSnapshotJob objects on a real control plane, the MPS simulator
//! with jobs that run for a while, and the operator (in process). Prints, per mode, the
//! `QuerySnapshotJobList` calls it took to follow every job to Success: batched (up to 10 job
//! ids a call, the default) against per-job (one id a call), and the calls a job costs once it
//! is final (none).
//!
//!   cargo bench --bench mps_jobs                       # N=1000, both modes
//!   cargo bench --bench mps_jobs -- --n 200 --mode batched

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::Api;
use kube::api::{ApiResource, DynamicObject, ListParams, PostParams};
use live_snapshot_operator::core::credentials::CloudDefaults;
use live_snapshot_operator::core::metrics::Metrics;
use live_snapshot_operator::core::{Settings, UpstreamSettings};
use live_snapshot_operator::kinds::KindName;
use live_snapshot_operator::kinds::mps::resource::MpsSnapshotJob;
use lso_sim::devenv::{ControlPlane, tools_dir};
use lso_sim::{FaultSettings, KeyPair};

const AK: &str = "LTAI5tBenchKey000001";
const SK: &str = "benchSecret0123456789abcdef";

#[derive(Parser, Debug, Clone)]
struct Args {
    /// Jobs.
    #[arg(long, default_value_t = 1000)]
    n: usize,
    /// How long a job runs in the simulator, seconds.
    #[arg(long, default_value_t = 20)]
    job_secs: u64,
    /// The operator's calls per second (MPS allows 50 submits and 100 queries a second per key).
    #[arg(long, default_value_t = 45.0)]
    operator_qps: f64,
    /// batched, per-job or both.
    #[arg(long, default_value = "both")]
    mode: String,
    #[arg(long, hide = true)]
    bench: bool,
}

struct Figures {
    mode: &'static str,
    converged: Duration,
    submits: u64,
    queries: u64,
    queries_after: u64,
}

fn calls(sim: &lso_sim::mps::MpsSimulator, op: &str) -> u64 {
    sim.faults.stats().calls.get(op).copied().unwrap_or(0)
}

async fn run(cp: &ControlPlane, args: &Args, mode: &'static str) -> Figures {
    let client = cp.client().await.expect("client");
    let ns = format!("bench-mps-{mode}");
    let nsapi: Api<Namespace> = Api::all(client.clone());
    let obj: Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": ns}})).expect("namespace");
    nsapi
        .create(&PostParams::default(), &obj)
        .await
        .expect("namespace created");
    let secret: Secret = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "aliyun"},
        "stringData": {"accessKey": AK, "secretKey": SK},
    }))
    .expect("secret");
    Api::<Secret>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &secret)
        .await
        .expect("secret created");
    let (sim, endpoint) = lso_sim::mps::spawn_local(
        "127.0.0.1:0",
        vec![KeyPair::new(AK, SK)],
        FaultSettings::default(),
    )
    .await
    .expect("simulator");
    sim.store.set_job_time(Duration::from_secs(args.job_secs));
    sim.store.put_object("media", "videos/launch.mp4", 600);
    let settings = Settings {
        namespaces: vec![ns.clone()],
        concurrency: 64,
        resync: Duration::from_secs(300),
        kinds: vec![KindName::MpsSnapshotJob.kind()],
        upstream: UpstreamSettings {
            qps: args.operator_qps,
            burst: 10,
            coalesce_window: (mode == "batched").then(|| Duration::from_secs(3)),
            ..Default::default()
        },
        ..Settings::default()
    };
    let cloud = CloudDefaults {
        mps_endpoint: Some(endpoint.clone()),
        endpoint_allowlist: vec![endpoint],
        timeout: Duration::from_secs(10),
        ..CloudDefaults::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let operator = tokio::spawn(live_snapshot_operator::core::run(
        client.clone(),
        settings,
        cloud,
        Arc::new(Metrics::new()),
        None,
        async move {
            let _ = stopped.await;
        },
    ));
    let ar = ApiResource::erase::<MpsSnapshotJob>(&());
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &ar);
    let started = Instant::now();
    futures::stream::iter(0..args.n)
        .map(|i| {
            let api = api.clone();
            let ar = ar.clone();
            async move {
                let obj: DynamicObject = serde_json::from_value(serde_json::json!({
                    "apiVersion": ar.api_version, "kind": ar.kind,
                    "metadata": {"name": format!("job-{i:05}")},
                    "spec": {
                        "region": "cn-shanghai", "pipelineId": "bench",
                        "input": {"bucket": "media", "location": "oss-cn-shanghai", "object": "videos/launch.mp4"},
                        "output": {"bucket": "media", "location": "oss-cn-shanghai", "object": "out/{Count}.jpg"},
                        "snapshot": {"interval": 10, "num": 3},
                        "credentialsSecretRef": {"name": "aliyun"},
                    },
                }))
                .expect("object");
                api.create(&PostParams::default(), &obj).await.expect("create");
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
    let typed: Api<MpsSnapshotJob> = Api::namespaced(client.clone(), &ns);
    let deadline = Instant::now() + Duration::from_secs(1800);
    loop {
        let list = typed.list(&ListParams::default()).await.expect("list");
        let done = list
            .items
            .iter()
            .filter(|o| {
                o.status.as_ref().is_some_and(|s| {
                    s.managed
                        .conditions
                        .iter()
                        .any(|c| c.type_ == "Ready" && c.status == "True")
                })
            })
            .count();
        if done == args.n {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{mode}: {done}/{} Ready after 30 minutes",
            args.n
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let converged = started.elapsed();
    let (submits, queries) = (
        calls(&sim, "submit_snapshot_job"),
        calls(&sim, "query_snapshot_jobs"),
    );
    // Final jobs are not polled again: watch a while longer.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let queries_after = calls(&sim, "query_snapshot_jobs") - queries;
    let _ = stop.send(());
    let _ = operator.await;
    Figures {
        mode,
        converged,
        submits,
        queries,
        queries_after,
    }
}

fn main() {
    let args = Args::parse();
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let repo = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let cp = ControlPlane::start(&tools_dir(&repo).expect("tools"))
            .await
            .expect("control plane");
        cp.install_crd(&repo).expect("CRDs");
        let modes: Vec<&'static str> = match args.mode.as_str() {
            "batched" => vec!["batched"],
            "per-job" => vec!["per-job"],
            _ => vec!["batched", "per-job"],
        };
        let mut rows = Vec::new();
        for mode in modes {
            let f = run(&cp, &args, mode).await;
            rows.push(f);
        }
        // A job runs `job_secs`; its object polls every 3 s meanwhile.
        let rounds = (args.job_secs as f64 / 3.0).max(1.0);
        println!(
            "\nMPS polling: {} jobs running {} s each, operator at {} calls/s\n",
            args.n, args.job_secs, args.operator_qps
        );
        println!("| mode | all Succeeded | submits | QuerySnapshotJobList calls | per job | per polling round (calls / jobs / {rounds:.1} rounds) | calls in the 10 s after |");
        println!("|---|---|---|---|---|---|---|");
        for f in &rows {
            println!(
                "| {} | {:.1} s | {} | {} | {:.2} | {:.3} | {} |",
                f.mode,
                f.converged.as_secs_f64(),
                f.submits,
                f.queries,
                f.queries as f64 / args.n as f64,
                f.queries as f64 / args.n as f64 / rounds,
                f.queries_after
            );
        }
        if let [b, p] = &rows[..] {
            println!(
                "\nbatched / per-job QuerySnapshotJobList calls: {:.3}",
                b.queries as f64 / p.queries.max(1) as f64
            );
        }
    });
}
