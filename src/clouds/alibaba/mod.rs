//! Alibaba Cloud: the RPC-style gateway (ACS3-HMAC-SHA256 signing, throttling, error bodies)
//! and the ApsaraVideo Media Processing (MPS) snapshot-job calls. Reference: mps-api.md.

pub mod gateway;
pub mod mps;
pub mod signer;

/// Error codes the operator acts on (mps-api.md, "Errors").
pub mod codes {
    pub const THROTTLED: [&str; 3] = ["Throttling", "Throttling.User", "Throttling.Api"];
    pub const AUTH: [&str; 7] = [
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "InvalidTimeStamp.Expired",
        "Forbidden",
        "Forbidden.RAM",
        "InvalidIdentity.ServiceDisabled",
        "PermissionDenied.ResourceAccess",
    ];
    /// A reused nonce is retried with a fresh one.
    pub const TRANSIENT: [&str; 3] = ["InternalError", "ServiceUnavailable", "SignatureNonceUsed"];
    pub const ACCESS_KEY_NOT_FOUND: &str = "InvalidAccessKeyId.NotFound";
    pub const SIGNATURE_MISMATCH: &str = "SignatureDoesNotMatch";
    pub const TIMESTAMP_EXPIRED: &str = "InvalidTimeStamp.Expired";
    pub const TIMESTAMP_FORMAT: &str = "InvalidTimeStamp.Format";
    pub const NONCE_USED: &str = "SignatureNonceUsed";
    pub const MISSING_PARAMETER: &str = "MissingParameter";
    pub const INVALID_PARAMETER: &str = "InvalidParameter";
    pub const AMBIGUITY: &str = "InvalidParameter.Ambiguity";
    pub const RESOURCE_NOT_FOUND: &str = "InvalidParameter.ResourceNotFound";
    pub const RESOURCE_CONTENT_BAD: &str = "InvalidParameter.ResourceContentBad";
    /// A synchronous job (one snapshot) that took more than 5 s.
    pub const SNAPSHOT_TIMEOUT: &str = "SnapshotTimeOut";
    pub const API_NOT_FOUND: &str = "InvalidApi.NotFound";
    pub const THROTTLING_USER: &str = "Throttling.User";
    pub const INTERNAL: &str = "InternalError";
}

/// Regions whose MPS endpoint is the central `mts.aliyuncs.com` in the official SDK's map.
const CENTRAL: [&str; 7] = [
    "us-east-1",
    "me-east-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "cn-chengdu",
    "cn-wulanchabu",
    "cn-zhangbei",
];

/// The MPS endpoint of a region that passed `endpoint::valid_region`, as the SDK builds it.
pub fn mps_endpoint(region: &str) -> String {
    if CENTRAL.contains(&region) {
        "https://mts.aliyuncs.com".into()
    } else {
        format!("https://mts.{region}.aliyuncs.com")
    }
}
