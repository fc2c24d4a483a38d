//! Routing by path pattern and method: [`Router`], a tower `Service`.
//!
//! Patterns are matched with a radix tree (matchit): `/hello/{name}` binds
//! one segment, `/static/{*path}` binds the rest of the path (and matches
//! `/static/` and `/static` themselves, with an empty `path`). No path
//! match runs the fallback (a handler or a service) or answers 404; a path
//! match without the method answers 405 with `Allow`; HEAD falls back to
//! the GET handler (RFC 9110 §9.3.2).

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::FutureExt;
use http::{Method, StatusCode};
use tower_service::Service;

use super::body::{Body, BoxError};
use super::context::{ConnContext, PathParams, RequestContext};
use super::extract::RequestHead;
use super::handler::{boxed, BoxedHandler, Handler};
use super::response::Response;
use super::service::{BodyLimit, Preempted, Route, RouteFuture};
use crate::error::Error;
use crate::proto::http::Fields;
use crate::proto::http::Unbuilt;

/// What a route runs.
#[derive(Clone)]
pub(crate) enum Endpoint {
    /// A handler: extractors in, response out.
    Handler(BoxedHandler),
    /// A tower service, given the request as it is.
    Service(Route),
    /// A tower service nested under a prefix: it sees the path without the
    /// prefix (`prefix` is its length).
    Nested(Route, usize),
}

/// Which methods a route entry answers.
#[derive(Clone)]
enum Methods {
    One(Method),
    Any,
}

#[derive(Clone)]
struct Entry {
    /// The pattern as added (`/hello/{name}`): the `route` of the request
    /// span.
    pattern: Arc<str>,
    /// Parameter names in pattern order, shared by every match.
    names: Vec<Arc<str>>,
    methods: Vec<(Methods, Endpoint)>,
    /// The `Allow` header value for 405 answers.
    allow: String,
}

/// A catch-all route (`/p/{*rest}`) also answers for its prefix itself.
#[derive(Clone)]
struct CatchAll {
    /// `/p/`.
    prefix: String,
    entry: usize,
    name: Arc<str>,
}

#[derive(Clone, Default)]
struct Table {
    matcher: matchit::Router<usize>,
    entries: Vec<Entry>,
    /// Pattern → entry, in the order added.
    patterns: Vec<(String, usize)>,
    by_pattern: HashMap<String, usize>,
    catch_alls: Vec<CatchAll>,
}

#[derive(Clone, Default)]
struct Inner {
    table: Table,
    fallback: Option<Endpoint>,
    /// Fallbacks of nested routers, by prefix: for unmatched paths under
    /// the prefix (the longest prefix wins).
    nested_fallbacks: Vec<(String, Endpoint)>,
    state: Arc<http::Extensions>,
    /// What answers CONNECT tunnels (RFC 9110 §9.3.6), if anything.
    connect: Option<Endpoint>,
    /// Patterns that could not be added, and why.
    errors: Vec<(String, String)>,
}

