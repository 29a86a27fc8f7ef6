//! The upstream `LiveSnapshotConfig` as it travels on the wire (snake_case JSON).

use serde::{Deserialize, Serialize};

/// One snapshot-capturing template; identified by (project, `domain`, `app_name`).
///
/// Optional fields are `None` when the caller leaves them to the service's default. `Debug` is
/// hand-written so that `auth_key` never reaches a log line.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct LiveSnapshotConfig {
    pub domain: String,
    pub app_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_key: Option<String>,
    pub time_interval: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_write_mode: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_mode: Option<String>,
    pub obs_location: ObsLocation,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_back_enable: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_back_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_object_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_access_protocol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_access_domain: Option<String>,
}

impl std::fmt::Debug for LiveSnapshotConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveSnapshotConfig")
            .field("domain", &self.domain)
            .field("app_name", &self.app_name)
            .field("auth_key", &self.auth_key.as_ref().map(|_| "<redacted>"))
            .field("time_interval", &self.time_interval)
            .field("object_write_mode", &self.object_write_mode)
            .field("snapshot_mode", &self.snapshot_mode)
            .field("obs_location", &self.obs_location)
            .field("call_back_enable", &self.call_back_enable)
            .field("call_back_url", &self.call_back_url)
            .field("image_object_format", &self.image_object_format)
            .field("image_access_protocol", &self.image_access_protocol)
            .field("image_access_domain", &self.image_access_domain)
            .finish()
    }
}

/// Where snapshots are written in object storage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ObsLocation {
    pub bucket: String,
    pub location: String,
    pub object: String,
}

/// Body of a successful list call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct ListResponse {
    #[serde(default)]
    pub total: i64,
    #[serde(default)]
    pub offset: i64,
    #[serde(default)]
    pub limit: i64,
    #[serde(default)]
    pub snapshot_config_list: Vec<LiveSnapshotConfig>,
}

/// Body of an error answer: the Live service says `error_code`/`error_msg`, API gateways
/// sometimes `code`/`message`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct ErrorBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_msg: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl ErrorBody {
    pub fn new(code: &str, msg: impl Into<String>) -> Self {
        Self {
            error_code: Some(code.to_string()),
            error_msg: Some(msg.into()),
            ..Default::default()
        }
    }
    pub fn code(&self) -> Option<&str> {
        self.error_code.as_deref().or(self.code.as_deref())
    }
    pub fn msg(&self) -> Option<&str> {
        self.error_msg.as_deref().or(self.message.as_deref())
    }
}

/// Error codes of the Live API and its gateway that the operator acts on.
pub mod codes {
    pub const INVALID_PARAMETER: &str = "LIVE.100011001";
    pub const NO_PERMISSION: &str = "LIVE.100011003";
    pub const ACCOUNT_NOT_ALLOWED: &str = "LIVE.100011014";
    pub const ALREADY_EXISTS: &str = "LIVE.103011018";
    pub const NOT_FOUND: &str = "LIVE.103011019";
    pub const QUOTA_REACHED: &str = "LIVE.103011020";
    pub const DATABASE_FAILED: &str = "LIVE.103011021";
    pub const STATE_NOT_ALLOWED: &str = "LIVE.103011022";
    pub const SIGNATURE_FAILED: &str = "APIG.0301";
    pub const SIGNATURE_FAILED_GW: &str = "APIGW.0301";
    pub const THROTTLED: &str = "APIG.0308";
    pub const INTERNAL: &str = "LIVE.100011500";
}
