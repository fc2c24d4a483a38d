//! Limits that protect the server, in one place, with their defaults.
//!
//! Every number that bounds what a peer can make the server hold or wait for
//! lives here, so that it can be read, documented and tuned in one place.

use std::time::Duration;

pub(crate) mod proxy;
pub(crate) mod tls;

pub use proxy::ProxyProtocol;
pub use tls::{TlsConfig, TlsError, TlsErrorKind};

use crate::error::Error;

/// Limits and timeouts for the connections of one listener.
///
/// When several [`Server`](crate::Server)s share a port, the listener uses
/// the limits of the first server added for that port.
///
/// New limits are added over time, so the struct cannot be built with a
/// literal outside this crate: start from the defaults and set the fields
/// you need.
///
/// ```
/// use std::time::Duration;
/// use duet::{Limits, Server};
///
/// let mut limits = Limits::default();
/// limits.max_body_bytes = 1024 * 1024;
/// limits.keep_alive_timeout = Duration::from_secs(5);
/// let server = Server::bind(8080).limits(limits);
/// # drop(server);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Limits {
    /// Longest request target (path and query) in bytes; longer → 414.
    /// Default 8 KiB.
    pub max_uri_bytes: usize,
    /// Largest HTTP/1.1 request header section (request line, all fields)
    /// in bytes; larger → 431. (HTTP/2 uses `h2_max_header_list_size`.)
    /// Default 64 KiB.
    /// In HTTP/1.1 it also bounds a chunked body's trailer section (→ 431)
    /// and the total of its chunk extensions (→ 400). Pipelined requests
    /// are parsed one at a time (the next waits until the response to the
    /// one before is written), so this is also all the input a pipelining
    /// client can make a connection hold.
    pub max_header_bytes: usize,
    /// Most header fields in one request; more → 431. Default 100.
    pub max_headers: usize,
    /// Largest request body in bytes, whether buffered or streamed; larger →
    /// 413. Default 16 MiB.
    pub max_body_bytes: u64,
    /// Time allowed to receive a complete request head once its first byte
    /// arrived (slowloris guard). Default 10 s. On a listener with the
    /// PROXY protocol on, the header must also arrive whole within this
    /// time of the connection being accepted.
    pub header_read_timeout: Duration,
    /// Time an idle keep-alive connection is kept open: on HTTP/1.1
    /// between requests, on HTTP/2 while no stream is open (then a
    /// graceful GOAWAY). Default 60 s.
    pub keep_alive_timeout: Duration,
    /// Time allowed between two reads of a request body the server is
    /// waiting for (not counting time the application takes to read what
    /// arrived); when it passes, the request fails (HTTP/1.1: 408 if no
    /// response has started, and the connection closes). Default 60 s.
    pub body_read_timeout: Duration,
    /// How long an HTTP/1.1 connection closed with request bytes possibly
    /// unread (an error answer, a body too long to drain) keeps reading and
    /// dropping them after its last response was written, so that the peer
    /// reads that response instead of a reset (a lingering close, RFC 9112
    /// §9.6). Default 500 ms.
    pub linger_timeout: Duration,
    /// Time allowed for a TLS handshake. Default 10 s.
    pub tls_handshake_timeout: Duration,
    /// HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS advertised and enforced
    /// (RFC 9113 §6.5.2). Default 256.
    pub h2_max_concurrent_streams: u32,
    /// HTTP/2 SETTINGS_INITIAL_WINDOW_SIZE advertised for request bodies
    /// (RFC 9113 §6.9.2). Default 1 MiB.
    pub h2_initial_window_size: u32,
    /// HTTP/2 connection-level receive window (RFC 9113 §6.9.1), raised by
    /// a WINDOW_UPDATE on stream 0 right after the preface. Default 4 MiB.
    pub h2_connection_window_size: u32,
    /// HTTP/2 SETTINGS_MAX_FRAME_SIZE advertised (RFC 9113 §6.5.2): the
    /// largest frame a client may send, so a request body arrives in
    /// fewer, larger DATA frames (clients that honour it: Go, hyper's h2,
    /// .NET; curl and browsers send 16 KiB anyway). A frame is held whole
    /// before it is parsed, so this is also the most a partial frame makes
    /// a connection buffer. Default 64 KiB (16 384 is the protocol
    /// minimum; Go's servers advertise 1 MiB).
    pub h2_max_frame_size: u32,
    /// HTTP/2 SETTINGS_MAX_HEADER_LIST_SIZE advertised and enforced
    /// (RFC 9113 §6.5.2): each decoded field counts its name, its value and
    /// 32 octets (RFC 7541 §4.1), so many small fields cost as much as one
    /// large one (HPACK bomb, the 2026 HTTP/2 Bomb); together with
    /// `max_headers` (a count) it bounds what one request head can make
    /// the server hold. A larger list is answered 431; the connection
    /// lives. Default 64 KiB.
    pub h2_max_header_list_size: u32,
    /// Largest HTTP/2 field block, still compressed (a HEADERS payload and
    /// its CONTINUATION payloads, RFC 9113 §4.3, §6.10), the connection
    /// holds while it is reassembled; more → GOAWAY(ENHANCE_YOUR_CALM)
    /// (CONTINUATION flood). A block within it whose decoded list exceeds
    /// `h2_max_header_list_size` is answered 431 instead. This is the most
    /// a pending field block makes a connection hold. Default 128 KiB.
    pub h2_max_field_block_bytes: usize,
    /// CONTINUATION frames one HTTP/2 field block may span (RFC 9113
    /// §6.10), empty ones counted: a flood of empty or one-byte fragments
    /// never reaches a byte limit. More → GOAWAY(ENHANCE_YOUR_CALM).
    /// Default 8 (with the default 64 KiB frames, beyond what
    /// `h2_max_field_block_bytes` lets a block hold).
    pub h2_max_continuation_frames: u32,
    /// Time from a HEADERS frame without END_HEADERS to the CONTINUATION
    /// that ends its field block (no other frame may come meanwhile, RFC
    /// 9113 §6.10); later → GOAWAY(ENHANCE_YOUR_CALM). Default 10 s.
    pub h2_header_block_timeout: Duration,
    /// Budget of HTTP/2 frames that carry nothing (CVE-2019-9518): DATA
    /// frames without END_STREAM and without data (padded or not), and
    /// HEADERS or CONTINUATION frames with an empty fragment that end
    /// neither the stream nor the field block. Each takes one from the
    /// budget and each frame that carries a request or request data gives
    /// one back (up to this many); at zero → GOAWAY(ENHANCE_YOUR_CALM). A
    /// peer thus sends at most this many in a row and never more empty
    /// frames than useful ones beyond it. Default 100.
    pub h2_max_empty_frames: u32,
    /// Budget for the bookkeeping of small HTTP/2 request DATA frames held
    /// unread (RUSTSEC-2026-0258): each DATA frame without END_STREAM whose
    /// data is under 256 octets is charged 256 minus its length while the
    /// application has not read it, and the charge is given back as it
    /// reads. Charges above the budget → GOAWAY(ENHANCE_YOUR_CALM). The
    /// budget in force is the larger of this and half of
    /// `h2_connection_window_size`, so it grows with the window; frames
    /// read promptly (gRPC streaming) never add up. Default 25,600 (with
    /// the default window: 2 MiB, at most 8,224 one-octet frames unread).
    pub h2_small_data_budget: u32,
    /// After a complete HTTP/2 response, the rest of a request body nobody
    /// reads is still received, checked (stream states, content-length,
    /// trailers, flow control: RFC 9113 §5.1, §8.1) and discarded, its
    /// flow-control credit returned, up to this many octets; a larger
    /// remainder (declared by content-length, or arriving) ends the stream
    /// with RST_STREAM(NO_ERROR) (§8.1). So the answer to a bad frame does
    /// not depend on whether the response was out first. Discarded bytes
    /// are never held. Default 64 KiB.
    pub h2_discard_body_bytes: u64,
    /// Time the remainder of such a request (see `h2_discard_body_bytes`)
    /// may take to end after the response is complete; then
    /// RST_STREAM(NO_ERROR). Default 10 s.
    pub h2_discard_body_timeout: Duration,
    /// HTTP/2 SETTINGS_HEADER_TABLE_SIZE for our HPACK decoder
    /// (RFC 7541 §4.2). Default 4096.
    pub h2_header_table_size: u32,
    /// Response bytes one HTTP/2 stream may have queued for sending beyond
    /// what flow control lets out; a producer waits past it (a chunk the
    /// application already made is queued whole). A connection whose peer
    /// keeps its windows shut or opens them a byte at a time (data
    /// dribble) holds at most `h2_max_concurrent_streams` times this (16
    /// MiB with the defaults) plus one chunk per stream. Default 64 KiB.
    pub h2_stream_send_buffer: usize,
    /// HTTP/2 output (control frames, answers, response DATA) a connection
    /// may have waiting for the socket before it stops reading from the
    /// peer: a peer that sends PINGs, SETTINGS or invalid frames but does
    /// not read the answers stalls itself (TCP backpressure) instead of
    /// growing a queue (CVE-2019-9512, -9514, -9515). The memory held for
    /// that output stays under about twice this (buffers grow by
    /// doubling) plus the answers to one read of input (a read is at most
    /// about `h2_max_frame_size` plus 8 KiB). Default 1 MiB.
    pub h2_max_queued_output: usize,
    /// HTTP/2 streams reset per second, by the client (Rapid Reset,
    /// CVE-2023-44487) or by us after a stream error the client caused
    /// (MadeYouReset, CVE-2025-8671; refused streams, malformed requests),
    /// counted over one-second windows; one more closes the connection
    /// with GOAWAY(ENHANCE_YOUR_CALM). A reset stream's handler is dropped
    /// at once, so handlers running never exceed
    /// `h2_max_concurrent_streams`. Default 200.
    pub h2_max_resets_per_sec: u32,
    /// Time the peer has to acknowledge our HTTP/2 SETTINGS before the
    /// connection is closed with SETTINGS_TIMEOUT (RFC 9113 §6.5.3).
    /// Default 10 s.
    pub h2_settings_timeout: Duration,
    /// Time HTTP/2 response bytes may wait on flow-control windows the peer
    /// keeps shut, with no DATA going out, before the connection is closed
    /// with ENHANCE_YOUR_CALM (a peer that never opens its windows would
    /// otherwise pin the send buffers). Default 60 s.
    pub h2_send_stall_timeout: Duration,
    /// In a graceful HTTP/2 shutdown, time the PING sent with the first
    /// GOAWAY may go unanswered before the final GOAWAY, naming the last
    /// stream taken, goes out anyway (RFC 9113 §6.8). Default 1 s.
    pub h2_shutdown_ping_timeout: Duration,
    /// Time a connection's output may wait on a socket that takes none of
    /// it (a peer that stops reading, on any version) before the
    /// connection is closed: without it a client that never reads holds
    /// its connection, buffers and handler for ever. Any progress restarts
    /// it, so a slow reader is not cut off. `h2_send_stall_timeout` covers
    /// HTTP/2 flow-control windows kept shut instead. Default 60 s (as
    /// nginx's `send_timeout`).
    pub write_stall_timeout: Duration,
    /// Time in-flight requests are given to finish after shutdown begins.
    /// Default 30 s.
    pub shutdown_grace: Duration,
    /// Connections one listener keeps open at once; past it, new
    /// connections wait in the kernel's accept queue until one closes.
    /// Default 65,536. (When the process runs out of file descriptors
    /// first, accepting backs off, 10 ms doubling to 1 s, instead of
    /// spinning.)
    pub max_connections: usize,
    /// Requests one connection may carry; the one that reaches it is
    /// answered and the connection then ends gracefully (`Connection:
    /// close` on HTTP/1.1, GOAWAY on HTTP/2). On HTTP/2 the stream that
    /// reaches it starts the two-phase GOAWAY of a graceful shutdown
    /// (RFC 9113 §6.8): streams the client sent before it saw the first
    /// GOAWAY are still served. Default `u64::MAX` (no limit).
    pub max_requests_per_connection: u64,
    /// Age at which a connection stops taking new requests and ends
    /// gracefully once the ones in flight are answered (spreads
    /// long-lived connections over instances behind a load balancer; on
    /// HTTP/2 the two-phase GOAWAY of a graceful shutdown).
    /// Default `Duration::MAX` (never).
    pub max_connection_age: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_uri_bytes: 8 * 1024,
            max_header_bytes: 64 * 1024,
            max_headers: 100,
            max_body_bytes: 16 * 1024 * 1024,
            header_read_timeout: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(60),
            body_read_timeout: Duration::from_secs(60),
            linger_timeout: Duration::from_millis(500),
            tls_handshake_timeout: Duration::from_secs(10),
            h2_max_concurrent_streams: 256,
            h2_initial_window_size: 1024 * 1024,
            h2_connection_window_size: 4 * 1024 * 1024,
            h2_max_frame_size: 64 * 1024,
            h2_max_header_list_size: 64 * 1024,
            h2_max_field_block_bytes: 128 * 1024,
            h2_max_continuation_frames: 8,
            h2_header_block_timeout: Duration::from_secs(10),
            h2_max_empty_frames: 100,
            h2_small_data_budget: 25_600,
            h2_discard_body_bytes: 64 * 1024,
            h2_discard_body_timeout: Duration::from_secs(10),
            h2_header_table_size: 4096,
            h2_stream_send_buffer: 64 * 1024,
            h2_max_queued_output: 1024 * 1024,
            h2_max_resets_per_sec: 200,
            h2_settings_timeout: Duration::from_secs(10),
            h2_send_stall_timeout: Duration::from_secs(60),
            h2_shutdown_ping_timeout: Duration::from_secs(1),
            write_stall_timeout: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(30),
            max_connections: 65_536,
            max_requests_per_connection: u64::MAX,
            max_connection_age: Duration::MAX,
        }
    }
}

