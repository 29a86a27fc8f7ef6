//! Ownership and tenant safety, on the real API server: the operator never changes or deletes
//! an upstream template it does not own, and no tenant can aim it at another host, project or
//! the operator's own account.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::Api;
use kube::api::{ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use live_snapshot_operator::clouds::huawei::{LiveSnapshotConfig, ObsLocation};
use live_snapshot_operator::kinds::live::resource::{LiveSnapshotTemplate, OwnershipState};
use lso_sim::{FaultSettings, KeyPair};
use serde_json::json;

use crate::harness::{AK, PROJECT, SK, Scenario, Shared, condition, eventually, spec, with};

const D: &str = "push.example.com";

/// A template someone else made, with their bucket and callback.
fn theirs(app: &str) -> LiveSnapshotConfig {
    LiveSnapshotConfig {
        domain: D.into(),
        app_name: app.into(),
        time_interval: 30,
        object_write_mode: Some(0),
        snapshot_mode: Some("keyframe".into()),
        obs_location: ObsLocation {
            bucket: "their-bucket".into(),
            location: "cn-north-4".into(),
            object: "theirs/".into(),
        },
        call_back_enable: Some("on".into()),
        call_back_url: Some("https://hooks.someone-else.example.com/x".into()),
        ..Default::default()
    }
}

fn ownership(o: &LiveSnapshotTemplate) -> Option<OwnershipState> {
    o.status
        .as_ref()?
        .managed
        .ownership
        .as_ref()
        .map(|w| w.state)
}

async fn delete(s: &Scenario, name: &str) {
    s.api()
        .delete(name, &DeleteParams::default())
        .await
        .unwrap_or_else(|e| panic!("delete {name}: {e}"));
}

/// A spec for `app` whose credentials come from Secret `secret`.
fn using(app: &str, secret: &str) -> serde_json::Value {
    with(spec(app), json!({"credentialsSecretRef": {"name": secret}}))
}

async fn patch_secret(s: &Scenario, name: &str, patch: serde_json::Value) {
    let secrets: Api<Secret> = Api::namespaced(s.client.clone(), &s.ns);
    secrets
        .patch(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .unwrap_or_else(|e| panic!("patch Secret {name}: {e}"));
}

/// An object that is paused from its creation on.
async fn create_paused(s: &Scenario, name: &str, spec: serde_json::Value) {
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "live.snapshot.dev/v1alpha1", "kind": "LiveSnapshotTemplate",
        "metadata": {"name": name, "annotations": {"live.snapshot.dev/paused": "true"}},
        "spec": spec,
    }))
    .unwrap();
    s.dynamic()
        .create(&PostParams::default(), &obj)
        .await
        .unwrap_or_else(|e| panic!("create {name}: {e}"));
}

fn event_count(events: &[k8s_openapi::api::core::v1::Event], reason: &str) -> usize {
    events
        .iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .count()
}

