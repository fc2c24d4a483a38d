//! The tokio driver for HTTP/2 connections (h2c with prior knowledge, h2c
//! after `Upgrade`, h2 over TLS).
//!
//! One task owns the [`Connection`] core and the socket. Handlers run as
//! futures inside that task (a `FuturesUnordered`), not as spawned tasks:
//! measured with `h2load -n 200000 -c 16 -m 32` on a release build, that
//! served 1.3–1.6× the requests per second of one `tokio::spawn` per stream
//! (no task allocation, no cross-thread wake-up, one write per batch). The
//! price: a handler that blocks the CPU delays the other streams of its own
//! connection (never other connections); such work belongs in
//! `spawn_blocking`. A handler panic is caught by the site and becomes a 500.
//! Request bodies reach handlers through bounded channels and flow-control
//! credit returns when the handler reads (`Incoming::on_release`). Response
//! bodies are polled by this task, one chunk at a time, only while the
//! stream's send buffer has room: a client that does not read makes the
//! producer wait. Frames go into one write buffer, written once per batch of
//! ready work.

use std::collections::VecDeque;
use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use futures_util::future::{AbortHandle, Abortable, BoxFuture, Either};
use futures_util::stream::{FuturesUnordered, StreamExt};
use http::{HeaderMap, Method, Version};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::accept::H2cUpgrade;
use super::date::with_date;
use super::site::{Admission, Dispatch};
use super::ConnParams;
use crate::app::body::{Body, BodyError, BodySender, Incoming};
use crate::app::upgrade::{self as app_upgrade, Upgraded};
use crate::proto::h2::{id_map, shed_map, Connection, Event, FieldList, IdMap, Reason, StreamId};
use crate::proto::http::spares;
use crate::proto::http::upgrade::{self, Asked, Granted};
use crate::proto::http::{
    frame_response, shutdown_action, AccessRecord, Answer, BodyBudget, Expect, Fields, Framing,
    Outcome, Protocol, RequestFacts, SentBody, ShutdownAction, Unbuilt, ERROR_CONTENT_TYPE,
};

/// Request body chunks that may wait unread by a handler (the rest waits
/// here, bounded by the stream's flow-control window).
const BODY_CHANNEL_DEPTH: usize = 8;
/// Read granularity: the buffer grows by this when under `READ_MIN_ROOM`
/// of room is left (a partial frame makes the core reserve what the frame
/// needs).
const READ_CHUNK: usize = 8 * 1024;
const READ_MIN_ROOM: usize = 1024;
/// Stack room for a read while the connection holds no read buffer: the
/// buffer is released whenever all input was consumed, and a read that
/// finds data allocates only what arrived.
const BUFFERLESS_READ: usize = 8 * 1024;
/// Output gathered before a write: while less than this waits, queued DATA
/// is moved into the output and streams that regained room produce more
/// (what their bodies have ready), so that one vectored write carries many
/// frames — 32 frames of 16 KiB, as many bytes as HTTP/1.1 writes at once.
const OUTPUT_REFILL_BELOW: usize = 512 * 1024;
/// Rounds of that gathering per pass (each: refill, poll the bodies that
/// regained room, take the output).
const FILL_ROUNDS: usize = 8;
/// Work items handled without blocking before the output is written.
const BATCH: usize = 64;
/// Lingering close bounds: after our last frame, keep reading (and
/// dropping) for a moment so that closing with unread input does not reset
/// the connection before the peer read our GOAWAY.
const LINGER_TIME: Duration = Duration::from_millis(500);
const LINGER_MAX: usize = 1024 * 1024;

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Serves an HTTP/2 connection whose client preface starts `read_buf`.
///
/// The driver is built before the future: the future then holds it once
/// (an `async fn` would also keep its arguments), which keeps an idle
/// connection's future small.
pub(crate) fn serve<IO>(
    io: IO,
    read_buf: BytesMut,
    p: ConnParams,
) -> impl std::future::Future<Output = io::Result<()>> + Send
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    p.conn.set_version(Version::HTTP_2);
    let conn = Connection::new(p.h2.clone(), now());
    let mut driver = Driver::new(Box::new(io), conn, p);
    driver.rbuf = read_buf;
    async move { driver.run().await }
}

/// Serves an HTTP/2 connection upgraded from HTTP/1.1 (RFC 7540 §3.2) after
/// the `101 Switching Protocols` was sent: `http2_settings` is the decoded
/// `HTTP2-Settings` payload, `first` the upgrading request, answered on
/// stream 1.
///
/// Like [`serve`], the driver is built before the future, which then holds
/// it alone (not the upgrade's parts beside it).
pub(crate) fn serve_upgraded<IO>(
    up: H2cUpgrade<IO>,
) -> impl std::future::Future<Output = io::Result<()>> + Send
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let H2cUpgrade {
        io,
        read: read_buf,
        settings: http2_settings,
        request: first,
        admission,
        params: p,
    } = up;
    p.conn.set_version(Version::HTTP_2);
    let mut io: Box<dyn Io> = Box::new(io);
    let conn = match Connection::upgraded(p.h2.clone(), http2_settings, now()) {
        Ok(c) => c,
        Err(e) => {
            // RFC 9113 §3.2.1 (RFC 7540): an invalid HTTP2-Settings is a
            // connection error; we already switched, so GOAWAY and close.
            let mut c = Connection::new(p.h2.clone(), now());
            c.go_away(e.reason());
            let mut out = VecDeque::new();
            c.take_output(&mut out, now());
            return Either::Right(Box::pin(async move {
                close(&mut io, out).await;
                Ok(())
            }));
        }
    };
    let mut driver = Driver::new(io, conn, p);
    driver.rbuf = read_buf;
    let mut task = StreamTask::with_record(driver.record());
    if let Some(r) = &mut task.record {
        r.request(first.method(), first.uri());
    }
    let (parts, body) = first.into_parts();
    driver.start_handler(1, &mut task, Box::new(parts), body, None, &admission);
    Either::Left(async move { driver.run().await })
}

/// When output that has waited since `waiting` makes the connection a
/// stalled one (`Limits::write_stall_timeout`).
fn stall_at(
    waiting: Option<std::time::Instant>,
    limits: &crate::config::Limits,
) -> Option<Instant> {
    waiting
        .and_then(|w| w.checked_add(limits.write_stall_timeout))
        .map(Instant::from_std)
}

