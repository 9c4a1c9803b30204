//! The `tollgate` binary: parse the command line, set up logging, run.

use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = tollgate::cli::Cli::parse();
    init_logging();
    match tollgate::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // Once, on standard error, whatever the log format: the message is
        // for the operator at the terminal or in the unit's journal.
        Err(err) => {
            eprintln!("tollgate: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// `TOLLGATE_LOG` (else `RUST_LOG`, else `info`) filters; `TOLLGATE_LOG_FORMAT=json`
/// writes JSON lines. Logs go to standard error, so `tollgate openapi` output stays clean.
fn init_logging() {
    let filter = std::env::var("TOLLGATE_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr);
    if std::env::var("TOLLGATE_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
}
