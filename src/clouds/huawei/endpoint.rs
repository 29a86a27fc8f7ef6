//! Where an upstream call may go. A tenant's Secret can name a region or an endpoint, so both are
//! checked here before any connection: a region must look like one (it is pasted into a host
//! name), an endpoint must be a bare origin, and plain http is allowed only to loopback unless the
//! installer said otherwise.

use std::net::IpAddr;

use crate::clouds::Service;

/// `https://live.{region}.myhuaweicloud.com`, for a region that passed [`valid_region`].
pub fn for_region(region: &str) -> String {
    for_service(Service::Live, region)
}

/// The endpoint of `service` in a region that passed [`valid_region`].
pub fn for_service(service: Service, region: &str) -> String {
    service.endpoint(region)
}

/// Huawei Cloud region ids: lowercase words and numbers joined by single hyphens, such as
/// `cn-north-4`, `ap-southeast-1` or `la-south-2`. Anything else (a `@`, `/`, `:` or `.`) could
/// turn the endpoint's host into another host.
pub fn valid_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    (2..=40).contains(&region.len())
        && parts.len() >= 2
        && parts[0].len() >= 2
        && parts[0].bytes().all(|b| b.is_ascii_lowercase())
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

/// The endpoint reduced to its origin (`scheme://host[:port]`), or why it is refused: not a URL,
/// credentials, a path, query or fragment, or plain http to anything but loopback when
/// `allow_insecure_http` is false.
pub fn origin(endpoint: &str, allow_insecure_http: bool) -> Result<String, String> {
    let url = url::Url::parse(endpoint).map_err(|e| format!("not a URL: {e}"))?;
    let host = url.host_str().filter(|h| !h.is_empty()).ok_or("no host")?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry user information".into());
    }
    if url.path() != "/" && !url.path().is_empty() {
        return Err("must not have a path".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query or fragment".into());
    }
    match url.scheme() {
        "https" => {}
        "http" if allow_insecure_http || is_loopback(host) => {}
        "http" => {
            return Err(
                "plain http is allowed only to loopback (start the operator with --allow-insecure-http to permit it)"
                    .into(),
            );
        }
        other => return Err(format!("scheme {other:?} is not http or https")),
    }
    Ok(match url.port() {
        Some(p) => format!("{}://{host}:{p}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    })
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions() {
        for ok in [
            "cn-north-4",
            "ap-southeast-1",
            "la-south-2",
            "cn-east-3",
            "eu-west-101",
        ] {
            assert!(valid_region(ok), "{ok}");
        }
        for bad in [
            "x@127.0.0.1:9999/probe?",
            "cn-north-4.evil.com",
            "cn-north-4/",
            "cn",
            "-cn-north",
            "cn--north",
            "CN-NORTH-4",
            "cn-north-4 ",
            "",
        ] {
            assert!(!valid_region(bad), "{bad:?}");
        }
    }

    #[test]
    fn origins() {
        assert_eq!(
            origin("https://live.cn-north-4.myhuaweicloud.com/", false).unwrap(),
            "https://live.cn-north-4.myhuaweicloud.com"
        );
        assert_eq!(
            origin("http://127.0.0.1:8443", false).unwrap(),
            "http://127.0.0.1:8443"
        );
        assert!(origin("http://[::1]:8443", false).is_ok());
        assert!(origin("http://localhost:1", false).is_ok());
        assert!(origin("http://live.example.com", false).is_err());
        assert!(origin("http://live.example.com", true).is_ok());
        assert!(origin("https://u:p@live.example.com", false).is_err());
        assert!(origin("https://live.example.com/x", false).is_err());
        assert!(origin("https://live.example.com?x=1", false).is_err());
        assert!(origin("file:///etc/passwd", true).is_err());
        assert!(origin("gopher://h", true).is_err());
    }
}
