//! Who may write a (project, domain, appName): the oldest object that claims it.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;

use crate::resource::LiveSnapshotTemplate;

type Identity = (String, String);

/// Which objects claim each (domain, appName), kept from the watch events so that a reconcile
/// looks only at its rivals instead of scanning every cached object. Entries are references
/// checked against the cache at lookup, so a missed delete can never invent a rival.
#[derive(Default)]
pub struct Claims {
    by_identity: Mutex<HashMap<Identity, HashSet<ObjectRef<LiveSnapshotTemplate>>>>,
}

impl Claims {
    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<Identity, HashSet<ObjectRef<LiveSnapshotTemplate>>>>
    {
        self.by_identity.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn add(&self, obj: &LiveSnapshotTemplate) {
        let id = (obj.spec.domain.clone(), obj.spec.app_name.clone());
        self.lock()
            .entry(id)
            .or_default()
            .insert(ObjectRef::from_obj(obj));
    }

    pub fn remove(&self, obj: &LiveSnapshotTemplate) {
        let id = (obj.spec.domain.clone(), obj.spec.app_name.clone());
        let mut map = self.lock();
        if let Some(set) = map.get_mut(&id) {
            set.remove(&ObjectRef::from_obj(obj));
            if set.is_empty() {
                map.remove(&id);
            }
        }
    }

    /// Every object recorded as claiming the same identity as `obj` (itself included).
    pub fn claimants(&self, obj: &LiveSnapshotTemplate) -> Vec<ObjectRef<LiveSnapshotTemplate>> {
        let id = (obj.spec.domain.clone(), obj.spec.app_name.clone());
        self.lock()
            .get(&id)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// The object that owns `obj`'s upstream template instead of `obj`, if any. Objects whose
/// project is not yet known (no status) are assumed to share `project`: a possible false
/// conflict lasts one reconcile of the other object, a missed one could overwrite a template.
pub fn rival_owner<'a>(
    obj: &LiveSnapshotTemplate,
    project: &str,
    all: impl IntoIterator<Item = &'a LiveSnapshotTemplate>,
) -> Option<&'a LiveSnapshotTemplate> {
    all.into_iter()
        .filter(|o| o.uid() != obj.uid())
        .filter(|o| o.spec.domain == obj.spec.domain && o.spec.app_name == obj.spec.app_name)
        .filter(|o| {
            o.status
                .as_ref()
                .and_then(|s| s.project_id.as_deref())
                .is_none_or(|p| p == project)
        })
        .filter(|o| age_key(o) < age_key(obj))
        .min_by(|a, b| age_key(a).cmp(&age_key(b)))
}

/// Older first; ties (same second) broken by namespace and name so both objects agree.
fn age_key(o: &LiveSnapshotTemplate) -> (Option<jiff::Timestamp>, String, String) {
    (
        o.creation_timestamp().map(|t| t.0),
        o.namespace().unwrap_or_default(),
        o.name_any(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn obj(name: &str, secs: i64, app: &str, project: Option<&str>) -> LiveSnapshotTemplate {
        let spec: LiveSnapshotTemplateSpec = serde_json::from_value(serde_json::json!({
            "domain": "d", "appName": app, "timeInterval": 10,
            "obsLocation": {"bucket": "b", "location": "l", "object": "o"}
        }))
        .unwrap();
        let mut o = LiveSnapshotTemplate::new(name, spec);
        o.metadata.namespace = Some("ns".into());
        o.metadata.uid = Some(name.into());
        o.metadata.creation_timestamp = Some(Time(jiff::Timestamp::from_second(secs).unwrap()));
        o.status = project.map(|p| LiveSnapshotTemplateStatus {
            project_id: Some(p.into()),
            ..Default::default()
        });
        o
    }

    #[test]
    fn oldest_claimant_wins_within_a_project() {
        let old = obj("old", 1, "live", Some("p"));
        let new = obj("new", 2, "live", None);
        let other_app = obj("x", 0, "other", None);
        let other_project = obj("y", 0, "live", Some("q"));
        let all = [old.clone(), new.clone(), other_app, other_project];
        assert_eq!(
            rival_owner(&new, "p", &all).map(|o| o.name_any()),
            Some("old".into())
        );
        assert!(rival_owner(&old, "p", &all).is_none());
        let twin = obj("a-twin", 2, "live", None);
        let all = [new.clone(), twin.clone()];
        assert_eq!(
            rival_owner(&new, "p", &all).map(|o| o.name_any()),
            Some("a-twin".into())
        );
        assert!(rival_owner(&twin, "p", &all).is_none());
    }
}
