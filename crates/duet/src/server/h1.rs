//! The tokio driver for HTTP/1.1 connections: reads request heads and
//! bodies into the `proto::h1` core, hands requests to the site, and writes
//! responses strictly in order (pipelining), with keep-alive, timeouts,
//! `Expect: 100-continue`, `Upgrade: h2c` and graceful shutdown.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use futures_util::FutureExt;
use http::{Method, StatusCode, Version};
use std::pin::Pin;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{timeout_at, Instant, Sleep};

use super::accept::{take_h2c_upgrade, H2cUpgrade};
use super::date::with_date;
use super::site::Admission;
use super::ConnParams;
use crate::app::body::{Body, BodyError, BodySender, Incoming};
use crate::app::response::Response;
use crate::proto::h1::{self, BodyDecoder, BodyKind, Decoded, ResponseFraming};
use crate::proto::http::{
    frame_response, shutdown_action, AccessRecord, Answer, BodyBudget, Expect, Framing, Outcome,
    Protocol, RequestFacts, SentBody, ShutdownAction,
};

/// Bodies up to this size are copied into the write buffer with the head
/// (one write); larger ones are written from their own buffer.
const COPY_BODY_MAX: usize = 16 * 1024;
/// Flush the write buffer once it holds this much, even mid-pipeline.
const FLUSH_AT: usize = 64 * 1024;
/// Write queued body segments once they add up to this much.
const QUEUE_FLUSH_AT: usize = 512 * 1024;
/// Request body chunks that may wait unread by the handler.
const BODY_CHANNEL_DEPTH: usize = 4;
/// Read granularity.
const READ_CHUNK: usize = 16 * 1024;
/// The stack read size while nothing is buffered (see `read_into`).
const BUFFERLESS_READ: usize = 4096;
/// Below this much free room, the read buffer grows by `READ_CHUNK`.
const MIN_READ_ROOM: usize = 1024;
/// An idle keep-alive connection releases its buffers after this long.
const IDLE_SHRINK_AFTER: Duration = Duration::from_secs(1);