/// Every field of [`Limits`] with how its value is read by
/// [`Limits::set`]: `count` (an integer, `k`/`m`/`g` binary multiples,
/// `max`) or `time` (seconds, or with a unit: `500ms`, `10s`, `2m`, `1h`;
/// `never`).
macro_rules! limit_fields {
    ($($name:ident: $kind:ident),* $(,)?) => {
        impl Limits {
            /// The name of every limit, as [`Limits::set`] takes it.
            pub const NAMES: &'static [&'static str] = &[$(stringify!($name)),*];

            /// Sets the limit `name` (a field name; `-` may stand for `_`)
            /// from text: a count (`65536`, `64k`, `16m`, `max`) or a time
            /// (`30` seconds, `1.5`, `500ms`, `10s`, `2m`, `1h`, `never`).
            /// For command lines and configuration files.
            ///
            /// ```
            /// let mut limits = duet::Limits::default();
            /// limits.set("max_body_bytes", "1m")?;
            /// limits.set("keep-alive-timeout", "5s")?;
            /// assert_eq!(limits.max_body_bytes, 1 << 20);
            /// # Ok::<(), duet::Error>(())
            /// ```
            pub fn set(&mut self, name: &str, value: &str) -> Result<(), Error> {
                let key = name.trim().replace('-', "_");
                let bad = |reason: String| Error::InvalidLimit {
                    name: name.to_string(),
                    reason,
                };
                match key.as_str() {
                    $(stringify!($name) => {
                        self.$name = value::$kind(value.trim()).map_err(bad)?;
                    })*
                    _ => return Err(bad(format!(
                        "no such limit (known: {})",
                        Self::NAMES.join(", ")
                    ))),
                }
                Ok(())
            }

            /// Every limit as `name=value`, one per line (values as
            /// [`Limits::set`] reads them).
            pub fn describe(&self) -> String {
                let mut out = String::new();
                $(
                    out.push_str(stringify!($name));
                    out.push('=');
                    out.push_str(&value::show(&self.$name));
                    out.push('\n');
                )*
                out
            }
        }
    };
}

