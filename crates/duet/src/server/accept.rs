//! The one accept path: every connection of every port goes through here,
//! and the protocol it speaks is chosen here and nowhere else —
//!
//! - first, on a listener with the PROXY protocol on, the PROXY header
//!   (v1 or v2, from a trusted source; `proxy.rs`): the client address it
//!   carries becomes the connection's peer, and the protocol is chosen
//!   from the bytes after it;
//! - TLS: the handshake (bounded by `Limits::tls_handshake_timeout`), then
//!   ALPN: `h2` is HTTP/2, anything else or none HTTP/1.1 (RFC 9113 §3.2,
//!   RFC 7301);
//! - cleartext: the client preface is HTTP/2 with prior knowledge
//!   (RFC 9113 §3.3), anything else HTTP/1.1;
//! - HTTP/1.1 `Upgrade: h2c` (RFC 7540 §3.2): taken when the request's
//!   virtual server allows it and the connection is cleartext
//!   ([`take_h2c_upgrade`]); the HTTP/1.1 driver hands the connection back
//!   and it continues as HTTP/2 here.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::task::AtomicWaker;
use futures_util::FutureExt;
use http::Version;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use super::executor::Tracker;
use super::proxy;
use super::site::Admission;
use super::tls::Acceptor;
use super::{ConnParams, Shutdown, Site};
use crate::app::body::Body;
use crate::app::context::ConnContext;
use crate::config::{Limits, ProxyProtocol};
use crate::observability::{self, ConnProtocol, OpenConnection};
use crate::proto::h2::PREFACE;

static NEXT_CONN_ID: AtomicU64 = AtomicU64::new(1);

/// Everything the connections of one listener share.
#[derive(Clone)]
pub(crate) struct Port {
    /// The local address of every accepted connection, when the listener
    /// is bound to a specific IP.
    pub(crate) local: Option<SocketAddr>,
    pub(crate) site: Arc<Site>,
    pub(crate) limits: Arc<Limits>,
    /// The HTTP/2 connection settings derived from `limits`.
    pub(crate) h2: Arc<crate::proto::h2::Config>,
    pub(crate) tls: Option<Acceptor>,
    /// Expect a PROXY header from these sources.
    pub(crate) proxy: Option<Arc<ProxyProtocol>>,
    /// `Limits::max_connections` of the address, shared by its listeners
    /// (one per core in the per-core mode).
    pub(crate) slots: Arc<Semaphore>,
    /// Graceful shutdown, then the end of its grace.
    pub(crate) shutdown: Shutdown,
    pub(crate) tracker: Arc<Tracker>,
    /// Its connections count in the metrics and have request spans.
    pub(crate) observed: bool,
}

/// The protocol a connection speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    Http1,
    Http2,
}

/// RFC 9113 §3.2, RFC 7301: over TLS, ALPN `h2` is HTTP/2; any other
/// protocol, or none, is HTTP/1.1.
fn select_by_alpn(alpn: Option<&[u8]>) -> Protocol {
    if alpn == Some(b"h2".as_slice()) {
        Protocol::Http2
    } else {
        Protocol::Http1
    }
}

/// RFC 9113 §3.3: a cleartext connection that starts with the client
/// preface is HTTP/2 with prior knowledge. `None` while the bytes read so
/// far are a prefix of the preface (read more).
fn select_by_preface(first: &[u8]) -> Option<Protocol> {
    let n = first.len().min(PREFACE.len());
    if first[..n] != PREFACE[..n] {
        Some(Protocol::Http1)
    } else if n == PREFACE.len() {
        Some(Protocol::Http2)
    } else {
        None
    }
}

/// RFC 7540 §3.2: an HTTP/1.1 request asking for `Upgrade: h2c` (with its
/// `HTTP2-Settings`) is upgraded when its virtual server allows it and the
/// connection is cleartext (over TLS only ALPN selects HTTP/2, RFC 9113
/// §3.2). Otherwise it is served as HTTP/1.1.
pub(crate) fn take_h2c_upgrade(asked: bool, admission: &Admission, conn: &ConnContext) -> bool {
    asked && admission.h2c_upgrade && !conn.is_tls()
}

/// An HTTP/1.1 connection that switched to HTTP/2 (`101` sent): what the
/// HTTP/2 driver needs to go on.
pub(crate) struct H2cUpgrade<IO> {
    pub(crate) io: IO,
    /// Bytes read after the upgrading request (the client preface).
    pub(crate) read: BytesMut,
    /// The decoded `HTTP2-Settings`.
    pub(crate) settings: Bytes,
    /// The upgrading request, answered on stream 1.
    pub(crate) request: http::Request<Body>,
    /// Its admission.
    pub(crate) admission: Admission,
    /// The connection's parameters.
    pub(crate) params: ConnParams,
}