pub async fn existing_template_is_left_alone_unless_adoption_is_asked(shared: Arc<Shared>) {
    let mut s = Scenario::new(shared, "no-takeover").await;
    for app in ["cam", "match", "take"] {
        s.sim.store.insert_new(PROJECT, theirs(app)).unwrap();
    }
    s.start_operator();

    // Default: refused, reported with what is there, never written, never deleted.
    s.create("cam", spec("cam")).await;
    let o = s
        .wait_condition("cam", "Ready", "False", Some("AlreadyExists"))
        .await;
    assert_eq!(condition(&o, "Synced").reason, "AlreadyExists");
    let st = o.status.clone().unwrap();
    let seen = st.at_provider.expect("the observed template is shown");
    assert_eq!(
        (seen.time_interval, seen.obs_location.bucket.as_str()),
        (30, "their-bucket")
    );
    assert_eq!(ownership(&o), None, "nothing is claimed");
    let ev = s.wait_event("cam", "AlreadyExists").await;
    assert_eq!(ev.type_.as_deref(), Some("Warning"));
    assert!(
        ev.message.unwrap_or_default().contains("adoptionPolicy"),
        "the event says how to opt in"
    );
    delete(&s, "cam").await;
    s.wait_gone("cam").await;
    assert_eq!(
        s.upstream(D, "cam"),
        Some(theirs("cam")),
        "the template is exactly as its owner left it"
    );

    // IfMatching: refused while it differs, adopted without a write once spec matches it.
    let matching = json!({
        "timeInterval": 30,
        "obsLocation": {"bucket": "their-bucket", "location": "cn-north-4", "object": "theirs/"},
        "callback": {"enabled": true, "url": "https://hooks.someone-else.example.com/x"},
        "adoptionPolicy": "IfMatching",
    });
    s.create(
        "match",
        with(
            with(spec("match"), matching.clone()),
            json!({"timeInterval": 20}),
        ),
    )
    .await;
    let o = s
        .wait_condition("match", "Ready", "False", Some("AlreadyExists"))
        .await;
    assert!(condition(&o, "Ready").message.contains("timeInterval"));
    s.patch_spec("match", json!({"timeInterval": 30})).await;
    let o = s.wait_ready("match").await;
    assert_eq!(ownership(&o), Some(OwnershipState::Adopted));
    assert_eq!(s.upstream(D, "match"), Some(theirs("match")));

    // Always: adopted, made to match spec, recorded, and deleted with the object.
    s.create(
        "take",
        with(spec("take"), json!({"adoptionPolicy": "Always"})),
    )
    .await;
    let o = s.wait_ready("take").await;
    let own = o.status.unwrap().managed.ownership.expect("recorded");
    assert_eq!(
        (own.state, own.project_id.as_str()),
        (OwnershipState::Adopted, PROJECT)
    );
    assert_eq!(s.upstream(D, "take").unwrap().time_interval, 10);
    s.wait_event("take", "Adopted").await;
    assert_eq!(s.calls("create"), 0, "nothing was created");
    assert_eq!(s.calls("update"), 1, "only the Always object wrote");

    // Created by us: recorded as such.
    s.create("fresh", spec("fresh")).await;
    let o = s.wait_ready("fresh").await;
    assert_eq!(ownership(&o), Some(OwnershipState::Created));
    delete(&s, "take").await;
    s.wait_gone("take").await;
    assert!(
        s.upstream(D, "take").is_none(),
        "an adopted template is ours to delete"
    );
    assert_eq!(s.calls("delete"), 1);
}

pub async fn unanswered_creates_are_known_as_ours(shared: Arc<Shared>) {
    let mut s = Scenario::new(shared, "lost-create").await;
    // Every create is committed but never answered: the operator's call times out.
    s.sim.faults.set(FaultSettings {
        hang_after_create: 6,
        ..Default::default()
    });
    s.start_operator();
    let names: Vec<String> = (0..6).map(|i| format!("cam{i}")).collect();
    for n in &names {
        s.create(n, spec(n)).await;
    }
    for n in &names {
        let o = s.wait_ready(n).await;
        assert_eq!(
            ownership(&o),
            Some(OwnershipState::Created),
            "{n} knows it created its template"
        );
    }
    assert_eq!(s.calls("create"), 6, "one create per template, never two");
    assert_eq!(s.sim.store.len(), 6);
    for n in &names {
        let events = s.events(n).await;
        assert_eq!(
            event_count(&events, "Adopted"),
            0,
            "{n} announced an adoption"
        );
        assert_eq!(
            event_count(&events, "AlreadyExists"),
            0,
            "{n} refused its own"
        );
        assert!(event_count(&events, "Created") >= 1, "{n} says it created");
    }
}

