//! Bytes out: responses framed as the exchange layer decided (RFC 9112 §6),
//! their persistence (§9.3, §9.6), `100 Continue` and the server's own
//! answers.

use super::*;

impl Connection {
    /// Whether the connection can persist after a response that starts
    /// now: the request allowed it (RFC 9112 §9.3) and its body was read,
    /// or what is left of it is short enough to drop.
    #[inline]
    fn may_persist(&self) -> bool {
        if self.keep_alive == KeepAlive::Disabled {
            return false;
        }
        match &self.reading {
            Reading::KeepAlive => true,
            Reading::Body { decoder, .. } | Reading::Drain { decoder, .. } => {
                match decoder.remaining() {
                    Some(n) => n.saturating_sub(self.rbuf.len() as u64) <= DRAIN_MAX,
                    // Chunked: drained within a budget, closed beyond it.
                    None => true,
                }
            }
            // RFC 9110 §10.1.1: a client told no 100 may not send its body;
            // whether it does can't be known: close.
            _ => false,
        }
    }

    /// Starts the response to the current request: the exchange layer
    /// frames it (`frame_response`: HEAD, 1xx/204/304, the handler's
    /// `Content-Length`, `body_len` the body's length when known) and the
    /// head is queued with that framing on the wire — `content-length`,
    /// chunked (RFC 9112 §7.1), or close-delimited to an HTTP/1.0 peer
    /// (RFC 9112 §6.3 item 8) — and the persistence field (RFC 9112 §9.3).
    /// `date` is the `Date` value (RFC 9110 §6.6.1).
    ///
    /// Returns whether body bytes go out; either way the driver ends the
    /// response with [`send_end`](Self::send_end).
    pub fn send_response(
        &mut self,
        status: StatusCode,
        headers: &HeaderMap,
        body_len: Option<u64>,
        date: &[u8],
    ) -> bool {
        if !matches!(self.writing, Writing::Init) || matches!(self.reading, Reading::Upgraded) {
            return false;
        }
        let framing = frame_response(status, headers, self.head_request, body_len);
        let (wire, kind) = match framing {
            Framing::NoBody { content_length } => {
                (ResponseFraming::NoBody(content_length), Encoding::Omitted)
            }
            Framing::Length(n) => (ResponseFraming::Length(n), Encoding::Length),
            Framing::Unknown if self.version == Version::HTTP_11 => {
                (ResponseFraming::Chunked, Encoding::Chunked)
            }
            Framing::Unknown => (ResponseFraming::CloseDelimited, Encoding::CloseDelimited),
        };
        let persist = self.may_persist();
        let persist = encode_response_head(
            self.out.buf(),
            self.version,
            status,
            headers,
            wire,
            persist,
            date,
        );
        if !persist {
            self.keep_alive = KeepAlive::Disabled;
        }
        self.writing = Writing::Body(Encoder {
            kind,
            sent: SentBody::new(framing),
        });
        kind != Encoding::Omitted && framing.has_body()
    }

    /// Queues a chunk of the response body: copied when small, queued as
    /// it is when large. A chunk past the declared length is not sent: the
    /// response is abandoned and the connection closes.
    #[inline]
    pub fn send_data(&mut self, data: Bytes) -> Result<(), LengthError> {
        let Writing::Body(enc) = &mut self.writing else {
            return Ok(());
        };
        if data.is_empty() {
            return Ok(());
        }
        if let Err(m) = enc.sent.chunk(data.len()) {
            self.abort_response();
            return Err(LengthError::new(m.declared, m.produced));
        }
        match enc.kind {
            Encoding::Length | Encoding::CloseDelimited => self.out.body(data),
            Encoding::Chunked => self.out.chunk(data),
            Encoding::Omitted => {}
        }
        Ok(())
    }

    /// Ends the response: the last chunk of a chunked body (RFC 9112
    /// §7.1), the connection's close for a close-delimited one. A body
    /// short of its declared length abandons the response and closes the
    /// connection.
    #[inline]
    pub fn send_end(&mut self, now: Instant) -> Result<(), LengthError> {
        self.send_end_with(None, now)
    }

    /// Ends the response with `trailers`: in the trailer section of a
    /// chunked body (RFC 9112 §7.1.2); a body framed otherwise has no
    /// place for them, and they are dropped (RFC 9110 §6.5.1 lets a
    /// recipient discard them).
    pub fn send_trailers(&mut self, trailers: &HeaderMap, now: Instant) -> Result<(), LengthError> {
        self.send_end_with(Some(trailers), now)
    }

