//! `validate`: the admission checks of every kind this operator serves, offline. The schema
//! half walks the OpenAPI schema of the very CRD the operator installs (ranges, enums, lengths,
//! required and unknown fields, defaults), so it cannot fall behind it; the CEL half implements
//! each `x-kubernetes-validations` rule of those CRDs, looked up by its exact text, and a unit
//! test fails when a CRD carries a rule this file does not know. The e2e suite runs a corpus
//! through both this and a server-side dry run and requires the same verdict.

use kube::CustomResourceExt;
use serde::Serialize;
use serde_json::Value;

use super::manifests::Document;
use crate::kinds::live::resource::LiveSnapshotTemplate;
use crate::kinds::mps::resource::MpsSnapshotJob;
use crate::kinds::vod::resource::VodAssetSnapshot;

/// One problem, located like a compiler error.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Finding {
    pub source: String,
    pub document: usize,
    pub kind: String,
    pub name: String,
    /// Path of the field, e.g. spec.obsLocation.bucket (empty for the document as a whole).
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: {}/{}: ",
            self.source, self.document, self.kind, self.name
        )?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

/// A kind this operator serves: its group/version, kind and admission schema.
pub struct ServedKind {
    pub api_version: String,
    pub kind: String,
    pub schema: Value,
}

pub fn served_kinds() -> Vec<ServedKind> {
    let crds = [
        LiveSnapshotTemplate::crd(),
        VodAssetSnapshot::crd(),
        MpsSnapshotJob::crd(),
    ];
    crds.into_iter()
        .flat_map(|crd| {
            let group = crd.spec.group.clone();
            let kind = crd.spec.names.kind.clone();
            crd.spec.versions.into_iter().filter_map(move |v| {
                let schema = v.schema?.open_api_v3_schema?;
                Some(ServedKind {
                    api_version: format!("{group}/{}", v.name),
                    kind: kind.clone(),
                    schema: serde_json::to_value(schema).ok()?,
                })
            })
        })
        .collect()
}

/// The outcome of validating a set of documents.
#[derive(Debug, Default, Serialize)]
pub struct Verdict {
    /// Objects of the operator's kinds that were checked.
    pub checked: usize,
    /// Documents of other kinds, left alone.
    pub skipped: usize,
    pub findings: Vec<Finding>,
}

pub fn validate(docs: &[Document]) -> Verdict {
    let kinds = served_kinds();
    let groups: Vec<&str> = kinds
        .iter()
        .filter_map(|k| k.api_version.split('/').next())
        .collect();
    let mut verdict = Verdict::default();
    for doc in docs {
        let api_version = doc.value["apiVersion"].as_str().unwrap_or_default();
        let kind = doc.value["kind"].as_str().unwrap_or_default();
        let group = api_version.split('/').next().unwrap_or_default();
        if !groups.contains(&group) {
            verdict.skipped += 1;
            continue;
        }
        verdict.checked += 1;
        let name = doc.value["metadata"]["name"]
            .as_str()
            .unwrap_or("<unnamed>")
            .to_string();
        let finding = |field: &str, message: String| Finding {
            source: doc.source.clone(),
            document: doc.index,
            kind: kind.to_string(),
            name: name.clone(),
            field: field.to_string(),
            message,
        };
        let Some(served) = kinds
            .iter()
            .find(|k| k.kind == kind && k.api_version == api_version)
        else {
            let known: Vec<String> = kinds
                .iter()
                .map(|k| format!("{} {}", k.api_version, k.kind))
                .collect();
            verdict.findings.push(finding(
                "",
                format!(
                    "no kind {kind:?} in version {api_version:?} is served (served: {})",
                    known.join(", ")
                ),
            ));
            continue;
        };
        for (field, message) in check(&served.schema, &doc.value) {
            verdict.findings.push(finding(&field, message));
        }
    }
    verdict
}

