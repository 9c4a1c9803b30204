//! The scopes, declared once for poem-openapi, and a compact set of them.

use std::fmt;

use poem_openapi::{Enum, OAuthScopes};

/// What a token may do. The names are what tokens, the spec and Swagger UI show.
// `Enum` as well as `OAuthScopes`: the same declaration is the `Scope` schema
// of user bodies, so the spec lists the names a `scopes` array may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, OAuthScopes, Enum)]
pub enum Scope {
    /// List and read your own items.
    #[oai(rename = "read:items")]
    ReadItems,
    /// Create, change and delete your own items.
    #[oai(rename = "write:items")]
    WriteItems,
    /// Manage users.
    #[oai(rename = "admin")]
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::ReadItems, Scope::WriteItems, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        OAuthScopes::name(&self)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }

    fn from_name(name: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// A set of scopes. Printed space-delimited in one canonical order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScopeSet(u8);

/// A scope string that names an unknown scope or breaks RFC 6749 §3.3's syntax.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidScope(pub String);

impl ScopeSet {
    pub const EMPTY: ScopeSet = ScopeSet(0);

    pub fn all() -> Self {
        Scope::ALL.into_iter().collect()
    }

    /// Parses a space-delimited scope string (request or storage). Order and
    /// repeats do not matter; names are case-sensitive.
    pub fn parse(value: &str) -> Result<Self, InvalidScope> {
        let mut set = ScopeSet::EMPTY;
        for token in value.split(' ').filter(|t| !t.is_empty()) {
            if !token.bytes().all(is_scope_char) {
                return Err(InvalidScope(
                    "a scope token has characters outside RFC 6749 §3.3".into(),
                ));
            }
            let scope = Scope::from_name(token)
                .ok_or_else(|| InvalidScope(format!("unknown scope `{token}`")))?;
            set = set.with(scope);
        }
        Ok(set)
    }

    /// Parses names that are already validated (the database, a signed token);
    /// anything unknown is dropped rather than trusted.
    pub fn parse_lenient(value: &str) -> Self {
        value.split(' ').filter_map(Scope::from_name).collect()
    }

    pub fn with(self, scope: Scope) -> Self {
        ScopeSet(self.0 | scope.bit())
    }

    pub fn union(self, other: ScopeSet) -> Self {
        ScopeSet(self.0 | other.0)
    }

    pub fn has(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    pub fn contains(self, other: ScopeSet) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.has(*s))
    }

    pub fn names(self) -> Vec<String> {
        self.iter().map(|s| s.as_str().to_owned()).collect()
    }
}

impl FromIterator<Scope> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        iter.into_iter().fold(ScopeSet::EMPTY, ScopeSet::with)
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, scope) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(scope.as_str())?;
        }
        Ok(())
    }
}

/// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
fn is_scope_char(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_in_any_order_and_prints_canonically() {
        let set = ScopeSet::parse("admin read:items  admin").unwrap();
        assert_eq!(set.to_string(), "read:items admin");
        assert!(set.has(Scope::Admin) && !set.has(Scope::WriteItems));
    }

    #[test]
    fn refuses_unknown_and_malformed_and_wrong_case() {
        assert!(ScopeSet::parse("read:items delete:all").is_err());
        assert!(ScopeSet::parse("READ:ITEMS").is_err());
        assert!(ScopeSet::parse("read\"items").is_err());
        assert!(ScopeSet::parse("caf\u{e9}").is_err());
    }

    #[test]
    fn containment() {
        let all = ScopeSet::all();
        let read = ScopeSet::EMPTY.with(Scope::ReadItems);
        assert!(all.contains(read) && !read.contains(all));
        assert!(read.contains(ScopeSet::EMPTY));
    }
}
