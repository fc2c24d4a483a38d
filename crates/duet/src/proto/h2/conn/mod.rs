//! The HTTP/2 connection core (server side), sans-I/O: the client preface
//! and SETTINGS exchange (RFC 9113 §3.4, §6.5), stream states and id rules
//! (§5.1, §5.1.1, §5.1.2), error handling (§5.4), flow control both ways
//! (§5.2, §6.9), CONTINUATION sequencing (§6.10), PING and GOAWAY (§6.7,
//! §6.8), the rapid-reset guard, its timers (SETTINGS acknowledgement,
//! §6.5.3; idle, stalled peers, graceful shutdown), and the HTTP semantics
//! of requests and responses (§8, via `fields`). See [`Connection`] for the
//! driver contract.
//!
//! - `recv.rs`: frames in — preface, stream states, CONTINUATION,
//!   SETTINGS, PING, WINDOW_UPDATE, request heads and bodies.
//! - `send.rs`: responses, DATA scheduling, resets, GOAWAY.
//! - `output.rs`: the frames handed to the driver.
//! - `timer.rs`: `poll_timeout` / `handle_timeout` and the rules on time.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::HeaderMap;

use super::fields::{FieldList, TargetMemo};
use super::flow::{RecvWindow, SendWindow};
use super::frame::{self, GoAway, Settings, WindowUpdate};
use super::hpack::{Decoder, Encoder};
use super::settings::{Local, Peer, DEFAULT_WINDOW};
use super::stream::{Cause, State, Stream};
use super::{id_map, shed_map, Error, IdMap, Reason, StreamId, MAX_WINDOW};
use crate::config::Limits;

/// The PING payload that times the second phase of a graceful GOAWAY.
const DRAIN_PING: [u8; 8] = *b"duet-bye";

/// The numbers a connection runs with (from [`Limits`]).
#[derive(Clone, Debug)]
pub struct Config {
    /// SETTINGS_MAX_CONCURRENT_STREAMS we advertise and enforce.
    pub max_concurrent_streams: u32,
    /// SETTINGS_INITIAL_WINDOW_SIZE we advertise.
    pub initial_window_size: u32,
    /// Connection receive window we raise to after the preface.
    pub connection_window_size: u32,
    /// SETTINGS_MAX_FRAME_SIZE we advertise.
    pub max_frame_size: u32,
    /// SETTINGS_MAX_HEADER_LIST_SIZE we advertise and enforce.
    pub max_header_list_size: u32,
    /// SETTINGS_HEADER_TABLE_SIZE for our decoder.
    pub header_table_size: u32,
    /// Most fields in one request head; more is answered 431.
    pub max_header_fields: usize,
    /// Response bytes a stream may have queued.
    pub stream_send_buffer: usize,
    /// Peer resets (and refused streams) allowed per second.
    pub max_resets_per_sec: u32,
    /// Time the peer has to acknowledge our SETTINGS (§6.5.3).
    pub settings_timeout: Duration,
    /// Time response bytes may wait on windows the peer keeps shut with no
    /// DATA sent.
    pub send_stall_timeout: Duration,
    /// Time with no stream open before a graceful GOAWAY.
    pub idle_timeout: Duration,
    /// Time the PING of a graceful shutdown's first GOAWAY may go
    /// unanswered before the final GOAWAY.
    pub shutdown_ping_timeout: Duration,
    /// Largest compressed field block held while it is reassembled.
    pub max_field_block_bytes: usize,
    /// CONTINUATION frames one field block may span, empty ones counted.
    pub max_continuation_frames: u32,
    /// Time a field block split over CONTINUATION frames may take.
    pub header_block_timeout: Duration,
    /// Budget of frames that carry nothing (refilled by useful ones).
    pub max_empty_frames: u32,
    /// Budget for small DATA frames held unread (already scaled with the
    /// connection window).
    pub small_data_budget: u64,
    /// Request body octets discarded after a complete response before the
    /// stream is reset with NO_ERROR.
    pub discard_body_bytes: u64,
    /// Time the rest of such a request may take to end.
    pub discard_body_timeout: Duration,
    /// Streams taken before the connection begins a graceful shutdown.
    pub max_requests: u64,
    /// Age at which the connection begins a graceful shutdown.
    pub max_age: Duration,
}

