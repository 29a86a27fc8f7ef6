//! The client against the simulator over real HTTP: every operation, paging past 100, each
//! validation error, bad signatures, and classification of 400/401/404/429/500/timeouts.

use std::sync::Arc;
use std::time::Duration;

use live_snapshot_operator::clouds::huawei::model::codes;
use live_snapshot_operator::clouds::huawei::{
    ApiError, Auth, ClientConfig, Credentials, ErrorClass, LiveClient, LiveSnapshotConfig,
    ObsLocation, SnapshotApi,
};
use lso_sim::{FaultSettings, KeyPair, Simulator, Store, spawn_local};

const AK: &str = "TESTACCESSKEY";
const SK: &str = "testSecretKey0123456789";
const PROJECT: &str = "0123456789abcdef0123456789abcdef";

struct Sim {
    sim: Arc<Simulator>,
    endpoint: String,
}

async fn start_sim() -> Sim {
    let (sim, endpoint) = spawn_local(
        "127.0.0.1:0",
        vec![KeyPair::new(AK, SK)],
        vec!["tok-1".into()],
        FaultSettings::default(),
    )
    .await
    .unwrap();
    Sim { sim, endpoint }
}

fn client_with(endpoint: &str, auth: Auth, timeout: Duration) -> LiveClient {
    LiveClient::new(ClientConfig {
        endpoint: endpoint.into(),
        project_id: PROJECT.into(),
        auth,
        timeout,
        allow_insecure_http: false,
    })
    .unwrap()
}

fn client(endpoint: &str) -> LiveClient {
    let creds = Credentials {
        access_key: AK.into(),
        secret_key: SK.into(),
        security_token: None,
    };
    client_with(endpoint, Auth::AkSk(creds), Duration::from_secs(5))
}

fn template(app: &str) -> LiveSnapshotConfig {
    LiveSnapshotConfig {
        domain: "push.example.com".into(),
        app_name: app.into(),
        time_interval: 10,
        object_write_mode: Some(0),
        snapshot_mode: Some("keyframe".into()),
        obs_location: ObsLocation {
            bucket: "snap".into(),
            location: "cn-north-4".into(),
            object: "shots/".into(),
        },
        ..Default::default()
    }
}

fn status_code(e: &ApiError) -> (u16, String) {
    match e {
        ApiError::Status {
            status,
            code,
            request_id,
            ..
        } => {
            assert!(
                request_id.as_deref().is_some_and(|r| !r.is_empty()),
                "every error carries a request id"
            );
            (*status, code.clone())
        }
        other => panic!("expected a status error, got {other:?}"),
    }
}

#[tokio::test]
async fn create_list_update_delete_round_trip() {
    let s = start_sim().await;
    let c = client(&s.endpoint);
    let mut t = template("live");
    c.create(&t).await.unwrap();
    assert_eq!(
        c.observe("push.example.com", "live").await.unwrap(),
        Some(t.clone())
    );
    t.time_interval = 60;
    t.snapshot_mode = Some("random".into());
    c.update(&t).await.unwrap();
    assert_eq!(
        c.observe("push.example.com", "live").await.unwrap(),
        Some(t.clone())
    );
    c.delete("push.example.com", "live").await.unwrap();
    assert_eq!(c.observe("push.example.com", "live").await.unwrap(), None);
    let stats = s.sim.faults.stats();
    assert_eq!(stats.calls.get("create"), Some(&1));
    assert_eq!(stats.calls.get("update"), Some(&1));
    assert_eq!(stats.calls.get("delete"), Some(&1));
}

#[tokio::test]
async fn lists_more_than_one_page() {
    let s = start_sim().await;
    let c = client(&s.endpoint);
    for i in 0..250 {
        c.create(&template(&format!("app-{i:03}"))).await.unwrap();
    }
    c.create(&LiveSnapshotConfig {
        domain: "other.example.com".into(),
        ..template("x")
    })
    .await
    .unwrap();
    s.sim.faults.reset_stats();
    let all = c.list_domain("push.example.com").await.unwrap();
    assert_eq!(all.len(), 250);
    assert!(all.iter().all(|t| t.domain == "push.example.com"));
    assert_eq!(
        s.sim.faults.stats().calls.get("list"),
        Some(&3),
        "250 templates are three pages of 100"
    );
    let page = c.list_page("push.example.com", None, 100, 2).await.unwrap();
    assert_eq!(
        (page.total, page.snapshot_config_list.len()),
        (250, 50),
        "offset is a page number"
    );
}

