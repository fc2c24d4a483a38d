//! Bytes in: request heads (RFC 9112 §2–§5, via `take_request`), request
//! bodies (§6, §7.1) handed out as the application reads them, drained or
//! refused, and the body of an h2c upgrade request (RFC 7540 §3.2).

use super::*;

impl Connection {
    // ----- Input -----

    /// The buffer input goes into: append what was read, then call
    /// [`recv`](Self::recv).
    pub fn read_buf(&mut self) -> &mut BytesMut {
        &mut self.rbuf
    }

    /// Takes the buffered input (after [`Event::Upgrade`]: the first bytes
    /// of HTTP/2).
    pub fn take_read_buf(&mut self) -> BytesMut {
        std::mem::take(&mut self.rbuf)
    }

    /// Whether the core waits for input: read when true (and only then, so
    /// that a slow application slows the peer down).
    pub fn wants_read(&self) -> bool {
        match self.reading {
            Reading::Idle { .. }
            | Reading::Head { .. }
            | Reading::Body { .. }
            | Reading::Drain { .. }
            | Reading::Upgrade(_) => self.need_input,
            // While a response goes out, reading notices a peer that went
            // away and buffers a pipelined head, up to a head's size.
            Reading::KeepAlive => {
                !self.eof && self.rbuf.len() < self.config.limits.max_header_bytes
            }
            Reading::Linger { .. } => true,
            Reading::Continue(_) | Reading::Closed | Reading::Upgraded => false,
        }
    }

    /// New bytes were appended to [`read_buf`](Self::read_buf) at `now`.
    pub fn recv(&mut self, now: Instant) {
        self.need_input = false;
        match &mut self.reading {
            Reading::Idle { .. } if !self.rbuf.is_empty() => {
                // RFC 9112 §9.3 / slowloris: the head must be complete by
                // the deadline counted from its first byte.
                self.reading = Reading::Head {
                    started: now,
                    deadline: now.checked_add(self.config.limits.header_read_timeout),
                    parsed_at: 0,
                };
            }
            Reading::Body { waiting, .. } | Reading::Drain { waiting, .. } => *waiting = None,
            Reading::Upgrade(up) => up.waiting = None,
            Reading::Linger { budget, .. } => {
                *budget = budget.saturating_sub(self.rbuf.len());
                self.rbuf.clear();
                if *budget == 0 {
                    self.reading = Reading::Closed;
                }
            }
            Reading::Closed => self.rbuf.clear(),
            _ => {}
        }
    }

    /// The peer closed its sending side at `now`.
    pub fn recv_eof(&mut self, now: Instant) {
        self.eof = true;
        self.need_input = false;
        match std::mem::replace(&mut self.reading, Reading::Closed) {
            // RFC 9112 §9.6: a peer that closes between requests (or within
            // a head, which then has no answer) is done.
            Reading::Idle { .. } | Reading::Head { .. } => {
                self.rbuf.clear();
                self.close(now);
            }
            // Within a body: the request can't complete, nor its response
            // be read.
            Reading::Continue(_) | Reading::Body { .. } => {
                self.pending = Some(Pending::BodyFailed {
                    failure: BodyFailure::Closed,
                    answer: None,
                });
                self.close(now);
            }
            Reading::Upgrade(_) => self.close(now),
            // The request is read: its response still goes out, unless it
            // is a stream, which has nobody to go to.
            Reading::Drain { .. } | Reading::KeepAlive => {
                self.keep_alive = KeepAlive::Disabled;
                if matches!(self.writing, Writing::Body(_)) {
                    self.writing = Writing::Closed;
                }
                self.try_end_exchange(now);
            }
            Reading::Linger { .. } | Reading::Closed => {}
            Reading::Upgraded => self.reading = Reading::Upgraded,
        }
    }

    // ----- Events -----

    /// The next event, if any (see [`Event`]).
    #[inline]
    pub fn poll_event(&mut self, now: Instant) -> Option<Event> {
        // The common "nothing new" answers, without the parser's frame.
        if self.pending.is_none() && self.marks.is_empty() {
            match self.reading {
                Reading::Idle { .. } if self.rbuf.is_empty() => {
                    self.need_input = true;
                    return None;
                }
                Reading::Continue(_)
                | Reading::KeepAlive
                | Reading::Linger { .. }
                | Reading::Closed
                | Reading::Upgraded => return None,
                _ => {}
            }
        }
        self.next_event(now)
    }

