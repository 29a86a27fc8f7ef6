//! Fault injection and call accounting: error rates, latency, a QPS cap, "fail the next N",
//! and counts per operation that tests and benchmarks read.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// What the operator of the simulator can set, by flags or `PUT /admin/faults`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct FaultSettings {
    /// Probability (0..1) that a call of an operation answers 500, by operation name.
    pub error_rate: BTreeMap<String, f64>,
    /// Added to every call, in milliseconds.
    pub latency_ms: u64,
    /// Calls per second above which the gateway answers 429; 0 for no cap.
    pub qps_cap: u32,
    /// The next N calls answer 500.
    pub fail_next: u32,
    /// HTTP status and code for `fail_next` (default 500 LIVE.100011500).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fail_next_status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fail_next_code: Option<String>,
    /// Commit a create but never answer it (the caller times out): for restart tests.
    pub hang_after_create: u32,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Stats {
    /// Calls that reached the simulator, by operation (list, create, update, delete).
    pub calls: BTreeMap<String, u64>,
    /// Answers by HTTP status.
    pub statuses: BTreeMap<u16, u64>,
    pub throttled: u64,
    pub templates: usize,
}

/// What to do with one call.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    Proceed,
    Throttle,
    Fail { status: u16, code: String },
}

pub struct Faults {
    inner: Mutex<Inner>,
}

struct Inner {
    settings: FaultSettings,
    window_start: Instant,
    window_calls: u32,
    stats: Stats,
}

impl Faults {
    pub fn new(settings: FaultSettings) -> Self {
        Self {
            inner: Mutex::new(Inner {
                settings,
                window_start: Instant::now(),
                window_calls: 0,
                stats: Stats::default(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn settings(&self) -> FaultSettings {
        self.lock().settings.clone()
    }

    pub fn set(&self, settings: FaultSettings) {
        self.lock().settings = settings;
    }

    pub fn latency(&self) -> Duration {
        Duration::from_millis(self.lock().settings.latency_ms)
    }

    /// Counts the call and decides its fate.
    pub fn admit(&self, operation: &str) -> Verdict {
        let mut g = self.lock();
        *g.stats.calls.entry(operation.to_string()).or_default() += 1;
        let now = Instant::now();
        if now.duration_since(g.window_start) >= Duration::from_secs(1) {
            g.window_start = now;
            g.window_calls = 0;
        }
        g.window_calls += 1;
        if g.settings.qps_cap > 0 && g.window_calls > g.settings.qps_cap {
            g.stats.throttled += 1;
            return Verdict::Throttle;
        }
        if g.settings.fail_next > 0 {
            g.settings.fail_next -= 1;
            return Verdict::Fail {
                status: g.settings.fail_next_status.unwrap_or(500),
                code: g
                    .settings
                    .fail_next_code
                    .clone()
                    .unwrap_or_else(|| crate::upstream::model::codes::INTERNAL.into()),
            };
        }
        let rate = g.settings.error_rate.get(operation).copied().unwrap_or(0.0);
        if rate > 0.0 && rand::random::<f64>() < rate {
            return Verdict::Fail {
                status: 500,
                code: crate::upstream::model::codes::INTERNAL.into(),
            };
        }
        Verdict::Proceed
    }

    /// Seconds until the throttling window reopens, for `Retry-After`.
    pub fn retry_after_secs(&self) -> u64 {
        let g = self.lock();
        let left = Duration::from_secs(1).saturating_sub(g.window_start.elapsed());
        left.as_secs_f64().ceil().max(1.0) as u64
    }

    pub fn take_hang_after_create(&self) -> bool {
        let mut g = self.lock();
        if g.settings.hang_after_create > 0 {
            g.settings.hang_after_create -= 1;
            true
        } else {
            false
        }
    }

    pub fn record_status(&self, status: u16) {
        *self.lock().stats.statuses.entry(status).or_default() += 1;
    }

    pub fn stats(&self) -> Stats {
        self.lock().stats.clone()
    }

    pub fn reset_stats(&self) {
        self.lock().stats = Stats::default();
    }
}
