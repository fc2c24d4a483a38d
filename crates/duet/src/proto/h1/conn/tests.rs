//! The connection core as byte strings: requests in, responses out, time
//! virtual. Each test reads as the rule it checks.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, StatusCode, Version};

use super::*;
use crate::config::Limits;
use crate::proto::http::Answer;

const DATE: &[u8] = b"Sun, 06 Nov 1994 08:49:37 GMT";
const DATE_LINE: &str = "date: Sun, 06 Nov 1994 08:49:37 GMT\r\n";

/// A connection, a virtual clock and the peer's view of the output.
struct Peer {
    conn: Connection,
    t0: Instant,
    now: Instant,
}

impl Peer {
    fn new() -> Peer {
        Peer::with(Limits::default(), |_| {})
    }

    fn with(limits: Limits, config: impl FnOnce(&mut Config)) -> Peer {
        let mut c = Config::new(Arc::new(limits));
        config(&mut c);
        let t0 = Instant::now();
        Peer {
            conn: Connection::new(c, t0),
            t0,
            now: t0,
        }
    }

    /// The peer sends `bytes`.
    fn send(&mut self, bytes: &[u8]) {
        self.conn.read_buf().extend_from_slice(bytes);
        self.conn.recv(self.now);
    }

    /// The peer closes its side.
    fn close(&mut self) {
        self.conn.recv_eof(self.now);
    }

    /// Time passes; the core is woken if it asked to be.
    fn wait(&mut self, d: Duration) {
        self.now += d;
        if self.conn.poll_timeout().is_some_and(|t| t <= self.now) {
            self.conn.handle_timeout(self.now);
        }
    }

    /// The time since the start.
    fn elapsed(&self, t: Option<Instant>) -> Option<Duration> {
        t.map(|t| t.saturating_duration_since(self.t0))
    }

    fn event(&mut self) -> Option<Event> {
        self.conn.poll_event(self.now)
    }

    /// The next event, which must be a request head: its method and path.
    fn request(&mut self) -> (String, String) {
        match self.event() {
            Some(Event::Request { head, .. }) => (head.method.to_string(), head.uri.to_string()),
            other => panic!("expected a request, got {other:?}"),
        }
    }

    /// The request body as events: the data, and whether it ended.
    fn body(&mut self) -> (Vec<u8>, bool) {
        let mut data = Vec::new();
        loop {
            match self.event() {
                Some(Event::Data(d)) => data.extend_from_slice(&d),
                Some(Event::End) => return (data, true),
                None => return (data, false),
                Some(other) => panic!("expected body events, got {other:?}"),
            }
        }
    }

    /// Answers with `status`, `headers` and a whole body.
    fn respond(&mut self, status: u16, headers: &[(&'static str, &'static str)], body: &[u8]) {
        let h = headers_of(headers);
        let status = StatusCode::from_u16(status).unwrap();
        self.conn
            .send_response(status, &h, Some(body.len() as u64), DATE);
        self.conn.send_data(Bytes::copy_from_slice(body)).unwrap();
        self.conn.send_end(self.now).unwrap();
    }

    fn ok(&mut self, body: &str) {
        self.respond(200, &[], body.as_bytes());
    }

    /// Everything written, as the peer reads it.
    fn read(&mut self) -> String {
        String::from_utf8(self.read_bytes()).unwrap()
    }

    fn read_bytes(&mut self) -> Vec<u8> {
        let mut got = Vec::new();
        while self.conn.output_len() > 0 {
            let mut slices = [std::io::IoSlice::new(&[]); 8];
            let n = self.conn.output_slices(&mut slices);
            let mut len = 0;
            for s in &slices[..n] {
                got.extend_from_slice(s);
                len += s.len();
            }
            self.conn.advance_output(len, self.now);
        }
        got
    }
}

fn headers_of(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (n, v) in pairs {
        h.append(*n, HeaderValue::from_static(v));
    }
    h
}

/// A 200 response head with a length, as the peer reads it.
fn ok_head(len: usize, extra: &str) -> String {
    format!("HTTP/1.1 200 OK\r\n{DATE_LINE}server: duet\r\ncontent-length: {len}\r\n{extra}\r\n")
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n")
}

// ----- Keep-alive (RFC 9112 §9.3) -----

#[test]
fn http11_persists_by_default() {
    let mut p = Peer::new();
    p.send(get("/a").as_bytes());
    assert_eq!(p.request(), ("GET".into(), "/a".into()));
    assert!(p.event().is_none());
    p.ok("hi");
    assert_eq!(p.read(), ok_head(2, "") + "hi");
    assert!(p.conn.is_idle() && !p.conn.is_write_closed());
    p.send(get("/b").as_bytes());
    assert_eq!(p.request().1, "/b");
}

