//! One scenario per fault: set up objects with the operator binary running, inject the fault,
//! stop it, wait for the objects to settle within a stated bound, then check every invariant.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};
use live_snapshot_operator::clouds::huawei::{LiveSnapshotConfig, ObsLocation};
use lso_sim::{FaultSettings, KeyPair};
use serde_json::json;

use crate::checker::{Ground, check, settle};
use crate::harness::{AK, PROJECT, SK, Scenario, Shared, eventually, spec, with};
use crate::operator::{Launch, OperatorProc};

const D: &str = "push.example.com";
/// How long objects may take to settle once a fault stops: the backoff ceiling of the suite is
/// 4 s and one reconcile is bounded at 20 s.
const BOUND: Duration = Duration::from_secs(40);

/// One line of the suite's table.
pub struct Row {
    pub faults: String,
    pub recovered: Duration,
    pub invariants: usize,
    /// Invariants checked (all held, or the scenario would have failed).
    pub of: usize,
}

fn theirs(app: &str) -> LiveSnapshotConfig {
    LiveSnapshotConfig {
        domain: D.into(),
        app_name: app.into(),
        time_interval: 45,
        object_write_mode: Some(0),
        snapshot_mode: Some("random".into()),
        obs_location: ObsLocation {
            bucket: "their-bucket".into(),
            location: "cn-north-4".into(),
            object: "theirs/".into(),
        },
        ..Default::default()
    }
}

/// Waits for the objects to settle (`since`: when the fault stopped), then checks every
/// invariant.
async fn finish(
    s: &Scenario,
    g: &Ground,
    op: &OperatorProc,
    name: &str,
    faults: String,
    allowed: &[&str],
    since: Instant,
) -> Row {
    settle(s, BOUND, allowed)
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let recovered = since.elapsed();
    let verdict = check(s, g, &op.logs(), &op.metrics().await).await;
    verdict.assert_ok(name);
    Row {
        faults,
        recovered,
        invariants: verdict.held.len(),
        of: verdict.held.len() + verdict.broken.len(),
    }
}

async fn delete(s: &Scenario, name: &str) {
    s.api()
        .delete(name, &DeleteParams::default())
        .await
        .unwrap_or_else(|e| panic!("delete {name}: {e}"));
}

/// Calls a storm must hit before it stops.
const STORM_HITS: u64 = 5;

#[derive(Clone, Copy, Debug)]
pub enum Storm {
    ServerErrors,
    Throttling,
    Timeouts,
    Resets,
}

/// Every call of every operation fails the storm's way. A storm is deterministic: one that
/// happened to miss the operator's calls would test nothing (partial failure is the random
/// schedule's part).
fn storm_faults(kind: Storm) -> FaultSettings {
    let every: BTreeMap<String, f64> = ["list", "create", "update", "delete"]
        .into_iter()
        .map(|o| (o.to_string(), 1.0))
        .collect();
    match kind {
        Storm::ServerErrors => FaultSettings {
            error_rate: every,
            ..Default::default()
        },
        Storm::Throttling => FaultSettings {
            error_rate: every,
            error_status: Some(429),
            error_code: Some("APIG.0308".into()),
            ..Default::default()
        },
        Storm::Timeouts => FaultSettings {
            hang_rate: every,
            ..Default::default()
        },
        Storm::Resets => FaultSettings {
            reset_rate: every,
            ..Default::default()
        },
    }
}

