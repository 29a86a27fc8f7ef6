//! The `VodAssetSnapshot` custom resource: "this VOD asset has snapshots taken with these
//! settings, and its cover is this one of them". Every rule admission can check lives here.

// kube-derive takes one `printcolumn(...)` per column, which this lint mistakes for repeats.
#![allow(clippy::duplicated_attributes)]

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::core::managed::{
    AdoptionPolicy, DeletionPolicy, ManagedStatus, ManagementPolicy, SecretRef,
};

/// Snapshots of one Huawei Cloud VOD media asset, and optionally which of them is its cover.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "live.snapshot.dev",
    version = "v1alpha1",
    kind = "VodAssetSnapshot",
    plural = "vodassetsnapshots",
    shortname = "vas",
    category = "live",
    namespaced,
    status = "VodAssetSnapshotStatus",
    derive = "PartialEq",
    doc = "Snapshots of a Huawei Cloud VOD media asset and its cover, kept as this spec says by live-snapshot-operator.",
    printcolumn(name = "Asset", type_ = "string", json_path = ".spec.assetId"),
    printcolumn(name = "Type", type_ = "string", json_path = ".spec.thumbnail.type"),
    printcolumn(
        name = "Snapshots",
        type_ = "integer",
        json_path = ".status.atProvider.snapshotCount"
    ),
    printcolumn(
        name = "Cover",
        type_ = "integer",
        json_path = ".status.atProvider.coverOffset"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason"
    ),
    printcolumn(
        name = "Task",
        type_ = "string",
        priority = "1",
        json_path = ".status.atProvider.taskId"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    selectable = ".spec.assetId"
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.thumbnail) != has(self.taskId)").message("give either thumbnail, to start a snapshot task, or taskId, to use a task started elsewhere"))]
pub struct VodAssetSnapshotSpec {
    /// ID of the media asset (from the VOD console or the upload API). Identifies what this
    /// object manages, so it cannot change once set; one object per asset, since an asset has
    /// one cover.
    #[schemars(length(min = 1, max = 128))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("assetId is immutable: create a new object for another asset"))]
    #[x_kube(validation = Rule::new("self == self.lowerAscii()").message("assetId must be written in lower case, as VOD returns asset ids: one spelling keeps two objects from claiming one asset"))]
    pub asset_id: String,

    /// How snapshots are taken: the operator starts a task with these settings. A snapshot
    /// task cannot change once started, so neither can this: create a new object for other
    /// settings. Give this or taskId.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("thumbnail is immutable: a snapshot task cannot change once started; create a new object for other settings"))]
    pub thumbnail: Option<ThumbnailSpec>,

    /// Use this existing snapshot task of the asset (started at upload, from the console or by
    /// other tooling) instead of starting one: its results are read into status and spec.cover
    /// picks among them; the task is never started, changed or deleted by this object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("taskId is immutable: create a new object for another task"))]
    pub task_id: Option<String>,

    /// Which snapshot becomes the asset's cover. The cover is left as it is when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cover: Option<CoverSpec>,

    /// What happens upstream when this object is deleted: Delete (default) deletes the snapshots
    /// of the task this object started, Orphan leaves them (and the cover) in place.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,

    /// Manage (default) starts the task and sets the cover; Observe only reads the asset and
    /// reports, never writing upstream.
    #[serde(default)]
    pub management_policy: ManagementPolicy,

    /// What to do when the asset already has a snapshot task with these settings that this
    /// object did not start: Never (default) leaves it and reports AlreadyExists; IfMatching
    /// takes it over when nothing would change (no cover to set); Always takes it over and sets
    /// the cover. A task taken over is deleted with the object under deletionPolicy Delete.
    #[serde(default)]
    pub adoption_policy: AdoptionPolicy,

    /// Secret in this namespace with the cloud credentials: keys accessKey, secretKey,
    /// projectId, and optionally region, vodEndpoint (must be on the operator's allowlist) and
    /// securityToken. The operator's default credentials are used when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret_ref: Option<SecretRef>,

    /// Write every snapshot of the task (status lists only the first 20) into ConfigMaps of
    /// this namespace, for a downstream Job to read: this name, then NAME-2, NAME-3... when the
    /// list passes 900 KiB, each with snapshots.tsv (offset TAB url per line, in time order).
    /// They are owned by this object and deleted with it; a ConfigMap of that name that this
    /// object did not create is never overwritten.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 240))]
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$')").message("resultsConfigMap must be a ConfigMap name: lower-case letters, digits, '-' and '.'"))]
    pub results_config_map: Option<String>,
}

