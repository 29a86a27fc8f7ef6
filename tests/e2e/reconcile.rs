//! Every reconcile behaviour of the resource issue, on the real API server.

use std::sync::Arc;
use std::time::Duration;

use kube::ResourceExt;
use kube::api::DeleteParams;
use live_snapshot_operator::clouds::huawei::{LiveSnapshotConfig, ObsLocation};
use lso_sim::FaultSettings;
use serde_json::json;

use crate::harness::{PROJECT, Scenario, Shared, condition, eventually, spec, with};

const D: &str = "push.example.com";

fn existing(app: &str, interval: i64) -> LiveSnapshotConfig {
    LiveSnapshotConfig {
        domain: D.into(),
        app_name: app.into(),
        time_interval: interval,
        object_write_mode: Some(0),
        snapshot_mode: Some("keyframe".into()),
        obs_location: ObsLocation {
            bucket: "snap-bucket".into(),
            location: "cn-north-4".into(),
            object: "snapshots/".into(),
        },
        ..Default::default()
    }
}

pub async fn create_then_in_sync_without_writes(shared: Arc<Shared>) {
    let mut s = Scenario::new(shared, "create").await;
    s.start_operator();
    s.create(
        "cam",
        with(
            spec("cam"),
            json!({"snapshotMode": "random", "imageObjectFormat": "{{.stream}}-{{.unix_time}}"}),
        ),
    )
    .await;
    let o = s.wait_ready("cam").await;
    let up = s.upstream(D, "cam").expect("created upstream");
    assert_eq!(up.time_interval, 10);
    assert_eq!(up.snapshot_mode.as_deref(), Some("random"));
    assert_eq!(up.object_write_mode, Some(0));
    assert_eq!(
        up.image_object_format.as_deref(),
        Some("{{.stream}}-{{.unix_time}}")
    );
    assert_eq!(s.calls("create"), 1);
    assert!(
        o.finalizers()
            .iter()
            .any(|f| f == "live.snapshot.dev/finalizer")
    );
    let st = o.status.unwrap();
    assert_eq!(st.managed.project_id.as_deref(), Some(PROJECT));
    assert_eq!(st.at_provider.unwrap().time_interval, 10);
    s.wait_condition("cam", "Synced", "True", Some("ReconcileSuccess"))
        .await;
    s.wait_event("cam", "Created").await;

    // In sync: a forced reconcile reads upstream and writes nothing, upstream or status.
    let rv = s.get("cam").await.status;
    let (lists, writes) = (s.calls("list"), s.writes());
    s.poke("cam").await;
    eventually("the forced reconcile to read upstream", || async {
        (s.calls("list") > lists).then_some(())
    })
    .await;
    s.poke("cam").await;
    eventually("a second forced reconcile", || async {
        (s.calls("list") > lists + 1).then_some(())
    })
    .await;
    assert_eq!(
        s.writes(),
        writes,
        "an in-sync object causes no upstream write"
    );
    let mut now = s.get("cam").await.status.unwrap();
    let mut before = rv.unwrap();
    assert!(
        now.managed.last_handled_reconcile_at.is_some(),
        "the forced reconcile is recorded"
    );
    for st in [&mut now, &mut before] {
        st.managed.last_handled_reconcile_at = None;
        st.managed.last_sync_time = None;
    }
    assert_eq!(now, before, "nothing else in status changed");
}

pub async fn update_on_spec_change_keeps_transition_time(shared: Arc<Shared>) {
    let mut s = Scenario::new(shared, "update").await;
    s.start_operator();
    s.create("cam", spec("cam")).await;
    let before = s.wait_ready("cam").await;
    let ready_since = before
        .status
        .as_ref()
        .unwrap()
        .managed
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap()
        .last_transition_time
        .clone();
    s.patch_spec(
        "cam",
        json!({"timeInterval": 60, "obsLocation": {"object": "other/"}}),
    )
    .await;
    let after = s.wait_ready("cam").await;
    let up = s.upstream(D, "cam").unwrap();
    assert_eq!(
        (up.time_interval, up.obs_location.object.as_str()),
        (60, "other/")
    );
    assert_eq!(s.calls("update"), 1);
    let st = after.status.unwrap();
    assert_eq!(st.managed.observed_generation, after.metadata.generation);
    assert_eq!(after.metadata.generation, Some(2));
    for c in &st.managed.conditions {
        assert_eq!(
            c.observed_generation,
            Some(2),
            "{} carries the generation it describes",
            c.type_
        );
    }
    let ready = st
        .managed
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(
        ready.last_transition_time, ready_since,
        "Ready stayed True, so its transition time stays"
    );
    s.wait_event("cam", "Updated").await;
}