/// Accepts the connections of one listener until shutdown: at most
/// `Limits::max_connections` at once (the rest wait in the accept queue),
/// backing off when the process runs out of file descriptors.
pub(crate) async fn accept_loop(listener: TcpListener, mut port: Port) {
    port.local = listener
        .local_addr()
        .ok()
        .filter(|a| !a.ip().is_unspecified());
    let mut shutdown = port.shutdown.clone();
    let slots = port.slots.clone();
    // Shared by the connections: one reference count per connection
    // instead of a copy of every field.
    let port = Arc::new(port);
    let mut backoff = Backoff::default();
    loop {
        let slot = tokio::select! {
            s = slots.clone().acquire_owned() => s,
            _ = shutdown.wait() => return,
        };
        let Ok(slot) = slot else { return };
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown.wait() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff.reset();
                tokio::spawn(connection_task(stream, peer, &port, slot));
            }
            Err(e) => {
                // EMFILE and friends: wait for descriptors to free up
                // instead of spinning on an accept that keeps failing; a
                // connection the peer aborted is just skipped.
                if let Some(wait) = backoff.after(&e) {
                    tracing::warn!(target: "duet", "accept failed: {e}; retrying in {wait:?}");
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = shutdown.wait() => return,
                    }
                }
            }
        }
    }
}

/// The task of one accepted connection: served until it ends or the
/// shutdown grace ends; it holds its connection slot and counts as open
/// (graceful shutdown waits for it) until then.
///
/// Built from combinators rather than an `async` block, which would hold
/// the connection's future beside its arguments for as long as it runs.
fn connection_task(
    stream: TcpStream,
    peer: SocketAddr,
    port: &Arc<Port>,
    slot: tokio::sync::OwnedSemaphorePermit,
) -> impl Future<Output = ()> + Send + 'static {
    let guard = port.tracker.enter();
    let wake = TaskWake::new();
    // Boxed: what comes before the protocol is known (a PROXY header, the
    // TLS handshake, the wait for the first bytes) is freed once it is,
    // and the task goes on with the driver's future alone.
    let drain = Drain(wake.clone());
    let serve = Box::pin(prepare_connection(stream, peer, port.clone(), drain))
        .then(futures_util::future::OptionFuture::from);
    let draining = wake.clone();
    let signals = port.shutdown.clone().until_abort(move || {
        draining.draining.store(true, Ordering::Release);
    });
    UntilAborted::new(serve, signals, wake).map(move |()| {
        drop(guard);
        drop(slot);
    })
}

pin_project_lite::pin_project! {
    /// Runs a connection until it ends or `signals` completes (the end of
    /// the shutdown grace). `signals` is polled first, and after that only
    /// when it woke the task: a connection is woken at least once per
    /// request, and polling the signal's waiter on each of those wake-ups
    /// (as a `select!` does) cost about 190 instructions per request.
    struct UntilAborted<S, A> {
        #[pin]
        serve: S,
        #[pin]
        signals: A,
        wake: Arc<TaskWake>,
        waker: std::task::Waker,
    }
}

/// The waker `signals` is polled with (it notes that it fired, then wakes
/// the connection's task), and the connection's drain flag.
struct TaskWake {
    fired: AtomicBool,
    task: AtomicWaker,
    /// Graceful shutdown has begun.
    draining: AtomicBool,
}

impl TaskWake {
    fn new() -> Arc<TaskWake> {
        Arc::new(TaskWake {
            // The signals are polled the first time, which registers
            // their waiter.
            fired: AtomicBool::new(true),
            task: AtomicWaker::new(),
            draining: AtomicBool::new(false),
        })
    }
}

impl std::task::Wake for TaskWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.fired.store(true, Ordering::Release);
        self.task.wake();
    }
}

/// Graceful shutdown as a connection's driver sees it: a flag that the
/// connection's task sets, waking the task, when shutdown begins. A
/// driver reads it on each pass instead of holding a waiter of its own on
/// the shutdown signal (about 150 bytes per connection, and a poll of the
/// waiter per wake-up).
#[derive(Clone)]
pub(crate) struct Drain(Arc<TaskWake>);

