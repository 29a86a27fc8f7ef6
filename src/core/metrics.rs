//! Prometheus metrics. Labels carry only bounded values (operation names, status codes,
//! results, condition states), never user text or secrets.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::clouds::error::Operation;
use crate::clouds::http::CallObserver;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    /// The kind reconciled (LiveSnapshotTemplate, VodAssetSnapshot).
    pub kind: &'static str,
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    pub operation: &'static str,
    /// HTTP status, or "error" when no answer came.
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    pub operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub kind: &'static str,
    /// A condition reason: a fixed set of names (AuthFailed, Throttled, ...).
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    pub kind: &'static str,
    pub ready: String,
    pub synced: String,
}

pub struct Metrics {
    registry: Registry,
    pub reconciles: Family<ResultLabels, Counter>,
    pub reconcile_duration: Histogram,
    pub upstream_calls: Family<CallLabels, Counter>,
    pub upstream_latency: Family<OperationLabels, Histogram>,
    pub templates: Family<StateLabels, Gauge>,
    pub drift_detected: Counter,
    pub throttled: Counter,
    pub failures: Family<ReasonLabels, Counter>,
    pub in_flight: Gauge,
    pub leader: Gauge,
    pub limiter_wait: Counter<f64, std::sync::atomic::AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        Self::for_shard(None)
    }

    /// The metrics of a process serving `shard` (None: every object). The leader gauge carries
    /// the shard, so an alert can tell a shard without a leader while another shard has one.
    pub fn for_shard(shard: Option<crate::core::shard::Shard>) -> Self {
        let mut registry = Registry::with_prefix("live_snapshot_operator");
        let reconciles = Family::<ResultLabels, Counter>::default();
        registry.register(
            "reconciles",
            "Reconciles by result (success, requeue, error)",
            reconciles.clone(),
        );
        let reconcile_duration = Histogram::new(exponential_buckets(0.005, 2.0, 14));
        registry.register(
            "reconcile_duration_seconds",
            "Time spent in one reconcile",
            reconcile_duration.clone(),
        );
        let upstream_calls = Family::<CallLabels, Counter>::default();
        registry.register(
            "upstream_calls",
            "Calls to the Live API by operation and HTTP status",
            upstream_calls.clone(),
        );
        let upstream_latency = Family::<OperationLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.002, 2.0, 14))
        });
        registry.register(
            "upstream_call_duration_seconds",
            "Latency of calls to the Live API",
            upstream_latency.clone(),
        );
        let templates = Family::<StateLabels, Gauge>::default();
        registry.register(
            "templates",
            "Managed objects (templates, asset snapshots) by kind and by Ready and Synced condition status",
            templates.clone(),
        );
        let drift_detected = Counter::default();
        registry.register(
            "drift_detected",
            "Observations in which upstream differed from spec",
            drift_detected.clone(),
        );
        let throttled = Counter::default();
        registry.register(
            "upstream_throttled",
            "429 answers received from the Live API",
            throttled.clone(),
        );
        let failures = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "reconcile_failures",
            "Failed reconciles by condition reason",
            failures.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "reconciles_in_flight",
            "Reconciles running now",
            in_flight.clone(),
        );
        let leader = Gauge::default();
        let leader_registry = match shard {
            Some(shard) => registry.sub_registry_with_label((
                std::borrow::Cow::Borrowed("shard"),
                std::borrow::Cow::Owned(shard.index.to_string()),
            )),
            None => &mut registry,
        };
        leader_registry.register(
            "leader",
            "1 while this process runs the controller (leads, or runs without election), else 0",
            leader.clone(),
        );
        let limiter_wait = Counter::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register(
            "upstream_rate_limit_wait_seconds",
            "Time calls spent waiting for the client-side rate limiter",
            limiter_wait.clone(),
        );
        Self {
            failures,
            in_flight,
            leader,
            limiter_wait,
            registry,
            reconciles,
            reconcile_duration,
            upstream_calls,
            upstream_latency,
            templates,
            drift_detected,
            throttled,
        }
    }

    pub fn reconciled(&self, kind: &'static str, result: &'static str, took: Duration) {
        self.reconciles
            .get_or_create(&ResultLabels { kind, result })
            .inc();
        self.reconcile_duration.observe(took.as_secs_f64());
    }

    /// Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Recomputes one kind's objects-by-state gauge from the conditions in the operator's cache.
pub fn update_object_gauges<'a>(
    metrics: &Metrics,
    kind: &'static str,
    conditions: impl Iterator<Item = &'a [k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition]>,
) {
    let mut counts: std::collections::BTreeMap<(String, String), i64> = Default::default();
    for conds in conditions {
        let state = |type_: &str| {
            crate::core::conditions::find(conds, type_)
                .map(|c| c.status.clone())
                .unwrap_or_else(|| "Unknown".into())
        };
        *counts
            .entry((
                state(crate::core::conditions::READY),
                state(crate::core::conditions::SYNCED),
            ))
            .or_default() += 1;
    }
    // Only this kind's series go: the other kinds' are kept by their own controllers.
    let mut stale = Vec::new();
    for ready in ["True", "False", "Unknown"] {
        for synced in ["True", "False", "Unknown"] {
            if !counts.contains_key(&(ready.to_string(), synced.to_string())) {
                stale.push(StateLabels {
                    kind,
                    ready: ready.into(),
                    synced: synced.into(),
                });
            }
        }
    }
    for labels in stale {
        metrics.templates.remove(&labels);
    }
    for ((ready, synced), n) in counts {
        metrics
            .templates
            .get_or_create(&StateLabels {
                kind,
                ready,
                synced,
            })
            .set(n);
    }
}

/// Feeds upstream call metrics from the client.
pub struct UpstreamObserver(pub Arc<Metrics>);

impl CallObserver for UpstreamObserver {
    fn observe_wait(&self, waited: Duration) {
        self.0.limiter_wait.inc_by(waited.as_secs_f64());
    }

    fn observe_call(&self, operation: Operation, status: Option<u16>, elapsed: Duration) {
        let code = status
            .map(|s| s.to_string())
            .unwrap_or_else(|| "error".into());
        if status == Some(429) {
            self.0.throttled.inc();
        }
        self.0
            .upstream_calls
            .get_or_create(&CallLabels {
                operation: operation.as_str(),
                code,
            })
            .inc();
        self.0
            .upstream_latency
            .get_or_create(&OperationLabels {
                operation: operation.as_str(),
            })
            .observe(elapsed.as_secs_f64());
    }
}
