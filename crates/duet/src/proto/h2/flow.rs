//! Flow-control windows (RFC 9113 §5.2, §6.9), one pair per stream and one
//! for the connection.
//!
//! - [`SendWindow`]: how much we may send. Raised by the peer's
//!   WINDOW_UPDATE, moved by changes of its SETTINGS_INITIAL_WINDOW_SIZE
//!   (and so may go negative, §6.9.2); above 2^31-1 is a
//!   FLOW_CONTROL_ERROR (§6.9.1).
//! - [`RecvWindow`]: how much the peer may send us. Lowered by DATA (the
//!   whole payload, padding included), raised by our WINDOW_UPDATEs, which
//!   are sent in batches once the application has consumed at least half a
//!   window.

use super::{Reason, MAX_WINDOW};

/// The window we may send into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SendWindow(i64);

impl SendWindow {
    pub(crate) fn new(size: u32) -> Self {
        SendWindow(i64::from(size))
    }

    /// Octets that may be sent now (0 when the window is negative).
    pub(crate) fn available(&self) -> usize {
        self.0.max(0) as usize
    }

    /// A WINDOW_UPDATE increment (§6.9.1: a window above 2^31-1 is a
    /// FLOW_CONTROL_ERROR).
    pub(crate) fn increase(&mut self, inc: u32) -> Result<(), Reason> {
        let next = self.0 + i64::from(inc);
        if next > i64::from(MAX_WINDOW) {
            return Err(Reason::FLOW_CONTROL_ERROR);
        }
        self.0 = next;
        Ok(())
    }

    /// A change of SETTINGS_INITIAL_WINDOW_SIZE by `delta` (§6.9.2).
    pub(crate) fn adjust(&mut self, delta: i64) -> Result<(), Reason> {
        let next = self.0 + delta;
        if next > i64::from(MAX_WINDOW) {
            return Err(Reason::FLOW_CONTROL_ERROR);
        }
        self.0 = next;
        Ok(())
    }

    /// Octets sent.
    pub(crate) fn consume(&mut self, n: usize) {
        self.0 -= n as i64;
    }

    #[cfg(test)]
    pub(crate) fn value(&self) -> i64 {
        self.0
    }
}

/// The window the peer may send into, and the consumed octets not yet
/// returned with a WINDOW_UPDATE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RecvWindow {
    /// What the peer may still send.
    window: i64,
    /// The size we keep the window at.
    target: u32,
    /// Consumed by the application, not yet announced.
    released: u32,
}

impl RecvWindow {
    /// A window the peer starts at `initial` (what it believes), kept at
    /// `target` once we announce more.
    pub(crate) fn new(initial: u32, target: u32) -> Self {
        RecvWindow {
            window: i64::from(initial),
            target,
            released: 0,
        }
    }

    /// DATA of `n` octets (payload incl. padding) arrived (§6.9.1: more than
    /// the window is a FLOW_CONTROL_ERROR).
    pub(crate) fn receive(&mut self, n: u32) -> Result<(), Reason> {
        if i64::from(n) > self.window {
            return Err(Reason::FLOW_CONTROL_ERROR);
        }
        self.window -= i64::from(n);
        Ok(())
    }

    /// The application consumed `n` octets; returns the WINDOW_UPDATE
    /// increment to send now, if the batch is big enough (≥ half the
    /// target).
    pub(crate) fn release(&mut self, n: u32) -> Option<u32> {
        self.released = self.released.saturating_add(n);
        // Below half a window the peer still has at least half a window to
        // send into, unless the application holds the rest (backpressure).
        if self.released > 0 && self.released >= self.target / 2 {
            let inc = self.released;
            self.released = 0;
            self.window += i64::from(inc);
            return Some(inc);
        }
        None
    }

    /// Raises the window to `target` at once (used for the connection
    /// window right after the preface); returns the increment to announce.
    pub(crate) fn grow_to_target(&mut self) -> Option<u32> {
        let inc = i64::from(self.target) - self.window;
        if inc <= 0 {
            return None;
        }
        self.window += inc;
        u32::try_from(inc).ok()
    }

    #[cfg(test)]
    pub(crate) fn window(&self) -> i64 {
        self.window
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc9113_6_9_1_send_window_overflow() {
        let mut w = SendWindow::new(MAX_WINDOW);
        assert_eq!(w.increase(1), Err(Reason::FLOW_CONTROL_ERROR));
        let mut w = SendWindow::new(10);
        w.consume(10);
        assert_eq!(w.available(), 0);
        w.increase(5).unwrap();
        assert_eq!(w.available(), 5);
    }

    #[test]
    fn rfc9113_6_9_2_window_may_go_negative() {
        let mut w = SendWindow::new(100);
        w.consume(80);
        w.adjust(-50).unwrap();
        assert_eq!(w.value(), -30);
        assert_eq!(w.available(), 0);
        w.increase(40).unwrap();
        assert_eq!(w.available(), 10);
    }

    #[test]
    fn recv_window_rejects_excess_and_batches_updates() {
        let mut w = RecvWindow::new(100, 100);
        w.receive(60).unwrap();
        assert_eq!(w.receive(41), Err(Reason::FLOW_CONTROL_ERROR));
        assert_eq!(w.release(30), None);
        assert_eq!(w.release(20), Some(50));
        assert_eq!(w.window(), 90);
    }

    #[test]
    fn grow_to_target_announces_difference() {
        let mut w = RecvWindow::new(65_535, 1 << 20);
        assert_eq!(w.grow_to_target(), Some((1 << 20) - 65_535));
        assert_eq!(w.grow_to_target(), None);
    }
}
