//! Who may write an upstream object (a project and a kind's identity, such as domain/appName):
//! the one object whose status records a claim on it.
//!
//! Only the leader reconciles, so this in-memory registry is the single place where claims are
//! granted: a claim is taken here, atomically, before the first upstream write (a create intent
//! or an adoption) and then recorded in the object's status, from which a restarted operator
//! rebuilds the registry before it writes anything. Objects that never claimed (paused, failing
//! on their Secret, observing, or refused) block nobody, and arriving later never wins a claim
//! that is held.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;

use super::managed::{Managed, Ownership};

/// The upstream identity of an object: its project and the kind's identity within it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Identity {
    pub project: String,
    pub key: String,
}

impl Identity {
    pub fn of<K: Managed>(obj: &K, project: &str) -> Self {
        Self {
            project: project.to_string(),
            key: obj.identity(),
        }
    }
}

/// The object holding a claim. `rank` orders two recorded claims on one identity (which only a
/// split brain could produce): the earlier record wins, then the smaller UID, so every replica
/// reading the same statuses picks the same owner.
#[derive(Clone, Debug)]
pub struct Holder<K: Managed> {
    pub object: ObjectRef<K>,
    rank: (jiff::Timestamp, String),
}

/// Both maps share one copy of each identity.
struct Registry<K: Managed> {
    by_identity: HashMap<Arc<Identity>, Holder<K>>,
    by_object: HashMap<ObjectRef<K>, Arc<Identity>>,
}

impl<K: Managed> Registry<K> {
    /// Records `holder` on `id`, returning the holder it replaced.
    fn hold(&mut self, id: &Identity, holder: Holder<K>) -> Option<Holder<K>> {
        let key = match self.by_identity.get_key_value(id) {
            Some((k, _)) => k.clone(),
            None => Arc::new(id.clone()),
        };
        let object = holder.object.clone();
        let old = self.by_identity.insert(key.clone(), holder);
        if let Some(old) = &old
            && old.object != object
        {
            self.by_object.remove(&old.object);
        }
        self.by_object.insert(object, key);
        old
    }
}

pub struct Claims<K: Managed> {
    inner: Mutex<Registry<K>>,
}

impl<K: Managed> Default for Claims<K> {
    fn default() -> Self {
        Self {
            inner: Mutex::new(Registry {
                by_identity: HashMap::new(),
                by_object: HashMap::new(),
            }),
        }
    }
}

/// A long-lived reference to an object: name and namespace, without the resourceVersion and UID
/// copies `ObjectRef::from_obj` carries (which equality ignores anyway).
pub fn object_key<K: Managed>(obj: &K) -> ObjectRef<K> {
    let r = ObjectRef::new(&obj.name_any());
    match obj.namespace() {
        Some(ns) => r.within(&ns),
        None => r,
    }
}

fn holder<K: Managed>(obj: &K, since: jiff::Timestamp) -> Holder<K> {
    Holder {
        object: object_key(obj),
        rank: (since, obj.uid().unwrap_or_default()),
    }
}