/// The problems of one object of a served kind, as (field path, message).
pub fn check(schema: &Value, obj: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Some(map) = obj.as_object() else {
        out.push((String::new(), "a manifest must be a mapping".into()));
        return out;
    };
    check_metadata(&obj["metadata"], &mut out);
    for key in map.keys() {
        let known = ["apiVersion", "kind", "metadata"].contains(&key.as_str())
            || schema["properties"].get(key).is_some();
        if !known {
            out.push((key.clone(), format!("unknown field {key:?}")));
        }
    }
    // Only spec: the status of a created object is the operator's to write, and the API
    // server drops it.
    let key = "spec";
    match map.get(key) {
        Some(v) if !v.is_null() => walk(&schema["properties"][key], v, key, &mut out),
        _ if is_required(schema, key) => out.push((key.into(), "Required value".into())),
        _ => {}
    }
    out
}

fn check_metadata(meta: &Value, out: &mut Vec<(String, String)>) {
    let name = meta["name"].as_str().unwrap_or_default();
    let generate = meta["generateName"].as_str().unwrap_or_default();
    if name.is_empty() && generate.is_empty() {
        out.push((
            "metadata.name".into(),
            "Required value: name or generateName is required".into(),
        ));
    } else if !name.is_empty() && !is_dns_subdomain(name) {
        out.push((
            "metadata.name".into(),
            format!("Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"),
        ));
    }
}

fn is_dns_subdomain(s: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.starts_with(alnum)
                && label.ends_with(alnum)
                && label.chars().all(|c| alnum(c) || c == '-')
        })
}

