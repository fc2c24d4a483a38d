//! WebSocket (RFC 6455) and protocol upgrades end to end, with clients
//! duet did not write: tokio-tungstenite over HTTP/1.1 and TLS, the `h2`
//! crate's extended CONNECT (RFC 8441), and the raw-frame HTTP/2 client.

mod support;

use std::time::Duration;

use duet::ws::{CloseCode, Message, WebSocket, WebSocketUpgrade};
use duet::{ConnContext, Server};
use futures_util::{SinkExt, StreamExt};
use support::{local, start};

async fn echo(mut socket: WebSocket) {
    while let Some(Ok(msg)) = socket.recv().await {
        if matches!(msg, Message::Text(_) | Message::Binary(_)) && socket.send(msg).await.is_err() {
            break;
        }
    }
}

async fn ws(ws: WebSocketUpgrade, conn: ConnContext) -> duet::Response {
    let protocol = conn.protocol();
    ws.protocols(["chat", "superchat"])
        .on_upgrade(move |mut socket| async move {
            let hello = format!("hello over {protocol}, {:?}", socket.protocol());
            if socket.send(Message::text(hello)).await.is_ok() {
                echo(socket).await;
            }
        })
}

fn ws_server() -> Server {
    let mut s = local();
    s.get("/ws", ws);
    s
}

#[tokio::test]
async fn tungstenite_client_over_http1() {
    let running = start([ws_server()]).await;
    let url = format!("ws://{}/ws", running.addr());
    let mut req =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url)
            .unwrap();
    req.headers_mut()
        .insert("sec-websocket-protocol", "superchat, chat".parse().unwrap());
    let (mut client, resp) = tokio_tungstenite::connect_async(req)
        .await
        .expect("handshake");
    assert_eq!(resp.status(), 101);
    assert_eq!(resp.headers()["sec-websocket-protocol"], "superchat");
    let hello = client.next().await.unwrap().unwrap();
    assert_eq!(
        hello.to_text().unwrap(),
        "hello over http/1.1, Some(\"superchat\")"
    );
    client.send(Message::text("ping?")).await.unwrap();
    assert_eq!(
        client.next().await.unwrap().unwrap(),
        Message::text("ping?")
    );
    client
        .send(Message::binary(vec![0u8, 1, 2, 255]))
        .await
        .unwrap();
    assert_eq!(
        client.next().await.unwrap().unwrap(),
        Message::binary(vec![0u8, 1, 2, 255])
    );
    client.close(None).await.unwrap();
    // The server answers the close and closes the connection.
    loop {
        match tokio::time::timeout(Duration::from_secs(5), client.next())
            .await
            .expect("closes")
        {
            Some(Ok(Message::Close(_))) => {}
            Some(Ok(m)) => panic!("unexpected {m:?}"),
            Some(Err(_)) | None => break,
        }
    }
    let _ = CloseCode::Away;
}

// ---------------------------------------------------------------------------
// HTTP/2, raw frames (RFC 8441).

use support::h2_client::{self as h2c, H2Conn, Peer, Transport};

/// A masked client frame (RFC 6455 §5.2, §5.3).
fn client_frame(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![if fin { 0x80 } else { 0 } | opcode];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n <= 0xffff => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    let mask = [0x12, 0x34, 0x56, 0x78];
    f.extend_from_slice(&mask);
    f.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    f
}

/// A server frame, parsed: (opcode, payload); `None` until whole.
fn server_frame(buf: &mut Vec<u8>) -> Option<(u8, Vec<u8>)> {
    if buf.len() < 2 {
        return None;
    }
    assert_eq!(buf[1] & 0x80, 0, "server frames are not masked");
    let (len, at) = match buf[1] & 0x7f {
        126 => (u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?]) as usize, 4),
        127 => (
            u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?) as usize,
            10,
        ),
        n => (n as usize, 2),
    };
    if buf.len() < at + len {
        return None;
    }
    let opcode = buf[0] & 0x0f;
    let payload = buf[at..at + len].to_vec();
    buf.drain(..at + len);
    Some((opcode, payload))
}

fn extended_connect(path: &str, protocol: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut f = vec![
        (":method", "CONNECT"),
        (":protocol", protocol),
        (":scheme", "http"),
        (":authority", "localhost"),
        (":path", path),
    ];
    f.extend_from_slice(extra);
    h2c::block(&f)
}

