//! The scopes each operation of a poem-openapi API declared, read back out of
//! the API's metadata so that enforcement follows the declaration.

use std::collections::HashMap;

use poem::http::Method;
use poem_openapi::OpenApi;

/// Scope names per operation, keyed by method and poem route pattern, as
/// declared with `#[oai(scope = "...")]` on the operation's security
/// parameter. poem-openapi writes those declarations into the spec only; this
/// table is what a checker enforces them with.
#[derive(Debug, Default, Clone)]
pub struct DeclaredScopes(HashMap<(Method, String), Vec<String>>);

impl DeclaredScopes {
    /// Reads every operation's first `security` requirement from `T`'s
    /// metadata. Operations without one are not in the table.
    pub fn from_api<T: OpenApi>() -> Self {
        let mut table = HashMap::new();
        for path in T::meta().into_iter().flat_map(|api| api.paths) {
            let pattern = route_pattern(&path.path);
            for op in path.operations {
                let Some(requirement) = op.security.first() else {
                    continue;
                };
                let mut needed: Vec<String> = requirement
                    .values()
                    .flatten()
                    .map(|s| (*s).to_owned())
                    .collect();
                needed.sort();
                needed.dedup();
                table.insert((op.method.clone(), pattern.clone()), needed);
            }
        }
        Self(table)
    }

    /// The scopes the operation at `method` and poem route `pattern` needs
    /// (possibly none), or `None` when it declared no security requirement.
    pub fn needed(&self, method: &Method, pattern: &str) -> Option<&[String]> {
        self.0
            .get(&(method.clone(), pattern.to_owned()))
            .map(Vec::as_slice)
    }

    /// Every operation with a security requirement and the scopes it needs.
    pub fn operations(&self) -> impl Iterator<Item = (&Method, &str, &[String])> {
        self.0
            .iter()
            .map(|((method, pattern), scopes)| (method, pattern.as_str(), scopes.as_slice()))
    }
}

/// `/items/{id}` as written in the spec is `/items/:param0` in poem's router:
/// poem-openapi registers the N-th path variable of an operation as `paramN`
/// (`convert_oai_path` in poem-openapi-derive), and that is the pattern the
/// router stores in [`poem::PathPattern`].
pub fn route_pattern(spec_path: &str) -> String {
    let mut count = 0;
    spec_path
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') && segment.ends_with('}') {
                count += 1;
                format!(":param{}", count - 1)
            } else {
                segment.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The pattern of the route the request matched (empty outside a route).
pub fn matched_pattern(req: &poem::Request) -> &str {
    req.data::<poem::PathPattern>()
        .map(|p| p.0.as_ref())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::route_pattern;

    #[test]
    fn spec_paths_map_to_the_router_patterns_poem_openapi_registers() {
        assert_eq!(route_pattern("/items"), "/items");
        assert_eq!(route_pattern("/items/{id}"), "/items/:param0");
        assert_eq!(route_pattern("/a/{x}/b/{y}"), "/a/:param0/b/:param1");
    }
}
