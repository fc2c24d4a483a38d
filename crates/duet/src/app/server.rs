//! `Server`: one virtual server — an address, optional hostnames, routes,
//! state and limits.

use std::net::{Ipv4Addr, SocketAddr};

use http::Method;
use tower_service::Service;

use super::body::{Body, BoxError};
use super::handler::Handler;
use super::router::Router;
use super::service::{box_layer, BoxLayer, Route};
use crate::config::{Limits, ProxyProtocol, TlsConfig};
use crate::error::Error;
use crate::proto::http::host;

/// A virtual server: where it listens, which hostnames it answers for, and
/// its routes. Several servers may share one address; the executor binds it
/// once and chooses the server by TLS SNI and by `Host` / `:authority`.
pub struct Server {
    pub(crate) addr: SocketAddr,
    pub(crate) hostnames: Vec<String>,
    pub(crate) is_default: bool,
    pub(crate) router: Router,
    pub(crate) layers: Vec<BoxLayer>,
    pub(crate) limits: Limits,
    pub(crate) h2c_upgrade: bool,
    pub(crate) errors: Vec<Error>,
    pub(crate) tls: Option<TlsConfig>,
    pub(crate) proxy: Option<ProxyProtocol>,
    pub(crate) reuse_port: bool,
}

impl Server {
    /// A server on `port` of every IPv4 interface (`0.0.0.0`).
    pub fn bind(port: u16) -> Self {
        Server::bind_addr(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)))
    }

    /// A server on one address. Servers with equal addresses share a
    /// listener — port 0 included: they get one ephemeral port together.
    pub fn bind_addr(addr: SocketAddr) -> Self {
        Server {
            addr,
            hostnames: Vec::new(),
            is_default: false,
            router: Router::default(),
            layers: Vec::new(),
            limits: Limits::default(),
            h2c_upgrade: true,
            errors: Vec::new(),
            tls: None,
            proxy: None,
            reuse_port: false,
        }
    }

    /// Answers for `name` (matched case-insensitively against `Host`,
    /// `:authority` and SNI, port ignored). May be called more than once
    /// for aliases. A server without hostnames answers any host its port's
    /// other servers do not claim.
    pub fn hostname(mut self, name: &str) -> Self {
        let n = host::normalize(name);
        if n.is_empty()
            || n.len() > host::MAX_HOST
            || n != name.trim_end_matches('.').to_ascii_lowercase()
        {
            // Empty, too long, or carrying a port or userinfo.
            self.errors.push(Error::InvalidHostname {
                name: name.to_string(),
            });
        } else {
            self.hostnames.push(n);
        }
        self
    }

    /// Makes this server the port's fallback for requests (and TLS
    /// handshakes) naming no known host.
    pub fn default_server(mut self) -> Self {
        self.is_default = true;
        self
    }

    /// Serves this server over TLS (every server sharing the port must).
    pub fn tls(mut self, config: TlsConfig) -> Self {
        self.tls = Some(config);
        self
    }

    /// Sets the limits and timeouts. When servers share a port, the first
    /// server's limits apply to what is decided before a request's server is
    /// known (header sizes, timeouts, HTTP/2 settings); the limits of
    /// the request's own server apply to the request (body size, target
    /// length).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Expects a PROXY protocol header (v1 or v2) at the start of every
    /// connection of this server's listener, from the sources `proxy`
    /// trusts, and reports the client address it carries as
    /// [`ConnContext::peer_addr`](crate::ConnContext::peer_addr) (and in
    /// the access record). TLS and HTTP/2 detection happen after the
    /// header. A connection from an untrusted source, or whose header is
    /// missing, malformed or late (`Limits::header_read_timeout`), is
    /// closed. When servers share a port, the first one that sets it
    /// decides for the listener.
    pub fn proxy_protocol(mut self, proxy: ProxyProtocol) -> Self {
        self.proxy = Some(proxy);
        self
    }

    /// Binds this server's listener with `SO_REUSEPORT` (Unix), so that
    /// several processes (or executors) can listen on the same address,
    /// the kernel spreading new connections among them. On when any
    /// server of the port asks for it.
    pub fn reuse_port(mut self, on: bool) -> Self {
        self.reuse_port = on;
        self
    }

    /// Allows or refuses HTTP/1.1 `Upgrade: h2c` to this server's hostnames
    /// (on by default for cleartext servers; never over TLS, where ALPN
    /// chooses). Prior-knowledge h2c is always accepted.
    pub fn h2c_upgrade(mut self, on: bool) -> Self {
        self.h2c_upgrade = on;
        self
    }

    /// Registers shared state, extracted by handlers as `State<T>`.
    pub fn state<T: Clone + Send + Sync + 'static>(mut self, value: T) -> Self {
        self.router.state(value);
        self
    }

    /// Serves `service` — an axum `Router`, a tonic server, a tower-http
    /// `ServeDir`, any `tower::Service<http::Request<duet::Body>>` — for
    /// every request this server's own routes do not match, with
    /// everything the server adds around it (virtual host, TLS, h2c,
    /// limits, layers, graceful shutdown, the access record). The
    /// request's extensions carry its [`ConnContext`](crate::ConnContext).
    pub fn service<S, B>(mut self, service: S) -> Self
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
        self.router.fallback_service(service);
        self
    }

    /// Wraps the whole server in a tower `Layer` (CORS, compression,
    /// timeouts, tracing, request ids, auth…): it sees every request for
    /// this server and every response, duet's own 404, 405 and 413 answers
    /// included. The first layer added is the innermost.
    pub fn layer<L, B>(mut self, layer: L) -> Self
    where
        L: tower_layer::Layer<Route> + Send + Sync + 'static,
        L::Service: Service<http::Request<Body>, Response = http::Response<B>>
            + Clone
            + Send
            + Sync
            + 'static,
        <L::Service as Service<http::Request<Body>>>::Future: Send + 'static,
        <L::Service as Service<http::Request<Body>>>::Error: Into<BoxError>,
        B: http_body::Body + Send + 'static,
        B::Error: Into<BoxError>,
    {
        self.layers.push(box_layer(layer));
        self
    }

    /// This server's routes, to add to (nest, merge, fallback).
    pub fn router(&mut self) -> &mut Router {
        &mut self.router
    }

    /// Mounts `router`'s routes under `prefix` (see [`Router::nest`]).
    pub fn nest(&mut self, prefix: &str, router: Router) -> &mut Self {
        self.router.nest(prefix, router);
        self
    }

    /// Adds every route of `router` (see [`Router::merge`]).
    pub fn merge(&mut self, router: Router) -> &mut Self {
        self.router.merge(router);
        self
    }

    /// What answers requests no route matches (instead of 404).
    pub fn fallback<H: Handler<T>, T: 'static>(&mut self, handler: H) -> &mut Self {
        self.router.fallback(handler);
        self
    }

    /// What answers `CONNECT host:port` tunnels (see [`Router::connect`]);
    /// without one, CONNECT is answered 501.
    pub fn connect<H: Handler<T>, T: 'static>(&mut self, handler: H) -> &mut Self {
        self.router.connect(handler);
        self
    }

    /// This server as one tower service, for calling it in-process (tests):
    /// its routes, fallback and layers, with the exchange layer's admission
    /// (body limit, 413/414/417/501) in front — what a connection to it
    /// would get, without a socket or virtual-host choice.
    pub fn into_service(self) -> Result<super::service::ServerService, Error> {
        let (_, mut parts) = self.into_vhost();
        if !parts.errors.is_empty() {
            return Err(parts.errors.remove(0));
        }
        Ok(super::service::ServerService::new(parts))
    }

    /// The address this server was configured with.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Routes `methods` on `path` to `handler`. Patterns: `/hello/{name}`
    /// binds one segment, `/static/{*path}` the rest of the path. A pattern
    /// that conflicts with an earlier one is reported when the executor
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
        self.router.route(path, methods, handler);
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

    pub(crate) fn into_vhost(mut self) -> (SocketAddr, VHostParts) {
        let mut errors = self.errors;
        errors.extend(self.router.take_errors());
        (
            self.addr,
            VHostParts {
                hostnames: self.hostnames,
                is_default: self.is_default,
                router: self.router,
                layers: self.layers,
                limits: self.limits,
                h2c_upgrade: self.h2c_upgrade,
                tls: self.tls,
                proxy: self.proxy,
                reuse_port: self.reuse_port,
                errors,
            },
        )
    }
}

/// A server taken apart for the executor.
pub(crate) struct VHostParts {
    pub(crate) hostnames: Vec<String>,
    pub(crate) is_default: bool,
    pub(crate) router: Router,
    pub(crate) layers: Vec<BoxLayer>,
    pub(crate) limits: Limits,
    pub(crate) h2c_upgrade: bool,
    pub(crate) tls: Option<TlsConfig>,
    pub(crate) proxy: Option<ProxyProtocol>,
    pub(crate) reuse_port: bool,
    pub(crate) errors: Vec<Error>,
}

impl VHostParts {
    /// The server's layers around its router: `None` without layers (the
    /// router is then called directly).
    pub(crate) fn stack(&mut self) -> Option<Route> {
        if self.layers.is_empty() {
            return None;
        }
        let mut route = self.router.clone().into_route();
        for layer in std::mem::take(&mut self.layers) {
            route = layer(route);
        }
        Some(route)
    }
}