    #[inline(never)]
    fn next_event(&mut self, now: Instant) -> Option<Event> {
        if self.pending.is_some() {
            return self.take_pending();
        }
        if let Some(&(end, body_bytes)) = self.marks.front() {
            if end <= self.out.written() {
                self.marks.pop_front();
                return Some(Event::Written { body_bytes });
            }
        }
        loop {
            match self.reading {
                Reading::Idle { .. } | Reading::Head { .. } => return self.read_head(now),
                Reading::Body { .. } => return self.read_body(now),
                Reading::Drain { .. } => {
                    if !self.drain(now) {
                        return None;
                    }
                }
                Reading::Upgrade(_) => return self.read_upgrade(now),
                Reading::Continue(_)
                | Reading::KeepAlive
                | Reading::Linger { .. }
                | Reading::Closed
                | Reading::Upgraded => return None,
            }
        }
    }

    /// Parses the next request head, once there is room for its response.
    fn read_head(&mut self, now: Instant) -> Option<Event> {
        // RFC 9112 §9.3.2: pipelined requests are answered in order; the
        // next is taken only once the output is written far enough.
        if self.out.is_full() {
            self.need_input = false;
            return None;
        }
        let (started, deadline, parsed_at) = match self.reading {
            Reading::Head {
                started,
                deadline,
                parsed_at,
            } => (started, deadline, parsed_at),
            _ if self.rbuf.is_empty() => {
                self.need_input = true;
                return None;
            }
            _ => (
                now,
                now.checked_add(self.config.limits.header_read_timeout),
                0,
            ),
        };
        // A head that arrives in small pieces is parsed again only when a
        // line ended or a size limit was crossed, never once per byte.
        let len = self.rbuf.len();
        if parsed_at > 0 {
            let limits = &self.config.limits;
            let crossed = |t: usize| parsed_at <= t && len > t;
            let worth = self
                .rbuf
                .get(parsed_at..)
                .is_some_and(|new| new.contains(&b'\n'))
                || crossed(limits.max_uri_bytes.saturating_add(64))
                || crossed(limits.max_header_bytes);
            if !worth {
                self.need_input = true;
                return None;
            }
        }
        match take_request(&mut self.rbuf, &self.config.limits) {
            Ok(Some(head)) => self.on_head(head, started),
            Ok(None) => {
                self.reading = Reading::Head {
                    started,
                    deadline,
                    parsed_at: len,
                };
                self.need_input = true;
                None
            }
            Err(error) => {
                let version = request_version(&self.rbuf);
                self.reject_head(error, version, started);
                self.take_pending()
            }
        }
    }

    /// A request head arrived: the exchange begins.
    fn on_head(&mut self, head: RequestHead, started: Instant) -> Option<Event> {
        self.need_input = false;
        self.version = head.version;
        self.started = started;
        self.head_request = head.method == Method::HEAD;
        self.upgrade_asked = head.upgrade_h2c.is_some();
        self.switch = if head.upgrade || head.method == Method::CONNECT {
            upgrade::asked(
                &head.method,
                head.version,
                head.upgrade,
                head.body != BodyKind::None,
            )
        } else {
            None
        };
        // RFC 9112 §9.3: the request says whether the connection persists;
        // the last one a connection may carry closes it.
        self.requests = self.requests.saturating_add(1);
        let last = self.requests >= self.config.limits.max_requests_per_connection;
        self.keep_alive = if head.keep_alive && !last && self.keep_alive != KeepAlive::Disabled {
            KeepAlive::Busy
        } else {
            KeepAlive::Disabled
        };
        self.writing = Writing::Init;
        self.reading = match head.body {
            BodyKind::None => Reading::KeepAlive,
            kind => Reading::Body {
                decoder: BodyDecoder::with_limits(&kind, &self.config.limits),
                waiting: None,
            },
        };
        Some(Event::Request { head, started })
    }

    /// A head that cannot be served: it is answered, then the connection
    /// closes (RFC 9112 §9.6: what follows can't be framed). Reported at
    /// the next `poll_event`.
    pub(super) fn reject_head(&mut self, error: ParseError, version: Version, started: Instant) {
        self.version = version;
        self.head_request = false;
        self.keep_alive = KeepAlive::Disabled;
        self.writing = Writing::Init;
        self.stop_reading(true);
        self.pending = Some(Pending::Reject {
            error,
            version,
            started,
        });
    }