impl Config {
    /// The connection configuration for these limits.
    pub fn from_limits(l: &Limits) -> Config {
        let connection_window_size = l
            .h2_connection_window_size
            .clamp(DEFAULT_WINDOW, MAX_WINDOW);
        Config {
            max_concurrent_streams: l.h2_max_concurrent_streams,
            initial_window_size: l.h2_initial_window_size.min(MAX_WINDOW),
            connection_window_size,
            max_frame_size: l.h2_max_frame_size.clamp(
                frame::settings::MIN_MAX_FRAME_SIZE,
                frame::settings::MAX_MAX_FRAME_SIZE,
            ),
            max_header_list_size: l.h2_max_header_list_size,
            header_table_size: l.h2_header_table_size,
            max_header_fields: l.max_headers,
            stream_send_buffer: l.h2_stream_send_buffer.max(1),
            max_resets_per_sec: l.h2_max_resets_per_sec,
            settings_timeout: l.h2_settings_timeout,
            send_stall_timeout: l.h2_send_stall_timeout,
            idle_timeout: l.keep_alive_timeout,
            shutdown_ping_timeout: l.h2_shutdown_ping_timeout,
            max_field_block_bytes: l.h2_max_field_block_bytes,
            max_continuation_frames: l.h2_max_continuation_frames,
            header_block_timeout: l.h2_header_block_timeout,
            max_empty_frames: l.h2_max_empty_frames,
            // RUSTSEC-2026-0258: a fixed budget fired on legitimate
            // streaming; it grows with the window (as h2 0.4.19 does).
            small_data_budget: u64::from(l.h2_small_data_budget)
                .max(u64::from(connection_window_size / 2)),
            // What a stream counts in 32 bits.
            discard_body_bytes: l.h2_discard_body_bytes.min(u64::from(u32::MAX)),
            discard_body_timeout: l.h2_discard_body_timeout,
            max_requests: l.max_requests_per_connection,
            max_age: l.max_connection_age,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::from_limits(&Limits::default())
    }
}

/// What the connection tells its driver.
#[derive(Debug)]
pub enum Event {
    /// A request head arrived on a new stream. `end_stream`: there is no
    /// body. `content_length` is the declared length, if any.
    Request {
        /// The stream.
        id: StreamId,
        /// Method, URI (from `:scheme`, `:authority`, `:path`) and version
        /// HTTP/2; its `headers` are empty (see `fields`).
        head: Box<http::request::Parts>,
        /// The regular fields, checked (§8.2) and built into a `HeaderMap`
        /// only when something reads them ([`FieldList::to_map`]).
        fields: FieldList,
        /// The declared `content-length`, checked (§8.1.1).
        content_length: Option<u64>,
        /// No body follows.
        end_stream: bool,
    },
    /// A request's field section exceeded SETTINGS_MAX_HEADER_LIST_SIZE:
    /// answer it with 431 (the driver calls
    /// [`Connection::send_response`]); it is not handed to the application.
    HeadersTooLarge {
        /// The stream.
        id: StreamId,
    },
    /// A request was refused with RST_STREAM before any handler could see
    /// it (RFC 9113 §5.4.2): a malformed request head (§8.1.1), a stream
    /// beyond SETTINGS_MAX_CONCURRENT_STREAMS (§5.1.2, REFUSED_STREAM), a
    /// self-dependency (§5.3.1). The driver only records it (one access
    /// record per request); the core already sent the reset.
    Refused {
        /// The stream.
        id: StreamId,
        /// The error code sent.
        reason: Reason,
        /// The request head, when it was well-formed (a refused stream):
        /// method and URI, for the record (its `headers` are empty).
        head: Option<Box<http::request::Parts>>,
    },
    /// Request body bytes. The driver must call [`Connection::release`]
    /// with `data.len()` once the application consumed them (or at once if
    /// it discards them).
    Data {
        /// The stream.
        id: StreamId,
        /// Body bytes (may be empty when only `end_stream` is news).
        data: Bytes,
        /// The body is complete.
        end_stream: bool,
    },
    /// Trailers ended the request body.
    Trailers {
        /// The stream.
        id: StreamId,
        /// The trailer fields (boxed: rare, and every event would carry
        /// the map's size).
        trailers: Box<HeaderMap>,
    },
    /// A stream the driver was told about ended abnormally (reset by the
    /// peer, or by us after a stream error, or every stream at a connection
    /// error): drop its handler and bodies.
    Reset {
        /// The stream.
        id: StreamId,
        /// The error code.
        #[allow(dead_code)] // Not used by the driver: any reset drops the stream.
        reason: Reason,
    },
    /// The peer sent GOAWAY: it opens no more streams.
    GoAway {
        /// The last stream it will process of ours (we open none).
        #[allow(dead_code)] // Not used by the driver: it opens no streams.
        last_stream_id: StreamId,
        /// Its error code.
        #[allow(dead_code)] // Not used by the driver: any GOAWAY ends new streams.
        reason: Reason,
    },
}

/// Where the connection is in its life: what we told the peer about the
/// streams we take (RFC 9113 §6.8, §5.4.1). Reading the preface and
/// reassembling field blocks are the receive side's own state
/// ([`recv::Reading`]): they go on whatever the lifecycle is.
///
/// ```text
///            start_shutdown: GOAWAY(2^31-1) + PING
///   ┌──────┐ ─────────────────────────────────────► ┌────────────────────┐
///   │ Open │                                        │ Draining { since } │
///   └──┬───┘                                        └────┬───────────────┘
///      │ go_away (idle timeout,   PING ACK, PING timeout │
///      │ peer's GOAWAY):          or go_away:            │
///      │ GOAWAY(last id)          GOAWAY(last id)        │
///      ▼                                                 ▼
///   ┌─────────────────────────────────────────────────────────┐
///   │                  GoingAway { last_id }                  │
///   └────────────────────────────┬────────────────────────────┘
///                                │ its last stream ends (at once
///                                │ if none is open)
///                                ▼
///   any state ─────────────► ┌────────┐
///   connection error         │ Closed │
///   (incl. SETTINGS and      └────────┘
///   stall timeouts):
///   GOAWAY(code)
/// ```
///
/// Open and Draining take new streams; GoingAway finishes those up to
/// `last_id` and ignores newer ones; Closed reads nothing more and only
/// waits for its output to be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lifecycle {
    /// Serving, taking new streams.
    Open,
    /// The first GOAWAY of a graceful shutdown (naming 2^31-1) and a PING
    /// went out at `since`; streams are still taken until the PING's
    /// answer shows the peer saw the GOAWAY, or the PING timeout passes.
    Draining { since: Instant },
    /// The final GOAWAY named `last_id`: streams up to it finish, newer
    /// ones are ignored.
    GoingAway { last_id: StreamId },
    /// A connection error was sent, or the last stream after the final
    /// GOAWAY ended: nothing more is read.
    Closed,
}

