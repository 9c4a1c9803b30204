//! Secrets as settings: given as a variable, a flag or a file (the
//! container secrets convention, `TOLLGATE_*_FILE`), and refused when they
//! are too easy to guess.

use std::path::Path;

use clap::{ArgMatches, parser::ValueSource};
use secrecy::{ExposeSecret, SecretString};

/// The commands that make a good secret, named in every refusal.
const MAKE_ONE: &str =
    "make one with `openssl rand -base64 48` (or `head -c 48 /dev/urandom | base64`)";

/// The least estimated entropy of a secret, in bits. The estimate is the
/// Shannon entropy of the secret's own byte frequencies times its length:
/// it refuses repeated or patterned strings (32 identical bytes score 0, a
/// short word repeated far below) and accepts what `openssl rand` prints,
/// as hex (64 characters, about 240 bits) or base64; it cannot see that a
/// random-looking string was in fact chosen by a person.
pub const MIN_SECRET_BITS: f64 = 96.0;

/// The secret given as `name` or read from the file given as `name`_FILE;
/// both is an error naming both.
pub fn one_of(
    name: &str,
    value: Option<SecretString>,
    file: Option<&Path>,
) -> Result<Option<SecretString>, String> {
    match (value, file) {
        (Some(_), Some(_)) => Err(format!(
            "{name} and {name}_FILE are both set (as variables or flags); set only one"
        )),
        (Some(value), None) => Ok(Some(value)),
        (None, Some(path)) => read_file(&format!("{name}_FILE"), path).map(Some),
        (None, None) => Ok(None),
    }
}

/// The file's text without its trailing line ending. The error names the
/// setting and the path, never any of the file's content.
pub fn read_file(setting: &str, path: &Path) -> Result<SecretString, String> {
    let bytes = std::fs::read(path)
        .map_err(|err| format!("{setting}: cannot read {}: {err}", path.display()))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| format!("{setting}: {} is not UTF-8 text", path.display()))?;
    let trimmed = text.trim_end_matches(['\n', '\r']);
    if trimmed.is_empty() {
        return Err(format!("{setting}: {} is empty", path.display()));
    }
    Ok(SecretString::from(trimmed))
}

/// Refuses a secret shorter than `min_bytes` or with less than
/// [`MIN_SECRET_BITS`] of estimated entropy; the message names the setting
/// and how to make a good one, never the value.
pub fn check_strength(name: &str, secret: &SecretString, min_bytes: usize) -> Result<(), String> {
    let bytes = secret.expose_secret().as_bytes();
    if bytes.len() < min_bytes {
        return Err(format!(
            "{name} is {} bytes; it must be at least {min_bytes} bytes: {MAKE_ONE}",
            bytes.len()
        ));
    }
    if estimated_bits(bytes) < MIN_SECRET_BITS {
        return Err(format!(
            "{name} is too easy to guess (repeated or patterned characters): {MAKE_ONE}"
        ));
    }
    Ok(())
}

/// Length times the Shannon entropy of the byte frequencies.
pub fn estimated_bits(bytes: &[u8]) -> f64 {
    let mut counts = [0usize; 256];
    for &byte in bytes {
        counts[usize::from(byte)] += 1;
    }
    let len = bytes.len() as f64;
    let per_byte: f64 = counts
        .iter()
        .filter(|&&count| count > 0)
        .map(|&count| {
            let p = count as f64 / len;
            -p * p.log2()
        })
        .sum();
    per_byte * len
}

/// Warns about each secret given as a flag in `matches`: other local users
/// see a process's flags (`ps`). The database URL counts when it carries a
/// password.
pub fn warn_about_flags(matches: &ArgMatches) {
    for (id, name) in [
        ("jwt_secret", "TOLLGATE_JWT_SECRET"),
        ("key_encryption_key", "TOLLGATE_KEY_ENCRYPTION_KEY"),
        ("database_url", "TOLLGATE_DATABASE_URL"),
    ] {
        let Ok(Some(mut values)) = matches.try_get_raw(id) else {
            continue;
        };
        if matches.value_source(id) != Some(ValueSource::CommandLine) {
            continue;
        }
        let value = values.next().unwrap_or_default().to_string_lossy();
        if id == "database_url" && crate::db::mask_password(&value) == value {
            continue;
        }
        tracing::warn!(
            "{name} was given as a flag, which other users of this host can read \
             (`ps`); set the variable or {name}_FILE instead"
        );
    }
}
