//! The `tollgate` binary: parse the command line, set up logging, run.

use clap::{CommandFactory, FromArgMatches};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let matches = tollgate::cli::Cli::command().get_matches();
    let cli = tollgate::cli::Cli::from_arg_matches(&matches).unwrap_or_else(|err| err.exit());
    let log = match tollgate::request_log::init() {
        Ok(log) => log,
        Err(err) => {
            eprintln!("tollgate: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let code = match tollgate::cli::run(cli, &matches).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // Once, on standard error, whatever the log format: the message is
        // for the operator at the terminal or in the unit's journal.
        Err(err) => {
            eprintln!("tollgate: {err}");
            std::process::ExitCode::FAILURE
        }
    };
    log.finish();
    code
}
