//! Switching protocols, whatever the version: an HTTP/1.1 `Upgrade`
//! answered `101`, an HTTP/2 extended CONNECT (RFC 8441) or a CONNECT
//! tunnel answered `2xx` — one API, and one result: an [`Upgraded`] byte
//! stream (`AsyncRead + AsyncWrite`) to hand to any library.
//!
//! ```no_run
//! use duet::upgrade::Upgrade;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! // Echoes whatever arrives, over `Upgrade: x-echo` (HTTP/1.1) or an
//! // extended CONNECT with `:protocol = x-echo` (HTTP/2).
//! async fn echo(up: Upgrade) -> duet::Response {
//!     up.on_upgrade(|mut io| async move {
//!         let mut buf = [0u8; 1024];
//!         while let Ok(n) = io.read(&mut buf).await {
//!             if n == 0 || io.write_all(&buf[..n]).await.is_err() {
//!                 break;
//!             }
//!         }
//!         let _ = io.shutdown().await;
//!     })
//! }
//! ```
//!
//! - **HTTP/1.1**: a request whose `Connection` lists `upgrade` and that
//!   has an `Upgrade` field and no content (RFC 9110 §7.8), or a `CONNECT`
//!   to an authority (§9.3.6). After the `101` (or the `2xx` to CONNECT)
//!   the connection itself — with any bytes the client sent early — is the
//!   stream.
//! - **HTTP/2**: a `CONNECT`, extended (`:protocol`, RFC 8441 §4: the
//!   server advertises `SETTINGS_ENABLE_CONNECT_PROTOCOL`) or plain
//!   (RFC 9113 §8.5). After the `2xx` the stream is the byte stream: the
//!   request's DATA frames are what is read, within the stream's
//!   flow-control window (credit returns as the application reads), and
//!   what is written goes out as DATA frames, held to a bounded buffer
//!   that the connection drains only as the peer's windows allow (a peer
//!   that does not read makes writes wait). Shutting the write side down
//!   sends END_STREAM; dropping the stream without that resets it.
//!
//! The stream knows when the server shuts down gracefully
//! ([`Upgraded::shutdown_signal`]): a protocol with a goodbye of its own
//! (WebSocket's close 1001) says it then. The connection counts as open
//! until the stream is dropped, so graceful shutdown waits for it (up to
//! `Limits::shutdown_grace`).
//!
//! In a `tower::Service` the same upgrade is the request extension
//! [`OnUpgrade`]: take it, answer `101` (or `2xx` to CONNECT), and await
//! it. A response that grants an upgrade nobody holds is answered 500.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use bytes::{Buf, Bytes, BytesMut};
use http::header::{CONNECTION, UPGRADE};
use http::{HeaderValue, Method, StatusCode, Version};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{oneshot, watch};

use super::body::{Body, BodyError};
use super::extract::{FromRequestParts, RequestHead};
use super::response::{HttpError, Response};
use crate::proto::http::upgrade::{Asked, ConnectProtocol};

/// Bytes written to an HTTP/2 upgraded stream that may wait for the
/// connection to take them (one DATA frame's worth at the default frame
/// size); a writer past it waits.
const H2_WRITE_BUFFER: usize = 16 * 1024;

// ----- the shutdown signal -----

/// Tells an upgraded connection that the server is shutting down
/// gracefully: time to say goodbye (WebSocket: close 1001) and end.
#[derive(Clone, Debug, Default)]
pub struct ShutdownSignal {
    rx: Option<watch::Receiver<u8>>,
}

impl ShutdownSignal {
    pub(crate) fn new(rx: watch::Receiver<u8>) -> Self {
        ShutdownSignal { rx: Some(rx) }
    }

    /// A signal that never fires (a stream made outside a server).
    pub fn never() -> Self {
        ShutdownSignal { rx: None }
    }

    /// True once graceful shutdown has begun.
    pub fn is_set(&self) -> bool {
        self.rx
            .as_ref()
            .is_some_and(|r| *r.borrow() >= crate::server::shutdown::DRAIN)
    }