/// Reads DATA of `stream` until a whole WebSocket frame is in `buf`.
async fn next_ws_frame(c: &mut H2Conn, stream: u32, buf: &mut Vec<u8>) -> (u8, Vec<u8>) {
    loop {
        if let Some(f) = server_frame(buf) {
            return f;
        }
        let f = c.next_frame().await;
        assert_ne!(
            f.kind,
            h2c::RST_STREAM,
            "stream reset: {:?}",
            f.error_code()
        );
        assert_ne!(f.kind, h2c::GOAWAY, "GOAWAY: {:?}", f.error_code());
        if f.kind == h2c::DATA && f.stream == stream {
            buf.extend_from_slice(&f.payload);
        }
    }
}

#[tokio::test]
async fn rfc8441_websocket_over_raw_h2_frames() {
    let running = start([ws_server()]).await;
    let peer = Peer {
        addr: running.addr(),
        transport: Transport::Cleartext,
    };
    let mut c = H2Conn::handshake(peer).await;
    // RFC 8441 §3: the server says it takes extended CONNECT.
    assert!(
        c.server_settings.contains(&(0x8, 1)),
        "{:?}",
        c.server_settings
    );
    let block = extended_connect("/ws", "websocket", &[("sec-websocket-version", "13")]);
    c.send(&h2c::headers(1, h2c::END_HEADERS, &block)).await;
    let head = c.wait_for(h2c::HEADERS).await;
    assert!(!head.has(h2c::END_STREAM), "the stream stays open");
    let mut fields = Vec::new();
    c.decoder
        .decode(&head.payload, &mut |n, v| {
            fields.push((
                String::from_utf8_lossy(&n).into_owned(),
                String::from_utf8_lossy(&v).into_owned(),
            ))
        })
        .unwrap();
    assert!(
        fields.contains(&(":status".into(), "200".into())),
        "{fields:?}"
    );
    assert!(!fields.iter().any(|(n, _)| n == "sec-websocket-accept"));
    let mut buf = Vec::new();
    let (op, hello) = next_ws_frame(&mut c, 1, &mut buf).await;
    assert_eq!(op, 1);
    assert_eq!(String::from_utf8_lossy(&hello), "hello over h2c, None");
    c.send(&h2c::data(1, false, &client_frame(1, true, b"over h2")))
        .await;
    assert_eq!(
        next_ws_frame(&mut c, 1, &mut buf).await,
        (1, b"over h2".to_vec())
    );
    // Close handshake: the server answers, then ends its half.
    c.send(&h2c::data(
        1,
        false,
        &client_frame(8, true, &1000u16.to_be_bytes()),
    ))
    .await;
    let (op, payload) = next_ws_frame(&mut c, 1, &mut buf).await;
    assert_eq!((op, &payload[..2]), (8, &1000u16.to_be_bytes()[..]));
    loop {
        let f = c.next_frame().await;
        assert_ne!(f.kind, h2c::RST_STREAM, "{:?}", f.error_code());
        if f.stream == 1 && f.has(h2c::END_STREAM) {
            break;
        }
    }
    // Our half ends too; the connection goes on.
    c.send(&h2c::data(1, true, &[])).await;
    c.expect_alive().await;
    let r = c.get(3, "/nothing").await;
    assert_eq!(r.status, 404);
}

// ---------------------------------------------------------------------------
// HTTP/2 with the `h2` crate's client (extended CONNECT, h2::ext::Protocol)
// and tungstenite's client role over its stream; h2c and h2 over TLS.

use bytes::Bytes;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::WebSocketStream;

/// One h2 stream as a byte stream, for tungstenite's client.
struct H2Io {
    send: h2::SendStream<Bytes>,
    recv: h2::RecvStream,
    buf: Bytes,
}

