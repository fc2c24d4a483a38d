//! duet: an HTTP/1.1 and HTTP/2 server library with its own protocol
//! engines.
//!
//! ```no_run
//! use duet::{ConnContext, Executor, Path, RequestContext, Server};
//!
//! async fn hello(Path(name): Path<String>) -> String {
//!     format!("hello, {name}")
//! }
//!
//! async fn info(req: RequestContext, conn: ConnContext) -> String {
//!     format!("{} {} over {} from {}", req.method(), req.path(), conn.protocol(), conn.peer_addr())
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), duet::Error> {
//!     let mut server = Server::bind(8080);
//!     server.get("/hello/{name}", hello).get("/info", info);
//!     Executor::new().add(server).run().await
//! }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod app;
pub mod config;
mod error;
pub mod observability;
/// The sans-I/O protocol cores. Not public API: visible only with the
/// `unstable-fuzz` feature, for the fuzz targets, and free to change in any
/// release.
#[cfg(feature = "unstable-fuzz")]
#[doc(hidden)]
pub mod proto;
#[cfg(not(feature = "unstable-fuzz"))]
pub(crate) mod proto;
pub(crate) mod server;

pub use app::body::{Body, BodyError, BoxError};
pub use app::context::{ConnContext, PathParams, RequestContext, TlsInfo};
pub use app::extract::{
    Extension, Form, FromRequest, FromRequestParts, Json, Path, Query, RequestHead, State,
};
pub use app::handler::Handler;
pub use app::response::{HttpError, IntoResponse, Response};
pub use app::router::Router;
pub use app::server::Server;
pub use app::service::{Route, ServerService};
pub use app::sse::{Event, IntoEvent, KeepAlive, Sse};
pub use app::{upgrade, ws};
pub use config::{Limits, ProxyProtocol, TlsConfig, TlsError, TlsErrorKind};
pub use error::Error;
pub use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, Version};
pub use server::admin::Admin;
pub use server::executor::{wait_for_signal, Executor, Running, ShutdownHandle};

/// The README's examples, compiled as doc-tests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
