//! How the simulator decides whether a caller is who it says: the gateway's AK/SK check,
//! rebuilt from the `SignedHeaders` the caller sent, or a configured IAM token.

use std::collections::HashMap;
use std::time::Duration;

use axum::http::HeaderMap;

use live_snapshot_operator::clouds::huawei::signer;

#[derive(Clone)]
pub struct KeyPair {
    pub access_key: String,
    pub secret_key: String,
}

impl KeyPair {
    pub fn new(access_key: impl Into<String>, secret_key: impl Into<String>) -> Self {
        Self {
            access_key: access_key.into(),
            secret_key: secret_key.into(),
        }
    }
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("access_key", &self.access_key)
            .finish_non_exhaustive()
    }
}

impl std::str::FromStr for KeyPair {
    type Err = String;
    /// `AK:SK`
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (ak, sk) = s.split_once(':').ok_or("expected ACCESS_KEY:SECRET_KEY")?;
        if ak.is_empty() || sk.is_empty() {
            return Err("access key and secret key must not be empty".into());
        }
        Ok(KeyPair {
            access_key: ak.into(),
            secret_key: sk.into(),
        })
    }
}

#[derive(Clone, Debug)]
pub struct AuthConfig {
    /// Secret keys by access key.
    pub keys: HashMap<String, String>,
    /// IAM tokens accepted in `X-Auth-Token`.
    pub tokens: Vec<String>,
    /// How far `X-Sdk-Date` may be from the simulator's clock.
    pub max_skew: Duration,
}

impl AuthConfig {
    pub fn new(keys: Vec<KeyPair>, tokens: Vec<String>) -> Self {
        Self {
            keys: keys
                .into_iter()
                .map(|k| (k.access_key, k.secret_key))
                .collect(),
            tokens,
            max_skew: Duration::from_secs(15 * 60),
        }
    }
}

/// Why a request was refused; the text goes into the gateway's `error_msg`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The caller is not who it says (signature, key, date, token).
    Credentials(&'static str),
    /// `X-Project-Id` names another project than the path: the Live gateway answers 401,
    /// VOD its own 403 `VOD.10057`.
    ProjectMismatch(&'static str),
}

impl Refusal {
    pub fn message(self) -> &'static str {
        match self {
            Refusal::Credentials(m) | Refusal::ProjectMismatch(m) => m,
        }
    }
}

pub struct RequestParts<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub raw_query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    pub project_in_path: &'a str,
}

impl<'a> RequestParts<'a> {
    /// The parts of a request as an axum handler receives them.
    pub fn of(
        method: &'a axum::http::Method,
        uri: &'a axum::http::Uri,
        headers: &'a HeaderMap,
        body: &'a [u8],
        project_in_path: &'a str,
    ) -> Self {
        Self {
            method: method.as_str(),
            path: uri.path(),
            raw_query: uri.query().unwrap_or(""),
            headers,
            body,
            project_in_path,
        }
    }
}

pub fn check(cfg: &AuthConfig, req: &RequestParts<'_>) -> Result<(), Refusal> {
    check_credentials(cfg, req).map_err(Refusal::Credentials)?;
    let project = req
        .headers
        .get("x-project-id")
        .and_then(|v| v.to_str().ok());
    if project.is_some_and(|p| p != req.project_in_path) {
        return Err(Refusal::ProjectMismatch(
            "Incorrect IAM authentication information: X-Project-Id does not match the project in the URL",
        ));
    }
    Ok(())
}

fn check_credentials(cfg: &AuthConfig, req: &RequestParts<'_>) -> Result<(), &'static str> {
    let header = |name: &str| req.headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(token) = header("x-auth-token") {
        return if cfg.tokens.iter().any(|t| t == token) {
            Ok(())
        } else {
            Err("Incorrect IAM authentication information: token verification failed")
        };
    }
    let auth = header("authorization")
        .ok_or("Incorrect IAM authentication information: Authorization header missing")?;
    let parsed = signer::parse_authorization(auth)
        .ok_or("Incorrect IAM authentication information: unsupported Authorization format")?;
    if !parsed
        .signed_headers
        .iter()
        .any(|h| h == signer::DATE_HEADER)
    {
        return Err("Incorrect IAM authentication information: x-sdk-date must be signed");
    }
    let date = header(signer::DATE_HEADER)
        .ok_or("Incorrect IAM authentication information: x-sdk-date missing")?;
    let when = jiff::civil::DateTime::strptime(signer::DATE_FORMAT, date)
        .ok()
        .and_then(|dt| dt.to_zoned(jiff::tz::TimeZone::UTC).ok())
        .ok_or("Incorrect IAM authentication information: x-sdk-date is malformed")?;
    let skew = jiff::Timestamp::now()
        .duration_since(when.timestamp())
        .unsigned_abs();
    if skew > cfg.max_skew {
        return Err(
            "Incorrect IAM authentication information: request date is too far from the server time",
        );
    }
    let secret = cfg
        .keys
        .get(&parsed.access)
        .ok_or("Incorrect IAM authentication information: AK access failed")?;
    let headers: Vec<(String, String)> = parsed
        .signed_headers
        .iter()
        .map(|name| (name.clone(), header(name).unwrap_or("").to_string()))
        .collect();
    let query = signer::parse_query(req.raw_query);
    let signable = signer::SignableRequest {
        method: req.method,
        path: req.path,
        query: &query,
        headers: &headers,
        body: req.body,
    };
    if signer::verify(
        secret,
        date,
        &signable,
        &parsed.signed_headers,
        &parsed.signature,
    ) {
        Ok(())
    } else {
        Err("Incorrect IAM authentication information: verify aksk signature fail")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_project_header_that_disagrees_with_the_path_is_its_own_refusal() {
        let cfg = AuthConfig::new(Vec::new(), vec!["tok".into()]);
        let mut headers = HeaderMap::new();
        headers.insert("x-auth-token", "tok".parse().unwrap());
        headers.insert("x-project-id", "p1".parse().unwrap());
        let (method, uri) = (axum::http::Method::GET, "/v1/p2/x".parse().unwrap());
        let req = RequestParts::of(&method, &uri, &headers, b"", "p2");
        assert!(matches!(
            check(&cfg, &req),
            Err(Refusal::ProjectMismatch(_))
        ));
        let req = RequestParts::of(&method, &uri, &headers, b"", "p1");
        assert_eq!(check(&cfg, &req), Ok(()));
        headers.insert("x-auth-token", "other".parse().unwrap());
        let req = RequestParts::of(&method, &uri, &headers, b"", "p1");
        assert!(matches!(check(&cfg, &req), Err(Refusal::Credentials(_))));
    }
}
