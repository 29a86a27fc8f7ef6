//! The `x-kubernetes-validations` rules of a CRD, evaluated by a CEL interpreter (the `cel`
//! crate) with the parts of the Kubernetes CEL library that admission adds to standard CEL:
//! the string and list extensions, `isURL`/`url()` with the URL accessors, and the regex
//! functions `find`/`findAll`. The rule text comes from the CRD itself, so a rule is written
//! once, in the Rust type's attribute, and both the API server and `validate` read it there.

use std::sync::{Arc, LazyLock};

use cel::extractors::This;
use cel::objects::{Key, Map};
use cel::{Context, Env, ExecutionError, Program, Value};

#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("the rule does not parse: {0}")]
    Parse(String),
    #[error("the rule cannot be evaluated: {0}")]
    Evaluate(String),
    #[error("the rule gives {0}, not a boolean")]
    NotBoolean(String),
}

/// Standard CEL plus the extension libraries Kubernetes enables for CRD rules.
static ENV: LazyLock<Arc<Env>> = LazyLock::new(|| {
    let mut env = Env::stdlib();
    // Registering a library twice or under a taken name is a programming error, caught by the
    // unit tests below on every build; an environment without it would refuse its rules.
    let _ = env.add_extension(cel::extensions::strings);
    let _ = env.add_extension(cel::extensions::lists);
    Arc::new(env)
});

/// Whether `rule` parses: every rule of a CRD must, or `validate` cannot agree with the API
/// server on it.
pub fn parse(rule: &str) -> Result<(), RuleError> {
    ENV.compile(rule)
        .map(|_| ())
        .map_err(|e| RuleError::Parse(e.to_string()))
}

/// Evaluates `rule` with `self` bound to `value` (the defaulted JSON of the schema node the rule
/// sits on), as the API server does for a create: transition rules (`oldSelf`) are the
/// caller's to skip.
pub fn evaluate(rule: &str, value: &serde_json::Value) -> Result<bool, RuleError> {
    let program = ENV
        .compile(rule)
        .map_err(|e| RuleError::Parse(e.to_string()))?;
    let mut context = Context::with_env(ENV.clone());
    context
        .add_variable("self", value)
        .map_err(|e| RuleError::Evaluate(e.to_string()))?;
    register_kubernetes_library(&mut context);
    match run(&program, &context)? {
        Value::Bool(b) => Ok(b),
        other => Err(RuleError::NotBoolean(format!("{other:?}"))),
    }
}

fn run(program: &Program, context: &Context) -> Result<Value, RuleError> {
    program
        .execute(context)
        .map_err(|e| RuleError::Evaluate(e.to_string()))
}

/// The Kubernetes additions that standard CEL and its extensions lack.
fn register_kubernetes_library(context: &mut Context) {
    // Names that clash with the standard library would be refused here; these do not, and the
    // tests below evaluate each one.
    let _ = context.add_function("isURL", is_url);
    let _ = context.add_function("url", url);
    let _ = context.add_function("getScheme", |This(u): This<Value>| url_part(u, "scheme"));
    let _ = context.add_function("getHost", |This(u): This<Value>| url_part(u, "host"));
    let _ = context.add_function("getHostname", |This(u): This<Value>| {
        url_part(u, "hostname")
    });
    let _ = context.add_function("getPort", |This(u): This<Value>| url_part(u, "port"));
    let _ = context.add_function("getEscapedPath", |This(u): This<Value>| url_part(u, "path"));
    let _ = context.add_function("find", find);
    let _ = context.add_function("findAll", find_all);
}

/// Kubernetes' `isURL` is Go's `url.ParseRequestURI`: an absolute URL, or an absolute path.
fn parse_request_uri(s: &str) -> Option<Option<url::Url>> {
    if s.starts_with('/') {
        return Some(None);
    }
    let parsed = url::Url::parse(s).ok()?;
    // Go refuses a scheme-relative or opaque URL without a path ("mailto:x" has one).
    Some(Some(parsed))
}

fn is_url(s: Arc<String>) -> bool {
    parse_request_uri(&s).is_some()
}

/// `url(s)`: a URL value, kept as a map of its parts for the accessors.
fn url(s: Arc<String>) -> Result<Value, ExecutionError> {
    let parsed = parse_request_uri(&s)
        .ok_or_else(|| ExecutionError::function_error("url", format!("{s:?} is not a URL")))?;
    let (scheme, host, hostname, port, path) = match &parsed {
        Some(u) => {
            let hostname = u.host_str().unwrap_or_default();
            // Go's Hostname() drops the brackets of an IPv6 literal.
            let hostname = hostname.trim_start_matches('[').trim_end_matches(']');
            let port = u.port().map(|p| p.to_string()).unwrap_or_default();
            let host = match u.port() {
                Some(p) => format!("{}:{p}", u.host_str().unwrap_or_default()),
                None => u.host_str().unwrap_or_default().to_string(),
            };
            (
                u.scheme().to_string(),
                host,
                hostname.to_string(),
                port,
                u.path().to_string(),
            )
        }
        None => Default::default(),
    };
    let path = if parsed.is_none() {
        s.to_string()
    } else {
        path
    };
    let parts: std::collections::HashMap<Key, Value> = [
        ("scheme", scheme),
        ("host", host),
        ("hostname", hostname),
        ("port", port),
        ("path", path),
    ]
    .into_iter()
    .map(|(k, v)| (Key::String(Arc::new(k.into())), Value::String(Arc::new(v))))
    .collect();
    Ok(Value::Map(Map {
        map: Arc::new(parts),
    }))
}

