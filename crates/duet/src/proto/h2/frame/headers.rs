//! HEADERS frames (RFC 9113 §6.2), and splitting an outgoing field block
//! into HEADERS + CONTINUATION frames (§4.3).

use bytes::{Bytes, BytesMut};

use super::head::{Head, Kind, END_HEADERS, END_STREAM, PRIORITY};
use super::priority::PrioritySpec;
use super::strip_padding;
use crate::proto::h2::{Error, Reason, StreamId};

/// A HEADERS frame: the start of a field block (request head or trailers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Headers {
    /// The stream (never 0).
    pub stream_id: StreamId,
    /// Priority fields, if the PRIORITY flag was set (deprecated, checked
    /// only for self-dependency).
    pub priority: Option<PrioritySpec>,
    /// The field block fragment, padding removed.
    pub fragment: Bytes,
    /// END_STREAM.
    pub end_stream: bool,
    /// END_HEADERS: no CONTINUATION follows.
    pub end_headers: bool,
}

impl Headers {
    /// Parses a received HEADERS frame.
    pub fn load(head: Head, mut payload: Bytes) -> Result<Headers, Error> {
        // §6.2: stream 0 → connection error PROTOCOL_ERROR.
        if head.stream_id == 0 {
            return Err(Error::Connection(Reason::PROTOCOL_ERROR));
        }
        strip_padding(head, &mut payload)?;
        let priority = if head.has(PRIORITY) {
            if payload.len() < 5 {
                // The priority fields do not fit: a frame too short to be
                // valid (§4.2); it carries a field block, so it is a
                // connection error.
                return Err(Error::Connection(Reason::FRAME_SIZE_ERROR));
            }
            Some(PrioritySpec::parse(&mut payload))
        } else {
            None
        };
        Ok(Headers {
            stream_id: head.stream_id,
            priority,
            fragment: payload,
            end_stream: head.has(END_STREAM),
            end_headers: head.has(END_HEADERS),
        })
    }

    /// Writes this frame as is, without padding (the fragment must fit the
    /// peer's maximum frame size). The server sends its header blocks with
    /// [`encode_block`]; this is for the tests and the fuzz targets.
    #[cfg(any(test, feature = "unstable-fuzz"))]
    pub fn encode(&self, dst: &mut BytesMut) {
        let mut flags = 0;
        if self.end_stream {
            flags |= END_STREAM;
        }
        if self.end_headers {
            flags |= END_HEADERS;
        }
        let mut len = self.fragment.len();
        if self.priority.is_some() {
            flags |= PRIORITY;
            len += 5;
        }
        Head::new(Kind::Headers, flags, self.stream_id).encode(len, dst);
        if let Some(p) = &self.priority {
            p.encode(dst);
        }
        dst.extend_from_slice(&self.fragment);
    }
}

/// Writes a whole field block as one HEADERS frame followed by as many
/// CONTINUATION frames as `max_frame_size` requires, back to back (§4.3:
/// nothing may be interleaved).
pub fn encode_block(
    stream_id: StreamId,
    block: &[u8],
    end_stream: bool,
    max_frame_size: usize,
    dst: &mut BytesMut,
) {
    let max = max_frame_size.max(1);
    let mut chunks = block.chunks(max);
    let first = chunks.next().unwrap_or(&[]);
    let rest = block.len().saturating_sub(first.len());
    let mut flags = if end_stream { END_STREAM } else { 0 };
    if rest == 0 {
        flags |= END_HEADERS;
    }
    Head::new(Kind::Headers, flags, stream_id).encode(first.len(), dst);
    dst.extend_from_slice(first);
    let mut left = rest;
    for c in chunks {
        left -= c.len();
        let flags = if left == 0 { END_HEADERS } else { 0 };
        Head::new(Kind::Continuation, flags, stream_id).encode(c.len(), dst);
        dst.extend_from_slice(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_split_into_continuations() {
        let mut dst = BytesMut::new();
        encode_block(3, &[7u8; 10], true, 4, &mut dst);
        // HEADERS(4, END_STREAM) + CONTINUATION(4) + CONTINUATION(2, END_HEADERS)
        assert_eq!(&dst[..9], &[0, 0, 4, 1, END_STREAM, 0, 0, 0, 3]);
        assert_eq!(&dst[13..22], &[0, 0, 4, 9, 0, 0, 0, 0, 3]);
        assert_eq!(&dst[26..35], &[0, 0, 2, 9, END_HEADERS, 0, 0, 0, 3]);
        assert_eq!(dst.len(), 37);
    }
}
