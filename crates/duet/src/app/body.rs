//! Message bodies: empty, whole, streamed by the application, or arriving
//! from the peer.
//!
//! A [`Body`] is what a handler returns inside a response and what the
//! protocol drivers hand to the application as a request body. Request
//! bodies arrive through a bounded channel, so a handler that reads slowly
//! makes the connection stop reading from the socket (backpressure), and
//! the size limit is enforced as bytes arrive.
//!
//! What the server holds, at most, while a peer or a handler is slow:
//!
//! - Streamed response, HTTP/1.1: the connection's write buffer (flushed
//!   at 64 KiB) and the one chunk in hand; the producer is not polled
//!   while the socket does not take bytes.
//! - Streamed response, HTTP/2: per stream, `Limits::h2_stream_send_buffer`
//!   (64 KiB) queued beyond what flow control lets out plus one chunk; per
//!   connection, unwritten output stops reading new frames at 1 MiB.
//! - Request body: a few chunks in the channel to the handler (4 on
//!   HTTP/1.1, of at most 16 KiB read each; 8 on HTTP/2, where the rest is
//!   held to the stream's flow-control window, `Limits::h2_initial_window_size`,
//!   and credit returns only as the handler reads). `Limits::max_body_bytes`
//!   applies whether the handler buffers the body or streams it.

use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use futures_util::Stream;
use http::HeaderMap;
use http_body::{Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::BodyExt;
use tokio::sync::{mpsc, oneshot};

/// A boxed error, as carried by streamed bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

type BoxStream = Pin<Box<dyn Stream<Item = Result<Bytes, BoxError>> + Send + 'static>>;

/// What a request body channel carries: body frames (data, then trailers)
/// or the error that ended the body.
type Item = Result<Frame<Bytes>, BodyError>;

/// Why a body could not be read. More reasons may be added: a `match`
/// needs a `_` arm.
#[derive(Debug)]
#[non_exhaustive]
pub enum BodyError {
    /// The body is larger than the configured limit (answered with 413).
    TooLarge,
    /// The peer went away or reset the stream before the body was complete.
    Aborted,
    /// The body framing was invalid (bad chunk size, content-length
    /// mismatch).
    Malformed(&'static str),
    /// A streamed body's producer failed.
    Other(BoxError),
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::TooLarge => f.write_str("request body exceeds the configured limit"),
            BodyError::Aborted => f.write_str("request body was not completed by the peer"),
            BodyError::Malformed(why) => write!(f, "malformed request body: {why}"),
            BodyError::Other(e) => write!(f, "body stream failed: {e}"),
        }
    }
}

impl std::error::Error for BodyError {}

/// An HTTP message body: empty, whole in memory, streamed by the
/// application, arriving from the peer, or any other
/// [`http_body::Body`] ([`Body::new`]). It is itself an
/// [`http_body::Body`], with trailers.
pub struct Body {
    kind: Kind,
    /// The body never ends by itself (an event stream): graceful shutdown
    /// ends it instead of waiting for it.
    ends_at_shutdown: bool,
    /// Trailers seen by [`Body::chunk`], which yields data only (boxed:
    /// rare, and every body carries the field).
    trailers: Option<Box<HeaderMap>>,
}

enum Kind {
    Empty,
    Full(Bytes),
    Stream {
        stream: BoxStream,
        len: Option<u64>,
    },
    /// Boxed: the channel end is ~100 bytes, and every body (and every
    /// response, which moves through several futures) would carry them.
    Incoming(Box<Incoming>),
    Http(UnsyncBoxBody<Bytes, BoxError>),
}

impl Default for Body {
    fn default() -> Self {
        Body::empty()
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Empty => f.write_str("Body::Empty"),
            Kind::Full(b) => write!(f, "Body::Full({} bytes)", b.len()),
            Kind::Stream { len, .. } => write!(f, "Body::Stream(len={len:?})"),
            Kind::Incoming(i) => write!(f, "Body::Incoming(len={:?})", i.len),
            Kind::Http(b) => write!(f, "Body::Http({:?})", http_body::Body::size_hint(b)),
        }
    }
}

impl Body {
    /// A body with no bytes.
    pub const fn empty() -> Self {
        Body::of(Kind::Empty)
    }

