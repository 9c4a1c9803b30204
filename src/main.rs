//! The `tollgate` binary: parse the command line, set up logging, run.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = tollgate::cli::Cli::parse();
    let log = tollgate::request_log::init();
    let code = match tollgate::cli::run(cli).await {
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
