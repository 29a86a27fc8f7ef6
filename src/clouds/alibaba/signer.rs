//! Alibaba Cloud request signing, shared by the client (to sign) and the simulator (to verify):
//! `ACS3-HMAC-SHA256` (signature v3, the SDK's default) and the older RPC signature v1
//! (HMAC-SHA1 over the sorted query). Steps and vectors: mps-api.md, "Authentication".

use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;

pub const ACS3: &str = "ACS3-HMAC-SHA256";
pub const VERSION: &str = "2014-06-18";
/// `x-acs-date` and the v1 `Timestamp`: UTC to the second.
pub const DATE_FORMAT: &str = "%Y-%m-%dT%H:%M:%SZ";
/// Headers a v3 signature must cover (the Python client signs more).
pub const REQUIRED_SIGNED: [&str; 6] = [
    "host",
    "x-acs-action",
    "x-acs-content-sha256",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-version",
];

// The same RFC 3986 escaping (unreserved `A-Z a-z 0-9 - _ . ~` kept, hex upper case) and the
// same sort by name then value as Huawei's gateway: one implementation for both clouds.
pub use crate::clouds::huawei::signer::{canonical_query, escape, hex_sha256};

/// A v3 request as the signer sees it: `headers` are the headers to sign.
pub struct Acs3Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a [(String, String)],
    pub headers: &'a [(String, String)],
    /// The `x-acs-content-sha256` value.
    pub payload_hash: &'a str,
}

/// The v3 canonical request and the signed-header list.
pub fn acs3_canonical(req: &Acs3Request<'_>) -> (String, String) {
    let mut headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    headers.sort();
    let block: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let names = headers
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let canonical = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method,
        req.path,
        canonical_query(req.query),
        block,
        names,
        req.payload_hash
    );
    (canonical, names)
}

/// `ACS3-HMAC-SHA256\n{hex sha256 of the canonical request}`.
pub fn acs3_string_to_sign(canonical: &str) -> String {
    format!("{ACS3}\n{}", hex_sha256(canonical.as_bytes()))
}

/// Hex HMAC-SHA256 of the string to sign, keyed with the secret as is.
pub fn acs3_signature(secret: &str, string_to_sign: &str) -> String {
    // An HMAC takes keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(string_to_sign.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The `Authorization` header value of a v3 request.
pub fn acs3_authorization(access_key: &str, secret: &str, req: &Acs3Request<'_>) -> String {
    let (canonical, names) = acs3_canonical(req);
    let signature = acs3_signature(secret, &acs3_string_to_sign(&canonical));
    format!("{ACS3} Credential={access_key},SignedHeaders={names},Signature={signature}")
}

/// The parts of a v3 `Authorization` header.
#[derive(Debug, PartialEq, Eq)]
pub struct Acs3Header {
    pub access_key: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

pub fn parse_acs3(value: &str) -> Option<Acs3Header> {
    let rest = value.strip_prefix(ACS3)?.trim_start();
    let (mut ak, mut names, mut sig) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "Credential" => ak = Some(v.to_string()),
            "SignedHeaders" => names = Some(v.split(';').map(str::to_string).collect()),
            "Signature" => sig = Some(v.to_string()),
            _ => return None,
        }
    }
    Some(Acs3Header {
        access_key: ak?,
        signed_headers: names?,
        signature: sig?,
    })
}

/// The v1 string to sign: `METHOD&%2F&` + escape(canonical query of every parameter but
/// `Signature`).
pub fn rpc_string_to_sign(method: &str, params: &[(String, String)]) -> String {
    let rest: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| k != "Signature")
        .cloned()
        .collect();
    format!("{method}&%2F&{}", escape(&canonical_query(&rest)))
}

/// Base64 HMAC-SHA1 of the v1 string to sign, keyed with `secret&`.
pub fn rpc_signature(secret: &str, string_to_sign: &str) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(format!("{secret}&").as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_round_trips() {
        let h =
            parse_acs3("ACS3-HMAC-SHA256 Credential=ak,SignedHeaders=host;x-acs-date,Signature=ab")
                .unwrap();
        assert_eq!(h.access_key, "ak");
        assert_eq!(h.signed_headers, ["host", "x-acs-date"]);
        assert!(parse_acs3("SDK-HMAC-SHA256 Access=ak").is_none());
    }
}
