//! WINDOW_UPDATE frames (RFC 9113 §6.9).

use bytes::{BufMut, Bytes, BytesMut};

use super::head::{Head, Kind};
use crate::proto::h2::{Error, Reason, StreamId};

/// A WINDOW_UPDATE frame: the sender can take `increment` more octets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowUpdate {
    /// The stream, or 0 for the connection window.
    pub stream_id: StreamId,
    /// The increment (reserved bit masked). Zero is checked by the
    /// connection, which knows whether the stream exists (§6.9).
    pub increment: u32,
}

impl WindowUpdate {
    /// A frame to send.
    pub fn new(stream_id: StreamId, increment: u32) -> WindowUpdate {
        WindowUpdate {
            stream_id,
            increment,
        }
    }

    /// Parses a received WINDOW_UPDATE frame.
    pub fn load(head: Head, payload: Bytes) -> Result<WindowUpdate, Error> {
        // §6.9: a length other than 4 → connection error FRAME_SIZE_ERROR.
        let raw: [u8; 4] = payload[..]
            .try_into()
            .map_err(|_| Error::Connection(Reason::FRAME_SIZE_ERROR))?;
        Ok(WindowUpdate {
            stream_id: head.stream_id,
            increment: u32::from_be_bytes(raw) & 0x7fff_ffff,
        })
    }

    /// Writes the frame.
    pub fn encode(&self, dst: &mut BytesMut) {
        Head::new(Kind::WindowUpdate, 0, self.stream_id).encode(4, dst);
        dst.put_u32(self.increment & 0x7fff_ffff);
    }
}
