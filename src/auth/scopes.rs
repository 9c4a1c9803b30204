//! The scopes, declared once for poem-openapi, and a compact set of them.
//!
//! The one `enum Scope` below is the only list of scopes. Everything else
//! (the spec's security scheme and `Scope` schema, parsing, [`ScopeSet`],
//! "every scope" for the first admin, enforcement) reads the variants back
//! from what `#[derive(OAuthScopes, Enum)]` generated, through [`ScopeEnum`].

use std::{fmt, marker::PhantomData};

use poem_openapi::{Enum, OAuthScopes, types::ParseFromParameter};

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
    /// Manage users and clients.
    #[oai(rename = "admin")]
    Admin,
    /// Call POST /token/introspect (resource servers).
    #[oai(rename = "introspect")]
    Introspect,
    /// Call POST /events/poll (resource servers receiving revocation events).
    #[oai(rename = "events")]
    Events,
}

crate::scope_enum!(Scope);

impl Scope {
    pub fn as_str(self) -> &'static str {
        OAuthScopes::name(&self)
    }
}

/// By name, as its `ToJSON` writes it (for `api::reply::Reply`).
impl serde::Serialize for Scope {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A scope enum derived with both `OAuthScopes` and `Enum`. Implement it with
/// [`scope_enum!`](crate::scope_enum), which adds nothing but a cache.
pub trait ScopeEnum:
    OAuthScopes + ParseFromParameter + Copy + Eq + fmt::Debug + Send + Sync + 'static
{
    /// The variants, read once from the derives' output.
    fn catalog() -> &'static Catalog<Self>;
}

/// Implements [`ScopeEnum`] for an enum deriving `OAuthScopes` and `Enum`.
#[macro_export]
macro_rules! scope_enum {
    ($ty:ty) => {
        impl $crate::auth::scopes::ScopeEnum for $ty {
            fn catalog() -> &'static $crate::auth::scopes::Catalog<Self> {
                static CATALOG: ::std::sync::OnceLock<$crate::auth::scopes::Catalog<$ty>> =
                    ::std::sync::OnceLock::new();
                CATALOG.get_or_init($crate::auth::scopes::Catalog::from_derives)
            }
        }
    };
}

/// Every variant of a scope enum, in declaration order: bit `i` of a
/// [`ScopeSetOf`] is `variants[i]`.
#[derive(Debug)]
pub struct Catalog<S> {
    variants: Vec<S>,
    /// `variants[i]`'s name: a name's bit is found without the derive's `match`.
    names: Vec<&'static str>,
}

impl<S: OAuthScopes + ParseFromParameter + Copy + Eq> Catalog<S> {
    /// `OAuthScopes::meta()` names every variant in declaration order and
    /// `Enum`'s `ParseFromParameter` turns each name back into its variant:
    /// both derives read the same `#[oai(rename)]`, so a name that fails to
    /// round-trip is a broken declaration, refused at start.
    pub fn from_derives() -> Self {
        let variants: Vec<S> = S::meta()
            .iter()
            .map(|meta| {
                let variant = S::parse_from_parameter(meta.name).unwrap_or_else(|_| {
                    panic!("scope `{}` is not a value of the scope enum", meta.name)
                });
                assert_eq!(variant.name(), meta.name, "scope names must round-trip");
                variant
            })
            .collect();
        assert!(
            variants.len() <= MAX_SCOPES,
            "a scope set holds at most {MAX_SCOPES} scopes, the enum declares {}",
            variants.len()
        );
        let names = S::meta().iter().map(|meta| meta.name).collect();
        Self { variants, names }
    }

    fn index(&self, scope: S) -> usize {
        self.variants
            .iter()
            .position(|v| *v == scope)
            .expect("every variant is in the catalog")
    }

    fn find(&self, name: &str) -> Option<S> {
        self.variants.iter().copied().find(|v| v.name() == name)
    }

    /// The bit of the scope named `name` (as bytes), or 0 if there is none.
    fn bit(&self, name: &[u8]) -> u64 {
        self.names
            .iter()
            .position(|known| known.as_bytes() == name)
            .map_or(0, |i| 1 << i)
    }
}

/// Bits in a [`ScopeSetOf`].
pub const MAX_SCOPES: usize = u64::BITS as usize;

/// A set of scopes of the enum `S`. Printed space-delimited in declaration order.
// A u64 bitset rather than a sorted Vec: the set stays `Copy` and
// allocation-free on the bearer check of every request, and 64 scopes is far
// beyond what one API declares; [`Catalog::from_derives`] refuses more, at start.
pub struct ScopeSetOf<S> {
    bits: u64,
    scope: PhantomData<fn() -> S>,
}

/// A set of tollgate's scopes.
pub type ScopeSet = ScopeSetOf<Scope>;

/// A scope string that names an unknown scope or breaks RFC 6749 §3.3's syntax.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidScope(pub String);

impl<S: ScopeEnum> ScopeSetOf<S> {
    pub const EMPTY: Self = Self::from_bits(0);

    const fn from_bits(bits: u64) -> Self {
        Self {
            bits,
            scope: PhantomData,
        }
    }

    /// Every scope the enum declares.
    pub fn all() -> Self {
        S::catalog().variants.iter().copied().collect()
    }

