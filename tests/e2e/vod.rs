//! The VodAssetSnapshot kind on the shared core: a snapshot task started and the cover set,
//! cover drift corrected, a missing or unready asset, Observe, deletion by policy, and
//! admission of bad thumbnail settings.

use std::sync::Arc;
use std::time::Duration;

use live_snapshot_operator::kinds::vod::resource::VodAssetSnapshot;
use lso_sim::vod::store::{AssetState, ThumbnailParams};

use crate::harness::{PROJECT, Scenario, Shared, eventually};

const ASSET: &str = "6e7605d4cb0b4fc9b2f5bf00c2cb511f";
const OTHER: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";

/// Snapshots every 10 s of a 60 s video, the one nearest 20 s as cover.
fn spec(asset: &str) -> serde_json::Value {
    serde_json::json!({
        "assetId": asset,
        "thumbnail": {"type": "time", "time": 10},
        "cover": {"offset": 20},
    })
}

fn at(o: &VodAssetSnapshot) -> live_snapshot_operator::kinds::vod::resource::VodAtProvider {
    o.status
        .as_ref()
        .and_then(|s| s.at_provider.clone())
        .expect("status.atProvider")
}

async fn scenario(shared: Arc<Shared>, name: &str) -> Scenario {
    let mut s = Scenario::new(shared, name).await;
    s.vod.store.set_task_delay(Duration::from_millis(1500));
    s.start_operator();
    s
}

pub async fn task_started_and_cover_set(shared: Arc<Shared>) {
    let s = scenario(shared, "vod-create").await;
    s.vod
        .store
        .put_asset(PROJECT, ASSET, AssetState::Published, 60);
    s.create_vod("shots", spec(ASSET)).await;
    // While the task runs the object says so, then it is Ready with the cover applied.
    s.wait_kind::<VodAssetSnapshot>("shots", "Ready", "False", Some("Snapshotting"))
        .await;
    let o: VodAssetSnapshot = s
        .wait_kind("shots", "Ready", "True", Some("Available"))
        .await;
    let at = at(&o);
    let asset = s.vod.store.asset(PROJECT, ASSET).expect("asset");
    assert_eq!(asset.tasks.len(), 1, "one task started");
    assert_eq!(at.task_id.as_deref(), Some(asset.tasks[0].id.as_str()));
    assert_eq!(at.snapshot_count, 6, "0, 10, ... 50 s");
    assert_eq!(at.snapshots.len(), 6);
    assert_eq!(at.cover_offset, Some(20));
    let shot = asset.tasks[0].results[2].url.clone();
    assert_eq!(at.cover_url.as_deref(), Some(shot.as_str()));
    assert_eq!(asset.cover_source.as_deref(), Some(shot.as_str()));
    assert_eq!(
        at.asset_cover_url, asset.cover_url,
        "the cover URL the asset reports"
    );
    s.wait_event("shots", "Created").await;
    s.wait_event("shots", "Updated").await;
    let reasons: Vec<String> = s
        .events("shots")
        .await
        .into_iter()
        .filter_map(|e| e.reason)
        .collect();
    assert!(
        !reasons.iter().any(|r| r == "DriftCorrected"),
        "the first cover is no drift: {reasons:?}"
    );
    // In sync: a requested reconcile writes nothing more.
    let (tasks, covers) = (s.vod_calls("create_task"), s.vod_calls("set_cover"));
    s.poke_vod("shots").await;
    let requested = eventually("the requested reconcile", || async {
        let o = s.vod_api().get("shots").await.ok()?;
        let st = o.status?;
        (st.managed.last_handled_reconcile_at.is_some()).then_some(())
    });
    requested.await;
    assert_eq!(
        (s.vod_calls("create_task"), s.vod_calls("set_cover")),
        (tasks, covers)
    );
}

pub async fn cover_drift_is_corrected(shared: Arc<Shared>) {
    let s = scenario(shared, "vod-drift").await;
    s.vod
        .store
        .put_asset(PROJECT, ASSET, AssetState::Published, 60);
    s.create_vod("shots", spec(ASSET)).await;
    let o: VodAssetSnapshot = s
        .wait_kind("shots", "Ready", "True", Some("Available"))
        .await;
    let applied = at(&o).cover_url.expect("cover applied");
    // Somebody sets another cover in the console.
    s.vod.store.set_cover_by_hand(
        PROJECT,
        ASSET,
        "https://sim-cdn.vod.example.com/by-hand.jpg",
    );
    s.poke_vod("shots").await;
    s.wait_event("shots", "DriftCorrected").await;
    let asset = s.vod.store.asset(PROJECT, ASSET).expect("asset");
    assert_eq!(asset.cover_source.as_deref(), Some(applied.as_str()));
    assert_eq!(
        asset.covers_set, 2,
        "set once, then once more to correct it"
    );
    let o: VodAssetSnapshot = s
        .wait_kind("shots", "Ready", "True", Some("Available"))
        .await;
    assert_eq!(at(&o).asset_cover_url, asset.cover_url);
    assert_eq!(asset.tasks.len(), 1, "the correction starts no task");

    // A new cover choice is an update of the same task, not drift.
    let api = s.vod_api();
    api.patch(
        "shots",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(
            serde_json::json!({"spec": {"cover": {"offset": null, "index": 6}}}),
        ),
    )
    .await
    .expect("patch cover");
    s.wait_event("shots", "Updated").await;
    let o: VodAssetSnapshot = s
        .wait_kind("shots", "Ready", "True", Some("Available"))
        .await;
    assert_eq!(at(&o).cover_offset, Some(50));
}

