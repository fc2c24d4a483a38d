//! What a handler knows about its connection and its request.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use http::{Extensions, HeaderMap, Method, Uri, Version};

use crate::proto::http::Fields;
use crate::proto::http::Unbuilt;

/// TLS facts of a connection. More may be added: it is built only by the
/// server.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct TlsInfo {
    /// The server name the client sent (SNI), if any.
    pub server_name: Option<String>,
    /// The ALPN protocol negotiated (`h2`, `http/1.1`), if any.
    pub alpn: Option<Vec<u8>>,
    /// The TLS version, e.g. `TLSv1.3`.
    pub version: &'static str,
}

/// Shared state of one connection. Cheap to clone through [`ConnContext`].
///
/// Every open connection holds one: what most connections do not use (TLS
/// facts, connection values) is boxed, which keeps it in the allocator's
/// 128-byte class (224 bytes unboxed).
pub(crate) struct ConnInfo {
    pub(crate) id: u64,
    pub(crate) peer: SocketAddr,
    pub(crate) local: SocketAddr,
    version: AtomicU8,
    pub(crate) tls: Option<Box<TlsInfo>>,
    /// Created with the first value set.
    values: Mutex<Option<Box<Values>>>,
}

type Values = HashMap<TypeId, Box<dyn Any + Send + Sync>>;

fn version_code(v: Version) -> u8 {
    match v {
        Version::HTTP_09 => 0,
        Version::HTTP_10 => 1,
        Version::HTTP_2 => 3,
        Version::HTTP_3 => 4,
        _ => 2,
    }
}

fn code_version(c: u8) -> Version {
    match c {
        0 => Version::HTTP_09,
        1 => Version::HTTP_10,
        3 => Version::HTTP_2,
        4 => Version::HTTP_3,
        _ => Version::HTTP_11,
    }
}

/// The connection a request arrived on: addresses, protocol, TLS facts, an
/// id, and values that live as long as the connection (set by one request,
/// seen by the next on the same connection).
#[derive(Clone)]
pub struct ConnContext {
    pub(crate) inner: Arc<ConnInfo>,
}

impl std::fmt::Debug for ConnContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnContext")
            .field("id", &self.inner.id)
            .field("peer", &self.inner.peer)
            .field("local", &self.inner.local)
            .field("version", &self.version())
            .field("tls", &self.inner.tls)
            .finish()
    }
}

impl ConnContext {
    /// A connection context for calling handlers and services directly
    /// (tests, in-process dispatch): a cleartext HTTP/1.1 connection from
    /// `peer` to `local`, with id 0. See [`ConnContext::with_tls`] and
    /// [`ConnContext::with_version`].
    pub fn new(peer: SocketAddr, local: SocketAddr) -> Self {
        ConnContext::accepted(0, peer, local, Version::HTTP_11, None)
    }

    /// This context, over TLS with these facts.
    pub fn with_tls(self, tls: TlsInfo) -> Self {
        let version = self.version();
        ConnContext::accepted(
            self.inner.id,
            self.inner.peer,
            self.inner.local,
            version,
            Some(tls),
        )
    }

    /// This context, speaking `version`.
    pub fn with_version(self, version: Version) -> Self {
        self.set_version(version);
        self
    }

    /// The context of a request dispatched in-process without one: a
    /// loopback connection.
    pub(crate) fn in_process() -> Self {
        let lo = SocketAddr::from(([127, 0, 0, 1], 0));
        ConnContext::new(lo, lo)
    }

    pub(crate) fn accepted(
        id: u64,
        peer: SocketAddr,
        local: SocketAddr,
        version: Version,
        tls: Option<TlsInfo>,
    ) -> Self {
        ConnContext {
            inner: Arc::new(ConnInfo {
                id,
                peer,
                local,
                version: AtomicU8::new(version_code(version)),
                tls: tls.map(Box::new),
                values: Mutex::new(None),
            }),
        }
    }

