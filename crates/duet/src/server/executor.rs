//! The executor: binds every port once (or once per core), runs accept
//! loops and the admin endpoints, and shuts down gracefully — readiness off
//! at once, the listeners still accepting for the drain delay, then stop
//! accepting, let in-flight requests finish up to a deadline, close idle
//! connections.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, Notify, Semaphore};
use tokio::task::JoinHandle;

use super::accept::{accept_loop, Port};
use super::admin::Admin;
use super::shutdown::{self, Shutdown, ShutdownTrigger};
use super::site::{Site, VhostTable};
use super::tls::Acceptor;
use crate::app::server::Server;
use crate::config::Limits;
use crate::error::Error;

/// Runs any number of servers on any number of ports until told to stop.
#[derive(Default)]
pub struct Executor {
    servers: Vec<Server>,
    admin: Option<Admin>,
    drain_delay: Duration,
    per_core: Option<usize>,
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

    /// Serves the admin endpoints (`/healthz`, `/readyz`, `/metrics`) on an
    /// address of their own, until the drain is over.
    pub fn admin(mut self, admin: Admin) -> Self {
        self.admin = Some(admin);
        self
    }

    /// How long the listeners keep accepting once shutdown has begun
    /// (readiness is off from the start): the time a load balancer takes to
    /// see `/readyz` fail and stop sending new connections. Default zero.
    pub fn drain_delay(mut self, delay: Duration) -> Self {
        self.drain_delay = delay;
        self
    }

    /// Serves on one single-threaded runtime per core, each with its own
    /// `SO_REUSEPORT` listener on every address (the kernel spreads new
    /// connections among them), instead of on the caller's runtime. A
    /// connection stays on the core that accepted it, handlers included.
    /// The caller's runtime keeps the admin endpoints and the shutdown.
    pub fn per_core(self) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        self.per_core_runtimes(cores)
    }

    /// [`Executor::per_core`] with `runtimes` runtimes (at least one).
    pub fn per_core_runtimes(mut self, runtimes: usize) -> Self {
        self.per_core = Some(runtimes.max(1));
        self
    }

    /// Binds every address and starts serving (on the current tokio
    /// runtime, or on per-core runtimes). Configuration mistakes
    /// (conflicting routes, two defaults on one port, bad TLS files) and
    /// addresses that cannot be bound are reported here.
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
        let (begin_trigger, begin) = shutdown::channel();
        let (trigger, shutdown) = shutdown::channel();
        let tracker = Arc::new(Tracker::default());
        let copies = self.per_core.unwrap_or(1);
        let mut addrs = Vec::new();
        let mut grace = Duration::ZERO;
        let mut ports = Vec::new();
        for addr in order {
            let port = prepare(addr, groups.remove(&addr).unwrap_or_default())?;
            grace = grace.max(port.limits.shutdown_grace);
            let reuse = port.reuse_port || self.per_core.is_some();
            let first = bind(addr, reuse)?;
            let bound = first
                .local_addr()
                .map_err(|source| Error::Bind { addr, source })?;
            let mut listeners = vec![first];
            for _ in 1..copies {
                listeners.push(bind(bound, true)?);
            }
            addrs.push(bound);
            let port = Port {
                local: None,
                site: port.site,
                h2: Arc::new(crate::proto::h2::Config::from_limits(&port.limits)),
                limits: port.limits,
                tls: port.tls,
                proxy: port.proxy,
                slots: port.slots,
                shutdown: shutdown.clone(),
                tracker: tracker.clone(),
                observed: true,
            };
            ports.push((listeners, port));
        }
        let ready = Arc::new(AtomicBool::new(false));
        let admin = match self.admin {
            Some(a) => Some(AdminRunning::start(a, ready.clone()).await?),
            None => None,
        };
        let mut accept_tasks = Vec::new();
        let mut cores = None;
        match self.per_core {
            None => {
                for (listeners, port) in ports {
                    for l in listeners {
                        let l = from_std(l)?;
                        accept_tasks.push(tokio::spawn(accept_loop(l, port.clone())));
                    }
                }
            }
            Some(n) => {
                let (exit, exit_rx) = shutdown::channel();
                // Core i takes the i-th listener of every address.
                let mut work: Vec<Vec<(std::net::TcpListener, Port)>> =
                    (0..n).map(|_| Vec::new()).collect();
                for (listeners, port) in ports {
                    for (l, w) in listeners.into_iter().zip(work.iter_mut()) {
                        w.push((l, port.clone()));
                    }
                }
                let mut threads = Vec::new();
                for (i, w) in work.into_iter().enumerate() {
                    let (started, on_start) = oneshot::channel();
                    let exit_rx = exit_rx.clone();
                    let thread = std::thread::Builder::new()
                        .name(format!("duet-core-{i}"))
                        .spawn(move || run_core(w, exit_rx, started))
                        .map_err(|source| Error::Runtime { source })?;
                    threads.push(thread);
                    let handles = on_start.await.map_err(|_| Error::Runtime {
                        source: io::Error::other("a per-core runtime stopped while starting"),
                    })??;
                    accept_tasks.extend(handles);
                }
                cores = Some(Cores { exit, threads });
            }
        }
        ready.store(true, Ordering::Release);
        let drain = tokio::spawn(drain(
            begin,
            ready.clone(),
            self.drain_delay,
            trigger.clone(),
            accept_tasks,
        ));
        Ok(Running {
            addrs,
            begin: begin_trigger,
            abort: trigger,
            tracker,
            drain,
            grace,
            ready,
            admin,
            cores,
        })
    }

    /// Serves until Ctrl-C or SIGTERM, then shuts down gracefully (see
    /// [`Running::shutdown`]).
    pub async fn run(self) -> Result<(), Error> {
        let running = self.start().await?;
        for a in running.addrs() {
            tracing::info!(target: "duet", "listening on {a}");
        }
        if let Some(a) = running.admin_addr() {
            tracing::info!(target: "duet", "admin endpoints (/healthz, /readyz, /metrics) listening on {a}");
        }
        wait_for_signal().await;
        tracing::info!(target: "duet", "shutting down: not ready");
        let left = running.shutdown().await;
        tracing::info!(target: "duet", "shut down ({left} connections cut at the deadline)");
        Ok(())
    }
}