/// Serves one HTTP/1.1 connection; `buf` holds bytes already read. When a
/// request upgrades the connection to h2c, it is handed back (after the
/// `101`) for the HTTP/2 driver.
pub(crate) async fn serve<IO>(
    io: IO,
    buf: BytesMut,
    p: ConnParams,
) -> io::Result<Option<H2cUpgrade<IO>>>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut conn = Conn {
        io,
        rbuf: buf,
        wbuf: BytesMut::new(),
        log: AccessRecord::enabled(),
        p,
        queue: VecDeque::new(),
        queued: 0,
        timer: None,
        linger: false,
    };
    let res = conn.run().await;
    if let Ok(Next::Upgrade(up)) = res {
        let Conn { io, rbuf, p, .. } = conn;
        let Upgrade {
            settings,
            request,
            admission,
        } = *up;
        return Ok(Some(H2cUpgrade {
            io,
            read: rbuf,
            settings,
            request,
            admission,
            params: p,
        }));
    }
    // Best effort: send what is buffered (an error response, say).
    if !conn.wbuf.is_empty() {
        let _ = conn.io.write_all(&conn.wbuf).await;
    }
    let _ = conn.io.shutdown().await;
    if !conn.linger {
        return res.map(|_| None);
    }
    // Lingering close: read (and drop) what the peer still sends for a
    // moment, so that closing with unread input does not reset the
    // connection before the peer has read our last response.
    let linger = async {
        // Reuse the read buffer: an array here would sit in every
        // connection's future, lingering or not.
        let mut total = 0usize;
        while total < LINGER_MAX {
            conn.rbuf.clear();
            conn.rbuf.reserve(8192);
            match conn.io.read_buf(&mut conn.rbuf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    };
    let _ = tokio::time::timeout(LINGER_TIME, linger).await;
    res.map(|_| None)
}

/// Lingering close bounds.
const LINGER_TIME: Duration = Duration::from_millis(500);
const LINGER_MAX: usize = 256 * 1024;

enum Next {
    KeepAlive,
    Close,
    Upgrade(Box<Upgrade>),
}

/// A request that switches the connection to h2c.
struct Upgrade {
    settings: Bytes,
    request: http::Request<Body>,
    admission: Admission,
}

struct Conn<IO> {
    io: IO,
    rbuf: BytesMut,
    wbuf: BytesMut,
    /// Access records are wanted (`AccessRecord::enabled`).
    log: bool,
    p: ConnParams,
    /// Body segments to write (in order) before `wbuf`, and their length.
    queue: VecDeque<Bytes>,
    queued: usize,
    /// The connection's one timer (idle, header read), see `read_by`.
    timer: Option<Pin<Box<Sleep>>>,
    /// Set when we close with input possibly unread (an error response, a
    /// body the handler did not read): close lingering, not abruptly.
    linger: bool,
}

impl<IO> Conn<IO>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    async fn run(&mut self) -> io::Result<Next> {
        loop {
            match self.one_request().await? {
                Next::KeepAlive => continue,
                other => {
                    self.flush().await?;
                    return Ok(other);
                }
            }
        }
    }

    async fn flush(&mut self) -> io::Result<()> {
        if !self.queue.is_empty() {
            self.write_queue().await?;
        } else if !self.wbuf.is_empty() {
            self.io.write_all(&self.wbuf).await?;
            self.wbuf.clear();
        }
        self.io.flush().await
    }

    /// Reads more bytes into `rbuf`; Ok(false) at EOF.
    async fn read_more(&mut self) -> io::Result<bool> {
        read_into(&mut self.io, &mut self.rbuf).await
    }

    /// Reads more bytes into `rbuf` unless `deadline` passes first:
    /// `Some(true)` read, `Some(false)` EOF, `None` deadline.
    ///
    /// The connection keeps one timer and re-arms it only when it fires
    /// before the deadline asked for, so waiting between keep-alive
    /// requests does not register a new timer per request.
    async fn read_by(&mut self, deadline: Instant) -> io::Result<Option<bool>> {
        let timer = match &mut self.timer {
            Some(t) => t,
            None => self
                .timer
                .insert(Box::pin(tokio::time::sleep_until(deadline))),
        };
        if timer.deadline() > deadline {
            timer.as_mut().reset(deadline);
        }
        loop {
            tokio::select! {
                biased;
                r = read_into(&mut self.io, &mut self.rbuf) => return r.map(Some),
                () = timer.as_mut() => {
                    if Instant::now() >= deadline {
                        return Ok(None);
                    }
                    timer.as_mut().reset(deadline);
                }
            }
        }
    }

    /// Reads, parses and answers one request.
    async fn one_request(&mut self) -> io::Result<Next> {
        let limits = self.p.limits.clone();
        // RFC 9112 §9.3: wait for the next request, idle up to the
        // keep-alive timeout, then for the rest of the head up to the
        // header-read timeout (slowloris guard).
        let mut deadline = None;
        let mut idle_until = None;
        let mut long_idle = false;
        // Length of `rbuf` at the last parse: a head that arrives in small
        // pieces is parsed again only when a line ends or a size limit is
        // crossed, never once per byte.
        let mut parsed_at: Option<usize> = None;
        // When the head began to arrive (for the access record).
        let mut started: Option<Instant> = None;
        let head = loop {
            let len = self.rbuf.len();
            let worth_parsing = match parsed_at {
                None => true,
                Some(at) => {
                    let crossed = |t: usize| at <= t && len > t;
                    self.rbuf.get(at..).is_some_and(|new| new.contains(&b'\n'))
                        || crossed(limits.max_uri_bytes + 64)
                        || crossed(limits.max_header_bytes)
                }
            };
            parsed_at = Some(len);
            let parsed = if worth_parsing {
                h1::parse_request(&self.rbuf, &limits)
            } else {
                Ok(None)
            };
            match parsed {
                Ok(Some((head, used))) => {
                    let _ = self.rbuf.split_to(used);
                    break head;
                }
                Ok(None) => {}
                Err(e) => {
                    self.flush().await?;
                    let record = self.record(started, Version::HTTP_11);
                    self.answer_and_close(&e.answer(), record);
                    return Ok(Next::Close);
                }
            }
            let idle = self.rbuf.is_empty();
            if !idle && self.log {
                started.get_or_insert_with(Instant::now);
            }
            if idle {
                // Responses of a pipelined batch go out before we wait.
                self.flush().await?;
                if self.p.shutdown.is_set() {
                    return Ok(Next::Close);
                }
            }
            let mut until = if idle {
                *idle_until.get_or_insert_with(|| Instant::now() + limits.keep_alive_timeout)
            } else {
                *deadline.get_or_insert_with(|| Instant::now() + limits.header_read_timeout)
            };
            // An idle connection holds no read buffer (see `read_into`) and
            // gives its write buffer back after a moment.
            let shrink = idle && !long_idle;
            if shrink {
                until = until.min(Instant::now() + IDLE_SHRINK_AFTER);
            }
            // Shutdown is watched only once the connection is really idle
            // (buffers released): the common short wait between requests
            // then costs no waiter registration, and an idle connection
            // still closes within IDLE_SHRINK_AFTER of shutdown.
            let read = if idle && !shrink {
                let mut shutdown = self.p.shutdown.clone();
                tokio::select! {
                    r = self.read_by(until) => r?,
                    _ = shutdown.wait() => return Ok(Next::Close),
                }
            } else {
                self.read_by(until).await?
            };
            match read {
                Some(true) => {}
                Some(false) => return Ok(Next::Close),
                None if shrink => {
                    long_idle = true;
                    self.wbuf = BytesMut::new();
                }
                None if idle => return Ok(Next::Close),
                None => {
                    let record = self.record(started, Version::HTTP_11);
                    self.answer_and_close(
                        &Answer::new(
                            StatusCode::REQUEST_TIMEOUT,
                            "request head not received in time",
                        ),
                        record,
                    );
                    return Ok(Next::Close);
                }
            }
        };
        let record = self.record(started, head.version);
        self.answer(head, record).await
    }

    /// A new access record, when records are wanted.
    fn record(&self, started: Option<Instant>, version: Version) -> Option<AccessRecord> {
        if !self.log {
            return None;
        }
        let started = started.unwrap_or_else(Instant::now).into_std();
        Some(AccessRecord::new(
            self.p.conn.peer_addr(),
            Protocol::of(version, self.p.conn.is_tls()),
            started,
        ))
    }

    async fn answer(
        &mut self,
        head: h1::RequestHead,
        mut record: Option<AccessRecord>,
    ) -> io::Result<Next> {
        let version = head.version;
        let is_head = head.method == Method::HEAD;
        let mut keep_alive = head.keep_alive;
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
            version,
            headers: &head.headers,
            declared_len,
            has_body: head.body != BodyKind::None,
        };
        let admission = match self.p.site.admit(&facts, &self.p.conn) {
            Ok(a) => a,
            Err(answer) => {
                // An unread body leaves the framing of what follows unknown:
                // close (lingering) unless there was none.
                if head.body != BodyKind::None {
                    keep_alive = false;
                    self.linger = true;
                }
                let resp = Response::from_answer(&answer).into_inner();
                self.write_response(resp, version, is_head, keep_alive, record)
                    .await?;
                return Ok(if keep_alive {
                    Next::KeepAlive
                } else {
                    Next::Close
                });
            }
        };
        let budget = admission.admitted.budget;

        let mut req = http::Request::new(Body::empty());
        *req.method_mut() = head.method;
        *req.uri_mut() = head.uri;
        *req.version_mut() = version;
        *req.headers_mut() = head.headers;

        // RFC 7540 §3.2: Upgrade to h2c. The request (with its whole body)
        // becomes stream 1 of the new HTTP/2 connection.
        if let Some(settings) = head.upgrade_h2c.clone() {
            if take_h2c_upgrade(true, &admission, &self.p.conn) {
                let body = match self.read_whole_body(&head.body, budget).await? {
                    Ok(b) => b,
                    Err(answer) => {
                        self.answer_and_close(&answer, record);
                        return Ok(Next::Close);
                    }
                };
                *req.body_mut() = Body::full(body);
                h1::encode_switching_protocols_h2c(&mut self.wbuf);
                self.flush().await?;
                return Ok(Next::Upgrade(Box::new(Upgrade {
                    settings,
                    request: req,
                    admission,
                })));
            }
        }

        // The body: already buffered (fast path), or streamed to the handler.
        let mut pump = None;
        match head.body {
            BodyKind::None => {}
            BodyKind::Length(n) if (n as usize) <= self.rbuf.len() => {
                *req.body_mut() = Body::full(self.rbuf.split_to(n as usize).freeze());
            }
            ref kind => {
                let (tx, mut incoming) = Incoming::channel(declared_len, BODY_CHANNEL_DEPTH);
                let demand = (admission.admitted.expect == Expect::ContinueOnRead)
                    .then(|| incoming.on_demand());
                *req.body_mut() = Body::incoming(incoming);
                pump = Some(Pump {
                    decoder: BodyDecoder::with_limits(kind, &self.p.limits),
                    tx: Some(tx),
                    demand,
                    budget,
                    done: false,
                    failed: false,
                });
            }
        }

        let mut dispatch = self.p.site.dispatch(&admission, req, &self.p.conn);
        let body_timeout = self.p.limits.keep_alive_timeout;
        let resp = match pump.as_mut() {
            None => dispatch.await,
            Some(pump) => {
                let res = tokio::select! {
                    r = &mut dispatch => Ok(r),
                    e = Box::pin(pump.run(&mut self.io, &mut self.rbuf, &mut self.wbuf, body_timeout)) => Err(e),
                };
                match res {
                    Ok(r) => r,
                    // The pump only returns on a read error, EOF or bad
                    // framing; the handler still answers (it sees an error
                    // body) unless the peer is gone.
                    Err(PumpEnd::Io(e)) => {
                        if let Some(r) = record {
                            r.finish(Instant::now().into_std(), Outcome::Aborted);
                        }
                        return Err(e);
                    }
                    Err(PumpEnd::Eof) => {
                        if let Some(r) = record {
                            r.finish(Instant::now().into_std(), Outcome::Aborted);
                        }
                        return Ok(Next::Close);
                    }
                    Err(PumpEnd::Malformed(e)) => {
                        drop(dispatch);
                        self.answer_and_close(&e.answer(), record);
                        return Ok(Next::Close);
                    }
                }
            }
        };
        if let Some(pump) = &pump {
            if !pump.done || pump.failed {
                // The handler answered without reading the whole body; the
                // framing of the rest can't be skipped cheaply: close.
                keep_alive = false;
                self.linger = true;
            }
        }
        if self.p.shutdown.is_set() {
            keep_alive = false;
        }
        self.write_response(resp, version, is_head, keep_alive, record)
            .await?;
        Ok(if keep_alive {
            Next::KeepAlive
        } else {
            Next::Close
        })
    }

    /// Reads a whole request body (for the h2c upgrade); the error is the
    /// answer when it is too large or malformed.
    async fn read_whole_body(
        &mut self,
        kind: &BodyKind,
        mut budget: BodyBudget,
    ) -> io::Result<Result<Bytes, Answer>> {
        let mut dec = BodyDecoder::with_limits(kind, &self.p.limits);
        let mut out = BytesMut::new();
        loop {
            match dec.decode(&mut self.rbuf) {
                Ok(Decoded::Data(b)) => {
                    if let Err(answer) = budget.take(b.len() as u64) {
                        return Ok(Err(answer));
                    }
                    out.extend_from_slice(&b);
                }
                Ok(Decoded::End) => return Ok(Ok(out.freeze())),
                Ok(Decoded::NeedMore) => {
                    let until = Instant::now() + self.p.limits.header_read_timeout;
                    match timeout_at(until, self.read_more()).await {
                        Ok(Ok(true)) => {}
                        Ok(Ok(false)) | Err(_) => {
                            return Ok(Err(Answer::new(
                                StatusCode::BAD_REQUEST,
                                "request body was not completed",
                            )))
                        }
                        Ok(Err(e)) => return Err(e),
                    }
                }
                Err(e) => return Ok(Err(e.answer())),
            }
        }
    }

    /// Writes `answer` with `connection: close`, and closes lingering.
    fn answer_and_close(&mut self, answer: &Answer, record: Option<AccessRecord>) {
        self.linger = true;
        with_date(|d| h1::error_response(&mut self.wbuf, answer, d));
        if let Some(mut r) = record {
            r.status(answer.status());
            r.sent(answer.body_len() as u64);
            r.finish(Instant::now().into_std(), Outcome::Complete);
        }
    }

    async fn write_response(
        &mut self,
        resp: http::Response<Body>,
        version: Version,
        is_head: bool,
        mut keep_alive: bool,
        mut record: Option<AccessRecord>,
    ) -> io::Result<()> {
        let (parts, body) = resp.into_parts();
        let status = parts.status;
        if let Some(r) = &mut record {
            r.status(status);
        }
        let framing = frame_response(status, &parts.headers, is_head, body.exact_len());
        // RFC 9112 §9.6: a handler asking to close is obeyed.
        if parts
            .headers
            .get(http::header::CONNECTION)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"))
        {
            keep_alive = false;
        }
        let wire = match framing {
            Framing::NoBody { content_length } => ResponseFraming::NoBody(content_length),
            Framing::Length(n) => ResponseFraming::Length(n),
            Framing::Unknown if version == Version::HTTP_11 => ResponseFraming::Chunked,
            Framing::Unknown => {
                // RFC 9112 §6.3 item 8: an HTTP/1.0 client reads to the close.
                keep_alive = false;
                ResponseFraming::CloseDelimited
            }
        };
        let chunked = matches!(wire, ResponseFraming::Chunked);
        with_date(|d| {
            h1::encode_response_head(
                &mut self.wbuf,
                version,
                status,
                &parts.headers,
                wire,
                keep_alive,
                d,
            )
        });
        if !framing.has_body() {
            let res = self.maybe_flush().await;
            if let Some(r) = record {
                r.finish(Instant::now().into_std(), Outcome::Complete);
            }
            return res;
        }
        if let Some(full) = body.as_full() {
            if let Some(r) = &mut record {
                r.sent(full.len() as u64);
            }
            if full.len() <= COPY_BODY_MAX {
                self.wbuf.extend_from_slice(full);
            } else {
                let full = full.clone();
                self.enqueue(full);
            }
            let res = self.maybe_flush().await;
            if let Some(r) = record {
                r.finish(Instant::now().into_std(), Outcome::Complete);
            }
            return res;
        }
        let on_shutdown = shutdown_action(body.ends_at_shutdown());
        // Boxed: streaming state is only paid for by streaming responses.
        let sent = SentBody::new(framing);
        let res = Box::pin(self.write_stream(body, chunked, on_shutdown, sent)).await;
        if let Some(mut r) = record {
            let outcome = match &res {
                Ok(n) => {
                    r.sent(*n);
                    Outcome::Complete
                }
                Err(StreamEnd::Failed(n)) => {
                    r.sent(*n);
                    Outcome::Failed
                }
                Err(StreamEnd::Io(..)) => Outcome::Aborted,
            };
            r.finish(Instant::now().into_std(), outcome);
        }
        match res {
            Ok(_) => Ok(()),
            Err(StreamEnd::Failed(_)) => Err(io::Error::other("response body failed")),
            Err(StreamEnd::Io(e)) => Err(e),
        }
    }

    /// Writes a streamed body: chunks as they come, flushing whenever the
    /// producer has nothing ready, so events reach the client at once.
    /// Returns the body bytes sent.
    async fn write_stream(
        &mut self,
        mut body: Body,
        chunked: bool,
        on_shutdown: ShutdownAction,
        mut sent: SentBody,
    ) -> Result<u64, StreamEnd> {
        let mut shutdown = self.p.shutdown.clone();
        // One shutdown waiter for the whole stream, not one per chunk.
        let shutdown_wait = shutdown.wait();
        tokio::pin!(shutdown_wait);
        let ends_at_shutdown = on_shutdown == ShutdownAction::EndNow;
        loop {
            let next = match body.chunk().now_or_never() {
                Some(n) => n,
                None => {
                    self.flush().await.map_err(StreamEnd::Io)?;
                    let n = loop {
                        let watch_peer = self.rbuf.len() < self.p.limits.max_header_bytes;
                        tokio::select! {
                            n = body.chunk() => break n,
                            r = self.read_more(), if watch_peer => match r {
                                // The peer closed: drop the producer now.
                                Ok(false) => return Err(StreamEnd::Io(io::ErrorKind::ConnectionAborted.into())),
                                Ok(true) => {}
                                Err(e) => return Err(StreamEnd::Io(e)),
                            },
                            // An endless body is ended cleanly, so the
                            // client reconnects elsewhere.
                            _ = &mut shutdown_wait, if ends_at_shutdown => break None,
                        }
                    };
                    n
                }
            };
            let chunk = match next {
                Some(Ok(chunk)) => chunk,
                Some(Err(e)) => {
                    // The producer failed mid-body: the only honest signal
                    // left is to cut the connection without a last chunk.
                    tracing::warn!(target: "duet", "response body failed: {e}");
                    let _ = self.flush().await;
                    return Err(StreamEnd::Failed(sent.sent()));
                }
                None => {
                    if let Err(e) = sent.end() {
                        tracing::warn!(target: "duet", "{e}; closing the connection");
                        let _ = self.flush().await;
                        return Err(StreamEnd::Failed(sent.sent()));
                    }
                    if chunked {
                        h1::encode_last_chunk(&mut self.wbuf);
                    }
                    self.maybe_flush().await.map_err(StreamEnd::Io)?;
                    return Ok(sent.sent());
                }
            };
            if let Err(e) = sent.chunk(chunk.len()) {
                // A body longer than it said: what was sent is all the
                // client gets; cut the connection before the overrun.
                tracing::warn!(target: "duet", "{e}; closing the connection");
                let _ = self.flush().await;
                return Err(StreamEnd::Failed(sent.sent()));
            }
            if chunk.len() > COPY_BODY_MAX {
                // Large chunks go to the socket from their own buffers,
                // several per vectored write.
                if chunked {
                    h1::encode_chunk_head(&mut self.wbuf, chunk.len());
                    self.enqueue(chunk);
                    self.wbuf.extend_from_slice(h1::CHUNK_END);
                } else {
                    self.enqueue(chunk);
                }
                if self.queued >= QUEUE_FLUSH_AT {
                    self.flush().await.map_err(StreamEnd::Io)?;
                }
            } else {
                if chunked {
                    h1::encode_chunk(&mut self.wbuf, &chunk);
                } else {
                    self.wbuf.extend_from_slice(&chunk);
                }
                if self.wbuf.len() >= FLUSH_AT {
                    self.flush().await.map_err(StreamEnd::Io)?;
                }
            }
        }
    }

    /// Queues `data` to be written after what is already buffered,
    /// without copying it; the queue goes out in vectored writes.
    fn enqueue(&mut self, data: Bytes) {
        if !self.wbuf.is_empty() {
            let head = self.wbuf.split().freeze();
            self.queued += head.len();
            self.queue.push_back(head);
        }
        self.queued += data.len();
        self.queue.push_back(data);
    }

    /// Writes the queued segments and then the write buffer, up to
    /// `MAX_IOVECS` slices per system call.
    async fn write_queue(&mut self) -> io::Result<()> {
        const MAX_IOVECS: usize = 64;
        while !self.queue.is_empty() || !self.wbuf.is_empty() {
            // The slice array lives inside one poll, not across an await,
            // so it does not grow every connection's future.
            let (queue, wbuf, io) = (&self.queue, &self.wbuf, &mut self.io);
            let mut n = std::future::poll_fn(|cx| {
                let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
                let mut count = 0;
                for seg in queue.iter().take(MAX_IOVECS - 1) {
                    slices[count] = IoSlice::new(seg);
                    count += 1;
                }
                if queue.len() == count {
                    slices[count] = IoSlice::new(wbuf);
                    count += 1;
                }
                Pin::new(&mut *io).poll_write_vectored(cx, &slices[..count])
            })
            .await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            while n > 0 {
                match self.queue.front_mut() {
                    Some(seg) if n >= seg.len() => {
                        n -= seg.len();
                        self.queued -= seg.len();
                        self.queue.pop_front();
                    }
                    Some(seg) => {
                        seg.advance(n);
                        self.queued -= n;
                        n = 0;
                    }
                    None => {
                        let _ = self.wbuf.split_to(n.min(self.wbuf.len()));
                        n = 0;
                    }
                }
            }
        }
        self.wbuf.clear();
        Ok(())
    }

    /// Flushes unless another pipelined request is already buffered (its
    /// response then goes out in the same write).
    async fn maybe_flush(&mut self) -> io::Result<()> {
        if self.rbuf.is_empty() || self.wbuf.len() >= FLUSH_AT || self.queued >= QUEUE_FLUSH_AT {
            self.flush().await?;
        }
        Ok(())
    }
}

