//! `validate`: the admission checks of every kind this operator serves, offline, read from the
//! very CRDs the API server gets (the built-in ones, or `--crd FILE`), so no rule is written
//! twice. What Kubernetes does before validating (pruning nulls, applying defaults) is done
//! here; the structural schema is then checked by a JSON-schema library (with unknown fields
//! refused, as `kubectl apply` asks the server to), and every `x-kubernetes-validations` rule
//! is evaluated by a CEL interpreter (`kubernetes_cel.rs`). The e2e suite runs a corpus through both this
//! and a server-side dry run and requires the same verdict.

use kube::CustomResourceExt;
use serde::Serialize;
use serde_json::Value;

use super::manifests::Document;
use crate::kinds::live::resource::LiveSnapshotTemplate;
use crate::kinds::mps::resource::MpsSnapshotJob;
use crate::kinds::vod::resource::VodAssetSnapshot;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;

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
        write!(f, "{}:{}: ", self.source, self.document)?;
        // A file that could not be read has no object to name.
        if !self.kind.is_empty() {
            write!(f, "{}/{}: ", self.kind, self.name)?;
        }
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
    /// The structural schema as the JSON Schema that is checked (see `json_schema`).
    pub json_schema: Value,
    /// `json_schema`, compiled once.
    structural: jsonschema::Validator,
}

impl ServedKind {
    /// Whether `obj` passes the structural schema alone (no CEL rule): what a JSON-schema
    /// tool such as kubeconform can tell with the schemas of `kubeconform_schema`.
    pub fn structurally_valid(&self, obj: &Value) -> bool {
        self.structural.is_valid(&self.admitted_object(obj))
    }

    /// The object as the API server validates a create of it: status dropped (it is the
    /// operator's to write), nulls pruned and defaults filled in spec.
    fn admitted_object(&self, obj: &Value) -> Value {
        let mut object = obj.clone();
        if let Some(map) = object.as_object_mut() {
            map.remove("status");
            if let Some(spec) = map.get("spec") {
                let spec = admitted(&self.schema["properties"]["spec"], spec);
                map.insert("spec".into(), spec);
            }
        }
        object
    }

    /// The schema in the form kubeconform and similar tools load (`{kind}_{version}.json`):
    /// the structural schema, with apiVersion and kind pinned to this kind.
    pub fn kubeconform_schema(&self) -> Value {
        let mut schema = self.json_schema.clone();
        schema["properties"]["apiVersion"] =
            serde_json::json!({"type": "string", "enum": [self.api_version]});
        schema["properties"]["kind"] = serde_json::json!({"type": "string", "enum": [self.kind]});
        schema["$schema"] = serde_json::json!("http://json-schema.org/draft-04/schema#");
        schema["description"] = serde_json::json!(format!(
            "{} {}: the structural schema of its CRD. CEL rules (x-kubernetes-validations) are not expressed here: `live-snapshot-operator validate` checks them.",
            self.api_version, self.kind
        ));
        schema
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("{crd}: version {version} has no openAPIV3Schema")]
    NoSchema { crd: String, version: String },
    #[error("{crd}: the schema of version {version} does not compile: {reason}")]
    Compile {
        crd: String,
        version: String,
        reason: String,
    },
}

/// The kinds of the CRDs this build installs.
pub fn served_kinds() -> Vec<ServedKind> {
    // The generated CRDs always carry a schema that compiles: a unit test proves it.
    kinds_of(&builtin_crds()).unwrap_or_default()
}

pub fn builtin_crds() -> Vec<CustomResourceDefinition> {
    vec![
        LiveSnapshotTemplate::crd(),
        VodAssetSnapshot::crd(),
        MpsSnapshotJob::crd(),
    ]
}

/// The served versions of `crds`, each with its schema made ready to check objects against.
pub fn kinds_of(crds: &[CustomResourceDefinition]) -> Result<Vec<ServedKind>, SchemaError> {
    let mut out = Vec::new();
    for crd in crds {
        let group = &crd.spec.group;
        let kind = &crd.spec.names.kind;
        for v in crd.spec.versions.iter().filter(|v| v.served) {
            let schema = v
                .schema
                .as_ref()
                .and_then(|s| s.open_api_v3_schema.as_ref())
                .and_then(|s| serde_json::to_value(s).ok())
                .ok_or_else(|| SchemaError::NoSchema {
                    crd: crd.metadata.name.clone().unwrap_or_default(),
                    version: v.name.clone(),
                })?;
            let mut root = json_schema(&schema);
            // Every object has these, whether or not the CRD's schema names them.
            for (field, ty) in [
                ("apiVersion", "string"),
                ("kind", "string"),
                ("metadata", "object"),
            ] {
                if root["properties"].get(field).is_none()
                    && let Some(props) = root["properties"].as_object_mut()
                {
                    props.insert(field.into(), serde_json::json!({ "type": ty }));
                }
            }
            let structural = jsonschema::draft4::options()
                .should_validate_formats(false)
                .build(&root)
                .map_err(|e| SchemaError::Compile {
                    crd: crd.metadata.name.clone().unwrap_or_default(),
                    version: v.name.clone(),
                    reason: e.to_string(),
                })?;
            out.push(ServedKind {
                api_version: format!("{group}/{}", v.name),
                kind: kind.clone(),
                schema,
                json_schema: root,
                structural,
            });
        }
    }
    Ok(out)
}

