//! When an in-sync object is next checked. Each object gets a fixed phase within the resync
//! period, so checks are spread over the period instead of bursting after a mass change. With
//! coalescing the phase is the domain's: a domain's objects come due together and share one
//! listing, while domains are spread over the period.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where in each period (milliseconds from its start, the period starting at the epoch) the
/// slot of `phase_key` lies.
pub fn phase(phase_key: &str, period: Duration) -> u64 {
    let mut h = DefaultHasher::new();
    phase_key.hash(&mut h);
    h.finish() % period.as_millis().max(1) as u64
}

/// Time until the next slot of `phase_key` that is at least half a period away (so an object
/// is checked about once per period, never twice in quick succession).
pub fn next_resync(period: Duration, phase_key: &str, now: SystemTime) -> Duration {
    let p = period.as_millis().max(1) as u64;
    let phase = phase(phase_key, period);
    let now_ms = now
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
        % p;
    let mut wait = (phase + p - now_ms) % p;
    if wait < p / 2 {
        wait += p;
    }
    Duration::from_millis(wait)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_key_same_slot_and_keys_spread() {
        let period = Duration::from_secs(300);
        // The instant of the key's own slot, so that 1.5 s later is still the same slot (from an
        // arbitrary instant, the half-period rule can move the second reading to the next one).
        let slot = next_resync(period, "push.example.com", UNIX_EPOCH).as_millis() as u64
            % period.as_millis() as u64;
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000) + Duration::from_millis(slot);
        let a = next_resync(period, "push.example.com", now);
        let b = next_resync(
            period,
            "push.example.com",
            now + Duration::from_millis(1500),
        );
        assert_eq!(a, b + Duration::from_millis(1500), "one domain, one slot");
        assert!(a >= period / 2 && a < period * 3 / 2);
        let slots: std::collections::BTreeSet<u64> = (0..200)
            .map(|i| next_resync(period, &format!("d{i}"), now).as_secs() / 30)
            .collect();
        assert!(
            slots.len() >= 9,
            "200 domains cover the period's 10 windows: {slots:?}"
        );
    }
}