/// A storm on every operation while objects are created, changed and deleted, then recovery.
pub async fn storm(shared: Arc<Shared>, kind: Storm) -> Row {
    let name = format!("storm-{kind:?}").to_lowercase();
    let s = Scenario::new(shared, &name).await;
    let mut g = Ground::new();
    g.seed(&s, PROJECT, theirs("theirs"));
    let op = OperatorProc::start(&s, &Launch::new());
    for n in ["keep", "gone"] {
        s.create(n, spec(n)).await;
    }
    s.wait_ready("keep").await;
    s.wait_ready("gone").await;

    s.sim.faults.set(storm_faults(kind));
    s.create("new1", spec("new1")).await;
    s.create(
        "new2",
        with(spec("new2"), json!({"snapshotMode": "random"})),
    )
    .await;
    s.create("theirs", spec("theirs")).await;
    s.patch_spec("keep", json!({"timeInterval": 77})).await;
    delete(&s, "gone").await;
    // The storm lasts until it has hit calls of the operator's (failed objects retry, so the
    // calls keep coming), not for a fixed time.
    eventually("the storm to hit five calls", || async {
        (s.sim.faults.stats().injected >= STORM_HITS).then_some(())
    })
    .await;
    s.sim.faults.set(FaultSettings::default());
    let stopped = Instant::now();
    s.wait_gone("gone").await;
    let row = finish(
        &s,
        &g,
        &op,
        &name,
        format!("{kind:?} on every list/create/update/delete until {STORM_HITS} calls were hit"),
        &["AlreadyExists"],
        stopped,
    )
    .await;
    assert!(
        s.upstream(D, "gone").is_none(),
        "the deleted object's template is gone"
    );
    assert_eq!(s.upstream(D, "keep").map(|t| t.time_interval), Some(77));
    let metrics = op.metrics().await;
    let failed: f64 = metrics
        .lines()
        .find(|l| l.starts_with("live_snapshot_operator_reconciles_total{kind=\"LiveSnapshotTemplate\",result=\"error\"}"))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0);
    assert!(
        failed > 0.0,
        "failed reconciles are counted as failures:\n{metrics}"
    );
    op.kill().await;
    row
}

/// SIGKILL while a write is committed upstream but before its answer (and the status) land.
pub async fn kill_mid_write(shared: Arc<Shared>, operation: &'static str) -> Row {
    let name = format!("kill-mid-{operation}");
    let s = Scenario::new(shared, &name).await;
    let g = Ground::new();
    let mut op = OperatorProc::start(&s, &Launch::new());
    if operation != "create" {
        s.create("cam", spec("cam")).await;
        s.wait_ready("cam").await;
    }
    let mut faults = FaultSettings::default();
    match operation {
        "create" => faults.hang_after_create = 1,
        "update" => faults.hang_after_update = 1,
        _ => faults.hang_after_delete = 1,
    }
    s.sim.faults.set(faults);
    match operation {
        "create" => s.create("cam", spec("cam")).await,
        "update" => s.patch_spec("cam", json!({"timeInterval": 33})).await,
        _ => delete(&s, "cam").await,
    }
    eventually(
        &format!("the {operation} to be committed upstream"),
        || async {
            let up = s.upstream(D, "cam");
            let done = match operation {
                "create" => up.is_some(),
                "update" => up.is_some_and(|t| t.time_interval == 33),
                _ => up.is_none(),
            };
            done.then_some(())
        },
    )
    .await;
    op.kill().await;
    let stopped = Instant::now();
    op = OperatorProc::start(&s, &Launch::new());
    if operation == "delete" {
        s.wait_gone("cam").await;
    }
    let row = finish(
        &s,
        &g,
        &op,
        &name,
        format!("SIGKILL between the {operation} and its status"),
        &[],
        stopped,
    )
    .await;
    let writes = s
        .sim
        .journal()
        .iter()
        .filter(|w| w.operation == operation)
        .count();
    assert_eq!(writes, 1, "{name}: the {operation} was committed once");
    if operation == "create" {
        let adopted = s
            .events("cam")
            .await
            .iter()
            .any(|e| e.reason.as_deref() == Some("Adopted"));
        assert!(!adopted, "its own create is not an adoption");
    }
    op.kill().await;
    row
}

