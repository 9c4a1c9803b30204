use clap::Args;

use super::*;

/// A secret as `openssl rand -base64 48` prints one.
const STRONG: &str = "q4Vt8Zk1bN2xJr6LwP0sYe3HdGmA7uCfT9iKoQ5nXlRzE4jWvB8yMp1cS6aDgFh2";

/// The settings given as `flags`, with no variable of the environment read.
fn config(flags: &[&str]) -> Result<Config, String> {
    let matches = args::command()
        .mut_args(|arg| arg.env(None))
        .try_get_matches_from(["tollgate"].iter().chain(flags))
        .map_err(|err| err.to_string())?;
    Config::from_matches(&matches)
}

/// The table of settings (docs/configuration.md) lists every declared
/// variable with its default, and nothing that is not declared.
#[test]
fn the_documented_table_is_the_declared_settings() {
    let readme = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/configuration.md"
    ));
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
            .unwrap_or_else(|| panic!("docs/configuration.md has no row for TOLLGATE_{name}"));
        for value in arg.get_default_values() {
            let value = value.to_string_lossy();
            assert!(
                default.contains(&format!("`{value}`")),
                "docs/configuration.md gives TOLLGATE_{name} the default {default}, the code `{value}`"
            );
        }
    }
    // The log settings are every command's (`LogArgs`), not the server's.
    let log = LogArgs::augment_args(clap::Command::new("tollgate"));
    let log_declared: Vec<_> = log
        .get_arguments()
        .filter_map(|arg| Some(arg.get_env()?.to_str()?.to_owned()))
        .collect();
    for name in &log_declared {
        let row = name.strip_prefix("TOLLGATE_").unwrap();
        assert!(
            rows.iter().any(|(listed, _)| listed == &row),
            "docs/configuration.md has no row for {name}"
        );
    }
    for (row, _) in rows {
        let name = format!("TOLLGATE_{row}");
        assert!(
            declared.iter().any(|(declared, _)| declared == &name) || log_declared.contains(&name),
            "docs/configuration.md lists {name}, which is not a setting"
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
        let config = super::config(&[
            "--database-url",
            "postgres://u:hunter2pw@db.example/tollgate",
            "--jwt-secret",
            STRONG,
        ])
        .unwrap();
        let line = config.describe_line();
        assert!(
            !line.contains("hunter2pw") && !line.contains(STRONG),
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
        let secret = STRONG;
        assert_eq!(config(&[]).unwrap().jwt_alg, SigningAlg::RS256);
        let with_secret = config(&["--jwt-secret", secret]).unwrap();
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
        assert!(config(&["--jwt-alg", "ES256", "--jwt-secret", secret]).is_err());
    }

    #[test]
    fn a_short_key_encryption_key_is_refused_and_never_printed() {
        let short = "k".repeat(31);
        let err = config(&["--key-encryption-key", &short]).unwrap_err();
        assert!(err.contains("31 bytes") && !err.contains(&short), "{err}");
        let long = &STRONG[..40];
        let configured = config(&["--key-encryption-key", long]).unwrap();
        assert!(!format!("{configured:?}").contains(long));
        assert_eq!(configured.jwks_max_age, Duration::from_secs(300));
    }
}

mod secret_settings {
    use super::*;

    #[test]
    fn a_secret_easy_to_guess_is_refused_with_how_to_make_one() {
        for weak in [
            "x".repeat(32),
            "ab".repeat(20),
            "passwordpasswordpasswordpassword".to_owned(),
        ] {
            for flag in ["--jwt-secret", "--key-encryption-key"] {
                let err = config(&[flag, &weak]).unwrap_err();
                assert!(
                    err.contains("openssl rand -base64 48") && !err.contains(&weak),
                    "{flag} {weak}: {err}"
                );
            }
        }
        // What `openssl rand -hex 32` and `-base64 48` print is accepted.
        let hex = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        for strong in [hex, STRONG] {
            assert!(config(&["--jwt-secret", strong]).is_ok(), "{strong}");
            assert!(config(&["--key-encryption-key", strong]).is_ok());
        }
        assert!(secrets::estimated_bits(&[b'x'; 32]) < 1.0);
    }

    #[test]
    fn each_secret_may_come_from_a_file_without_its_line_ending() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path.to_string_lossy().into_owned()
        };
        let secret = write("jwt", &format!("{STRONG}\n"));
        let kek = write("kek", &format!("{}\r\n", &STRONG[..40]));
        let url = write("db", "postgres://u:filed-pw@db.example/tollgate\n");
        let configured = config(&[
            "--jwt-secret-file",
            &secret,
            "--key-encryption-key-file",
            &kek,
            "--database-url-file",
            &url,
        ])
        .unwrap();
        let exposed = |s: &Option<SecretString>| {
            secrecy::ExposeSecret::expose_secret(s.as_ref().unwrap()).to_owned()
        };
        assert_eq!(exposed(&configured.jwt_secret), STRONG);
        assert_eq!(exposed(&configured.key_encryption_key), &STRONG[..40]);
        assert_eq!(
            configured.database_url,
            "postgres://u:filed-pw@db.example/tollgate"
        );
        let shown = configured.describe_line();
        assert!(
            shown.contains("TOLLGATE_DATABASE_URL=\"postgres://u:***@db.example/tollgate (from")
                && !shown.contains("filed-pw"),
            "{shown}"
        );

        let weak = write("weak", &"x".repeat(40));
        let err = config(&["--jwt-secret-file", &weak]).unwrap_err();
        assert!(err.contains("TOLLGATE_JWT_SECRET"), "{err}");
        let missing = dir.path().join("missing").to_string_lossy().into_owned();
        let err = config(&["--key-encryption-key-file", &missing]).unwrap_err();
        // Given as a flag, it is named as the flag.
        assert!(
            err.contains("--key-encryption-key-file: cannot read"),
            "{err}"
        );
    }

    #[test]
    fn a_secret_given_both_directly_and_as_a_file_is_refused_naming_both() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, STRONG).unwrap();
        let path = path.to_string_lossy();
        for (direct, file, name) in [
            ("--jwt-secret", "--jwt-secret-file", "TOLLGATE_JWT_SECRET"),
            (
                "--key-encryption-key",
                "--key-encryption-key-file",
                "TOLLGATE_KEY_ENCRYPTION_KEY",
            ),
            (
                "--database-url",
                "--database-url-file",
                "TOLLGATE_DATABASE_URL",
            ),
        ] {
            let value = if name == "TOLLGATE_DATABASE_URL" {
                "sqlite://x.db"
            } else {
                STRONG
            };
            let err = config(&[direct, value, file, &path]).unwrap_err();
            // Named as given: both as flags here.
            assert!(
                err.contains(&format!("{direct} and {file} are both set")),
                "{name}: {err}"
            );
            assert!(!err.contains(STRONG), "{err}");
        }
    }
}

