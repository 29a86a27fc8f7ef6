//! The operator binary as the fault suite runs it: a real process, killed with real signals.

use std::path::PathBuf;
use std::process::Stdio;

use crate::harness::{PROJECT, SK, Scenario};

pub struct OperatorProc {
    child: tokio::process::Child,
    pub http: String,
    pub log: PathBuf,
}

/// How one operator process is started.
#[derive(Clone)]
pub struct Launch {
    pub access_key: String,
    pub secret_key: String,
    pub extra: Vec<String>,
    /// The Lease namespace, when it runs with leader election.
    pub leader_namespace: Option<String>,
    pub identity: String,
    pub upstream_timeout_secs: u64,
    /// `--upstream-qps`: high, so the client-side limiter stays out of the way unless a
    /// scenario wants writes to queue.
    pub upstream_qps: f64,
}

impl Launch {
    pub fn new() -> Self {
        Self {
            access_key: crate::harness::AK.into(),
            secret_key: SK.into(),
            extra: Vec::new(),
            leader_namespace: None,
            identity: "op".into(),
            upstream_timeout_secs: 2,
            upstream_qps: 500.0,
        }
    }
}

impl OperatorProc {
    pub fn start(s: &Scenario, launch: &Launch) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let log = s.shared.cp.dir.path().join(format!(
            "{}-{}-{}.log",
            s.ns,
            launch.identity,
            rand::random::<u32>()
        ));
        let file = std::fs::File::create(&log).expect("log file");
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_live-snapshot-operator"));
        cmd.args(["run", "--endpoint", &s.endpoint, "--project-id", PROJECT])
            .args([
                "--namespace",
                &s.ns,
                "--default-credentials-namespaces",
                &s.ns,
            ])
            .args(["--vod-endpoint", &s.vod_endpoint])
            .args(["--mps-endpoint", &s.mps_endpoint])
            .args([
                "--endpoint-allowlist",
                &format!("{},{},{}", s.endpoint, s.vod_endpoint, s.mps_endpoint),
            ])
            .args(["--http-addr", &format!("127.0.0.1:{port}")])
            .args(["--log-format", "json", "--log-level", "debug"])
            .args(["--backoff-max-seconds", "4"])
            // Run as the cluster admin: Secret changes are watched.
            .arg("--watch-secrets")
            .args([
                "--upstream-timeout-seconds",
                &launch.upstream_timeout_secs.to_string(),
            ])
            .args(["--reconcile-timeout-seconds", "20"])
            .args(["--upstream-qps", &launch.upstream_qps.to_string()])
            .args(&launch.extra)
            .env("KUBECONFIG", &s.shared.cp.kubeconfig)
            .env("CLOUD_SDK_AK", &launch.access_key)
            .env("CLOUD_SDK_SK", &launch.secret_key)
            .stdout(Stdio::from(file.try_clone().expect("log file")))
            .stderr(Stdio::from(file))
            .kill_on_drop(true);
        if let Some(ns) = &launch.leader_namespace {
            cmd.args(["--leader-election", "--leader-election-namespace", ns])
                .args(["--leader-election-identity", &launch.identity])
                .args([
                    "--lease-duration-seconds",
                    "6",
                    "--lease-grace-seconds",
                    "2",
                ]);
        }
        let child = cmd.spawn().expect("the operator binary starts");
        Self {
            child,
            http: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    pub fn signal(&self, sig: i32) {
        if let Some(pid) = self.child.id() {
            // SAFETY: kill(2) on our own child's pid.
            unsafe {
                libc::kill(pid as i32, sig);
            }
        }
    }

    /// SIGKILL, and wait until the process is gone.
    pub async fn kill(mut self) {
        self.signal(libc::SIGKILL);
        let _ = self.child.wait().await;
    }

    /// Whether the process has exited, and how.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    pub async fn metrics(&self) -> String {
        match reqwest::get(format!("{}/metrics", self.http)).await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}
