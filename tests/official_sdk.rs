//! The official Huawei Cloud Python SDK against the simulator: proves the simulator speaks the
//! real wire format and checks the real signature. Needs the SDK's virtualenv that
//! `scripts/setup-tools.sh` makes (its python is found through `LSO_PYTHON`, or in the cache).

use lso_sim::{FaultSettings, KeyPair, spawn_local};

fn python() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("LSO_PYTHON") {
        return p.into();
    }
    let home = std::env::var_os("HOME").unwrap_or_default();
    std::path::Path::new(&home).join(".cache/live-snapshot-operator/pyenv/bin/python")
}

#[tokio::test]
async fn official_python_sdk_round_trip_and_wrong_key() {
    let py = python();
    assert!(
        py.exists(),
        "{} is missing: run scripts/setup-tools.sh (or set LSO_PYTHON)",
        py.display()
    );
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
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/official_sdk.py");
    let out = tokio::process::Command::new(&py)
        .args([script, &endpoint, ak, sk, project])
        .output()
        .await
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the official SDK script failed");
    assert!(stdout.contains("sdk: 5 passed, 0 failed"));
    let stats = sim.faults.stats();
    for op in ["create", "list", "update", "delete"] {
        assert!(
            stats.calls.get(op).copied().unwrap_or(0) >= 1,
            "{op} reached the simulator"
        );
    }
    assert_eq!(
        stats.statuses.get(&401),
        Some(&1),
        "the wrong secret key was refused once"
    );
    assert!(sim.store.is_empty());
}
