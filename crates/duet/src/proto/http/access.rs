//! The access record: one per request, whoever answered it (a handler, the
//! router's 404/405, admission's 413, a parse error's 400), written when the
//! exchange is over — its last byte handed to the socket, or the request
//! ended otherwise (reset, peer gone, failed body).
//!
//! Records are `tracing` events at INFO on the target `duet::access`, with
//! the fields `peer`, `protocol` (as spoken by this request: `http/1.0`,
//! `http/1.1`, `h2c`, `h2`), `method`, `target`, `status`, `bytes` (body
//! bytes sent), `duration_ms` (from the first byte of the request head to
//! the end) and `outcome` (`complete`, `reset`, `aborted`, `failed`), and
//! for a reset HTTP/2 stream `reason`, its error code (`PROTOCOL_ERROR`,
//! `REFUSED_STREAM`, `CANCEL`, …). A request refused before any handler
//! saw it (a malformed HTTP/2 request head, a stream beyond the concurrency
//! limit) has status 0 and outcome `reset`.
//!
//! The same record feeds the request metrics and closes the request span
//! (`crate::observability`): it is kept for every request, but the target
//! is cloned for the log only when that target is enabled.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::time::Instant;

use http::{Method, StatusCode, Uri, Version};

/// The protocol a request was spoken in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// HTTP/1.0.
    Http10,
    /// HTTP/1.1 (cleartext or TLS).
    Http11,
    /// HTTP/2 over cleartext TCP.
    H2c,
    /// HTTP/2 over TLS.
    H2,
}

impl Protocol {
    /// The protocol of a request of `version` on a connection that is TLS
    /// or not.
    pub(crate) fn of(version: Version, tls: bool) -> Protocol {
        match version {
            Version::HTTP_2 if tls => Protocol::H2,
            Version::HTTP_2 => Protocol::H2c,
            Version::HTTP_10 | Version::HTTP_09 => Protocol::Http10,
            _ => Protocol::Http11,
        }
    }

    /// Its short name: `http/1.0`, `http/1.1`, `h2c`, `h2`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Protocol::Http10 => "http/1.0",
            Protocol::Http11 => "http/1.1",
            Protocol::H2c => "h2c",
            Protocol::H2 => "h2",
        }
    }
}

/// How an exchange ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The whole response was handed to the socket.
    Complete,
    /// The stream was reset (HTTP/2) before the response was complete.
    Reset,
    /// The peer went away (or the connection failed or timed out) before
    /// the response was complete.
    Aborted,
    /// The response body failed (its producer errored, or broke its
    /// declared length); the response was cut short.
    Failed,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Complete => "complete",
            Outcome::Reset => "reset",
            Outcome::Aborted => "aborted",
            Outcome::Failed => "failed",
        }
    }
}

/// One request's access record, filled in as the exchange goes. Boxed: an
/// optional record costs a connection's future one pointer.
#[derive(Debug)]
pub(crate) struct AccessRecord(Box<Fields>);

#[derive(Debug)]
struct Fields {
    peer: SocketAddr,
    protocol: Protocol,
    started: Instant,
    method: Option<Method>,
    /// The method's metrics class (`observability::method_class`).
    method_class: u8,
    target: Option<Uri>,
    status: Option<StatusCode>,
    bytes: u64,
    reason: Option<&'static str>,
    /// The log line is wanted.
    log: bool,
    /// The request counts in the metrics and has a span.
    observed: bool,
    /// The request span (disabled when no subscriber wants it).
    span: tracing::Span,
}

impl AccessRecord {
    /// True when log lines are wanted (the `duet::access` target is
    /// enabled at INFO). Records are kept either way: they feed the
    /// metrics and the request span.
    pub(crate) fn enabled() -> bool {
        tracing::enabled!(target: "duet::access", tracing::Level::INFO)
    }

