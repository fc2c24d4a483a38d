//! The state of one stream (RFC 9113 §5.1), with transitions named after
//! the events that cause them, and the per-stream bookkeeping the
//! connection keeps (windows, send queue, content-length).
//!
//! ```text
//!                          +--------+
//!                  send PP |        | recv PP
//!                 ,--------+  idle  +--------.
//!                /         |        |         \
//!               v          +--------+          v
//!        +----------+          |           +----------+
//!        |          |          | send H /  |          |
//! ,------+ reserved |          | recv H    | reserved +------.
//! |      | (local)  |          |           | (remote) |      |
//! |      +---+------+          v           +------+---+      |
//! |          |             +--------+             |          |
//! |          |     recv ES |        | send ES     |          |
//! |   send H |     ,-------+  open  +-------.     | recv H   |
//! |          |    /        |        |        \    |          |
//! |          v   v         +---+----+         v   v          |
//! |      +----------+          |           +----------+      |
//! |      |   half-  |          |           |   half-  |      |
//! |      |  closed  |          | send R /  |  closed  |      |
//! |      | (remote) |          | recv R    | (local)  |      |
//! |      +----+-----+          |           +-----+----+      |
//! |           |                |                 |           |
//! |           | send ES /      |       recv ES / |           |
//! |           |  send R /      v        send R / |           |
//! |           |  recv R    +--------+   recv R   |           |
//! | send R /  `----------->|        |<-----------'  send R / |
//! | recv R                 | closed |               recv R   |
//! `----------------------->|        |<-----------------------'
//!                          +--------+
//! ```
//! (H: HEADERS, ES: END_STREAM, R: RST_STREAM, PP: PUSH_PROMISE.) A server
//! that never pushes does not enter the reserved states; they are kept so
//! the enum is the RFC's.

use std::collections::VecDeque;

use bytes::Bytes;

use super::flow::{RecvWindow, SendWindow};
use super::Reason;

/// Why a stream is closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cause {
    /// Both sides sent END_STREAM.
    EndStream,
    /// The peer sent RST_STREAM.
    ResetByPeer,
    /// We sent RST_STREAM.
    ResetByUs,
}

/// A stream state (RFC 9113 §5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    Idle,
    #[allow(dead_code)]
    ReservedLocal,
    #[allow(dead_code)]
    ReservedRemote,
    Open,
    HalfClosedLocal,
    HalfClosedRemote,
    Closed(Cause),
}

impl State {
    /// The peer sent HEADERS opening the stream (idle → open, or
    /// half-closed (remote) with END_STREAM).
    pub(crate) fn recv_open(&mut self, end_stream: bool) -> Result<(), Reason> {
        *self = match *self {
            State::Idle if end_stream => State::HalfClosedRemote,
            State::Idle => State::Open,
            State::ReservedRemote => State::HalfClosedLocal,
            _ => return Err(Reason::PROTOCOL_ERROR),
        };
        Ok(())
    }

    /// The peer sent END_STREAM (on DATA or trailers).
    pub(crate) fn recv_close(&mut self) -> Result<(), Reason> {
        *self = match *self {
            State::Open => State::HalfClosedRemote,
            State::HalfClosedLocal => State::Closed(Cause::EndStream),
            // §5.1: frames after END_STREAM: STREAM_CLOSED.
            _ => return Err(Reason::STREAM_CLOSED),
        };
        Ok(())
    }

    /// We sent END_STREAM.
    pub(crate) fn send_close(&mut self) {
        *self = match *self {
            State::Open => State::HalfClosedLocal,
            State::HalfClosedRemote => State::Closed(Cause::EndStream),
            s => s,
        };
    }

    /// The peer sent RST_STREAM.
    pub(crate) fn recv_reset(&mut self) {
        *self = State::Closed(Cause::ResetByPeer);
    }

    /// We sent RST_STREAM.
    pub(crate) fn send_reset(&mut self) {
        *self = State::Closed(Cause::ResetByUs);
    }

    /// True while the peer may still send DATA/trailers (open or
    /// half-closed (local)).
    pub(crate) fn can_recv(&self) -> bool {
        matches!(self, State::Open | State::HalfClosedLocal)
    }

    /// True while we may still send (open or half-closed (remote)).
    pub(crate) fn can_send(&self) -> bool {
        matches!(self, State::Open | State::HalfClosedRemote)
    }
}

/// Where the response of a stream is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sending {
    /// No response head yet.
    Head,
    /// Head sent; body frames are queued as the application produces them.
    Body,
    /// The application ended the body; END_STREAM goes out once the queue
    /// drains.
    Ending,
    /// END_STREAM or RST_STREAM sent.
    Done,
}

/// One active stream.
#[derive(Debug)]
pub(crate) struct Stream {
    pub(crate) state: State,
    pub(crate) send_window: SendWindow,
    pub(crate) recv_window: RecvWindow,
    /// Response bytes queued beyond what flow control let out.
    pub(crate) queue: VecDeque<Bytes>,
    pub(crate) queued: usize,
    pub(crate) sending: Sending,
    /// Declared request content-length (§8.1.1).
    pub(crate) content_length: Option<u64>,
    /// DATA octets received (padding excluded).
    pub(crate) received: u64,
    /// True once the request head has been handed to the application.
    pub(crate) delivered: bool,
    /// Body octets handed to the application and not yet consumed.
    pub(crate) unreleased: u64,
    /// The driver found the send buffer full and waits for room.
    pub(crate) wants_room: bool,
}

impl Stream {
    pub(crate) fn new(send_initial: u32, recv_initial: u32, recv_target: u32) -> Stream {
        Stream {
            state: State::Idle,
            send_window: SendWindow::new(send_initial),
            recv_window: RecvWindow::new(recv_initial, recv_target),
            queue: VecDeque::new(),
            queued: 0,
            sending: Sending::Head,
            content_length: None,
            received: 0,
            delivered: false,
            unreleased: 0,
            wants_room: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc9113_5_1_open_then_half_closed_then_closed() {
        let mut s = State::Idle;
        s.recv_open(false).unwrap();
        assert_eq!(s, State::Open);
        s.recv_close().unwrap();
        assert_eq!(s, State::HalfClosedRemote);
        assert!(!s.can_recv() && s.can_send());
        assert_eq!(s.recv_close(), Err(Reason::STREAM_CLOSED));
        s.send_close();
        assert_eq!(s, State::Closed(Cause::EndStream));
    }

    #[test]
    fn rfc9113_5_1_headers_with_end_stream() {
        let mut s = State::Idle;
        s.recv_open(true).unwrap();
        assert_eq!(s, State::HalfClosedRemote);
        let mut s = State::Open;
        assert_eq!(s.recv_open(false), Err(Reason::PROTOCOL_ERROR));
    }

    #[test]
    fn rfc9113_5_1_local_close_first() {
        let mut s = State::Open;
        s.send_close();
        assert_eq!(s, State::HalfClosedLocal);
        assert!(s.can_recv() && !s.can_send());
        s.recv_close().unwrap();
        assert!(matches!(s, State::Closed(_)));
    }

    #[test]
    fn resets_close() {
        let mut s = State::Open;
        s.recv_reset();
        assert_eq!(s, State::Closed(Cause::ResetByPeer));
        let mut s = State::HalfClosedRemote;
        s.send_reset();
        assert_eq!(s, State::Closed(Cause::ResetByUs));
    }
}
