//! The signal that tells connections to stop taking new requests and drain.

use tokio::sync::watch;

/// Sent once by the executor when graceful shutdown begins.
#[derive(Clone)]
pub(crate) struct Shutdown {
    rx: watch::Receiver<bool>,
}

/// The executor's end of [`Shutdown`].
pub(crate) struct ShutdownTrigger {
    tx: watch::Sender<bool>,
}

pub(crate) fn channel() -> (ShutdownTrigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (ShutdownTrigger { tx }, Shutdown { rx })
}

impl ShutdownTrigger {
    pub(crate) fn trigger(&self) {
        let _ = self.tx.send(true);
    }
}

impl Shutdown {
    /// A receiver of `trigger`'s signal.
    pub(crate) fn from_trigger(trigger: &ShutdownTrigger) -> Shutdown {
        Shutdown {
            rx: trigger.tx.subscribe(),
        }
    }
}

impl Shutdown {
    /// True once shutdown has begun.
    pub(crate) fn is_set(&self) -> bool {
        *self.rx.borrow()
    }

    /// The signal as the application sees it (an upgraded connection's).
    pub(crate) fn signal(&self) -> crate::app::upgrade::ShutdownSignal {
        crate::app::upgrade::ShutdownSignal::new(self.rx.clone())
    }

    /// Completes when shutdown begins (at once if it already has).
    pub(crate) async fn wait(&mut self) {
        // `changed` rather than `wait_for`: the same wait in a smaller
        // future (every open connection holds one or two).
        while !*self.rx.borrow_and_update() {
            // An error means the trigger is gone: treat as shutdown.
            if self.rx.changed().await.is_err() {
                return;
            }
        }
    }

    /// [`Shutdown::wait`] on a receiver of its own.
    pub(crate) async fn wait_owned(mut self) {
        self.wait().await;
    }
}
