//! The signal that tells connections to stop taking new requests and
//! drain, and later (at the end of the grace) to stop.

use std::sync::Arc;

use tokio::sync::watch;

/// Graceful shutdown has begun: drain.
pub(crate) const DRAIN: u8 = 1;
/// The grace is over: connections still open are cut.
pub(crate) const ABORT: u8 = 2;

/// The phase of a shutdown as the executor sets it: running (0), then
/// [`DRAIN`], then [`ABORT`]; it only moves forward.
#[derive(Clone)]
pub(crate) struct Shutdown {
    rx: watch::Receiver<u8>,
}

/// The executor's end of [`Shutdown`] (clones share one channel).
#[derive(Clone)]
pub(crate) struct ShutdownTrigger {
    tx: Arc<watch::Sender<u8>>,
}

pub(crate) fn channel() -> (ShutdownTrigger, Shutdown) {
    let (tx, rx) = watch::channel(0);
    (ShutdownTrigger { tx: Arc::new(tx) }, Shutdown { rx })
}

impl ShutdownTrigger {
    /// Graceful shutdown begins.
    pub(crate) fn trigger(&self) {
        self.advance(DRAIN);
    }

    /// The grace is over.
    pub(crate) fn abort(&self) {
        self.advance(ABORT);
    }

    fn advance(&self, to: u8) {
        self.tx.send_if_modified(|phase| {
            let later = *phase < to;
            if later {
                *phase = to;
            }
            later
        });
    }
}

impl Shutdown {
    /// A receiver of `trigger`'s signal.
    pub(crate) fn from_trigger(trigger: &ShutdownTrigger) -> Shutdown {
        Shutdown {
            rx: trigger.tx.subscribe(),
        }
    }

    /// The signal as the application sees it (an upgraded connection's).
    pub(crate) fn signal(&self) -> crate::app::upgrade::ShutdownSignal {
        crate::app::upgrade::ShutdownSignal::new(self.rx.clone())
    }

    /// Completes when shutdown begins (at once if it already has).
    pub(crate) async fn wait(&mut self) {
        // `changed` rather than `wait_for`: the same wait in a smaller
        // future.
        while *self.rx.borrow_and_update() < DRAIN {
            // An error means the trigger is gone: treat as shutdown.
            if self.rx.changed().await.is_err() {
                return;
            }
        }
    }

    /// Follows one connection through the shutdown with a single waiter:
    /// calls `on_drain` when graceful shutdown begins, and completes when
    /// the grace is over (or the trigger is gone).
    pub(crate) async fn until_abort(mut self, on_drain: impl FnOnce()) {
        let mut on_drain = Some(on_drain);
        loop {
            let phase = *self.rx.borrow_and_update();
            if phase >= DRAIN {
                if let Some(f) = on_drain.take() {
                    f();
                }
            }
            if phase >= ABORT || self.rx.changed().await.is_err() {
                return;
            }
        }
    }
}
