//! Client-side rate limit for upstream calls, shared by every reconcile that uses one credential
//! and project, so the operator stays under the account's quota instead of finding it through
//! 429s. A token bucket in its GCRA form: a schedule of call times, with `burst` calls of slack.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

pub struct RateLimiter {
    /// Seconds between two calls at the steady rate; `None` when there is no limit.
    interval: Option<Duration>,
    /// How far ahead of the schedule a caller may go after a quiet spell: `burst - 1`
    /// intervals.
    tolerance: Duration,
    /// The theoretical arrival time of the next call (GCRA). Calls are paced from this
    /// schedule, never from when a sleeping caller happened to wake: a timer that fires a
    /// millisecond late (tokio's resolution, a busy machine) would otherwise cost a
    /// millisecond per call, about a tenth of the rate at 100 calls per second.
    next: Mutex<Instant>,
}

impl RateLimiter {
    /// `qps` tokens per second, at most `burst` saved up. `qps <= 0` disables the limit.
    pub fn new(qps: f64, burst: u32) -> Self {
        let interval = (qps > 0.0).then(|| Duration::from_secs_f64(1.0 / qps));
        let tolerance = interval.unwrap_or_default() * burst.max(1).saturating_sub(1);
        Self {
            interval,
            tolerance,
            next: Mutex::new(Instant::now()),
        }
    }

    /// Waits for a token. Callers queue on the mutex, so tokens go out in arrival order.
    pub async fn acquire(&self) {
        let Some(interval) = self.interval else {
            return;
        };
        let mut next = self.next.lock().await;
        let now = Instant::now();
        // After a quiet spell the schedule restarts from now: nothing is saved beyond the burst.
        let slot = (*next).max(now);
        if slot > now + self.tolerance {
            tokio::time::sleep_until(slot - self.tolerance).await;
        }
        *next = slot + interval;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn spends_the_burst_then_paces_at_qps() {
        let l = RateLimiter::new(10.0, 5);
        let start = tokio::time::Instant::now();
        for _ in 0..5 {
            l.acquire().await;
        }
        assert!(
            start.elapsed() < Duration::from_millis(1),
            "the burst is immediate"
        );
        for _ in 0..10 {
            l.acquire().await;
        }
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(990) && took <= Duration::from_millis(1100),
            "{took:?}"
        );
    }
}