impl AsyncRead for H2Io {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        while self.buf.is_empty() {
            match self.recv.poll_data(cx) {
                Poll::Ready(Some(Ok(b))) => {
                    let _ = self.recv.flow_control().release_capacity(b.len());
                    self.buf = b;
                }
                Poll::Ready(Some(Err(e))) => {
                    return Poll::Ready(Err(std::io::Error::other(e)));
                }
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
        let n = self.buf.len().min(out.remaining());
        let chunk = self.buf.split_to(n);
        out.put_slice(&chunk);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for H2Io {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        self.send.reserve_capacity(data.len());
        loop {
            match self.send.poll_capacity(cx) {
                Poll::Ready(Some(Ok(0))) => continue,
                Poll::Ready(Some(Ok(n))) => {
                    let n = n.min(data.len());
                    self.send
                        .send_data(Bytes::copy_from_slice(&data[..n]), false)
                        .map_err(std::io::Error::other)?;
                    return Poll::Ready(Ok(n));
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(std::io::Error::other(e))),
                Poll::Ready(None) => {
                    return Poll::Ready(Err(std::io::ErrorKind::BrokenPipe.into()))
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let _ = self.send.send_data(Bytes::new(), true);
        Poll::Ready(Ok(()))
    }
}

/// Opens a WebSocket on `path` by extended CONNECT over an HTTP/2
/// connection `io` (already TLS if wanted), offering `protocols`.
async fn h2_websocket<IO>(
    io: IO,
    authority: &str,
    path: &str,
    protocols: &str,
) -> (WebSocketStream<H2Io>, http::Response<()>)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (client, conn) = h2::client::handshake(io).await.expect("h2 handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut client = client.ready().await.expect("ready");
    // A first exchange, so that the server's SETTINGS has been applied.
    let (first, _) = client
        .send_request(
            http::Request::get(format!("https://{authority}/nothing"))
                .body(())
                .unwrap(),
            true,
        )
        .expect("GET");
    assert_eq!(first.await.expect("response").status(), 404);
    assert!(client.is_extended_connect_protocol_enabled(), "RFC 8441 §3");
    let mut req = http::Request::builder()
        .method(http::Method::CONNECT)
        .uri(format!("https://{authority}{path}"))
        .header("sec-websocket-version", "13");
    if !protocols.is_empty() {
        req = req.header("sec-websocket-protocol", protocols);
    }
    let mut req = req.body(()).unwrap();
    req.extensions_mut()
        .insert(h2::ext::Protocol::from_static("websocket"));
    let mut client = client.ready().await.expect("ready");
    let (resp, send) = client.send_request(req, false).expect("extended CONNECT");
    let resp = resp.await.expect("response");
    let (parts, recv) = resp.into_parts();
    let io = H2Io {
        send,
        recv,
        buf: Bytes::new(),
    };
    let ws = WebSocketStream::from_raw_socket(io, Role::Client, None).await;
    (ws, http::Response::from_parts(parts, ()))
}

async fn echo_round_trip<S>(ws: &mut WebSocketStream<S>, greeting: &str)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let hello = ws.next().await.expect("greeting").expect("greeting");
    assert_eq!(hello.to_text().unwrap(), greeting);
    for msg in [
        Message::text("text ✓"),
        Message::binary(vec![0u8, 159, 146, 150]),
        Message::binary(vec![7u8; 200_000]),
    ] {
        ws.send(msg.clone()).await.expect("send");
        assert_eq!(ws.next().await.expect("echo").expect("echo"), msg);
    }
    // A ping is answered with its payload.
    ws.send(Message::Ping(Bytes::from_static(b"are you there")))
        .await
        .unwrap();
    assert_eq!(
        ws.next().await.unwrap().unwrap(),
        Message::Pong(Bytes::from_static(b"are you there"))
    );
    ws.close(None).await.expect("close");
    while let Some(Ok(m)) = ws.next().await {
        assert!(matches!(m, Message::Close(_)), "{m:?}");
    }
}

#[tokio::test]
async fn h2_crate_client_extended_connect_over_h2c() {
    let running = start([ws_server()]).await;
    let addr = running.addr();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut ws, resp) = h2_websocket(tcp, &addr.to_string(), "/ws", "chat").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["sec-websocket-protocol"], "chat");
    echo_round_trip(&mut ws, "hello over h2c, Some(\"chat\")").await;
}

fn tls_ws_server() -> (Server, duet::TlsConfig) {
    let tls = duet::TlsConfig::self_signed(&["localhost"]).expect("certificate");
    let mut s = local().tls(tls.clone());
    s.get("/ws", ws);
    (s, tls)
}

#[tokio::test]
async fn h2_crate_client_extended_connect_over_tls() {
    let (server, _tls) = tls_ws_server();
    let running = start([server]).await;
    let tcp = tokio::net::TcpStream::connect(running.addr())
        .await
        .unwrap();
    let tls = support::h2_client::tls_h2(tcp).await;
    let authority = format!("localhost:{}", running.addr().port());
    let (mut ws, resp) = h2_websocket(tls, &authority, "/ws", "").await;
    assert_eq!(resp.status(), 200);
    echo_round_trip(&mut ws, "hello over h2, None").await;
}

#[tokio::test]
async fn tungstenite_client_over_tls_http1() {
    use std::sync::Arc;
    let (server, _tls) = tls_ws_server();
    let running = start([server]).await;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(support::h2_client::AnyCert(provider)))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = tokio::net::TcpStream::connect(running.addr())
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("TLS");
    let url = format!("wss://localhost:{}/ws", running.addr().port());
    let (mut ws, resp) = tokio_tungstenite::client_async(url, tls)
        .await
        .expect("handshake");
    assert_eq!(resp.status(), 101);
    echo_round_trip(&mut ws, "hello over http/1.1, None").await;
}

// ---------------------------------------------------------------------------
// Handshake failures (RFC 6455 §4.2.1, §4.2.2; RFC 8441 §5), each with its
// status, in the one answer format.

/// Sends `request` and reads the response head (and what came with it).
async fn answer_to(addr: std::net::SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    support::read_until(&mut s, "\r\n\r\n", 1).await
}

fn handshake(extra: &str) -> String {
    format!("GET /ws HTTP/1.1\r\nHost: localhost\r\n{extra}\r\n")
}

const GOOD: &str = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

#[tokio::test]
async fn rfc6455_4_2_1_handshake_failures_have_their_status() {
    let running = start([ws_server()]).await;
    let addr = running.addr();
    // Case-insensitive tokens: accepted, with the RFC's accept value.
    let ok = answer_to(
        addr,
        &handshake("UPGRADE: WebSocket\r\nconnection: keep-alive, upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"),
    )
    .await;
    assert_eq!(support::status_of(&ok), 101, "{ok}");
    let lower = ok.to_ascii_lowercase();
    assert!(
        lower.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{ok}"
    );
    assert!(lower.contains("upgrade: websocket\r\n"), "{ok}");
    assert!(lower.contains("connection: upgrade\r\n"), "{ok}");
    assert!(
        !lower.contains("content-length") && !lower.contains("transfer-encoding"),
        "{ok}"
    );

    let cases: &[(&str, String, u16, &str)] = &[
        ("no upgrade at all", handshake(""), 426, "upgrade: websocket"),
        (
            "Upgrade names another protocol",
            handshake("Upgrade: h3-chat\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"),
            400,
            "upgrade does not name websocket",
        ),
        (
            "Connection without upgrade",
            handshake("Upgrade: websocket\r\nConnection: keep-alive\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"),
            400,
            "connection does not list upgrade",
        ),
        (
            "version 8",
            handshake("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"),
            426,
            "sec-websocket-version: 13",
        ),
        (
            "no version",
            handshake("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"),
            426,
            "sec-websocket-version: 13",
        ),
        (
            "no key",
            handshake("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"),
            400,
            "sec-websocket-key",
        ),
        (
            "a key of 15 bytes",
            handshake("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25j\r\n"),
            400,
            "sec-websocket-key",
        ),
        (
            "a handshake with content",
            format!("GET /ws HTTP/1.1\r\nHost: localhost\r\n{GOOD}Content-Length: 2\r\n\r\nhi"),
            400,
            "cannot be upgraded",
        ),
        (
            "POST",
            format!("POST /ws HTTP/1.1\r\nHost: localhost\r\n{GOOD}Content-Length: 0\r\n\r\n"),
            405,
            "allow: get",
        ),
        (
            "HTTP/1.0",
            format!("GET /ws HTTP/1.0\r\nHost: localhost\r\n{GOOD}\r\n"),
            426,
            "upgrade: websocket",
        ),
    ];
    for (what, request, status, needle) in cases {
        let got = answer_to(addr, request).await;
        assert_eq!(support::status_of(&got), *status, "{what}: {got}");
        assert!(got.to_ascii_lowercase().contains(needle), "{what}: {got}");
        assert!(
            got.contains("text/plain; charset=utf-8"),
            "{what}: one answer format: {got}"
        );
    }
}

#[tokio::test]
async fn rfc8441_5_h2_handshake_failures() {
    let running = start([ws_server()]).await;
    let peer = Peer {
        addr: running.addr(),
        transport: Transport::Cleartext,
    };
    let mut c = H2Conn::handshake(peer).await;
    let cases: [(u32, Vec<u8>, u16); 3] = [
        (1, extended_connect("/ws", "websocket", &[]), 426),
        (
            3,
            extended_connect("/ws", "websocket", &[("sec-websocket-version", "12")]),
            426,
        ),
        (
            5,
            extended_connect("/ws", "x-chat", &[("sec-websocket-version", "13")]),
            400,
        ),
    ];
    for (id, block, status) in cases {
        c.send(&h2c::headers(id, h2c::END_HEADERS, &block)).await;
        let r = c.response(id).await;
        assert_eq!(r.status, status, "stream {id}: {:?}", r.headers);
        if status == 426 && id == 3 {
            assert_eq!(r.header("sec-websocket-version"), Some("13"));
        }
    }
    // A plain GET to a WebSocket route over h2: not a WebSocket request.
    let r = c.get(7, "/ws").await;
    assert_eq!(r.status, 426);
    // An extended CONNECT to a path nobody serves.
    c.send(&h2c::headers(
        9,
        h2c::END_HEADERS,
        &extended_connect("/nope", "websocket", &[("sec-websocket-version", "13")]),
    ))
    .await;
    assert_eq!(c.response(9).await.status, 404);
}

// ---------------------------------------------------------------------------
// Abuse: each with its close code, memory bounded by the limits.

/// Completes a raw HTTP/1.1 handshake for `path`; the stream is then the
/// WebSocket's.
async fn raw_ws(addr: std::net::SocketAddr, path: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{GOOD}\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).await.expect("handshake response");
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    s
}

