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
//!
//! While we may still send (open, half-closed (remote)), the state carries
//! how far the response got, [`Sending`]:
//!
//! ```text
//!          send head           producer finds the buffer full
//!   Head ─────────────► Body ◄──────────────────────────────► Parked
//!     │                  │      buffer drains below its limit    │
//!     │                  │ application ends the body             │
//!     │                  ▼                                       │
//!     │               Ending ◄───────────────────────────────────┘
//!     │                  │ queue drained: END_STREAM sent
//!     │ head with ES     ▼
//!     └──────────► (send ES: half-closed (local) or closed)
//! ```

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

/// A stream state (RFC 9113 §5.1). The states in which we may send carry
/// how far the response got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    Idle,
    #[allow(dead_code)]
    ReservedLocal,
    #[allow(dead_code)]
    ReservedRemote,
    Open(Sending),
    HalfClosedLocal,
    HalfClosedRemote(Sending),
    Closed(Cause),
}

/// How far the response of a stream got, while END_STREAM is not sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sending {
    /// No response head yet.
    Head,
    /// Head sent; body bytes are queued as the application produces them.
    Body,
    /// Head sent; the send buffer was found full and the producer waits to
    /// be told it has room again.
    Parked,
    /// The application ended the body; END_STREAM goes out once the queue
    /// drains.
    Ending,
}

impl State {
    /// The peer sent HEADERS opening the stream (idle → open, or
    /// half-closed (remote) with END_STREAM).
    pub(crate) fn recv_open(&mut self, end_stream: bool) -> Result<(), Reason> {
        *self = match *self {
            State::Idle if end_stream => State::HalfClosedRemote(Sending::Head),
            State::Idle => State::Open(Sending::Head),
            State::ReservedRemote => State::HalfClosedLocal,
            _ => return Err(Reason::PROTOCOL_ERROR),
        };
        Ok(())
    }

    /// The peer sent END_STREAM (on DATA or trailers).
    pub(crate) fn recv_close(&mut self) -> Result<(), Reason> {
        *self = match *self {
            State::Open(s) => State::HalfClosedRemote(s),
            State::HalfClosedLocal => State::Closed(Cause::EndStream),
            // §5.1: frames after END_STREAM: STREAM_CLOSED.
            _ => return Err(Reason::STREAM_CLOSED),
        };
        Ok(())
    }

    /// We sent the response head without END_STREAM: the body follows.
    pub(crate) fn send_head(&mut self) {
        self.set_sending(Sending::Head, Sending::Body);
    }

    /// The send buffer is full: the producer waits for room.
    pub(crate) fn park(&mut self) {
        self.set_sending(Sending::Body, Sending::Parked);
    }

    /// The send buffer has room again; true if a producer was waiting.
    pub(crate) fn unpark(&mut self) -> bool {
        self.set_sending(Sending::Parked, Sending::Body)
    }

    /// The application ended the body: END_STREAM follows the queued bytes.
    pub(crate) fn send_end(&mut self) {
        if let State::Open(s) | State::HalfClosedRemote(s) = self {
            if let Sending::Body | Sending::Parked = s {
                *s = Sending::Ending;
            }
        }
    }

    /// `from` → `to` while we may send; true if it applied.
    fn set_sending(&mut self, from: Sending, to: Sending) -> bool {
        match self {
            State::Open(s) | State::HalfClosedRemote(s) if *s == from => {
                *s = to;
                true
            }
            _ => false,
        }
    }