/// Reads more bytes into `rbuf`; Ok(false) at EOF.
///
/// With nothing buffered, the wait holds no buffer at all: the read goes
/// through a stack array inside one poll and only the bytes that arrived are
/// allocated. A buffer freed later would not lower the process's resident
/// memory (the allocator keeps it), so it is never kept while idle.
async fn read_into<IO: AsyncRead + Unpin>(io: &mut IO, rbuf: &mut BytesMut) -> io::Result<bool> {
    if rbuf.is_empty() {
        if rbuf.capacity() > 0 {
            *rbuf = BytesMut::new();
        }
        return std::future::poll_fn(|cx| {
            let mut room = [std::mem::MaybeUninit::<u8>::uninit(); BUFFERLESS_READ];
            let mut rb = tokio::io::ReadBuf::uninit(&mut room);
            match Pin::new(&mut *io).poll_read(cx, &mut rb) {
                std::task::Poll::Ready(Ok(())) => {
                    rbuf.extend_from_slice(rb.filled());
                    std::task::Poll::Ready(Ok(!rb.filled().is_empty()))
                }
                std::task::Poll::Ready(Err(e)) => std::task::Poll::Ready(Err(e)),
                std::task::Poll::Pending => std::task::Poll::Pending,
            }
        })
        .await;
    }
    // After an idle period the buffer was released: a read into an empty
    // buffer takes a few bytes (BytesMut reserves 64), and the full-size
    // buffer comes back once a request is arriving.
    // Otherwise grow only when little room is left: a keep-alive wait
    // reads into the room the last request left.
    let spare = rbuf.capacity() - rbuf.len();
    if (rbuf.capacity() > 0 || !rbuf.is_empty()) && spare < MIN_READ_ROOM {
        rbuf.reserve(READ_CHUNK);
    }
    Ok(io.read_buf(rbuf).await? > 0)
}

