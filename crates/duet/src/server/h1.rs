//! The tokio driver for HTTP/1.1 connections: read → core → write.
//!
//! Every rule of HTTP lives elsewhere: in the sans-I/O connection core
//! (`proto::h1::Connection`: persistence, pipelining, framing on the wire,
//! `100 Continue`, the h2c switch, every timeout, the lingering close) and
//! in the exchange layer (`proto::http`: admission, response framing, the
//! answer format, access records, what shutdown does to a body). This
//! driver holds what they cannot: the socket, the one timer, the handler
//! future, the request-body channel to the application (bounded:
//! backpressure) and a streamed response body (polled only while the
//! output has room, and written out whenever it has nothing ready, so that
//! events reach the client at once).
//!
//! It is one poll function, [`Driver::poll_run`], run by the connection's
//! task. Its wake-up rule: a pass polls every source that can make
//! progress in the current state (the handler, the response body, the
//! 100-continue demand, room in the body channel, the socket for writing
//! while output waits, for reading while the core wants input, the timer,
//! the shutdown signal while watched), starts over after any of them was
//! ready, and returns `Pending` only when each of them returned `Pending`
//! — so each registered the task's waker. A source not polled in a pass
//! becomes pollable only through a state change, which another source's
//! readiness caused in the same pass.

use std::collections::VecDeque;
use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_util::task::AtomicWaker;
use futures_util::FutureExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::sync::oneshot;
use tokio::time::{Instant, Sleep};

use super::accept::{take_h2c_upgrade, H2cUpgrade};
use super::date::with_date;
use super::site::{Admission, Dispatch};
use super::ConnParams;
use crate::app::body::{Body, BodyError, BodySender, Incoming};
use crate::app::upgrade::{self as app_upgrade, Upgraded};
use crate::proto::h1::{BodyFailure, BodyKind, Config, Connection, Event, ParseError, RequestHead};
use crate::proto::http::spares;
use crate::proto::http::upgrade::{self, Granted};
use crate::proto::http::{
    shutdown_action, AccessRecord, BodyBudget, Expect, Fields, Outcome, Protocol, RequestFacts,
    ShutdownAction, Unbuilt,
};

/// Request body chunks that may wait unread by the handler.
const BODY_CHANNEL_DEPTH: usize = 4;
/// Read granularity.
const READ_CHUNK: usize = 16 * 1024;
/// The stack read size while nothing is buffered (see `poll_read_into`).
const BUFFERLESS_READ: usize = 4096;
/// Below this much free room, the read buffer grows by `READ_CHUNK`.
const MIN_READ_ROOM: usize = 1024;
/// Output segments written per vectored write.
const MAX_IOVECS: usize = 64;

type StdInstant = std::time::Instant;

/// Serves one HTTP/1.1 connection; `buf` holds bytes already read. When a
/// request upgrades the connection to h2c, it is handed back (after the
/// `101`) for the HTTP/2 driver.
///
/// The driver is built before the future, which then holds it once: an
/// `async fn` would also keep its arguments and the locals they were moved
/// through, about 700 bytes more per connection, idle or not.
pub(crate) fn serve<IO>(
    io: IO,
    buf: BytesMut,
    p: ConnParams,
) -> impl Future<Output = io::Result<Option<Box<H2cUpgrade<IO>>>>> + Send
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let now = Instant::now().into_std();
    let log = AccessRecord::enabled();
    let mut config = Config::new(p.limits.clone());
    // Every record is finished by its last byte (metrics, spans).
    config.report_written = true;
    let mut conn = Connection::new(config, now);
    *conn.read_buf() = buf;
    conn.recv(now);
    let mut d = Driver {
        io,
        conn,
        p,
        ex: Exchange::default(),
        records: VecDeque::new(),
        log,
        timer: None,
        timer_waker: None,
        drained: false,
        upgrade: None,
        switched: None,
        upgrade_ready: false,
        unflushed: false,
        write_shut: false,
    };
    async move {
        let res = std::future::poll_fn(|cx| d.poll_run(cx)).await;
        // Responses that never reached the socket, and an exchange cut short.
        let now = Instant::now().into_std();
        for r in d.records.drain(..) {
            r.finish(now, Outcome::Aborted);
        }
        if let Some(r) = d.ex.end() {
            r.finish(now, Outcome::Aborted);
        }
        match res? {
            Some(Handover::Switched(pending, record)) => {
                // The connection is the upgraded stream's now; it counts
                // as open until that stream is dropped (graceful shutdown
                // waits for it).
                if let Some(r) = record {
                    r.finish(now, Outcome::Complete);
                }
                let early = d.conn.take_read_buf().freeze();
                let (done, gone) = oneshot::channel();
                let stream = Upgraded::h1(d.io, early, d.p.shutdown.signal(), done);
                if pending.fulfil(stream) {
                    let _ = gone.await;
                }
                Ok(None)
            }
            Some(Handover::H2c(up)) => {
                let Upgrade {
                    settings,
                    request,
                    admission,
                    ..
                } = *up;
                Ok(Some(Box::new(H2cUpgrade {
                    read: d.conn.take_read_buf(),
                    io: d.io,
                    settings,
                    request,
                    admission,
                    params: d.p,
                })))
            }
            None => Ok(None),
        }
    }
}

