//! The HTTP/1.1 connection core (server side), sans-I/O: one connection's
//! sequence of exchanges — persistence (RFC 9112 §9.3), pipelining
//! (§9.3.2), closing (§9.6), `Expect: 100-continue` (RFC 9110 §10.1.1),
//! the h2c upgrade (RFC 7540 §3.2), response framing on the wire (RFC 9112
//! §6, decided by the exchange layer's `frame_response`), its timeouts and
//! the lingering close. See [`Connection`] for the driver contract.
//!
//! The state is three small enums, each changed by named events:
//! [`Reading`] (what the next input bytes are), [`Writing`] (what the next
//! output bytes are) and [`KeepAlive`] (whether another exchange may
//! follow). An exchange ends when both reading and writing reach their
//! `KeepAlive` state; the connection then either waits for the next
//! request or closes.
//!
//! Here: the types, the driver contract, the end of an exchange and
//! closing; `read` (bytes in: heads, bodies, the h2c body), `write`
//! (responses out), `timers` (every timeout), `output` (the bytes waiting
//! for the socket).

mod output;
mod read;
#[cfg(test)]
mod tests;
mod timers;
mod write;

use std::collections::VecDeque;
use std::io::IoSlice;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method, StatusCode, Version};

use self::output::Output;
use super::encode::{
    encode_answer_head, encode_continue, encode_last_chunk, encode_last_chunk_with_trailers,
    encode_response_head, encode_switch_head, encode_switching_protocols_h2c, ResponseFraming,
};
use super::{
    parse::take_request, BodyDecoder, BodyKind, Decoded, LengthError, ParseError, RequestHead,
};
use crate::config::Limits;
use crate::proto::http::upgrade::{self, Asked};
use crate::proto::http::{frame_response, Answer, Framing, SentBody};

/// Request body bytes the application did not read that are read and
/// dropped to keep the connection for the next request; a longer rest
/// closes the connection instead (lingering).
pub const DRAIN_MAX: u64 = 64 * 1024;
/// Bytes read and dropped while lingering before the connection closes
/// anyway.
pub const LINGER_MAX: usize = 256 * 1024;
/// An idle connection gives its buffers back after this long without a
/// request (the memory of a mostly idle keep-alive connection).
pub const RELEASE_AFTER: Duration = Duration::from_secs(1);

/// How a connection is set up.
#[derive(Clone, Debug)]
pub struct Config {
    /// Sizes and timeouts.
    pub limits: Arc<Limits>,
    /// Whether [`Event::Written`] is reported (for access records).
    pub report_written: bool,
}

impl Config {
    /// A configuration with these limits and no [`Event::Written`].
    pub fn new(limits: Arc<Limits>) -> Config {
        Config {
            limits,
            report_written: false,
        }
    }
}

/// What the connection tells its driver.
// `Request` is the common event and is moved out at once: boxing its head
// would cost an allocation per request.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Event {
    /// A request head arrived; its body, if it has one, follows as `Data`
    /// and `End`. The driver admits it and starts its handler.
    Request {
        /// The parsed head.
        head: RequestHead,
        /// When its first byte arrived.
        started: Instant,
    },
    /// Request body bytes.
    Data(Bytes),
    /// The request body is complete.
    End,
    /// A request that cannot be served (malformed head, limit, a head not
    /// complete in time → 408): answer it with [`Connection::reject`]; the
    /// connection then closes (RFC 9112 §9.6).
    Reject {
        /// What was wrong; its status is the answer's.
        error: ParseError,
        /// The request's version, when its request line got that far.
        version: Version,
        /// When the head's first byte arrived.
        started: Instant,
    },
    /// The request body ended early. The driver fails the body it gave the
    /// application; with `answer`, no response has started: it drops the
    /// handler and answers with [`Connection::reject`]. The connection
    /// closes after this exchange.
    BodyFailed {
        /// Why.
        failure: BodyFailure,
        /// The answer to send, when no response has started.
        answer: Option<ParseError>,
    },
    /// The request the driver upgraded ([`Connection::accept_upgrade`])
    /// switches the connection to h2c (RFC 7540 §3.2): its body was read
    /// whole and `101 Switching Protocols` is queued. The driver writes the
    /// output, takes [`Connection::take_read_buf`] (the first HTTP/2
    /// bytes) and serves HTTP/2, the request as stream 1.
    Upgrade {
        /// The request's whole body.
        body: Bytes,
    },
    /// The last byte of the oldest response not yet reported was handed to
    /// the driver's socket (reported when [`Config::report_written`]).
    Written {
        /// Body bytes the response carried.
        body_bytes: u64,
    },
}

/// Why a request body ended before its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFailure {
    /// Its framing broke (RFC 9112 §7.1).
    Malformed(ParseError),
    /// No byte of it arrived for `Limits::body_read_timeout`.
    TimedOut,
    /// The peer closed the connection.
    Closed,
}

