//! What duet tells about itself: metrics through the [`metrics`] facade,
//! and a `tracing` span per request.
//!
//! # Metrics
//!
//! duet emits through the `metrics` facade only; it installs no recorder.
//! An application that wants numbers installs one (the demo binary
//! installs `metrics-exporter-prometheus` and renders it on the admin
//! listener's `/metrics`, see [`Admin::metrics`](crate::Admin::metrics)).
//! Without a recorder every emission is a no-op.
//!
//! duet registers each metric (each label set) once, the first time it is
//! needed, and keeps the handle: install the recorder **before** the first
//! connection is served (in practice, before `Executor::run`). Handles
//! registered before a recorder existed stay no-ops.
//!
//! | name | type | labels | what |
//! |---|---|---|---|
//! | `duet_requests_total` | counter | `protocol`, `method`, `status` | requests ended (one per access record) |
//! | `duet_request_duration_seconds` | histogram | `protocol` | from the first byte of the request head to the last byte of the response (or the end of the exchange) |
//! | `duet_connections_total` | counter | `protocol` | connections served, counted when their protocol is known |
//! | `duet_connections_open` | gauge | `protocol` | connections open now |
//! | `duet_h2_streams_opened_total` | counter | | HTTP/2 request streams opened (refused ones not counted) |
//! | `duet_h2_resets_total` | counter | `direction`, `reason` | RST_STREAM frames sent or received |
//! | `duet_h2_goaways_total` | counter | `direction`, `reason` | GOAWAY frames sent or received |
//! | `duet_tls_handshakes_total` | counter | `result` | TLS handshakes: `ok`, `failed`, `timeout` |
//!
//! Label values:
//! - `protocol`: `http/1.0`, `http/1.1`, `h2c`, `h2` for requests; for
//!   connections `http/1.1` (every HTTP/1.x connection, cleartext or TLS),
//!   `h2c`, `h2`. A connection upgraded to h2c by `Upgrade: h2c` moves from
//!   `http/1.1` to `h2c`.
//! - `method`: `GET`, `HEAD`, `POST`, `PUT`, `DELETE`, `PATCH`, `OPTIONS`,
//!   `CONNECT`, `TRACE`, or `other` (bounded: a client cannot create label
//!   values).
//! - `status`: the class of the final status, `1xx` … `5xx`, or `none`
//!   for a request that ended before it had one (an HTTP/2 request refused
//!   with RST_STREAM).
//! - `direction`: `sent`, `received`; `reason`: the HTTP/2 error code name
//!   (`NO_ERROR`, `CANCEL`, `PROTOCOL_ERROR`, …, `unknown`).
//!
//! The duration histogram's bucket bounds are the recorder's business;
//! [`DURATION_BUCKETS`] is a set suited to an HTTP server.
//!
//! # The request span
//!
//! Every request runs in a span named `request` at INFO on the target
//! `duet::request` ([`REQUEST_SPAN_TARGET`]), with the fields `method`,
//! `route` (the matched route pattern such as `/hello/{name}`, else the
//! path), `protocol`, and, when the exchange ends, `status` (0 when there
//! was none) and `duration_ms`. The handler's future runs inside it, so
//! its events and child spans nest under it. The span closes when the last
//! byte of the response is handed to the socket. With no subscriber
//! interested in that target nothing is built.

use std::sync::{Once, OnceLock};
use std::time::Duration;

use ::metrics::{Counter, Gauge, Histogram, Unit};
use http::Method;

use crate::proto::http::Protocol;

/// `duet_requests_total`: requests by protocol, method and status class.
pub const REQUESTS_TOTAL: &str = "duet_requests_total";
/// `duet_request_duration_seconds`: time to the last byte, by protocol.
pub const REQUEST_DURATION_SECONDS: &str = "duet_request_duration_seconds";
/// `duet_connections_total`: connections served, by protocol.
pub const CONNECTIONS_TOTAL: &str = "duet_connections_total";
/// `duet_connections_open`: connections open now, by protocol.
pub const CONNECTIONS_OPEN: &str = "duet_connections_open";
/// `duet_h2_streams_opened_total`: HTTP/2 request streams opened.
pub const H2_STREAMS_OPENED_TOTAL: &str = "duet_h2_streams_opened_total";
/// `duet_h2_resets_total`: RST_STREAM frames by direction and reason.
pub const H2_RESETS_TOTAL: &str = "duet_h2_resets_total";
/// `duet_h2_goaways_total`: GOAWAY frames by direction and reason.
pub const H2_GOAWAYS_TOTAL: &str = "duet_h2_goaways_total";
/// `duet_tls_handshakes_total`: TLS handshakes by result.
pub const TLS_HANDSHAKES_TOTAL: &str = "duet_tls_handshakes_total";
/// The `tracing` target of the per-request span.
pub const REQUEST_SPAN_TARGET: &str = "duet::request";