impl<K: Managed> Claims<K> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Registry<K>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Learns a claim recorded in an object's status (watch events, including the initial list).
    /// A status without a record removes nothing: it may be an older version of an object that
    /// has just claimed; claims go only through [`Claims::release`] and [`Claims::forget`].
    /// Only a proven record (see `proof.rs`) is learnt: the caller checks it.
    pub fn learn(&self, obj: &K, own: &Ownership) {
        let id = Identity::of(obj, &own.project_id);
        let new = holder(obj, own.since.0);
        let mut reg = self.lock();
        match reg.by_identity.get(&id) {
            Some(h) if h.object != new.object && h.rank <= new.rank => return,
            // Known already (every status write of a holder comes by here).
            Some(h) if h.object == new.object && h.rank == new.rank => return,
            _ => {}
        }
        reg.hold(&id, new);
    }

    /// Takes the claim on `id` for `obj` unless another object that still exists holds it;
    /// returns that holder otherwise.
    pub fn try_claim(
        &self,
        id: &Identity,
        obj: &K,
        own: &Ownership,
        exists: impl Fn(&ObjectRef<K>) -> bool,
    ) -> Result<(), Box<Holder<K>>> {
        let new = holder(obj, own.since.0);
        let mut reg = self.lock();
        if let Some(h) = reg.by_identity.get(id)
            && h.object != new.object
            && exists(&h.object)
        {
            return Err(Box::new(h.clone()));
        }
        if let Some(previous) = reg.by_object.remove(&new.object)
            && *previous != *id
        {
            reg.by_identity.remove(&*previous);
        }
        reg.hold(id, new);
        Ok(())
    }

    /// The holder of `id` other than `obj`, if it still exists.
    pub fn rival(
        &self,
        id: &Identity,
        obj: &K,
        exists: impl Fn(&ObjectRef<K>) -> bool,
    ) -> Option<Holder<K>> {
        let me = object_key(obj);
        self.lock()
            .by_identity
            .get(id)
            .filter(|h| h.object != me && exists(&h.object))
            .cloned()
    }

    /// Withdraws `obj`'s claim (a create refused, a template found to be someone else's, the
    /// object's cleanup done, the object gone).
    pub fn release(&self, obj: &K) {
        let r = object_key(obj);
        let mut reg = self.lock();
        if let Some(id) = reg.by_object.remove(&r)
            && reg.by_identity.get(&*id).is_some_and(|h| h.object == r)
        {
            reg.by_identity.remove(&*id);
        }
    }

    pub fn len(&self) -> usize {
        self.lock().by_identity.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::managed::OwnershipState;
    use crate::kinds::live::resource::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn obj(name: &str, uid: &str) -> LiveSnapshotTemplate {
        let spec: LiveSnapshotTemplateSpec = serde_json::from_value(serde_json::json!({
            "domain": "d", "appName": "live", "timeInterval": 10,
            "obsLocation": {"bucket": "b", "location": "l", "object": "o"}
        }))
        .unwrap();
        let mut o = LiveSnapshotTemplate::new(name, spec);
        o.metadata.namespace = Some("ns".into());
        o.metadata.uid = Some(uid.into());
        o
    }

    fn own(secs: i64) -> Ownership {
        Ownership {
            state: OwnershipState::Created,
            project_id: "p".into(),
            endpoint: "https://e".into(),
            since: Time(jiff::Timestamp::from_second(secs).unwrap()),
            key: None,
            proof: None,
        }
    }

    fn recorded(mut o: LiveSnapshotTemplate, secs: i64) -> LiveSnapshotTemplate {
        let mut status = LiveSnapshotTemplateStatus::default();
        status.managed.ownership = Some(own(secs));
        o.status = Some(status);
        o
    }

    #[test]
    fn a_held_claim_is_not_taken_by_a_later_object() {
        let claims = Claims::default();
        let (a, b) = (obj("a", "2"), obj("b", "1"));
        let id = Identity::of(&a, "p");
        assert!(claims.try_claim(&id, &a, &own(5), |_| true).is_ok());
        let held = claims.try_claim(&id, &b, &own(1), |_| true).unwrap_err();
        assert_eq!(held.object.name, "a");
        assert_eq!(claims.rival(&id, &b, |_| true).unwrap().object.name, "a");
        assert!(claims.rival(&id, &a, |_| true).is_none());
        // A holder that no longer exists holds nothing.
        assert!(claims.try_claim(&id, &b, &own(1), |_| false).is_ok());
        claims.release(&b);
        assert!(claims.is_empty());
    }

    #[test]
    fn recorded_claims_agree_whatever_order_they_are_read_in() {
        let a = recorded(obj("a", "x"), 1);
        let b = recorded(obj("b", "y"), 2);
        let id = Identity::of(&a, "p");
        for order in [[&a, &b], [&b, &a]] {
            let claims = Claims::default();
            for o in order {
                learn(&claims, o);
            }
            assert_eq!(claims.rival(&id, &b, |_| true).unwrap().object.name, "a");
            assert_eq!(claims.len(), 1);
        }
        // A status without a record (an older copy) does not drop a claim.
        let claims = Claims::default();
        learn(&claims, &a);
        learn(&claims, &obj("a", "x"));
        assert_eq!(claims.len(), 1);
    }

    fn learn(claims: &Claims<LiveSnapshotTemplate>, o: &LiveSnapshotTemplate) {
        if let Some(own) = o.status.as_ref().and_then(|s| s.managed.ownership.as_ref()) {
            claims.learn(o, own);
        }
    }
}
