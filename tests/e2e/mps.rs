//! The MpsSnapshotJob kind on the shared core, against the MPS simulator: a job submitted and
//! followed to Success, a failing job ending in a terminal condition with the upstream code, a
//! crash right after the submit that submits no second job, and admission.

use std::sync::Arc;
use std::time::Duration;

use live_snapshot_operator::kinds::mps::resource::MpsSnapshotJob;

use crate::harness::{AK, SK, Scenario, Shared, condition, eventually};

fn job(object: &str) -> serde_json::Value {
    serde_json::json!({
        "region": "cn-shanghai",
        "pipelineId": "b11c171cced04565b1f38f1ecc39aaaa",
        "input": {"bucket": "media", "location": "oss-cn-shanghai", "object": object},
        "output": {"bucket": "media", "location": "oss-cn-shanghai", "object": "shots/{Count}.jpg"},
        "snapshot": {"timeMs": 0, "interval": 10, "num": 3},
        "credentialsSecretRef": {"name": "aliyun"},
    })
}

async fn scenario(shared: Arc<Shared>, name: &str) -> Scenario {
    let mut s = Scenario::new(shared, name).await;
    s.mps.store.set_job_time(Duration::from_millis(1500));
    s.mps.store.put_object("media", "videos/launch.mp4", 60);
    s.create_secret("aliyun", &[("accessKey", AK), ("secretKey", SK)])
        .await;
    s.start_operator();
    s
}

pub async fn job_submitted_and_succeeds(shared: Arc<Shared>) {
    let s = scenario(shared, "mps-success").await;
    let spec = crate::harness::with(
        job("videos/launch.mp4"),
        serde_json::json!({"userData": "pipeline-7"}),
    );
    s.create_kind_json::<MpsSnapshotJob>("launch", spec)
        .await
        .expect("create");
    let o: MpsSnapshotJob = s
        .wait_kind("launch", "Ready", "True", Some("Succeeded"))
        .await;
    let at = o
        .status
        .as_ref()
        .and_then(|s| s.at_provider.clone())
        .expect("atProvider");
    assert_eq!((at.state.as_str(), at.count), ("Success", 3));
    assert_eq!(condition(&o, "Failed").status, "False");
    assert_eq!(condition(&o, "Stalled").status, "False");
    assert_eq!(s.mps.store.job_count(), 1, "one job");
    let tag = live_snapshot_operator::kinds::mps::external::tag(&o);
    assert!(tag.starts_with("lso-") && tag.len() == 36, "{tag}");
    assert_eq!(
        s.mps.store.user_data().get(&at.job_id).map(String::as_str),
        Some(format!("pipeline-7-{tag}").as_str()),
        "the job carries the user's UserData, then the object's tag"
    );
    assert_eq!(
        at.user_data.as_deref(),
        Some(format!("pipeline-7-{tag}").as_str())
    );
    // What was written: the output pattern and count, and the MNS notification.
    let out = at.output.clone().expect("output in status");
    assert_eq!(
        (out.bucket.as_str(), out.object_pattern.as_str(), out.count),
        ("media", "shots/{Count}.jpg", 3)
    );
    assert!(at.tile_output.is_none(), "no mosaic asked");
    assert!(
        at.mns_message_result
            .as_ref()
            .and_then(|m| m.message_id.as_ref())
            .is_some(),
        "{:?}",
        at.mns_message_result
    );
    assert_eq!(s.mps_calls("submit_snapshot_job"), 1);
    s.wait_event("launch", "Created").await;
    // Deleting the object leaves the job and its output.
    s.dynamic_kind::<MpsSnapshotJob>()
        .delete("launch", &Default::default())
        .await
        .expect("delete");
    s.wait_event("launch", "Orphaned").await;
    assert_eq!(s.mps.store.job_count(), 1);
}

