//! The `MpsSnapshotJob` custom resource: one Alibaba Cloud MPS snapshot job. Like a
//! Kubernetes Job, its spec cannot change once created: a job is submitted once.

// kube-derive takes one `printcolumn(...)` per column, which this lint mistakes for repeats.
#![allow(clippy::duplicated_attributes)]

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::core::managed::{ManagedStatus, SecretRef};

/// An Alibaba Cloud ApsaraVideo Media Processing snapshot job: JPG snapshots (and optionally a
/// mosaic) of a video in OSS, submitted once and followed to Success or Fail.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "live.snapshot.dev",
    version = "v1alpha1",
    kind = "MpsSnapshotJob",
    plural = "mpssnapshotjobs",
    shortname = "msj",
    category = "live",
    namespaced,
    status = "MpsSnapshotJobStatus",
    derive = "PartialEq",
    doc = "An Alibaba Cloud MPS snapshot job, submitted once and followed to its end by live-snapshot-operator.",
    printcolumn(name = "Region", type_ = "string", json_path = ".spec.region"),
    printcolumn(
        name = "State",
        type_ = "string",
        json_path = ".status.atProvider.state"
    ),
    printcolumn(
        name = "Snapshots",
        type_ = "integer",
        json_path = ".status.atProvider.count"
    ),
    printcolumn(
        name = "Tiles",
        type_ = "integer",
        priority = "1",
        json_path = ".status.atProvider.tileCount"
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
        name = "Job",
        type_ = "string",
        priority = "1",
        json_path = ".status.atProvider.jobId"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self == oldSelf").message("an MpsSnapshotJob cannot change once created, as a submitted job cannot: create a new object"))]
#[x_kube(validation = Rule::new("has(self.jobId) ? !(has(self.pipelineId) || has(self.input) || has(self.output) || has(self.userData) || has(self.jobKey)) : (has(self.pipelineId) && has(self.input) && has(self.output))").message("give either jobId, to follow a job submitted elsewhere, or pipelineId, input and output, to submit one"))]
pub struct MpsSnapshotJobSpec {
    /// Alibaba Cloud region of MPS and of the buckets, e.g. cn-shanghai. Decides the endpoint
    /// (https://mts.{region}.aliyuncs.com, or the host the official SDK maps the region to).
    #[schemars(length(min = 2, max = 40))]
    #[x_kube(validation = Rule::new("self.matches('^[a-z]{2,}(-[a-z0-9]+)+$')").message("region must be a region id such as cn-shanghai: lowercase words and numbers joined by hyphens"))]
    pub region: String,

    /// The MPS pipeline (queue) the job runs in. Required unless jobId is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub pipeline_id: Option<String>,

    /// The video to snapshot: an object in an OSS bucket of the region, added to MPS as a
    /// media bucket. Required unless jobId is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<OssObject>,

    /// Where the JPG files go. The object name may hold {Count} for the snapshot's number.
    /// Required unless jobId is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<OssObject>,

    /// Follow this existing job instead of submitting one (a job your pipeline code or the
    /// console submitted): its state, counts and outputs are read into status, batched with the
    /// other polls; nothing is submitted, changed or deleted. Give no pipelineId, input, output,
    /// userData or jobKey with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z0-9-]+$')").message("jobId is a job id such as 72dfa5e679ab4be9a3ed9974c736aaaa"))]
    pub job_id: Option<String>,

    /// What to capture.
    #[serde(default)]
    pub snapshot: SnapshotSpec,

    /// Your own UserData for the job (delivered in its MNS messages): letters, digits and
    /// hyphens, not starting with a hyphen. The operator appends its tag (`-lso-` and 32 hex
    /// digits) to find the job again, so the whole stays within the API's 1,024 bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 987))]
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z0-9][A-Za-z0-9-]*$')").message("userData takes letters, digits and hyphens, and must not start with a hyphen (the API's rule)"))]
    pub user_data: Option<String>,

    /// What names this job across clusters. The job is tagged with a digest of this key (or,
    /// when unset, of the namespace, the name and the spec), so the same manifest applied to a
    /// rebuilt cluster finds the job it submitted instead of paying for it again (within 7
    /// days). Give a key to keep one job across a rename; change it to run the job again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z0-9][A-Za-z0-9._-]*$')").message("jobKey takes letters, digits, dots, underscores and hyphens"))]
    pub job_key: Option<String>,

    /// Secret in this namespace with the Alibaba Cloud AccessKey: keys accessKey, secretKey,
    /// optionally securityToken (STS) and mpsEndpoint (must be on the operator's allowlist).
    pub credentials_secret_ref: SecretRef,
}

