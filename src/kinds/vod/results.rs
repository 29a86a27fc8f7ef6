//! Every result of a task, where a downstream Job can read it: ConfigMaps named by
//! `spec.resultsConfigMap` in the object's namespace, owned by the object. Status keeps only
//! the first snapshots and the count, since an object must stay well under etcd's 1.5 MiB limit
//! and `kubectl get` should stay readable; a task may have up to 20,480 listed results (about
//! 1.8 MiB as text), so the list is split over ConfigMaps of at most `PART_BYTES` each: the
//! first is named as the spec says, the next `<name>-2`, `<name>-3`, ... Each holds
//! `snapshots.tsv` (one `offset<TAB>url` line per snapshot, in time order) and says which task,
//! which part and how many snapshots in all.
//!
//! The operator writes only ConfigMaps it created for this object (an ownerReference with the
//! object's UID): a ConfigMap of that name that someone else made is never overwritten. It
//! deletes them itself when the object goes (a cluster's garbage collector would too).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Resource, ResourceExt};

use super::resource::VodAssetSnapshot;
use crate::clouds::huawei::vod::Snapshot;

/// The most `snapshots.tsv` text one ConfigMap holds: under the 1 MiB a ConfigMap may have,
/// with room for its metadata.
pub const PART_BYTES: usize = 900 * 1024;
/// The data key of the list.
pub const DATA_KEY: &str = "snapshots.tsv";
/// Annotations saying what a part holds.
pub const TASK_ANNOTATION: &str = "live.snapshot.dev/task";
pub const PART_ANNOTATION: &str = "live.snapshot.dev/part";
pub const COUNT_ANNOTATION: &str = "live.snapshot.dev/snapshots";
/// The most parts written: 20,580 results of up to 1,024-character URLs.
const MAX_PARTS: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(
        "ConfigMap {name:?} exists and was not created by this object: it is never overwritten; choose another spec.resultsConfigMap or delete it"
    )]
    Taken { name: String },
    #[error(
        "the operator may not write ConfigMaps in namespace {namespace:?}: bind the ClusterRole live-snapshot-operator-results (<release>-results) to the operator's ServiceAccount there (docs/security.md)"
    )]
    Forbidden { namespace: String },
    #[error("the results do not fit in {MAX_PARTS} ConfigMaps")]
    TooLarge,
    #[error("writing ConfigMap {name:?}: {source}")]
    Kube { name: String, source: kube::Error },
}

/// The name of part `i` (from 0).
pub fn part_name(base: &str, i: usize) -> String {
    match i {
        0 => base.to_string(),
        i => format!("{base}-{}", i + 1),
    }
}

/// The list as text, split into parts of at most `PART_BYTES` (a line is never split).
pub fn parts(snapshots: &[Snapshot]) -> Vec<String> {
    let mut sorted: Vec<&Snapshot> = snapshots.iter().collect();
    sorted.sort_by_key(|s| s.offset);
    let mut out = vec![String::new()];
    for s in sorted {
        let line = format!("{}\t{}\n", s.offset, s.url);
        if out
            .last()
            .is_some_and(|p| p.len() + line.len() > PART_BYTES)
        {
            out.push(String::new());
        }
        if let Some(p) = out.last_mut() {
            p.push_str(&line);
        }
    }
    out
}

fn owned_by(cm: &ConfigMap, obj: &VodAssetSnapshot) -> bool {
    let uid = obj.uid().unwrap_or_default();
    cm.owner_references().iter().any(|r| r.uid == uid)
}

fn error(name: &str, namespace: &str, source: kube::Error) -> PublishError {
    match source {
        kube::Error::Api(e) if e.code == 403 => PublishError::Forbidden {
            namespace: namespace.into(),
        },
        source => PublishError::Kube {
            name: name.into(),
            source,
        },
    }
}

