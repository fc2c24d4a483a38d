//! How a response is framed, from the response itself (RFC 9110 §6.4.1,
//! §8.6, §9.3.2, §15.4.5), and what graceful shutdown does to a body still
//! being sent. The version cores only encode what is decided here:
//! HTTP/1.1 writes [`Framing::Length`] as `Content-Length` and
//! [`Framing::Unknown`] as chunked (close-delimited to HTTP/1.0); HTTP/2
//! sends `content-length` for a known length and ends the stream with the
//! last DATA frame either way.

use http::header::CONTENT_LENGTH;
use http::{HeaderMap, StatusCode};

/// How a response's body goes out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body bytes are sent: a response to HEAD, or a 1xx, 204 or 304.
    /// `content_length` is the `Content-Length` field to send, if any: for
    /// HEAD the length a GET would have, for 304 the handler's own.
    NoBody {
        /// The `Content-Length` field value to send.
        content_length: Option<u64>,
    },
    /// Exactly this many body bytes follow, announced as `Content-Length`.
    Length(u64),
    /// A body whose length is not known before it ends.
    Unknown,
}

impl Framing {
    /// The `Content-Length` field to send, if any.
    pub(crate) fn content_length(self) -> Option<u64> {
        match self {
            Framing::NoBody { content_length } => content_length,
            Framing::Length(n) => Some(n),
            Framing::Unknown => None,
        }
    }

    /// True when body bytes are sent.
    pub(crate) fn has_body(self) -> bool {
        match self {
            Framing::NoBody { .. } => false,
            Framing::Length(n) => n > 0,
            Framing::Unknown => true,
        }
    }
}

/// Frames a response with `status` and the handler's `headers`, answering
/// a HEAD request when `head_request`, whose body is `body_len` bytes long
/// when that is known before sending it.
///
/// The handler's `Content-Length` is the field to keep when it agrees with
/// the body; when it disagrees with a body of known length, the body wins
/// (a wrong length would corrupt the framing of everything after it on an
/// HTTP/1.1 connection) and the mismatch is logged. On a body of unknown
/// length it declares the length, and [`SentBody`] holds the body to it.
/// Encoders never copy the handler's `Content-Length`: they write
/// [`Framing::content_length`].
pub(crate) fn frame_response(
    status: StatusCode,
    headers: &HeaderMap,
    head_request: bool,
    body_len: Option<u64>,
) -> Framing {
    // RFC 9110 §8.6: no Content-Length in 1xx and 204 responses; §6.4.1:
    // they have no content.
    if status.is_informational() || status == StatusCode::NO_CONTENT {
        return Framing::NoBody {
            content_length: None,
        };
    }
    let declared = declared_length(headers);
    // RFC 9110 §15.4.5, §8.6: a 304 has no content; a Content-Length in it
    // is the one of the selected representation, which only the handler
    // knows.
    if status == StatusCode::NOT_MODIFIED {
        return Framing::NoBody {
            content_length: declared,
        };
    }
    // RFC 9110 §9.3.2, §8.6: a response to HEAD has no content; its
    // Content-Length is the one a GET would have — the handler's, or that of
    // the body the (GET) handler produced.
    if head_request {
        return Framing::NoBody {
            content_length: declared.or(body_len),
        };
    }
    match (declared, body_len) {
        (Some(d), Some(n)) if d != n => {
            tracing::warn!(
                target: "duet",
                "a handler's content-length ({d}) disagrees with its body ({n} bytes); sending {n}"
            );
            Framing::Length(n)
        }
        (_, Some(n)) => Framing::Length(n),
        (Some(d), None) => Framing::Length(d),
        (None, None) => Framing::Unknown,
    }
}

/// The handler's `Content-Length`, when it is one valid length (RFC 9110
/// §8.6: a list of identical values counts as one); otherwise `None`,
/// logged.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    if super::lacks(headers, &CONTENT_LENGTH) {
        return None;
    }
    let mut values = headers.get_all(CONTENT_LENGTH).iter();
    let first = values.next()?;
    let parse = |v: &http::HeaderValue| -> Option<u64> {
        let s = v.to_str().ok()?.trim();
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let n = parse(first);
    if n.is_none() || values.any(|v| parse(v) != n) {
        tracing::warn!(target: "duet", "ignoring a handler's invalid content-length");
        return None;
    }
    n
}

/// A response body of declared length must send exactly that many bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SentBody {
    declared: Option<u64>,
    sent: u64,
}

/// A body that did not keep to its declared length: the response cannot
/// be completed (HTTP/1.1 closes the connection, HTTP/2 resets the
/// stream).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LengthMismatch {
    /// The declared length.
    pub(crate) declared: u64,
    /// What the body produced (at least).
    pub(crate) produced: u64,
}

impl std::fmt::Display for LengthMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "response body of {} bytes for a declared length of {}",
            self.produced, self.declared
        )
    }
}

impl SentBody {
    /// Tracks a body sent with `framing`.
    pub(crate) fn new(framing: Framing) -> SentBody {
        let declared = match framing {
            Framing::Length(n) => Some(n),
            _ => None,
        };
        SentBody { declared, sent: 0 }
    }

    /// Body bytes sent so far.
    pub(crate) fn sent(&self) -> u64 {
        self.sent
    }

