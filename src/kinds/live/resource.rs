//! The `LiveSnapshotTemplate` custom resource: spec in Kubernetes style, status in the shape
//! of the API conventions. Every rule that admission can check lives here, as schema or CEL.

// kube-derive takes one `printcolumn(...)` per column, which this lint mistakes for repeats.
#![allow(clippy::duplicated_attributes)]

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use crate::core::managed::{
    AdoptionPolicy, DeletionPolicy, FINALIZER, FieldDrift, ManagedStatus, ManagementPolicy,
    Ownership, OwnershipState, PAUSED_ANNOTATION, RECONCILE_ANNOTATION, SecretKeyRef, SecretRef,
};

pub const GROUP: &str = "live.snapshot.dev";

/// A snapshot-capturing template of Huawei Cloud Live: how often the streams of one domain and
/// application are snapshotted, which frames, and where the JPG files go.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "live.snapshot.dev",
    version = "v1alpha1",
    kind = "LiveSnapshotTemplate",
    plural = "livesnapshottemplates",
    shortname = "lst",
    category = "live",
    namespaced,
    status = "LiveSnapshotTemplateStatus",
    derive = "PartialEq",
    doc = "A Huawei Cloud Live snapshot-capturing template, kept equal to this spec by live-snapshot-operator.",
    printcolumn(name = "Domain", type_ = "string", json_path = ".spec.domain"),
    printcolumn(name = "App", type_ = "string", json_path = ".spec.appName"),
    printcolumn(name = "Interval", type_ = "integer", json_path = ".spec.timeInterval"),
    printcolumn(name = "Mode", type_ = "string", json_path = ".spec.snapshotMode"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Synced",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Synced\")].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        priority = "1",
        json_path = ".status.conditions[?(@.type==\"Synced\")].reason"
    ),
    printcolumn(
        name = "Owned",
        type_ = "string",
        priority = "1",
        json_path = ".status.ownership.state"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    selectable = ".spec.domain",
    selectable = ".spec.appName"
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new(
        "self.objectWriteMode != 'Full' || !has(self.imageObjectFormat) || self.imageObjectFormat.findAll('[{][{][.](unix_time|unix_time_milli|fmt_time_utc|fmt_time_local)[}][}]').size() == 1"
    ).message("imageObjectFormat must hold exactly one time placeholder ({{.unix_time}}, {{.unix_time_milli}}, {{.fmt_time_utc}} or {{.fmt_time_local}}) when objectWriteMode is Full, or every snapshot would overwrite the last").field_path(".imageObjectFormat"),
    validation = Rule::new(
        "self.objectWriteMode != 'Overwrite' || !has(self.imageObjectFormat) || !self.imageObjectFormat.matches('[{][{][.](unix_time|unix_time_milli|fmt_time_utc|fmt_time_local)[}][}]')"
    ).message("imageObjectFormat must not hold a time placeholder when objectWriteMode is Overwrite: the file name would never repeat").field_path(".imageObjectFormat")
)]
pub struct LiveSnapshotTemplateSpec {
    /// Ingest (push) domain the template applies to, e.g. push.example.com. With appName it
    /// identifies the template upstream, so it cannot change once set.
    #[schemars(length(min = 1, max = 255))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("domain is immutable: create a new object for another domain"))]
    #[x_kube(validation = Rule::new("self == self.lowerAscii()").message("domain must be written in lower case: domain names are case-insensitive, and one spelling keeps two objects from claiming one template"))]
    pub domain: String,

    /// Application name in the stream's push URL, e.g. live. Immutable, like domain.
    #[schemars(length(min = 1, max = 128))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("appName is immutable: create a new object for another application"))]
    pub app_name: String,

    /// Seconds between two snapshots of a stream, 5 to 3600.
    #[schemars(range(min = 5, max = 3600))]
    pub time_interval: i32,

    /// Which frames are captured: keyframe (default), nokeyframe or random.
    #[serde(default)]
    pub snapshot_mode: SnapshotMode,

    /// Full (default) keeps every snapshot, each file named with a time placeholder; Overwrite
    /// keeps only the latest.
    #[serde(default)]
    pub object_write_mode: ObjectWriteMode,

    /// Where the JPG files are written in OBS.
    pub obs_location: ObsLocationSpec,