impl Drain {
    /// True once graceful shutdown has begun.
    pub(crate) fn is_set(&self) -> bool {
        self.0.draining.load(Ordering::Acquire)
    }

    /// A flag no task sets (the size test's drivers).
    #[cfg(test)]
    pub(crate) fn unset() -> Drain {
        Drain(TaskWake::new())
    }
}

impl<S: Future, A: Future> UntilAborted<S, A> {
    fn new(serve: S, signals: A, wake: Arc<TaskWake>) -> Self {
        UntilAborted {
            serve,
            signals,
            waker: std::task::Waker::from(wake.clone()),
            wake,
        }
    }
}

impl<S: Future, A: Future> Future for UntilAborted<S, A> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        let this = self.project();
        this.wake.task.register(cx.waker());
        if this.wake.fired.swap(false, Ordering::AcqRel) {
            let mut acx = std::task::Context::from_waker(this.waker);
            if this.signals.poll(&mut acx).is_ready() {
                return std::task::Poll::Ready(());
            }
        }
        this.serve.poll(cx).map(|_| ())
    }
}

/// How long to wait after a failed accept.
#[derive(Default)]
struct Backoff {
    next: Option<Duration>,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(10);
    const MAX: Duration = Duration::from_secs(1);

    /// The wait after `e`: none for errors about one connection (it was
    /// reset before we took it), 10 ms doubling to 1 s for errors about the
    /// process (out of descriptors or memory).
    fn after(&mut self, e: &io::Error) -> Option<Duration> {
        match e.kind() {
            io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock => return None,
            _ => {}
        }
        let wait = self.next.unwrap_or(Self::FIRST);
        self.next = Some((wait * 2).min(Self::MAX));
        Some(wait)
    }

    fn reset(&mut self) {
        self.next = None;
    }
}

/// A connection's driver future, once its protocol is known.
type Served = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Everything before the protocol is known: the PROXY header, the TLS
/// handshake or the first bytes. `None` when the connection is to be
/// closed.
async fn prepare_connection(
    mut stream: TcpStream,
    mut peer: SocketAddr,
    port: Arc<Port>,
    drain: Drain,
) -> Option<Served> {
    let _ = stream.set_nodelay(true);
    if let Some(trusted) = &port.proxy {
        // Boxed: only PROXY ports hold the header's state.
        match Box::pin(read_proxy_header(&mut stream, peer, trusted, &port)).await {
            Some(client) => peer = client,
            None => return None,
        }
    }
    // A listener bound to one address already knows the local address;
    // only a wildcard listener needs to ask (one syscall per connection).
    let local = match port.local {
        Some(a) => a,
        None => stream.local_addr().unwrap_or(peer),
    };
    let id = NEXT_CONN_ID.fetch_add(1, Ordering::Relaxed);
    if let Some(tls) = &port.tls {
        // Boxed: the handshake's state is large and only TLS ports need it.
        return Box::pin(prepare_tls(tls, stream, peer, local, id, &port, drain)).await;
    }
    let params = ConnParams {
        site: port.site.clone(),
        conn: ConnContext::accepted(id, peer, local, Version::HTTP_11, None),
        limits: port.limits.clone(),
        h2: port.h2.clone(),
        shutdown: port.shutdown.clone(),
        drain,
        observed: port.observed,
    };
    drop(port);
    let (protocol, read) = read_preface(&mut stream, &params).await?;
    Some(serve_as(protocol, stream, read, params))
}

/// The client address of a connection that starts with a PROXY header
/// (the connection's own peer when the header carries none); `None` when
/// the connection is to be closed: an untrusted source, a missing,
/// malformed or late header, or shutdown.
async fn read_proxy_header(
    stream: &mut TcpStream,
    peer: SocketAddr,
    trusted: &ProxyProtocol,
    port: &Port,
) -> Option<SocketAddr> {
    if !trusted.trusts(peer.ip()) {
        tracing::debug!(target: "duet", "{peer}: not a trusted PROXY protocol source; closed");
        return None;
    }
    let mut shutdown = port.shutdown.clone();
    let read = tokio::select! {
        r = tokio::time::timeout(port.limits.header_read_timeout, proxy::read_header(stream)) => r,
        _ = shutdown.wait() => return None,
    };
    match read {
        Ok(Ok(client)) => Some(client.unwrap_or(peer)),
        Ok(Err(e)) => {
            tracing::debug!(target: "duet", "{peer}: {e}; closed");
            None
        }
        Err(_) => {
            tracing::debug!(target: "duet", "{peer}: no whole PROXY protocol header in time; closed");
            None
        }
    }
}