    /// The pending event, if any.
    fn take_pending(&mut self) -> Option<Event> {
        Some(match self.pending.take()? {
            Pending::Reject {
                error,
                version,
                started,
            } => Event::Reject {
                error,
                version,
                started,
            },
            Pending::BodyFailed { failure, answer } => Event::BodyFailed { failure, answer },
        })
    }

    fn read_body(&mut self, now: Instant) -> Option<Event> {
        let Reading::Body { decoder, waiting } = &mut self.reading else {
            return None;
        };
        match decoder.decode(&mut self.rbuf) {
            Ok(Decoded::Data(data)) => {
                *waiting = None;
                self.need_input = false;
                Some(Event::Data(data))
            }
            Ok(Decoded::End) => {
                self.need_input = false;
                // RFC 9112 §7.1.2: the trailer section, for the driver.
                self.trailers = decoder.take_trailers().map(Box::new);
                self.reading = Reading::KeepAlive;
                self.try_end_exchange(now);
                Some(Event::End)
            }
            Ok(Decoded::NeedMore) => {
                waiting.get_or_insert(now);
                self.need_input = true;
                None
            }
            Err(e) => {
                let (failure, answer) = self.body_failed(BodyFailure::Malformed(e), e);
                Some(Event::BodyFailed { failure, answer })
            }
        }
    }

    /// The request body can't be completed: the connection closes after
    /// this exchange; the answer is `answer` if no response has started.
    pub(super) fn body_failed(
        &mut self,
        failure: BodyFailure,
        answer: ParseError,
    ) -> (BodyFailure, Option<ParseError>) {
        let answer = matches!(self.writing, Writing::Init).then_some(answer);
        self.keep_alive = KeepAlive::Disabled;
        self.stop_reading(true);
        (failure, answer)
    }

    /// Drops body bytes nobody reads; true when the reading state changed.
    fn drain(&mut self, now: Instant) -> bool {
        let Reading::Drain {
            decoder,
            budget,
            waiting,
        } = &mut self.reading
        else {
            return false;
        };
        loop {
            match decoder.decode(&mut self.rbuf) {
                Ok(Decoded::Data(data)) => {
                    *waiting = None;
                    match budget.checked_sub(data.len() as u64) {
                        Some(left) => *budget = left,
                        None => break,
                    }
                }
                Ok(Decoded::End) => {
                    self.reading = Reading::KeepAlive;
                    self.try_end_exchange(now);
                    return true;
                }
                Ok(Decoded::NeedMore) => {
                    waiting.get_or_insert(now);
                    self.need_input = true;
                    return false;
                }
                Err(_) => break,
            }
        }
        // Too long, or malformed: the connection can't be reused.
        self.keep_alive = KeepAlive::Disabled;
        self.stop_reading(true);
        self.try_end_exchange(now);
        true
    }

    /// Reads the body of an h2c upgrade request, then switches.
    fn read_upgrade(&mut self, now: Instant) -> Option<Event> {
        let Reading::Upgrade(up) = &mut self.reading else {
            return None;
        };
        loop {
            match up.decoder.decode(&mut self.rbuf) {
                Ok(Decoded::Data(data)) => {
                    up.waiting = None;
                    let total = (up.body.len() as u64).saturating_add(data.len() as u64);
                    if total > up.limit {
                        let started = up.started;
                        self.reject_head(
                            ParseError::new(
                                StatusCode::PAYLOAD_TOO_LARGE,
                                "request body exceeds the configured limit",
                            ),
                            Version::HTTP_11,
                            started,
                        );
                        return self.take_pending();
                    }
                    up.body.extend_from_slice(&data);
                }
                Ok(Decoded::End) => break,
                Ok(Decoded::NeedMore) => {
                    up.waiting.get_or_insert(now);
                    self.need_input = true;
                    return None;
                }
                Err(e) => {
                    let started = up.started;
                    self.reject_head(e, Version::HTTP_11, started);
                    return self.take_pending();
                }
            }
        }
        let Reading::Upgrade(up) = std::mem::replace(&mut self.reading, Reading::Upgraded) else {
            return None;
        };
        self.need_input = false;
        // RFC 7540 §3.2: 101, then the server's HTTP/2 preface (the HTTP/2
        // core's) and the response to the request on stream 1.
        encode_switching_protocols_h2c(self.out.buf());
        Some(Event::Upgrade {
            body: up.body.freeze(),
        })
    }

