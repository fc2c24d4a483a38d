//! Extractors: typed values a handler takes as arguments, pulled from the
//! request and its connection.
//!
//! Arguments that read only the request head ([`FromRequestParts`]) may come
//! in any order and number; at most one argument consumes the body
//! ([`FromRequest`]), and it comes last. Extraction is async (an extractor
//! may look something up) and fails with the extractor's own
//! [`Rejection`](FromRequestParts::Rejection), a type that converts into a
//! response: duet's extractors answer 400, 413, 415, 422 or 500 with a
//! reason in the one answer format. An application that wants every error
//! in its own format takes `Result<T, T::Rejection>` (or `Option<T>`) and
//! answers itself, or writes its own extractor with its own rejection.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, Method, StatusCode, Uri};
use serde::de::DeserializeOwned;

use super::body::{Body, BodyError};
use super::context::{ConnContext, RequestContext};
use super::response::{HttpError, IntoResponse, Response};

/// Everything about a request except its body, as extractors see it.
pub struct RequestHead {
    pub(crate) ctx: RequestContext,
    pub(crate) conn: ConnContext,
    pub(crate) state: Arc<http::Extensions>,
    pub(crate) body_limit: u64,
}

impl RequestHead {
    /// A request head for calling handlers and extractors directly (tests):
    /// the request's parts, the connection it came on, no path parameters,
    /// no state, the default body limit.
    pub fn new(parts: http::request::Parts, conn: ConnContext) -> Self {
        RequestHead {
            ctx: RequestContext::new(parts),
            conn,
            state: Arc::new(http::Extensions::new()),
            body_limit: crate::config::Limits::default().max_body_bytes,
        }
    }
    /// The request context.
    pub fn context(&self) -> &RequestContext {
        &self.ctx
    }
    /// The connection context.
    pub fn conn(&self) -> &ConnContext {
        &self.conn
    }
    /// The body limit of the request's server (`Limits::max_body_bytes`).
    pub fn body_limit(&self) -> u64 {
        self.body_limit
    }
}

/// A value taken from the request head (not the body); a handler takes any
/// number of them, in any order.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be taken from a request head",
    label = "not an extractor",
    note = "a handler's arguments implement `FromRequestParts` (`RequestContext`, `ConnContext`, `Path<T>`, `Query<T>`, `State<T>`, `Extension<T>`, `Method`, `Uri`, `HeaderMap`, or `Option`/`Result` of one), in any order, except the last, which may instead read the body (`FromRequest`: `Bytes`, `String`, `Json<T>`, `Form<T>`, `Body`)",
    note = "a body extractor that is not the last argument gives this error too"
)]
pub trait FromRequestParts: Sized + Send + 'static {
    /// What a failed extraction answers with.
    type Rejection: IntoResponse;

    /// Whether extraction reads the request's header fields (through
    /// [`RequestContext::headers`] and the like). An HTTP/1.1 request's
    /// headers are built into a `HeaderMap` only for handlers with an
    /// extractor that does; set it to `false` only for an extractor that
    /// reads nothing but the method, target, path parameters, state,
    /// extensions, connection or body limit.
    const READS_HEADERS: bool = true;

    /// Whether extraction reads the path parameters the route captured
    /// (through [`RequestContext::params`] and the like). They are collected
    /// (percent-decoded into their own strings) only for handlers with an
    /// extractor that does; set it to `false` only for an extractor that
    /// never looks at them.
    const READS_PARAMS: bool = true;

    /// Extracts the value, or the rejection to answer with.
    fn from_request_parts(
        head: &RequestHead,
    ) -> impl Future<Output = Result<Self, Self::Rejection>> + Send;
}

/// Marker for extractors that read the body.
pub enum ViaBody {}
/// Marker for head extractors used in the body position.
pub enum ViaParts {}

