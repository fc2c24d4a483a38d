//! Receiving: the client preface (RFC 9113 §3.4), frames in, stream
//! states and id rules (§5.1, §5.1.1, §5.1.2), CONTINUATION sequencing
//! (§6.10), SETTINGS (§6.5), PING (§6.7), WINDOW_UPDATE (§6.9), the
//! request side of flow control (§5.2) and request heads (§8, via
//! `fields`); the budgets that bound what a peer can make us do or hold
//! with frames the RFC allows: CONTINUATION frames per field block and
//! block bytes, frames that carry nothing (CVE-2019-9518), small DATA
//! frames held unread (RUSTSEC-2026-0258); and the rest of a request
//! answered early, checked and discarded (§8.1).

use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};

use super::super::fields::{FieldCollector, Reject};
use super::super::frame::{
    self, Continuation, Data, Frame, Headers, Ping, PrioritySpec, RstStream, Settings, WindowUpdate,
};
use super::super::hpack::DecoderError;
use super::super::stream::Cause;
use super::super::{Error, Reason, StreamId, PREFACE};
use super::{count_goaway, count_reset, Connection, Event, Lifecycle, Lookup, DRAIN_PING};

/// Request body chunks with less data than this are small: while unread,
/// each is charged the difference against `Config::small_data_budget` (the
/// bookkeeping of a chunk costs about as much whatever its length), and a
/// DATA frame this small is appended to its stream's chunk still waiting
/// for the driver, if any.
const SMALL_DATA_FRAME: u64 = 256;
/// A waiting chunk takes appended small payloads until it is this long.
const COALESCE_MAX: usize = 16 * 1024;
/// How far back among the waiting events a stream's chunk is looked for
/// (bounds the work per frame when many streams interleave).
const COALESCE_LOOKBACK: usize = 8;

/// The stream an event is about.
fn event_stream(e: &Event) -> Option<StreamId> {
    match e {
        Event::Request { id, .. }
        | Event::HeadersTooLarge { id }
        | Event::Refused { id, .. }
        | Event::Data { id, .. }
        | Event::Trailers { id, .. }
        | Event::Reset { id, .. } => Some(*id),
        Event::GoAway { .. } => None,
    }
}

/// What the next octets from the peer must be (RFC 9113 §3.4, §6.10),
/// whatever the connection's [`Lifecycle`] (an upgraded connection may
/// begin draining before the client preface arrives).
///
/// ```text
///   Preface(n) ── 24 octets ──► FirstSettings ── SETTINGS ──► Frames
///                                                              │   ▲
///                               HEADERS without END_HEADERS    │   │ CONTINUATION with
///                                                              ▼   │ END_HEADERS
///                                                           HeaderBlock
/// ```
pub(super) enum Reading {
    /// The client preface: `n` octets of it matched so far.
    Preface(usize),
    /// The preface arrived; its SETTINGS frame must come next (§3.4).
    FirstSettings,
    /// Any frame.
    Frames,
    /// Only CONTINUATION frames of this field block (§6.10). Boxed: a
    /// block split over frames is rare, and every connection carries this
    /// enum.
    HeaderBlock(Box<PendingBlock>),
}

/// A field block being reassembled from HEADERS + CONTINUATION (§6.10).
pub(super) struct PendingBlock {
    stream_id: StreamId,
    block: BytesMut,
    end_stream: bool,
    priority: Option<PrioritySpec>,
    /// CONTINUATION frames so far, empty ones included.
    continuations: u32,
    /// When its HEADERS arrived (`Config::header_block_timeout`).
    since: Instant,
}

impl PendingBlock {
    /// When its HEADERS arrived.
    pub(super) fn since(&self) -> Instant {
        self.since
    }
}

impl Connection {
    /// Feeds received bytes: whole frames are consumed from `src`, a
    /// partial one is left for the next call. `now` is when they arrived
    /// (it dates resets for the rapid-reset guard and the timers). `Err` is
    /// a connection error: GOAWAY is queued and the connection must be
    /// closed once the output is written.
    pub fn recv(&mut self, src: &mut BytesMut, now: Instant) -> Result<(), Error> {
        let r = self.recv_frames(src, now);
        self.observe(now);
        r
    }