pub async fn asset_not_found_then_uploaded(shared: Arc<Shared>) {
    let s = scenario(shared, "vod-missing").await;
    s.create_vod("shots", spec(ASSET)).await;
    let o: VodAssetSnapshot = s
        .wait_kind("shots", "Ready", "False", Some("AssetNotFound"))
        .await;
    let ready = crate::harness::condition(&o, "Ready");
    assert!(ready.message.contains("VOD.10062"), "{}", ready.message);
    assert_eq!(s.vod_calls("create_task"), 0);
    s.vod
        .store
        .put_asset(PROJECT, ASSET, AssetState::Published, 60);
    s.wait_kind::<VodAssetSnapshot>("shots", "Ready", "True", Some("Available"))
        .await;
}

pub async fn asset_not_ready_then_ready(shared: Arc<Shared>) {
    let s = scenario(shared, "vod-notready").await;
    s.vod
        .store
        .put_asset(PROJECT, ASSET, AssetState::Transcoding, 60);
    s.create_vod("shots", spec(ASSET)).await;
    let o: VodAssetSnapshot = s
        .wait_kind("shots", "Ready", "False", Some("AssetNotReady"))
        .await;
    let ready = crate::harness::condition(&o, "Ready");
    assert!(ready.message.contains("VOD.10060"), "{}", ready.message);
    assert!(ready.message.contains("retrying in"), "{}", ready.message);
    assert!(s.vod.store.set_state(PROJECT, ASSET, AssetState::Published));
    s.wait_kind::<VodAssetSnapshot>("shots", "Ready", "True", Some("Available"))
        .await;
    assert_eq!(
        s.vod.store.task_count(),
        1,
        "one task once the asset was ready"
    );
}

pub async fn observe_reads_and_never_writes(shared: Arc<Shared>) {
    let s = scenario(shared, "vod-observe").await;
    s.vod
        .store
        .put_asset(PROJECT, ASSET, AssetState::Published, 60);
    s.vod
        .store
        .put_asset(PROJECT, OTHER, AssetState::Published, 60);
    // Somebody else's task with the same settings on ASSET; none on OTHER.
    let params = ThumbnailParams {
        kind: "time".into(),
        time: Some(10),
        format: Some(1),
        ..Default::default()
    };
    let theirs = s
        .vod
        .store
        .start_task(PROJECT, ASSET, params)
        .expect("task");
    let observe = |asset: &str| {
        let mut spec = spec(asset);
        spec["managementPolicy"] = "Observe".into();
        spec
    };
    s.create_vod("seen", observe(ASSET)).await;
    s.create_vod("unseen", observe(OTHER)).await;
    let o: VodAssetSnapshot = s.wait_kind("seen", "Ready", "False", Some("Drifted")).await;
    assert_eq!(at(&o).task_id.as_deref(), Some(theirs.as_str()));
    assert_eq!(at(&o).snapshot_count, 6);
    let drift = &o.status.as_ref().expect("status").managed.drift;
    assert_eq!(drift.len(), 1, "{drift:?}");
    assert_eq!(drift[0].field, "cover");
    s.wait_kind::<VodAssetSnapshot>("unseen", "Ready", "False", Some("NotFound"))
        .await;
    // Without a cover to set, the observed task is simply Ready.
    s.create_vod(
        "plain",
        serde_json::json!({"assetId": ASSET, "thumbnail": {"type": "time", "time": 10}, "managementPolicy": "Observe"}),
    )
    .await;
    s.wait_kind::<VodAssetSnapshot>("plain", "Ready", "True", Some("Available"))
        .await;
    // A managed object does not take the task over by default.
    s.create_vod(
        "manage",
        serde_json::json!({"assetId": ASSET, "thumbnail": {"type": "time", "time": 10}}),
    )
    .await;
    s.wait_kind::<VodAssetSnapshot>("manage", "Ready", "False", Some("AlreadyExists"))
        .await;
    assert_eq!(
        (s.vod_calls("create_task"), s.vod_calls("set_cover")),
        (0, 0),
        "Observe and a refused adoption write nothing"
    );
    assert_eq!(s.vod.store.task_count(), 1);
}

pub async fn delete_and_orphan(shared: Arc<Shared>) {
    let s = scenario(shared, "vod-delete").await;
    s.vod
        .store
        .put_asset(PROJECT, ASSET, AssetState::Published, 60);
    s.vod
        .store
        .put_asset(PROJECT, OTHER, AssetState::Published, 60);
    s.create_vod("gone", spec(ASSET)).await;
    let mut orphan = spec(OTHER);
    orphan["deletionPolicy"] = "Orphan".into();
    s.create_vod("kept", orphan).await;
    for name in ["gone", "kept"] {
        s.wait_kind::<VodAssetSnapshot>(name, "Ready", "True", Some("Available"))
            .await;
    }
    let api = s.vod_api();
    for name in ["gone", "kept"] {
        api.delete(name, &Default::default()).await.expect("delete");
    }
    eventually("both objects to go", || async {
        let left = api.list(&Default::default()).await.ok()?.items.len();
        (left == 0).then_some(())
    })
    .await;
    let deleted = s.vod.store.asset(PROJECT, ASSET).expect("asset");
    assert!(
        deleted.tasks.is_empty(),
        "Delete removes the task's snapshots"
    );
    let kept = s.vod.store.asset(PROJECT, OTHER).expect("asset");
    assert_eq!(kept.tasks.len(), 1, "Orphan leaves them");
    assert!(kept.cover_source.is_some(), "and the cover");
    assert_eq!(s.vod_calls("delete_thumbnails"), 1);
    s.wait_event("gone", "Deleted").await;
    s.wait_event("kept", "Orphaned").await;
}

