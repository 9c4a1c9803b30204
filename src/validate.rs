//! Field rules shared by the API and the command line.

/// Usernames: 3 to 64 of `A-Z a-z 0-9 . _ -`.
pub const USERNAME_PATTERN: &str = r"^[A-Za-z0-9._-]{3,64}$";
pub const MAX_EMAIL_CHARS: usize = 254;
pub const MAX_FULL_NAME_CHARS: usize = 128;
pub const MAX_ITEM_NAME_CHARS: usize = 200;
pub const MAX_ITEM_DESCRIPTION_CHARS: usize = 4000;
/// Longest value accepted for any `/token` form field.
pub const MAX_FORM_FIELD_BYTES: usize = 4096;

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

#[cfg(test)]
mod tests {
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
