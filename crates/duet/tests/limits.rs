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

/// 32 MiB: far more than the socket buffers of both ends hold.
async fn big() -> Vec<u8> {
    vec![b'x'; 32 << 20]
}

/// A paused-clock runtime (time jumps when every task waits) serving
/// `/big` with `write_stall_timeout` of 5 s.
fn stall_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime")
}

async fn stall_server() -> duet::Running {
    let limits = limits(|l| l.write_stall_timeout = std::time::Duration::from_secs(5));
    let mut s = local().limits(limits);
    s.get("/big", big);
    start([s]).await
}

/// Virtual seconds until the server holds no connection.
async fn seconds_until_closed(running: &duet::Running) -> u64 {
    let start = tokio::time::Instant::now();
    while running.connections() > 0 && start.elapsed().as_secs() < 120 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    start.elapsed().as_secs()
}

/// A client that asks for a large response and never reads it holds its
/// connection only for `write_stall_timeout` (HTTP/1.1 and HTTP/2, on
/// virtual time).
#[test]
fn a_client_that_never_reads_is_dropped_after_the_write_stall_timeout() {
    use support::h2_client::{self as h2c, END_HEADERS, END_STREAM, INITIAL_WINDOW_SIZE};
    stall_runtime().block_on(async {
        let running = stall_server().await;
        // HTTP/1.1.
        let mut c = TcpStream::connect(running.addr()).await.expect("connect");
        c.write_all(b"GET /big HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .expect("write");
        while running.connections() == 0 {
            tokio::task::yield_now().await;
        }
        let waited = seconds_until_closed(&running).await;
        assert!((5..8).contains(&waited), "h1: dropped after {waited}s");
        drop(c);
        // HTTP/2 (prior knowledge), with windows wide open: only the
        // socket holds the response back.
        let mut c = TcpStream::connect(running.addr()).await.expect("connect");
        let mut hello = h2c::PREFACE.to_vec();
        hello.extend(h2c::settings(&[(INITIAL_WINDOW_SIZE, (1 << 31) - 1)]));
        hello.extend(h2c::window_update(0, (1 << 31) - 1 - 65_535));
        hello.extend(h2c::settings_ack());
        hello.extend(h2c::headers(
            1,
            END_HEADERS | END_STREAM,
            &h2c::get_block("/big"),
        ));
        c.write_all(&hello).await.expect("write");
        while running.connections() == 0 {
            tokio::task::yield_now().await;
        }
        let waited = seconds_until_closed(&running).await;
        assert!((5..8).contains(&waited), "h2: dropped after {waited}s");
        running.shutdown().await;
    });
}

/// The twin: a client that reads slowly — 256 KiB every 100 ms, ten
/// times inside a 1 s `write_stall_timeout` — gets its whole 8 MiB
/// response although it takes seconds. On the real clock: the kernel tells
/// the server of each read asynchronously, which a paused clock would
/// outrun. The pauses pace the reader; nothing waits on them.
#[tokio::test]
async fn a_slow_reader_is_not_cut_off() {
    async fn eight() -> Vec<u8> {
        vec![b'x'; 8 << 20]
    }
    let limits = limits(|l| l.write_stall_timeout = std::time::Duration::from_secs(1));
    let mut s = local().limits(limits);
    s.get("/eight", eight);
    let running = start([s]).await;
    let mut c = TcpStream::connect(running.addr()).await.expect("connect");
    c.write_all(b"GET /eight HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut got = 0usize;
    let mut buf = vec![0u8; 256 << 10];
    let start = std::time::Instant::now();
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        match tokio::io::AsyncReadExt::read(&mut c, &mut buf).await {
            Ok(0) => break,
            Err(e) => panic!("after {got} bytes, {:?}: {e}", start.elapsed()),
            Ok(n) => got += n,
        }
    }
    assert!(got > 8 << 20, "read {got} bytes in {:?}", start.elapsed());
    assert!(start.elapsed().as_secs() >= 2, "the reading took time");
    running.shutdown().await;
}
