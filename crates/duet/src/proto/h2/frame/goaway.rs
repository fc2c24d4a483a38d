//! GOAWAY frames (RFC 9113 §6.8).

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::head::{Head, Kind};
use crate::proto::h2::{Error, Reason, StreamId};

/// A GOAWAY frame: the sender will process no stream above
/// `last_stream_id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoAway {
    /// The highest peer-initiated stream the sender processed or may
    /// process.
    pub last_stream_id: StreamId,
    /// Why the connection ends.
    pub reason: Reason,
    /// Opaque diagnostic data.
    pub debug_data: Bytes,
}

impl GoAway {
    /// A frame to send.
    pub fn new(last_stream_id: StreamId, reason: Reason) -> GoAway {
        GoAway {
            last_stream_id,
            reason,
            debug_data: Bytes::new(),
        }
    }

    /// Parses a received GOAWAY frame.
    pub fn load(head: Head, mut payload: Bytes) -> Result<GoAway, Error> {
        // §6.8: a nonzero stream id → connection error PROTOCOL_ERROR.
        if head.stream_id != 0 {
            return Err(Error::Connection(Reason::PROTOCOL_ERROR));
        }
        // §6.8 / §4.2: at least 8 octets.
        if payload.len() < 8 {
            return Err(Error::Connection(Reason::FRAME_SIZE_ERROR));
        }
        let last_stream_id = payload.get_u32() & 0x7fff_ffff;
        let reason = Reason(payload.get_u32());
        Ok(GoAway {
            last_stream_id,
            reason,
            debug_data: payload,
        })
    }

    /// Writes the frame.
    pub fn encode(&self, dst: &mut BytesMut) {
        Head::new(Kind::GoAway, 0, 0).encode(8 + self.debug_data.len(), dst);
        dst.put_u32(self.last_stream_id & 0x7fff_ffff);
        dst.put_u32(self.reason.0);
        dst.extend_from_slice(&self.debug_data);
    }
}