pub async fn drift_is_corrected(shared: Arc<Shared>) {
    let mut s = Scenario::new(shared, "drift").await;
    s.start_operator();
    s.create("cam", spec("cam")).await;
    s.wait_ready("cam").await;
    let mut changed = s.upstream(D, "cam").unwrap();
    changed.time_interval = 999;
    changed.image_access_domain = Some("img.example.com".into());
    s.sim.store.replace(PROJECT, changed).unwrap();
    s.poke("cam").await;
    eventually("drift to be corrected", || async {
        (s.upstream(D, "cam")?.time_interval == 10).then_some(())
    })
    .await;
    let up = s.upstream(D, "cam").unwrap();
    assert_eq!(
        up.image_access_domain.as_deref(),
        Some("img.example.com"),
        "fields the spec leaves unset are kept"
    );
    let ev = s.wait_event("cam", "DriftCorrected").await;
    assert!(ev.message.unwrap_or_default().contains("timeInterval"));
}

/// With coalesced reads, templates in sync are not each parked in the controller's queue: the
/// resync clock triggers a domain's templates at the domain's slot, so upstream drift is
/// corrected with nobody asking, period after period.
pub async fn resync_clock_corrects_drift(shared: Arc<Shared>) {
    let mut s = Scenario::new(shared, "clock").await;
    let mut settings = s.settings();
    settings.resync = Duration::from_secs(2);
    s.start_operator_with(s.client.clone(), settings, s.cloud());
    s.create("cam", spec("cam")).await;
    s.wait_ready("cam").await;
    for round in [777, 888] {
        let mut changed = s.upstream(D, "cam").unwrap();
        changed.time_interval = round;
        s.sim.store.replace(PROJECT, changed).unwrap();
        eventually("the clock's resync to correct drift", || async {
            (s.upstream(D, "cam")?.time_interval == 10).then_some(())
        })
        .await;
    }
}

pub async fn observe_reports_drift_without_writing(shared: Arc<Shared>) {
    let mut s = Scenario::new(shared, "observe").await;
    s.sim
        .store
        .insert_new(PROJECT, existing("cam", 30))
        .unwrap();
    s.start_operator();
    s.create(
        "cam",
        with(spec("cam"), json!({"managementPolicy": "Observe"})),
    )
    .await;
    let o = s
        .wait_condition("cam", "Ready", "False", Some("Drifted"))
        .await;
    let st = o.status.unwrap();
    assert_eq!(st.managed.drift.len(), 1);
    assert_eq!(
        (
            st.managed.drift[0].field.as_str(),
            st.managed.drift[0].desired.as_str(),
            st.managed.drift[0].observed.as_str()
        ),
        ("timeInterval", "10", "30")
    );
    assert_eq!(st.at_provider.unwrap().time_interval, 30);
    assert!(
        st.managed
            .conditions
            .iter()
            .any(|c| c.type_ == "Synced" && c.status == "True" && c.reason == "Observing")
    );
    // Absent upstream: reported, not created.
    s.create(
        "absent",
        with(spec("absent"), json!({"managementPolicy": "Observe"})),
    )
    .await;
    s.wait_condition("absent", "Ready", "False", Some("NotFound"))
        .await;
    // Deleting an observed object never deletes upstream.
    s.api()
        .delete("cam", &DeleteParams::default())
        .await
        .unwrap();
    s.wait_gone("cam").await;
    assert_eq!(s.writes(), 0, "Observe never writes upstream");
    assert_eq!(s.upstream(D, "cam").unwrap().time_interval, 30);
}

pub async fn conflict_leaves_the_owner_alone(shared: Arc<Shared>) {
    let mut s = Scenario::new(shared, "conflict").await;
    s.start_operator();
    s.create("first", spec("cam")).await;
    s.wait_ready("first").await;
    s.create("second", with(spec("cam"), json!({"timeInterval": 99})))
        .await;
    let o = s
        .wait_condition("second", "Synced", "False", Some("Conflict"))
        .await;
    let ready = condition(&o, "Ready");
    assert_eq!(ready.status, "False", "a conflicting object is never Ready");
    s.wait_event("second", "Conflict").await;
    assert_eq!(
        s.upstream(D, "cam").unwrap().time_interval,
        10,
        "the newer object never writes"
    );
    s.api()
        .delete("second", &DeleteParams::default())
        .await
        .unwrap();
    s.wait_gone("second").await;
    assert!(
        s.upstream(D, "cam").is_some(),
        "deleting the loser never deletes the owner's template"
    );
    assert_eq!(s.calls("delete"), 0);
    assert_eq!(s.calls("update"), 0);
}

