//! Responses and the conversions from handler return values.

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, ALLOW, CONTENT_TYPE};
use http::{HeaderMap, StatusCode};

use super::body::Body;
use crate::proto::http::{Answer, ERROR_CONTENT_TYPE};

/// An HTTP response: status, headers and a [`Body`].
#[derive(Debug, Default)]
pub struct Response {
    inner: http::Response<Body>,
}

const TEXT: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
const HTML: HeaderValue = HeaderValue::from_static("text/html; charset=utf-8");
const JSON: HeaderValue = HeaderValue::from_static("application/json");
const OCTETS: HeaderValue = HeaderValue::from_static("application/octet-stream");

impl Response {
    /// A response with `status`, no headers and `body`.
    pub fn new(status: StatusCode, body: impl Into<Body>) -> Self {
        let mut inner = http::Response::new(body.into());
        *inner.status_mut() = status;
        Response { inner }
    }
    /// A response with `status`, `body` and its `Content-Type`, in a
    /// header map reused from an earlier response when there is one.
    fn typed(status: StatusCode, body: impl Into<Body>, content_type: HeaderValue) -> Self {
        let mut r = Response::new(status, body);
        let headers = r.inner.headers_mut();
        *headers = crate::proto::http::spares::response_map();
        headers.insert(CONTENT_TYPE, content_type);
        r
    }
    /// 200 with a `text/plain` body.
    pub fn text(body: impl Into<Body>) -> Self {
        Response::typed(StatusCode::OK, body, TEXT)
    }
    /// 200 with a `text/html` body.
    pub fn html(body: impl Into<Body>) -> Self {
        Response::typed(StatusCode::OK, body, HTML)
    }
    /// 200 with a JSON body serialized from `value` (500 if it cannot be).
    pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(v) => Response::typed(StatusCode::OK, v, JSON),
            Err(e) => Response::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("response serialization failed: {e}"),
            ),
        }
    }
    /// 200 with an `application/octet-stream` body.
    pub fn bytes(body: impl Into<Bytes>) -> Self {
        Response::typed(StatusCode::OK, Body::full(body.into()), OCTETS)
    }
    /// A response whose body is produced by a stream of chunks.
    pub fn stream<S, B, E>(stream: S) -> Self
    where
        S: futures_util::Stream<Item = Result<B, E>> + Send + 'static,
        B: Into<Bytes> + 'static,
        E: Into<super::body::BoxError> + 'static,
    {
        Response::new(StatusCode::OK, Body::from_stream(stream))
    }
    /// An error response: `status` and a short plain-text body naming it and
    /// the reason — the one format of every answer duet makes itself
    /// (`404 Not Found: no route for this path`).
    pub fn error(status: StatusCode, reason: &str) -> Self {
        Response::from_answer(&Answer::new(status, reason.to_string()))
    }

    /// The response for an answer of the exchange layer.
    pub(crate) fn from_answer(answer: &Answer) -> Self {
        if answer.has_body() {
            Response::typed(answer.status(), answer.body(), ERROR_CONTENT_TYPE)
        } else {
            Response::new(answer.status(), answer.body())
        }
    }
    /// 404 Not Found, with a body.
    pub fn not_found() -> Self {
        Response::error(StatusCode::NOT_FOUND, "no route for this path")
    }
    /// 405 Method Not Allowed with the `Allow` header listing `allowed`.
    pub fn method_not_allowed(allowed: &str) -> Self {
        let mut r = Response::error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed for this path",
        );
        if let Ok(v) = HeaderValue::from_str(allowed) {
            r.headers_mut().insert(ALLOW, v);
        }
        r
    }
    /// 307/308 style redirect.
    pub fn redirect(status: StatusCode, location: &str) -> Self {
        let mut r = Response::new(status, Body::empty());
        if let Ok(v) = HeaderValue::from_str(location) {
            r.headers_mut().insert(http::header::LOCATION, v);
        }
        r
    }

    /// Sets the status.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        *self.inner.status_mut() = status;
        self
    }
    /// Sets header `name` to `value`, replacing every earlier value of that
    /// name. `name` and `value` are anything that converts into a
    /// [`HeaderName`] / [`HeaderValue`] (`&str`, `String`, the typed
    /// constants, a number for the value); an invalid name or value leaves
    /// the response unchanged.
    ///
    /// ```
    /// use duet::Response;
    /// use http::header::CACHE_CONTROL;
    ///
    /// let r = Response::text("hi")
    ///     .insert_header("content-type", "text/markdown")
    ///     .insert_header(CACHE_CONTROL, "no-store");
    /// assert_eq!(r.headers()["content-type"], "text/markdown");
    /// ```
    pub fn insert_header<K, V>(mut self, name: K, value: V) -> Self
    where
        K: TryInto<HeaderName>,
        V: TryInto<HeaderValue>,
    {
        if let (Ok(n), Ok(v)) = (name.try_into(), value.try_into()) {
            self.inner.headers_mut().insert(n, v);
        }
        self
    }
    /// Adds a value of header `name`, after any it already has (for fields
    /// that may repeat, such as `set-cookie`). Conversions as in
    /// [`insert_header`](Self::insert_header); an invalid name or value
    /// leaves the response unchanged.
    ///
    /// ```
    /// use duet::Response;
    ///
    /// let r = Response::text("hi")
    ///     .append_header("set-cookie", "a=1")
    ///     .append_header("set-cookie", "b=2");
    /// assert_eq!(r.headers().get_all("set-cookie").iter().count(), 2);
    /// ```
    pub fn append_header<K, V>(mut self, name: K, value: V) -> Self
    where
        K: TryInto<HeaderName>,
        V: TryInto<HeaderValue>,
    {
        if let (Ok(n), Ok(v)) = (name.try_into(), value.try_into()) {
            self.inner.headers_mut().append(n, v);
        }
        self
    }
    /// Replaces a header: renamed [`insert_header`](Self::insert_header).
    #[deprecated(note = "renamed `insert_header` (replaces every value of the name)")]
    pub fn with_header(self, name: HeaderName, value: HeaderValue) -> Self {
        self.insert_header(name, value)
    }
    /// Appends a header: renamed [`append_header`](Self::append_header).
    #[deprecated(note = "renamed `append_header` (adds a value after any earlier ones)")]
    pub fn header(self, name: &str, value: &str) -> Self {
        self.append_header(name, value)
    }
    /// The status.
    pub fn status(&self) -> StatusCode {
        self.inner.status()
    }
    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        self.inner.headers()
    }
    /// The headers, mutable.
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        self.inner.headers_mut()
    }
    /// The body.
    pub fn body(&self) -> &Body {
        self.inner.body()
    }
    /// The body, mutable.
    pub fn body_mut(&mut self) -> &mut Body {
        self.inner.body_mut()
    }
    /// The underlying `http::Response`.
    pub fn into_inner(self) -> http::Response<Body> {
        self.inner
    }
}