async fn prepare_tls(
    tls: &Acceptor,
    stream: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    id: u64,
    port: &Port,
    drain: Drain,
) -> Option<Served> {
    let mut stop = port.shutdown.clone();
    let done = tokio::select! {
        r = tokio::time::timeout(port.limits.tls_handshake_timeout, tls.handshake(stream)) => r,
        _ = stop.wait() => return None,
    };
    let (stream, info) = match done {
        Ok(Ok(done)) => {
            observability::tls_handshake("ok");
            done
        }
        Ok(Err(e)) => {
            observability::tls_handshake("failed");
            tracing::debug!(target: "duet", "{peer}: TLS handshake failed: {e}");
            return None;
        }
        Err(_) => {
            observability::tls_handshake("timeout");
            tracing::debug!(target: "duet", "{peer}: TLS handshake timed out");
            return None;
        }
    };
    let protocol = select_by_alpn(info.alpn.as_deref());
    let version = match protocol {
        Protocol::Http2 => Version::HTTP_2,
        Protocol::Http1 => Version::HTTP_11,
    };
    let params = ConnParams {
        site: port.site.clone(),
        conn: ConnContext::accepted(id, peer, local, version, Some(info)),
        limits: port.limits.clone(),
        h2: port.h2.clone(),
        shutdown: port.shutdown.clone(),
        drain,
        observed: port.observed,
    };
    Some(serve_as(protocol, stream, BytesMut::new(), params))
}

/// The protocol of a cleartext connection and the bytes that showed it;
/// `None` when the connection is to be closed (it ended, sent nothing in
/// time, or shutdown began).
async fn read_preface(io: &mut TcpStream, params: &ConnParams) -> Option<(Protocol, BytesMut)> {
    // Wait for the first bytes before giving the connection a buffer: an
    // accepted connection that says nothing costs no buffer memory.
    let mut shutdown = params.shutdown.clone();
    let first = tokio::select! {
        r = tokio::time::timeout(params.limits.header_read_timeout, io.readable()) => r,
        _ = shutdown.wait() => return None,
    };
    if !matches!(first, Ok(Ok(()))) {
        return None;
    }
    let mut buf = BytesMut::with_capacity(4 * 1024);
    let deadline = tokio::time::Instant::now() + params.limits.header_read_timeout;
    loop {
        let read = tokio::select! {
            r = tokio::time::timeout_at(deadline, io.read_buf(&mut buf)) => r,
            _ = shutdown.wait() => return None,
        };
        match read {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return None,
            Ok(Ok(_)) => {}
        }
        if let Some(p) = select_by_preface(&buf) {
            return Some((p, buf));
        }
    }
}