impl Lifecycle {
    /// We sent the first GOAWAY and its PING (open → draining).
    fn send_first_goaway(&mut self, now: Instant) -> bool {
        if *self != Lifecycle::Open {
            return false;
        }
        *self = Lifecycle::Draining { since: now };
        true
    }

    /// We sent the final GOAWAY naming `last_id` (open or draining → going
    /// away).
    fn send_final_goaway(&mut self, last_id: StreamId) -> bool {
        if !self.takes_streams() {
            return false;
        }
        *self = Lifecycle::GoingAway { last_id };
        true
    }

    /// The last stream ended after the final GOAWAY (going away → closed).
    fn last_stream_ended(&mut self) {
        if let Lifecycle::GoingAway { .. } = self {
            *self = Lifecycle::Closed;
        }
    }

    /// We sent GOAWAY for a connection error (any → closed); returns the
    /// last stream id it may name (§6.8: never higher than an earlier
    /// GOAWAY's), or `None` if already closed.
    fn send_connection_error(&mut self, last_peer_id: StreamId) -> Option<StreamId> {
        let last = match *self {
            Lifecycle::Closed => return None,
            Lifecycle::GoingAway { last_id } => last_id.min(last_peer_id),
            Lifecycle::Open | Lifecycle::Draining { .. } => last_peer_id,
        };
        *self = Lifecycle::Closed;
        Some(last)
    }

