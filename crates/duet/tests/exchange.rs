//! The HTTP rules every version shares live once (the exchange layer), so
//! HTTP/1.1, h2c and h2 over TLS answer alike: response framing
//! (Content-Length kept, HEAD, known-length streams), the body limit of the
//! virtual host a request is for, one `Expect: 100-continue` policy, one
//! error format, one access record per request (whoever answered it),
//! repeated response headers, and what graceful shutdown does to a body.

mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use duet::{Body, HeaderMap, Method, Response, Running, Server, StatusCode, TlsConfig};
use futures_util::stream;
use support::h2_client::{self as h2, H2Conn, Peer, Transport, END_HEADERS, END_STREAM, HEADERS};
use support::{limits, local, read_to_close, start};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

// ----- one response, as any transport saw it -----

#[derive(Debug, Default)]
struct Seen {
    interim: Vec<u16>,
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Via {
    H1,
    H2c,
    H2Tls,
}

const ALL: [Via; 3] = [Via::H1, Via::H2c, Via::H2Tls];

/// The demo servers: one cleartext port (HTTP/1.1 and h2c) and one TLS
/// port, with the same routes.
struct Servers {
    plain: SocketAddr,
    tls: SocketAddr,
    running: Running,
}

impl Servers {
    fn addr(&self, via: Via) -> SocketAddr {
        match via {
            Via::H2Tls => self.tls,
            _ => self.plain,
        }
    }
}

async fn head_handler() -> Response {
    // An explicit HEAD handler: the length its GET has, without the body.
    let mut r = Response::new(StatusCode::OK, Body::empty());
    r.headers_mut().insert(
        http::header::CONTENT_LENGTH,
        http::HeaderValue::from_static("1234"),
    );
    r
}

async fn doc() -> Bytes {
    Bytes::from(vec![b'd'; 1234])
}

async fn stream_with_length() -> Response {
    let chunks = ["01234", "567", "89"].map(|c| Ok::<_, std::io::Error>(Bytes::from(c)));
    let mut r = Response::new(StatusCode::OK, Body::from_stream(stream::iter(chunks)));
    r.headers_mut().insert(
        http::header::CONTENT_LENGTH,
        http::HeaderValue::from_static("10"),
    );
    r
}

async fn cookies() -> (StatusCode, HeaderMap, &'static str) {
    let mut h = HeaderMap::new();
    h.append("set-cookie", http::HeaderValue::from_static("a=1"));
    h.append("set-cookie", http::HeaderValue::from_static("b=2"));
    (StatusCode::CREATED, h, "two cookies")
}

async fn echo(body: Bytes) -> Bytes {
    body
}

async fn ignore_body() -> &'static str {
    "answered without reading"
}

fn routes(s: &mut Server) {
    s.route("/doc", [Method::HEAD], head_handler)
        .get("/doc", doc)
        .get("/stream-cl", stream_with_length)
        .get("/cookies", cookies)
        .post("/echo", echo)
        .post("/ignore", ignore_body);
}

async fn servers() -> Servers {
    let mut plain = local();
    routes(&mut plain);
    let tls = TlsConfig::self_signed(&["localhost"]).expect("certificate");
    let mut secure = Server::bind_addr(free_port()).tls(tls);
    routes(&mut secure);
    let running = start([plain, secure]).await;
    Servers {
        plain: running.addrs()[0],
        tls: running.addrs()[1],
        running,
    }
}

// ----- HTTP/1.1 over raw TCP -----

/// Parses one HTTP/1.1 response (and any interim ones before it) from the
/// front of `raw`; `head_request` when it answers a HEAD.
fn parse_h1(raw: &[u8], head_request: bool) -> Seen {
    let mut seen = Seen::default();
    let mut rest = raw;
    loop {
        let end = rest
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a complete response head");
        let head = std::str::from_utf8(&rest[..end]).expect("ascii head");
        rest = &rest[end + 4..];
        let mut lines = head.split("\r\n");
        let status: u16 = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .expect("status line");
        if (100..200).contains(&status) {
            seen.interim.push(status);
            continue;
        }
        seen.status = status;
        for l in lines {
            let (n, v) = l.split_once(':').expect("field line");
            seen.headers
                .push((n.to_ascii_lowercase(), v.trim().to_string()));
        }
        break;
    }
    if head_request || seen.status == 204 || seen.status == 304 {
        return seen;
    }
    if let Some(n) = seen.header("content-length") {
        let n: usize = n.parse().expect("length");
        seen.body = rest[..n].to_vec();
    } else if seen.header("transfer-encoding") == Some("chunked") {
        loop {
            let eol = rest.windows(2).position(|w| w == b"\r\n").expect("size");
            let size = usize::from_str_radix(std::str::from_utf8(&rest[..eol]).unwrap(), 16)
                .expect("hex size");
            rest = &rest[eol + 2..];
            if size == 0 {
                break;
            }
            seen.body.extend_from_slice(&rest[..size]);
            rest = &rest[size + 2..];
        }
    } else {
        seen.body = rest.to_vec();
    }
    seen
}

