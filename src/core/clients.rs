//! One upstream client per credential set (endpoint, project, access key and its secret key or
//! token), reused across reconciles so connections, the rate limit and any shared reads
//! (domain listings) are shared. Each kind keeps a pool of its own clients. A client is found
//! only by the very credentials it was built from: an object naming someone else's (public)
//! access key ID with a wrong secret gets a client of its own, which fails, and never replaces
//! or resets the working one. A rotated key gets a new client; the old one, unused, is dropped
//! after the idle period, so stale credentials do not stay in memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::metrics::{Metrics, UpstreamObserver};
use crate::clouds::config::{Auth, ClientConfig};
use crate::clouds::error::ApiError;
use crate::clouds::http::CallObserver;
use crate::clouds::limiter::RateLimiter;

/// Asked by the transport right before every upstream write leaves, once the rate limiter granted
/// it, whether this process may still write (leader election); an error refuses the write.
pub use crate::clouds::http::WriteFence as Fence;

/// The fence of a run, if any (none without leader election).
#[derive(Clone, Default)]
pub struct Fencing(pub Option<Arc<dyn Fence>>);

impl std::fmt::Debug for Fencing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Fencing(lease)"
        } else {
            "Fencing(none)"
        })
    }
}

/// How the clients of the pool treat the upstream.
#[derive(Clone, Debug)]
pub struct UpstreamSettings {
    /// Calls per second per credential and project (0: no limit), and the burst allowed.
    pub qps: f64,
    pub burst: u32,
    /// Serve observations from one domain listing for this long; `None` reads per object.
    pub coalesce_window: Option<Duration>,
    /// The write fence every client asks right before a write leaves (set by the core from
    /// `Settings::fencing`).
    pub fencing: Fencing,
}

impl Default for UpstreamSettings {
    fn default() -> Self {
        Self {
            qps: 50.0,
            burst: 20,
            coalesce_window: Some(Duration::from_secs(3)),
            fencing: Fencing::default(),
        }
    }
}

struct Pooled<C: ?Sized> {
    client: Arc<C>,
    last_used: Instant,
}

pub struct ClientPool<C: ?Sized> {
    /// Keyed by a digest of everything a client is built from, secrets included.
    clients: Mutex<HashMap<[u8; 32], Pooled<C>>>,
    settings: UpstreamSettings,
    metrics: Arc<Metrics>,
}

impl<C: ?Sized> ClientPool<C> {
    pub fn new(settings: &UpstreamSettings, metrics: &Arc<Metrics>) -> Self {
        Self {
            clients: Mutex::default(),
            settings: settings.clone(),
            metrics: metrics.clone(),
        }
    }

    pub fn settings(&self) -> &UpstreamSettings {
        &self.settings
    }

    /// A rate limiter for a new client: one per credential, shared by every object using it.
    pub fn limiter(&self) -> Arc<RateLimiter> {
        Arc::new(RateLimiter::new(self.settings.qps, self.settings.burst))
    }

    /// The fence a new client asks before each write.
    pub fn fence(&self) -> Option<Arc<dyn crate::clouds::http::WriteFence>> {
        self.settings.fencing.0.clone()
    }

    /// What a new client tells of its calls (the upstream metrics).
    pub fn observer(&self) -> Arc<dyn CallObserver> {
        Arc::new(UpstreamObserver(self.metrics.clone()))
    }

    /// The client of exactly these credentials, built by `build` when there is none; its rate
    /// limit and shared reads serve every object that uses the same credentials.
    pub fn get(
        &self,
        config: &ClientConfig,
        build: impl FnOnce() -> Result<Arc<C>, ApiError>,
    ) -> Result<Arc<C>, ApiError> {
        let key = fingerprint(config);
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = clients.get_mut(&key) {
            p.last_used = Instant::now();
            return Ok(p.client.clone());
        }
        let client = build()?;
        clients.insert(
            key,
            Pooled {
                client: client.clone(),
                last_used: Instant::now(),
            },
        );
        Ok(client)
    }

    /// Drops the clients nobody used within `idle`.
    pub fn evict_idle(&self, idle: Duration) {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        clients.retain(|_, p| p.last_used.elapsed() < idle);
    }

    pub fn len(&self) -> usize {
        self.clients.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A digest, so the map never holds secrets as keys in the clear.
fn fingerprint(c: &ClientConfig) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in [c.endpoint.as_str(), c.project_id.as_str()] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    match &c.auth {
        Auth::AkSk(k) => {
            for part in [
                &k.access_key,
                &k.secret_key,
                k.security_token.as_deref().unwrap_or(""),
            ] {
                h.update(part.as_bytes());
                h.update([0]);
            }
        }
        Auth::Token(t) => h.update(t.as_bytes()),
    }
    h.update(c.timeout.as_millis().to_le_bytes());
    h.update([u8::from(c.allow_insecure_http)]);
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clouds::huawei::Credentials;

    fn config(sk: &str) -> ClientConfig {
        ClientConfig {
            endpoint: "http://127.0.0.1:1".into(),
            project_id: "p".into(),
            auth: Auth::AkSk(Credentials {
                access_key: "ak".into(),
                secret_key: sk.into(),
                security_token: None,
            }),
            timeout: Duration::from_secs(1),
            allow_insecure_http: false,
        }
    }

    #[test]
    fn a_wrong_secret_gets_its_own_client_and_idle_ones_go() {
        let pool = ClientPool::<String>::new(
            &UpstreamSettings::default(),
            &Arc::new(crate::core::metrics::Metrics::new()),
        );
        let build = |c: &ClientConfig| {
            let c = c.clone();
            move || Ok(Arc::new(c.project_id))
        };
        let a = pool.get(&config("one"), build(&config("one"))).unwrap();
        let again = pool.get(&config("one"), build(&config("one"))).unwrap();
        assert!(Arc::ptr_eq(&a, &again));
        // Another object names the same (public) access key ID with a junk secret.
        let junk = pool.get(&config("junk"), build(&config("junk"))).unwrap();
        assert!(
            !Arc::ptr_eq(&a, &junk),
            "a different secret key gets its own client"
        );
        let still = pool.get(&config("one"), build(&config("one"))).unwrap();
        assert!(
            Arc::ptr_eq(&a, &still),
            "the working client is neither replaced nor rebuilt (its limiter and listings stay)"
        );
        assert_eq!(pool.len(), 2);
        pool.evict_idle(Duration::from_secs(3600));
        assert_eq!(pool.len(), 2);
        pool.evict_idle(Duration::ZERO);
        assert!(pool.is_empty());
    }
}
