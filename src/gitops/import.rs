//! `import`: manifests for templates that exist upstream, ready to commit. Applied as written,
//! the operator adopts each template without an upstream write: the spec equals what was read,
//! adoption is explicit (IfMatching by default), and deletionPolicy is Orphan unless asked.

use serde_json::{Value, json};

use crate::clouds::huawei::LiveSnapshotConfig;
use crate::kinds::live::desired::write_mode_name;

/// Where the callback key would go: the key is never read into a manifest, so the user points
/// this at a Secret of theirs (the name says so).
pub const KEY_SECRET_PLACEHOLDER: &str = "replace-me-callback-key";

pub struct Options<'a> {
    pub namespace: Option<&'a str>,
    pub deletion_policy: &'a str,
    pub adoption_policy: &'a str,
    pub credentials_secret: Option<&'a str>,
}

/// A Kubernetes name for a template: `<app>-<domain>`, lowercased, other characters as `-`.
pub fn object_name(domain: &str, app: &str) -> String {
    let raw = format!("{app}-{domain}").to_lowercase();
    let mut name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    name.truncate(253);
    let trimmed = name.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    if trimmed.is_empty() {
        "template".into()
    } else {
        trimmed.to_string()
    }
}

/// A Kubernetes name from a prefix and an upstream id: lowercased, other characters as `-`.
fn id_name(prefix: &str, id: &str) -> String {
    let id: String = id
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(200)
        .collect();
    format!("{prefix}-{}", id.trim_matches('-'))
}

/// An object that follows one VOD snapshot task by its id, observing only: applying it reads
/// the task's results into status and writes nothing upstream.
pub fn vod_manifest(asset_id: &str, task_id: &str, opts: &Options<'_>) -> (String, Value) {
    let name = id_name(
        "vod",
        &format!("{}-{task_id}", &asset_id[..asset_id.len().min(12)]),
    );
    let mut spec = json!({
        "assetId": asset_id.to_ascii_lowercase(),
        "taskId": task_id,
        "managementPolicy": "Observe",
    });
    if let Some(secret) = opts.credentials_secret {
        spec["credentialsSecretRef"] = json!({"name": secret});
    }
    (name.clone(), object("VodAssetSnapshot", &name, opts, spec))
}

/// The credentials Secret an imported MPS job names when none was given: the user creates it.
pub const MPS_SECRET_PLACEHOLDER: &str = "replace-me-aliyun-credentials";

/// An object that follows one MPS job by its id: read-only by nature (nothing is submitted or
/// deleted).
pub fn mps_manifest(region: &str, job_id: &str, opts: &Options<'_>) -> (String, Value) {
    let name = id_name("msj", job_id);
    let spec = json!({
        "region": region,
        "jobId": job_id,
        "credentialsSecretRef": {"name": opts.credentials_secret.unwrap_or(MPS_SECRET_PLACEHOLDER)},
    });
    (name.clone(), object("MpsSnapshotJob", &name, opts, spec))
}

fn object(kind: &str, name: &str, opts: &Options<'_>, spec: Value) -> Value {
    let mut meta = json!({"name": name});
    if let Some(ns) = opts.namespace {
        meta["namespace"] = json!(ns);
    }
    json!({"apiVersion": "live.snapshot.dev/v1alpha1", "kind": kind, "metadata": meta, "spec": spec})
}