/// What the connection becomes after HTTP/1.1, once the response that
/// switched it is written.
enum Handover {
    /// HTTP/2 (h2c).
    H2c(Box<Upgrade>),
    /// The stream of whoever took the upgrade (a `101` or a 2xx to
    /// CONNECT), with the access record of that response.
    Switched(app_upgrade::Pending, Option<AccessRecord>),
}

/// A request that switches the connection to h2c, once its body is in and
/// the `101` written.
struct Upgrade {
    settings: Bytes,
    request: http::Request<Body>,
    admission: Admission,
    record: Option<AccessRecord>,
}

/// The request being answered: what the driver holds for it until its
/// response is complete. Kept in place (fields set and dropped one by
/// one) rather than moved: it is large, and a request is short.
struct Exchange {
    /// The handler, until it answers.
    handler: Option<Dispatch>,
    /// The request body on its way to the handler.
    body: Option<RequestBody>,
    /// Fires when the handler first reads a body held for 100-continue.
    demand: Option<oneshot::Receiver<()>>,
    /// The response body, while it streams.
    stream: Option<Body>,
    /// What shutdown does to `stream`.
    on_shutdown: ShutdownAction,
    record: Option<AccessRecord>,
    /// The request may switch protocols: where its stream goes.
    upgrade: Option<app_upgrade::Pending>,
}

impl Default for Exchange {
    fn default() -> Self {
        Exchange {
            handler: None,
            body: None,
            demand: None,
            stream: None,
            on_shutdown: ShutdownAction::Finish,
            record: None,
            upgrade: None,
        }
    }
}

impl Exchange {
    /// A handler runs or a response body streams.
    fn is_active(&self) -> bool {
        self.handler.is_some() || self.stream.is_some()
    }

    /// The exchange is over: what is left of it is dropped (the handler,
    /// the body channel — an unfinished body reads as aborted); its record
    /// is returned.
    fn end(&mut self) -> Option<AccessRecord> {
        self.handler = None;
        self.stream = None;
        self.body = None;
        self.demand = None;
        self.upgrade = None;
        self.on_shutdown = ShutdownAction::Finish;
        self.record.take()
    }

    /// A streamed body that ends at shutdown is going out.
    fn streams_endless(&self) -> bool {
        self.stream.is_some() && self.on_shutdown == ShutdownAction::EndNow
    }
}

/// The driver's end of a request body.
struct RequestBody {
    tx: BodySender,
    /// A chunk the channel had no room for; events wait until it is in.
    pending: Option<Bytes>,
    /// Woken when the handler takes a chunk (room in the channel).
    room: Arc<AtomicWaker>,
    /// The virtual server's body limit.
    budget: BodyBudget,
    /// The trailers that ended the body, waiting for room in the channel.
    trailers: Option<http::HeaderMap>,
}

