//! Database URLs in logs and messages: never with their password.

/// The URL with its password replaced by `***`, in every form a driver
/// reads: `user:password@`, and sqlx's `?password=` parameter. A URL that
/// does not parse (a password with an unencoded `/`, `?`, `#` or `@`) has
/// everything between `://` and its last `@` masked. Any other string
/// unchanged.
pub fn mask_password(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return mask_unparsed(url);
    };
    let in_query = parsed.query_pairs().any(|(key, _)| key == "password");
    if parsed.password().is_none() && !in_query {
        // Unchanged, as written (a parsed URL would gain a trailing `/`).
        return url.to_owned();
    }
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some("***"));
    }
    if in_query {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(key, value)| match key == "password" {
                true => (key.into_owned(), "***".to_owned()),
                false => (key.into_owned(), value.into_owned()),
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string()
}

/// `scheme://***@rest` for a URL that did not parse but has credentials.
fn mask_unparsed(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(start), Some(at)) if at > start + 3 => {
            format!("{}***{}", &url[..start + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// What to tell a user whose database URL did not parse.
pub const PERCENT_ENCODE_HINT: &str =
    "percent-encode the user name and password (`/` as %2F, `?` as %3F, `#` as %23, `@` as %40)";

#[cfg(test)]
mod tests {
    use super::mask_password;

    #[test]
    fn passwords_in_urls_are_masked_in_every_form() {
        assert_eq!(
            mask_password("postgres://app:s3cret@db.example:5432/tollgate"),
            "postgres://app:***@db.example:5432/tollgate"
        );
        assert_eq!(
            mask_password("postgres://app@db/tollgate"),
            "postgres://app@db/tollgate"
        );
        for unchanged in ["sqlite://tollgate.db", "http://t.test", "127.0.0.1:8000"] {
            assert_eq!(mask_password(unchanged), unchanged);
        }
        let query = mask_password("postgres://app@db/tollgate?sslmode=require&password=s3cret");
        assert!(!query.contains("s3cret"), "{query}");
        assert!(query.contains("sslmode=require"), "{query}");
        for unparsed in [
            "postgres://app:s3/cret@db/tollgate",
            "postgres://app:s3?cret@db/tollgate",
            "postgres://app:s3#cret@db/tollgate",
            "postgres://app:s3@cr@et@db/tollgate",
        ] {
            let shown = mask_password(unparsed);
            assert!(!shown.contains("s3") && !shown.contains("cret"), "{shown}");
            assert!(shown.ends_with("@db/tollgate"), "{shown}");
        }
    }
}
