//! Scale benchmark: a real control plane, the simulator with a QPS cap and added latency, the
//! operator binary (release build), N templates over D domains. Prints one table per observe
//! mode: time to all Ready against the floor, upstream calls, 429s, the calls of one full resync
//! after convergence, the operator's memory, and spec-change-to-upstream latency.
//!
//!   cargo bench --bench scale                       # N=2000, D=20, both modes
//!   cargo bench --bench scale -- --n 10000 --mode coalesced
//!   scripts/dashboard-picture.sh                    # the same run, scraped and plotted
//!
//! `LSO_BENCH_WRAP=/path/to/wrapper` starts the operator through a wrapper that takes the
//! operator's command line (a heap profiler such as `heaptrack -o FILE "$@"`); the RSS figures
//! are then the wrapper's, not the operator's.

use std::time::{Duration, Instant};

use clap::Parser;
use futures::{StreamExt, TryStreamExt};
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use live_snapshot_operator::kinds::live::resource::LiveSnapshotTemplate;
use lso_sim::devenv::{ControlPlane, tools_dir};
use lso_sim::{FaultSettings, KeyPair, Stats, spawn_local};

const AK: &str = "BENCHACCESSKEY01";
const SK: &str = "benchSecretKey0123456789abcdefgh";
const PROJECT: &str = "bench00000000000000000000000000a";

#[derive(Parser, Debug, Clone)]
struct Args {
    /// Templates.
    #[arg(long, default_value_t = 2000)]
    n: usize,
    /// Domains they are spread over.
    #[arg(long, default_value_t = 20)]
    domains: usize,
    /// The simulator's QPS cap.
    #[arg(long, default_value_t = 100)]
    qps_cap: u32,
    /// Latency the simulator adds to every call, ms.
    #[arg(long, default_value_t = 20)]
    latency_ms: u64,
    /// The operator's client-side rate limit (kept under the cap: the simulator counts calls in
    /// fixed one-second windows).
    #[arg(long, default_value_t = 98.0)]
    operator_qps: f64,
    /// coalesced, per-object or both.
    #[arg(long, default_value = "both")]
    mode: String,
    /// Resync period given to the operator, seconds (the resync measurement waits 2.5 periods).
    #[arg(long, default_value_t = 30)]
    resync: u64,
    /// Spec changes timed on the converged fleet.
    #[arg(long, default_value_t = 100)]
    samples: usize,
    /// Reconciles at once.
    #[arg(long, default_value_t = 64)]
    concurrency: u16,
    /// After the resync measurement, change this many templates upstream behind the operator's
    /// back and wait until it has put them back (fills the dashboard's drift panel).
    #[arg(long, default_value_t = 0)]
    drift: usize,
    /// Operator processes, each reconciling its shard of the objects with its share of
    /// --operator-qps.
    #[arg(long, default_value_t = 1)]
    shards: u32,
    /// Address the operator serves /metrics on, for a Prometheus scraping the run
    /// (scripts/dashboard-picture.sh); any free port when unset.
    #[arg(long, default_value = "127.0.0.1:0")]
    metrics_addr: String,
    #[arg(long, hide = true)]
    bench: bool,
}

/// Kubernetes API writes (POST, PUT, PATCH, DELETE) by what they wrote, from kube-apiserver's
/// own `apiserver_request_total`.
#[derive(Clone, Debug, Default)]
struct KubeWrites(std::collections::BTreeMap<String, u64>);

