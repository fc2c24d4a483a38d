//! The access record of a connection that came with a PROXY header shows
//! the client's address. Alone in its test binary: a tracing callsite
//! first reached by another test's thread, before this test's subscriber
//! is set, could cache "never" for it.

mod support;

use std::sync::Arc;

use duet::{ConnContext, ProxyProtocol};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

async fn peer(conn: ConnContext) -> String {
    conn.peer_addr().to_string()
}

use support::access_log::{Collect, Records};

#[test]
fn the_access_record_shows_the_client_from_the_header() {
    use tracing_subscriber::layer::SubscriberExt;
    let records: Records = Arc::default();
    let subscriber = tracing_subscriber::registry().with(Collect(records.clone()));
    let _guard = tracing::subscriber::set_default(subscriber);
    // One thread: the connection's task runs where the subscriber is set.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut s = support::local().proxy_protocol(ProxyProtocol::new());
        s.get("/peer", peer);
        let running = support::start([s]).await;
        let mut c = TcpStream::connect(running.addr()).await.expect("connect");
        // A v2 header for TCP over IPv4 from 192.0.2.1:40000, then a request.
        let mut bytes = b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c".to_vec();
        bytes.extend_from_slice(&[192, 0, 2, 1, 198, 51, 100, 2, 0x9c, 0x40, 0x01, 0xbb]);
        bytes.extend_from_slice(b"GET /peer HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
        c.write_all(&bytes).await.expect("write");
        let answer = support::read_to_close(&mut c).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        running.shutdown().await;
    });
    let records = records.lock().expect("records");
    let rec = records
        .iter()
        .find(|r| r.get("target").map(String::as_str) == Some("/peer"))
        .unwrap_or_else(|| panic!("no access record: {records:?}"));
    assert_eq!(rec.get("peer").map(String::as_str), Some("192.0.2.1:40000"));
}
