//! One upstream client per (endpoint, project, credentials), reused across reconciles so
//! connections are pooled.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::upstream::api::CallObserver;
use crate::upstream::coalesce::Coalescing;
use crate::upstream::limiter::RateLimiter;
use crate::upstream::{ApiError, Auth, ClientConfig, LiveClient, SnapshotApi};

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

pub struct ClientPool {
    clients: Mutex<HashMap<[u8; 32], Arc<dyn SnapshotApi>>>,
    observer: Option<Arc<dyn CallObserver>>,
    settings: UpstreamSettings,
}

impl ClientPool {
    pub fn new(settings: UpstreamSettings, observer: Option<Arc<dyn CallObserver>>) -> Self {
        Self {
            clients: Mutex::default(),
            observer,
            settings,
        }
    }

    /// The client for one credential and project; its rate limit and domain listings are shared
    /// by every object that uses them.
    pub fn get(&self, config: &ClientConfig) -> Result<Arc<dyn SnapshotApi>, ApiError> {
        let key = fingerprint(config);
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = clients.get(&key) {
            return Ok(c.clone());
        }
        let mut client = LiveClient::new(config.clone())?.with_limiter(Arc::new(RateLimiter::new(
            self.settings.qps,
            self.settings.burst,
        )));
        if let Some(o) = &self.observer {
            client = client.with_observer(o.clone());
        }
        let client: Arc<dyn SnapshotApi> = match self.settings.coalesce_window {
            Some(window) => Arc::new(Coalescing::new(Arc::new(client), window)),
            None => Arc::new(client),
        };
        clients.insert(key, client.clone());
        Ok(client)
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
    h.finalize().into()
}