limit_fields! {
    max_uri_bytes: count,
    max_header_bytes: count,
    max_headers: count,
    max_body_bytes: count,
    header_read_timeout: time,
    keep_alive_timeout: time,
    body_read_timeout: time,
    linger_timeout: time,
    tls_handshake_timeout: time,
    h2_max_concurrent_streams: count,
    h2_initial_window_size: count,
    h2_connection_window_size: count,
    h2_max_frame_size: count,
    h2_max_header_list_size: count,
    h2_max_field_block_bytes: count,
    h2_max_continuation_frames: count,
    h2_header_block_timeout: time,
    h2_max_empty_frames: count,
    h2_small_data_budget: count,
    h2_discard_body_bytes: count,
    h2_discard_body_timeout: time,
    h2_header_table_size: count,
    h2_stream_send_buffer: count,
    h2_max_queued_output: count,
    h2_max_resets_per_sec: count,
    h2_settings_timeout: time,
    h2_send_stall_timeout: time,
    h2_shutdown_ping_timeout: time,
    write_stall_timeout: time,
    shutdown_grace: time,
    max_connections: count,
    max_requests_per_connection: count,
    max_connection_age: time,
}

/// Reading and showing limit values.
mod value {
    use std::time::Duration;

    /// A count: digits (`_` allowed), an optional `k`, `m` or `g` (binary
    /// multiples; `kib`, `mb`… accepted), or `max`.
    pub(super) fn count<T: TryFrom<u64> + Bounded>(text: &str) -> Result<T, String> {
        let lower = text.to_ascii_lowercase();
        if matches!(lower.as_str(), "max" | "unlimited" | "none") {
            return Ok(T::MAX);
        }
        let digits = lower.trim_end_matches(|c: char| c.is_ascii_alphabetic());
        let unit = &lower[digits.len()..];
        let scale: u64 = match unit {
            "" | "b" => 1,
            "k" | "kb" | "kib" => 1 << 10,
            "m" | "mb" | "mib" => 1 << 20,
            "g" | "gb" | "gib" => 1 << 30,
            _ => return Err(format!("{text:?}: unknown unit {unit:?} (k, m, g)")),
        };
        let n: u64 = digits
            .trim()
            .replace('_', "")
            .parse()
            .map_err(|_| format!("{text:?} is not a count (an integer, 64k, 16m, max)"))?;
        let n = n
            .checked_mul(scale)
            .ok_or_else(|| format!("{text:?} is too large"))?;
        T::try_from(n).map_err(|_| format!("{text:?} is too large"))
    }