    /// Completes when graceful shutdown begins (at once if it has); never
    /// for [`ShutdownSignal::never`].
    pub async fn wait(&mut self) {
        match &mut self.rx {
            // An error means the server is gone: as good as shut down.
            Some(rx) => {
                let _ = rx.wait_for(|p| *p >= crate::server::shutdown::DRAIN).await;
            }
            None => std::future::pending().await,
        }
    }
}

// ----- the future of the upgraded stream -----

/// The upgraded connection of a request, once its response granted the
/// upgrade: a request extension, set by the server on every request that
/// may switch protocols (and on no other). Await it after answering.
/// Clones share one stream: the first to await it gets it.
#[derive(Clone)]
pub struct OnUpgrade {
    rx: Arc<Mutex<Option<oneshot::Receiver<Upgraded>>>>,
}

impl std::fmt::Debug for OnUpgrade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnUpgrade")
    }
}

/// Why an upgrade did not happen.
#[derive(Debug)]
pub struct UpgradeError(&'static str);

impl std::fmt::Display for UpgradeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for UpgradeError {}

impl Future for OnUpgrade {
    type Output = Result<Upgraded, UpgradeError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Ok(mut slot) = self.rx.lock() else {
            return Poll::Ready(Err(UpgradeError("the upgrade's state is poisoned")));
        };
        let Some(rx) = slot.as_mut() else {
            return Poll::Ready(Err(UpgradeError("the upgraded stream was already taken")));
        };
        match Pin::new(rx).poll(cx) {
            Poll::Ready(r) => {
                *slot = None;
                Poll::Ready(r.map_err(|_| {
                    UpgradeError("the response did not grant the upgrade, or the peer left")
                }))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The driver's end of an [`OnUpgrade`]: what the request asked for, and
/// where the stream goes once a response grants it.
pub(crate) struct Pending {
    tx: oneshot::Sender<Upgraded>,
    asked: Asked,
}

/// A pending upgrade for a request that asks for `asked`.
pub(crate) fn pending(asked: Asked) -> (Pending, OnUpgrade) {
    let (tx, rx) = oneshot::channel();
    (
        Pending { tx, asked },
        OnUpgrade {
            rx: Arc::new(Mutex::new(Some(rx))),
        },
    )
}

impl Pending {
    /// What the request asked for.
    pub(crate) fn asked(&self) -> Asked {
        self.asked
    }

    /// True while someone holds the [`OnUpgrade`] (a handler that will
    /// take the stream).
    pub(crate) fn is_taken(&self) -> bool {
        !self.tx.is_closed()
    }

    /// Hands the stream over; false if nobody wants it any more (it is
    /// dropped: closed or reset).
    pub(crate) fn fulfil(self, up: Upgraded) -> bool {
        self.tx.send(up).is_ok()
    }
}

// ----- the stream -----

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// An upgraded connection: a bidirectional byte stream (`AsyncRead +
/// AsyncWrite`), the HTTP/1.1 connection itself or one HTTP/2 stream.
pub struct Upgraded {
    io: Kind,
    shutdown: ShutdownSignal,
    version: Version,
    /// Dropped with the stream: tells the connection it is over.
    _done: Option<oneshot::Sender<()>>,
    /// Called when the stream is dropped (HTTP/2: the tunnel's input is
    /// no longer read).
    on_drop: Option<Box<dyn FnOnce() + Send>>,
}

impl Drop for Upgraded {
    fn drop(&mut self) {
        if let Some(f) = self.on_drop.take() {
            f();
        }
    }
}

enum Kind {
    /// The HTTP/1.1 connection; `prefix`: bytes read past the request head.
    H1 { io: Box<dyn Io>, prefix: Bytes },
    /// One HTTP/2 stream: DATA in, DATA out.
    H2 {
        read: Body,
        leftover: Bytes,
        write: PipeWriter,
    },
}

impl std::fmt::Debug for Upgraded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upgraded")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl Upgraded {
    /// The HTTP/1.1 connection `io`, `prefix` the bytes already read past
    /// the request; `done` is dropped with the stream.
    pub(crate) fn h1<IO>(
        io: IO,
        prefix: Bytes,
        shutdown: ShutdownSignal,
        done: oneshot::Sender<()>,
    ) -> Upgraded
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        Upgraded {
            io: Kind::H1 {
                io: Box::new(io),
                prefix,
            },
            shutdown,
            version: Version::HTTP_11,
            _done: Some(done),
            on_drop: None,
        }
    }

    /// One HTTP/2 stream: `read` is the request body (its DATA), and the
    /// returned body is the response body the driver sends; `on_drop` is
    /// called when the stream is dropped.
    pub(crate) fn h2(
        read: Body,
        shutdown: ShutdownSignal,
        on_drop: Option<Box<dyn FnOnce() + Send>>,
    ) -> (Upgraded, Body) {
        let state = Arc::new(Mutex::new(Pipe::default()));
        let up = Upgraded {
            io: Kind::H2 {
                read,
                leftover: Bytes::new(),
                write: PipeWriter(state.clone()),
            },
            shutdown,
            version: Version::HTTP_2,
            _done: None,
            on_drop,
        };
        (up, Body::from_stream(PipeReader(state)))
    }

    /// The server's graceful shutdown, as it reaches this stream.
    pub fn shutdown_signal(&self) -> ShutdownSignal {
        self.shutdown.clone()
    }

    /// The HTTP version the upgrade happened on (`HTTP_11` or `HTTP_2`).
    pub fn version(&self) -> Version {
        self.version
    }
}

impl AsyncRead for Upgraded {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Kind::H1 { io, prefix } => {
                if !prefix.is_empty() {
                    let n = prefix.len().min(buf.remaining());
                    buf.put_slice(&prefix[..n]);
                    prefix.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Pin::new(io).poll_read(cx, buf)
            }
            Kind::H2 { read, leftover, .. } => {
                while leftover.is_empty() {
                    match read.poll_chunk(cx) {
                        Poll::Ready(Some(Ok(b))) => *leftover = b,
                        Poll::Ready(Some(Err(e))) => {
                            let kind = match e {
                                BodyError::Aborted => io::ErrorKind::ConnectionReset,
                                _ => io::ErrorKind::InvalidData,
                            };
                            return Poll::Ready(Err(io::Error::new(kind, e.to_string())));
                        }
                        // END_STREAM: end of input.
                        Poll::Ready(None) => return Poll::Ready(Ok(())),
                        Poll::Pending => return Poll::Pending,
                    }
                }
                let n = leftover.len().min(buf.remaining());
                buf.put_slice(&leftover[..n]);
                leftover.advance(n);
                Poll::Ready(Ok(()))
            }
        }
    }
}

impl AsyncWrite for Upgraded {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Kind::H1 { io, .. } => Pin::new(io).poll_write(cx, data),
            Kind::H2 { write, .. } => write.poll_write(cx, data),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Kind::H1 { io, .. } => Pin::new(io).poll_write_vectored(cx, bufs),
            Kind::H2 { write, .. } => {
                let first = bufs.iter().find(|b| !b.is_empty());
                write.poll_write(cx, first.map_or(&[][..], |b| &b[..]))
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Kind::H1 { io, .. } => io.is_write_vectored(),
            Kind::H2 { .. } => false,
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Kind::H1 { io, .. } => Pin::new(io).poll_flush(cx),
            // The connection writes what it has as soon as windows allow.
            Kind::H2 { .. } => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Kind::H1 { io, .. } => Pin::new(io).poll_shutdown(cx),
            Kind::H2 { write, .. } => {
                write.shut();
                Poll::Ready(Ok(()))
            }
        }
    }
}

