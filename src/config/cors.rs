//! `TOLLGATE_CORS_ORIGINS`: the browser origins allowed to call the token
//! and discovery endpoints (the middleware's `cors` applies them).

/// Exact origins, each `scheme://host[:port]` as a browser sends it in
/// `Origin`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorsOrigins(pub Vec<String>);

/// Parses a comma- or space-separated list of origins. `*` is refused:
/// every origin is named (docs/decisions.md says why).
pub fn parse(value: &str) -> Result<CorsOrigins, String> {
    let mut origins = Vec::new();
    for given in value
        .split([',', ' ', '\t', '\n'])
        .filter(|part| !part.is_empty())
    {
        if given == "*" {
            return Err(
                "`*` is not accepted: list each origin, like https://app.example.com".into(),
            );
        }
        let origin = url::Url::parse(given)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https"))
            .map(|url| url.origin().ascii_serialization())
            .filter(|origin| origin.eq_ignore_ascii_case(given))
            .ok_or_else(|| {
                format!(
                    "`{given}` is not an origin: write it as scheme://host[:port], \
                     with no path, no trailing slash and no default port"
                )
            })?;
        if !origins.contains(&origin) {
            origins.push(origin);
        }
    }
    Ok(CorsOrigins(origins))
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn exact_origins_separated_by_commas_or_spaces() {
        let origins =
            parse("https://App.example.com, http://127.0.0.1:9000 http://localhost:3000").unwrap();
        assert_eq!(
            origins.0,
            [
                "https://app.example.com",
                "http://127.0.0.1:9000",
                "http://localhost:3000"
            ]
        );
        assert_eq!(parse("").unwrap().0, Vec::<String>::new());
        for bad in [
            "*",
            "https://a.example.com/",
            "https://a.example.com/path",
            "https://a.example.com:443",
            "ftp://a.example.com",
            "a.example.com",
            "null",
        ] {
            assert!(parse(bad).is_err(), "{bad} was accepted");
        }
    }
}
