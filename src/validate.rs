//! Field rules shared by the API and the command line. The API's schema
//! states the same limits in its validators (`api::users`, `api::items`),
//! whose attributes take literals only; the spec test holds them to the
//! behaviour.

/// Longest value accepted for any `/token` form field.
pub const MAX_FORM_FIELD_BYTES: usize = 4096;
const MAX_EMAIL_CHARS: usize = 254;

/// Usernames: 3 to 64 of `A-Z a-z 0-9 . _ -`.
pub fn username(name: &str) -> Result<(), String> {
    let ok = (3..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err("the username must be 3 to 64 characters of A-Z a-z 0-9 . _ -".into())
    }
}

/// Client ids: 3 to 64 of `A-Z a-z 0-9 . _ -`, never all digits (a
/// client's `sub` must never equal a user's, which is the user's id).
pub fn client_id(id: &str) -> Result<(), String> {
    let ok = (3..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && !id.bytes().all(|b| b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err("client_id must be 3 to 64 characters of A-Z a-z 0-9 . _ -, not all digits".into())
    }
}

/// A light check: one `@` with something on both sides, no spaces.
pub fn email(email: &str) -> Result<(), String> {
    let ok = email.chars().count() <= MAX_EMAIL_CHARS
        && !email.contains(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "the email must look like name@example.org and be at most {MAX_EMAIL_CHARS} characters"
        ))
    }
}

/// A character that must not reach a terminal or a log line as it is: a
/// control character (an escape sequence, a line feed, NUL) or a Unicode
/// format character that changes how a line reads without showing itself
/// (bidi overrides and isolates, zero-width characters, the byte order
/// mark, the soft hyphen).
pub fn is_unprintable(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{ad}'
                | '\u{61c}'
                | '\u{180e}'
                | '\u{200b}'..='\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{206f}'
                | '\u{feff}'
                | '\u{fff9}'..='\u{fffb}'
        )
}

#[cfg(test)]
mod tests {
    #[test]
    fn unprintable_characters() {
        for c in [
            '\u{1b}', '\0', '\n', '\u{7f}', '\u{202e}', '\u{2066}', '\u{200b}', '\u{feff}',
        ] {
            assert!(super::is_unprintable(c), "{c:?}");
        }
        for c in ['a', ' ', '-', '\u{e9}', '\u{4e2d}'] {
            assert!(!super::is_unprintable(c), "{c:?}");
        }
    }

    #[test]
    fn usernames() {
        assert!(super::username("alice.b_c-9").is_ok());
        assert!(super::username("ab").is_err());
        assert!(super::username(&"a".repeat(65)).is_err());
        assert!(super::username("al ice").is_err());
        assert!(super::username("\u{e9}lise").is_err());
    }

    #[test]
    fn emails() {
        assert!(super::email("a@b.org").is_ok());
        assert!(super::email("a@").is_err());
        assert!(super::email("a b@c").is_err());
    }
}