    /// The driver takes the h2c upgrade the current request asks for
    /// (RFC 7540 §3.2: its virtual server serves HTTP/2 and the connection
    /// is cleartext): its body, at most `limit` bytes (more → 413), is read
    /// whole, then [`Event::Upgrade`]. Call right after its
    /// [`Event::Request`]; without one it does nothing.
    pub fn accept_upgrade(&mut self, limit: u64) {
        if !self.upgrade_asked {
            return;
        }
        let decoder = match std::mem::replace(&mut self.reading, Reading::Closed) {
            Reading::Body { decoder, .. } => decoder,
            Reading::KeepAlive => BodyDecoder::with_limits(&BodyKind::None, &self.config.limits),
            other => {
                self.reading = other;
                return;
            }
        };
        self.reading = Reading::Upgrade(Box::new(Upgrading {
            decoder,
            body: BytesMut::new(),
            limit,
            started: self.started,
            waiting: None,
        }));
    }

    // ----- The request body, as the application reads it -----

    /// The rest of the current request's body in one piece, when all of it
    /// has already arrived (a `Content-Length` body read with its head):
    /// the driver hands it to the application whole, without a channel.
    pub fn take_full_body(&mut self, now: Instant) -> Option<Bytes> {
        let Reading::Body { decoder, .. } = &self.reading else {
            return None;
        };
        let n = usize::try_from(decoder.remaining()?).ok()?;
        if n == 0 || n > self.rbuf.len() {
            return None;
        }
        let body = self.rbuf.split_to(n).freeze();
        self.reading = Reading::KeepAlive;
        self.try_end_exchange(now);
        Some(body)
    }

    /// The current request expects `100 Continue` (admission said so):
    /// its body is not read until [`send_continue`](Self::send_continue).
    /// Call right after its [`Event::Request`].
    pub fn expect_continue(&mut self) {
        if let Reading::Body { .. } = self.reading {
            if let Reading::Body { decoder, .. } =
                std::mem::replace(&mut self.reading, Reading::Closed)
            {
                self.reading = Reading::Continue(decoder);
            }
        }
    }

    /// The application asked for the body held by
    /// [`expect_continue`](Self::expect_continue): `100 Continue` goes out
    /// (RFC 9110 §10.1.1, §15.2.1), unless a final response already has,
    /// and the body is read.
    pub fn send_continue(&mut self) {
        if let Reading::Continue(_) = self.reading {
            if let Reading::Continue(decoder) =
                std::mem::replace(&mut self.reading, Reading::Closed)
            {
                if matches!(self.writing, Writing::Init) && self.version == Version::HTTP_11 {
                    encode_continue(self.out.buf());
                }
                self.reading = Reading::Body {
                    decoder,
                    waiting: None,
                };
            }
        }
    }

    /// The application will not read the rest of the request body (it
    /// dropped it, or it broke a limit): what arrives is dropped, up to
    /// [`DRAIN_MAX`] bytes, and a longer body closes the connection.
    pub fn drop_body(&mut self) {
        match std::mem::replace(&mut self.reading, Reading::Closed) {
            Reading::Body { decoder, waiting } => {
                self.reading = Reading::Drain {
                    decoder,
                    budget: DRAIN_MAX,
                    waiting,
                };
            }
            // RFC 9110 §10.1.1: the client waits for a 100 that won't come
            // and may or may not send the body: close after the response.
            Reading::Continue(decoder) => {
                self.keep_alive = KeepAlive::Disabled;
                self.reading = Reading::Continue(decoder);
            }
            other => self.reading = other,
        }
    }

    /// The rest of the request body is refused (it crossed its limit,
    /// RFC 9110 §15.5.14): it is not read, and the connection closes after
    /// the response (lingering).
    pub fn refuse_body(&mut self) {
        if let Reading::Continue(_) | Reading::Body { .. } | Reading::Drain { .. } = self.reading {
            self.keep_alive = KeepAlive::Disabled;
            self.stop_reading(true);
        }
    }
}

/// The version on a request line, when it got that far: for the access
/// record of a request rejected before its head was whole.
pub(super) fn request_version(buf: &[u8]) -> Version {
    let line = buf
        .split(|&b| b == b'\n')
        .find(|l| !l.is_empty() && *l != b"\r")
        .unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.ends_with(b" HTTP/1.0") {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    }
}
