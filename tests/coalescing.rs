//! Coalesced observation and the client-side rate limit, against the simulator over HTTP.

use std::sync::Arc;
use std::time::{Duration, Instant};

use live_snapshot_operator::clouds::huawei::coalesce::Coalescing;
use live_snapshot_operator::clouds::huawei::{
    Auth, ClientConfig, Credentials, LiveClient, LiveSnapshotConfig, ObsLocation, SnapshotApi,
};
use live_snapshot_operator::clouds::limiter::RateLimiter;
use lso_sim::{FaultSettings, KeyPair, Simulator, spawn_local};

const PROJECT: &str = "p0000000000000000000000000000000";

async fn sim() -> (Arc<Simulator>, String) {
    let (sim, endpoint) = spawn_local(
        "127.0.0.1:0",
        vec![KeyPair::new("AK", "SK")],
        vec![],
        FaultSettings::default(),
    )
    .await
    .unwrap();
    (sim, endpoint)
}

fn client(endpoint: &str) -> LiveClient {
    let auth = Auth::AkSk(Credentials {
        access_key: "AK".into(),
        secret_key: "SK".into(),
        security_token: None,
    });
    LiveClient::new(ClientConfig {
        endpoint: endpoint.into(),
        project_id: PROJECT.into(),
        auth,
        timeout: Duration::from_secs(5),
        allow_insecure_http: false,
    })
    .unwrap()
}

fn template(app: &str) -> LiveSnapshotConfig {
    LiveSnapshotConfig {
        domain: "d.example.com".into(),
        app_name: app.into(),
        time_interval: 10,
        obs_location: ObsLocation {
            bucket: "b".into(),
            location: "l".into(),
            object: "o".into(),
        },
        ..Default::default()
    }
}

fn calls(sim: &Simulator, op: &str) -> u64 {
    sim.faults.stats().calls.get(op).copied().unwrap_or(0)
}

#[tokio::test]
async fn one_listing_serves_a_whole_domain() {
    let (sim, endpoint) = sim().await;
    for i in 0..250 {
        sim.store
            .insert_new(PROJECT, template(&format!("app-{i:03}")))
            .unwrap();
    }
    let api = Arc::new(Coalescing::new(
        Arc::new(client(&endpoint)),
        Duration::from_secs(30),
    ));
    let reads = (0..250).map(|i| {
        let api = api.clone();
        async move { api.observe("d.example.com", &format!("app-{i:03}")).await }
    });
    let found = futures::future::join_all(reads).await;
    assert!(found.iter().all(|r| matches!(r, Ok(Some(_)))));
    assert_eq!(
        calls(&sim, "list"),
        3,
        "250 observations cost one listing of three pages"
    );

    // Absent from the listing: confirmed by one targeted read before anyone may create.
    assert_eq!(api.observe("d.example.com", "missing").await.unwrap(), None);
    assert_eq!(calls(&sim, "list"), 4);

    // Present upstream but missing from the listing (paging is unreliable): the targeted read
    // finds it, so no duplicate create follows.
    sim.store.insert_new(PROJECT, template("late")).unwrap();
    assert!(
        api.observe("d.example.com", "late")
            .await
            .unwrap()
            .is_some()
    );

    // Our own writes update the listing: no read needed afterwards.
    api.create(&template("new")).await.unwrap();
    let before = calls(&sim, "list");
    assert!(api.observe("d.example.com", "new").await.unwrap().is_some());
    api.delete("d.example.com", "app-000").await.unwrap();
    assert_eq!(
        calls(&sim, "list"),
        before,
        "served from the updated listing"
    );
    // A fresh observation bypasses the listing.
    api.observe_fresh("d.example.com", "app-001").await.unwrap();
    assert_eq!(calls(&sim, "list"), before + 1);
}

#[tokio::test]
async fn the_rate_limit_keeps_under_the_quota() {
    let (sim, endpoint) = sim().await;
    sim.faults.set(FaultSettings {
        qps_cap: 10,
        ..Default::default()
    });
    let api = Arc::new(client(&endpoint).with_limiter(Arc::new(RateLimiter::new(9.0, 1))));
    let started = Instant::now();
    let reads = (0..20).map(|i| {
        let api = api.clone();
        async move { api.observe("d.example.com", &format!("a{i}")).await }
    });
    let results = futures::future::join_all(reads).await;
    assert!(results.iter().all(Result::is_ok), "no call was throttled");
    assert_eq!(sim.faults.stats().throttled, 0);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "20 calls at 9/s take over two seconds"
    );
}

/// New objects share one listing that started after their reconciles began, and its absence
/// counts only when the listing is complete and consistent; otherwise a targeted read decides.
#[tokio::test]
async fn new_objects_share_a_listing_that_proves_absence() {
    let (sim, endpoint) = sim().await;
    for i in 0..150 {
        sim.store
            .insert_new(PROJECT, template(&format!("app-{i:03}")))
            .unwrap();
    }
    let api = Arc::new(Coalescing::new(
        Arc::new(client(&endpoint)),
        Duration::from_secs(30),
    ));
    let began = Instant::now();
    let news = (0..40).map(|i| {
        let api = api.clone();
        async move {
            api.observe_new("d.example.com", &format!("new-{i}"), began)
                .await
        }
    });
    let found = futures::future::join_all(news).await;
    assert!(found.iter().all(|r| matches!(r, Ok(None))));
    assert_eq!(
        calls(&sim, "list"),
        2,
        "40 new objects: one listing of two pages, no targeted read"
    );
    // A reconcile that began after that listing started does not trust it.
    let later = Instant::now();
    sim.store.insert_new(PROJECT, template("new-late")).unwrap();
    assert!(
        api.observe_new("d.example.com", "new-late", later)
            .await
            .unwrap()
            .is_some(),
        "a listing started before this reconcile is not proof"
    );
    assert_eq!(calls(&sim, "list"), 4, "a new listing of two pages");

    // A listing whose pages disagree (the service's total is off) proves nothing: each absent
    // template is confirmed by a targeted read.
    sim.faults.set(FaultSettings {
        total_offset: 7,
        ..Default::default()
    });
    let again = Instant::now();
    assert_eq!(
        api.observe_new("d.example.com", "ghost", again)
            .await
            .unwrap(),
        None
    );
    let lists = calls(&sim, "list");
    assert_eq!(
        api.observe_new("d.example.com", "ghost-2", again)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        calls(&sim, "list"),
        lists + 1,
        "the incomplete listing is reused, and absence is confirmed by a targeted read"
    );
}