    /// Parses a space-delimited scope string (request or storage). Order and
    /// repeats do not matter; names are case-sensitive.
    pub fn parse(value: &str) -> Result<Self, InvalidScope> {
        let catalog = S::catalog();
        let mut set = Self::EMPTY;
        for token in value.split(' ').filter(|t| !t.is_empty()) {
            if !token.bytes().all(is_scope_char) {
                return Err(InvalidScope(
                    "a scope token has characters outside RFC 6749 §3.3".into(),
                ));
            }
            let scope = catalog
                .find(token)
                .ok_or_else(|| InvalidScope(format!("unknown scope `{token}`")))?;
            set = set.with(scope);
        }
        Ok(set)
    }

    /// Parses names that are already validated (the database, a signed token);
    /// anything unknown is dropped rather than trusted.
    pub fn parse_lenient(value: &str) -> Self {
        // On every bearer check: bytes and bits, no `str` pattern search.
        let catalog = S::catalog();
        let bits = value
            .as_bytes()
            .split(|&b| b == b' ')
            .fold(0, |bits, token| bits | catalog.bit(token));
        Self::from_bits(bits)
    }

    pub fn with(self, scope: S) -> Self {
        Self::from_bits(self.bits | 1 << S::catalog().index(scope))
    }

    pub fn union(self, other: Self) -> Self {
        Self::from_bits(self.bits | other.bits)
    }

    pub fn intersection(self, other: Self) -> Self {
        Self::from_bits(self.bits & other.bits)
    }

    pub fn has(self, scope: S) -> bool {
        self.bits & 1 << S::catalog().index(scope) != 0
    }

    pub fn contains(self, other: Self) -> bool {
        self.bits & other.bits == other.bits
    }

    pub fn is_empty(self) -> bool {
        self.bits == 0
    }

    pub fn iter(self) -> impl Iterator<Item = S> {
        let variants = &S::catalog().variants;
        (0..variants.len())
            .filter(move |i| self.bits & 1 << i != 0)
            .map(|i| variants[i])
    }

    pub fn names(self) -> Vec<String> {
        self.iter().map(|s| s.name().to_owned()).collect()
    }
}

// By hand: derives would ask `S` for the traits, though only the bits count.
impl<S> Clone for ScopeSetOf<S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S> Copy for ScopeSetOf<S> {}

impl<S> PartialEq for ScopeSetOf<S> {
    fn eq(&self, other: &Self) -> bool {
        self.bits == other.bits
    }
}

impl<S> Eq for ScopeSetOf<S> {}

impl<S: ScopeEnum> Default for ScopeSetOf<S> {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl<S: ScopeEnum> fmt::Debug for ScopeSetOf<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl<S: ScopeEnum> FromIterator<S> for ScopeSetOf<S> {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        iter.into_iter().fold(Self::EMPTY, Self::with)
    }
}

impl<S: ScopeEnum> fmt::Display for ScopeSetOf<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, scope) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(scope.name())?;
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
    fn lenient_parsing_drops_what_it_does_not_know() {
        for value in [
            "",
            "admin",
            "read:items write:items",
            " admin  read:items ",
            "introspect",
        ] {
            assert_eq!(
                ScopeSet::parse_lenient(value),
                ScopeSet::parse(value).unwrap(),
                "{value:?}"
            );
        }
        let read = ScopeSet::EMPTY.with(Scope::ReadItems);
        assert_eq!(
            ScopeSet::parse_lenient("read:items delete:all READ:ITEMS"),
            read
        );
        assert_eq!(
            ScopeSet::parse_lenient("read:itemsx read:item"),
            ScopeSet::EMPTY
        );
    }

    #[test]
    fn containment() {
        let all = ScopeSet::all();
        let read = ScopeSet::EMPTY.with(Scope::ReadItems);
        assert!(all.contains(read) && !read.contains(all));
        assert!(read.contains(ScopeSet::EMPTY));
    }

    #[test]
    fn every_scope_is_every_name_the_derive_declares() {
        let declared: Vec<&str> = Scope::meta().iter().map(|m| m.name).collect();
        assert_eq!(ScopeSet::all().names(), declared);
        assert!(declared.contains(&"introspect"));
    }

    /// A scope type with 65 names, implemented by hand (no enum that long).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    struct Many(u8);

    impl OAuthScopes for Many {
        fn meta() -> Vec<poem_openapi::registry::MetaOAuthScope> {
            (0..65)
                .map(|i| poem_openapi::registry::MetaOAuthScope {
                    name: Box::leak(format!("s{i}").into_boxed_str()),
                    description: None,
                })
                .collect()
        }

        fn name(&self) -> &'static str {
            Self::meta()[usize::from(self.0)].name
        }
    }

    impl poem_openapi::types::Type for Many {
        const IS_REQUIRED: bool = true;
        type RawValueType = Self;
        type RawElementValueType = Self;

        fn name() -> std::borrow::Cow<'static, str> {
            "Many".into()
        }

        fn schema_ref() -> poem_openapi::registry::MetaSchemaRef {
            poem_openapi::registry::MetaSchemaRef::Inline(Box::new(
                poem_openapi::registry::MetaSchema::new("string"),
            ))
        }

        fn as_raw_value(&self) -> Option<&Self> {
            Some(self)
        }

        fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
            Box::new(self.as_raw_value().into_iter())
        }
    }

    impl ParseFromParameter for Many {
        fn parse_from_parameter(value: &str) -> poem_openapi::types::ParseResult<Self> {
            let n = value.strip_prefix('s').and_then(|n| n.parse().ok());
            n.map(Many)
                .ok_or_else(|| poem_openapi::types::ParseError::custom("not a scope"))
        }
    }

    #[test]
    #[should_panic(expected = "at most 64 scopes")]
    fn more_than_sixty_four_scopes_are_refused() {
        Catalog::<Many>::from_derives();
    }
}