/// A CRD's OpenAPI v3 schema as the JSON Schema (draft 4, which OpenAPI 3.0 extends) that the
/// API server effectively checks: an object's properties are all it may have unless it
/// preserves unknown fields; `nullable` admits null; int-or-string takes either. Everything
/// else (`x-kubernetes-*`, `default`) is left to the caller or ignored by the library.
fn json_schema(schema: &Value) -> Value {
    let Value::Object(map) = schema else {
        return schema.clone();
    };
    let mut out = serde_json::Map::new();
    for (k, v) in map {
        let v = match k.as_str() {
            "properties" | "patternProperties" | "definitions" => match v {
                Value::Object(props) => Value::Object(
                    props
                        .iter()
                        .map(|(name, sub)| (name.clone(), json_schema(sub)))
                        .collect(),
                ),
                other => other.clone(),
            },
            "items" | "additionalProperties" | "not" => json_schema(v),
            // The API server never matches null against an enum, even one that lists it.
            "enum" => match v {
                Value::Array(list) => {
                    Value::Array(list.iter().filter(|x| !x.is_null()).cloned().collect())
                }
                other => other.clone(),
            },
            "allOf" | "anyOf" | "oneOf" => match v {
                Value::Array(list) => Value::Array(list.iter().map(json_schema).collect()),
                other => other.clone(),
            },
            // CEL is evaluated by kubernetes_cel.rs; `default` was applied before the check.
            _ if k.starts_with("x-kubernetes-") || k == "default" => continue,
            _ => v.clone(),
        };
        out.insert(k.clone(), v);
    }
    let preserve = map.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    if map.contains_key("properties") && !preserve && !map.contains_key("additionalProperties") {
        out.insert("additionalProperties".into(), Value::Bool(false));
    }
    if map.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
        out.remove("type");
        out.insert(
            "anyOf".into(),
            serde_json::json!([{"type": "integer"}, {"type": "string"}]),
        );
    }
    if map.get("nullable") == Some(&Value::Bool(true))
        && let Some(Value::String(t)) = out.get("type").cloned()
    {
        out.insert("type".into(), serde_json::json!([t, "null"]));
    }
    Value::Object(out)
}

/// The outcome of validating a set of documents.
#[derive(Debug, Default, Serialize)]
pub struct Verdict {
    /// Objects of the operator's kinds that were checked.
    pub checked: usize,
    /// Documents of other kinds, left alone.
    pub skipped: usize,
    pub findings: Vec<Finding>,
    /// Every object checked, with or without findings (a JUnit report lists each).
    pub objects: Vec<Checked>,
}

/// One document of the operator's API group that was checked.
#[derive(Debug, Clone, Serialize)]
pub struct Checked {
    pub source: String,
    pub document: usize,
    pub kind: String,
    pub name: String,
}

pub fn validate(docs: &[Document]) -> Verdict {
    validate_with(&served_kinds(), docs)
}

/// Validates against the given kinds (the built-in ones, or those of `--crd` files).
pub fn validate_with(kinds: &[ServedKind], docs: &[Document]) -> Verdict {
    let groups: Vec<&str> = kinds
        .iter()
        .filter_map(|k| k.api_version.split('/').next())
        .collect();
    let mut verdict = Verdict::default();
    for doc in docs {
        let api_version = doc.value["apiVersion"].as_str().unwrap_or_default();
        let kind = doc.value["kind"].as_str().unwrap_or_default();
        let group = api_version.split('/').next().unwrap_or_default();
        let name = doc.value["metadata"]["name"]
            .as_str()
            .unwrap_or("<unnamed>")
            .to_string();
        if !groups.contains(&group) {
            // A near miss of our group is a typo that would otherwise pass unnoticed: the API
            // server would refuse it, or worse, another CRD would take it.
            if let Some(ours) = groups
                .iter()
                .find(|g| !group.is_empty() && strsim::levenshtein(g, group) <= 2)
            {
                verdict.checked += 1;
                verdict.objects.push(Checked {
                    source: doc.source.clone(),
                    document: doc.index,
                    kind: kind.to_string(),
                    name: name.clone(),
                });
                verdict.findings.push(Finding {
                    source: doc.source.clone(),
                    document: doc.index,
                    kind: kind.to_string(),
                    name,
                    field: "apiVersion".into(),
                    message: format!(
                        "unknown API group {group:?}: did you mean {ours:?}? (this operator serves {ours})"
                    ),
                });
            } else {
                verdict.skipped += 1;
            }
            continue;
        }
        verdict.checked += 1;
        verdict.objects.push(Checked {
            source: doc.source.clone(),
            document: doc.index,
            kind: kind.to_string(),
            name: name.clone(),
        });
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
        for (field, message) in check(served, &doc.value) {
            verdict.findings.push(finding(&field, message));
        }
    }
    verdict
}

