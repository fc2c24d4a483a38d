//! The HTTP/2 connection core (server side), sans-I/O: the client preface
//! and SETTINGS exchange (RFC 9113 §3.4, §6.5), stream states and id rules
//! (§5.1, §5.1.1, §5.1.2), error handling (§5.4), flow control both ways
//! (§5.2, §6.9), CONTINUATION sequencing (§6.10), PING and GOAWAY (§6.7,
//! §6.8), the rapid-reset guard, and the HTTP semantics of requests and
//! responses (§8, via `fields`). See [`Connection`] for the driver
//! contract.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, StatusCode};

use super::fields::{encode_response, FieldCollector, Reject};
use super::flow::{RecvWindow, SendWindow};
use super::frame::{
    self, Continuation, Data, Frame, GoAway, Headers, Ping, PrioritySpec, RstStream, Settings,
    WindowUpdate,
};
use super::hpack::{Decoder, DecoderError, Encoder};
use super::settings::{Local, Peer, DEFAULT_WINDOW};
use super::stream::{Cause, Sending, State, Stream};
use super::{id_map, Error, IdMap, Reason, StreamId, MAX_WINDOW, PREFACE};
use crate::config::Limits;

/// Closed stream ids remembered to answer late frames precisely (§5.1).
const CLOSED_MEMORY: usize = 1024;
/// The PING payload that times the second phase of a graceful GOAWAY.
const DRAIN_PING: [u8; 8] = *b"duet-bye";
/// Output bytes above which queued DATA waits for the driver to write.
const OUTPUT_HIGH_WATER: usize = 256 * 1024;
/// DATA payloads at least this long are handed to the driver as their own
/// segment (written with vectored I/O) instead of being copied.
const ZERO_COPY_MIN: usize = 4096;

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
}

impl Config {
    /// The connection configuration for these limits.
    pub fn from_limits(l: &Limits) -> Config {
        Config {
            max_concurrent_streams: l.h2_max_concurrent_streams,
            initial_window_size: l.h2_initial_window_size.min(MAX_WINDOW),
            connection_window_size: l
                .h2_connection_window_size
                .clamp(DEFAULT_WINDOW, MAX_WINDOW),
            max_frame_size: l.h2_max_frame_size.clamp(
                frame::settings::MIN_MAX_FRAME_SIZE,
                frame::settings::MAX_MAX_FRAME_SIZE,
            ),
            max_header_list_size: l.h2_max_header_list_size,
            header_table_size: l.h2_header_table_size,
            max_header_fields: l.max_headers,
            stream_send_buffer: l.h2_stream_send_buffer.max(1),
            max_resets_per_sec: l.h2_max_resets_per_sec,
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
        /// Method, URI (from `:scheme`, `:authority`, `:path`), version
        /// HTTP/2 and fields.
        head: http::request::Parts,
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
        /// The trailer fields.
        trailers: HeaderMap,
    },
    /// A stream the application knows about ended abnormally (reset by the
    /// peer, or by us after a stream error): drop its handler and bodies.
    Reset {
        /// The stream.
        id: StreamId,
        /// The error code.
        reason: Reason,
    },
    /// The peer sent GOAWAY: it opens no more streams.
    GoAway {
        /// The last stream it will process of ours (we open none).
        last_stream_id: StreamId,
        /// Its error code.
        reason: Reason,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for the client preface: `n` octets of it matched so far.
    Preface(usize),
    /// Preface seen; the first frame must be SETTINGS (§3.4).
    FirstSettings,
    Open,
    /// A connection error was sent; nothing more is read.
    Closed,
}

/// A field block being reassembled from HEADERS + CONTINUATION (§6.10).
struct PendingBlock {
    stream_id: StreamId,
    block: BytesMut,
    end_stream: bool,
    priority: Option<PrioritySpec>,
}

/// How a stream id the connection has no active stream for is seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lookup {
    Active,
    Idle,
    /// Closed; how, if it is still remembered.
    Closed(Option<Cause>),
}

/// An HTTP/2 server connection, without I/O (RFC 9113).
///
/// # Driver contract
///
/// One task owns a `Connection` and moves bytes between it and the socket:
///
/// 1. Create it with [`Connection::new`] (or [`Connection::upgraded`] after
///    an HTTP/1.1 `Upgrade: h2c`). It queues our SETTINGS and the
///    connection WINDOW_UPDATE at once: write [`Connection::output`] out.
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
/// 5. After any call, write out [`Connection::output`] (one buffer for all
///    frames; clear it once written), then call [`Connection::refill`] to
///    let more queued DATA in.
/// 6. For graceful shutdown call [`Connection::start_shutdown`] (two-phase
///    GOAWAY; call [`Connection::go_away`] after a grace period if the PING
///    answer does not come), or [`Connection::go_away`] directly when no
///    stream is open; keep serving until [`Connection::is_done`], then
///    close.
/// 7. Time is the driver's: it may end the connection with
///    [`Connection::abort`] when [`Connection::settings_pending`] lasts too
///    long (SETTINGS_TIMEOUT) or when [`Connection::is_flow_blocked`] holds
///    without [`Connection::data_sent`] moving (a stalled peer).
///
/// The core never blocks, never reads a clock of its own (time is passed to
/// `recv` for the rapid-reset guard) and never panics on peer input.
pub struct Connection {
    cfg: Config,
    phase: Phase,
    local: Local,
    peer: Peer,
    decoder: Decoder,
    encoder: Encoder,
    streams: IdMap<Stream>,
    closed: IdMap<Cause>,
    closed_order: VecDeque<StreamId>,
    /// The highest client stream id seen (opened, refused or ignored).
    last_peer_id: StreamId,
    /// Last stream id of the GOAWAY we sent, if any.
    goaway_sent: Option<StreamId>,
    /// The first GOAWAY of a graceful shutdown (last id 2^31-1) is out;
    /// the final one follows the PING round trip.
    draining: bool,
    pending_block: Option<PendingBlock>,
    send_flow: SendWindow,
    recv_flow: RecvWindow,
    events: VecDeque<Event>,
    /// Frames being encoded (small ones are copied here).
    out: BytesMut,
    /// Output ready for the driver, in order: frozen pieces of `out` and
    /// large DATA payloads (not copied).
    segments: VecDeque<Bytes>,
    segments_len: usize,
    scratch: BytesMut,
    /// Streams with queued DATA, in round-robin order.
    sendable: VecDeque<StreamId>,
    /// Streams whose send buffer regained room.
    writable: Vec<StreamId>,
    /// Active streams the peer opened (open or half-closed, §5.1.2).
    active: u32,
    /// DATA payload octets sent so far (progress of flow-blocked streams).
    data_sent: u64,
    reset_window: (Instant, u32),
}

impl Connection {
    /// A connection that expects the client preface next.
    pub fn new(cfg: Config) -> Connection {
        let local = Local {
            max_concurrent_streams: cfg.max_concurrent_streams,
            initial_window_size: cfg.initial_window_size,
            max_frame_size: cfg.max_frame_size,
            max_header_list_size: cfg.max_header_list_size,
            header_table_size: cfg.header_table_size,
            unacked: 1,
        };
        let mut c = Connection {
            phase: Phase::Preface(0),
            decoder: Decoder::new(cfg.header_table_size as usize),
            encoder: Encoder::new(),
            local,
            peer: Peer::default(),
            streams: id_map(),
            closed: id_map(),
            closed_order: VecDeque::new(),
            last_peer_id: 0,
            goaway_sent: None,
            draining: false,
            pending_block: None,
            send_flow: SendWindow::new(DEFAULT_WINDOW),
            recv_flow: RecvWindow::new(DEFAULT_WINDOW, cfg.connection_window_size),
            events: VecDeque::new(),
            out: BytesMut::new(),
            segments: VecDeque::new(),
            segments_len: 0,
            scratch: BytesMut::new(),
            sendable: VecDeque::new(),
            writable: Vec::new(),
            active: 0,
            data_sent: 0,
            reset_window: (Instant::now(), 0),
            cfg,
        };
        // §3.4: our preface is a SETTINGS frame, the first frame we send.
        c.local.frame().encode(&mut c.out);
        // §6.9.2: the connection window can only be raised by WINDOW_UPDATE.
        if let Some(inc) = c.recv_flow.grow_to_target() {
            WindowUpdate::new(0, inc).encode(&mut c.out);
        }
        c
    }