pub async fn bad_thumbnail_settings_are_refused(shared: Arc<Shared>) {
    let s = Scenario::new(shared, "vod-admission").await;
    let cases = [
        (serde_json::json!({"type": "time", "time": 101}), "time"),
        (
            serde_json::json!({"type": "time", "quantity": 3}),
            "quantity",
        ),
        (serde_json::json!({"type": "dots"}), "dots is required"),
        (serde_json::json!({"type": "dots", "dots": []}), "dots"),
        (
            serde_json::json!({"type": "quantity", "quantity": 11}),
            "quantity",
        ),
        (serde_json::json!({"type": "gif"}), "type"),
    ];
    // What the reference allows is admitted: time 0, repeated dots, a large maxLength.
    for (i, thumbnail) in [
        serde_json::json!({"type": "time", "time": 0}),
        serde_json::json!({"type": "dots", "dots": [5, 5, 1]}),
        serde_json::json!({"type": "time", "maxLength": 20000}),
    ]
    .into_iter()
    .enumerate()
    {
        s.create_vod_json(
            &format!("edge-{i}"),
            serde_json::json!({"assetId": ASSET, "thumbnail": thumbnail}),
        )
        .await
        .unwrap_or_else(|e| panic!("{thumbnail}: {e}"));
    }
    let err = s
        .create_vod_json(
            "upper",
            serde_json::json!({"assetId": ASSET.to_uppercase(), "thumbnail": {"type": "time"}}),
        )
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("lower case"), "{err}");
    for (thumbnail, says) in cases {
        let err = s
            .create_vod_json(
                "bad",
                serde_json::json!({"assetId": ASSET, "thumbnail": thumbnail}),
            )
            .await
            .expect_err("refused");
        assert!(err.to_string().contains(says), "{thumbnail}: {err}");
    }
    let err = s
        .create_vod_json(
            "bad",
            serde_json::json!({"assetId": ASSET, "thumbnail": {"type": "time"}, "cover": {"offset": 1, "index": 1}}),
        )
        .await
        .expect_err("refused");
    assert!(
        err.to_string()
            .contains("exactly one of offset, index and url"),
        "{err}"
    );
    // Settings cannot change once the task may have started.
    s.create_vod(
        "ok",
        serde_json::json!({"assetId": ASSET, "thumbnail": {"type": "time"}}),
    )
    .await;
    let err = s
        .vod_api()
        .patch(
            "ok",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(serde_json::json!({"spec": {"thumbnail": {"time": 30}}})),
        )
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("thumbnail is immutable"), "{err}");
}

/// A task started but its answer lost, and the operator killed before it wrote status: the
/// restarted operator recognises the task as its own (the create intent was recorded first) and
/// starts no second one, since a second CreateAssetProcessTask would be a second task.
pub async fn restart_between_task_start_and_status(shared: Arc<Shared>) {
    let mut s = Scenario::new(shared, "vod-restart").await;
    s.vod.store.set_task_delay(Duration::from_millis(500));
    s.vod.faults.set(lso_sim::FaultSettings {
        hang_after_create: 1,
        ..Default::default()
    });
    s.vod
        .store
        .put_asset(PROJECT, ASSET, AssetState::Published, 60);
    s.start_operator();
    s.create_vod("shots", spec(ASSET)).await;
    eventually("the task to start upstream", || async {
        (s.vod.store.task_count() == 1).then_some(())
    })
    .await;
    s.kill_operator().await;
    let o = s.vod_api().get("shots").await.expect("object");
    let st = o.status.expect("the create intent was recorded");
    assert_eq!(
        st.managed.ownership.map(|own| own.state),
        Some(live_snapshot_operator::core::managed::OwnershipState::Creating),
        "the intent is on record, the task id is not"
    );
    assert!(st.at_provider.is_none_or(|a| a.task_id.is_none()));
    s.start_operator();
    let o: VodAssetSnapshot = s
        .wait_kind("shots", "Ready", "True", Some("Available"))
        .await;
    assert_eq!(s.vod.store.task_count(), 1, "no second task");
    assert_eq!(s.vod_calls("create_task"), 1);
    let asset = s.vod.store.asset(PROJECT, ASSET).expect("asset");
    assert_eq!(at(&o).task_id.as_deref(), Some(asset.tasks[0].id.as_str()));
    let reasons: Vec<String> = s
        .events("shots")
        .await
        .into_iter()
        .filter_map(|e| e.reason)
        .collect();
    assert!(
        reasons.iter().any(|r| r == "Created") && !reasons.iter().any(|r| r == "Adopted"),
        "its own task is not announced as an adoption: {reasons:?}"
    );
}

