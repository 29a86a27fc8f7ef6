//! What people install: the CLI as a kubectl plugin (with completions and `--version`), and the
//! chart as a packaged archive (metadata, generated README, name overrides, the `helm test`
//! hook, runbook links) whose aggregated roles give the built-in `edit` and `view` roles the three
//! kinds, but never their status, through the real ClusterRole aggregation controller.

use std::sync::Arc;

use crate::harness::{Scenario, Shared, eventually};

const CHART: &str = "charts/live-snapshot-operator";
const KINDS: [&str; 3] = [
    "livesnapshottemplates.live.snapshot.dev",
    "vodassetsnapshots.live.snapshot.dev",
    "mpssnapshotjobs.live.snapshot.dev",
];

fn run(cmd: &mut std::process::Command) -> (bool, String) {
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

pub async fn cli_is_a_kubectl_plugin_with_completions_and_version(shared: Arc<Shared>) {
    let repo = &shared.repo;
    let dir = tempfile::tempdir().unwrap();
    // What `kubectl krew install` or the README's `ln -s` leaves on PATH.
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_live-snapshot-operator"),
        dir.path().join("kubectl-lso"),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        dir.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let kubectl = || {
        let mut cmd = shared.cp.kubectl();
        cmd.env("PATH", &path).current_dir(repo);
        cmd
    };
    let (_, out) = run(kubectl().args(["plugin", "list"]));
    assert!(
        out.contains("kubectl-lso"),
        "kubectl finds the plugin: {out}"
    );

    let (ok, out) = run(kubectl().args(["lso", "validate", "examples"]));
    assert!(
        ok && out.contains("0 errors"),
        "kubectl lso validate examples: {out}"
    );
    let (ok, out) = run(kubectl().args(["lso", "validate", "tests/gitops/invalid.yaml"]));
    assert!(
        !ok && out.contains("spec."),
        "kubectl lso validate refuses invalid manifests: {out}"
    );

    let (ok, out) = run(kubectl().args(["lso", "--version"]));
    let (_, head) = run(std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(repo));
    assert!(
        ok && out.contains(env!("CARGO_PKG_VERSION"))
            && out.contains(&format!("(commit {})", head.trim())),
        "--version names the version and the commit {}: {out}",
        head.trim()
    );

    for shell in ["bash", "zsh", "fish"] {
        let (ok, script) = run(std::process::Command::new(env!(
            "CARGO_BIN_EXE_live-snapshot-operator"
        ))
        .args(["completions", shell]));
        assert!(
            ok && ["validate", "plan", "import", "probe"]
                .iter()
                .all(|sub| script.contains(sub)),
            "{shell} completions name every subcommand: {script}"
        );
    }
    // The bash script loads and registers its completion function.
    let file = dir.path().join("completions.bash");
    let (_, script) = run(
        std::process::Command::new(env!("CARGO_BIN_EXE_live-snapshot-operator"))
            .args(["completions", "bash"]),
    );
    std::fs::write(&file, script).unwrap();
    let (ok, out) = run(std::process::Command::new("bash").args([
        "-c",
        &format!(
            "source {} && complete -p live-snapshot-operator",
            file.display()
        ),
    ]));
    assert!(
        ok && out.contains("live-snapshot-operator"),
        "bash registers the completion: {out}"
    );
}

pub async fn chart_packages_with_overrides_and_aggregated_roles(shared: Arc<Shared>) {
    let s = Scenario::new(shared.clone(), "aggregate").await;
    let cp = &shared.cp;
    let repo = &shared.repo;
    let version = env!("CARGO_PKG_VERSION");
    let dist = tempfile::tempdir().unwrap();

    // `helm package`: a versioned archive holding the chart, its CRDs, README and test hook,
    // and none of what only builds it.
    let (ok, out) = run(cp
        .helm()
        .args(["package", CHART, "-d"])
        .arg(dist.path())
        .current_dir(repo));
    assert!(ok, "helm package: {out}");
    let archive = dist
        .path()
        .join(format!("live-snapshot-operator-{version}.tgz"));
    assert!(archive.exists(), "helm package wrote {archive:?}: {out}");
    let archive = archive.to_string_lossy().to_string();
    let (ok, files) = run(std::process::Command::new("tar").args(["tzf", &archive]));
    assert!(ok, "{files}");
    for want in [
        "live-snapshot-operator/README.md",
        "live-snapshot-operator/crds/mpssnapshotjobs.yaml",
        "live-snapshot-operator/templates/tests/probe-readyz.yaml",
        "live-snapshot-operator/templates/aggregate-roles.yaml",
        "live-snapshot-operator/values.schema.json",
    ] {
        assert!(files.contains(want), "the archive holds {want}: {files}");
    }
    assert!(
        !files.contains("README.md.gotmpl") && !files.contains("/ci/"),
        "the archive leaves out the README template and CI values: {files}"
    );
    let (ok, meta) = run(cp.helm().args(["show", "chart", &archive]));
    assert!(ok, "{meta}");
    for want in [
        "kubeVersion: '>=1.30.0-0'",
        "home: https://",
        "sources:",
        "LiveSnapshotTemplate",
        "VodAssetSnapshot",
        "MpsSnapshotJob",
        "artifacthub.io/crds",
        "artifacthub.io/license: Apache-2.0",
        &format!("live-snapshot-operator:{version}"),
    ] {
        assert!(meta.contains(want), "Chart.yaml carries {want}: {meta}");
    }
    let readme = std::fs::read_to_string(repo.join(CHART).join("README.md")).unwrap();
    for value in [
        "nameOverride",
        "cloud.credentials.existingSecret",
        "helmTest.enabled",
    ] {
        assert!(
            readme.contains(&format!("| {value} |")),
            "the chart README documents {value}"
        );
    }

    // Name overrides, linted strictly and rendered.
    for set in ["nameOverride=snap", "fullnameOverride=media-snap"] {
        let (ok, out) = run(cp.helm().args([
            "lint",
            "--strict",
            "--kube-version",
            crate::harness::KUBE_VERSION,
            &archive,
            "--set",
            set,
        ]));
        assert!(ok, "helm lint --strict --set {set}: {out}");
    }
    let (ok, out) = run(cp.helm().args([
        "template",
        "--kube-version",
        crate::harness::KUBE_VERSION,
        "lso",
        &archive,
        "-n",
        "media",
        "--set",
        "nameOverride=snap",
    ]));
    assert!(ok, "{out}");
    assert!(
        out.contains("name: lso-snap\n")
            && out.contains("app.kubernetes.io/name: snap")
            && !out.contains("lso-live-snapshot-operator"),
        "nameOverride names every resource: {out}"
    );
    let (ok, out) = run(cp.helm().args([
        "template",
        "--kube-version",
        crate::harness::KUBE_VERSION,
        "lso",
        &archive,
        "-n",
        "media",
        "--set",
        "fullnameOverride=media-snap",
        "--set",
        "monitoring.prometheusRule.enabled=true",
        "--set",
        "monitoring.runbookBaseUrl=https://wiki.example.com/lso-runbooks",
    ]));
    assert!(ok, "{out}");
    for want in [
        "name: media-snap\n",
        "name: media-snap-edit\n",
        "name: media-snap-view\n",
        "helm.sh/hook: test",
        "- probe",
        "- http://media-snap-metrics.media.svc:8080/readyz",
        "runbook_url: https://wiki.example.com/lso-runbooks#livesnapshotoperatornoleader",
    ] {
        assert!(out.contains(want), "the render has {want}: {out}");
    }
    assert!(
        !out.contains("runbook_url: https://github.com"),
        "every runbook link follows monitoring.runbookBaseUrl"
    );

    // Installed from the archive, as users do. NOTES point at nothing in this repository.
    let system = "e2e-aggregate-system";
    let (ok, notes) = run(cp
        .helm()
        .args([
            "install",
            "agg",
            &archive,
            "-n",
            system,
            "--create-namespace",
        ])
        .args([
            "--set",
            "fullnameOverride=e2e-agg",
            "--set",
            &format!("watch.namespaces={{{}}}", s.ns),
        ]));
    assert!(ok, "helm install from the archive: {notes}");
    assert!(
        notes.contains("lst,vas,msj")
            && notes.contains("helm show crds")
            && !notes.contains("-f crds/"),
        "NOTES name the three kinds and how to upgrade CRDs without a clone: {notes}"
    );

    // The built-in roles, filled by the real aggregation controller.
    cp.start_controller_manager("clusterrole-aggregation")
        .expect("kube-controller-manager starts");
    for (user, role) in [("alice", "edit"), ("bob", "view")] {
        let (ok, out) = run(cp.kubectl().args([
            "create",
            "rolebinding",
            &format!("{user}-{role}"),
            &format!("--clusterrole={role}"),
            &format!("--user={user}"),
            "-n",
            &s.ns,
        ]));
        assert!(ok, "{out}");
    }
    // `kubectl auth can-i VERB TYPE/NAME` would read "x/status" as an object named status: a
    // subresource is given with its own flag.
    let can = |user: &str, verb: &str, resource: &str| {
        let (resource, sub) = resource.split_once('/').unwrap_or((resource, ""));
        let mut cmd = cp.kubectl();
        cmd.args(["auth", "can-i", verb, resource, "-n", &s.ns, "--as", user]);
        if !sub.is_empty() {
            cmd.arg(format!("--subresource={sub}"));
        }
        let (_, out) = run(&mut cmd);
        out.trim() == "yes"
    };
    eventually("edit and view to gain the three kinds", || async {
        KINDS
            .iter()
            .all(|k| can("alice", "create", k) && can("bob", "get", k))
            .then_some(())
    })
    .await;
    for kind in KINDS {
        for verb in ["create", "update", "patch", "delete", "list", "watch"] {
            assert!(can("alice", verb, kind), "edit may {verb} {kind}");
        }
        for verb in ["patch", "update"] {
            assert!(
                !can("alice", verb, &format!("{kind}/status")),
                "edit may not {verb} {kind}/status: status is the operator's record"
            );
        }
        assert!(can("bob", "list", kind), "view may list {kind}");
        assert!(!can("bob", "create", kind), "view may not create {kind}");
        assert!(
            !can("bob", "patch", &format!("{kind}/status")),
            "view may not patch {kind}/status"
        );
    }
    let (ok, out) = run(cp.helm().args(["uninstall", "agg", "-n", system]));
    assert!(ok, "{out}");
}
