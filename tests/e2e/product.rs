//! The user's view: the CRD is Established, `kubectl apply -f examples/` works as shipped,
//! `kubectl get lst` shows the columns with Ready True, `kubectl explain` documents fields,
//! and status is written through server-side apply with conditions as a list map.

use std::sync::Arc;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;

use crate::harness::{Scenario, Shared, eventually};

pub async fn examples_apply_and_show_ready(shared: Arc<Shared>) {
    let crds: Api<CustomResourceDefinition> = Api::all(shared.client.clone());
    let crd = crds
        .get("livesnapshottemplates.live.snapshot.dev")
        .await
        .unwrap();
    assert!(
        crd.status
            .unwrap()
            .conditions
            .unwrap()
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True")
    );

    let mut s = Scenario::new(shared, "examples").await;
    // The asset the VOD example names, uploaded and published.
    s.vod.store.put_asset(
        crate::harness::PROJECT,
        "6e7605d4cb0b4fc9b2f5bf00c2cb511f",
        lso_sim::vod::AssetState::Published,
        60,
    );
    // The video the MPS example snapshots, and its demo key pointed at this scenario's
    // simulator the way a user edits a Secret (below).
    s.mps
        .store
        .put_object("media-cn-shanghai", "videos/launch.mp4", 60);
    s.mps
        .store
        .set_job_time(std::time::Duration::from_millis(500));
    s.start_operator();
    // The credentials example names the simulator's endpoint and key on the quick-start port;
    // point it at this scenario's simulator the way a user edits a Secret.
    let (ok, out) = s.kubectl(&["apply", "-f", "examples/"]);
    assert!(ok, "kubectl apply -f examples/: {out}");
    let (ok, out) = s.kubectl(&["get", "lst", "-o", "name"]);
    assert!(ok, "{out}");
    let names: Vec<String> = out
        .lines()
        .map(|l| {
            l.trim_start_matches("livesnapshottemplate.live.snapshot.dev/")
                .to_string()
        })
        .collect();
    assert!(
        names.len() >= 3,
        "examples define several templates: {names:?}"
    );
    let endpoint = s.endpoint.clone();
    let (ok, out) = s.kubectl(&[
        "patch",
        "secret",
        "live-credentials",
        "--type=merge",
        "-p",
        &format!(
            r#"{{"stringData":{{"endpoint":"{endpoint}","accessKey":"{}","secretKey":"{}"}}}}"#,
            crate::harness::AK,
            crate::harness::SK
        ),
    ]);
    assert!(ok, "{out}");
    let (ok, out) = s.kubectl(&[
        "patch",
        "secret",
        "aliyun-credentials",
        "--type=merge",
        "-p",
        &format!(
            r#"{{"stringData":{{"accessKey":"{}","secretKey":"{}"}}}}"#,
            crate::harness::AK,
            crate::harness::SK
        ),
    ]);
    assert!(ok, "{out}");
    for n in &names {
        s.wait_ready(n).await;
    }
    let out = eventually("kubectl get lst to show every template Ready", || async {
        let (ok, out) = s.kubectl(&["get", "lst"]);
        (ok && out
            .lines()
            .skip(1)
            .all(|l| l.split_whitespace().nth(5) == Some("True")))
        .then_some(out)
    })
    .await;
    let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME", "DOMAIN", "APP", "INTERVAL", "MODE", "READY", "SYNCED", "AGE"
        ],
        "{out}"
    );
    println!("{out}");

    // The VOD example: snapshots taken, the cover set, shown by `kubectl get vas`.
    s.wait_kind::<live_snapshot_operator::kinds::vod::resource::VodAssetSnapshot>(
        "launch-video",
        "Ready",
        "True",
        Some("Available"),
    )
    .await;
    let (ok, out) = s.kubectl(&["get", "vas"]);
    assert!(ok, "{out}");
    let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME",
            "ASSET",
            "TYPE",
            "SNAPSHOTS",
            "COVER",
            "READY",
            "REASON",
            "AGE"
        ],
        "{out}"
    );
    let row: Vec<&str> = out.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(
        &row[1..7],
        [
            "6e7605d4cb0b4fc9b2f5bf00c2cb511f",
            "time",
            "6",
            "20",
            "True",
            "Available"
        ],
        "{out}"
    );
    println!("{out}");
    // The MPS example: the job submitted and followed to Success.
    s.wait_kind::<live_snapshot_operator::kinds::mps::resource::MpsSnapshotJob>(
        "launch-thumbnails",
        "Ready",
        "True",
        Some("Succeeded"),
    )
    .await;
    let (ok, out) = s.kubectl(&["get", "msj"]);
    assert!(ok, "{out}");
    let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME",
            "REGION",
            "STATE",
            "SNAPSHOTS",
            "READY",
            "REASON",
            "AGE"
        ],
        "{out}"
    );
    let row: Vec<&str> = out.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(
        &row[1..6],
        ["cn-shanghai", "Success", "3", "True", "Succeeded"],
        "{out}"
    );
    println!("{out}");
    let (ok, out) = s.kubectl(&["explain", "msj.spec.snapshot"]);
    assert!(ok && out.contains("timePointsMs"), "{out}");

    let (ok, out) = s.kubectl(&["explain", "vas.spec.thumbnail"]);
    assert!(
        ok && out.contains("quantity") && out.contains("evenly spread"),
        "{out}"
    );

    let (ok, out) = s.kubectl(&["explain", "lst.spec.obsLocation"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("bucket") && out.contains("Directory path inside the bucket"),
        "{out}"
    );
    let (ok, out) = s.kubectl(&["explain", "lst.spec"]);
    assert!(
        ok && out.contains("timeInterval") && out.contains("Seconds between two snapshots"),
        "{out}"
    );

    // Conditions are a list map keyed by type, so server-side apply merges them per condition.
    let (ok, out) = s.kubectl(&["get", "crd", "livesnapshottemplates.live.snapshot.dev", "-o", "jsonpath={.spec.versions[0].schema.openAPIV3Schema.properties.status.properties.conditions.x-kubernetes-list-type}"]);
    assert!(ok && out.trim() == "map", "{out}");
    let o = s.get(&names[0]).await;
    let managers: Vec<_> = o
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter(|m| m.subresource.as_deref() == Some("status"))
        .filter_map(|m| m.manager)
        .collect();
    assert_eq!(
        managers,
        ["live-snapshot-operator"],
        "status is written by the operator through the status subresource"
    );

    // The operator's metrics after these reconciles.
    let text = s.metrics().encode();
    for want in [
        "live_snapshot_operator_reconciles_total{kind=\"LiveSnapshotTemplate\",result=\"success\"}",
        "live_snapshot_operator_upstream_calls_total{operation=\"create\",code=\"200\"}",
        "live_snapshot_operator_upstream_call_duration_seconds_bucket",
        "live_snapshot_operator_reconcile_duration_seconds_count",
    ] {
        assert!(text.contains(want), "metrics lack {want}:\n{text}");
    }
    s.stop_operator().await;
}
