//! PING frames (RFC 9113 §6.7).

use bytes::{Bytes, BytesMut};

use super::head::{Head, Kind, ACK};
use crate::proto::h2::{Error, Reason};

/// A PING frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ping {
    /// ACK: this is the answer to a PING.
    pub ack: bool,
    /// Opaque data, echoed in the answer.
    pub payload: [u8; 8],
}

impl Ping {
    /// Parses a received PING frame.
    pub fn load(head: Head, payload: Bytes) -> Result<Ping, Error> {
        // §6.7: a nonzero stream id → connection error PROTOCOL_ERROR.
        if head.stream_id != 0 {
            return Err(Error::Connection(Reason::PROTOCOL_ERROR));
        }
        // §6.7: a length other than 8 → connection error FRAME_SIZE_ERROR.
        let payload: [u8; 8] = payload[..]
            .try_into()
            .map_err(|_| Error::Connection(Reason::FRAME_SIZE_ERROR))?;
        Ok(Ping {
            ack: head.has(ACK),
            payload,
        })
    }

    /// Writes the frame.
    pub fn encode(&self, dst: &mut BytesMut) {
        let flags = if self.ack { ACK } else { 0 };
        Head::new(Kind::Ping, flags, 0).encode(8, dst);
        dst.extend_from_slice(&self.payload);
    }
}