/// What the servers of one address share, before it is bound.
struct Prepared {
    site: Arc<Site>,
    limits: Arc<Limits>,
    tls: Option<Acceptor>,
    proxy: Option<Arc<crate::config::ProxyProtocol>>,
    reuse_port: bool,
    slots: Arc<Semaphore>,
}

/// Checks the servers of `addr` and builds what its listener shares.
fn prepare(addr: SocketAddr, group: Vec<Server>) -> Result<Prepared, Error> {
    let mut servers = Vec::new();
    for s in group {
        let (_, mut parts) = s.into_vhost();
        if !parts.errors.is_empty() {
            return Err(parts.errors.remove(0));
        }
        servers.push(parts);
    }
    // What is decided before a request's server is known (header limits,
    // timeouts, HTTP/2 settings, the PROXY header) follows the port's
    // first server (the first that sets it, for the PROXY protocol).
    let limits = servers
        .first()
        .map(|s| s.limits.clone())
        .unwrap_or_default();
    let proxy = servers.iter().find_map(|s| s.proxy.clone()).map(Arc::new);
    let reuse_port = servers.iter().any(|s| s.reuse_port);
    let table = Arc::new(VhostTable::new(addr, &servers)?);
    let tls = Acceptor::for_port(addr, &servers, table.clone())?;
    let site = Site::new(servers, table, tls.is_some());
    // The connection cap is the address's, however many listeners serve it.
    let slots = Arc::new(Semaphore::new(
        limits.max_connections.clamp(1, Semaphore::MAX_PERMITS),
    ));
    Ok(Prepared {
        site: Arc::new(site),
        limits: Arc::new(limits),
        tls,
        proxy,
        reuse_port,
        slots,
    })
}

