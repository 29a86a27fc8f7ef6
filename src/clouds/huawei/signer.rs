//! `SDK-HMAC-SHA256` request signing, shared by the client (to sign) and the simulator (to
//! verify), so both sides build the canonical request with the same code.

use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::{Digest, Sha256};

pub const ALGORITHM: &str = "SDK-HMAC-SHA256";
pub const DATE_HEADER: &str = "x-sdk-date";
pub const DATE_FORMAT: &str = "%Y%m%dT%H%M%SZ";

/// Everything but the unreserved characters `A-Z a-z 0-9 - _ . ~` is escaped, hex upper case.
const ESCAPE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

pub fn escape(s: &str) -> String {
    utf8_percent_encode(s, ESCAPE).to_string()
}

pub fn hex_sha256(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The path with each segment escaped, always ending in `/` (the gateway's rule).
pub fn canonical_uri(path: &str) -> String {
    let mut out = path.split('/').map(escape).collect::<Vec<_>>().join("/");
    if !out.ends_with('/') {
        out.push('/');
    }
    out
}

/// Query pairs escaped, sorted by key then value, joined by `&`.
pub fn canonical_query(query: &[(String, String)]) -> String {
    let mut pairs: Vec<(String, String)> =
        query.iter().map(|(k, v)| (escape(k), escape(v))).collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// A request as the signer sees it. `headers` are the headers to sign, names in any case.
pub struct SignableRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a [(String, String)],
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

/// Lower-cased, sorted names of the headers that are signed (names with `_` are never signed).
pub fn signed_header_names(headers: &[(String, String)]) -> Vec<String> {
    let mut names: Vec<String> = headers
        .iter()
        .map(|(k, _)| k.to_ascii_lowercase())
        .filter(|k| !k.contains('_'))
        .collect();
    names.sort();
    names.dedup();
    names
}

pub fn canonical_request(req: &SignableRequest<'_>, signed: &[String]) -> String {
    let mut canonical_headers = String::new();
    for name in signed {
        let value = req
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
            .unwrap_or("");
        canonical_headers.push_str(name);
        canonical_headers.push(':');
        canonical_headers.push_str(value);
        canonical_headers.push('\n');
    }
    format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method.to_ascii_uppercase(),
        canonical_uri(req.path),
        canonical_query(req.query),
        canonical_headers,
        signed.join(";"),
        hex_sha256(req.body)
    )
}

pub fn string_to_sign(date: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{date}\n{}",
        hex_sha256(canonical_request.as_bytes())
    )
}

fn mac(secret_key: &str) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so construction cannot fail.
    match Hmac::<Sha256>::new_from_slice(secret_key.as_bytes()) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    }
}

/// Hex signature of a request; `date` must equal the `X-Sdk-Date` header among `headers`.
pub fn signature(
    secret_key: &str,
    date: &str,
    req: &SignableRequest<'_>,
    signed: &[String],
) -> String {
    let mut m = mac(secret_key);
    m.update(string_to_sign(date, &canonical_request(req, signed)).as_bytes());
    hex::encode(m.finalize().into_bytes())
}

/// Constant-time check of a hex signature.
pub fn verify(
    secret_key: &str,
    date: &str,
    req: &SignableRequest<'_>,
    signed: &[String],
    sig_hex: &str,
) -> bool {
    let Ok(sig) = hex::decode(sig_hex) else {
        return false;
    };
    let mut m = mac(secret_key);
    m.update(string_to_sign(date, &canonical_request(req, signed)).as_bytes());
    m.verify_slice(&sig).is_ok()
}

/// The `Authorization` header value for a request, signing every header in `req.headers`.
pub fn authorization(
    access_key: &str,
    secret_key: &str,
    date: &str,
    req: &SignableRequest<'_>,
) -> String {
    let signed = signed_header_names(req.headers);
    let sig = signature(secret_key, date, req, &signed);
    format!(
        "{ALGORITHM} Access={access_key}, SignedHeaders={}, Signature={sig}",
        signed.join(";")
    )
}

/// The parts of an `Authorization: SDK-HMAC-SHA256 ...` header.
#[derive(Debug, PartialEq, Eq)]
pub struct ParsedAuthorization {
    pub access: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

pub fn parse_authorization(value: &str) -> Option<ParsedAuthorization> {
    let rest = value.strip_prefix(ALGORITHM)?.trim_start();
    let (mut access, mut signed, mut sig) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "Access" => access = Some(v.to_string()),
            "SignedHeaders" => {
                signed = Some(v.split(';').map(|s| s.to_ascii_lowercase()).collect())
            }
            "Signature" => sig = Some(v.to_string()),
            _ => {}
        }
    }
    Some(ParsedAuthorization {
        access: access?,
        signed_headers: signed?,
        signature: sig?,
    })
}

/// Splits a raw (still escaped) query string into decoded pairs.
pub fn parse_query(raw: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.replace('+', "%2B").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}
