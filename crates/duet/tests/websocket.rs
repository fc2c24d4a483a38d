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