    const fn of(kind: Kind) -> Self {
        Body {
            kind,
            ends_at_shutdown: false,
            trailers: None,
        }
    }

    /// Any [`http_body::Body`] as a duet body: a response body from
    /// another library (axum, tonic, tower-http), with its trailers. A
    /// duet `Body` given here is returned as it is.
    pub fn new<B>(body: B) -> Self
    where
        B: http_body::Body + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let mut slot = Some(body);
        if let Some(own) = (&mut slot as &mut dyn std::any::Any).downcast_mut::<Option<Body>>() {
            return own.take().unwrap_or_default();
        }
        let Some(body) = slot else {
            return Body::empty();
        };
        Body::of(Kind::Http(Foreign { body }.boxed_unsync()))
    }

    /// A body held whole in memory.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        if bytes.is_empty() {
            Body::empty()
        } else {
            Body::of(Kind::Full(bytes))
        }
    }

    /// A body produced chunk by chunk by a stream. Sent chunked on HTTP/1.1
    /// and as DATA frames within flow-control windows on HTTP/2; the stream
    /// is polled only as fast as the peer reads.
    pub fn from_stream<S, B, E>(stream: S) -> Self
    where
        S: Stream<Item = Result<B, E>> + Send + 'static,
        B: Into<Bytes> + 'static,
        E: Into<BoxError> + 'static,
    {
        Body::from_stream_sized(stream, None)
    }

    /// Like [`Body::from_stream`] with the total length known in advance, so
    /// that HTTP/1.1 can send `Content-Length` instead of chunks.
    pub fn from_stream_sized<S, B, E>(stream: S, len: Option<u64>) -> Self
    where
        S: Stream<Item = Result<B, E>> + Send + 'static,
        B: Into<Bytes> + 'static,
        E: Into<BoxError> + 'static,
    {
        use futures_util::StreamExt;
        let stream = stream.map(|r| r.map(Into::into).map_err(Into::into));
        Body::of(Kind::Stream {
            stream: Box::pin(stream),
            len,
        })
    }

    /// Marks a body that never ends by itself, such as an event stream:
    /// on graceful shutdown the server ends it cleanly after the chunk in
    /// hand (the last chunk on HTTP/1.1, END_STREAM on HTTP/2), so that the
    /// client reconnects elsewhere instead of holding shutdown to its
    /// deadline. Other bodies are sent to their end. [`Sse`](crate::Sse)
    /// bodies are marked.
    pub fn end_at_shutdown(mut self) -> Self {
        self.ends_at_shutdown = true;
        self
    }

    /// True for a body marked with [`Body::end_at_shutdown`].
    pub fn ends_at_shutdown(&self) -> bool {
        self.ends_at_shutdown
    }

    pub(crate) fn incoming(incoming: Incoming) -> Self {
        Body::of(Kind::Incoming(Box::new(incoming)))
    }

    /// Caps a request body streamed from the peer at `limit` bytes: reading
    /// past it yields [`BodyError::TooLarge`] and ends the body, whatever
    /// the driver enforced (a handler that streams `Body` is held to its
    /// server's limit like one that buffers it).
    pub(crate) fn with_limit(mut self, limit: u64) -> Self {
        if let Kind::Incoming(i) = &mut self.kind {
            i.limit = limit;
        }
        self
    }

    /// The exact length of the body if it is known before reading it.
    pub fn exact_len(&self) -> Option<u64> {
        match &self.kind {
            Kind::Empty => Some(0),
            Kind::Full(b) => Some(b.len() as u64),
            Kind::Stream { len, .. } => *len,
            Kind::Incoming(i) => i.len,
            Kind::Http(b) => http_body::Body::size_hint(b).exact(),
        }
    }

    /// True when the body is known to have no bytes.
    pub fn is_empty(&self) -> bool {
        self.exact_len() == Some(0)
    }

    /// The whole body, when it is already in memory (no need to poll).
    pub(crate) fn as_full(&self) -> Option<&Bytes> {
        match &self.kind {
            Kind::Full(b) => Some(b),
            _ => None,
        }
    }

    /// Takes the next chunk of the body; `None` at the end. Trailers are
    /// kept for [`Body::trailers`].
    pub async fn chunk(&mut self) -> Option<Result<Bytes, BodyError>> {
        std::future::poll_fn(|cx| self.poll_chunk(cx)).await
    }

    /// Polls for the next chunk of the body; `Ready(None)` at the end.
    /// Trailers are kept for [`Body::trailers`].
    pub fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, BodyError>>> {
        loop {
            match self.poll_next_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => return Poll::Ready(Some(Ok(data))),
                    Err(frame) => {
                        if let Ok(t) = frame.into_trailers() {
                            self.trailers = Some(Box::new(t));
                        }
                    }
                },
                other => return other.map(|o| o.map(|r| r.map(|_| Bytes::new()))),
            }
        }
    }

    /// Takes the next frame of the body (data, or trailers after the last
    /// data); `None` at the end.
    pub async fn frame(&mut self) -> Option<Result<Frame<Bytes>, BodyError>> {
        std::future::poll_fn(|cx| self.poll_next_frame(cx)).await
    }

    /// The trailers that ended the body, once [`Body::chunk`] has read it
    /// to its end.
    pub fn trailers(&self) -> Option<&HeaderMap> {
        self.trailers.as_deref()
    }

    /// The next frame; empty data frames are skipped (drivers never write a
    /// zero-length chunk, which would end HTTP/1.1 chunked framing early).
    fn poll_next_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        match &mut self.kind {
            Kind::Empty => Poll::Ready(None),
            Kind::Full(_) => {
                let Kind::Full(b) = std::mem::replace(&mut self.kind, Kind::Empty) else {
                    return Poll::Ready(None);
                };
                Poll::Ready(Some(Ok(Frame::data(b))))
            }
            Kind::Stream { stream, .. } => loop {
                match stream.as_mut().poll_next(cx) {
                    Poll::Ready(Some(Ok(b))) if b.is_empty() => continue,
                    Poll::Ready(Some(Ok(b))) => return Poll::Ready(Some(Ok(Frame::data(b)))),
                    Poll::Ready(Some(Err(e))) => {
                        return Poll::Ready(Some(Err(BodyError::Other(e))))
                    }
                    Poll::Ready(None) => return Poll::Ready(None),
                    Poll::Pending => return Poll::Pending,
                }
            },
            Kind::Incoming(i) => i.poll_frame(cx),
            Kind::Http(b) => loop {
                match http_body::Body::poll_frame(Pin::new(&mut *b), cx) {
                    Poll::Ready(Some(Ok(f))) if f.data_ref().is_some_and(|d| d.is_empty()) => {
                        continue
                    }
                    Poll::Ready(Some(Ok(f))) => return Poll::Ready(Some(Ok(f))),
                    Poll::Ready(Some(Err(e))) => {
                        return Poll::Ready(Some(Err(BodyError::Other(e))))
                    }
                    Poll::Ready(None) => return Poll::Ready(None),
                    Poll::Pending => return Poll::Pending,
                }
            },
        }
    }

    /// Reads the whole body into memory, failing with
    /// [`BodyError::TooLarge`] past `limit` bytes.
    pub async fn to_bytes(mut self, limit: u64) -> Result<Bytes, BodyError> {
        if let Some(n) = self.exact_len() {
            if n > limit {
                return Err(BodyError::TooLarge);
            }
        }
        if let Kind::Full(b) = self.kind {
            return Ok(b);
        }
        let mut first: Option<Bytes> = None;
        let mut buf = BytesMut::new();
        let mut total: u64 = 0;
        while let Some(chunk) = self.chunk().await {
            let chunk = chunk?;
            total += chunk.len() as u64;
            if total > limit {
                return Err(BodyError::TooLarge);
            }
            match first.take() {
                None if buf.is_empty() => first = Some(chunk),
                None => buf.extend_from_slice(&chunk),
                Some(f) => {
                    buf.reserve(f.len() + chunk.len());
                    buf.extend_from_slice(&f);
                    buf.extend_from_slice(&chunk);
                }
            }
        }
        Ok(match first {
            Some(f) => f,
            None => buf.freeze(),
        })
    }
}

