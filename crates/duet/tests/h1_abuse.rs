//! HTTP/1.1 request smuggling and framing abuse, end to end: for every
//! shape, exactly one response, a closed connection where the framing can
//! no longer be trusted (RFC 9112 §6.3, §9.6, §11.2), and the smuggled
//! request never reaches a handler. Every server here counts the requests
//! its handlers see; a smuggled `GET /admin` would raise the count.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use duet::{Running, Server};
use support::{local, read_to_close, read_until, start};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// A server whose `/admin` counts how often it is reached, with a
/// `/ignore` handler that never reads its body and an `/echo` that does.
async fn counting() -> (Running, Arc<AtomicUsize>) {
    let admin = Arc::new(AtomicUsize::new(0));
    let seen = admin.clone();
    let mut s: Server = local();
    s.get("/admin", move || {
        let seen = seen.clone();
        async move {
            seen.fetch_add(1, Ordering::SeqCst);
            "admin"
        }
    })
    .post("/ignore", || async { "ignored" })
    .post("/echo", |b: Bytes| async move { b })
    .get("/", || async { "root" });
    (start([s]).await, admin)
}

/// Sends `raw` on a fresh connection; returns everything the server sent
/// until it closed the connection.
async fn exchange(running: &Running, raw: &[u8]) -> String {
    let mut c = TcpStream::connect(running.addr()).await.expect("connect");
    c.write_all(raw).await.expect("write");
    read_to_close(&mut c).await
}

fn responses(text: &str) -> usize {
    text.matches("HTTP/1.1 ").count()
}

/// One response with `status`, then the close; nothing smuggled through.
async fn refused(running: &Running, admin: &AtomicUsize, raw: &[u8], status: u16) {
    let out = exchange(running, raw).await;
    assert_eq!(
        responses(&out),
        1,
        "one response for {:?}: {out:?}",
        String::from_utf8_lossy(raw)
    );
    assert_eq!(
        support::status_of(&out),
        status,
        "{:?}: {out:?}",
        String::from_utf8_lossy(raw)
    );
    assert!(
        out.contains("connection: close"),
        "announces the close: {out:?}"
    );
    assert_eq!(
        admin.load(Ordering::SeqCst),
        0,
        "smuggled request reached a handler"
    );
}

const SMUGGLED: &str = "GET /admin HTTP/1.1\r\nhost: a\r\n\r\n";

#[tokio::test]
async fn content_length_with_transfer_encoding() {
    let (running, admin) = counting().await;
    // RFC 9112 §6.3: both framing fields: reject and close (no best guess).
    for (cl_te, body) in [
        (
            "content-length: 4\r\ntransfer-encoding: chunked",
            "0\r\n\r\n",
        ),
        (
            "transfer-encoding: chunked\r\ncontent-length: 4",
            "0\r\n\r\n",
        ),
        (
            "content-length: 0\r\ntransfer-encoding: chunked",
            "5\r\nhello\r\n0\r\n\r\n",
        ),
    ] {
        let raw = format!("POST /echo HTTP/1.1\r\nhost: a\r\n{cl_te}\r\n\r\n{body}{SMUGGLED}");
        refused(&running, &admin, raw.as_bytes(), 400).await;
    }
    running.shutdown().await;
}

