//! `plan` for the kinds whose upstream effect follows from the manifest and the cluster alone,
//! and for what the repository no longer has. A VodAssetSnapshot starts its snapshot task once
//! and keeps the asset's cover on the chosen snapshot; an MpsSnapshotJob submits one paid job
//! once, and its spec is immutable. So whether applying changes anything upstream is known
//! from the object in the cluster (`--cluster`), without reading the cloud; without
//! `--cluster`, every such object is shown as new, with a note saying so.

use std::collections::BTreeSet;

use kube::api::{Api, ApiResource, DynamicObject};
use kube::{Resource, ResourceExt};
use serde_json::Value;

use super::manifests::Document;
use super::plan::{Action, Planned};
use crate::kinds::live::resource::LiveSnapshotTemplate;
use crate::kinds::mps::resource::MpsSnapshotJob;
use crate::kinds::vod::resource::VodAssetSnapshot;

const GROUP_VERSION: &str = "live.snapshot.dev/v1alpha1";

fn resource(kind: &str) -> Option<ApiResource> {
    match kind {
        "LiveSnapshotTemplate" => Some(ApiResource::erase::<LiveSnapshotTemplate>(&())),
        "VodAssetSnapshot" => Some(ApiResource::erase::<VodAssetSnapshot>(&())),
        "MpsSnapshotJob" => Some(ApiResource::erase::<MpsSnapshotJob>(&())),
        _ => None,
    }
}

fn api(client: &kube::Client, ns: Option<&str>, kind: &str) -> Option<Api<DynamicObject>> {
    let ar = resource(kind)?;
    Some(match ns {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::default_namespaced_with(client.clone(), &ar),
    })
}

/// The plan of every VodAssetSnapshot and MpsSnapshotJob among `docs`.
pub async fn plan(docs: &[Document], cluster: Option<&kube::Client>) -> Vec<Planned> {
    let mut out = Vec::new();
    for doc in docs {
        let kind = doc.value["kind"].as_str().unwrap_or_default();
        if doc.value["apiVersion"] != GROUP_VERSION
            || !matches!(kind, "VodAssetSnapshot" | "MpsSnapshotJob")
        {
            continue;
        }
        let meta = &doc.value["metadata"];
        let spec = &doc.value["spec"];
        let mut p = Planned {
            source: doc.source.clone(),
            document: doc.index,
            kind: kind.to_string(),
            namespace: meta["namespace"].as_str().map(str::to_string),
            name: meta["name"].as_str().unwrap_or_default().to_string(),
            target: target(kind, spec),
            domain: String::new(),
            app_name: String::new(),
            action: Action::Create,
            changes: Vec::new(),
            note: String::new(),
        };
        let Some(client) = cluster else {
            p.note = match kind {
                "MpsSnapshotJob" => "submits one paid snapshot job unless this object already did; --cluster tells".into(),
                _ => "starts a snapshot task on the asset (and sets its cover) unless this object already did; --cluster tells".into(),
            };
            out.push(p);
            continue;
        };
        let existing = match api(client, p.namespace.as_deref(), kind) {
            Some(api) => api.get_opt(&p.name).await,
            None => Ok(None),
        };
        match existing {
            Err(e) => {
                p.action = Action::Error;
                p.note = format!("reading the object from the cluster: {e}");
            }
            Ok(None) => {
                p.note = match kind {
                    "MpsSnapshotJob" => "new: submits one paid snapshot job".into(),
                    _ => "new: starts a snapshot task on the asset, then sets its cover".into(),
                }
            }
            Ok(Some(live)) => compare(&mut p, kind, spec, &live),
        }
        out.push(p);
    }
    out
}

fn target(kind: &str, spec: &Value) -> String {
    let s = |k: &str| spec[k].as_str().unwrap_or_default().to_string();
    match kind {
        "MpsSnapshotJob" => format!(
            "job in pipeline {} ({}): {} -> {}",
            s("pipelineId"),
            s("region"),
            spec["input"]["object"].as_str().unwrap_or_default(),
            spec["output"]["object"].as_str().unwrap_or_default()
        ),
        _ => format!("asset {}", s("assetId")),
    }
}

/// An object that exists in the cluster: what applying the manifest over it changes upstream.
fn compare(p: &mut Planned, kind: &str, spec: &Value, live: &DynamicObject) {
    let status = &live.data["status"];
    let live_spec = &live.data["spec"];
    match kind {
        "MpsSnapshotJob" => {
            let job = status["atProvider"]["jobId"].as_str().unwrap_or_default();
            p.action = Action::NoChange;
            if !holds(live_spec, spec) {
                // The API server refuses the change: the spec of a submitted job is immutable.
                p.action = Action::Error;
                p.note = "the spec differs from the object in the cluster, and a job's spec is immutable: apply it as a new object".into();
            } else if job.is_empty() {
                p.note = "in the cluster, not submitted yet: the operator submits it".into();
                p.action = Action::Create;
            } else {
                p.note = format!("job {job} already submitted");
            }
        }
        _ => {
            p.action = Action::NoChange;
            for field in ["cover", "managementPolicy", "deletionPolicy"] {
                // A field the manifest leaves out keeps the default the cluster filled in.
                if !spec[field].is_null() && !holds(&live_spec[field], &spec[field]) {
                    p.changes.push(crate::core::managed::FieldDrift {
                        field: field.into(),
                        observed: live_spec[field].to_string(),
                        desired: spec[field].to_string(),
                    });
                }
            }
            if live_spec["thumbnail"] != spec["thumbnail"]
                || live_spec["assetId"] != spec["assetId"]
            {
                p.action = Action::Error;
                p.note =
                    "assetId and thumbnail are immutable: apply the change as a new object".into();
            } else if p.changes.iter().any(|c| c.field == "cover") {
                p.action = Action::Update;
                p.note = "the asset's cover moves to the new snapshot".into();
            }
        }
    }
}

