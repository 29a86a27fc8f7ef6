//! One upstream client per (endpoint, project, credentials), reused across reconciles so
//! connections are pooled.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use crate::upstream::api::CallObserver;
use crate::upstream::{ApiError, Auth, ClientConfig, LiveClient, SnapshotApi};

#[derive(Default)]
pub struct ClientPool {
    clients: Mutex<HashMap<[u8; 32], Arc<LiveClient>>>,
    observer: Option<Arc<dyn CallObserver>>,
}

impl ClientPool {
    pub fn new(observer: Option<Arc<dyn CallObserver>>) -> Self {
        Self {
            clients: Mutex::default(),
            observer,
        }
    }

    pub fn get(&self, config: &ClientConfig) -> Result<Arc<dyn SnapshotApi>, ApiError> {
        let key = fingerprint(config);
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = clients.get(&key) {
            return Ok(c.clone());
        }
        let mut client = LiveClient::new(config.clone())?;
        if let Some(o) = &self.observer {
            client = client.with_observer(o.clone());
        }
        let client = Arc::new(client);
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
