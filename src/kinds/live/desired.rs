//! Pure domain logic, free of I/O: the upstream template a spec asks for, the fields in which
//! an observed template differs from it, and the observed template in the spec's vocabulary.

use crate::clouds::huawei::{LiveSnapshotConfig, ObsLocation};
use crate::kinds::live::resource::{
    AtProvider, FieldDrift, LiveSnapshotTemplateSpec, ObjectWriteMode, ObsLocationSpec,
};

/// What the spec asks of upstream. Fields the user left unset are `None`: they are neither sent
/// nor compared, so server-side defaults never show up as drift.
pub fn desired(spec: &LiveSnapshotTemplateSpec, auth_key: Option<String>) -> LiveSnapshotConfig {
    let callback = spec.callback.as_ref();
    LiveSnapshotConfig {
        domain: spec.domain.clone(),
        app_name: spec.app_name.clone(),
        auth_key,
        time_interval: i64::from(spec.time_interval),
        object_write_mode: Some(spec.object_write_mode.as_upstream()),
        snapshot_mode: Some(spec.snapshot_mode.as_upstream().to_string()),
        obs_location: ObsLocation {
            bucket: spec.obs_location.bucket.clone(),
            location: spec.obs_location.location.clone(),
            object: spec.obs_location.object.clone(),
        },
        call_back_enable: callback.map(|c| if c.enabled { "on" } else { "off" }.to_string()),
        call_back_url: callback.and_then(|c| c.url.clone()),
        image_object_format: spec.image_object_format.clone(),
        image_access_protocol: spec
            .image_access_protocol
            .map(|p| p.as_upstream().to_string()),
        image_access_domain: spec.image_access_domain.clone(),
    }
}

/// Fields that differ, comparing only what `desired` sets. Upstream defaults are normalised:
/// an absent write mode is 0 (Full), an absent snapshot mode is keyframe, an absent callback
/// switch is off. Key values are never copied into the result.
pub fn diff(desired: &LiveSnapshotConfig, observed: &LiveSnapshotConfig) -> Vec<FieldDrift> {
    let mut out = Vec::new();
    let mut cmp = |field: &str, want: Option<String>, have: Option<String>| {
        if let Some(want) = want
            && Some(&want) != have.as_ref()
        {
            out.push(FieldDrift {
                field: field.into(),
                desired: want,
                observed: have.unwrap_or_else(|| "<unset>".into()),
            });
        }
    };
    cmp(
        "timeInterval",
        Some(desired.time_interval.to_string()),
        Some(observed.time_interval.to_string()),
    );
    cmp(
        "snapshotMode",
        desired.snapshot_mode.clone(),
        Some(
            observed
                .snapshot_mode
                .clone()
                .unwrap_or_else(|| "keyframe".into()),
        ),
    );
    cmp(
        "objectWriteMode",
        desired.object_write_mode.map(write_mode_name),
        Some(write_mode_name(observed.object_write_mode.unwrap_or(0))),
    );
    cmp(
        "obsLocation.bucket",
        Some(desired.obs_location.bucket.clone()),
        Some(observed.obs_location.bucket.clone()),
    );
    cmp(
        "obsLocation.location",
        Some(desired.obs_location.location.clone()),
        Some(observed.obs_location.location.clone()),
    );
    cmp(
        "obsLocation.object",
        Some(desired.obs_location.object.clone()),
        Some(observed.obs_location.object.clone()),
    );
    cmp(
        "imageObjectFormat",
        desired.image_object_format.clone(),
        observed.image_object_format.clone(),
    );
    cmp(
        "imageAccessProtocol",
        desired.image_access_protocol.clone(),
        observed.image_access_protocol.clone(),
    );
    cmp(
        "imageAccessDomain",
        desired.image_access_domain.clone(),
        observed.image_access_domain.clone(),
    );
    cmp(
        "callback.enabled",
        desired
            .call_back_enable
            .as_ref()
            .map(|v| (v == "on").to_string()),
        Some((observed.call_back_enable.as_deref() == Some("on")).to_string()),
    );
    cmp(
        "callback.url",
        desired.call_back_url.clone(),
        observed.call_back_url.clone(),
    );
    // The key can only be compared when upstream shows it; the values never leave this function.
    if let (Some(want), Some(have)) = (&desired.auth_key, &observed.auth_key)
        && want != have
    {
        out.push(FieldDrift {
            field: "callback.authKeySecretRef".into(),
            desired: "<key from Secret>".into(),
            observed: "<a different key>".into(),
        });
    }
    out
}

/// The body of an update: the observed template with every field the spec sets replaced, so
/// that fields the user leaves to upstream are kept as they are.
pub fn merged_update(
    desired: &LiveSnapshotConfig,
    observed: &LiveSnapshotConfig,
) -> LiveSnapshotConfig {
    let mut out = observed.clone();
    out.time_interval = desired.time_interval;
    out.obs_location = desired.obs_location.clone();
    let keep = |want: &Option<String>, have: &Option<String>| want.clone().or_else(|| have.clone());
    out.object_write_mode = desired.object_write_mode.or(observed.object_write_mode);
    out.snapshot_mode = keep(&desired.snapshot_mode, &observed.snapshot_mode);
    out.call_back_enable = keep(&desired.call_back_enable, &observed.call_back_enable);
    out.call_back_url = keep(&desired.call_back_url, &observed.call_back_url);
    out.auth_key = keep(&desired.auth_key, &observed.auth_key);
    out.image_object_format = keep(&desired.image_object_format, &observed.image_object_format);
    out.image_access_protocol = keep(
        &desired.image_access_protocol,
        &observed.image_access_protocol,
    );
    out.image_access_domain = keep(&desired.image_access_domain, &observed.image_access_domain);
    out
}