struct Driver<IO> {
    io: IO,
    conn: Connection,
    p: ConnParams,
    ex: Exchange,
    /// Access records of complete responses not yet written, oldest first
    /// (each finished by the core's `Event::Written`).
    records: VecDeque<AccessRecord>,
    /// Access log lines are wanted (`AccessRecord::enabled`).
    log: bool,
    /// The connection's one timer, armed from the core's `poll_timeout`:
    /// moved earlier at once, never later while it is pending (a timer
    /// that fires early is re-armed), so that a request costs no timer
    /// registration.
    timer: Option<Pin<Box<Sleep>>>,
    /// The waker the armed timer was last polled with: while it is the
    /// task's and the timer neither moved nor fired, the timer is not
    /// polled again (it already holds the waker).
    timer_waker: Option<std::task::Waker>,
    /// Graceful shutdown was acted on (`on_shutdown`).
    drained: bool,
    upgrade: Option<Box<Upgrade>>,
    /// A response switched the connection: hand it over once written.
    switched: Option<(app_upgrade::Pending, Option<AccessRecord>)>,
    /// The upgrading request's body is in (h2c), or a response switched
    /// the connection: hand it over once the output is written.
    upgrade_ready: bool,
    /// Bytes were written since the last flush.
    unflushed: bool,
    /// The socket's write side is shut down.
    write_shut: bool,
}