#[tokio::test]
async fn transfer_encoding_obfuscations() {
    let (running, admin) = counting().await;
    for te in [
        "transfer-encoding: xchunked",
        "transfer-encoding: chunked, identity",
        "transfer-encoding: identity, chunked, chunked",
        "transfer-encoding: chunked\r\ntransfer-encoding: gzip",
        "transfer-encoding : chunked",
        "transfer-encoding:\r\n chunked",
        "transfer-encoding: \"chunked\"",
        "transfer-encoding: chunked;q=1",
        "transfer_encoding: chunked\r\ncontent-length: 5x",
    ] {
        let raw = format!("POST /echo HTTP/1.1\r\nhost: a\r\n{te}\r\n\r\n0\r\n\r\n{SMUGGLED}");
        let out = exchange(&running, raw.as_bytes()).await;
        assert_eq!(responses(&out), 1, "{te:?}: {out:?}");
        let status = support::status_of(&out);
        assert!(status == 400 || status == 501, "{te:?}: {status}");
        assert!(out.contains("connection: close"), "{te:?}: {out:?}");
    }
    // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 request: the framing
    // is not to be trusted, the connection closes after the response.
    let raw = format!(
        "POST /echo HTTP/1.0\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n{SMUGGLED}"
    );
    let out = exchange(&running, raw.as_bytes()).await;
    assert_eq!(responses(&out), 1, "{out:?}");
    assert_eq!(admin.load(Ordering::SeqCst), 0);
    running.shutdown().await;
}

#[tokio::test]
async fn malformed_content_lengths() {
    let (running, admin) = counting().await;
    for cl in [
        "content-length: 5, 6",
        "content-length: 5\r\ncontent-length: 6",
        "content-length: +5",
        "content-length: -1",
        "content-length: 0x5",
        "content-length: 5 5",
        "content-length: 99999999999999999999999",
        "content-length: ",
        "content-length: 1_0",
    ] {
        let raw = format!("POST /echo HTTP/1.1\r\nhost: a\r\n{cl}\r\n\r\nhello{SMUGGLED}");
        refused(&running, &admin, raw.as_bytes(), 400).await;
    }
    running.shutdown().await;
}

#[tokio::test]
async fn malformed_chunk_sizes() {
    let (running, admin) = counting().await;
    for chunks in [
        "0x5\r\nhello\r\n0\r\n\r\n",
        "-5\r\nhello\r\n0\r\n\r\n",
        "+5\r\nhello\r\n0\r\n\r\n",
        "ffffffffffffffffff\r\nhello\r\n0\r\n\r\n",
        "5\nhello\r\n0\r\n\r\n",
        "5\r\nhelloXX0\r\n\r\n",
        "5 5\r\nhello\r\n0\r\n\r\n",
        "\r\nhello\r\n0\r\n\r\n",
        "g\r\nhello\r\n0\r\n\r\n",
    ] {
        let raw = format!("POST /echo HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n{chunks}{SMUGGLED}");
        refused(&running, &admin, raw.as_bytes(), 400).await;
    }
    running.shutdown().await;
}

#[tokio::test]
async fn bare_cr_and_control_characters() {
    let (running, admin) = counting().await;
    for raw in [
        "GET / HTTP/1.1\rhost: a\r\n\r\n",
        "GET / HTTP/1.1\r\nhost: a\r\nx-a: b\rc\r\n\r\n",
        "GET / HTTP/1.1\r\nhost: a\r\nx-a: b\x00c\r\n\r\n",
        "GET / HTTP/1.1\r\nhost: a\r\nx-a: b\x01c\r\n\r\n",
        "GET /\x00 HTTP/1.1\r\nhost: a\r\n\r\n",
        "GET /a\tb HTTP/1.1\r\nhost: a\r\n\r\n",
    ] {
        let raw = format!("{raw}{SMUGGLED}");
        refused(&running, &admin, raw.as_bytes(), 400).await;
    }
    running.shutdown().await;
}