    /// A time: seconds (`30`, `1.5`) or with a unit (`500ms`, `10s`, `2m`,
    /// `1h`), or `never`.
    pub(super) fn time(text: &str) -> Result<Duration, String> {
        let lower = text.to_ascii_lowercase();
        if matches!(lower.as_str(), "never" | "max" | "none") {
            return Ok(Duration::MAX);
        }
        let number = lower.trim_end_matches(|c: char| c.is_ascii_alphabetic());
        let unit = &lower[number.len()..];
        let scale = match unit {
            "" | "s" => 1.0,
            "ms" => 0.001,
            "m" | "min" => 60.0,
            "h" => 3600.0,
            _ => return Err(format!("{text:?}: unknown unit {unit:?} (ms, s, m, h)")),
        };
        let secs: f64 = number
            .trim()
            .parse()
            .map_err(|_| format!("{text:?} is not a time (30, 1.5, 500ms, 10s, 2m, never)"))?;
        Duration::try_from_secs_f64(secs * scale)
            .map_err(|_| format!("{text:?} is not a time that can be waited"))
    }

    /// Counts with a largest value meaning "no limit".
    pub(super) trait Bounded {
        const MAX: Self;
    }
    impl Bounded for usize {
        const MAX: Self = usize::MAX;
    }
    impl Bounded for u64 {
        const MAX: Self = u64::MAX;
    }
    impl Bounded for u32 {
        const MAX: Self = u32::MAX;
    }