impl KubeWrites {
    async fn read(client: &kube::Client) -> Self {
        let req = http::Request::get("/metrics")
            .body(Vec::new())
            .expect("request");
        let text = client.request_text(req).await.unwrap_or_default();
        let mut out = std::collections::BTreeMap::new();
        for line in text
            .lines()
            .filter(|l| l.starts_with("apiserver_request_total{"))
        {
            let label = |name: &str| {
                line.split(&format!("{name}=\""))
                    .nth(1)
                    .and_then(|r| r.split('"').next())
                    .unwrap_or("")
                    .to_string()
            };
            let verb = label("verb");
            let resource = label("resource");
            if !matches!(verb.as_str(), "POST" | "PUT" | "PATCH" | "DELETE" | "APPLY")
                || !matches!(resource.as_str(), "livesnapshottemplates" | "events")
            {
                continue;
            }
            let sub = label("subresource");
            let key = match (resource.as_str(), sub.as_str(), verb.as_str()) {
                ("events", _, _) => "Events",
                (_, "status", _) => "status",
                // The benchmark's own creates, not the operator's writes.
                (_, _, "POST") => continue,
                _ => "object (finalizer)",
            }
            .to_string();
            let n: f64 = line
                .rsplit(' ')
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0);
            *out.entry(key).or_insert(0) += n as u64;
        }
        KubeWrites(out)
    }

    fn since(&self, before: &KubeWrites) -> KubeWrites {
        KubeWrites(
            self.0
                .iter()
                .map(|(k, v)| (k.clone(), v - before.0.get(k).copied().unwrap_or(0)))
                .collect(),
        )
    }

    fn total(&self) -> u64 {
        self.0.values().sum()
    }
}

/// The operator processes of a run: one, or one per shard.
struct Fleet {
    procs: Vec<tokio::process::Child>,
    urls: Vec<String>,
}

impl Fleet {
    fn rss(&self, field: &str) -> Vec<u64> {
        self.procs
            .iter()
            .map(|p| p.id().map(|pid| proc_status(pid, field)).unwrap_or(0))
            .collect()
    }

    fn peaks(&self, peak: &mut [u64]) {
        for (p, now) in peak.iter_mut().zip(self.rss("VmHWM:")) {
            *p = (*p).max(now);
        }
    }

    async fn reconciled(&self) -> u64 {
        let mut n = 0;
        for u in &self.urls {
            n += reconciled(u).await;
        }
        n
    }

    async fn stop(&mut self) {
        for p in &mut self.procs {
            let _ = p.start_kill();
            let _ = p.wait().await;
        }
    }
}

