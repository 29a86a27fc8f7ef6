//! The CEL rules of this operator's CRDs, implemented in Rust for offline validation. Each is
//! looked up by its exact text, so a rule edited in `resource.rs` without its twin here makes
//! `validate` report an unknown rule and a unit test fail, rather than silently disagree.

use serde_json::Value;

const TIME: [&str; 4] = [
    "{{.unix_time}}",
    "{{.unix_time_milli}}",
    "{{.fmt_time_utc}}",
    "{{.fmt_time_local}}",
];
const ALLOWED: [&str; 8] = [
    "{{.obs_object}}",
    "{{.domain}}",
    "{{.app}}",
    "{{.stream}}",
    "{{.unix_time}}",
    "{{.unix_time_milli}}",
    "{{.fmt_time_utc}}",
    "{{.fmt_time_local}}",
];

const FULL_ONE_TIME: &str = "self.objectWriteMode != 'Full' || !has(self.imageObjectFormat) || self.imageObjectFormat.findAll('[{][{][.](unix_time|unix_time_milli|fmt_time_utc|fmt_time_local)[}][}]').size() == 1";
const OVERWRITE_NO_TIME: &str = "self.objectWriteMode != 'Overwrite' || !has(self.imageObjectFormat) || !self.imageObjectFormat.matches('[{][{][.](unix_time|unix_time_milli|fmt_time_utc|fmt_time_local)[}][}]')";
const KNOWN_PLACEHOLDERS: &str = "self.findAll('[{][{][^}]*[}][}]').all(p, p in ['{{.obs_object}}', '{{.domain}}', '{{.app}}', '{{.stream}}', '{{.unix_time}}', '{{.unix_time_milli}}', '{{.fmt_time_utc}}', '{{.fmt_time_local}}'])";
const CLOSED_PLACEHOLDERS: &str =
    "self.findAll('[{][{]').size() == self.findAll('[{][{][^}]*[}][}]').size()";
const CALLBACK_NEEDS_URL: &str = "!self.enabled || has(self.url)";
const HTTP_URL: &str =
    "isURL(self) && url(self).getScheme() in ['http', 'https'] && url(self).getHostname() != ''";

// VodAssetSnapshot.
const TIME_ONLY_FOR_TIME: &str = "self.type == 'time' || !has(self.time)";
const DOTS_FOR_DOTS: &str = "self.type == 'dots' ? has(self.dots) : !has(self.dots)";
const QUANTITY_FOR_QUANTITY: &str =
    "self.type == 'quantity' ? has(self.quantity) : !has(self.quantity) && !has(self.quantityTime)";
const DISTINCT_DOTS: &str = "self.all(d, self.filter(e, e == d).size() == 1)";
const ONE_COVER_CHOICE: &str = "has(self.offset) != has(self.index)";

// MpsSnapshotJob.
const REGION_ID: &str = "self.matches('^[a-z]{2,}(-[a-z0-9]+)+$')";
const TIME_POINTS_ALONE: &str =
    "!has(self.timePointsMs) || !(has(self.timeMs) || has(self.interval) || has(self.num))";

const RULES: [&str; 13] = [
    FULL_ONE_TIME,
    OVERWRITE_NO_TIME,
    KNOWN_PLACEHOLDERS,
    CLOSED_PLACEHOLDERS,
    CALLBACK_NEEDS_URL,
    HTTP_URL,
    TIME_ONLY_FOR_TIME,
    DOTS_FOR_DOTS,
    QUANTITY_FOR_QUANTITY,
    DISTINCT_DOTS,
    ONE_COVER_CHOICE,
    REGION_ID,
    TIME_POINTS_ALONE,
];

pub fn known(rule: &str) -> bool {
    RULES.contains(&rule)
}

/// The rule's verdict on `this` (CEL's `self`), or `None` for a rule this build does not know.
/// A value of the wrong shape evaluates to true: the schema check reports it instead.
pub fn evaluate(rule: &str, this: &Value) -> Option<bool> {
    let text = |v: &Value| v.as_str().map(str::to_string);
    // CEL's has(): the field is there and not null (the API server prunes nulls first).
    let has = |field: &str| this.get(field).is_some_and(|v| !v.is_null());
    let is_type = |t: &str| this["type"] == t;
    Some(match rule {
        FULL_ONE_TIME => {
            this["objectWriteMode"] != "Full"
                || text(&this["imageObjectFormat"]).is_none_or(|f| time_placeholders(&f) == 1)
        }
        OVERWRITE_NO_TIME => {
            this["objectWriteMode"] != "Overwrite"
                || text(&this["imageObjectFormat"]).is_none_or(|f| time_placeholders(&f) == 0)
        }
        KNOWN_PLACEHOLDERS => text(this).is_none_or(|f| {
            placeholders(&f)
                .iter()
                .all(|p| ALLOWED.contains(&p.as_str()))
        }),
        CLOSED_PLACEHOLDERS => {
            text(this).is_none_or(|f| f.matches("{{").count() == placeholders(&f).len())
        }
        CALLBACK_NEEDS_URL => {
            this["enabled"] != true || this.get("url").is_some_and(|u| !u.is_null())
        }
        HTTP_URL => text(this).is_none_or(|u| http_url(&u)),
        TIME_ONLY_FOR_TIME => is_type("time") || !has("time"),
        DOTS_FOR_DOTS => is_type("dots") == has("dots"),
        QUANTITY_FOR_QUANTITY => {
            if is_type("quantity") {
                has("quantity")
            } else {
                !has("quantity") && !has("quantityTime")
            }
        }
        DISTINCT_DOTS => this.as_array().is_none_or(|dots| {
            dots.iter()
                .all(|d| dots.iter().filter(|e| *e == d).count() == 1)
        }),
        ONE_COVER_CHOICE => has("offset") != has("index"),
        REGION_ID => text(this).is_none_or(|r| region_id(&r)),
        TIME_POINTS_ALONE => {
            !has("timePointsMs") || !(has("timeMs") || has("interval") || has("num"))
        }
        _ => return None,
    })
}