/// A listening socket on `addr` (`SO_REUSEADDR`, and `SO_REUSEPORT` when
/// asked), not yet registered with a runtime.
fn bind(addr: SocketAddr, reuse_port: bool) -> Result<std::net::TcpListener, Error> {
    let fail = |source| Error::Bind { addr, source };
    let socket =
        Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).map_err(fail)?;
    #[cfg(unix)]
    {
        // As std's TcpListener::bind: a restarted server can bind while
        // connections of the previous one are in TIME_WAIT.
        socket.set_reuse_address(true).map_err(fail)?;
        if reuse_port {
            socket.set_reuse_port(true).map_err(fail)?;
        }
    }
    #[cfg(not(unix))]
    if reuse_port {
        return Err(fail(io::Error::new(
            io::ErrorKind::Unsupported,
            "SO_REUSEPORT is a Unix socket option",
        )));
    }
    socket.bind(&addr.into()).map_err(fail)?;
    socket.listen(1024).map_err(fail)?;
    socket.set_nonblocking(true).map_err(fail)?;
    Ok(socket.into())
}

/// Registers a bound listener with the current runtime.
fn from_std(l: std::net::TcpListener) -> Result<TcpListener, Error> {
    let addr = l
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    TcpListener::from_std(l).map_err(|source| Error::Bind { addr, source })
}

/// The thread of one per-core runtime: accepts on its listeners until the
/// executor says exit; then the runtime, and what is left on it, is
/// dropped.
fn run_core(
    work: Vec<(std::net::TcpListener, Port)>,
    mut exit: Shutdown,
    started: oneshot::Sender<Result<Vec<JoinHandle<()>>, Error>>,
) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(source) => {
            let _ = started.send(Err(Error::Runtime { source }));
            return;
        }
    };
    rt.block_on(async move {
        let mut handles = Vec::new();
        for (l, port) in work {
            match from_std(l) {
                Ok(l) => handles.push(tokio::spawn(accept_loop(l, port))),
                Err(e) => {
                    let _ = started.send(Err(e));
                    return;
                }
            }
        }
        if started.send(Ok(handles)).is_ok() {
            exit.wait().await;
        }
    });
}

/// The per-core runtimes' threads.
struct Cores {
    exit: ShutdownTrigger,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Cores {
    /// Ends the runtimes and waits for their threads.
    async fn stop(self) {
        self.exit.trigger();
        let threads = self.threads;
        let _ = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        })
        .await;
    }
}

/// The shutdown's first part, from the moment it begins: readiness off,
/// the listeners still accepting for `delay`, then no longer (the
/// connections are told to drain at the same moment).
async fn drain(
    mut begin: Shutdown,
    ready: Arc<AtomicBool>,
    delay: Duration,
    stop: ShutdownTrigger,
    accept_tasks: Vec<JoinHandle<()>>,
) {
    begin.wait().await;
    ready.store(false, Ordering::Release);
    if !delay.is_zero() {
        tracing::info!(target: "duet", "shutdown: /readyz answers 503; accepting for {delay:?} more (drain delay)");
        tokio::time::sleep(delay).await;
    }
    stop.trigger();
    for t in accept_tasks {
        t.abort();
        let _ = t.await;
    }
    tracing::info!(target: "duet", "shutdown: no longer accepting; draining connections");
}

/// The admin listener, running on the caller's runtime until the drain is
/// over.
struct AdminRunning {
    addr: SocketAddr,
    shutdown: ShutdownTrigger,
    tracker: Arc<Tracker>,
    task: JoinHandle<()>,
}

impl AdminRunning {
    async fn start(admin: Admin, ready: Arc<AtomicBool>) -> Result<AdminRunning, Error> {
        let addr = admin.addr();
        let server = admin.into_server(ready);
        let port = prepare(addr, vec![server])?;
        let l = from_std(bind(addr, false)?)?;
        let bound = l
            .local_addr()
            .map_err(|source| Error::Bind { addr, source })?;
        let (shutdown, shutdown_rx) = shutdown::channel();
        let tracker = Arc::new(Tracker::default());
        let port = Port {
            local: None,
            site: port.site,
            h2: Arc::new(crate::proto::h2::Config::from_limits(&port.limits)),
            limits: port.limits,
            tls: None,
            proxy: None,
            slots: port.slots,
            shutdown: shutdown_rx,
            tracker: tracker.clone(),
            // Probes and scrapes are not traffic.
            observed: false,
        };
        Ok(AdminRunning {
            addr: bound,
            shutdown,
            tracker,
            task: tokio::spawn(accept_loop(l, port)),
        })
    }

