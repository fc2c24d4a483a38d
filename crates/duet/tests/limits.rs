//! Limits that protect the process as a whole: the cap on open
//! connections of a listener.

mod support;

use support::{limits, local, read_until, start};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

async fn hello() -> &'static str {
    "hello"
}

async fn get(c: &mut TcpStream) -> String {
    c.write_all(b"GET /hello HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("write");
    read_until(c, "hello", 1).await
}

#[tokio::test]
async fn connections_past_the_cap_wait_until_one_closes() {
    let two = limits(|l| l.max_connections = 2);
    let mut s = local().limits(two);
    s.get("/hello", hello);
    let running = start([s]).await;
    let addr = running.addr();
    let mut a = TcpStream::connect(addr).await.expect("a");
    let mut b = TcpStream::connect(addr).await.expect("b");
    assert!(get(&mut a).await.starts_with("HTTP/1.1 200"));
    assert!(get(&mut b).await.starts_with("HTTP/1.1 200"));
    // The kernel completes the third handshake, but the server does not
    // take the connection while two are open.
    let mut c = TcpStream::connect(addr).await.expect("c");
    c.write_all(b"GET /hello HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("write");
    // A full round trip on `a` after the third request was sent: the
    // server ran, and still did not answer `c`.
    assert!(get(&mut a).await.starts_with("HTTP/1.1 200"));
    let mut buf = [0u8; 64];
    match c.try_read(&mut buf) {
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock),
        Ok(n) => panic!("answered past the cap: {:?}", &buf[..n]),
    }
    assert_eq!(running.connections(), 2);
    // One closes: the waiting connection is taken and answered.
    drop(b);
    let answer = read_until(&mut c, "hello", 1).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    running.shutdown().await;
}
