//! Which watch events carry a change that reconcile must see: a new object, or a change of its
//! generation (spec, deletion), annotations (pause, reconcile requests) or finalizers, not our
//! own status writes, which would each cost an upstream read.
//!
//! kube's predicate filter answers the same question from a second map, a hash per object next
//! to the cache. Here the cache itself is the memory: an event is compared with the version the
//! cache holds before the event is applied to it, so a fleet of N objects costs no extra map.

use std::collections::VecDeque;
use std::sync::Mutex;

use kube::Resource;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;

pub struct Changes<K: Resource<DynamicType = ()> + Clone + 'static> {
    cache: Store<K>,
    /// Verdicts on the applied objects between the cache and the filter, in stream order.
    verdicts: Mutex<VecDeque<bool>>,
}

impl<K: Resource<DynamicType = ()> + Clone + 'static> Changes<K> {
    pub fn new(cache: Store<K>) -> Self {
        Self {
            cache,
            verdicts: Mutex::default(),
        }
    }

    fn verdicts(&self) -> std::sync::MutexGuard<'_, VecDeque<bool>> {
        self.verdicts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Judges an event before the cache applies it.
    pub fn judge(&self, ev: &watcher::Event<K>) {
        if let watcher::Event::Apply(new) | watcher::Event::InitApply(new) = ev {
            let old = self.cache.get(&ObjectRef::from_obj(new));
            let verdict = old.is_none_or(|old| matters(&*old, new));
            self.verdicts().push_back(verdict);
        }
    }

    /// Whether the next applied object, judged before the cache took it, is a change.
    pub fn next_matters(&self) -> bool {
        self.verdicts().pop_front().unwrap_or(true)
    }
}

fn matters<K: Resource>(old: &K, new: &K) -> bool {
    let (o, n) = (old.meta(), new.meta());
    o.uid != n.uid
        || o.generation != n.generation
        || n.generation.is_none()
        || o.deletion_timestamp != n.deletion_timestamp
        || o.annotations != n.annotations
        || o.finalizers != n.finalizers
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::runtime::reflector;

    use super::*;

    fn map(generation: i64, annotation: &str, data: &str) -> ConfigMap {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "m", "namespace": "ns", "uid": "u1", "generation": generation,
                         "annotations": {"a": annotation}},
            "data": {"k": data}
        }))
        .expect("config map")
    }

    #[test]
    fn only_changes_reconcile_must_see_pass() {
        let (store, mut writer) = reflector::store::<ConfigMap>();
        let changes = Changes::new(store);
        let mut feed = |obj: ConfigMap| {
            let ev = watcher::Event::Apply(obj);
            changes.judge(&ev);
            writer.apply_watcher_event(&ev);
            changes.next_matters()
        };
        assert!(feed(map(1, "x", "1")), "a new object");
        assert!(
            !feed(map(1, "x", "2")),
            "same generation, annotations, finalizers"
        );
        assert!(feed(map(2, "x", "2")), "a new generation");
        assert!(feed(map(2, "y", "2")), "an annotation");
        let mut deleting = map(2, "y", "2");
        deleting.metadata.finalizers = Some(vec!["f".into()]);
        assert!(feed(deleting), "a finalizer");
    }
}