pub async fn failed_job_is_terminal(shared: Arc<Shared>) {
    let s = scenario(shared, "mps-fail").await;
    s.create_kind_json::<MpsSnapshotJob>("missing", job("videos/never-uploaded.mp4"))
        .await
        .expect("create");
    let o: MpsSnapshotJob = s
        .wait_kind("missing", "Ready", "False", Some("Failed"))
        .await;
    let failed = condition(&o, "Failed");
    assert_eq!(failed.status, "True");
    assert!(
        failed.message.contains("InvalidParameter.ResourceNotFound"),
        "{}",
        failed.message
    );
    assert_eq!(condition(&o, "Stalled").status, "True", "terminal");
    assert_eq!(condition(&o, "Reconciling").status, "False");
    let at = o
        .status
        .as_ref()
        .and_then(|s| s.at_provider.clone())
        .expect("atProvider");
    assert_eq!(
        at.code.as_deref(),
        Some("InvalidParameter.ResourceNotFound")
    );
    assert_eq!(
        s.mps_calls("submit_snapshot_job"),
        1,
        "a failed job is not resubmitted"
    );
}

/// The submit commits upstream but its answer is lost, and the operator is killed before it
/// writes status: the restarted operator finds the job by its tag (the intent was recorded
/// first) and submits no second one.
pub async fn crash_after_submit_submits_no_second_job(shared: Arc<Shared>) {
    let mut s = scenario(shared, "mps-crash").await;
    s.mps.faults.set(lso_sim::FaultSettings {
        hang_after_create: 1,
        ..Default::default()
    });
    s.create_kind_json::<MpsSnapshotJob>("once", job("videos/launch.mp4"))
        .await
        .expect("create");
    eventually("the job to be submitted upstream", || async {
        (s.mps.store.job_count() == 1).then_some(())
    })
    .await;
    s.kill_operator().await;
    let api: kube::Api<MpsSnapshotJob> = kube::Api::namespaced(s.client.clone(), &s.ns);
    let o = api.get("once").await.expect("object");
    let st = o.status.expect("the intent was recorded");
    assert!(st.at_provider.is_none(), "no job id on record");
    assert_eq!(
        st.managed.ownership.map(|own| own.state),
        Some(live_snapshot_operator::core::managed::OwnershipState::Creating)
    );
    s.start_operator();
    s.wait_kind::<MpsSnapshotJob>("once", "Ready", "True", Some("Succeeded"))
        .await;
    assert_eq!(s.mps.store.job_count(), 1, "no second job");
    assert_eq!(s.mps_calls("submit_snapshot_job"), 1);
}

/// The operator's watch of MpsSnapshotJob delivers every event 8 s late, so each reconcile
/// after the first starts from a copy without the intent and job id the previous one wrote.
/// The submit is decided on the API server's copy: exactly one job.
pub async fn one_submit_under_a_lagging_watch(shared: Arc<Shared>) {
    let client =
        crate::lag::lagging_client(&shared, "mpssnapshotjobs", Duration::from_secs(8)).await;
    let mut s = Scenario::new(shared, "mps-lag").await;
    s.mps.store.set_job_time(Duration::from_millis(1500));
    s.mps.store.put_object("media", "videos/launch.mp4", 60);
    s.create_secret("aliyun", &[("accessKey", AK), ("secretKey", SK)])
        .await;
    let mut settings = s.settings();
    settings.resync = Duration::from_secs(2);
    s.start_operator_with(client, settings, s.cloud());
    s.create_kind_json::<MpsSnapshotJob>("lagged", job("videos/launch.mp4"))
        .await
        .expect("create");
    s.wait_kind::<MpsSnapshotJob>("lagged", "Ready", "True", Some("Succeeded"))
        .await;
    // The stale copies keep arriving for another 8 s: wait them out before counting.
    let later = std::time::Instant::now() + Duration::from_secs(10);
    eventually("the lagging events to drain", || async {
        (std::time::Instant::now() > later).then_some(())
    })
    .await;
    assert_eq!(s.mps_calls("submit_snapshot_job"), 1, "exactly one submit");
    assert_eq!(s.mps.store.job_count(), 1, "one job");
    let created = s
        .events("lagged")
        .await
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("Created"))
        .count();
    assert_eq!(created, 1, "one Created event");
}

