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
        for key in ["summary", "description", "runbook_url"] {
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
        "the rules cover the alerts docs/alerts.md documents"
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
    // Each alert's runbook_url is absolute and points at its own section of docs/alerts.md.
    let runbooks = std::fs::read_to_string(shared.repo.join("docs/alerts.md")).unwrap();
    for rule in groups
        .iter()
        .flat_map(|g| g["rules"].as_sequence().cloned().unwrap_or_default())
    {
        let name = rule["alert"].as_str().unwrap_or_default();
        let url = rule["annotations"]["runbook_url"]
            .as_str()
            .unwrap_or_default();
        assert!(
            url.starts_with("https://")
                && url.ends_with(&format!("/docs/alerts.md#{}", name.to_lowercase())),
            "alert {name}: runbook_url {url} is absolute and names its section"
        );
        assert!(
            runbooks.contains(&format!("\n## {name}\n")),
            "docs/alerts.md has a runbook for {name}"
        );
    }
}

/// One exported span: name, attributes as text, ids.
#[derive(Clone, Debug)]
struct Exported {
    name: String,
    attributes: std::collections::BTreeMap<String, String>,
    span_id: Vec<u8>,
    parent: Vec<u8>,
}

/// An OTLP/HTTP receiver on 127.0.0.1: decodes every `/v1/traces` export it is sent.
async fn otlp_receiver() -> (String, Arc<std::sync::Mutex<Vec<Exported>>>) {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    use prost::Message;
    let spans: Arc<std::sync::Mutex<Vec<Exported>>> = Arc::default();
    let sink = spans.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: axum::body::Bytes| {
            let sink = sink.clone();
            async move {
                let Ok(req) = ExportTraceServiceRequest::decode(body) else {
                    return axum::http::StatusCode::BAD_REQUEST;
                };
                let mut out = sink.lock().unwrap();
                for span in req
                    .resource_spans
                    .into_iter()
                    .flat_map(|r| r.scope_spans)
                    .flat_map(|s| s.spans)
                {
                    let attributes = span
                        .attributes
                        .iter()
                        .map(|kv| {
                            let v = match kv.value.as_ref().and_then(|v| v.value.clone()) {
                                Some(Value::StringValue(s)) => s,
                                Some(Value::IntValue(i)) => i.to_string(),
                                Some(Value::BoolValue(b)) => b.to_string(),
                                Some(Value::DoubleValue(d)) => d.to_string(),
                                other => format!("{other:?}"),
                            };
                            (kv.key.clone(), v)
                        })
                        .collect();
                    out.push(Exported {
                        name: span.name,
                        attributes,
                        span_id: span.span_id,
                        parent: span.parent_span_id,
                    });
                }
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (endpoint, spans)
}

/// `--otlp-endpoint`: the operator binary's reconcile spans arrive at a collector with the
/// object and outcome, and its upstream calls as child spans with operation, status and
/// request id.
pub async fn spans_reach_an_otlp_collector(shared: Arc<Shared>) {
    let s = Scenario::new(shared.clone(), "otlp").await;
    let (collector, spans) = otlp_receiver().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_live-snapshot-operator"))
        .args([
            "run",
            "--endpoint",
            &s.endpoint,
            "--project-id",
            crate::harness::PROJECT,
        ])
        .args([
            "--namespace",
            &s.ns,
            "--default-credentials-namespaces",
            &s.ns,
        ])
        .args(["--http-addr", &format!("127.0.0.1:{port}")])
        .args(["--otlp-endpoint", &collector])
        .env("KUBECONFIG", &shared.cp.kubeconfig)
        .env("CLOUD_SDK_AK", crate::harness::AK)
        .env("CLOUD_SDK_SK", crate::harness::SK)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the operator binary starts");
    s.create("cam", spec("cam")).await;
    s.wait_ready("cam").await;
    let (reconcile, upstream) = eventually("spans at the collector", || async {
        let all = spans.lock().unwrap().clone();
        // The reconcile that created the template, and its create call.
        all.iter()
            .filter(|sp| {
                sp.name == "reconcile"
                    && sp.attributes.get("name").map(String::as_str) == Some("cam")
                    && sp.attributes.get("outcome").map(String::as_str) == Some("success")
            })
            .find_map(|r| {
                let call = all.iter().find(|sp| {
                    sp.name == "upstream"
                        && sp.parent == r.span_id
                        && sp.attributes.get("operation").map(String::as_str) == Some("create")
                })?;
                Some((r.clone(), call.clone()))
            })
    })
    .await;
    assert_eq!(
        reconcile.attributes.get("kind").map(String::as_str),
        Some("LiveSnapshotTemplate")
    );
    assert_eq!(
        reconcile.attributes.get("namespace"),
        Some(&s.ns),
        "{reconcile:?}"
    );
    assert_eq!(
        upstream.attributes.get("status").map(String::as_str),
        Some("200")
    );
    assert!(
        upstream
            .attributes
            .get("request_id")
            .is_some_and(|r| r.len() == 32),
        "the simulator's request id is on the span: {upstream:?}"
    );
    let _ = child.kill().await;
}
