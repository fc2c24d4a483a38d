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
        match msg {
            Message::Text(_) | Message::Binary(_) => {
                if socket.send(msg).await.is_err() {
                    break;
                }
            }
            _ => {}
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
