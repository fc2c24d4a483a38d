//! Limits that protect the process as a whole: the cap on open
//! connections of a listener, the time a silent connection is given, the
//! requests one connection may carry.

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

/// A silent connection is closed once its first bytes are late: the
/// request head's first byte (cleartext) or the TLS ClientHello, on virtual
/// time.
#[test]
fn connections_that_say_nothing_are_closed_in_time() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime");
    rt.block_on(async {
        let limits = support::limits(|l| {
            l.header_read_timeout = std::time::Duration::from_secs(3);
            l.tls_handshake_timeout = std::time::Duration::from_secs(5);
        });
        let mut plain = local().limits(limits.clone());
        plain.get("/hello", hello);
        let tls = duet::TlsConfig::self_signed(&["localhost"]).expect("cert");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port");
        let mut secure = duet::Server::bind_addr(port).tls(tls).limits(limits);
        secure.get("/hello", hello);
        let running = start([plain, secure]).await;
        for (addr, timeout) in [(running.addrs()[0], 3), (running.addrs()[1], 5)] {
            let start = tokio::time::Instant::now();
            let mut c = TcpStream::connect(addr).await.expect("connect");
            let mut buf = [0u8; 16];
            // Closed by the server (EOF), not answered.
            let n = tokio::io::AsyncReadExt::read(&mut c, &mut buf)
                .await
                .unwrap_or(0);
            assert_eq!(n, 0, "{addr}: the server sent {:?}", &buf[..n]);
            let waited = start.elapsed().as_secs();
            assert!(
                (timeout..timeout + 2).contains(&waited),
                "{addr}: closed after {waited}s, expected {timeout}s"
            );
        }
        running.shutdown().await;
    });
}

#[tokio::test]
async fn the_last_request_a_connection_may_carry_closes_it() {
    let limits = support::limits(|l| l.max_requests_per_connection = 2);
    let mut s = local().limits(limits);
    s.get("/hello", hello);
    let running = start([s]).await;
    let mut c = TcpStream::connect(running.addr()).await.expect("connect");
    let first = get(&mut c).await;
    assert!(!first.contains("connection: close"), "{first}");
    let second = get(&mut c).await;
    assert!(second.contains("connection: close"), "{second}");
    let rest = support::read_to_close(&mut c).await;
    assert!(rest.is_empty(), "{rest}");
    running.shutdown().await;
}
