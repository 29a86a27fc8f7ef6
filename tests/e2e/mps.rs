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
    s.create_kind_json::<MpsSnapshotJob>("launch", job("videos/launch.mp4"))
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
    let uid = o.metadata.uid.clone().expect("uid");
    assert_eq!(
        s.mps.store.user_data().get(&at.job_id).map(String::as_str),
        Some(format!("lso-{uid}").as_str()),
        "the job carries the object's tag"
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