/// An MPS job submit is not idempotent upstream. The submit commits but its answer is lost, and
/// the operator process is SIGKILLed before it writes status: the restarted process finds the
/// job by the object's tag and never submits a second one.
pub async fn kill_after_job_submit(shared: Arc<Shared>) -> Row {
    use live_snapshot_operator::kinds::mps::resource::MpsSnapshotJob;
    let name = "kill-after-job-submit";
    let s = Scenario::new(shared, name).await;
    s.mps.store.set_job_time(Duration::from_secs(2));
    s.mps.store.put_object("media", "videos/launch.mp4", 60);
    s.create_secret("aliyun", &[("accessKey", AK), ("secretKey", SK)])
        .await;
    let mut op = OperatorProc::start(&s, &Launch::new());
    s.mps.faults.set(FaultSettings {
        hang_after_create: 1,
        ..Default::default()
    });
    s.create_kind_json::<MpsSnapshotJob>(
        "once",
        json!({
            "region": "cn-shanghai",
            "pipelineId": "faults",
            "input": {"bucket": "media", "location": "oss-cn-shanghai", "object": "videos/launch.mp4"},
            "output": {"bucket": "media", "location": "oss-cn-shanghai", "object": "out/{Count}.jpg"},
            "snapshot": {"interval": 10, "num": 3},
            "credentialsSecretRef": {"name": "aliyun"},
        }),
    )
    .await
    .unwrap_or_else(|e| panic!("{name}: create: {e}"));
    eventually("the submit to commit upstream", || async {
        (s.mps.store.job_count() == 1).then_some(())
    })
    .await;
    op.kill().await;
    let stopped = Instant::now();
    op = OperatorProc::start(&s, &Launch::new());
    s.wait_kind::<MpsSnapshotJob>("once", "Ready", "True", Some("Succeeded"))
        .await;
    let recovered = stopped.elapsed();
    let mut held = Vec::new();
    assert_eq!(s.mps.store.job_count(), 1, "{name}: one job upstream");
    held.push("one job upstream");
    assert_eq!(s.mps_calls("submit_snapshot_job"), 1, "{name}: one submit");
    held.push("one submit");
    let events = s.events("once").await;
    assert!(
        !events
            .iter()
            .any(|e| e.reason.as_deref() == Some("Adopted")),
        "{name}: its own job is not an adoption"
    );
    held.push("not announced as an adoption");
    // And the invariants every scenario ends with (no secret in logs, events, status or
    // metrics; no hot loop; nothing foreign written).
    let verdict = check(&s, &Ground::new(), &op.logs(), &op.metrics().await).await;
    verdict.assert_ok(name);
    op.kill().await;
    Row {
        faults: "SIGKILL between an MPS job's submit and its status".into(),
        recovered,
        invariants: held.len() + verdict.held.len(),
        of: held.len() + verdict.held.len(),
    }
}

/// kube-apiserver restarts under the running operator: the watches resume, and no relist storm
/// reaches upstream.
pub async fn apiserver_restart(shared: Arc<Shared>) -> Row {
    let s = Scenario::new(shared.clone(), "apiserver-restart").await;
    let g = Ground::new();
    let op = OperatorProc::start(&s, &Launch::new());
    let names: Vec<String> = (0..8).map(|i| format!("cam{i}")).collect();
    for n in &names {
        s.create(n, spec(n)).await;
    }
    for n in &names {
        s.wait_ready(n).await;
    }
    let calls_before = s.sim.faults.stats().calls.values().sum::<u64>();
    shared
        .cp
        .restart_apiserver()
        .await
        .expect("kube-apiserver restarts");
    let stopped = Instant::now();
    // The operator's watches reconnect; give them the time a relist would take.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let relist_calls = s.sim.faults.stats().calls.values().sum::<u64>() - calls_before;
    assert!(
        relist_calls <= 1,
        "a restarted API server caused {relist_calls} upstream calls for 8 converged objects"
    );
    s.create("after", spec("after")).await;
    let row = finish(
        &s,
        &g,
        &op,
        "apiserver-restart",
        format!("kube-apiserver restarted; {relist_calls} upstream calls after it"),
        &[],
        stopped,
    )
    .await;
    op.kill().await;
    row
}

/// Two replicas with leader election in the scenario's namespace: `a` (with `tweak` applied to
/// its launch) leads before `b` starts; b uses its own access key, so the simulator can tell
/// their calls apart.
fn leader_pair(s: &Scenario, name: &str, tweak: impl FnOnce(&mut Launch)) -> (Launch, Launch) {
    s.sim
        .set_keys(vec![KeyPair::new(AK, SK), KeyPair::new(AK2, SK)]);
    let mut a = Launch {
        identity: format!("{name}-a"),
        leader_namespace: Some(s.ns.clone()),
        ..Launch::new()
    };
    tweak(&mut a);
    let b = Launch {
        identity: format!("{name}-b"),
        access_key: AK2.into(),
        leader_namespace: Some(s.ns.clone()),
        ..Launch::new()
    };
    (a, b)
}