#[tokio::test]
async fn validation_errors_are_terminal_with_live_codes() {
    let s = start_sim().await;
    let c = client(&s.endpoint);
    type Mutation = Box<dyn Fn(&mut LiveSnapshotConfig)>;
    let bad: Vec<Mutation> = vec![
        Box::new(|t| t.time_interval = 3),
        Box::new(|t| t.time_interval = 3601),
        Box::new(|t| t.object_write_mode = Some(7)),
        Box::new(|t| t.snapshot_mode = Some("every".into())),
        Box::new(|t| t.obs_location.bucket = String::new()),
        Box::new(|t| t.obs_location.object = "o".repeat(1025)),
        Box::new(|t| t.app_name = "a".repeat(129)),
        Box::new(|t| t.auth_key = Some("too-short".into())),
        Box::new(|t| t.call_back_url = Some("ftp://cb.example.com".into())),
        Box::new(|t| t.call_back_enable = Some("on".into())),
        Box::new(|t| t.image_object_format = Some("{{.stream}}.jpg".into())),
        Box::new(|t| t.image_access_protocol = Some("gopher".into())),
        Box::new(|t| t.image_access_domain = Some("d".repeat(256))),
    ];
    for (i, mutate) in bad.iter().enumerate() {
        let mut t = template(&format!("bad-{i}"));
        mutate(&mut t);
        let e = c
            .create(&t)
            .await
            .expect_err("invalid template must be refused");
        assert_eq!(
            status_code(&e),
            (400, codes::INVALID_PARAMETER.to_string()),
            "case {i}: {e}"
        );
        assert_eq!(e.class(), ErrorClass::Terminal);
    }
    c.create(&template("dup")).await.unwrap();
    let e = c.create(&template("dup")).await.unwrap_err();
    assert_eq!(status_code(&e).1, codes::ALREADY_EXISTS);
    assert_eq!(e.class(), ErrorClass::AlreadyExists);
    let e = c.update(&template("missing")).await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::NotFound);
    let e = c.delete("push.example.com", "missing").await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::NotFound);
    assert_eq!(s.sim.store.len(), 1);
}

#[tokio::test]
async fn wrong_credentials_are_refused_by_the_gateway() {
    let s = start_sim().await;
    let wrong_sk = Credentials {
        access_key: AK.into(),
        secret_key: "nope".into(),
        security_token: None,
    };
    let wrong_ak = Credentials {
        access_key: "WHO".into(),
        secret_key: SK.into(),
        security_token: None,
    };
    for auth in [
        Auth::AkSk(wrong_sk),
        Auth::AkSk(wrong_ak),
        Auth::Token("bad-token".into()),
    ] {
        let c = client_with(&s.endpoint, auth, Duration::from_secs(5));
        let e = c.create(&template("x")).await.unwrap_err();
        assert_eq!(status_code(&e), (401, codes::SIGNATURE_FAILED.to_string()));
        assert_eq!(e.class(), ErrorClass::Auth);
        assert!(!e.to_string().contains(SK) && !e.to_string().contains("nope"));
    }
    assert!(
        s.sim.store.is_empty(),
        "nothing was written with wrong credentials"
    );
    let ok = client_with(
        &s.endpoint,
        Auth::Token("tok-1".into()),
        Duration::from_secs(5),
    );
    ok.create(&template("x")).await.unwrap();
}

#[tokio::test]
async fn classifies_throttling_server_errors_and_timeouts() {
    let s = start_sim().await;
    let c = client(&s.endpoint);
    s.sim.faults.set(FaultSettings {
        qps_cap: 2,
        ..Default::default()
    });
    let mut throttled = None;
    for _ in 0..5 {
        if let Err(e) = c.observe("push.example.com", "live").await {
            throttled = Some(e);
            break;
        }
    }
    let e = throttled.expect("third call within a second is throttled");
    assert_eq!(status_code(&e), (429, codes::THROTTLED.to_string()));
    assert_eq!(
        e.class(),
        ErrorClass::Throttled(Some(Duration::from_secs(1)))
    );

    s.sim.faults.set(FaultSettings {
        fail_next: 1,
        ..Default::default()
    });
    let e = c.observe("push.example.com", "live").await.unwrap_err();
    assert_eq!(status_code(&e).0, 500);
    assert_eq!(e.class(), ErrorClass::Transient);

    s.sim.faults.set(FaultSettings {
        fail_next: 1,
        fail_next_status: Some(403),
        fail_next_code: Some("APIGW.0301".into()),
        ..Default::default()
    });
    assert_eq!(
        c.observe("push.example.com", "live")
            .await
            .unwrap_err()
            .class(),
        ErrorClass::Auth
    );

    s.sim.faults.set(FaultSettings {
        fail_next: 1,
        fail_next_status: Some(404),
        fail_next_code: Some("APIG.0101".into()),
        ..Default::default()
    });
    assert_eq!(
        c.observe("push.example.com", "live")
            .await
            .unwrap_err()
            .class(),
        ErrorClass::NotFound
    );

    s.sim.faults.set(FaultSettings {
        latency_ms: 1500,
        ..Default::default()
    });
    let slow = client_with(
        &s.endpoint,
        Auth::AkSk(Credentials {
            access_key: AK.into(),
            secret_key: SK.into(),
            security_token: None,
        }),
        Duration::from_millis(300),
    );
    let e = slow.observe("push.example.com", "live").await.unwrap_err();
    assert!(matches!(e, ApiError::Timeout { .. }), "{e:?}");
    assert_eq!(e.class(), ErrorClass::Transient);
}

