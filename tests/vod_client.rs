//! The operator's VOD client against the VOD simulator over HTTP: a snapshot task and its
//! results across pages, the cover set and read back, and how each VOD error is classified.

use std::time::Duration;

use live_snapshot_operator::clouds::huawei::gateway::Gateway;
use live_snapshot_operator::clouds::huawei::vod::{ThumbnailPara, VodClient};
use live_snapshot_operator::clouds::huawei::{Auth, ClientConfig, Credentials, ErrorClass};
use lso_sim::vod::{AssetState, spawn_local};
use lso_sim::{FaultSettings, KeyPair};

const AK: &str = "VODCLIENTAK00001";
const SK: &str = "vodClientSecretKey0123456789";
const PROJECT: &str = "0123456789abcdef0123456789abcdef";

fn client(endpoint: &str, sk: &str) -> VodClient {
    VodClient::new(
        Gateway::new(ClientConfig {
            endpoint: endpoint.into(),
            project_id: PROJECT.into(),
            auth: Auth::AkSk(Credentials {
                access_key: AK.into(),
                secret_key: sk.into(),
                security_token: None,
            }),
            timeout: Duration::from_secs(5),
            allow_insecure_http: false,
        })
        .unwrap(),
    )
}

#[tokio::test]
async fn task_results_cover_and_errors() {
    let (sim, endpoint) = spawn_local(
        "127.0.0.1:0",
        vec![KeyPair::new(AK, SK)],
        FaultSettings::default(),
    )
    .await
    .unwrap();
    sim.store.set_task_delay(Duration::from_millis(200));
    sim.store
        .put_asset(PROJECT, "asset-ready", AssetState::Published, 250);
    sim.store
        .put_asset(PROJECT, "asset-busy", AssetState::Transcoding, 60);
    let c = client(&endpoint, SK);

    let every_second = ThumbnailPara {
        kind: "time".into(),
        time: Some(1),
        format: Some(1),
        ..Default::default()
    };
    let task = c.create_task("asset-ready", &every_second).await.unwrap();
    assert!(
        c.thumbnail_details(&task)
            .await
            .unwrap()
            .snapshots
            .is_empty(),
        "nothing before the task ran"
    );
    let mut shots = Vec::new();
    for _ in 0..50 {
        shots = c.thumbnail_details(&task).await.unwrap().snapshots;
        if !shots.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(shots.len(), 250, "three pages, the last short");
    assert_eq!(shots[249].offset, 249);
    let tasks = c.list_tasks("asset-ready").await.unwrap();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].thumbnail_para.as_ref(), Some(&every_second));

    let before = c.show_asset("asset-ready").await.unwrap().unwrap();
    c.set_cover(&shots[42].url).await.unwrap();
    let after = c.show_asset("asset-ready").await.unwrap().unwrap();
    assert_ne!(before.cover_url, after.cover_url, "the cover changed");
    assert_eq!(after.duration, Some(250));
    assert_eq!(
        sim.store
            .asset(PROJECT, "asset-ready")
            .unwrap()
            .cover_source
            .as_deref(),
        Some(shots[42].url.as_str())
    );

    assert_eq!(
        c.show_asset("no-such-asset").await.unwrap(),
        None,
        "VOD.10062 reads as absent"
    );
    let e = c
        .create_task("asset-busy", &every_second)
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), e.class()),
        ("VOD.10060", ErrorClass::NotReady),
        "{e}"
    );
    let e = c
        .set_cover("https://elsewhere.example.com/x.jpg")
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), e.class()),
        ("VOD.10062", ErrorClass::NotFound),
        "{e}"
    );
    let bad = ThumbnailPara {
        kind: "quantity".into(),
        quantity: Some(11),
        ..Default::default()
    };
    let e = c.create_task("asset-ready", &bad).await.unwrap_err();
    assert_eq!(
        (e.code(), e.class()),
        ("VOD.10053", ErrorClass::Terminal),
        "{e}"
    );
    assert!(
        e.to_string().contains("illegal field: thumbnail.quantity"),
        "{e}"
    );
    let e = client(&endpoint, "wrong")
        .show_asset("asset-ready")
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), e.class()),
        ("APIGW.0301", ErrorClass::Auth),
        "{e}"
    );

    sim.faults.set(FaultSettings {
        qps_cap: 1,
        ..Default::default()
    });
    let mut throttled = None;
    for _ in 0..5 {
        if let Err(e) = c.show_asset("asset-ready").await {
            throttled = Some(e);
            break;
        }
    }
    let e = throttled.expect("over the cap");
    assert!(matches!(e.class(), ErrorClass::Throttled(_)), "{e}");
    sim.faults.set(FaultSettings::default());

    let deleted = c
        .delete_thumbnails("asset-ready", std::slice::from_ref(&task))
        .await
        .unwrap();
    assert_eq!(deleted[0].status, "DELETED");
    assert!(c.list_tasks("asset-ready").await.unwrap().is_empty());
}

/// A task with more results than the API pages (offsets end at 20,480): the listing stops at
/// the last offset the API takes, never asks past it (VOD.10053), and reports the full total.
#[tokio::test]
async fn paging_stops_at_the_offset_limit() {
    let (sim, endpoint) = spawn_local(
        "127.0.0.1:0",
        vec![KeyPair::new(AK, SK)],
        FaultSettings::default(),
    )
    .await
    .unwrap();
    sim.store.set_task_delay(Duration::ZERO);
    sim.store
        .put_asset(PROJECT, "asset-long", AssetState::Published, 21_000);
    let c = client(&endpoint, SK);
    let every_second = ThumbnailPara {
        kind: "time".into(),
        time: Some(1),
        format: Some(1),
        ..Default::default()
    };
    let task = c.create_task("asset-long", &every_second).await.unwrap();
    let details = c.thumbnail_details(&task).await.unwrap();
    assert_eq!(details.total, 21_000);
    assert_eq!(
        details.snapshots.len(),
        live_snapshot_operator::clouds::huawei::vod::MAX_DETAILS_OFFSET + 100,
        "every page the offset range reaches"
    );
    assert_eq!(
        details.snapshots[20_579].offset, 20_579,
        "no record twice or skipped"
    );
    assert_eq!(
        sim.faults.stats().calls.get("thumbnail_details").copied(),
        Some(206),
        "offsets 0, 100, ... 20,400, then 20,480 (overlapping), and none past it"
    );
}
