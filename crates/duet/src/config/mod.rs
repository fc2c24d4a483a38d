//! Limits that protect the server, in one place, with their defaults.
//!
//! Every number that bounds what a peer can make the server hold or wait for
//! lives here, so that it can be read, documented and tuned in one place.

use std::time::Duration;

pub(crate) mod tls;

pub use tls::{TlsConfig, TlsError, TlsErrorKind};

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
    /// and the total of its chunk extensions (→ 400).
    pub max_header_bytes: usize,
    /// Most header fields in one request; more → 431. Default 100.
    pub max_headers: usize,
    /// Largest request body in bytes, whether buffered or streamed; larger →
    /// 413. Default 16 MiB.
    pub max_body_bytes: u64,
    /// Time allowed to receive a complete request head once its first byte
    /// arrived (slowloris guard). Default 10 s.
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
    /// HTTP/1.1 requests pipelined but not yet answered that one connection
    /// may hold parsed at once. Default 32.
    pub max_pipelined: usize,
    /// HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS advertised and enforced
    /// (RFC 9113 §6.5.2). Default 256.
    pub h2_max_concurrent_streams: u32,
    /// HTTP/2 SETTINGS_INITIAL_WINDOW_SIZE advertised for request bodies
    /// (RFC 9113 §6.9.2). Default 1 MiB.
    pub h2_initial_window_size: u32,
    /// HTTP/2 connection-level receive window (RFC 9113 §6.9.1), raised by
    /// a WINDOW_UPDATE on stream 0 right after the preface. Default 4 MiB.
    pub h2_connection_window_size: u32,
    /// HTTP/2 SETTINGS_MAX_FRAME_SIZE advertised (RFC 9113 §6.5.2).
    /// Default 16 384 (the protocol minimum).
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
    /// Default 8 (with 16 KiB frames, 144 KiB of block).
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
    /// about 24 KiB). Default 1 MiB.
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
            max_pipelined: 32,
            h2_max_concurrent_streams: 256,
            h2_initial_window_size: 1024 * 1024,
            h2_connection_window_size: 4 * 1024 * 1024,
            h2_max_frame_size: 16_384,
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
            shutdown_grace: Duration::from_secs(30),
            max_connections: 65_536,
            max_requests_per_connection: u64::MAX,
            max_connection_age: Duration::MAX,
        }
    }
}
