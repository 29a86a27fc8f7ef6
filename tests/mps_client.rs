//! The operator's MPS client against the MPS simulator over HTTP: a job submitted and followed
//! to Success, a job failing for a missing input, by-id queries with unknown ids, token paging
//! across pages, and the gateway's refusals (wrong secret, reused nonce, stale timestamp,
//! throttling) as the operator classifies them.

use std::time::Duration;

use live_snapshot_operator::clouds::alibaba::gateway::RpcGateway;
use live_snapshot_operator::clouds::alibaba::mps::{JobFilter, JobState, MpsClient, OssFile};
use live_snapshot_operator::clouds::alibaba::signer;
use live_snapshot_operator::clouds::huawei::{Auth, ClientConfig, Credentials, ErrorClass};
use lso_sim::mps::spawn_local;
use lso_sim::{FaultSettings, KeyPair};
use serde_json::json;

const AK: &str = "LTAI5tMpsClientTest0001";
const SK: &str = "mpsClientSecret0123456789abcdef";
const REGION: &str = "cn-shanghai";

fn client(endpoint: &str, sk: &str) -> MpsClient {
    MpsClient::new(
        RpcGateway::new(ClientConfig {
            endpoint: endpoint.into(),
            project_id: REGION.into(),
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

fn input(object: &str) -> OssFile {
    OssFile {
        bucket: "media".into(),
        location: "oss-cn-shanghai".into(),
        object: object.into(),
        role_arn: None,
    }
}

fn config(num: i64) -> serde_json::Value {
    json!({
        "OutputFile": {"Bucket": "media", "Location": "oss-cn-shanghai", "Object": "shots%2F{Count}.jpg"},
        "Time": "0", "Interval": "5", "Num": num.to_string(),
    })
}

#[tokio::test]
async fn jobs_progress_page_and_fail_as_the_api_says() {
    let (sim, endpoint) = spawn_local(
        "127.0.0.1:0",
        vec![KeyPair::new(AK, SK)],
        FaultSettings::default(),
    )
    .await
    .unwrap();
    sim.store.set_job_time(Duration::from_millis(300));
    sim.store.put_object("media", "in/demo.mp4", 60);
    let c = client(&endpoint, SK);

    // Submitted, then Success with its count; the object name goes URL-encoded.
    let job = c
        .submit(&input("in%2Fdemo.mp4"), &config(3), "pipe-1", "lso-test-1")
        .await
        .unwrap();
    assert_eq!(job.job_state(), Some(JobState::Submitted));
    assert_eq!(job.user_data.as_deref(), Some("lso-test-1"));
    let bad = c
        .submit(
            &input("in%2Fmissing.mp4"),
            &config(3),
            "pipe-1",
            "lso-test-2",
        )
        .await
        .unwrap();
    let ids = vec![job.id.clone(), bad.id.clone(), "f".repeat(32)];
    // Polled until both jobs are final, within a deadline.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let found = loop {
        let found = c.query_ids(&ids).await.unwrap();
        let finals = found
            .jobs
            .iter()
            .filter(|j| j.job_state().is_some_and(|s| s.is_final()))
            .count();
        if finals == 2 {
            break found;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "jobs not final: {found:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(found.missing, ["f".repeat(32)]);
    let by_id = |id: &str| found.jobs.iter().find(|j| j.id == id).unwrap().clone();
    let done = by_id(&job.id);
    assert_eq!(done.job_state(), Some(JobState::Success));
    assert_eq!(done.count, Some(3));
    let failed = by_id(&bad.id);
    assert_eq!(failed.job_state(), Some(JobState::Fail));
    assert_eq!(
        failed.code.as_deref(),
        Some("InvalidParameter.ResourceNotFound")
    );
    // More than 10 ids is refused before any call.
    let eleven: Vec<String> = (0..11).map(|i| format!("{i:032x}")).collect();
    assert_eq!(
        c.query_ids(&eleven).await.unwrap_err().class(),
        ErrorClass::Terminal
    );

    // Token paging: 700 jobs of one pipeline, newest first, three pages of up to 300.
    for i in 0..700 {
        sim.store.submit(
            json!({"Bucket": "media", "Location": "oss-cn-shanghai", "Object": "in%2Fdemo.mp4"}),
            config(1),
            "pipe-2",
            &format!("bulk-{i}"),
        );
    }
    let before = sim.faults.stats().calls["query_snapshot_jobs"];
    let all = c
        .list(&JobFilter {
            pipeline_id: Some("pipe-2".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 700);
    assert_eq!(
        all[0].user_data.as_deref(),
        Some("bulk-699"),
        "newest first"
    );
    assert_eq!(sim.faults.stats().calls["query_snapshot_jobs"] - before, 3);
    let succeeded = c
        .list(&JobFilter {
            pipeline_id: Some("pipe-1".into()),
            state: Some(JobState::Success),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(succeeded.len(), 1);
    // The creation-time range, as the restart search uses it.
    let now = jiff::Timestamp::now();
    let window = |from: jiff::Timestamp, to: jiff::Timestamp| JobFilter {
        pipeline_id: Some("pipe-1".into()),
        created_from: Some(from),
        created_to: Some(to),
        ..Default::default()
    };
    let hour = jiff::SignedDuration::from_hours(1);
    assert_eq!(
        c.list(&window(now - hour, now + hour)).await.unwrap().len(),
        2
    );
    assert!(
        c.list(&window(now + hour, now + hour + hour))
            .await
            .unwrap()
            .is_empty()
    );

    // A wrong secret is an authentication failure.
    let err = client(&endpoint, "wrong")
        .query_ids(&ids)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "SignatureDoesNotMatch");
    assert_eq!(err.class(), ErrorClass::Auth);

    // Over 100 queries a second, the gateway throttles with a retry hint.
    let mut throttled = None;
    for _ in 0..150 {
        if let Err(e) = c.query_ids(&ids[..1]).await {
            throttled = Some(e);
            break;
        }
    }
    let e = throttled.expect("throttled within 150 calls");
    assert_eq!(e.code(), "Throttling.User");
    assert_eq!(
        e.class(),
        ErrorClass::Throttled(Some(Duration::from_secs(1)))
    );
}

/// A request signed by hand, sent twice: the nonce is refused the second time; a stale date is
/// refused outright.
#[tokio::test]
async fn nonces_and_timestamps_are_checked() {
    let (_sim, endpoint) = spawn_local(
        "127.0.0.1:0",
        vec![KeyPair::new(AK, SK)],
        FaultSettings::default(),
    )
    .await
    .unwrap();
    let host = endpoint.trim_start_matches("http://").to_string();
    let send = |date: String, nonce: &'static str| {
        let (host, endpoint) = (host.clone(), endpoint.clone());
        async move {
            let empty = signer::hex_sha256(b"");
            let headers: Vec<(String, String)> = vec![
                ("host".into(), host),
                ("x-acs-action".into(), "QuerySnapshotJobList".into()),
                ("x-acs-content-sha256".into(), empty.clone()),
                ("x-acs-date".into(), date),
                ("x-acs-signature-nonce".into(), nonce.into()),
                ("x-acs-version".into(), signer::VERSION.into()),
            ];
            let query = vec![("SnapshotJobIds".to_string(), "a".to_string())];
            let auth = signer::acs3_authorization(
                AK,
                SK,
                &signer::Acs3Request {
                    method: "POST",
                    path: "/",
                    query: &query,
                    headers: &headers,
                    payload_hash: &empty,
                },
            );
            let mut req = reqwest::Client::new()
                .post(format!("{endpoint}/?SnapshotJobIds=a"))
                .header("authorization", auth);
            for (k, v) in headers.iter().filter(|(k, _)| k != "host") {
                req = req.header(k, v);
            }
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            let body: serde_json::Value = r.json().await.unwrap();
            (status, body["Code"].as_str().unwrap_or("").to_string())
        }
    };
    let now = || {
        jiff::Timestamp::now()
            .strftime(signer::DATE_FORMAT)
            .to_string()
    };
    assert_eq!(send(now(), "n-0001").await, (200, String::new()));
    assert_eq!(
        send(now(), "n-0001").await,
        (400, "SignatureNonceUsed".into())
    );
    let stale = (jiff::Timestamp::now() - jiff::SignedDuration::from_mins(20))
        .strftime(signer::DATE_FORMAT)
        .to_string();
    assert_eq!(
        send(stale, "n-0002").await,
        (400, "InvalidTimeStamp.Expired".into())
    );
    assert_eq!(
        send("yesterday".into(), "n-0003").await,
        (400, "InvalidTimeStamp.Format".into())
    );
}

/// Thirty running jobs polled once each by their objects cost three queries: each query takes
/// along nine more jobs whose objects have seen their last read, and their own polls are
/// answered from it. A final job leaves the batch.
#[tokio::test]
async fn polls_of_many_jobs_share_batched_queries() {
    use live_snapshot_operator::kinds::mps::batch::{JobBatcher, Polled};
    let (sim, endpoint) = spawn_local(
        "127.0.0.1:0",
        vec![KeyPair::new(AK, SK)],
        FaultSettings::default(),
    )
    .await
    .unwrap();
    sim.store.set_job_time(Duration::from_secs(60));
    sim.store.put_object("media", "in/demo.mp4", 60);
    // No window: only reads made since an object's last look answer its poll.
    let batcher = JobBatcher::new(client(&endpoint, SK), Duration::ZERO);
    let mut ids = Vec::new();
    for i in 0..30 {
        let job = batcher
            .client()
            .submit(
                &input("in%2Fdemo.mp4"),
                &config(1),
                "pipe",
                &format!("j{i}"),
            )
            .await
            .unwrap();
        batcher.register(&job);
        ids.push(job.id);
    }
    for id in &ids {
        match batcher.poll(id, false).await.unwrap() {
            Polled::Job(j) => assert_eq!(&j.id, id),
            Polled::Missing => panic!("{id} missing"),
        }
    }
    assert_eq!(sim.faults.stats().calls["query_snapshot_jobs"], 3);
    // Asked for on purpose, a job is read on its own.
    batcher.poll(&ids[0], true).await.unwrap();
    assert_eq!(sim.faults.stats().calls["query_snapshot_jobs"], 4);
    assert_eq!(batcher.len(), 30);
    // A job the service does not know leaves the batch once its object has heard so.
    assert_eq!(
        batcher.poll(&"0".repeat(32), true).await.unwrap(),
        Polled::Missing
    );
    assert_eq!(batcher.len(), 30);
}