/// An upgrade through `helm upgrade` leaves a new kind's CRD uninstalled (Helm never upgrades
/// CRDs). The operator must still turn ready and manage the kinds whose CRDs are there.
pub async fn a_missing_crd_does_not_stall_the_other_kinds(shared: Arc<Shared>) {
    let tools = lso_sim::devenv::tools_dir(&shared.repo).expect("tools");
    let cp = lso_sim::devenv::ControlPlane::start(&tools)
        .await
        .expect("a second control plane");
    let out = cp
        .kubectl()
        .args([
            "apply",
            "--server-side",
            "-f",
            "crds/livesnapshottemplates.yaml",
        ])
        .current_dir(&shared.repo)
        .output()
        .expect("kubectl");
    assert!(out.status.success(), "{out:?}");
    let client = cp.client().await.expect("client");
    let mut s = Scenario::new(shared.clone(), "vod-no-crd").await;
    // The scenario's namespace lives in the shared control plane; make it here too.
    let out = cp
        .kubectl()
        .args(["create", "namespace", &s.ns])
        .output()
        .expect("kubectl");
    assert!(out.status.success(), "{out:?}");
    let out = cp
        .kubectl()
        .args([
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/livesnapshottemplates.live.snapshot.dev",
        ])
        .output()
        .expect("kubectl");
    assert!(out.status.success(), "{out:?}");
    let (ready_tx, mut ready_rx) = tokio::sync::watch::channel(false);
    let metrics = Arc::new(live_snapshot_operator::core::metrics::Metrics::new());
    let operator = tokio::spawn(live_snapshot_operator::core::run(
        client.clone(),
        s.settings(),
        s.cloud(),
        metrics,
        Some(ready_tx),
        std::future::pending(),
    ));
    tokio::time::timeout(crate::harness::WAIT, ready_rx.wait_for(|r| *r))
        .await
        .expect("ready although the VodAssetSnapshot CRD is missing")
        .expect("ready channel");
    // And the installed kind is managed.
    let api: kube::Api<kube::api::DynamicObject> = kube::Api::namespaced_with(
        client,
        &s.ns,
        &kube::api::ApiResource::erase::<
            live_snapshot_operator::kinds::live::resource::LiveSnapshotTemplate,
        >(&()),
    );
    let obj: kube::api::DynamicObject = serde_json::from_value(serde_json::json!({
        "apiVersion": "live.snapshot.dev/v1alpha1",
        "kind": "LiveSnapshotTemplate",
        "metadata": {"name": "cam"},
        "spec": crate::harness::spec("cam"),
    }))
    .expect("object");
    api.create(&Default::default(), &obj).await.expect("create");
    eventually("the template upstream", || async {
        s.upstream("push.example.com", "cam").map(|_| ())
    })
    .await;
    operator.abort();
    s.kill_operator().await;
}

/// A resync of a settled object reads the asset (its cover may have moved) and its tasks (the
/// task may be gone), not the finished task's results, which never change; drift on the cover
/// is still caught without anyone asking.
pub async fn resync_does_not_reread_finished_results(shared: Arc<Shared>) {
    let mut s = Scenario::new(shared, "vod-resync").await;
    s.vod.store.set_task_delay(Duration::from_millis(500));
    s.vod
        .store
        .put_asset(PROJECT, ASSET, AssetState::Published, 60);
    let mut settings = s.settings();
    settings.resync = Duration::from_secs(1);
    s.start_operator_with(s.client.clone(), settings, s.cloud());
    s.create_vod("shots", spec(ASSET)).await;
    let o: VodAssetSnapshot = s
        .wait_kind("shots", "Ready", "True", Some("Available"))
        .await;
    let (details, shows) = (s.vod_calls("thumbnail_details"), s.vod_calls("show_asset"));
    eventually("three resyncs", || async {
        (s.vod_calls("show_asset") >= shows + 3).then_some(())
    })
    .await;
    assert_eq!(
        s.vod_calls("thumbnail_details"),
        details,
        "finished results are not read again"
    );
    s.vod.store.set_cover_by_hand(
        PROJECT,
        ASSET,
        "https://sim-cdn.vod.example.com/by-hand.jpg",
    );
    s.wait_event("shots", "DriftCorrected").await;
    let asset = s.vod.store.asset(PROJECT, ASSET).expect("asset");
    assert_eq!(
        asset.cover_source,
        at(&o).cover_url,
        "the applied cover is back"
    );
}