    /// A record for a request from `peer` in `protocol` whose head began
    /// arriving at `started`; `log`: write the log line at the end;
    /// `observed`: count it in the metrics and give it a span.
    pub(crate) fn new(
        peer: SocketAddr,
        protocol: Protocol,
        started: Instant,
        log: bool,
        observed: bool,
    ) -> AccessRecord {
        let fields = Fields {
            peer,
            protocol,
            started,
            method: None,
            method_class: crate::observability::METHOD_UNKNOWN,
            target: None,
            status: None,
            bytes: 0,
            reason: None,
            log,
            observed,
            span: tracing::Span::none(),
        };
        // The box of a record finished earlier on this thread, if any: a
        // request then allocates nothing for its record.
        AccessRecord(match super::spares::take(&SPARES) {
            Some(mut spare) => {
                *spare = fields;
                spare
            }
            None => Box::new(fields),
        })
    }

    /// The request line, once parsed; opens the request span.
    pub(crate) fn request(&mut self, method: &Method, target: &Uri) {
        let f = &mut *self.0;
        f.method_class = crate::observability::method_class(method);
        f.method = Some(method.clone());
        if f.log {
            f.target = Some(target.clone());
        }
        if f.observed && crate::observability::spans_enabled() {
            f.span = crate::observability::request_span(f.protocol, method, target.path());
        }
    }

    /// The request span, for the handler's future to run in.
    pub(crate) fn span(&self) -> &tracing::Span {
        &self.0.span
    }

    /// The status of the final response.
    pub(crate) fn status(&mut self, status: StatusCode) {
        self.0.status = Some(status);
    }

    /// Why the exchange was cut short (an HTTP/2 error code name).
    pub(crate) fn reason(&mut self, reason: &'static str) {
        self.0.reason = Some(reason);
    }

    /// Counts `n` body bytes sent.
    pub(crate) fn sent(&mut self, n: u64) {
        self.0.bytes = self.0.bytes.saturating_add(n);
    }

    /// Ends the record at `now`: counts the request in the metrics, ends
    /// the span and writes the log line if wanted.
    pub(crate) fn finish(self, now: Instant, outcome: Outcome) {
        let mut f = self.0;
        f.write(now, outcome);
        // Emptied (the span closes now), the box waits for the next record.
        f.span = tracing::Span::none();
        f.method = None;
        f.target = None;
        super::spares::keep(&SPARES, f, MAX_SPARES);
    }
}

/// Finished records' boxes kept per thread: as many as a connection's
/// pipelined requests are in flight at once (16 and more), plus a few.
const MAX_SPARES: usize = 32;

thread_local! {
    /// Finished records' boxes, reused by the next records made on this
    /// thread (the boxes themselves are what is kept: a record is a box).
    #[allow(clippy::vec_box)]
    static SPARES: super::spares::Pool<Box<Fields>> = const { RefCell::new(Vec::new()) };
}

impl Fields {
    /// Counts the request in the metrics, ends the span's fields and
    /// writes the log line if wanted.
    fn write(&self, now: Instant, outcome: Outcome) {
        let f = self;
        let d = now.saturating_duration_since(f.started);
        let status = f.status.map_or(0, |s| s.as_u16());
        if f.observed {
            crate::observability::request_done(f.protocol, f.method_class, status, d);
        }
        if !f.span.is_disabled() {
            f.span.record("status", status);
            f.span.record("duration_ms", d.as_secs_f64() * 1000.0);
        }
        if !f.log {
            return;
        }
        let method = f.method.as_ref().map_or("-", Method::as_str);
        let target = f
            .target
            .as_ref()
            .and_then(Uri::path_and_query)
            .map_or("-", |p| p.as_str());
        tracing::info!(
            target: "duet::access",
            peer = %f.peer,
            protocol = f.protocol.as_str(),
            method,
            target,
            status,
            bytes = f.bytes,
            duration_ms = d.as_secs_f64() * 1000.0,
            outcome = outcome.as_str(),
            reason = f.reason,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_names() {
        assert_eq!(Protocol::of(Version::HTTP_10, false).as_str(), "http/1.0");
        assert_eq!(Protocol::of(Version::HTTP_11, true).as_str(), "http/1.1");
        assert_eq!(Protocol::of(Version::HTTP_2, false).as_str(), "h2c");
        assert_eq!(Protocol::of(Version::HTTP_2, true).as_str(), "h2");
    }
}
