//! The log's settings as flags and variables (the log itself is set up by
//! `request_log`, before any command runs).

use clap::{ArgMatches, Args};

/// A setting's value with the name it was given by: the flag or the
/// variable.
pub type Named = (String, String);

/// The log's settings, taken by every command (before or after it).
#[derive(Debug, Clone, Args)]
pub struct LogArgs {
    /// Log filter: a level (`warn`) or directives (`info,tollgate=debug`);
    /// an invalid one stops the start. Unset: RUST_LOG, else `info`.
    #[arg(long, env = "TOLLGATE_LOG", global = true, display_order = 900)]
    pub log: Option<String>,

    /// `text` (colours only on a terminal, with NO_COLOR unset) or `json`
    /// (one object per line). Default: text.
    #[arg(long, env = "TOLLGATE_LOG_FORMAT", global = true, display_order = 901)]
    pub log_format: Option<String>,
}

impl LogArgs {
    /// The filter and the format, each as `(name as given, value)`: the flag
    /// when it came from the command line in `matches`, else the variable.
    pub fn named(&self, matches: &ArgMatches) -> (Option<Named>, Option<Named>) {
        let named = |id: &str, flag: &str, variable: &str, value: &Option<String>| {
            let from_flag =
                matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine);
            let name = if from_flag { flag } else { variable };
            value.clone().map(|value| (name.to_owned(), value))
        };
        (
            named("log", "--log", "TOLLGATE_LOG", &self.log),
            named(
                "log_format",
                "--log-format",
                "TOLLGATE_LOG_FORMAT",
                &self.log_format,
            ),
        )
    }
}
