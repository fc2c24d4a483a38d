//! HTTP/2 (RFC 9113), sans-I/O.
//!
//! - [`frame`]: the frame layer (RFC 9113 §4, §6), one file per frame type.
//! - [`hpack`]: header compression (RFC 7541).
//! - [`Connection`]: the connection core — preface, SETTINGS, stream states
//!   (§5.1), flow control (§5.2, §6.9), GOAWAY, request semantics (§8), and
//!   its timers. It takes received bytes and the time, and hands back events,
//!   bytes to send and its next deadline; the tokio driver lives in
//!   `server::h2`.

use std::fmt;

mod conn;
mod fields;
mod flow;
pub mod frame;
pub mod hpack;
mod idmap;
mod settings;
mod stream;

pub use conn::{Config, Connection, Event};
pub use fields::FieldList;
pub(crate) use idmap::{id_map, shed_map, IdMap};

/// An HTTP/2 stream identifier (31 bits; the reserved bit is masked off on
/// receipt, RFC 9113 §4.1).
pub type StreamId = u32;

/// The largest stream id, window size and flow-control increment (2^31-1).
pub const MAX_WINDOW: u32 = (1 << 31) - 1;

/// The client connection preface (RFC 9113 §3.4).
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// An HTTP/2 error code (RFC 9113 §7).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Reason(pub u32);

impl Reason {
    /// Graceful shutdown; not an error.
    pub const NO_ERROR: Reason = Reason(0x0);
    /// The peer violated the protocol.
    pub const PROTOCOL_ERROR: Reason = Reason(0x1);
    /// An unexpected internal error.
    pub const INTERNAL_ERROR: Reason = Reason(0x2);
    /// The peer violated flow control.
    pub const FLOW_CONTROL_ERROR: Reason = Reason(0x3);
    /// A SETTINGS frame was not acknowledged in time.
    pub const SETTINGS_TIMEOUT: Reason = Reason(0x4);
    /// A frame arrived on a half-closed or closed stream.
    pub const STREAM_CLOSED: Reason = Reason(0x5);
    /// A frame had an invalid size.
    pub const FRAME_SIZE_ERROR: Reason = Reason(0x6);
    /// The stream was refused before any processing.
    pub const REFUSED_STREAM: Reason = Reason(0x7);
    /// The stream is no longer needed.
    pub const CANCEL: Reason = Reason(0x8);
    /// The header compression context could not be maintained.
    pub const COMPRESSION_ERROR: Reason = Reason(0x9);
    /// A CONNECT tunnel failed.
    pub const CONNECT_ERROR: Reason = Reason(0xa);
    /// The peer is generating excessive load.
    pub const ENHANCE_YOUR_CALM: Reason = Reason(0xb);
    /// The transport does not meet minimum security requirements.
    pub const INADEQUATE_SECURITY: Reason = Reason(0xc);
    /// HTTP/1.1 must be used instead.
    pub const HTTP_1_1_REQUIRED: Reason = Reason(0xd);

    /// The RFC name of the code, if it is a known one.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Reason::NO_ERROR => "NO_ERROR",
            Reason::PROTOCOL_ERROR => "PROTOCOL_ERROR",
            Reason::INTERNAL_ERROR => "INTERNAL_ERROR",
            Reason::FLOW_CONTROL_ERROR => "FLOW_CONTROL_ERROR",
            Reason::SETTINGS_TIMEOUT => "SETTINGS_TIMEOUT",
            Reason::STREAM_CLOSED => "STREAM_CLOSED",
            Reason::FRAME_SIZE_ERROR => "FRAME_SIZE_ERROR",
            Reason::REFUSED_STREAM => "REFUSED_STREAM",
            Reason::CANCEL => "CANCEL",
            Reason::COMPRESSION_ERROR => "COMPRESSION_ERROR",
            Reason::CONNECT_ERROR => "CONNECT_ERROR",
            Reason::ENHANCE_YOUR_CALM => "ENHANCE_YOUR_CALM",
            Reason::INADEQUATE_SECURITY => "INADEQUATE_SECURITY",
            Reason::HTTP_1_1_REQUIRED => "HTTP_1_1_REQUIRED",
            _ => return None,
        })
    }
}

impl fmt::Debug for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "Reason({:#x})", self.0),
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// An HTTP/2 protocol error: it ends either the whole connection (GOAWAY,
/// RFC 9113 §5.4.1) or one stream (RST_STREAM, §5.4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// A connection error: send GOAWAY with this code and close.
    Connection(Reason),
    /// A stream error: send RST_STREAM with this code on this stream.
    Stream(StreamId, Reason),
}

impl Error {
    /// The error code.
    pub fn reason(self) -> Reason {
        match self {
            Error::Connection(r) | Error::Stream(_, r) => r,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Connection(r) => write!(f, "HTTP/2 connection error {r}"),
            Error::Stream(id, r) => write!(f, "HTTP/2 stream error {r} on stream {id}"),
        }
    }
}

impl std::error::Error for Error {}