pub async fn delete_and_orphan(shared: Arc<Shared>) {
    let mut s = Scenario::new(shared, "deletion").await;
    s.start_operator();
    s.create("gone", spec("gone")).await;
    s.create(
        "kept",
        with(spec("kept"), json!({"deletionPolicy": "Orphan"})),
    )
    .await;
    s.wait_ready("gone").await;
    s.wait_ready("kept").await;
    // Already deleted upstream counts as deleted.
    s.create("vanished", spec("vanished")).await;
    s.wait_ready("vanished").await;
    s.sim.store.remove(PROJECT, D, "vanished").unwrap();
    for name in ["gone", "kept", "vanished"] {
        s.api()
            .delete(name, &DeleteParams::default())
            .await
            .unwrap();
    }
    for name in ["gone", "kept", "vanished"] {
        s.wait_gone(name).await;
    }
    assert!(
        s.upstream(D, "gone").is_none(),
        "Delete removes the upstream template"
    );
    assert!(s.upstream(D, "kept").is_some(), "Orphan leaves it");
}

pub async fn missing_secret_then_created(shared: Arc<Shared>) {
    let mut s = Scenario::new(shared, "secret").await;
    s.start_operator();
    s.create(
        "cam",
        with(
            spec("cam"),
            json!({"credentialsSecretRef": {"name": "live-creds"}}),
        ),
    )
    .await;
    let o = s
        .wait_condition("cam", "Synced", "False", Some("SecretMissing"))
        .await;
    let msg = condition(&o, "Synced").message;
    assert!(
        msg.contains("live-creds")
            && msg.ends_with("waiting for a change of the spec or of Secret live-creds"),
        "{msg}"
    );
    assert_eq!(
        s.sim.faults.stats().calls.values().sum::<u64>(),
        0,
        "no upstream call without credentials"
    );
    let endpoint = s.endpoint.clone();
    s.create_secret(
        "live-creds",
        &[
            ("accessKey", crate::harness::AK),
            ("secretKey", crate::harness::SK),
            ("projectId", "tenant-b"),
            ("endpoint", &endpoint),
        ],
    )
    .await;
    s.wait_ready("cam").await;
    assert!(
        s.sim.store.get("tenant-b", D, "cam").is_some(),
        "created in the Secret's project"
    );

    // A reconcile that finds nothing to do writes nothing: not upstream, not even status.
    let rv = s.get("cam").await.metadata.resource_version;
    let (reconciles, writes) = (s.reconciles(), s.writes());
    let api: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(s.client.clone(), &s.ns);
    let patch = json!({"stringData": {"note": "rotated nothing"}});
    api.patch(
        "live-creds",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(patch),
    )
    .await
    .unwrap();
    eventually("the Secret change to trigger a reconcile", || async {
        (s.reconciles() > reconciles).then_some(())
    })
    .await;
    assert_eq!(
        s.get("cam").await.metadata.resource_version,
        rv,
        "no status write when nothing changed"
    );
    assert_eq!(s.writes(), writes);

    // A Secret may only name an allow-listed endpoint.
    s.create_secret(
        "evil",
        &[
            ("accessKey", "a"),
            ("secretKey", "b"),
            ("projectId", "p"),
            ("endpoint", "http://169.254.169.254"),
        ],
    )
    .await;
    s.create(
        "evil",
        with(
            spec("evil"),
            json!({"credentialsSecretRef": {"name": "evil"}}),
        ),
    )
    .await;
    let o = s
        .wait_condition("evil", "Synced", "False", Some("InvalidSecret"))
        .await;
    let msg = condition(&o, "Synced").message;
    assert!(msg.contains("allowlist"), "{msg}");
}

pub async fn throttling_backs_off_then_converges(shared: Arc<Shared>) {
    let mut s = Scenario::new(shared, "throttle").await;
    s.sim.faults.set(FaultSettings {
        fail_next: 3,
        fail_next_status: Some(429),
        fail_next_code: Some("APIG.0308".into()),
        ..Default::default()
    });
    s.start_operator();
    s.create("cam", spec("cam")).await;
    s.wait_ready("cam").await;
    let ev = s.wait_event("cam", "Throttled").await;
    assert_eq!(ev.type_.as_deref(), Some("Warning"));
    assert!(
        !ev.message.unwrap_or_default().contains("retrying in"),
        "the Event keeps the bare error, so repeats fold into one series"
    );
    assert_eq!(s.sim.faults.stats().statuses.get(&429), Some(&3));
    assert_eq!(s.calls("create"), 1);
}