/// A submit the service refuses (a synchronous snapshot that times out, answered as an error)
/// is final: no submit in 6 resync periods nor after a restart, `Failed` with the code, until
/// the retry annotation asks; the retry submits a new job.
pub async fn refused_submit_is_final_until_retried(shared: Arc<Shared>) {
    use lso_sim::mps::store::{InputKind, TimeoutAnswer};
    let mut s = Scenario::new(shared, "mps-refused").await;
    s.mps.store.set_timeout_answer(TimeoutAnswer::SubmitError);
    s.mps
        .store
        .put_object_of("media", "videos/huge.mp4", 60, InputKind::Slow);
    s.create_secret("aliyun", &[("accessKey", AK), ("secretKey", SK)])
        .await;
    let mut settings = s.settings();
    settings.resync = Duration::from_secs(2);
    s.start_operator_with(s.client.clone(), settings.clone(), s.cloud());
    let one = crate::harness::with(
        job("videos/huge.mp4"),
        serde_json::json!({"snapshot": {"timeMs": 1000, "interval": null, "num": null}}),
    );
    s.create_kind_json::<MpsSnapshotJob>("cover", one)
        .await
        .expect("create");
    let o: MpsSnapshotJob = s
        .wait_kind("cover", "Failed", "True", Some("CreateRefused"))
        .await;
    assert!(
        condition(&o, "Failed").message.contains("SnapshotTimeOut"),
        "{}",
        condition(&o, "Failed").message
    );
    assert_eq!(condition(&o, "Stalled").status, "True");
    assert_eq!(condition(&o, "Ready").reason, "CreateRefused");
    // Six resync periods, then a restart: nothing is submitted again.
    let later = std::time::Instant::now() + Duration::from_secs(12);
    eventually("six resync periods to pass", || async {
        (std::time::Instant::now() > later).then_some(())
    })
    .await;
    assert_eq!(
        s.mps_calls("submit_snapshot_job"),
        1,
        "no resubmit at resync"
    );
    s.stop_operator().await;
    s.start_operator_with(s.client.clone(), settings, s.cloud());
    let later = std::time::Instant::now() + Duration::from_secs(5);
    eventually("the restarted operator to settle", || async {
        (std::time::Instant::now() > later).then_some(())
    })
    .await;
    assert_eq!(
        s.mps_calls("submit_snapshot_job"),
        1,
        "no resubmit after a restart"
    );
    // The input is fixed upstream; the user asks for a retry.
    s.mps.store.put_object("media", "videos/huge.mp4", 60);
    s.dynamic_kind::<MpsSnapshotJob>()
        .patch(
            "cover",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(serde_json::json!({"metadata": {"annotations": {
                "live.snapshot.dev/retry-requested-at": "2026-12-02T10:00:00Z"}}})),
        )
        .await
        .expect("annotate");
    let o: MpsSnapshotJob = s
        .wait_kind("cover", "Ready", "True", Some("Succeeded"))
        .await;
    assert_eq!(condition(&o, "Failed").status, "False");
    assert_eq!(
        s.mps_calls("submit_snapshot_job"),
        2,
        "one retry, one submit"
    );
    assert_eq!(
        o.status
            .as_ref()
            .and_then(|s| s.managed.last_handled_retry_at.as_deref()),
        Some("2026-12-02T10:00:00Z")
    );
}

/// The failures the reference lists for a job end it for good with their code: bad content,
/// and a synchronous snapshot that timed out (answered as a failed job).
pub async fn listed_job_failures_are_final(shared: Arc<Shared>) {
    use lso_sim::mps::store::InputKind;
    let s = scenario(shared, "mps-failures").await;
    s.mps
        .store
        .put_object_of("media", "videos/bad.mp4", 60, InputKind::Bad);
    s.mps
        .store
        .put_object_of("media", "videos/slow.mp4", 60, InputKind::Slow);
    let sync = serde_json::json!({"snapshot": {"timeMs": 0, "interval": null, "num": null}});
    for (name, object, code) in [
        (
            "bad",
            "videos/bad.mp4",
            "InvalidParameter.ResourceContentBad",
        ),
        ("slow", "videos/slow.mp4", "SnapshotTimeOut"),
    ] {
        let spec = crate::harness::with(job(object), sync.clone());
        s.create_kind_json::<MpsSnapshotJob>(name, spec)
            .await
            .expect("create");
        let o: MpsSnapshotJob = s.wait_kind(name, "Failed", "True", Some("Failed")).await;
        let at = o.status.and_then(|s| s.at_provider).expect("atProvider");
        assert_eq!(at.code.as_deref(), Some(code));
    }
    assert_eq!(s.mps_calls("submit_snapshot_job"), 2);
}

