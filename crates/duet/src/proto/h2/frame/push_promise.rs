//! PUSH_PROMISE frames (RFC 9113 §6.6). A server never accepts one: a
//! client cannot push (§8.4), so the connection answers PROTOCOL_ERROR. The
//! frame is still parsed so its framing errors are reported precisely.

use bytes::{Buf, Bytes};
#[cfg(any(test, feature = "unstable-fuzz"))]
use bytes::{BufMut, BytesMut};

#[cfg(any(test, feature = "unstable-fuzz"))]
use super::head::Kind;
use super::head::{Head, END_HEADERS};
use super::strip_padding;
use crate::proto::h2::{Error, Reason, StreamId};

/// A PUSH_PROMISE frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushPromise {
    /// The stream the promise is associated with.
    pub stream_id: StreamId,
    /// The stream id reserved for the pushed response.
    pub promised_id: StreamId,
    /// The field block fragment (the promised request head).
    pub fragment: Bytes,
    /// END_HEADERS.
    pub end_headers: bool,
}

impl PushPromise {
    /// Parses a received PUSH_PROMISE frame.
    pub fn load(head: Head, mut payload: Bytes) -> Result<PushPromise, Error> {
        // §6.6: stream 0 → connection error PROTOCOL_ERROR.
        if head.stream_id == 0 {
            return Err(Error::Connection(Reason::PROTOCOL_ERROR));
        }
        strip_padding(head, &mut payload)?;
        if payload.len() < 4 {
            return Err(Error::Connection(Reason::FRAME_SIZE_ERROR));
        }
        let promised_id = payload.get_u32() & 0x7fff_ffff;
        Ok(PushPromise {
            stream_id: head.stream_id,
            promised_id,
            fragment: payload,
            end_headers: head.has(END_HEADERS),
        })
    }

    /// Writes the frame (a server that does not push never sends one: for
    /// the tests and the fuzz targets).
    #[cfg(any(test, feature = "unstable-fuzz"))]
    pub fn encode(&self, dst: &mut BytesMut) {
        let flags = if self.end_headers { END_HEADERS } else { 0 };
        Head::new(Kind::PushPromise, flags, self.stream_id).encode(4 + self.fragment.len(), dst);
        dst.put_u32(self.promised_id);
        dst.extend_from_slice(&self.fragment);
    }
}