/// Writes the task's results into the ConfigMaps `base`, `base-2`, ...; what is already there
/// for this task is left as it is. Returns their names.
pub async fn publish(
    kube: &kube::Client,
    obj: &VodAssetSnapshot,
    base: &str,
    task_id: &str,
    snapshots: &[Snapshot],
) -> Result<Vec<String>, PublishError> {
    let namespace = obj.namespace().unwrap_or_default();
    let api: Api<ConfigMap> = Api::namespaced(kube.clone(), &namespace);
    let texts = parts(snapshots);
    if texts.len() > MAX_PARTS {
        return Err(PublishError::TooLarge);
    }
    let total = snapshots.len().to_string();
    let mut names = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        let name = part_name(base, i);
        let part = format!("{}/{}", i + 1, texts.len());
        let annotations: BTreeMap<String, String> = [
            (TASK_ANNOTATION.to_string(), task_id.to_string()),
            (PART_ANNOTATION.to_string(), part),
            (COUNT_ANNOTATION.to_string(), total.clone()),
        ]
        .into();
        let existing = api
            .get_opt(&name)
            .await
            .map_err(|e| error(&name, &namespace, e))?;
        let mut cm = match existing {
            Some(cm) if !owned_by(&cm, obj) => return Err(PublishError::Taken { name }),
            Some(cm)
                if cm.annotations() == &annotations
                    && cm.data.as_ref().and_then(|d| d.get(DATA_KEY)) == Some(text) =>
            {
                names.push(name);
                continue;
            }
            Some(cm) => cm,
            None => ConfigMap::default(),
        };
        cm.metadata.name = Some(name.clone());
        cm.metadata.annotations = Some(annotations);
        cm.metadata.labels = Some(
            [(
                "app.kubernetes.io/managed-by".to_string(),
                "live-snapshot-operator".to_string(),
            )]
            .into(),
        );
        cm.metadata.owner_references = Some(vec![owner(obj)]);
        cm.data = Some([(DATA_KEY.to_string(), text.clone())].into());
        let written = match cm.metadata.resource_version {
            Some(_) => api.replace(&name, &PostParams::default(), &cm).await,
            None => api.create(&PostParams::default(), &cm).await,
        };
        written.map_err(|e| error(&name, &namespace, e))?;
        names.push(name);
    }
    // Parts a longer list left behind.
    for i in texts.len()..MAX_PARTS {
        let name = part_name(base, i);
        match api.get_opt(&name).await {
            Ok(Some(cm)) if owned_by(&cm, obj) => {
                api.delete(&name, &DeleteParams::default())
                    .await
                    .map_err(|e| error(&name, &namespace, e))?;
            }
            _ => break,
        }
    }
    Ok(names)
}

/// Deletes the ConfigMaps this object's results were written to (only ones it owns).
pub async fn remove(kube: &kube::Client, obj: &VodAssetSnapshot) -> Result<(), kube::Error> {
    let Some(base) = &obj.spec.results_config_map else {
        return Ok(());
    };
    let api: Api<ConfigMap> = Api::namespaced(kube.clone(), &obj.namespace().unwrap_or_default());
    for i in 0..MAX_PARTS {
        let name = part_name(base, i);
        match api.get_opt(&name).await? {
            Some(cm) if owned_by(&cm, obj) => {
                match api.delete(&name, &DeleteParams::default()).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(e)) if e.code == 404 => {}
                    Err(e) => return Err(e),
                }
            }
            _ => break,
        }
    }
    Ok(())
}

fn owner(obj: &VodAssetSnapshot) -> OwnerReference {
    OwnerReference {
        api_version: VodAssetSnapshot::api_version(&()).to_string(),
        kind: VodAssetSnapshot::kind(&()).to_string(),
        name: obj.name_any(),
        uid: obj.uid().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_list_is_split_at_whole_lines_and_kept_in_time_order() {
        let shots: Vec<Snapshot> = (0..20_480)
            .rev()
            .map(|i| Snapshot {
                offset: i,
                url: format!("https://cdn.example.com/shield/asset/a/snapshot/t/{i}.jpg"),
            })
            .collect();
        let parts = parts(&shots);
        assert_eq!(parts.len(), 2);
        assert!(
            parts
                .iter()
                .all(|p| p.len() <= PART_BYTES && p.ends_with('\n'))
        );
        let lines: Vec<&str> = parts.iter().flat_map(|p| p.lines()).collect();
        assert_eq!(lines.len(), 20_480);
        assert!(lines[0].starts_with("0\t") && lines[20_479].starts_with("20479\t"));
        assert_eq!(part_name("r", 0), "r");
        assert_eq!(part_name("r", 1), "r-2");
    }
}
