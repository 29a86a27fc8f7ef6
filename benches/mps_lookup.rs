//! MPS lookup benchmark: what finding a job by its tag costs in a busy shared pipeline. The
//! simulator holds `--jobs` finished jobs (50,000 by default) spread over the lookback (7
//! days), a few of them the operator's; `--objects` objects with no job id on record look for
//! theirs at once (a rebuilt cluster re-applying its manifests, or restarts after lost
//! answers), through the per-pipeline index the operator shares between objects. Prints the
//! `QuerySnapshotJobList` calls and time, beside one object's lookup on an index of its own
//! (what every object paid before the index) and a second round of lookups on the warm index.
//!
//!   cargo bench --bench mps_lookup                    # 50,000 jobs, 100 objects
//!   cargo bench --bench mps_lookup -- --jobs 10000 --objects 20

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use live_snapshot_operator::clouds::alibaba::gateway::RpcGateway;
use live_snapshot_operator::clouds::alibaba::mps::MpsClient;
use live_snapshot_operator::clouds::huawei::{Auth, ClientConfig, Credentials};
use live_snapshot_operator::clouds::limiter::RateLimiter;
use live_snapshot_operator::kinds::mps::lookup::{LOOKBACK, PipelineIndex};
use lso_sim::{FaultSettings, KeyPair};

const AK: &str = "LTAI5tBenchKey000002";
const SK: &str = "benchSecret0123456789abcdef";
const PIPELINE: &str = "b11c171cced04565b1f38f1ecc39aaaa";

#[derive(Parser, Debug, Clone)]
struct Args {
    /// Jobs in the pipeline.
    #[arg(long, default_value_t = 50_000)]
    jobs: usize,
    /// Objects looking for their job at once.
    #[arg(long, default_value_t = 100)]
    objects: usize,
    /// The operator's calls per second (MPS allows 100 queries a second per key).
    #[arg(long, default_value_t = 90.0)]
    operator_qps: f64,
    #[arg(long, hide = true)]
    bench: bool,
}

fn tag(i: usize) -> String {
    format!("lso-{i:032x}")
}

fn main() {
    let args = Args::parse();
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (sim, endpoint) = lso_sim::mps::spawn_local(
            "127.0.0.1:0",
            vec![KeyPair::new(AK, SK)],
            FaultSettings::default(),
        )
        .await
        .expect("simulator");
        // Every 100th job is one of the operator's; the rest are the pipeline's other users'.
        let span = LOOKBACK.unsigned_abs() - Duration::from_secs(3600);
        sim.store.seed_jobs(PIPELINE, args.jobs, span, |i| {
            if i % 100 == 0 { tag(i) } else { format!("pipeline-user-{i}") }
        });
        let limiter = Arc::new(RateLimiter::new(args.operator_qps, 10));
        let client = Arc::new(MpsClient::new(
            RpcGateway::new(ClientConfig {
                endpoint,
                project_id: "cn-shanghai".into(),
                auth: Auth::AkSk(Credentials {
                    access_key: AK.into(),
                    secret_key: SK.into(),
                    security_token: None,
                }),
                timeout: Duration::from_secs(30),
                allow_insecure_http: false,
            })
            .expect("gateway")
            .with_limiter(limiter),
        ));
        let queries = || {
            sim.faults
                .stats()
                .calls
                .get("query_snapshot_jobs")
                .copied()
                .unwrap_or(0)
        };
        let since = jiff::Timestamp::now() - LOOKBACK;

        // One object on an index of its own: every object's cost without sharing.
        let before = queries();
        let started = Instant::now();
        let alone = PipelineIndex::default();
        let (found, _) = alone
            .find(&client, PIPELINE, &tag(0), since, tokio::time::Instant::now())
            .await
            .expect("lookup");
        assert!(found.is_some(), "the seeded job is found");
        let (alone_calls, alone_time) = (queries() - before, started.elapsed());

        // `objects` objects at once on one shared index.
        let shared = Arc::new(PipelineIndex::default());
        let round = |objects: usize| {
            let (shared, client) = (shared.clone(), client.clone());
            async move {
                let asked = tokio::time::Instant::now();
                let tasks: Vec<_> = (0..objects)
                    .map(|i| {
                        let (shared, client) = (shared.clone(), client.clone());
                        tokio::spawn(async move {
                            let (found, _) = shared
                                .find(&client, PIPELINE, &tag(i * 100), since, asked)
                                .await
                                .expect("lookup");
                            found.is_some()
                        })
                    })
                    .collect();
                let mut hits = 0;
                for t in tasks {
                    hits += usize::from(t.await.expect("task"));
                }
                hits
            }
        };
        let before = queries();
        let started = Instant::now();
        let hits = round(args.objects).await;
        let (cold_calls, cold_time) = (queries() - before, started.elapsed());
        let before = queries();
        let started = Instant::now();
        let warm_hits = round(args.objects).await;
        let (warm_calls, warm_time) = (queries() - before, started.elapsed());

        println!(
            "\nMPS lookup by tag: {} jobs in the pipeline over {} days, {} objects, operator at {} calls/s\n",
            args.jobs,
            LOOKBACK.as_hours() / 24,
            args.objects,
            args.operator_qps
        );
        println!("| case | QuerySnapshotJobList calls | time | found |");
        println!("|---|---|---|---|");
        println!(
            "| one object, index of its own (each object's cost before) | {alone_calls} | {:.1} s | 1/1 |",
            alone_time.as_secs_f64()
        );
        println!(
            "| {} objects at once, shared index, cold | {cold_calls} | {:.1} s | {hits}/{} |",
            args.objects,
            cold_time.as_secs_f64(),
            args.objects
        );
        println!(
            "| {} objects at once, shared index, warm | {warm_calls} | {:.1} s | {warm_hits}/{} |",
            args.objects,
            warm_time.as_secs_f64(),
            args.objects
        );
        println!(
            "\nwithout the shared index: {} calls for {} objects ({} each); with it: {}",
            alone_calls as usize * args.objects,
            args.objects,
            alone_calls,
            cold_calls
        );
    });
}
