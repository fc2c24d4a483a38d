//! The core's time: which timer runs in which state, and what each does
//! when it expires — keep-alive idle (RFC 9112 §9.5), header read (408,
//! RFC 9110 §15.5.9), body read, lingering close, buffer release, and the
//! connection's age. The driver sleeps until `poll_timeout` and calls
//! `handle_timeout`; the core never reads the clock.

use super::read::request_version;
use super::*;

impl Connection {
    /// When the core next needs [`handle_timeout`](Self::handle_timeout),
    /// if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let stall = self
            .write_blocked
            .and_then(|since| since.checked_add(self.config.limits.write_stall_timeout));
        [self.state_timeout(), self.retire_at, stall]
            .into_iter()
            .flatten()
            .min()
    }

    /// The deadline of the reading state's timer, if it has one.
    fn state_timeout(&self) -> Option<Instant> {
        let limits = &self.config.limits;
        match &self.reading {
            Reading::Idle {
                since: Some(since),
                released,
            } => {
                let idle = since.checked_add(limits.keep_alive_timeout);
                let release = (!released)
                    .then(|| since.checked_add(RELEASE_AFTER))
                    .flatten();
                match (idle, release) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            }
            Reading::Head { deadline, .. } => *deadline,
            Reading::Body {
                waiting: Some(w), ..
            }
            | Reading::Drain {
                waiting: Some(w), ..
            } => w.checked_add(limits.body_read_timeout),
            Reading::Upgrade(up) => up
                .waiting
                .and_then(|w| w.checked_add(limits.body_read_timeout)),
            Reading::Linger {
                since: Some(since), ..
            } => since.checked_add(limits.linger_timeout),
            _ => None,
        }
    }

    /// The time is `now`: whatever timer has expired takes effect.
    pub fn handle_timeout(&mut self, now: Instant) {
        // A peer that reads nothing of what is waiting for it
        // (`Limits::write_stall_timeout`): the connection is given up.
        let stall = self.config.limits.write_stall_timeout;
        if self
            .write_blocked
            .and_then(|since| since.checked_add(stall))
            .is_some_and(|t| now >= t)
        {
            self.write_stalled = true;
            return;
        }
        // Old enough: no new request is taken, the current one ends the
        // connection (as a graceful shutdown does).
        if self.retire_at.is_some_and(|t| now >= t) {
            self.retire_at = None;
            self.start_shutdown(now);
        }
        enum Due {
            Nothing,
            IdleClose,
            Release,
            HeadLate(Instant),
            HeadWaits,
            BodyLate,
            DrainLate,
            UpgradeLate(Instant),
            LingerDone,
        }
        let limits = &self.config.limits;
        let due = |from: Option<Instant>, d: Duration| {
            from.and_then(|f| f.checked_add(d))
                .is_some_and(|t| now >= t)
        };
        let what = match &self.reading {
            Reading::Idle { since, released } => {
                if due(*since, limits.keep_alive_timeout) {
                    Due::IdleClose
                } else if !released && due(*since, RELEASE_AFTER) {
                    Due::Release
                } else {
                    Due::Nothing
                }
            }
            Reading::Head {
                started, deadline, ..
            } if deadline.is_some_and(|d| now >= d) => {
                if self.out.is_empty() {
                    Due::HeadLate(*started)
                } else {
                    Due::HeadWaits
                }
            }
            Reading::Body { waiting, .. } if due(*waiting, limits.body_read_timeout) => {
                Due::BodyLate
            }
            Reading::Drain { waiting, .. } if due(*waiting, limits.body_read_timeout) => {
                Due::DrainLate
            }
            Reading::Upgrade(up) if due(up.waiting, limits.body_read_timeout) => {
                Due::UpgradeLate(up.started)
            }
            Reading::Linger { since, .. } if due(*since, limits.linger_timeout) => Due::LingerDone,
            _ => Due::Nothing,
        };
        match what {
            Due::Nothing => {}
            // RFC 9112 §9.5: an idle connection may be closed at any time;
            // it holds nothing unread.
            Due::IdleClose => self.close(now),
            Due::Release => {
                if let Reading::Idle { released, .. } = &mut self.reading {
                    *released = true;
                }
                self.out.release();
                if self.rbuf.is_empty() {
                    self.rbuf = BytesMut::new();
                }
            }
            // RFC 9110 §15.5.9: 408, then close.
            Due::HeadLate(started) => {
                let version = request_version(&self.rbuf);
                self.reject_head(
                    ParseError::new(
                        StatusCode::REQUEST_TIMEOUT,
                        "request head not received in time",
                    ),
                    version,
                    started,
                );
            }
            // Still waiting for the peer to take earlier responses: its
            // head isn't late yet.
            Due::HeadWaits => {
                let later = now.checked_add(self.config.limits.header_read_timeout);
                if let Reading::Head { deadline, .. } = &mut self.reading {
                    *deadline = later;
                }
            }
            Due::BodyLate => {
                let (failure, answer) = self.body_failed(
                    BodyFailure::TimedOut,
                    ParseError::new(
                        StatusCode::REQUEST_TIMEOUT,
                        "request body not received in time",
                    ),
                );
                self.pending = Some(Pending::BodyFailed { failure, answer });
            }
            Due::DrainLate => {
                self.keep_alive = KeepAlive::Disabled;
                self.stop_reading(true);
                self.try_end_exchange(now);
            }
            Due::UpgradeLate(started) => self.reject_head(
                ParseError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "request body not received in time",
                ),
                Version::HTTP_11,
                started,
            ),
            Due::LingerDone => self.reading = Reading::Closed,
        }
    }
}