    /// A connection upgraded from HTTP/1.1 (RFC 7540 §3.2): `settings` is
    /// the decoded `HTTP2-Settings` payload, applied as the client's
    /// SETTINGS; the upgrading request is stream 1, half-closed (remote),
    /// and its response goes out on stream 1. The client preface is still
    /// expected next.
    pub fn upgraded(cfg: Config, settings: Bytes) -> Result<Connection, Error> {
        let s = Settings::load_values(0, false, settings)?;
        let mut c = Connection::new(cfg);
        c.peer.apply(&s);
        if let Some(size) = s.header_table_size {
            c.encoder.set_max_table_size(size.min(4096) as usize);
        }
        let mut st = c.new_stream();
        // The request was complete on HTTP/1.1.
        let _ = st.state.recv_open(true);
        st.delivered = true;
        c.streams.insert(1, st);
        c.active += 1;
        c.last_peer_id = 1;
        Ok(c)
    }

    fn new_stream(&self) -> Stream {
        Stream::new(
            self.peer.initial_window_size,
            self.local.stream_recv_initial(),
            self.local.initial_window_size,
        )
    }

    /// Moves the output (frames to write, in order) to the end of `into`;
    /// returns how many bytes were moved. Large DATA payloads come as their
    /// own segments, uncopied, for vectored writes.
    pub fn take_output(&mut self, into: &mut VecDeque<Bytes>) -> usize {
        self.seal_output();
        let n = self.segments_len;
        into.append(&mut self.segments);
        self.segments_len = 0;
        n
    }

    /// Bytes of output not yet taken.
    pub fn output_len(&self) -> usize {
        self.segments_len + self.out.len()
    }