async fn h1(
    addr: SocketAddr,
    method: &str,
    path: &str,
    extra: &[(&str, &str)],
    body: &[u8],
) -> Seen {
    let mut req = format!("{method} {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n");
    for (n, v) in extra {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    if !body.is_empty() {
        req.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(req.as_bytes()).await.expect("write");
    s.write_all(body).await.expect("write body");
    let raw = read_to_close(&mut s).await;
    parse_h1(raw.as_bytes(), method == "HEAD")
}

// ----- HTTP/2 over the raw-frame client -----

async fn h2(peer: Peer, method: &str, path: &str, extra: &[(&str, &str)], body: &[u8]) -> Seen {
    let mut c = H2Conn::handshake(peer).await;
    let len = body.len().to_string();
    let mut fields: Vec<(&str, &str)> = extra.to_vec();
    if !body.is_empty() {
        fields.push(("content-length", &len));
    }
    let block = h2::request_block(method, path, &fields);
    // A declared body that is not sent (the server answers first) keeps
    // the stream open.
    let declared = extra.iter().any(|(n, _)| *n == "content-length");
    let end = if body.is_empty() && !declared {
        END_STREAM
    } else {
        0
    };
    // Blocks over the default frame size go out as HEADERS + CONTINUATION.
    let mut pieces = block.chunks(16_384).peekable();
    let first = pieces.next().unwrap_or_default();
    let flags = end
        | if pieces.peek().is_none() {
            END_HEADERS
        } else {
            0
        };
    c.send(&h2::headers(1, flags, first)).await;
    while let Some(p) = pieces.next() {
        let last = pieces.peek().is_none();
        c.send(&h2::continuation(1, if last { END_HEADERS } else { 0 }, p))
            .await;
    }
    if !body.is_empty() {
        c.send(&h2::data(1, true, body)).await;
    }
    let r = c.response(1).await;
    Seen {
        interim: r.interim,
        status: r.status,
        headers: r.headers,
        body: r.body,
    }
}

async fn fetch(
    s: &Servers,
    via: Via,
    method: &str,
    path: &str,
    extra: &[(&str, &str)],
    body: &[u8],
) -> Seen {
    let addr = s.addr(via);
    match via {
        Via::H1 => h1(addr, method, path, extra, body).await,
        Via::H2c => {
            let peer = Peer {
                addr,
                transport: Transport::Cleartext,
            };
            h2(peer, method, path, extra, body).await
        }
        Via::H2Tls => {
            let peer = Peer {
                addr,
                transport: Transport::Tls,
            };
            h2(peer, method, path, extra, body).await
        }
    }
}

// ----- framing -----

#[tokio::test]
async fn head_keeps_the_length_a_get_would_have_on_every_version() {
    let s = servers().await;
    for via in ALL {
        let get = fetch(&s, via, "GET", "/doc", &[], b"").await;
        assert_eq!(get.header("content-length"), Some("1234"), "{via:?} GET");
        assert_eq!(get.body.len(), 1234, "{via:?}");
        // The explicit HEAD handler's Content-Length is kept (it was sent
        // as 0 on HTTP/1.1 before).
        let head = fetch(&s, via, "HEAD", "/doc", &[], b"").await;
        assert_eq!(head.status, 200, "{via:?}");
        assert_eq!(head.header("content-length"), Some("1234"), "{via:?} HEAD");
        assert!(head.body.is_empty(), "{via:?}");
        // HEAD falling back to a GET handler: the length of its body.
        let head = fetch(&s, via, "HEAD", "/cookies", &[], b"").await;
        assert_eq!(head.header("content-length"), Some("11"), "{via:?}");
    }
    s.running.shutdown().await;
}

#[tokio::test]
async fn a_stream_of_known_length_goes_out_with_its_content_length() {
    let s = servers().await;
    for via in ALL {
        let r = fetch(&s, via, "GET", "/stream-cl", &[], b"").await;
        assert_eq!(r.status, 200, "{via:?}");
        assert_eq!(r.header("content-length"), Some("10"), "{via:?}");
        assert_eq!(r.header("transfer-encoding"), None, "{via:?}: not chunked");
        assert_eq!(r.text(), "0123456789", "{via:?}");
    }
    s.running.shutdown().await;
}

#[tokio::test]
async fn repeated_response_headers_all_go_out() {
    let s = servers().await;
    for via in ALL {
        let r = fetch(&s, via, "GET", "/cookies", &[], b"").await;
        assert_eq!(r.status, 201, "{via:?}");
        assert_eq!(r.all("set-cookie"), ["a=1", "b=2"], "{via:?}");
        assert_eq!(r.text(), "two cookies");
    }
    s.running.shutdown().await;
}

// ----- admission -----

/// A port that was free a moment ago, for servers that must share one.
fn free_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

#[tokio::test]
async fn the_body_limit_is_the_virtual_hosts_own() {
    // Two servers on one port: "tiny.test" takes 10 bytes, the default
    // server the default 16 MiB. Before, the port's first server's limit
    // applied to both.
    let port = free_port();
    let tiny_limits = limits(|l| l.max_body_bytes = 10);
    let mut tiny = Server::bind_addr(port)
        .hostname("tiny.test")
        .limits(tiny_limits);
    tiny.post("/echo", echo);
    let mut big = Server::bind_addr(port);
    big.post("/echo", echo);
    let running = start([tiny, big]).await;
    let s = Servers {
        plain: running.addr(),
        tls: running.addr(),
        running,
    };
    let body = [b'x'; 100];
    let too_large = "413 Payload Too Large: request body exceeds the configured limit\n";
    for via in [Via::H1, Via::H2c] {
        // The default server (Host: localhost): 100 bytes are fine.
        let r = fetch(&s, via, "POST", "/echo", &[], &body).await;
        assert_eq!(r.status, 200, "{via:?}: {}", r.text());
        assert_eq!(r.body.len(), 100);
    }
    // tiny.test over HTTP/1.1 (Host) and h2c (:authority): 413.
    let mut c = TcpStream::connect(s.plain).await.expect("connect");
    c.write_all(b"POST /echo HTTP/1.1\r\nhost: tiny.test\r\ncontent-length: 100\r\n\r\n")
        .await
        .expect("write");
    let raw = read_to_close(&mut c).await;
    let r = parse_h1(raw.as_bytes(), false);
    assert_eq!((r.status, r.text().as_str()), (413, too_large));
    let mut c = H2Conn::handshake(Peer {
        addr: s.plain,
        transport: Transport::Cleartext,
    })
    .await;
    let block = h2::block(&[
        (":method", "POST"),
        (":scheme", "http"),
        (":authority", "tiny.test"),
        (":path", "/echo"),
        ("content-length", "100"),
    ]);
    c.send(&h2::headers(1, END_HEADERS, &block)).await;
    let r = c.response(1).await;
    assert_eq!(r.status, 413);
    assert_eq!(String::from_utf8_lossy(&r.body), too_large);
    // A body of unknown length is cut at the limit too (chunked).
    let mut c = TcpStream::connect(s.plain).await.expect("connect");
    c.write_all(
        b"POST /echo HTTP/1.1\r\nhost: tiny.test\r\ntransfer-encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n",
    )
    .await
    .expect("write");
    let raw = read_to_close(&mut c).await;
    assert_eq!(parse_h1(raw.as_bytes(), false).status, 413, "{raw}");
    s.running.shutdown().await;
}

#[tokio::test]
async fn errors_have_one_format_and_a_content_type_on_every_version() {
    let s = servers().await;
    for via in ALL {
        let r = fetch(&s, via, "GET", "/nowhere", &[], b"").await;
        assert_eq!(r.status, 404, "{via:?}");
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
        assert_eq!(
            r.text(),
            "404 Not Found: no route for this path\n",
            "{via:?}"
        );

        let r = fetch(&s, via, "DELETE", "/doc", &[], b"").await;
        assert_eq!(r.status, 405, "{via:?}");
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
        assert_eq!(r.header("allow"), Some("GET, HEAD"));
        assert!(r.text().starts_with("405 Method Not Allowed: "), "{via:?}");

        let huge = (16 * 1024 * 1024 + 1).to_string();
        let r = fetch(&s, via, "POST", "/echo", &[("content-length", &huge)], b"").await;
        assert_eq!(r.status, 413, "{via:?}");
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
        assert_eq!(
            r.text(),
            "413 Payload Too Large: request body exceeds the configured limit\n",
            "{via:?}"
        );

        let r = fetch(&s, via, "GET", "/doc", &[("expect", "teapot")], b"").await;
        assert_eq!(r.status, 417, "{via:?}");
        assert_eq!(
            r.text(),
            "417 Expectation Failed: only the 100-continue expectation is supported\n"
        );

        let long = format!("/{}", "a".repeat(9000));
        let r = fetch(&s, via, "GET", &long, &[], b"").await;
        assert_eq!(r.status, 414, "{via:?}");
        assert_eq!(
            r.text(),
            "414 URI Too Long: request target too long\n",
            "{via:?}"
        );
    }
    s.running.shutdown().await;
}

#[tokio::test]
async fn oversized_header_sections_get_the_same_431() {
    let s = servers().await;
    let big = "v".repeat(70 * 1024);
    for via in ALL {
        let r = fetch(&s, via, "GET", "/doc", &[("x-big", &big)], b"").await;
        assert_eq!(r.status, 431, "{via:?}");
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
        assert_eq!(
            r.text(),
            "431 Request Header Fields Too Large: request header section too large\n",
            "{via:?}"
        );
    }
    s.running.shutdown().await;
}

// ----- Expect: 100-continue, one policy -----

#[tokio::test]
async fn continue_is_sent_when_the_handler_reads_on_every_version() {
    let s = servers().await;
    // HTTP/1.1: a handler that answers without reading gets its answer out
    // with no 100 before it; one that reads gets 100 first.
    let mut c = TcpStream::connect(s.plain).await.expect("connect");
    c.write_all(
        b"POST /ignore HTTP/1.1\r\nhost: localhost\r\nexpect: 100-continue\r\ncontent-length: 5\r\nconnection: close\r\n\r\n",
    )
    .await
    .expect("write");
    let raw = read_to_close(&mut c).await;
    assert!(raw.starts_with("HTTP/1.1 200 OK\r\n"), "{raw}");
    assert!(!raw.contains("100 Continue"), "{raw}");

    let mut c = TcpStream::connect(s.plain).await.expect("connect");
    c.write_all(
        b"POST /echo HTTP/1.1\r\nhost: localhost\r\nexpect: 100-continue\r\ncontent-length: 5\r\nconnection: close\r\n\r\n",
    )
    .await
    .expect("write");
    let mut first = vec![0u8; 25];
    c.read_exact(&mut first).await.expect("interim");
    assert_eq!(&first[..], b"HTTP/1.1 100 Continue\r\n\r\n");
    c.write_all(b"hello").await.expect("body");
    let raw = read_to_close(&mut c).await;
    let r = parse_h1(raw.as_bytes(), false);
    assert_eq!((r.status, r.text().as_str()), (200, "hello"));

    // HTTP/2, cleartext and TLS: the same.
    for transport in [Transport::Cleartext, Transport::Tls] {
        let addr = if transport == Transport::Tls {
            s.tls
        } else {
            s.plain
        };
        let peer = Peer { addr, transport };
        let mut c = H2Conn::handshake(peer).await;
        let block = h2::request_block(
            "POST",
            "/ignore",
            &[("expect", "100-continue"), ("content-length", "5")],
        );
        c.send(&h2::headers(1, END_HEADERS, &block)).await;
        let r = c.response(1).await;
        assert_eq!(r.status, 200, "{transport:?}");
        assert!(
            r.interim.is_empty(),
            "{transport:?}: no 100 for an unread body"
        );

        let block = h2::request_block(
            "POST",
            "/echo",
            &[("expect", "100-continue"), ("content-length", "5")],
        );
        c.send(&h2::headers(3, END_HEADERS, &block)).await;
        // The interim HEADERS comes before any body is sent.
        let f = c.wait_for(HEADERS).await;
        assert_eq!(f.stream, 3);
        assert!(!f.has(END_STREAM));
        let mut fields = Vec::new();
        c.decoder
            .decode(&f.payload, &mut |n, v| {
                fields.push((n.to_vec(), v.to_vec()))
            })
            .expect("decodes");
        assert_eq!(
            fields,
            [(b":status".to_vec(), b"100".to_vec())],
            "{transport:?}"
        );
        c.send(&h2::data(3, true, b"hello")).await;
        let r = c.response(3).await;
        assert_eq!(
            (r.status, &r.body[..]),
            (200, &b"hello"[..]),
            "{transport:?}"
        );
    }
    s.running.shutdown().await;
}

// ----- the access record -----

use support::access_log::{Collect, Records};

fn find<'a>(records: &'a [HashMap<String, String>], target: &str) -> &'a HashMap<String, String> {
    records
        .iter()
        .find(|r| r.get("target").map(String::as_str) == Some(target))
        .unwrap_or_else(|| panic!("no access record for {target}: {records:#?}"))
}

