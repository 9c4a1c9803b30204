//! A setting refused at start, reported in one line that names what the
//! user set: the variable when the value came from the environment, the
//! flag when it came from the command line.

use std::{error::Error, ffi::OsString};

use clap::{
    ArgMatches,
    error::{ContextKind, ContextValue, ErrorKind},
    parser::ValueSource,
};

/// The one-line message for a value clap refused (a bad duration, a number
/// out of range, an unknown choice), naming the variable or the flag it came
/// from; `None` for the errors clap explains best itself (an unknown flag, a
/// missing argument, `--help`). `argv` is the command line as given.
pub fn explain(err: &clap::Error, command: &clap::Command, argv: &[OsString]) -> Option<String> {
    if !matches!(
        err.kind(),
        ErrorKind::ValueValidation | ErrorKind::InvalidValue
    ) {
        return None;
    }
    let Some(ContextValue::String(shown)) = err.get(ContextKind::InvalidArg) else {
        return None;
    };
    let long = shown.strip_prefix("--")?.split([' ', '=']).next()?;
    let arg = find(command, long)?;
    let value = match err.get(ContextKind::InvalidValue) {
        Some(ContextValue::String(value)) if !arg.is_hide_env_values_set() => value.clone(),
        _ => "(hidden)".to_owned(),
    };
    let why = match (err.kind(), err.get(ContextKind::ValidValue)) {
        (ErrorKind::InvalidValue, Some(ContextValue::Strings(valid))) => {
            format!("it must be one of {}", valid.join(", "))
        }
        _ => err
            .source()
            .map_or_else(|| "not a valid value".to_owned(), |why| why.to_string()),
    };
    let flag = format!("--{long}");
    let on_command_line = argv.iter().any(|given| {
        let given = given.to_string_lossy();
        given == flag || given.starts_with(&format!("{flag}="))
    });
    let name = match arg.get_env() {
        Some(env) if !on_command_line => env.to_string_lossy().into_owned(),
        _ => flag,
    };
    Some(format!("{name} is `{value}`: {why}"))
}

/// The argument with the long name `long`, in `command` or any subcommand.
fn find<'a>(command: &'a clap::Command, long: &str) -> Option<&'a clap::Arg> {
    command
        .get_arguments()
        .find(|arg| arg.get_long() == Some(long))
        .or_else(|| command.get_subcommands().find_map(|sub| find(sub, long)))
}

/// `message` (which names settings by their variables) with each setting
/// that was given as a flag in `matches` named by its flag instead.
pub fn name_as_given(message: &str, matches: &ArgMatches) -> String {
    let mut message = message.to_owned();
    for arg in super::args::command().get_arguments() {
        let (Some(env), Some(long)) = (arg.get_env(), arg.get_long()) else {
            continue;
        };
        let id = arg.get_id().as_str();
        let given = matches.ids().any(|known| known.as_str() == id)
            && matches.value_source(id) == Some(ValueSource::CommandLine);
        if given {
            message = replace_word(&message, &env.to_string_lossy(), &format!("--{long}"));
        }
    }
    message
}

/// `text` with each whole-word `word` (not followed by a letter, digit or
/// `_`) replaced by `with`.
fn replace_word(text: &str, word: &str, with: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(word) {
        let after = &rest[at + word.len()..];
        let whole = !after.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
        out.push_str(&rest[..at]);
        out.push_str(if whole { with } else { word });
        rest = after;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::replace_word;

    #[test]
    fn only_whole_variable_names_are_replaced() {
        let message = "TOLLGATE_JWT_SECRET and TOLLGATE_JWT_SECRET_FILE are both set";
        assert_eq!(
            replace_word(message, "TOLLGATE_JWT_SECRET", "--jwt-secret"),
            "--jwt-secret and TOLLGATE_JWT_SECRET_FILE are both set"
        );
    }
}