    /// Freezes what `out` holds into a segment.
    fn seal_output(&mut self) {
        if !self.out.is_empty() {
            let b = self.out.split().freeze();
            self.segments_len += b.len();
            self.segments.push_back(b);
        }
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Streams whose send buffer has room again since the last call.
    pub fn take_writable(&mut self, into: &mut Vec<StreamId>) {
        into.append(&mut self.writable);
    }

    /// True while the peer has not acknowledged all our SETTINGS (§6.5.3:
    /// an endpoint may end the connection with SETTINGS_TIMEOUT when this
    /// lasts too long).
    pub fn settings_pending(&self) -> bool {
        self.local.unacked > 0
    }

    /// True while response bytes wait for the peer to open a window.
    pub fn is_flow_blocked(&self) -> bool {
        !self.sendable.is_empty()
    }

    /// DATA payload octets sent so far.
    pub fn data_sent(&self) -> u64 {
        self.data_sent
    }

    /// Ends the connection at once: GOAWAY with `reason`, every stream
    /// dropped (the driver's policy decisions, e.g. a peer that stalls its
    /// windows to pin our memory).
    pub fn abort(&mut self, reason: Reason) {
        let _ = self.connection_error(reason);
    }

    /// Number of streams not yet closed.
    pub fn open_streams(&self) -> usize {
        self.streams.len()
    }

    /// True once a connection error closed the connection, or GOAWAY was
    /// sent and every stream finished: write the output and close.
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Closed || (self.goaway_sent.is_some() && self.streams.is_empty())
    }

    /// True once the connection stopped taking streams (GOAWAY sent or a
    /// connection error).
    pub fn is_closing(&self) -> bool {
        self.phase == Phase::Closed || self.goaway_sent.is_some()
    }

    /// Feeds received bytes: whole frames are consumed from `src`, a
    /// partial one is left for the next call. `now` dates resets for the
    /// rapid-reset guard. `Err` is a connection error: GOAWAY is queued and
    /// the connection must be closed once the output is written.
    pub fn recv(&mut self, src: &mut BytesMut, now: Instant) -> Result<(), Error> {
        loop {
            match self.phase {
                Phase::Closed => {
                    src.clear();
                    return Ok(());
                }
                Phase::Preface(matched) => {
                    // §3.4: the client preface, byte for byte.
                    let want = &PREFACE[matched..];
                    let n = want.len().min(src.len());
                    if src[..n] != want[..n] {
                        return Err(self.connection_error(Reason::PROTOCOL_ERROR));
                    }
                    src.advance(n);
                    if n < want.len() {
                        self.phase = Phase::Preface(matched + n);
                        return Ok(());
                    }
                    self.phase = Phase::FirstSettings;
                }
                Phase::FirstSettings | Phase::Open => {
                    let frame = match frame::decode(src, self.local.recv_max_frame_size()) {
                        Ok(None) => return Ok(()),
                        Ok(Some(f)) => f,
                        Err(e) => {
                            self.handle_error(e, now)?;
                            continue;
                        }
                    };
                    if self.phase == Phase::FirstSettings {
                        // §3.4: the client preface ends with a SETTINGS frame.
                        if !matches!(&frame, Frame::Settings(s) if !s.ack) {
                            return Err(self.connection_error(Reason::PROTOCOL_ERROR));
                        }
                        self.phase = Phase::Open;
                    }
                    if let Err(e) = self.on_frame(frame, now) {
                        self.handle_error(e, now)?;
                    }
                }
            }
        }
    }

    fn handle_error(&mut self, e: Error, now: Instant) -> Result<(), Error> {
        match e {
            Error::Stream(id, reason) => {
                tracing::debug!(stream = id, ?reason, "h2 stream error");
                self.reset_stream(id, reason);
                if self.note_reset(now) {
                    return Err(self.connection_error(Reason::ENHANCE_YOUR_CALM));
                }
                Ok(())
            }
            Error::Connection(reason) => Err(self.connection_error(reason)),
        }
    }

    /// Queues GOAWAY for a connection error (§5.4.1) and stops reading.
    fn connection_error(&mut self, reason: Reason) -> Error {
        tracing::debug!(?reason, "h2 connection error");
        if self.phase != Phase::Closed {
            // §6.8: a later GOAWAY must not name a higher stream.
            let last = self
                .goaway_sent
                .map_or(self.last_peer_id, |g| g.min(self.last_peer_id));
            GoAway::new(last, reason).encode(&mut self.out);
            self.phase = Phase::Closed;
            for (id, s) in self.streams.drain() {
                if s.delivered {
                    self.events.push_back(Event::Reset { id, reason });
                }
            }
            self.sendable.clear();
            self.pending_block = None;
        }
        Error::Connection(reason)
    }

    /// Counts a reset toward the rapid-reset guard; true when over.
    fn note_reset(&mut self, now: Instant) -> bool {
        let (start, count) = &mut self.reset_window;
        if now.saturating_duration_since(*start) >= Duration::from_secs(1) {
            *start = now;
            *count = 0;
        }
        *count += 1;
        *count > self.cfg.max_resets_per_sec
    }