/// A task that fails (`THUMBNAIL_FAILED`) ends the wait: `SnapshotFailed` with VOD's
/// `exec_desc`, Stalled, and no call in the 30 s after. The asset's state belongs to its newest
/// task: a second object's task started after the failure runs and succeeds on its own
/// (the failed one is not taken as running, nor the new one as failed), and the first object
/// stays failed.
pub async fn failed_task_is_final(shared: Arc<Shared>) {
    let s = scenario(shared, "vod-failed").await;
    s.vod
        .store
        .put_asset(PROJECT, ASSET, AssetState::Published, 60);
    s.vod
        .store
        .fail_tasks(ASSET, Some("the source file cannot be decoded"));
    s.create_vod("broken", spec(ASSET)).await;
    let o: VodAssetSnapshot = s
        .wait_kind("broken", "Ready", "False", Some("SnapshotFailed"))
        .await;
    let ready = crate::harness::condition(&o, "Ready");
    assert!(
        ready.message.contains("the source file cannot be decoded"),
        "{}",
        ready.message
    );
    assert_eq!(crate::harness::condition(&o, "Failed").status, "True");
    assert_eq!(crate::harness::condition(&o, "Stalled").status, "True");
    assert_eq!(at(&o).task_state.as_deref(), Some("Failed"));
    let calls = |s: &Scenario| {
        [
            "show_asset",
            "list_tasks",
            "thumbnail_details",
            "create_task",
            "set_cover",
        ]
        .iter()
        .map(|op| s.vod_calls(op))
        .sum::<u64>()
    };
    // Someone else starts a task on the asset that succeeds: the asset's state is that task's
    // now, and it neither revives nor finishes the failed one.
    s.vod.store.fail_tasks(ASSET, None);
    let params: ThumbnailParams =
        serde_json::from_value(serde_json::json!({"type": "quantity", "quantity": 3}))
            .expect("params");
    s.vod
        .store
        .start_task(PROJECT, ASSET, params)
        .expect("their task");
    let before = calls(&s);
    let later = std::time::Instant::now() + Duration::from_secs(30);
    eventually("30 s to pass", || async {
        (std::time::Instant::now() > later).then_some(())
    })
    .await;
    assert_eq!(calls(&s), before, "no call in the 30 s after the failure");
    // Asked to look again, it reads the asset and stays failed.
    s.poke_vod("broken").await;
    let o = eventually("the poke to be handled", || async {
        let o = s.vod_api().get("broken").await.ok()?;
        let handled = o
            .status
            .as_ref()?
            .managed
            .last_handled_reconcile_at
            .is_some();
        handled.then_some(o)
    })
    .await;
    assert!(calls(&s) > before, "the poke read upstream");
    assert_eq!(
        crate::harness::condition(&o, "Ready").reason,
        "SnapshotFailed"
    );
    assert_eq!(s.vod_calls("create_task"), 1, "nothing started again");
}

/// A task started elsewhere (at upload, from the console), named by its id: its results are
/// read, the cover is set from one of them, nothing is started, and deleting the object leaves
/// the task and its snapshots. A task id the asset does not have reads TaskNotFound.
pub async fn task_followed_by_id_gives_the_cover(shared: Arc<Shared>) {
    let s = scenario(shared, "vod-follow").await;
    s.vod
        .store
        .put_asset(PROJECT, ASSET, AssetState::Published, 60);
    s.vod
        .store
        .put_asset(PROJECT, OTHER, AssetState::Published, 60);
    let params: ThumbnailParams =
        serde_json::from_value(serde_json::json!({"type": "time", "time": 20, "format": 1}))
            .expect("params");
    let theirs = s
        .vod
        .store
        .start_task(PROJECT, ASSET, params)
        .expect("their task");
    // The cover by URL, as UpdateCoverByThumbnail takes it: their task's second snapshot.
    let second = s.vod.store.asset(PROJECT, ASSET).expect("asset").tasks[0].results[1]
        .url
        .clone();
    s.create_vod(
        "follow",
        serde_json::json!({"assetId": ASSET, "taskId": theirs, "cover": {"url": second}}),
    )
    .await;
    let o: VodAssetSnapshot = s
        .wait_kind("follow", "Ready", "True", Some("Available"))
        .await;
    let at = at(&o);
    assert_eq!(at.task_id.as_deref(), Some(theirs.as_str()));
    assert_eq!(at.snapshot_count, 3, "0, 20 and 40 s");
    let asset = s.vod.store.asset(PROJECT, ASSET).expect("asset");
    assert_eq!(asset.cover_source.as_deref(), Some(second.as_str()));
    assert_eq!(at.cover_offset, Some(20));
    assert_eq!(s.vod_calls("create_task"), 0, "nothing started");
    // A URL of another asset's snapshot is refused before any cover update: neither asset's
    // cover moves.
    let covers = s.vod_calls("set_cover");
    let other_cover = s.vod.store.asset(PROJECT, OTHER).expect("other").cover_url;
    s.create_vod(
        "wrong",
        serde_json::json!({"assetId": OTHER, "thumbnail": {"type": "time", "time": 30}, "cover": {"url": second}}),
    )
    .await;
    let o: VodAssetSnapshot = s
        .wait_kind("wrong", "Ready", "False", Some("CoverNotFound"))
        .await;
    assert!(
        crate::harness::condition(&o, "Ready")
            .message
            .contains("is not a snapshot of task"),
        "{}",
        crate::harness::condition(&o, "Ready").message
    );
    assert_eq!(s.vod_calls("set_cover"), covers, "no cover update");
    let other = s.vod.store.asset(PROJECT, OTHER).expect("other");
    assert_eq!(other.cover_url, other_cover);
    assert_eq!(
        s.vod
            .store
            .asset(PROJECT, ASSET)
            .expect("asset")
            .cover_source,
        Some(second.clone())
    );
    // A task id the asset does not have.
    const THIRD: &str = "00112233445566778899aabbccddeeff";
    s.vod
        .store
        .put_asset(PROJECT, THIRD, AssetState::Published, 60);
    s.create_vod(
        "nowhere",
        serde_json::json!({"assetId": THIRD, "taskId": theirs}),
    )
    .await;
    s.wait_kind::<VodAssetSnapshot>("nowhere", "Ready", "False", Some("TaskNotFound"))
        .await;
    // Admission: exactly one of thumbnail and taskId.
    let err = s
        .create_vod_json(
            "both",
            serde_json::json!({"assetId": ASSET, "taskId": theirs, "thumbnail": {"type": "time"}}),
        )
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("give either thumbnail"), "{err}");
    s.vod_api()
        .delete("follow", &Default::default())
        .await
        .expect("delete");
    eventually("the object to go", || async {
        matches!(s.vod_api().get_opt("follow").await, Ok(None)).then_some(())
    })
    .await;
    let asset = s.vod.store.asset(PROJECT, ASSET).expect("asset");
    assert_eq!(asset.tasks.len(), 1, "their task stays");
    assert_eq!(s.vod_calls("delete_thumbnails"), 0);
}