#[test]
fn the_password_hash_settings_are_flags_and_config_shows_the_peak_memory() {
    let bcrypt = config(&["--password-hash", "bcrypt", "--bcrypt-cost", "10"]).unwrap();
    assert_eq!(bcrypt.password_profile(), Profile::Bcrypt { cost: 10 });
    let flags = ["--argon2-memory", "7168", "--argon2-iterations", "5"];
    let argon2 = config(&flags).unwrap();
    let profile = Profile::Argon2id(Argon2Params::new(7168, 5, 1));
    assert_eq!(argon2.password_profile(), profile);
    let cores = crate::auth::password::Hasher::default_concurrency();
    let (_, shown) = argon2
        .describe()
        .into_iter()
        .find(|(name, _)| name == "TOLLGATE_PASSWORD_HASH")
        .unwrap();
    let peak = format!(
        "peak hashing memory {:.1} MiB = 7.0 MiB x {cores}",
        7.0 * cores as f64
    );
    assert!(
        shown.starts_with("argon2id") && shown.contains(&peak),
        "{shown}"
    );
    for bad in [
        &["--argon2-memory", "4194304"][..],
        &["--argon2-memory", "7"],
        &["--argon2-iterations", "0"],
        &["--argon2-iterations", "33"],
        &["--argon2-parallelism", "17"],
        &["--argon2-memory", "16", "--argon2-parallelism", "4"],
        &["--password-hash", "scrypt"],
    ] {
        assert!(config(bad).is_err(), "{bad:?}");
    }
}
