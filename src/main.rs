//! The `tollgate` binary: parse the command line, set up logging, run.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = tollgate::cli::Cli::parse();
    let log = tollgate::request_log::init();
    let code = match tollgate::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err}");
            eprintln!("tollgate: {err}");
            std::process::ExitCode::FAILURE
        }
    };
    log.finish();
    code
}