    /// A number unique to this connection within the process.
    pub fn id(&self) -> u64 {
        self.inner.id
    }
    /// The client's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.inner.peer
    }
    /// The local address the connection was accepted on.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local
    }
    /// The HTTP version spoken on the connection (HTTP/2 after an h2c
    /// upgrade).
    pub fn version(&self) -> Version {
        code_version(self.inner.version.load(Ordering::Relaxed))
    }
    pub(crate) fn set_version(&self, v: Version) {
        self.inner.version.store(version_code(v), Ordering::Relaxed);
    }
    /// A short protocol name: `http/1.0`, `http/1.1`, `h2c` or `h2`.
    pub fn protocol(&self) -> &'static str {
        match (self.version(), self.inner.tls.is_some()) {
            (Version::HTTP_2, true) => "h2",
            (Version::HTTP_2, false) => "h2c",
            (Version::HTTP_10, _) => "http/1.0",
            _ => "http/1.1",
        }
    }
    /// True when the connection is over TLS.
    pub fn is_tls(&self) -> bool {
        self.inner.tls.is_some()
    }
    /// TLS facts, when the connection is over TLS.
    pub fn tls(&self) -> Option<&TlsInfo> {
        self.inner.tls.as_deref()
    }
    /// The SNI server name the client sent, if any.
    pub fn server_name(&self) -> Option<&str> {
        self.inner.tls.as_ref()?.server_name.as_deref()
    }
    /// The negotiated ALPN protocol, if any.
    pub fn alpn(&self) -> Option<&[u8]> {
        self.inner.tls.as_ref()?.alpn.as_deref()
    }

    /// Stores a value for the rest of the connection's life, replacing one
    /// of the same type.
    pub fn set<T: Any + Send + Sync + Clone>(&self, value: T) {
        if let Ok(mut m) = self.inner.values.lock() {
            m.get_or_insert_with(Box::default)
                .insert(TypeId::of::<T>(), Box::new(value));
        }
    }
    /// A copy of the connection value of type `T`, if one was set.
    pub fn get<T: Any + Send + Sync + Clone>(&self) -> Option<T> {
        let m = self.inner.values.lock().ok()?;
        m.as_ref()?
            .get(&TypeId::of::<T>())?
            .downcast_ref::<T>()
            .cloned()
    }
    /// Updates (or creates from `Default`) the connection value of type `T`
    /// and returns a copy of the new value.
    pub fn update<T: Any + Send + Sync + Clone + Default>(&self, f: impl FnOnce(&mut T)) -> T {
        let Ok(mut m) = self.inner.values.lock() else {
            let mut v = T::default();
            f(&mut v);
            return v;
        };
        let slot = m
            .get_or_insert_with(Box::default)
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Box::new(T::default()));
        match slot.downcast_mut::<T>() {
            Some(v) => {
                f(v);
                v.clone()
            }
            None => T::default(),
        }
    }
}

/// Path parameters captured by the route pattern, in pattern order.
#[derive(Clone, Debug, Default)]
pub struct PathParams(Captured);

/// One parameter's name and (percent-decoded) value.
pub(crate) type Param = (std::sync::Arc<str>, String);

/// The parameters; the common single one is kept without a `Vec`.
#[derive(Clone, Debug, Default)]
enum Captured {
    #[default]
    None,
    One([Param; 1]),
    Many(Vec<Param>),
}

impl PathParams {
    /// The value of parameter `name`, if the route captured it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.as_slice()
            .iter()
            .find(|(k, _)| &**k == name)
            .map(|(_, v)| v.as_str())
    }
    /// All captured parameters, in pattern order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.as_slice().iter().map(|(k, v)| (&**k, v.as_str()))
    }

    /// The parameters, in pattern order.
    pub(crate) fn as_slice(&self) -> &[Param] {
        match &self.0 {
            Captured::None => &[],
            Captured::One(one) => one,
            Captured::Many(many) => many,
        }
    }

    /// Parameters from `params`, in pattern order.
    pub(crate) fn collect(mut params: impl Iterator<Item = Param>) -> PathParams {
        let Some(first) = params.next() else {
            return PathParams::default();
        };
        PathParams(match params.next() {
            None => Captured::One([first]),
            Some(second) => {
                let mut many = Vec::with_capacity(2 + params.size_hint().0);
                many.push(first);
                many.push(second);
                many.extend(params);
                Captured::Many(many)
            }
        })
    }
}

