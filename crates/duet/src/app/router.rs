//! Routing by path pattern and method.
//!
//! Patterns are matched with a radix tree (matchit): `/hello/{name}` binds
//! one segment, `/static/{*path}` binds the rest of the path. No path match
//! answers 404; a path match without the method answers 405 with `Allow`;
//! HEAD falls back to the GET handler.

use std::collections::HashMap;
use std::sync::Arc;

use http::Method;

use super::context::PathParams;
use super::handler::BoxedHandler;

/// The routes of one virtual server.
#[derive(Clone, Default)]
pub(crate) struct Router {
    matcher: matchit::Router<usize>,
    routes: Vec<Route>,
    by_pattern: HashMap<String, usize>,
}

#[derive(Clone)]
struct Route {
    /// Parameter names in pattern order, shared by every match.
    names: Vec<Arc<str>>,
    methods: Vec<(Method, BoxedHandler)>,
    /// The `Allow` header value for 405 answers.
    allow: String,
}

/// The outcome of looking a request up.
pub(crate) enum Match<'a> {
    Found(&'a BoxedHandler, PathParams),
    MethodNotAllowed(&'a str),
    NotFound,
}

impl Router {
    /// Adds `handler` for `methods` on `pattern`. Adding a method a pattern
    /// already has replaces its handler.
    pub(crate) fn add(
        &mut self,
        pattern: &str,
        methods: &[Method],
        handler: BoxedHandler,
    ) -> Result<(), String> {
        let idx = match self.by_pattern.get(pattern) {
            Some(&i) => i,
            None => {
                let i = self.routes.len();
                self.matcher.insert(pattern, i).map_err(|e| e.to_string())?;
                self.routes.push(Route {
                    names: param_names(pattern),
                    methods: Vec::new(),
                    allow: String::new(),
                });
                self.by_pattern.insert(pattern.to_string(), i);
                i
            }
        };
        let Some(route) = self.routes.get_mut(idx) else {
            return Err("internal index error".to_string());
        };
        for m in methods {
            route.methods.retain(|(have, _)| have != m);
            route.methods.push((m.clone(), handler.clone()));
        }
        let mut names: Vec<&str> = route.methods.iter().map(|(m, _)| m.as_str()).collect();
        if names.contains(&"GET") && !names.contains(&"HEAD") {
            names.push("HEAD");
        }
        names.sort_unstable();
        route.allow = names.join(", ");
        Ok(())
    }

    /// Looks up the handler for `method` on `path`.
    pub(crate) fn find(&self, method: &Method, path: &str) -> Match<'_> {
        let Ok(m) = self.matcher.at(path) else {
            return Match::NotFound;
        };
        let Some(route) = self.routes.get(*m.value) else {
            return Match::NotFound;
        };
        let handler = route
            .methods
            .iter()
            .find(|(have, _)| have == method)
            .or_else(|| {
                // RFC 9110 §9.3.2: HEAD is GET without the body.
                (method == Method::HEAD)
                    .then(|| route.methods.iter().find(|(have, _)| have == Method::GET))
                    .flatten()
            });
        match handler {
            Some((_, h)) => {
                let params = m
                    .params
                    .iter()
                    .map(|(k, v)| {
                        let name = match route.names.iter().find(|n| &***n == k) {
                            Some(n) => n.clone(),
                            None => Arc::from(k),
                        };
                        (name, percent_decode(v))
                    })
                    .collect();
                Match::Found(h, PathParams(params))
            }
            None => Match::MethodNotAllowed(&route.allow),
        }
    }
}

/// The `{name}` / `{*name}` parameters of a pattern, in order.
fn param_names(pattern: &str) -> Vec<Arc<str>> {
    pattern
        .split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}'))
        .map(|(name, _)| Arc::from(name.trim_start_matches('*')))
        .collect()
}

/// Decodes `%XX` escapes; leaves the text as it was if the result is not
/// UTF-8 or an escape is malformed.
pub(crate) fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_string())
}

/// The host a request names: `:authority`/absolute-form authority or the
/// `Host` header, without the port. Case is left as sent.
pub(crate) fn request_host<'a>(
    uri: &'a http::Uri,
    headers: &'a http::HeaderMap,
) -> Option<&'a str> {
    let raw = match uri.authority() {
        Some(a) => a.as_str(),
        None => headers.get(http::header::HOST)?.to_str().ok()?,
    };
    Some(crate::proto::http::host::authority_host(raw))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::handler::boxed;

    async fn h() -> &'static str {
        "x"
    }

    #[test]
    fn matches_params_methods_and_head() {
        let mut r = Router::default();
        r.add("/hello/{name}", &[Method::GET], boxed(h)).unwrap();
        r.add("/static/{*path}", &[Method::GET], boxed(h)).unwrap();
        r.add("/echo", &[Method::POST, Method::PUT], boxed(h))
            .unwrap();
        match r.find(&Method::GET, "/hello/w%20x") {
            Match::Found(_, p) => assert_eq!(p.get("name"), Some("w x")),
            _ => panic!("no match"),
        }
        match r.find(&Method::GET, "/static/a/b/c.txt") {
            Match::Found(_, p) => assert_eq!(p.get("path"), Some("a/b/c.txt")),
            _ => panic!("no match"),
        }
        assert!(matches!(
            r.find(&Method::HEAD, "/hello/x"),
            Match::Found(..)
        ));
        match r.find(&Method::GET, "/echo") {
            Match::MethodNotAllowed(a) => assert_eq!(a, "POST, PUT"),
            _ => panic!("expected 405"),
        }
        match r.find(&Method::DELETE, "/hello/x") {
            Match::MethodNotAllowed(a) => assert_eq!(a, "GET, HEAD"),
            _ => panic!("expected 405"),
        }
        assert!(matches!(r.find(&Method::GET, "/nope"), Match::NotFound));
        assert!(r.add("/hello/{other}", &[Method::GET], boxed(h)).is_err());
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%41%42"), "AB");
    }
}
