//! What the reconciles of one kind share: the client, settings, caches, claims, key, backoff,
//! resync schedule and metrics.

use std::sync::Arc;

use kube::ResourceExt;
use kube::runtime::events::Recorder;
use kube::runtime::reflector::{ObjectRef, Store};

use super::backoff::Backoff;
use super::credentials::CloudDefaults;
use super::managed::{KindStatus, Managed};
use super::metrics::Metrics;
use super::settings::Settings;
use super::{ownership, proof, resync};

/// What the reconciles of one kind share.
pub struct Context<K: Managed> {
    pub kube: kube::Client,
    pub settings: Settings,
    pub cloud: CloudDefaults,
    /// The kind's upstream clients, one per credential, with their rate limits.
    pub connector: K::Connector,
    pub recorder: Recorder,
    /// One cache per watched scope (all namespaces, or each listed namespace).
    pub stores: Vec<Store<K>>,
    /// Which object holds which upstream object, across scopes.
    pub claims: ownership::Claims<K>,
    /// Signs and checks ownership records.
    pub key: Arc<proof::OwnershipKey>,
    /// Per scope, whether its cache holds its initial list. A watch channel rather than
    /// `Store::wait_until_ready`, whose one-shot channel wakes only the last of several waiters.
    pub synced: tokio::sync::watch::Sender<Vec<bool>>,
    pub backoff: Backoff<K>,
    /// When objects in sync are checked again.
    pub resync: Arc<resync::Resync<K>>,
    pub metrics: Arc<Metrics>,
    /// When this process first saw each object not yet settled upstream: a read started after
    /// that proves what the object needs to know (see `Look::Since`). Entries leave when the
    /// object settles or goes, so the map holds the unsettled objects only.
    pub first_seen: std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
}

impl<K: Managed> Context<K> {
    /// The kind's name, as metrics and logs label it.
    pub fn kind(&self) -> &'static str {
        K::KIND
    }

    /// When this process first saw `obj` (now, if it never did before).
    pub fn first_seen(&self, obj: &K) -> std::time::Instant {
        self.first_seen_at(obj, std::time::Instant::now())
    }

    /// When this process first saw `obj`: `at`, unless it was seen before.
    pub fn first_seen_at(&self, obj: &K, at: std::time::Instant) -> std::time::Instant {
        let mut seen = self.first_seen.lock().unwrap_or_else(|p| p.into_inner());
        *seen.entry(obj.uid().unwrap_or_default()).or_insert(at)
    }

    /// Forgets when `obj` was first seen: it is settled upstream, or gone.
    pub fn forget_seen(&self, obj: &K) {
        if let Some(uid) = obj.uid() {
            self.first_seen
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&uid);
        }
    }

    /// When this process first saw `obj`, if it has not been settled since.
    pub fn seen_since(&self, obj: &K) -> Option<std::time::Instant> {
        let uid = obj.uid()?;
        self.first_seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&uid)
            .copied()
    }

    /// Every object the operator sees, across scopes.
    pub fn all_objects(&self) -> Vec<Arc<K>> {
        self.stores.iter().flat_map(|s| s.state()).collect()
    }

    /// Learns the claim an object's status records, when this operator's proof checks.
    pub fn learn_claim(&self, obj: &K) {
        let record = obj.status().and_then(|s| s.managed().ownership.as_ref());
        if let Some(own) = self.key.proven(obj, record) {
            self.claims.learn(obj, &own);
        }
    }

    /// Whether an object is in any watched scope's cache.
    pub fn exists(&self, r: &ObjectRef<K>) -> bool {
        self.stores.iter().any(|s| s.get(r).is_some())
    }

    /// Waits until every scope's cache holds its initial list, so that claims recorded in any
    /// watched namespace are known before any object writes upstream.
    pub async fn caches_synced(&self) {
        let mut rx = self.synced.subscribe();
        // An error means the sender is gone: the controller is stopping anyway.
        let _ = rx.wait_for(|scopes| scopes.iter().all(|s| *s)).await;
    }
}