impl<IO> Driver<IO>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    /// Runs the connection until it closes (`None`) or switches to h2c.
    /// See the module docs for the wake-up rule.
    fn poll_run(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<Handover>>> {
        // The clock is read once per wake-up (and when the timer fires).
        let mut now = Instant::now().into_std();
        loop {
            self.work(cx, now);
            // Output: written before anything is waited for.
            if self.conn.output_len() > 0 {
                match self.poll_write(cx) {
                    Poll::Ready(Ok(n)) => {
                        self.conn.advance_output(n, now);
                        self.unflushed = true;
                        continue;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => self.conn.write_blocked(now),
                }
            } else if self.unflushed {
                match Pin::new(&mut self.io).poll_flush(cx) {
                    Poll::Ready(Ok(())) => {
                        self.unflushed = false;
                        self.conn.write_unblocked();
                        continue;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => self.conn.write_blocked(now),
                }
            } else if self.upgrade_ready {
                if let Some((pending, record)) = self.switched.take() {
                    return Poll::Ready(Ok(Some(Handover::Switched(pending, record))));
                }
                return Poll::Ready(Ok(self.upgrade.take().map(Handover::H2c)));
            } else if self.conn.is_write_closed() && !self.write_shut {
                // All written: shut the write side (TLS: close_notify).
                if Pin::new(&mut self.io).poll_shutdown(cx).is_ready() {
                    self.write_shut = true;
                    self.conn.write_unblocked();
                    continue;
                }
                self.conn.write_blocked(now);
            }
            // Done once everything is written, flushed and the write side
            // shut (TLS: close_notify sent).
            if self.conn.is_closed() && !self.unflushed && self.write_shut {
                return Poll::Ready(Ok(None));
            }
            // Input.
            if self.conn.wants_read() {
                match poll_read_into(cx, &mut self.io, self.conn.read_buf()) {
                    Poll::Ready(Ok(true)) => {
                        self.conn.recv(now);
                        continue;
                    }
                    Poll::Ready(Ok(false)) => {
                        self.conn.recv_eof(now);
                        continue;
                    }
                    // A failed read while closing ends the close.
                    Poll::Ready(Err(_)) if self.conn.is_write_closed() => {
                        return Poll::Ready(Ok(None))
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => {}
                }
            }
            // Time.
            if let Some(deadline) = self.conn.poll_timeout() {
                let deadline = Instant::from_std(deadline);
                let timer = self
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                let elapsed = timer.is_elapsed();
                if elapsed || timer.deadline() > deadline {
                    timer.as_mut().reset(deadline);
                    self.timer_waker = None;
                }
                let registered = self
                    .timer_waker
                    .as_ref()
                    .is_some_and(|w| w.will_wake(cx.waker()));
                if registered && !elapsed {
                    // Armed and waiting with this task's waker.
                } else if timer.as_mut().poll(cx).is_ready() {
                    self.timer_waker = None;
                    // The timer's own deadline has passed (it may be an
                    // earlier one than the core's, when it fired early).
                    now = Instant::now().max(timer.deadline()).into_std();
                    self.conn.handle_timeout(now);
                    if self.conn.is_write_stalled() {
                        // `Limits::write_stall_timeout`: the peer read
                        // nothing; the connection is dropped.
                        return Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "the peer read nothing for write_stall_timeout",
                        )));
                    }
                    continue;
                } else {
                    self.timer_waker = Some(cx.waker().clone());
                }
            }
            // Graceful shutdown (the connection's task wakes it when it
            // begins): an idle connection closes, an endless body ends; a
            // request in progress is answered with `Connection: close`.
            if !self.drained
                && (self.conn.is_idle() || self.ex.streams_endless())
                && self.p.drain.is_set()
            {
                self.drained = true;
                self.on_shutdown(now);
                continue;
            }
            return Poll::Pending;
        }
    }

    /// Everything that needs no I/O: the core's events, the handler, the
    /// response body, the request body's channel; until none progresses.
    fn work(&mut self, cx: &mut Context<'_>, now: StdInstant) {
        loop {
            let mut progress = false;
            // Events, unless a body chunk waits for room (backpressure:
            // the core then reads no more).
            while self.deliver_pending(cx) {
                let Some(event) = self.conn.poll_event(now) else {
                    break;
                };
                progress = true;
                self.on_event(event, now);
                if self.upgrade_ready {
                    return;
                }
            }
            // Nothing more of this exchange can be sent (the peer went
            // away, or the response was abandoned): drop it.
            if self.ex.is_active() && self.conn.is_write_closed() {
                if let Some(r) = self.ex.end() {
                    r.finish(now, Outcome::Aborted);
                }
            }
            let ex = &mut self.ex;
            if let Some(handler) = &mut ex.handler {
                if let Poll::Ready(resp) = handler.poll_unpin(cx) {
                    ex.handler = None;
                    self.on_response(resp, now);
                    continue;
                }
            }
            if let Some(demand) = &mut ex.demand {
                if let Poll::Ready(asked) = demand.poll_unpin(cx) {
                    ex.demand = None;
                    match asked {
                        // The one 100-continue policy (`proto::http::admit`):
                        // 100 when the application first reads the body.
                        Ok(()) => self.conn.send_continue(),
                        // Dropped unread.
                        Err(_) => self.conn.drop_body(),
                    }
                    progress = true;
                }
            }
            if let Some(body) = ex.stream.as_mut().filter(|_| !self.conn.output_is_full()) {
                if let Poll::Ready(frame) = http_body::Body::poll_frame(Pin::new(body), cx) {
                    self.on_frame(frame, now);
                    continue;
                }
            }
            if !progress {
                return;
            }
        }
    }

    /// Puts a chunk that waited for room into the body channel; false while
    /// it still waits (the handler's next read wakes the task).
    fn deliver_pending(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(body) = &mut self.ex.body else {
            return true;
        };
        if let Some(mut trailers) = body.trailers.take() {
            for attempt in 0..2 {
                match body.tx.try_send_trailers(trailers) {
                    Ok(_) => {
                        if let Some(body) = self.ex.body.take() {
                            body.tx.finish();
                        }
                        return true;
                    }
                    Err(back) => trailers = back,
                }
                if attempt == 0 {
                    body.room.register(cx.waker());
                }
            }
            body.trailers = Some(trailers);
            return false;
        }
        let Some(mut chunk) = body.pending.take() else {
            return true;
        };
        for attempt in 0..2 {
            match body.tx.try_send(chunk) {
                Ok(true) => return true,
                Ok(false) => {
                    // The handler dropped the body.
                    self.ex.body = None;
                    self.conn.drop_body();
                    return true;
                }
                Err(back) => chunk = back,
            }
            if attempt == 0 {
                // Registered before trying again: a read in between is seen.
                body.room.register(cx.waker());
            }
        }
        body.pending = Some(chunk);
        false
    }

    fn on_event(&mut self, event: Event, now: StdInstant) {
        match event {
            Event::Request { head, started } => self.on_request(head, started, now),
            Event::Data(data) => self.on_data(data),
            Event::End => {
                // RFC 9112 §7.1.2: a chunked body's trailers end it.
                let trailers = self.conn.take_trailers();
                if let Some(mut body) = self.ex.body.take() {
                    match trailers {
                        None => body.tx.finish(),
                        Some(t) => {
                            body.trailers = Some(t);
                            self.ex.body = Some(body);
                        }
                    }
                }
            }
            Event::Reject {
                error,
                version,
                started,
            } => {
                let record = match self.upgrade.take() {
                    Some(up) => up.record,
                    None => self.record(started, version),
                };
                self.reject(&error, record, now);
            }
            Event::BodyFailed { failure, answer } => {
                if let Some(body) = self.ex.body.take() {
                    match failure {
                        BodyFailure::Malformed(e) => body.tx.fail(BodyError::Malformed(e.reason())),
                        // Dropped unfinished: the handler reads `Aborted`.
                        BodyFailure::TimedOut | BodyFailure::Closed => {}
                    }
                }
                if let Some(error) = answer {
                    // No response has started: the core answers instead of
                    // the handler.
                    let record = self.ex.end();
                    self.reject(&error, record, now);
                }
            }
            Event::Upgrade { body } => {
                if let Some(up) = &mut self.upgrade {
                    *up.request.body_mut() = Body::full(body);
                    // The h2 driver records stream 1.
                    up.record = None;
                    self.upgrade_ready = true;
                }
            }
            Event::Written { body_bytes } => {
                if let Some(mut r) = self.records.pop_front() {
                    r.sent(body_bytes);
                    r.finish(now, Outcome::Complete);
                }
            }
        }
    }

    /// A request head: admission by its virtual server, then its handler
    /// (or the h2c switch).
    fn on_request(&mut self, head: RequestHead, started: StdInstant, now: StdInstant) {
        let mut record = self.record(started, head.version);
        if let Some(r) = &mut record {
            r.request(&head.method, &head.uri);
        }
        let declared_len = match head.body {
            BodyKind::Length(n) => Some(n),
            _ => None,
        };
        let facts = RequestFacts {
            method: &head.method,
            uri: &head.uri,
            version: head.version,
            fields: Fields::Block(&head.fields),
            declared_len,
            has_body: head.body != BodyKind::None,
        };
        let admission = match self.p.site.admit(&facts, &self.p.conn) {
            Ok(a) => a,
            Err(rejected) => {
                // Through the server's layers when it has any (they see
                // duet's own 413s); the body is then left to the core to
                // drain or to close on, as for a handler that did not read
                // it.
                let mut parts = http::Request::new(()).into_parts().0;
                parts.method = head.method;
                parts.headers = head.fields.to_map(&head.uri);
                parts.uri = head.uri;
                parts.version = head.version;
                if let Some(dispatch) = self.p.site.layered_answer(&rejected, parts, &self.p.conn) {
                    self.ex.record = record;
                    self.ex.handler = Some(dispatch);
                    return;
                }
                let answer = rejected.answer;
                if let Some(r) = &mut record {
                    r.status(answer.status());
                }
                with_date(now, |d| self.conn.send_answer(&answer, d, now));
                self.written_later(record);
                return;
            }
        };
        let budget = admission.admitted.budget;
        // Boxed once: it moves by pointer to the handler's context.
        let mut parts = Box::new(http::Request::new(()).into_parts().0);
        parts.method = head.method;
        parts.uri = head.uri;
        parts.version = head.version;
        let mut body = Body::empty();

        if let Some(settings) = head.upgrade_h2c {
            if take_h2c_upgrade(true, &admission, &self.p.conn) {
                // The request becomes HTTP/2 stream 1, headers built.
                parts.headers = head.fields.to_map(&parts.uri);
                self.conn.accept_upgrade(budget.limit());
                self.upgrade = Some(Box::new(Upgrade {
                    settings,
                    request: http::Request::from_parts(*parts, body),
                    admission,
                    record,
                }));
                return;
            }
        }

        let ex = &mut self.ex;
        ex.record = record;
        // A request that may switch protocols carries the future of its
        // stream (the others carry nothing).
        if let Some(asked) = self.conn.switch_offered() {
            let (pending, on_upgrade) = app_upgrade::pending(asked);
            parts.extensions.insert(on_upgrade);
            ex.upgrade = Some(pending);
        }
        if head.body != BodyKind::None {
            // Already here whole (the common small body): no channel.
            if let Some(whole) = self.conn.take_full_body(now) {
                body = Body::full(whole);
            } else {
                let (tx, mut incoming) = Incoming::channel(declared_len, BODY_CHANNEL_DEPTH);
                if admission.admitted.expect == Expect::ContinueOnRead {
                    self.conn.expect_continue();
                    ex.demand = Some(incoming.on_demand());
                }
                let room = Arc::new(AtomicWaker::new());
                let waker = room.clone();
                incoming.on_release(Arc::new(move |_| waker.wake()));
                body = Body::incoming(incoming);
                ex.body = Some(RequestBody {
                    tx,
                    pending: None,
                    room,
                    budget,
                    trailers: None,
                });
            }
        }
        let span = ex.record.as_ref().map(AccessRecord::span);
        let fields = Some(Unbuilt::H1(head.fields));
        ex.handler =
            Some(
                self.p
                    .site
                    .dispatch(&admission, parts, body, fields, &self.p.conn, span),
            );
    }

    fn on_data(&mut self, data: Bytes) {
        let ex = &mut self.ex;
        let Some(body) = &mut ex.body else {
            self.conn.drop_body();
            return;
        };
        // The virtual server's limit, for a body of undeclared length.
        if body.budget.take(data.len() as u64).is_err() {
            if let Some(body) = ex.body.take() {
                body.tx.fail(BodyError::TooLarge);
            }
            self.conn.refuse_body();
            return;
        }
        match body.tx.try_send(data) {
            Ok(true) => {}
            Ok(false) => {
                ex.body = None;
                self.conn.drop_body();
            }
            Err(data) => body.pending = Some(data),
        }
    }

    /// The handler answered.
    fn on_response(&mut self, resp: http::Response<Body>, now: StdInstant) {
        let ex = &mut self.ex;
        let (parts, body) = resp.into_parts();
        if let Some(r) = &mut ex.record {
            r.status(parts.status);
        }
        if self.p.drain.is_set() {
            self.conn.start_shutdown(now);
        }
        if ex.upgrade.is_some() || parts.status == http::StatusCode::SWITCHING_PROTOCOLS {
            let pending = ex.upgrade.take();
            let asked = pending.as_ref().map(|p| p.asked());
            let taken = pending.as_ref().is_some_and(|p| p.is_taken());
            match upgrade::granted(asked, parts.status, &parts.headers, taken) {
                Granted::Switch => {
                    let switched = with_date(now, |d| {
                        self.conn.send_switch(parts.status, &parts.headers, d)
                    });
                    if let (true, Some(pending)) = (switched, pending) {
                        let record = self.ex.end();
                        self.switched = Some((pending, record));
                        self.upgrade_ready = true;
                        return;
                    }
                }
                Granted::Invalid(answer) => {
                    let mut record = self.ex.end();
                    if let Some(r) = &mut record {
                        r.status(answer.status());
                    }
                    with_date(now, |d| self.conn.send_answer(&answer, d, now));
                    self.written_later(record);
                    return;
                }
                Granted::No => {}
            }
        }
        let ex = &mut self.ex;
        let has_body = with_date(now, |d| {
            self.conn
                .send_response(parts.status, &parts.headers, body.exact_len(), d)
        });
        spares::recycle_map(parts.headers);
        if has_body {
            if let Some(full) = body.as_full() {
                let full = full.clone();
                if let Err(e) = self.conn.send_data(full) {
                    return self.response_failed(&e, now);
                }
            } else {
                ex.on_shutdown = shutdown_action(body.ends_at_shutdown());
                ex.stream = Some(body);
                return;
            }
        }
        self.end_response(now);
    }

    /// The next frame of a streamed response body: data, or the trailers
    /// that end it.
    fn on_frame(
        &mut self,
        frame: Option<Result<http_body::Frame<Bytes>, BodyError>>,
        now: StdInstant,
    ) {
        match frame {
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => {
                    if let Err(e) = self.conn.send_data(data) {
                        self.response_failed(&e, now);
                    }
                }
                Err(frame) => {
                    let trailers = frame.into_trailers().unwrap_or_default();
                    match self.conn.send_trailers(&trailers, now) {
                        Ok(()) => {
                            let record = self.ex.end();
                            self.written_later(record);
                        }
                        Err(e) => self.response_failed(&e, now),
                    }
                }
            },
            Some(Err(e)) => {
                // The producer failed mid-body: the only honest signal left
                // is to cut the connection without a last chunk.
                self.conn.abort_response();
                self.response_failed(&e, now);
            }
            None => self.end_response(now),
        }
    }

    /// The response is complete: its record waits for its last byte to be
    /// written.
    fn end_response(&mut self, now: StdInstant) {
        match self.conn.send_end(now) {
            Ok(()) => {
                let record = self.ex.end();
                self.written_later(record);
            }
            Err(e) => self.response_failed(&e, now),
        }
    }

    /// The response could not be completed; the core closes the connection.
    fn response_failed(&mut self, e: &dyn std::fmt::Display, now: StdInstant) {
        tracing::warn!(target: "duet", "response body failed: {e}; closing the connection");
        if let Some(r) = self.ex.end() {
            r.finish(now, Outcome::Failed);
        }
    }

    /// Graceful shutdown began while watched.
    fn on_shutdown(&mut self, now: StdInstant) {
        self.conn.start_shutdown(now);
        // An endless body is ended cleanly, so the client reconnects
        // elsewhere.
        if self.ex.streams_endless() {
            self.end_response(now);
        }
    }

    /// Answers a request the core rejected.
    fn reject(&mut self, error: &ParseError, mut record: Option<AccessRecord>, now: StdInstant) {
        if let Some(r) = &mut record {
            r.status(error.status());
        }
        with_date(now, |d| self.conn.reject(error, d, now));
        self.written_later(record);
    }

    /// A new access record (the log line only when wanted).
    fn record(&self, started: StdInstant, version: http::Version) -> Option<AccessRecord> {
        Some(AccessRecord::new(
            self.p.conn.peer_addr(),
            Protocol::of(version, self.p.conn.is_tls()),
            started,
            self.log,
            self.p.observed,
        ))
    }

    /// A record whose response is complete, finished by `Event::Written`.
    fn written_later(&mut self, record: Option<AccessRecord>) {
        if let Some(r) = record {
            self.records.push_back(r);
        }
    }

    /// Writes output: as one slice when it is one, else several large body
    /// chunks per vectored write, straight from their buffers.
    fn poll_write(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let io = Pin::new(&mut self.io);
        let n = match self.conn.output_contiguous() {
            Some(buf) => std::task::ready!(io.poll_write(cx, buf))?,
            None => {
                let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
                let count = self.conn.output_slices(&mut slices);
                std::task::ready!(
                    io.poll_write_vectored(cx, slices.get(..count).unwrap_or_default())
                )?
            }
        };
        if n == 0 {
            return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
        }
        Poll::Ready(Ok(n))
    }
}