/// What the driver keeps per stream.
#[derive(Default)]
struct StreamTask {
    /// Cancels the handler, while it runs.
    handler: Option<AbortHandle>,
    /// The request body's channel to the handler.
    body_tx: Option<BodySender>,
    /// Body chunks the channel had no room for yet.
    pending: VecDeque<Bytes>,
    /// The request body ended (finish the channel once `pending` drains).
    ended: bool,
    /// A response body waiting for send-buffer room.
    parked: Option<Body>,
    /// Cancels the pending poll of the response body's next chunk, so that
    /// a reset stream drops even a producer that stays silent forever.
    body_poll: Option<AbortHandle>,
    /// The response body never ends by itself (`Body::ends_at_shutdown`):
    /// graceful shutdown ends it with END_STREAM.
    ends_at_shutdown: bool,
    /// HEAD request: the response carries no body.
    head: bool,
    /// The virtual server's body limit, counted as DATA arrives.
    budget: Option<BodyBudget>,
    /// The response body against its declared length.
    sent: Option<SentBody>,
    /// The access record, when records are wanted.
    record: Option<AccessRecord>,
    /// The request's trailers, delivered after its body (boxed: rare).
    trailers: Option<Box<HeaderMap>>,
    /// A CONNECT waiting for its response: where its stream goes if the
    /// response opens the tunnel.
    tunnel: Option<Box<PendingTunnel>>,
    /// The stream is an open tunnel (its response body is the upgraded
    /// stream's output, its request DATA the stream's input).
    tunnel_open: bool,
    /// The response is complete; the stream is kept only to feed the rest
    /// of a tunnel's input.
    response_done: bool,
}

/// A CONNECT's stream before its response: the future of the upgraded
/// stream, and its input (the request's DATA, kept from the handler).
struct PendingTunnel {
    pending: app_upgrade::Pending,
    input: Body,
}

impl StreamTask {
    fn with_record(record: Option<AccessRecord>) -> StreamTask {
        let mut t = StreamTask::default();
        t.record = record;
        t
    }

    /// Ends the access record with `outcome`, now.
    fn end_record(&mut self, outcome: Outcome) {
        if self.record.is_some() {
            self.end_record_at(outcome, now());
        }
    }

    /// Ends the access record with `outcome` at `at`.
    fn end_record_at(&mut self, outcome: Outcome, at: std::time::Instant) {
        if let Some(mut r) = self.record.take() {
            if let Some(sent) = &self.sent {
                r.sent(sent.sent());
            }
            r.finish(at, outcome);
        }
    }
}

impl Drop for StreamTask {
    /// Forgetting a stream cancels its handler and its body poll, and drops
    /// the request body channel (the handler reads `BodyError::Aborted`
    /// unless the body was finished).
    fn drop(&mut self) {
        if let Some(h) = self.handler.take() {
            h.abort();
        }
        if let Some(b) = self.body_poll.take() {
            b.abort();
        }
        // Forgotten before its response was complete.
        self.end_record(Outcome::Aborted);
    }
}

/// A running handler: its stream and the cancellable dispatch. A named
/// type, so that the handler set stores it inline (no box per request).
struct HandlerFuture {
    id: StreamId,
    fut: Abortable<Dispatch>,
}

impl std::future::Future for HandlerFuture {
    /// The stream and its response; `None` when the handler was cancelled.
    type Output = (StreamId, Option<http::Response<Body>>);

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        Pin::new(&mut this.fut).poll(cx).map(|r| (this.id, r.ok()))
    }
}
/// The next chunk of a response body; `None` when the poll was cancelled.
type ChunkFuture = BoxFuture<'static, Option<(StreamId, Body, Option<BodyFrame>)>>;

/// A frame of a body, or why it failed.
type BodyFrame = Result<http_body::Frame<Bytes>, BodyError>;

/// What the driver's loop may wait on, and from which source the poll
/// starts (`Driver::poll_wait`).
#[derive(Clone, Copy)]
struct Wait {
    can_read: bool,
    write: bool,
    drain: bool,
    timer: bool,
    turn: u8,
}

/// The sources of `Wait`, polled in turn: read, write, handlers, bodies,
/// request-body credit, graceful shutdown, the timer.
const SOURCES: u8 = 7;

/// What ended a wait.
enum Woken {
    Read(io::Result<usize>),
    Wrote(io::Result<usize>),
    Response(StreamId, Option<http::Response<Body>>),
    Chunk(Option<(StreamId, Body, Option<BodyFrame>)>),
    Release(StreamId, Credit),
    Drain,
    Timer,
}

struct Driver {
    io: Box<dyn Io>,
    /// Input read and not yet consumed by the core (no buffer while none
    /// waits: see `poll_read_some`).
    rbuf: BytesMut,
    /// Output taken from the core, waiting for the socket.
    wq: WriteQueue,
    conn: Connection,
    p: ConnParams,
    /// Access log lines are wanted (`AccessRecord::enabled`).
    log: bool,
    streams: IdMap<StreamTask>,
    handlers: LazyUnordered<HandlerFuture>,
    bodies: LazyUnordered<ChunkFuture>,
    /// Request-body credit the handlers consumed; created with the first
    /// request that has a body (most connections never need it).
    release: Option<Box<Release>>,
    /// The time of this pass of the loop, read when first needed
    /// ([`Driver::now`]): one clock read serves a batch of streams (as
    /// nginx updates its time once per turn of its event loop). Cleared
    /// before each wait.
    clock: Option<std::time::Instant>,
}

/// A `FuturesUnordered` created with its first future. An empty one
/// already holds two allocations (its ready queue and a stub task, 200 to
/// 350 bytes per connection), which a connection that never has a handler
/// running or a body streaming does not need; boxed, it takes 8 bytes of
/// the driver instead of 24 until then.
struct LazyUnordered<F>(Option<Box<FuturesUnordered<F>>>);

impl<F> Default for LazyUnordered<F> {
    fn default() -> Self {
        LazyUnordered(None)
    }
}

