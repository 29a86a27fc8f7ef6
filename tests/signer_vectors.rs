//! The signing vectors from docs/live-api.md (produced by the official SDK signers), plus
//! property tests: anything signs without panicking, and query order never matters.

use live_snapshot_operator::clouds::huawei::signer::{self, SignableRequest};
use proptest::prelude::*;

const AK: &str = "HPUAEXAMPLEAK0000001";
const SK: &str = "exampleSecretKey0123456789abcdefghijklmn";
const HOST: &str = "live.cn-north-4.myhuaweicloud.com";
const PROJECT: &str = "0123456789abcdef0123456789abcdef";
const DATE: &str = "20261123T080000Z";

fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn live_headers(content_type: &str) -> Vec<(String, String)> {
    q(&[
        ("Content-Type", content_type),
        ("Host", HOST),
        ("X-Project-Id", PROJECT),
        ("X-Sdk-Date", DATE),
    ])
}

#[test]
fn official_sdk_list_vector() {
    let path = format!("/v1/{PROJECT}/stream/snapshot");
    let query = q(&[
        ("app_name", "live"),
        ("domain", "push.example.com"),
        ("limit", "100"),
        ("offset", "0"),
    ]);
    let headers = live_headers("application/json");
    let req = SignableRequest {
        method: "GET",
        path: &path,
        query: &query,
        headers: &headers,
        body: b"",
    };
    let auth = signer::authorization(AK, SK, DATE, &req);
    assert_eq!(
        auth,
        format!(
            "SDK-HMAC-SHA256 Access={AK}, SignedHeaders=content-type;host;x-project-id;x-sdk-date, \
             Signature=e80282d848f5e7f2cc9de04e67e54a802001224f1cbe54c1137d14b809aa6946"
        )
    );
}

#[test]
fn official_sdk_create_vector() {
    let path = format!("/v1/{PROJECT}/stream/snapshot");
    let body = br#"{"domain":"push.example.com","app_name":"live","time_interval":10,"object_write_mode":0,"obs_location":{"bucket":"snap-bucket","location":"cn-north-4","object":"snapshots/"}}"#;
    let headers = live_headers("application/json; charset=UTF-8");
    let req = SignableRequest {
        method: "POST",
        path: &path,
        query: &[],
        headers: &headers,
        body,
    };
    let signed = signer::signed_header_names(&headers);
    assert_eq!(
        signed.join(";"),
        "content-type;host;x-project-id;x-sdk-date"
    );
    assert_eq!(
        signer::signature(SK, DATE, &req, &signed),
        "0ece84d785d8041e17506f741494d3a2604902ed68a1f96d601b2a608bf18dad"
    );
}

#[test]
fn go_sdk_vector_and_canonical_request() {
    let query = q(&[("limit", "1")]);
    let headers = q(&[("X-Sdk-Date", "20060102T150405Z")]);
    let req = SignableRequest {
        method: "GET",
        path: "/path",
        query: &query,
        headers: &headers,
        body: b"",
    };
    let signed = signer::signed_header_names(&headers);
    assert_eq!(
        signer::canonical_request(&req, &signed),
        "GET\n/path/\nlimit=1\nx-sdk-date:20060102T150405Z\n\nx-sdk-date\n\
         e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        signer::signature("SecretKey", "20060102T150405Z", &req, &signed),
        "5a2ce64c865e0e6046321c6f3d5a77ba8413eeaf355c3166c03d58d02ac79624"
    );
}

#[test]
fn query_escaping_vector() {
    let query = q(&[
        ("limit", "1"),
        ("enable", "true"),
        ("test", "一 (&=?!#%.*)"),
        ("path", "/tmp/123"),
        ("multi", "3"),
        ("multi", "1"),
        ("multi", "2"),
    ]);
    assert_eq!(
        signer::canonical_query(&query),
        "enable=true&limit=1&multi=1&multi=2&multi=3&path=%2Ftmp%2F123&test=%E4%B8%80%20%28%26%3D%3F%21%23%25.%2A%29"
    );
}

#[test]
fn public_guide_vector() {
    let query = q(&[
        ("limit", "2"),
        ("marker", "13551d6b-755d-4757-b956-536f674975c0"),
    ]);
    let headers = q(&[
        ("content-type", "application/json"),
        ("host", "service.region.example.com"),
        ("x-sdk-date", "20191115T033655Z"),
    ]);
    let req = SignableRequest {
        method: "GET",
        path: "/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs",
        query: &query,
        headers: &headers,
        body: b"",
    };
    let signed = signer::signed_header_names(&headers);
    assert_eq!(
        signer::signature(
            "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc",
            "20191115T033655Z",
            &req,
            &signed
        ),
        "7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe"
    );
}

