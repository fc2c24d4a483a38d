//! The one error type of the HTTP/1.1 core: a request that cannot be served,
//! named by the status code the server answers it with.

use http::StatusCode;
use std::fmt;

/// A request head or body that violates HTTP/1.1 (RFC 9112) or a limit.
///
/// Each error maps to exactly one status code (400, 408, 413, 414, 431, 501
/// or 505). The connection answers it
/// ([`Connection::reject`](super::Connection::reject)) and closes, since the
/// framing of whatever follows on the connection can no longer be trusted
/// (RFC 9112 §9.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseError {
    status: StatusCode,
    reason: &'static str,
}

impl ParseError {
    /// An error answered with `status`; `reason` is a short, static,
    /// human-readable description sent as the response text.
    pub(crate) const fn new(status: StatusCode, reason: &'static str) -> Self {
        ParseError { status, reason }
    }

    /// 400 Bad Request.
    pub(crate) const fn bad_request(reason: &'static str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, reason)
    }

    /// The status code the server answers this error with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// What was wrong, in a few words (safe to send to the peer).
    pub fn reason(&self) -> &'static str {
        self.reason
    }
}

impl ParseError {
    /// The answer to send: its status and reason in the exchange layer's
    /// one format.
    pub(crate) fn answer(&self) -> crate::proto::http::Answer {
        crate::proto::http::Answer::new(self.status, self.reason)
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status.as_u16(), self.reason)
    }
}

impl std::error::Error for ParseError {}

/// A response body that did not keep to the length its head declared
/// (`Content-Length`, RFC 9110 §8.6): the response cannot be completed, so
/// the connection closes without it (RFC 9112 §6.3 leaves the peer no other
/// way to tell).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LengthError {
    declared: u64,
    produced: u64,
}

impl LengthError {
    /// The declared length.
    #[cfg(any(test, feature = "unstable-fuzz"))]
    pub fn declared(&self) -> u64 {
        self.declared
    }

    /// What the body produced (at least).
    #[cfg(any(test, feature = "unstable-fuzz"))]
    pub fn produced(&self) -> u64 {
        self.produced
    }
}

impl LengthError {
    pub(crate) fn new(declared: u64, produced: u64) -> Self {
        LengthError { declared, produced }
    }
}

impl fmt::Display for LengthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "response body of {} bytes for a declared length of {}",
            self.produced, self.declared
        )
    }
}

impl std::error::Error for LengthError {}