/// Reads more bytes into `rbuf`; `Ok(false)` at EOF.
///
/// With nothing buffered, the wait holds no buffer at all: the read goes
/// through a stack array and only the bytes that arrived are allocated. A
/// buffer freed later would not lower the process's resident memory (the
/// allocator keeps it), so it is never kept while idle.
fn poll_read_into<IO: AsyncRead + Unpin>(
    cx: &mut Context<'_>,
    io: &mut IO,
    rbuf: &mut BytesMut,
) -> Poll<io::Result<bool>> {
    if rbuf.is_empty() {
        if rbuf.capacity() > 0 {
            *rbuf = BytesMut::new();
        }
        let mut room = [std::mem::MaybeUninit::<u8>::uninit(); BUFFERLESS_READ];
        let mut rb = tokio::io::ReadBuf::uninit(&mut room);
        std::task::ready!(Pin::new(&mut *io).poll_read(cx, &mut rb))?;
        rbuf.extend_from_slice(rb.filled());
        return Poll::Ready(Ok(!rb.filled().is_empty()));
    }
    // Grow only when little room is left: a keep-alive wait reads into the
    // room the last request left.
    if rbuf.capacity() - rbuf.len() < MIN_READ_ROOM {
        rbuf.reserve(READ_CHUNK);
    }
    let n = std::task::ready!(std::pin::pin!(io.read_buf(rbuf)).poll(cx))?;
    Poll::Ready(Ok(n > 0))
}