/// The task settings `spec` asks for, as someone else (the console, an upload) would start them.
fn same_settings() -> ThumbnailParams {
    ThumbnailParams {
        kind: "time".into(),
        time: Some(10),
        format: Some(1),
        ..Default::default()
    }
}

/// A create the service refuses starts nothing, so its intent is withdrawn; a task someone else
/// then starts with the same settings is not this object's: never claimed, covered from or
/// deleted.
pub async fn a_task_someone_else_starts_after_a_refusal_is_left_alone(shared: Arc<Shared>) {
    let s = scenario(shared, "vod-refused").await;
    s.vod
        .store
        .put_asset(PROJECT, ASSET, AssetState::Published, 60);
    s.vod.faults.set(lso_sim::FaultSettings {
        error_rate: [("create_task".to_string(), 1.0)].into(),
        error_status: Some(400),
        error_code: Some("VOD.10053".into()),
        ..Default::default()
    });
    s.create_vod("shots", spec(ASSET)).await;
    s.wait_kind::<VodAssetSnapshot>("shots", "Ready", "False", Some("InvalidSpec"))
        .await;
    s.vod.faults.set(Default::default());
    let theirs = s
        .vod
        .store
        .start_task(PROJECT, ASSET, same_settings())
        .expect("task");
    s.poke_vod("shots").await;
    let o: VodAssetSnapshot = s
        .wait_kind("shots", "Ready", "False", Some("AlreadyExists"))
        .await;
    assert!(
        o.status
            .as_ref()
            .is_none_or(|st| st.managed.ownership.is_none()),
        "no claim on their task"
    );
    s.vod_api()
        .delete("shots", &Default::default())
        .await
        .expect("delete");
    eventually("the object to go", || async {
        s.vod_api()
            .get_opt("shots")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    let asset = s.vod.store.asset(PROJECT, ASSET).expect("asset");
    assert_eq!(asset.covers_set, 0, "no cover from their task");
    assert!(
        asset.tasks.iter().any(|t| t.id == theirs),
        "their task stays"
    );
    assert_eq!(s.vod_calls("delete_thumbnails"), 0);
    assert_eq!(s.vod_calls("set_cover"), 0);
}

/// A create whose answer is lost (a 500) records the asset's tasks before it, so that only a
/// task that appears after it can be taken as its own; that task is followed but, since nothing
/// proves it is this object's (VOD tags nothing), it is never deleted with the object.
pub async fn a_lost_create_never_deletes_the_task_it_finds(shared: Arc<Shared>) {
    let s = scenario(shared, "vod-lost").await;
    s.vod
        .store
        .put_asset(PROJECT, ASSET, AssetState::Published, 60);
    // Another task on the asset, with other settings: on the intent's list.
    let other = ThumbnailParams {
        time: Some(20),
        ..same_settings()
    };
    let older = s.vod.store.start_task(PROJECT, ASSET, other).expect("task");
    s.vod.faults.set(lso_sim::FaultSettings {
        error_rate: [("create_task".to_string(), 1.0)].into(),
        ..Default::default()
    });
    s.create_vod("shots", spec(ASSET)).await;
    let key = eventually("the create intent", || async {
        let o = s.vod_api().get("shots").await.ok()?;
        let own = o.status?.managed.ownership?;
        own.key.filter(|k| k.starts_with("before:"))
    })
    .await;
    assert_eq!(key, format!("before:{older}"));
    eventually("creates that fail", || async {
        (s.vod_calls("create_task") >= 2).then_some(())
    })
    .await;
    // One task with these settings appears (the lost create landing, or someone else's).
    let found = s
        .vod
        .store
        .start_task(PROJECT, ASSET, same_settings())
        .expect("task");
    let o: VodAssetSnapshot = s
        .wait_kind("shots", "Ready", "True", Some("Available"))
        .await;
    assert_eq!(at(&o).task_id.as_deref(), Some(found.as_str()));
    let own = o
        .status
        .as_ref()
        .and_then(|st| st.managed.ownership.clone());
    assert_eq!(
        own.and_then(|k| k.key),
        Some(format!("found:{found}")),
        "recorded as found, not as answered"
    );
    s.vod.faults.set(Default::default());
    s.vod_api()
        .delete("shots", &Default::default())
        .await
        .expect("delete");
    let ev = s.wait_event("shots", "Orphaned").await;
    let note = ev.message.unwrap_or_default();
    assert!(
        note.contains(&found) && note.contains("cannot be proven"),
        "{note}"
    );
    let asset = s.vod.store.asset(PROJECT, ASSET).expect("asset");
    assert!(
        asset.tasks.iter().any(|t| t.id == older),
        "the other task stays"
    );
    assert!(
        asset.tasks.iter().any(|t| t.id == found),
        "the found task stays"
    );
    assert_eq!(s.vod_calls("delete_thumbnails"), 0);
}

/// UpdateCoverByThumbnail takes no asset id: the URL decides which asset's cover changes. A
/// cover URL written into status by a tenant (anyone who may patch `*/status`) must not be
/// what the operator sets: the cover is checked against the task's results before the PUT.
pub async fn a_forged_cover_url_changes_no_asset(shared: Arc<Shared>) {
    let s = scenario(shared, "vod-forged-cover").await;
    for asset in [ASSET, OTHER] {
        s.vod
            .store
            .put_asset(PROJECT, asset, AssetState::Published, 60);
    }
    // Another team's asset, with snapshots of its own.
    s.vod
        .store
        .start_task(PROJECT, OTHER, same_settings())
        .expect("task");
    s.create_vod("shots", spec(ASSET)).await;
    let o: VodAssetSnapshot = s
        .wait_kind("shots", "Ready", "True", Some("Available"))
        .await;
    let ours = at(&o).cover_url.expect("cover applied");
    let theirs = s.vod.store.asset(PROJECT, OTHER).expect("asset").tasks[0].results[0]
        .url
        .clone();
    s.vod_api()
        .patch_status(
            "shots",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(serde_json::json!({
                "status": {"atProvider": {"coverUrl": theirs}}
            })),
        )
        .await
        .expect("a tenant patches status");
    // The cover moves, so the operator writes it again, at a reconcile that reads results from
    // status (any change but the reconcile annotation, which reads everything afresh). Such a
    // reconcile may take the asset from a read shared within the last 3 s, made before the
    // cover moved: touch the object every second until one sees the move.
    s.vod.store.set_cover_by_hand(
        PROJECT,
        ASSET,
        "https://sim-cdn.vod.example.com/by-hand.jpg",
    );
    let touches = std::sync::atomic::AtomicU32::new(0);
    eventually("the moved cover to be corrected", || async {
        let n = touches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if n.is_multiple_of(10) {
            let touch = serde_json::json!({
                "metadata": {"annotations": {"example.com/touched": n.to_string()}}
            });
            s.vod_api()
                .patch(
                    "shots",
                    &kube::api::PatchParams::default(),
                    &kube::api::Patch::Merge(touch),
                )
                .await
                .ok()?;
        }
        s.events("shots")
            .await
            .into_iter()
            .any(|e| e.reason.as_deref() == Some("DriftCorrected"))
            .then_some(())
    })
    .await;
    let other = s.vod.store.asset(PROJECT, OTHER).expect("asset");
    assert_eq!(other.covers_set, 0, "the other asset's cover is untouched");
    let mine = s.vod.store.asset(PROJECT, ASSET).expect("asset");
    assert_eq!(mine.cover_source.as_deref(), Some(ours.as_str()));
}

/// A task of 20,480 snapshots: status keeps the first 20 and the count, and the whole list is
/// readable from the ConfigMaps the spec names (split at 900 KiB), which the operator deletes
/// with the object; a ConfigMap it did not create is never overwritten.
pub async fn every_result_is_readable_from_configmaps(shared: Arc<Shared>) {
    use k8s_openapi::api::core::v1::ConfigMap;
    let s = scenario(shared, "vod-results").await;
    s.vod
        .store
        .put_asset(PROJECT, ASSET, AssetState::Published, 20_480);
    s.vod
        .store
        .put_asset(PROJECT, OTHER, AssetState::Published, 60);
    let mut big = spec(ASSET);
    big["thumbnail"] = serde_json::json!({"type": "time", "time": 1});
    big["resultsConfigMap"] = serde_json::json!("shots-results");
    s.create_vod("shots", big).await;
    let o: VodAssetSnapshot = s
        .wait_kind("shots", "Ready", "True", Some("Available"))
        .await;
    let at = at(&o);
    assert_eq!(at.snapshot_count, 20_480);
    assert_eq!(at.snapshots.len(), 20, "status stays bounded");
    let names = at.results_config_maps.clone();
    assert!(names.len() >= 2, "split: {names:?}");
    for (i, name) in names.iter().enumerate() {
        let want = match i {
            0 => "shots-results".to_string(),
            i => format!("shots-results-{}", i + 1),
        };
        assert_eq!(name, &want);
    }
    let cms: kube::Api<ConfigMap> = kube::Api::namespaced(s.client.clone(), &s.ns);
    let mut lines = Vec::new();
    for name in &at.results_config_maps {
        let cm = cms.get(name).await.expect("results ConfigMap");
        let text = cm
            .data
            .as_ref()
            .and_then(|d| d.get("snapshots.tsv"))
            .cloned()
            .unwrap_or_default();
        assert!(text.len() <= 900 * 1024, "{name}: {} bytes", text.len());
        assert_eq!(
            cm.metadata
                .owner_references
                .as_ref()
                .map(|r| r[0].uid.clone()),
            o.metadata.uid.clone(),
            "{name} is owned by the object"
        );
        lines.extend(text.lines().map(str::to_string));
    }
    assert_eq!(lines.len(), 20_480, "every snapshot, once");
    assert!(lines[0].starts_with("0\t") && lines[20_479].starts_with("20479\t"));

    // A ConfigMap somebody else made is never overwritten.
    let mut theirs = ConfigMap::default();
    theirs.metadata.name = Some("taken".into());
    theirs.data = Some([("keep".to_string(), "me".to_string())].into());
    cms.create(&Default::default(), &theirs)
        .await
        .expect("their ConfigMap");
    let mut other = spec(OTHER);
    other["resultsConfigMap"] = serde_json::json!("taken");
    s.create_vod("other", other).await;
    s.wait_kind::<VodAssetSnapshot>("other", "Ready", "False", Some("ResultsConfigMapTaken"))
        .await;
    let still = cms.get("taken").await.expect("their ConfigMap");
    assert_eq!(still.data, theirs.data);
    assert!(still.metadata.owner_references.is_none());

    // The operator deletes its own ConfigMaps with the object (no garbage collector here), and
    // leaves theirs.
    for name in ["shots", "other"] {
        s.vod_api()
            .delete(name, &Default::default())
            .await
            .expect("delete");
    }
    eventually("the results ConfigMaps to go", || async {
        for name in &names {
            cms.get_opt(name).await.ok()?.is_none().then_some(())?;
        }
        Some(())
    })
    .await;
    eventually("the objects to go", || async {
        s.vod_api()
            .get_opt("other")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    assert!(cms.get_opt("taken").await.expect("get").is_some());
}

/// The core's one retry rule: a failed task stays failed until the retry annotation takes a new
/// value; then a new task is started (the failed one, which has no snapshots, is nobody's to
/// adopt) and the cover is set from it.
pub async fn a_failed_task_runs_again_when_retried(shared: Arc<Shared>) {
    let s = scenario(shared, "vod-retry").await;
    s.vod
        .store
        .put_asset(PROJECT, ASSET, AssetState::Published, 60);
    s.vod
        .store
        .fail_tasks(ASSET, Some("transient storage error"));
    s.create_vod("shots", spec(ASSET)).await;
    s.wait_kind::<VodAssetSnapshot>("shots", "Ready", "False", Some("SnapshotFailed"))
        .await;
    s.vod.store.fail_tasks(ASSET, None);
    let (ok, out) = s.kubectl(&[
        "annotate",
        "vas",
        "shots",
        "live.snapshot.dev/retry-requested-at=first",
    ]);
    assert!(ok, "{out}");
    let o: VodAssetSnapshot = s
        .wait_kind("shots", "Ready", "True", Some("Available"))
        .await;
    assert_eq!(s.vod_calls("create_task"), 2, "one new task");
    let asset = s.vod.store.asset(PROJECT, ASSET).expect("asset");
    assert_eq!(asset.tasks.len(), 2);
    assert_eq!(at(&o).task_id.as_deref(), Some(asset.tasks[1].id.as_str()));
    assert_eq!(crate::harness::condition(&o, "Failed").status, "False");
    assert_eq!(
        o.status
            .as_ref()
            .and_then(|st| st.managed.last_handled_retry_at.clone()),
        Some("first".to_string())
    );
}

/// Successful VodAssetSnapshot reconciles of the in-process operator.
fn vod_reconciles(s: &Scenario) -> f64 {
    s.metrics()
        .encode()
        .lines()
        .find(|l| {
            l.starts_with(
                "live_snapshot_operator_reconciles_total{kind=\"VodAssetSnapshot\",result=\"success\"}",
            )
        })
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

/// Many objects reading the results of tasks of one asset (spec.taskId, Observe) resync in one
/// slot and share one read of the asset and its task list per window, instead of two calls each.
pub async fn followers_of_one_asset_share_their_reads(shared: Arc<Shared>) {
    let mut s = Scenario::new(shared, "vod-shared").await;
    s.vod.store.set_task_delay(Duration::from_millis(200));
    s.vod
        .store
        .put_asset(PROJECT, ASSET, AssetState::Published, 60);
    let theirs = s
        .vod
        .store
        .start_task(PROJECT, ASSET, same_settings())
        .expect("task");
    let settings = live_snapshot_operator::core::Settings {
        resync: Duration::from_secs(2),
        ..s.settings()
    };
    s.start_operator_with(s.client.clone(), settings, s.cloud());
    const N: usize = 6;
    for i in 0..N {
        s.create_vod(
            &format!("follower-{i}"),
            // Readers of the task's results (one object per asset may set its cover).
            serde_json::json!({"assetId": ASSET, "taskId": theirs, "managementPolicy": "Observe"}),
        )
        .await;
    }
    for i in 0..N {
        s.wait_kind::<VodAssetSnapshot>(
            &format!("follower-{i}"),
            "Ready",
            "True",
            Some("Available"),
        )
        .await;
    }
    let reads = |s: &Scenario| s.vod_calls("show_asset") + s.vod_calls("list_tasks");
    let (r0, c0) = (vod_reconciles(&s), reads(&s));
    // Four resync rounds of every follower.
    let r1 = eventually("four resync rounds", || async {
        let r = vod_reconciles(&s);
        (r - r0 >= (4 * N) as f64).then_some(r)
    })
    .await;
    let calls = (reads(&s) - c0) as f64;
    let reconciles = r1 - r0;
    // Unshared, each reconcile reads the asset and its tasks: two calls each. Shared, at most
    // half of that.
    assert!(
        calls <= reconciles,
        "{calls} reads for {reconciles} reconciles: the followers did not share them"
    );
}