/// A value taken from the request head and body; at most one per handler,
/// its last argument.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be taken from a request",
    label = "not an extractor",
    note = "the last argument of a handler implements `FromRequest` (`Bytes`, `String`, `Json<T>`, `Form<T>`, `Body`, or `Option`/`Result` of one) or `FromRequestParts`"
)]
pub trait FromRequest<M = ViaBody>: Sized + Send + 'static {
    /// What a failed extraction answers with.
    type Rejection: IntoResponse;

    /// Whether extraction reads the request's header fields: see
    /// [`FromRequestParts::READS_HEADERS`] (the body may be read either way).
    const READS_HEADERS: bool = true;

    /// Whether extraction reads the path parameters: see
    /// [`FromRequestParts::READS_PARAMS`].
    const READS_PARAMS: bool = true;

    /// Extracts the value, or the rejection to answer with.
    fn from_request(
        head: RequestHead,
        body: Body,
    ) -> impl Future<Output = Result<Self, Self::Rejection>> + Send;
}

impl<T: FromRequestParts> FromRequest<ViaParts> for T {
    type Rejection = T::Rejection;
    const READS_HEADERS: bool = T::READS_HEADERS;
    const READS_PARAMS: bool = T::READS_PARAMS;

    async fn from_request(head: RequestHead, _body: Body) -> Result<Self, Self::Rejection> {
        T::from_request_parts(&head).await
    }
}

// ----- optional and fallible extraction -----

/// `None` instead of a rejection.
impl<T: FromRequestParts> FromRequestParts for Option<T> {
    type Rejection = Infallible;
    const READS_HEADERS: bool = T::READS_HEADERS;
    const READS_PARAMS: bool = T::READS_PARAMS;

    async fn from_request_parts(head: &RequestHead) -> Result<Self, Infallible> {
        Ok(T::from_request_parts(head).await.ok())
    }
}

/// The rejection itself, for the handler to answer in its own way.
impl<T: FromRequestParts> FromRequestParts for Result<T, T::Rejection>
where
    T::Rejection: Send + 'static,
{
    type Rejection = Infallible;
    const READS_HEADERS: bool = T::READS_HEADERS;
    const READS_PARAMS: bool = T::READS_PARAMS;

    async fn from_request_parts(head: &RequestHead) -> Result<Self, Infallible> {
        Ok(T::from_request_parts(head).await)
    }
}

impl<T: FromRequest<ViaBody>> FromRequest<ViaBody> for Option<T> {
    type Rejection = Infallible;
    const READS_HEADERS: bool = T::READS_HEADERS;
    const READS_PARAMS: bool = T::READS_PARAMS;

    async fn from_request(head: RequestHead, body: Body) -> Result<Self, Infallible> {
        Ok(T::from_request(head, body).await.ok())
    }
}

impl<T: FromRequest<ViaBody>> FromRequest<ViaBody> for Result<T, T::Rejection>
where
    T::Rejection: Send + 'static,
{
    type Rejection = Infallible;
    const READS_HEADERS: bool = T::READS_HEADERS;
    const READS_PARAMS: bool = T::READS_PARAMS;

    async fn from_request(head: RequestHead, body: Body) -> Result<Self, Infallible> {
        Ok(T::from_request(head, body).await)
    }
}

// ----- the request head -----

impl FromRequestParts for RequestContext {
    type Rejection = Infallible;

    async fn from_request_parts(head: &RequestHead) -> Result<Self, Infallible> {
        Ok(RequestContext::unbuilt(
            Box::new(clone_parts(&head.ctx.parts)),
            None,
            head.ctx.params.clone(),
        ))
    }
}

fn clone_parts(p: &http::request::Parts) -> http::request::Parts {
    let mut req = http::Request::new(());
    *req.method_mut() = p.method.clone();
    *req.uri_mut() = p.uri.clone();
    *req.version_mut() = p.version;
    *req.headers_mut() = p.headers.clone();
    *req.extensions_mut() = p.extensions.clone();
    req.into_parts().0
}

impl FromRequestParts for ConnContext {
    type Rejection = Infallible;
    const READS_HEADERS: bool = false;
    const READS_PARAMS: bool = false;

    async fn from_request_parts(head: &RequestHead) -> Result<Self, Infallible> {
        Ok(head.conn.clone())
    }
}

impl FromRequestParts for Method {
    type Rejection = Infallible;
    const READS_HEADERS: bool = false;
    const READS_PARAMS: bool = false;

