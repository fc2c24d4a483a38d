//! The executor: binds every port once, runs accept loops, and shuts down
//! gracefully — stop accepting, let in-flight requests finish up to a
//! deadline, close idle connections.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Notify;

use super::accept::{accept_loop, Port};
use super::shutdown::{self, Shutdown, ShutdownTrigger};
use super::site::{Site, VhostTable};
use super::tls::Acceptor;
use crate::app::server::Server;
use crate::error::Error;

/// Runs any number of servers on any number of ports until told to stop.
#[derive(Default)]
pub struct Executor {
    servers: Vec<Server>,
}

impl Executor {
    /// An executor with no servers yet.
    pub fn new() -> Self {
        Executor::default()
    }

    /// Adds a server. Servers with the same address share one listener.
    #[allow(clippy::should_implement_trait)]
    pub fn add(mut self, server: Server) -> Self {
        self.servers.push(server);
        self
    }

    /// Binds every address and starts serving on the current tokio runtime.
    /// Configuration mistakes (conflicting routes, two defaults on one
    /// port, bad TLS files) and addresses that cannot be bound are
    /// reported here.
    pub async fn start(self) -> Result<Running, Error> {
        let mut groups: BTreeMap<SocketAddr, Vec<Server>> = BTreeMap::new();
        let mut order = Vec::new();
        for s in self.servers {
            let addr = s.addr();
            if !groups.contains_key(&addr) {
                order.push(addr);
            }
            groups.entry(addr).or_default().push(s);
        }
        let (trigger, shutdown) = shutdown::channel();
        let (abort_trigger, abort) = shutdown::channel();
        let tracker = Arc::new(Tracker::default());
        let mut addrs = Vec::new();
        let mut grace = Duration::ZERO;
        let mut prepared = Vec::new();
        for addr in order {
            let mut servers = Vec::new();
            for s in groups.remove(&addr).unwrap_or_default() {
                let (_, mut parts) = s.into_vhost();
                if !parts.errors.is_empty() {
                    return Err(parts.errors.remove(0));
                }
                servers.push(parts);
            }
            // What is decided before a request's server is known (header
            // limits, timeouts, HTTP/2 settings) follows the port's first
            // server.
            let limits = servers
                .first()
                .map(|s| s.limits.clone())
                .unwrap_or_default();
            let table = Arc::new(VhostTable::new(addr, &servers)?);
            let tls = Acceptor::for_port(addr, &servers, table.clone())?;
            let site = Site::new(servers, table, tls.is_some());
            grace = grace.max(limits.shutdown_grace);
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|source| Error::Bind { addr, source })?;
            let bound = listener
                .local_addr()
                .map_err(|source| Error::Bind { addr, source })?;
            addrs.push(bound);
            prepared.push((listener, Arc::new(site), Arc::new(limits), tls));
        }
        let mut accept_tasks = Vec::new();
        for (listener, site, limits, tls) in prepared {
            let port = Port {
                local: None,
                site,
                limits,
                tls,
                shutdown: shutdown.clone(),
                abort: abort.clone(),
                tracker: tracker.clone(),
            };
            accept_tasks.push(tokio::spawn(accept_loop(listener, port)));
        }
        Ok(Running {
            addrs,
            trigger: Arc::new(trigger),
            abort: abort_trigger,
            tracker,
            accept_tasks,
            grace,
        })
    }

    /// Serves until Ctrl-C or SIGTERM, then shuts down gracefully.
    pub async fn run(self) -> Result<(), Error> {
        let running = self.start().await?;
        for a in running.addrs() {
            tracing::info!(target: "duet", "listening on {a}");
        }
        wait_for_signal().await;
        tracing::info!(target: "duet", "shutting down: draining connections");
        running.shutdown().await;
        Ok(())
    }
}

/// Completes on Ctrl-C or (on Unix) SIGTERM.
pub async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Servers being served. Dropping it does not stop them; call
/// [`Running::shutdown`].
pub struct Running {
    addrs: Vec<SocketAddr>,
    trigger: Arc<ShutdownTrigger>,
    abort: ShutdownTrigger,
    tracker: Arc<Tracker>,
    accept_tasks: Vec<tokio::task::JoinHandle<()>>,
    grace: Duration,
}

/// Starts a graceful shutdown from anywhere (cheap to clone).
#[derive(Clone)]
pub struct ShutdownHandle {
    trigger: Arc<ShutdownTrigger>,
}

impl ShutdownHandle {
    /// Begins graceful shutdown: listeners stop accepting and connections
    /// finish what they are doing.
    pub fn shutdown(&self) {
        self.trigger.trigger();
    }
}

impl Running {
    /// The bound addresses, one per listener, in the order servers were
    /// added (ephemeral ports resolved).
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The first bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addrs
            .first()
            .copied()
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// The number of connections open now.
    pub fn connections(&self) -> usize {
        self.tracker.count.load(Ordering::Acquire)
    }

    /// A handle that can begin shutdown from another task.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            trigger: self.trigger.clone(),
        }
    }

    /// Graceful shutdown: stop accepting, let in-flight requests finish
    /// (up to the `shutdown_grace` limit), close idle connections. Returns
    /// the number of connections that had to be cut at the deadline.
    pub async fn shutdown(self) -> usize {
        self.trigger.trigger();
        for t in &self.accept_tasks {
            t.abort();
        }
        let drained = tokio::time::timeout(self.grace, self.tracker.idle()).await;
        let left = self.tracker.count.load(Ordering::Acquire);
        if drained.is_err() && left > 0 {
            tracing::warn!(target: "duet", "{left} connections still open at the shutdown deadline; closing them");
            self.abort.trigger();
            let _ = tokio::time::timeout(Duration::from_secs(1), self.tracker.idle()).await;
        }
        left
    }

    /// Waits until shutdown begins (from a [`ShutdownHandle`]) and then
    /// drains like [`Running::shutdown`].
    pub async fn wait(self) -> usize {
        let mut s = Shutdown::from_trigger(&self.trigger);
        s.wait().await;
        self.shutdown().await
    }
}

/// Counts open connections so shutdown can wait for them.
#[derive(Default)]
pub(crate) struct Tracker {
    count: AtomicUsize,
    notify: Notify,
}

impl Tracker {
    pub(crate) fn enter(self: &Arc<Self>) -> TrackGuard {
        self.count.fetch_add(1, Ordering::AcqRel);
        TrackGuard(self.clone())
    }

    async fn idle(&self) {
        loop {
            let notified = self.notify.notified();
            if self.count.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}

pub(crate) struct TrackGuard(Arc<Tracker>);

impl Drop for TrackGuard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.notify.notify_waiters();
        }
    }
}
