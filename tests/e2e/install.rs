//! Installing and running it like a production operator: the Helm chart (lint, template, schema,
//! install), the plain manifests, the chart's RBAC proven sufficient (and no more) by running the
//! operator binary with the chart's ServiceAccount token, leader election with failover, the
//! metrics endpoint, and graceful shutdown releasing the Lease.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use crate::harness::{AK, PROJECT, SK, Scenario, Shared, eventually, spec};

const CHART: &str = "charts/live-snapshot-operator";

pub fn run(cmd: &mut std::process::Command) -> (bool, String) {
    let out = cmd.output().expect("command runs");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn kinds(manifest: &str) -> Vec<String> {
    manifest
        .lines()
        .filter_map(|l| l.strip_prefix("kind: "))
        .map(str::to_string)
        .collect()
}

pub async fn chart_lint_template_and_schema(shared: Arc<Shared>) {
    let cp = &shared.cp;
    let repo = &shared.repo;
    for extra in [
        vec![],
        vec!["-f", "charts/live-snapshot-operator/ci/all-on-values.yaml"],
    ] {
        let (ok, out) = run(cp
            .helm()
            .args([
                "lint",
                "--strict",
                "--kube-version",
                crate::harness::KUBE_VERSION,
                CHART,
            ])
            .args(&extra)
            .current_dir(repo));
        assert!(ok, "helm lint {extra:?}: {out}");
    }
    let (ok, out) = run(cp
        .helm()
        .args(["template", "lso", CHART, "-n", "lso"])
        .args(["--kube-version", crate::harness::KUBE_VERSION])
        .current_dir(repo));
    assert!(ok, "{out}");
    let k = kinds(&out);
    for want in [
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "Service",
        "Deployment",
    ] {
        assert!(
            k.iter().any(|x| x == want),
            "default render lacks {want}: {k:?}"
        );
    }
    assert!(
        !out.contains("kind: Secret"),
        "the chart never renders credentials"
    );
    let (ok, out) = run(cp
        .helm()
        .args([
            "template",
            "--kube-version",
            crate::harness::KUBE_VERSION,
            "lso",
            CHART,
            "-n",
            "lso",
            "-f",
            "charts/live-snapshot-operator/ci/all-on-values.yaml",
        ])
        .current_dir(repo));
    assert!(ok, "{out}");
    let k = kinds(&out);
    for want in ["ServiceMonitor", "PodDisruptionBudget"] {
        assert!(k.iter().any(|x| x == want), "all-on render lacks {want}");
    }
    assert_eq!(
        k.iter().filter(|x| *x == "Role").count(),
        4,
        "a Role per watched namespace, the leader-election Role and the ownership key's Role"
    );
    // The only ClusterRoles are the aggregated ones for people (edit, view) and the Secrets
    // reader and results writer namespaces bind (bound here in each watched namespace); the
    // operator's own rights are Roles in the watched namespaces.
    assert_eq!(
        k.iter().filter(|x| *x == "ClusterRole").count(),
        4,
        "watching listed namespaces needs no ClusterRole of the operator's"
    );
    assert!(
        out.contains("name: lso-live-snapshot-operator-secrets\n")
            && !out.contains("resources: [\"secrets\"]\n    verbs: [\"get\", \"list\", \"watch\"]"),
        "Secrets: get only, bound per namespace: {out}"
    );
    assert!(
        !k.iter().any(|x| x == "ClusterRoleBinding"),
        "watching listed namespaces binds no ClusterRole"
    );
    assert!(out.contains("secretName: live-default-credentials") && !out.contains("accessKey:"));
    // Both kinds: in each shard's arguments, and in the Role of each watched namespace.
    for (want, times) in [
        ("- --kinds=LiveSnapshotTemplate,VodAssetSnapshot", 3),
        (
            "- --vod-endpoint=https://vod.cn-east-3.myhuaweicloud.com",
            3,
        ),
        ("\"vodassetsnapshots/status\"", 2),
        ("\"mpssnapshotjobs/status\"", 2),
    ] {
        assert_eq!(out.matches(want).count(), times, "all-on render: {want}");
    }
    // Three shards: a Deployment, a Lease and a third of the upstream budget each.
    assert_eq!(k.iter().filter(|x| *x == "Deployment").count(), 3);
    for i in 0..3 {
        for want in [
            format!("name: lso-live-snapshot-operator-shard-{i}"),
            format!("- --shard={i}/3"),
            format!("- --leader-election-lease=lso-live-snapshot-operator-shard-{i}"),
        ] {
            assert!(out.contains(&want), "all-on render lacks {want}");
        }
    }
    assert_eq!(
        out.matches("- --upstream-qps=30").count(),
        3,
        "90 QPS split three ways"
    );

    for (set, want) in [
        ("replicas=two", "got string, want integer"),
        ("log.format=xml", "value must be one of"),
        ("metrics.port=70000", "maximum"),
    ] {
        let (ok, out) = run(cp
            .helm()
            .args(["template", "lso", CHART, "--set", set])
            .args(["--kube-version", crate::harness::KUBE_VERSION])
            .current_dir(repo));
        assert!(
            !ok && out.contains(want),
            "--set {set} must be refused with {want:?}: {out}"
        );
    }

    // The chart's CRDs are the generated ones, and the chart follows the crate's version.
    let mut all = String::new();
    for file in [
        "livesnapshottemplates.yaml",
        "mpssnapshotjobs.yaml",
        "vodassetsnapshots.yaml",
    ] {
        let crd = std::fs::read_to_string(repo.join("crds").join(file)).unwrap();
        assert_eq!(
            std::fs::read_to_string(repo.join(CHART).join("crds").join(file)).unwrap(),
            crd
        );
        all.push_str(&format!("---\n{crd}"));
    }
    assert_eq!(
        std::fs::read_to_string(repo.join("deploy/base/crd.yaml")).unwrap(),
        all
    );
    let chart = std::fs::read_to_string(repo.join(CHART).join("Chart.yaml")).unwrap();
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        chart.contains(&format!("appVersion: \"{version}\""))
            && chart.contains(&format!("\nversion: {version}\n")),
        "Chart.yaml follows Cargo.toml {version}"
    );

    // The plain manifests install as they are.
    let (ok, out) = run(cp
        .kubectl()
        .args(["apply", "--server-side", "-k", "deploy/base"])
        .current_dir(repo));
    assert!(ok, "kubectl apply -k deploy/base: {out}");
    for want in [
        "namespace/live-snapshot-operator",
        "clusterrole.rbac.authorization.k8s.io/live-snapshot-operator",
        "deployment.apps/live-snapshot-operator",
        "service/live-snapshot-operator-metrics",
    ] {
        assert!(out.contains(want), "deploy/base creates {want}: {out}");
    }
}

