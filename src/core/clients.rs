//! One upstream client per (endpoint, project, access key), reused across reconciles so
//! connections, the rate limit and any shared reads (domain listings) are shared. Each kind
//! keeps a pool of its own clients. A rotated secret key or security
//! token replaces the client of its access key, and clients unused for a while are dropped, so
//! stale credentials do not stay in memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::metrics::{Metrics, UpstreamObserver};
use crate::clouds::huawei::api::CallObserver;
use crate::clouds::huawei::limiter::RateLimiter;
use crate::clouds::huawei::{ApiError, Auth, ClientConfig};

/// How the clients of the pool treat the upstream.
#[derive(Clone, Debug)]
pub struct UpstreamSettings {
    /// Calls per second per credential and project (0: no limit), and the burst allowed.
    pub qps: f64,
    pub burst: u32,
    /// Serve observations from one domain listing for this long; `None` reads per object.
    pub coalesce_window: Option<Duration>,
}

impl Default for UpstreamSettings {
    fn default() -> Self {
        Self {
            qps: 50.0,
            burst: 20,
            coalesce_window: Some(Duration::from_secs(3)),
        }
    }
}

struct Pooled<C: ?Sized> {
    /// Digest of everything the client was built from, secrets included.
    fingerprint: [u8; 32],
    client: Arc<C>,
    last_used: Instant,
}

pub struct ClientPool<C: ?Sized> {
    /// Keyed by a digest of (endpoint, project, access key): one slot per identity.
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

    /// What a new client tells of its calls (the upstream metrics).
    pub fn observer(&self) -> Arc<dyn CallObserver> {
        Arc::new(UpstreamObserver(self.metrics.clone()))
    }

    /// The client for one credential and project, built by `build` when there is none (or the
    /// credentials rotated); its rate limit and shared reads serve every object that uses it.
    pub fn get(
        &self,
        config: &ClientConfig,
        build: impl FnOnce() -> Result<Arc<C>, ApiError>,
    ) -> Result<Arc<C>, ApiError> {
        let (slot, fingerprint) = (slot(config), fingerprint(config));
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = clients.get_mut(&slot)
            && p.fingerprint == fingerprint
        {
            p.last_used = Instant::now();
            return Ok(p.client.clone());
        }
        let client = build()?;
        clients.insert(
            slot,
            Pooled {
                fingerprint,
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

/// Which identity a configuration speaks for: credentials that rotate keep their slot.
fn slot(c: &ClientConfig) -> [u8; 32] {
    let mut h = Sha256::new();
    let who = match &c.auth {
        Auth::AkSk(k) => k.access_key.as_str(),
        Auth::Token(_) => "",
    };
    for part in [c.endpoint.as_str(), c.project_id.as_str(), who] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.finalize().into()
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
    fn rotated_credentials_replace_their_client_and_idle_ones_go() {
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
        let b = pool.get(&config("two"), build(&config("two"))).unwrap();
        assert!(!Arc::ptr_eq(&a, &b), "a new secret key gets a new client");
        assert_eq!(pool.len(), 1, "the client of the old key is dropped");
        pool.evict_idle(Duration::from_secs(3600));
        assert_eq!(pool.len(), 1);
        pool.evict_idle(Duration::ZERO);
        assert!(pool.is_empty());
    }
}
