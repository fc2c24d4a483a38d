//! The executor: binds every port once, runs accept loops, and shuts down
//! gracefully — stop accepting, let in-flight requests finish up to a
//! deadline, close idle connections.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use http::Version;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use super::shutdown::{self, Shutdown, ShutdownTrigger};
use super::{ConnParams, Site, H2_PREFACE};
use crate::app::context::ConnContext;
use crate::app::server::Server;
use crate::config::Limits;

static NEXT_CONN_ID: AtomicU64 = AtomicU64::new(1);

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
    /// port, bad TLS files) are reported here.
    pub async fn start(self) -> io::Result<Running> {
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
            let servers = groups.remove(&addr).unwrap_or_default();
            let limits = servers
                .first()
                .map(|s| s.limits.clone())
                .unwrap_or_default();
            let h2c_upgrade = servers.first().map(|s| s.h2c_upgrade).unwrap_or(true);
            let vhosts: Vec<_> = servers.into_iter().map(|s| s.into_vhost().1).collect();
            let tls = super::tls::Acceptor::for_port(&vhosts)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{addr}: {e}")))?;
            let site = Site::new(vhosts, tls.is_some())
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{addr}: {e}")))?;
            grace = grace.max(limits.shutdown_grace);
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
            addrs.push(listener.local_addr()?);
            prepared.push((listener, Arc::new(site), Arc::new(limits), h2c_upgrade, tls));
        }
        let mut accept_tasks = Vec::new();
        for (listener, site, limits, h2c_upgrade, tls) in prepared {
            let port = Port {
                local: None,
                site,
                limits,
                h2c_upgrade,
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
    pub async fn run(self) -> io::Result<()> {
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
struct Tracker {
    count: AtomicUsize,
    notify: Notify,
}

impl Tracker {
    fn enter(self: &Arc<Self>) -> TrackGuard {
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

struct TrackGuard(Arc<Tracker>);

impl Drop for TrackGuard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.notify.notify_waiters();
        }
    }
}

/// Everything the connections of one listener share.
#[derive(Clone)]
struct Port {
    /// The local address of every accepted connection, when the listener
    /// is bound to a specific IP.
    local: Option<SocketAddr>,
    site: Arc<Site>,
    limits: Arc<Limits>,
    h2c_upgrade: bool,
    tls: Option<super::tls::Acceptor>,
    shutdown: Shutdown,
    abort: Shutdown,
    tracker: Arc<Tracker>,
}

async fn accept_loop(listener: TcpListener, mut port: Port) {
    port.local = listener
        .local_addr()
        .ok()
        .filter(|a| !a.ip().is_unspecified());
    let mut shutdown = port.shutdown.clone();
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown.wait() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                let guard = port.tracker.enter();
                let port = port.clone();
                tokio::spawn(async move {
                    let mut abort = port.abort.clone();
                    tokio::select! {
                        _ = serve_connection(stream, peer, &port) => {}
                        _ = abort.wait() => {}
                    }
                    drop(guard);
                });
            }
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(target: "duet", "accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

async fn serve_connection(stream: TcpStream, peer: SocketAddr, port: &Port) {
    let _ = stream.set_nodelay(true);
    // A listener bound to one address already knows the local address;
    // only a wildcard listener needs to ask (one syscall per connection).
    let local = match port.local {
        Some(a) => a,
        None => stream.local_addr().unwrap_or(peer),
    };
    let id = NEXT_CONN_ID.fetch_add(1, Ordering::Relaxed);
    if let Some(tls) = &port.tls {
        // Boxed: the handshake's state is large and only TLS ports need it.
        Box::pin(tls.serve(
            stream,
            peer,
            local,
            id,
            port.site.clone(),
            port.limits.clone(),
            port.shutdown.clone(),
        ))
        .await;
        return;
    }
    let conn = ConnContext::new(id, peer, local, Version::HTTP_11, None);
    let params = ConnParams {
        site: port.site.clone(),
        conn,
        limits: port.limits.clone(),
        shutdown: port.shutdown.clone(),
        h2c_upgrade: port.h2c_upgrade,
    };
    // Wait for the first bytes before giving the connection a buffer: an
    // accepted connection that says nothing costs no buffer memory.
    let mut shutdown = params.shutdown.clone();
    let first = tokio::select! {
        r = tokio::time::timeout(params.limits.header_read_timeout, stream.readable()) => r,
        _ = shutdown.wait() => return,
    };
    if !matches!(first, Ok(Ok(()))) {
        return;
    }
    serve_cleartext(stream, params).await;
}

/// Reads the first bytes of a cleartext connection and hands it to the
/// HTTP/2 driver (prior-knowledge preface, RFC 9113 §3.3) or the HTTP/1.1
/// driver.
pub(crate) async fn serve_cleartext<IO>(mut io: IO, params: ConnParams)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let mut buf = BytesMut::with_capacity(4 * 1024);
    let deadline = tokio::time::Instant::now() + params.limits.header_read_timeout;
    let mut shutdown = params.shutdown.clone();
    // Read until the bytes either diverge from the preface or contain all of it.
    loop {
        let read = tokio::select! {
            r = tokio::time::timeout_at(deadline, io.read_buf(&mut buf)) => r,
            _ = shutdown.wait() => return,
        };
        match read {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return,
            Ok(Ok(_)) => {}
        }
        let n = buf.len().min(H2_PREFACE.len());
        if buf[..n] != H2_PREFACE[..n] || n == H2_PREFACE.len() {
            break;
        }
    }
    if buf.starts_with(H2_PREFACE) {
        params.conn.set_version(Version::HTTP_2);
        // Boxed, so a connection's task holds only the driver it uses.
        let _ = Box::pin(super::h2::serve(io, buf, params)).await;
    } else {
        let _ = Box::pin(super::h1::serve(io, buf, params)).await;
    }
}

#[cfg(test)]
mod size_tests {
    /// Every open connection holds its driver's future: keep them small, so
    /// that idle connections cost little memory (the benchmark measures the
    /// total; this catches a stray buffer held across an await).
    #[test]
    fn connection_futures_stay_small() {
        use tokio::net::TcpStream;
        fn size<F: std::future::Future>(_: &F) -> usize {
            std::mem::size_of::<F>()
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let a = l.local_addr().expect("addr");
            let p = || super::ConnParams {
                site: std::sync::Arc::new(super::Site::new(Vec::new(), false).expect("site")),
                conn: crate::app::context::ConnContext::new(0, a, a, http::Version::HTTP_11, None),
                limits: Default::default(),
                shutdown: super::shutdown::channel().1,
                h2c_upgrade: true,
            };
            let s = TcpStream::connect(a).await.expect("connect");
            let h1 = size(&super::super::h1::serve(s, bytes::BytesMut::new(), p()));
            let s = TcpStream::connect(a).await.expect("connect");
            let h2 = size(&super::super::h2::serve(s, bytes::BytesMut::new(), p()));
            let s = TcpStream::connect(a).await.expect("connect");
            let detect = size(&super::serve_cleartext(s, p()));
            assert!(h1 <= 3 * 1024, "HTTP/1.1 connection future is {h1} bytes");
            assert!(h2 <= 2560, "HTTP/2 connection future is {h2} bytes");
            assert!(
                detect <= 1024,
                "protocol detection future is {detect} bytes"
            );
        });
    }
}