fn url_part(u: Value, part: &str) -> Result<Value, ExecutionError> {
    match u {
        Value::Map(m) => m
            .map
            .get(&Key::String(Arc::new(part.into())))
            .cloned()
            .ok_or_else(|| ExecutionError::function_error(part, "not a URL")),
        other => Err(ExecutionError::function_error(
            part,
            format!("{other:?} is not a URL"),
        )),
    }
}

fn regex(pattern: &str, function: &str) -> Result<regex::Regex, ExecutionError> {
    regex::Regex::new(pattern).map_err(|e| ExecutionError::function_error(function, e))
}

/// `s.find(re)`: the first match, or "".
fn find(This(s): This<Arc<String>>, re: Arc<String>) -> Result<Value, ExecutionError> {
    let re = regex(&re, "find")?;
    let found = re
        .find(&s)
        .map(|m| m.as_str().to_string())
        .unwrap_or_default();
    Ok(Value::String(Arc::new(found)))
}

/// `s.findAll(re)`: every match, left to right.
fn find_all(This(s): This<Arc<String>>, re: Arc<String>) -> Result<Value, ExecutionError> {
    let re = regex(&re, "findAll")?;
    let all: Vec<Value> = re
        .find_iter(&s)
        .map(|m| Value::String(Arc::new(m.as_str().to_string())))
        .collect();
    Ok(Value::List(Arc::new(all)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(rule: &str, value: serde_json::Value) -> bool {
        match evaluate(rule, &value) {
            Ok(b) => b,
            Err(e) => panic!("{rule}: {e}"),
        }
    }

    #[test]
    fn url_functions_behave_as_kubernetes_documents_them() {
        let rule = "isURL(self) && url(self).getScheme() in ['http', 'https'] && url(self).getHostname() != ''";
        assert!(eval(rule, json!("https://hooks.example.com/x")));
        assert!(eval(rule, json!("http://[::1]:8080/x")));
        assert!(!eval(rule, json!("ftp://hooks.example.com/x")));
        assert!(!eval(rule, json!("not a url")));
        assert!(eval(
            "url('http://[::1]:8080/p').getHostname() == '::1'",
            json!(null)
        ));
        assert!(eval(
            "url('http://a.example:8080/p').getHost() == 'a.example:8080'",
            json!(null)
        ));
        assert!(eval(
            "url('http://a.example:8080/p').getPort() == '8080'",
            json!(null)
        ));
        assert!(eval(
            "url('https://a.example/p/q').getEscapedPath() == '/p/q'",
            json!(null)
        ));
        assert!(eval("isURL('/just/a/path')", json!(null)));
    }

    #[test]
    fn regex_and_extension_functions() {
        assert!(eval(
            "self.findAll('[{][{][^}]*[}][}]').size() == 2",
            json!("{{.stream}}/{{.unix_time}}")
        ));
        assert!(eval("self.find('[0-9]+') == '42'", json!("ab42cd7")));
        assert!(eval(
            "self.matches('^[a-z]{2,}(-[a-z0-9]+)+$')",
            json!("cn-shanghai")
        ));
        assert!(eval("self.lowerAscii() == 'abc'", json!("ABC")));
        assert!(eval(
            "self.all(d, self.filter(e, e == d).size() == 1)",
            json!([1, 2, 3])
        ));
        assert!(!eval(
            "self.all(d, self.filter(e, e == d).size() == 1)",
            json!([1, 2, 2])
        ));
    }

    #[test]
    fn has_and_conditionals_on_objects() {
        let rule = "self.type == 'dots' ? has(self.dots) : !has(self.dots)";
        assert!(eval(rule, json!({"type": "dots", "dots": [1]})));
        assert!(!eval(rule, json!({"type": "time", "dots": [1]})));
        assert!(eval(
            "has(self.offset) != has(self.index)",
            json!({"offset": 3})
        ));
    }

    #[test]
    fn problems_are_errors_not_verdicts() {
        assert!(matches!(
            evaluate("self +", &json!(1)),
            Err(RuleError::Parse(_))
        ));
        assert!(matches!(
            evaluate("self.size()", &json!("abc")),
            Err(RuleError::NotBoolean(_))
        ));
        assert!(matches!(
            evaluate("noSuchFunction(self)", &json!(1)),
            Err(RuleError::Evaluate(_))
        ));
    }
}