/// Bucket bounds (seconds) suited to
/// [`duet_request_duration_seconds`](REQUEST_DURATION_SECONDS): 0.5 ms to
/// 10 s.
pub const DURATION_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

const PROTOCOLS: [&str; 4] = ["http/1.0", "http/1.1", "h2c", "h2"];
const METHODS: [&str; 10] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE", "other",
];
const STATUSES: [&str; 6] = ["none", "1xx", "2xx", "3xx", "4xx", "5xx"];

/// One handle per label set, registered on first use.
static REQUESTS: [OnceLock<Counter>; PROTOCOLS.len() * METHODS.len() * STATUSES.len()] =
    [const { OnceLock::new() }; PROTOCOLS.len() * METHODS.len() * STATUSES.len()];
static DURATIONS: [OnceLock<Histogram>; PROTOCOLS.len()] =
    [const { OnceLock::new() }; PROTOCOLS.len()];
static CONNS_TOTAL: [OnceLock<Counter>; 3] = [const { OnceLock::new() }; 3];
static CONNS_OPEN: [OnceLock<Gauge>; 3] = [const { OnceLock::new() }; 3];
static STREAMS_OPENED: OnceLock<Counter> = OnceLock::new();
static DESCRIBED: Once = Once::new();

/// Describes every metric to the recorder (its HELP text and unit), once,
/// before the first registration.
fn describe() {
    DESCRIBED.call_once(|| {
        ::metrics::describe_counter!(
            REQUESTS_TOTAL,
            "Requests ended, by protocol, method and status class"
        );
        ::metrics::describe_histogram!(
            REQUEST_DURATION_SECONDS,
            Unit::Seconds,
            "Time from the first byte of the request head to the last byte of the response"
        );
        ::metrics::describe_counter!(CONNECTIONS_TOTAL, "Connections served, by protocol");
        ::metrics::describe_gauge!(CONNECTIONS_OPEN, "Connections open, by protocol");
        ::metrics::describe_counter!(H2_STREAMS_OPENED_TOTAL, "HTTP/2 request streams opened");
        ::metrics::describe_counter!(
            H2_RESETS_TOTAL,
            "HTTP/2 RST_STREAM frames, by direction and error code"
        );
        ::metrics::describe_counter!(
            H2_GOAWAYS_TOTAL,
            "HTTP/2 GOAWAY frames, by direction and error code"
        );
        ::metrics::describe_counter!(TLS_HANDSHAKES_TOTAL, "TLS handshakes, by result");
    });
}

fn protocol_index(p: Protocol) -> usize {
    match p {
        Protocol::Http10 => 0,
        Protocol::Http11 => 1,
        Protocol::H2c => 2,
        Protocol::H2 => 3,
    }
}

/// The method class of a request whose method is not known (`other`).
pub(crate) const METHOD_UNKNOWN: u8 = 9;

/// The index of a method's label in `METHODS`.
pub(crate) fn method_class(m: &Method) -> u8 {
    match *m {
        Method::GET => 0,
        Method::HEAD => 1,
        Method::POST => 2,
        Method::PUT => 3,
        Method::DELETE => 4,
        Method::PATCH => 5,
        Method::OPTIONS => 6,
        Method::CONNECT => 7,
        Method::TRACE => 8,
        _ => 9,
    }
}

/// A request ended: counts it and records its duration.
pub(crate) fn request_done(protocol: Protocol, method: u8, status: u16, took: Duration) {
    let p = protocol_index(protocol);
    let m = usize::from(method).min(METHODS.len() - 1);
    let s = match status {
        100..=599 => usize::from(status / 100),
        _ => 0,
    };
    let i = (p * METHODS.len() + m) * STATUSES.len() + s;
    if let Some(slot) = REQUESTS.get(i) {
        slot.get_or_init(|| {
            describe();
            ::metrics::counter!(
                REQUESTS_TOTAL,
                "protocol" => PROTOCOLS[p],
                "method" => METHODS[m],
                "status" => STATUSES[s]
            )
        })
        .increment(1);
    }
    if let Some(slot) = DURATIONS.get(p) {
        slot.get_or_init(|| {
            describe();
            ::metrics::histogram!(REQUEST_DURATION_SECONDS, "protocol" => PROTOCOLS[p])
        })
        .record(took.as_secs_f64());
    }
}