/// Reads server frames until a close frame; returns its code, then checks
/// that the server closes the connection.
async fn close_code(s: &mut TcpStream) -> u16 {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        while let Some((op, payload)) = server_frame(&mut buf) {
            if op == 8 {
                let code = u16::from_be_bytes([payload[0], payload[1]]);
                // Then the server closes (RFC 6455 §7.1.1).
                let rest = tokio::time::timeout(Duration::from_secs(10), async {
                    loop {
                        match s.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(_) => {}
                        }
                    }
                });
                rest.await.expect("the server closes the connection");
                return code;
            }
        }
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut chunk))
            .await
            .expect("a close frame in time")
            .unwrap_or(0);
        assert!(n > 0, "closed without a close frame");
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn limited_server() -> Server {
    let mut s = local();
    s.get("/small", |ws: WebSocketUpgrade| async move {
        ws.max_frame_size(1024)
            .max_message_size(2048)
            .on_upgrade(echo)
    });
    s
}

#[tokio::test]
async fn oversized_frames_and_messages_are_closed_with_1009() {
    let running = start([limited_server()]).await;
    // One frame over max_frame_size: refused from its header, before its
    // payload is buffered.
    let mut s = raw_ws(running.addr(), "/small").await;
    let mut f = client_frame(2, true, &vec![1u8; 2000]);
    f.truncate(8 + 100);
    s.write_all(&f).await.unwrap();
    assert_eq!(close_code(&mut s).await, 1009);
    // Frames within the limit that add up to a message over it.
    let mut s = raw_ws(running.addr(), "/small").await;
    s.write_all(&client_frame(2, false, &[1u8; 1000]))
        .await
        .unwrap();
    s.write_all(&client_frame(0, false, &[1u8; 1000]))
        .await
        .unwrap();
    s.write_all(&client_frame(0, true, &[1u8; 1000]))
        .await
        .unwrap();
    assert_eq!(close_code(&mut s).await, 1009);
    // A message at the limit is fine.
    let mut s = raw_ws(running.addr(), "/small").await;
    s.write_all(&client_frame(2, false, &[3u8; 1024]))
        .await
        .unwrap();
    s.write_all(&client_frame(0, true, &[3u8; 1024]))
        .await
        .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let echoed = loop {
        if let Some(f) = server_frame(&mut buf) {
            break f;
        }
        let n = s.read(&mut chunk).await.unwrap();
        assert!(n > 0);
        buf.extend_from_slice(&chunk[..n]);
    };
    assert_eq!(echoed, (2, vec![3u8; 2048]));
}

