//! The command line's settings: accepted before or after the subcommand,
//! listed in each command's `--help` only where used, and refused in one
//! line that names what the user set.

use std::process::Output;

use crate::{
    cli::tollgate,
    helpers::{TestApp, tollgate_command},
};

/// Variables set for one run.
type Env<'a> = &'a [(&'a str, &'a str)];

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn run(env: &[(&str, &str)], args: &[&str]) -> Output {
    tollgate_command("sqlite://unused.db")
        .envs(env.iter().copied())
        .args(args)
        .output()
        .unwrap()
}

#[tokio::test]
async fn the_database_url_may_follow_the_subcommand() {
    let app = TestApp::spawn().await;
    let url = app.database_url().to_owned();
    // The variable names another file; the flag after the command wins.
    let listed = run(&[], &["user", "list", "--database-url", &url]);
    assert!(listed.status.success(), "{}", stderr(&listed));
    assert!(String::from_utf8_lossy(&listed.stdout).contains("admin"));
    let sessions = run(&[], &["sessions", "list", "--database-url", &url]);
    assert!(sessions.status.success(), "{}", stderr(&sessions));
    let keys = run(&[], &["keys", "list", "--database-url", &url]);
    assert!(keys.status.success(), "{}", stderr(&keys));
    // And before it, on the command that takes it.
    let before = tollgate(&app, &["user", "--database-url", &url, "list"], "");
    assert!(before.status.success(), "{}", stderr(&before));
}

#[test]
fn keys_migrate_and_sessions_help_lists_only_what_they_use() {
    let help = |args: &[&str]| String::from_utf8(run(&[], args).stdout).unwrap();
    let keys = help(&["keys", "rotate", "--help"]);
    for used in [
        "--database-url",
        "--jwt-alg",
        "--key-encryption-key",
        "--jwks-max-age",
    ] {
        assert!(keys.contains(used), "keys lacks {used}: {keys}");
    }
    for args in [
        &["keys", "--help"][..],
        &["keys", "list", "--help"],
        &["migrate", "--help"],
        &["sessions", "--help"],
        &["sessions", "revoke", "--help"],
    ] {
        let text = help(args);
        assert!(text.contains("--database-url"), "{args:?}: {text}");
        for unused in [
            "--bind",
            "--bcrypt-cost",
            "--argon2-memory",
            "--throttle",
            "--access-ttl",
        ] {
            assert!(!text.contains(unused), "{args:?} lists {unused}: {text}");
        }
    }
    for args in [&["migrate", "--help"][..], &["sessions", "list", "--help"]] {
        let text = help(args);
        assert!(!text.contains("--jwt"), "{args:?}: {text}");
    }
    // The log settings are every command's.
    for args in [
        &["serve", "--help"][..],
        &["user", "list", "--help"],
        &["migrate", "--help"],
    ] {
        let text = help(args);
        assert!(
            text.contains("--log <") && text.contains("--log-format"),
            "{args:?}: {text}"
        );
        assert!(text.contains("TOLLGATE_LOG_FORMAT"), "{args:?}: {text}");
    }
}

#[test]
fn a_bad_value_is_one_line_naming_the_variable_or_the_flag_that_gave_it() {
    let cases: [(Env, &[&str], &str); 6] = [
        (
            &[("TOLLGATE_ACCESS_TTL", "15")],
            &["config"],
            "TOLLGATE_ACCESS_TTL is `15`: ",
        ),
        (
            &[],
            &["config", "--access-ttl", "15"],
            "--access-ttl is `15`: ",
        ),
        (
            &[],
            &["config", "--access-ttl=15"],
            "--access-ttl is `15`: ",
        ),
        // With no command, the server's settings come from the variables.
        (
            &[("TOLLGATE_ACCESS_TTL", "15")],
            &[],
            "TOLLGATE_ACCESS_TTL is `15`: ",
        ),
        (
            &[("TOLLGATE_PASSWORD_HASH", "md5")],
            &["user", "list"],
            "TOLLGATE_PASSWORD_HASH is `md5`: it must be one of argon2id, bcrypt",
        ),
        (
            &[],
            &["user", "list", "--bcrypt-cost", "99"],
            "--bcrypt-cost is `99`: ",
        ),
    ];
    for (env, args, expected) in cases {
        let output = run(env, args);
        assert!(!output.status.success(), "{env:?} {args:?}");
        let message = stderr(&output);
        assert!(
            message.starts_with(&format!("tollgate: {expected}")),
            "{env:?} {args:?}: {message}"
        );
        assert_eq!(message.lines().count(), 1, "{env:?} {args:?}: {message}");
        assert!(!message.contains("error:"), "{message}");
    }
}

#[test]
fn a_refused_setting_is_named_as_it_was_given() {
    let by_flag = run(&[], &["config", "--issuer", "ftp://tollgate.example"]);
    assert!(
        stderr(&by_flag).starts_with("tollgate: --issuer `ftp://"),
        "{}",
        stderr(&by_flag)
    );
    let by_variable = run(
        &[("TOLLGATE_ISSUER", "ftp://tollgate.example")],
        &["config"],
    );
    assert!(
        stderr(&by_variable).starts_with("tollgate: TOLLGATE_ISSUER `ftp://"),
        "{}",
        stderr(&by_variable)
    );
}

#[test]
fn the_log_settings_have_flags_too() {
    for (args, expected) in [
        (&["config", "--log", "verbose"][..], "tollgate: --log="),
        (
            &["migrate", "--log-format", "yaml"],
            "tollgate: --log-format is `yaml`",
        ),
        (
            &["--log-format", "yaml", "config"],
            "tollgate: --log-format is `yaml`",
        ),
    ] {
        let output = run(&[], args);
        assert!(!output.status.success(), "{args:?}");
        assert!(
            stderr(&output).starts_with(expected),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    let output = run(&[("TOLLGATE_LOG_FORMAT", "yaml")], &["config"]);
    assert!(stderr(&output).starts_with("tollgate: TOLLGATE_LOG_FORMAT is `yaml`"));
    // A flag wins over the variable.
    let output = run(
        &[("TOLLGATE_LOG_FORMAT", "yaml")],
        &["config", "--log-format", "json"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
}
