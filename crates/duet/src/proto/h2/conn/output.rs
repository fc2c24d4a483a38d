//! The output handed to the driver: frames encoded into one buffer, frozen
//! into segments in order, with large DATA payloads as their own segments
//! (uncopied, for vectored writes).

use std::collections::VecDeque;

use bytes::Bytes;

use super::Connection;

/// Output bytes above which queued DATA waits for the driver to write.
pub(super) const OUTPUT_HIGH_WATER: usize = 256 * 1024;
/// DATA payloads at least this long are handed to the driver as their own
/// segment (written with vectored I/O) instead of being copied.
pub(super) const ZERO_COPY_MIN: usize = 4096;

impl Connection {
    /// Moves the output (frames to write, in order) to the end of `into`;
    /// returns how many bytes were moved. Large DATA payloads come as their
    /// own segments, uncopied, for vectored writes.
    pub fn take_output(&mut self, into: &mut VecDeque<Bytes>) -> usize {
        self.seal_output();
        let n = self.segments_len;
        into.append(&mut self.segments);
        self.segments_len = 0;
        n
    }

    /// Bytes of output not yet taken.
    pub fn output_len(&self) -> usize {
        self.segments_len + self.out.len()
    }

    /// Freezes what `out` holds into a segment.
    pub(super) fn seal_output(&mut self) {
        if !self.out.is_empty() {
            let b = self.out.split().freeze();
            self.segments_len += b.len();
            self.segments.push_back(b);
        }
    }
}
