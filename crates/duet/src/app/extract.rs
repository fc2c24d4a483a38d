//! Extractors: typed values a handler takes as arguments, pulled from the
//! request and its connection.
//!
//! Arguments that read only the request head ([`FromRequestParts`]) may come
//! in any order and number; at most one argument consumes the body
//! ([`FromRequest`]), and it comes last. A failed extraction answers with its
//! rejection (400, 413, 415, 422 or 500, with a reason); it never panics.

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
    /// The request context.
    pub fn context(&self) -> &RequestContext {
        &self.ctx
    }
    /// The connection context.
    pub fn conn(&self) -> &ConnContext {
        &self.conn
    }
}

/// A value taken from the request head (not the body).
pub trait FromRequestParts: Sized + Send + 'static {
    /// Extracts the value or answers with an error response.
    fn from_request_parts(head: &RequestHead) -> Result<Self, HttpError>;
}

/// Marker for extractors that read the body.
pub enum ViaBody {}
/// Marker for head extractors used in the body position.
pub enum ViaParts {}

/// A value taken from the request head and body; the last argument of a
/// handler.
pub trait FromRequest<M = ViaBody>: Sized + Send + 'static {
    /// Extracts the value or answers with an error response.
    fn from_request(
        head: RequestHead,
        body: Body,
    ) -> impl std::future::Future<Output = Result<Self, HttpError>> + Send;
}

impl<T: FromRequestParts> FromRequest<ViaParts> for T {
    async fn from_request(head: RequestHead, _body: Body) -> Result<Self, HttpError> {
        T::from_request_parts(&head)
    }
}

impl FromRequestParts for RequestContext {
    fn from_request_parts(head: &RequestHead) -> Result<Self, HttpError> {
        Ok(RequestContext {
            parts: clone_parts(&head.ctx.parts),
            params: head.ctx.params.clone(),
        })
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
    fn from_request_parts(head: &RequestHead) -> Result<Self, HttpError> {
        Ok(head.conn.clone())
    }
}

impl FromRequestParts for Method {
    fn from_request_parts(head: &RequestHead) -> Result<Self, HttpError> {
        Ok(head.ctx.parts.method.clone())
    }
}

impl FromRequestParts for Uri {
    fn from_request_parts(head: &RequestHead) -> Result<Self, HttpError> {
        Ok(head.ctx.parts.uri.clone())
    }
}

impl FromRequestParts for HeaderMap {
    fn from_request_parts(head: &RequestHead) -> Result<Self, HttpError> {
        Ok(head.ctx.parts.headers.clone())
    }
}

/// Path parameters deserialized into `T`: one parameter into a scalar
/// (`Path<String>`, `Path<u32>`), several into a tuple in pattern order, or
/// into a struct by name. A value that does not parse answers 400.
#[derive(Debug, Clone)]
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send + 'static> FromRequestParts for Path<T> {
    fn from_request_parts(head: &RequestHead) -> Result<Self, HttpError> {
        super::params::deserialize(&head.ctx.params.0)
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
    fn from_request_parts(head: &RequestHead) -> Result<Self, HttpError> {
        let q = head.ctx.parts.uri.query().unwrap_or("");
        serde_urlencoded::from_str(q).map(Query).map_err(|e| {
            HttpError::new(
                StatusCode::BAD_REQUEST,
                format!("invalid query string: {e}"),
            )
        })
    }
}

/// Shared application state registered with `Server::state`. Missing state
/// is a programming error, answered 500.
#[derive(Debug, Clone)]
pub struct State<T>(pub T);

impl<T: Clone + Send + Sync + 'static> FromRequestParts for State<T> {
    fn from_request_parts(head: &RequestHead) -> Result<Self, HttpError> {
        head.state.get::<T>().cloned().map(State).ok_or_else(|| {
            HttpError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("no state of type {} registered", std::any::type_name::<T>()),
            )
        })
    }
}

fn body_error(e: BodyError) -> HttpError {
    match e {
        BodyError::TooLarge => HttpError::new(StatusCode::PAYLOAD_TOO_LARGE, e.to_string()),
        other => HttpError::new(StatusCode::BAD_REQUEST, other.to_string()),
    }
}

impl FromRequest for Body {
    async fn from_request(head: RequestHead, body: Body) -> Result<Self, HttpError> {
        Ok(body.with_limit(head.body_limit))
    }
}

impl FromRequest for Bytes {
    async fn from_request(head: RequestHead, body: Body) -> Result<Self, HttpError> {
        body.to_bytes(head.body_limit).await.map_err(body_error)
    }
}

impl FromRequest for String {
    async fn from_request(head: RequestHead, body: Body) -> Result<Self, HttpError> {
        let bytes = body.to_bytes(head.body_limit).await.map_err(body_error)?;
        String::from_utf8(bytes.into())
            .map_err(|_| HttpError::new(StatusCode::BAD_REQUEST, "request body is not valid UTF-8"))
    }
}

/// A JSON body: as an extractor it requires `content-type:
/// application/json` (415 otherwise), answers 400 for malformed JSON and
/// 422 for JSON of the wrong shape; as a return value it serializes `T`.
#[derive(Debug, Clone)]
pub struct Json<T>(pub T);

fn is_json(headers: &HeaderMap) -> bool {
    let Some(ct) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

impl<T: DeserializeOwned + Send + 'static> FromRequest for Json<T> {
    async fn from_request(head: RequestHead, body: Body) -> Result<Self, HttpError> {
        if !is_json(&head.ctx.parts.headers) {
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