#[tokio::test]
async fn unmasked_client_frames_are_closed_with_1002_and_bad_utf8_with_1007() {
    let running = start([ws_server()]).await;
    // RFC 6455 §5.1: a server MUST close on an unmasked client frame.
    let mut s = raw_ws(running.addr(), "/ws").await;
    s.write_all(&[0x81, 0x02, b'h', b'i']).await.unwrap();
    assert_eq!(close_code(&mut s).await, 1002);
    // §8.1: a text message that is not UTF-8.
    let mut s = raw_ws(running.addr(), "/ws").await;
    s.write_all(&client_frame(1, true, &[0xff, 0xfe]))
        .await
        .unwrap();
    assert_eq!(close_code(&mut s).await, 1007);
    // An unknown opcode.
    let mut s = raw_ws(running.addr(), "/ws").await;
    s.write_all(&client_frame(3, true, b"?")).await.unwrap();
    assert_eq!(close_code(&mut s).await, 1002);
}

#[tokio::test]
async fn a_client_that_never_reads_fails_the_send_and_is_cut() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut server = local();
    server.get("/flood", move |ws: WebSocketUpgrade| {
        let tx = tx.clone();
        async move {
            ws.send_timeout(Duration::from_secs(5))
                .on_upgrade(move |mut socket| async move {
                    let block = Bytes::from(vec![b'x'; 64 * 1024]);
                    let mut sent = 0usize;
                    let err = loop {
                        match socket.send(Message::Binary(block.clone())).await {
                            Ok(()) => sent += block.len(),
                            Err(e) => break e,
                        }
                    };
                    let _ = tx.send((sent, err.to_string()));
                })
        }
    });
    let running = start([server]).await;
    let s = raw_ws(running.addr(), "/flood").await;
    // The client reads nothing. Virtual time: once everything waits on the
    // full socket, the clock runs to the send timeout.
    tokio::time::pause();
    let (sent, err) = rx.recv().await.expect("the handler reports");
    tokio::time::resume();
    assert!(err.contains("did not read"), "{err}");
    // What was accepted is what the kernel's socket buffers hold plus
    // duet's (one message, tungstenite's write buffer): far below what an
    // unbounded server would have queued by the timeout.
    assert!(sent < 64 << 20, "{sent} bytes accepted");
    drop(s);
}