#[test]
fn headers_with_underscore_are_not_signed_and_authorization_parses() {
    let headers = q(&[("X_Custom", "1"), ("X-Sdk-Date", DATE), ("Host", HOST)]);
    assert_eq!(
        signer::signed_header_names(&headers),
        vec!["host", "x-sdk-date"]
    );
    let req = SignableRequest {
        method: "DELETE",
        path: "/a",
        query: &[],
        headers: &headers,
        body: b"",
    };
    let auth = signer::authorization(AK, SK, DATE, &req);
    let parsed = signer::parse_authorization(&auth).expect("parses");
    assert_eq!(parsed.access, AK);
    assert!(signer::verify(
        SK,
        DATE,
        &req,
        &parsed.signed_headers,
        &parsed.signature
    ));
    assert!(!signer::verify(
        "other",
        DATE,
        &req,
        &parsed.signed_headers,
        &parsed.signature
    ));
}

proptest! {
    #[test]
    fn anything_signs_and_query_order_does_not_matter(
        method in "[A-Za-z]{1,8}",
        path in "(/[^/]{0,12}){0,5}",
        mut query in proptest::collection::vec(("\\PC{0,10}", "\\PC{0,10}"), 0..6),
        headers in proptest::collection::vec(("[A-Za-z_-]{1,12}", "\\PC{0,20}"), 0..5),
        body in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut headers = headers;
        headers.push(("X-Sdk-Date".into(), DATE.into()));
        let req = SignableRequest { method: &method, path: &path, query: &query, headers: &headers, body: &body };
        let a = signer::authorization(AK, SK, DATE, &req);
        query.reverse();
        let req2 = SignableRequest { method: &method, path: &path, query: &query, headers: &headers, body: &body };
        prop_assert_eq!(a, signer::authorization(AK, SK, DATE, &req2));
    }
}

/// docs/vod-api.md V1-V6: the same signer over the VOD routes, with the minimal header set and
/// with the full Python client's (which also signs its User-Agent).
#[test]
fn official_vod_sdk_vectors() {
    const VOD_HOST: &str = "vod.cn-north-4.myhuaweicloud.com";
    let cover = br#"{"thumbnailUrl": "https://355.cdn-vod.huaweicloud.com/shield/asset/6e76f92034ceae2fcdcef9413221511f/snapshot/sample/0.jpg"}"#;
    assert_eq!(cover.len(), 123);
    let details = format!("/v1/{PROJECT}/asset/thumbnail/details");
    let cover_path = format!("/v1.0/{PROJECT}/asset/cover");
    let asset = format!("/v1.0/{PROJECT}/asset/details");
    let details_q = q(&[
        ("task_id", "7d3c1f0e2a4b4c5d8e9f0a1b2c3d4e5f"),
        ("offset", "0"),
        ("limit", "100"),
    ]);
    let asset_q = q(&[
        ("categories", "thumbnail_info"),
        ("asset_id", "6e76f92034ceae2fcdcef9413221511f"),
        ("categories", "base_info"),
    ]);
    type Case<'a> = (
        &'a str,
        &'a str,
        &'a [(String, String)],
        &'a [u8],
        &'a str,
        &'a str,
    );
    let cases: [Case; 3] = [
        (
            "GET",
            &details,
            &details_q,
            b"",
            "a817ed41d9ec4c50cd26f261507518e6cbf3cc54a92379c2efb30a24d6715c6e",
            "1428924d2cea65efe6dfcac6fa667e1ac52d523366103928e6c507e1f5f394d3",
        ),
        (
            "PUT",
            &cover_path,
            &[],
            cover,
            "c9165febd96385f8b96a622d0f39939e58eeb33ae0c17356418e41afd9791dc6",
            "51fc36da5b69d24ed4c2781f55d581363b75f179d4ffe49a29f81732be765ba6",
        ),
        (
            "GET",
            &asset,
            &asset_q,
            b"",
            "4e982fbc1bdfec234a44751c664bb906bea166c589dd544c0136b49823ee59f4",
            "05c1f08d357a847359e26e4dc0f5f91f7e8bfb88bafbfef697e55fa2f1fb058d",
        ),
    ];
    for (method, path, query, body, minimal, python) in cases {
        for (with_agent, want) in [(false, minimal), (true, python)] {
            let mut headers = q(&[
                ("Content-Type", "application/json"),
                ("Host", VOD_HOST),
                ("X-Project-Id", PROJECT),
                ("X-Sdk-Date", DATE),
            ]);
            if with_agent {
                headers.push(("User-Agent".into(), "huaweicloud-usdk-python/3.0".into()));
            }
            let req = SignableRequest {
                method,
                path,
                query,
                headers: &headers,
                body,
            };
            let signed = signer::signed_header_names(&headers);
            assert_eq!(
                signer::signature(SK, DATE, &req, &signed),
                want,
                "{method} {path} (user agent signed: {with_agent})"
            );
        }
    }
}