/// Starts `a` and waits until it leads, then starts the standby `b`.
async fn start_pair(s: &Scenario, a: &Launch, b: &Launch) -> (OperatorProc, OperatorProc) {
    let leader = OperatorProc::start(s, a);
    eventually("a to lead", || async {
        (s.lease_holder(&s.ns).await.as_deref() == Some(a.identity.as_str())).then_some(())
    })
    .await;
    (leader, OperatorProc::start(s, b))
}

/// Stalls the leader (SIGSTOP), waits for the standby to take the Lease, wakes the old leader
/// and checks that none of its writes reached upstream after the takeover.
async fn hand_over(
    s: &Scenario,
    mut a: OperatorProc,
    b: OperatorProc,
    b_identity: &str,
    name: &str,
    faults: String,
) -> Row {
    let mut g = Ground::new();
    g.operator_keys.push(AK2.into());
    a.signal(libc::SIGSTOP);
    eventually("b to take over", || async {
        (s.lease_holder(&s.ns).await.as_deref() == Some(b_identity)).then_some(())
    })
    .await;
    let b_started = s.sim.arrivals().len();
    a.signal(libc::SIGCONT);
    let stopped = Instant::now();
    let row = finish(s, &g, &b, name, faults, &[], stopped).await;
    let late: Vec<_> = s.sim.arrivals()[b_started..]
        .iter()
        .filter(|r| r.access_key == AK && r.operation != "list")
        .cloned()
        .collect();
    assert!(
        late.is_empty(),
        "the old leader sent writes after the new one started: {late:?}"
    );
    eventually("the old leader to exit", || {
        let exited = a.exited();
        async move { exited.map(|_| ()) }
    })
    .await;
    b.kill().await;
    row
}

/// The standby's access key.
const AK2: &str = "E2EACCESSKEY0002";

/// The leader stalls (SIGSTOP) with reconciles in flight, a standby takes the Lease, and the old
/// leader wakes up: it must not write upstream after the new leader started.
pub async fn leader_loses_lease_mid_write(shared: Arc<Shared>) -> Row {
    let s = Scenario::new(shared, "lease-loss").await;
    // a's calls outlast its stall, so it wakes up holding answers and goes on to write.
    let (launch_a, launch_b) = leader_pair(&s, "leader", |a| a.upstream_timeout_secs = 30);
    let (a, b) = start_pair(&s, &launch_a, &launch_b).await;
    // Slow answers keep a's reconciles in flight when it stalls.
    s.sim.faults.set(FaultSettings {
        latency_ms: 1500,
        ..Default::default()
    });
    for i in 0..6 {
        s.create(&format!("cam{i}"), spec(&format!("cam{i}"))).await;
    }
    // Stop a while its read is in flight: the six new objects of the domain share one listing
    // (single flight), whose answer ("absent") waits for a to wake up, and what a does next
    // is a create for each.
    eventually("a's reads to be in flight", || async {
        let reads = s
            .sim
            .arrivals()
            .iter()
            .filter(|r| r.access_key == AK && r.operation == "list")
            .count();
        (reads >= 1).then_some(())
    })
    .await;
    let faults =
        "leader SIGSTOPped with writes in flight; standby takes over; old leader resumed".into();
    hand_over(&s, a, b, &launch_b.identity, "lease-loss", faults).await
}