/// A state the operator does not know is reported as it is and polled with backoff, not at
/// the 3-second pace of a running job.
pub async fn unknown_state_backs_off(shared: Arc<Shared>) {
    let mut s = Scenario::new(shared, "mps-unknown").await;
    s.mps.store.set_job_time(Duration::from_secs(3600));
    s.mps.store.put_object("media", "videos/launch.mp4", 60);
    s.create_secret("aliyun", &[("accessKey", AK), ("secretKey", SK)])
        .await;
    let mut settings = s.settings();
    settings.backoff_base = Duration::from_secs(5);
    settings.backoff_max = Duration::from_secs(60);
    s.start_operator_with(s.client.clone(), settings, s.cloud());
    s.create_kind_json::<MpsSnapshotJob>("odd", job("videos/launch.mp4"))
        .await
        .expect("create");
    let o: MpsSnapshotJob = s
        .wait_kind("odd", "Ready", "False", Some("Submitted"))
        .await;
    let id = o.status.and_then(|s| s.at_provider).expect("at").job_id;
    s.mps.store.override_state(&id, "Paused");
    let o: MpsSnapshotJob = s
        .wait_kind("odd", "Ready", "Unknown", Some("UnknownState"))
        .await;
    assert!(
        condition(&o, "Ready").message.contains("\"Paused\""),
        "{}",
        condition(&o, "Ready").message
    );
    let before = s.mps_calls("query_snapshot_jobs");
    let later = std::time::Instant::now() + Duration::from_secs(12);
    eventually("twelve seconds to pass", || async {
        (std::time::Instant::now() > later).then_some(())
    })
    .await;
    let polls = s.mps_calls("query_snapshot_jobs") - before;
    // Backoff from 5 s: at most 5 s, 10 s into the window; the pending pace would be 4.
    assert!((1..=2).contains(&polls), "{polls} polls in 12 s");
}

/// The same manifest applied to a second, fresh control plane (a rebuilt cluster) against the
/// same MPS: the new object finds the job the old one submitted by its manifest-derived tag,
/// and nothing is submitted.
pub async fn rebuilt_cluster_submits_nothing(shared: Arc<Shared>) {
    let s = scenario(shared.clone(), "mps-rebuilt").await;
    let spec = job("videos/launch.mp4");
    s.create_kind_json::<MpsSnapshotJob>("launch", spec.clone())
        .await
        .expect("create");
    let first: MpsSnapshotJob = s
        .wait_kind("launch", "Ready", "True", Some("Succeeded"))
        .await;
    assert_eq!(s.mps_calls("submit_snapshot_job"), 1);
    // A new cluster: its own etcd and kube-apiserver, the same namespace and manifests.
    let tools = lso_sim::devenv::tools_dir(&shared.repo).expect("tools");
    let cp = lso_sim::devenv::ControlPlane::start(&tools)
        .await
        .expect("second control plane");
    cp.install_crd(&shared.repo).expect("CRDs");
    let client = cp.client().await.expect("client");
    let mut rebuilt = Scenario::on(client.clone(), &s).await;
    rebuilt
        .create_secret("aliyun", &[("accessKey", AK), ("secretKey", SK)])
        .await;
    rebuilt.start_operator();
    rebuilt
        .create_kind_json::<MpsSnapshotJob>("launch", spec)
        .await
        .expect("create");
    let again: MpsSnapshotJob = rebuilt
        .wait_kind("launch", "Ready", "True", Some("Succeeded"))
        .await;
    rebuilt.stop_operator().await;
    assert_ne!(first.metadata.uid, again.metadata.uid, "a new object");
    let (a, b) = (
        first.status.and_then(|s| s.at_provider),
        again.status.and_then(|s| s.at_provider),
    );
    assert_eq!(a.map(|a| a.job_id), b.map(|b| b.job_id), "the same job");
    assert_eq!(s.mps_calls("submit_snapshot_job"), 1, "no new submit");
    assert_eq!(s.mps.store.job_count(), 1);
}