    fn lookup(&self, id: StreamId) -> Lookup {
        if self.streams.contains_key(&id) {
            Lookup::Active
        } else if id & 1 == 0 || id > self.last_peer_id {
            // We never open (push) streams, so even ids are all idle.
            Lookup::Idle
        } else {
            Lookup::Closed(self.closed.get(&id).copied())
        }
    }

    fn remember_closed(&mut self, id: StreamId, cause: Cause) {
        if self.closed.insert(id, cause).is_none() {
            self.closed_order.push_back(id);
            if self.closed_order.len() > CLOSED_MEMORY {
                if let Some(old) = self.closed_order.pop_front() {
                    self.closed.remove(&old);
                }
            }
        }
    }

    /// Removes a stream that reached `closed`, returning its unconsumed
    /// receive credit to the connection window.
    fn remove_stream(&mut self, id: StreamId, cause: Cause) {
        if let Some(s) = self.streams.remove(&id) {
            self.active = self.active.saturating_sub(1);
            let unreleased = s.unreleased;
            self.release_connection(unreleased);
        }
        self.remember_closed(id, cause);
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
            WindowUpdate::new(0, inc).encode(&mut self.out);
        }
    }

    fn on_frame(&mut self, frame: Frame, now: Instant) -> Result<(), Error> {
        // §6.10: between a HEADERS without END_HEADERS and its last
        // CONTINUATION, any other frame is a connection error.
        if let Some(p) = &self.pending_block {
            match &frame {
                Frame::Continuation(c) if c.stream_id == p.stream_id => {}
                _ => return Err(Error::Connection(Reason::PROTOCOL_ERROR)),
            }
        }
        match frame {
            Frame::Data(d) => self.on_data(d),
            Frame::Headers(h) => self.on_headers(h),
            Frame::Continuation(c) => self.on_continuation(c),
            // PRIORITY is allowed in any state (§5.1); the scheme is
            // deprecated (§5.3.2) and its frame checks are in `load`.
            Frame::Priority(_) => Ok(()),
            Frame::RstStream(r) => self.on_rst_stream(r, now),
            Frame::Settings(s) => self.on_settings(s),
            // §8.4: a client cannot push.
            Frame::PushPromise(_) => Err(Error::Connection(Reason::PROTOCOL_ERROR)),
            Frame::Ping(p) => {
                // §6.7: answer a PING with the same payload and ACK set.
                if !p.ack {
                    Ping {
                        ack: true,
                        payload: p.payload,
                    }
                    .encode(&mut self.out);
                } else if p.payload == DRAIN_PING && self.draining {
                    // Every stream the peer opened before it saw our first
                    // GOAWAY has arrived: name the last one.
                    self.go_away(Reason::NO_ERROR);
                }
                Ok(())
            }
            Frame::GoAway(g) => {
                self.events.push_back(Event::GoAway {
                    last_stream_id: g.last_stream_id,
                    reason: g.reason,
                });
                Ok(())
            }
            Frame::WindowUpdate(w) => self.on_window_update(w),
            // §4.1, §5.5: unknown frame types are ignored.
            Frame::Unknown(_) => Ok(()),
        }
    }

    fn on_data(&mut self, d: Data) -> Result<(), Error> {
        let id = d.stream_id;
        // §6.9: every DATA frame counts against the connection window.
        self.recv_flow
            .receive(d.flow_len)
            .map_err(Error::Connection)?;
        match self.lookup(id) {
            // §5.1 idle: only HEADERS or PRIORITY.
            Lookup::Idle => Err(Error::Connection(Reason::PROTOCOL_ERROR)),
            Lookup::Closed(cause) => {
                self.release_connection(u64::from(d.flow_len));
                closed_stream_error(id, cause)
            }
            Lookup::Active => self.on_stream_data(d),
        }
    }

    fn on_stream_data(&mut self, d: Data) -> Result<(), Error> {
        let id = d.stream_id;
        let flow_len = d.flow_len;
        let Some(s) = self.streams.get_mut(&id) else {
            return Ok(());
        };
        // §5.1 half-closed (remote): STREAM_CLOSED stream error.
        if !s.state.can_recv() {
            self.release_connection(u64::from(flow_len));
            return Err(Error::Stream(id, Reason::STREAM_CLOSED));
        }
        // §6.9.1: beyond the stream window: FLOW_CONTROL_ERROR.
        if let Err(r) = s.recv_window.receive(flow_len) {
            self.release_connection(u64::from(flow_len));
            return Err(Error::Stream(id, r));
        }
        let len = d.data.len() as u64;
        s.received += len;
        // The whole frame is owed to the connection window until released;
        // padding is released at once below, the data when consumed.
        let padding = u64::from(flow_len) - len;
        s.unreleased += u64::from(flow_len);
        // §8.1.1: DATA beyond content-length, or END_STREAM short of it, is
        // malformed.
        if let Some(cl) = s.content_length {
            if s.received > cl || (d.end_stream && s.received != cl) {
                return Err(Error::Stream(id, Reason::PROTOCOL_ERROR));
            }
        }
        if d.end_stream {
            s.state.recv_close().map_err(|r| Error::Stream(id, r))?;
        }
        if padding > 0 {
            if let Some(s) = self.streams.get_mut(&id) {
                s.unreleased -= padding.min(s.unreleased);
                if s.state.can_recv() {
                    if let Some(inc) = s.recv_window.release(padding as u32) {
                        WindowUpdate::new(id, inc).encode(&mut self.out);
                    }
                }
            }
            self.release_connection(padding);
        }
        if len > 0 || d.end_stream {
            self.events.push_back(Event::Data {
                id,
                data: d.data,
                end_stream: d.end_stream,
            });
        }
        self.remove_if_closed(id);
        Ok(())
    }

