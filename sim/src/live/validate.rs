//! The checks the real API applies to a template before storing it, with its error messages.

use live_snapshot_operator::clouds::huawei::LiveSnapshotConfig;

pub const TIME_PLACEHOLDERS: [&str; 4] = [
    "{{.unix_time}}",
    "{{.unix_time_milli}}",
    "{{.fmt_time_utc}}",
    "{{.fmt_time_local}}",
];
pub const OTHER_PLACEHOLDERS: [&str; 4] =
    ["{{.obs_object}}", "{{.domain}}", "{{.app}}", "{{.stream}}"];

/// Returns the first problem found, phrased like the service's `error_msg`.
pub fn validate(c: &LiveSnapshotConfig) -> Result<(), String> {
    len("domain", &c.domain, 1, 255)?;
    len("app_name", &c.app_name, 1, 128)?;
    if let Some(k) = &c.auth_key {
        len("auth_key", k, 32, 128)?;
    }
    if !(5..=3600).contains(&c.time_interval) {
        return Err(format!(
            "time_interval {} is out of range [5, 3600]",
            c.time_interval
        ));
    }
    let mode = c.object_write_mode.unwrap_or(0);
    if !matches!(mode, 0 | 1) {
        return Err(format!("object_write_mode {mode} is not 0 or 1"));
    }
    one_of(
        "snapshot_mode",
        c.snapshot_mode.as_deref(),
        &["keyframe", "nokeyframe", "random"],
    )?;
    len("obs_location.bucket", &c.obs_location.bucket, 1, 64)?;
    len("obs_location.location", &c.obs_location.location, 1, 128)?;
    len("obs_location.object", &c.obs_location.object, 1, 1024)?;
    one_of(
        "call_back_enable",
        c.call_back_enable.as_deref(),
        &["on", "off"],
    )?;
    if let Some(url) = &c.call_back_url {
        http_url("call_back_url", url)?;
    }
    if c.call_back_enable.as_deref() == Some("on")
        && c.call_back_url.as_deref().unwrap_or("").is_empty()
    {
        return Err("call_back_url is required when call_back_enable is on".into());
    }
    if let Some(fmt) = &c.image_object_format {
        image_format(fmt, mode)?;
    }
    one_of(
        "image_access_protocol",
        c.image_access_protocol.as_deref(),
        &["http", "https"],
    )?;
    if let Some(d) = &c.image_access_domain {
        len("image_access_domain", d, 0, 255)?;
    }
    Ok(())
}

fn len(field: &str, v: &str, min: usize, max: usize) -> Result<(), String> {
    let n = v.chars().count();
    if n < min || n > max {
        return Err(format!("{field} length {n} is out of range [{min}, {max}]"));
    }
    Ok(())
}

fn one_of(field: &str, v: Option<&str>, allowed: &[&str]) -> Result<(), String> {
    match v {
        Some(v) if !allowed.contains(&v) => Err(format!(
            "{field} {v:?} is not one of {}",
            allowed.join(", ")
        )),
        _ => Ok(()),
    }
}

fn http_url(field: &str, v: &str) -> Result<(), String> {
    match url::Url::parse(v) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Ok(()),
        _ => Err(format!("{field} {v:?} is not an http or https URL")),
    }
}

/// Every `{{...}}` must be a known placeholder; full mode needs exactly one time placeholder,
/// overwrite mode allows none (the file name would never repeat, defeating overwrite).
fn image_format(fmt: &str, mode: i64) -> Result<(), String> {
    let mut rest = fmt;
    let mut times = 0;
    while let Some(start) = rest.find("{{") {
        let Some(end) = rest[start..].find("}}") else {
            return Err(format!(
                "image_object_format {fmt:?} has an unclosed placeholder"
            ));
        };
        let ph = &rest[start..start + end + 2];
        if TIME_PLACEHOLDERS.contains(&ph) {
            times += 1;
        } else if !OTHER_PLACEHOLDERS.contains(&ph) {
            return Err(format!("image_object_format placeholder {ph} is unknown"));
        }
        rest = &rest[start + end + 2..];
    }
    match (mode, times) {
        (0, 1) | (1, 0) => Ok(()),
        (0, _) => {
            Err("image_object_format must hold exactly one time placeholder in full mode".into())
        }
        _ => Err("image_object_format must not hold a time placeholder in overwrite mode".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use live_snapshot_operator::clouds::huawei::ObsLocation;

    fn ok() -> LiveSnapshotConfig {
        LiveSnapshotConfig {
            domain: "push.example.com".into(),
            app_name: "live".into(),
            time_interval: 10,
            obs_location: ObsLocation {
                bucket: "b".into(),
                location: "cn-north-4".into(),
                object: "s/".into(),
            },
            ..Default::default()
        }
    }

    type Mutation = Box<dyn Fn(&mut LiveSnapshotConfig)>;

    #[test]
    fn accepts_minimal_and_rejects_each_rule() {
        assert!(validate(&ok()).is_ok());
        let cases: Vec<(&str, Mutation)> = vec![
            ("domain", Box::new(|c| c.domain.clear())),
            ("app_name", Box::new(|c| c.app_name = "a".repeat(129))),
            ("auth_key", Box::new(|c| c.auth_key = Some("short".into()))),
            ("time_interval", Box::new(|c| c.time_interval = 4)),
            ("time_interval", Box::new(|c| c.time_interval = 3601)),
            (
                "object_write_mode",
                Box::new(|c| c.object_write_mode = Some(2)),
            ),
            (
                "snapshot_mode",
                Box::new(|c| c.snapshot_mode = Some("all".into())),
            ),
            (
                "bucket",
                Box::new(|c| c.obs_location.bucket = "b".repeat(65)),
            ),
            ("location", Box::new(|c| c.obs_location.location.clear())),
            (
                "call_back_enable",
                Box::new(|c| c.call_back_enable = Some("yes".into())),
            ),
            (
                "call_back_url",
                Box::new(|c| c.call_back_url = Some("ftp://x".into())),
            ),
            (
                "required when",
                Box::new(|c| c.call_back_enable = Some("on".into())),
            ),
            (
                "time placeholder",
                Box::new(|c| c.image_object_format = Some("{{.stream}}".into())),
            ),
            (
                "unknown",
                Box::new(|c| c.image_object_format = Some("{{.nope}}".into())),
            ),
            (
                "image_access_protocol",
                Box::new(|c| c.image_access_protocol = Some("ftp".into())),
            ),
        ];
        for (want, mutate) in cases {
            let mut c = ok();
            mutate(&mut c);
            let err = validate(&c).expect_err(want);
            assert!(err.contains(want), "{err} should mention {want}");
        }
        let mut c = ok();
        c.object_write_mode = Some(1);
        c.image_object_format = Some("{{.stream}}".into());
        assert!(validate(&c).is_ok());
        c.object_write_mode = Some(0);
        c.image_object_format = Some("{{.stream}}-{{.unix_time}}".into());
        assert!(validate(&c).is_ok());
    }
}