/// A job submitted elsewhere (a team's pipeline code) followed by its id: observed to
/// Success with its counts and outputs, nothing submitted, nothing deleted with the object; an
/// id MPS does not know reads NotFound.
pub async fn followed_job_is_observed_only(shared: Arc<Shared>) {
    let s = scenario(shared, "mps-follow").await;
    let theirs = s.mps.store.submit(
        serde_json::json!({"Bucket": "media", "Location": "oss-cn-shanghai", "Object": "videos%2Flaunch.mp4"}),
        serde_json::json!({
            "OutputFile": {"Bucket": "media", "Location": "oss-cn-shanghai", "Object": "theirs%2F{Count}.jpg"},
            "Time": "0", "Interval": "10", "Num": "3",
        }),
        "their-pipeline",
        "run-42",
    );
    let follow = |id: &str| {
        serde_json::json!({
            "region": "cn-shanghai",
            "jobId": id,
            "credentialsSecretRef": {"name": "aliyun"},
        })
    };
    s.create_kind_json::<MpsSnapshotJob>("theirs", follow(&theirs.id))
        .await
        .expect("create");
    let o: MpsSnapshotJob = s
        .wait_kind("theirs", "Ready", "True", Some("Succeeded"))
        .await;
    let at = o.status.and_then(|s| s.at_provider).expect("atProvider");
    assert_eq!((at.job_id.as_str(), at.count), (theirs.id.as_str(), 3));
    assert_eq!(at.user_data.as_deref(), Some("run-42"));
    assert_eq!(
        at.output.map(|o| o.object_pattern),
        Some("theirs/{Count}.jpg".to_string())
    );
    s.create_kind_json::<MpsSnapshotJob>("nobody", follow("00000000000000000000000000000000"))
        .await
        .expect("create");
    s.wait_kind::<MpsSnapshotJob>("nobody", "Ready", "False", Some("NotFound"))
        .await;
    s.dynamic_kind::<MpsSnapshotJob>()
        .delete("theirs", &Default::default())
        .await
        .expect("delete");
    let api: kube::Api<MpsSnapshotJob> = kube::Api::namespaced(s.client.clone(), &s.ns);
    eventually("the followed object to be deleted", || async {
        matches!(api.get_opt("theirs").await, Ok(None)).then_some(())
    })
    .await;
    assert_eq!(s.mps_calls("submit_snapshot_job"), 0, "nothing submitted");
    assert_eq!(s.mps.store.job_count(), 1, "their job stays");
}

