//! Per-object retry delays: kube-runtime's `error_policy` does not count failures, so the
//! counts live here and reset on success.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use kube::runtime::reflector::ObjectRef;

use super::managed::Managed;

pub struct Backoff<K: Managed> {
    failures: Mutex<HashMap<ObjectRef<K>, u32>>,
    base: Duration,
    max: Duration,
}

impl<K: Managed> Backoff<K> {
    pub fn new(base: Duration, max: Duration) -> Self {
        Self {
            failures: Mutex::default(),
            base,
            max,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ObjectRef<K>, u32>> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a failure and returns how long to wait: base * 2^(n-1), capped, with +-20% jitter
    /// so that objects failing together do not retry together.
    pub fn next(&self, obj: &ObjectRef<K>) -> Duration {
        let n = {
            let mut f = self.lock();
            let n = f.entry(obj.clone()).or_insert(0);
            *n = n.saturating_add(1);
            *n
        };
        let exp = self.base.saturating_mul(1u32 << (n - 1).min(20));
        jitter(exp.min(self.max))
    }

    pub fn failures(&self, obj: &ObjectRef<K>) -> u32 {
        self.lock().get(obj).copied().unwrap_or(0)
    }

    pub fn reset(&self, obj: &ObjectRef<K>) {
        self.lock().remove(obj);
    }
}

/// Scales by a random factor in [0.8, 1.2).
pub fn jitter(d: Duration) -> Duration {
    d.mul_f64(0.8 + rand::random::<f64>() * 0.4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::live::resource::LiveSnapshotTemplate;

    #[test]
    fn grows_caps_and_resets_per_object() {
        let b =
            Backoff::<LiveSnapshotTemplate>::new(Duration::from_secs(1), Duration::from_secs(10));
        let a = ObjectRef::new("a").within("ns");
        let other = ObjectRef::new("b").within("ns");
        let d: Vec<_> = (0..6).map(|_| b.next(&a)).collect();
        assert!(d[0] >= Duration::from_millis(800) && d[0] < Duration::from_millis(1200));
        assert!(d[3] >= Duration::from_millis(6400) && d[3] < Duration::from_millis(9600));
        assert!(d[5] < Duration::from_secs(12));
        assert!(
            b.next(&other) < Duration::from_millis(1200),
            "counts are per object"
        );
        b.reset(&a);
        assert_eq!(b.failures(&a), 0);
    }
}