/// What the next input bytes are.
#[derive(Debug)]
enum Reading {
    /// Between exchanges, waiting for the first byte of a request. `since`:
    /// when the connection became idle with nothing left to write (the
    /// keep-alive timer runs from then); `released`: its buffers were
    /// given back.
    Idle {
        since: Option<Instant>,
        released: bool,
    },
    /// A request head is arriving. `parsed_at`: how much of the buffer the
    /// last parse saw (0: none yet).
    Head {
        started: Instant,
        deadline: Option<Instant>,
        parsed_at: usize,
    },
    /// A body held until the application asks for it (`Expect:
    /// 100-continue`, not yet answered with 100).
    Continue(BodyDecoder),
    /// Body bytes for the application; `waiting`: since when the core has
    /// been waiting for the peer's next bytes.
    Body {
        decoder: BodyDecoder,
        waiting: Option<Instant>,
    },
    /// Body bytes nobody reads, dropped (up to `budget` more) so that the
    /// next request can follow.
    Drain {
        decoder: BodyDecoder,
        budget: u64,
        waiting: Option<Instant>,
    },
    /// The body of an h2c upgrade request, read whole.
    Upgrade(Box<Upgrading>),
    /// The request is read; its response is still going out.
    KeepAlive,
    /// Closing: the write side is shut; what the peer still sends is
    /// dropped until `since` + `Limits::linger_timeout` (`since`: when the
    /// output was all written) or `budget` more bytes.
    Linger {
        since: Option<Instant>,
        budget: usize,
    },
    /// Nothing more is read.
    Closed,
    /// The connection speaks another protocol now (HTTP/2 after h2c, or
    /// whatever a `101` or a 2xx to CONNECT switched to).
    Upgraded,
}

#[derive(Debug)]
struct Upgrading {
    decoder: BodyDecoder,
    body: BytesMut,
    /// The body limit.
    limit: u64,
    started: Instant,
    waiting: Option<Instant>,
}

/// What the next output bytes are.
#[derive(Debug)]
enum Writing {
    /// No response has started for the current request.
    Init,
    /// A response body is going out.
    Body(Encoder),
    /// The response is complete.
    KeepAlive,
    /// Nothing more is written.
    Closed,
}

#[derive(Debug)]
struct Encoder {
    kind: Encoding,
    /// The body held to its declared length.
    sent: SentBody,
}

/// How body bytes go on the wire (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Encoding {
    /// As they are, `Content-Length` announced.
    Length,
    /// The chunked coding (RFC 9112 §7.1).
    Chunked,
    /// As they are, ended by closing the connection (HTTP/1.0 peers).
    CloseDelimited,
    /// Not at all: HEAD, 1xx, 204, 304.
    Omitted,
}

/// Whether another exchange may follow the current one (RFC 9112 §9.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeepAlive {
    /// An exchange is in progress; the connection persists after it.
    Busy,
    /// Between exchanges.
    Idle,
    /// The connection closes after the current exchange.
    Disabled,
}

/// An event the core has to report at the next `poll_event`.
#[derive(Debug)]
enum Pending {
    Reject {
        error: ParseError,
        version: Version,
        started: Instant,
    },
    BodyFailed {
        failure: BodyFailure,
        answer: Option<ParseError>,
    },
}

