//! The dashboard and alert rules shipped in the chart query only metrics the operator exports:
//! every `live_snapshot_operator_*` name in their PromQL must appear on `/metrics` as scraped
//! from a running operator.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::harness::{Scenario, Shared, eventually, spec};

/// Every operator metric name a PromQL expression mentions.
fn names_in(expr: &str) -> Vec<String> {
    const PREFIX: &str = "live_snapshot_operator_";
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(i) = rest.find(PREFIX) {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        out.push(tail[..end].to_string());
        rest = &tail[end..];
    }
    out
}

/// The sample names an exposition can carry, from its `# TYPE` lines.
fn exported(exposition: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in exposition.lines() {
        let mut parts = line.split_whitespace();
        if (parts.next(), parts.next()) != (Some("#"), Some("TYPE")) {
            continue;
        }
        let (Some(name), Some(kind)) = (parts.next(), parts.next()) else {
            continue;
        };
        match kind {
            "counter" => {
                names.insert(format!("{name}_total"));
            }
            "histogram" => {
                for suffix in ["_bucket", "_sum", "_count"] {
                    names.insert(format!("{name}{suffix}"));
                }
            }
            _ => {
                names.insert(name.to_string());
            }
        }
    }
    names
}

/// `promtool check rules` and `promtool test rules` (one unit test or more per alert), with
/// promtool built from the pinned Prometheus module (scripts/test.sh builds it beforehand).
pub async fn alert_rules_pass_promtool(shared: Arc<Shared>) {
    let repo = shared.repo.clone();
    tokio::task::spawn_blocking(move || {
        let run = |cmd: &mut std::process::Command| {
            let out = cmd.current_dir(&repo).output().expect("runs");
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            (out.status.success(), text)
        };
        let (ok, dir) =
            run(std::process::Command::new("bash").arg("tests/monitoring/tools/build.sh"));
        assert!(ok, "building promtool: {dir}");
        let promtool =
            std::path::Path::new(dir.lines().last().unwrap_or_default().trim()).join("promtool");
        let (ok, out) = run(std::process::Command::new(&promtool).args([
            "check",
            "rules",
            "charts/live-snapshot-operator/files/alerts.yaml",
        ]));
        assert!(
            ok && out.contains("SUCCESS: 6 rules found"),
            "promtool check rules: {out}"
        );
        let (ok, out) = run(std::process::Command::new(&promtool).args([
            "test",
            "rules",
            "tests/monitoring/alerts.test.yaml",
        ]));
        assert!(ok && out.contains("SUCCESS"), "promtool test rules: {out}");
        // Every alert has at least one unit test that expects it to fire.
        let tests =
            std::fs::read_to_string(repo.join("tests/monitoring/alerts.test.yaml")).unwrap();
        let rules =
            std::fs::read_to_string(repo.join("charts/live-snapshot-operator/files/alerts.yaml"))
                .unwrap();
        for line in rules
            .lines()
            .filter_map(|l| l.trim().strip_prefix("- alert: "))
        {
            assert!(
                tests.contains(&format!("alertname: {line}")),
                "alert {line} has a promtool unit test"
            );
        }
    })
    .await
    .unwrap();
}

pub async fn dashboard_and_alerts_query_only_exported_metrics(shared: Arc<Shared>) {
    let chart = shared.repo.join("charts/live-snapshot-operator/files");
    let mut s = Scenario::new(shared.clone(), "observability").await;
    s.start_operator();
    s.create("cam", spec("cam")).await;
    s.wait_ready("cam").await;
    // A failure too, so the failure counters have samples (a family without any is not shown).
    s.create(
        "nokey",
        crate::harness::with(
            spec("nokey"),
            serde_json::json!({"credentialsSecretRef": {"name": "absent"}}),
        ),
    )
    .await;
    s.wait_condition("nokey", "Synced", "False", Some("SecretMissing"))
        .await;
    // The template gauges are refreshed every few seconds.
    let have = eventually("the template gauge to be exported", || async {
        let have = exported(&s.metrics().encode());
        have.contains("live_snapshot_operator_templates")
            .then_some(have)
    })
    .await;

    let mut wanted: Vec<(String, String)> = Vec::new();
    let rules: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(chart.join("alerts.yaml")).unwrap()).unwrap();
    let groups = rules["groups"].as_sequence().expect("rule groups");
    let mut alerts = 0;
    for rule in groups
        .iter()
        .flat_map(|g| g["rules"].as_sequence().cloned().unwrap_or_default())
    {
        alerts += 1;
        let name = rule["alert"].as_str().unwrap_or_default().to_string();
        for key in ["summary", "description", "runbook"] {
            assert!(
                rule["annotations"][key]
                    .as_str()
                    .is_some_and(|v| !v.is_empty()),
                "alert {name} has a {key}"
            );
        }
        for m in names_in(rule["expr"].as_str().unwrap_or_default()) {
            wanted.push((format!("alert {name}"), m));
        }
    }
    assert!(
        alerts >= 6,
        "the rules cover the alerts the README documents"
    );
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(chart.join("dashboard.json")).unwrap())
            .unwrap();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().cloned().unwrap_or_default() {
            for m in names_in(target["expr"].as_str().unwrap_or_default()) {
                wanted.push((format!("panel {}", panel["title"]), m));
            }
        }
    }
    assert!(wanted.len() > 10, "names were found in the queries");
    let missing: Vec<_> = wanted.iter().filter(|(_, m)| !have.contains(m)).collect();
    assert!(
        missing.is_empty(),
        "queried but not exported: {missing:?}\nexported: {have:?}"
    );
    // Each documented alert has a runbook section in README.
    let readme = std::fs::read_to_string(shared.repo.join("README.md")).unwrap();
    for rule in groups
        .iter()
        .flat_map(|g| g["rules"].as_sequence().cloned().unwrap_or_default())
    {
        let name = rule["alert"].as_str().unwrap_or_default();
        assert!(
            readme.contains(&format!("#### {name}")),
            "README has a runbook for {name}"
        );
    }
}