#[test]
fn every_request_gets_one_access_record_whoever_answered_it() {
    use tracing_subscriber::layer::SubscriberExt;
    let records: Records = Arc::default();
    let subscriber = tracing_subscriber::registry().with(Collect(records.clone()));
    let _guard = tracing::subscriber::set_default(subscriber);
    // Another test's thread may have met the access callsites first, and
    // cached their interest while this subscriber was being set: have it
    // computed again, now that this one exists.
    tracing::callsite::rebuild_interest_cache();
    // One thread: every connection task runs where the subscriber is set.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let s = servers().await;
        for (path, method) in [("/doc", "GET"), ("/nowhere", "GET"), ("/doc", "DELETE")] {
            let _ = fetch(&s, Via::H1, method, path, &[], b"").await;
        }
        let _ = fetch(&s, Via::H2c, "GET", "/stream-cl", &[], b"").await;
        let _ = fetch(&s, Via::H2Tls, "GET", "/cookies", &[], b"").await;
        let huge = (16 * 1024 * 1024 + 1).to_string();
        let _ = fetch(
            &s,
            Via::H2c,
            "POST",
            "/too-big",
            &[("content-length", &huge)],
            b"",
        )
        .await;
        let _ = fetch(
            &s,
            Via::H1,
            "POST",
            "/too-big-h1",
            &[("content-length", &huge)],
            b"",
        )
        .await;
        let big = "v".repeat(70 * 1024);
        let _ = fetch(&s, Via::H2c, "GET", "/big-headers", &[("x-big", &big)], b"").await;
        // An HTTP/1.0 request, and a malformed one (no parse: no method).
        let raw = support::raw(s.plain, b"GET /doc HTTP/1.0\r\n\r\n").await;
        assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
        let raw = support::raw(s.plain, b"GET /doc HTTP/1.1\r\nhost: a\r\nhost: b\r\n\r\n").await;
        assert!(raw.starts_with("HTTP/1.1 400"), "{raw}");
        // A 421: a TLS connection for localhost naming another host.
        let tls = TlsConfig::self_signed(&["localhost"]).expect("certificate");
        let mut named = local().hostname("localhost").tls(tls);
        named.get("/doc", doc);
        let named = start([named]).await;
        let mut c = H2Conn::handshake(Peer {
            addr: named.addr(),
            transport: Transport::Tls,
        })
        .await;
        let block = h2::block(&[
            (":method", "GET"),
            (":scheme", "https"),
            (":authority", "elsewhere.test"),
            (":path", "/misdirected"),
        ]);
        c.send(&h2::headers(1, END_HEADERS | END_STREAM, &block))
            .await;
        let r = c.response(1).await;
        assert_eq!(r.status, 421);
        named.shutdown().await;
        s.running.shutdown().await;
    });
    let records = records.lock().expect("records").clone();
    let get = |t: &str, k: &str| find(&records, t).get(k).cloned().unwrap_or_default();

    assert_eq!(get("/doc", "status"), "200");
    assert_eq!(get("/nowhere", "status"), "404");
    assert_eq!(get("/nowhere", "protocol"), "http/1.1");
    assert_eq!(get("/nowhere", "outcome"), "complete");
    let deletes: Vec<_> = records
        .iter()
        .filter(|r| r.get("method").map(String::as_str) == Some("DELETE"))
        .collect();
    assert_eq!(deletes.len(), 1);
    assert_eq!(deletes[0]["status"], "405");
    assert_eq!(get("/stream-cl", "protocol"), "h2c");
    assert_eq!(get("/stream-cl", "bytes"), "10");
    assert_eq!(get("/cookies", "protocol"), "h2");
    assert_eq!(get("/cookies", "bytes"), "11");
    // Answered at once, without the stream ever entering the driver's map.
    assert_eq!(get("/cookies", "status"), "201");
    assert_eq!(get("/cookies", "outcome"), "complete");
    assert_eq!(get("/too-big", "status"), "413");
    assert_eq!(get("/too-big-h1", "status"), "413");
    // Too large to keep: the request line is not known.
    assert!(
        records
            .iter()
            .any(|r| r["status"] == "431" && r["protocol"] == "h2c"),
        "{records:#?}"
    );
    assert_eq!(get("/misdirected", "status"), "421");
    // HTTP/1.0 is logged as spoken.
    let v10: Vec<_> = records
        .iter()
        .filter(|r| r.get("protocol").map(String::as_str) == Some("http/1.0"))
        .collect();
    assert_eq!(v10.len(), 1, "{records:#?}");
    assert_eq!(v10[0]["status"], "200");
    assert_eq!(v10[0]["bytes"], "1234");
    // The malformed request: no method, status 400.
    let bad: Vec<_> = records
        .iter()
        .filter(|r| r.get("status").map(String::as_str) == Some("400"))
        .collect();
    assert_eq!(bad.len(), 1, "{records:#?}");
    assert_eq!(bad[0]["method"], "-");
    // Every record has a duration.
    for r in &records {
        let ms: f64 = r["duration_ms"].parse().expect("duration");
        assert!(ms >= 0.0);
    }
}