    fn on_headers(&mut self, h: Headers) -> Result<(), Error> {
        if !h.end_headers {
            self.pending_block = Some(PendingBlock {
                stream_id: h.stream_id,
                block: BytesMut::from(&h.fragment[..]),
                end_stream: h.end_stream,
                priority: h.priority,
            });
            return Ok(());
        }
        self.on_field_block(h.stream_id, &h.fragment, h.end_stream, h.priority)
    }

    fn on_continuation(&mut self, c: Continuation) -> Result<(), Error> {
        // §6.10: a CONTINUATION not preceded by HEADERS/CONTINUATION
        // without END_HEADERS is a connection error PROTOCOL_ERROR.
        let Some(mut p) = self.pending_block.take() else {
            return Err(Error::Connection(Reason::PROTOCOL_ERROR));
        };
        p.block.extend_from_slice(&c.fragment);
        // A block far larger than any acceptable header list is an attack
        // (CONTINUATION flood), not a request.
        let cap = (self.cfg.max_header_list_size as usize).saturating_mul(2) + 64 * 1024;
        if p.block.len() > cap {
            return Err(Error::Connection(Reason::ENHANCE_YOUR_CALM));
        }
        if !c.end_headers {
            self.pending_block = Some(p);
            return Ok(());
        }
        let block = p.block.freeze();
        self.on_field_block(p.stream_id, &block, p.end_stream, p.priority)
    }

    fn on_field_block(
        &mut self,
        id: StreamId,
        block: &[u8],
        end_stream: bool,
        priority: Option<PrioritySpec>,
    ) -> Result<(), Error> {
        let lookup = self.lookup(id);
        // §4.3: every block is decoded, whatever becomes of the stream, so
        // the decoder's table stays in sync; a decoding error is a
        // connection error COMPRESSION_ERROR.
        let mut fields =
            FieldCollector::new(lookup == Lookup::Active, self.local.max_header_list_size)
                .max_fields(self.cfg.max_header_fields);
        let limit = self.local.max_header_list_size as usize;
        match self
            .decoder
            .decode_limited(block, limit, &mut |n, v| fields.field(n, v))
        {
            Ok(()) => {}
            // The block was still decoded into the table: only this
            // request is refused (431), the connection goes on.
            Err(DecoderError::HeaderListTooLarge) => fields.too_large(),
            Err(_) => return Err(Error::Connection(Reason::COMPRESSION_ERROR)),
        }
        match lookup {
            Lookup::Active => self.on_trailers(id, fields, end_stream),
            Lookup::Closed(None) => {
                // §5.1.1: a client stream id must exceed all before it.
                Err(Error::Connection(Reason::PROTOCOL_ERROR))
            }
            Lookup::Closed(cause) => closed_stream_error(id, cause),
            Lookup::Idle => self.open_stream(id, fields, end_stream, priority),
        }
    }

    fn on_trailers(
        &mut self,
        id: StreamId,
        fields: FieldCollector,
        end_stream: bool,
    ) -> Result<(), Error> {
        let Some(s) = self.streams.get_mut(&id) else {
            return Ok(());
        };
        // §5.1 half-closed (remote): STREAM_CLOSED stream error.
        if !s.state.can_recv() {
            return Err(Error::Stream(id, Reason::STREAM_CLOSED));
        }
        // §8.1: a second field block is trailers and must end the stream.
        if !end_stream {
            return Err(Error::Stream(id, Reason::PROTOCOL_ERROR));
        }
        let trailers = fields
            .finish_trailers()
            .map_err(|_| Error::Stream(id, Reason::PROTOCOL_ERROR))?;
        // §8.1.1: content-length must match the DATA received.
        if s.content_length.is_some_and(|cl| cl != s.received) {
            return Err(Error::Stream(id, Reason::PROTOCOL_ERROR));
        }
        s.state.recv_close().map_err(|r| Error::Stream(id, r))?;
        self.events.push_back(Event::Trailers { id, trailers });
        self.remove_if_closed(id);
        Ok(())
    }