/// One HTTP/1.1 server connection, without I/O: bytes and time in, events
/// and bytes out.
///
/// # The driver's contract
///
/// One task owns the connection and its socket. It reads the clock once per
/// wake-up and passes that `now` to every call that takes one; the core
/// never reads the clock. It repeats:
///
/// 1. **Events.** Call [`poll_event`](Self::poll_event) until it returns
///    `None`, acting on each [`Event`]:
///    - `Request`: admit it (the exchange layer's `admit`, with the limits
///      of its virtual host) and start its handler. If admission says
///      `100-continue`, call [`expect_continue`](Self::expect_continue)
///      before polling again; if admission answers instead, send that
///      answer (`send_answer`) and no handler runs.
///    - `Data` / `End`: hand to the request body given to the handler.
///      While that body's channel is full, stop calling `poll_event` (the
///      core then reads no more: backpressure).
///    - `Reject`, and `BodyFailed` with an answer: answer with
///      [`reject`](Self::reject) (dropping the handler, if any).
///    - `Upgrade`: write the output, then take
///      [`take_read_buf`](Self::take_read_buf) and serve HTTP/2.
///
///    A request that may switch protocols (`Connection::switch_offered`:
///    an `Upgrade` or a CONNECT without content) is answered, when the
///    exchange layer says its response grants the switch, with
///    [`send_switch`](Self::send_switch) instead of `send_response`; the
///    driver then writes the output and hands the socket, with
///    [`take_read_buf`](Self::take_read_buf) before it, to the new
///    protocol.
///    - `Written`: finish the access record of the oldest response.
/// 2. **Responses**, strictly one per request and in order: when the
///    handler answers, [`send_response`](Self::send_response), then
///    [`send_data`](Self::send_data) for each body chunk (while
///    [`output_is_full`](Self::output_is_full) is false) and always
///    [`send_end`](Self::send_end). When the application first reads a body
///    held by `expect_continue`, [`send_continue`](Self::send_continue);
///    when it drops a body unread, [`drop_body`](Self::drop_body); when a
///    response body fails, [`abort_response`](Self::abort_response).
/// 3. **Output.** Write [`output_slices`](Self::output_slices) to the
///    socket and report each write with
///    [`advance_output`](Self::advance_output). Write before waiting for
///    anything else: the core counts its timers from the moment its output
///    is gone.
/// 4. **Input.** When [`wants_read`](Self::wants_read), read into
///    [`read_buf`](Self::read_buf) and call [`recv`](Self::recv); at end of
///    stream call [`recv_eof`](Self::recv_eof). Then back to 1.
/// 5. **Time.** Sleep until [`poll_timeout`](Self::poll_timeout) (it
///    changes after every call), then call
///    [`handle_timeout`](Self::handle_timeout) and go back to 1.
/// 6. **Closing.** Once [`is_write_closed`](Self::is_write_closed), drop
///    the handler and any response body (nothing more of them can be
///    sent); once the output is written, shut down the socket's write
///    side, keep reading while `wants_read` (a lingering close) and drop
///    the socket when [`is_closed`](Self::is_closed). Graceful shutdown is
///    [`start_shutdown`](Self::start_shutdown).
#[derive(Debug)]
pub struct Connection {
    config: Config,
    rbuf: BytesMut,
    out: Output,
    reading: Reading,
    writing: Writing,
    keep_alive: KeepAlive,
    /// The current request's version (the response's persistence field
    /// depends on it), when its head began and whether it is a HEAD
    /// request or asks for h2c.
    version: Version,
    started: Instant,
    head_request: bool,
    upgrade_asked: bool,
    /// The switch the current request may be granted (RFC 9110 §7.8,
    /// §9.3.6), if any.
    switch: Option<Asked>,
    /// The last `poll_event` stopped for want of input bytes.
    need_input: bool,
    /// Input may be left unread when the connection closes: linger.
    linger: bool,
    /// The peer closed its side.
    eof: bool,
    pending: Option<Pending>,
    /// The trailers of the request body that just ended (`Event::End`).
    trailers: Option<Box<HeaderMap>>,
    /// Requests taken so far (`Limits::max_requests_per_connection`).
    requests: u64,
    /// When the connection stops taking new requests
    /// (`Limits::max_connection_age`); `None` once that took effect.
    retire_at: Option<Instant>,
    /// Since when the socket has taken none of the output
    /// ([`write_blocked`](Self::write_blocked); `Limits::write_stall_timeout`).
    write_blocked: Option<Instant>,
    /// The output waited `write_stall_timeout`: the connection is to be
    /// dropped, not closed politely (nothing more can be written).
    write_stalled: bool,
    /// Output positions that end responses, and their body bytes
    /// (`Config::report_written`).
    marks: VecDeque<(u64, u64)>,
}

impl Connection {
    /// A new connection, idle since `now`. Bytes already read from the
    /// socket go into [`read_buf`](Self::read_buf), followed by
    /// [`recv`](Self::recv).
    /// The trailers of the request body that just ended (after
    /// [`Event::End`]), if it had any.
    pub fn take_trailers(&mut self) -> Option<HeaderMap> {
        self.trailers.take().map(|t| *t)
    }

    pub fn new(config: Config, now: Instant) -> Connection {
        let retire_at = now.checked_add(config.limits.max_connection_age);
        Connection {
            config,
            rbuf: BytesMut::new(),
            out: Output::default(),
            reading: Reading::Idle {
                since: Some(now),
                released: false,
            },
            writing: Writing::Init,
            keep_alive: KeepAlive::Idle,
            version: Version::HTTP_11,
            started: now,
            head_request: false,
            upgrade_asked: false,
            switch: None,
            need_input: true,
            linger: false,
            eof: false,
            pending: None,
            trailers: None,
            requests: 0,
            retire_at,
            write_blocked: None,
            write_stalled: false,
            marks: VecDeque::new(),
        }
    }

    // ----- Exchanges and closing -----

    /// Stops reading requests; `linger` when input may be left unread.
    fn stop_reading(&mut self, linger: bool) {
        self.reading = Reading::Closed;
        self.linger |= linger;
        self.need_input = false;
    }