/// The request a handler is answering: method, target, headers, path
/// parameters, query and values scoped to this request.
#[derive(Debug)]
pub struct RequestContext {
    /// Boxed: the context moves with the request into the handler, and
    /// the head is ~220 bytes.
    pub(crate) parts: Box<http::request::Parts>,
    pub(crate) params: PathParams,
    /// The request's field section while `parts.headers` is not
    /// built from it: only for handlers whose extractors read no header
    /// (`Handler::READS_HEADERS`), which never see the headers.
    pub(crate) fields: Option<Unbuilt>,
}

impl RequestContext {
    /// A request context for a request head (tests): no path parameters.
    pub fn new(parts: http::request::Parts) -> Self {
        RequestContext {
            parts: Box::new(parts),
            params: PathParams::default(),
            fields: None,
        }
    }

    /// A context whose headers are `fields`, built by
    /// [`RequestContext::build_headers`] when something reads them.
    pub(crate) fn unbuilt(
        parts: Box<http::request::Parts>,
        fields: Option<Unbuilt>,
        params: PathParams,
    ) -> Self {
        RequestContext {
            parts,
            params,
            fields,
        }
    }

    /// Builds the headers from the field section, if not yet built.
    pub(crate) fn build_headers(&mut self) {
        crate::app::router::build_headers(&mut self.parts, self.fields.take());
    }
    /// The request method.
    pub fn method(&self) -> &Method {
        &self.parts.method
    }
    /// The request target.
    pub fn uri(&self) -> &Uri {
        &self.parts.uri
    }
    /// The path of the request target.
    pub fn path(&self) -> &str {
        self.parts.uri.path()
    }
    /// The raw query string, if any.
    pub fn query(&self) -> Option<&str> {
        self.parts.uri.query()
    }
    /// One query parameter, percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        let q = self.parts.uri.query()?;
        serde_urlencoded::from_str::<Vec<(String, String)>>(q)
            .ok()?
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
    /// The HTTP version of the request.
    pub fn version(&self) -> Version {
        self.parts.version
    }
    /// The request headers.
    pub fn headers(&self) -> &HeaderMap {
        debug_assert!(self.fields.is_none(), "headers read but not built");
        &self.parts.headers
    }
    /// One header value as text, if present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers().get(name)?.to_str().ok()
    }
    /// The host the request names (`Host` or `:authority`), without port.
    pub fn host(&self) -> Option<&str> {
        let fields = match &self.fields {
            Some(unbuilt) => unbuilt.fields(),
            None => Fields::Map(&self.parts.headers),
        };
        crate::app::router::request_host(&self.parts.uri, fields)
    }
    /// A path parameter captured by the route.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name)
    }
    /// All path parameters.
    pub fn params(&self) -> &PathParams {
        &self.params
    }
    /// Values scoped to this request.
    pub fn extensions(&self) -> &Extensions {
        &self.parts.extensions
    }
    /// Values scoped to this request, mutable.
    pub fn extensions_mut(&mut self) -> &mut Extensions {
        &mut self.parts.extensions
    }
    /// The `Last-Event-ID` header a reconnecting `EventSource` sends.
    pub fn last_event_id(&self) -> Option<&str> {
        self.header("last-event-id")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every open connection holds its `ConnInfo` behind an `Arc` (two
    /// counters, 16 bytes): keep the pair in the allocator's 128-byte class.
    #[test]
    fn connection_info_stays_small() {
        let size = std::mem::size_of::<ConnInfo>() + 16;
        assert!(size <= 128, "ConnInfo in its Arc: {size} bytes");
    }

    #[test]
    fn connection_values_are_kept_per_type() {
        let c = ConnContext::in_process();
        assert_eq!(c.get::<u32>(), None);
        c.set(7u32);
        c.set(String::from("x"));
        assert_eq!(c.get::<u32>(), Some(7));
        assert_eq!(c.update::<u32>(|v| *v += 1), 8);
        assert_eq!(c.update::<u64>(|v| *v += 2), 2);
        assert_eq!(c.get::<String>().as_deref(), Some("x"));
    }
}
