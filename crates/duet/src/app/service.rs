//! The tower seam: any `tower::Service<http::Request<Body>>` can answer
//! requests (an axum `Router`, a tonic server, tower-http's `ServeDir`),
//! and tower `Layer`s wrap a whole server (`Server::layer`), duet's own
//! 404/405/413 answers included.
//!
//! What duet hands a service: `http::Request<`[`Body`]`>` whose extensions
//! carry the [`ConnContext`](crate::ConnContext) of its connection. What it
//! takes back: `http::Response<B>` for any [`http_body::Body`] `B` (its
//! trailers included). A service error is answered 500 and logged.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::StatusCode;
use tower_service::Service;

use super::body::{Body, BoxError};
use super::response::Response;

/// A boxed future of a response.
pub type RouteFuture =
    Pin<Box<dyn Future<Output = Result<http::Response<Body>, Infallible>> + Send>>;

/// A type-erased service: what a server's routes, fallback service and
/// layers become. Cheap to clone (shared). It is itself a
/// `tower::Service<http::Request<Body>>` that never fails, which is what
/// [`Server::layer`](crate::Server::layer) wraps.
#[derive(Clone)]
pub struct Route(Arc<dyn Erased>);

impl fmt::Debug for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Route")
    }
}

pub(crate) trait Erased: Send + Sync + 'static {
    fn call(&self, req: http::Request<Body>) -> RouteFuture;
}

impl Route {
    /// Erases a tower service. Its errors are answered 500.
    pub fn new<S, B>(service: S) -> Route
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
        // A Route given here is taken as it is.
        let mut slot = Some(service);
        if let Some(r) = (&mut slot as &mut dyn std::any::Any).downcast_mut::<Option<Route>>() {
            if let Some(r) = r.take() {
                return r;
            }
        }
        match slot {
            Some(s) => Route(Arc::new(Tower(s))),
            None => Route(Arc::new(Tower(NotFound))),
        }
    }

    pub(crate) fn from_erased(e: Arc<dyn Erased>) -> Route {
        Route(e)
    }

    /// Answers `req`.
    pub(crate) fn oneshot(&self, req: http::Request<Body>) -> RouteFuture {
        self.0.call(req)
    }
}

impl Service<http::Request<Body>> for Route {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = RouteFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> RouteFuture {
        self.0.call(req)
    }
}

/// A tower service, called the tower way: a clone per request, made ready,
/// then called.
struct Tower<S>(S);

impl<S, B> Erased for Tower<S>
where
    S: Service<http::Request<Body>, Response = http::Response<B>> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    fn call(&self, req: http::Request<Body>) -> RouteFuture {
        let mut svc = self.0.clone();
        Box::pin(async move {
            if let Err(e) = std::future::poll_fn(|cx| svc.poll_ready(cx)).await {
                return Ok(failed(e.into()));
            }
            match svc.call(req).await {
                Ok(resp) => Ok(resp.map(Body::new)),
                Err(e) => Ok(failed(e.into())),
            }
        })
    }
}

fn failed(e: BoxError) -> http::Response<Body> {
    tracing::error!(target: "duet", "service failed: {e}");
    Response::error(StatusCode::INTERNAL_SERVER_ERROR, "the service failed").into_inner()
}

/// A service that answers 404 (the placeholder of an empty [`Route`]).
#[derive(Clone, Copy)]
struct NotFound;

impl Service<http::Request<Body>> for NotFound {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<http::Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _req: http::Request<Body>) -> Self::Future {
        std::future::ready(Ok(Response::not_found().into_inner()))
    }
}

/// A layer as `Server::layer` keeps it until the server is built.
pub(crate) type BoxLayer = Box<dyn FnOnce(Route) -> Route + Send + Sync>;

/// Wraps `layer` for later application.
pub(crate) fn box_layer<L, B>(layer: L) -> BoxLayer
where
    L: tower_layer::Layer<Route> + Send + Sync + 'static,
    L::Service:
        Service<http::Request<Body>, Response = http::Response<B>> + Clone + Send + Sync + 'static,
    <L::Service as Service<http::Request<Body>>>::Future: Send + 'static,
    <L::Service as Service<http::Request<Body>>>::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    Box::new(move |inner| Route::new(layer.layer(inner)))
}

/// The body limit of the request's server, for extractors (request
/// extension set by the server).
#[derive(Clone, Copy, Debug)]
pub(crate) struct BodyLimit(pub(crate) u64);

/// An answer of the exchange layer to send instead of routing (request
/// extension set by the server, so that layers see duet's own answers).
#[derive(Clone, Debug)]
pub(crate) struct Preempted(pub(crate) crate::proto::http::Answer);

/// [`Extension`](super::extract::Extension) as a layer: puts a clone of
/// its value into every request's extensions.
impl<S, T: Clone> tower_layer::Layer<S> for super::extract::Extension<T> {
    type Service = AddExtension<S, T>;

    fn layer(&self, inner: S) -> Self::Service {
        AddExtension {
            inner,
            value: self.0.clone(),
        }
    }
}

/// The service of the [`Extension`](super::extract::Extension) layer.
#[derive(Clone, Debug)]
pub struct AddExtension<S, T> {
    inner: S,
    value: T,
}

impl<S, T, B> Service<http::Request<B>> for AddExtension<S, T>
where
    S: Service<http::Request<B>>,
    T: Clone + Send + Sync + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> S::Future {
        req.extensions_mut().insert(self.value.clone());
        self.inner.call(req)
    }
}

/// A [`Server`](crate::Server) as one tower service
/// ([`Server::into_service`](crate::Server::into_service)), to call
/// in-process: the exchange layer's admission (body limit, 413, 414, 417,
/// 501), then the server's layers around its routes. The connection is
/// the request's [`ConnContext`](crate::ConnContext) extension, or a
/// loopback one.
#[derive(Clone)]
pub struct ServerService {
    stack: Route,
    limits: Arc<crate::config::Limits>,
    tunnels: bool,
}

impl fmt::Debug for ServerService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServerService")
    }
}

impl ServerService {
    pub(crate) fn new(mut parts: super::server::VHostParts) -> Self {
        let stack = parts
            .stack()
            .unwrap_or_else(|| parts.router.clone().into_route());
        ServerService {
            stack,
            limits: Arc::new(parts.limits),
            tunnels: parts.router.has_connect(),
        }
    }
}

impl<B> Service<http::Request<B>> for ServerService
where
    B: http_body::Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = RouteFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> RouteFuture {
        let (mut parts, body) = req.into_parts();
        let body = Body::new(body);
        let declared = parts
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let facts = crate::proto::http::RequestFacts {
            method: &parts.method,
            uri: &parts.uri,
            version: parts.version,
            fields: crate::proto::http::Fields::Map(&parts.headers),
            declared_len: declared,
            has_body: !http_body::Body::is_end_stream(&body),
        };
        match crate::proto::http::admit(&facts, &self.limits, self.tunnels) {
            Ok(admitted) => {
                parts.extensions.insert(BodyLimit(admitted.budget.limit()));
                self.stack.oneshot(http::Request::from_parts(parts, body))
            }
            Err(answer) => {
                parts.extensions.insert(Preempted(answer));
                self.stack
                    .oneshot(http::Request::from_parts(parts, Body::empty()))
            }
        }
    }
}