    /// Stops the admin listener: probes in flight get their answer (for a
    /// second at most).
    async fn stop(self) {
        self.shutdown.trigger();
        self.task.abort();
        let _ = self.task.await;
        let idle = self.tracker.idle();
        if tokio::time::timeout(Duration::from_secs(1), idle)
            .await
            .is_err()
        {
            self.shutdown.abort();
        }
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

/// Servers being served. Stop them with [`Running::shutdown`] (or
/// [`Running::wait`]).
///
/// Dropping it is not a graceful stop. Shutdown begins at the drop (or,
/// while a [`ShutdownHandle`] is held, when that handle is used): the
/// listeners stop after the drain delay, and open connections are then
/// closed without the grace that [`Running::shutdown`] gives them.
pub struct Running {
    addrs: Vec<SocketAddr>,
    begin: ShutdownTrigger,
    abort: ShutdownTrigger,
    tracker: Arc<Tracker>,
    drain: JoinHandle<()>,
    grace: Duration,
    ready: Arc<AtomicBool>,
    admin: Option<AdminRunning>,
    cores: Option<Cores>,
}

/// Starts a graceful shutdown from anywhere (cheap to clone).
#[derive(Clone)]
pub struct ShutdownHandle {
    trigger: ShutdownTrigger,
    ready: Arc<AtomicBool>,
}

impl ShutdownHandle {
    /// Begins graceful shutdown: readiness turns off at once; after the
    /// drain delay the listeners stop accepting and connections finish
    /// what they are doing.
    pub fn shutdown(&self) {
        self.ready.store(false, Ordering::Release);
        self.trigger.trigger();
    }
}

impl Running {
    /// The bound addresses, one per address served, in the order servers
    /// were added (ephemeral ports resolved).
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

    /// The admin listener's bound address, when there is one.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(|a| a.addr)
    }

    /// True while the servers accept connections and shutdown has not
    /// begun: what `/readyz` answers.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// The number of connections open now (the admin listener's not
    /// counted).
    pub fn connections(&self) -> usize {
        self.tracker.count.load(Ordering::Acquire)
    }

    /// A handle that can begin shutdown from another task.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            trigger: self.begin.clone(),
            ready: self.ready.clone(),
        }
    }

    /// Graceful shutdown: readiness off at once, the listeners still
    /// accepting for the drain delay; then stop accepting, let in-flight
    /// requests finish (up to the `shutdown_grace` limit; HTTP/1.1
    /// answers carry `Connection: close`, HTTP/2 connections get GOAWAY),
    /// close idle connections, and stop the admin listener (and the
    /// per-core runtimes). Returns the number of connections that had to
    /// be cut at the deadline.
    pub async fn shutdown(self) -> usize {
        self.ready.store(false, Ordering::Release);
        self.begin.trigger();
        let _ = self.drain.await;
        let drained = tokio::time::timeout(self.grace, self.tracker.idle()).await;
        let left = self.tracker.count.load(Ordering::Acquire);
        if drained.is_err() && left > 0 {
            tracing::warn!(target: "duet", "{left} connections still open at the shutdown deadline; closing them");
            self.abort.abort();
            let _ = tokio::time::timeout(Duration::from_secs(1), self.tracker.idle()).await;
        }
        if let Some(admin) = self.admin {
            admin.stop().await;
        }
        if let Some(cores) = self.cores {
            cores.stop().await;
        }
        left
    }

    /// Waits until shutdown begins (from a [`ShutdownHandle`]) and then
    /// drains like [`Running::shutdown`].
    pub async fn wait(self) -> usize {
        let mut s = Shutdown::from_trigger(&self.begin);
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

    pub(crate) async fn idle(&self) {
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