pub async fn deletion_removes_only_what_the_object_owns(shared: Arc<Shared>) {
    let mut s = Scenario::new(shared, "delete-owned").await;
    for app in ["badkey", "sleeper"] {
        s.sim.store.insert_new(PROJECT, theirs(app)).unwrap();
    }
    s.create_secret("short", &[("key", "too-short")]).await;
    s.start_operator();

    // Never reached upstream: a bad callback Secret, or paused from the start.
    let bad = json!({"callback": {"enabled": true, "url": "https://hooks.example.com/s", "authKeySecretRef": {"name": "short", "key": "key"}}});
    s.create("badkey", with(spec("badkey"), bad)).await;
    s.wait_condition("badkey", "Synced", "False", Some("InvalidSecret"))
        .await;
    create_paused(&s, "sleeper", spec("sleeper")).await;
    s.wait_condition("sleeper", "Synced", "False", Some("Paused"))
        .await;
    for n in ["badkey", "sleeper"] {
        delete(&s, n).await;
        s.wait_gone(n).await;
        assert_eq!(
            s.upstream(D, n),
            Some(theirs(n)),
            "{n}: someone else's template"
        );
    }

    // Owned in one project; the credentials then move to another where the same identity is
    // someone else's: refused while it lives, nothing deleted in either project when it goes.
    s.create_credentials("creds", "tenant-a").await;
    s.sim.store.insert_new("tenant-b", theirs("moved")).unwrap();
    s.create("moved", using("moved", "creds")).await;
    s.wait_ready("moved").await;
    patch_secret(
        &s,
        "creds",
        json!({"stringData": {"projectId": "tenant-b"}}),
    )
    .await;
    let o = s
        .wait_condition("moved", "Synced", "False", Some("CredentialsMoved"))
        .await;
    assert!(condition(&o, "Synced").message.contains("tenant-a"));
    assert_eq!(
        s.sim.store.get("tenant-b", D, "moved"),
        Some(theirs("moved"))
    );
    delete(&s, "moved").await;
    s.wait_gone("moved").await;
    let ev = s.wait_event("moved", "Orphaned").await;
    assert_eq!(ev.type_.as_deref(), Some("Warning"));
    assert!(
        ev.message
            .unwrap_or_default()
            .contains("push.example.com/moved in project tenant-a")
    );
    assert_eq!(
        s.sim.store.get("tenant-b", D, "moved"),
        Some(theirs("moved"))
    );
    assert!(
        s.sim.store.get("tenant-a", D, "moved").is_some(),
        "left behind, as the event says"
    );
    assert_eq!(s.calls("delete"), 0);
    assert_eq!(s.calls("update"), 0);
}

pub async fn deletion_finishes_without_credentials_or_when_paused(shared: Arc<Shared>) {
    let mut s = Scenario::new(shared, "delete-stuck").await;
    s.create_credentials("creds", PROJECT).await;
    s.start_operator();
    s.create("cam", using("cam", "creds")).await;
    s.create("still", spec("still")).await;
    s.wait_ready("cam").await;
    s.wait_ready("still").await;

    // The Secret goes first, as in a namespace deletion.
    let secrets: Api<Secret> = Api::namespaced(s.client.clone(), &s.ns);
    secrets
        .delete("creds", &DeleteParams::default())
        .await
        .unwrap();
    delete(&s, "cam").await;
    s.wait_gone("cam").await;
    let ev = s.wait_event("cam", "Orphaned").await;
    assert_eq!(ev.type_.as_deref(), Some("Warning"));
    let msg = ev.message.unwrap_or_default();
    assert!(
        msg.contains("push.example.com/cam") && msg.contains("creds"),
        "{msg}"
    );
    assert!(s.upstream(D, "cam").is_some());

    // Paused: no upstream call, even to delete; the deletion still finishes.
    s.annotate("still", "live.snapshot.dev/paused", "true")
        .await;
    s.wait_condition("still", "Synced", "False", Some("Paused"))
        .await;
    delete(&s, "still").await;
    s.wait_gone("still").await;
    let ev = s.wait_event("still", "Orphaned").await;
    assert!(ev.message.unwrap_or_default().contains("paused"));
    assert!(s.upstream(D, "still").is_some());
    assert_eq!(s.calls("delete"), 0);
}

async fn create_in(
    client: &kube::Client,
    ns: &str,
    name: &str,
    spec: serde_json::Value,
) -> DynamicObject {
    let api: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        ns,
        &ApiResource::erase::<LiveSnapshotTemplate>(&()),
    );
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "live.snapshot.dev/v1alpha1", "kind": "LiveSnapshotTemplate",
        "metadata": {"name": name}, "spec": spec,
    }))
    .unwrap();
    api.create(&PostParams::default(), &obj)
        .await
        .unwrap_or_else(|e| panic!("create {ns}/{name}: {e}"))
}

async fn condition_in(
    client: &kube::Client,
    ns: &str,
    name: &str,
    type_: &str,
    reason: &str,
) -> LiveSnapshotTemplate {
    let api: Api<LiveSnapshotTemplate> = Api::namespaced(client.clone(), ns);
    eventually(&format!("{ns}/{name} {type_} {reason}"), || async {
        let o = api.get_opt(name).await.ok()??;
        let c = o
            .status
            .as_ref()?
            .managed
            .conditions
            .iter()
            .find(|c| c.type_ == type_)?
            .clone();
        (c.reason == reason).then_some(o)
    })
    .await
}

