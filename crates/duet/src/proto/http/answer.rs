//! The one format of the answers duet makes itself: every status it
//! produces without a handler (400, 404, 405, 408, 413, 414, 417, 421, 431,
//! 500, 501, 505) and every extractor rejection, on every version.
//!
//! An error answer is `text/plain; charset=utf-8` with a one-line body:
//! the status code, its reason phrase and, when there is one, why —
//! `413 Payload Too Large: request body exceeds the configured limit\n`.
//! A success answer (a server-wide `OPTIONS *`) has no body.

use std::borrow::Cow;

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderValue, StatusCode};

/// The content type of every error answer.
pub(crate) const ERROR_CONTENT_TYPE: HeaderValue =
    HeaderValue::from_static("text/plain; charset=utf-8");

/// A response duet makes itself: a status and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Answer {
    status: StatusCode,
    reason: Cow<'static, str>,
}

impl Answer {
    /// An answer with `status`; `reason` says why, in a few words that are
    /// safe to show the peer (may be empty).
    pub(crate) fn new(status: StatusCode, reason: impl Into<Cow<'static, str>>) -> Answer {
        Answer {
            status,
            reason: reason.into(),
        }
    }

    /// The status.
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    /// True when the answer has a body (every 4xx and 5xx).
    pub(crate) fn has_body(&self) -> bool {
        self.status.is_client_error() || self.status.is_server_error()
    }

    /// The length of [`Answer::body`].
    pub(crate) fn body_len(&self) -> usize {
        if !self.has_body() {
            return 0;
        }
        let phrase = match self.status.canonical_reason() {
            Some(p) => 1 + p.len(),
            None => 0,
        };
        let reason = if self.reason.is_empty() {
            0
        } else {
            2 + self.reason.len()
        };
        3 + phrase + reason + 1
    }

    /// Writes the body: `413 Payload Too Large: why\n`.
    pub(crate) fn write_body(&self, dst: &mut BytesMut) {
        if !self.has_body() {
            return;
        }
        dst.reserve(self.body_len());
        dst.put_slice(self.status.as_str().as_bytes());
        if let Some(phrase) = self.status.canonical_reason() {
            dst.put_u8(b' ');
            dst.put_slice(phrase.as_bytes());
        }
        if !self.reason.is_empty() {
            dst.put_slice(b": ");
            dst.put_slice(self.reason.as_bytes());
        }
        dst.put_u8(b'\n');
    }

    /// The body, in its own buffer.
    pub(crate) fn body(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(self.body_len());
        self.write_body(&mut b);
        b.freeze()
    }
}

impl std::fmt::Display for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.status)?;
        if !self.reason.is_empty() {
            write!(f, ": {}", self.reason)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_names_status_phrase_and_reason() {
        let a = Answer::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body exceeds the limit",
        );
        assert_eq!(
            &a.body()[..],
            b"413 Payload Too Large: request body exceeds the limit\n"
        );
        assert_eq!(a.body_len(), a.body().len());
        let a = Answer::new(StatusCode::NOT_FOUND, "");
        assert_eq!(&a.body()[..], b"404 Not Found\n");
        assert_eq!(a.body_len(), a.body().len());
    }

    #[test]
    fn success_answers_have_no_body() {
        let a = Answer::new(StatusCode::NO_CONTENT, "server-wide OPTIONS");
        assert!(!a.has_body());
        assert_eq!(a.body_len(), 0);
        assert!(a.body().is_empty());
    }

    #[test]
    fn unknown_status_has_an_empty_phrase() {
        let a = Answer::new(StatusCode::from_u16(499).unwrap(), "x");
        assert_eq!(&a.body()[..], b"499: x\n");
        assert_eq!(a.body_len(), a.body().len());
    }
}
