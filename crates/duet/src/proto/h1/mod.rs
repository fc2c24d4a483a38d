//! HTTP/1.1 (RFC 9112), sans-I/O: request-head parsing, request-body framing
//! and response encoding. Bytes in, heads and body data out; bytes of
//! responses out. No sockets, tasks or timers.
//!
//! # The driver's contract
//!
//! For each request on a connection, the driver:
//!
//! 1. calls [`parse_request`] on the bytes read so far until it returns
//!    `Ok(Some((head, consumed)))`, then drops `consumed` bytes from its
//!    buffer. `Ok(None)` means "read more"; an `Err` is answered with
//!    `error_response` and the connection is closed.
//! 2. if [`RequestHead::upgrade_h2c`] is set and it wants HTTP/2, writes
//!    [`encode_switching_protocols_h2c`] and hands the connection to the
//!    HTTP/2 core (RFC 7540 §3.2).
//! 3. if the exchange layer's admission (`proto::http`, one `Expect`
//!    policy for every version) asks for it, writes [`encode_continue`]
//!    before reading the body (RFC 9110 §10.1.1).
//! 4. reads the body with [`BodyDecoder::with_limits`] on
//!    [`RequestHead::body`] until [`Decoded::End`], counting the bytes
//!    against its own body limit (413); bytes left in the buffer after
//!    that are the next (pipelined) request.
//! 5. writes the response with [`encode_response_head`] and, for chunked
//!    framing, [`encode_chunk`] / [`encode_last_chunk`].
//! 6. keeps the connection open for another request only if
//!    [`RequestHead::keep_alive`] and the response framing allow it
//!    (RFC 9112 §9.3).

mod body;
mod conn;
mod encode;
mod error;
mod parse;

pub use body::{BodyDecoder, Decoded};
pub use conn::{BodyFailure, Config, Connection, Event, DRAIN_MAX, LINGER_MAX, RELEASE_AFTER};
pub(crate) use encode::error_response;
pub use encode::{
    encode_chunk, encode_chunk_head, encode_continue, encode_last_chunk, encode_response_head,
    encode_switching_protocols_h2c, ResponseFraming, CHUNK_END,
};
pub use error::{LengthError, ParseError};
pub use parse::parse_request;

/// How the body of a request is delimited (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    /// No body: neither `Content-Length` nor `Transfer-Encoding` was sent
    /// (RFC 9112 §6.3 item 7), or `Content-Length: 0`.
    None,
    /// Exactly this many bytes follow the head (`Content-Length`, > 0).
    Length(u64),
    /// The chunked transfer coding (RFC 9112 §7.1).
    Chunked,
}

/// A parsed and validated request head.
#[derive(Debug)]
pub struct RequestHead {
    /// The request method.
    pub method: http::Method,
    /// The request target: origin-form (`/a?b`), absolute-form
    /// (`http://host/a`; then the `Host` header has been replaced by its
    /// authority, RFC 9112 §3.2.2), authority-form (`host:port`, CONNECT
    /// only) or asterisk-form (`*`, OPTIONS only).
    pub uri: http::Uri,
    /// `HTTP_10` or `HTTP_11`; any other version is refused with 505.
    pub version: http::Version,
    /// All header fields, in the order received.
    pub headers: http::HeaderMap,
    /// How the body is delimited.
    pub body: BodyKind,
    /// Whether the connection may stay open after this exchange
    /// (RFC 9112 §9.3): HTTP/1.1 unless `Connection: close`; HTTP/1.0 only
    /// with `Connection: keep-alive` (and no `close`).
    pub keep_alive: bool,
    /// The decoded `HTTP2-Settings` payload (a SETTINGS frame payload,
    /// RFC 7540 §3.2.1) when the request asks to upgrade to h2c: HTTP/1.1,
    /// `Upgrade` lists `h2c`, `Connection` lists `Upgrade` and
    /// `HTTP2-Settings`, and exactly one `HTTP2-Settings` field is present.
    /// `None` otherwise (the request is then served as plain HTTP/1.1).
    pub upgrade_h2c: Option<bytes::Bytes>,
}

#[cfg(test)]
mod tests;
