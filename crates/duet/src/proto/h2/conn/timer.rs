//! Time in the core, kept the way quinn-proto keeps it: the driver asks
//! [`Connection::poll_timeout`] when to wake and calls
//! [`Connection::handle_timeout`] then. Time reaches the core only as the
//! `now` of its calls (`new`, `recv`, `take_output`, `start_shutdown`,
//! `handle_timeout`); it never reads a clock. The rules, each with its own
//! limit:
//!
//! - our SETTINGS not acknowledged within `settings_timeout`: GOAWAY
//!   SETTINGS_TIMEOUT (RFC 9113 §6.5.3);
//! - response bytes waiting on windows the peer keeps shut, with no DATA
//!   sent, for `send_stall_timeout`: GOAWAY ENHANCE_YOUR_CALM;
//! - no stream open for `idle_timeout`: graceful GOAWAY NO_ERROR (§6.8);
//! - graceful shutdown: the final GOAWAY `shutdown_ping_timeout` after the
//!   first one when the PING sent with it is not answered sooner (§6.8);
//! - a field block split over CONTINUATION frames not complete within
//!   `header_block_timeout` of its HEADERS: GOAWAY ENHANCE_YOUR_CALM
//!   (§6.10: nothing else may be read meanwhile);
//! - the rest of a request still arriving `discard_body_timeout` after its
//!   response was complete: RST_STREAM NO_ERROR (§8.1);
//! - a connection `max_age` old begins a graceful shutdown (§6.8);
//! - no stream open for [`SHED_AFTER`]: the memory the streams left is
//!   given back ([`Connection::shed`]);
//! - the rapid-reset guard counts resets per second of the times passed in.
//!
//! A timer starts at the first call with a `now` that finds its condition
//! (a stream closed by `send_response` starts the idle timer at the next
//! `take_output`), so a deadline is never earlier than the rule says.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::super::{Reason, StreamId};
use super::recv::Reading;
use super::{Connection, Lifecycle};

/// How long a connection has no stream open before it gives back what its
/// streams left allocated: long enough that a busy connection, idle for a
/// moment between batches, keeps its maps and queues (growing them again
/// costs about 600 instructions per request at 16 streams a batch); short
/// enough that connections opened in a burst do not all hold their
/// first request's memory at once (at 100 ms, 10,000 new connections
/// left about 290 bytes each of freed but not yet returned pages).
const SHED_AFTER: Duration = Duration::from_millis(10);

/// The instants the deadlines are counted from.
#[derive(Debug)]
pub(super) struct Timers {
    /// When our SETTINGS went out: at creation, the only one we send.
    settings_sent: Instant,
    /// Since when no stream is open (`None` while one is).
    idle_since: Option<Instant>,
    /// [`SHED_AFTER`] has passed in this idle period (the memory was given
    /// back).
    shed: bool,
    /// Since when response bytes wait with no DATA sent, and the count of
    /// DATA octets sent then.
    stalled: Option<(Instant, u64)>,
    /// The rapid-reset window: its start and the resets counted in it.
    resets: (Instant, u32),
    /// Streams discarding the rest of their request after a complete
    /// response, in the order they began (so by deadline), with the time
    /// they began (`None` until the next call with a time). At most one
    /// entry per active stream.
    pub(super) discards: VecDeque<(StreamId, Option<Instant>)>,
    /// When the connection reaches its `max_age` (`None`: never).
    age_deadline: Option<Instant>,
}

impl Timers {
    /// Timers of a connection created at `now` that may live `max_age`.
    pub(super) fn new(now: Instant, max_age: Duration) -> Timers {
        Timers {
            settings_sent: now,
            idle_since: Some(now),
            // Nothing to give back yet (the SETTINGS exchange leaves its
            // output buffer, about 250 bytes, until the first stream).
            shed: true,
            stalled: None,
            resets: (now, 0),
            discards: VecDeque::new(),
            age_deadline: deadline(now, max_age),
        }
    }
}

/// `since + after`, or `None` when that is beyond what an `Instant` holds
/// (a limit of `Duration::MAX` means "never").
fn deadline(since: Instant, after: Duration) -> Option<Instant> {
    since.checked_add(after)
}

/// The earlier of two optional deadlines.
fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// True once `after` has passed since `since`.
fn passed(now: Instant, since: Instant, after: Duration) -> bool {
    now.saturating_duration_since(since) >= after
}