    /// File-name template of the JPGs, with placeholders {{.obs_object}}, {{.domain}}, {{.app}},
    /// {{.stream}} and, in Full mode, exactly one of {{.unix_time}}, {{.unix_time_milli}},
    /// {{.fmt_time_utc}}, {{.fmt_time_local}}. Left to the service's default when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    #[x_kube(
        validation = Rule::new(
            "self.findAll('[{][{][^}]*[}][}]').all(p, p in ['{{.obs_object}}', '{{.domain}}', '{{.app}}', '{{.stream}}', '{{.unix_time}}', '{{.unix_time_milli}}', '{{.fmt_time_utc}}', '{{.fmt_time_local}}'])"
        ).message("imageObjectFormat may only use the placeholders {{.obs_object}}, {{.domain}}, {{.app}}, {{.stream}}, {{.unix_time}}, {{.unix_time_milli}}, {{.fmt_time_utc}} and {{.fmt_time_local}}"),
        validation = Rule::new(
            "self.findAll('[{][{]').size() == self.findAll('[{][{][^}]*[}][}]').size()"
        ).message("imageObjectFormat has a placeholder that is not closed with }}: the service would refuse it")
    )]
    pub image_object_format: Option<String>,

    /// Protocol of the snapshot URLs handed out: http or https. Service default when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_access_protocol: Option<ImageAccessProtocol>,

    /// Domain of the snapshot URLs handed out. Service default when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 255))]
    pub image_access_domain: Option<String>,

    /// Callback told of each snapshot. Left as it is upstream when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback: Option<CallbackSpec>,

    /// What happens upstream when this object is deleted: Delete (default) removes the template,
    /// Orphan leaves it in the cloud.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,

    /// Manage (default) creates and updates the template; Observe only reads it and reports
    /// drift, never writing upstream (and never deleting it).
    #[serde(default)]
    pub management_policy: ManagementPolicy,

    /// What to do when a template with this domain and appName already exists upstream and was
    /// not created by this object: Never (default) leaves it untouched and reports
    /// AlreadyExists; IfMatching takes it over only when it already equals this spec (nothing
    /// upstream changes); Always takes it over and makes it match this spec. A template taken
    /// over is deleted with the object under deletionPolicy Delete, like one it created.
    #[serde(default)]
    pub adoption_policy: AdoptionPolicy,

    /// Secret in this namespace with the cloud credentials for this object: keys accessKey,
    /// secretKey, projectId, and optionally region, endpoint (must be on the operator's
    /// allowlist) and securityToken. The operator's default credentials are used when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret_ref: Option<SecretRef>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SnapshotMode {
    #[default]
    Keyframe,
    Nokeyframe,
    Random,
}

impl SnapshotMode {
    pub fn as_upstream(self) -> &'static str {
        match self {
            SnapshotMode::Keyframe => "keyframe",
            SnapshotMode::Nokeyframe => "nokeyframe",
            SnapshotMode::Random => "random",
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum ObjectWriteMode {
    /// Upstream 0: every snapshot is kept, its name carrying a timestamp.
    #[default]
    Full,
    /// Upstream 1: only the latest snapshot is kept.
    Overwrite,
}

impl ObjectWriteMode {
    pub fn as_upstream(self) -> i64 {
        match self {
            ObjectWriteMode::Full => 0,
            ObjectWriteMode::Overwrite => 1,
        }
    }
    pub fn from_upstream(v: i64) -> Option<Self> {
        match v {
            0 => Some(ObjectWriteMode::Full),
            1 => Some(ObjectWriteMode::Overwrite),
            _ => None,
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ImageAccessProtocol {
    Http,
    Https,
}

impl ImageAccessProtocol {
    pub fn as_upstream(self) -> &'static str {
        match self {
            ImageAccessProtocol::Http => "http",
            ImageAccessProtocol::Https => "https",
        }
    }
}

/// An OBS location.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, JsonSchema)]
pub struct ObsLocationSpec {
    /// Bucket name.
    #[schemars(length(min = 1, max = 64))]
    pub bucket: String,
    /// Region of the bucket; must be the Live service's region, e.g. cn-north-4.
    #[schemars(length(min = 1, max = 128))]
    pub location: String,
    /// Directory path inside the bucket, e.g. snapshots/.
    #[schemars(length(min = 1, max = 1024))]
    pub object: String,
}

/// Snapshot callback.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!self.enabled || has(self.url)").message("callback.url is required when callback.enabled is true"))]
pub struct CallbackSpec {
    /// Whether the callback is called.
    #[serde(default)]
    pub enabled: bool,
    /// http:// or https:// URL told of snapshot progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    #[x_kube(validation = Rule::new("isURL(self) && url(self).getScheme() in ['http', 'https'] && url(self).getHostname() != ''").message("callback.url must be an absolute http:// or https:// URL"))]
    pub url: Option<String>,
    /// Key (32 to 128 characters) the service signs callbacks with, read from a Secret in this
    /// namespace; never copied into this object, its status, events or logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_key_secret_ref: Option<SecretKeyRef>,
}

/// What the operator last saw and did.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LiveSnapshotTemplateStatus {
    /// Conditions, ownership, drift and the rest every managed kind shows.
    #[serde(flatten)]
    pub managed: ManagedStatus,
    /// The upstream template as last observed (the callback key is never shown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_provider: Option<AtProvider>,
}

/// The upstream template, in the spec's vocabulary.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AtProvider {
    pub domain: String,
    pub app_name: String,
    pub time_interval: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_write_mode: Option<String>,
    pub obs_location: ObsLocationSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_object_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_access_protocol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_access_domain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    /// Whether an authentication key is set upstream (the key itself is never shown).
    pub callback_auth_key_set: bool,
}
