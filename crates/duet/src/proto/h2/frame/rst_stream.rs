//! RST_STREAM frames (RFC 9113 §6.4).

use bytes::{BufMut, Bytes, BytesMut};

use super::head::{Head, Kind};
use crate::proto::h2::{Error, Reason, StreamId};

/// A RST_STREAM frame: ends one stream at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RstStream {
    /// The stream (never 0).
    pub stream_id: StreamId,
    /// Why.
    pub reason: Reason,
}

impl RstStream {
    /// A frame to send.
    pub fn new(stream_id: StreamId, reason: Reason) -> RstStream {
        RstStream { stream_id, reason }
    }

    /// Parses a received RST_STREAM frame.
    pub fn load(head: Head, payload: Bytes) -> Result<RstStream, Error> {
        // §6.4: stream 0 → connection error PROTOCOL_ERROR.
        if head.stream_id == 0 {
            return Err(Error::Connection(Reason::PROTOCOL_ERROR));
        }
        // §6.4: a length other than 4 → connection error FRAME_SIZE_ERROR.
        let code: [u8; 4] = payload[..]
            .try_into()
            .map_err(|_| Error::Connection(Reason::FRAME_SIZE_ERROR))?;
        Ok(RstStream {
            stream_id: head.stream_id,
            reason: Reason(u32::from_be_bytes(code)),
        })
    }

    /// Writes the frame.
    pub fn encode(&self, dst: &mut BytesMut) {
        Head::new(Kind::RstStream, 0, self.stream_id).encode(4, dst);
        dst.put_u32(self.reason.0);
    }
}