pub async fn ownership_cannot_be_squatted(shared: Arc<Shared>) {
    let mut s = Scenario::new(shared, "squat").await;
    let ns2 = format!("{}-b", s.ns);
    let nsapi: Api<Namespace> = Api::all(s.client.clone());
    nsapi
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": ns2}})).unwrap(),
        )
        .await
        .unwrap();
    let mut settings = s.settings();
    settings.namespaces.push(ns2.clone());
    let mut cloud = s.cloud();
    cloud.default_namespaces.push(ns2.clone());
    s.start_operator_with(s.client.clone(), settings.clone(), cloud.clone());

    // Two early objects that never resolve a project: one waits for a Secret, one is paused.
    s.create("squatter", using("cam", "not-yet")).await;
    s.wait_condition("squatter", "Synced", "False", Some("SecretMissing"))
        .await;
    create_paused(&s, "sleeper", spec("cam")).await;
    // Neither blocks the object that comes later and can act.
    s.create("real", spec("cam")).await;
    let o = s.wait_ready("real").await;
    assert_eq!(ownership(&o), Some(OwnershipState::Created));

    // A later object, even one that asks to adopt, does not take the claim; in another
    // namespace it is not told who holds it.
    create_in(
        &s.client,
        &ns2,
        "other",
        with(
            spec("cam"),
            json!({"adoptionPolicy": "Always", "timeInterval": 99}),
        ),
    )
    .await;
    let o = condition_in(&s.client, &ns2, "other", "Synced", "Conflict").await;
    let msg = condition(&o, "Synced").message;
    assert!(msg.contains("another namespace"), "{msg}");
    assert!(!msg.contains("real") && !msg.contains(&s.ns), "{msg}");
    s.create(
        "late",
        with(
            spec("cam"),
            json!({"adoptionPolicy": "Always", "timeInterval": 98}),
        ),
    )
    .await;
    let o = s
        .wait_condition("late", "Synced", "False", Some("Conflict"))
        .await;
    assert!(condition(&o, "Synced").message.contains("object real"));

    // The squatter's Secret arrives: it does not take over either.
    s.create_credentials("not-yet", PROJECT).await;
    s.wait_condition("squatter", "Synced", "False", Some("Conflict"))
        .await;

    // After a restart the claim is rebuilt from status, in every watched namespace, before any
    // object writes.
    s.kill_operator().await;
    let writes = s.writes();
    s.start_operator_with(s.client.clone(), settings, cloud);
    s.poke("late").await;
    let api2: Api<LiveSnapshotTemplate> = Api::namespaced(s.client.clone(), &ns2);
    api2.patch(
        "other",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {"live.snapshot.dev/reconcile-requested-at": "after-restart"}}})),
    )
    .await
    .unwrap();
    eventually("the poked objects to be reconciled again", || async {
        let late = s
            .get("late")
            .await
            .status?
            .managed
            .last_handled_reconcile_at;
        let other = api2
            .get("other")
            .await
            .ok()?
            .status?
            .managed
            .last_handled_reconcile_at;
        (late.is_some() && other.as_deref() == Some("after-restart")).then_some(())
    })
    .await;
    s.wait_condition("late", "Synced", "False", Some("Conflict"))
        .await;
    condition_in(&s.client, &ns2, "other", "Synced", "Conflict").await;
    assert_eq!(s.writes(), writes, "no write after the restart");
    assert_eq!(s.upstream(D, "cam").unwrap().time_interval, 10);
    assert_eq!(s.calls("create"), 1);
    let _ = nsapi.delete(&ns2, &DeleteParams::default()).await;
}