/// The `thumbnail` settings of a snapshot task (CreateAssetProcessTask).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self.type == 'time' || !has(self.time)").message("thumbnail.time applies only to type time"),
    validation = Rule::new("self.type == 'dots' ? has(self.dots) : !has(self.dots)").message("thumbnail.dots is required for type dots, and applies to no other type"),
    validation = Rule::new("self.type == 'quantity' ? has(self.quantity) : !has(self.quantity) && !has(self.quantityTime)").message("thumbnail.quantity is required for type quantity, and quantity and quantityTime apply to no other type")
)]
pub struct ThumbnailSpec {
    /// time: one snapshot every `time` seconds; dots: at the seconds in `dots`; quantity:
    /// `quantity` snapshots evenly spread.
    #[serde(rename = "type")]
    pub kind: ThumbnailType,
    /// Seconds between snapshots for type time, 0 to 100 as the reference gives (the
    /// service's default is 12).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub time: Option<i64>,
    /// Seconds into the video to snapshot at, for type dots: at least one point. The reference
    /// gives no upper count and does not forbid repeats: the service judges them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    #[schemars(inner(range(min = 0, max = 2147483647)))]
    pub dots: Option<Vec<i64>>,
    /// How many snapshots for type quantity, 1 to 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10))]
    pub quantity: Option<i64>,
    /// For type quantity: spread the snapshots over the first this many seconds (0: the whole
    /// video).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 2147483647))]
    pub quantity_time: Option<i64>,
    /// Keep (default) keeps the video's aspect ratio; SixteenByNine crops to 16:9.
    #[serde(default)]
    pub aspect_ratio: AspectRatio,
    /// Longest side of a snapshot in pixels; the service's default when unset. The reference
    /// gives no upper bound: the service judges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_length: Option<i64>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ThumbnailType {
    Time,
    Dots,
    Quantity,
}

impl ThumbnailType {
    pub fn as_upstream(self) -> &'static str {
        match self {
            ThumbnailType::Time => "time",
            ThumbnailType::Dots => "dots",
            ThumbnailType::Quantity => "quantity",
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum AspectRatio {
    /// Upstream 0.
    #[default]
    Keep,
    /// Upstream 1.
    SixteenByNine,
}

impl AspectRatio {
    pub fn as_upstream(self) -> i64 {
        match self {
            AspectRatio::Keep => 0,
            AspectRatio::SixteenByNine => 1,
        }
    }
}

/// The snapshot that becomes the cover: by its offset in seconds, or by its position.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("(has(self.offset) ? 1 : 0) + (has(self.index) ? 1 : 0) + (has(self.url) ? 1 : 0) == 1").message("cover takes exactly one of offset, index and url"))]
pub struct CoverSpec {
    /// Seconds into the video: the snapshot nearest to it (the earlier one on a tie).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 2147483647))]
    pub offset: Option<i64>,
    /// Position among the task's snapshots in time order, from 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 20580))]
    pub index: Option<i64>,
    /// The snapshot's URL, as UpdateCoverByThumbnail takes it (thumbnailUrl): it must be one
    /// of the task's snapshots (checked before the cover is set, so a URL of another asset's
    /// snapshot never changes that asset's cover).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    #[x_kube(validation = Rule::new("self.startsWith('https://') || self.startsWith('http://')").message("cover.url must be an http(s) URL of a snapshot"))]
    pub url: Option<String>,
}

/// What the operator last saw and did.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VodAssetSnapshotStatus {
    /// Conditions, ownership, drift and the rest every managed kind shows.
    #[serde(flatten)]
    pub managed: ManagedStatus,
    /// The asset's snapshot task and cover as last observed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_provider: Option<VodAtProvider>,
}

/// Snapshots listed in status at most; `snapshotCount` has them all.
pub const LISTED_SNAPSHOTS: usize = 20;

/// The snapshot task and the cover, as last observed.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VodAtProvider {
    pub asset_id: String,
    /// The snapshot task this object started or took over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    /// Running while the task has not finished, then Finished, or Failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_state: Option<String>,
    /// How many snapshots the task made.
    #[serde(default)]
    pub snapshot_count: i64,
    /// The first snapshots in time order (at most 20; snapshotCount has the total).
    #[serde(default)]
    pub snapshots: Vec<SnapshotRef>,
    /// The snapshot URL this object last set as cover.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cover_url: Option<String>,
    /// Seconds into the video of that snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cover_offset: Option<i64>,
    /// The cover URL the asset reported right after this object set it. The service reports a
    /// cover object of its own, not the snapshot URL; a later different value means somebody
    /// else changed the cover.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset_cover_url: Option<String>,
    /// Why the task failed, as VOD's exec_desc said (task state Failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// The ConfigMaps holding every snapshot of the task (spec.resultsConfigMap), in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub results_config_maps: Vec<String>,
}

/// One snapshot.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct SnapshotRef {
    /// Seconds into the video.
    pub offset: i64,
    pub url: String,
}
