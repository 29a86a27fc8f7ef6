//! The official Huawei Cloud Python SDK against the simulator: proves the simulator speaks the
//! real wire format and checks the real signature. Needs the SDK's virtualenv that
//! `scripts/setup-tools.sh` makes (its python is found through `LSO_PYTHON`, or in the cache).

use lso_sim::{FaultSettings, KeyPair, spawn_local};

/// Runs one of the SDK scripts in tests/sdk, requires it to pass `steps` steps, and checks
/// that every operation in `ops` reached the simulator and one wrong key was refused.
async fn run_script(
    script: &str,
    args: &[&str],
    steps: usize,
    stats: impl Fn() -> lso_sim::Stats,
    ops: &[&str],
) {
    run_script_refused(script, args, steps, stats, ops, 401).await;
}

/// `run_script`, for a gateway that refuses a wrong key with `refused` (Alibaba's: 400).
async fn run_script_refused(
    script: &str,
    args: &[&str],
    steps: usize,
    stats: impl Fn() -> lso_sim::Stats,
    ops: &[&str],
    refused: u16,
) {
    let py = python();
    assert!(
        py.exists(),
        "{} is missing: run scripts/setup-tools.sh (or set LSO_PYTHON)",
        py.display()
    );
    let script = format!("{}/tests/sdk/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = tokio::process::Command::new(&py)
        .arg(&script)
        .args(args)
        .output()
        .await
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{script} failed");
    assert!(stdout.contains(&format!("sdk: {steps} passed, 0 failed")));
    let stats = stats();
    for op in ops {
        assert!(
            stats.calls.get(*op).copied().unwrap_or(0) >= 1,
            "{op} reached the simulator"
        );
    }
    assert_eq!(
        stats.statuses.get(&refused),
        Some(&1),
        "the wrong secret key was refused once"
    );
}

fn python() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("LSO_PYTHON") {
        return p.into();
    }
    let home = std::env::var_os("HOME").unwrap_or_default();
    std::path::Path::new(&home).join(".cache/live-snapshot-operator/pyenv/bin/python")
}

#[tokio::test]
async fn official_python_sdk_round_trip_and_wrong_key() {
    let (ak, sk, project) = (
        "SDKTESTAK000001",
        "sdkTestSecretKey0123456789",
        "0123456789abcdef0123456789abcdef",
    );
    let (sim, endpoint) = spawn_local(
        "127.0.0.1:0",
        vec![KeyPair::new(ak, sk)],
        vec![],
        FaultSettings::default(),
    )
    .await
    .unwrap();
    run_script(
        "official_sdk.py",
        &[&endpoint, ak, sk, project],
        5,
        || sim.faults.stats(),
        &["create", "list", "update", "delete"],
    )
    .await;
    assert!(sim.store.is_empty());
}

#[tokio::test]
async fn official_vod_sdk_task_pages_cover_and_wrong_key() {
    use lso_sim::vod::{AssetState, spawn_local};
    let (ak, sk, project, asset) = (
        "SDKVODAK0000001",
        "sdkVodSecretKey0123456789",
        "0123456789abcdef0123456789abcdef",
        "6e76f92034ceae2fcdcef9413221511f",
    );
    let (sim, endpoint) = spawn_local(
        "127.0.0.1:0",
        vec![KeyPair::new(ak, sk)],
        FaultSettings::default(),
    )
    .await
    .unwrap();
    sim.store
        .set_task_delay(std::time::Duration::from_millis(300));
    sim.store
        .put_asset(project, asset, AssetState::Published, 150);
    run_script(
        "official_vod_sdk.py",
        &[&endpoint, ak, sk, project, asset],
        8,
        || sim.faults.stats(),
        &[
            "create_task",
            "thumbnail_details",
            "set_cover",
            "show_asset",
            "delete_thumbnails",
        ],
    )
    .await;
    assert_eq!(
        sim.store.task_count(),
        0,
        "the task's snapshots were deleted"
    );
}

#[tokio::test]
async fn official_mps_sdk_jobs_pages_both_signatures_and_wrong_key() {
    let (ak, sk, pipeline) = (
        "LTAI5tSdkTest000001",
        "sdkMpsSecret0123456789abcdef",
        "b11c171cced04565b1f38f1ecc39aaaa",
    );
    let (sim, endpoint) = lso_sim::mps::spawn_local(
        "127.0.0.1:0",
        vec![KeyPair::new(ak, sk)],
        FaultSettings::default(),
    )
    .await
    .unwrap();
    sim.store
        .set_job_time(std::time::Duration::from_millis(300));
    sim.store.put_object("media", "in/demo.mp4", 60);
    for i in 0..44 {
        sim.store.submit(
            serde_json::json!({"Bucket": "media", "Location": "oss-cn-shanghai", "Object": "in%2Fdemo.mp4"}),
            serde_json::json!({"OutputFile": {"Bucket": "media", "Location": "oss-cn-shanghai", "Object": "o.jpg"}, "Num": "1"}),
            pipeline,
            &format!("bulk-{i}"),
        );
    }
    run_script_refused(
        "official_mps_sdk.py",
        &[&endpoint, ak, sk, pipeline],
        7,
        || sim.faults.stats(),
        &["submit_snapshot_job", "query_snapshot_jobs"],
        400,
    )
    .await;
    assert_eq!(sim.store.job_count(), 45);
}