pub fn write_mode_name(v: i64) -> String {
    match ObjectWriteMode::from_upstream(v) {
        Some(ObjectWriteMode::Full) => "Full".into(),
        Some(ObjectWriteMode::Overwrite) => "Overwrite".into(),
        None => v.to_string(),
    }
}

/// The observed template as status shows it: spec vocabulary, no key.
pub fn at_provider(observed: &LiveSnapshotConfig) -> AtProvider {
    AtProvider {
        domain: observed.domain.clone(),
        app_name: observed.app_name.clone(),
        time_interval: observed.time_interval,
        snapshot_mode: observed.snapshot_mode.clone(),
        object_write_mode: observed.object_write_mode.map(write_mode_name),
        obs_location: ObsLocationSpec {
            bucket: observed.obs_location.bucket.clone(),
            location: observed.obs_location.location.clone(),
            object: observed.obs_location.object.clone(),
        },
        image_object_format: observed.image_object_format.clone(),
        image_access_protocol: observed.image_access_protocol.clone(),
        image_access_domain: observed.image_access_domain.clone(),
        callback_enabled: observed.call_back_enable.as_ref().map(|v| v == "on"),
        callback_url: observed.call_back_url.clone(),
        callback_auth_key_set: observed.auth_key.as_ref().is_some_and(|k| !k.is_empty()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::live::resource::*;

    fn spec() -> LiveSnapshotTemplateSpec {
        LiveSnapshotTemplateSpec {
            domain: "push.example.com".into(),
            app_name: "live".into(),
            time_interval: 10,
            snapshot_mode: SnapshotMode::Keyframe,
            object_write_mode: ObjectWriteMode::Full,
            obs_location: ObsLocationSpec {
                bucket: "b".into(),
                location: "cn-north-4".into(),
                object: "s/".into(),
            },
            image_object_format: None,
            image_access_protocol: None,
            image_access_domain: None,
            adoption_policy: AdoptionPolicy::Never,
            callback: None,
            deletion_policy: DeletionPolicy::Delete,
            management_policy: ManagementPolicy::Manage,
            credentials_secret_ref: None,
        }
    }

    #[test]
    fn in_sync_after_normalising_upstream_defaults() {
        let want = desired(&spec(), None);
        let mut seen = want.clone();
        seen.object_write_mode = None;
        seen.snapshot_mode = None;
        seen.image_object_format = Some("server-default".into());
        seen.call_back_enable = Some("on".into());
        assert!(diff(&want, &seen).is_empty(), "{:?}", diff(&want, &seen));
    }

    #[test]
    fn reports_each_differing_field_without_keys() {
        let mut s = spec();
        s.callback = Some(CallbackSpec {
            enabled: true,
            url: Some("https://cb.example.com/x".into()),
            auth_key_secret_ref: None,
        });
        let want = desired(&s, Some("k".repeat(32)));
        let mut seen = want.clone();
        seen.time_interval = 20;
        seen.obs_location.bucket = "other".into();
        seen.call_back_enable = Some("off".into());
        seen.auth_key = Some("z".repeat(32));
        let d = diff(&want, &seen);
        let fields: Vec<_> = d.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "timeInterval",
                "obsLocation.bucket",
                "callback.enabled",
                "callback.authKeySecretRef"
            ]
        );
        assert_eq!(
            (d[0].desired.as_str(), d[0].observed.as_str()),
            ("10", "20")
        );
        let shown = format!("{d:?}");
        assert!(!shown.contains(&"k".repeat(32)) && !shown.contains(&"z".repeat(32)));
    }

    #[test]
    fn update_keeps_fields_the_spec_leaves_unset() {
        let want = desired(&spec(), None);
        let mut seen = want.clone();
        seen.time_interval = 99;
        seen.image_access_domain = Some("img.example.com".into());
        seen.call_back_url = Some("https://keep.example.com".into());
        let body = merged_update(&want, &seen);
        assert_eq!(body.time_interval, 10);
        assert_eq!(body.image_access_domain.as_deref(), Some("img.example.com"));
        assert_eq!(
            body.call_back_url.as_deref(),
            Some("https://keep.example.com")
        );
        assert!(diff(&want, &body).is_empty());
    }

    #[test]
    fn at_provider_hides_the_key() {
        let seen = desired(&spec(), Some("secret-key-value-0123456789abcdef".into()));
        let a = at_provider(&seen);
        assert!(a.callback_auth_key_set);
        assert!(
            !serde_json::to_string(&a)
                .unwrap()
                .contains("secret-key-value")
        );
        assert_eq!(a.object_write_mode.as_deref(), Some("Full"));
    }
}
