use super::*;

/// The settings given as `flags`, with no variable of the environment read.
fn config(flags: &[&str]) -> Result<Config, String> {
    let matches = args::command()
        .mut_args(|arg| arg.env(None))
        .try_get_matches_from(["tollgate"].iter().chain(flags))
        .map_err(|err| err.to_string())?;
    Config::from_matches(&matches)
}

/// The README's table of settings lists every declared variable with its
/// default, and nothing that is not declared.
#[test]
fn the_readme_table_is_the_declared_settings() {
    let readme = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"));
    let rows: Vec<(&str, &str)> = readme
        .lines()
        .filter_map(|line| {
            let mut cells = line.strip_prefix("| `TOLLGATE_")?.split(" | ");
            let name = cells.next()?.split('`').next()?;
            Some((name, cells.next()?))
        })
        .collect();
    let command = args::command();
    let declared: Vec<_> = command
        .get_arguments()
        .filter_map(|arg| Some((arg.get_env()?.to_str()?.to_owned(), arg)))
        .collect();
    for (name, arg) in &declared {
        let name = name.strip_prefix("TOLLGATE_").unwrap();
        let (_, default) = rows
            .iter()
            .find(|(row, _)| row == &name)
            .unwrap_or_else(|| panic!("README's table has no row for TOLLGATE_{name}"));
        for value in arg.get_default_values() {
            let value = value.to_string_lossy();
            assert!(
                default.contains(&format!("`{value}`")),
                "README gives TOLLGATE_{name} the default {default}, the code `{value}`"
            );
        }
    }
    // The log settings are read before the command line (`request_log`).
    for (row, _) in rows {
        assert!(
            declared
                .iter()
                .any(|(name, _)| name == &format!("TOLLGATE_{row}"))
                || matches!(row, "LOG" | "LOG_FORMAT"),
            "README lists TOLLGATE_{row}, which is not a setting"
        );
    }
}

/// `tollgate config` shows every declared setting, and refuses what `serve`
/// refuses.
#[test]
fn config_shows_every_setting_and_refuses_what_serve_refuses() {
    let shown = config(&[]).unwrap().describe();
    let declared = args::command()
        .get_arguments()
        .filter(|arg| arg.get_env().is_some())
        .count();
    assert_eq!(shown.len(), declared);
    for name in [
        "TOLLGATE_HASH_QUEUE",
        "TOLLGATE_HEADER_TIMEOUT",
        "TOLLGATE_MAX_CONNECTIONS",
    ] {
        assert!(shown.iter().any(|(shown, _)| shown == name), "{name}");
    }
    let err = config(&["--database-url", "mysql://root@db/x"]).unwrap_err();
    assert!(err.contains("sqlite:// or postgres://"), "{err}");
}

mod metrics {
    use super::*;

    #[test]
    fn the_metrics_listener_may_not_take_the_api_port() {
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
        let api = addr("127.0.0.1:8000");
        assert!(check_metrics_bind(api, None).is_ok());
        assert!(check_metrics_bind(api, Some(addr("127.0.0.1:9100"))).is_ok());
        assert!(check_metrics_bind(api, Some(addr("127.0.0.2:8000"))).is_ok());
        for clash in ["127.0.0.1:8000", "0.0.0.0:8000", "[::]:8000"] {
            let err = check_metrics_bind(api, Some(addr(clash))).unwrap_err();
            assert!(err.contains("TOLLGATE_METRICS_BIND"), "{err}");
        }
        assert!(check_metrics_bind(addr("0.0.0.0:8000"), Some(api)).is_err());
        let any = addr("127.0.0.1:0");
        assert!(check_metrics_bind(any, Some(any)).is_ok());
    }

    #[test]
    fn the_start_line_masks_secrets() {
        let secret = "s".repeat(40);
        let config = super::config(&[
            "--database-url",
            "postgres://u:hunter2pw@db.example/tollgate",
            "--jwt-secret",
            &secret,
        ])
        .unwrap();
        let line = config.describe_line();
        assert!(
            !line.contains("hunter2pw") && !line.contains(&"s".repeat(40)),
            "{line}"
        );
        assert!(
            line.contains("TOLLGATE_DATABASE_URL=postgres://u:***@db.example/tollgate"),
            "{line}"
        );
        assert!(
            line.contains("TOLLGATE_JWT_SECRET=\"set (hidden)\""),
            "{line}"
        );
        assert!(line.contains("TOLLGATE_METRICS_BIND="), "{line}");
    }
}

mod parsing {
    use super::*;

    #[test]
    fn the_issuer_defaults_to_the_bound_address_with_wildcards_as_loopback() {
        let config = config(&[]).unwrap();
        assert_eq!(config.issuer_for(config.bind), "http://127.0.0.1:8000");
        for (bound, issuer) in [
            ("0.0.0.0:9000", "http://127.0.0.1:9000"),
            ("[::]:9000", "http://127.0.0.1:9000"),
            ("10.1.2.3:80", "http://10.1.2.3:80"),
            ("[::1]:8000", "http://[::1]:8000"),
        ] {
            assert_eq!(config.issuer_for(bound.parse().unwrap()), issuer);
        }
    }

    #[test]
    fn the_issuer_is_used_as_written_and_must_be_an_http_url_without_query() {
        let written = "https://auth.example.com/tenant/";
        let configured = config(&["--issuer", written]).unwrap();
        assert_eq!(configured.issuer_for(configured.bind), written);
        for bad in [
            "tollgate",
            "ftp://auth.example.com",
            "https://auth.example.com/?a=b",
            "https://auth.example.com/#f",
            "https://user:pw@auth.example.com",
            "/relative",
        ] {
            assert!(config(&["--issuer", bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_algorithm_follows_the_secret_unless_configured() {
        let secret = "s".repeat(32);
        assert_eq!(config(&[]).unwrap().jwt_alg, SigningAlg::RS256);
        let with_secret = config(&["--jwt-secret", &secret]).unwrap();
        assert_eq!(with_secret.jwt_alg, SigningAlg::HS256);
        assert_eq!(
            config(&["--jwt-alg", "EdDSA"]).unwrap().jwt_alg,
            SigningAlg::EdDSA
        );
        assert!(
            config(&["--jwt-alg", "eddsa"]).is_err(),
            "alg names are case-sensitive"
        );
        assert!(config(&["--jwt-alg", "none"]).is_err());
        assert!(config(&["--jwt-alg", "ES256", "--jwt-secret", &secret]).is_err());
    }

    #[test]
    fn a_short_key_encryption_key_is_refused_and_never_printed() {
        let short = "k".repeat(31);
        let err = config(&["--key-encryption-key", &short]).unwrap_err();
        assert!(err.contains("31 bytes") && !err.contains(&short), "{err}");
        let long = "k".repeat(32);
        let configured = config(&["--key-encryption-key", &long]).unwrap();
        assert!(!format!("{configured:?}").contains(&long));
        assert_eq!(configured.jwks_max_age, Duration::from_secs(300));
    }
}