    fn open_stream(
        &mut self,
        id: StreamId,
        fields: FieldCollector,
        end_stream: bool,
        priority: Option<PrioritySpec>,
    ) -> Result<(), Error> {
        // §5.1.1: clients open odd-numbered streams.
        if id & 1 == 0 {
            return Err(Error::Connection(Reason::PROTOCOL_ERROR));
        }
        self.last_peer_id = id;
        // §6.8: after our GOAWAY, newer streams are ignored.
        if self.goaway_sent.is_some() {
            self.remember_closed(id, Cause::ResetByUs);
            return Ok(());
        }
        // §5.3.1: a stream cannot depend on itself.
        if priority.is_some_and(|p| p.dependency == id) {
            return Err(Error::Stream(id, Reason::PROTOCOL_ERROR));
        }
        // §5.1.2: beyond our SETTINGS_MAX_CONCURRENT_STREAMS: refuse.
        if self.active >= self.local.max_concurrent_streams {
            return Err(Error::Stream(id, Reason::REFUSED_STREAM));
        }
        let too_large = match fields.finish_request() {
            Ok(head) => {
                // §8.1.1: END_STREAM with a nonzero content-length is
                // malformed.
                if end_stream && head.content_length.is_some_and(|n| n > 0) {
                    return Err(Error::Stream(id, Reason::PROTOCOL_ERROR));
                }
                let mut s = self.new_stream();
                s.content_length = head.content_length;
                s.delivered = true;
                let _ = s.state.recv_open(end_stream);
                self.streams.insert(id, s);
                self.active += 1;
                self.events.push_back(Event::Request {
                    id,
                    head: head.parts,
                    end_stream,
                });
                false
            }
            Err(Reject::Malformed(why)) => {
                tracing::debug!(stream = id, why, "h2 malformed request");
                return Err(Error::Stream(id, Reason::PROTOCOL_ERROR));
            }
            Err(Reject::TooLarge) => true,
        };
        if too_large {
            let mut s = self.new_stream();
            let _ = s.state.recv_open(end_stream);
            self.streams.insert(id, s);
            self.active += 1;
            self.events.push_back(Event::HeadersTooLarge { id });
        }
        Ok(())
    }

    fn on_rst_stream(&mut self, r: RstStream, now: Instant) -> Result<(), Error> {
        let id = r.stream_id;
        match self.lookup(id) {
            // §6.4: RST_STREAM on an idle stream: PROTOCOL_ERROR.
            Lookup::Idle => Err(Error::Connection(Reason::PROTOCOL_ERROR)),
            // Late resets of closed streams are ignored (§5.1).
            Lookup::Closed(_) => Ok(()),
            Lookup::Active => {
                let delivered = self.streams.get(&id).is_some_and(|s| s.delivered);
                if let Some(s) = self.streams.get_mut(&id) {
                    s.state.recv_reset();
                }
                self.remove_stream(id, Cause::ResetByPeer);
                if delivered {
                    self.events.push_back(Event::Reset {
                        id,
                        reason: r.reason,
                    });
                }
                // Rapid-reset guard (CVE-2023-44487).
                if self.note_reset(now) {
                    return Err(Error::Connection(Reason::ENHANCE_YOUR_CALM));
                }
                Ok(())
            }
        }
    }

    fn on_settings(&mut self, s: Settings) -> Result<(), Error> {
        if s.ack {
            // §6.5.3: our settings are now in force.
            self.local.unacked = self.local.unacked.saturating_sub(1);
            return Ok(());
        }
        let applied = self.peer.apply(&s);
        if applied.window_delta != 0 {
            // §6.9.2: the change applies to every stream's send window; one
            // pushed above 2^31-1 is a connection FLOW_CONTROL_ERROR.
            for st in self.streams.values_mut() {
                st.send_window
                    .adjust(applied.window_delta)
                    .map_err(Error::Connection)?;
            }
        }
        if let Some(size) = applied.header_table_size {
            // Our encoder never uses more than the default table, whatever
            // the peer allows.
            self.encoder.set_max_table_size(size.min(4096) as usize);
        }
        // §6.5.3: acknowledge once applied.
        Settings::ack().encode(&mut self.out);
        self.flush_queued();
        Ok(())
    }

    fn on_window_update(&mut self, w: WindowUpdate) -> Result<(), Error> {
        let id = w.stream_id;
        if id == 0 {
            // §6.9: increment 0 on the connection: PROTOCOL_ERROR.
            if w.increment == 0 {
                return Err(Error::Connection(Reason::PROTOCOL_ERROR));
            }
            // §6.9.1: overflow: connection FLOW_CONTROL_ERROR.
            self.send_flow
                .increase(w.increment)
                .map_err(Error::Connection)?;
            self.flush_queued();
            return Ok(());
        }
        match self.lookup(id) {
            Lookup::Idle => Err(Error::Connection(Reason::PROTOCOL_ERROR)),
            // §6.9: WINDOW_UPDATE may follow END_STREAM or RST_STREAM.
            Lookup::Closed(_) => Ok(()),
            Lookup::Active => {
                // §6.9: increment 0 on a stream: stream PROTOCOL_ERROR.
                if w.increment == 0 {
                    return Err(Error::Stream(id, Reason::PROTOCOL_ERROR));
                }
                if let Some(s) = self.streams.get_mut(&id) {
                    // §6.9.1: overflow: stream FLOW_CONTROL_ERROR.
                    s.send_window
                        .increase(w.increment)
                        .map_err(|r| Error::Stream(id, r))?;
                }
                self.flush_queued();
                Ok(())
            }
        }
    }

    // ----- sending -----