    /// A value as `time`/`count` read it back.
    pub(super) fn show(v: &dyn Show) -> String {
        v.show()
    }

    pub(super) trait Show {
        fn show(&self) -> String;
    }
    impl Show for Duration {
        fn show(&self) -> String {
            if *self == Duration::MAX {
                "never".to_string()
            } else if self.subsec_nanos() == 0 {
                format!("{}s", self.as_secs())
            } else {
                format!("{}ms", self.as_millis())
            }
        }
    }
    macro_rules! show_count {
        ($($t:ty),*) => {$(
            impl Show for $t {
                fn show(&self) -> String {
                    if *self == <$t>::MAX { "max".to_string() } else { self.to_string() }
                }
            }
        )*};
    }
    show_count!(usize, u64, u32);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_can_be_set_by_name() {
        // Naming every field (no `..`): a new limit does not compile here
        // until it is added to `limit_fields!` and to this list.
        let Limits {
            max_uri_bytes: _,
            max_header_bytes: _,
            max_headers: _,
            max_body_bytes: _,
            header_read_timeout: _,
            keep_alive_timeout: _,
            body_read_timeout: _,
            linger_timeout: _,
            tls_handshake_timeout: _,
            h2_max_concurrent_streams: _,
            h2_initial_window_size: _,
            h2_connection_window_size: _,
            h2_max_frame_size: _,
            h2_max_header_list_size: _,
            h2_max_field_block_bytes: _,
            h2_max_continuation_frames: _,
            h2_header_block_timeout: _,
            h2_max_empty_frames: _,
            h2_small_data_budget: _,
            h2_discard_body_bytes: _,
            h2_discard_body_timeout: _,
            h2_header_table_size: _,
            h2_stream_send_buffer: _,
            h2_max_queued_output: _,
            h2_max_resets_per_sec: _,
            h2_settings_timeout: _,
            h2_send_stall_timeout: _,
            h2_shutdown_ping_timeout: _,
            write_stall_timeout: _,
            shutdown_grace: _,
            max_connections: _,
            max_requests_per_connection: _,
            max_connection_age: _,
        } = Limits::default();
        assert_eq!(Limits::NAMES.len(), 33);
        // Every default reads back as itself.
        let defaults = Limits::default().describe();
        let mut again = Limits::default();
        for line in defaults.lines() {
            let (name, value) = line.split_once('=').expect("name=value");
            again.set(name, value).expect(line);
        }
        assert_eq!(again.describe(), defaults);
    }