/// Why a streamed response body did not complete.
enum StreamEnd {
    /// The socket failed or the peer went away.
    Io(io::Error),
    /// The body failed or broke its declared length (bytes sent so far).
    Failed(u64),
}

enum PumpEnd {
    Io(io::Error),
    Eof,
    Malformed(h1::ParseError),
}

/// Moves a request body from the socket to the handler, as the handler
/// reads it (bounded channel → backpressure).
struct Pump {
    decoder: BodyDecoder,
    tx: Option<BodySender>,
    demand: Option<tokio::sync::oneshot::Receiver<()>>,
    /// The virtual server's body limit.
    budget: BodyBudget,
    done: bool,
    failed: bool,
}

impl Pump {
    /// Runs until the body is complete (then pends forever) or the peer
    /// fails; the caller races it against the handler.
    async fn run<IO: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        io: &mut IO,
        rbuf: &mut BytesMut,
        wbuf: &mut BytesMut,
        idle: Duration,
    ) -> PumpEnd {
        // The one 100-continue policy (`proto::http::admit`): 100 Continue
        // goes out once the handler asks for the body; if it answers
        // first, the body is never sent.
        if let Some(d) = self.demand.take() {
            if d.await.is_err() {
                return std::future::pending().await;
            }
            h1::encode_continue(wbuf);
            if let Err(e) = io.write_all(wbuf).await {
                return PumpEnd::Io(e);
            }
            wbuf.clear();
        }
        loop {
            if self.done || self.failed {
                return std::future::pending().await;
            }
            match self.decoder.decode(rbuf) {
                Ok(Decoded::Data(chunk)) => {
                    if self.budget.take(chunk.len() as u64).is_err() {
                        self.failed = true;
                        if let Some(tx) = self.tx.take() {
                            tx.fail(BodyError::TooLarge);
                        }
                        continue;
                    }
                    let Some(tx) = &self.tx else { continue };
                    if !tx.send(chunk).await {
                        // The handler dropped the body: stop reading it.
                        self.failed = true;
                    }
                }
                Ok(Decoded::End) => {
                    self.done = true;
                    if let Some(tx) = self.tx.take() {
                        tx.finish();
                    }
                }
                Ok(Decoded::NeedMore) => {
                    rbuf.reserve(READ_CHUNK);
                    match tokio::time::timeout(idle, io.read_buf(rbuf)).await {
                        Ok(Ok(0)) => {
                            self.failed = true;
                            self.tx = None; // reads as Aborted
                            return PumpEnd::Eof;
                        }
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => {
                            self.failed = true;
                            self.tx = None;
                            return PumpEnd::Io(e);
                        }
                        Err(_) => {
                            self.failed = true;
                            self.tx = None;
                            return PumpEnd::Eof;
                        }
                    }
                }
                Err(e) => {
                    self.failed = true;
                    if let Some(tx) = self.tx.take() {
                        tx.fail(BodyError::Malformed(e.reason()));
                    }
                    return PumpEnd::Malformed(e);
                }
            }
        }
    }
}