/// The routes of a server: path patterns and methods to handlers and
/// services, with nesting, merging and a fallback.
///
/// A `Router` is a `tower::Service<http::Request<B>>` for any
/// [`http_body::Body`] `B`, so a test can call it in-process:
///
/// ```
/// # async fn demo() {
/// use duet::{Body, Path, Router};
/// use tower::ServiceExt; // oneshot
///
/// async fn hello(Path(name): Path<String>) -> String {
///     format!("hello, {name}")
/// }
///
/// let mut app = Router::new();
/// app.get("/hello/{name}", hello);
/// let req = http::Request::get("/hello/world").body(Body::empty()).unwrap();
/// let res = app.oneshot(req).await.unwrap();
/// assert_eq!(res.status(), 200);
/// # }
/// ```
#[derive(Clone, Default)]
pub struct Router {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field(
                "routes",
                &self
                    .inner
                    .table
                    .patterns
                    .iter()
                    .map(|(p, _)| p)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Router {
    /// A router with no routes (everything is 404).
    pub fn new() -> Self {
        Router::default()
    }

    fn inner_mut(&mut self) -> &mut Inner {
        Arc::make_mut(&mut self.inner)
    }

    /// Routes `methods` on `path` to `handler`. Patterns: `/hello/{name}`
    /// binds one segment, `/static/{*path}` the rest of the path. A pattern
    /// that conflicts with an earlier one is reported when the server
    /// starts.
    pub fn route<H, T>(
        &mut self,
        path: &str,
        methods: impl IntoIterator<Item = Method>,
        handler: H,
    ) -> &mut Self
    where
        H: Handler<T>,
        T: 'static,
    {
        let endpoint = Endpoint::Handler(boxed(handler));
        let methods: Vec<Methods> = methods.into_iter().map(Methods::One).collect();
        self.add(path, methods, endpoint);
        self
    }

    /// Routes GET (and so HEAD) on `path`.
    pub fn get<H: Handler<T>, T: 'static>(&mut self, path: &str, handler: H) -> &mut Self {
        self.route(path, [Method::GET], handler)
    }
    /// Routes POST on `path`.
    pub fn post<H: Handler<T>, T: 'static>(&mut self, path: &str, handler: H) -> &mut Self {
        self.route(path, [Method::POST], handler)
    }
    /// Routes PUT on `path`.
    pub fn put<H: Handler<T>, T: 'static>(&mut self, path: &str, handler: H) -> &mut Self {
        self.route(path, [Method::PUT], handler)
    }
    /// Routes DELETE on `path`.
    pub fn delete<H: Handler<T>, T: 'static>(&mut self, path: &str, handler: H) -> &mut Self {
        self.route(path, [Method::DELETE], handler)
    }
    /// Routes PATCH on `path`.
    pub fn patch<H: Handler<T>, T: 'static>(&mut self, path: &str, handler: H) -> &mut Self {
        self.route(path, [Method::PATCH], handler)
    }

    /// Routes every method on `path` to a tower service, which gets the
    /// request as it is.
    pub fn route_service<S, B>(&mut self, path: &str, service: S) -> &mut Self
    where
        S: Service<http::Request<Body>, Response = http::Response<B>>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body + Send + 'static,
        B::Error: Into<BoxError>,
    {
        self.add(
            path,
            vec![Methods::Any],
            Endpoint::Service(Route::new(service)),
        );
        self
    }

    /// Mounts `router`'s routes under `prefix` (`/api` + `/users` =
    /// `/api/users`; its `/` becomes `/api`). Its fallback answers for
    /// everything else under `prefix/`; its state joins this router's.
    pub fn nest(&mut self, prefix: &str, router: Router) -> &mut Self {
        let prefix = prefix.trim_end_matches('/');
        let nested = Arc::unwrap_or_clone(router.inner);
        let inner = self.inner_mut();
        inner.errors.extend(nested.errors);
        Arc::make_mut(&mut inner.state).extend((*nested.state).clone());
        for (pattern, idx) in &nested.table.patterns {
            let Some(entry) = nested.table.entries.get(*idx) else {
                continue;
            };
            let path = if pattern == "/" {
                if prefix.is_empty() {
                    "/".to_string()
                } else {
                    prefix.to_string()
                }
            } else {
                format!("{prefix}{pattern}")
            };
            for (m, e) in &entry.methods {
                self.add(&path, vec![m.clone()], e.clone());
            }
        }
        let inner = self.inner_mut();
        for (p, e) in nested.nested_fallbacks {
            inner.nested_fallbacks.push((format!("{prefix}{p}"), e));
        }
        if let Some(fallback) = nested.fallback {
            inner.nested_fallbacks.push((prefix.to_string(), fallback));
        }
        self
    }

    /// Mounts a tower service under `prefix`: every request for `prefix`
    /// or below goes to it, with `prefix` taken off the path (a
    /// `ServeDir` nested at `/static` sees `/style.css`).
    pub fn nest_service<S, B>(&mut self, prefix: &str, service: S) -> &mut Self
    where
        S: Service<http::Request<Body>, Response = http::Response<B>>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let prefix = prefix.trim_end_matches('/');
        let endpoint = Endpoint::Nested(Route::new(service), prefix.len());
        self.add(
            &format!("{prefix}/{{*__nested}}"),
            vec![Methods::Any],
            endpoint,
        );
        self
    }

    /// Adds every route of `other` (and its fallback, when this router has
    /// none; its state joins this router's).
    pub fn merge(&mut self, other: Router) -> &mut Self {
        let other = Arc::unwrap_or_clone(other.inner);
        let inner = self.inner_mut();
        inner.errors.extend(other.errors);
        Arc::make_mut(&mut inner.state).extend((*other.state).clone());
        if inner.fallback.is_none() {
            inner.fallback = other.fallback;
        }
        if inner.connect.is_none() {
            inner.connect = other.connect;
        }
        inner.nested_fallbacks.extend(other.nested_fallbacks);
        for (pattern, idx) in &other.table.patterns {
            let Some(entry) = other.table.entries.get(*idx) else {
                continue;
            };
            for (m, e) in &entry.methods {
                self.add(pattern, vec![m.clone()], e.clone());
            }
        }
        self
    }

    /// What answers requests no route matches (instead of 404).
    pub fn fallback<H: Handler<T>, T: 'static>(&mut self, handler: H) -> &mut Self {
        self.inner_mut().fallback = Some(Endpoint::Handler(boxed(handler)));
        self
    }

    /// What answers `CONNECT host:port` tunnels (RFC 9110 §9.3.6; an
    /// HTTP/2 CONNECT without `:protocol`, RFC 9113 §8.5): a handler that
    /// takes [`Upgrade`](crate::upgrade::Upgrade) and the target's `Uri`,
    /// and answers 2xx with [`Upgrade::on_upgrade`](crate::upgrade::Upgrade::on_upgrade)
    /// to open the tunnel. Without one, CONNECT is answered 501. (An
    /// extended CONNECT names a path and is routed like any request; see
    /// [`Router::route`].)
    pub fn connect<H: Handler<T>, T: 'static>(&mut self, handler: H) -> &mut Self {
        self.inner_mut().connect = Some(Endpoint::Handler(boxed(handler)));
        self
    }

    /// True when the router answers CONNECT tunnels.
    pub(crate) fn has_connect(&self) -> bool {
        self.inner.connect.is_some()
    }

    /// A tower service that answers requests no route matches (instead of
    /// 404): an existing axum `Router`, a tonic server, a `ServeDir`.
    pub fn fallback_service<S, B>(&mut self, service: S) -> &mut Self
    where
        S: Service<http::Request<Body>, Response = http::Response<B>>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body + Send + 'static,
        B::Error: Into<BoxError>,
    {
        self.inner_mut().fallback = Some(Endpoint::Service(Route::new(service)));
        self
    }

    /// Registers shared state, extracted by handlers as `State<T>`.
    pub fn state<T: Clone + Send + Sync + 'static>(&mut self, value: T) -> &mut Self {
        Arc::make_mut(&mut self.inner_mut().state).insert(value);
        self
    }

    /// The configuration errors collected so far (conflicting patterns).
    pub(crate) fn take_errors(&mut self) -> Vec<Error> {
        std::mem::take(&mut self.inner_mut().errors)
            .into_iter()
            .map(|(pattern, reason)| Error::Route { pattern, reason })
            .collect()
    }

    fn add(&mut self, pattern: &str, methods: Vec<Methods>, endpoint: Endpoint) {
        if let Err(reason) = self.inner_mut().table.add(pattern, methods, endpoint) {
            self.inner_mut().errors.push((pattern.to_string(), reason));
        }
    }

    /// Answers a request: routes it and runs what matched. Never panics: a
    /// handler panic becomes 500.
    /// `fields`: the request's field section as it arrived, not yet built into
    /// `parts.headers`; it is built only for a handler that reads headers
    /// and for services.
    pub(crate) fn dispatch(
        &self,
        parts: Box<http::request::Parts>,
        fields: Option<Unbuilt>,
        body: Body,
        conn: ConnContext,
        body_limit: u64,
    ) -> Dispatch {
        let found = if parts.method == Method::CONNECT {
            // Rare: a tunnel, or an extended CONNECT routed by its path.
            match self.find_connect(&parts) {
                Some(found) => found,
                None => return Dispatch::ready(tunnels_not_served()),
            }
        } else {
            self.inner.table.find(&parts.method, parts.uri.path())
        };
        let endpoint = match found {
            Match::Found(e, params, pattern) => {
                if let Some(p) = pattern {
                    crate::observability::record_route(p);
                }
                Some((e, params))
            }
            Match::MethodNotAllowed(allow) => {
                return Dispatch::ready(Response::method_not_allowed(allow))
            }
            Match::NotFound => self
                .fallback_for(parts.uri.path())
                .map(|e| (e, Captures::None)),
        };
        let Some((endpoint, params)) = endpoint else {
            return Dispatch::ready(Response::not_found());
        };
        match endpoint {
            Endpoint::Handler(handler) => {
                let params = if handler.reads_params() {
                    params.collect()
                } else {
                    PathParams::default()
                };
                let mut ctx = RequestContext::unbuilt(parts, fields, params);
                if handler.reads_headers() {
                    ctx.build_headers();
                }
                let head = RequestHead {
                    ctx,
                    conn,
                    state: self.inner.state.clone(),
                    body_limit,
                };
                // The handler's synchronous part (extractor set-up) is
                // guarded too.
                match std::panic::catch_unwind(AssertUnwindSafe(|| handler.call(head, body))) {
                    Ok(fut) => Dispatch(Kind::Running(AssertUnwindSafe(fut).catch_unwind())),
                    Err(_) => Dispatch::ready(Response::error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "the handler failed",
                    )),
                }
            }
            Endpoint::Service(route) => {
                let params = params.collect();
                let mut parts = *parts;
                build_headers(&mut parts, fields);
                parts.extensions.insert(conn);
                parts.extensions.insert(params);
                Dispatch::service(route.oneshot(http::Request::from_parts(parts, body)))
            }
            Endpoint::Nested(route, prefix) => {
                let mut parts = *parts;
                build_headers(&mut parts, fields);
                let stripped = strip_prefix(&parts.uri, *prefix);
                if let Some(uri) = stripped {
                    parts.uri = uri;
                }
                parts.extensions.insert(conn);
                Dispatch::service(route.oneshot(http::Request::from_parts(parts, body)))
            }
        }
    }

    /// The route of a CONNECT: the tunnel handler for a plain CONNECT
    /// (`None` without one); for an extended CONNECT (RFC 8441 §4: it has
    /// a `:path`), the path's CONNECT route, else its GET route — RFC 8441
    /// makes the extended CONNECT the HTTP/2 form of a GET that upgrades,
    /// so one WebSocket route serves both.
    fn find_connect<'p>(&self, parts: &'p http::request::Parts) -> Option<Match<'_, 'p>> {
        if crate::proto::http::upgrade::is_tunnel(&parts.method, &parts.uri) {
            return self
                .inner
                .connect
                .as_ref()
                .map(|e| Match::Found(e, Captures::None, None));
        }
        let path = parts.uri.path();
        Some(match self.inner.table.find(&Method::CONNECT, path) {
            Match::MethodNotAllowed(_) => self.inner.table.find(&Method::GET, path),
            other => other,
        })
    }

    /// The fallback for an unmatched `path`: the nested router's whose
    /// prefix it is under (the longest), else this router's.
    fn fallback_for(&self, path: &str) -> Option<&Endpoint> {
        self.inner
            .nested_fallbacks
            .iter()
            .filter(|(p, _)| {
                path.strip_prefix(p.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            })
            .max_by_key(|(p, _)| p.len())
            .map(|(_, e)| e)
            .or(self.inner.fallback.as_ref())
    }

    /// Answers a request that came through the tower seam: the connection
    /// and body limit from its extensions (an in-process call has neither:
    /// a loopback connection and the default limit).
    pub(crate) fn handle(&self, req: http::Request<Body>) -> Dispatch {
        let (mut parts, body) = req.into_parts();
        if let Some(Preempted(answer)) = parts.extensions.remove::<Preempted>() {
            return Dispatch::ready(Response::from_answer(&answer));
        }
        let conn = parts
            .extensions
            .get::<ConnContext>()
            .cloned()
            .unwrap_or_else(ConnContext::in_process);
        let limit = parts
            .extensions
            .get::<BodyLimit>()
            .map_or(crate::config::Limits::default().max_body_bytes, |l| l.0);
        self.dispatch(Box::new(parts), None, body, conn, limit)
    }
}