/// The protocol of a connection, as the metrics label it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ConnProtocol {
    /// HTTP/1.x, cleartext or TLS.
    Http1,
    /// HTTP/2 over cleartext TCP.
    H2c,
    /// HTTP/2 over TLS.
    H2,
}

impl ConnProtocol {
    fn index(self) -> usize {
        match self {
            ConnProtocol::Http1 => 0,
            ConnProtocol::H2c => 1,
            ConnProtocol::H2 => 2,
        }
    }

    fn label(self) -> &'static str {
        ["http/1.1", "h2c", "h2"][self.index()]
    }
}

/// An open connection, counted in `duet_connections_open` until dropped.
pub(crate) struct OpenConnection(ConnProtocol);

impl OpenConnection {
    /// A connection starts speaking `p`.
    pub(crate) fn new(p: ConnProtocol) -> OpenConnection {
        let i = p.index();
        CONNS_TOTAL[i]
            .get_or_init(|| {
                describe();
                ::metrics::counter!(CONNECTIONS_TOTAL, "protocol" => p.label())
            })
            .increment(1);
        open_gauge(p).increment(1.0);
        OpenConnection(p)
    }
}

fn open_gauge(p: ConnProtocol) -> &'static Gauge {
    CONNS_OPEN[p.index()].get_or_init(|| {
        describe();
        ::metrics::gauge!(CONNECTIONS_OPEN, "protocol" => p.label())
    })
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        open_gauge(self.0).decrement(1.0);
    }
}

/// A TLS handshake ended: `ok`, `failed` or `timeout`.
pub(crate) fn tls_handshake(result: &'static str) {
    describe();
    ::metrics::counter!(TLS_HANDSHAKES_TOTAL, "result" => result).increment(1);
}

/// An HTTP/2 request stream opened.
pub(crate) fn h2_stream_opened() {
    STREAMS_OPENED
        .get_or_init(|| {
            describe();
            ::metrics::counter!(H2_STREAMS_OPENED_TOTAL)
        })
        .increment(1);
}

/// An RST_STREAM frame sent (`sent` true) or received, with its error code.
pub(crate) fn h2_reset(sent: bool, reason: &'static str) {
    describe();
    ::metrics::counter!(H2_RESETS_TOTAL, "direction" => direction(sent), "reason" => reason)
        .increment(1);
}

/// A GOAWAY frame sent (`sent` true) or received, with its error code.
pub(crate) fn h2_goaway(sent: bool, reason: &'static str) {
    describe();
    ::metrics::counter!(H2_GOAWAYS_TOTAL, "direction" => direction(sent), "reason" => reason)
        .increment(1);
}

fn direction(sent: bool) -> &'static str {
    if sent {
        "sent"
    } else {
        "received"
    }
}

/// True when some subscriber wants request spans.
pub(crate) fn spans_enabled() -> bool {
    tracing::enabled!(target: "duet::request", tracing::Level::INFO)
}

/// The span of a request (disabled when no subscriber wants it).
pub(crate) fn request_span(protocol: Protocol, method: &Method, path: &str) -> tracing::Span {
    tracing::info_span!(
        target: "duet::request",
        "request",
        method = method.as_str(),
        route = path,
        protocol = protocol.as_str(),
        status = tracing::field::Empty,
        duration_ms = tracing::field::Empty,
    )
}

/// The router matched `pattern`: the current request span's `route`.
pub(crate) fn record_route(pattern: &str) {
    if spans_enabled() {
        let span = tracing::Span::current();
        if !span.is_disabled() {
            span.record("route", pattern);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_classes_are_bounded() {
        assert_eq!(METHODS[usize::from(method_class(&Method::GET))], "GET");
        assert_eq!(METHODS[usize::from(method_class(&Method::TRACE))], "TRACE");
        let odd = Method::from_bytes(b"PROPFIND").expect("method");
        assert_eq!(METHODS[usize::from(method_class(&odd))], "other");
    }
}