impl<F: std::future::Future> LazyUnordered<F> {
    fn push(&mut self, f: F) {
        self.0
            .get_or_insert_with(|| Box::new(FuturesUnordered::new()))
            .push(f);
    }

    fn is_empty(&self) -> bool {
        self.0.as_ref().map_or(true, |u| u.is_empty())
    }

    fn clear(&mut self) {
        if let Some(u) = &mut self.0 {
            u.clear();
        }
    }

    /// The next output (`None` while empty), as `Stream::poll_next`.
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        match &mut self.0 {
            Some(u) => u.poll_next_unpin(cx),
            None => Poll::Ready(None),
        }
    }

    /// The next output, if one is ready now.
    fn ready_now(&mut self) -> Option<F::Output> {
        match self.poll_next(&mut Context::from_waker(
            futures_util::task::noop_waker_ref(),
        )) {
            Poll::Ready(out) => out,
            Poll::Pending => None,
        }
    }
}

/// What a handler did with its request body.
enum Credit {
    /// It consumed this many bytes: open the windows.
    Consumed(usize),
    /// It asked for the body for the first time: `100 Continue` is owed.
    Demand,
    /// A tunnel's upgraded stream was dropped: its input is read no more.
    TunnelDropped,
}

struct Release {
    tx: mpsc::UnboundedSender<(StreamId, Credit)>,
    rx: mpsc::UnboundedReceiver<(StreamId, Credit)>,
}

impl Driver {
    fn new(io: Box<dyn Io>, conn: Connection, p: ConnParams) -> Driver {
        Driver {
            io,
            rbuf: BytesMut::new(),
            wq: WriteQueue::default(),
            conn,
            log: AccessRecord::enabled(),
            p,
            streams: id_map(),
            handlers: LazyUnordered::default(),
            bodies: LazyUnordered::default(),
            release: None,
            clock: None,
        }
    }

    async fn run(&mut self) -> io::Result<()> {
        let res = self.serve().await;
        // Handlers and body producers end with the connection.
        self.streams.clear();
        self.handlers.clear();
        self.bodies.clear();
        // Best effort: the last frames (GOAWAY), then a lingering close.
        // Boxed: the connection's future would otherwise be as large as
        // this last part for its whole life.
        let mut out = VecDeque::new();
        self.conn.take_output(&mut out, now());
        Box::pin(close(&mut self.io, out)).await;
        res
    }