impl Connection {
    /// When the core next needs [`Connection::handle_timeout`], if ever:
    /// the nearest deadline of the rules above.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let t = &self.timers;
        let cfg = &self.cfg;
        // Called once per batch of work: a busy connection (streams open,
        // nothing stalled, SETTINGS acknowledged) falls through each test.
        let mut due = None;
        if self.local.unacked > 0 {
            due = earliest(due, deadline(t.settings_sent, cfg.settings_timeout));
        }
        if let Some((since, _)) = t.stalled {
            due = earliest(due, deadline(since, cfg.send_stall_timeout));
        }
        if let Reading::HeaderBlock(p) = &self.reading {
            due = earliest(due, deadline(p.since(), cfg.header_block_timeout));
        }
        if let Some((_, Some(since))) = t.discards.front() {
            due = earliest(due, deadline(*since, cfg.discard_body_timeout));
        }
        match self.lifecycle {
            Lifecycle::Open => due = earliest(due, t.age_deadline),
            Lifecycle::Draining { since } => {
                due = earliest(due, deadline(since, cfg.shutdown_ping_timeout));
            }
            // No idle timer once the final GOAWAY is out.
            Lifecycle::GoingAway { .. } => return due,
            Lifecycle::Closed => return None,
        }
        if let Some(since) = t.idle_since {
            if !t.shed {
                due = earliest(due, deadline(since, SHED_AFTER));
            }
            due = earliest(due, deadline(since, cfg.idle_timeout));
        }
        due
    }

    /// Tells the core that time has come to `now`: acts on every deadline
    /// that passed (a GOAWAY may be queued: write the output). Calling it
    /// early is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.observe(now);
        if self.lifecycle == Lifecycle::Closed {
            return;
        }
        let t = &self.timers;
        let cfg = &self.cfg;
        // RFC 9113 §6.5.3: "If the sender of a SETTINGS frame does not
        // receive an acknowledgment within a reasonable amount of time, it
        // MAY issue a connection error of type SETTINGS_TIMEOUT."
        if self.local.unacked > 0 && passed(now, t.settings_sent, cfg.settings_timeout) {
            let _ = self.connection_error(Reason::SETTINGS_TIMEOUT);
            return;
        }
        // A peer that keeps its windows shut while we hold its responses
        // pins our memory: close.
        if t.stalled
            .is_some_and(|(since, _)| passed(now, since, cfg.send_stall_timeout))
        {
            tracing::debug!("h2 peer stalled flow control; closing");
            let _ = self.connection_error(Reason::ENHANCE_YOUR_CALM);
            return;
        }
        // §6.10: while a field block is incomplete nothing else can be
        // read; a peer that keeps it open holds the connection.
        if let Reading::HeaderBlock(p) = &self.reading {
            if passed(now, p.since(), self.cfg.header_block_timeout) {
                tracing::debug!("h2 field block not completed in time; closing");
                let _ = self.connection_error(Reason::ENHANCE_YOUR_CALM);
                return;
            }
        }
        // §8.1: the rest of a request answered early is too slow to come:
        // ask the peer to stop sending it.
        while let Some(&(id, Some(since))) = self.timers.discards.front() {
            if !passed(now, since, self.cfg.discard_body_timeout) {
                break;
            }
            self.timers.discards.pop_front();
            if self
                .streams
                .get(&id)
                .is_some_and(|s| s.discard_left.is_some())
            {
                self.reset_stream(id, Reason::NO_ERROR);
            }
        }
        // Old enough: stop taking streams, gracefully (§6.8).
        if self.lifecycle == Lifecycle::Open && self.timers.age_deadline.is_some_and(|d| now >= d) {
            self.start_shutdown(now);
        }
        // RFC 9113 §6.8: the PING sent with the first GOAWAY was not
        // answered in time: name the last stream taken anyway.
        if let Lifecycle::Draining { since } = self.lifecycle {
            if passed(now, since, self.cfg.shutdown_ping_timeout) {
                self.go_away(Reason::NO_ERROR);
            }
        }
        // Idle for a moment: give back what the streams left.
        if !self.timers.shed
            && self
                .timers
                .idle_since
                .is_some_and(|since| passed(now, since, SHED_AFTER))
        {
            self.timers.shed = true;
            self.shed();
        }
        // Idle: no stream open for the keep-alive time.
        if self
            .timers
            .idle_since
            .is_some_and(|since| passed(now, since, self.cfg.idle_timeout))
        {
            self.go_away(Reason::NO_ERROR);
        }
    }

    /// Starts (or stops) the idle and stall timers whose condition changed
    /// since the last call with a time.
    pub(super) fn observe(&mut self, now: Instant) {
        let t = &mut self.timers;
        // Discards begun since the last call start now (they are at the
        // back, after the ones already dated).
        if !t.discards.is_empty() {
            for (_, since) in t.discards.iter_mut().rev() {
                if since.is_some() {
                    break;
                }
                *since = Some(now);
            }
        }
        if self.streams.is_empty() {
            t.idle_since.get_or_insert(now);
        } else {
            t.idle_since = None;
            t.shed = false;
        }
        if self.sendable.is_empty() {
            t.stalled = None;
        } else {
            match t.stalled {
                Some((_, sent)) if sent == self.data_sent => {}
                _ => t.stalled = Some((now, self.data_sent)),
            }
        }
    }

    /// Counts a reset at `now` toward the rapid-reset guard (CVE-2023-44487);
    /// true when over `max_resets_per_sec`.
    pub(super) fn note_reset(&mut self, now: Instant) -> bool {
        let (start, count) = &mut self.timers.resets;
        if now.saturating_duration_since(*start) >= Duration::from_secs(1) {
            *start = now;
            *count = 0;
        }
        *count += 1;
        *count > self.cfg.max_resets_per_sec
    }
}