/// Non-overlapping matches of `[{][{][^}]*[}][}]`, leftmost first, as RE2's FindAll gives them.
fn placeholders(s: &str) -> Vec<String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 1 < b.len() {
        if b[i] == b'{' && b[i + 1] == b'{' {
            let mut j = i + 2;
            while j < b.len() && b[j] != b'}' {
                j += 1;
            }
            if j + 1 < b.len() && b[j + 1] == b'}' {
                out.push(s[i..j + 2].to_string());
                i = j + 2;
                continue;
            }
        }
        i += 1;
    }
    out
}

/// Occurrences of the four time placeholders (literal strings, so they cannot overlap).
fn time_placeholders(s: &str) -> usize {
    TIME.iter().map(|t| s.matches(t).count()).sum()
}

/// `^[a-z]{2,}(-[a-z0-9]+)+$`.
fn region_id(r: &str) -> bool {
    let mut parts = r.split('-');
    let first = parts.next().unwrap_or_default();
    let rest: Vec<&str> = parts.collect();
    first.len() >= 2
        && first.bytes().all(|b| b.is_ascii_lowercase())
        && !rest.is_empty()
        && rest.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

/// Kubernetes' `isURL` (Go's url.Parse accepting it) with an http(s) scheme and a host name.
fn http_url(u: &str) -> bool {
    match url::Url::parse(u) {
        Ok(p) => {
            matches!(p.scheme(), "http" | "https") && p.host_str().is_some_and(|h| !h.is_empty())
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn placeholders_match_re2_find_all() {
        assert_eq!(placeholders("a{{.x}}b{{.y}}"), ["{{.x}}", "{{.y}}"]);
        assert_eq!(placeholders("{{{.x}}"), ["{{{.x}}"]);
        assert!(placeholders("{{.x}").is_empty());
        assert_eq!(time_placeholders("{{.unix_time}}{{.unix_time_milli}}"), 2);
    }

    #[test]
    fn rules_decide_like_the_crd() {
        let full = |f: &str| json!({"objectWriteMode": "Full", "imageObjectFormat": f});
        assert_eq!(evaluate(FULL_ONE_TIME, &full("{{.stream}}")), Some(false));
        assert_eq!(evaluate(FULL_ONE_TIME, &full("{{.unix_time}}")), Some(true));
        assert_eq!(
            evaluate(CLOSED_PLACEHOLDERS, &json!("{{.unix_time")),
            Some(false)
        );
        assert_eq!(
            evaluate(CLOSED_PLACEHOLDERS, &json!("{{.unix_time}}")),
            Some(true)
        );
        assert_eq!(evaluate(HTTP_URL, &json!("/snap")), Some(false));
        assert_eq!(
            evaluate(HTTP_URL, &json!("https://h.example.com/x")),
            Some(true)
        );
        assert_eq!(
            evaluate(CALLBACK_NEEDS_URL, &json!({"enabled": true})),
            Some(false)
        );
        assert_eq!(evaluate("self.size() > 1", &json!("x")), None);
        for (r, ok) in [
            ("cn-shanghai", true),
            ("ap-southeast-1", true),
            ("cn", false),
            ("cn-", false),
            ("CN-x", false),
            ("cn-sh.x", false),
        ] {
            assert_eq!(evaluate(REGION_ID, &json!(r)), Some(ok), "{r}");
        }
        assert_eq!(
            evaluate(TIME_POINTS_ALONE, &json!({"timePointsMs": [1], "num": 2})),
            Some(false)
        );
        let thumb = |v| evaluate(QUANTITY_FOR_QUANTITY, &v);
        assert_eq!(thumb(json!({"type": "quantity"})), Some(false));
        assert_eq!(
            thumb(json!({"type": "time", "quantityTime": 3})),
            Some(false)
        );
        assert_eq!(
            thumb(json!({"type": "quantity", "quantity": 2})),
            Some(true)
        );
        assert_eq!(evaluate(DISTINCT_DOTS, &json!([1, 2, 1])), Some(false));
        assert_eq!(
            evaluate(ONE_COVER_CHOICE, &json!({"offset": 1, "index": null})),
            Some(true)
        );
    }
}
