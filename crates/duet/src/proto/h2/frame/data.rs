//! DATA frames (RFC 9113 §6.1).

use bytes::{Bytes, BytesMut};

use super::head::{Head, Kind, END_STREAM};
use super::strip_padding;
use crate::proto::h2::{Error, Reason, StreamId};

/// A DATA frame: a piece of a message body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Data {
    /// The stream it belongs to (never 0).
    pub stream_id: StreamId,
    /// The body bytes, padding removed.
    pub data: Bytes,
    /// END_STREAM: the last frame of the message.
    pub end_stream: bool,
    /// The whole payload length, padding included: what flow control counts
    /// (§6.9.1).
    pub flow_len: u32,
}

impl Data {
    /// A frame to send.
    pub fn new(stream_id: StreamId, data: Bytes, end_stream: bool) -> Data {
        let flow_len = data.len() as u32;
        Data {
            stream_id,
            data,
            end_stream,
            flow_len,
        }
    }

    /// Parses a received DATA frame.
    pub fn load(head: Head, mut payload: Bytes) -> Result<Data, Error> {
        // §6.1: DATA on stream 0 is a connection error PROTOCOL_ERROR.
        if head.stream_id == 0 {
            return Err(Error::Connection(Reason::PROTOCOL_ERROR));
        }
        let flow_len = payload.len() as u32;
        strip_padding(head, &mut payload)?;
        Ok(Data {
            stream_id: head.stream_id,
            data: payload,
            end_stream: head.has(END_STREAM),
            flow_len,
        })
    }

    /// Writes the frame (never padded).
    pub fn encode(&self, dst: &mut BytesMut) {
        let flags = if self.end_stream { END_STREAM } else { 0 };
        Head::new(Kind::Data, flags, self.stream_id).encode(self.data.len(), dst);
        dst.extend_from_slice(&self.data);
    }
}