// ----- HTTP/2: the bounded pipe from the writer to the stream's DATA -----

#[derive(Default)]
struct Pipe {
    buf: BytesMut,
    /// The writer shut down: END_STREAM after `buf`.
    shut: bool,
    /// The writer was dropped without shutting down: reset the stream.
    dropped: bool,
    /// The connection stopped reading it (the stream is gone).
    reader_gone: bool,
    reader: Option<Waker>,
    writer: Option<Waker>,
}

struct PipeWriter(Arc<Mutex<Pipe>>);
struct PipeReader(Arc<Mutex<Pipe>>);

impl PipeWriter {
    fn poll_write(&mut self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let Ok(mut p) = self.0.lock() else {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        };
        if p.reader_gone || p.shut {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let room = H2_WRITE_BUFFER.saturating_sub(p.buf.len());
        if room == 0 {
            p.writer = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = room.min(data.len());
        p.buf.extend_from_slice(&data[..n]);
        if let Some(w) = p.reader.take() {
            w.wake();
        }
        Poll::Ready(Ok(n))
    }

    fn shut(&mut self) {
        if let Ok(mut p) = self.0.lock() {
            p.shut = true;
            if let Some(w) = p.reader.take() {
                w.wake();
            }
        }
    }
}

impl Drop for PipeWriter {
    fn drop(&mut self) {
        if let Ok(mut p) = self.0.lock() {
            if !p.shut {
                p.dropped = true;
            }
            if let Some(w) = p.reader.take() {
                w.wake();
            }
        }
    }
}

impl futures_util::Stream for PipeReader {
    type Item = Result<Bytes, io::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let Ok(mut p) = self.0.lock() else {
            return Poll::Ready(Some(Err(io::ErrorKind::BrokenPipe.into())));
        };
        if !p.buf.is_empty() {
            let chunk = p.buf.split().freeze();
            if let Some(w) = p.writer.take() {
                w.wake();
            }
            return Poll::Ready(Some(Ok(chunk)));
        }
        if p.shut {
            return Poll::Ready(None);
        }
        if p.dropped {
            return Poll::Ready(Some(Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the upgraded stream was dropped without shutting down",
            ))));
        }
        p.reader = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for PipeReader {
    fn drop(&mut self) {
        if let Ok(mut p) = self.0.lock() {
            p.reader_gone = true;
            if let Some(w) = p.writer.take() {
                w.wake();
            }
        }
    }
}

// ----- the extractor -----

/// A request that asks to switch protocols, as an extractor: an HTTP/1.1
/// `Upgrade`, an HTTP/2 extended CONNECT, or a CONNECT tunnel (for a
/// server's [`connect`](crate::Server::connect) handler). A request that
/// asks for none is answered `426 Upgrade Required`.
#[derive(Debug)]
pub struct Upgrade {
    on_upgrade: OnUpgrade,
    protocol: Option<HeaderValue>,
    tunnel: bool,
    version: Version,
}

impl FromRequestParts for Upgrade {
    type Rejection = HttpError;