    /// True while new streams are taken (open or draining).
    fn takes_streams(&self) -> bool {
        matches!(self, Lifecycle::Open | Lifecycle::Draining { .. })
    }
}

/// How a stream id the connection has no active stream for is seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lookup {
    Active,
    Idle,
    /// Closed; how (`None`: the client skipped the id, §5.1.1).
    Closed(Option<Cause>),
}

/// An HTTP/2 server connection, without I/O (RFC 9113).
///
/// # Driver contract
///
/// One task owns a `Connection` and moves bytes between it and the socket.
/// Every `now` it passes is the time of the call, from the one clock the
/// driver uses (a paused test clock drives the core's timers too):
///
/// 1. Create it with [`Connection::new`] (or [`Connection::upgraded`] after
///    an HTTP/1.1 `Upgrade: h2c`). It queues our SETTINGS and the
///    connection WINDOW_UPDATE at once: write them out (step 5).
/// 2. Feed every received byte to [`Connection::recv`] (which consumes whole
///    frames from the buffer and leaves a partial one), then drain
///    [`Connection::poll_event`] until `None` and act on each event.
///    `recv` returning `Err` means a connection error: GOAWAY is queued;
///    write the output, then close.
/// 3. Answer requests with [`Connection::send_response`] (after any
///    [`Connection::send_informational`]), then body bytes
///    with [`Connection::send_data`] while [`Connection::has_room`] says the
///    stream's send buffer has room; streams that regain room are listed by
///    [`Connection::take_writable`] after the peer opens windows.
/// 4. Tell the core how many request body bytes the application consumed
///    with [`Connection::release`] (WINDOW_UPDATEs are sent in batches).
///    A handler may run only for a stream the core still tracks: drop it
///    on [`Event::Reset`] (the core counts a connection with no stream
///    open as idle). Once a response's END_STREAM is sent, the rest of its
///    request is the core's: it is checked and dropped there, its credit
///    returned, and no more [`Event::Data`] comes for it; a request refused
///    before any handler saw it comes as [`Event::Refused`], for the
///    record only. When the peer closes its side, call
///    [`Connection::peer_closed`].
/// 5. After any call, take the output with [`Connection::take_output`] (in
///    order; write all of it), then call [`Connection::refill`] to let more
///    queued DATA in, and take the output again.
/// 6. Before waiting, ask [`Connection::poll_timeout`] when the core next
///    needs the time and sleep no longer; then call
///    [`Connection::handle_timeout`] (early is harmless), act on the events
///    and write the output. The SETTINGS timeout, a stalled peer, the idle
///    timeout and the second phase of a graceful shutdown are all decided
///    there.
/// 7. For graceful shutdown call [`Connection::start_shutdown`] (two-phase
///    GOAWAY; the final GOAWAY follows the PING answer or its timeout), or
///    [`Connection::go_away`] to stop taking streams at once (e.g. after
///    the peer's GOAWAY); keep serving until [`Connection::is_done`], then
///    close.
///
/// The core never blocks, never reads a clock and never panics on peer
/// input.
pub struct Connection {
    /// Shared by the connections of a listener (it is derived from their
    /// common limits): about 200 bytes less per connection.
    cfg: Arc<Config>,
    lifecycle: Lifecycle,
    reading: Reading,
    local: Local,
    peer: Peer,
    decoder: Decoder,
    encoder: Encoder,
    /// The last request's target, parsed (`TargetMemo`).
    target: TargetMemo,
    streams: IdMap<Stream>,
    closed: ClosedStreams,
    /// The highest client stream id seen (opened, refused or ignored).
    last_peer_id: StreamId,
    send_flow: SendWindow,
    recv_flow: RecvWindow,
    events: VecDeque<Event>,
    out: Output,
    /// Reused for encoding response heads; request literals are decoded
    /// into its spare room and split off (`Decoder::decode_vetted`).
    scratch: BytesMut,
    /// Streams with queued DATA, in round-robin order.
    sendable: VecDeque<StreamId>,
    /// Streams whose send buffer regained room.
    writable: Vec<StreamId>,
    /// Active streams the peer opened (open or half-closed, §5.1.2).
    active: u32,
    /// DATA payload octets sent so far (progress of flow-blocked streams).
    data_sent: u64,
    /// Streams taken so far (`max_requests`).
    opened: u64,
    /// Frames that carry nothing the peer may still send before one that
    /// carries something (CVE-2019-9518).
    empty_budget: u32,
    /// Charges of small DATA frames held unread (RUSTSEC-2026-0258).
    small_charge: u64,
    timers: Timers,
}

