//! CONTINUATION frames (RFC 9113 §6.10). Their sequencing rules (nothing
//! else between a HEADERS without END_HEADERS and its last CONTINUATION)
//! are enforced by the connection.

use bytes::Bytes;
#[cfg(any(test, feature = "unstable-fuzz"))]
use bytes::BytesMut;

#[cfg(any(test, feature = "unstable-fuzz"))]
use super::head::Kind;
use super::head::{Head, END_HEADERS};
use crate::proto::h2::{Error, Reason, StreamId};

/// A CONTINUATION frame: more of a field block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Continuation {
    /// The stream (never 0).
    pub stream_id: StreamId,
    /// The field block fragment.
    pub fragment: Bytes,
    /// END_HEADERS: the block is complete.
    pub end_headers: bool,
}

impl Continuation {
    /// Parses a received CONTINUATION frame.
    pub fn load(head: Head, payload: Bytes) -> Result<Continuation, Error> {
        // §6.10: stream 0 → connection error PROTOCOL_ERROR.
        if head.stream_id == 0 {
            return Err(Error::Connection(Reason::PROTOCOL_ERROR));
        }
        Ok(Continuation {
            stream_id: head.stream_id,
            fragment: payload,
            end_headers: head.has(END_HEADERS),
        })
    }

    /// Writes the frame. The server sends its header blocks with
    /// [`encode_block`](super::encode_block); this is for the tests and
    /// the fuzz targets.
    #[cfg(any(test, feature = "unstable-fuzz"))]
    pub fn encode(&self, dst: &mut BytesMut) {
        let flags = if self.end_headers { END_HEADERS } else { 0 };
        Head::new(Kind::Continuation, flags, self.stream_id).encode(self.fragment.len(), dst);
        dst.extend_from_slice(&self.fragment);
    }
}