    async fn from_request_parts(head: &RequestHead) -> Result<Self, HttpError> {
        let parts = &head.ctx.parts;
        let Some(on_upgrade) = parts.extensions.get::<OnUpgrade>().cloned() else {
            return Err(HttpError::new(
                StatusCode::UPGRADE_REQUIRED,
                "this resource needs a protocol upgrade",
            ));
        };
        let tunnel = crate::proto::http::upgrade::is_tunnel(&parts.method, &parts.uri);
        let protocol = if parts.method == Method::CONNECT {
            parts
                .extensions
                .get::<ConnectProtocol>()
                .map(|p| p.0.clone())
        } else {
            first_token(parts.headers.get(UPGRADE))
        };
        Ok(Upgrade {
            on_upgrade,
            protocol,
            tunnel,
            version: parts.version,
        })
    }
}

/// The first item of a comma-separated field value.
fn first_token(v: Option<&HeaderValue>) -> Option<HeaderValue> {
    let v = v?.as_bytes();
    let first = v.split(|&b| b == b',').next()?.trim_ascii();
    (!first.is_empty())
        .then(|| HeaderValue::from_bytes(first).ok())
        .flatten()
}

impl Upgrade {
    /// The protocol asked for: the (first) `Upgrade` token on HTTP/1.1,
    /// the `:protocol` of an extended CONNECT; `None` for a CONNECT tunnel.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_ref().and_then(|p| p.to_str().ok())
    }

