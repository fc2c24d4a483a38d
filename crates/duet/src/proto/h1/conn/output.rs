//! The bytes a connection has for its peer, in order: a write buffer that
//! heads and small bodies are encoded into, and before it the large body
//! chunks queued without copying, so that a driver writes them several
//! per vectored write.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::proto::h1::encode;

/// Body chunks up to this size are copied into the write buffer (one
/// write with the head); larger ones are queued as their own segment.
pub(super) const COPY_BODY_MAX: usize = 16 * 1024;
/// Output waiting in the write buffer past which the connection takes no
/// more work (no new request, no more body) until the driver writes.
const BUF_FULL_AT: usize = 64 * 1024;
/// Queued (uncopied) body bytes past which the same holds.
const QUEUE_FULL_AT: usize = 512 * 1024;

#[derive(Debug, Default)]
pub(super) struct Output {
    /// Segments to write before `buf`, in order.
    queue: VecDeque<Bytes>,
    /// Bytes in `queue`.
    queued: usize,
    /// Encoded bytes, written after `queue`.
    buf: BytesMut,
    /// Bytes handed to the peer since the connection began.
    written: u64,
}

impl Output {
    /// Bytes waiting to be written.
    pub(super) fn len(&self) -> usize {
        self.queued + self.buf.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.queued == 0 && self.buf.is_empty()
    }

    /// True when the driver should write before handing more work in.
    pub(super) fn is_full(&self) -> bool {
        self.buf.len() >= BUF_FULL_AT || self.queued >= QUEUE_FULL_AT
    }

    /// The position (counted from the start of the connection) just past
    /// the last byte queued so far.
    pub(super) fn end_position(&self) -> u64 {
        self.written.saturating_add(self.len() as u64)
    }

    /// Bytes written since the connection began.
    pub(super) fn written(&self) -> u64 {
        self.written
    }

    /// The write buffer, to encode into.
    pub(super) fn buf(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Appends body bytes: copied when small, queued as they are when large.
    pub(super) fn body(&mut self, data: Bytes) {
        if data.len() <= COPY_BODY_MAX {
            self.buf.extend_from_slice(&data);
        } else {
            self.enqueue(data);
        }
    }

    /// Appends one chunk of the chunked coding (RFC 9112 §7.1), its data
    /// copied when small and queued when large.
    pub(super) fn chunk(&mut self, data: Bytes) {
        if data.len() <= COPY_BODY_MAX {
            encode::encode_chunk(&mut self.buf, &data);
        } else {
            encode::encode_chunk_head(&mut self.buf, data.len());
            self.enqueue(data);
            self.buf.put_slice(encode::CHUNK_END);
        }
    }

    /// Queues `data` after what is buffered, without copying it.
    fn enqueue(&mut self, data: Bytes) {
        if !self.buf.is_empty() {
            let head = self.buf.split().freeze();
            self.queued += head.len();
            self.queue.push_back(head);
        }
        self.queued += data.len();
        self.queue.push_back(data);
    }

    /// The output as one slice, when it is one (nothing queued).
    pub(super) fn contiguous(&self) -> Option<&[u8]> {
        self.queue.is_empty().then_some(&self.buf[..])
    }

    /// Fills `dst` with the output's first segments, in order; returns how
    /// many it filled.
    pub(super) fn slices<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for (slot, seg) in dst.iter_mut().zip(self.queue.iter()) {
            *slot = IoSlice::new(seg);
            n += 1;
        }
        if n == self.queue.len() && !self.buf.is_empty() {
            if let Some(slot) = dst.get_mut(n) {
                *slot = IoSlice::new(&self.buf);
                n += 1;
            }
        }
        n
    }

    /// Drops the first `n` bytes, which the driver wrote.
    pub(super) fn advance(&mut self, mut n: usize) {
        n = n.min(self.len());
        self.written = self.written.saturating_add(n as u64);
        while n > 0 {
            match self.queue.front_mut() {
                Some(seg) if n >= seg.len() => {
                    n -= seg.len();
                    self.queued -= seg.len();
                    self.queue.pop_front();
                }
                Some(seg) => {
                    seg.advance(n);
                    self.queued -= n;
                    n = 0;
                }
                None => {
                    if n >= self.buf.len() {
                        // All written: reuse the buffer from its start.
                        self.buf.clear();
                    } else {
                        self.buf.advance(n);
                    }
                    n = 0;
                }
            }
        }
    }

    /// Gives the buffers' memory back (an idle connection).
    pub(super) fn release(&mut self) {
        if self.is_empty() {
            self.buf = BytesMut::new();
            self.queue = VecDeque::new();
        }
    }
}
