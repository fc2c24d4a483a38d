//! duet: an HTTP/1.1 and HTTP/2 server library.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod app;
pub mod config;
pub mod proto;
pub(crate) mod server;

pub use app::body::{Body, BodyError, BoxError};
pub use app::context::{ConnContext, PathParams, RequestContext, TlsInfo};
pub use app::response::{HttpError, IntoResponse, Response};
pub use config::Limits;
pub use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, Version};
