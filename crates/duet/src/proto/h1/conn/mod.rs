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

mod output;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::io::IoSlice;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, Method, StatusCode, Version};

use self::output::Output;
use super::encode::{
    encode_answer_head, encode_continue, encode_last_chunk, encode_response_head,
    encode_switching_protocols_h2c, ResponseFraming,
};
use super::{parse_request, BodyDecoder, BodyKind, Decoded, LengthError, ParseError, RequestHead};
use crate::config::Limits;
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
    /// The connection speaks HTTP/2 now.
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
    /// The last `poll_event` stopped for want of input bytes.
    need_input: bool,
    /// Input may be left unread when the connection closes: linger.
    linger: bool,
    /// The peer closed its side.
    eof: bool,
    pending: Option<Pending>,
    /// Requests taken so far (`Limits::max_requests_per_connection`).
    requests: u64,
    /// When the connection stops taking new requests
    /// (`Limits::max_connection_age`); `None` once that took effect.
    retire_at: Option<Instant>,
    /// Output positions that end responses, and their body bytes
    /// (`Config::report_written`).
    marks: VecDeque<(u64, u64)>,
}

impl Connection {
    /// A new connection, idle since `now`. Bytes already read from the
    /// socket go into [`read_buf`](Self::read_buf), followed by
    /// [`recv`](Self::recv).
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
            need_input: true,
            linger: false,
            eof: false,
            pending: None,
            requests: 0,
            retire_at,
            marks: VecDeque::new(),
        }
    }

    // ----- Input -----

    /// The buffer input goes into: append what was read, then call
    /// [`recv`](Self::recv).
    pub fn read_buf(&mut self) -> &mut BytesMut {
        &mut self.rbuf
    }

    /// Takes the buffered input (after [`Event::Upgrade`]: the first bytes
    /// of HTTP/2).
    pub fn take_read_buf(&mut self) -> BytesMut {
        std::mem::take(&mut self.rbuf)
    }

    /// Whether the core waits for input: read when true (and only then, so
    /// that a slow application slows the peer down).
    pub fn wants_read(&self) -> bool {
        match self.reading {
            Reading::Idle { .. }
            | Reading::Head { .. }
            | Reading::Body { .. }
            | Reading::Drain { .. }
            | Reading::Upgrade(_) => self.need_input,
            // While a response goes out, reading notices a peer that went
            // away and buffers a pipelined head, up to a head's size.
            Reading::KeepAlive => {
                !self.eof && self.rbuf.len() < self.config.limits.max_header_bytes
            }
            Reading::Linger { .. } => true,
            Reading::Continue(_) | Reading::Closed | Reading::Upgraded => false,
        }
    }

    /// New bytes were appended to [`read_buf`](Self::read_buf) at `now`.
    pub fn recv(&mut self, now: Instant) {
        self.need_input = false;
        match &mut self.reading {
            Reading::Idle { .. } if !self.rbuf.is_empty() => {
                // RFC 9112 §9.3 / slowloris: the head must be complete by
                // the deadline counted from its first byte.
                self.reading = Reading::Head {
                    started: now,
                    deadline: now.checked_add(self.config.limits.header_read_timeout),
                    parsed_at: 0,
                };
            }
            Reading::Body { waiting, .. } | Reading::Drain { waiting, .. } => *waiting = None,
            Reading::Upgrade(up) => up.waiting = None,
            Reading::Linger { budget, .. } => {
                *budget = budget.saturating_sub(self.rbuf.len());
                self.rbuf.clear();
                if *budget == 0 {
                    self.reading = Reading::Closed;
                }
            }
            Reading::Closed => self.rbuf.clear(),
            _ => {}
        }
    }

    /// The peer closed its sending side at `now`.
    pub fn recv_eof(&mut self, now: Instant) {
        self.eof = true;
        self.need_input = false;
        match std::mem::replace(&mut self.reading, Reading::Closed) {
            // RFC 9112 §9.6: a peer that closes between requests (or within
            // a head, which then has no answer) is done.
            Reading::Idle { .. } | Reading::Head { .. } => {
                self.rbuf.clear();
                self.close(now);
            }
            // Within a body: the request can't complete, nor its response
            // be read.
            Reading::Continue(_) | Reading::Body { .. } => {
                self.pending = Some(Pending::BodyFailed {
                    failure: BodyFailure::Closed,
                    answer: None,
                });
                self.close(now);
            }
            Reading::Upgrade(_) => self.close(now),
            // The request is read: its response still goes out, unless it
            // is a stream, which has nobody to go to.
            Reading::Drain { .. } | Reading::KeepAlive => {
                self.keep_alive = KeepAlive::Disabled;
                if matches!(self.writing, Writing::Body(_)) {
                    self.writing = Writing::Closed;
                }
                self.try_end_exchange(now);
            }
            Reading::Linger { .. } | Reading::Closed => {}
            Reading::Upgraded => self.reading = Reading::Upgraded,
        }
    }

    // ----- Events -----

    /// The next event, if any (see [`Event`]).
    #[inline]
    pub fn poll_event(&mut self, now: Instant) -> Option<Event> {
        // The common "nothing new" answers, without the parser's frame.
        if self.pending.is_none() && self.marks.is_empty() {
            match self.reading {
                Reading::Idle { .. } if self.rbuf.is_empty() => {
                    self.need_input = true;
                    return None;
                }
                Reading::Continue(_)
                | Reading::KeepAlive
                | Reading::Linger { .. }
                | Reading::Closed
                | Reading::Upgraded => return None,
                _ => {}
            }
        }
        self.next_event(now)
    }

    #[inline(never)]
    fn next_event(&mut self, now: Instant) -> Option<Event> {
        if self.pending.is_some() {
            return self.take_pending();
        }
        if let Some(&(end, body_bytes)) = self.marks.front() {
            if end <= self.out.written() {
                self.marks.pop_front();
                return Some(Event::Written { body_bytes });
            }
        }
        loop {
            match self.reading {
                Reading::Idle { .. } | Reading::Head { .. } => return self.read_head(now),
                Reading::Body { .. } => return self.read_body(now),
                Reading::Drain { .. } => {
                    if !self.drain(now) {
                        return None;
                    }
                }
                Reading::Upgrade(_) => return self.read_upgrade(now),
                Reading::Continue(_)
                | Reading::KeepAlive
                | Reading::Linger { .. }
                | Reading::Closed
                | Reading::Upgraded => return None,
            }
        }
    }

    /// Parses the next request head, once there is room for its response.
    fn read_head(&mut self, now: Instant) -> Option<Event> {
        // RFC 9112 §9.3.2: pipelined requests are answered in order; the
        // next is taken only once the output is written far enough.
        if self.out.is_full() {
            self.need_input = false;
            return None;
        }
        let (started, deadline, parsed_at) = match self.reading {
            Reading::Head {
                started,
                deadline,
                parsed_at,
            } => (started, deadline, parsed_at),
            _ if self.rbuf.is_empty() => {
                self.need_input = true;
                return None;
            }
            _ => (
                now,
                now.checked_add(self.config.limits.header_read_timeout),
                0,
            ),
        };
        // A head that arrives in small pieces is parsed again only when a
        // line ended or a size limit was crossed, never once per byte.
        let len = self.rbuf.len();
        if parsed_at > 0 {
            let limits = &self.config.limits;
            let crossed = |t: usize| parsed_at <= t && len > t;
            let worth = self
                .rbuf
                .get(parsed_at..)
                .is_some_and(|new| new.contains(&b'\n'))
                || crossed(limits.max_uri_bytes.saturating_add(64))
                || crossed(limits.max_header_bytes);
            if !worth {
                self.need_input = true;
                return None;
            }
        }
        match parse_request(&self.rbuf, &self.config.limits) {
            Ok(Some((head, used))) => {
                self.rbuf.advance(used);
                self.on_head(head, started)
            }
            Ok(None) => {
                self.reading = Reading::Head {
                    started,
                    deadline,
                    parsed_at: len,
                };
                self.need_input = true;
                None
            }
            Err(error) => {
                let version = request_version(&self.rbuf);
                self.reject_head(error, version, started);
                self.take_pending()
            }
        }
    }

    /// A request head arrived: the exchange begins.
    fn on_head(&mut self, head: RequestHead, started: Instant) -> Option<Event> {
        self.need_input = false;
        self.version = head.version;
        self.started = started;
        self.head_request = head.method == Method::HEAD;
        self.upgrade_asked = head.upgrade_h2c.is_some();
        // RFC 9112 §9.3: the request says whether the connection persists;
        // the last one a connection may carry closes it.
        self.requests = self.requests.saturating_add(1);
        let last = self.requests >= self.config.limits.max_requests_per_connection;
        self.keep_alive = if head.keep_alive && !last && self.keep_alive != KeepAlive::Disabled {
            KeepAlive::Busy
        } else {
            KeepAlive::Disabled
        };
        self.writing = Writing::Init;
        self.reading = match head.body {
            BodyKind::None => Reading::KeepAlive,
            kind => Reading::Body {
                decoder: BodyDecoder::with_limits(&kind, &self.config.limits),
                waiting: None,
            },
        };
        Some(Event::Request { head, started })
    }

    /// A head that cannot be served: it is answered, then the connection
    /// closes (RFC 9112 §9.6: what follows can't be framed). Reported at
    /// the next `poll_event`.
    fn reject_head(&mut self, error: ParseError, version: Version, started: Instant) {
        self.version = version;
        self.head_request = false;
        self.keep_alive = KeepAlive::Disabled;
        self.writing = Writing::Init;
        self.stop_reading(true);
        self.pending = Some(Pending::Reject {
            error,
            version,
            started,
        });
    }

    /// The pending event, if any.
    fn take_pending(&mut self) -> Option<Event> {
        Some(match self.pending.take()? {
            Pending::Reject {
                error,
                version,
                started,
            } => Event::Reject {
                error,
                version,
                started,
            },
            Pending::BodyFailed { failure, answer } => Event::BodyFailed { failure, answer },
        })
    }

    fn read_body(&mut self, now: Instant) -> Option<Event> {
        let Reading::Body { decoder, waiting } = &mut self.reading else {
            return None;
        };
        match decoder.decode(&mut self.rbuf) {
            Ok(Decoded::Data(data)) => {
                *waiting = None;
                self.need_input = false;
                Some(Event::Data(data))
            }
            Ok(Decoded::End) => {
                self.need_input = false;
                self.reading = Reading::KeepAlive;
                self.try_end_exchange(now);
                Some(Event::End)
            }
            Ok(Decoded::NeedMore) => {
                waiting.get_or_insert(now);
                self.need_input = true;
                None
            }
            Err(e) => {
                let (failure, answer) = self.body_failed(BodyFailure::Malformed(e), e);
                Some(Event::BodyFailed { failure, answer })
            }
        }
    }

    /// The request body can't be completed: the connection closes after
    /// this exchange; the answer is `answer` if no response has started.
    fn body_failed(
        &mut self,
        failure: BodyFailure,
        answer: ParseError,
    ) -> (BodyFailure, Option<ParseError>) {
        let answer = matches!(self.writing, Writing::Init).then_some(answer);
        self.keep_alive = KeepAlive::Disabled;
        self.stop_reading(true);
        (failure, answer)
    }

    /// Drops body bytes nobody reads; true when the reading state changed.
    fn drain(&mut self, now: Instant) -> bool {
        let Reading::Drain {
            decoder,
            budget,
            waiting,
        } = &mut self.reading
        else {
            return false;
        };
        loop {
            match decoder.decode(&mut self.rbuf) {
                Ok(Decoded::Data(data)) => {
                    *waiting = None;
                    match budget.checked_sub(data.len() as u64) {
                        Some(left) => *budget = left,
                        None => break,
                    }
                }
                Ok(Decoded::End) => {
                    self.reading = Reading::KeepAlive;
                    self.try_end_exchange(now);
                    return true;
                }
                Ok(Decoded::NeedMore) => {
                    waiting.get_or_insert(now);
                    self.need_input = true;
                    return false;
                }
                Err(_) => break,
            }
        }
        // Too long, or malformed: the connection can't be reused.
        self.keep_alive = KeepAlive::Disabled;
        self.stop_reading(true);
        self.try_end_exchange(now);
        true
    }

    /// Reads the body of an h2c upgrade request, then switches.
    fn read_upgrade(&mut self, now: Instant) -> Option<Event> {
        let Reading::Upgrade(up) = &mut self.reading else {
            return None;
        };
        loop {
            match up.decoder.decode(&mut self.rbuf) {
                Ok(Decoded::Data(data)) => {
                    up.waiting = None;
                    let total = (up.body.len() as u64).saturating_add(data.len() as u64);
                    if total > up.limit {
                        let started = up.started;
                        self.reject_head(
                            ParseError::new(
                                StatusCode::PAYLOAD_TOO_LARGE,
                                "request body exceeds the configured limit",
                            ),
                            Version::HTTP_11,
                            started,
                        );
                        return self.take_pending();
                    }
                    up.body.extend_from_slice(&data);
                }
                Ok(Decoded::End) => break,
                Ok(Decoded::NeedMore) => {
                    up.waiting.get_or_insert(now);
                    self.need_input = true;
                    return None;
                }
                Err(e) => {
                    let started = up.started;
                    self.reject_head(e, Version::HTTP_11, started);
                    return self.take_pending();
                }
            }
        }
        let Reading::Upgrade(up) = std::mem::replace(&mut self.reading, Reading::Upgraded) else {
            return None;
        };
        self.need_input = false;
        // RFC 7540 §3.2: 101, then the server's HTTP/2 preface (the HTTP/2
        // core's) and the response to the request on stream 1.
        encode_switching_protocols_h2c(self.out.buf());
        Some(Event::Upgrade {
            body: up.body.freeze(),
        })
    }

    /// The driver takes the h2c upgrade the current request asks for
    /// (RFC 7540 §3.2: its virtual server serves HTTP/2 and the connection
    /// is cleartext): its body, at most `limit` bytes (more → 413), is read
    /// whole, then [`Event::Upgrade`]. Call right after its
    /// [`Event::Request`]; without one it does nothing.
    pub fn accept_upgrade(&mut self, limit: u64) {
        if !self.upgrade_asked {
            return;
        }
        let decoder = match std::mem::replace(&mut self.reading, Reading::Closed) {
            Reading::Body { decoder, .. } => decoder,
            Reading::KeepAlive => BodyDecoder::with_limits(&BodyKind::None, &self.config.limits),
            other => {
                self.reading = other;
                return;
            }
        };
        self.reading = Reading::Upgrade(Box::new(Upgrading {
            decoder,
            body: BytesMut::new(),
            limit,
            started: self.started,
            waiting: None,
        }));
    }

    // ----- The request body, as the application reads it -----

    /// The rest of the current request's body in one piece, when all of it
    /// has already arrived (a `Content-Length` body read with its head):
    /// the driver hands it to the application whole, without a channel.
    pub fn take_full_body(&mut self, now: Instant) -> Option<Bytes> {
        let Reading::Body { decoder, .. } = &self.reading else {
            return None;
        };
        let n = usize::try_from(decoder.remaining()?).ok()?;
        if n == 0 || n > self.rbuf.len() {
            return None;
        }
        let body = self.rbuf.split_to(n).freeze();
        self.reading = Reading::KeepAlive;
        self.try_end_exchange(now);
        Some(body)
    }

    /// The current request expects `100 Continue` (admission said so):
    /// its body is not read until [`send_continue`](Self::send_continue).
    /// Call right after its [`Event::Request`].
    pub fn expect_continue(&mut self) {
        if let Reading::Body { .. } = self.reading {
            if let Reading::Body { decoder, .. } =
                std::mem::replace(&mut self.reading, Reading::Closed)
            {
                self.reading = Reading::Continue(decoder);
            }
        }
    }

    /// The application asked for the body held by
    /// [`expect_continue`](Self::expect_continue): `100 Continue` goes out
    /// (RFC 9110 §10.1.1, §15.2.1), unless a final response already has,
    /// and the body is read.
    pub fn send_continue(&mut self) {
        if let Reading::Continue(_) = self.reading {
            if let Reading::Continue(decoder) =
                std::mem::replace(&mut self.reading, Reading::Closed)
            {
                if matches!(self.writing, Writing::Init) && self.version == Version::HTTP_11 {
                    encode_continue(self.out.buf());
                }
                self.reading = Reading::Body {
                    decoder,
                    waiting: None,
                };
            }
        }
    }

    /// The application will not read the rest of the request body (it
    /// dropped it, or it broke a limit): what arrives is dropped, up to
    /// [`DRAIN_MAX`] bytes, and a longer body closes the connection.
    pub fn drop_body(&mut self) {
        match std::mem::replace(&mut self.reading, Reading::Closed) {
            Reading::Body { decoder, waiting } => {
                self.reading = Reading::Drain {
                    decoder,
                    budget: DRAIN_MAX,
                    waiting,
                };
            }
            // RFC 9110 §10.1.1: the client waits for a 100 that won't come
            // and may or may not send the body: close after the response.
            Reading::Continue(decoder) => {
                self.keep_alive = KeepAlive::Disabled;
                self.reading = Reading::Continue(decoder);
            }
            other => self.reading = other,
        }
    }

    /// The rest of the request body is refused (it crossed its limit,
    /// RFC 9110 §15.5.14): it is not read, and the connection closes after
    /// the response (lingering).
    pub fn refuse_body(&mut self) {
        if let Reading::Continue(_) | Reading::Body { .. } | Reading::Drain { .. } = self.reading {
            self.keep_alive = KeepAlive::Disabled;
            self.stop_reading(true);
        }
    }

    // ----- Responses -----

    /// Whether the connection can persist after a response that starts
    /// now: the request allowed it (RFC 9112 §9.3) and its body was read,
    /// or what is left of it is short enough to drop.
    #[inline]
    fn may_persist(&self) -> bool {
        if self.keep_alive == KeepAlive::Disabled {
            return false;
        }
        match &self.reading {
            Reading::KeepAlive => true,
            Reading::Body { decoder, .. } | Reading::Drain { decoder, .. } => {
                match decoder.remaining() {
                    Some(n) => n.saturating_sub(self.rbuf.len() as u64) <= DRAIN_MAX,
                    // Chunked: drained within a budget, closed beyond it.
                    None => true,
                }
            }
            // RFC 9110 §10.1.1: a client told no 100 may not send its body;
            // whether it does can't be known: close.
            _ => false,
        }
    }

    /// Starts the response to the current request: the exchange layer
    /// frames it (`frame_response`: HEAD, 1xx/204/304, the handler's
    /// `Content-Length`, `body_len` the body's length when known) and the
    /// head is queued with that framing on the wire — `content-length`,
    /// chunked (RFC 9112 §7.1), or close-delimited to an HTTP/1.0 peer
    /// (RFC 9112 §6.3 item 8) — and the persistence field (RFC 9112 §9.3).
    /// `date` is the `Date` value (RFC 9110 §6.6.1).
    ///
    /// Returns whether body bytes go out; either way the driver ends the
    /// response with [`send_end`](Self::send_end).
    pub fn send_response(
        &mut self,
        status: StatusCode,
        headers: &HeaderMap,
        body_len: Option<u64>,
        date: &[u8],
    ) -> bool {
        if !matches!(self.writing, Writing::Init) || matches!(self.reading, Reading::Upgraded) {
            return false;
        }
        let framing = frame_response(status, headers, self.head_request, body_len);
        let (wire, kind) = match framing {
            Framing::NoBody { content_length } => {
                (ResponseFraming::NoBody(content_length), Encoding::Omitted)
            }
            Framing::Length(n) => (ResponseFraming::Length(n), Encoding::Length),
            Framing::Unknown if self.version == Version::HTTP_11 => {
                (ResponseFraming::Chunked, Encoding::Chunked)
            }
            Framing::Unknown => (ResponseFraming::CloseDelimited, Encoding::CloseDelimited),
        };
        let persist = self.may_persist();
        let persist = encode_response_head(
            self.out.buf(),
            self.version,
            status,
            headers,
            wire,
            persist,
            date,
        );
        if !persist {
            self.keep_alive = KeepAlive::Disabled;
        }
        self.writing = Writing::Body(Encoder {
            kind,
            sent: SentBody::new(framing),
        });
        kind != Encoding::Omitted && framing.has_body()
    }

    /// Queues a chunk of the response body: copied when small, queued as
    /// it is when large. A chunk past the declared length is not sent: the
    /// response is abandoned and the connection closes.
    #[inline]
    pub fn send_data(&mut self, data: Bytes) -> Result<(), LengthError> {
        let Writing::Body(enc) = &mut self.writing else {
            return Ok(());
        };
        if data.is_empty() {
            return Ok(());
        }
        if let Err(m) = enc.sent.chunk(data.len()) {
            self.abort_response();
            return Err(LengthError::new(m.declared, m.produced));
        }
        match enc.kind {
            Encoding::Length | Encoding::CloseDelimited => self.out.body(data),
            Encoding::Chunked => self.out.chunk(data),
            Encoding::Omitted => {}
        }
        Ok(())
    }

    /// Ends the response: the last chunk of a chunked body (RFC 9112
    /// §7.1), the connection's close for a close-delimited one. A body
    /// short of its declared length abandons the response and closes the
    /// connection.
    #[inline]
    pub fn send_end(&mut self, now: Instant) -> Result<(), LengthError> {
        let Writing::Body(enc) = &self.writing else {
            return Ok(());
        };
        if let Err(m) = enc.sent.end() {
            self.abort_response();
            return Err(LengthError::new(m.declared, m.produced));
        }
        let kind = enc.kind;
        let body_bytes = if kind == Encoding::Omitted {
            0
        } else {
            enc.sent.sent()
        };
        match kind {
            Encoding::Chunked => encode_last_chunk(self.out.buf()),
            Encoding::CloseDelimited => self.keep_alive = KeepAlive::Disabled,
            Encoding::Length | Encoding::Omitted => {}
        }
        self.writing = if kind == Encoding::CloseDelimited {
            Writing::Closed
        } else {
            Writing::KeepAlive
        };
        self.response_done(body_bytes, now);
        Ok(())
    }

    /// Answers a request the core rejected ([`Event::Reject`],
    /// [`Event::BodyFailed`]) in the one answer format.
    pub fn reject(&mut self, error: &ParseError, date: &[u8], now: Instant) {
        self.send_answer(&error.answer(), date, now);
    }

    /// Answers the current request with one of the server's own answers
    /// (admission's, a rejection): `text/plain` in the exchange layer's
    /// one format, its length announced. When the request's body has not
    /// been read, the connection closes after it.
    pub(crate) fn send_answer(&mut self, answer: &Answer, date: &[u8], now: Instant) {
        if !matches!(self.writing, Writing::Init) || matches!(self.reading, Reading::Upgraded) {
            return;
        }
        // An answer made before the body was read closes: the client may
        // be sending a body nobody wants, or waiting for a 100 that won't
        // come (RFC 9110 §10.1.1, §15.5.14).
        let persist = self.may_persist() && matches!(self.reading, Reading::KeepAlive);
        let body = answer.has_body().then(|| answer.body_len());
        encode_answer_head(
            self.out.buf(),
            self.version,
            answer.status(),
            body,
            persist,
            date,
        );
        let mut body_bytes = 0;
        // RFC 9110 §9.3.2: HEAD gets the head only.
        if body.is_some() && !self.head_request {
            answer.write_body(self.out.buf());
            body_bytes = answer.body_len() as u64;
        }
        if !persist {
            self.keep_alive = KeepAlive::Disabled;
        }
        self.writing = Writing::KeepAlive;
        self.response_done(body_bytes, now);
    }

    /// The response body failed (its producer errored): the response
    /// can't be completed, so the connection closes without it (RFC 9112
    /// §6.3: a truncated body is only detectable that way).
    pub fn abort_response(&mut self) {
        self.writing = Writing::Closed;
        self.keep_alive = KeepAlive::Disabled;
        self.rbuf.clear();
        self.reading = match self.reading {
            Reading::Upgraded => Reading::Upgraded,
            _ => Reading::Closed,
        };
        self.need_input = false;
    }

    /// A response is complete (its last byte queued).
    #[inline]
    fn response_done(&mut self, body_bytes: u64, now: Instant) {
        if self.config.report_written {
            self.marks.push_back((self.out.end_position(), body_bytes));
        }
        match std::mem::replace(&mut self.reading, Reading::Closed) {
            // Nobody reads the rest of the body now: drop it if it is short
            // (`may_persist` decided so), else close.
            Reading::Body { decoder, waiting } if self.keep_alive != KeepAlive::Disabled => {
                self.reading = Reading::Drain {
                    decoder,
                    budget: DRAIN_MAX,
                    waiting,
                };
            }
            Reading::Drain {
                decoder,
                budget,
                waiting,
            } if self.keep_alive != KeepAlive::Disabled => {
                self.reading = Reading::Drain {
                    decoder,
                    budget,
                    waiting,
                };
            }
            Reading::Body { .. } | Reading::Drain { .. } | Reading::Continue(_) => {
                self.keep_alive = KeepAlive::Disabled;
                self.stop_reading(true);
            }
            other => self.reading = other,
        }
        self.try_end_exchange(now);
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

    // ----- Time -----

    /// When the core next needs [`handle_timeout`](Self::handle_timeout),
    /// if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.state_timeout(), self.retire_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The deadline of the reading state's timer, if it has one.
    fn state_timeout(&self) -> Option<Instant> {
        let limits = &self.config.limits;
        match &self.reading {
            Reading::Idle {
                since: Some(since),
                released,
            } => {
                let idle = since.checked_add(limits.keep_alive_timeout);
                let release = (!released)
                    .then(|| since.checked_add(RELEASE_AFTER))
                    .flatten();
                match (idle, release) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            }
            Reading::Head { deadline, .. } => *deadline,
            Reading::Body {
                waiting: Some(w), ..
            }
            | Reading::Drain {
                waiting: Some(w), ..
            } => w.checked_add(limits.body_read_timeout),
            Reading::Upgrade(up) => up
                .waiting
                .and_then(|w| w.checked_add(limits.body_read_timeout)),
            Reading::Linger {
                since: Some(since), ..
            } => since.checked_add(limits.linger_timeout),
            _ => None,
        }
    }

    /// The time is `now`: whatever timer has expired takes effect.
    pub fn handle_timeout(&mut self, now: Instant) {
        // Old enough: no new request is taken, the current one ends the
        // connection (as a graceful shutdown does).
        if self.retire_at.is_some_and(|t| now >= t) {
            self.retire_at = None;
            self.start_shutdown(now);
        }
        enum Due {
            Nothing,
            IdleClose,
            Release,
            HeadLate(Instant),
            HeadWaits,
            BodyLate,
            DrainLate,
            UpgradeLate(Instant),
            LingerDone,
        }
        let limits = &self.config.limits;
        let due = |from: Option<Instant>, d: Duration| {
            from.and_then(|f| f.checked_add(d))
                .is_some_and(|t| now >= t)
        };
        let what = match &self.reading {
            Reading::Idle { since, released } => {
                if due(*since, limits.keep_alive_timeout) {
                    Due::IdleClose
                } else if !released && due(*since, RELEASE_AFTER) {
                    Due::Release
                } else {
                    Due::Nothing
                }
            }
            Reading::Head {
                started, deadline, ..
            } if deadline.is_some_and(|d| now >= d) => {
                if self.out.is_empty() {
                    Due::HeadLate(*started)
                } else {
                    Due::HeadWaits
                }
            }
            Reading::Body { waiting, .. } if due(*waiting, limits.body_read_timeout) => {
                Due::BodyLate
            }
            Reading::Drain { waiting, .. } if due(*waiting, limits.body_read_timeout) => {
                Due::DrainLate
            }
            Reading::Upgrade(up) if due(up.waiting, limits.body_read_timeout) => {
                Due::UpgradeLate(up.started)
            }
            Reading::Linger { since, .. } if due(*since, limits.linger_timeout) => Due::LingerDone,
            _ => Due::Nothing,
        };
        match what {
            Due::Nothing => {}
            // RFC 9112 §9.5: an idle connection may be closed at any time;
            // it holds nothing unread.
            Due::IdleClose => self.close(now),
            Due::Release => {
                if let Reading::Idle { released, .. } = &mut self.reading {
                    *released = true;
                }
                self.out.release();
                if self.rbuf.is_empty() {
                    self.rbuf = BytesMut::new();
                }
            }
            // RFC 9110 §15.5.9: 408, then close.
            Due::HeadLate(started) => {
                let version = request_version(&self.rbuf);
                self.reject_head(
                    ParseError::new(
                        StatusCode::REQUEST_TIMEOUT,
                        "request head not received in time",
                    ),
                    version,
                    started,
                );
            }
            // Still waiting for the peer to take earlier responses: its
            // head isn't late yet.
            Due::HeadWaits => {
                let later = now.checked_add(self.config.limits.header_read_timeout);
                if let Reading::Head { deadline, .. } = &mut self.reading {
                    *deadline = later;
                }
            }
            Due::BodyLate => {
                let (failure, answer) = self.body_failed(
                    BodyFailure::TimedOut,
                    ParseError::new(
                        StatusCode::REQUEST_TIMEOUT,
                        "request body not received in time",
                    ),
                );
                self.pending = Some(Pending::BodyFailed { failure, answer });
            }
            Due::DrainLate => {
                self.keep_alive = KeepAlive::Disabled;
                self.stop_reading(true);
                self.try_end_exchange(now);
            }
            Due::UpgradeLate(started) => self.reject_head(
                ParseError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "request body not received in time",
                ),
                Version::HTTP_11,
                started,
            ),
            Due::LingerDone => self.reading = Reading::Closed,
        }
    }
}

/// The version on a request line, when it got that far: for the access
/// record of a request rejected before its head was whole.
fn request_version(buf: &[u8]) -> Version {
    let line = buf
        .split(|&b| b == b'\n')
        .find(|l| !l.is_empty() && *l != b"\r")
        .unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.ends_with(b" HTTP/1.0") {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    }
}