    /// We sent END_STREAM.
    pub(crate) fn send_close(&mut self) {
        *self = match *self {
            State::Open(_) => State::HalfClosedLocal,
            State::HalfClosedRemote(_) => State::Closed(Cause::EndStream),
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
        matches!(self, State::Open(_) | State::HalfClosedLocal)
    }

    /// How far the response got, while we may still send (open or
    /// half-closed (remote)).
    pub(crate) fn sending(&self) -> Option<Sending> {
        match self {
            State::Open(s) | State::HalfClosedRemote(s) => Some(*s),
            _ => None,
        }
    }
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
    /// Declared request content-length (§8.1.1).
    pub(crate) content_length: Option<u64>,
    /// DATA octets received (padding excluded).
    pub(crate) received: u64,
    /// Body octets handed to the application and not yet consumed.
    pub(crate) unreleased: u64,
    /// Trailers that end the response once its queue drains (§8.1).
    pub(crate) trailers: Option<Box<http::HeaderMap>>,
    /// Charges of the small DATA chunks among `unreleased` (the
    /// connection's small-data budget, which is below 2^32).
    pub(crate) charge: u32,
    /// Our response is complete and the rest of the request is being
    /// discarded (half-closed (local)): the octets it may still bring.
    pub(crate) discard_left: Option<u32>,
    /// The request is a CONNECT (RFC 9113 §8.5, RFC 8441 §4): its stream
    /// carries DATA only, no trailers.
    pub(crate) connect: bool,
    /// A 2xx to the CONNECT made the stream a tunnel: each side ends its
    /// half with END_STREAM, as TCP with FIN.
    pub(crate) tunnel: bool,
}

impl Stream {
    pub(crate) fn new(send_initial: u32, recv_initial: u32, recv_target: u32) -> Stream {
        Stream {
            state: State::Idle,
            send_window: SendWindow::new(send_initial),
            recv_window: RecvWindow::new(recv_initial, recv_target),
            queue: VecDeque::new(),
            queued: 0,
            content_length: None,
            received: 0,
            unreleased: 0,
            trailers: None,
            charge: 0,
            discard_left: None,
            connect: false,
            tunnel: false,
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
        assert_eq!(s, State::Open(Sending::Head));
        s.recv_close().unwrap();
        assert_eq!(s, State::HalfClosedRemote(Sending::Head));
        assert!(!s.can_recv() && s.sending().is_some());
        assert_eq!(s.recv_close(), Err(Reason::STREAM_CLOSED));
        s.send_close();
        assert_eq!(s, State::Closed(Cause::EndStream));
    }

    #[test]
    fn rfc9113_5_1_headers_with_end_stream() {
        let mut s = State::Idle;
        s.recv_open(true).unwrap();
        assert_eq!(s, State::HalfClosedRemote(Sending::Head));
        let mut s = State::Open(Sending::Head);
        assert_eq!(s.recv_open(false), Err(Reason::PROTOCOL_ERROR));
    }

    #[test]
    fn rfc9113_5_1_local_close_first() {
        let mut s = State::Open(Sending::Head);
        s.send_close();
        assert_eq!(s, State::HalfClosedLocal);
        assert!(s.can_recv() && s.sending().is_none());
        s.recv_close().unwrap();
        assert!(matches!(s, State::Closed(_)));
    }

    #[test]
    fn resets_close() {
        let mut s = State::Open(Sending::Body);
        s.recv_reset();
        assert_eq!(s, State::Closed(Cause::ResetByPeer));
        let mut s = State::HalfClosedRemote(Sending::Ending);
        s.send_reset();
        assert_eq!(s, State::Closed(Cause::ResetByUs));
    }

    #[test]
    fn response_progress_rides_on_the_send_states() {
        let mut s = State::Idle;
        s.recv_open(false).unwrap();
        s.send_head();
        assert_eq!(s.sending(), Some(Sending::Body));
        s.park();
        assert_eq!(s.sending(), Some(Sending::Parked));
        // The request ends meanwhile: the response keeps its progress.
        s.recv_close().unwrap();
        assert_eq!(s, State::HalfClosedRemote(Sending::Parked));
        assert!(s.unpark());
        assert!(!s.unpark(), "only a parked producer is told");
        s.send_end();
        assert_eq!(s.sending(), Some(Sending::Ending));
        s.send_close();
        assert_eq!(s, State::Closed(Cause::EndStream));
        assert_eq!(s.sending(), None);
    }

    #[test]
    fn a_parked_body_can_be_ended() {
        let mut s = State::Open(Sending::Body);
        s.park();
        s.send_end();
        assert_eq!(s, State::Open(Sending::Ending));
    }
}