impl Stream for Body {
    type Item = Result<Bytes, BodyError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_chunk(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self.exact_len() {
            Some(0) => (0, Some(0)),
            _ => (0, None),
        }
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        self.get_mut().poll_next_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Empty => true,
            Kind::Full(b) => b.is_empty(),
            Kind::Stream { .. } => false,
            Kind::Incoming(i) => i.ended,
            Kind::Http(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Http(b) => b.size_hint(),
            Kind::Incoming(i) if !i.ended => {
                let mut h = SizeHint::new();
                if let Some(n) = i.len {
                    h.set_exact(n.saturating_sub(i.consumed));
                }
                h
            }
            _ => match self.exact_len() {
                Some(n) => SizeHint::with_exact(n),
                None => SizeHint::new(),
            },
        }
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Self {
        Body::full(b)
    }
}
impl From<String> for Body {
    fn from(s: String) -> Self {
        Body::full(s)
    }
}
impl From<&'static str> for Body {
    fn from(s: &'static str) -> Self {
        Body::full(Bytes::from_static(s.as_bytes()))
    }
}
impl From<Vec<u8>> for Body {
    fn from(v: Vec<u8>) -> Self {
        Body::full(v)
    }
}
impl From<&'static [u8]> for Body {
    fn from(s: &'static [u8]) -> Self {
        Body::full(Bytes::from_static(s))
    }
}
impl From<()> for Body {
    fn from(_: ()) -> Self {
        Body::empty()
    }
}