// ----- shutdown follows the body, not its headers -----

#[tokio::test]
async fn shutdown_ends_only_bodies_that_say_they_are_endless() {
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    let release_rx = Arc::new(Mutex::new(Some(release_rx)));
    let mut s = local();
    let rx = release_rx.clone();
    s.get("/looks-like-sse", move || {
        let rx = rx.clone();
        async move {
            // Says text/event-stream but is an ordinary body: it ends when
            // its producer does, shutdown or not.
            let first = stream::once(async { Ok::<_, std::io::Error>(Bytes::from("first\n")) });
            let rest = stream::once(async move {
                let rx = rx.lock().expect("rx").take();
                if let Some(rx) = rx {
                    let _ = rx.await;
                }
                Ok::<_, std::io::Error>(Bytes::from("last\n"))
            });
            let body = Body::from_stream(futures_util::StreamExt::chain(first, rest));
            let mut r = Response::new(StatusCode::OK, body);
            r.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("text/event-stream"),
            );
            r
        }
    });
    s.get("/endless", || async {
        let tick = stream::repeat_with(|| Ok::<_, std::io::Error>(Bytes::from("tick\n")));
        let tick = futures_util::StreamExt::then(tick, |t| async move {
            tokio::task::yield_now().await;
            t
        });
        let one = futures_util::StreamExt::take(tick, 1);
        let forever = futures_util::StreamExt::chain(one, stream::pending());
        Response::new(StatusCode::OK, Body::from_stream(forever).end_at_shutdown())
    });
    let running = start([s]).await;
    let addr = running.addr();
    let open = |path: &'static str, first: &'static str| async move {
        let mut c = TcpStream::connect(addr).await.expect("connect");
        c.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes())
            .await
            .expect("write");
        let got = support::read_until(&mut c, first, 1).await;
        assert!(got.starts_with("HTTP/1.1 200"), "{got}");
        c
    };
    let mut plain = open("/looks-like-sse", "first\n").await;
    let mut endless = open("/endless", "tick\n").await;
    let handle = running.shutdown_handle();
    handle.shutdown();
    // The endless body ends cleanly (last chunk) at shutdown.
    let rest = read_to_close(&mut endless).await;
    assert!(rest.ends_with("0\r\n\r\n"), "{rest:?}");
    // The other is still being sent: its producer has not ended.
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    let mut buf = [0u8; 64];
    match plain.try_read(&mut buf) {
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock),
        Ok(n) => panic!(
            "an ordinary body was ended by shutdown: {:?}",
            String::from_utf8_lossy(&buf[..n])
        ),
    }
    let _ = release_tx.send(());
    let rest = read_to_close(&mut plain).await;
    assert!(rest.contains("last\n"), "{rest:?}");
    assert!(rest.ends_with("0\r\n\r\n"), "{rest:?}");
    running.shutdown().await;
}