// ---------------------------------------------------------------------------
// Graceful shutdown: every socket, idle or not, HTTP/1.1 or HTTP/2, is
// closed with 1001 and the server waits for the close handshakes.

#[tokio::test]
async fn graceful_shutdown_closes_many_idle_sockets_with_1001() {
    let running = start([ws_server()]).await;
    let addr = running.addr();
    let mut clients = Vec::new();
    for _ in 0..64 {
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
            .await
            .expect("handshake");
        let _hello = ws.next().await;
        clients.push(tokio::spawn(async move {
            let mut code = None;
            while let Some(Ok(m)) = ws.next().await {
                if let Message::Close(Some(f)) = m {
                    code = Some((u16::from(f.code), f.reason.to_string()));
                }
            }
            code
        }));
    }
    // HTTP/2: several sockets on one connection.
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (client, conn) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut client = client.ready().await.unwrap();
    let (first, _) = client
        .send_request(
            http::Request::get(format!("http://{addr}/"))
                .body(())
                .unwrap(),
            true,
        )
        .unwrap();
    let _ = first.await;
    for _ in 0..8 {
        let mut req = http::Request::builder()
            .method(http::Method::CONNECT)
            .uri(format!("http://{addr}/ws"))
            .header("sec-websocket-version", "13")
            .body(())
            .unwrap();
        req.extensions_mut()
            .insert(h2::ext::Protocol::from_static("websocket"));
        client = client.ready().await.unwrap();
        let (resp, send) = client.send_request(req, false).unwrap();
        let recv = resp.await.unwrap().into_body();
        let io = H2Io {
            send,
            recv,
            buf: Bytes::new(),
        };
        let mut ws = WebSocketStream::from_raw_socket(io, Role::Client, None).await;
        let _hello = ws.next().await;
        clients.push(tokio::spawn(async move {
            let mut code = None;
            while let Some(Ok(m)) = ws.next().await {
                if let Message::Close(Some(f)) = m {
                    code = Some((u16::from(f.code), f.reason.to_string()));
                }
            }
            code
        }));
    }
    assert_eq!(running.connections(), 65);
    let cut = running.shutdown().await;
    assert_eq!(cut, 0, "every socket closed within the grace");
    for c in clients {
        let code = c.await.unwrap();
        assert_eq!(code, Some((1001, "server shutting down".to_string())));
    }
}

// ---------------------------------------------------------------------------
// The protocol-neutral API: CONNECT tunnels and a raw upgrade.

use duet::upgrade::Upgrade;

