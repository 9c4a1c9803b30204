//! The URLs a verifier fetches: where the metadata is, which hosts may be
//! reached over plain HTTP, and how long a response may be kept.

use std::{net::IpAddr, time::Duration};

use crate::jwks::METADATA_PATH;

/// RFC 8414 §3.1: the well-known path goes between the host and the
/// issuer's path (`https://h/t` gives `https://h/.well-known/oauth-authorization-server/t`).
pub(crate) fn metadata_url(issuer: &str) -> Result<String, String> {
    let mut url = url::Url::parse(issuer).map_err(|e| format!("issuer `{issuer}`: {e}"))?;
    let path = url.path().trim_end_matches('/').to_owned();
    url.set_path(&format!("{METADATA_PATH}{path}"));
    Ok(url.to_string())
}

/// 127.0.0.0/8, ::1 or `localhost`.
pub(crate) fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.');
            name.eq_ignore_ascii_case("localhost")
        }
        None => false,
    }
}

/// `max-age` of a `Cache-Control` header; `no-cache` and `no-store` count as 0.
pub(crate) fn max_age(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::CACHE_CONTROL)?.to_str().ok()?;
    value.split(',').map(str::trim).find_map(|directive| {
        if directive.eq_ignore_ascii_case("no-cache") || directive.eq_ignore_ascii_case("no-store")
        {
            return Some(Duration::ZERO);
        }
        let (name, seconds) = directive.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("max-age")
            .then(|| seconds.trim().trim_matches('"').parse().ok())
            .flatten()
            .map(Duration::from_secs)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metadata_url_follows_rfc_8414_section_3_1() {
        let url = |issuer| metadata_url(issuer).unwrap();
        assert_eq!(
            url("http://127.0.0.1:8000"),
            "http://127.0.0.1:8000/.well-known/oauth-authorization-server"
        );
        assert_eq!(
            url("https://auth.example.com/tenant/"),
            "https://auth.example.com/.well-known/oauth-authorization-server/tenant"
        );
    }

    #[test]
    fn only_loopback_hosts_count_as_loopback() {
        let loopback = |url: &str| is_loopback(&url::Url::parse(url).unwrap());
        for url in [
            "http://127.0.0.1:8000",
            "http://127.1.2.3",
            "http://[::1]:80",
            "http://localhost:8000",
            "http://LOCALHOST./x",
        ] {
            assert!(loopback(url), "{url}");
        }
        for url in [
            "http://0.0.0.0:8000",
            "http://10.0.0.1",
            "http://[::ffff:10.0.0.1]",
            "http://localhost.example.com",
            "http://auth.example.com",
        ] {
            assert!(!loopback(url), "{url}");
        }
    }

    #[test]
    fn max_age_is_read_from_cache_control() {
        let with = |value: &str| {
            let mut headers = reqwest::header::HeaderMap::new();
            headers.insert(reqwest::header::CACHE_CONTROL, value.parse().unwrap());
            max_age(&headers)
        };
        assert_eq!(with("public, max-age=300"), Some(Duration::from_secs(300)));
        assert_eq!(
            with("Max-Age=7, must-revalidate"),
            Some(Duration::from_secs(7))
        );
        assert_eq!(with("no-cache"), Some(Duration::ZERO));
        assert_eq!(with("public"), None);
    }
}