/// The leader's creates queue in its rate limiter (1 call a second), past the reconcile's own
/// lease check; it stalls (SIGSTOP) with them queued, a standby takes the Lease, the old leader
/// wakes up: the transport asks the fence again once the limiter grants a write, so none of the
/// queued writes leaves after the takeover.
pub async fn leader_loses_lease_with_writes_queued(shared: Arc<Shared>) -> Row {
    let s = Scenario::new(shared, "lease-queued").await;
    let (launch_a, launch_b) = leader_pair(&s, "queued", |a| {
        a.upstream_timeout_secs = 30;
        a.upstream_qps = 1.0;
        a.extra = vec!["--upstream-burst".into(), "1".into()];
    });
    let (a, b) = start_pair(&s, &launch_a, &launch_b).await;
    // Each object its own domain: one listing and one create each, all through a's single
    // call a second.
    for i in 0..8 {
        s.create(
            &format!("q{i}"),
            with(
                spec(&format!("q{i}")),
                json!({"domain": format!("q{i}.example.com")}),
            ),
        )
        .await;
    }
    eventually(
        "a's first create to arrive (the rest queue behind it)",
        || async {
            let creates = s
                .sim
                .arrivals()
                .iter()
                .filter(|r| r.access_key == AK && r.operation == "create")
                .count();
            (creates >= 1).then_some(())
        },
    )
    .await;
    let faults = "leader SIGSTOPped with creates queued in its rate limiter; standby takes over; old leader resumed".into();
    hand_over(&s, a, b, &launch_b.identity, "lease-queued", faults).await
}

/// A referenced Secret deleted, changed to a wrong key, and restored while objects use it.
pub async fn secret_churn(shared: Arc<Shared>) -> Row {
    let s = Scenario::new(shared, "secret-churn").await;
    let g = Ground::new();
    let op = OperatorProc::start(&s, &Launch::new());
    s.create_credentials("creds", PROJECT).await;
    s.create(
        "cam",
        with(
            spec("cam"),
            json!({"credentialsSecretRef": {"name": "creds"}}),
        ),
    )
    .await;
    s.wait_ready("cam").await;
    let secrets: Api<Secret> = Api::namespaced(s.client.clone(), &s.ns);
    secrets
        .delete("creds", &DeleteParams::default())
        .await
        .unwrap();
    s.wait_condition("cam", "Synced", "False", Some("SecretMissing"))
        .await;
    s.create_credentials("creds", PROJECT).await;
    s.wait_ready("cam").await;
    secrets
        .patch(
            "creds",
            &PatchParams::default(),
            &Patch::Merge(json!({"stringData": {"secretKey": "wrong-secret-key-0000000000"}})),
        )
        .await
        .unwrap();
    s.wait_condition("cam", "Synced", "False", Some("AuthFailed"))
        .await;
    secrets
        .patch(
            "creds",
            &PatchParams::default(),
            &Patch::Merge(json!({"stringData": {"secretKey": SK}})),
        )
        .await
        .unwrap();
    let stopped = Instant::now();
    let row = finish(
        &s,
        &g,
        &op,
        "secret-churn",
        "Secret deleted, restored, wrong key, restored".into(),
        &[],
        stopped,
    )
    .await;
    assert_eq!(s.calls("create"), 1);
    op.kill().await;
    row
}