impl Connection {
    /// A connection that expects the client preface next, created at
    /// `now` (when our SETTINGS goes out).
    pub fn new(cfg: impl Into<Arc<Config>>, now: Instant) -> Connection {
        let cfg = cfg.into();
        let local = Local {
            max_concurrent_streams: cfg.max_concurrent_streams,
            initial_window_size: cfg.initial_window_size,
            max_frame_size: cfg.max_frame_size,
            max_header_list_size: cfg.max_header_list_size,
            header_table_size: cfg.header_table_size,
            unacked: 1,
        };
        let mut c = Connection {
            lifecycle: Lifecycle::Open,
            reading: Reading::Preface(0),
            decoder: Decoder::new(cfg.header_table_size as usize),
            target: TargetMemo::default(),
            encoder: Encoder::new(),
            local,
            peer: Peer::default(),
            streams: id_map(),
            closed: ClosedStreams::default(),
            last_peer_id: 0,
            send_flow: SendWindow::new(DEFAULT_WINDOW),
            recv_flow: RecvWindow::new(DEFAULT_WINDOW, cfg.connection_window_size),
            events: VecDeque::new(),
            out: Output::default(),
            scratch: BytesMut::new(),
            sendable: VecDeque::new(),
            writable: Vec::new(),
            active: 0,
            data_sent: 0,
            opened: 0,
            empty_budget: cfg.max_empty_frames,
            small_charge: 0,
            timers: Timers::new(now, cfg.max_age),
            cfg,
        };
        // §3.4: our preface is a SETTINGS frame, the first frame we send.
        c.local.frame().encode(&mut c.out.buf);
        // §6.9.2: the connection window can only be raised by WINDOW_UPDATE.
        if let Some(inc) = c.recv_flow.grow_to_target() {
            WindowUpdate::new(0, inc).encode(&mut c.out.buf);
        }
        c
    }

    /// A connection upgraded from HTTP/1.1 (RFC 7540 §3.2): `settings` is
    /// the decoded `HTTP2-Settings` payload, applied as the client's
    /// SETTINGS; the upgrading request is stream 1, half-closed (remote),
    /// and its response goes out on stream 1. The client preface is still
    /// expected next.
    pub fn upgraded(
        cfg: impl Into<Arc<Config>>,
        settings: Bytes,
        now: Instant,
    ) -> Result<Connection, Error> {
        let s = Settings::load_values(0, false, settings)?;
        let mut c = Connection::new(cfg, now);
        c.peer.apply(&s);
        if let Some(size) = s.header_table_size {
            c.encoder.set_max_table_size(size.min(4096) as usize);
        }
        let mut st = c.new_stream();
        // The request was complete on HTTP/1.1.
        let _ = st.state.recv_open(true);
        c.streams.insert(1, st);
        c.active += 1;
        c.opened = 1;
        c.last_peer_id = 1;
        if c.opened >= c.cfg.max_requests {
            c.start_shutdown(now);
        }
        c.observe(now);
        Ok(c)
    }

