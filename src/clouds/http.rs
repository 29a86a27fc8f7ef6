//! What every cloud gateway does around the signed request: wait for the client-side rate
//! limiter, ask the write fence right before a write leaves, run the call in an `upstream` span
//! that records its status, tell the metrics observer, never follow redirects, and refuse an
//! answer larger than the cap.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::Instrument;

use super::error::{ApiError, Operation};

/// The largest answer read from any service (a page of any listing is tens of KiB).
pub const MAX_BODY_BYTES: usize = 4 << 20;
use crate::clouds::limiter::RateLimiter;

/// Asked right before every upstream write leaves whether this process may still write
/// (leader election); an error refuses the write, which is then never sent.
#[async_trait::async_trait]
pub trait WriteFence: Send + Sync {
    async fn check(&self) -> Result<(), String>;
}

/// A JSON answer as `T`; an unreadable one is a decode error of `operation`.
pub fn decode<T: serde::de::DeserializeOwned>(
    operation: Operation,
    bytes: &[u8],
) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| ApiError::Decode {
        operation,
        detail: e.to_string(),
    })
}

/// The endpoint reduced to its origin (see `endpoint::origin`), and the `host[:port]` a
/// signature covers.
pub fn origin_and_host(
    endpoint: &str,
    allow_insecure_http: bool,
) -> Result<(url::Url, String), ApiError> {
    let refused = |e: String| ApiError::Config(format!("endpoint {endpoint:?}: {e}"));
    let origin = super::huawei::endpoint::origin(endpoint, allow_insecure_http).map_err(refused)?;
    let base = url::Url::parse(&origin).map_err(|e| refused(e.to_string()))?;
    let host = match (base.host_str(), base.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        (None, _) => return Err(refused("no host".into())),
    };
    Ok((base, host))
}

/// An HTTP client that never follows a redirect: it would carry the signed request (a security
/// token among its headers) to a host nobody allow-listed.
pub fn client(timeout: Duration) -> Result<reqwest::Client, ApiError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .build()
        .map_err(|e| ApiError::Config(e.to_string()))
}

/// What a gateway sends through: the HTTP client, the endpoint's origin and host, the timeout,
/// and the optional rate limiter and metrics observer every call passes.
pub struct Transport {
    pub http: reqwest::Client,
    pub base: url::Url,
    /// `host[:port]`, as a signature covers it.
    pub host: String,
    pub timeout: Duration,
    observer: Option<Arc<dyn CallObserver>>,
    limiter: Option<Arc<RateLimiter>>,
    fence: Option<Arc<dyn WriteFence>>,
}

impl Transport {
    pub fn new(
        endpoint: &str,
        allow_insecure_http: bool,
        timeout: Duration,
    ) -> Result<Self, ApiError> {
        let (base, host) = origin_and_host(endpoint, allow_insecure_http)?;
        Ok(Self {
            http: client(timeout)?,
            base,
            host,
            timeout,
            observer: None,
            limiter: None,
            fence: None,
        })
    }

    pub fn set_observer(&mut self, observer: Arc<dyn CallObserver>) {
        self.observer = Some(observer);
    }

    /// Every call first takes a token from `limiter`.
    pub fn set_limiter(&mut self, limiter: Arc<RateLimiter>) {
        self.limiter = Some(limiter);
    }

    /// Every write is checked against `fence` once the limiter granted it, just before it leaves.
    pub fn set_fence(&mut self, fence: Option<Arc<dyn WriteFence>>) {
        self.fence = fence;
    }

    /// Runs `send` as one metered call (see [`metered`]).
    pub async fn call<F>(&self, operation: Operation, send: F) -> Result<Vec<u8>, ApiError>
    where
        F: Future<Output = Result<Vec<u8>, ApiError>>,
    {
        metered(
            self.limiter.as_ref(),
            self.fence.as_ref(),
            self.observer.as_ref(),
            operation,
            send,
        )
        .await
    }

    pub fn transport_error(&self, operation: Operation, e: reqwest::Error) -> ApiError {
        transport_error(operation, self.timeout, e)
    }

    pub async fn read(
        &self,
        operation: Operation,
        response: reqwest::Response,
    ) -> Result<Vec<u8>, ApiError> {
        read_capped(operation, self.timeout, response).await
    }
}

/// Runs `send` after the limiter grants a call and, for a write, the fence lets it go, inside
/// an `upstream` span, and reports it. The fence is asked after the limiter's wait, which can be
/// long when writes queue behind reads: a lease lost while a write waited refuses it here.
pub async fn metered<F>(
    limiter: Option<&Arc<RateLimiter>>,
    fence: Option<&Arc<dyn WriteFence>>,
    observer: Option<&Arc<dyn CallObserver>>,
    operation: Operation,
    send: F,
) -> Result<Vec<u8>, ApiError>
where
    F: Future<Output = Result<Vec<u8>, ApiError>>,
{
    if let Some(limiter) = limiter {
        let waiting = Instant::now();
        limiter.acquire().await;
        if let Some(obs) = observer {
            obs.observe_wait(waiting.elapsed());
        }
    }
    if !operation.is_read()
        && let Some(fence) = fence
    {
        fence
            .check()
            .await
            .map_err(|reason| ApiError::Fenced { operation, reason })?;
    }
    let started = Instant::now();
    let span = tracing::info_span!(
        "upstream",
        operation = operation.as_str(),
        status = tracing::field::Empty,
        request_id = tracing::field::Empty,
    );
    let result = send.instrument(span.clone()).await;
    let status = match &result {
        Ok(_) => Some(200),
        Err(ApiError::Status { status, .. }) => Some(*status),
        Err(_) => None,
    };
    match status {
        Some(s) => span.record("status", s),
        None => span.record("status", "no answer"),
    };
    if let Some(obs) = observer {
        obs.observe_call(operation, status, started.elapsed());
    }
    result
}

/// The body, refused when it grows past [`MAX_BODY_BYTES`] whatever `Content-Length` said.
pub async fn read_capped(
    operation: Operation,
    timeout: Duration,
    mut response: reqwest::Response,
) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport_error(operation, timeout, e))?
    {
        if out.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(ApiError::Decode {
                operation,
                detail: format!("answer larger than {MAX_BODY_BYTES} bytes"),
            });
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

pub fn transport_error(operation: Operation, timeout: Duration, e: reqwest::Error) -> ApiError {
    if e.is_timeout() {
        ApiError::Timeout { operation, timeout }
    } else {
        // The URL carries no secret, but strip it anyway to keep messages short.
        ApiError::Transport {
            operation,
            detail: e.without_url().to_string(),
        }
    }
}

/// Told of every upstream call, for metrics.
pub trait CallObserver: Send + Sync {
    /// Time a call waited for the client-side rate limiter.
    fn observe_wait(&self, _waited: std::time::Duration) {}

    fn observe_call(&self, operation: Operation, status: Option<u16>, elapsed: Duration);
}