pub struct Proc {
    pub child: tokio::process::Child,
    http: String,
    log: PathBuf,
    identity: &'static str,
}

impl Proc {
    async fn metric(&self, line_prefix: &str) -> Option<f64> {
        let text = reqwest::get(format!("{}/metrics", self.http))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.lines()
            .find(|l| l.starts_with(line_prefix))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
    }

    pub fn signal(&self, sig: i32) {
        if let Some(pid) = self.child.id() {
            // SAFETY: kill(2) on our own child's pid.
            unsafe {
                libc::kill(pid as i32, sig);
            }
        }
    }
}

pub fn spawn_operator(
    s: &Scenario,
    dir: &Path,
    kubeconfig: &Path,
    identity: &'static str,
    lease_ns: &str,
    extra: &[&str],
) -> Proc {
    let bin = Path::new(env!("CARGO_BIN_EXE_live-snapshot-operator"));
    spawn_binary(bin, s, dir, kubeconfig, identity, lease_ns, extra)
}

/// `spawn_operator` with another build of the operator (the previous release).
pub fn spawn_binary(
    bin: &Path,
    s: &Scenario,
    dir: &Path,
    kubeconfig: &Path,
    identity: &'static str,
    lease_ns: &str,
    extra: &[&str],
) -> Proc {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = dir.join(format!("{identity}.log"));
    let file = std::fs::File::create(&log).unwrap();
    let child = tokio::process::Command::new(bin)
        .args([
            "run",
            "--endpoint",
            &s.endpoint,
            "--project-id",
            PROJECT,
            "--namespace",
            &s.ns,
            "--default-credentials-namespaces",
            &s.ns,
        ])
        .args([
            "--http-addr",
            &format!("127.0.0.1:{port}"),
            "--log-format",
            "json",
            "--backoff-max-seconds",
            "4",
        ])
        .args([
            "--leader-election",
            "--leader-election-namespace",
            lease_ns,
            "--leader-election-identity",
            identity,
        ])
        .args([
            "--lease-duration-seconds",
            "6",
            "--lease-grace-seconds",
            "2",
        ])
        .args(extra)
        .env("KUBECONFIG", kubeconfig)
        .env("CLOUD_SDK_AK", AK)
        .env("CLOUD_SDK_SK", SK)
        .stdout(Stdio::from(file.try_clone().unwrap()))
        .stderr(Stdio::from(file))
        .kill_on_drop(true)
        .spawn()
        .expect("operator binary starts");
    Proc {
        child,
        http: format!("http://127.0.0.1:{port}"),
        log,
        identity,
    }
}

