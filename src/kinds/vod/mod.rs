//! `VodAssetSnapshot`: a snapshot task on a Huawei Cloud VOD media asset, and optionally which
//! of its snapshots is the asset's cover. Identified by the asset: an asset has one cover, so
//! one object manages it.

pub mod external;
pub mod reads;
pub mod resource;
pub mod results;

use crate::clouds::Service;
use crate::clouds::huawei::ApiError;
use crate::clouds::huawei::vod::codes;
use crate::core::managed::{
    AdoptionPolicy, DeletionPolicy, KindStatus, Managed, ManagedStatus, Policies,
};
use resource::{VodAssetSnapshot, VodAssetSnapshotStatus, VodAtProvider};

/// Condition reasons of this kind.
pub mod reason {
    /// The asset does not exist (VOD.10062); retried, since it may be uploaded later.
    pub const ASSET_NOT_FOUND: &str = "AssetNotFound";
    /// The asset is still uploading or transcoding, or in a state that forbids the change
    /// (VOD.10060, VOD.10061); retried.
    pub const ASSET_NOT_READY: &str = "AssetNotReady";
    /// The snapshot task is running; looked at again every few seconds.
    pub const SNAPSHOTTING: &str = "Snapshotting";
    /// spec.cover names no snapshot the task made.
    pub const COVER_NOT_FOUND: &str = "CoverNotFound";
    /// spec.taskId names no task of the asset.
    pub const TASK_NOT_FOUND: &str = "TaskNotFound";
    /// The snapshot task failed (`THUMBNAIL_FAILED`): terminal, with VOD's `exec_desc`.
    pub const SNAPSHOT_FAILED: &str = "SnapshotFailed";
    /// After a create whose answer was lost, more than one task with this object's settings
    /// was started on the asset: none is taken as this object's (retried; spec.taskId settles it).
    pub const TASK_AMBIGUOUS: &str = "TaskAmbiguous";
    /// spec.resultsConfigMap names a ConfigMap this object did not create (never overwritten).
    pub const RESULTS_CONFIGMAP_TAKEN: &str = "ResultsConfigMapTaken";
    /// The namespace has not let the operator write ConfigMaps, or a write failed; retried.
    pub const RESULTS_NOT_WRITTEN: &str = "ResultsNotWritten";
}

impl Managed for VodAssetSnapshot {
    const KIND: &'static str = "VodAssetSnapshot";
    type Status = VodAssetSnapshotStatus;
    type Connector = external::VodConnector;

    fn status(&self) -> Option<&Self::Status> {
        self.status.as_ref()
    }

    /// A followed task (spec.taskId) is the one the user named: used without adoption, and
    /// never deleted with the object.
    fn policies(&self) -> Policies {
        match self.spec.task_id {
            Some(_) => Policies {
                deletion: DeletionPolicy::Orphan,
                management: self.spec.management_policy,
                adoption: AdoptionPolicy::Always,
            },
            None => Policies {
                deletion: self.spec.deletion_policy,
                management: self.spec.management_policy,
                adoption: self.spec.adoption_policy,
            },
        }
    }

    fn credentials_secret(&self) -> Option<&str> {
        self.spec
            .credentials_secret_ref
            .as_ref()
            .map(|r| r.name.as_str())
    }

    fn secrets(&self) -> Vec<&str> {
        self.credentials_secret().into_iter().collect()
    }

    fn service() -> Service {
        Service::Vod
    }

    fn identity(&self) -> String {
        format!("VOD asset {}", self.spec.asset_id)
    }

    fn describe(&self) -> String {
        format!("snapshot task of VOD asset {}", self.spec.asset_id)
    }

    fn shard_key(&self) -> &str {
        &self.spec.asset_id
    }

    fn shares_resync(coalesced: bool) -> bool {
        coalesced
    }

    /// An asset's objects share a slot, and so one read of the asset and its tasks.
    fn resync_key(&self, coalesced: bool) -> String {
        if coalesced {
            self.spec.asset_id.clone()
        } else {
            kube::ResourceExt::uid(self).unwrap_or_else(|| kube::ResourceExt::name_any(self))
        }
    }

    fn reason_for(err: &ApiError) -> Option<&'static str> {
        match err.code() {
            codes::NOT_PUBLISHED | codes::STATE_NOT_ALLOWED => Some(reason::ASSET_NOT_READY),
            codes::NOT_FOUND => Some(reason::ASSET_NOT_FOUND),
            _ => None,
        }
    }
}

impl KindStatus for VodAssetSnapshotStatus {
    type AtProvider = VodAtProvider;

    fn managed(&self) -> &ManagedStatus {
        &self.managed
    }

    fn managed_mut(&mut self) -> &mut ManagedStatus {
        &mut self.managed
    }

    fn at_provider(&self) -> Option<&VodAtProvider> {
        self.at_provider.as_ref()
    }

    fn set_at_provider(&mut self, at: VodAtProvider) {
        self.at_provider = Some(at);
    }

    fn clear_at_provider(&mut self) {
        self.at_provider = None;
    }
}