    fn send_end_with(
        &mut self,
        trailers: Option<&HeaderMap>,
        now: Instant,
    ) -> Result<(), LengthError> {
        let Writing::Body(enc) = &self.writing else {
            return Ok(());
        };
        if let Err(m) = enc.sent.end() {
            self.abort_response();
            return Err(LengthError::new(m.declared, m.produced));
        }
        let kind = enc.kind;
        let body_bytes = if kind == Encoding::Omitted {
            0
        } else {
            enc.sent.sent()
        };
        match (kind, trailers) {
            (Encoding::Chunked, Some(t)) => encode_last_chunk_with_trailers(self.out.buf(), t),
            (Encoding::Chunked, None) => encode_last_chunk(self.out.buf()),
            (Encoding::CloseDelimited, _) => self.keep_alive = KeepAlive::Disabled,
            (Encoding::Length | Encoding::Omitted, _) => {}
        }
        self.writing = if kind == Encoding::CloseDelimited {
            Writing::Closed
        } else {
            Writing::KeepAlive
        };
        self.response_done(body_bytes, now);
        Ok(())
    }

    /// The switch the current request may be granted (an HTTP/1.1
    /// `Upgrade`, or a CONNECT), if any: the request has no content and has
    /// been read.
    pub(crate) fn switch_offered(&self) -> Option<Asked> {
        self.switch.filter(|_| {
            matches!(
                (&self.reading, &self.writing),
                (Reading::KeepAlive, Writing::Init)
            )
        })
    }

    /// Grants the switch the current request asked for, as the exchange
    /// layer decided (`upgrade::granted`): the head of the `101` (RFC 9110
    /// §15.2.2) or 2xx to CONNECT (§9.3.6) is queued without framing, and
    /// the connection is no longer HTTP/1.1. After writing the output the
    /// driver takes [`take_read_buf`](Self::take_read_buf) (bytes the peer
    /// sent early, of the new protocol) and the socket. False, and nothing
    /// queued, when the request asked for no switch.
    pub fn send_switch(&mut self, status: StatusCode, headers: &HeaderMap, date: &[u8]) -> bool {
        if self.switch_offered().is_none() {
            return false;
        }
        encode_switch_head(self.out.buf(), status, headers, date);
        self.switch = None;
        self.reading = Reading::Upgraded;
        self.writing = Writing::KeepAlive;
        self.keep_alive = KeepAlive::Disabled;
        self.need_input = false;
        true
    }

    /// Answers a request the core rejected ([`Event::Reject`],
    /// [`Event::BodyFailed`]) in the one answer format.
    pub fn reject(&mut self, error: &ParseError, date: &[u8], now: Instant) {
        self.send_answer(&error.answer(), date, now);
    }

    /// Answers the current request with one of the server's own answers
    /// (admission's, a rejection): `text/plain` in the exchange layer's
    /// one format, its length announced. When the request's body has not
    /// been read, the connection closes after it.
    pub(crate) fn send_answer(&mut self, answer: &Answer, date: &[u8], now: Instant) {
        if !matches!(self.writing, Writing::Init) || matches!(self.reading, Reading::Upgraded) {
            return;
        }
        // An answer made before the body was read closes: the client may
        // be sending a body nobody wants, or waiting for a 100 that won't
        // come (RFC 9110 §10.1.1, §15.5.14).
        let persist = self.may_persist() && matches!(self.reading, Reading::KeepAlive);
        let body = answer.has_body().then(|| answer.body_len());
        encode_answer_head(
            self.out.buf(),
            self.version,
            answer.status(),
            body,
            persist,
            date,
        );
        let mut body_bytes = 0;
        // RFC 9110 §9.3.2: HEAD gets the head only.
        if body.is_some() && !self.head_request {
            answer.write_body(self.out.buf());
            body_bytes = answer.body_len() as u64;
        }
        if !persist {
            self.keep_alive = KeepAlive::Disabled;
        }
        self.writing = Writing::KeepAlive;
        self.response_done(body_bytes, now);
    }

    /// The response body failed (its producer errored): the response
    /// can't be completed, so the connection closes without it (RFC 9112
    /// §6.3: a truncated body is only detectable that way).
    pub fn abort_response(&mut self) {
        self.writing = Writing::Closed;
        self.keep_alive = KeepAlive::Disabled;
        self.rbuf.clear();
        self.reading = match self.reading {
            Reading::Upgraded => Reading::Upgraded,
            _ => Reading::Closed,
        };
        self.need_input = false;
    }

    /// A response is complete (its last byte queued).
    #[inline]
    fn response_done(&mut self, body_bytes: u64, now: Instant) {
        if self.config.report_written {
            self.marks.push_back((self.out.end_position(), body_bytes));
        }
        match std::mem::replace(&mut self.reading, Reading::Closed) {
            // Nobody reads the rest of the body now: drop it if it is short
            // (`may_persist` decided so), else close.
            Reading::Body { decoder, waiting } if self.keep_alive != KeepAlive::Disabled => {
                self.reading = Reading::Drain {
                    decoder,
                    budget: DRAIN_MAX,
                    waiting,
                };
            }
            Reading::Drain {
                decoder,
                budget,
                waiting,
            } if self.keep_alive != KeepAlive::Disabled => {
                self.reading = Reading::Drain {
                    decoder,
                    budget,
                    waiting,
                };
            }
            Reading::Body { .. } | Reading::Drain { .. } | Reading::Continue(_) => {
                self.keep_alive = KeepAlive::Disabled;
                self.stop_reading(true);
            }
            other => self.reading = other,
        }
        self.try_end_exchange(now);
    }
}
