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
    /// The same for updates and deletes.
    pub hang_after_update: u32,
    pub hang_after_delete: u32,
    /// HTTP status and code of `error_rate` failures (default 500 LIVE.100011500); a 429 carries
    /// `Retry-After`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// Probability (0..1) that a call of an operation is never answered; nothing is done.
    pub hang_rate: BTreeMap<String, f64>,
    /// Probability (0..1) that a call's connection breaks while the answer is sent; nothing is
    /// done.
    pub reset_rate: BTreeMap<String, f64>,
    /// Raw JSON items added to the first page of every listing, as a broken service might send
    /// them (the store itself refuses malformed templates).
    pub extra_list_items: Vec<serde_json::Value>,
    /// Added to the `total` of every listing: a count that lies.
    pub total_offset: i64,
    /// Every page of every listing brings one more template and the total never ends.
    pub endless_listing: bool,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Stats {
    /// Calls that reached the simulator, by operation (list, create, update, delete).
    pub calls: BTreeMap<String, u64>,
    /// Answers by HTTP status.
    pub statuses: BTreeMap<u16, u64>,
    pub throttled: u64,
    /// Calls answered with an injected fault: a failure, no answer, or a broken connection.
    pub injected: u64,
    pub templates: usize,
}

/// What to do with one call.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    Proceed,
    Throttle,
    Fail { status: u16, code: String },
    Hang,
    Reset,
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

    /// Waits the configured latency, as a slow service would before answering.
    pub async fn delay(&self) {
        let latency = Duration::from_millis(self.lock().settings.latency_ms);
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
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
        let verdict = Self::roll(&mut g.settings, operation);
        if verdict != Verdict::Proceed {
            g.stats.injected += 1;
        }
        verdict
    }

    /// The fault the settings give this call, if any.
    fn roll(g: &mut FaultSettings, operation: &str) -> Verdict {
        if g.fail_next > 0 {
            g.fail_next -= 1;
            return Verdict::Fail {
                status: g.fail_next_status.unwrap_or(500),
                code: g.fail_next_code.clone().unwrap_or_else(|| {
                    live_snapshot_operator::clouds::huawei::model::codes::INTERNAL.into()
                }),
            };
        }
        let roll = |rates: &BTreeMap<String, f64>| {
            let rate = rates.get(operation).copied().unwrap_or(0.0);
            rate > 0.0 && rand::random::<f64>() < rate
        };
        if roll(&g.error_rate) {
            return Verdict::Fail {
                status: g.error_status.unwrap_or(500),
                code: g.error_code.clone().unwrap_or_else(|| {
                    live_snapshot_operator::clouds::huawei::model::codes::INTERNAL.into()
                }),
            };
        }
        if roll(&g.hang_rate) {
            return Verdict::Hang;
        }
        if roll(&g.reset_rate) {
            return Verdict::Reset;
        }
        Verdict::Proceed
    }

    /// Seconds until the throttling window reopens, for `Retry-After`.
    pub fn retry_after_secs(&self) -> u64 {
        let g = self.lock();
        let left = Duration::from_secs(1).saturating_sub(g.window_start.elapsed());
        left.as_secs_f64().ceil().max(1.0) as u64
    }

    /// Whether this committed write of `operation` goes unanswered.
    pub fn take_hang_after(&self, operation: &str) -> bool {
        let mut g = self.lock();
        let counter = match operation {
            "create" => &mut g.settings.hang_after_create,
            "update" => &mut g.settings.hang_after_update,
            "delete" => &mut g.settings.hang_after_delete,
            _ => return false,
        };
        if *counter > 0 {
            *counter -= 1;
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

/// An answer whose connection breaks while the body is sent (`Verdict::Reset`).
pub fn reset_response() -> axum::response::Response {
    use axum::response::IntoResponse;
    let body = axum::body::Body::from_stream(futures::stream::once(async {
        Err::<axum::body::Bytes, std::io::Error>(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset,
        ))
    }));
    (axum::http::StatusCode::OK, body).into_response()
}