/// The future serving a connection with `protocol`; `read` holds bytes
/// already read. Boxed, so that a connection's task holds only the driver
/// it uses, once.
///
/// Built from combinators around the driver's future rather than an
/// `async` block awaiting it: a block would keep the driver's future
/// beside a copy of what it returns (about 1 KB more per connection).
fn serve_as<IO>(protocol: Protocol, io: IO, read: BytesMut, params: ConnParams) -> Served
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // The context, not the address: it is held for as long as the
    // connection is open (8 bytes instead of 32).
    let conn = params.conn.clone();
    let log = move |served: io::Result<()>| {
        if let Err(e) = served {
            let peer = conn.peer_addr();
            tracing::debug!(target: "duet", "{peer}: connection ended: {e}");
        }
    };
    let observed = params.observed;
    match protocol {
        Protocol::Http2 => {
            params.conn.set_version(Version::HTTP_2);
            let h2 = if params.conn.is_tls() {
                ConnProtocol::H2
            } else {
                ConnProtocol::H2c
            };
            let open = observed.then(|| OpenConnection::new(h2));
            Box::pin(super::h2::serve(io, read, params).map(move |served| {
                drop(open);
                log(served);
            }))
        }
        Protocol::Http1 => {
            let open = observed.then(|| OpenConnection::new(ConnProtocol::Http1));
            Box::pin(
                super::h1::serve(io, read, params).then(move |served| async move {
                    drop(open);
                    match served {
                        Ok(Some(up)) => {
                            let _open = observed.then(|| OpenConnection::new(ConnProtocol::H2c));
                            up.params.conn.set_version(Version::HTTP_2);
                            // Boxed: the HTTP/2 driver's state would
                            // otherwise sit in every HTTP/1.1 connection's
                            // future.
                            log(Box::pin(super::h2::serve_upgraded(*up)).await);
                        }
                        Ok(None) => {}
                        Err(e) => log(Err(e)),
                    }
                }),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_errors_back_off_doubling_to_a_second() {
        let mut b = Backoff::default();
        let emfile = io::Error::from_raw_os_error(24);
        let waits: Vec<_> = (0..9).filter_map(|_| b.after(&emfile)).collect();
        assert_eq!(waits[0], Duration::from_millis(10));
        assert_eq!(waits[1], Duration::from_millis(20));
        assert_eq!(waits[7], Duration::from_secs(1));
        assert_eq!(waits[8], Duration::from_secs(1));
        let aborted = io::Error::from(io::ErrorKind::ConnectionAborted);
        assert_eq!(b.after(&aborted), None);
        b.reset();
        assert_eq!(b.after(&emfile), Some(Duration::from_millis(10)));
    }

    #[test]
    fn protocol_selection() {
        assert_eq!(select_by_alpn(Some(b"h2")), Protocol::Http2);
        assert_eq!(select_by_alpn(Some(b"http/1.1")), Protocol::Http1);
        assert_eq!(select_by_alpn(None), Protocol::Http1);
        assert_eq!(select_by_preface(b"PRI * HT"), None);
        assert_eq!(select_by_preface(PREFACE), Some(Protocol::Http2));
        assert_eq!(
            select_by_preface(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0"),
            Some(Protocol::Http2)
        );
        assert_eq!(
            select_by_preface(b"GET / HTTP/1.1\r\n"),
            Some(Protocol::Http1)
        );
        assert_eq!(select_by_preface(b"P"), None);
        assert_eq!(select_by_preface(b"POST"), Some(Protocol::Http1));
    }
}

#[cfg(test)]
mod size_tests {
    use std::sync::Arc;

    use crate::server::site::{Site, VhostTable};
    /// Every open connection holds its task and its driver's future: keep
    /// them small, so that idle connections cost little memory (the
    /// benchmark measures the total; this catches a stray buffer or a
    /// second copy of a driver held across an await).
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
            let table = Arc::new(VhostTable::new(a, &[]).expect("table"));
            let site = Arc::new(Site::new(Vec::new(), table.clone(), false));
            let p = || super::ConnParams {
                site: site.clone(),
                conn: crate::app::context::ConnContext::new(a, a),
                limits: Default::default(),
                h2: Default::default(),
                shutdown: crate::server::shutdown::channel().1,
                drain: super::Drain::unset(),
                observed: true,
            };
            let port = Arc::new(super::Port {
                local: Some(a),
                site: site.clone(),
                limits: Default::default(),
                h2: Default::default(),
                tls: None,
                proxy: None,
                slots: Arc::new(tokio::sync::Semaphore::new(1)),
                shutdown: crate::server::shutdown::channel().1,
                tracker: Default::default(),
                observed: true,
            });
            let connect = || TcpStream::connect(a);
            let s = connect().await.expect("connect");
            let h1 = size(&crate::server::h1::serve(s, bytes::BytesMut::new(), p()));
            let s = connect().await.expect("connect");
            let h2 = size(&crate::server::h2::serve(s, bytes::BytesMut::new(), p()));
            // What a connection holds once its protocol is known: the task
            // and the boxed driver future.
            let s = connect().await.expect("connect");
            let slot = port.slots.clone().acquire_owned().await.expect("slot");
            let task = size(&super::connection_task(s, a, &port, slot));
            let served = |protocol| async move {
                let s = connect().await.expect("connect");
                let f = super::serve_as(protocol, s, bytes::BytesMut::new(), p());
                std::mem::size_of_val(&*f)
            };
            let h1_boxed = served(super::Protocol::Http1).await;
            let h2_boxed = served(super::Protocol::Http2).await;
            let sizes =
                format!("h1 {h1}, h2 {h2}, task {task}, boxed h1 {h1_boxed}, boxed h2 {h2_boxed}");
            eprintln!("connection futures (bytes): {sizes}");
            // The bound is the allocator's size class the boxed futures
            // fit in (jemalloc: 1280; the task's cell adds about 130 bytes
            // to `task`): crossing it costs every idle connection 256
            // bytes.
            assert!(h1_boxed <= 1280, "{sizes}");
            assert!(h2_boxed <= 1280, "{sizes}");
            assert!(task <= 256, "{sizes}");
            assert!(h1_boxed <= h1 + 64 && h2_boxed <= h2 + 64, "{sizes}");
        });
    }
}
