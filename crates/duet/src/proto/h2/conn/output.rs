//! The output handed to the driver: frames encoded into one buffer, frozen
//! into segments in order, with large DATA payloads as their own segments
//! (uncopied, for vectored writes).

use std::collections::VecDeque;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use super::super::frame::{self, Data};
use super::super::StreamId;
use super::Connection;

/// Output bytes above which queued DATA waits for the driver to write.
const HIGH_WATER: usize = 256 * 1024;
/// DATA payloads at least this long are handed to the driver as their own
/// segment (written with vectored I/O) instead of being copied.
const ZERO_COPY_MIN: usize = 4096;
/// Room reserved at once for the heads of such DATA frames: each head is a
/// frozen 9-octet piece of `buf`, and reserving room for one at a time
/// would allocate a buffer per frame (a drained `BytesMut` that started
/// small regrows only by what is asked). 64 heads: one allocation per
/// megabyte of 16 KiB frames.
const HEAD_ROOM: usize = 64 * frame::HEAD_LEN;

/// Frames waiting for the driver, in order.
#[derive(Default)]
pub(super) struct Output {
    /// Frames being encoded (small ones are copied here).
    pub(super) buf: BytesMut,
    /// Output ready for the driver, in order: frozen pieces of `buf` and
    /// large DATA payloads (not copied).
    segments: VecDeque<Bytes>,
    segments_len: usize,
}

impl Output {
    /// Bytes not yet taken.
    pub(super) fn len(&self) -> usize {
        self.segments_len + self.buf.len()
    }

    /// True when queued DATA should wait for the driver to write first.
    pub(super) fn is_full(&self) -> bool {
        self.len() >= HIGH_WATER
    }

    /// Encodes a DATA frame; a large payload becomes its own segment.
    pub(super) fn data(&mut self, id: StreamId, chunk: Bytes, end_stream: bool) {
        if chunk.len() >= ZERO_COPY_MIN {
            let flags = if end_stream {
                frame::head::END_STREAM
            } else {
                0
            };
            if self.buf.capacity() - self.buf.len() < frame::HEAD_LEN {
                self.buf.reserve(HEAD_ROOM);
            }
            frame::Head::new(frame::Kind::Data, flags, id).encode(chunk.len(), &mut self.buf);
            let head = self.buf.split().freeze();
            self.segments_len += head.len() + chunk.len();
            self.segments.push_back(head);
            self.segments.push_back(chunk);
        } else {
            Data::new(id, chunk, end_stream).encode(&mut self.buf);
        }
    }

    /// Moves everything to the end of `into`; returns how many bytes.
    /// `buf` follows the segments (each segment froze what `buf` held
    /// before it), and goes to `into` directly: `segments` allocates only
    /// for large DATA payloads.
    fn take(&mut self, into: &mut VecDeque<Bytes>) -> usize {
        let n = self.segments_len + self.buf.len();
        into.append(&mut self.segments);
        if !self.buf.is_empty() {
            into.push_back(self.buf.split().freeze());
        }
        self.segments_len = 0;
        n
    }
}

impl Connection {
    /// Moves the output (frames to write, in order) to the end of `into`;
    /// returns how many bytes were moved. Large DATA payloads come as their
    /// own segments, uncopied, for vectored writes. `now` is the time it is
    /// taken: it starts the idle and send-stall timers whose condition
    /// arose since the last call with a time (as quinn-proto's
    /// `poll_transmit(now)` does).
    pub fn take_output(&mut self, into: &mut VecDeque<Bytes>, now: Instant) -> usize {
        self.observe(now);
        self.out.take(into)
    }

    /// Bytes of output not yet taken.
    pub fn output_len(&self) -> usize {
        self.out.len()
    }
}
