//! `LiveSnapshotTemplate`: a Huawei Cloud Live snapshot-capturing template, identified by its
//! domain and application name, observed through coalesced domain listings.

pub mod desired;
pub mod external;
pub mod resource;

use crate::clouds::Service;
use crate::core::managed::{KindStatus, Managed, ManagedStatus, Policies};
use resource::{AtProvider, LiveSnapshotTemplate, LiveSnapshotTemplateStatus};

impl Managed for LiveSnapshotTemplate {
    const KIND: &'static str = "LiveSnapshotTemplate";
    type Status = LiveSnapshotTemplateStatus;
    type Connector = external::LiveConnector;

    fn status(&self) -> Option<&Self::Status> {
        self.status.as_ref()
    }

    fn policies(&self) -> Policies {
        Policies {
            deletion: self.spec.deletion_policy,
            management: self.spec.management_policy,
            adoption: self.spec.adoption_policy,
        }
    }

    fn credentials_secret(&self) -> Option<&str> {
        self.spec
            .credentials_secret_ref
            .as_ref()
            .map(|r| r.name.as_str())
    }

    fn secrets(&self) -> Vec<&str> {
        let key = self
            .spec
            .callback
            .as_ref()
            .and_then(|c| c.auth_key_secret_ref.as_ref())
            .map(|r| r.name.as_str());
        self.credentials_secret().into_iter().chain(key).collect()
    }

    fn service() -> Service {
        Service::Live
    }

    fn identity(&self) -> String {
        format!("{}/{}", self.spec.domain, self.spec.app_name)
    }

    fn describe(&self) -> String {
        format!(
            "upstream template {}/{}",
            self.spec.domain, self.spec.app_name
        )
    }

    fn shard_key(&self) -> &str {
        &self.spec.domain
    }

    fn shares_resync(coalesced: bool) -> bool {
        coalesced
    }

    /// A domain's templates share a slot, and so one listing.
    fn resync_key(&self, coalesced: bool) -> String {
        if coalesced {
            self.spec.domain.clone()
        } else {
            kube::ResourceExt::uid(self).unwrap_or_else(|| kube::ResourceExt::name_any(self))
        }
    }
}

impl KindStatus for LiveSnapshotTemplateStatus {
    type AtProvider = AtProvider;

    fn managed(&self) -> &ManagedStatus {
        &self.managed
    }

    fn managed_mut(&mut self) -> &mut ManagedStatus {
        &mut self.managed
    }

    fn at_provider(&self) -> Option<&AtProvider> {
        self.at_provider.as_ref()
    }

    fn set_at_provider(&mut self, at: AtProvider) {
        self.at_provider = Some(at);
    }

    fn clear_at_provider(&mut self) {
        self.at_provider = None;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use kube::runtime::controller::Action;
    use kube::runtime::reflector::{self, ObjectRef};
    use kube::runtime::watcher;

    use super::resource::LiveSnapshotTemplate;
    use crate::core::resync::Resync;
    use crate::core::schedule::phase;

    fn template(name: &str, domain: &str) -> LiveSnapshotTemplate {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "live.snapshot.dev/v1alpha1", "kind": "LiveSnapshotTemplate",
            "metadata": {"name": name, "namespace": "ns", "generation": 2,
                         "finalizers": [crate::core::managed::FINALIZER]},
            "spec": {"domain": domain, "appName": name, "timeInterval": 10,
                     "obsLocation": {"bucket": "b", "location": "cn-north-4", "object": "o/"}},
            "status": {"observedGeneration": 2}
        }))
        .expect("template")
    }

    /// A domain's templates come due together at the domain's slot, once per period; one that
    /// waits on a retry is left to it until it settles.
    #[test]
    fn the_clock_triggers_a_domains_templates_at_its_slot() {
        let period = Duration::from_secs(60);
        let p = period.as_millis() as u64;
        let (store, mut writer) = reflector::store::<LiveSnapshotTemplate>();
        let mut changed = template("new", "one.example.com");
        changed.metadata.generation = Some(3);
        let objects = [
            template("a", "one.example.com"),
            template("b", "one.example.com"),
            template("c", "two.example.com"),
            // Its spec changed and no reconcile has reported on it yet: not the clock's.
            changed,
        ];
        for o in &objects {
            writer.apply_watcher_event(&watcher::Event::Apply(o.clone()));
        }
        let resync = Resync::<LiveSnapshotTemplate>::new(period, true);
        assert!(resync.clocked());
        let slot = 1_800_000_000_000 - 1_800_000_000_000 % p + phase("one.example.com", period);
        let names = |due: Vec<ObjectRef<LiveSnapshotTemplate>>| {
            let mut n: Vec<String> = due.into_iter().map(|r| r.name).collect();
            n.sort();
            n
        };
        let due = names(resync.due(&store, slot - 1, slot));
        assert!(!due.contains(&"new".to_string()), "{due:?}");
        assert!(
            due.starts_with(&["a".to_string(), "b".to_string()]),
            "{due:?}"
        );
        assert!(
            names(resync.due(&store, slot, slot + p - 1))
                .iter()
                .all(|n| n == "c"),
            "not again within the period"
        );
        assert_eq!(names(resync.due(&store, slot + p - 1, slot + p)), due);

        // A template waiting on a retry is skipped, until a reconcile leaves it in sync.
        let _ = resync.hold(&objects[0], Action::requeue(Duration::from_secs(30)));
        assert!(!names(resync.due(&store, slot - 1, slot)).contains(&"a".to_string()));
        assert_eq!(resync.settled(&objects[0]), Action::await_change());
        assert!(names(resync.due(&store, slot - 1, slot)).contains(&"a".to_string()));
    }
}