    fn recv_frames(&mut self, src: &mut BytesMut, now: Instant) -> Result<(), Error> {
        loop {
            if self.lifecycle == Lifecycle::Closed {
                src.clear();
                return Ok(());
            }
            if let Reading::Preface(matched) = self.reading {
                // §3.4: the client preface, byte for byte.
                let want = &PREFACE[matched..];
                let n = want.len().min(src.len());
                if src[..n] != want[..n] {
                    return Err(self.connection_error(Reason::PROTOCOL_ERROR));
                }
                src.advance(n);
                if n < want.len() {
                    self.reading = Reading::Preface(matched + n);
                    return Ok(());
                }
                self.reading = Reading::FirstSettings;
            }
            let frame = match frame::decode(src, self.local.recv_max_frame_size()) {
                Ok(None) => return Ok(()),
                Ok(Some(f)) => f,
                Err(e) => {
                    self.handle_error(e, now)?;
                    continue;
                }
            };
            if let Reading::FirstSettings = self.reading {
                // §3.4: the client preface ends with a SETTINGS frame.
                if !matches!(&frame, Frame::Settings(s) if !s.ack) {
                    return Err(self.connection_error(Reason::PROTOCOL_ERROR));
                }
                self.reading = Reading::Frames;
            }
            if let Err(e) = self.on_frame(frame, now) {
                self.handle_error(e, now)?;
            }
        }
    }

