//! The error codes of Huawei Cloud VOD that the clients act on (the shared error
//! classification reads them too).

pub const ILLEGAL: &str = "VOD.10053";
pub const NOT_PUBLISHED: &str = "VOD.10060";
pub const STATE_NOT_ALLOWED: &str = "VOD.10061";
pub const NOT_FOUND: &str = "VOD.10062";
pub const AUTH_FAILED: &str = "VOD.10054";
pub const AUTH_FAILED_VST: &str = "VST.10004";
pub const TENANT_MISMATCH: &str = "VOD.10057";
pub const INTERNAL: &str = "VOD.10051";
pub const INTERNAL_COMM: &str = "VOD.10052";
pub const INTERNAL_VST: &str = "VST.10002";
pub const THROTTLED_GW: &str = "APIGW.0308";