// Any body, its data as `Bytes` and its error boxed; hints and end of
// stream as the body says (a response with nothing to send is sent as
// such: HEADERS with END_STREAM on HTTP/2, which gRPC's trailers-only
// responses need).
pin_project_lite::pin_project! {
    struct Foreign<B> {
        #[pin]
        body: B,
    }
}

impl<B> http_body::Body for Foreign<B>
where
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.project().body.poll_frame(cx) {
            Poll::Ready(Some(Ok(f))) => {
                Poll::Ready(Some(Ok(f.map_data(|mut d| d.copy_to_bytes(d.remaining())))))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Called with the number of body bytes the application has consumed, so a
/// driver can open flow-control windows (HTTP/2 WINDOW_UPDATE).
pub(crate) type ReleaseFn = Arc<dyn Fn(usize) + Send + Sync>;

/// Who is told when the application first asks for body bytes.
enum Demand {
    Notify(oneshot::Sender<()>),
    Call(Box<dyn FnOnce() + Send + Sync>),
}

/// A request body arriving from the peer through the connection's driver.
pub(crate) struct Incoming {
    rx: mpsc::Receiver<Item>,
    len: Option<u64>,
    /// Fired the first time the application asks for body bytes (drives
    /// `Expect: 100-continue`).
    demand: Option<Demand>,
    release: Option<ReleaseFn>,
    /// Set by the driver when the body ended as framed; a channel closed
    /// without it means the body was cut short.
    complete: Arc<AtomicBool>,
    ended: bool,
    /// Bytes the application may read before the body fails as too large.
    limit: u64,
    /// Bytes the application has read.
    consumed: u64,
}

impl Incoming {
    /// A channel for a request body: the driver keeps the sender, the
    /// application gets the body. `len` is the declared length, if any;
    /// `depth` bounds how many chunks may wait unread.
    pub(crate) fn channel(len: Option<u64>, depth: usize) -> (BodySender, Incoming) {
        let (tx, rx) = mpsc::channel(depth.max(1));
        let complete = Arc::new(AtomicBool::new(false));
        (
            BodySender {
                tx,
                complete: complete.clone(),
            },
            Incoming {
                rx,
                len,
                demand: None,
                release: None,
                complete,
                ended: false,
                limit: u64::MAX,
                consumed: 0,
            },
        )
    }

    /// Returns a receiver that completes when the application first polls
    /// the body.
    pub(crate) fn on_demand(&mut self) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        self.demand = Some(Demand::Notify(tx));
        rx
    }

    /// Calls `f` when the application first polls the body.
    pub(crate) fn on_demand_call(&mut self, f: Box<dyn FnOnce() + Send + Sync>) {
        self.demand = Some(Demand::Call(f));
    }

    /// Sets the callback told how many bytes the application consumed.
    pub(crate) fn on_release(&mut self, f: ReleaseFn) {
        self.release = Some(f);
    }

    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Item>> {
        match self.demand.take() {
            Some(Demand::Notify(tx)) => {
                let _ = tx.send(());
            }
            Some(Demand::Call(f)) => f(),
            None => {}
        }
        if self.ended {
            return Poll::Ready(None);
        }
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let Some(b) = frame.data_ref() else {
                    // Trailers come last.
                    self.ended = true;
                    return Poll::Ready(Some(Ok(frame)));
                };
                let n = b.len();
                if let Some(r) = &self.release {
                    r(n);
                }
                self.consumed = self.consumed.saturating_add(n as u64);
                if self.consumed > self.limit {
                    self.ended = true;
                    self.rx.close();
                    return Poll::Ready(Some(Err(BodyError::TooLarge)));
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                self.ended = true;
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => {
                self.ended = true;
                if self.complete.load(Ordering::Acquire) {
                    Poll::Ready(None)
                } else {
                    Poll::Ready(Some(Err(BodyError::Aborted)))
                }
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The driver's end of a request body channel.
pub(crate) struct BodySender {
    tx: mpsc::Sender<Item>,
    complete: Arc<AtomicBool>,
}

impl BodySender {
    /// Sends a chunk, waiting while the application has `depth` chunks
    /// unread. Returns false when the application dropped the body.
    #[cfg(test)]
    pub(crate) async fn send(&self, chunk: Bytes) -> bool {
        self.tx.send(Ok(Frame::data(chunk))).await.is_ok()
    }

    /// Sends a chunk without waiting; gives it back when the channel is full.
    /// Returns `Ok(false)` when the application dropped the body.
    pub(crate) fn try_send(&self, chunk: Bytes) -> Result<bool, Bytes> {
        match self.tx.try_send(Ok(Frame::data(chunk))) {
            Ok(()) => Ok(true),
            Err(mpsc::error::TrySendError::Closed(_)) => Ok(false),
            Err(mpsc::error::TrySendError::Full(Ok(f))) => Err(f.into_data().unwrap_or_default()),
            Err(mpsc::error::TrySendError::Full(Err(_))) => Ok(true),
        }
    }

    /// Sends the trailers that end the body (after its data) without
    /// waiting: `Ok(false)` when the application dropped the body, the
    /// trailers back when the channel is full. [`BodySender::finish`]
    /// follows.
    pub(crate) fn try_send_trailers(&self, trailers: HeaderMap) -> Result<bool, HeaderMap> {
        match self.tx.try_send(Ok(Frame::trailers(trailers))) {
            Ok(()) => Ok(true),
            Err(mpsc::error::TrySendError::Closed(_)) => Ok(false),
            Err(mpsc::error::TrySendError::Full(Ok(f))) => {
                Err(f.into_trailers().unwrap_or_default())
            }
            Err(mpsc::error::TrySendError::Full(Err(_))) => Ok(true),
        }
    }

    /// True when the application dropped the body.
    #[cfg(test)]
    pub(crate) fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Marks the body complete: the application sees its end once it has
    /// read what was sent. Dropping a sender without this reads as
    /// [`BodyError::Aborted`].
    pub(crate) fn finish(self) {
        self.complete.store(true, Ordering::Release);
    }

    /// Ends the body with an error (queued after what was sent; if the
    /// queue is full the application still sees [`BodyError::Aborted`]).
    pub(crate) fn fail(self, err: BodyError) {
        let _ = self.tx.try_send(Err(err));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn incoming_body_fails_past_its_limit() {
        let (tx, incoming) = Incoming::channel(None, 4);
        let mut body = Body::incoming(incoming).with_limit(5);
        assert!(tx.send(Bytes::from_static(b"abc")).await);
        assert!(tx.send(Bytes::from_static(b"def")).await);
        assert_eq!(
            body.chunk().await.and_then(Result::ok).as_deref(),
            Some(&b"abc"[..])
        );
        assert!(matches!(body.chunk().await, Some(Err(BodyError::TooLarge))));
        assert!(body.chunk().await.is_none());
        // The driver learns that no one reads the rest.
        assert!(tx.is_closed());
    }

    #[tokio::test]
    async fn incoming_body_within_its_limit_is_whole() {
        let (tx, incoming) = Incoming::channel(Some(6), 4);
        let body = Body::incoming(incoming).with_limit(6);
        assert!(tx.send(Bytes::from_static(b"abc")).await);
        assert!(tx.send(Bytes::from_static(b"def")).await);
        tx.finish();
        assert_eq!(
            body.to_bytes(u64::MAX).await.ok().as_deref(),
            Some(&b"abcdef"[..])
        );
    }
}
