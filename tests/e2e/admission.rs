//! What the API server itself refuses, from the CRD's schema and CEL rules: at least one case
//! per rule, each with the message a person will read.

use std::sync::Arc;

use kube::api::{Patch, PatchParams};
use serde_json::json;

use crate::harness::{Scenario, Shared, spec, with};

fn refused(result: Result<kube::api::DynamicObject, kube::Error>) -> String {
    match result {
        Ok(o) => panic!("accepted an invalid object: {:?}", o.data),
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.code, 422, "refused as Invalid: {}", s.message);
            s.message
        }
        Err(e) => panic!("unexpected error: {e}"),
    }
}

pub async fn invalid_manifests_are_refused(shared: Arc<Shared>) {
    let s = Scenario::new(shared, "admission").await;
    let long = |n: usize| "x".repeat(n);
    let cases = vec![
        (
            "interval-low",
            json!({"timeInterval": 4}),
            "should be greater than or equal to 5",
        ),
        (
            "interval-high",
            json!({"timeInterval": 3601}),
            "should be less than or equal to 3600",
        ),
        (
            "mode",
            json!({"snapshotMode": "every"}),
            "Unsupported value: \"every\"",
        ),
        (
            "write-mode",
            json!({"objectWriteMode": "Append"}),
            "Unsupported value: \"Append\"",
        ),
        (
            "deletion-policy",
            json!({"deletionPolicy": "Keep"}),
            "Unsupported value: \"Keep\"",
        ),
        (
            "management-policy",
            json!({"managementPolicy": "Sometimes"}),
            "Unsupported value: \"Sometimes\"",
        ),
        (
            "protocol",
            json!({"imageAccessProtocol": "ftp"}),
            "Unsupported value: \"ftp\"",
        ),
        (
            "bucket",
            json!({"obsLocation": {"bucket": long(65)}}),
            "spec.obsLocation.bucket: Too long",
        ),
        (
            "object",
            json!({"obsLocation": {"object": ""}}),
            "spec.obsLocation.object",
        ),
        ("domain-empty", json!({"domain": ""}), "spec.domain"),
        (
            "app-long",
            json!({"appName": long(129)}),
            "spec.appName: Too long",
        ),
        (
            "access-domain",
            json!({"imageAccessDomain": long(256)}),
            "spec.imageAccessDomain: Too long",
        ),
        (
            "cb-no-url",
            json!({"callback": {"enabled": true}}),
            "callback.url is required when callback.enabled is true",
        ),
        (
            "cb-scheme",
            json!({"callback": {"enabled": true, "url": "ftp://hooks.example.com"}}),
            "callback.url must be an absolute http:// or https:// URL",
        ),
        (
            "cb-relative",
            json!({"callback": {"url": "/snap"}}),
            "callback.url must be an absolute http:// or https:// URL",
        ),
        (
            "full-no-time",
            json!({"imageObjectFormat": "{{.stream}}"}),
            "must hold exactly one time placeholder",
        ),
        (
            "full-two-times",
            json!({"imageObjectFormat": "{{.unix_time}}-{{.fmt_time_utc}}"}),
            "must hold exactly one time placeholder",
        ),
        (
            "overwrite-time",
            json!({"objectWriteMode": "Overwrite", "imageObjectFormat": "{{.stream}}-{{.unix_time}}"}),
            "must not hold a time placeholder",
        ),
        (
            "placeholder",
            json!({"imageObjectFormat": "{{.unix_time}}-{{.nope}}"}),
            "may only use the placeholders",
        ),
        (
            "upper-domain",
            json!({"domain": "Push.Example.com"}),
            "domain must be written in lower case",
        ),
    ];
    for (name, patch, want) in cases {
        let msg = refused(s.create_json(name, with(spec(name), patch)).await);
        assert!(msg.contains(want), "{name}: expected {want:?} in {msg:?}");
    }
    let mut missing = spec("missing");
    missing.as_object_mut().unwrap().remove("obsLocation");
    let msg = refused(s.create_json("missing", missing).await);
    assert!(msg.contains("spec.obsLocation: Required value"), "{msg}");

    // Valid edge values pass, and defaults are filled in by the API server.
    s.create("edges", with(spec("edges"), json!({"timeInterval": 3600, "objectWriteMode": "Overwrite", "imageObjectFormat": "{{.app}}/{{.stream}}"}))).await;
    let o = s.get("edges").await;
    assert_eq!(
        serde_json::to_value(o.spec.snapshot_mode).unwrap(),
        "keyframe"
    );
    assert_eq!(
        serde_json::to_value(o.spec.deletion_policy).unwrap(),
        "Delete"
    );

    // Identity is immutable.
    for (field, value, want) in [
        ("domain", "other.example.com", "domain is immutable"),
        ("appName", "other", "appName is immutable"),
    ] {
        let err = s
            .api()
            .patch(
                "edges",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {field: value}})),
            )
            .await
            .expect_err("identity change refused");
        assert!(err.to_string().contains(want), "{err}");
    }
    s.patch_spec("edges", json!({"timeInterval": 5})).await;
}