pub async fn bad_jobs_are_refused(shared: Arc<Shared>) {
    let s = Scenario::new(shared, "mps-admission").await;
    let with = |patch: serde_json::Value| crate::harness::with(job("videos/launch.mp4"), patch);
    for (spec, says) in [
        (
            with(serde_json::json!({"region": "cn_shanghai"})),
            "region must be a region id",
        ),
        (
            with(
                serde_json::json!({"snapshot": {"timePointsMs": [1000], "timeMs": null, "interval": null, "num": 2}}),
            ),
            "cannot be combined",
        ),
        (
            with(serde_json::json!({"snapshot": {"interval": 0}})),
            "interval",
        ),
        (
            with(serde_json::json!({"credentialsSecretRef": null})),
            "credentialsSecretRef",
        ),
    ] {
        let err = s
            .create_kind_json::<MpsSnapshotJob>("bad", spec.clone())
            .await
            .expect_err("refused");
        assert!(err.to_string().contains(says), "{spec}: {err}");
    }
    // Ranges the reference does not give are left to the service; time points take two
    // decimals.
    for (name, patch) in [
        (
            "wide",
            serde_json::json!({"snapshot": {"width": 7680, "height": 4, "num": 200000}}),
        ),
        (
            "points",
            serde_json::json!({"snapshot": {"timeMs": null, "interval": null, "num": null, "timePointsMs": [1500.25, 0, 1500.25, 0.29]}}),
        ),
    ] {
        s.create_kind_json::<MpsSnapshotJob>(name, with(patch.clone()))
            .await
            .unwrap_or_else(|e| panic!("{patch}: {e}"));
    }
    for (spec, says) in [
        (
            with(
                serde_json::json!({"snapshot": {"timeMs": null, "interval": null, "num": null, "timePointsMs": [1.234]}}),
            ),
            "two decimals",
        ),
        (with(serde_json::json!({"userData": "-x"})), "userData"),
        (
            with(serde_json::json!({"jobId": "abc"})),
            "give either jobId",
        ),
        (
            with(serde_json::json!({"input": null})),
            "give either jobId",
        ),
        (with(serde_json::json!({"userData": "a_b"})), "userData"),
    ] {
        let err = s
            .create_kind_json::<MpsSnapshotJob>("bad", spec.clone())
            .await
            .expect_err("refused");
        assert!(err.to_string().contains(says), "{spec}: {err}");
    }
    s.create_kind_json::<MpsSnapshotJob>("ok", job("videos/launch.mp4"))
        .await
        .expect("create");
    let err = s
        .dynamic_kind::<MpsSnapshotJob>()
        .patch(
            "ok",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(serde_json::json!({"spec": {"snapshot": {"num": 5}}})),
        )
        .await
        .expect_err("refused");
    assert!(
        err.to_string().contains("cannot change once created"),
        "{err}"
    );
}

/// A refused submit stays final even when the watch lags: a reconcile that starts from an older
/// cached copy (the create intent, not yet the refusal) is sent back to the API server's copy
/// before any submit, and that copy is judged failed for good as the cached one would be.
pub async fn refused_submit_stays_final_under_a_lagging_watch(shared: Arc<Shared>) {
    use lso_sim::mps::store::{InputKind, TimeoutAnswer};
    let client =
        crate::lag::lagging_client(&shared, "mpssnapshotjobs", Duration::from_secs(6)).await;
    let mut s = Scenario::new(shared, "mps-refused-lag").await;
    s.mps.store.set_timeout_answer(TimeoutAnswer::SubmitError);
    s.mps
        .store
        .put_object_of("media", "videos/huge.mp4", 60, InputKind::Slow);
    s.create_secret("aliyun", &[("accessKey", AK), ("secretKey", SK)])
        .await;
    let mut settings = s.settings();
    settings.resync = Duration::from_secs(2);
    s.start_operator_with(client, settings, s.cloud());
    let one = crate::harness::with(
        job("videos/huge.mp4"),
        serde_json::json!({"snapshot": {"timeMs": 1000, "interval": null, "num": null}}),
    );
    s.create_kind_json::<MpsSnapshotJob>("cover", one)
        .await
        .expect("create");
    s.wait_kind::<MpsSnapshotJob>("cover", "Failed", "True", Some("CreateRefused"))
        .await;
    // A change of the object's Secret reconciles it at once, from a cache that has not yet seen
    // the refusal (the object's watch lags 6 s).
    let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(s.client.clone(), &s.ns);
    secrets
        .patch(
            "aliyun",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(serde_json::json!({"metadata": {"labels": {"touched": "1"}}})),
        )
        .await
        .expect("touch the Secret");
    // The stale copies keep arriving for another 6 s: wait them out before counting.
    let later = std::time::Instant::now() + Duration::from_secs(10);
    eventually("the lagging events to drain", || async {
        (std::time::Instant::now() > later).then_some(())
    })
    .await;
    assert_eq!(s.mps_calls("submit_snapshot_job"), 1, "exactly one submit");
}
