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

/// The official SDK's endpoint map (`alibabacloud-mts20140618`, `Client._endpoint_map`, checked
/// against aliyun/alibabacloud-python-sdk at 001f24a): these regions are served by a host other
/// than `mts.{region}.aliyuncs.com`. Every other region follows that rule.
const ENDPOINT_MAP: [(&str, &str); 40] = [
    ("ap-northeast-2-pop", "mts.ap-northeast-1.aliyuncs.com"),
    ("ap-southeast-2", "mts.ap-northeast-1.aliyuncs.com"),
    ("ap-southeast-3", "mts.ap-northeast-1.aliyuncs.com"),
    ("cn-beijing-finance-1", "mts.aliyuncs.com"),
    ("cn-beijing-finance-pop", "mts.aliyuncs.com"),
    ("cn-beijing-gov-1", "mts.aliyuncs.com"),
    ("cn-beijing-nu16-b01", "mts.aliyuncs.com"),
    ("cn-chengdu", "mts.aliyuncs.com"),
    ("cn-edge-1", "mts.aliyuncs.com"),
    ("cn-fujian", "mts.aliyuncs.com"),
    ("cn-haidian-cm12-c01", "mts.aliyuncs.com"),
    ("cn-hangzhou-bj-b01", "mts.aliyuncs.com"),
    ("cn-hangzhou-finance", "mts.aliyuncs.com"),
    ("cn-hangzhou-internal-prod-1", "mts.aliyuncs.com"),
    ("cn-hangzhou-internal-test-1", "mts.aliyuncs.com"),
    ("cn-hangzhou-internal-test-2", "mts.aliyuncs.com"),
    ("cn-hangzhou-internal-test-3", "mts.aliyuncs.com"),
    ("cn-hangzhou-test-306", "mts.aliyuncs.com"),
    ("cn-hongkong-finance-pop", "mts.aliyuncs.com"),
    ("cn-north-2-gov-1", "mts.aliyuncs.com"),
    ("cn-qingdao", "mts.aliyuncs.com"),
    ("cn-qingdao-nebula", "mts.aliyuncs.com"),
    ("cn-shanghai-et15-b01", "mts.aliyuncs.com"),
    ("cn-shanghai-et2-b01", "mts.aliyuncs.com"),
    ("cn-shanghai-finance-1", "mts.aliyuncs.com"),
    ("cn-shanghai-inner", "mts.aliyuncs.com"),
    ("cn-shanghai-internal-test-1", "mts.aliyuncs.com"),
    ("cn-shenzhen-finance-1", "mts.aliyuncs.com"),
    ("cn-shenzhen-inner", "mts.aliyuncs.com"),
    ("cn-shenzhen-st4-d01", "mts.aliyuncs.com"),
    ("cn-shenzhen-su18-b01", "mts.aliyuncs.com"),
    ("cn-wuhan", "mts.aliyuncs.com"),
    ("cn-yushanfang", "mts.aliyuncs.com"),
    ("cn-zhangbei-na61-b01", "mts.aliyuncs.com"),
    ("cn-zhangjiakou-na62-a01", "mts.aliyuncs.com"),
    ("cn-zhengzhou-nebula-1", "mts.aliyuncs.com"),
    ("eu-west-1-oxs", "mts.ap-northeast-1.aliyuncs.com"),
    ("me-east-1", "mts.ap-northeast-1.aliyuncs.com"),
    ("rus-west-1-pop", "mts.ap-northeast-1.aliyuncs.com"),
    ("us-east-1", "mts.ap-northeast-1.aliyuncs.com"),
];

/// The MPS endpoint of a region that passed `endpoint::valid_region`, as the SDK builds it.
pub fn mps_endpoint(region: &str) -> String {
    match ENDPOINT_MAP.iter().find(|(r, _)| *r == region) {
        Some((_, host)) => format!("https://{host}"),
        None => format!("https://mts.{region}.aliyuncs.com"),
    }
}

#[cfg(test)]
mod tests {
    use super::mps_endpoint;

    #[test]
    fn endpoints_follow_the_sdk_map() {
        assert_eq!(
            mps_endpoint("cn-shanghai"),
            "https://mts.cn-shanghai.aliyuncs.com"
        );
        assert_eq!(mps_endpoint("cn-qingdao"), "https://mts.aliyuncs.com");
        assert_eq!(mps_endpoint("cn-chengdu"), "https://mts.aliyuncs.com");
        assert_eq!(
            mps_endpoint("us-east-1"),
            "https://mts.ap-northeast-1.aliyuncs.com"
        );
        assert_eq!(
            mps_endpoint("ap-southeast-2"),
            "https://mts.ap-northeast-1.aliyuncs.com"
        );
        // Not in the map: the regional rule.
        assert_eq!(
            mps_endpoint("cn-wulanchabu"),
            "https://mts.cn-wulanchabu.aliyuncs.com"
        );
        assert_eq!(
            mps_endpoint("ap-southeast-1"),
            "https://mts.ap-southeast-1.aliyuncs.com"
        );
    }
}
