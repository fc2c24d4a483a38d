//! HTTP/1.1 (RFC 9112), sans-I/O: the connection core ([`Connection`]:
//! reading, writing and keep-alive states, pipelining, `100 Continue`, the
//! h2c switch, timeouts, the lingering close), and the pieces it is made
//! of — request-head parsing ([`parse_request`]), request-body framing
//! ([`BodyDecoder`]) and response encoding. Bytes and time in, events and
//! bytes out; no sockets, tasks or clocks. The driver's contract is on
//! [`Connection`].

mod body;
mod conn;
mod encode;
mod error;
mod fields;
mod parse;

pub use body::{BodyDecoder, Decoded};
pub use conn::{BodyFailure, Config, Connection, Event};
pub use error::{LengthError, ParseError};
pub use fields::FieldBlock;
#[cfg(any(test, feature = "unstable-fuzz"))]
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
    /// All header fields, in the order received, not yet built into a
    /// `HeaderMap` ([`FieldBlock::to_map`]).
    pub fields: FieldBlock,
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
    /// The request asks to switch protocols (RFC 9110 §7.8): HTTP/1.1,
    /// `Connection` lists `upgrade` and an `Upgrade` field is present
    /// (whatever it names; an h2c upgrade also sets `upgrade_h2c`).
    pub upgrade: bool,
}

#[cfg(any(test, feature = "unstable-fuzz"))]
impl RequestHead {
    /// The fields built into a `HeaderMap`.
    pub fn headers(&self) -> http::HeaderMap {
        self.fields.to_map(&self.uri)
    }
}

#[cfg(test)]
mod tests;