    pub(super) fn handle_error(&mut self, e: Error, now: Instant) -> Result<(), Error> {
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

    pub(super) fn on_frame(&mut self, frame: Frame, now: Instant) -> Result<(), Error> {
        // §6.10: between a HEADERS without END_HEADERS and its last
        // CONTINUATION, any other frame is a connection error.
        if let Reading::HeaderBlock(p) = &self.reading {
            match &frame {
                Frame::Continuation(c) if c.stream_id == p.stream_id => {}
                _ => return Err(Error::Connection(Reason::PROTOCOL_ERROR)),
            }
        }
        match frame {
            Frame::Data(d) => self.on_data(d),
            Frame::Headers(h) => self.on_headers(h, now),
            Frame::Continuation(c) => self.on_continuation(c, now),
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
                    .encode(&mut self.out.buf);
                } else if p.payload == DRAIN_PING
                    && matches!(self.lifecycle, Lifecycle::Draining { .. })
                {
                    // Every stream the peer opened before it saw our first
                    // GOAWAY has arrived: name the last one.
                    self.go_away(Reason::NO_ERROR);
                }
                Ok(())
            }
            Frame::GoAway(g) => {
                count_goaway(false, g.reason);
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

    /// A frame that carries nothing (CVE-2019-9518) takes one from the
    /// budget; with none left it is a connection error ENHANCE_YOUR_CALM.
    fn empty_frame(&mut self) -> Result<(), Error> {
        match self.empty_budget.checked_sub(1) {
            Some(left) => {
                self.empty_budget = left;
                Ok(())
            }
            None => {
                tracing::debug!("h2 flood of empty frames");
                Err(Error::Connection(Reason::ENHANCE_YOUR_CALM))
            }
        }
    }

    /// A frame that carries a request or request data gives one back.
    fn useful_frame(&mut self) {
        if self.empty_budget < self.cfg.max_empty_frames {
            self.empty_budget += 1;
        }
    }

    pub(super) fn on_data(&mut self, d: Data) -> Result<(), Error> {
        let id = d.stream_id;
        // A DATA frame with no data (padding or not) that does not end
        // the stream does nothing.
        if d.data.is_empty() && !d.end_stream {
            self.empty_frame()?;
        }
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

    pub(super) fn on_stream_data(&mut self, d: Data) -> Result<(), Error> {
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
        if len > 0 {
            self.useful_frame();
        }
        let Some(s) = self.streams.get_mut(&id) else {
            return Ok(());
        };
        if let Some(left) = s.discard_left {
            // Our response is complete: nobody reads the rest of this
            // request. Checked above, it is dropped here and its credit
            // returned at once (§8.1).
            let n = std::mem::take(&mut s.unreleased);
            if s.state.can_recv() {
                if let Some(inc) = s.recv_window.release(n as u32) {
                    WindowUpdate::new(id, inc).encode(&mut self.out.buf);
                }
            }
            s.discard_left = u32::try_from(len).ok().and_then(|l| left.checked_sub(l));
            let over = s.discard_left.is_none() && s.state.can_recv();
            self.release_connection(n);
            if over {
                // More than we are willing to read and drop: §8.1 lets us
                // ask the peer to stop without error.
                self.reset_stream(id, Reason::NO_ERROR);
            } else {
                self.remove_if_closed(id);
            }
            return Ok(());
        }
        if padding > 0 {
            if let Some(s) = self.streams.get_mut(&id) {
                s.unreleased -= padding.min(s.unreleased);
                if s.state.can_recv() {
                    if let Some(inc) = s.recv_window.release(padding as u32) {
                        WindowUpdate::new(id, inc).encode(&mut self.out.buf);
                    }
                }
            }
            self.release_connection(padding);
        }
        if len > 0 || d.end_stream {
            self.deliver(id, d.data, d.end_stream)?;
        }
        self.remove_if_closed(id);
        Ok(())
    }

    /// Hands request body bytes to the driver. A small payload is appended
    /// (copied) to the same stream's chunk still waiting among the last
    /// events, so that many tiny frames read in one go reach the
    /// application as one chunk. What remains small is charged while
    /// unread (RUSTSEC-2026-0258: a chunk held unread costs about as much
    /// bookkeeping whatever its length); the charge returns as it is read,
    /// and a chunk that ends the stream is exempt.
    fn deliver(&mut self, id: StreamId, data: Bytes, end_stream: bool) -> Result<(), Error> {
        let charge_of = |len: usize, end: bool| -> u64 {
            let len = len as u64;
            if end || len == 0 || len >= SMALL_DATA_FRAME {
                0
            } else {
                SMALL_DATA_FRAME - len
            }
        };
        let mut before = 0;
        let mut after = None;
        if (data.len() as u64) < SMALL_DATA_FRAME {
            let waiting = self
                .events
                .iter_mut()
                .rev()
                .take(COALESCE_LOOKBACK)
                .find(|e| event_stream(e) == Some(id));
            if let Some(Event::Data {
                data: chunk,
                end_stream: ended @ false,
                ..
            }) = waiting
            {
                if chunk.len() < COALESCE_MAX {
                    before = charge_of(chunk.len(), false);
                    let mut buf = match std::mem::take(chunk).try_into_mut() {
                        Ok(buf) => buf,
                        Err(shared) => {
                            let mut buf = BytesMut::with_capacity(shared.len() + data.len() + 64);
                            buf.extend_from_slice(&shared);
                            buf
                        }
                    };
                    buf.extend_from_slice(&data);
                    *chunk = buf.freeze();
                    *ended = end_stream;
                    after = Some(charge_of(chunk.len(), end_stream));
                }
            }
        }
        let after = match after {
            Some(c) => c,
            None => {
                let c = charge_of(data.len(), end_stream);
                self.events.push_back(Event::Data {
                    id,
                    data,
                    end_stream,
                });
                c
            }
        };
        if after == before {
            return Ok(());
        }
        if let Some(s) = self.streams.get_mut(&id) {
            let charge = (u64::from(s.charge) + after).saturating_sub(before);
            s.charge = u32::try_from(charge).unwrap_or(u32::MAX);
        }
        self.small_charge = (self.small_charge + after).saturating_sub(before);
        if self.small_charge > self.cfg.small_data_budget {
            tracing::debug!("h2 flood of small DATA frames held unread");
            return Err(Error::Connection(Reason::ENHANCE_YOUR_CALM));
        }
        Ok(())
    }

    pub(super) fn on_headers(&mut self, h: Headers, now: Instant) -> Result<(), Error> {
        // An empty fragment that ends neither the stream nor the block
        // does nothing (CVE-2019-9518).
        if h.fragment.is_empty() && !h.end_stream {
            self.empty_frame()?;
        }
        if h.fragment.len() > self.cfg.max_field_block_bytes {
            tracing::debug!("h2 field block over the limit");
            return Err(Error::Connection(Reason::ENHANCE_YOUR_CALM));
        }
        if !h.end_headers {
            self.reading = Reading::HeaderBlock(Box::new(PendingBlock {
                stream_id: h.stream_id,
                block: BytesMut::from(&h.fragment[..]),
                end_stream: h.end_stream,
                priority: h.priority,
                continuations: 0,
                since: now,
            }));
            return Ok(());
        }
        self.on_field_block(h.stream_id, &h.fragment, h.end_stream, h.priority, now)
    }

    pub(super) fn on_continuation(&mut self, c: Continuation, now: Instant) -> Result<(), Error> {
        // §6.10: a CONTINUATION not preceded by HEADERS/CONTINUATION
        // without END_HEADERS is a connection error PROTOCOL_ERROR.
        let mut p = match std::mem::replace(&mut self.reading, Reading::Frames) {
            Reading::HeaderBlock(p) => p,
            other => {
                self.reading = other;
                return Err(Error::Connection(Reason::PROTOCOL_ERROR));
            }
        };
        // CONTINUATION flood (the 2024 family; Netty's 2026 byte limit was
        // passed with empty frames): frames are counted as well as bytes,
        // empty ones too.
        p.continuations += 1;
        if p.continuations > self.cfg.max_continuation_frames {
            tracing::debug!("h2 field block over the CONTINUATION limit");
            return Err(Error::Connection(Reason::ENHANCE_YOUR_CALM));
        }
        if c.fragment.is_empty() && !c.end_headers {
            self.empty_frame()?;
        }
        if p.block.len() + c.fragment.len() > self.cfg.max_field_block_bytes {
            tracing::debug!("h2 field block over the limit");
            return Err(Error::Connection(Reason::ENHANCE_YOUR_CALM));
        }
        p.block.extend_from_slice(&c.fragment);
        if !c.end_headers {
            self.reading = Reading::HeaderBlock(p);
            return Ok(());
        }
        let block = p.block.freeze();
        self.on_field_block(p.stream_id, &block, p.end_stream, p.priority, now)
    }

    pub(super) fn on_field_block(
        &mut self,
        id: StreamId,
        block: &[u8],
        end_stream: bool,
        priority: Option<PrioritySpec>,
        now: Instant,
    ) -> Result<(), Error> {
        let lookup = self.lookup(id);
        // §4.3: every block is decoded, whatever becomes of the stream, so
        // the decoder's table stays in sync; a decoding error is a
        // connection error COMPRESSION_ERROR.
        // Built in place and lent from here on (never moved: it is a few
        // hundred bytes).
        let mut fields =
            FieldCollector::new(lookup == Lookup::Active, self.local.max_header_list_size);
        fields.limit_fields(self.cfg.max_header_fields);
        let limit = self.local.max_header_list_size as usize;
        match self
            .decoder
            .decode_vetted(block, limit, &mut self.scratch, &mut |n, v, vetted| {
                fields.field_vetted(n, v, vetted)
            }) {
            Ok(()) => {}
            // The block was still decoded into the table: only this
            // request is refused (431), the connection goes on.
            Err(DecoderError::HeaderListTooLarge) => fields.too_large(),
            Err(_) => return Err(Error::Connection(Reason::COMPRESSION_ERROR)),
        }
        match lookup {
            Lookup::Active => self.on_trailers(id, &mut fields, end_stream),
            Lookup::Closed(None) => {
                // §5.1.1: a client stream id must exceed all before it.
                Err(Error::Connection(Reason::PROTOCOL_ERROR))
            }
            Lookup::Closed(cause) => closed_stream_error(id, cause),
            Lookup::Idle => self.open_stream(id, &mut fields, end_stream, priority, now),
        }
    }

    pub(super) fn on_trailers(
        &mut self,
        id: StreamId,
        fields: &mut FieldCollector,
        end_stream: bool,
    ) -> Result<(), Error> {
        let Some(s) = self.streams.get_mut(&id) else {
            return Ok(());
        };
        // §5.1 half-closed (remote): STREAM_CLOSED stream error.
        if !s.state.can_recv() {
            return Err(Error::Stream(id, Reason::STREAM_CLOSED));
        }
        // §8.1: a second field block is trailers and must end the stream;
        // §8.5 (RFC 8441 §4): a CONNECT stream carries none.
        if !end_stream || s.connect {
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
        // A request whose response is complete is read by no one.
        if s.discard_left.is_none() {
            let trailers = Box::new(trailers);
            self.events.push_back(Event::Trailers { id, trailers });
        }
        self.remove_if_closed(id);
        Ok(())
    }

    pub(super) fn open_stream(
        &mut self,
        id: StreamId,
        fields: &mut FieldCollector,
        end_stream: bool,
        priority: Option<PrioritySpec>,
        now: Instant,
    ) -> Result<(), Error> {
        // §5.1.1: clients open odd-numbered streams.
        if id & 1 == 0 {
            return Err(Error::Connection(Reason::PROTOCOL_ERROR));
        }
        self.closed.used(self.last_peer_id, id);
        self.last_peer_id = id;
        // §6.8: after our final GOAWAY, newer streams are ignored.
        if !self.lifecycle.takes_streams() {
            self.closed.close(id, Cause::ResetByUs);
            return Ok(());
        }
        let head = fields.finish_request_with(&mut self.target);
        let refuse = if priority.is_some_and(|p| p.dependency == id) {
            // §5.3.1: a stream cannot depend on itself.
            Some(Reason::PROTOCOL_ERROR)
        } else if self.active >= self.local.max_concurrent_streams {
            // §5.1.2: beyond our SETTINGS_MAX_CONCURRENT_STREAMS: refuse.
            Some(Reason::REFUSED_STREAM)
        } else {
            match &head {
                Err(Reject::Malformed(why)) => {
                    tracing::debug!(stream = id, why, "h2 malformed request");
                    Some(Reason::PROTOCOL_ERROR)
                }
                // §8.1.1: END_STREAM with a nonzero content-length is
                // malformed.
                Ok(h) if end_stream && h.content_length.is_some_and(|n| n > 0) => {
                    Some(Reason::PROTOCOL_ERROR)
                }
                Ok(_) | Err(Reject::TooLarge) => None,
            }
        };
        if let Some(reason) = refuse {
            // The driver records it; the reset follows (§5.4.2).
            let head = head.ok().map(|h| h.parts);
            self.events.push_back(Event::Refused { id, reason, head });
            return Err(Error::Stream(id, reason));
        }
        let mut s = self.new_stream();
        crate::observability::h2_stream_opened();
        let _ = s.state.recv_open(end_stream);
        let event = match head {
            Ok(mut head) => {
                s.content_length = head.content_length;
                if head.parts.method == http::Method::CONNECT {
                    s.connect = true;
                    extended_connect(&mut head);
                }
                Event::Request {
                    id,
                    head: head.parts,
                    fields: head.fields,
                    content_length: head.content_length,
                    end_stream,
                }
            }
            // Answered 431 by the driver.
            Err(_) => Event::HeadersTooLarge { id },
        };
        self.events.push_back(event);
        self.streams.insert(id, s);
        self.active += 1;
        self.useful_frame();
        // `Limits::max_requests_per_connection`: this one is served, then
        // the connection ends gracefully (§6.8).
        self.opened += 1;
        if self.opened >= self.cfg.max_requests {
            self.start_shutdown(now);
        }
        Ok(())
    }

    pub(super) fn on_rst_stream(&mut self, r: RstStream, now: Instant) -> Result<(), Error> {
        let id = r.stream_id;
        count_reset(false, r.reason);
        match self.lookup(id) {
            // §6.4: RST_STREAM on an idle stream: PROTOCOL_ERROR.
            Lookup::Idle => Err(Error::Connection(Reason::PROTOCOL_ERROR)),
            // Late resets of closed streams are ignored (§5.1).
            Lookup::Closed(_) => Ok(()),
            Lookup::Active => {
                // A stream whose response is complete cost what it cost:
                // cancelling the rest of its upload is not a rapid reset.
                let mut counts = true;
                if let Some(s) = self.streams.get_mut(&id) {
                    counts = s.discard_left.is_none();
                    s.state.recv_reset();
                }
                self.remove_stream(id, Cause::ResetByPeer);
                self.events.push_back(Event::Reset {
                    id,
                    reason: r.reason,
                });
                // Rapid-reset guard (CVE-2023-44487).
                if counts && self.note_reset(now) {
                    return Err(Error::Connection(Reason::ENHANCE_YOUR_CALM));
                }
                Ok(())
            }
        }
    }

    pub(super) fn on_settings(&mut self, s: Settings) -> Result<(), Error> {
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
        Settings::ack().encode(&mut self.out.buf);
        self.flush_queued();
        Ok(())
    }

    pub(super) fn on_window_update(&mut self, w: WindowUpdate) -> Result<(), Error> {
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

    /// The application consumed `n` bytes of stream `id`'s request body:
    /// opens the stream and connection windows (WINDOW_UPDATE, batched).
    pub fn release(&mut self, id: StreamId, n: usize) {
        if self.lifecycle == Lifecycle::Closed {
            return;
        }
        let Some(s) = self.streams.get_mut(&id) else {
            // The stream is gone: its credit was returned on removal.
            return;
        };
        let n = (n as u64).min(s.unreleased);
        if n > 0 && s.charge > 0 {
            // The small-frame charges return with the data they came with
            // (all of them once everything is read).
            let refund = if n == s.unreleased {
                s.charge
            } else {
                // At most `s.charge`: n < unreleased.
                (u64::from(s.charge) * n / s.unreleased) as u32
            };
            s.charge -= refund;
            self.small_charge = self.small_charge.saturating_sub(u64::from(refund));
        }
        s.unreleased -= n;
        if n > 0 && s.state.can_recv() {
            if let Some(inc) = s.recv_window.release(n as u32) {
                WindowUpdate::new(id, inc).encode(&mut self.out.buf);
            }
        }
        self.release_connection(n);
    }
}

/// RFC 8441 §4: the `:protocol` of an extended CONNECT goes to the
/// exchange layer as a request extension (only on such requests).
fn extended_connect(head: &mut super::super::fields::RequestHead) {
    if let Some(p) = head.protocol.take() {
        if let Ok(v) = http::HeaderValue::from_maybe_shared(p) {
            head.parts
                .extensions
                .insert(crate::proto::http::upgrade::ConnectProtocol(v));
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
