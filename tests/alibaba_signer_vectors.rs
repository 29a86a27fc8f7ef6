//! Every signing vector of mps-api.md, produced by the official Alibaba Cloud Python SDK
//! (`alibabacloud-tea-openapi` 0.4.6): ACS3-HMAC-SHA256 as the full client signs (M1-M3) and
//! with the minimal header set (M4-M5), RPC v1 HMAC-SHA1 (M6-M8), and the public v1 example of
//! Alibaba's signature guide; plus properties any parameters must keep.

use live_snapshot_operator::clouds::alibaba::signer::*;
use proptest::prelude::*;

const AK: &str = "LTAI5tExampleAccessKey01";
const SECRET: &str = "ExampleAccessKeySecret0123456789abcd";
const HOST: &str = "mts.cn-shanghai.aliyuncs.com";
const DATE: &str = "2026-11-23T08:00:00Z";
const NONCE: &str = "3a6f1c2e9b8d4f7a0c5e1b2d3f4a5b6c";
const UA: &str = "AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2";
const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn q1() -> Vec<(String, String)> {
    pairs(&[(
        "SnapshotJobIds",
        "72dfa5e679ab4be9a3ed9974c736aaaa,cc6cbef8e8d5481ca536f5d2a466bbbb",
    )])
}

fn q2() -> Vec<(String, String)> {
    pairs(&[
        ("State", "Success"),
        ("StartOfJobCreatedTimeRange", "2026-11-01T00:00:00Z"),
        ("EndOfJobCreatedTimeRange", "2026-11-23T00:00:00Z"),
        ("PipelineId", "b11c171cced04565b1f38f1ecc39aaaa"),
        ("MaximumPageSize", "30"),
        ("NextPageToken", "cc6cbef8e8d5481ca536f5d2a466cccc"),
    ])
}

fn s() -> Vec<(String, String)> {
    pairs(&[
        (
            "Input",
            r#"{"Bucket":"example-bucket","Location":"oss-cn-shanghai","Object":"input%2Fdemo.mp4"}"#,
        ),
        (
            "SnapshotConfig",
            r#"{"OutputFile":{"Bucket":"example-bucket","Location":"oss-cn-shanghai","Object":"snapshots%2Fdemo.jpg"},"Time":"5000"}"#,
        ),
        ("PipelineId", "b11c171cced04565b1f38f1ecc39aaaa"),
        ("UserData", "cover-demo-001"),
    ])
}

/// The headers the Python client sends and signs.
fn client_headers(action: &str) -> Vec<(String, String)> {
    pairs(&[
        ("host", HOST),
        ("x-acs-version", VERSION),
        ("x-acs-action", action),
        ("user-agent", UA),
        ("x-acs-date", DATE),
        ("x-acs-signature-nonce", NONCE),
        ("accept", "application/json"),
        ("x-acs-content-sha256", EMPTY),
        ("x-acs-credentials-provider", "static_ak"),
    ])
}

fn minimal_headers(action: &str) -> Vec<(String, String)> {
    pairs(&[
        ("host", HOST),
        ("x-acs-action", action),
        ("x-acs-content-sha256", EMPTY),
        ("x-acs-date", DATE),
        ("x-acs-signature-nonce", NONCE),
        ("x-acs-version", VERSION),
    ])
}

fn v3(query: &[(String, String)], headers: &[(String, String)]) -> (String, String) {
    let req = Acs3Request {
        method: "POST",
        path: "/",
        query,
        headers,
        payload_hash: EMPTY,
    };
    let (canonical, _) = acs3_canonical(&req);
    let to_sign = acs3_string_to_sign(&canonical);
    (
        hex_sha256(canonical.as_bytes()),
        acs3_signature(SECRET, &to_sign),
    )
}

#[test]
fn m1_query_by_id_as_the_client_signs_it() {
    let headers = client_headers("QuerySnapshotJobList");
    let req = Acs3Request {
        method: "POST",
        path: "/",
        query: &q1(),
        headers: &headers,
        payload_hash: EMPTY,
    };
    let (canonical, names) = acs3_canonical(&req);
    assert_eq!(
        canonical,
        format!(
            "POST\n/\nSnapshotJobIds=72dfa5e679ab4be9a3ed9974c736aaaa%2Ccc6cbef8e8d5481ca536f5d2a466bbbb\naccept:application/json\nhost:{HOST}\nuser-agent:{UA}\nx-acs-action:QuerySnapshotJobList\nx-acs-content-sha256:{EMPTY}\nx-acs-credentials-provider:static_ak\nx-acs-date:{DATE}\nx-acs-signature-nonce:{NONCE}\nx-acs-version:2014-06-18\n\naccept;host;user-agent;x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;x-acs-date;x-acs-signature-nonce;x-acs-version\n{EMPTY}"
        )
    );
    assert_eq!(
        acs3_string_to_sign(&canonical),
        "ACS3-HMAC-SHA256\n351aee213c10de5a7c1cb22f0fd6de6cbed9d9c4ed0d8482ec9794370f82cc09"
    );
    assert_eq!(
        acs3_authorization(AK, SECRET, &req),
        format!(
            "ACS3-HMAC-SHA256 Credential={AK},SignedHeaders={names},Signature=0329848544450de652ea3d3ee0117b0dc4146a594623b8f1b42ca8c46a66d2f2"
        )
    );
}