    async fn serve(&mut self) -> io::Result<()> {
        let mut needs_flush = false;
        let mut read_open = true;
        let mut shutdown_seen = false;
        let mut write_waiting: Option<std::time::Instant> = None;
        // Where the next wait starts polling its sources (`poll_wait`).
        let mut turn = 0u8;
        // The core's timers (SETTINGS acknowledgement, idle, stalled
        // peer, graceful shutdown) share this one.
        let first = self.conn.poll_timeout().map(Instant::from_std);
        let timer = tokio::time::sleep_until(first.unwrap_or_else(Instant::now));
        tokio::pin!(timer);
        // Bytes read with the preface (prior knowledge) or after the 101.
        if !self.rbuf.is_empty() {
            let _ = self.conn.recv(&mut self.rbuf, now());
        }
        loop {
            self.process();
            // `t` starts the core's idle and stall timers. A handler runs
            // only for a stream the core still tracks (a reset stream's
            // handler is cancelled at once), so the core's "no stream open"
            // is the connection's idle.
            let t = self.now();
            self.wq.take_from(&mut self.conn, t);
            for _ in 0..FILL_ROUNDS {
                if self.wq.len >= OUTPUT_REFILL_BELOW {
                    break;
                }
                // More queued DATA may fit now that the output drained;
                // streams it left with room poll their bodies, and what
                // those have ready joins this write.
                let before = self.wq.len;
                self.conn.refill();
                self.process();
                self.drain_ready();
                self.wq.take_from(&mut self.conn, t);
                if self.wq.len == before {
                    break;
                }
            }
            if self.conn.is_done() && self.wq.is_empty() && !needs_flush {
                return Ok(());
            }
            if !read_open && self.conn.open_streams() == 0 && self.wq.is_empty() && !needs_flush {
                // The peer closed its side and nothing is in flight.
                return Ok(());
            }
            let can_read = read_open
                && !self.conn.is_done()
                && self.wq.len + self.conn.output_len() < self.p.limits.h2_max_queued_output;
            if self.rbuf.is_empty() {
                // Everything read was consumed: give the buffer back, so
                // that an idle connection (or one whose streams all wait on
                // their handlers) holds none; the next read goes through
                // the stack (`poll_read_some`).
                self.rbuf = BytesMut::new();
            } else if can_read && self.rbuf.capacity() - self.rbuf.len() < READ_MIN_ROOM {
                self.rbuf.reserve(READ_CHUNK);
            }
            // One timer serves every deadline of the core. It is moved
            // earlier at once but never later: when it fires before the
            // nearest deadline (which moves on with every busy batch) it is
            // re-armed, so a busy connection does not touch the timer wheel
            // per batch.
            // `Limits::write_stall_timeout`: output the socket takes none of
            // for that long ends the connection (a peer that never reads).
            // Counted here, at the socket; the core's own stall rule
            // covers shut flow-control windows.
            if self.wq.is_empty() && !needs_flush {
                write_waiting = None;
            } else if write_waiting.is_none() {
                write_waiting = Some(t);
            }
            // In a block: what is computed here is not kept across the
            // wait below (each connection's future would hold it).
            let timer_armed = {
                let due = match (
                    self.conn.poll_timeout().map(Instant::from_std),
                    stall_at(write_waiting, &self.p.limits),
                ) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                if let Some(due) = due {
                    if timer.is_elapsed() || timer.deadline() > due {
                        timer.as_mut().reset(due);
                    }
                }
                due.is_some()
            };
            // What follows the wait happens at a new time.
            self.clock = None;
            let wait = Wait {
                can_read,
                write: !self.wq.is_empty() || needs_flush,
                drain: !shutdown_seen,
                timer: timer_armed,
                turn,
            };
            turn = (turn + 1) % SOURCES;
            match std::future::poll_fn(|cx| self.poll_wait(cx, wait, timer.as_mut())).await {
                Woken::Read(Ok(0)) => {
                    read_open = false;
                    self.on_peer_closed();
                }
                Woken::Read(Ok(_)) => {
                    let now = self.now();
                    let _ = self.conn.recv(&mut self.rbuf, now);
                }
                Woken::Read(Err(e)) | Woken::Wrote(Err(e)) => return Err(e),
                Woken::Wrote(Ok(n)) => {
                    write_waiting = None;
                    if self.wq.is_empty() {
                        needs_flush = false;
                    } else {
                        self.wq.advance(n);
                        needs_flush = true;
                    }
                }
                Woken::Response(id, resp) => self.on_response(id, resp),
                Woken::Chunk(polled) => {
                    if let Some((id, body, chunk)) = polled {
                        self.on_chunk(id, body, chunk);
                    }
                }
                Woken::Release(id, credit) => self.on_release(id, credit),
                Woken::Drain => {
                    shutdown_seen = true;
                    // Graceful shutdown (§6.8): GOAWAY 2^31-1 + PING, then
                    // the final GOAWAY on the PING answer (or after
                    // `h2_shutdown_ping_timeout`); streams up to its id
                    // finish.
                    self.conn.start_shutdown(now());
                    self.end_event_streams();
                }
                Woken::Timer => {
                    if stall_at(write_waiting, &self.p.limits).is_some_and(|s| Instant::now() >= s)
                    {
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "the peer read nothing for write_stall_timeout",
                        ));
                    }
                    // Early (the timer is never moved later) is harmless.
                    self.conn.handle_timeout(now());
                    // The core gives back its streams' memory on a timer
                    // once idle; the driver follows.
                    if self.wq.is_empty() && !needs_flush {
                        self.shed();
                    }
                }
            }
            self.drain_ready();
        }
    }

    /// One poll of everything the loop waits on, from `wait.turn`'s
    /// source on (a rotating start, as `tokio::select!`'s random one, so
    /// that a source that is always ready starves no other). A poll
    /// function rather than `select!`: the connection's future holds no
    /// per-branch futures across the wait (about 150 bytes), and the socket
    /// is not split into halves behind a lock.
    fn poll_wait(
        &mut self,
        cx: &mut Context<'_>,
        wait: Wait,
        mut timer: Pin<&mut tokio::time::Sleep>,
    ) -> Poll<Woken> {
        for i in 0..SOURCES {
            // `turn` < SOURCES: no overflow.
            let woken = match (wait.turn + i) % SOURCES {
                0 if wait.can_read => {
                    poll_read_some(&mut self.io, &mut self.rbuf, cx).map(Woken::Read)
                }
                1 if wait.write => self
                    .wq
                    .poll_write_or_flush(&mut self.io, cx)
                    .map(Woken::Wrote),
                2 => match self.handlers.poll_next(cx) {
                    Poll::Ready(Some((id, resp))) => Poll::Ready(Woken::Response(id, resp)),
                    _ => Poll::Pending,
                },
                3 => match self.bodies.poll_next(cx) {
                    Poll::Ready(Some(polled)) => Poll::Ready(Woken::Chunk(polled)),
                    _ => Poll::Pending,
                },
                4 => match &mut self.release {
                    Some(r) => match r.rx.poll_recv(cx) {
                        Poll::Ready(Some((id, credit))) => Poll::Ready(Woken::Release(id, credit)),
                        _ => Poll::Pending,
                    },
                    None => Poll::Pending,
                },
                // No waker to register: the connection's task is woken
                // when the flag is set (see `Drain`).
                5 if wait.drain && self.p.drain.is_set() => Poll::Ready(Woken::Drain),
                6 if wait.timer => timer.as_mut().poll(cx).map(|()| Woken::Timer),
                _ => Poll::Pending,
            };
            if woken.is_ready() {
                return woken;
            }
        }
        Poll::Pending
    }

    /// With no stream in flight and nothing to write, gives back what the
    /// busiest moment left allocated (maps, queues, the handler and body
    /// sets): an idle connection keeps its HPACK tables and little else.
    /// Called when the timer fires: the core's rule for this is a moment
    /// without streams (`SHED_AFTER`), so that a busy connection keeps its
    /// capacity between batches.
    fn shed(&mut self) {
        if !self.streams.is_empty() || self.conn.open_streams() > 0 {
            return;
        }
        self.conn.shed();
        shed_map(&mut self.streams);
        if self.handlers.is_empty() {
            self.handlers = LazyUnordered::default();
        }
        if self.bodies.is_empty() {
            self.bodies = LazyUnordered::default();
        }
        self.wq.segs = VecDeque::new();
    }

    /// Handles work that is ready now, so that one write carries it all.
    fn drain_ready(&mut self) {
        for _ in 0..BATCH {
            let mut progressed = false;
            if let Some((id, resp)) = self.handlers.ready_now() {
                self.on_response(id, resp);
                progressed = true;
            }
            if let Some(polled) = self.bodies.ready_now() {
                if let Some((id, body, chunk)) = polled {
                    self.on_chunk(id, body, chunk);
                }
                progressed = true;
            }
            if let Some(Ok((id, credit))) = self.release.as_mut().map(|r| r.rx.try_recv()) {
                self.on_release(id, credit);
                progressed = true;
            }
            if !progressed {
                return;
            }
            self.process();
        }
    }

    /// Acts on the core's events and on streams that regained room.
    fn process(&mut self) {
        while let Some(ev) = self.conn.poll_event() {
            match ev {
                Event::Request {
                    id,
                    head,
                    fields,
                    content_length,
                    end_stream,
                } => self.on_request(id, head, fields, content_length, end_stream),
                Event::HeadersTooLarge { id } => {
                    let mut task = StreamTask::with_record(self.record());
                    self.send_answer(
                        id,
                        &mut task,
                        &Answer::new(
                            http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                            "request header section too large",
                        ),
                    );
                }
                Event::Data {
                    id,
                    data,
                    end_stream,
                } => self.on_data(id, data, end_stream),
                Event::Trailers { id, trailers } => {
                    // The request's trailers end its body (RFC 9113 §8.1).
                    if let Some(s) = self.streams.get_mut(&id) {
                        s.trailers = Some(trailers);
                    }
                    self.on_data(id, Bytes::new(), true);
                }
                Event::Reset { id, reason } => {
                    // Dropping the task cancels the handler, the body poll
                    // and the request body channel.
                    if let Some(mut s) = self.streams.remove(&id) {
                        if let Some(r) = &mut s.record {
                            r.reason(reason_name(reason));
                        }
                        s.end_record(Outcome::Reset);
                    }
                }
                Event::Refused { id, reason, head } => {
                    // Refused before any handler ran: still one record.
                    if let Some(mut r) = self.record() {
                        if let Some(h) = &head {
                            r.request(&h.method, &h.uri);
                        }
                        r.reason(reason_name(reason));
                        r.finish(tokio::time::Instant::now().into_std(), Outcome::Reset);
                    }
                    tracing::debug!(stream = id, ?reason, "h2 request refused");
                }
                Event::GoAway { .. } => {
                    // The peer opens no more streams: finish ours, then close.
                    self.conn.go_away(Reason::NO_ERROR);
                }
            }
        }
        for id in self.conn.take_writable() {
            if let Some(body) = self.streams.get_mut(&id).and_then(|s| s.parked.take()) {
                self.poll_body(id, body);
            }
        }
    }

    /// The time of this pass (see `clock`).
    fn now(&mut self) -> std::time::Instant {
        *self.clock.get_or_insert_with(now)
    }

    /// A new access record (the log line only when wanted).
    fn record(&mut self) -> Option<AccessRecord> {
        Some(AccessRecord::new(
            self.p.conn.peer_addr(),
            Protocol::of(Version::HTTP_2, self.p.conn.is_tls()),
            self.now(),
            self.log,
            self.p.observed,
        ))
    }

    fn on_request(
        &mut self,
        id: StreamId,
        mut head: Box<http::request::Parts>,
        fields: FieldList,
        declared: Option<u64>,
        end_stream: bool,
    ) {
        let mut task = StreamTask::with_record(self.record());
        task.head = head.method == Method::HEAD;
        if let Some(r) = &mut task.record {
            r.request(&head.method, &head.uri);
        }
        let facts = RequestFacts {
            method: &head.method,
            uri: &head.uri,
            version: Version::HTTP_2,
            fields: Fields::List(&fields),
            declared_len: declared,
            has_body: !end_stream,
        };
        let admission = match self.p.site.admit(&facts, &self.p.conn) {
            Ok(a) => a,
            Err(rejected) => {
                // Answered by admission (413, 414, 417, 421, 501), through
                // the server's layers like any response.
                head.headers = fields.to_map();
                let fut = self.p.site.answer(rejected, *head, &self.p.conn);
                self.answer_with(id, &mut task, fut);
                return;
            }
        };
        if head.method == Method::CONNECT {
            // A tunnel or an extended CONNECT (WebSocket) reads its fields.
            head.headers = fields.to_map();
            return self.on_connect(id, head, end_stream, &mut task, &admission);
        }
        let body = if end_stream {
            Body::empty()
        } else {
            let (tx, mut incoming) = Incoming::channel(declared, BODY_CHANNEL_DEPTH);
            let release = self.release_sender();
            // The one 100-continue policy (`proto::http::admit`): the
            // interim response goes out when the handler first reads.
            if admission.admitted.expect == Expect::ContinueOnRead {
                let demand = release.clone();
                incoming.on_demand_call(Box::new(move || {
                    let _ = demand.send((id, Credit::Demand));
                }));
            }
            incoming.on_release(Arc::new(move |n| {
                let _ = release.send((id, Credit::Consumed(n)));
            }));
            task.body_tx = Some(tx);
            task.budget = Some(admission.admitted.budget);
            Body::incoming(incoming)
        };
        self.start_handler(
            id,
            &mut task,
            head,
            body,
            Some(Unbuilt::H2(fields)),
            &admission,
        );
    }

    /// Where a stream's body reports what its reader consumed (the
    /// channel is made with the first body).
    fn release_sender(&mut self) -> mpsc::UnboundedSender<(StreamId, Credit)> {
        self.release
            .get_or_insert_with(|| {
                let (tx, rx) = mpsc::unbounded_channel();
                Box::new(Release { tx, rx })
            })
            .tx
            .clone()
    }

    /// A CONNECT, plain or extended: its DATA are not content but the
    /// input of the tunnel its response may open, kept by the driver for
    /// the upgraded stream (no body limit applies); the handler gets the
    /// future of that stream as the request's [`app_upgrade::OnUpgrade`].
    fn on_connect(
        &mut self,
        id: StreamId,
        mut head: Box<http::request::Parts>,
        end_stream: bool,
        task: &mut StreamTask,
        admission: &Admission,
    ) {
        let input = if end_stream {
            Body::empty()
        } else {
            let (tx, mut incoming) = Incoming::channel(None, BODY_CHANNEL_DEPTH);
            let release = self.release_sender();
            incoming.on_release(Arc::new(move |n| {
                let _ = release.send((id, Credit::Consumed(n)));
            }));
            task.body_tx = Some(tx);
            Body::incoming(incoming)
        };
        let (pending, on_upgrade) = app_upgrade::pending(Asked::Connect);
        head.extensions.insert(on_upgrade);
        task.tunnel = Some(Box::new(PendingTunnel { pending, input }));
        self.start_handler(id, task, head, Body::empty(), None, admission);
    }

    /// Starts the handler of stream `id`, whose `task` (lent, out of the
    /// driver's map) the driver takes into its map if the stream has work
    /// left once this returns; `fields`: the request's fields when not yet
    /// built into `parts`' headers.
    fn start_handler(
        &mut self,
        id: StreamId,
        task: &mut StreamTask,
        parts: Box<http::request::Parts>,
        body: Body,
        fields: Option<Unbuilt>,
        admission: &Admission,
    ) {
        task.head |= parts.method == Method::HEAD;
        let span = task.record.as_ref().map(AccessRecord::span);
        let fut = self
            .p
            .site
            .dispatch(admission, parts, body, fields, &self.p.conn, span);
        self.answer_with(id, task, fut);
    }

    /// Runs the future answering stream `id` (cancelled with the stream),
    /// whose `task` is lent as in `start_handler`.
    ///
    /// It is polled once here first: most handlers answer without
    /// waiting, and such a one then costs no abort handle, no task in the
    /// handler set (about 500 instructions per request), and its stream's
    /// task enters the driver's map only if the response leaves work
    /// behind (a body to stream, a request body to feed, a tunnel). The
    /// poll's waker does nothing: a handler that waits is pushed to the
    /// set, which polls every new future once, with its own waker.
    fn answer_with(&mut self, id: StreamId, task: &mut StreamTask, mut fut: Dispatch) {
        let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
        if let Poll::Ready(resp) = Pin::new(&mut fut).poll(&mut cx) {
            self.respond(id, task, Some(resp));
            return;
        }
        let (abort, reg) = AbortHandle::new_pair();
        let fut = Abortable::new(fut, reg);
        task.handler = Some(abort);
        self.streams.insert(id, std::mem::take(task));
        self.handlers.push(HandlerFuture { id, fut });
    }

    fn on_data(&mut self, id: StreamId, data: Bytes, end_stream: bool) {
        let Some(s) = self.streams.get_mut(&id) else {
            // No one reads this body any more: return the credit at once.
            self.conn.release(id, data.len());
            return;
        };
        if s.body_tx.is_none() {
            self.conn.release(id, data.len());
            return;
        }
        // The virtual server's body limit, at the moment it is crossed:
        // the handler reads `BodyError::TooLarge` (and answers 413).
        if let Some(budget) = &mut s.budget {
            if budget.take(data.len() as u64).is_err() {
                let rest: usize = s.pending.drain(..).map(|b| b.len()).sum();
                if let Some(tx) = s.body_tx.take() {
                    tx.fail(BodyError::TooLarge);
                }
                self.conn.release(id, rest + data.len());
                return;
            }
        }
        if !data.is_empty() {
            s.pending.push_back(data);
        }
        if end_stream {
            s.ended = true;
        }
        self.feed_body(id);
    }

    /// Moves waiting request-body chunks into the handler's channel.
    fn feed_body(&mut self, id: StreamId) {
        let Some(s) = self.streams.get_mut(&id) else {
            return;
        };
        let Some(tx) = &s.body_tx else {
            return;
        };
        while let Some(chunk) = s.pending.pop_front() {
            match tx.try_send(chunk) {
                Ok(true) => {}
                Ok(false) => {
                    // The handler dropped the body.
                    let rest: usize = s.pending.drain(..).map(|b| b.len()).sum();
                    s.body_tx = None;
                    let done = s.response_done;
                    self.conn.release(id, rest);
                    if done {
                        self.streams.remove(&id);
                    }
                    return;
                }
                Err(chunk) => {
                    s.pending.push_front(chunk);
                    return;
                }
            }
        }
        if s.ended {
            if let Some(tx) = s.body_tx.take() {
                match s.trailers.take().map(|t| tx.try_send_trailers(*t)) {
                    None | Some(Ok(_)) => {
                        tx.finish();
                        // A tunnel whose output already ended is over.
                        if s.response_done {
                            self.streams.remove(&id);
                        }
                    }
                    Some(Err(t)) => {
                        // The handler has the channel full: later.
                        s.body_tx = Some(tx);
                        s.trailers = Some(Box::new(t));
                    }
                }
            }
        }
    }

    fn on_release(&mut self, id: StreamId, credit: Credit) {
        match credit {
            Credit::Consumed(n) => {
                self.conn.release(id, n);
                self.feed_body(id);
            }
            // RFC 9110 §10.1.1, RFC 9113 §8.1: an interim HEADERS.
            Credit::Demand => self.conn.send_informational(id, http::StatusCode::CONTINUE),
            Credit::TunnelDropped => {
                self.conn.end_tunnel_input(id);
                if let Some(s) = self.streams.get_mut(&id) {
                    let rest: usize = s.pending.drain(..).map(|b| b.len()).sum();
                    s.body_tx = None;
                    let done = s.response_done;
                    self.conn.release(id, rest);
                    if done {
                        self.streams.remove(&id);
                    }
                }
            }
        }
    }

    /// A handler of the handler set answered (`None`: it was cancelled).
    fn on_response(&mut self, id: StreamId, resp: Option<http::Response<Body>>) {
        let Some(mut task) = self.streams.remove(&id) else {
            return;
        };
        task.handler = None;
        self.respond(id, &mut task, resp);
    }

    /// Sends the response of stream `id`, whose `task` is at hand (out of
    /// the driver's map, lent: a task is a few hundred bytes, moved only
    /// into the map); it is taken into the map only if the stream still
    /// has work: a body to stream (here), an open tunnel (`open_tunnel`),
    /// a tunnel's input to feed (`finish_stream`).
    fn respond(&mut self, id: StreamId, task: &mut StreamTask, resp: Option<http::Response<Body>>) {
        let Some(resp) = resp else {
            // The handler was cancelled.
            self.conn.reset_stream(id, Reason::INTERNAL_ERROR);
            return;
        };
        if !self.conn.is_sending(id) {
            return;
        }
        let tunnel = task.tunnel.take();
        let (parts, body) = resp.into_parts();
        if tunnel.is_some() || parts.status == http::StatusCode::SWITCHING_PROTOCOLS {
            let asked = tunnel.as_ref().map(|t| t.pending.asked());
            let taken = tunnel.as_ref().is_some_and(|t| t.pending.is_taken());
            match upgrade::granted(asked, parts.status, &parts.headers, taken) {
                Granted::Switch => {
                    if let Some(t) = tunnel {
                        self.open_tunnel(id, task, &parts, *t);
                        return;
                    }
                }
                Granted::Invalid(answer) => {
                    self.send_answer(id, task, &answer);
                    return;
                }
                Granted::No => {}
            }
        }
        let framing = frame_response(parts.status, &parts.headers, task.head, body.exact_len());
        if let Some(r) = &mut task.record {
            r.status(parts.status);
        }
        // No body bytes, and nothing after them either (a body of length 0
        // may still end with trailers).
        let nothing_follows = match framing {
            Framing::NoBody { .. } => true,
            _ => http_body::Body::is_end_stream(&body),
        };
        if nothing_follows {
            with_date(self.now(), |d| {
                self.conn.send_response(
                    id,
                    parts.status,
                    &parts.headers,
                    framing.content_length(),
                    true,
                    d,
                )
            });
            spares::recycle_map(parts.headers);
            self.finish_stream(id, task);
            return;
        }
        if let Some(full) = body.as_full() {
            let full = full.clone();
            self.send_whole(id, task, parts.status, &parts.headers, full);
            spares::recycle_map(parts.headers);
            return;
        }
        task.ends_at_shutdown = body.ends_at_shutdown();
        task.sent = Some(SentBody::new(framing));
        self.streams.insert(id, std::mem::take(task));
        with_date(self.now(), |d| {
            self.conn.send_response(
                id,
                parts.status,
                &parts.headers,
                framing.content_length(),
                false,
                d,
            )
        });
        spares::recycle_map(parts.headers);
        self.poll_body(id, body);
    }

    /// A 2xx to a CONNECT: the stream becomes the upgraded stream of
    /// whoever took it (RFC 9113 §8.5, RFC 8441 §4). Its input is the
    /// request's DATA (credit returns as it is read); its output a bounded
    /// pipe polled, like any response body, only while the stream has
    /// room in its send buffer.
    fn open_tunnel(
        &mut self,
        id: StreamId,
        task: &mut StreamTask,
        parts: &http::response::Parts,
        t: PendingTunnel,
    ) {
        let dropped = self.release.as_ref().map(|r| {
            let tx = r.tx.clone();
            Box::new(move || {
                let _ = tx.send((id, Credit::TunnelDropped));
            }) as Box<dyn FnOnce() + Send>
        });
        let (stream, output) = Upgraded::h2(t.input, self.p.shutdown.signal(), dropped);
        if !t.pending.fulfil(stream) {
            self.conn.reset_stream(id, Reason::CANCEL);
            return;
        }
        task.tunnel_open = true;
        if let Some(r) = &mut task.record {
            r.status(parts.status);
        }
        self.streams.insert(id, std::mem::take(task));
        with_date(self.now(), |d| {
            self.conn
                .send_response(id, parts.status, &parts.headers, None, false, d)
        });
        self.conn.open_tunnel(id);
        self.poll_body(id, output);
    }

    /// Answers with an answer of the exchange layer (its one format).
    fn send_answer(&mut self, id: StreamId, task: &mut StreamTask, answer: &Answer) {
        let mut h = HeaderMap::new();
        if answer.has_body() {
            h.insert(http::header::CONTENT_TYPE, ERROR_CONTENT_TYPE);
        }
        if let Some(r) = &mut task.record {
            r.status(answer.status());
        }
        self.send_whole(id, task, answer.status(), &h, answer.body());
    }

    /// Sends a response whose body is in memory.
    fn send_whole(
        &mut self,
        id: StreamId,
        task: &mut StreamTask,
        status: http::StatusCode,
        headers: &HeaderMap,
        body: Bytes,
    ) {
        let framing = frame_response(status, headers, task.head, Some(body.len() as u64));
        let end = !framing.has_body();
        with_date(self.now(), |d| {
            self.conn
                .send_response(id, status, headers, framing.content_length(), end, d)
        });
        if !end {
            if let Some(r) = &mut task.record {
                r.sent(body.len() as u64);
            }
            self.conn.send_data(id, body, true);
        }
        self.finish_stream(id, task);
    }

    /// The response of stream `id` is fully queued: the driver forgets the
    /// stream's `task` (out of its map) unless it is a tunnel whose input
    /// still comes (a handler has answered by now, so a request body no
    /// one reads is discarded by the core, `Connection::response_complete`).
    fn finish_stream(&mut self, id: StreamId, task: &mut StreamTask) {
        task.end_record_at(Outcome::Complete, self.now());
        if task.body_tx.is_some() && task.tunnel_open {
            task.response_done = true;
            self.streams.insert(id, std::mem::take(task));
        }
    }

    /// `finish_stream` for a stream the driver's map holds.
    fn finish_kept_stream(&mut self, id: StreamId) {
        if let Some(mut task) = self.streams.remove(&id) {
            self.finish_stream(id, &mut task);
        }
    }

    /// Polls the next chunk of a response body if the stream has room, or
    /// parks the body until it has.
    fn poll_body(&mut self, id: StreamId, body: Body) {
        if !self.conn.is_sending(id) {
            self.streams.remove(&id);
            return;
        }
        if self.conn.has_room(id) {
            let (abort, reg) = AbortHandle::new_pair();
            if let Some(s) = self.streams.get_mut(&id) {
                s.body_poll = Some(abort);
            }
            let next = Abortable::new(
                async move {
                    let mut body = body;
                    let chunk = body.frame().await;
                    (id, body, chunk)
                },
                reg,
            );
            self.bodies.push(Box::pin(async move { next.await.ok() }));
        } else if let Some(s) = self.streams.get_mut(&id) {
            s.parked = Some(body);
        }
    }

    /// The peer closed its sending side: it will read no more either in
    /// practice (HTTP/2 clients do not half-close), so responses still
    /// being streamed are reset and their producers dropped; handlers that
    /// have not answered yet still get to answer.
    fn on_peer_closed(&mut self) {
        let streaming: Vec<StreamId> = self
            .streams
            .iter()
            .filter(|(_, s)| s.handler.is_none())
            .map(|(id, _)| *id)
            .collect();
        for id in streaming {
            self.streams.remove(&id);
            self.conn.reset_stream(id, Reason::CANCEL);
        }
        // Requests answered early whose rest can no longer come.
        self.conn.peer_closed();
    }

    /// Graceful shutdown: an event stream never ends by itself, so it is
    /// ended cleanly (END_STREAM after what was queued) and the client
    /// reconnects elsewhere, instead of holding shutdown to its deadline.
    fn end_event_streams(&mut self) {
        let endless: Vec<StreamId> = self
            .streams
            .iter()
            .filter(|(_, s)| shutdown_action(s.ends_at_shutdown) == ShutdownAction::EndNow)
            .map(|(id, _)| *id)
            .collect();
        for id in endless {
            self.conn.send_data(id, Bytes::new(), true);
            if let Some(mut s) = self.streams.remove(&id) {
                s.end_record(Outcome::Complete);
            }
        }
    }

    fn on_chunk(&mut self, id: StreamId, body: Body, chunk: Option<BodyFrame>) {
        if !self.conn.is_sending(id) {
            self.streams.remove(&id);
            return;
        }
        let counted = match (
            &chunk,
            self.streams.get_mut(&id).and_then(|s| s.sent.as_mut()),
        ) {
            (Some(Ok(f)), Some(sent)) => match f.data_ref() {
                Some(b) => sent.chunk(b.len()),
                None => sent.end(),
            },
            (None, Some(sent)) => sent.end(),
            _ => Ok(()),
        };
        if let Err(e) = counted {
            // A body that breaks its declared length cannot be completed.
            tracing::warn!(target: "duet", "stream {id}: {e}; resetting it");
            self.conn.reset_stream(id, Reason::INTERNAL_ERROR);
            if let Some(mut s) = self.streams.remove(&id) {
                s.end_record(Outcome::Failed);
            }
            return;
        }
        match chunk {
            None => {
                self.conn.send_data(id, Bytes::new(), true);
                self.finish_kept_stream(id);
            }
            Some(Ok(frame)) => match frame.into_data() {
                Ok(b) => {
                    self.conn.send_data(id, b, false);
                    self.poll_body(id, body);
                }
                Err(frame) => {
                    // Trailers end the response (RFC 9113 §8.1).
                    let trailers = frame.into_trailers().unwrap_or_default();
                    self.conn.send_trailers(id, trailers);
                    self.finish_kept_stream(id);
                }
            },
            Some(Err(e)) => {
                tracing::debug!(stream = id, "response body failed: {e}");
                // A tunnel dropped without shutting down: cancelled, as a
                // TCP connection closed with unread input is reset.
                let tunnel = self.streams.get(&id).is_some_and(|s| s.tunnel_open);
                let reason = if tunnel {
                    Reason::CANCEL
                } else {
                    Reason::INTERNAL_ERROR
                };
                self.conn.reset_stream(id, reason);
                if let Some(mut s) = self.streams.remove(&id) {
                    s.end_record(Outcome::Failed);
                }
            }
        }
    }
}

