//! What GitOps tools read off the objects the operator writes: the Argo CD health check shipped
//! in deploy/argocd (run by a real Lua 5.1, as Argo CD's gopher-lua is) and kstatus, which Flux
//! uses (run by a checker built from the pinned sigs.k8s.io/cli-utils module).

use std::io::Write;
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::sync::Arc;

use live_snapshot_operator::clouds::huawei::{LiveSnapshotConfig, ObsLocation};
use lso_sim::FaultSettings;
use serde_json::{Value, json};

use crate::harness::{Scenario, Shared, spec};

/// A JSON value as a Lua table constructor, the shape Argo CD hands its health scripts.
fn lua(v: &Value) -> String {
    match v {
        Value::Null => "nil".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => {
            let mut out = String::from("\"");
            for b in s.bytes() {
                match b {
                    b'"' | b'\\' => {
                        out.push('\\');
                        out.push(b as char);
                    }
                    0x20..=0x7e => out.push(b as char),
                    _ => out.push_str(&format!("\\{b}")),
                }
            }
            out.push('"');
            out
        }
        Value::Array(items) => format!(
            "{{{}}}",
            items.iter().map(lua).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("[{}] = {}", lua(&Value::String(k.clone())), lua(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn piped(cmd: &mut Command, input: &str) -> String {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tool runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("input written");
    let out = child.wait_with_output().expect("tool ends");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct Readers {
    health: std::path::PathBuf,
    kstatus: std::path::PathBuf,
}

impl Readers {
    fn new(repo: &std::path::Path) -> Self {
        let out = Command::new("bash")
            .arg("tests/e2e/kstatus/build.sh")
            .current_dir(repo)
            .output()
            .expect("build.sh runs");
        assert!(
            out.status.success(),
            "building kstatus: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Readers {
            health: repo.join("deploy/argocd/health.lua"),
            kstatus: String::from_utf8_lossy(&out.stdout).trim().into(),
        }
    }

    /// (Argo CD health, its message, kstatus) of an object as the API server has it.
    async fn read(&self, s: &Scenario, name: &str) -> (String, String, String) {
        let obj = serde_json::to_value(s.dynamic().get(name).await.expect("object")).unwrap();
        let script = format!(
            "obj = {}\nlocal check = assert(loadfile({}))\nlocal hs = check()\nio.write(hs.status, \"\\t\", hs.message or \"\")\n",
            lua(&obj),
            lua(&Value::String(self.health.display().to_string()))
        );
        let argo = piped(Command::new("lua5.1").arg("-"), &script);
        let (health, message) = argo.split_once('\t').unwrap_or((&argo, ""));
        let ks = piped(&mut Command::new(&self.kstatus), &format!("{obj}\n"));
        let ks = ks.split('\t').next().unwrap_or_default().to_string();
        (health.to_string(), message.to_string(), ks)
    }

    /// Polls until the object reads `health` in Argo CD and `kstatus` in kstatus.
    async fn wait(&self, s: &Scenario, name: &str, health: &str, kstatus: &str) -> String {
        crate::harness::eventually(&format!("{name} reads {health}/{kstatus}"), || async {
            let (h, m, k) = self.read(s, name).await;
            (h == health && k == kstatus).then_some(m)
        })
        .await
    }
}

pub async fn argo_cd_health_and_kstatus_read_every_state(shared: Arc<Shared>) {
    let mut s = Scenario::new(shared.clone(), "gitops-health").await;
    let readers = Readers::new(&shared.repo);
    s.start_operator();

    // Ready: Healthy and Current.
    s.create("ok", spec("ok")).await;
    s.wait_ready("ok").await;
    readers.wait(&s, "ok", "Healthy", "Current").await;

    // A spec change the operator has not seen yet: Progressing and InProgress.
    s.stop_operator().await;
    s.patch_spec("ok", json!({"timeInterval": 20})).await;
    let (h, m, k) = readers.read(&s, "ok").await;
    assert_eq!(
        (h.as_str(), k.as_str()),
        ("Progressing", "InProgress"),
        "{m}"
    );
    assert!(m.contains("generation 2"), "{m}");
    s.start_operator();
    readers.wait(&s, "ok", "Healthy", "Current").await;

    // Refused upstream for good (an unknown push domain): Degraded and Failed, with the code.
    s.sim.faults.set(FaultSettings {
        error_rate: [("create".to_string(), 1.0)].into(),
        error_status: Some(400),
        error_code: Some("LIVE.100011001".into()),
        ..Default::default()
    });
    s.create("bad", spec("bad")).await;
    let m = readers.wait(&s, "bad", "Degraded", "Failed").await;
    assert!(
        m.starts_with("InvalidSpec: ") && m.contains("LIVE.100011001"),
        "{m}"
    );

    // Failing but retrying (the service answers 500): Progressing and InProgress, then Healthy.
    s.sim.faults.set(FaultSettings {
        error_rate: [("create".to_string(), 1.0)].into(),
        error_status: Some(500),
        ..Default::default()
    });
    s.create("busy", spec("busy")).await;
    let m = readers.wait(&s, "busy", "Progressing", "InProgress").await;
    assert!(m.contains("retrying in"), "{m}");
    s.sim.faults.set(FaultSettings::default());
    readers.wait(&s, "busy", "Healthy", "Current").await;

    // Someone else's template, not adopted: Degraded and Failed until a person decides.
    s.sim
        .store
        .insert_new(
            crate::harness::PROJECT,
            LiveSnapshotConfig {
                domain: "push.example.com".into(),
                app_name: "theirs".into(),
                time_interval: 30,
                obs_location: ObsLocation {
                    bucket: "their-bucket".into(),
                    location: "cn-north-4".into(),
                    object: "theirs/".into(),
                },
                ..Default::default()
            },
        )
        .unwrap();
    s.create("theirs", spec("theirs")).await;
    let m = readers.wait(&s, "theirs", "Degraded", "Failed").await;
    assert!(m.starts_with("AlreadyExists: "), "{m}");

    // Paused: Suspended in Argo CD, whatever the last state was.
    s.annotate("ok", "live.snapshot.dev/paused", "true").await;
    let (h, _, _) = readers.read(&s, "ok").await;
    assert_eq!(h, "Suspended");
}

/// `validate` and the API server give the same verdict on every example, every edge case that
/// must pass and every manifest that must not; where both refuse, the server names the field
/// `validate` names.
pub async fn validate_agrees_with_the_api_server(shared: Arc<Shared>) {
    use live_snapshot_operator::gitops::{manifests, validate};
    let s = Scenario::new(shared.clone(), "gitops-validate").await;
    let repo = &shared.repo;
    let kinds = validate::served_kinds();
    // The hand-written corpus: each case with the verdict it must get.
    let mut cases: Vec<(String, Value, Option<bool>)> = Vec::new();
    for (path, want_valid) in [
        (repo.join("examples"), true),
        (repo.join("tests/gitops/valid.yaml"), true),
        (repo.join("tests/gitops/invalid.yaml"), false),
    ] {
        for doc in manifests::read(std::slice::from_ref(&path)).expect("corpus reads") {
            if doc.value["apiVersion"]
                .as_str()
                .is_some_and(|v| v.starts_with("live.snapshot.dev/"))
            {
                cases.push((
                    format!("{}:{}", doc.source, doc.index),
                    doc.value,
                    Some(want_valid),
                ));
            }
        }
    }
    // Generated from the CRDs: both sides of every bound (minimum, maximum, lengths, item
    // counts) and every enum, on each valid manifest of the corpus as a base.
    let bases: Vec<Value> = cases
        .iter()
        .filter(|(_, _, want)| *want == Some(true))
        .map(|(_, v, _)| v.clone())
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    for base in &bases {
        let Some(kind) = kinds.iter().find(|k| k.kind == base["kind"]) else {
            continue;
        };
        for (what, case) in bound_cases(&kind.schema["properties"]["spec"], base) {
            if seen.insert(case.to_string()) {
                cases.push((format!("{} {what}", kind.kind), case, None));
            }
        }
    }

    let mut per_kind = std::collections::BTreeMap::<String, (usize, usize)>::new();
    let mut messages = std::collections::BTreeSet::new();
    for (at, value, want_valid) in &cases {
        let doc = manifests::Document {
            source: at.clone(),
            index: 0,
            value: value.clone(),
        };
        let verdict = validate::validate(std::slice::from_ref(&doc));
        let ours = verdict.findings.is_empty();
        let (accepted, server) = dry_run_create(&s, value).await;
        assert_eq!(
            ours, accepted,
            "{at}: validate says {:?}, the API server says {server:?}\n{value}",
            verdict.findings
        );
        if let Some(want) = want_valid {
            assert_eq!(ours, *want, "{at}: {:?}", verdict.findings);
        }
        if let Some(first) = verdict.findings.first()
            && !first.field.is_empty()
        {
            let field = first.field.trim_start_matches("metadata.");
            assert!(
                server.contains(field),
                "{at}: the server does not name {field}: {server}"
            );
        }
        let entry = per_kind
            .entry(value["kind"].as_str().unwrap_or_default().to_string())
            .or_default();
        if ours {
            entry.0 += 1;
        } else {
            entry.1 += 1;
        }
        messages.extend(verdict.findings.iter().map(|f| f.message.clone()));
    }
    println!(
        "validate agrees with the API server on {} cases: {per_kind:?} (valid, refused) per kind, {} distinct findings",
        cases.len(),
        messages.len()
    );
    assert!(
        cases.len() >= 100,
        "only {} manifests compared",
        cases.len()
    );
    for kind in ["LiveSnapshotTemplate", "VodAssetSnapshot", "MpsSnapshotJob"] {
        let (valid, refused) = per_kind.get(kind).copied().unwrap_or_default();
        assert!(
            valid >= 3 && refused >= 5,
            "{kind}: {valid} valid, {refused} refused"
        );
    }

    // The command itself, as CI runs it: exit codes and machine output.
    let bin = env!("CARGO_BIN_EXE_live-snapshot-operator");
    let run = |args: &[&str]| {
        Command::new(bin)
            .args(args)
            .current_dir(repo)
            .output()
            .expect("validate runs")
    };
    let out = run(&["validate", "examples", "tests/gitops/valid.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = run(&["validate", "--output", "json", "tests/gitops/invalid.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json output");
    let docs: std::collections::BTreeSet<u64> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["document"].as_u64())
        .collect();
    assert_eq!(
        docs.len() as u64,
        v["checked"].as_u64().unwrap(),
        "every invalid document is named"
    );

    // A repository with a broken file, a near miss of the API group and a valid object: the
    // broken file is reported and skipped, the typo is an error, the rest is still checked.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("broken.yaml"), "kind: [unclosed\n").unwrap();
    std::fs::write(
        dir.path().join("typo.yaml"),
        "apiVersion: live.snapshots.dev/v1alpha1\nkind: LiveSnapshotTemplate\nmetadata: {name: typo}\nspec: {}\n",
    )
    .unwrap();
    std::fs::copy(repo.join("examples/basic.yaml"), dir.path().join("ok.yaml")).unwrap();
    let d = dir.path().display().to_string();
    let out = run(&["validate", &d]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        text.contains("broken.yaml:1: not YAML, skipped")
            && text.contains("did you mean \"live.snapshot.dev\"")
            && !text.contains("ok.yaml"),
        "{text}"
    );
    let out = run(&["validate", "--output", "junit", &d]);
    let junit = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        junit.starts_with("<?xml")
            && junit.contains("tests=\"3\" failures=\"2\"")
            && junit.contains("LiveSnapshotTemplate/live-every-10s (document 1)\"></testcase>"),
        "{junit}"
    );
    let out = run(&["validate", "--output", "github", &d]);
    let github = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(
        github
            .lines()
            .filter(|l| l.starts_with("::error file="))
            .count(),
        2,
        "{github}"
    );

    // --crd: the rules of the CRD a cluster runs, not the built-in ones. An older CRD that
    // allowed a 1-second interval accepts what the built-in one refuses.
    let crd_file = dir.path().join("crd.yaml");
    let crd = std::fs::read_to_string(repo.join("crds/livesnapshottemplates.yaml"))
        .unwrap()
        .replacen("minimum: 5.0", "minimum: 1.0", 1);
    assert!(
        crd.contains("minimum: 1.0"),
        "the interval's minimum is in the CRD"
    );
    std::fs::write(&crd_file, crd).unwrap();
    let fast = dir.path().join("fast");
    std::fs::create_dir(&fast).unwrap();
    std::fs::write(
        fast.join("fast.yaml"),
        std::fs::read_to_string(repo.join("examples/basic.yaml"))
            .unwrap()
            .replace("timeInterval: 10", "timeInterval: 2"),
    )
    .unwrap();
    let f = fast.display().to_string();
    assert_eq!(run(&["validate", &f]).status.code(), Some(1));
    let out = run(&["validate", "--crd", &crd_file.display().to_string(), &f]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

/// A JSON encoder for what a Lua script returns, so the runner can compare it with the expected
/// output (arrays are tables with a length; an empty table is an object).
const LUA_JSON: &str = r#"
local function encode(v)
  local t = type(v)
  if t == "nil" then return "null" end
  if t == "boolean" then return tostring(v) end
  if t == "number" then
    if v == math.floor(v) then return string.format("%d", v) end
    return string.format("%.17g", v)
  end
  if t == "string" then
    return '"' .. v:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end) .. '"'
  end
  local parts = {}
  if #v > 0 then
    for _, item in ipairs(v) do table.insert(parts, encode(item)) end
    return "[" .. table.concat(parts, ",") .. "]"
  end
  for k, item in pairs(v) do table.insert(parts, encode(tostring(k)) .. ":" .. encode(item)) end
  return "{" .. table.concat(parts, ",") .. "}"
end
"#;

/// Argo CD's own test layout, run with lua5.1 (Argo CD's gopher-lua is Lua 5.1): for each kind,
/// resource_customizations/live.snapshot.dev/<Kind>/health_test.yaml with its testdata, and
/// actions/action_test.yaml (discovery, then each action's output) for reconcile-now, pause
/// and resume.
pub async fn argo_cd_customizations_pass_their_tests(shared: Arc<Shared>) {
    let repo = shared.repo.clone();
    tokio::task::spawn_blocking(move || {
        let root = repo.join("deploy/argocd/resource_customizations/live.snapshot.dev");
        let yaml = |p: &std::path::Path| -> Value {
            serde_yaml::from_str(
                &std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{p:?}: {e}")),
            )
            .unwrap()
        };
        let run_lua = |script: &std::path::Path, obj: &Value, show: &str| -> String {
            let program = format!(
                "{LUA_JSON}\nobj = {}\nlocal result = assert(loadfile({}))()\n{show}\n",
                lua(obj),
                lua(&Value::String(script.display().to_string()))
            );
            piped(Command::new("lua5.1").arg("-"), &program)
        };
        let mut count = 0;
        for kind in ["LiveSnapshotTemplate", "VodAssetSnapshot", "MpsSnapshotJob"] {
            let dir = root.join(kind);
            for test in yaml(&dir.join("health_test.yaml"))["tests"]
                .as_array()
                .unwrap()
            {
                let input = yaml(&dir.join(test["inputPath"].as_str().unwrap()));
                let out = run_lua(
                    &dir.join("health.lua"),
                    &input,
                    "io.write(result.status, \"\\t\", result.message or \"\")",
                );
                let (status, message) = out.split_once('\t').unwrap_or((&out, ""));
                let want = &test["healthStatus"];
                assert_eq!(status, want["status"], "{kind} {}", test["inputPath"]);
                if let Some(m) = want["message"].as_str() {
                    assert_eq!(message, m, "{kind} {}", test["inputPath"]);
                }
                count += 1;
            }
            let actions = dir.join("actions");
            let tests = yaml(&actions.join("action_test.yaml"));
            for test in tests["discoveryTests"].as_array().unwrap() {
                let input = yaml(&actions.join(test["inputPath"].as_str().unwrap()));
                let out = run_lua(
                    &actions.join("discovery.lua"),
                    &input,
                    "io.write(encode(result))",
                );
                let offered: Value = serde_json::from_str(&out).unwrap();
                for want in test["result"].as_array().unwrap() {
                    let name = want["name"].as_str().unwrap();
                    assert_eq!(
                        offered[name]["disabled"], want["disabled"],
                        "{kind}: action {name} on {}: {offered}",
                        test["inputPath"]
                    );
                }
                count += 1;
            }
            for test in tests["actionTests"].as_array().unwrap() {
                let action = test["action"].as_str().unwrap();
                let input = yaml(&actions.join(test["inputPath"].as_str().unwrap()));
                let out = run_lua(
                    &actions.join(action).join("action.lua"),
                    &input,
                    "io.write(encode(result))",
                );
                let mut got: Value = serde_json::from_str(&out).unwrap();
                let want = yaml(&actions.join(test["expectedOutputPath"].as_str().unwrap()));
                // "<timestamp>" stands for the time the action ran.
                let key = "live.snapshot.dev/reconcile-requested-at";
                if want["metadata"]["annotations"][key] == "<timestamp>" {
                    let at = got["metadata"]["annotations"][key]
                        .as_str()
                        .unwrap_or_default();
                    assert!(
                        jiff::Timestamp::from_str(at).is_ok() && at.ends_with('Z'),
                        "{kind} {action}: {at:?} is an RFC 3339 time"
                    );
                    got["metadata"]["annotations"][key] = json!("<timestamp>");
                }
                assert_eq!(got, want, "{kind}: {action} on {}", test["inputPath"]);
                count += 1;
            }
        }
        println!(
            "Argo CD customizations: {count} health, discovery and action tests pass under lua5.1"
        );
        assert!(count >= 3 * 11, "{count} tests");
    })
    .await
    .unwrap();
}

/// kubeconform, built from its pinned module, reads the schemas `scripts/generate.sh` writes:
/// it passes `examples/`, and on the invalid corpus it refuses exactly the cases the
/// structural schema can express; the rest (CEL rules) only `validate` catches.
pub async fn kubeconform_reads_the_generated_schemas(shared: Arc<Shared>) {
    use live_snapshot_operator::gitops::{manifests, validate};
    let repo = shared.repo.clone();
    tokio::task::spawn_blocking(move || {
        let out = Command::new("bash")
            .args(["scripts/tools/build.sh", "kubeconform"])
            .current_dir(&repo)
            .output()
            .expect("build.sh runs");
        assert!(out.status.success(), "{out:?}");
        let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let kubeconform = std::path::Path::new(&dir).join("kubeconform");
        let schemas = format!(
            "{}/schemas/{{{{ .ResourceKind }}}}_{{{{ .ResourceAPIVersion }}}}.json",
            repo.display()
        );
        let run = |args: &[&str], stdin: Option<&str>| {
            let mut child = Command::new(&kubeconform)
                .args(["-strict", "-summary", "-ignore-missing-schemas", "-schema-location"])
                .arg(&schemas)
                .args(args)
                .current_dir(&repo)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("kubeconform runs");
            if let Some(text) = stdin {
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(text.as_bytes())
                    .unwrap();
            }
            drop(child.stdin.take());
            let out = child.wait_with_output().unwrap();
            (
                out.status.success(),
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
            )
        };
        let (ok, out) = run(&["examples/"], None);
        assert!(ok && out.contains("Valid: 5"), "kubeconform examples/: {out}");

        let kinds = validate::served_kinds();
        let docs = manifests::read(&[repo.join("tests/gitops/invalid.yaml")]).unwrap();
        let (mut refused, mut only_validate) = (0, Vec::new());
        for doc in &docs {
            let Some(kind) = kinds.iter().find(|k| k.kind == doc.value["kind"]) else {
                continue;
            };
            let text = serde_yaml::to_string(&doc.value).unwrap();
            let (ok, out) = run(&["-"], Some(&text));
            let expressible = !kind.structurally_valid(&doc.value);
            assert_eq!(
                !ok, expressible,
                "document {}: kubeconform {} what the structural schema {}: {out}",
                doc.index,
                if ok { "passes" } else { "refuses" },
                if expressible { "refuses" } else { "passes" }
            );
            if ok {
                let findings = validate::validate(std::slice::from_ref(doc)).findings;
                assert!(!findings.is_empty(), "validate refuses document {}", doc.index);
                only_validate.push(format!("{}: {}", doc.index, findings[0]));
            } else {
                refused += 1;
            }
        }
        println!(
            "kubeconform refuses {refused} of {} invalid manifests; only validate catches {}:\n  {}",
            refused + only_validate.len(),
            only_validate.len(),
            only_validate.join("\n  ")
        );
        assert!(refused >= 10, "kubeconform refused only {refused}");
    })
    .await
    .unwrap();
}

/// `plan` lists every kind: a repository adding one object of each kind exits 2 and names all
/// three; with `--cluster`, an object the repository no longer has is shown as deleted or
/// orphaned per its deletionPolicy; a refused adoption fails the plan when asked to; the JSON
/// carries a format version; Markdown is a PR comment.
pub async fn plan_lists_every_kind_and_what_the_repository_removed(shared: Arc<Shared>) {
    let s = Scenario::new(shared.clone(), "gitops-plan-kinds").await;
    let ns = s.ns.clone();
    let with_kind = |kind: &str, name: &str, spec: Value| {
        let obj = json!({
            "apiVersion": "live.snapshot.dev/v1alpha1", "kind": kind,
            "metadata": {"name": name, "namespace": ns},
            "spec": spec,
        });
        format!("---\n{}", serde_yaml::to_string(&obj).unwrap_or_default())
    };
    let vod = json!({"assetId": "6e7605d4cb0b4fc9b2f5bf00c2cb511f",
                     "thumbnail": {"type": "time", "time": 10}, "cover": {"offset": 20}});
    let mps = json!({"region": "cn-shanghai", "pipelineId": "b11c171cced04565b1f38f1ecc39aaaa",
        "input": {"bucket": "media-in", "location": "oss-cn-shanghai", "object": "v.mp4"},
        "output": {"bucket": "media-out", "location": "oss-cn-shanghai", "object": "t-{Count}.jpg"},
        "snapshot": {"timeMs": 0}, "credentialsSecretRef": {"name": "aliyun"}});
    let repo = [
        with_kind("LiveSnapshotTemplate", "cam", spec("cam")),
        with_kind("VodAssetSnapshot", "launch", vod.clone()),
        with_kind("MpsSnapshotJob", "thumbs", mps.clone()),
    ]
    .concat();
    let (code, plan, err) = toolkit(&s, &["plan", "-"], Some(&repo));
    assert_eq!(code, Some(2), "{plan}{err}");
    for want in [
        "+ create: LiveSnapshotTemplate",
        "+ create: VodAssetSnapshot",
        "+ create: MpsSnapshotJob",
        "Objects: 1 LiveSnapshotTemplate, 1 VodAssetSnapshot, 1 MpsSnapshotJob.",
    ] {
        assert!(plan.contains(want), "{want}: {plan}");
    }
    let (code, out, _) = toolkit(&s, &["plan", "--output", "json", "-"], Some(&repo));
    let v: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        (code, v["formatVersion"].as_i64()),
        (Some(2), Some(1)),
        "{out}"
    );
    assert_eq!(v["objects"].as_array().map(Vec::len), Some(3), "{out}");
    let (_, md, _) = toolkit(&s, &["plan", "--output", "markdown", "-"], Some(&repo));
    assert!(
        md.starts_with("### live-snapshot-operator plan") && md.contains("| MpsSnapshotJob |"),
        "{md}"
    );

    // In the cluster: an owned template (deletionPolicy Delete), an orphaning one, an asset
    // snapshot, and a job. The repository then keeps only the job.
    s.create_secret(
        "aliyun",
        &[
            ("accessKey", "LTAI5tE2EKey000001"),
            ("secretKey", "e2eSecret"),
        ],
    )
    .await;
    s.create("cam", spec("cam")).await;
    s.create(
        "keep",
        crate::harness::with(spec("keep"), json!({"deletionPolicy": "Orphan"})),
    )
    .await;
    s.create_vod("launch", vod).await;
    s.create_kind_json::<live_snapshot_operator::kinds::mps::resource::MpsSnapshotJob>(
        "thumbs",
        mps.clone(),
    )
    .await
    .expect("job object");
    // Ownership as the operator records it (no operator runs here: the plan only reads).
    let owned = json!({"status": {"ownership": {"state": "Created",
        "since": "2026-12-01T10:00:00Z", "projectId": crate::harness::PROJECT,
        "endpoint": s.endpoint}}});
    s.dynamic()
        .patch_status(
            "cam",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&owned),
        )
        .await
        .expect("ownership recorded");
    let only_job = with_kind("MpsSnapshotJob", "thumbs", mps);
    let (code, plan, err) = toolkit(&s, &["plan", "--cluster", "-"], Some(&only_job));
    assert_eq!(code, Some(2), "{plan}{err}");
    for want in [
        format!("- delete: LiveSnapshotTemplate {}/cam", s.ns),
        format!(
            "- remove, keep upstream: LiveSnapshotTemplate {}/keep",
            s.ns
        ),
        format!("VodAssetSnapshot {}/launch", s.ns),
        "not submitted yet".to_string(),
    ] {
        assert!(plan.contains(&want), "{want}: {plan}");
    }
}

/// Runs the operator binary's GitOps subcommands against the scenario's simulator.
fn toolkit(s: &Scenario, args: &[&str], stdin: Option<&str>) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_live-snapshot-operator"));
    cmd.args(args)
        .env("LIVE_ENDPOINT", &s.endpoint)
        .env("LIVE_PROJECT_ID", crate::harness::PROJECT)
        .env("CLOUD_SDK_AK", crate::harness::AK)
        .env("CLOUD_SDK_SK", crate::harness::SK)
        .env("KUBECONFIG", &s.shared.cp.kubeconfig)
        .current_dir(&s.shared.repo)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let input = stdin.unwrap_or_default().to_string();
    // The simulator answering it runs on this runtime: wait without holding a worker.
    let out = tokio::task::block_in_place(move || {
        let mut child = cmd.spawn().expect("toolkit runs");
        let mut pipe = child.stdin.take().expect("stdin");
        let writer = std::thread::spawn(move || pipe.write_all(input.as_bytes()));
        let out = child.wait_with_output().expect("toolkit ends");
        let _ = writer.join();
        out
    });
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// One more YAML document of a manifest stream.
fn document(ns: &str, name: &str, spec: Value) -> String {
    let obj = json!({
        "apiVersion": "live.snapshot.dev/v1alpha1", "kind": "LiveSnapshotTemplate",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    });
    format!("---\n{}", serde_yaml::to_string(&obj).unwrap_or_default())
}

fn template(domain: &str, app: &str, interval: i64) -> LiveSnapshotConfig {
    LiveSnapshotConfig {
        domain: domain.into(),
        app_name: app.into(),
        time_interval: interval,
        object_write_mode: Some(1),
        snapshot_mode: Some("random".into()),
        obs_location: ObsLocation {
            bucket: "legacy-bucket".into(),
            location: "cn-north-4".into(),
            object: format!("{app}/"),
        },
        call_back_enable: Some("off".into()),
        call_back_url: Some("https://hooks.example.com/snap".into()),
        image_object_format: Some("{{.app}}/{{.stream}}".into()),
        ..Default::default()
    }
}

/// import writes what exists; plan reads it as unchanged; applied, the operator adopts every
/// template with zero upstream writes; plan then reports edits field by field, new objects and
/// two manifests claiming one template, with terraform's exit codes, and only ever reads.
pub async fn import_plan_and_adopt_round_trip(shared: Arc<Shared>) {
    let mut s = Scenario::new(shared, "gitops-import").await;
    let domains = ["a.example.com", "b.example.com"];
    let mut n = 0;
    for (d, domain) in domains.iter().enumerate() {
        for i in 0..(60 + 50 * d) {
            n += 1;
            s.sim
                .store
                .insert_new(
                    crate::harness::PROJECT,
                    template(domain, &format!("app{i}"), 10 + i as i64),
                )
                .unwrap();
        }
    }
    // Not imported: another domain.
    s.sim
        .store
        .insert_new(
            crate::harness::PROJECT,
            template("c.example.com", "other", 10),
        )
        .unwrap();

    let (code, imported, err) = toolkit(
        &s,
        &[
            "import",
            "--domain",
            domains[0],
            "--domain",
            domains[1],
            "--namespace",
            &s.ns,
        ],
        None,
    );
    assert_eq!(code, Some(0), "import: {err}");
    assert_eq!(
        imported.matches("kind: LiveSnapshotTemplate").count(),
        n,
        "{err}"
    );
    assert!(
        imported.contains("deletionPolicy: Orphan")
            && imported.contains("adoptionPolicy: IfMatching")
    );
    assert_eq!(s.writes(), 0);

    let (code, _, err) = toolkit(&s, &["validate", "-"], Some(&imported));
    assert_eq!(code, Some(0), "imported manifests validate: {err}");
    let lists = s.calls("list");
    let (code, plan, err) = toolkit(&s, &["plan", "-"], Some(&imported));
    assert_eq!(code, Some(0), "nothing to do: {plan}{err}");
    assert!(plan.contains(&format!("{n} unchanged")), "{plan}");
    // One listing per domain (60 templates: one page; 110: two), however many objects: the
    // operator's coalesced read path.
    assert_eq!(s.calls("list") - lists, 3, "{plan}");

    // Applied: adopted, every one, without an upstream write.
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &imported).unwrap();
    let (ok, out) = s.kubectl(&[
        "apply",
        "--server-side",
        "-f",
        &file.path().display().to_string(),
    ]);
    assert!(ok, "{out}");
    s.start_operator();
    crate::harness::eventually("every imported object Ready", || async {
        let objs = s.api().list(&Default::default()).await.ok()?;
        let ready = objs
            .items
            .iter()
            .filter(|o| {
                o.status.as_ref().is_some_and(|st| {
                    st.managed.ownership.as_ref().is_some_and(|w| {
                        w.state == live_snapshot_operator::kinds::live::resource::OwnershipState::Adopted
                    }) && st
                        .managed.conditions
                        .iter()
                        .any(|c| c.type_ == "Ready" && c.status == "True")
                })
            })
            .count();
        (ready == n).then_some(())
    })
    .await;
    assert_eq!(s.writes(), 0, "adoption changed nothing upstream");

    // A pull request: one edit, one new object, one object claiming another's template.
    let edited = imported.replacen("timeInterval: 10\n", "timeInterval: 45\n", 1);
    assert_ne!(edited, imported);
    let new = format!(
        "{edited}{}",
        document(&s.ns, "brand-new", spec("brand-new"))
    );
    let (code, plan, err) = toolkit(&s, &["plan", "--cluster", "-"], Some(&new));
    assert_eq!(code, Some(2), "changes: {plan}{err}");
    assert!(plan.contains("~ update: LiveSnapshotTemplate"), "{plan}");
    assert!(plan.contains("timeInterval: \"10\" -> \"45\""), "{plan}");
    assert!(plan.contains("+ create: LiveSnapshotTemplate"), "{plan}");
    assert!(
        plan.contains(&format!(
            "1 to create, 1 to update, 0 to adopt, 0 refused adoption, {} unchanged",
            n - 1
        )),
        "{plan}"
    );
    let (code, plan, _) = toolkit(&s, &["plan", "--output", "json", "-"], Some(&new));
    assert_eq!(code, Some(2));
    let v: Value = serde_json::from_str(&plan).expect("json plan");
    assert_eq!(v["exitCode"], 2);

    let clash = format!("{new}{}", document(&s.ns, "squatter", spec("brand-new")));
    let (code, plan, _) = toolkit(&s, &["plan", "-"], Some(&clash));
    assert_eq!(code, Some(1), "{plan}");
    assert_eq!(plan.matches("x conflict:").count(), 2, "{plan}");

    // Someone else's template, named by a manifest with the default adoptionPolicy Never.
    let theirs = document(
        &s.ns,
        "not-ours",
        json!({"domain": "c.example.com", "appName": "other", "timeInterval": 20,
               "obsLocation": {"bucket": "b", "location": "cn-north-4", "object": "o/"}}),
    );
    let (code, plan, _) = toolkit(&s, &["plan", "--cluster", "-"], Some(&theirs));
    assert_eq!(code, Some(0), "nothing will be written: {plan}");
    assert!(plan.contains("! adoption refused"), "{plan}");
    assert_eq!(s.writes(), 0, "plans only read");
}

/// `kubectl create --dry-run=server --validate=strict`, through the admin client: whether the
/// API server admits `obj`, and its message when not.
async fn dry_run_create(s: &Scenario, obj: &Value) -> (bool, String) {
    let api_version = obj["apiVersion"].as_str().unwrap_or_default();
    let plural = match obj["kind"].as_str().unwrap_or_default() {
        "LiveSnapshotTemplate" => "livesnapshottemplates",
        "VodAssetSnapshot" => "vodassetsnapshots",
        "MpsSnapshotJob" => "mpssnapshotjobs",
        other => return (false, format!("no resource for kind {other}")),
    };
    let url = format!(
        "/apis/{api_version}/namespaces/{}/{plural}?dryRun=All&fieldValidation=Strict",
        s.ns
    );
    let request = http::Request::post(url)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(obj).unwrap())
        .unwrap();
    match s.client.request_text(request).await {
        Ok(_) => (true, String::new()),
        Err(kube::Error::Api(e)) => (false, e.message),
        Err(e) => panic!("dry run of {obj}: {e}"),
    }
}

/// Manifests that put one field of `base`'s spec on each side of each bound its schema
/// states, named for what they try. Only fields whose parent object `base` has are tried, so
/// each case differs from a valid manifest in one place.
fn bound_cases(spec_schema: &Value, base: &Value) -> Vec<(String, Value)> {
    fn walk(schema: &Value, at: &[String], base: &Value, out: &mut Vec<(String, Value)>) {
        let Some(props) = schema["properties"].as_object() else {
            return;
        };
        let parent = at.iter().fold(base, |v, k| &v[k.as_str()]);
        if !parent.is_object() {
            return;
        }
        for (name, sub) in props {
            let mut path = at.to_vec();
            path.push(name.clone());
            let label = path.join(".");
            let mut try_value = |what: String, v: Value| {
                let mut case = base.clone();
                let mut node = &mut case;
                for k in &path[..path.len() - 1] {
                    node = &mut node[k.as_str()];
                }
                node[name.as_str()] = v;
                out.push((format!("{label} {what}"), case));
            };
            if let Some(values) = sub["enum"].as_array() {
                for v in values {
                    try_value(format!("= {v}"), v.clone());
                }
                try_value("= not in the enum".into(), json!("NotAnEnumValue"));
            }
            for (key, delta) in [("minimum", -1i64), ("maximum", 1)] {
                if let Some(bound) = sub[key].as_i64() {
                    try_value(format!("= {key} {bound}"), json!(bound));
                    try_value(format!("= {key} {bound} {delta:+}"), json!(bound + delta));
                }
            }
            for (key, delta) in [("minLength", -1i64), ("maxLength", 1)] {
                if let Some(bound) = sub[key].as_i64() {
                    for len in [bound, bound + delta] {
                        if (0..=4096).contains(&len) {
                            let v = "a".repeat(len as usize);
                            try_value(format!("length {len} ({key} {bound})"), json!(v));
                        }
                    }
                }
            }
            for (key, delta) in [("minItems", -1i64), ("maxItems", 1)] {
                if let Some(bound) = sub[key].as_i64() {
                    for len in [bound, bound + delta] {
                        if (0..=1000).contains(&len) {
                            // Distinct items, in range for the bounds of the items themselves.
                            let item = &sub["items"];
                            let low = item["minimum"].as_i64().unwrap_or(0);
                            let items: Vec<Value> = (0..len)
                                .map(|i| match item["type"].as_str() {
                                    Some("string") => json!(format!("item{i}")),
                                    _ => json!(low + i),
                                })
                                .collect();
                            try_value(format!("{len} items ({key} {bound})"), json!(items));
                        }
                    }
                }
            }
            if sub["type"] == "object" {
                walk(sub, &path, base, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(spec_schema, &["spec".to_string()], base, &mut out);
    out
}

/// `import` for the other two kinds: each snapshot task of a VOD asset and each job of an MPS
/// pipeline becomes an object that follows it by id, with no key in it. Applied, every object
/// reads its task or job into status and nothing is written upstream.
pub async fn import_follows_vod_tasks_and_mps_jobs(shared: Arc<Shared>) {
    use live_snapshot_operator::kinds::mps::resource::MpsSnapshotJob;
    use live_snapshot_operator::kinds::vod::resource::VodAssetSnapshot;
    use lso_sim::vod::store::{AssetState, ThumbnailParams};
    let mut s = Scenario::new(shared, "gitops-import-follow").await;
    const ASSET: &str = "6e7605d4cb0b4fc9b2f5bf00c2cb511f";
    s.vod.store.set_task_delay(std::time::Duration::ZERO);
    s.vod
        .store
        .put_asset(crate::harness::PROJECT, ASSET, AssetState::Published, 60);
    for time in [10, 20] {
        let params: ThumbnailParams =
            serde_json::from_value(serde_json::json!({"type": "time", "time": time, "format": 1}))
                .expect("params");
        s.vod
            .store
            .start_task(crate::harness::PROJECT, ASSET, params)
            .expect("a task");
    }
    s.mps.store.set_job_time(std::time::Duration::ZERO);
    s.mps.store.put_object("media", "in.mp4", 60);
    for n in 0..3 {
        s.mps.store.submit(
            serde_json::json!({"Bucket": "media", "Location": "oss-cn-shanghai", "Object": "in.mp4"}),
            serde_json::json!({"OutputFile": {"Bucket": "media", "Location": "oss-cn-shanghai", "Object": format!("o{n}.jpg")}, "Time": "0"}),
            "pipe-1",
            &format!("their-run-{n}"),
        );
    }
    s.create_secret(
        "aliyun",
        &[
            ("accessKey", crate::harness::AK),
            ("secretKey", crate::harness::SK),
        ],
    )
    .await;
    let (code, imported, err) = toolkit(
        &s,
        &[
            "import",
            "--asset",
            ASSET,
            "--vod-endpoint",
            &s.vod_endpoint,
            "--pipeline",
            "pipe-1",
            "--mps-region",
            "cn-shanghai",
            "--mps-endpoint",
            &s.mps_endpoint,
            "--credentials-secret",
            "aliyun",
            "--namespace",
            &s.ns,
        ],
        None,
    );
    assert_eq!(code, Some(0), "import: {err}");
    assert_eq!(
        imported.matches("kind: VodAssetSnapshot").count(),
        2,
        "{imported}"
    );
    assert_eq!(
        imported.matches("kind: MpsSnapshotJob").count(),
        3,
        "{imported}"
    );
    assert!(imported.contains("managementPolicy: Observe"), "{imported}");
    assert!(
        !imported.contains(crate::harness::SK),
        "no key in the manifests"
    );
    let (code, _, err) = toolkit(&s, &["validate", "-"], Some(&imported));
    assert_eq!(code, Some(0), "imported manifests validate: {err}");
    // The VOD objects name the scenario's credentials Secret: the MPS one, for both kinds here.
    let imported = imported.replace(
        "credentialsSecretRef:\n    name: aliyun\n  managementPolicy",
        "managementPolicy",
    );
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &imported).unwrap();
    let (ok, out) = s.kubectl(&[
        "apply",
        "--server-side",
        "-f",
        &file.path().display().to_string(),
    ]);
    assert!(ok, "{out}");
    s.start_operator();
    crate::harness::eventually("every imported object Ready", || async {
        let vod: kube::Api<VodAssetSnapshot> = kube::Api::namespaced(s.client.clone(), &s.ns);
        let mps: kube::Api<MpsSnapshotJob> = kube::Api::namespaced(s.client.clone(), &s.ns);
        let ready = |c: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition]| {
            c.iter().any(|c| c.type_ == "Ready" && c.status == "True")
        };
        let v = vod.list(&Default::default()).await.ok()?;
        let m = mps.list(&Default::default()).await.ok()?;
        let v_ready = v
            .items
            .iter()
            .filter(|o| {
                o.status
                    .as_ref()
                    .is_some_and(|st| ready(&st.managed.conditions))
            })
            .count();
        let m_ready = m
            .items
            .iter()
            .filter(|o| {
                o.status
                    .as_ref()
                    .is_some_and(|st| ready(&st.managed.conditions))
            })
            .count();
        (v_ready == 2 && m_ready == 3).then_some(())
    })
    .await;
    for op in ["create_task", "set_cover", "delete_thumbnails"] {
        assert_eq!(s.vod_calls(op), 0, "{op}");
    }
    assert_eq!(s.mps_calls("submit_snapshot_job"), 0);
}