    /// Sends RST_STREAM on `id` (a stream error, §5.4.2, or the
    /// application giving up on a response) and forgets the stream.
    pub fn reset_stream(&mut self, id: StreamId, reason: Reason) {
        if self.phase == Phase::Closed {
            return;
        }
        RstStream::new(id, reason).encode(&mut self.out);
        let delivered = self.streams.get(&id).is_some_and(|s| s.delivered);
        if let Some(s) = self.streams.get_mut(&id) {
            s.state.send_reset();
        }
        if self.streams.contains_key(&id) || id <= self.last_peer_id {
            self.remove_stream(id, Cause::ResetByUs);
        }
        if delivered {
            self.events.push_back(Event::Reset { id, reason });
        }
    }

    /// Sends the response head of stream `id`. `content_length` is the body
    /// length when known (sent as `content-length` unless set);
    /// `end_stream` when there is no body. `date` is the IMF-fixdate to
    /// send unless the application set `date`. Ignored if the stream is
    /// gone (reset meanwhile).
    pub fn send_response(
        &mut self,
        id: StreamId,
        status: StatusCode,
        headers: &HeaderMap,
        content_length: Option<u64>,
        end_stream: bool,
        date: &[u8],
    ) {
        if self.phase == Phase::Closed {
            return;
        }
        match self.streams.get(&id) {
            Some(s) if s.sending == Sending::Head && s.state.can_send() => {}
            _ => return,
        }
        let mut block = std::mem::take(&mut self.scratch);
        block.clear();
        encode_response(
            &mut self.encoder,
            status,
            headers,
            content_length,
            date,
            &mut block,
        );
        frame::encode_block(
            id,
            &block,
            end_stream,
            self.peer.max_frame_size as usize,
            &mut self.out,
        );
        self.scratch = block;
        if let Some(s) = self.streams.get_mut(&id) {
            if end_stream {
                s.sending = Sending::Done;
                s.state.send_close();
            } else {
                s.sending = Sending::Body;
            }
        }
        if end_stream {
            self.response_complete(id);
        }
    }

    /// Our END_STREAM went out. If the peer is still sending its request,
    /// nothing will read the rest: §8.1 lets us ask it to stop without error
    /// (RST_STREAM NO_ERROR after the complete response).
    fn response_complete(&mut self, id: StreamId) {
        if self
            .streams
            .get(&id)
            .is_some_and(|s| s.state == State::HalfClosedLocal)
        {
            RstStream::new(id, Reason::NO_ERROR).encode(&mut self.out);
            if let Some(s) = self.streams.get_mut(&id) {
                s.state.send_reset();
            }
            self.remove_stream(id, Cause::ResetByUs);
            return;
        }
        self.remove_if_closed(id);
    }

    /// Sends an interim (1xx) response head on stream `id`, e.g. `100
    /// Continue` for a request that expects it (RFC 9110 §10.1.1); the
    /// final response follows with [`Connection::send_response`].
    pub fn send_informational(&mut self, id: StreamId, status: StatusCode) {
        if self.phase == Phase::Closed || !status.is_informational() {
            return;
        }
        match self.streams.get(&id) {
            Some(s) if s.sending == Sending::Head && s.state.can_send() => {}
            _ => return,
        }
        let mut block = std::mem::take(&mut self.scratch);
        block.clear();
        // §8.1: an interim response is a HEADERS frame without END_STREAM,
        // carrying :status only here.
        self.encoder.encode(
            [(&b":status"[..], status.as_str().as_bytes(), false)],
            &mut block,
        );
        frame::encode_block(
            id,
            &block,
            false,
            self.peer.max_frame_size as usize,
            &mut self.out,
        );
        self.scratch = block;
    }

    /// Queues response body bytes of stream `id` (and END_STREAM after
    /// them when `end_stream`). They leave as DATA frames as flow control
    /// allows. Ignored if the stream is gone.
    pub fn send_data(&mut self, id: StreamId, data: Bytes, end_stream: bool) {
        let Some(s) = self.streams.get_mut(&id) else {
            return;
        };
        if s.sending != Sending::Body {
            return;
        }
        let was_idle = s.queue.is_empty();
        if !data.is_empty() {
            s.queued += data.len();
            s.queue.push_back(data);
        }
        if end_stream {
            s.sending = Sending::Ending;
        }
        if was_idle && (!s.queue.is_empty() || end_stream) {
            self.sendable.push_back(id);
        }
        self.flush_queued();
    }

    /// True when stream `id` can take more body bytes now (its send buffer
    /// is below `Limits::h2_stream_send_buffer`). When false, the stream is
    /// listed by [`Connection::take_writable`] once it has room again.
    pub fn has_room(&mut self, id: StreamId) -> bool {
        let limit = self.cfg.stream_send_buffer;
        match self.streams.get_mut(&id) {
            Some(s) if s.queued < limit => true,
            Some(s) => {
                s.wants_room = true;
                false
            }
            None => false,
        }
    }

    /// True while stream `id` exists and still expects response bytes.
    pub fn is_sending(&self, id: StreamId) -> bool {
        self.streams
            .get(&id)
            .is_some_and(|s| matches!(s.sending, Sending::Head | Sending::Body))
    }

