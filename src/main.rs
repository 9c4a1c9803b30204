//! The `tollgate` binary: parse the command line, set up logging, run.

use std::{ffi::OsString, process::ExitCode};

use clap::{CommandFactory, FromArgMatches};

#[tokio::main]
async fn main() -> ExitCode {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let mut command = tollgate::cli::Cli::command();
    let matches = match command.try_get_matches_from_mut(&argv) {
        Ok(matches) => matches,
        // A refused value is one line naming the variable or the flag that
        // gave it; clap explains the rest (an unknown flag, --help) itself.
        Err(err) => match tollgate::config::explain(&err, &command, &argv) {
            Some(line) => {
                eprintln!("tollgate: {line}");
                return ExitCode::from(2);
            }
            None => err.exit(),
        },
    };
    let cli = tollgate::cli::Cli::from_arg_matches(&matches).unwrap_or_else(|err| err.exit());
    let (filter, format) = cli.log.named(&matches);
    let log = match tollgate::request_log::init(filter, format) {
        Ok(log) => log,
        Err(err) => {
            eprintln!("tollgate: {err}");
            return ExitCode::FAILURE;
        }
    };
    let code = match tollgate::cli::run(cli, &matches).await {
        Ok(()) => ExitCode::SUCCESS,
        // Once, on standard error, whatever the log format: the message is
        // for the operator at the terminal or in the unit's journal.
        Err(err) => {
            eprintln!("tollgate: {err}");
            ExitCode::FAILURE
        }
    };
    log.finish();
    code
}