    /// True for a CONNECT tunnel to an authority (the request's `Uri`).
    pub fn is_tunnel(&self) -> bool {
        self.tunnel
    }

    /// The HTTP version of the request (`HTTP_11` or `HTTP_2`).
    pub fn version(&self) -> Version {
        self.version
    }

    /// The response that grants the upgrade and the future of the
    /// stream: on HTTP/1.1 `101 Switching Protocols` with `Connection:
    /// upgrade` and `Upgrade` naming the protocol; to a CONNECT (either
    /// version) `200 OK`. Add headers to the response as needed, return
    /// it, then await the future.
    pub fn into_response_and_future(self) -> (Response, OnUpgrade) {
        let response = if self.version == Version::HTTP_11 && !self.tunnel {
            let mut r = Response::new(StatusCode::SWITCHING_PROTOCOLS, Body::empty())
                .insert_header(CONNECTION, HeaderValue::from_static("upgrade"));
            if let Some(p) = self.protocol {
                r = r.insert_header(UPGRADE, p);
            }
            r
        } else {
            Response::new(StatusCode::OK, Body::empty())
        };
        (response, self.on_upgrade)
    }

    /// Grants the upgrade: returns the response, and runs `callback` with
    /// the stream once the response is sent (in a task of its own).
    pub fn on_upgrade<F, Fut>(self, callback: F) -> Response
    where
        F: FnOnce(Upgraded) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (response, on_upgrade) = self.into_response_and_future();
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(io) => callback(io).await,
                Err(e) => tracing::debug!(target: "duet", "upgrade did not happen: {e}"),
            }
        });
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn h2_stream_reads_data_and_writes_through_a_bounded_pipe() {
        let (tx, incoming) = super::super::body::Incoming::channel(None, 4);
        let (mut up, mut out) =
            Upgraded::h2(Body::incoming(incoming), ShutdownSignal::never(), None);
        assert!(tx.try_send(Bytes::from_static(b"hello")).is_ok());
        tx.finish();
        let mut got = Vec::new();
        up.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"hello");

        // A writer waits once the pipe holds H2_WRITE_BUFFER bytes.
        let big = vec![7u8; H2_WRITE_BUFFER + 10];
        let n = up.write(&big).await.unwrap();
        assert_eq!(n, H2_WRITE_BUFFER);
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(Pin::new(&mut up).poll_write(&mut cx, b"x").is_pending());
        let chunk = out.chunk().await.unwrap().unwrap();
        assert_eq!(chunk.len(), H2_WRITE_BUFFER);
        up.write_all(b"tail").await.unwrap();
        up.shutdown().await.unwrap();
        assert_eq!(&out.chunk().await.unwrap().unwrap()[..], b"tail");
        assert!(out.chunk().await.is_none());
    }

    #[tokio::test]
    async fn dropping_an_h2_stream_unshut_is_an_error_for_the_connection() {
        let (_tx, incoming) = super::super::body::Incoming::channel(None, 4);
        let (up, mut out) = Upgraded::h2(Body::incoming(incoming), ShutdownSignal::never(), None);
        drop(up);
        assert!(matches!(out.chunk().await, Some(Err(_))));
    }

    #[tokio::test]
    async fn on_upgrade_resolves_once_fulfilled() {
        let (p, on) = pending(Asked::Connect);
        assert!(p.is_taken());
        let (_tx, incoming) = super::super::body::Incoming::channel(None, 1);
        let (up, _out) = Upgraded::h2(Body::incoming(incoming), ShutdownSignal::never(), None);
        assert!(p.fulfil(up));
        assert_eq!(on.clone().await.unwrap().version(), Version::HTTP_2);
        assert!(on.await.is_err());
        let (p, on) = pending(Asked::Upgrade);
        drop(on);
        assert!(!p.is_taken());
    }
}
