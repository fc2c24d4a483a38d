//! The exchange: the HTTP semantics every version shares (RFC 9110), once.
//!
//! The version cores (`proto::h1`, `proto::h2`) turn bytes into request
//! heads and bodies and responses back into bytes; the drivers move those
//! bytes. Everything in between that does not depend on the version is
//! decided here, sans-I/O, and the same way for HTTP/1.1, HTTP/2 and any
//! later version:
//!
//! - [`admit`]: after the virtual host is chosen, whether a request is
//!   served at all — that host's body limit (413 as soon as it is known to
//!   be crossed), method and target checks (501, 414), expectations (417),
//!   and the one `Expect: 100-continue` policy ([`Expect`]).
//! - [`BodyBudget`]: the body limit while a request body arrives.
//! - [`frame_response`]: how a response is framed — no body for HEAD and
//!   for 1xx/204/304, the handler's `Content-Length` kept when it agrees
//!   with the body, a known length sent as such ([`Framing`]).
//! - [`SentBody`]: a response body must match the length it declared.
//! - [`Answer`]: the one format of every answer duet makes itself
//!   (404, 405, 400, 408, 413, 414, 421, 431, 500, …).
//! - [`AccessRecord`]: one record per request, written when its last byte
//!   is sent (or it ends otherwise), whoever answered it.
//! - [`ShutdownAction`]: what graceful shutdown does to a response body
//!   still being sent, from a property of the body, not its headers.
//! - [`host`]: one normalisation of host names, for `Host`, `:authority`,
//!   SNI and configured names alike.
//! - [`upgrade`]: switching protocols — which requests ask (`Upgrade`,
//!   CONNECT, extended CONNECT) and which responses grant it.

mod access;
mod admit;
mod answer;
mod framing;
pub(crate) mod host;
pub(crate) mod upgrade;

pub(crate) use access::{AccessRecord, Outcome, Protocol};
pub(crate) use admit::{admit, Admitted, BodyBudget, Expect, RequestFacts};
pub(crate) use answer::{Answer, ERROR_CONTENT_TYPE};
pub(crate) use framing::{frame_response, shutdown_action, Framing, SentBody, ShutdownAction};
