//! Where a client's calls go and with which identity: the same for every cloud.

use std::time::Duration;

/// An access key pair. `Debug` never shows the secret parts.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key: String,
    pub secret_key: String,
    pub security_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key", &"<redacted>")
            .field("secret_key", &"<redacted>")
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    AkSk(Credentials),
    Token(String),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::AkSk(c) => f.debug_tuple("AkSk").field(c).finish(),
            Auth::Token(_) => f.write_str("Token(<redacted>)"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// `https://live.{region}.myhuaweicloud.com`, or `http://127.0.0.1:PORT` for the simulator.
    pub endpoint: String,
    pub project_id: String,
    pub auth: Auth,
    /// Limit for one whole call, connect to last byte.
    pub timeout: Duration,
    /// Allow plain http to hosts other than loopback.
    pub allow_insecure_http: bool,
}

impl ClientConfig {
    pub fn endpoint_for_region(region: &str) -> String {
        super::huawei::endpoint::for_region(region)
    }
}