/// An OSS object. Give the object name as it is; the operator URL-encodes it for the API.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OssObject {
    /// Bucket name.
    #[schemars(length(min = 3, max = 63))]
    pub bucket: String,
    /// OSS location of the bucket, e.g. oss-cn-shanghai.
    #[schemars(length(min = 1, max = 64))]
    pub location: String,
    /// Object name, e.g. videos/launch.mp4.
    #[schemars(length(min = 1, max = 1023))]
    pub object: String,
    /// RAM role MPS assumes to read or write the bucket, when not its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub role_arn: Option<String>,
}

/// The snapshot settings (`SnapshotConfig`). With neither interval nor num nor timePointsMs
/// the job takes one snapshot at timeMs.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.timePointsMs) || !(has(self.timeMs) || has(self.interval) || has(self.num))").message("snapshot.timePointsMs cannot be combined with timeMs, interval or num (the API refuses it as InvalidParameter.Ambiguity)"))]
pub struct SnapshotSpec {
    /// Where the first snapshot is taken, in milliseconds from the start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub time_ms: Option<i64>,
    /// Seconds between snapshots (the reference: greater than 0; no upper bound is given, so
    /// the service judges larger values).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub interval: Option<i64>,
    /// How many snapshots (no upper bound in the reference: the service judges).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub num: Option<i64>,
    /// Output width in pixels; the video's when unset. The reference gives no range: the
    /// service judges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub width: Option<i64>,
    /// Output height in pixels; the video's when unset. The reference gives no range: the
    /// service judges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub height: Option<i64>,
    /// normal: the exact frame; intra: the keyframe nearest each time point. The service's
    /// default when unset (the reference and the SDK disagree on which).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame_type: Option<FrameType>,
    /// Time points in milliseconds, instead of timeMs, interval and num: 1 to 100 of them, in
    /// any order, repeats allowed, with up to two decimals (e.g. 1500.25).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 100))]
    #[schemars(inner(range(min = 0)))]
    #[x_kube(validation = Rule::new("self.all(t, t * 100.0 - double(int(t * 100.0 + 0.5)) < 0.000001 && double(int(t * 100.0 + 0.5)) - t * 100.0 < 0.000001)").message("snapshot.timePointsMs takes milliseconds with at most two decimals"))]
    pub time_points_ms: Option<Vec<f64>>,
    /// A mosaic (sprite) of the snapshots as well.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tile: Option<TileSpec>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FrameType {
    Normal,
    Intra,
}

/// Mosaic settings (`TileOut`) and where the mosaic goes (`TileOutputFile`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TileSpec {
    /// Where the mosaic images go.
    pub output: OssObject,
    /// Rows of a mosaic (default 10; no upper bound in the reference).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub lines: Option<i64>,
    /// Columns of a mosaic (default 10; no upper bound in the reference).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub columns: Option<i64>,
    /// Cell width in pixels (no range in the reference: the service judges).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub cell_width: Option<i64>,
    /// Cell height in pixels (no range in the reference: the service judges).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub cell_height: Option<i64>,
    /// Use every n-th snapshot in the mosaic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub cell_sel_step: Option<i64>,
    /// Outer margin in pixels (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub margin: Option<i64>,
    /// Space between cells in pixels (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub padding: Option<i64>,
    /// Background colour: a keyword such as black, #rrggbb, or random (default black).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 32))]
    pub color: Option<String>,
    /// Whether the single snapshots are kept beside the mosaic (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_cell_pictures: Option<bool>,
}

/// What the operator last saw and did.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MpsSnapshotJobStatus {
    /// Conditions, ownership and the rest every managed kind shows.
    #[serde(flatten)]
    pub managed: ManagedStatus,
    /// The job as last observed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_provider: Option<MpsAtProvider>,
}

/// The job as last observed.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MpsAtProvider {
    pub job_id: String,
    /// Submitted, Snapshoting (the API's spelling), Success or Fail.
    pub state: String,
    /// The upstream error code of a failed job, e.g. InvalidParameter.ResourceNotFound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Snapshots taken.
    #[serde(default)]
    pub count: i64,
    /// Mosaic images made.
    #[serde(default)]
    pub tile_count: i64,
    /// When MPS created the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_time: Option<String>,
    /// The pipeline the job ran in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_id: Option<String>,
    /// The UserData the job carries: spec.userData, if any, and the operator's tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_data: Option<String>,
    /// Where the snapshots were written: the object name pattern as the job echoes it and the
    /// number written. How MPS expands {Count} in the name is not in the reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<WrittenFiles>,
    /// Where the mosaic images were written, likewise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tile_output: Option<WrittenFiles>,
    /// The job's MNS notification: its message id, or the error that kept it from being sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mns_message_result: Option<MnsMessageResult>,
}

/// Files a job wrote to OSS.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WrittenFiles {
    pub bucket: String,
    pub location: String,
    /// The object name as configured (decoded), {Count} included.
    pub object_pattern: String,
    /// How many files.
    pub count: i64,
}

/// `MNSMessageResult` of a job.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MnsMessageResult {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}
