//! Sending: response heads and interim responses (§8.1), DATA scheduled
//! round-robin as flow control allows (§5.2, §6.9), RST_STREAM (§6.4) and
//! GOAWAY (§6.8).

use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};

use super::super::fields::{encode_response, encode_trailers};
use super::super::frame::{self, GoAway, Ping, RstStream, WindowUpdate};
use super::super::stream::{Cause, Sending, State};
use super::super::{Reason, StreamId, MAX_WINDOW};
use super::{count_goaway, count_reset, Connection, Event, Lifecycle, DRAIN_PING};

impl Connection {
    /// Sends RST_STREAM on `id` (a stream error, §5.4.2, or the
    /// application giving up on a response) and forgets the stream.
    pub fn reset_stream(&mut self, id: StreamId, reason: Reason) {
        if self.lifecycle == Lifecycle::Closed {
            return;
        }
        RstStream::new(id, reason).encode(&mut self.out.buf);
        count_reset(true, reason);
        let known = match self.streams.get_mut(&id) {
            Some(s) => {
                s.state.send_reset();
                true
            }
            None => false,
        };
        if known || id <= self.last_peer_id {
            self.remove_stream(id, Cause::ResetByUs);
        }
        if known {
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
        if self.lifecycle == Lifecycle::Closed {
            return;
        }
        match self.streams.get(&id) {
            Some(s) if s.state.sending() == Some(Sending::Head) => {}
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
            &mut self.out.buf,
        );
        self.scratch = block;
        if let Some(s) = self.streams.get_mut(&id) {
            if end_stream {
                s.state.send_close();
            } else {
                s.state.send_head();
            }
        }
        if end_stream {
            self.response_complete(id);
        }
    }

    /// Stream `id` answered its CONNECT with a 2xx (the response head is
    /// sent): it is a tunnel now (RFC 9113 §8.5, RFC 8441 §4), its DATA
    /// both ways the tunnel's bytes, each half ended by END_STREAM.
    /// Ignored for a stream that is not a CONNECT.
    pub fn open_tunnel(&mut self, id: StreamId) {
        if let Some(s) = self.streams.get_mut(&id).filter(|s| s.connect) {
            s.tunnel = true;
        }
    }

    /// The application reads no more of tunnel `id`: once our END_STREAM
    /// is out the peer is asked to stop sending (RST_STREAM NO_ERROR after
    /// a complete response, §8.1), as a closed TCP socket would. Ignored
    /// for a stream that is not a tunnel.
    pub fn end_tunnel_input(&mut self, id: StreamId) {
        let Some(s) = self.streams.get_mut(&id).filter(|s| s.tunnel) else {
            return;
        };
        s.tunnel = false;
        if s.state == State::HalfClosedLocal {
            RstStream::new(id, Reason::NO_ERROR).encode(&mut self.out.buf);
            count_reset(true, Reason::NO_ERROR);
            s.state.send_reset();
            self.remove_stream(id, Cause::ResetByUs);
        }
    }

    /// Our END_STREAM went out. If the peer is still sending its request
    /// (half-closed (local)), nothing will read the rest. §8.1 lets us ask
    /// it to stop without error (RST_STREAM NO_ERROR after the complete
    /// response), but then frames it sent before seeing that would go
    /// unchecked, and the answer to a bad one would depend on timing. So
    /// the stream stays half-closed (local): what arrives is checked as
    /// ever and discarded, its credit returned at once, and the stream is
    /// reset only when the rest is large (`discard_body_bytes`, declared
    /// or arriving) or slow (`discard_body_timeout`).
    pub(super) fn response_complete(&mut self, id: StreamId) {
        let discard_max = self.cfg.discard_body_bytes;
        let Some(s) = self.streams.get_mut(&id) else {
            return;
        };
        // A tunnel's END_STREAM ends our half only: the peer's half goes
        // on until its own END_STREAM (RFC 9113 §8.5, RFC 8441 §4).
        if s.tunnel || s.state != State::HalfClosedLocal {
            if let State::Closed(cause) = s.state {
                self.remove_stream(id, cause);
            }
            return;
        }
        let large = s
            .content_length
            .is_some_and(|cl| cl.saturating_sub(s.received) > discard_max);
        if large {
            RstStream::new(id, Reason::NO_ERROR).encode(&mut self.out.buf);
            count_reset(true, Reason::NO_ERROR);
            s.state.send_reset();
            self.remove_stream(id, Cause::ResetByUs);
            return;
        }
        // What the application held unread goes back now: no one will
        // read it (the driver forgets a stream whose response is out).
        let held = std::mem::take(&mut s.unreleased);
        let charge = std::mem::take(&mut s.charge);
        s.discard_left = Some(u32::try_from(discard_max).unwrap_or(u32::MAX));
        if let Some(inc) = s
            .recv_window
            .release(u32::try_from(held).unwrap_or(u32::MAX))
        {
            WindowUpdate::new(id, inc).encode(&mut self.out.buf);
        }
        self.small_charge = self.small_charge.saturating_sub(u64::from(charge));
        self.release_connection(held);
        self.timers.discards.push_back((id, None));
    }

    /// The peer closed its sending side: the requests whose rest was being
    /// discarded will never end; they are reset (NO_ERROR) so that the
    /// connection is not kept for them.
    pub fn peer_closed(&mut self) {
        let waiting: Vec<StreamId> = self.timers.discards.iter().map(|(id, _)| *id).collect();
        for id in waiting {
            self.reset_stream(id, Reason::NO_ERROR);
        }
    }

    /// Sends an interim (1xx) response head on stream `id`, e.g. `100
    /// Continue` for a request that expects it (RFC 9110 §10.1.1); the
    /// final response follows with [`Connection::send_response`].
    pub fn send_informational(&mut self, id: StreamId, status: StatusCode) {
        if self.lifecycle == Lifecycle::Closed || !status.is_informational() {
            return;
        }
        match self.streams.get(&id) {
            Some(s) if s.state.sending() == Some(Sending::Head) => {}
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
            &mut self.out.buf,
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
        if !matches!(s.state.sending(), Some(Sending::Body | Sending::Parked)) {
            return;
        }
        // The usual small body: nothing of this stream queued, no other
        // stream waiting, and room for all of it in both windows (RFC 9113
        // §6.9) and in one frame (§4.2): one DATA frame now, as the queue
        // would have sent it, without building the stream's queue.
        let n = data.len();
        if (n > 0 || end_stream)
            && s.queue.is_empty()
            && s.trailers.is_none()
            && self.sendable.is_empty()
            && self.lifecycle != Lifecycle::Closed
            && !self.out.is_full()
            && n <= s
                .send_window
                .available()
                .min(self.send_flow.available())
                .min(self.peer.max_frame_size as usize)
        {
            s.send_window.consume(n);
            self.send_flow.consume(n);
            self.data_sent += n as u64;
            self.out.data(id, data, end_stream);
            if end_stream {
                s.state.send_end();
                s.state.send_close();
                self.response_complete(id);
            } else if s.queued < self.cfg.stream_send_buffer && s.state.unpark() {
                // As the queue tells a parked producer.
                self.writable.push(id);
            }
            return;
        }
        let was_idle = s.queue.is_empty();
        if !data.is_empty() {
            s.queued += data.len();
            s.queue.push_back(data);
        }
        if end_stream {
            s.state.send_end();
        }
        if was_idle && (!s.queue.is_empty() || end_stream) {
            self.sendable.push_back(id);
        }
        self.flush_queued();
    }

    /// Ends the response of stream `id` with `trailers` (RFC 9113 §8.1: a
    /// HEADERS frame with END_STREAM after the queued DATA). Ignored if the
    /// stream is gone.
    pub fn send_trailers(&mut self, id: StreamId, trailers: HeaderMap) {
        let Some(s) = self.streams.get_mut(&id) else {
            return;
        };
        if !matches!(s.state.sending(), Some(Sending::Body | Sending::Parked)) {
            return;
        }
        s.trailers = Some(Box::new(trailers));
        self.send_data(id, Bytes::new(), true);
    }

    /// True when stream `id` can take more body bytes now (its send buffer
    /// is below `Limits::h2_stream_send_buffer`). When false, the stream is
    /// listed by [`Connection::take_writable`] once it has room again.
    pub fn has_room(&mut self, id: StreamId) -> bool {
        let limit = self.cfg.stream_send_buffer;
        match self.streams.get_mut(&id) {
            Some(s) if s.queued < limit => true,
            Some(s) => {
                s.state.park();
                false
            }
            None => false,
        }
    }

    /// True while stream `id` exists and still expects response bytes.
    pub fn is_sending(&self, id: StreamId) -> bool {
        self.streams.get(&id).is_some_and(|s| {
            matches!(
                s.state.sending(),
                Some(Sending::Head | Sending::Body | Sending::Parked)
            )
        })
    }

    /// Sends GOAWAY (graceful: NO_ERROR) naming the last stream we took:
    /// streams up to it finish, newer ones are ignored (§6.8).
    pub fn go_away(&mut self, reason: Reason) {
        if !self.lifecycle.send_final_goaway(self.last_peer_id) {
            return;
        }
        GoAway::new(self.last_peer_id, reason).encode(&mut self.out.buf);
        count_goaway(true, reason);
        if self.streams.is_empty() {
            self.lifecycle.last_stream_ended();
        }
    }

    /// Begins a graceful shutdown at `now`, in two phases (RFC 9113 §6.8):
    /// a GOAWAY with the largest stream id and a PING; when the PING is
    /// acknowledged, or `Limits::h2_shutdown_ping_timeout` after `now`,
    /// the final GOAWAY names the last stream taken (as
    /// [`Connection::go_away`]). Streams opened meanwhile are still served.
    pub fn start_shutdown(&mut self, now: Instant) {
        if !self.lifecycle.send_first_goaway(now) {
            return;
        }
        GoAway::new(MAX_WINDOW, Reason::NO_ERROR).encode(&mut self.out.buf);
        count_goaway(true, Reason::NO_ERROR);
        Ping {
            ack: false,
            payload: DRAIN_PING,
        }
        .encode(&mut self.out.buf);
    }

    /// Moves more queued DATA into the output (call after writing it out).
    pub fn refill(&mut self) {
        self.flush_queued();
    }

    /// Moves queued DATA into the output as far as windows allow, one
    /// frame per stream per round (round-robin), up to a high-water mark.
    pub(super) fn flush_queued(&mut self) {
        if self.lifecycle == Lifecycle::Closed {
            return;
        }
        let max_frame = self.peer.max_frame_size as usize;
        loop {
            let mut progressed = false;
            for _ in 0..self.sendable.len() {
                if self.out.is_full() {
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
                let ending = s.queue.is_empty() && s.state.sending() == Some(Sending::Ending);
                if chunk.is_none() && !ending {
                    // Blocked on flow control: stays scheduled.
                    self.sendable.push_back(id);
                    continue;
                }
                progressed = true;
                let trailers = if ending { s.trailers.take() } else { None };
                match &trailers {
                    // The last DATA (if any) without END_STREAM; the
                    // trailers end the stream below.
                    Some(_) => {
                        if let Some(c) = chunk.filter(|c| !c.is_empty()) {
                            self.out.data(id, c, false);
                        }
                    }
                    None => self.out.data(id, chunk.unwrap_or_default(), ending),
                }
                // A parked producer is told once the buffer has room.
                if !ending && s.queued < self.cfg.stream_send_buffer && s.state.unpark() {
                    self.writable.push(id);
                }
                if ending {
                    s.state.send_close();
                    if let Some(t) = trailers {
                        // HPACK blocks are encoded in the order they are
                        // sent, so the trailers are encoded only now.
                        let mut block = std::mem::take(&mut self.scratch);
                        block.clear();
                        encode_trailers(&mut self.encoder, &t, &mut block);
                        frame::encode_block(id, &block, true, max_frame, &mut self.out.buf);
                        self.scratch = block;
                    }
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
