//! The Alibaba Cloud RPC gateway as an MPS client reaches it: `POST /` with every parameter in
//! the query, signed with ACS3-HMAC-SHA256, through the client-side rate limiter, one
//! `upstream` span per call, no redirects, a capped answer, and error bodies parsed into
//! [`ApiError`].

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::signer;
use crate::clouds::config::{Auth, ClientConfig};
use crate::clouds::error::{ApiError, Operation};
use crate::clouds::http;
use crate::clouds::huawei::api::CallObserver;
use crate::clouds::limiter::RateLimiter;

pub struct RpcGateway {
    t: http::Transport,
    config: ClientConfig,
}

impl std::fmt::Debug for RpcGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcGateway")
            .field("config", &self.config)
            .finish()
    }
}

/// `{RequestId, HostId, Code, Message}`; the SDK also reads the lower-case spellings.
#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default, alias = "code")]
    #[serde(rename = "Code")]
    code: Option<String>,
    #[serde(default, alias = "message")]
    #[serde(rename = "Message")]
    message: Option<String>,
    #[serde(default, alias = "requestId")]
    #[serde(rename = "RequestId")]
    request_id: Option<String>,
}

impl RpcGateway {
    pub fn new(config: ClientConfig) -> Result<Self, ApiError> {
        let t = http::Transport::new(&config.endpoint, config.allow_insecure_http, config.timeout)?;
        if !matches!(config.auth, Auth::AkSk(_)) {
            return Err(ApiError::Config(
                "Alibaba Cloud calls need an AccessKey pair".into(),
            ));
        }
        Ok(Self { t, config })
    }

    pub fn with_observer(mut self, observer: Arc<dyn CallObserver>) -> Self {
        self.t.set_observer(observer);
        self
    }

    pub fn with_limiter(mut self, limiter: Arc<RateLimiter>) -> Self {
        self.t.set_limiter(limiter);
        self
    }

    /// Every write is checked against `fence` right before it leaves.
    pub fn with_fence(mut self, fence: Option<Arc<dyn crate::clouds::http::WriteFence>>) -> Self {
        self.t.set_fence(fence);
        self
    }

    /// The region the calls act in (the identity scope, as a project is for Huawei).
    pub fn region(&self) -> &str {
        &self.config.project_id
    }

    /// Calls `action` with `params`; the answer's body.
    pub async fn call(
        &self,
        operation: Operation,
        action: &str,
        params: &[(String, String)],
    ) -> Result<Vec<u8>, ApiError> {
        self.t
            .call(operation, self.send(operation, action, params))
            .await
    }

    async fn send(
        &self,
        operation: Operation,
        action: &str,
        params: &[(String, String)],
    ) -> Result<Vec<u8>, ApiError> {
        let Auth::AkSk(creds) = &self.config.auth else {
            return Err(ApiError::Config("no AccessKey pair".into()));
        };
        let mut headers: Vec<(String, String)> = vec![
            ("host".into(), self.t.host.clone()),
            ("x-acs-version".into(), signer::VERSION.into()),
            ("x-acs-action".into(), action.into()),
            (
                "x-acs-date".into(),
                jiff::Timestamp::now()
                    .strftime(signer::DATE_FORMAT)
                    .to_string(),
            ),
            (
                "x-acs-signature-nonce".into(),
                hex::encode(rand::random::<[u8; 16]>()),
            ),
            ("x-acs-content-sha256".into(), signer::hex_sha256(b"")),
            ("accept".into(), "application/json".into()),
        ];
        if let Some(token) = &creds.security_token {
            headers.push(("x-acs-accesskey-id".into(), creds.access_key.clone()));
            headers.push(("x-acs-security-token".into(), token.clone()));
        }
        let hash = signer::hex_sha256(b"");
        let req = signer::Acs3Request {
            method: "POST",
            path: "/",
            query: params,
            headers: &headers,
            payload_hash: &hash,
        };
        let authorization = signer::acs3_authorization(&creds.access_key, &creds.secret_key, &req);
        let mut url = self.t.base.clone();
        url.set_path("/");
        if !params.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        }
        let mut builder = self
            .t
            .http
            .post(url)
            .header("authorization", authorization)
            .header("content-length", "0");
        for (k, v) in &headers {
            // reqwest derives Host from the URL; sending it twice would confuse servers.
            if k != "host" {
                builder = builder.header(k, v);
            }
        }
        let response = builder
            .send()
            .await
            .map_err(|e| self.t.transport_error(operation, e))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get("x-acs-retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|s| *s > 0)
            .map(Duration::from_secs);
        let bytes = self.t.read(operation, response).await?;
        if status.is_success() {
            return Ok(bytes);
        }
        let parsed: ErrorBody = serde_json::from_slice(&bytes).unwrap_or_default();
        if let Some(id) = &parsed.request_id {
            tracing::Span::current().record("request_id", id.as_str());
        }
        Err(ApiError::Status {
            operation,
            status: status.as_u16(),
            code: parsed
                .code
                .unwrap_or_else(|| status.canonical_reason().unwrap_or("HTTP error").into()),
            message: parsed
                .message
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes).chars().take(200).collect()),
            request_id: parsed.request_id,
            retry_after,
        })
    }
}