pub async fn terminal_error_is_a_condition_without_hot_loop(shared: Arc<Shared>) {
    let mut s = Scenario::new(shared, "terminal").await;
    // The real API refuses an unknown push domain with LIVE.100011001; admission cannot know.
    s.sim.faults.set(FaultSettings {
        error_rate: [("create".to_string(), 1.0)].into(),
        error_status: Some(400),
        error_code: Some("LIVE.100011001".into()),
        ..Default::default()
    });
    s.start_operator();
    s.create("cam", spec("cam")).await;
    let o = s
        .wait_condition("cam", "Synced", "False", Some("InvalidSpec"))
        .await;
    let msg = condition(&o, "Synced").message;
    assert!(
        msg.contains("LIVE.100011001") && msg.contains("request id"),
        "the condition carries the upstream code and request id: {msg}"
    );
    assert!(
        msg.ends_with("; waiting for a change of the spec"),
        "the condition says what happens next: {msg}"
    );
    let calls = s.sim.faults.stats().calls.values().sum::<u64>();
    // Not a wait for something to happen: a window in which nothing may happen.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        s.sim.faults.stats().calls.values().sum::<u64>(),
        calls,
        "a terminal error is not retried in a loop"
    );
    // A spec change retries at once.
    s.sim.faults.set(FaultSettings::default());
    s.patch_spec("cam", json!({"timeInterval": 20})).await;
    s.wait_ready("cam").await;
    assert_eq!(s.upstream(D, "cam").unwrap().time_interval, 20);
}

