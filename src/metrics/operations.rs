//! Naming a request for its labels: the spec path it matches, and its
//! method, from bounded lists, so a client cannot mint new series.

use poem::http::Method;

/// The standard methods. Any other shares the label `other`, so a client
/// cannot mint new series with made-up methods.
const KNOWN_METHODS: [Method; 9] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
    Method::TRACE,
    Method::CONNECT,
];

/// Method labels: the standard methods and `other`.
pub(super) const METHOD_LABELS: usize = KNOWN_METHODS.len() + 1;

/// The method's label, as its index: `KNOWN_METHODS`' or, past them, `other`.
pub(super) fn method_index(method: &Method) -> usize {
    KNOWN_METHODS
        .iter()
        .position(|known| known == method)
        .unwrap_or(KNOWN_METHODS.len())
}

pub(super) fn method_name(index: usize) -> &'static str {
    KNOWN_METHODS.get(index).map_or("other", Method::as_str)
}

/// The spec's paths, for naming a request by its route pattern.
pub(super) struct Operations(Vec<(String, Vec<String>)>);

/// Served outside the spec's paths, and named as themselves.
const DOCS: [&str; 3] = ["/docs", "/openapi.json", "/openapi.yaml"];

impl Operations {
    pub(super) fn from_api<T: poem_openapi::OpenApi>() -> Self {
        let mut paths: Vec<(String, Vec<String>)> = T::meta()
            .into_iter()
            .flat_map(|api| api.paths)
            .map(|path| {
                let segments = path.path.split('/').map(str::to_owned).collect();
                (path.path, segments)
            })
            .collect();
        // Literal segments before variables, so `/users/me` wins over `/users/{id}`.
        paths.sort_by_key(|(_, segments)| segments.iter().filter(|s| is_variable(s)).count());
        paths.dedup_by(|a, b| a.0 == b.0);
        Self(paths)
    }

    /// The operation `path` is counted under, as an index for [`Self::name`]:
    /// the spec path it matches (`/items/{id}` for `/items/7`), a docs path,
    /// or `unmatched`.
    pub(super) fn of(&self, path: &str) -> usize {
        let spec = &self.0;
        // Most requests name a spec path exactly: compared whole first,
        // before anything is split.
        if let Some(at) = spec.iter().position(|(name, _)| name == path) {
            return at;
        }
        let under = |docs: &str| {
            path.strip_prefix(docs)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        };
        if let Some(at) = DOCS.iter().position(|docs| under(docs)) {
            return spec.len() + at;
        }
        let count = path.split('/').count();
        spec.iter()
            .position(|(_, pattern)| {
                pattern.len() == count
                    && pattern
                        .iter()
                        .zip(path.split('/'))
                        .all(|(p, s)| p == s || (is_variable(p) && !s.is_empty()))
            })
            .unwrap_or(self.len() - 1)
    }

    /// The label of operation `index`.
    pub(super) fn name(&self, index: usize) -> &str {
        let spec = &self.0;
        match spec.get(index) {
            Some((name, _)) => name,
            None => DOCS.get(index - spec.len()).copied().unwrap_or("unmatched"),
        }
    }

    /// The spec's paths, the docs paths and `unmatched`.
    pub(super) fn len(&self) -> usize {
        self.0.len() + DOCS.len() + 1
    }
}

fn is_variable(segment: &str) -> bool {
    segment.starts_with('{') && segment.ends_with('}')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A spec with tollgate's path shapes.
    struct Sample;

    #[poem_openapi::OpenApi]
    impl Sample {
        #[oai(path = "/items", method = "get")]
        async fn items(&self) {}
        #[oai(path = "/items/:id", method = "get")]
        async fn item(&self, id: poem_openapi::param::Path<i64>) {
            let _ = id;
        }
        #[oai(path = "/users/me", method = "get")]
        async fn me(&self) {}
        #[oai(path = "/users/:id", method = "get")]
        async fn user(&self, id: poem_openapi::param::Path<i64>) {
            let _ = id;
        }
        #[oai(path = "/token", method = "post")]
        async fn token(&self) {}
    }

    #[test]
    fn paths_are_named_by_their_spec_pattern() {
        let operations = Operations::from_api::<Sample>();
        let of = |path| operations.name(operations.of(path));
        assert_eq!(of("/items/123"), "/items/{id}");
        assert_eq!(of("/items"), "/items");
        assert_eq!(of("/users/me"), "/users/me");
        assert_eq!(of("/users/42"), "/users/{id}");
        assert_eq!(of("/token"), "/token");
        assert_eq!(of("/docs"), "/docs");
        assert_eq!(of("/docs/oauth-receiver.html"), "/docs");
        assert_eq!(of("/openapi.json"), "/openapi.json");
        for stray in ["/", "/items/", "/items/1/2", "/nope", "/docsx", "/metrics"] {
            assert_eq!(of(stray), "unmatched", "{stray}");
        }
    }

    #[test]
    fn unknown_methods_share_one_label() {
        assert_eq!(method_name(method_index(&Method::PATCH)), "PATCH");
        let brew = Method::from_bytes(b"BREW").unwrap();
        assert_eq!(method_name(method_index(&brew)), "other");
        assert_eq!(method_index(&brew), METHOD_LABELS - 1);
    }
}