/// Output taken from the core, waiting for the socket: small frames
/// coalesced into segments, large DATA payloads as their own segments.
#[derive(Default)]
struct WriteQueue {
    segs: VecDeque<Bytes>,
    len: usize,
}

/// Most segments handed to one vectored write: a DATA frame is two (its
/// head and its payload), so 128 carry 64 frames, 1 MiB of 16 KiB frames
/// (Linux takes up to 1024, `IOV_MAX`).
const MAX_IOV: usize = 128;

impl WriteQueue {
    fn take_from(&mut self, conn: &mut Connection, now: std::time::Instant) {
        self.len += conn.take_output(&mut self.segs, now);
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Drops `n` written bytes from the front.
    fn advance(&mut self, mut n: usize) {
        self.len -= n.min(self.len);
        while n > 0 {
            let Some(front) = self.segs.front_mut() else {
                return;
            };
            if n < front.len() {
                front.advance(n);
                return;
            }
            n -= front.len();
            self.segs.pop_front();
        }
    }

    /// Writes some of the queue (vectored), or flushes when it is empty;
    /// returns the bytes written. A write either happened (and is
    /// counted) or not.
    fn poll_write_or_flush(
        &self,
        io: &mut Box<dyn Io>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<usize>> {
        if self.is_empty() {
            return Pin::new(&mut **io).poll_flush(cx).map_ok(|()| 0);
        }
        let mut iov = [IoSlice::new(&[]); MAX_IOV];
        let mut k = 0;
        for seg in self.segs.iter().filter(|s| !s.is_empty()).take(MAX_IOV) {
            iov[k] = IoSlice::new(seg);
            k += 1;
        }
        match Pin::new(&mut **io).poll_write_vectored(cx, &iov[..k]) {
            Poll::Ready(Ok(0)) => Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
            other => other,
        }
    }
}

/// Reads into `rbuf`; when it holds no buffer, reads through the stack and
/// allocates only for the bytes that arrived (an idle connection waits for
/// input without a buffer). A read either happened or not.
fn poll_read_some(
    io: &mut Box<dyn Io>,
    rbuf: &mut BytesMut,
    cx: &mut Context<'_>,
) -> Poll<io::Result<usize>> {
    if rbuf.capacity() > 0 {
        // `read_buf` keeps nothing between polls: a new one per poll.
        let read = std::pin::pin!(io.read_buf(rbuf));
        return read.poll(cx);
    }
    let mut room = [std::mem::MaybeUninit::<u8>::uninit(); BUFFERLESS_READ];
    let mut rb = ReadBuf::uninit(&mut room);
    match Pin::new(&mut **io).poll_read(cx, &mut rb) {
        Poll::Ready(Ok(())) => {
            rbuf.extend_from_slice(rb.filled());
            Poll::Ready(Ok(rb.filled().len()))
        }
        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        Poll::Pending => Poll::Pending,
    }
}

/// The end of a connection: its last frames (`out`), a flush and close,
/// then a lingering read, each part bounded by `LINGER_TIME` (a TLS flush
/// or close_notify waits on a peer that may read nothing).
async fn close(io: &mut Box<dyn Io>, out: VecDeque<Bytes>) {
    let last = async {
        for seg in out {
            if io.write_all(&seg).await.is_err() {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(LINGER_TIME, last).await;
    let close = async {
        let _ = io.flush().await;
        let _ = io.shutdown().await;
    };
    let _ = tokio::time::timeout(LINGER_TIME, close).await;
    // Keep reading (and dropping) for a moment, so that closing with
    // unread input does not reset the connection before the peer read our
    // GOAWAY.
    let linger = async {
        let mut sink = vec![0u8; 16 * 1024];
        let mut total = 0usize;
        while total < LINGER_MAX {
            match io.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    };
    let _ = tokio::time::timeout(LINGER_TIME, linger).await;
}

/// The name of an HTTP/2 error code, for the access record.
fn reason_name(r: Reason) -> &'static str {
    r.name().unwrap_or("unknown error code")
}

/// The time to hand the core: tokio's clock, so that a paused test clock
/// (`tokio::time::pause`) drives the core's timers too.
fn now() -> std::time::Instant {
    Instant::now().into_std()
}