async fn tunnel(up: Upgrade, uri: http::Uri) -> duet::Response {
    assert!(up.is_tunnel());
    let target = uri.to_string();
    up.on_upgrade(move |mut io| async move {
        // A pretend tunnel: says where it goes, then echoes.
        let _ = io.write_all(format!("to {target}\n").as_bytes()).await;
        let mut buf = [0u8; 1024];
        while let Ok(n) = io.read(&mut buf).await {
            if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = io.shutdown().await;
    })
}

#[tokio::test]
async fn connect_tunnels_on_both_versions() {
    let mut with = local();
    with.connect(tunnel);
    let running = start([with]).await;
    // HTTP/1.1 authority-form: 200, then the connection is the tunnel,
    // bytes sent early included.
    let mut s = TcpStream::connect(running.addr()).await.unwrap();
    s.write_all(b"CONNECT db.internal:5432 HTTP/1.1\r\nHost: db.internal:5432\r\n\r\nearly")
        .await
        .unwrap();
    let got = support::read_until(&mut s, "early", 1).await;
    assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
    assert!(
        !got.to_ascii_lowercase().contains("content-length"),
        "{got}"
    );
    assert!(got.contains("\r\n\r\nto db.internal:5432\nearly"), "{got}");
    s.write_all(b" and late").await.unwrap();
    let got = support::read_until(&mut s, "late", 1).await;
    assert!(got.ends_with(" and late"), "{got}");
    s.shutdown().await.unwrap();
    assert_eq!(support::read_to_close(&mut s).await, "");

    // HTTP/2 CONNECT (RFC 9113 §8.5): :method and :authority only.
    let peer = Peer {
        addr: running.addr(),
        transport: Transport::Cleartext,
    };
    let mut c = H2Conn::handshake(peer).await;
    let block = h2c::block(&[(":method", "CONNECT"), (":authority", "db.internal:5432")]);
    c.send(&h2c::headers(1, h2c::END_HEADERS, &block)).await;
    let head = c.wait_for(h2c::HEADERS).await;
    assert!(!head.has(h2c::END_STREAM));
    c.send(&h2c::data(1, false, b"ping")).await;
    let mut got = Vec::new();
    while !got.ends_with(b"ping") {
        let f = c.next_frame().await;
        assert_ne!(f.kind, h2c::RST_STREAM);
        if f.kind == h2c::DATA && f.stream == 1 {
            got.extend_from_slice(&f.payload);
        }
    }
    assert_eq!(got, b"to db.internal:5432\nping");
    // Our END_STREAM: the tunnel's handler sees EOF and ends its half.
    c.send(&h2c::data(1, true, &[])).await;
    loop {
        let f = c.next_frame().await;
        assert_ne!(f.kind, h2c::RST_STREAM, "{:?}", f.error_code());
        if f.stream == 1 && f.has(h2c::END_STREAM) {
            break;
        }
    }
    c.expect_alive().await;
}

#[tokio::test]
async fn connect_without_a_handler_is_501_and_misused_upgrades_are_500() {
    let mut s = local();
    // A handler that answers 101 without taking the connection.
    s.get("/bad101", || async {
        duet::StatusCode::SWITCHING_PROTOCOLS
    });
    // A GET handler reached by an extended CONNECT that answers 200
    // without opening the tunnel.
    s.get("/plain", || async { "not a tunnel" });
    let running = start([s]).await;
    let got = answer_to(
        running.addr(),
        "CONNECT db.internal:5432 HTTP/1.1\r\nHost: db.internal:5432\r\n\r\n",
    )
    .await;
    assert_eq!(support::status_of(&got), 501, "{got}");
    let got2 = answer_to(
        running.addr(),
        "GET /bad101 HTTP/1.1\r\nHost: a\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n",
    )
    .await;
    assert_eq!(support::status_of(&got2), 500, "{got2}");
    let got = answer_to(running.addr(), "GET /bad101 HTTP/1.1\r\nHost: a\r\n\r\n").await;
    assert_eq!(support::status_of(&got), 500, "{got}");

    let peer = Peer {
        addr: running.addr(),
        transport: Transport::Cleartext,
    };
    let mut c = H2Conn::handshake(peer).await;
    let block = h2c::block(&[(":method", "CONNECT"), (":authority", "db.internal:5432")]);
    c.send(&h2c::headers(1, h2c::END_HEADERS, &block)).await;
    assert_eq!(c.response(1).await.status, 501);
    c.send(&h2c::headers(
        3,
        h2c::END_HEADERS,
        &extended_connect("/plain", "websocket", &[]),
    ))
    .await;
    assert_eq!(c.response(3).await.status, 500);
}

#[tokio::test]
async fn a_raw_upgrade_on_http1_and_h2() {
    let mut s = local();
    s.get("/echo", |up: Upgrade| async move {
        assert_eq!(up.protocol(), Some("x-echo"));
        up.on_upgrade(|mut io| async move {
            let mut buf = [0u8; 64];
            while let Ok(n) = io.read(&mut buf).await {
                if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
            let _ = io.shutdown().await;
        })
    });
    let running = start([s]).await;
    let mut t = TcpStream::connect(running.addr()).await.unwrap();
    t.write_all(b"GET /echo HTTP/1.1\r\nHost: a\r\nUpgrade: x-echo\r\nConnection: upgrade\r\n\r\n")
        .await
        .unwrap();
    let head = support::read_until(&mut t, "\r\n\r\n", 1).await;
    assert!(
        head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{head}"
    );
    assert!(
        head.contains("upgrade: x-echo\r\n") && head.contains("connection: upgrade\r\n"),
        "{head}"
    );
    t.write_all(b"abc").await.unwrap();
    assert_eq!(support::read_until(&mut t, "abc", 1).await, "abc");
    // The same handler over h2: an extended CONNECT with :protocol x-echo.
    let peer = Peer {
        addr: running.addr(),
        transport: Transport::Cleartext,
    };
    let mut c = H2Conn::handshake(peer).await;
    c.send(&h2c::headers(
        1,
        h2c::END_HEADERS,
        &extended_connect("/echo", "x-echo", &[]),
    ))
    .await;
    let head = c.wait_for(h2c::HEADERS).await;
    assert!(!head.has(h2c::END_STREAM));
    c.send(&h2c::data(1, true, b"xyz")).await;
    let mut got = Vec::new();
    loop {
        let f = c.next_frame().await;
        assert_ne!(f.kind, h2c::RST_STREAM, "{:?}", f.error_code());
        if f.kind == h2c::DATA && f.stream == 1 {
            got.extend_from_slice(&f.payload);
            if f.has(h2c::END_STREAM) {
                break;
            }
        }
    }
    assert_eq!(got, b"xyz");
}

// ---------------------------------------------------------------------------
// Through the tower seam: axum's own WebSocketUpgrade needs hyper's
// `OnUpgrade` request extension, which only hyper can make (its
// constructor is private to hyper); served by duet it is absent and axum
// rejects the handshake with 426. A tower service takes duet's own
// `OnUpgrade` extension instead — the same upgrade on every version.

#[tokio::test]
async fn axum_websocket_routes_through_the_tower_seam() {
    use axum::extract::ws::WebSocketUpgrade as AxumUpgrade;
    use duet::upgrade::OnUpgrade;

    let app = axum::Router::new()
        .route(
            "/axum-ws",
            axum::routing::get(|ws: AxumUpgrade| async move { ws.on_upgrade(|_socket| async {}) }),
        )
        .route(
            "/tower-ws",
            axum::routing::get(|req: axum::extract::Request| async move {
                // duet's upgrade, from a plain tower service.
                let Some(on_upgrade) = req.extensions().get::<OnUpgrade>().cloned() else {
                    return http::Response::builder()
                        .status(426)
                        .body(axum::body::Body::empty())
                        .unwrap();
                };
                let key = req.headers()["sec-websocket-key"].as_bytes().to_vec();
                tokio::spawn(async move {
                    let Ok(io) = on_upgrade.await else { return };
                    let mut ws = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
                    while let Some(Ok(m)) = ws.next().await {
                        if m.is_text() && ws.send(m).await.is_err() {
                            break;
                        }
                    }
                });
                http::Response::builder()
                    .status(101)
                    .header("upgrade", "websocket")
                    .header("connection", "upgrade")
                    .header(
                        "sec-websocket-accept",
                        tokio_tungstenite::tungstenite::handshake::derive_accept_key(&key),
                    )
                    .body(axum::body::Body::empty())
                    .unwrap()
            }),
        );
    let running = start([local().service(app)]).await;
    let addr = running.addr();
    let got = answer_to(addr, &handshake(GOOD).replace("/ws", "/axum-ws")).await;
    assert_eq!(support::status_of(&got), 426, "{got}");
    let (mut ws, resp) = tokio_tungstenite::connect_async(format!("ws://{addr}/tower-ws"))
        .await
        .expect("handshake through the tower seam");
    assert_eq!(resp.status(), 101);
    ws.send(Message::text("via tower")).await.unwrap();
    assert_eq!(
        ws.next().await.unwrap().unwrap(),
        Message::text("via tower")
    );
}