/// Whether the object in the cluster (`live`) holds everything the manifest says: the cluster
/// adds defaults the manifest leaves out, which are not differences.
fn holds(live: &Value, manifest: &Value) -> bool {
    match (live, manifest) {
        (Value::Object(l), Value::Object(m)) => m
            .iter()
            .all(|(k, v)| v.is_null() || l.get(k).is_some_and(|lv| holds(lv, v))),
        (l, m) => l == m,
    }
}

/// With `--cluster`: objects of the three kinds in the namespaces the manifests name that the
/// repository no longer has; the cluster deletes them once their manifests are gone (a
/// pruning sync), deleting upstream what they created or keeping it, per deletionPolicy.
pub async fn removed(docs: &[Document], client: &kube::Client) -> Vec<Planned> {
    let mut in_repo = BTreeSet::new();
    let mut namespaces = BTreeSet::new();
    for doc in docs
        .iter()
        .filter(|d| d.value["apiVersion"] == GROUP_VERSION)
    {
        let ns = doc.value["metadata"]["namespace"]
            .as_str()
            .map(str::to_string);
        let kind = doc.value["kind"].as_str().unwrap_or_default().to_string();
        let name = doc.value["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        in_repo.insert((kind, ns.clone(), name));
        namespaces.insert(ns);
    }
    let mut out = Vec::new();
    for ns in &namespaces {
        for kind in ["LiveSnapshotTemplate", "VodAssetSnapshot", "MpsSnapshotJob"] {
            let Some(api) = api(client, ns.as_deref(), kind) else {
                continue;
            };
            let listed = match api.list(&Default::default()).await {
                Ok(l) => l.items,
                Err(e) => {
                    out.push(error(kind, ns, format!("listing {kind}: {e}")));
                    continue;
                }
            };
            for obj in listed {
                let name = obj.name_any();
                if in_repo.contains(&(kind.to_string(), ns.clone(), name.clone())) {
                    continue;
                }
                out.push(gone(kind, ns, &name, &obj));
            }
        }
    }
    out
}

fn error(kind: &str, ns: &Option<String>, note: String) -> Planned {
    Planned {
        source: "cluster".into(),
        document: 0,
        kind: kind.into(),
        namespace: ns.clone(),
        name: String::new(),
        target: String::new(),
        domain: String::new(),
        app_name: String::new(),
        action: Action::Error,
        changes: Vec::new(),
        note,
    }
}

fn gone(kind: &str, ns: &Option<String>, name: &str, obj: &DynamicObject) -> Planned {
    let spec = &obj.data["spec"];
    let policy = spec["deletionPolicy"].as_str().unwrap_or("Delete");
    let owned = !obj.data["status"]["ownership"].is_null();
    let (action, note) = match kind {
        "MpsSnapshotJob" => (
            Action::Orphan,
            "no longer in the repository: the object goes, the job and its snapshots stay (jobs are never deleted)".to_string(),
        ),
        _ if policy == "Orphan" => (
            Action::Orphan,
            "no longer in the repository: the object goes, deletionPolicy Orphan keeps what it made upstream".to_string(),
        ),
        _ if !owned => (
            Action::Orphan,
            "no longer in the repository: the object goes; it owns nothing upstream, so nothing is deleted".to_string(),
        ),
        _ => (
            Action::Delete,
            "no longer in the repository: deletionPolicy Delete deletes what it created upstream".to_string(),
        ),
    };
    let target = match kind {
        "LiveSnapshotTemplate" => format!(
            "{}/{}",
            spec["domain"].as_str().unwrap_or_default(),
            spec["appName"].as_str().unwrap_or_default()
        ),
        _ => target(kind, spec),
    };
    Planned {
        source: "cluster".into(),
        document: 0,
        kind: kind.into(),
        namespace: ns.clone().or_else(|| obj.meta().namespace.clone()),
        name: name.into(),
        target,
        domain: String::new(),
        app_name: String::new(),
        action,
        changes: Vec::new(),
        note,
    }
}

#[cfg(test)]
mod tests {
    use super::holds;
    use serde_json::json;

    #[test]
    fn defaults_filled_in_by_the_cluster_are_not_differences() {
        let manifest = json!({"region": "cn-shanghai", "snapshot": {"timeMs": 0}});
        let live = json!({"region": "cn-shanghai", "deletionPolicy": "Delete",
                          "snapshot": {"timeMs": 0, "frameType": "normal"}});
        assert!(holds(&live, &manifest));
        assert!(!holds(&live, &json!({"region": "cn-beijing"})));
        assert!(!holds(&live, &json!({"snapshot": {"timeMs": 5}})));
    }
}