/// A configuration refusal waits quietly: through several resync periods nothing is reconciled
/// again (no call, no repeated WARN), until something that can fix it changes; the retry
/// annotation asks again at once.
pub async fn terminal_errors_wait_quietly_through_resyncs(shared: Arc<Shared>) {
    let mut s = Scenario::new(shared, "quiet").await;
    let mut settings = s.settings();
    settings.resync = Duration::from_secs(2);
    let mut cloud = s.cloud();
    // This namespace may not use the operator's default credentials.
    cloud.default_namespaces = vec![];
    s.start_operator_with(s.client.clone(), settings, cloud);
    s.create("cam", spec("cam")).await;
    let o = s
        .wait_condition(
            "cam",
            "Ready",
            "False",
            Some("DefaultCredentialsNotAllowed"),
        )
        .await;
    assert!(
        condition(&o, "Ready")
            .message
            .contains("waiting for a change"),
        "{:?}",
        condition(&o, "Ready")
    );
    // Every reconcile, whatever its result.
    let all = |s: &Scenario| -> f64 {
        s.metrics()
            .encode()
            .lines()
            .filter(|l| l.starts_with("live_snapshot_operator_reconciles_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    // The first reconciles (finalizer, then the refusal) are over once none is in flight.
    eventually("no reconcile in flight", || async {
        (s.metrics().in_flight.get() == 0).then_some(())
    })
    .await;
    let reconciles = all(&s);
    assert!(reconciles >= 1.0);
    let calls = s.sim.faults.stats().calls.values().sum::<u64>();
    // Not a wait for something to happen: four resync periods in which nothing may happen.
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(
        all(&s),
        reconciles,
        "a configuration refusal is not reconciled again at each resync"
    );
    assert_eq!(s.sim.faults.stats().calls.values().sum::<u64>(), calls);
    // The retry annotation asks again.
    s.poke("cam").await;
    eventually("the retry annotation to reconcile", || async {
        (all(&s) > reconciles).then_some(())
    })
    .await;
}

pub async fn restart_between_create_and_status(shared: Arc<Shared>) {
    let mut s = Scenario::new(shared, "restart").await;
    s.sim.faults.set(FaultSettings {
        hang_after_create: 1,
        ..Default::default()
    });
    s.start_operator();
    s.create("cam", spec("cam")).await;
    eventually("the create to reach upstream", || async {
        s.upstream(D, "cam").map(|_| ())
    })
    .await;
    s.kill_operator().await;
    let o = s.get("cam").await;
    assert!(
        !o.status
            .unwrap_or_default()
            .managed
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True"),
        "status was not written after the create"
    );
    s.start_operator();
    s.wait_ready("cam").await;
    assert_eq!(s.sim.store.len(), 1, "exactly one upstream template");
    assert_eq!(
        s.calls("create"),
        1,
        "the restarted operator found the template instead of creating again"
    );
    assert!(
        !s.events("cam")
            .await
            .iter()
            .any(|e| e.reason.as_deref() == Some("Adopted")),
        "its own create is not announced as an adoption"
    );
}

pub async fn pause_stops_upstream_calls(shared: Arc<Shared>) {
    let mut s = Scenario::new(shared, "pause").await;
    s.start_operator();
    s.create("cam", spec("cam")).await;
    s.wait_ready("cam").await;
    s.annotate("cam", "live.snapshot.dev/paused", "true").await;
    s.wait_condition("cam", "Synced", "False", Some("Paused"))
        .await;
    let calls = s.sim.faults.stats().calls.values().sum::<u64>();
    s.patch_spec("cam", json!({"timeInterval": 30})).await;
    s.wait_condition("cam", "Synced", "False", Some("Paused"))
        .await;
    assert_eq!(
        s.sim.faults.stats().calls.values().sum::<u64>(),
        calls,
        "no upstream call while paused"
    );
    assert_eq!(s.upstream(D, "cam").unwrap().time_interval, 10);
    s.annotate("cam", "live.snapshot.dev/paused", "false").await;
    s.wait_ready("cam").await;
    assert_eq!(s.upstream(D, "cam").unwrap().time_interval, 30);
}

pub async fn callback_key_never_leaks(shared: Arc<Shared>) {
    const KEY: &str = "cb-key-4f1d9c2e7a6b5d8c3e0f1a2b3c4d5e6f";
    let logs = shared.logs.clone();
    let mut s = Scenario::new(shared, "secrecy").await;
    s.create_secret("cb", &[("key", KEY)]).await;
    s.start_operator();
    let cb = json!({"callback": {"enabled": true, "url": "https://hooks.example.com/snap", "authKeySecretRef": {"name": "cb", "key": "key"}}});
    s.create("cam", with(spec("cam"), cb)).await;
    let o = s.wait_ready("cam").await;
    let up = s.upstream(D, "cam").unwrap();
    assert_eq!(
        up.auth_key.as_deref(),
        Some(KEY),
        "the key reached upstream"
    );
    assert_eq!(up.call_back_enable.as_deref(), Some("on"));
    assert!(
        o.status
            .as_ref()
            .unwrap()
            .at_provider
            .as_ref()
            .unwrap()
            .callback_auth_key_set
    );
    // Drift in the key is detected and corrected without showing either value.
    let mut changed = up.clone();
    changed.auth_key = Some("x".repeat(40));
    s.sim.store.replace(PROJECT, changed).unwrap();
    s.poke("cam").await;
    eventually("the key to be restored", || async {
        (s.upstream(D, "cam")?.auth_key.as_deref() == Some(KEY)).then_some(())
    })
    .await;
    // The Event follows the upstream write: wait for it rather than race it.
    let events = eventually("the drift Event", || async {
        let events = serde_json::to_string(&s.events("cam").await).ok()?;
        events
            .contains("callback.authKeySecretRef")
            .then_some(events)
    })
    .await;
    let o = s.get("cam").await;
    let status = serde_json::to_string(&o.status).unwrap();
    let logs = String::from_utf8_lossy(&logs.lock().unwrap()).to_string();
    for (what, text) in [("status", &status), ("events", &events), ("logs", &logs)] {
        assert!(!text.contains(KEY), "the callback key appears in {what}");
        assert!(
            !text.contains(crate::harness::SK),
            "the secret key appears in {what}"
        );
    }
    assert!(
        events.contains("callback.authKeySecretRef"),
        "the key drift was reported by field name"
    );
    // A key of the wrong length is refused before any call, naming the Secret, not the value.
    s.create_secret("short", &[("key", "too-short-key")]).await;
    let bad = json!({"callback": {"enabled": true, "url": "https://hooks.example.com/snap", "authKeySecretRef": {"name": "short", "key": "key"}}});
    s.create("bad", with(spec("bad"), bad)).await;
    let o = s
        .wait_condition("bad", "Synced", "False", Some("InvalidSecret"))
        .await;
    assert!(
        !serde_json::to_string(&o.status)
            .unwrap()
            .contains("too-short-key")
    );
}