/// Builds `fields` (a field section as it arrived) into `parts.headers`.
pub(crate) fn build_headers(parts: &mut http::request::Parts, fields: Option<Unbuilt>) {
    if let Some(fields) = fields {
        parts.headers = fields.to_map(&parts.uri);
    }
}

fn tunnels_not_served() -> Response {
    Response::error(
        StatusCode::NOT_IMPLEMENTED,
        "CONNECT is not supported by this server",
    )
}

/// `uri` with its path's first `prefix` bytes taken off (what a nested
/// service sees); the path becomes `/` when nothing is left.
fn strip_prefix(uri: &http::Uri, prefix: usize) -> Option<http::Uri> {
    let pq = uri.path_and_query()?.as_str();
    let rest = pq.get(prefix..)?;
    let rest = if rest.is_empty() || rest.starts_with('?') {
        format!("/{rest}")
    } else {
        rest.to_string()
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(rest.parse().ok()?);
    http::Uri::from_parts(parts).ok()
}

impl<B> Service<http::Request<B>> for Router
where
    B: http_body::Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Dispatch;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Dispatch {
        self.handle(req.map(Body::new))
    }
}

impl super::service::Erased for Router {
    fn call(&self, req: http::Request<Body>) -> RouteFuture {
        Box::pin(self.handle(req))
    }
}