#[test]
fn m2_paged_query_and_m3_submit_as_the_client_signs_them() {
    assert_eq!(
        v3(&q2(), &client_headers("QuerySnapshotJobList")),
        (
            "31d8a3088095a4326ff3f8ce0d7b9fe6b1fba5da4c6ab3a3d05b971807c2698b".into(),
            "8e6e1976a5a3fdae6f811735f46e0ef3fb70537a45c0b488e2db2c4d05b668aa".into()
        )
    );
    assert_eq!(
        canonical_query(&s()),
        "Input=%7B%22Bucket%22%3A%22example-bucket%22%2C%22Location%22%3A%22oss-cn-shanghai%22%2C%22Object%22%3A%22input%252Fdemo.mp4%22%7D&PipelineId=b11c171cced04565b1f38f1ecc39aaaa&SnapshotConfig=%7B%22OutputFile%22%3A%7B%22Bucket%22%3A%22example-bucket%22%2C%22Location%22%3A%22oss-cn-shanghai%22%2C%22Object%22%3A%22snapshots%252Fdemo.jpg%22%7D%2C%22Time%22%3A%225000%22%7D&UserData=cover-demo-001"
    );
    assert_eq!(
        v3(&s(), &client_headers("SubmitSnapshotJob")),
        (
            "813a38ccf76cb8f2cc60fb3272b1889c5742f221eb3364718c7ff501dc934d53".into(),
            "78adaf48b81c7d471caea84a87adec8f476b7063cb28fd995fdefb23e79d4294".into()
        )
    );
}

#[test]
fn m4_m5_minimal_header_set() {
    assert_eq!(
        v3(&q1(), &minimal_headers("QuerySnapshotJobList")),
        (
            "40a896c2097c935aca8ffee1dcf24bbfa2121b0a1c8661361800dab8ebf3e069".into(),
            "7d20d1a4043a95306ea941f7bdbc3226d78b71c81ac160f9e105895413804f98".into()
        )
    );
    assert_eq!(
        v3(&s(), &minimal_headers("SubmitSnapshotJob")).1,
        "89a7e30339a90f711f283b51cc89fd34a92e2affe35d123ec2f533692cbd176f"
    );
}

fn rpc(action: &str, business: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut p = pairs(&[
        ("Action", action),
        ("Format", "json"),
        ("Version", VERSION),
        ("Timestamp", DATE),
        ("SignatureNonce", NONCE),
    ]);
    p.extend(business);
    p.extend(pairs(&[
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("AccessKeyId", AK),
    ]));
    p
}

#[test]
fn m6_m8_rpc_v1() {
    let q1 = rpc("QuerySnapshotJobList", q1());
    assert_eq!(
        rpc_string_to_sign("POST", &q1),
        "POST&%2F&AccessKeyId%3DLTAI5tExampleAccessKey01%26Action%3DQuerySnapshotJobList%26Format%3Djson%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3a6f1c2e9b8d4f7a0c5e1b2d3f4a5b6c%26SignatureVersion%3D1.0%26SnapshotJobIds%3D72dfa5e679ab4be9a3ed9974c736aaaa%252Ccc6cbef8e8d5481ca536f5d2a466bbbb%26Timestamp%3D2026-11-23T08%253A00%253A00Z%26Version%3D2014-06-18"
    );
    let sign = |p: &[(String, String)]| rpc_signature(SECRET, &rpc_string_to_sign("POST", p));
    assert_eq!(sign(&q1), "AyDDbLuNF1bOrrF8o86/vZXwZck=");
    assert_eq!(
        sign(&rpc("QuerySnapshotJobList", q2())),
        "Vopjn8gVL1Iv/5vvnVZXd1ZfB2M="
    );
    assert_eq!(
        sign(&rpc("SubmitSnapshotJob", s())),
        "MTiCH6GFniPB1zi/qDxLEay+Vjk="
    );
    // A Signature parameter already present is not signed.
    let mut signed = q1.clone();
    signed.push(("Signature".into(), "x".into()));
    assert_eq!(sign(&signed), "AyDDbLuNF1bOrrF8o86/vZXwZck=");
}

#[test]
fn the_public_v1_example_of_the_signature_guide() {
    let params = |ts: &str| {
        pairs(&[
            ("AccessKeyId", "testid"),
            ("Action", "DescribeRegions"),
            ("Format", "XML"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
            ("SignatureVersion", "1.0"),
            (ts, "2016-02-23T12:46:24Z"),
            ("Version", "2014-05-26"),
        ])
    };
    let sign = |p: &[(String, String)]| rpc_signature("testsecret", &rpc_string_to_sign("GET", p));
    assert_eq!(sign(&params("TimeStamp")), "CT9X0VtwR86fNWSnsc6v8YGOjuE=");
    assert_eq!(sign(&params("Timestamp")), "OLeaidS1JvxuMvnyHOwuJ+uX5qY=");
}

proptest! {
    /// Any parameters sign without panicking, and their order never changes the signature.
    #[test]
    fn any_parameters_sign_and_order_does_not_matter(
        mut query in proptest::collection::vec(("\\PC{0,10}", "\\PC{0,10}"), 0..6),
        secret in "\\PC{0,40}",
    ) {
        let headers = minimal_headers("QuerySnapshotJobList");
        let sign = |q: &[(String, String)]| {
            let req = Acs3Request { method: "POST", path: "/", query: q, headers: &headers, payload_hash: EMPTY };
            (
                acs3_authorization("ak", &secret, &req),
                rpc_signature(&secret, &rpc_string_to_sign("POST", q)),
            )
        };
        let before = sign(&query);
        query.reverse();
        prop_assert_eq!(before, sign(&query));
    }
}