    async fn from_request_parts(head: &RequestHead) -> Result<Self, Infallible> {
        Ok(head.ctx.parts.method.clone())
    }
}

impl FromRequestParts for Uri {
    type Rejection = Infallible;
    const READS_HEADERS: bool = false;
    const READS_PARAMS: bool = false;

    async fn from_request_parts(head: &RequestHead) -> Result<Self, Infallible> {
        Ok(head.ctx.parts.uri.clone())
    }
}

impl FromRequestParts for HeaderMap {
    type Rejection = Infallible;
    const READS_PARAMS: bool = false;

    async fn from_request_parts(head: &RequestHead) -> Result<Self, Infallible> {
        Ok(head.ctx.headers().clone())
    }
}

/// Path parameters deserialized into `T`: one parameter into a scalar
/// (`Path<String>`, `Path<u32>`), several into a tuple in pattern order, or
/// into a struct by name. A value that does not parse answers 400.
#[derive(Debug, Clone)]
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send + 'static> FromRequestParts for Path<T> {
    type Rejection = HttpError;
    const READS_HEADERS: bool = false;

    async fn from_request_parts(head: &RequestHead) -> Result<Self, HttpError> {
        super::params::deserialize(head.ctx.params.as_slice())
            .map(Path)
            .map_err(|e| {
                HttpError::new(
                    StatusCode::BAD_REQUEST,
                    format!("invalid path parameter: {e}"),
                )
            })
    }
}

/// The query string deserialized into `T` (`application/x-www-form-
/// urlencoded`). A missing query is an empty one; a value that does not
/// parse answers 400.
#[derive(Debug, Clone)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned + Send + 'static> FromRequestParts for Query<T> {
    type Rejection = HttpError;
    const READS_HEADERS: bool = false;
    const READS_PARAMS: bool = false;

    async fn from_request_parts(head: &RequestHead) -> Result<Self, HttpError> {
        let q = head.ctx.parts.uri.query().unwrap_or("");
        serde_urlencoded::from_str(q).map(Query).map_err(|e| {
            HttpError::new(
                StatusCode::BAD_REQUEST,
                format!("invalid query string: {e}"),
            )
        })
    }
}

/// Shared application state registered with `Server::state` (or
/// `Router::state`). Missing state is a programming error, answered 500.
#[derive(Debug, Clone)]
pub struct State<T>(pub T);

impl<T: Clone + Send + Sync + 'static> FromRequestParts for State<T> {
    type Rejection = HttpError;
    const READS_HEADERS: bool = false;
    const READS_PARAMS: bool = false;

    async fn from_request_parts(head: &RequestHead) -> Result<Self, HttpError> {
        head.state.get::<T>().cloned().map(State).ok_or_else(|| {
            HttpError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("no state of type {} registered", std::any::type_name::<T>()),
            )
        })
    }
}

/// A value from the request's extensions, as a tower layer (or
/// [`Extension`] used as a layer) put it there. Missing, it is a
/// programming error, answered 500.
#[derive(Debug, Clone, Copy, Default)]
pub struct Extension<T>(pub T);

impl<T: Clone + Send + Sync + 'static> FromRequestParts for Extension<T> {
    type Rejection = HttpError;
    const READS_HEADERS: bool = false;
    const READS_PARAMS: bool = false;

    async fn from_request_parts(head: &RequestHead) -> Result<Self, HttpError> {
        head.ctx
            .parts
            .extensions
            .get::<T>()
            .cloned()
            .map(Extension)
            .ok_or_else(|| {
                HttpError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!(
                        "no request extension of type {}",
                        std::any::type_name::<T>()
                    ),
                )
            })
    }
}

// ----- the body -----

fn body_error(e: BodyError) -> HttpError {
    match e {
        BodyError::TooLarge => HttpError::new(StatusCode::PAYLOAD_TOO_LARGE, e.to_string()),
        other => HttpError::new(StatusCode::BAD_REQUEST, other.to_string()),
    }
}

impl FromRequest for Body {
    type Rejection = Infallible;
    const READS_HEADERS: bool = false;
    const READS_PARAMS: bool = false;