/// The manifest of one upstream template.
pub fn manifest(t: &LiveSnapshotConfig, name: &str, opts: &Options<'_>) -> Value {
    let mut s = serde_json::Map::new();
    s.insert("domain".into(), json!(t.domain.to_ascii_lowercase()));
    s.insert("appName".into(), json!(t.app_name));
    s.insert("timeInterval".into(), json!(t.time_interval));
    s.insert(
        "obsLocation".into(),
        json!({
            "bucket": t.obs_location.bucket,
            "location": t.obs_location.location,
            "object": t.obs_location.object,
        }),
    );
    s.insert("deletionPolicy".into(), json!(opts.deletion_policy));
    s.insert("adoptionPolicy".into(), json!(opts.adoption_policy));
    if let Some(m) = &t.snapshot_mode {
        s.insert("snapshotMode".into(), json!(m));
    }
    if let Some(m) = t.object_write_mode {
        s.insert("objectWriteMode".into(), json!(write_mode_name(m)));
    }
    if let Some(f) = &t.image_object_format {
        s.insert("imageObjectFormat".into(), json!(f));
    }
    if let Some(p) = &t.image_access_protocol {
        s.insert("imageAccessProtocol".into(), json!(p));
    }
    if let Some(d) = &t.image_access_domain {
        s.insert("imageAccessDomain".into(), json!(d));
    }
    if t.call_back_enable.is_some() || t.call_back_url.is_some() {
        let mut cb = json!({"enabled": t.call_back_enable.as_deref() == Some("on")});
        if let Some(u) = &t.call_back_url {
            cb["url"] = json!(u);
        }
        if t.auth_key.as_ref().is_some_and(|k| !k.is_empty()) {
            cb["authKeySecretRef"] = json!({"name": KEY_SECRET_PLACEHOLDER, "key": "authKey"});
        }
        s.insert("callback".into(), cb);
    }
    if let Some(c) = opts.credentials_secret {
        s.insert("credentialsSecretRef".into(), json!({"name": c}));
    }
    let mut metadata = json!({"name": name});
    if let Some(ns) = opts.namespace {
        metadata["namespace"] = json!(ns);
    }
    json!({
        "apiVersion": "live.snapshot.dev/v1alpha1",
        "kind": "LiveSnapshotTemplate",
        "metadata": metadata,
        "spec": Value::Object(s),
    })
}

/// Manifests for `templates`, with names made unique (a `-2`, `-3` suffix on a clash).
pub fn manifests(templates: &[LiveSnapshotConfig], opts: &Options<'_>) -> Vec<(String, Value)> {
    let mut used = std::collections::HashSet::new();
    templates
        .iter()
        .map(|t| {
            let base = object_name(&t.domain, &t.app_name);
            let mut name = base.clone();
            let mut n = 1;
            while !used.insert(name.clone()) {
                n += 1;
                name = format!("{}-{n}", &base[..base.len().min(248)]);
            }
            let m = manifest(t, &name, opts);
            (name, m)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clouds::huawei::ObsLocation;
    use crate::kinds::live::desired::{desired, diff};
    use crate::kinds::live::resource::LiveSnapshotTemplateSpec;

    fn upstream() -> LiveSnapshotConfig {
        LiveSnapshotConfig {
            domain: "Push.Example.com".into(),
            app_name: "live_1".into(),
            time_interval: 30,
            object_write_mode: Some(1),
            snapshot_mode: Some("random".into()),
            obs_location: ObsLocation {
                bucket: "b".into(),
                location: "cn-north-4".into(),
                object: "o/".into(),
            },
            call_back_enable: Some("on".into()),
            call_back_url: Some("https://hooks.example.com/x".into()),
            auth_key: Some("k".repeat(32)),
            image_object_format: Some("{{.stream}}".into()),
            ..Default::default()
        }
    }

    #[test]
    fn an_imported_manifest_equals_upstream_and_never_holds_the_key() {
        let opts = Options {
            namespace: Some("media"),
            deletion_policy: "Orphan",
            adoption_policy: "IfMatching",
            credentials_secret: None,
        };
        let t = upstream();
        let m = manifest(&t, &object_name(&t.domain, &t.app_name), &opts);
        assert_eq!(m["metadata"]["name"], "live-1-push.example.com");
        assert!(!m.to_string().contains(&"k".repeat(32)), "no key in {m}");
        assert_eq!(
            m["spec"]["callback"]["authKeySecretRef"]["name"],
            KEY_SECRET_PLACEHOLDER
        );
        let spec: LiveSnapshotTemplateSpec = serde_json::from_value(m["spec"].clone()).unwrap();
        let mut without_key = t.clone();
        without_key.auth_key = None;
        assert!(diff(&desired(&spec, None), &without_key).is_empty());
        let kinds = crate::gitops::validate::served_kinds();
        let findings = crate::gitops::validate::check(&kinds[0], &m);
        assert!(findings.is_empty(), "{findings:?}");
    }
}