fn is_required(schema: &Value, key: &str) -> bool {
    schema["required"]
        .as_array()
        .is_some_and(|r| r.iter().any(|k| k == key))
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn quoted(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

/// Checks `value` against `schema` at `path`, then the node's CEL rules on the defaulted value.
fn walk(schema: &Value, value: &Value, path: &str, out: &mut Vec<(String, String)>) {
    let want = schema["type"].as_str().unwrap_or_default();
    let have = type_name(value);
    let fits = want.is_empty() || want == have || (want == "number" && have == "integer");
    if !fits {
        out.push((
            path.into(),
            format!("Invalid value: {have:?}: {path} in body must be of type {want}: {have:?}"),
        ));
        return;
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        let list: Vec<String> = allowed.iter().map(quoted).collect();
        out.push((
            path.into(),
            format!(
                "Unsupported value: {}: supported values: {}",
                quoted(value),
                list.join(", ")
            ),
        ));
    }
    match value {
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or_default();
            if let Some(min) = schema["minimum"].as_f64()
                && x < min
            {
                out.push((
                    path.into(),
                    format!("Invalid value: {n}: {path} in body should be greater than or equal to {min}"),
                ));
            }
            if let Some(max) = schema["maximum"].as_f64()
                && x > max
            {
                out.push((
                    path.into(),
                    format!(
                        "Invalid value: {n}: {path} in body should be less than or equal to {max}"
                    ),
                ));
            }
        }
        Value::String(s) => {
            let len = s.chars().count() as u64;
            if let Some(min) = schema["minLength"].as_u64()
                && len < min
            {
                out.push((
                    path.into(),
                    format!(
                        "Invalid value: {s:?}: {path} in body should be at least {min} chars long"
                    ),
                ));
            }
            if let Some(max) = schema["maxLength"].as_u64()
                && len > max
            {
                out.push((
                    path.into(),
                    format!("Too long: may not be more than {max} bytes"),
                ));
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(&schema["items"], item, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
    let defaulted = match value {
        Value::Object(map) => {
            let props = schema["properties"].as_object();
            let preserve = schema["x-kubernetes-preserve-unknown-fields"] == true;
            let mut obj = map.clone();
            // Nulls in fields that are not nullable are pruned before validation, as the API
            // server does; then defaults fill what is missing.
            obj.retain(|k, v| {
                !v.is_null()
                    || props
                        .and_then(|p| p.get(k))
                        .is_some_and(|s| s["nullable"] == true)
            });
            for (k, sub) in props.into_iter().flatten() {
                if !obj.contains_key(k)
                    && let Some(d) = sub.get("default")
                {
                    obj.insert(k.clone(), d.clone());
                }
            }
            for (k, v) in &obj {
                let child = format!("{path}.{k}");
                match props.and_then(|p| p.get(k)) {
                    Some(sub) if !v.is_null() => walk(sub, v, &child, out),
                    Some(_) => {}
                    None if preserve => {}
                    None => out.push((child, format!("unknown field {k:?}"))),
                }
            }
            for k in schema["required"].as_array().into_iter().flatten() {
                if let Some(k) = k.as_str()
                    && !obj.contains_key(k)
                {
                    out.push((format!("{path}.{k}"), "Required value".into()));
                }
            }
            Value::Object(obj)
        }
        other => other.clone(),
    };
    for rule in schema["x-kubernetes-validations"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let text = rule["rule"].as_str().unwrap_or_default();
        if text.contains("oldSelf") {
            // A transition rule: only an update has an old object to compare with.
            continue;
        }
        let field = match rule["fieldPath"].as_str() {
            Some(p) => format!("{path}{p}"),
            None => path.to_string(),
        };
        match super::cel::evaluate(text, &defaulted) {
            Some(true) => {}
            Some(false) => {
                let msg = rule["message"].as_str().unwrap_or(text);
                out.push((field, format!("Invalid value: {msg}")));
            }
            None => out.push((
                field,
                format!(
                    "validate does not know the CEL rule {text:?}; this build is older than the CRD"
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(extra: Value) -> Value {
        let mut o = serde_json::json!({
            "apiVersion": "live.snapshot.dev/v1alpha1", "kind": "LiveSnapshotTemplate",
            "metadata": {"name": "cam"},
            "spec": {"domain": "push.example.com", "appName": "live", "timeInterval": 10,
                     "obsLocation": {"bucket": "b", "location": "cn-north-4", "object": "o/"}}
        });
        if let (Some(s), Some(e)) = (o["spec"].as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                s.insert(k.clone(), v.clone());
            }
        }
        o
    }

    fn problems(extra: Value) -> Vec<(String, String)> {
        let kinds = served_kinds();
        check(&kinds[0].schema, &spec(extra))
    }

    #[test]
    fn every_cel_rule_of_every_crd_is_known() {
        fn rules(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    for r in m
                        .get("x-kubernetes-validations")
                        .and_then(|r| r.as_array())
                        .into_iter()
                        .flatten()
                    {
                        out.push(r["rule"].as_str().unwrap_or_default().to_string());
                    }
                    m.values().for_each(|v| rules(v, out));
                }
                Value::Array(a) => a.iter().for_each(|v| rules(v, out)),
                _ => {}
            }
        }
        let mut all = Vec::new();
        for k in served_kinds() {
            rules(&k.schema, &mut all);
        }
        assert!(all.len() >= 5, "{all:?}");
        for r in all.iter().filter(|r| !r.contains("oldSelf")) {
            assert!(
                super::super::cel::evaluate(r, &Value::Null).is_some()
                    || super::super::cel::known(r),
                "no implementation of {r}"
            );
        }
    }

    #[test]
    fn schema_and_rules_are_applied_with_defaults() {
        assert!(problems(serde_json::json!({})).is_empty());
        let p =
            problems(serde_json::json!({"timeInterval": 4, "snapshotMode": "every", "bogus": 1}));
        let fields: Vec<&str> = p.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            ["spec.bogus", "spec.snapshotMode", "spec.timeInterval"],
            "{p:?}"
        );
        // objectWriteMode defaults to Full, so the Full-mode rule applies.
        let p = problems(serde_json::json!({"imageObjectFormat": "{{.stream}}"}));
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].1.contains("exactly one time placeholder"));
        assert_eq!(p[0].0, "spec.imageObjectFormat");
    }
}