    /// Counts a chunk of `n` bytes before it is sent; an error when it
    /// would overrun the declared length (the chunk must not be sent).
    pub(crate) fn chunk(&mut self, n: usize) -> Result<(), LengthMismatch> {
        let total = self.sent.saturating_add(n as u64);
        if let Some(d) = self.declared {
            if total > d {
                return Err(LengthMismatch {
                    declared: d,
                    produced: total,
                });
            }
        }
        self.sent = total;
        Ok(())
    }

    /// The body ended: an error when it is short of its declared length.
    pub(crate) fn end(&self) -> Result<(), LengthMismatch> {
        match self.declared {
            Some(d) if d != self.sent => Err(LengthMismatch {
                declared: d,
                produced: self.sent,
            }),
            _ => Ok(()),
        }
    }
}

/// What graceful shutdown does to a response body still being sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ShutdownAction {
    /// The body is sent to its end (within the shutdown grace).
    Finish,
    /// The body is ended cleanly now, after what was already produced: a
    /// stream that never ends by itself (an event stream) would otherwise
    /// hold shutdown to its deadline; its client reconnects elsewhere.
    EndNow,
}

/// The shutdown rule: a body that says it is endless (an event stream,
/// `Body::ends_at_shutdown`) is ended, every other body finishes.
pub(crate) fn shutdown_action(ends_at_shutdown: bool) -> ShutdownAction {
    if ends_at_shutdown {
        ShutdownAction::EndNow
    } else {
        ShutdownAction::Finish
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn cl(v: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.append(CONTENT_LENGTH, HeaderValue::from_static(v));
        h
    }

    #[test]
    fn head_keeps_the_length_a_get_would_have() {
        let none = HeaderMap::new();
        // The GET handler's body: its length.
        assert_eq!(
            frame_response(StatusCode::OK, &none, true, Some(5)),
            Framing::NoBody {
                content_length: Some(5)
            }
        );
        // An explicit HEAD handler's Content-Length over its empty body.
        assert_eq!(
            frame_response(StatusCode::OK, &cl("1234"), true, Some(0)),
            Framing::NoBody {
                content_length: Some(1234)
            }
        );
        // A stream of unknown length: no length to announce.
        assert_eq!(
            frame_response(StatusCode::OK, &none, true, None),
            Framing::NoBody {
                content_length: None
            }
        );
    }

    #[test]
    fn no_body_statuses() {
        for s in [100, 103, 204] {
            let s = StatusCode::from_u16(s).unwrap();
            assert_eq!(
                frame_response(s, &cl("10"), false, Some(10)),
                Framing::NoBody {
                    content_length: None
                }
            );
        }
        // 304: only the handler's own length, never the body's.
        assert_eq!(
            frame_response(StatusCode::NOT_MODIFIED, &cl("10"), false, Some(0)),
            Framing::NoBody {
                content_length: Some(10)
            }
        );
        assert_eq!(
            frame_response(StatusCode::NOT_MODIFIED, &HeaderMap::new(), false, Some(3)),
            Framing::NoBody {
                content_length: None
            }
        );
    }

    #[test]
    fn handler_length_kept_when_consistent() {
        assert_eq!(
            frame_response(StatusCode::OK, &cl("3"), false, Some(3)),
            Framing::Length(3)
        );
        // A known-length stream.
        assert_eq!(
            frame_response(StatusCode::OK, &cl("300"), false, None),
            Framing::Length(300)
        );
        // Disagreeing with a known body: the body wins.
        assert_eq!(
            frame_response(StatusCode::OK, &cl("9"), false, Some(3)),
            Framing::Length(3)
        );
        // Invalid or conflicting values are ignored.
        assert_eq!(
            frame_response(StatusCode::OK, &cl("x"), false, None),
            Framing::Unknown
        );
        let mut two = cl("4");
        two.append(CONTENT_LENGTH, HeaderValue::from_static("5"));
        assert_eq!(
            frame_response(StatusCode::OK, &two, false, None),
            Framing::Unknown
        );
        let mut same = cl("4");
        same.append(CONTENT_LENGTH, HeaderValue::from_static("4"));
        assert_eq!(
            frame_response(StatusCode::OK, &same, false, None),
            Framing::Length(4)
        );
        assert_eq!(
            frame_response(StatusCode::OK, &cl("-1"), false, None),
            Framing::Unknown
        );
    }

    #[test]
    fn sent_body_holds_a_stream_to_its_declared_length() {
        let mut s = SentBody::new(Framing::Length(5));
        assert!(s.chunk(3).is_ok());
        assert_eq!(
            s.end(),
            Err(LengthMismatch {
                declared: 5,
                produced: 3
            })
        );
        assert!(s.chunk(3).is_err());
        assert_eq!(s.sent(), 3);
        assert!(s.chunk(2).is_ok());
        assert!(s.end().is_ok());
        let mut free = SentBody::new(Framing::Unknown);
        assert!(free.chunk(1 << 20).is_ok());
        assert!(free.end().is_ok());
    }

    #[test]
    fn only_endless_bodies_end_at_shutdown() {
        assert_eq!(shutdown_action(true), ShutdownAction::EndNow);
        assert_eq!(shutdown_action(false), ShutdownAction::Finish);
    }
}