    fn new_stream(&self) -> Stream {
        Stream::new(
            self.peer.initial_window_size,
            self.local.stream_recv_initial(),
            self.local.initial_window_size,
        )
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Streams whose send buffer has room again since the last call.
    pub fn take_writable(&mut self) -> Vec<StreamId> {
        std::mem::take(&mut self.writable)
    }

    /// Gives back what the connection holds for streams and output while
    /// it has none (an idle connection should cost little memory): the
    /// collections keep the capacity of their busiest moment otherwise,
    /// about 2 KB after one request. The HPACK tables, settings and
    /// closed-stream memory stay: they are the connection's state.
    /// [`Connection::handle_timeout`] calls it once the connection has had
    /// no stream open for a moment; a driver calls it after that to shed
    /// its own state too, or whenever it likes.
    pub fn shed(&mut self) {
        if !self.streams.is_empty() {
            return;
        }
        shed_map(&mut self.streams);
        // Each only when empty: events and output wait for the driver.
        if self.events.is_empty() {
            self.events = VecDeque::new();
        }
        if self.out.len() == 0 {
            self.out = Output::default();
        }
        if self.sendable.is_empty() {
            self.sendable = VecDeque::new();
        }
        if self.writable.is_empty() {
            self.writable = Vec::new();
        }
        if self.timers.discards.is_empty() {
            self.timers.discards = VecDeque::new();
        }
        self.scratch = BytesMut::new();
        // The HPACK tables stay (the next request refers to them), without
        // the room they grew for.
        self.decoder.shed();
        self.encoder.shed();
        self.target.clear();
    }

    /// Number of streams not yet closed.
    pub fn open_streams(&self) -> usize {
        self.streams.len()
    }

    /// True once the connection is closed — by a connection error, or
    /// because every stream finished after the final GOAWAY: write the
    /// output and close.
    pub fn is_done(&self) -> bool {
        self.lifecycle == Lifecycle::Closed
    }

    /// Queues GOAWAY for a connection error (§5.4.1) and stops reading.
    fn connection_error(&mut self, reason: Reason) -> Error {
        tracing::debug!(?reason, "h2 connection error");
        if let Some(last) = self.lifecycle.send_connection_error(self.last_peer_id) {
            GoAway::new(last, reason).encode(&mut self.out.buf);
            count_goaway(true, reason);
            for (id, _) in self.streams.drain() {
                self.events.push_back(Event::Reset { id, reason });
            }
            self.sendable.clear();
            self.timers.discards.clear();
            self.reading = Reading::Frames;
        }
        Error::Connection(reason)
    }

    fn lookup(&self, id: StreamId) -> Lookup {
        if self.streams.contains_key(&id) {
            Lookup::Active
        } else if id & 1 == 0 || id > self.last_peer_id {
            // We never open (push) streams, so even ids are all idle.
            Lookup::Idle
        } else {
            Lookup::Closed(self.closed.cause(id))
        }
    }

    /// Removes a stream that reached `closed`, returning its unconsumed
    /// receive credit to the connection window.
    fn remove_stream(&mut self, id: StreamId, cause: Cause) {
        if let Some(s) = self.streams.remove(&id) {
            self.active = self.active.saturating_sub(1);
            let unreleased = s.unreleased;
            self.release_connection(unreleased);
            if s.charge != 0 {
                self.small_charge = self.small_charge.saturating_sub(u64::from(s.charge));
            }
            if s.discard_left.is_some() {
                self.timers.discards.retain(|(d, _)| *d != id);
            }
            if self.streams.is_empty() {
                self.lifecycle.last_stream_ended();
            }
        }
        self.closed.close(id, cause);
    }

    fn remove_if_closed(&mut self, id: StreamId) {
        if let Some(State::Closed(cause)) = self.streams.get(&id).map(|s| s.state) {
            self.remove_stream(id, cause);
        }
    }

    fn release_connection(&mut self, n: u64) {
        if n == 0 {
            return;
        }
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        if let Some(inc) = self.recv_flow.release(n) {
            WindowUpdate::new(0, inc).encode(&mut self.out.buf);
        }
    }
}

mod closed;
mod output;
mod recv;
mod send;
mod timer;

use closed::ClosedStreams;
use output::Output;
use recv::Reading;
use timer::Timers;
#[cfg(test)]
mod tests;

/// Counts an RST_STREAM frame sent or received (`observability`).
pub(super) fn count_reset(sent: bool, reason: Reason) {
    crate::observability::h2_reset(sent, reason.name().unwrap_or("unknown"));
}

/// Counts a GOAWAY frame sent or received (`observability`).
pub(super) fn count_goaway(sent: bool, reason: Reason) {
    crate::observability::h2_goaway(sent, reason.name().unwrap_or("unknown"));
}
