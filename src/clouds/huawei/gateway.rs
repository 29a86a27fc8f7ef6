//! The Huawei Cloud API gateway as every service behind it is reached: AK/SK signing (or an IAM
//! token), the client-side rate limiter, one `upstream` span per call, no redirects, a cap on
//! answer size, and error bodies parsed into [`ApiError`]. Live and VOD clients are thin
//! wrappers that name the paths.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};

use super::api::CallObserver;
use super::error::{ApiError, Operation};
use super::model::ErrorBody;
use super::signer;
use crate::clouds::config::{Auth, ClientConfig};
use crate::clouds::http;
use crate::clouds::limiter::RateLimiter;

pub struct Gateway {
    t: http::Transport,
    config: ClientConfig,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("config", &self.config)
            .finish()
    }
}

impl Gateway {
    pub fn new(config: ClientConfig) -> Result<Self, ApiError> {
        let t = http::Transport::new(&config.endpoint, config.allow_insecure_http, config.timeout)?;
        if config.project_id.is_empty() || config.project_id.contains('/') {
            return Err(ApiError::Config(
                "project id must be a non-empty path segment".into(),
            ));
        }
        Ok(Self { t, config })
    }

    pub fn with_observer(mut self, observer: Arc<dyn CallObserver>) -> Self {
        self.t.set_observer(observer);
        self
    }

    /// Every call first takes a token from `limiter`.
    pub fn with_limiter(mut self, limiter: Arc<RateLimiter>) -> Self {
        self.t.set_limiter(limiter);
        self
    }

    /// Every write is checked against `fence` right before it leaves.
    pub fn with_fence(mut self, fence: Option<Arc<dyn crate::clouds::http::WriteFence>>) -> Self {
        self.t.set_fence(fence);
        self
    }

    pub fn project_id(&self) -> &str {
        &self.config.project_id
    }

    /// The full path of `suffix` under `/{version}/{project_id}/`.
    pub fn path(&self, version: &str, suffix: &str) -> String {
        format!(
            "{}/{version}/{}/{suffix}",
            self.t.base.path().trim_end_matches('/'),
            self.config.project_id
        )
    }

    pub async fn call(
        &self,
        operation: Operation,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<Vec<u8>>,
    ) -> Result<Vec<u8>, ApiError> {
        self.t
            .call(operation, self.send(operation, method, path, query, body))
            .await
    }

    async fn send(
        &self,
        operation: Operation,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<Vec<u8>>,
    ) -> Result<Vec<u8>, ApiError> {
        let mut url = self.t.base.clone();
        url.set_path(path);
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        }
        let content_type = if body.is_some() {
            "application/json; charset=UTF-8"
        } else {
            "application/json"
        };
        let mut headers: Vec<(String, String)> = vec![
            ("Content-Type".into(), content_type.into()),
            ("Host".into(), self.t.host.clone()),
        ];
        match &self.config.auth {
            Auth::AkSk(creds) => {
                let date = jiff::Timestamp::now()
                    .strftime(signer::DATE_FORMAT)
                    .to_string();
                headers.push(("X-Project-Id".into(), self.config.project_id.clone()));
                headers.push(("X-Sdk-Date".into(), date.clone()));
                if let Some(token) = &creds.security_token {
                    headers.push(("X-Security-Token".into(), token.clone()));
                }
                let req = signer::SignableRequest {
                    method: method.as_str(),
                    path,
                    query,
                    headers: &headers,
                    body: body.as_deref().unwrap_or_default(),
                };
                let auth = signer::authorization(&creds.access_key, &creds.secret_key, &date, &req);
                headers.push(("Authorization".into(), auth));
            }
            Auth::Token(token) => headers.push(("X-Auth-Token".into(), token.clone())),
        }
        let mut builder = self.t.http.request(method, url);
        for (k, v) in &headers {
            // reqwest derives Host from the URL; sending it twice would confuse servers.
            if !k.eq_ignore_ascii_case("host") {
                builder = builder.header(k, v);
            }
        }
        if let Some(body) = body {
            builder = builder.body(body);
        }
        let response = builder
            .send()
            .await
            .map_err(|e| self.t.transport_error(operation, e))?;
        let status = response.status();
        let request_id = response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if let Some(id) = &request_id {
            tracing::Span::current().record("request_id", id.as_str());
        }
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = self.t.read(operation, response).await?;
        if status.is_redirection() {
            return Err(ApiError::Status {
                operation,
                status: status.as_u16(),
                code: "Redirect".into(),
                message: "the endpoint answered with a redirect, which is never followed".into(),
                request_id,
                retry_after: None,
            });
        }
        if status.is_success() {
            return Ok(bytes);
        }
        let parsed: ErrorBody = serde_json::from_slice(&bytes).unwrap_or_default();
        Err(ApiError::Status {
            operation,
            status: status.as_u16(),
            code: parsed
                .code()
                .unwrap_or(status_code_name(status))
                .to_string(),
            message: parsed
                .msg()
                .map(str::to_string)
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes).chars().take(200).collect()),
            request_id,
            retry_after,
        })
    }
}

fn status_code_name(status: StatusCode) -> &'static str {
    status.canonical_reason().unwrap_or("HTTP error")
}