/// Successful reconciles so far, from the operator's /metrics.
async fn reconciled(metrics_url: &str) -> u64 {
    let Ok(resp) = reqwest::get(metrics_url).await else {
        return 0;
    };
    let text = resp.text().await.unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with("live_snapshot_operator_reconciles_total{kind=\"LiveSnapshotTemplate\",result=\"success\"}"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

struct Figures {
    mode: String,
    kube_writes: KubeWrites,
    restart_calls: Stats,
    restart_writes: KubeWrites,
    restart_confirmed: Duration,
    converge: Duration,
    floor_writes: Duration,
    floor_confirmed: Duration,
    calls: Stats,
    resync_calls: Stats,
    /// Per shard.
    peak_rss_kib: Vec<u64>,
    /// Per shard.
    rest_rss_kib: Vec<u64>,
    p50: Duration,
    p99: Duration,
}

fn proc_status(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

fn total(s: &Stats) -> u64 {
    s.calls.values().sum()
}

fn writes(s: &Stats) -> u64 {
    ["create", "update", "delete"]
        .iter()
        .map(|op| s.calls.get(*op).copied().unwrap_or(0))
        .sum()
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn run_mode(
    args: &Args,
    mode: &str,
    tools: &std::path::Path,
    repo: &std::path::Path,
) -> Figures {
    let cp = ControlPlane::start(tools).await.expect("control plane");
    cp.install_crd(repo).expect("CRD");
    let out = cp
        .kubectl()
        .args(["create", "namespace", "bench"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let client = cp.client().await.unwrap();

    let (sim, endpoint) = spawn_local(
        "127.0.0.1:0",
        vec![KeyPair::new(AK, SK)],
        vec![],
        FaultSettings {
            qps_cap: args.qps_cap,
            latency_ms: args.latency_ms,
            ..Default::default()
        },
    )
    .await
    .unwrap();

    // One metrics address per shard (the first may be fixed, for a Prometheus to scrape).
    let metrics_addrs: Vec<String> = (0..args.shards)
        .map(|i| {
            if i == 0 && !args.metrics_addr.ends_with(":0") {
                return args.metrics_addr.clone();
            }
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
            l.local_addr().expect("addr").to_string()
        })
        .collect();
    let shards = args.shards;
    let start_operator = |resync: u64| -> Fleet {
        let procs = (0..shards)
            .map(|i| {
                let mut cmd = match std::env::var("LSO_BENCH_WRAP") {
                    Ok(w) => {
                        let mut c = tokio::process::Command::new(&w);
                        c.arg(env!("CARGO_BIN_EXE_live-snapshot-operator"));
                        c
                    }
                    Err(_) => {
                        tokio::process::Command::new(env!("CARGO_BIN_EXE_live-snapshot-operator"))
                    }
                };
                cmd.args([
                    "run",
                    "--endpoint",
                    &endpoint,
                    "--project-id",
                    PROJECT,
                    "--namespace",
                    "bench",
                    "--default-credentials-namespaces",
                    "bench",
                ])
                .args(["--observe", mode, "--resync-seconds", &resync.to_string()])
                // The shards split the budget, so that their sum stays under the cap.
                .args([
                    "--upstream-qps",
                    &(args.operator_qps / f64::from(shards)).to_string(),
                    "--upstream-burst",
                    "1",
                ])
                .args([
                    "--concurrency",
                    &args.concurrency.to_string(),
                    "--http-addr",
                    &metrics_addrs[i as usize],
                    "--log-level",
                    "warn",
                ])
                .env("KUBECONFIG", &cp.kubeconfig)
                .env("CLOUD_SDK_AK", AK)
                .env("CLOUD_SDK_SK", SK)
                // As the image and the chart run it (two malloc arenas, not one per thread).
                .env("MALLOC_ARENA_MAX", "2")
                .kill_on_drop(true);
                if shards > 1 {
                    cmd.args(["--shard", &format!("{i}/{shards}")]);
                }
                cmd.spawn().expect("operator binary")
            })
            .collect();
        Fleet {
            procs,
            urls: metrics_addrs
                .iter()
                .map(|a| format!("http://{a}/metrics"))
                .collect(),
        }
    };
    // Convergence is measured with a resync longer than the run, so that no periodic check
    // competes for the upstream budget; the resync is measured afterwards on its own.
    let mut operator = start_operator(3600);
    let mut peak = vec![0u64; shards as usize];

    let api: Api<LiveSnapshotTemplate> = Api::namespaced(client.clone(), "bench");
    // Readiness is followed through a watch: listing 10,000 objects every 250 ms would have the
    // benchmark itself take a large share of the API server's two cores from the operator.
    let all_ready = {
        let (api, n) = (api.clone(), args.n);
        tokio::spawn(async move {
            let mut ready_names = std::collections::HashSet::new();
            let mut events = std::pin::pin!(
                watcher::watcher(api, watcher::Config::default())
                    .default_backoff()
                    .applied_objects()
            );
            while let Some(o) = events.try_next().await.expect("watch templates") {
                let name = o.metadata.name.clone().unwrap_or_default();
                if is_ready(&o) {
                    ready_names.insert(name);
                } else {
                    ready_names.remove(&name);
                }
                if ready_names.len() == n {
                    return Instant::now();
                }
            }
            panic!("the watch of templates ended");
        })
    };
    let writes_before = KubeWrites::read(&client).await;
    let started = Instant::now();
    futures::stream::iter(0..args.n)
        .map(|i| {
            let api = api.clone();
            let domains = args.domains;
            async move {
                let obj: LiveSnapshotTemplate = serde_json::from_value(serde_json::json!({
                    "apiVersion": "live.snapshot.dev/v1alpha1", "kind": "LiveSnapshotTemplate",
                    "metadata": {"name": format!("t-{i:05}")},
                    "spec": {"domain": format!("d{:02}.example.com", i % domains), "appName": format!("app-{i:05}"),
                             "timeInterval": 10, "obsLocation": {"bucket": "b", "location": "cn-north-4", "object": "o/"}}
                }))
                .unwrap();
                api.create(&PostParams::default(), &obj).await.expect("create object");
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    let created = started.elapsed();
    let all_ready = tokio::time::timeout(Duration::from_secs(1800), all_ready)
        .await
        .expect("not converged within 30 minutes")
        .expect("readiness watch");
    operator.peaks(&mut peak);
    let converge = all_ready.duration_since(started);
    let kube_writes = KubeWrites::read(&client).await.since(&writes_before);
    let calls = sim.faults.stats();
    sim.faults.reset_stats();
    eprintln!(
        "[{mode}] {} objects created in {:.1}s, all Ready after {:.1}s",
        args.n,
        created.as_secs_f64(),
        converge.as_secs_f64()
    );

    // Spec change to upstream update, one object at a time.
    let mut lat = Vec::new();
    for i in 0..args.samples.min(args.n) {
        let name = format!("t-{i:05}");
        let (domain, app) = (
            format!("d{:02}.example.com", i % args.domains),
            format!("app-{i:05}"),
        );
        let t = Instant::now();
        api.patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"timeInterval": 11}})),
        )
        .await
        .unwrap();
        while sim
            .store
            .get(PROJECT, &domain, &app)
            .is_none_or(|c| c.time_interval != 11)
        {
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "update of {name} never arrived"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        lat.push(t.elapsed());
    }
    lat.sort();
    // The last spec change's status write may still be on its way: let every object report
    // its generation before the operator stops, so the restart below starts from a settled
    // fleet and is not charged for the previous run's work.
    loop {
        let list = api.list(&ListParams::default()).await.unwrap();
        let settled = list.items.iter().all(|o| {
            is_ready(o)
                && o.status
                    .as_ref()
                    .and_then(|s| s.managed.observed_generation)
                    == o.metadata.generation
        });
        if settled {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rest = operator.rss("VmRSS:");
    operator.peaks(&mut peak);
    operator.stop().await;

    // A restart on the converged fleet: the start-up pass confirms every object; count its
    // upstream calls and Kubernetes writes, and the time until every object was confirmed.
    sim.faults.reset_stats();
    let writes_before = KubeWrites::read(&client).await;
    let restarted = Instant::now();
    let mut operator = start_operator(3600);
    while operator.reconciled().await < args.n as u64 {
        assert!(
            restarted.elapsed() < Duration::from_secs(600),
            "restart never confirmed every object"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let restart_confirmed = restarted.elapsed();
    let restart_calls = sim.faults.stats();
    let restart_writes = KubeWrites::read(&client).await.since(&writes_before);
    operator.stop().await;

    // One full resync of the converged fleet: restart the operator with the short period; once
    // the start-up pass is over and every object sits on its slot, count the calls of one period.
    let mut operator = start_operator(args.resync);
    let period = Duration::from_secs(args.resync);
    tokio::time::sleep(period + period / 2).await;
    sim.faults.reset_stats();
    tokio::time::sleep(period).await;
    let resync_calls = sim.faults.stats();
    if args.drift > 0 {
        let changed: Vec<(String, String)> = (0..args.drift.min(args.n))
            .map(|i| {
                (
                    format!("d{:02}.example.com", i % args.domains),
                    format!("app-{i:05}"),
                )
            })
            .collect();
        for (domain, app) in &changed {
            let mut config = sim.store.get(PROJECT, domain, app).expect("converged");
            config.time_interval = 42;
            sim.store.replace(PROJECT, config).expect("drift");
        }
        let t = Instant::now();
        while changed.iter().any(|(domain, app)| {
            sim.store
                .get(PROJECT, domain, app)
                .is_none_or(|c| c.time_interval == 42)
        }) {
            assert!(t.elapsed() < period * 4, "drift never corrected");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        eprintln!(
            "[{mode}] {} drifted templates corrected after {:.1}s",
            changed.len(),
            t.elapsed().as_secs_f64()
        );
    }
    operator.stop().await;
    let n = args.n as f64;
    let d = args.domains as f64;
    let cap = f64::from(args.qps_cap);
    let pages = (n / d / 100.0).ceil().max(1.0);
    Figures {
        mode: mode.to_string(),
        kube_writes,
        restart_calls,
        restart_writes,
        restart_confirmed,
        converge,
        floor_writes: Duration::from_secs_f64((n + d * pages) / cap),
        floor_confirmed: Duration::from_secs_f64((2.0 * n + d * pages) / cap),
        calls,
        resync_calls,
        peak_rss_kib: peak,
        rest_rss_kib: rest,
        p50: pct(&lat, 0.5),
        p99: pct(&lat, 0.99),
    }
}

fn is_ready(o: &LiveSnapshotTemplate) -> bool {
    o.status.as_ref().is_some_and(|s| {
        s.managed
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    })
}

fn main() {
    let args = Args::parse();
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let repo = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let figures: Vec<Figures> = rt.block_on(async {
        let tools = tools_dir(&repo).expect("tools");
        let modes: Vec<&str> = match args.mode.as_str() {
            "both" => vec!["coalesced", "per-object"],
            m => vec![m],
        };
        let mut out = Vec::new();
        for m in modes {
            out.push(run_mode(&args, m, &tools, &repo).await);
        }
        out
    });
    let n = args.n as f64;
    println!(
        "\nscale benchmark: N={} templates over D={} domains, simulator cap {} QPS + {} ms, operator limit {} QPS, resync {}s\n",
        args.n, args.domains, args.qps_cap, args.latency_ms, args.operator_qps, args.resync
    );
    println!(
        "{:<44} {}",
        "",
        figures
            .iter()
            .map(|f| format!("{:>16}", f.mode))
            .collect::<String>()
    );
    let row = |name: &str, f: &dyn Fn(&Figures) -> String| {
        println!(
            "{:<44} {}",
            name,
            figures
                .iter()
                .map(|x| format!("{:>16}", f(x)))
                .collect::<String>()
        );
    };
    let secs = |d: Duration| format!("{:.1}s", d.as_secs_f64());
    row("time to all Ready", &|f| secs(f.converge));
    row("floor: (creates + domain pages) / cap", &|f| {
        secs(f.floor_writes)
    });
    row("  ratio", &|f| {
        format!(
            "{:.2}x",
            f.converge.as_secs_f64() / f.floor_writes.as_secs_f64()
        )
    });
    row("floor incl. targeted confirm before create", &|f| {
        secs(f.floor_confirmed)
    });
    row("  ratio", &|f| {
        format!(
            "{:.2}x",
            f.converge.as_secs_f64() / f.floor_confirmed.as_secs_f64()
        )
    });
    for op in ["list", "create", "update", "delete"] {
        row(&format!("upstream {op} calls"), &|f| {
            f.calls.calls.get(op).copied().unwrap_or(0).to_string()
        });
    }
    row("upstream calls per template", &|f| {
        format!("{:.2}", total(&f.calls) as f64 / n)
    });
    row("upstream writes per template", &|f| {
        format!("{:.3}", writes(&f.calls) as f64 / n)
    });
    row("429 answers", &|f| f.calls.throttled.to_string());
    row("Kubernetes writes per template", &|f| {
        format!("{:.2}", f.kube_writes.total() as f64 / n)
    });
    for kind in ["object (finalizer)", "status", "Events"] {
        row(&format!("  {kind}"), &|f| {
            format!(
                "{:.2}",
                f.kube_writes.0.get(kind).copied().unwrap_or(0) as f64 / n
            )
        });
    }
    row("restart: time until all confirmed", &|f| {
        secs(f.restart_confirmed)
    });
    row("restart: upstream calls", &|f| {
        total(&f.restart_calls).to_string()
    });
    row("restart: upstream writes", &|f| {
        writes(&f.restart_calls).to_string()
    });
    row("restart: Kubernetes writes", &|f| {
        f.restart_writes.total().to_string()
    });
    row("one full resync: upstream calls", &|f| {
        total(&f.resync_calls).to_string()
    });
    row("one full resync: upstream writes", &|f| {
        writes(&f.resync_calls).to_string()
    });
    if let (Some(c), Some(p)) = (
        figures.iter().find(|f| f.mode == "coalesced"),
        figures.iter().find(|f| f.mode == "per-object"),
    ) {
        let ratio = total(&p.resync_calls) as f64 / total(&c.resync_calls).max(1) as f64;
        println!(
            "{:<44} {:>16}",
            "resync calls, per-object / coalesced",
            format!("{ratio:.0}x")
        );
    }
    let mib = |v: &[u64]| {
        v.iter()
            .map(|k| format!("{:.1}", *k as f64 / 1024.0))
            .collect::<Vec<_>>()
            .join(" + ")
            + " MiB"
    };
    row("operator peak RSS (per shard)", &|f| mib(&f.peak_rss_kib));
    row(
        "operator RSS at rest (per shard)",
        &|f| mib(&f.rest_rss_kib),
    );
    row("spec change -> upstream update p50", &|f| {
        format!("{:.0} ms", f.p50.as_secs_f64() * 1000.0)
    });
    row("spec change -> upstream update p99", &|f| {
        format!("{:.0} ms", f.p99.as_secs_f64() * 1000.0)
    });
}