#[tokio::test]
async fn connection_refused_is_transient() {
    let c = client("http://127.0.0.1:9");
    let e = c.observe("d", "a").await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::Transient, "{e}");
}

#[tokio::test]
async fn secrets_stay_out_of_debug_output() {
    let creds = Credentials {
        access_key: AK.into(),
        secret_key: SK.into(),
        security_token: Some("sts-secret".into()),
    };
    let c = client_with(
        "http://127.0.0.1:9",
        Auth::AkSk(creds),
        Duration::from_secs(1),
    );
    let shown = format!("{c:?}");
    assert!(
        !shown.contains(SK) && !shown.contains(AK) && !shown.contains("sts-secret"),
        "{shown}"
    );
    let t = LiveSnapshotConfig {
        auth_key: Some("k".repeat(40)),
        ..template("a")
    };
    assert!(!format!("{t:?}").contains(&"k".repeat(40)));
}

#[tokio::test]
async fn state_file_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let store = Store::with_file(path.clone()).unwrap();
    store.insert_new(PROJECT, template("kept")).unwrap();
    drop(store);
    let again = Store::with_file(path).unwrap();
    assert_eq!(
        again.get(PROJECT, "push.example.com", "kept"),
        Some(template("kept"))
    );
}

/// A server that lies: `total` says a million, every page repeats the same template.
#[tokio::test]
async fn listing_stops_on_a_misbehaving_server() {
    use axum::routing::get;
    let pages = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counter = pages.clone();
    let app = axum::Router::new().route(
        "/v1/{project}/stream/snapshot",
        get(move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                axum::Json(serde_json::json!({
                    "total": 1_000_000, "offset": 0, "limit": 100,
                    "snapshot_config_list": [serde_json::to_value(template("same")).unwrap()]
                }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let c = client_with(&endpoint, Auth::Token("t".into()), Duration::from_secs(5));
    let all = c.list_domain("push.example.com").await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(
        pages.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "a page with nothing new ends the listing"
    );
}

/// A server that serves `body` (built from the page index) at every page of a listing.
async fn serve_pages(
    body: impl Fn(u32) -> serde_json::Value + Clone + Send + Sync + 'static,
) -> (String, Arc<std::sync::atomic::AtomicU32>) {
    use axum::extract::Query;
    use axum::routing::get;
    let pages = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counter = pages.clone();
    let app = axum::Router::new().route(
        "/v1/{project}/stream/snapshot",
        get(
            move |Query(q): Query<std::collections::HashMap<String, String>>| {
                let (counter, body) = (counter.clone(), body.clone());
                async move {
                    counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let page = q.get("offset").and_then(|o| o.parse().ok()).unwrap_or(0);
                    axum::Json(body(page))
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (endpoint, pages)
}

/// A listing that never ends (a new template on every page, a total that keeps ahead) is cut
/// off at MAX_PAGES with an error instead of running forever.
#[tokio::test]
async fn an_endless_listing_is_cut_off() {
    let (endpoint, pages) = serve_pages(|page| {
        serde_json::json!({
            "total": 1_000_000_000, "offset": page, "limit": 100,
            "snapshot_config_list": [serde_json::to_value(template(&format!("t{page}"))).unwrap()]
        })
    })
    .await;
    let c = client_with(&endpoint, Auth::Token("t".into()), Duration::from_secs(5));
    let err = c.list_domain("push.example.com").await.unwrap_err();
    assert!(err.to_string().contains("did not end"), "{err}");
    assert_eq!(
        pages.load(std::sync::atomic::Ordering::SeqCst),
        live_snapshot_operator::clouds::huawei::client::MAX_PAGES
    );
}

/// One malformed item fails only a read of that item; the rest of the listing is served.
#[tokio::test]
async fn a_malformed_item_spoils_only_itself() {
    let (endpoint, _) = serve_pages(|_| {
        serde_json::json!({
            "total": 2, "offset": 0, "limit": 100,
            "snapshot_config_list": [
                serde_json::to_value(template("good")).unwrap(),
                {"domain": "push.example.com", "app_name": "bad", "obs_location": {}}
            ]
        })
    })
    .await;
    let c = client_with(&endpoint, Auth::Token("t".into()), Duration::from_secs(5));
    let all = c.list_domain("push.example.com").await.unwrap();
    assert_eq!(all, vec![template("good")]);
    let err = c.observe("push.example.com", "bad").await.unwrap_err();
    assert!(err.to_string().contains("does not parse"), "{err}");
}

/// An answer past the size cap is refused, whatever it claims to be.
#[tokio::test]
async fn an_oversized_answer_is_refused() {
    let big = "x".repeat(live_snapshot_operator::clouds::huawei::client::MAX_BODY_BYTES);
    let (endpoint, _) = serve_pages(move |_| serde_json::json!({"total": 0, "padding": big})).await;
    let c = client_with(&endpoint, Auth::Token("t".into()), Duration::from_secs(5));
    let err = c.list_domain("push.example.com").await.unwrap_err();
    assert!(err.to_string().contains("larger than"), "{err}");
}

/// Plain http goes only to loopback unless the operator allows it; endpoints with a path,
/// credentials or a query are refused before any connection.
#[test]
fn endpoints_are_checked_before_any_call() {
    let config = |endpoint: &str, allow: bool| ClientConfig {
        endpoint: endpoint.into(),
        project_id: PROJECT.into(),
        auth: Auth::Token("t".into()),
        timeout: Duration::from_secs(1),
        allow_insecure_http: allow,
    };
    assert!(LiveClient::new(config("http://127.0.0.1:9", false)).is_ok());
    assert!(LiveClient::new(config("https://live.cn-north-4.myhuaweicloud.com", false)).is_ok());
    for bad in [
        "http://live.example.com",
        "https://user:pw@live.example.com",
        "https://live.example.com/elsewhere",
        "https://live.example.com?x=1",
        "ftp://live.example.com",
    ] {
        assert!(LiveClient::new(config(bad, false)).is_err(), "{bad}");
    }
    assert!(LiveClient::new(config("http://live.example.com", true)).is_ok());
}

/// Requests signed correctly but sent too late, for another project, or without signing the
/// date are refused by the simulated gateway, as the real one does.
#[tokio::test]
async fn gateway_checks_date_skew_project_and_signed_date() {
    use live_snapshot_operator::clouds::huawei::signer::{self, SignableRequest};
    let s = start_sim().await;
    let host = s.endpoint.trim_start_matches("http://").to_string();
    let path = format!("/v1/{PROJECT}/stream/snapshot");
    let query = vec![("domain".to_string(), "push.example.com".to_string())];
    let send = |date: String, project: &str, sign_date: bool| {
        let mut headers = vec![
            ("host".to_string(), host.clone()),
            ("x-project-id".to_string(), project.to_string()),
        ];
        if sign_date {
            headers.push(("x-sdk-date".to_string(), date.clone()));
        }
        let req = SignableRequest {
            method: "GET",
            path: &path,
            query: &query,
            headers: &headers,
            body: b"",
        };
        let auth = signer::authorization(AK, SK, &date, &req);
        reqwest::Client::new()
            .get(format!("{}{path}?domain=push.example.com", s.endpoint))
            .header("x-project-id", project)
            .header("x-sdk-date", date)
            .header("authorization", auth)
            .send()
    };
    let fmt = |t: jiff::Timestamp| t.strftime(signer::DATE_FORMAT).to_string();
    let now = jiff::Timestamp::now();
    assert_eq!(
        send(fmt(now), PROJECT, true).await.unwrap().status(),
        200,
        "a correct request passes"
    );
    let stale = now - jiff::SignedDuration::from_mins(20);
    for (what, resp) in [
        (
            "a date 20 minutes old",
            send(fmt(stale), PROJECT, true).await.unwrap(),
        ),
        (
            "another project's header",
            send(fmt(now), "someoneelse", true).await.unwrap(),
        ),
        (
            "an unsigned date",
            send(fmt(now), PROJECT, false).await.unwrap(),
        ),
    ] {
        assert_eq!(resp.status(), 401, "{what}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["error_code"], "APIG.0301", "{what}");
    }
}