async fn holder(s: &Scenario, ns: &str) -> Option<String> {
    s.lease_holder(ns).await
}

pub async fn helm_install_rbac_leader_failover_and_metrics(shared: Arc<Shared>) {
    let s = Scenario::new(shared.clone(), "helm").await;
    let system = "e2e-helm-system";
    let cp = &shared.cp;
    let (ok, out) = run(cp
        .helm()
        .args(["install", "lso", CHART, "-n", system, "--create-namespace"])
        .args([
            "--set",
            &format!("watch.namespaces={{{}}}", s.ns),
            "--set",
            &format!("cloud.endpointAllowlist={{{}}}", s.endpoint),
        ])
        .current_dir(&shared.repo));
    assert!(ok, "helm install: {out}");
    assert!(
        out.contains("Create a first template"),
        "NOTES.txt is shown: {out}"
    );
    let (ok, out) = run(cp.kubectl().args([
        "get",
        "serviceaccount,role,rolebinding,deployment,service",
        "-n",
        system,
        "-o",
        "name",
    ]));
    assert!(ok, "{out}");
    for want in [
        "serviceaccount/lso-live-snapshot-operator",
        "role.rbac.authorization.k8s.io/lso-live-snapshot-operator-leader-election",
        "rolebinding.rbac.authorization.k8s.io/lso-live-snapshot-operator-leader-election",
        "deployment.apps/lso-live-snapshot-operator",
        "service/lso-live-snapshot-operator-metrics",
    ] {
        assert!(out.contains(want), "helm install created {want}: {out}");
    }
    let (ok, out) = run(cp
        .kubectl()
        .args(["get", "role,rolebinding", "-n", &s.ns, "-o", "name"]));
    assert!(
        ok && out.contains("role.rbac.authorization.k8s.io/lso-live-snapshot-operator"),
        "{out}"
    );

    // The chart's ServiceAccount identity, as the pod would have it.
    let (ok, token) = run(cp.kubectl().args([
        "create",
        "token",
        "lso-live-snapshot-operator",
        "-n",
        system,
        "--duration=1h",
    ]));
    assert!(ok, "{token}");
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("sa.kubeconfig");
    std::fs::copy(&cp.kubeconfig, &kubeconfig).unwrap();
    let kc = |args: &[&str]| run(cp.kubectl().env("KUBECONFIG", &kubeconfig).args(args));
    assert!(
        kc(&[
            "config",
            "set-credentials",
            "lso-sa",
            &format!("--token={}", token.trim())
        ])
        .0
    );
    assert!(
        kc(&[
            "config",
            "set-context",
            "--current",
            "--user=lso-sa",
            &format!("--namespace={}", s.ns)
        ])
        .0
    );
    let as_sa = |args: &[&str]| run(cp.kubectl().env("KUBECONFIG", &kubeconfig).args(args));
    let (_, out) = as_sa(&["auth", "can-i", "create", "secrets", "-n", &s.ns]);
    assert_eq!(out.trim(), "no", "the operator may not write Secrets");
    // In its own namespace it reads (and creates on first start) its ownership key, and no
    // other Secret there by that grant.
    for (verb, what, want) in [
        ("get", "secret/live-snapshot-operator-ownership-key", "yes"),
        ("create", "secrets", "yes"),
        (
            "delete",
            "secret/live-snapshot-operator-ownership-key",
            "no",
        ),
        (
            "update",
            "secret/live-snapshot-operator-ownership-key",
            "no",
        ),
    ] {
        let (_, out) = as_sa(&["auth", "can-i", verb, what, "-n", system]);
        assert_eq!(out.trim(), want, "{verb} {what} in {system}");
    }
    let (ok, out) = as_sa(&[
        "create",
        "secret",
        "generic",
        "stolen",
        "--from-literal=a=b",
        "-n",
        &s.ns,
    ]);
    assert!(!ok && out.contains("forbidden"), "{out}");
    let (_, out) = as_sa(&[
        "auth",
        "can-i",
        "list",
        "livesnapshottemplates.live.snapshot.dev",
        "-n",
        "default",
    ]);
    assert_eq!(
        out.trim(),
        "no",
        "namespaces outside watch.namespaces are off limits"
    );
    // Every kind's objects, status and finalizers, in the watched namespace.
    // `kubectl auth can-i VERB TYPE/NAME` reads "x/status" as an object named status: the
    // subresource is its own flag.
    for (verb, resource, sub) in [
        ("patch", "livesnapshottemplates.live.snapshot.dev", "status"),
        ("watch", "vodassetsnapshots.live.snapshot.dev", ""),
        ("patch", "vodassetsnapshots.live.snapshot.dev", "status"),
        (
            "update",
            "vodassetsnapshots.live.snapshot.dev",
            "finalizers",
        ),
        ("watch", "mpssnapshotjobs.live.snapshot.dev", ""),
        ("patch", "mpssnapshotjobs.live.snapshot.dev", "status"),
        ("update", "mpssnapshotjobs.live.snapshot.dev", "finalizers"),
    ] {
        let subresource = format!("--subresource={sub}");
        let mut args = vec!["auth", "can-i", verb, resource, "-n", &s.ns];
        if !sub.is_empty() {
            args.push(&subresource);
        }
        let (_, out) = as_sa(&args);
        assert_eq!(out.trim(), "yes", "{verb} {resource} {sub}");
    }

    // Two replicas: exactly one reconciles.
    let mut a = spawn_operator(&s, dir.path(), &kubeconfig, "op-a", system, &[]);
    let mut b = spawn_operator(&s, dir.path(), &kubeconfig, "op-b", system, &[]);
    let leader = eventually("a leader to be elected", || async {
        holder(&s, system).await
    })
    .await;
    s.create("first", spec("first")).await;
    s.wait_ready("first").await;
    let (lead, standby) = if leader == a.identity {
        (&mut a, &mut b)
    } else {
        (&mut b, &mut a)
    };
    let success =
        "live_snapshot_operator_reconciles_total{kind=\"LiveSnapshotTemplate\",result=\"success\"}";
    let n = eventually("the leader's reconcile metrics", || async {
        lead.metric(success).await.filter(|n| *n > 0.0)
    })
    .await;
    assert!(n >= 1.0);
    assert_eq!(
        standby.metric(success).await.unwrap_or(0.0),
        0.0,
        "the standby does not reconcile"
    );
    for m in [
        "live_snapshot_operator_upstream_calls_total{operation=\"create\",code=\"200\"}",
        "live_snapshot_operator_upstream_call_duration_seconds_count{operation=\"list\"}",
        "live_snapshot_operator_reconcile_duration_seconds_count",
    ] {
        assert!(
            lead.metric(m).await.is_some_and(|v| v >= 1.0),
            "/metrics has {m}"
        );
    }
    eventually("the templates gauge", || async {
        lead.metric("live_snapshot_operator_templates{kind=\"LiveSnapshotTemplate\",ready=\"True\",synced=\"True\"}")
            .await
            .filter(|v| *v >= 1.0)
    })
    .await;
    for path in ["/healthz", "/readyz"] {
        let r = reqwest::get(format!("{}{path}", lead.http)).await.unwrap();
        assert!(r.status().is_success(), "{path}");
    }

    // The leader dies without releasing: the standby takes over within the lease duration.
    lead.child.start_kill().unwrap();
    let _ = lead.child.wait().await;
    let survivor = standby.identity;
    s.create("second", spec("second")).await;
    s.wait_ready("second").await;
    assert_eq!(holder(&s, system).await.as_deref(), Some(survivor));
    eventually("the new leader's reconcile metrics", || async {
        standby.metric(success).await.filter(|n| *n > 0.0)
    })
    .await;
    assert_eq!(s.sim.store.len(), 2);

    // SIGTERM: the leader finishes, releases the Lease and exits cleanly.
    standby.signal(libc::SIGTERM);
    let status = tokio::time::timeout(Duration::from_secs(20), standby.child.wait())
        .await
        .unwrap_or_else(|_| {
            let log = std::fs::read_to_string(&standby.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            panic!(
                "no exit within 20s of SIGTERM; last log lines, newest first:\n{}",
                tail.join("\n")
            )
        })
        .unwrap();
    assert!(status.success(), "clean exit: {status}");
    assert_eq!(
        holder(&s, system).await,
        None,
        "the Lease was released on shutdown"
    );

    for p in [&a.log, &b.log] {
        let log = std::fs::read_to_string(p).unwrap();
        assert!(!log.contains(SK), "a secret key in {}", p.display());
    }
}

/// A kubeconfig that acts as ServiceAccount `sa` of `namespace` (a token, as the pod has it).
pub fn service_account_kubeconfig(
    cp: &lso_sim::devenv::ControlPlane,
    dir: &Path,
    namespace: &str,
    sa: &str,
    default_ns: &str,
) -> PathBuf {
    let (ok, token) =
        run(cp
            .kubectl()
            .args(["create", "token", sa, "-n", namespace, "--duration=1h"]));
    assert!(ok, "{token}");
    let kubeconfig = dir.join(format!("{sa}.kubeconfig"));
    std::fs::copy(&cp.kubeconfig, &kubeconfig).unwrap();
    let kc = |args: &[&str]| run(cp.kubectl().env("KUBECONFIG", &kubeconfig).args(args));
    let token_arg = format!("--token={}", token.trim());
    assert!(kc(&["config", "set-credentials", sa, &token_arg]).0);
    let user = format!("--user={sa}");
    let ns = format!("--namespace={default_ns}");
    assert!(kc(&["config", "set-context", "--current", &user, &ns]).0);
    kubeconfig
}

/// The default install reads no Secret cluster-wide: a namespace grants `get` on its own
/// Secrets with one RoleBinding to the chart's ClusterRole, and until it does its objects say
/// which RoleBinding to create. Proven with the chart's ServiceAccount token.
pub async fn secrets_only_where_a_namespace_grants_them(shared: Arc<Shared>) {
    let s = Scenario::new(shared.clone(), "grants").await;
    let cp = &shared.cp;
    let system = "e2e-grants-system";
    let granted = format!("{}-granted", s.ns);
    let (ok, out) = run(cp.kubectl().args(["create", "namespace", &granted]));
    assert!(ok, "{out}");
    // Cluster-wide (no watch.namespaces): the release's own names, so that it can live beside
    // the suite's other releases.
    let (ok, notes) = run(cp
        .helm()
        .args([
            "install",
            "grants",
            CHART,
            "-n",
            system,
            "--create-namespace",
        ])
        .args(["--set", &format!("secrets.namespaces={{{granted}}}")])
        .current_dir(&shared.repo));
    assert!(ok, "helm install: {notes}");
    let role = "grants-live-snapshot-operator-secrets";
    let sa = "grants-live-snapshot-operator";
    let command = format!(
        "kubectl -n <namespace> create rolebinding {role} --clusterrole={role} --serviceaccount={system}:{sa}"
    );
    assert!(
        notes.contains(&command),
        "NOTES give the RoleBinding: {notes}"
    );

    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = service_account_kubeconfig(cp, dir.path(), system, sa, &s.ns);
    let can = |args: &[&str]| {
        let (_, out) = run(cp
            .kubectl()
            .env("KUBECONFIG", &kubeconfig)
            .args(["auth", "can-i"])
            .args(args));
        out.trim() == "yes"
    };
    for (args, why) in [
        (&["list", "secrets", "-A"][..], "no cluster-wide list"),
        (&["watch", "secrets", "-A"][..], "no cluster-wide watch"),
        (&["get", "secrets", "-A"][..], "no cluster-wide get"),
        (
            &["get", "secrets", "-n", "kube-system"][..],
            "nothing of kube-system",
        ),
        (
            &["get", "secrets", "-n", &s.ns][..],
            "nothing where no grant was made",
        ),
        (
            &["list", "secrets", "-n", &granted][..],
            "only get, even where granted",
        ),
    ] {
        assert!(!can(args), "the operator may not {args:?}: {why}");
    }
    assert!(
        can(&["get", "secrets", "-n", &granted]),
        "get in the namespace the chart granted"
    );
    assert!(
        can(&["list", "livesnapshottemplates.live.snapshot.dev", "-A"]),
        "the objects themselves are watched cluster-wide"
    );

    // The operator, as that ServiceAccount (watching only this scenario's namespace, so it
    // leaves the suite's other objects alone), with an object naming its own credentials.
    let extra = [
        "--namespace",
        &s.ns,
        "--endpoint-allowlist",
        &s.endpoint,
        "--secrets-cluster-role",
        role,
        "--service-account",
        &format!("{system}:{sa}"),
    ];
    let mut op = spawn_operator(&s, dir.path(), &kubeconfig, "op-grants", system, &extra);
    s.create_credentials("tenant", "tenant-project").await;
    s.create(
        "own",
        crate::harness::with(
            spec("own"),
            serde_json::json!({"credentialsSecretRef": {"name": "tenant"}}),
        ),
    )
    .await;
    let obj = s
        .wait_condition("own", "Ready", "False", Some("SecretAccessDenied"))
        .await;
    let message = obj
        .status
        .iter()
        .flat_map(|st| st.managed.conditions.iter())
        .find(|c| c.type_ == "Ready")
        .map(|c| c.message.clone())
        .unwrap_or_default();
    let grant = format!(
        "kubectl -n {} create rolebinding live-snapshot-operator-secrets --clusterrole={role} --serviceaccount={system}:{sa}",
        s.ns
    );
    assert!(
        message.contains(&grant),
        "the reason names the RoleBinding: {message}"
    );
    assert_eq!(s.writes(), 0, "nothing was written upstream");

    // The namespace runs the command it was given; the object is served without a restart.
    let args: Vec<&str> = grant.split_whitespace().skip(1).collect();
    let (ok, out) = run(cp.kubectl().args(&args));
    assert!(ok, "{out}");
    assert!(can(&["get", "secrets", "-n", &s.ns]), "granted now");
    let ready = s.wait_ready("own").await;
    let project = ready.status.and_then(|st| st.managed.project_id);
    assert_eq!(project.as_deref(), Some("tenant-project"));

    op.signal(libc::SIGTERM);
    let _ = tokio::time::timeout(Duration::from_secs(20), op.child.wait()).await;
    let log = std::fs::read_to_string(&op.log).unwrap_or_default();
    assert!(!log.contains(SK), "a secret key in the log");
    let (ok, out) = run(cp.helm().args(["uninstall", "grants", "-n", system]));
    assert!(ok, "{out}");
}