#[test]
fn connection_close_from_the_client() {
    let mut p = Peer::new();
    p.send(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    p.request();
    p.ok("x");
    assert!(p.conn.is_write_closed());
    assert_eq!(p.read(), ok_head(1, "connection: close\r\n") + "x");
    assert!(p.conn.is_closed());
}

#[test]
fn connection_close_from_the_handler() {
    let mut p = Peer::new();
    // A pipelined request after it is never taken (RFC 9112 §9.6).
    p.send(format!("{}{}", get("/1"), get("/2")).as_bytes());
    p.request();
    p.respond(200, &[("connection", "Close")], b"x");
    assert_eq!(p.read(), ok_head(1, "connection: close\r\n") + "x");
    assert!(p.event().is_none());
    assert!(p.conn.is_write_closed());
    // The unread request makes the close linger.
    assert!(p.conn.wants_read() && !p.conn.is_closed());
}

#[test]
fn http10_closes_unless_keep_alive_was_asked_for() {
    let mut p = Peer::new();
    p.send(b"GET / HTTP/1.0\r\n\r\n");
    p.request();
    p.ok("x");
    assert_eq!(p.read(), ok_head(1, "connection: close\r\n") + "x");
    assert!(p.conn.is_closed());

    let mut p = Peer::new();
    p.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    p.request();
    p.ok("x");
    assert_eq!(p.read(), ok_head(1, "connection: keep-alive\r\n") + "x");
    assert!(p.conn.is_idle());
    p.send(b"GET /2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(p.request().1, "/2");
}

#[test]
fn http10_body_of_unknown_length_is_close_delimited() {
    // RFC 9112 §6.3 item 8: no chunked coding for HTTP/1.0.
    let mut p = Peer::new();
    p.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    p.request();
    assert!(p
        .conn
        .send_response(StatusCode::OK, &HeaderMap::new(), None, DATE));
    p.conn.send_data(Bytes::from_static(b"abc")).unwrap();
    p.conn.send_data(Bytes::from_static(b"def")).unwrap();
    p.conn.send_end(p.now).unwrap();
    assert_eq!(
        p.read(),
        format!("HTTP/1.1 200 OK\r\n{DATE_LINE}server: duet\r\nconnection: close\r\n\r\nabcdef")
    );
    assert!(p.conn.is_closed());
}

// ----- Pipelining (RFC 9112 §9.3.2) -----

#[test]
fn pipelined_requests_are_answered_in_order_in_one_write() {
    let mut p = Peer::new();
    p.send(format!("{}{}{}", get("/1"), get("/2"), get("/3")).as_bytes());
    for (i, body) in ["one", "two", "three"].into_iter().enumerate() {
        assert_eq!(p.request().1, format!("/{}", i + 1));
        // The next head waits for this response.
        assert!(p.event().is_none());
        p.ok(body);
    }
    assert_eq!(
        p.read(),
        format!(
            "{}one{}two{}three",
            ok_head(3, ""),
            ok_head(3, ""),
            ok_head(5, "")
        )
    );
}

#[test]
fn next_head_waits_for_the_body_and_the_response() {
    let mut p = Peer::new();
    p.send(b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhel");
    p.send(format!("lo{}", get("/next")).as_bytes());
    assert_eq!(p.request().1, "/up");
    assert_eq!(p.body(), (b"hello".to_vec(), true));
    // Body consumed, response not sent: no new request yet.
    assert!(p.event().is_none());
    p.ok("done");
    assert_eq!(p.request().1, "/next");
}

#[test]
fn heads_arriving_byte_by_byte_and_all_at_once_agree() {
    let input = b"GET /one HTTP/1.1\r\nHost: a\r\n\r\n\
        POST /two HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello\
        POST /three HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
        3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: t\r\n\r\n\
        \r\nDELETE /four HTTP/1.1\r\nHost: a\r\n\r\n";
    let serve = |step: usize| {
        let mut p = Peer::new();
        let mut seen = Vec::new();
        let mut body = Vec::new();
        let mut pieces = input.chunks(step);
        loop {
            match p.event() {
                Some(Event::Request { head, .. }) => {
                    seen.push(format!("{} {}", head.method, head.uri));
                    if head.body == BodyKind::None {
                        p.ok("k");
                    }
                }
                Some(Event::Data(d)) => body.extend_from_slice(&d),
                Some(Event::End) => {
                    seen.push(String::from_utf8(std::mem::take(&mut body)).unwrap());
                    p.ok("k");
                }
                Some(other) => panic!("{other:?}"),
                None => match pieces.next() {
                    Some(piece) => p.send(piece),
                    None => break,
                },
            }
        }
        (seen, p.read())
    };
    let whole = serve(input.len());
    assert_eq!(
        whole.0,
        [
            "GET /one",
            "POST /two",
            "hello",
            "POST /three",
            "abcde",
            "DELETE /four"
        ]
    );
    assert_eq!(whole.1, (ok_head(1, "") + "k").repeat(4));
    for step in [1, 2, 3, 7, 64] {
        assert_eq!(serve(step), whole, "step {step}");
    }
}

#[test]
fn no_new_request_is_taken_while_the_output_is_full() {
    let mut p = Peer::new();
    p.send(format!("{}{}", get("/1"), get("/2")).as_bytes());
    p.request();
    p.ok(&"x".repeat(600 * 1024));
    assert!(p.conn.output_is_full());
    assert!(p.event().is_none());
    assert!(!p.conn.wants_read());
    p.read();
    assert_eq!(p.request().1, "/2");
}

// ----- Upgrade: h2c (RFC 7540 §3.2) -----

const SWITCHING: &str =
    "HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: h2c\r\n\r\n";

fn h2c_request(extra: &str) -> String {
    format!(
        "GET /up HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\n\
         Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n{extra}\r\n"
    )
}

/// The driver admitted the request and takes its upgrade.
fn upgrade(p: &mut Peer, limit: u64) {
    match p.event() {
        Some(Event::Request { head, .. }) => {
            assert_eq!(head.uri, "/up");
            assert_eq!(head.upgrade_h2c.as_ref().map(Bytes::len), Some(18));
        }
        other => panic!("{other:?}"),
    }
    p.conn.accept_upgrade(limit);
}

#[test]
fn h2c_upgrade_hands_back_the_request_and_the_bytes_after_it() {
    let mut p = Peer::new();
    p.send(format!("{}PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", h2c_request("")).as_bytes());
    upgrade(&mut p, 100);
    match p.event() {
        Some(Event::Upgrade { body }) => assert!(body.is_empty()),
        other => panic!("{other:?}"),
    }
    assert_eq!(p.read(), SWITCHING);
    assert_eq!(
        &p.conn.take_read_buf()[..],
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    );
    assert!(p.event().is_none() && !p.conn.wants_read());
}

#[test]
fn h2c_upgrade_reads_the_body_whole_first() {
    let mut p = Peer::new();
    p.send(h2c_request("Content-Length: 6\r\n").as_bytes());
    upgrade(&mut p, 100);
    p.send(b"abc");
    assert!(p.event().is_none() && p.conn.wants_read());
    assert!(p.conn.output_len() == 0, "no 101 before the body is in");
    p.send(b"defPRI");
    match p.event() {
        Some(Event::Upgrade { body, .. }) => assert_eq!(&body[..], b"abcdef"),
        other => panic!("{other:?}"),
    }
    assert_eq!(p.read(), SWITCHING);
    assert_eq!(&p.conn.take_read_buf()[..], b"PRI");
}

#[test]
fn h2c_upgrade_body_over_the_limit_is_413() {
    // The limit is the request's virtual server's (from admission).
    let mut p = Peer::new();
    p.send(format!("{}abcde", h2c_request("Content-Length: 5\r\n")).as_bytes());
    upgrade(&mut p, 4);
    match p.event() {
        Some(Event::Reject { error, .. }) => assert_eq!(error.status(), 413),
        other => panic!("{other:?}"),
    }
}

#[test]
fn h2c_upgrade_not_taken_is_plain_http11() {
    let mut p = Peer::new();
    p.send(h2c_request("").as_bytes());
    assert_eq!(p.request().1, "/up");
    p.ok("x");
    assert_eq!(p.read(), ok_head(1, "") + "x");
    // And an upgrade nobody asked for is not taken.
    p.send(get("/plain").as_bytes());
    p.request();
    p.conn.accept_upgrade(100);
    assert!(p.event().is_none());
    p.ok("x");
    assert_eq!(p.read(), ok_head(1, "") + "x");
}

// ----- Expect: 100-continue (RFC 9110 §10.1.1) -----

fn put_expecting(len: usize) -> String {
    format!("PUT /x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: {len}\r\n\r\n")
}

#[test]
fn continue_is_written_when_the_application_reads() {
    let mut p = Peer::new();
    p.send(put_expecting(5).as_bytes());
    p.request();
    p.conn.expect_continue();
    // Held: nothing read, nothing written.
    assert!(p.event().is_none());
    assert!(!p.conn.wants_read());
    assert_eq!(p.read(), "");
    p.conn.send_continue();
    assert_eq!(p.read(), "HTTP/1.1 100 Continue\r\n\r\n");
    assert!(p.event().is_none() && p.conn.wants_read());
    p.send(b"hello");
    assert_eq!(p.body(), (b"hello".to_vec(), true));
    p.ok("k");
    assert_eq!(p.read(), ok_head(1, "") + "k");
    assert!(p.conn.is_idle());
}

#[test]
fn an_answer_without_reading_sends_no_continue_and_closes() {
    let mut p = Peer::new();
    p.send(put_expecting(5).as_bytes());
    p.request();
    p.conn.expect_continue();
    p.respond(401, &[], b"no");
    assert_eq!(
        p.read(),
        format!(
            "HTTP/1.1 401 Unauthorized\r\n{DATE_LINE}server: duet\r\ncontent-length: 2\r\nconnection: close\r\n\r\nno"
        )
    );
    // Too late for a 100 now.
    p.conn.send_continue();
    assert_eq!(p.read(), "");
    // Whatever the client sends next is dropped for a moment.
    assert!(p.conn.wants_read() && p.conn.is_write_closed());
    p.send(b"hello");
    assert!(p.event().is_none());
    p.wait(Duration::from_millis(500));
    assert!(p.conn.is_closed());
}

#[test]
fn http10_expect_is_left_to_admission() {
    // The core holds a body only when told to; an HTTP/1.0 request (where
    // admission ignores 100-continue) is read at once.
    let mut p = Peer::new();
    p.send(b"PUT /x HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nab");
    p.request();
    assert_eq!(p.body(), (b"ab".to_vec(), true));
}

// ----- Request bodies (RFC 9112 §6, §7.1) -----

#[test]
fn content_length_and_chunked_bodies_arrive_as_data() {
    let mut p = Peer::new();
    p.send(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nab");
    p.request();
    assert_eq!(p.body(), (b"ab".to_vec(), false));
    assert!(p.conn.wants_read());
    p.send(b"c");
    assert_eq!(p.body(), (b"c".to_vec(), true));
    p.ok("");

    p.send(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwiki\r\n5;ext\r\npedia\r\n0\r\nX-T: y\r\n\r\n");
    p.request();
    assert_eq!(p.body(), (b"wikipedia".to_vec(), true));
}

#[test]
fn a_small_unread_body_is_drained_and_the_connection_kept() {
    let mut p = Peer::new();
    p.send(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n12345");
    p.request();
    // The handler answers without reading.
    p.ok("k");
    assert_eq!(p.read(), ok_head(1, "") + "k");
    assert!(p.event().is_none() && p.conn.wants_read());
    p.send(format!("67890{}", get("/next")).as_bytes());
    assert_eq!(p.request().1, "/next");
}

#[test]
fn a_large_unread_body_closes_lingering() {
    let mut p = Peer::new();
    // What is left beyond what arrived is more than DRAIN_MAX.
    let len = DRAIN_MAX + 4;
    p.send(format!("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {len}\r\n\r\nabc").as_bytes());
    p.request();
    p.ok("k");
    assert_eq!(p.read(), ok_head(1, "connection: close\r\n") + "k");
    assert!(p.conn.is_write_closed() && p.conn.wants_read());
    assert_eq!(
        p.elapsed(p.conn.poll_timeout()),
        Some(Duration::from_millis(500))
    );
    // Lingering drops up to LINGER_MAX bytes, then gives up.
    p.send(&vec![b'x'; LINGER_MAX]);
    assert!(p.conn.is_closed());
}

#[test]
fn an_unread_chunked_body_is_drained_within_a_budget() {
    let mut p = Peer::new();
    p.send(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
    p.request();
    p.ok("k");
    assert_eq!(p.read(), ok_head(1, "") + "k");
    p.send(b"3\r\nabc\r\n0\r\n\r\n");
    assert!(p.event().is_none());
    assert!(p.conn.is_idle());

    // Past DRAIN_MAX the connection closes instead.
    p.send(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
    p.request();
    p.ok("k");
    p.read();
    let big = format!(
        "{:x}\r\n{}\r\n",
        DRAIN_MAX + 1,
        "y".repeat(DRAIN_MAX as usize + 1)
    );
    p.send(big.as_bytes());
    assert!(p.event().is_none());
    assert!(p.conn.is_write_closed() && !p.conn.is_idle());
}

#[test]
fn a_body_the_application_dropped_is_drained() {
    let mut p = Peer::new();
    p.send(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\nab");
    p.request();
    assert_eq!(p.body(), (b"ab".to_vec(), false));
    p.conn.drop_body();
    p.send(b"cdef");
    // Dropped, not delivered.
    assert!(p.event().is_none());
    p.ok("k");
    assert_eq!(p.read(), ok_head(1, "") + "k");
    assert!(p.conn.is_idle());
}

#[test]
fn a_malformed_chunked_body_is_400_when_no_response_started() {
    let mut p = Peer::new();
    p.send(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
    p.request();
    match p.event() {
        Some(Event::BodyFailed {
            failure: BodyFailure::Malformed(e),
            answer: Some(a),
        }) => {
            assert_eq!(e, a);
            assert_eq!(a.status(), 400);
            p.conn.reject(&a, DATE, p.now);
        }
        other => panic!("{other:?}"),
    }
    let out = p.read();
    assert!(out.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{out}");
    assert!(
        out.ends_with("connection: close\r\n\r\n400 Bad Request: invalid chunk size\n"),
        "{out}"
    );
    assert!(p.conn.wants_read(), "lingers");
}

#[test]
fn a_peer_gone_mid_body_ends_the_exchange() {
    let mut p = Peer::new();
    p.send(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\nab");
    p.request();
    p.body();
    p.close();
    assert!(matches!(
        p.event(),
        Some(Event::BodyFailed {
            failure: BodyFailure::Closed,
            answer: None
        })
    ));
    // Nothing more is sent: the driver drops the handler.
    assert!(p.conn.is_write_closed() && p.conn.is_closed());
    assert!(!p
        .conn
        .send_response(StatusCode::OK, &HeaderMap::new(), Some(0), DATE));
    assert_eq!(p.read(), "");
}

// ----- Response framing (RFC 9112 §6; decided by `frame_response`) -----

#[test]
fn a_stream_of_unknown_length_is_chunked_and_large_chunks_are_not_copied() {
    let mut p = Peer::new();
    p.send(get("/").as_bytes());
    p.request();
    assert!(p
        .conn
        .send_response(StatusCode::OK, &HeaderMap::new(), None, DATE));
    p.conn.send_data(Bytes::from_static(b"hello")).unwrap();
    let big = Bytes::from(vec![b'z'; 20_000]);
    p.conn.send_data(big.clone()).unwrap();
    // The head and the small chunk, the big chunk as it is, its CRLF.
    let mut slices = [std::io::IoSlice::new(&[]); 8];
    assert_eq!(p.conn.output_slices(&mut slices), 3);
    assert_eq!(slices[1].as_ptr(), big.as_ptr());
    p.conn.send_end(p.now).unwrap();
    let want = format!(
        "HTTP/1.1 200 OK\r\n{DATE_LINE}server: duet\r\ntransfer-encoding: chunked\r\n\r\n\
         5\r\nhello\r\n4e20\r\n{}\r\n0\r\n\r\n",
        "z".repeat(20_000)
    );
    assert_eq!(p.read(), want);
    assert!(p.conn.is_idle());
}

#[test]
fn a_stream_with_a_handler_length_goes_out_with_content_length() {
    let mut p = Peer::new();
    p.send(get("/").as_bytes());
    p.request();
    let h = headers_of(&[("content-length", "6")]);
    assert!(p.conn.send_response(StatusCode::OK, &h, None, DATE));
    p.conn.send_data(Bytes::from_static(b"abc")).unwrap();
    p.conn.send_data(Bytes::from_static(b"def")).unwrap();
    p.conn.send_end(p.now).unwrap();
    assert_eq!(p.read(), ok_head(6, "") + "abcdef");
    assert!(p.conn.is_idle());
}

#[test]
fn a_stream_that_breaks_its_length_closes_without_completing() {
    // Too long: the chunk past the length is not sent.
    let mut p = Peer::new();
    p.send(get("/").as_bytes());
    p.request();
    let h = headers_of(&[("content-length", "4")]);
    p.conn.send_response(StatusCode::OK, &h, None, DATE);
    p.conn.send_data(Bytes::from_static(b"abc")).unwrap();
    let e = p.conn.send_data(Bytes::from_static(b"de")).unwrap_err();
    assert_eq!((e.declared(), e.produced()), (4, 5));
    assert!(p.conn.is_write_closed());
    assert_eq!(p.read(), ok_head(4, "") + "abc");
    assert!(p.conn.is_closed());

    // Too short.
    let mut p = Peer::new();
    p.send(get("/").as_bytes());
    p.request();
    p.conn.send_response(StatusCode::OK, &h, None, DATE);
    p.conn.send_data(Bytes::from_static(b"abc")).unwrap();
    assert!(p.conn.send_end(p.now).is_err());
    assert_eq!(p.read(), ok_head(4, "") + "abc");
    assert!(p.conn.is_closed());
}

#[test]
fn head_responses_carry_the_get_length_and_no_body() {
    let mut p = Peer::new();
    p.send(b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n");
    p.request();
    assert!(!p
        .conn
        .send_response(StatusCode::OK, &HeaderMap::new(), Some(5), DATE));
    p.conn.send_data(Bytes::from_static(b"hello")).unwrap();
    p.conn.send_end(p.now).unwrap();
    assert_eq!(p.read(), ok_head(5, ""));
    // An explicit HEAD handler's length over its empty body (RFC 9110 §9.3.2).
    p.send(b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n");
    p.request();
    p.respond(200, &[("content-length", "1234")], b"");
    assert_eq!(p.read(), ok_head(1234, ""));
    assert!(p.conn.is_idle());
}

#[test]
fn no_body_statuses_have_no_framing() {
    for (status, head) in [
        (204, "HTTP/1.1 204 No Content\r\n"),
        (304, "HTTP/1.1 304 Not Modified\r\n"),
    ] {
        let mut p = Peer::new();
        p.send(get("/").as_bytes());
        p.request();
        let h = headers_of(&[("content-type", "text/plain")]);
        assert!(!p
            .conn
            .send_response(StatusCode::from_u16(status).unwrap(), &h, Some(3), DATE));
        p.conn.send_data(Bytes::from_static(b"abc")).unwrap();
        p.conn.send_end(p.now).unwrap();
        assert_eq!(
            p.read(),
            format!("{head}content-type: text/plain\r\n{DATE_LINE}server: duet\r\n\r\n")
        );
        assert!(p.conn.is_idle(), "{status}");
    }
}

// ----- Timers (virtual time) -----

#[test]
fn an_idle_connection_releases_its_buffers_then_closes_quietly() {
    let limits = Limits {
        keep_alive_timeout: Duration::from_secs(5),
        ..Limits::default()
    };
    let mut p = Peer::with(limits, |_| {});
    p.send(get("/").as_bytes());
    p.request();
    p.ok("k");
    // Not idle before the output is written: the timer starts then.
    assert_eq!(p.conn.poll_timeout(), None);
    p.wait(Duration::from_secs(2));
    p.read();
    let idle_at = p.now;
    assert_eq!(p.conn.poll_timeout(), Some(idle_at + RELEASE_AFTER));
    p.wait(RELEASE_AFTER);
    assert!(p.conn.is_released() && p.conn.is_idle());
    assert_eq!(
        p.conn.poll_timeout(),
        Some(idle_at + Duration::from_secs(5))
    );
    p.wait(Duration::from_secs(3));
    assert!(!p.conn.is_closed());
    p.wait(Duration::from_secs(1));
    assert!(p.conn.is_closed());
    assert_eq!(p.read(), "", "closed without a word");
}

#[test]
fn a_head_not_complete_in_time_is_408() {
    let limits = Limits {
        header_read_timeout: Duration::from_secs(10),
        ..Limits::default()
    };
    let mut p = Peer::with(limits, |_| {});
    p.wait(Duration::from_secs(3));
    p.send(b"GET / HTTP/1.0\r\nHo");
    let first = p.now;
    assert!(p.event().is_none());
    assert_eq!(p.conn.poll_timeout(), Some(first + Duration::from_secs(10)));
    // More bytes do not move the deadline (slowloris).
    p.wait(Duration::from_secs(6));
    p.send(b"st: a\r\n");
    assert!(p.event().is_none());
    assert_eq!(p.conn.poll_timeout(), Some(first + Duration::from_secs(10)));
    p.wait(Duration::from_secs(4));
    match p.event() {
        Some(Event::Reject {
            error,
            version,
            started,
        }) => {
            assert_eq!(error.status(), StatusCode::REQUEST_TIMEOUT);
            assert_eq!(version, Version::HTTP_10);
            assert_eq!(started, first);
            p.conn.reject(&error, DATE, p.now);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        p.read(),
        format!(
            "HTTP/1.1 408 Request Timeout\r\n{DATE_LINE}server: duet\r\n\
             content-type: text/plain; charset=utf-8\r\ncontent-length: 55\r\n\
             connection: close\r\n\r\n408 Request Timeout: request head not received in time\n"
        )
    );
    // Lingering, then closed.
    assert_eq!(
        p.conn.poll_timeout(),
        Some(p.now + Duration::from_millis(500))
    );
    p.wait(Duration::from_millis(500));
    assert!(p.conn.is_closed());
}

#[test]
fn a_pipelined_head_is_timed_from_the_end_of_the_exchange_before_it() {
    let mut p = Peer::new();
    p.send(format!("{}GET /2 HT", get("/1")).as_bytes());
    p.request();
    p.wait(Duration::from_secs(30));
    p.ok("k");
    p.read();
    assert_eq!(p.conn.poll_timeout(), Some(p.now + Duration::from_secs(10)));
}

#[test]
fn a_body_not_arriving_in_time_fails() {
    let limits = Limits {
        body_read_timeout: Duration::from_secs(7),
        ..Limits::default()
    };
    let mut p = Peer::with(limits, |_| {});
    p.send(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\nab");
    p.request();
    assert_eq!(p.body(), (b"ab".to_vec(), false));
    assert_eq!(p.conn.poll_timeout(), Some(p.now + Duration::from_secs(7)));
    // Bytes reset it: it counts the time between reads.
    p.wait(Duration::from_secs(5));
    p.send(b"c");
    assert_eq!(p.body(), (b"c".to_vec(), false));
    assert_eq!(p.conn.poll_timeout(), Some(p.now + Duration::from_secs(7)));
    p.wait(Duration::from_secs(7));
    match p.event() {
        Some(Event::BodyFailed {
            failure: BodyFailure::TimedOut,
            answer: Some(a),
        }) => assert_eq!(a.status(), 408),
        other => panic!("{other:?}"),
    }

    // Once a response has started there is nothing left to answer.
    let mut p = Peer::new();
    p.send(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
    p.request();
    p.conn
        .send_response(StatusCode::OK, &HeaderMap::new(), None, DATE);
    p.body();
    p.wait(Duration::from_secs(60));
    assert!(matches!(
        p.event(),
        Some(Event::BodyFailed {
            failure: BodyFailure::TimedOut,
            answer: None
        })
    ));
    // The response may still end; then the connection closes.
    p.conn.send_end(p.now).unwrap();
    assert_eq!(
        p.read(),
        format!(
            "HTTP/1.1 200 OK\r\n{DATE_LINE}server: duet\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n"
        )
    );
    assert!(p.conn.is_write_closed());
}

#[test]
fn the_body_timer_stops_while_the_application_holds_data() {
    let mut p = Peer::new();
    p.send(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\nabc");
    p.request();
    // The driver's body channel is full: it polls no more events.
    assert_eq!(p.conn.poll_timeout(), None);
    assert!(!p.conn.wants_read());
    p.wait(Duration::from_secs(3600));
    assert_eq!(p.body(), (b"abc".to_vec(), false));
    assert_eq!(p.conn.poll_timeout(), Some(p.now + Duration::from_secs(60)));
}

#[test]
fn timeouts_are_their_own_limits() {
    let limits = Limits {
        header_read_timeout: Duration::from_secs(1),
        keep_alive_timeout: Duration::from_secs(2),
        body_read_timeout: Duration::from_secs(3),
        linger_timeout: Duration::from_secs(4),
        ..Limits::default()
    };
    let mut p = Peer::with(limits, |_| {});
    p.wait(RELEASE_AFTER);
    assert_eq!(p.conn.poll_timeout(), Some(p.t0 + Duration::from_secs(2)));
    p.send(b"G");
    assert_eq!(p.conn.poll_timeout(), Some(p.now + Duration::from_secs(1)));
    p.send(b"ET / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n");
    p.request();
    p.body();
    assert_eq!(p.conn.poll_timeout(), Some(p.now + Duration::from_secs(3)));
    p.respond(400, &[], b"no");
    p.read();
    // Body unread (2 bytes): drained, not lingered; the drain waits up to
    // the body timeout.
    assert_eq!(p.conn.poll_timeout(), Some(p.now + Duration::from_secs(3)));
    p.wait(Duration::from_secs(3));
    assert!(p.conn.is_write_closed());
    assert_eq!(p.conn.poll_timeout(), Some(p.now + Duration::from_secs(4)));
}

// ----- Errors: answered in the one format, then closed (RFC 9112 §9.6) -----

fn rejected(input: &[u8]) -> (u16, Version, String) {
    let mut p = Peer::new();
    p.send(input);
    match p.event() {
        Some(Event::Reject { error, version, .. }) => {
            p.conn.reject(&error, DATE, p.now);
            assert!(p.conn.is_write_closed());
            (error.status().as_u16(), version, p.read())
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn parse_errors_answer_their_status_and_close() {
    let (status, version, out) = rejected(b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!((status, version), (400, Version::HTTP_11));
    assert_eq!(
        out,
        format!(
            "HTTP/1.1 400 Bad Request\r\n{DATE_LINE}server: duet\r\n\
             content-type: text/plain; charset=utf-8\r\ncontent-length: 36\r\n\
             connection: close\r\n\r\n400 Bad Request: missing Host field\n"
        )
    );
    assert_eq!(rejected(b"GET / HTTP/2.5\r\n\r\n").0, 505);
    assert_eq!(
        rejected(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n").0,
        501
    );
    assert_eq!(
        rejected(format!("GET /{} HTTP/1.1\r\n", "a".repeat(9000)).as_bytes()).0,
        414
    );
    let (status, version, _) =
        rejected(format!("GET / HTTP/1.0\r\nX: {}\r\n\r\n", "a".repeat(70_000)).as_bytes());
    assert_eq!((status, version), (431, Version::HTTP_10));
}

#[test]
fn a_rejected_connection_lingers_then_closes() {
    let mut p = Peer::new();
    p.send(b"BAD\x01 / HTTP/1.1\r\n\r\nmore garbage");
    let Some(Event::Reject { error, .. }) = p.event() else {
        panic!()
    };
    assert!(p.event().is_none());
    p.conn.reject(&error, DATE, p.now);
    p.read();
    assert!(p.conn.wants_read() && !p.conn.is_closed());
    p.send(b"still sending");
    p.wait(Duration::from_millis(499));
    assert!(!p.conn.is_closed());
    p.wait(Duration::from_millis(1));
    assert!(p.conn.is_closed());
}

#[test]
fn admission_answers_are_ordinary_exchanges() {
    // 413 by declared length: too long to drain, so the connection closes.
    let mut p = Peer::new();
    p.send(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100000000\r\n\r\n");
    p.request();
    p.conn.send_answer(
        &Answer::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body exceeds the configured limit",
        ),
        DATE,
        p.now,
    );
    let out = p.read();
    assert!(
        out.contains("\r\nconnection: close\r\n\r\n413 Payload Too Large: "),
        "{out}"
    );
    // A server-wide OPTIONS: 204 without a body, and the connection stays.
    let mut p = Peer::new();
    p.send(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
    p.request();
    p.conn.send_answer(
        &Answer::new(StatusCode::NO_CONTENT, "server-wide OPTIONS"),
        DATE,
        p.now,
    );
    assert_eq!(
        p.read(),
        format!("HTTP/1.1 204 No Content\r\n{DATE_LINE}server: duet\r\n\r\n")
    );
    assert!(p.conn.is_idle());
    // An answer to HEAD announces its length but sends no body.
    p.send(b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n");
    p.request();
    p.conn
        .send_answer(&Answer::new(StatusCode::NOT_FOUND, ""), DATE, p.now);
    assert!(p.read().ends_with("content-length: 14\r\n\r\n"));
}

// ----- The peer closing, shutdown -----

#[test]
fn a_peer_closing_between_requests_closes_quietly() {
    let mut p = Peer::new();
    p.send(get("/").as_bytes());
    p.request();
    p.ok("k");
    p.read();
    p.close();
    assert!(p.conn.is_closed());
    // Mid-head: nothing to answer either.
    let mut p = Peer::new();
    p.send(b"GET / HT");
    p.close();
    assert!(p.event().is_none());
    assert!(p.conn.is_closed());
}

#[test]
fn a_half_closed_peer_still_gets_its_answer_but_not_a_stream() {
    let mut p = Peer::new();
    p.send(get("/").as_bytes());
    p.request();
    p.close();
    assert!(!p.conn.is_write_closed());
    p.ok("k");
    assert_eq!(p.read(), ok_head(1, "connection: close\r\n") + "k");
    assert!(p.conn.is_closed());

    let mut p = Peer::new();
    p.send(get("/events").as_bytes());
    p.request();
    p.conn
        .send_response(StatusCode::OK, &HeaderMap::new(), None, DATE);
    p.conn
        .send_data(Bytes::from_static(b"data: 1\n\n"))
        .unwrap();
    assert!(p.conn.wants_read());
    p.close();
    // The stream has nobody to go to: the driver drops its producer.
    assert!(p.conn.is_write_closed());
}

#[test]
fn shutdown_closes_an_idle_connection_and_ends_a_busy_one_after_its_response() {
    let mut p = Peer::new();
    p.conn.start_shutdown(p.now);
    assert!(p.conn.is_closed());

    let mut p = Peer::new();
    p.send(format!("{}{}", get("/1"), get("/2")).as_bytes());
    p.request();
    p.conn.start_shutdown(p.now);
    p.ok("k");
    assert_eq!(p.read(), ok_head(1, "connection: close\r\n") + "k");
    assert!(p.event().is_none());
    assert!(p.conn.is_write_closed());
}

// ----- Access records -----

#[test]
fn written_is_reported_per_response_once_its_last_byte_is_written() {
    let mut p = Peer::with(Limits::default(), |c| c.report_written = true);
    p.send(format!("{}{}", get("/1"), get("/2")).as_bytes());
    p.request();
    p.ok("one");
    p.request();
    p.ok("second");
    // Queued, not written: nothing to report yet.
    assert!(p.event().is_none());
    let first = ok_head(3, "").len() + 3;
    p.conn.advance_output(first - 1, p.now);
    assert!(p.event().is_none());
    p.conn.advance_output(1, p.now);
    assert!(matches!(p.event(), Some(Event::Written { body_bytes: 3 })));
    assert!(p.event().is_none());
    p.read();
    assert!(matches!(p.event(), Some(Event::Written { body_bytes: 6 })));
    // Not reported unless asked for.
    let mut p = Peer::new();
    p.send(get("/").as_bytes());
    p.request();
    p.ok("k");
    p.read();
    assert!(p.event().is_none());
}

#[test]
fn handler_fields_that_frame_are_replaced() {
    let mut p = Peer::new();
    p.send(get("/").as_bytes());
    p.request();
    let mut h = HeaderMap::new();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    h.insert(CONTENT_LENGTH, HeaderValue::from_static("2"));
    h.insert(CONNECTION, HeaderValue::from_static("keep-alive"));
    h.insert("transfer-encoding", HeaderValue::from_static("gzip"));
    p.conn.send_response(StatusCode::OK, &h, Some(2), DATE);
    p.conn.send_data(Bytes::from_static(b"ok")).unwrap();
    p.conn.send_end(p.now).unwrap();
    assert_eq!(
        p.read(),
        format!("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n{DATE_LINE}server: duet\r\ncontent-length: 2\r\n\r\nok")
    );
}

#[test]
fn a_head_is_not_late_while_the_peer_has_not_taken_earlier_responses() {
    let mut p = Peer::new();
    p.send(format!("{}GET /2 HTTP/1.1\r\n", get("/1")).as_bytes());
    p.request();
    p.ok("k");
    // The peer reads nothing for longer than the header timeout.
    p.wait(Duration::from_secs(10));
    assert!(p.event().is_none());
    assert_eq!(p.conn.poll_timeout(), Some(p.now + Duration::from_secs(10)));
    p.read();
    p.send(b"Host: a\r\n\r\n");
    assert_eq!(p.request().1, "/2");
}

#[test]
fn shutdown_in_the_middle_of_a_head_serves_it_then_closes() {
    let mut p = Peer::new();
    p.send(b"GET / HTTP/1.1\r\n");
    p.conn.start_shutdown(p.now);
    assert!(!p.conn.is_write_closed());
    p.send(b"Host: a\r\n\r\n");
    p.request();
    p.ok("k");
    assert_eq!(p.read(), ok_head(1, "connection: close\r\n") + "k");
    assert!(p.conn.is_closed());
}

#[test]
fn a_body_that_arrived_with_its_head_is_taken_whole() {
    let mut p = Peer::new();
    p.send(
        format!(
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello{}",
            get("/2")
        )
        .as_bytes(),
    );
    p.request();
    assert_eq!(p.conn.take_full_body(p.now).as_deref(), Some(&b"hello"[..]));
    assert!(p.event().is_none());
    p.ok("k");
    assert_eq!(p.request().1, "/2");
    // Not all there yet: read as it comes.
    p.ok("k");
    p.send(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhel");
    p.request();
    assert_eq!(p.conn.take_full_body(p.now), None);
    assert_eq!(p.body(), (b"hel".to_vec(), false));
}

#[test]
fn a_body_over_its_limit_is_refused_and_the_connection_closes() {
    let mut p = Peer::new();
    p.send(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n");
    p.request();
    assert_eq!(p.body(), (b"12345678".to_vec(), false));
    // The driver's body budget (the virtual server's limit) is crossed.
    p.conn.refuse_body();
    assert!(!p.conn.wants_read());
    p.respond(413, &[], b"too large");
    assert!(p.read().contains("\r\nconnection: close\r\n"));
    assert!(p.conn.is_write_closed() && p.conn.wants_read(), "lingers");
}

#[test]
fn an_answer_before_the_body_is_read_closes() {
    // A small body a handler ignores is drained; one that admission
    // refused is not: the client may be waiting for a 100, or sending
    // a body nobody wants.
    let mut p = Peer::new();
    p.send(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n");
    p.request();
    p.conn.send_answer(
        &Answer::new(StatusCode::PAYLOAD_TOO_LARGE, "limit 4"),
        DATE,
        p.now,
    );
    assert!(p.read().contains("\r\nconnection: close\r\n"));
    assert!(p.conn.is_write_closed());
}

#[test]
fn the_last_request_a_connection_may_carry_closes_it() {
    let limits = Limits {
        max_requests_per_connection: 2,
        ..Limits::default()
    };
    let mut p = Peer::with(limits, |_| {});
    p.send(format!("{}{}{}", get("/1"), get("/2"), get("/3")).as_bytes());
    p.request();
    p.ok("k");
    p.request();
    p.ok("k");
    assert_eq!(
        p.read(),
        format!(
            "{}k{}k",
            ok_head(1, ""),
            ok_head(1, "connection: close\r\n")
        )
    );
    // The third is never taken.
    assert!(p.event().is_none());
    assert!(p.conn.is_write_closed());
}

#[test]
fn an_old_connection_takes_no_new_request() {
    let limits = Limits {
        max_connection_age: Duration::from_secs(30),
        ..Limits::default()
    };
    // Busy when it comes of age: the response in flight closes it.
    let mut p = Peer::with(limits.clone(), |_| {});
    p.wait(Duration::from_secs(20));
    p.send(get("/").as_bytes());
    p.request();
    assert_eq!(p.conn.poll_timeout(), Some(p.t0 + Duration::from_secs(30)));
    p.wait(Duration::from_secs(10));
    assert!(!p.conn.is_write_closed());
    p.ok("k");
    assert_eq!(p.read(), ok_head(1, "connection: close\r\n") + "k");
    assert!(p.conn.is_closed());
    // Idle when it comes of age: closed at once.
    let mut p = Peer::with(limits, |_| {});
    p.send(get("/").as_bytes());
    p.request();
    p.ok("k");
    p.read();
    p.wait(Duration::from_secs(29));
    assert!(p.conn.is_idle());
    p.wait(Duration::from_secs(1));
    assert!(p.conn.is_closed());
}

// ----- A peer that reads nothing (Limits::write_stall_timeout) -----

#[test]
fn output_the_socket_takes_none_of_gives_the_connection_up() {
    let limits = Limits {
        write_stall_timeout: Duration::from_secs(5),
        ..Limits::default()
    };
    let mut p = Peer::with(limits, |_| {});
    p.send(get("/a").as_bytes());
    p.request();
    p.ok("a response the peer will not read");
    // The driver found the socket full at +1 s.
    p.wait(Duration::from_secs(1));
    p.conn.write_blocked(p.now);
    assert_eq!(
        p.elapsed(p.conn.poll_timeout()),
        Some(Duration::from_secs(6))
    );
    // Some of it went out at +4 s: the timer starts again when the socket
    // is next full.
    p.wait(Duration::from_secs(3));
    p.conn.advance_output(10, p.now);
    p.conn.write_blocked(p.now);
    p.wait(Duration::from_secs(4));
    assert!(!p.conn.is_write_stalled(), "progress restarted the timer");
    p.wait(Duration::from_secs(1));
    assert!(p.conn.is_write_stalled());
}