    #[test]
    fn values_are_read_with_their_units() {
        let mut l = Limits::default();
        l.set("max_body_bytes", "16m").expect("count");
        assert_eq!(l.max_body_bytes, 16 << 20);
        l.set("max-connections", "1_000").expect("count");
        assert_eq!(l.max_connections, 1000);
        l.set("max_requests_per_connection", "max").expect("count");
        assert_eq!(l.max_requests_per_connection, u64::MAX);
        l.set("h2_max_frame_size", "32KiB").expect("count");
        assert_eq!(l.h2_max_frame_size, 32 << 10);
        l.set("shutdown_grace", "1.5").expect("time");
        assert_eq!(l.shutdown_grace, Duration::from_millis(1500));
        l.set("keep_alive_timeout", "500ms").expect("time");
        assert_eq!(l.keep_alive_timeout, Duration::from_millis(500));
        l.set("max_connection_age", "2m").expect("time");
        assert_eq!(l.max_connection_age, Duration::from_secs(120));
        l.set("max_connection_age", "never").expect("time");
        assert_eq!(l.max_connection_age, Duration::MAX);
    }

    #[test]
    fn bad_names_and_values_are_errors() {
        let mut l = Limits::default();
        for (name, value) in [
            ("no_such_limit", "1"),
            ("max_headers", "-1"),
            ("max_headers", "ten"),
            ("max_headers", "5q"),
            ("h2_max_frame_size", "8g"),
            ("max_body_bytes", "99999999999999999999"),
            ("shutdown_grace", "-3"),
            ("shutdown_grace", "5 days"),
            ("shutdown_grace", "1e300"),
            ("shutdown_grace", "nan"),
        ] {
            assert!(
                matches!(l.set(name, value), Err(Error::InvalidLimit { .. })),
                "{name}={value}"
            );
        }
    }
}