impl Router {
    /// The router as a [`Route`] (no boxing of every call's service).
    pub(crate) fn into_route(self) -> Route {
        Route::from_erased(Arc::new(self))
    }
}

// ----- the table -----

/// The outcome of looking a request up.
enum Match<'a, 'p> {
    /// What answers, the path parameters, and the pattern matched (none
    /// for a plain CONNECT's tunnel handler).
    Found(&'a Endpoint, Captures<'a, 'p>, Option<&'a str>),
    MethodNotAllowed(&'a str),
    NotFound,
}

impl Table {
    /// Adds `endpoint` for `methods` on `pattern`. Adding a method a
    /// pattern already has replaces its endpoint.
    fn add(
        &mut self,
        pattern: &str,
        methods: Vec<Methods>,
        endpoint: Endpoint,
    ) -> Result<(), String> {
        let idx = match self.by_pattern.get(pattern) {
            Some(&i) => i,
            None => {
                let i = self.entries.len();
                self.matcher.insert(pattern, i).map_err(|e| e.to_string())?;
                self.entries.push(Entry {
                    pattern: Arc::from(pattern),
                    names: param_names(pattern),
                    methods: Vec::new(),
                    allow: String::new(),
                });
                self.by_pattern.insert(pattern.to_string(), i);
                self.patterns.push((pattern.to_string(), i));
                if let Some((prefix, name)) = catch_all(pattern) {
                    self.catch_alls.push(CatchAll {
                        prefix,
                        entry: i,
                        name,
                    });
                }
                i
            }
        };
        let Some(entry) = self.entries.get_mut(idx) else {
            return Err("internal index error".to_string());
        };
        for m in methods {
            match &m {
                Methods::Any => entry.methods.clear(),
                Methods::One(one) => entry
                    .methods
                    .retain(|(have, _)| !matches!(have, Methods::One(h) if h == one)),
            }
            entry.methods.push((m, endpoint.clone()));
        }
        let mut names: Vec<&str> = Vec::new();
        for (m, _) in &entry.methods {
            match m {
                Methods::One(m) => names.push(m.as_str()),
                Methods::Any => {}
            }
        }
        if names.contains(&"GET") && !names.contains(&"HEAD") {
            names.push("HEAD");
        }
        names.sort_unstable();
        names.dedup();
        entry.allow = names.join(", ");
        Ok(())
    }

