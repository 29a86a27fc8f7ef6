//! Periodic checks of objects that are in sync. Objects whose kind shares a resync slot (a
//! domain's Live templates, which one listing answers) are not each parked in the controller's
//! scheduler until their next check: a clock walks the cache once per tick and triggers the
//! objects whose slot has come, so a converged fleet of N objects holds no per-object timer.
//! Only objects that wait for something else (a retry, a pending upstream, a pause, a final
//! upstream state) are remembered, and those the clock leaves alone.
//!
//! Objects with a slot of their own keep a per-object requeue.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::{Stream, StreamExt};
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};

use super::managed::{FINALIZER, KindStatus, Managed};
use super::ownership::object_key as key;
use super::schedule::{next_resync, phase};
use kube::ResourceExt;

pub struct Resync<K: Managed> {
    period: Duration,
    /// Whether reads are coalesced, which decides each object's slot key.
    coalesced: bool,
    /// Whether this kind's objects share slots (and so are triggered by the clock).
    shared: bool,
    /// The objects the clock must not trigger: each waits on its own requeue or on a change.
    waiting: Mutex<HashSet<ObjectRef<K>>>,
}

impl<K: Managed> Resync<K> {
    pub fn new(period: Duration, coalesced: bool) -> Self {
        Self {
            period,
            coalesced,
            shared: K::shares_resync(coalesced),
            waiting: Mutex::default(),
        }
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, HashSet<ObjectRef<K>>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the clock triggers this kind's objects.
    pub fn clocked(&self) -> bool {
        self.shared
    }

    /// What a reconcile that left `obj` in sync returns: the clock checks it at its slot, or
    /// (with a slot of its own) a requeue at that slot.
    pub fn settled(&self, obj: &K) -> Action {
        if self.shared {
            self.waiting().remove(&key(obj));
            Action::await_change()
        } else {
            let k = obj.resync_key(self.coalesced);
            Action::requeue(next_resync(self.period, &k, SystemTime::now()))
        }
    }

    /// What a reconcile that left `obj` waiting on something else returns: `action`, and the
    /// clock leaves the object alone until it settles.
    pub fn hold(&self, obj: &K, action: Action) -> Action {
        if self.shared {
            self.waiting().insert(key(obj));
        }
        action
    }

    /// Forgets a deleted object.
    pub fn forget(&self, obj: &K) {
        if self.shared {
            self.waiting().remove(&key(obj));
        }
    }

    /// The objects of `store` whose slot came in `(after, upto]` (milliseconds since the epoch)
    /// and that wait on nothing else. Only objects the cache shows settled count: one whose
    /// current generation was never reported on is still in its own first reconciles, and a
    /// trigger from a cache that has not yet seen that reconcile's writes would repeat them.
    pub(crate) fn due(&self, store: &Store<K>, after: u64, upto: u64) -> Vec<ObjectRef<K>> {
        let p = self.period.as_millis().max(1) as u64;
        let objects = store.state();
        let waiting = self.waiting();
        objects
            .iter()
            .filter(|o| {
                o.finalizers().iter().any(|f| f == FINALIZER)
                    && o.status().and_then(|s| s.managed().observed_generation)
                        == o.meta().generation
            })
            .filter(|o| {
                let ph = phase(&o.resync_key(true), self.period);
                let mut slot = after - after % p + ph;
                if slot <= after {
                    slot += p;
                }
                slot <= upto
            })
            .map(|o| key(&**o))
            .filter(|r| !waiting.contains(r))
            .collect()
    }

    /// The triggers of one scope: every tick, the objects whose slot has come.
    pub fn clock(
        self: std::sync::Arc<Self>,
        store: Store<K>,
    ) -> impl Stream<Item = ObjectRef<K>> + Send + 'static {
        let tick = (self.period / 20).clamp(Duration::from_millis(100), Duration::from_secs(1));
        // The start-up pass confirms every cached object, so no slot is due in the first half
        // period (as a requeue at the slot was never less than half a period away): a restart
        // reads each domain once, not again when its slot comes minutes later.
        let start = now_ms() + self.period.as_millis() as u64 / 2;
        futures::stream::unfold(
            (self, store, start),
            move |(this, store, last)| async move {
                tokio::time::sleep(tick).await;
                let now = now_ms().max(last);
                let due = this.due(&store, last, now);
                Some((due, (this, store, now)))
            },
        )
        .flat_map(futures::stream::iter)
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}