    async fn from_request(head: RequestHead, body: Body) -> Result<Self, Infallible> {
        Ok(body.with_limit(head.body_limit))
    }
}

impl FromRequest for Bytes {
    type Rejection = HttpError;
    const READS_HEADERS: bool = false;
    const READS_PARAMS: bool = false;

    async fn from_request(head: RequestHead, body: Body) -> Result<Self, HttpError> {
        body.to_bytes(head.body_limit).await.map_err(body_error)
    }
}

impl FromRequest for String {
    type Rejection = HttpError;
    const READS_HEADERS: bool = false;
    const READS_PARAMS: bool = false;

    async fn from_request(head: RequestHead, body: Body) -> Result<Self, HttpError> {
        let bytes = body.to_bytes(head.body_limit).await.map_err(body_error)?;
        String::from_utf8(bytes.into())
            .map_err(|_| HttpError::new(StatusCode::BAD_REQUEST, "request body is not valid UTF-8"))
    }
}

/// The media type of a request, lowercased, without parameters.
fn mime(headers: &HeaderMap) -> Option<String> {
    let ct = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    Some(
        ct.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase(),
    )
}

/// A JSON body: as an extractor it requires `content-type:
/// application/json` (415 otherwise), answers 400 for malformed JSON and
/// 422 for JSON of the wrong shape; as a return value it serializes `T`.
#[derive(Debug, Clone)]
pub struct Json<T>(pub T);

fn is_json(headers: &HeaderMap) -> bool {
    mime(headers).is_some_and(|m| {
        m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
    })
}

impl<T: DeserializeOwned + Send + 'static> FromRequest for Json<T> {
    type Rejection = HttpError;
    const READS_PARAMS: bool = false;

    async fn from_request(head: RequestHead, body: Body) -> Result<Self, HttpError> {
        if !is_json(head.ctx.headers()) {
            return Err(HttpError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "expected content-type: application/json",
            ));
        }
        let bytes = body.to_bytes(head.body_limit).await.map_err(body_error)?;
        serde_json::from_slice(&bytes).map(Json).map_err(|e| {
            let status = match e.classify() {
                serde_json::error::Category::Data => StatusCode::UNPROCESSABLE_ENTITY,
                _ => StatusCode::BAD_REQUEST,
            };
            HttpError::new(status, format!("invalid JSON body: {e}"))
        })
    }
}

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        Response::json(&self.0)
    }
}

/// An HTML form (`application/x-www-form-urlencoded`): from the body of a
/// POST/PUT/PATCH (415 for another content type), from the query string of
/// a GET or HEAD; 422 when it does not fit `T`. As a return value it is
/// serialized as a form.
#[derive(Debug, Clone)]
pub struct Form<T>(pub T);

impl<T: DeserializeOwned + Send + 'static> FromRequest for Form<T> {
    type Rejection = HttpError;
    const READS_PARAMS: bool = false;

    async fn from_request(head: RequestHead, body: Body) -> Result<Self, HttpError> {
        let invalid = |e: serde_urlencoded::de::Error| {
            HttpError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("invalid form: {e}"),
            )
        };
        let method = &head.ctx.parts.method;
        if method == Method::GET || method == Method::HEAD {
            let q = head.ctx.parts.uri.query().unwrap_or("");
            return serde_urlencoded::from_str(q).map(Form).map_err(invalid);
        }
        if mime(head.ctx.headers()).as_deref() != Some("application/x-www-form-urlencoded") {
            return Err(HttpError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "expected content-type: application/x-www-form-urlencoded",
            ));
        }
        let bytes = body.to_bytes(head.body_limit).await.map_err(body_error)?;
        serde_urlencoded::from_bytes(&bytes)
            .map(Form)
            .map_err(invalid)
    }
}

impl<T: serde::Serialize> IntoResponse for Form<T> {
    fn into_response(self) -> Response {
        match serde_urlencoded::to_string(&self.0) {
            Ok(s) => Response::new(StatusCode::OK, s).insert_header(
                CONTENT_TYPE,
                http::HeaderValue::from_static("application/x-www-form-urlencoded"),
            ),
            Err(e) => Response::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("form serialization failed: {e}"),
            ),
        }
    }
}