    /// Ends the exchange once both its request and its response are
    /// complete: the next request, or the close.
    #[inline]
    fn try_end_exchange(&mut self, now: Instant) {
        let writing_done = matches!(self.writing, Writing::KeepAlive | Writing::Closed);
        if !writing_done {
            return;
        }
        match self.reading {
            Reading::KeepAlive
                if self.keep_alive != KeepAlive::Disabled
                    && matches!(self.writing, Writing::KeepAlive) =>
            {
                // RFC 9112 §9.3: the connection persists; a pipelined head
                // may already be here (§9.3.2).
                self.keep_alive = KeepAlive::Idle;
                self.writing = Writing::Init;
                self.reading = if self.rbuf.is_empty() {
                    Reading::Idle {
                        since: self.out.is_empty().then_some(now),
                        released: false,
                    }
                } else {
                    Reading::Head {
                        started: now,
                        deadline: now.checked_add(self.config.limits.header_read_timeout),
                        parsed_at: 0,
                    }
                };
            }
            Reading::KeepAlive | Reading::Closed => self.close(now),
            _ => {}
        }
    }

    /// Closes: nothing more is written once the output is; unread input is
    /// read and dropped for a moment first (lingering), so that closing
    /// does not reset the connection before the peer read the last
    /// response (RFC 9112 §9.6).
    fn close(&mut self, now: Instant) {
        self.writing = Writing::Closed;
        self.keep_alive = KeepAlive::Disabled;
        self.need_input = false;
        let linger = !self.eof && (self.linger || !self.rbuf.is_empty());
        self.rbuf.clear();
        self.reading = if linger {
            Reading::Linger {
                since: self.out.is_empty().then_some(now),
                budget: LINGER_MAX,
            }
        } else {
            Reading::Closed
        };
    }

    /// Graceful shutdown: no new request is taken. An idle connection
    /// closes now; one in an exchange (or in the middle of a head) closes
    /// after that exchange's response, which says so if it has not started.
    pub fn start_shutdown(&mut self, now: Instant) {
        self.keep_alive = KeepAlive::Disabled;
        if let Reading::Idle { .. } = self.reading {
            self.close(now);
        }
    }

    /// True between exchanges, with nothing left to write.
    pub fn is_idle(&self) -> bool {
        matches!(self.reading, Reading::Idle { since: Some(_), .. })
    }

    /// True once an idle connection gave its buffers back
    /// ([`RELEASE_AFTER`]).
    #[cfg(test)]
    pub fn is_released(&self) -> bool {
        matches!(self.reading, Reading::Idle { released: true, .. })
    }

    /// True once nothing more will be queued for the peer: after writing
    /// the output, shut down the socket's write side.
    pub fn is_write_closed(&self) -> bool {
        matches!(self.writing, Writing::Closed)
    }

    /// True once the connection is done: its socket can be dropped.
    pub fn is_closed(&self) -> bool {
        matches!(self.reading, Reading::Closed)
            && matches!(self.writing, Writing::Closed)
            && self.out.is_empty()
    }

    // ----- Output -----

    /// Bytes waiting to be written.
    pub fn output_len(&self) -> usize {
        self.out.len()
    }

    /// True when the output should be written before more work goes in
    /// (the core then parses no new request, and the driver holds body
    /// chunks back).
    pub fn output_is_full(&self) -> bool {
        self.out.is_full()
    }

    /// The output as one slice, when it is one.
    pub fn output_contiguous(&self) -> Option<&[u8]> {
        self.out.contiguous()
    }

    /// Fills `dst` with the output's first segments, in order, for a
    /// vectored write; returns how many it filled.
    pub fn output_slices<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        self.out.slices(dst)
    }

    /// The first `n` output bytes were written at `now`.
    pub fn advance_output(&mut self, n: usize, now: Instant) {
        if n > 0 {
            self.write_blocked = None;
        }
        self.out.advance(n);
        if self.out.is_empty() {
            match &mut self.reading {
                Reading::Idle { since, .. } | Reading::Linger { since, .. } => {
                    since.get_or_insert(now);
                }
                _ => {}
            }
        }
    }

    /// The socket took none of the output (or of its flush or shutdown) at
    /// `now`: the write-stall timer runs from the first such call until
    /// [`advance_output`](Self::advance_output) or
    /// [`write_unblocked`](Self::write_unblocked) reports progress.
    pub fn write_blocked(&mut self, now: Instant) {
        self.write_blocked.get_or_insert(now);
    }

    /// The socket made progress other than taking output bytes (a flush or
    /// a shutdown completed).
    pub fn write_unblocked(&mut self) {
        self.write_blocked = None;
    }

    /// True once the socket took nothing for `Limits::write_stall_timeout`:
    /// the driver drops the connection.
    pub fn is_write_stalled(&self) -> bool {
        self.write_stalled
    }
}
