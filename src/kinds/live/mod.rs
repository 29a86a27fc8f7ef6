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
}
