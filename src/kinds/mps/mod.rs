//! `MpsSnapshotJob`: one Alibaba Cloud MPS snapshot job, submitted once and followed, in
//! batches of 10 per call, until it succeeds or fails. Identified by the object itself: every
//! object is its own job.

pub mod batch;
pub mod external;
pub mod lookup;
pub mod resource;

use crate::clouds::Service;
use crate::core::managed::{
    AdoptionPolicy, DeletionPolicy, KindStatus, Managed, ManagedStatus, ManagementPolicy, Policies,
};
use resource::{MpsAtProvider, MpsSnapshotJob, MpsSnapshotJobStatus};

/// Condition reasons of this kind.
pub mod reason {
    /// Queued in its pipeline.
    pub const SUBMITTED: &str = "Submitted";
    /// Taking snapshots.
    pub const SNAPSHOTTING: &str = "Snapshotting";
    /// Finished: every snapshot taken.
    pub const SUCCEEDED: &str = "Succeeded";
    /// MPS no longer knows the job recorded in status.
    pub const JOB_NOT_FOUND: &str = "JobNotFound";
}

impl Managed for MpsSnapshotJob {
    const KIND: &'static str = "MpsSnapshotJob";
    type Status = MpsSnapshotJobStatus;
    type Connector = external::MpsConnector;

    fn status(&self) -> Option<&Self::Status> {
        self.status.as_ref()
    }

    /// A job is submitted and followed, or (spec.jobId) only followed; it is never adopted or
    /// deleted.
    fn policies(&self) -> Policies {
        Policies {
            deletion: DeletionPolicy::Orphan,
            management: if self.spec.job_id.is_some() {
                ManagementPolicy::Observe
            } else {
                ManagementPolicy::Manage
            },
            adoption: AdoptionPolicy::Never,
        }
    }

    fn credentials_secret(&self) -> Option<&str> {
        Some(self.spec.credentials_secret_ref.name.as_str())
    }

    fn secrets(&self) -> Vec<&str> {
        vec![self.spec.credentials_secret_ref.name.as_str()]
    }

    fn service() -> Service {
        Service::Mps
    }

    fn region(&self) -> Option<&str> {
        Some(&self.spec.region)
    }

    fn intent_key(&self) -> Option<String> {
        self.spec
            .job_id
            .is_none()
            .then(|| external::user_data(self))
    }

    fn identity(&self) -> String {
        match &self.spec.job_id {
            Some(id) => format!("MPS job {id}"),
            None => format!("MPS job {}", external::tag(self)),
        }
    }

    fn describe(&self) -> String {
        format!(
            "MPS snapshot job of {}/{}",
            kube::ResourceExt::namespace(self).unwrap_or_default(),
            kube::ResourceExt::name_any(self)
        )
    }

    fn shard_key(&self) -> &str {
        self.metadata.uid.as_deref().unwrap_or_default()
    }

    fn resync_key(&self, _coalesced: bool) -> String {
        kube::ResourceExt::uid(self).unwrap_or_else(|| kube::ResourceExt::name_any(self))
    }

    fn deletes_upstream() -> bool {
        false
    }

    /// Every submit is a paid job: a refusal or a failure stays final until a retry is asked.
    fn one_shot() -> bool {
        true
    }
}

impl KindStatus for MpsSnapshotJobStatus {
    type AtProvider = MpsAtProvider;

    fn managed(&self) -> &ManagedStatus {
        &self.managed
    }

    fn managed_mut(&mut self) -> &mut ManagedStatus {
        &mut self.managed
    }

    fn at_provider(&self) -> Option<&MpsAtProvider> {
        self.at_provider.as_ref()
    }

    fn set_at_provider(&mut self, at: MpsAtProvider) {
        self.at_provider = Some(at);
    }

    fn clear_at_provider(&mut self) {
        self.at_provider = None;
    }
}