    /// The application consumed `n` bytes of stream `id`'s request body:
    /// opens the stream and connection windows (WINDOW_UPDATE, batched).
    pub fn release(&mut self, id: StreamId, n: usize) {
        if self.phase == Phase::Closed {
            return;
        }
        let Some(s) = self.streams.get_mut(&id) else {
            // The stream is gone: its credit was returned on removal.
            return;
        };
        let n = (n as u64).min(s.unreleased);
        s.unreleased -= n;
        if n > 0 && s.state.can_recv() {
            if let Some(inc) = s.recv_window.release(n as u32) {
                WindowUpdate::new(id, inc).encode(&mut self.out);
            }
        }
        self.release_connection(n);
    }

    /// Sends GOAWAY (graceful: NO_ERROR) naming the last stream we took:
    /// streams up to it finish, newer ones are ignored (§6.8).
    pub fn go_away(&mut self, reason: Reason) {
        if self.phase == Phase::Closed || self.goaway_sent.is_some() {
            return;
        }
        GoAway::new(self.last_peer_id, reason).encode(&mut self.out);
        self.goaway_sent = Some(self.last_peer_id);
    }

    /// Begins a graceful shutdown in two phases (§6.8): a GOAWAY with the
    /// largest stream id and a PING; when the PING is acknowledged, the
    /// final GOAWAY names the last stream taken (see
    /// [`Connection::go_away`], which the driver also calls after a grace
    /// period if the acknowledgement does not come). Streams opened
    /// meanwhile are still served.
    pub fn start_shutdown(&mut self) {
        if self.phase == Phase::Closed || self.goaway_sent.is_some() || self.draining {
            return;
        }
        GoAway::new(MAX_WINDOW, Reason::NO_ERROR).encode(&mut self.out);
        Ping {
            ack: false,
            payload: DRAIN_PING,
        }
        .encode(&mut self.out);
        self.draining = true;
    }

    /// Moves more queued DATA into the output (call after writing it out).
    pub fn refill(&mut self) {
        self.flush_queued();
    }

    /// Moves queued DATA into the output as far as windows allow, one
    /// frame per stream per round (round-robin), up to a high-water mark.
    fn flush_queued(&mut self) {
        if self.phase == Phase::Closed {
            return;
        }
        let max_frame = self.peer.max_frame_size as usize;
        loop {
            let mut progressed = false;
            for _ in 0..self.sendable.len() {
                if self.output_len() >= OUTPUT_HIGH_WATER {
                    return;
                }
                let Some(id) = self.sendable.pop_front() else {
                    break;
                };
                let conn_avail = self.send_flow.available();
                let Some(s) = self.streams.get_mut(&id) else {
                    continue;
                };
                let n = s
                    .send_window
                    .available()
                    .min(conn_avail)
                    .min(max_frame)
                    .min(s.queue.front().map_or(0, |b| b.len()));
                let chunk = if n > 0 {
                    let Some(front) = s.queue.front_mut() else {
                        continue;
                    };
                    let c = if n == front.len() {
                        s.queue.pop_front().unwrap_or_default()
                    } else {
                        front.split_to(n)
                    };
                    s.queued -= c.len();
                    s.send_window.consume(n);
                    self.send_flow.consume(n);
                    self.data_sent += n as u64;
                    Some(c)
                } else {
                    None
                };
                let ending = s.queue.is_empty() && s.sending == Sending::Ending;
                if chunk.is_none() && !ending {
                    // Blocked on flow control: stays scheduled.
                    self.sendable.push_back(id);
                    continue;
                }
                progressed = true;
                let chunk = chunk.unwrap_or_default();
                if chunk.len() >= ZERO_COPY_MIN {
                    let flags = if ending { frame::head::END_STREAM } else { 0 };
                    frame::Head::new(frame::Kind::Data, flags, id)
                        .encode(chunk.len(), &mut self.out);
                    let head = self.out.split().freeze();
                    self.segments_len += head.len() + chunk.len();
                    self.segments.push_back(head);
                    self.segments.push_back(chunk);
                } else {
                    Data::new(id, chunk, ending).encode(&mut self.out);
                }
                if s.wants_room && s.queued < self.cfg.stream_send_buffer {
                    s.wants_room = false;
                    self.writable.push(id);
                }
                if ending {
                    s.sending = Sending::Done;
                    s.state.send_close();
                    self.response_complete(id);
                } else if !s.queue.is_empty() {
                    self.sendable.push_back(id);
                }
            }
            if !progressed {
                return;
            }
        }
    }
}

/// §5.1 closed: frames after RST_STREAM *we* sent are ignored; after the
/// peer's RST_STREAM they are a stream error STREAM_CLOSED; after
/// END_STREAM both ways (or too old to remember) a connection error
/// STREAM_CLOSED.
fn closed_stream_error(id: StreamId, cause: Option<Cause>) -> Result<(), Error> {
    match cause {
        Some(Cause::ResetByUs) => Ok(()),
        Some(Cause::ResetByPeer) => Err(Error::Stream(id, Reason::STREAM_CLOSED)),
        Some(Cause::EndStream) | None => Err(Error::Connection(Reason::STREAM_CLOSED)),
    }
}

#[cfg(test)]
mod tests;
