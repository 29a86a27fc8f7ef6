//! The Alibaba Cloud gateway's checks, as mps-api.md lists them: an ACS3-HMAC-SHA256 or RPC v1
//! signature over the decoded parameters, a known AccessKey, a well-formed timestamp within 15
//! minutes of the simulator's clock, and a nonce not seen within that window.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use live_snapshot_operator::clouds::alibaba::codes;
use live_snapshot_operator::clouds::alibaba::signer;

pub const WINDOW: Duration = Duration::from_secs(15 * 60);

/// A request the gateway refused: the HTTP status, code and message to answer.
#[derive(Debug, PartialEq, Eq)]
pub struct Refused {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

fn refuse(code: &'static str, message: impl Into<String>) -> Refused {
    Refused {
        status: 400,
        code,
        message: message.into(),
    }
}

/// Who signed a request and what it asks.
#[derive(Debug, PartialEq, Eq)]
pub struct Caller {
    pub access_key: String,
    pub action: String,
}

/// Nonces seen within the window, by AccessKey.
#[derive(Default)]
pub struct Nonces {
    seen: Mutex<HashMap<(String, String), Instant>>,
}

impl Nonces {
    /// Records a nonce; false when it was used within the window.
    fn fresh(&self, access_key: &str, nonce: &str) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.retain(|_, at| at.elapsed() < WINDOW);
        seen.insert((access_key.into(), nonce.into()), Instant::now())
            .is_none()
    }
}

pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub headers: &'a HeaderMap,
    /// The decoded query (and form body) parameters.
    pub params: &'a [(String, String)],
    pub body: &'a [u8],
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Checks a request against `keys` (secret by AccessKey); who called and what, or why not.
pub fn check(
    keys: &HashMap<String, String>,
    nonces: &Nonces,
    req: &Request<'_>,
) -> Result<Caller, Refused> {
    let (caller, date, nonce) = match header(req.headers, "authorization") {
        Some(auth) => check_acs3(keys, req, auth)?,
        None => check_rpc(keys, req)?,
    };
    let at = super::server::utc(&date).ok_or_else(|| {
        refuse(
            codes::TIMESTAMP_FORMAT,
            format!("Specified time stamp or date value is not well formatted: {date}"),
        )
    })?;
    let skew = (jiff::Timestamp::now() - at)
        .abs()
        .total(jiff::Unit::Second)
        .unwrap_or(f64::MAX);
    if skew > WINDOW.as_secs_f64() {
        return Err(refuse(
            codes::TIMESTAMP_EXPIRED,
            "Specified time stamp or date value is expired.",
        ));
    }
    if !nonces.fresh(&caller.access_key, &nonce) {
        return Err(refuse(
            codes::NONCE_USED,
            "Specified signature nonce was used already.",
        ));
    }
    Ok(caller)
}

fn secret<'a>(keys: &'a HashMap<String, String>, ak: &str) -> Result<&'a str, Refused> {
    keys.get(ak).map(String::as_str).ok_or_else(|| Refused {
        status: 404,
        code: codes::ACCESS_KEY_NOT_FOUND,
        message: "Specified access key is not found.".into(),
    })
}

/// Signature v3: rebuilt from the listed headers only, over the decoded parameters.
fn check_acs3(
    keys: &HashMap<String, String>,
    req: &Request<'_>,
    auth: &str,
) -> Result<(Caller, String, String), Refused> {
    let parsed = signer::parse_acs3(auth).ok_or_else(|| {
        refuse(
            "IncompleteSignature",
            "The request signature does not conform to Aliyun standards.",
        )
    })?;
    let secret = secret(keys, &parsed.access_key)?;
    if let Some(missing) = signer::REQUIRED_SIGNED
        .iter()
        .find(|h| !parsed.signed_headers.iter().any(|s| s == *h))
    {
        return Err(refuse(
            "IncompleteSignature",
            format!("The request signature does not cover the header {missing}."),
        ));
    }
    let mut signed = Vec::new();
    for name in &parsed.signed_headers {
        let value = header(req.headers, name).ok_or_else(|| {
            refuse(
                "IncompleteSignature",
                format!("The signed header {name} is missing."),
            )
        })?;
        signed.push((name.clone(), value.to_string()));
    }
    let payload_hash = header(req.headers, "x-acs-content-sha256").unwrap_or_default();
    if payload_hash != signer::hex_sha256(req.body) {
        return Err(refuse(
            codes::SIGNATURE_MISMATCH,
            "The x-acs-content-sha256 header does not match the body.",
        ));
    }
    let (canonical, _) = signer::acs3_canonical(&signer::Acs3Request {
        method: req.method,
        path: req.path,
        query: req.params,
        headers: &signed,
        payload_hash,
    });
    let to_sign = signer::acs3_string_to_sign(&canonical);
    if signer::acs3_signature(secret, &to_sign) != parsed.signature {
        return Err(refuse(
            codes::SIGNATURE_MISMATCH,
            format!(
                "Specified signature does not match our calculation. server StringToSign is [{}]",
                to_sign.replace('\n', " ")
            ),
        ));
    }
    let version = header(req.headers, "x-acs-version").unwrap_or_default();
    if version != signer::VERSION {
        return Err(refuse(
            codes::INVALID_PARAMETER,
            format!("The specified version {version:?} is not valid."),
        ));
    }
    Ok((
        Caller {
            access_key: parsed.access_key,
            action: header(req.headers, "x-acs-action")
                .unwrap_or_default()
                .into(),
        },
        header(req.headers, "x-acs-date").unwrap_or_default().into(),
        header(req.headers, "x-acs-signature-nonce")
            .unwrap_or_default()
            .into(),
    ))
}

/// Signature v1: HMAC-SHA1 over every parameter but `Signature`.
fn check_rpc(
    keys: &HashMap<String, String>,
    req: &Request<'_>,
) -> Result<(Caller, String, String), Refused> {
    let get = |name: &'static str| {
        param(req.params, name).ok_or_else(|| Refused {
            status: 400,
            code: codes::MISSING_PARAMETER,
            message: format!("{name} is mandatory for this action."),
        })
    };
    let signature = get("Signature")?;
    let ak = get("AccessKeyId")?;
    let secret = secret(keys, ak)?;
    if get("SignatureMethod")? != "HMAC-SHA1" || get("SignatureVersion")? != "1.0" {
        return Err(refuse(
            "IncompleteSignature",
            "The request signature does not conform to Aliyun standards.",
        ));
    }
    let to_sign = signer::rpc_string_to_sign(req.method, req.params);
    if signer::rpc_signature(secret, &to_sign) != signature {
        return Err(refuse(
            codes::SIGNATURE_MISMATCH,
            format!(
                "Specified signature does not match our calculation. server StringToSign is [{to_sign}]"
            ),
        ));
    }
    if get("Version")? != signer::VERSION {
        return Err(refuse(
            codes::INVALID_PARAMETER,
            "The specified version is not valid.",
        ));
    }
    Ok((
        Caller {
            access_key: ak.into(),
            action: get("Action")?.into(),
        },
        get("Timestamp")?.into(),
        get("SignatureNonce")?.into(),
    ))
}