    /// Looks up what answers `method` on `path`.
    fn find<'p>(&self, method: &Method, path: &'p str) -> Match<'_, 'p> {
        let (idx, params) = match self.matcher.at(path) {
            Ok(m) => (*m.value, Some(m.params)),
            Err(_) => match self.catch_all_for(path) {
                Some(c) => (c, None),
                None => return Match::NotFound,
            },
        };
        let Some(entry) = self.entries.get(idx) else {
            return Match::NotFound;
        };
        let found = entry
            .methods
            .iter()
            .find(|(have, _)| match have {
                Methods::One(m) => m == method,
                Methods::Any => true,
            })
            .or_else(|| {
                // RFC 9110 §9.3.2: HEAD is GET without the body.
                (method == Method::HEAD)
                    .then(|| {
                        entry
                            .methods
                            .iter()
                            .find(|(have, _)| matches!(have, Methods::One(m) if m == Method::GET))
                    })
                    .flatten()
            });
        let Some((_, endpoint)) = found else {
            return Match::MethodNotAllowed(&entry.allow);
        };
        let captures = match params {
            Some(p) => Captures::Matched(entry, p),
            // The catch-all's prefix itself: the rest is empty.
            None => Captures::Empty(entry),
        };
        Match::Found(endpoint, captures, Some(&entry.pattern))
    }