#[tokio::test]
async fn host_and_absolute_form_rules() {
    let (running, admin) = counting().await;
    // RFC 9112 §3.2: no Host, two Hosts, an invalid Host: 400 and close.
    for raw in [
        "GET / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nhost: a\r\nhost: b\r\n\r\n",
        "GET / HTTP/1.1\r\nhost: a b\r\n\r\n",
        "GET / HTTP/1.1\r\nhost: a/b\r\n\r\n",
    ] {
        let raw = format!("{raw}{SMUGGLED}");
        refused(&running, &admin, raw.as_bytes(), 400).await;
    }
    // Absolute-form: the target's authority wins over Host (§3.2.2), and
    // the request is served once.
    let out = exchange(
        &running,
        b"GET http://elsewhere.test/ HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(responses(&out), 1, "{out:?}");
    assert!(out.ends_with("root"), "{out:?}");
    assert_eq!(admin.load(Ordering::SeqCst), 0);
    running.shutdown().await;
}

#[tokio::test]
async fn a_body_that_is_a_request_never_reaches_a_handler() {
    let (running, admin) = counting().await;
    // The handler answers without reading; the body (a request) is drained
    // as a body, and the connection then serves the next real request.
    let body = SMUGGLED;
    for framing in ["content-length", "chunked"] {
        let mut c = TcpStream::connect(running.addr()).await.expect("connect");
        let first = match framing {
            "chunked" => format!(
                "POST /ignore HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
                body.len()
            ),
            _ => format!(
                "POST /ignore HTTP/1.1\r\nhost: a\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            ),
        };
        c.write_all(first.as_bytes()).await.expect("write");
        let got = read_until(&mut c, "ignored", 1).await;
        assert_eq!(responses(&got), 1, "{framing}: {got:?}");
        c.write_all(b"GET / HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n")
            .await
            .expect("write");
        let rest = read_to_close(&mut c).await;
        assert_eq!(
            responses(&rest),
            1,
            "{framing}: the next request, answered once: {rest:?}"
        );
        assert!(rest.ends_with("root"), "{framing}: {rest:?}");
        assert_eq!(admin.load(Ordering::SeqCst), 0, "{framing}: smuggled");
    }
    // A body too large to drain: the connection closes instead of parsing
    // it (no request hidden past 64 KiB of padding gets through).
    let padding = "x".repeat(100 * 1024);
    let raw = format!(
        "POST /ignore HTTP/1.1\r\nhost: a\r\ncontent-length: {}\r\n\r\n{padding}{SMUGGLED}",
        padding.len() + SMUGGLED.len()
    );
    let out = exchange(&running, raw.as_bytes()).await;
    assert_eq!(responses(&out), 1, "{:?}", &out[..out.len().min(200)]);
    assert_eq!(admin.load(Ordering::SeqCst), 0);
    running.shutdown().await;
}

/// An HTTP/1.1 request asking to upgrade to h2c (RFC 7540 §3.2), with
/// curl's HTTP2-Settings.
const H2C_UPGRADE: &str = "GET / HTTP/1.1\r\nhost: a\r\nconnection: upgrade, http2-settings\r\nupgrade: h2c\r\nhttp2-settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n";

/// h2c smuggling through a proxy (SECURITY.md): with the upgrade switched
/// off, the request is answered as plain HTTP/1.1 (never 101) and what
/// follows it on the connection is parsed as HTTP/1.1 too. The twin: on by
/// default, the same request switches protocols.
#[tokio::test]
async fn h2c_upgrade_switched_off_stays_http11() {
    let mut s = local().h2c_upgrade(false);
    s.get("/", || async { "root" });
    let running = start([s]).await;
    let raw = format!("{H2C_UPGRADE}GET / HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n");
    let out = exchange(&running, raw.as_bytes()).await;
    assert!(!out.contains(" 101 "), "switched: {out:?}");
    assert_eq!(responses(&out), 2, "two HTTP/1.1 answers: {out:?}");
    assert_eq!(out.matches("root").count(), 2, "{out:?}");
    running.shutdown().await;

    let mut s = local();
    s.get("/", || async { "root" });
    let running = start([s]).await;
    let mut c = TcpStream::connect(running.addr()).await.expect("connect");
    c.write_all(H2C_UPGRADE.as_bytes()).await.expect("write");
    let out = read_until(&mut c, "\r\n\r\n", 1).await;
    assert!(out.starts_with("HTTP/1.1 101 "), "on by default: {out:?}");
    running.shutdown().await;
}