/// Broken listings: one malformed item, a refused listing, a lying total, a listing that never
/// ends. Each hurts only what it must, and everything recovers.
pub async fn broken_listings(shared: Arc<Shared>) -> Row {
    let s = Scenario::new(shared, "listings").await;
    let mut g = Ground::new();
    // A short resync, so the objects are read through the domain's shared listing.
    g.calls_allowed_when_settled = 8;
    let op = OperatorProc::start(
        &s,
        &Launch {
            extra: vec!["--resync-seconds".into(), "3".into()],
            ..Launch::new()
        },
    );
    for n in ["a", "b", "c"] {
        s.create(n, spec(n)).await;
    }
    for n in ["a", "b", "c"] {
        s.wait_ready(n).await;
    }
    // One item without time_interval in the domain's listing.
    s.sim.faults.set(FaultSettings {
        extra_list_items: vec![json!({"domain": D, "app_name": "broken", "obs_location": {"bucket": "x", "location": "y", "object": "z"}})],
        ..Default::default()
    });
    s.create("broken", spec("broken")).await;
    let o = s
        .wait_condition("broken", "Synced", "False", Some("UpstreamError"))
        .await;
    let msg = crate::harness::condition(&o, "Synced").message;
    assert!(msg.contains("does not parse"), "{msg}");
    // Two resync periods through the shared listing that carries the bad item.
    let lists = s.calls("list");
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert!(s.calls("list") > lists, "the objects were read again");
    for n in ["a", "b", "c"] {
        let o = s.get(n).await;
        let ready = crate::harness::condition(&o, "Ready");
        assert_eq!(
            ready.status, "True",
            "{n}: {} {}",
            ready.reason, ready.message
        );
    }
    // A refused listing is an upstream error to retry, not a spec to fix.
    s.sim.faults.set(FaultSettings {
        error_rate: [("list".to_string(), 1.0)].into(),
        error_status: Some(400),
        error_code: Some("LIVE.100011001".into()),
        ..Default::default()
    });
    s.poke("a").await;
    s.wait_condition("a", "Synced", "False", Some("UpstreamError"))
        .await;
    // A total that lies, both ways.
    for offset in [500, -2] {
        s.sim.faults.set(FaultSettings {
            total_offset: offset,
            ..Default::default()
        });
        for n in ["a", "b", "c"] {
            s.poke(n).await;
        }
        settle(&s, BOUND, &["UpstreamError"]).await.unwrap();
    }
    // A listing that never ends is cut off; the object says so.
    s.sim.faults.set(FaultSettings {
        endless_listing: true,
        ..Default::default()
    });
    s.poke("b").await;
    let o = s
        .wait_condition("b", "Synced", "False", Some("UpstreamError"))
        .await;
    let msg = crate::harness::condition(&o, "Synced").message;
    assert!(msg.contains("did not end"), "{msg}");
    s.sim.faults.set(FaultSettings::default());
    let stopped = Instant::now();
    delete(&s, "broken").await;
    s.wait_gone("broken").await;
    for n in ["a", "b"] {
        s.poke(n).await;
    }
    let row = finish(
        &s,
        &g,
        &op,
        "listings",
        "malformed item; 400 on list; total +500 / -2; endless listing".into(),
        &[],
        stopped,
    )
    .await;
    assert_eq!(
        s.sim
            .journal()
            .iter()
            .filter(|w| w.operation == "create" && ["a", "b", "c"].contains(&w.app.as_str()))
            .count(),
        3,
        "no lie made the operator create a, b or c again"
    );
    op.kill().await;
    row
}