/// The problems of one object of a served kind, as (field path, message), sorted by field.
pub fn check(kind: &ServedKind, obj: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if !obj.is_object() {
        out.push((String::new(), "a manifest must be a mapping".into()));
        return out;
    }
    check_metadata(&obj["metadata"], &mut out);
    let object = kind.admitted_object(obj);
    for error in kind.structural.iter_errors(&object) {
        let path = field_path(error.instance_path());
        match error.kind() {
            jsonschema::error::ValidationErrorKind::AdditionalProperties { unexpected } => {
                for name in unexpected {
                    out.push((join(&path, name), format!("unknown field {name:?}")));
                }
            }
            jsonschema::error::ValidationErrorKind::Required { property } => {
                let name = property.as_str().unwrap_or_default();
                out.push((join(&path, name), "Required value".into()));
            }
            _ => out.push((path, format!("Invalid value: {error}"))),
        }
    }
    if let Some(spec) = object.get("spec") {
        rules(&kind.schema["properties"]["spec"], spec, "spec", &mut out);
    }
    out.sort();
    out.dedup();
    out
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// A JSON pointer into the object as a Kubernetes field path: `spec.thumbnail.dots[0]`.
fn field_path(location: &jsonschema::paths::Location) -> String {
    let mut out = String::new();
    for segment in location.segments() {
        match segment {
            jsonschema::paths::LocationSegment::Index(i) => out.push_str(&format!("[{i}]")),
            jsonschema::paths::LocationSegment::Property(p) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&p);
            }
        }
    }
    out
}

/// What the API server makes of a value before it validates it: nulls in fields that are not
/// nullable are pruned, then defaults fill what is missing, at every level of the schema.
fn admitted(schema: &Value, value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let props = schema["properties"].as_object();
            let mut obj = map.clone();
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
            for (k, v) in obj.iter_mut() {
                if let Some(sub) = props.and_then(|p| p.get(k)) {
                    *v = admitted(sub, v);
                }
            }
            Value::Object(obj)
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| admitted(&schema["items"], i))
                .collect(),
        ),
        // A `number` field is a double to CEL even when written as 1500, as the API server
        // types it from the schema.
        Value::Number(n) if schema["type"] == "number" => n
            .as_f64()
            .and_then(serde_json::Number::from_f64)
            .map_or_else(|| value.clone(), Value::Number),
        other => other.clone(),
    }
}

/// Evaluates every `x-kubernetes-validations` rule of `schema` and below on the admitted value,
/// with `self` bound to the value of the node that carries the rule.
fn rules(schema: &Value, value: &Value, path: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if let Some(sub) = schema["properties"].get(k) {
                    rules(sub, v, &format!("{path}.{k}"), out);
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                rules(&schema["items"], item, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
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
        match super::kubernetes_cel::evaluate(text, value) {
            Ok(true) => {}
            Ok(false) => {
                let msg = rule["message"].as_str().unwrap_or(text);
                out.push((field, format!("Invalid value: {msg}")));
            }
            // The API server refuses an object whose rule fails to evaluate, too.
            Err(e) => out.push((field, format!("Invalid value: rule {text:?}: {e}"))),
        }
    }
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
        check(&kinds[0], &spec(extra))
    }

    #[test]
    fn every_cel_rule_of_every_crd_parses() {
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
        let kinds = kinds_of(&builtin_crds()).expect("every built-in CRD's schema compiles");
        assert_eq!(kinds.len(), 3);
        for k in kinds {
            rules(&k.schema, &mut all);
        }
        assert!(all.len() >= 5, "{all:?}");
        for r in &all {
            if let Err(e) = super::super::kubernetes_cel::parse(r) {
                panic!("{r}: {e}");
            }
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