/// The reproduction of the second security review: a tenant who may patch `*/status` writes an
/// ownership record with an early `since` into its conflicting object. The record carries no
/// valid proof, so it grants nothing: no claim, no write, no delete.
pub async fn forged_ownership_gains_nothing(shared: Arc<Shared>) {
    let mut s = Scenario::new(shared, "forged").await;
    s.start_operator();
    s.create("prod", spec("cam")).await;
    s.wait_ready("prod").await;
    s.create("grab", with(spec("cam"), json!({"timeInterval": 60})))
        .await;
    s.wait_condition("grab", "Synced", "False", Some("Conflict"))
        .await;
    let writes = s.writes();
    for (attempt, proof) in [
        serde_json::Value::Null,
        json!("00".repeat(32)),
        // prod's own proof, copied: it is bound to prod's name, UID and record.
        json!(
            s.get("prod")
                .await
                .status
                .and_then(|st| st.managed.ownership)
                .and_then(|o| o.proof)
                .expect("prod's record carries a proof")
        ),
    ]
    .into_iter()
    .enumerate()
    {
        s.dynamic()
            .patch_status(
                "grab",
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"ownership": {
                    "state": "Created", "projectId": PROJECT, "endpoint": s.endpoint,
                    "since": "2000-01-01T00:00:00Z", "proof": proof}}})),
            )
            .await
            .expect("status patched, as a tenant with */status rights can");
        let asked = format!("forged-{attempt}");
        s.annotate("grab", "live.snapshot.dev/reconcile-requested-at", &asked)
            .await;
        let o = eventually("the forged object's next reconcile", || async {
            let o = s.get("grab").await;
            let st = o.status.as_ref()?;
            (st.managed.last_handled_reconcile_at.as_deref() == Some(asked.as_str()))
                .then_some(o.clone())
        })
        .await;
        assert_eq!(condition(&o, "Synced").reason, "Conflict", "{proof}");
        // A record with a proof that fails is removed; one without a proof may stay for a
        // later reconcile to judge (as a record of the previous release would), but it is
        // never signed and grants nothing.
        let record = o
            .status
            .as_ref()
            .and_then(|st| st.managed.ownership.clone());
        if proof.is_null() {
            assert!(record.is_none_or(|r| r.proof.is_none()), "{proof}");
        } else {
            assert_eq!(record, None, "the forged record is removed: {proof}");
        }
    }
    assert_eq!(s.writes(), writes, "no upstream write");
    assert_eq!(s.upstream(D, "cam").unwrap().time_interval, 10);
    // Deleting the forger deletes nothing upstream; prod still owns its template.
    delete(&s, "grab").await;
    s.wait_gone("grab").await;
    assert!(
        s.upstream(D, "cam").is_some(),
        "the template is still there"
    );
    assert_eq!(s.calls("delete"), 0);
    s.poke("prod").await;
    let o = s.wait_ready("prod").await;
    assert_eq!(ownership(&o), Some(OwnershipState::Created));
}

/// An object owned under a record without a proof (what the release before this one wrote) is
/// re-owned, with a proof, where upstream equals its spec, with no upstream write; where it
/// differs, it is not.
pub async fn unproven_records_are_reowned_only_where_upstream_matches(shared: Arc<Shared>) {
    let mut s = Scenario::new(shared, "unproven").await;
    s.start_operator();
    for app in ["same", "moved"] {
        s.create(app, spec(app)).await;
        s.wait_ready(app).await;
    }
    s.stop_operator().await;
    // As the previous release left them: records without a proof. Someone changes "moved"
    // upstream meanwhile.
    for app in ["same", "moved"] {
        s.dynamic()
            .patch_status(
                app,
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"ownership": {"proof": null}}})),
            )
            .await
            .expect("status patched");
    }
    let mut changed = s.upstream(D, "moved").unwrap();
    changed.time_interval = 30;
    s.sim
        .store
        .replace(PROJECT, changed)
        .expect("changed upstream");
    let writes = s.writes();
    s.start_operator();
    s.poke("same").await;
    s.poke("moved").await;
    s.wait_event("same", "OwnershipProven").await;
    eventually("the record to be re-recorded with a proof", || async {
        let o = s.get("same").await;
        let proven = o
            .status
            .as_ref()?
            .managed
            .ownership
            .as_ref()?
            .proof
            .is_some();
        proven.then_some(())
    })
    .await;
    s.wait_ready("same").await;
    let o = s
        .wait_condition("moved", "Synced", "False", Some("AlreadyExists"))
        .await;
    assert_eq!(ownership(&o), None);
    assert_eq!(s.writes(), writes, "no upstream write");
    assert_eq!(s.upstream(D, "moved").unwrap().time_interval, 30);
}