/// Creates that time out again and again: status never claims success meanwhile, and each
/// failure is reported.
pub async fn repeated_failures_are_reported(shared: Arc<Shared>) -> Row {
    let s = Scenario::new(shared, "same-error").await;
    let g = Ground::new();
    let op = OperatorProc::start(&s, &Launch::new());
    s.sim.faults.set(FaultSettings {
        hang_rate: [("create".to_string(), 1.0)].into(),
        ..Default::default()
    });
    s.create("cam", spec("cam")).await;
    let until = Instant::now() + Duration::from_secs(9);
    let mut failures_seen = 0;
    while Instant::now() < until {
        let o = s.get("cam").await;
        if let Some(st) = o.status.as_ref() {
            let synced = st.managed.conditions.iter().find(|c| c.type_ == "Synced");
            if let Some(c) = synced {
                assert!(
                    c.status != "True",
                    "Synced says {} ({}) while every create fails",
                    c.reason,
                    c.message
                );
                failures_seen += usize::from(c.reason == "UpstreamError");
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(failures_seen > 0, "the failure was shown in status");
    let events = s.events("cam").await;
    let count: i32 = events
        .iter()
        .filter(|e| e.reason.as_deref() == Some("UpstreamError"))
        .map(|e| {
            e.series
                .as_ref()
                .and_then(|x| x.count)
                .or(e.count)
                .unwrap_or(1)
        })
        .sum();
    assert!(
        count >= 2,
        "each failed attempt is counted in the Warning Events: {count}"
    );
    s.sim.faults.set(FaultSettings::default());
    let stopped = Instant::now();
    let row = finish(
        &s,
        &g,
        &op,
        "same-error",
        "every create times out for 9 s".into(),
        &[],
        stopped,
    )
    .await;
    op.kill().await;
    row
}

/// From a printed seed: random faults and user actions mixed over a bounded run, with operator
/// crashes, then every invariant.
pub async fn random_schedule(shared: Arc<Shared>, seed: u64) -> Row {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let s = Scenario::new(shared, "random").await;
    let mut g = Ground::new();
    for app in ["r-theirs0", "r-theirs1"] {
        g.seed(&s, PROJECT, theirs(app));
    }
    let mut op = OperatorProc::start(&s, &Launch::new());
    let apps: Vec<String> = (0..8)
        .map(|i| format!("r{i}"))
        .chain(["r-theirs0".to_string(), "r-theirs1".to_string()])
        .collect();
    let mut alive = std::collections::BTreeSet::new();
    // An app is created at most once: a recreate after a delete would be a legitimate second
    // create, which the duplicate check cannot tell from a wrong one.
    let mut used = std::collections::BTreeSet::new();
    let mut log = Vec::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(45) {
        let pick = |r: &mut rand::rngs::StdRng| apps[r.random_range(0..apps.len())].clone();
        match rng.random_range(0..10) {
            0..=2 => {
                let app = pick(&mut rng);
                if used.insert(app.clone()) {
                    alive.insert(app.clone());
                    s.create(&app, spec(&app)).await;
                    log.push(format!("create {app}"));
                }
            }
            3 | 4 => {
                let nth = rng.random_range(0..alive.len().max(1));
                if let Some(app) = alive.iter().nth(nth).cloned() {
                    let n = rng.random_range(5..3600);
                    s.patch_spec(&app, json!({"timeInterval": n})).await;
                    log.push(format!("patch {app} {n}"));
                }
            }
            5 => {
                let app = pick(&mut rng);
                if alive.remove(&app) {
                    delete(&s, &app).await;
                    log.push(format!("delete {app}"));
                }
            }
            6 | 7 => {
                let ops = ["list", "create", "update", "delete"];
                let op_name = ops[rng.random_range(0..ops.len())].to_string();
                let rate = rng.random_range(0.2..0.9);
                let faults = match rng.random_range(0..5) {
                    0 => FaultSettings {
                        error_rate: [(op_name.clone(), rate)].into(),
                        ..Default::default()
                    },
                    1 => FaultSettings {
                        error_rate: [(op_name.clone(), rate)].into(),
                        error_status: Some(429),
                        error_code: Some("APIG.0308".into()),
                        ..Default::default()
                    },
                    2 => FaultSettings {
                        hang_rate: [(op_name.clone(), rate)].into(),
                        ..Default::default()
                    },
                    3 => FaultSettings {
                        reset_rate: [(op_name.clone(), rate)].into(),
                        ..Default::default()
                    },
                    _ => FaultSettings {
                        hang_after_create: 1,
                        hang_after_update: 1,
                        hang_after_delete: 1,
                        ..Default::default()
                    },
                };
                log.push(format!("faults {faults:?}"));
                s.sim.faults.set(faults);
            }
            8 => {
                op.kill().await;
                op = OperatorProc::start(&s, &Launch::new());
                log.push("SIGKILL + restart".into());
            }
            _ => {
                s.sim.faults.set(FaultSettings::default());
                log.push("faults off".into());
            }
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(200..2000))).await;
    }
    s.sim.faults.set(FaultSettings::default());
    let stopped = Instant::now();
    for app in &alive {
        s.poke(app).await;
    }
    let recovered = settle(&s, Duration::from_secs(60), &["AlreadyExists"])
        .await
        .map(|_| stopped.elapsed());
    let verdict = check(&s, &g, &op.logs(), &op.metrics().await).await;
    if recovered.is_err() || !verdict.broken.is_empty() {
        panic!(
            "random schedule failed; reproduce with LSO_FAULT_SEED={seed}\n{recovered:?}\n{:?}\nschedule:\n  {}",
            verdict.broken,
            log.join("\n  ")
        );
    }
    op.kill().await;
    Row {
        faults: format!("seed {seed}: {} random steps", log.len()),
        recovered: recovered.unwrap_or_default(),
        invariants: verdict.held.len(),
        of: verdict.held.len() + verdict.broken.len(),
    }
}