    /// The catch-all route whose prefix is `path` itself (`/p/` or `/p`).
    fn catch_all_for(&self, path: &str) -> Option<usize> {
        self.catch_alls
            .iter()
            .find(|c| {
                c.prefix == path
                    || c.prefix
                        .strip_suffix('/')
                        .is_some_and(|p| p == path && !p.is_empty())
            })
            .filter(|c| !c.name.is_empty())
            .map(|c| c.entry)
    }
}

/// The path parameters of a match, not yet collected: collecting them
/// percent-decodes each value into a string of its own, which a handler
/// that reads none (`Handler::READS_PARAMS`) does not pay for.
enum Captures<'a, 'p> {
    /// No route parameters (a tunnel handler).
    None,
    /// The values matched in the path, for `entry`'s names.
    Matched(&'a Entry, matchit::Params<'a, 'p>),
    /// A catch-all route's prefix itself: each parameter empty.
    Empty(&'a Entry),
}

impl Captures<'_, '_> {
    /// The parameters, in pattern order, their values percent-decoded.
    fn collect(self) -> PathParams {
        match self {
            Captures::None => PathParams::default(),
            Captures::Matched(entry, p) => {
                PathParams::collect(p.iter().enumerate().map(|(i, (k, v))| {
                    // The names come in pattern order: the entry's i-th,
                    // shared rather than copied.
                    let name = match entry.names.get(i).filter(|n| &***n == k) {
                        Some(n) => n.clone(),
                        None => Arc::from(k),
                    };
                    (name, percent_decode(v))
                }))
            }
            Captures::Empty(entry) => {
                PathParams::collect(entry.names.iter().map(|n| (n.clone(), String::new())))
            }
        }
    }
}

/// `/p/{*rest}` → (`/p/`, `rest`).
fn catch_all(pattern: &str) -> Option<(String, Arc<str>)> {
    let start = pattern.rfind("/{*")?;
    let name = pattern.get(start + 3..)?.strip_suffix('}')?;
    Some((pattern[..=start].to_string(), Arc::from(name)))
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
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .unwrap_or_else(|_| s.to_string())
}

/// The host a request names: `:authority`/absolute-form authority or the
/// `Host` header, without the port. Case is left as sent.
pub(crate) fn request_host<'a>(uri: &'a http::Uri, fields: Fields<'a>) -> Option<&'a str> {
    let raw = match uri.authority() {
        Some(a) => a.as_str(),
        None => fields.host()?,
    };
    Some(crate::proto::http::host::authority_host(raw))
}

// ----- the future answering one request -----

type Guarded = futures_util::future::CatchUnwind<AssertUnwindSafe<super::handler::ResponseFuture>>;

/// The future answering one request (the router's `Service::Future`): an
/// answer at hand, a handler (guarded: a panic answers 500), or a service.
pub struct Dispatch(Kind);

enum Kind {
    /// Answered without running anything (boxed: 404s and 405s are rare,
    /// and the future of every request in flight is kept small).
    Ready(Option<Box<Response>>),
    Running(Guarded),
    Service(RouteFuture),
}

impl Dispatch {
    pub(crate) fn ready(r: Response) -> Self {
        Dispatch(Kind::Ready(Some(Box::new(r))))
    }

    pub(crate) fn service(fut: RouteFuture) -> Self {
        Dispatch(Kind::Service(fut))
    }
}

impl Future for Dispatch {
    type Output = Result<http::Response<Body>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().0 {
            Kind::Ready(r) => {
                Poll::Ready(Ok(r.take().map(|r| *r).unwrap_or_default().into_inner()))
            }
            Kind::Running(fut) => {
                let res = match fut.poll_unpin(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(r)) => r,
                    Poll::Ready(Err(panic)) => {
                        let what = panic
                            .downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| panic.downcast_ref::<String>().cloned())
                            .unwrap_or_default();
                        tracing::error!(target: "duet", "handler panicked: {what}");
                        Response::error(StatusCode::INTERNAL_SERVER_ERROR, "the handler failed")
                    }
                };
                Poll::Ready(Ok(res.into_inner()))
            }
            Kind::Service(fut) => fut.as_mut().poll(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn h() -> &'static str {
        "x"
    }

    fn table() -> Table {
        let mut t = Table::default();
        let e = || Endpoint::Handler(boxed(h));
        t.add("/hello/{name}", vec![Methods::One(Method::GET)], e())
            .unwrap();
        t.add("/static/{*path}", vec![Methods::One(Method::GET)], e())
            .unwrap();
        t.add(
            "/echo",
            vec![Methods::One(Method::POST), Methods::One(Method::PUT)],
            e(),
        )
        .unwrap();
        t.add("/any", vec![Methods::Any], e()).unwrap();
        t
    }

    fn param(m: Match<'_, '_>, name: &str) -> Option<String> {
        match m {
            Match::Found(_, p, _) => p.collect().get(name).map(str::to_string),
            _ => None,
        }
    }

    #[test]
    fn matches_params_methods_and_head() {
        let t = table();
        assert_eq!(
            param(t.find(&Method::GET, "/hello/w%20x"), "name").as_deref(),
            Some("w x")
        );
        assert_eq!(
            param(t.find(&Method::GET, "/static/a/b/c.txt"), "path").as_deref(),
            Some("a/b/c.txt")
        );
        assert!(matches!(
            t.find(&Method::HEAD, "/hello/x"),
            Match::Found(..)
        ));
        match t.find(&Method::GET, "/echo") {
            Match::MethodNotAllowed(a) => assert_eq!(a, "POST, PUT"),
            _ => panic!("expected 405"),
        }
        match t.find(&Method::DELETE, "/hello/x") {
            Match::MethodNotAllowed(a) => assert_eq!(a, "GET, HEAD"),
            _ => panic!("expected 405"),
        }
        assert!(matches!(t.find(&Method::GET, "/nope"), Match::NotFound));
        assert!(matches!(t.find(&Method::DELETE, "/any"), Match::Found(..)));
        let mut t = t;
        assert!(t
            .add(
                "/hello/{other}",
                vec![Methods::One(Method::GET)],
                Endpoint::Handler(boxed(h))
            )
            .is_err());
    }

    #[test]
    fn a_catch_all_matches_its_prefix_itself() {
        let t = table();
        assert_eq!(
            param(t.find(&Method::GET, "/static/"), "path").as_deref(),
            Some("")
        );
        assert_eq!(
            param(t.find(&Method::GET, "/static"), "path").as_deref(),
            Some("")
        );
        assert!(matches!(t.find(&Method::GET, "/stat"), Match::NotFound));
        let mut root = Table::default();
        root.add(
            "/{*rest}",
            vec![Methods::One(Method::GET)],
            Endpoint::Handler(boxed(h)),
        )
        .unwrap();
        assert_eq!(
            param(root.find(&Method::GET, "/"), "rest").as_deref(),
            Some("")
        );
        assert_eq!(
            param(root.find(&Method::GET, "/a/b"), "rest").as_deref(),
            Some("a/b")
        );
    }

    #[test]
    fn prefixes_come_off_for_nested_services() {
        let u: http::Uri = "/static/css/a.css?v=1".parse().unwrap();
        assert_eq!(strip_prefix(&u, 7).unwrap(), "/css/a.css?v=1");
        let u: http::Uri = "/static".parse().unwrap();
        assert_eq!(strip_prefix(&u, 7).unwrap(), "/");
        let u: http::Uri = "/static?x".parse().unwrap();
        assert_eq!(strip_prefix(&u, 7).unwrap(), "/?x");
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%41%42"), "AB");
        assert_eq!(percent_decode("%ff"), "%ff");
    }
}