impl From<http::Response<Body>> for Response {
    fn from(inner: http::Response<Body>) -> Self {
        Response { inner }
    }
}

/// Anything a handler may return.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a response",
    label = "not a response",
    note = "a handler returns something implementing `IntoResponse`: `&'static str`, `String`, `Bytes`, `Vec<u8>`, `()`, `StatusCode`, `Json<T>`, `Form<T>`, `Body`, `Response`, `http::Response<B>`, `Sse<S>`, `(StatusCode, T)`, `(StatusCode, HeaderMap, T)`, `Result<T, E>` of two of them, or a type of yours implementing it"
)]
pub trait IntoResponse {
    /// Converts into a response.
    fn into_response(self) -> Response;
}

impl IntoResponse for Response {
    fn into_response(self) -> Response {
        self
    }
}
/// A response with any [`http_body::Body`] (from axum, tonic, tower-http).
impl<B> IntoResponse for http::Response<B>
where
    B: http_body::Body + Send + 'static,
    B::Error: Into<super::body::BoxError>,
{
    fn into_response(self) -> Response {
        Response {
            inner: self.map(Body::new),
        }
    }
}

/// No value: what an extractor that cannot fail rejects with.
impl IntoResponse for std::convert::Infallible {
    fn into_response(self) -> Response {
        match self {}
    }
}
impl IntoResponse for &'static str {
    fn into_response(self) -> Response {
        Response::text(self)
    }
}
impl IntoResponse for String {
    fn into_response(self) -> Response {
        Response::text(self)
    }
}
impl IntoResponse for Bytes {
    fn into_response(self) -> Response {
        Response::bytes(self)
    }
}
impl IntoResponse for Vec<u8> {
    fn into_response(self) -> Response {
        Response::bytes(self)
    }
}
impl IntoResponse for () {
    fn into_response(self) -> Response {
        Response::new(StatusCode::OK, Body::empty())
    }
}
impl IntoResponse for StatusCode {
    fn into_response(self) -> Response {
        if self.is_client_error() || self.is_server_error() {
            Response::error(self, "")
        } else {
            Response::new(self, Body::empty())
        }
    }
}
impl IntoResponse for Body {
    fn into_response(self) -> Response {
        Response::new(StatusCode::OK, self)
    }
}
impl<T: IntoResponse> IntoResponse for (StatusCode, T) {
    fn into_response(self) -> Response {
        self.1.into_response().with_status(self.0)
    }
}
impl<T: IntoResponse> IntoResponse for (StatusCode, HeaderMap, T) {
    fn into_response(self) -> Response {
        let mut r = self.2.into_response().with_status(self.0);
        // Every value of every name given replaces that name's values (two
        // `set-cookie` in, two out).
        r.headers_mut().extend(self.1);
        r
    }
}
impl<T: IntoResponse, E: IntoResponse> IntoResponse for Result<T, E> {
    fn into_response(self) -> Response {
        match self {
            Ok(t) => t.into_response(),
            Err(e) => e.into_response(),
        }
    }
}

/// A handler error that answers with a status and a reason.
#[derive(Debug, Clone)]
pub struct HttpError {
    status: StatusCode,
    reason: String,
}

impl HttpError {
    /// An error answered with `status` and `reason`.
    pub fn new(status: StatusCode, reason: impl Into<String>) -> Self {
        HttpError {
            status,
            reason: reason.into(),
        }
    }
    /// The status to answer with.
    pub fn status(&self) -> StatusCode {
        self.status
    }
    /// Why, as shown in the response body.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status, self.reason)
    }
}

impl std::error::Error for HttpError {}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        Response::error(self.status, &self.reason)
    }
}