pub async fn default_credentials_serve_only_listed_namespaces(shared: Arc<Shared>) {
    let mut s = Scenario::new(shared, "tenant-defaults").await;
    let mut cloud = s.cloud();
    cloud.default_namespaces = vec!["platform-team".into()];
    s.start_operator_with(s.client.clone(), s.settings(), cloud);
    s.create("cam", spec("cam")).await;
    let o = s
        .wait_condition(
            "cam",
            "Synced",
            "False",
            Some("DefaultCredentialsNotAllowed"),
        )
        .await;
    let msg = condition(&o, "Synced").message;
    assert!(msg.contains("credentialsSecretRef"), "{msg}");
    assert_eq!(
        s.sim.faults.stats().calls.values().sum::<u64>(),
        0,
        "the operator's account was not used"
    );
    s.create_credentials("own", "tenant-own").await;
    s.patch_spec("cam", json!({"credentialsSecretRef": {"name": "own"}}))
        .await;
    s.wait_ready("cam").await;
    assert!(s.sim.store.get("tenant-own", D, "cam").is_some());
    assert!(
        s.upstream(D, "cam").is_none(),
        "nothing in the operator's project"
    );
}

/// A TCP listener that counts connections: a host a tenant would like the operator to call.
async fn trap() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((_sock, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    (addr, hits)
}

/// An allow-listed endpoint that answers every call with `status`, `location` and a body of
/// `body_len` bytes.
async fn fake_endpoint(status: u16, location: String, body_len: usize) -> String {
    use axum::response::IntoResponse;
    let app = axum::Router::new().fallback(move || {
        let location = location.clone();
        async move {
            let mut resp = (
                axum::http::StatusCode::from_u16(status).unwrap(),
                vec![b' '; body_len],
            )
                .into_response();
            if !location.is_empty() {
                resp.headers_mut()
                    .insert("location", location.parse().unwrap());
            }
            resp
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    endpoint
}

pub async fn tenant_cannot_aim_the_operator_elsewhere(shared: Arc<Shared>) {
    let mut s = Scenario::new(shared, "ssrf").await;
    let (trap_addr, hits) = trap().await;
    let redirector = fake_endpoint(307, format!("http://{trap_addr}/stolen"), 0).await;
    let bloated = fake_endpoint(200, String::new(), 6 << 20).await;
    let mut cloud = s.cloud();
    cloud.endpoint_allowlist = vec![s.endpoint.clone(), redirector.clone(), bloated.clone()];
    s.start_operator_with(s.client.clone(), s.settings(), cloud);

    let secret = |name: &'static str, key: &'static str, value: String| {
        let s = &s;
        async move {
            s.create_secret(
                name,
                &[
                    ("accessKey", AK),
                    ("secretKey", SK),
                    ("projectId", PROJECT),
                    ("securityToken", "tenant-sts-token"),
                    (key, &value),
                ],
            )
            .await;
        }
    };
    secret("region", "region", format!("x@{trap_addr}/probe?")).await;
    secret("direct", "endpoint", format!("http://{trap_addr}")).await;
    secret("redirect", "endpoint", redirector).await;
    secret("bloat", "endpoint", bloated).await;
    for name in ["region", "direct", "redirect", "bloat"] {
        s.create(name, using(name, name)).await;
    }
    let o = s
        .wait_condition("region", "Synced", "False", Some("InvalidSecret"))
        .await;
    assert!(condition(&o, "Synced").message.contains("region"));
    let o = s
        .wait_condition("direct", "Synced", "False", Some("InvalidSecret"))
        .await;
    assert!(condition(&o, "Synced").message.contains("allowlist"));
    let o = s
        .wait_condition("redirect", "Synced", "False", Some("UpstreamError"))
        .await;
    assert!(condition(&o, "Synced").message.contains("redirect"));
    let o = s
        .wait_condition("bloat", "Synced", "False", Some("UpstreamError"))
        .await;
    assert!(condition(&o, "Synced").message.contains("larger than"));
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the operator connected to a host no one allow-listed"
    );
}

/// Records the path and Accept header of every request the operator's client sends.
type Seen = Arc<Mutex<Vec<(http::Method, String, String)>>>;

async fn recording_client(shared: &Shared, seen: Seen) -> kube::Client {
    let kc = kube::config::Kubeconfig::read_from(&shared.cp.kubeconfig).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    let layer = tower::util::MapRequestLayer::new(move |req: http::Request<kube::client::Body>| {
        let accept = req
            .headers()
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let target = req
            .uri()
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default();
        seen.lock()
            .unwrap()
            .push((req.method().clone(), target, accept));
        req
    });
    kube::client::ClientBuilder::try_from(config)
        .unwrap()
        .with_layer(&layer)
        .build()
}

pub async fn secrets_are_watched_without_their_data(shared: Arc<Shared>) {
    let seen: Seen = Arc::default();
    let client = recording_client(&shared, seen.clone()).await;
    let mut s = Scenario::new(shared, "secret-meta").await;
    s.create_credentials("creds", PROJECT).await;
    s.create_secret("unrelated", &[("password", "hunter2-unrelated")])
        .await;
    s.start_operator_with(client, s.settings(), s.cloud());
    s.create("cam", using("cam", "creds")).await;
    s.wait_ready("cam").await;
    // A change of the Secret still reaches the object.
    let reconciles = s.reconciles();
    patch_secret(
        &s,
        "creds",
        json!({"metadata": {"labels": {"rotated": "yes"}}}),
    )
    .await;
    eventually("the Secret change to trigger a reconcile", || async {
        (s.reconciles() > reconciles).then_some(())
    })
    .await;
    let seen = seen.lock().unwrap().clone();
    let secret_calls: Vec<_> = seen
        .iter()
        .filter(|(_, target, _)| target.contains("/secrets"))
        .collect();
    assert!(!secret_calls.is_empty());
    for (method, target, accept) in &secret_calls {
        let path = target.split('?').next().unwrap_or_default();
        if path.ends_with("/secrets") {
            assert!(
                accept.contains("as=PartialObjectMetadata"),
                "a list or watch of Secrets asked for their data: {method} {target} ({accept})"
            );
        } else {
            assert_eq!(method, http::Method::GET, "{target}");
            // The operator's own ownership key, in its own namespace, is the one other Secret.
            assert!(
                path.ends_with("/secrets/creds")
                    || path.ends_with(
                        "/namespaces/default/secrets/live-snapshot-operator-ownership-key"
                    ),
                "only a Secret an object names is read: {target}"
            );
        }
    }
}

pub async fn rotated_credentials_are_used_without_a_restart(shared: Arc<Shared>) {
    const AK2: &str = "E2EACCESSKEY0002";
    const SK2: &str = "e2eSecretKeyRotated456789abcdefghij";
    let mut s = Scenario::new(shared, "rotation").await;
    let dir = tempfile::tempdir().unwrap();
    let (ak, sk) = (dir.path().join("access-key"), dir.path().join("secret-key"));
    std::fs::write(&ak, AK).unwrap();
    std::fs::write(&sk, SK).unwrap();
    let mut cloud = s.cloud();
    cloud.auth = None;
    cloud.auth_files = Some(live_snapshot_operator::core::credentials::AuthFiles {
        access_key: ak.clone(),
        secret_key: sk.clone(),
        security_token: None,
    });
    s.create_credentials("tenant", "tenant-rot").await;
    s.start_operator_with(s.client.clone(), s.settings(), cloud);
    s.create("by-default", spec("by-default")).await;
    s.create("by-secret", using("by-secret", "tenant")).await;
    s.wait_ready("by-default").await;
    s.wait_ready("by-secret").await;

    // The account's key is rotated: the old one stops working at once.
    s.sim.set_keys(vec![KeyPair::new(AK2, SK2)]);
    std::fs::write(&ak, AK2).unwrap();
    std::fs::write(&sk, SK2).unwrap();
    patch_secret(
        &s,
        "tenant",
        json!({"stringData": {"accessKey": AK2, "secretKey": SK2}}),
    )
    .await;
    for name in ["by-default", "by-secret"] {
        s.annotate(name, "live.snapshot.dev/reconcile-requested-at", "rotated")
            .await;
    }
    for name in ["by-default", "by-secret"] {
        let o = eventually(&format!("{name} to reconcile with the new key"), || async {
            let o = s.get(name).await;
            let st = o.status.as_ref()?;
            (st.managed.last_handled_reconcile_at.as_deref() == Some("rotated")).then_some(o)
        })
        .await;
        assert_eq!(
            condition(&o, "Synced").reason,
            "ReconcileSuccess",
            "{name} used the rotated key: {}",
            condition(&o, "Synced").message
        );
    }
    assert_eq!(
        s.sim
            .faults
            .stats()
            .statuses
            .get(&401)
            .copied()
            .unwrap_or(0),
        0,
        "no call was made with the revoked key"
    );
}
