//! What the core remembers of closed streams, to answer a late frame on
//! one as RFC 9113 §5.1 says: ignored after we reset the stream, a stream
//! error STREAM_CLOSED after the peer did, a connection error
//! STREAM_CLOSED after both sides ended it, PROTOCOL_ERROR for an id the
//! client skipped (§5.1.1).
//!
//! A client's stream ids rise (§5.1.1), so every id up to the highest it
//! used that has no active stream is closed, and most closed streams were
//! ended by both sides. Only the exceptions are stored:
//!
//! - resets, ours or the peer's: stream id → cause, the oldest forgotten
//!   beyond [`RESET_MEMORY`];
//! - ids the client skipped: ranges, the oldest forgotten beyond
//!   [`SKIPPED_MEMORY`].
//!
//! Any other closed id was ended by both sides. A forgotten exception is
//! answered as such a stream: a connection error STREAM_CLOSED (where a
//! remembered reset would have been ignored or a stream error, and a
//! skipped id PROTOCOL_ERROR).
//!
//! Ordinary traffic (no resets, no skipped ids) stores nothing. The first
//! version kept each of the last 1,024 closed ids in a hash map: about
//! 22 KB that a connection kept after a thousand requests, and a cache
//! miss per stream when many connections are busy (6% of the CPU time of
//! h2c under `h2load -c16 -m32`).

use std::collections::VecDeque;

use super::super::stream::Cause;
use super::super::{id_map, IdMap, StreamId};

/// Reset streams remembered.
const RESET_MEMORY: usize = 1024;
/// Ranges of skipped ids remembered.
const SKIPPED_MEMORY: usize = 64;

/// The exceptions among closed streams (see the module documentation),
/// allocated at the first one: 8 bytes in every connection's state.
#[derive(Debug, Default)]
pub(super) struct ClosedStreams(Option<Box<Exceptions>>);

#[derive(Debug)]
struct Exceptions {
    resets: IdMap<Cause>,
    /// The ids in `resets`, oldest first.
    order: VecDeque<StreamId>,
    /// Inclusive ranges of odd ids never opened, in rising order.
    skipped: VecDeque<(StreamId, StreamId)>,
}

impl ClosedStreams {
    fn exceptions(&mut self) -> &mut Exceptions {
        self.0.get_or_insert_with(|| {
            Box::new(Exceptions {
                resets: id_map(),
                order: VecDeque::new(),
                skipped: VecDeque::new(),
            })
        })
    }

    /// Stream `id` closed for `cause`.
    pub(super) fn close(&mut self, id: StreamId, cause: Cause) {
        if cause == Cause::EndStream {
            return;
        }
        let e = self.exceptions();
        if e.resets.insert(id, cause).is_none() {
            e.order.push_back(id);
            if e.order.len() > RESET_MEMORY {
                if let Some(old) = e.order.pop_front() {
                    e.resets.remove(&old);
                }
            }
        }
    }

    /// The client used `id`, above `last`, its highest id before: the odd
    /// ids between are closed without having been opened (§5.1.1).
    pub(super) fn used(&mut self, last: StreamId, id: StreamId) {
        let first = if last == 0 { 1 } else { last.saturating_add(2) };
        if id > first {
            let e = self.exceptions();
            e.skipped.push_back((first, id - 2));
            if e.skipped.len() > SKIPPED_MEMORY {
                e.skipped.pop_front();
            }
        }
    }

    /// How closed stream `id` closed: `None` for an id the client skipped.
    /// `id` must be at most the highest the client used and have no
    /// active stream.
    pub(super) fn cause(&self, id: StreamId) -> Option<Cause> {
        let Some(e) = &self.0 else {
            return Some(Cause::EndStream);
        };
        if let Some(&cause) = e.resets.get(&id) {
            return Some(cause);
        }
        let i = e.skipped.partition_point(|&(_, last)| last < id);
        if e.skipped.get(i).is_some_and(|&(first, _)| first <= id) {
            return None;
        }
        Some(Cause::EndStream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_ended_by_both_sides_store_nothing() {
        let mut c = ClosedStreams::default();
        let mut last = 0;
        for id in (1..20_001).step_by(2) {
            c.used(last, id);
            last = id;
            c.close(id, Cause::EndStream);
        }
        assert_eq!(c.cause(1), Some(Cause::EndStream));
        assert_eq!(c.cause(19_999), Some(Cause::EndStream));
        assert!(c.0.is_none());
    }

    #[test]
    fn resets_and_skipped_ids_are_told_apart() {
        let mut c = ClosedStreams::default();
        c.used(0, 1);
        c.close(1, Cause::ResetByUs);
        // 3 and 5 skipped.
        c.used(1, 7);
        c.close(7, Cause::ResetByPeer);
        c.used(7, 9);
        c.close(9, Cause::EndStream);
        // The first id the client uses may skip some too.
        let mut d = ClosedStreams::default();
        d.used(0, 5);
        assert_eq!(d.cause(1), None);
        assert_eq!(d.cause(3), None);

        assert_eq!(c.cause(1), Some(Cause::ResetByUs));
        assert_eq!(c.cause(3), None);
        assert_eq!(c.cause(5), None);
        assert_eq!(c.cause(7), Some(Cause::ResetByPeer));
        assert_eq!(c.cause(9), Some(Cause::EndStream));
    }

    #[test]
    fn memory_is_bounded_and_forgets_the_oldest() {
        let mut c = ClosedStreams::default();
        let mut last = 0;
        // Every other id skipped, every used one reset.
        for n in 0..5_000u32 {
            let id = 4 * n + 1;
            c.used(last, id);
            last = id;
            c.close(id, Cause::ResetByPeer);
        }
        let e = c.0.as_ref().expect("exceptions");
        assert_eq!(e.resets.len(), RESET_MEMORY);
        assert_eq!(e.skipped.len(), SKIPPED_MEMORY);
        // The newest are remembered; the oldest read as ended streams.
        assert_eq!(c.cause(last), Some(Cause::ResetByPeer));
        assert_eq!(c.cause(last - 2), None);
        assert_eq!(c.cause(1), Some(Cause::EndStream));
        assert_eq!(c.cause(3), Some(Cause::EndStream));
    }
}
