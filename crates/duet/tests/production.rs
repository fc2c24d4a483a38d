//! Behind a load balancer and on every core: the PROXY protocol (v1, v2,
//! malformed headers, untrusted sources, TLS and h2c after the header;
//! the access record is in `proxy_access.rs`), SO_REUSEPORT, the per-core runtimes, the admin
//! endpoints and the readiness flip, and the connection limits seen from a
//! socket.

mod support;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use duet::{Admin, ConnContext, Executor, Limits, ProxyProtocol, Server, State, TlsConfig};
use support::{limits, local, read_to_close, read_until};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Answers the peer address the connection reports.
async fn peer(conn: ConnContext) -> String {
    conn.peer_addr().to_string()
}

/// A cleartext server expecting PROXY headers from `proxy`, `GET /peer`.
async fn proxied(proxy: ProxyProtocol) -> duet::Running {
    let mut s = local().proxy_protocol(proxy);
    s.get("/peer", peer);
    support::start([s]).await
}

/// A version 2 PROXY header.
fn v2(command: u8, family: u8, addresses: &[u8]) -> Vec<u8> {
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.push(0x20 | command);
    h.push(family);
    h.extend_from_slice(&(addresses.len() as u16).to_be_bytes());
    h.extend_from_slice(addresses);
    h
}

/// A v2 `PROXY` header for TCP over IPv4 from 192.0.2.1:40000.
fn v2_tcp4() -> Vec<u8> {
    v2(
        1,
        0x11,
        &[192, 0, 2, 1, 198, 51, 100, 2, 0x9c, 0x40, 0x01, 0xbb],
    )
}

const GET_PEER: &[u8] = b"GET /peer HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";

/// Writes `header` then a request on a new connection and reads the answer
/// to its end.
async fn through(addr: SocketAddr, header: &[u8]) -> (String, SocketAddr) {
    let mut c = TcpStream::connect(addr).await.expect("connect");
    let me = c.local_addr().expect("local address");
    c.write_all(&[header, GET_PEER].concat())
        .await
        .expect("write");
    (read_to_close(&mut c).await, me)
}

#[tokio::test]
async fn each_kind_of_header_sets_the_peer_address() {
    let running = proxied(ProxyProtocol::new()).await;
    let addr = running.addr();
    let mut v6 = [0u8; 36];
    v6[..2].copy_from_slice(&[0x20, 0x01]);
    v6[15] = 7;
    v6[32..34].copy_from_slice(&12345u16.to_be_bytes());
    for (header, expect) in [
        (
            b"PROXY TCP4 192.0.2.1 198.51.100.2 40000 443\r\n".to_vec(),
            "192.0.2.1:40000",
        ),
        (
            b"PROXY TCP6 2001::7 2001::8 12345 443\r\n".to_vec(),
            "[2001::7]:12345",
        ),
        (v2_tcp4(), "192.0.2.1:40000"),
        (v2(1, 0x21, &v6), "[2001::7]:12345"),
    ] {
        let (answer, _) = through(addr, &header).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with(expect), "{answer}");
    }
    // No client address in the header (a balancer's own health check, an
    // unknown protocol): the connection's own peer.
    for header in [v2(0, 0x00, &[]), b"PROXY UNKNOWN\r\n".to_vec()] {
        let (answer, me) = through(addr, &header).await;
        assert!(answer.ends_with(&me.to_string()), "{answer}");
    }
    running.shutdown().await;
}

#[tokio::test]
async fn a_header_in_pieces_is_read_whole_and_no_further() {
    let running = proxied(ProxyProtocol::new()).await;
    for header in [
        b"PROXY TCP4 192.0.2.1 198.51.100.2 40000 443\r\n".to_vec(),
        v2_tcp4(),
    ] {
        let mut c = TcpStream::connect(running.addr()).await.expect("connect");
        c.set_nodelay(true).expect("nodelay");
        // Split inside the signature, inside the addresses, and with the
        // request's first bytes glued to the header's last.
        let bytes = [header.as_slice(), GET_PEER].concat();
        let cuts = [3, header.len() - 5, header.len() + 4, bytes.len()];
        let mut from = 0;
        for to in cuts {
            c.write_all(&bytes[from..to]).await.expect("write");
            c.flush().await.expect("flush");
            tokio::task::yield_now().await;
            from = to;
        }
        let answer = read_to_close(&mut c).await;
        assert!(answer.ends_with("192.0.2.1:40000"), "{answer}");
    }
    running.shutdown().await;
}

#[tokio::test]
async fn a_missing_or_malformed_header_closes_the_connection() {
    let running = proxied(ProxyProtocol::new()).await;
    let mut bad_version = v2_tcp4();
    bad_version[12] = 0x31;
    let mut bad_command = v2_tcp4();
    bad_command[12] = 0x2f;
    for header in [
        Vec::new(), // a plain request, no header
        b"PROXY TCP4 192.0.2.1 198.51.100.2 40000\r\n".to_vec(),
        b"PROXY TCP4 192.0.2.300 198.51.100.2 1 2\r\n".to_vec(),
        b"PROXY TCP9 x\r\n".to_vec(),
        b"PROXY UNKNOWN\rX".to_vec(),
        [b"PROXY ".as_slice(), &[b'9'; 120]].concat(),
        bad_version,
        bad_command,
        v2(1, 0x11, &[1, 2, 3]), // too short for its family
        b"\r\n\r\n\0\r\nQUIZ\n\x21\x11\x00\x00".to_vec(),
        vec![0x16, 3, 1, 0, 5, 1, 0, 0, 1, 0], // a TLS record
    ] {
        let (answer, _) = through(running.addr(), &header).await;
        assert_eq!(answer, "", "{:?}", String::from_utf8_lossy(&header));
    }
    // A header cut short by the peer.
    let mut c = TcpStream::connect(running.addr()).await.expect("connect");
    c.write_all(&v2_tcp4()[..20]).await.expect("write");
    c.shutdown().await.expect("half-close");
    assert_eq!(read_to_close(&mut c).await, "");
    // The server lives on.
    let (answer, _) = through(running.addr(), &v2_tcp4()).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    running.shutdown().await;
}

#[tokio::test]
async fn a_header_that_never_completes_is_cut_at_the_header_read_timeout() {
    let short = limits(|l| l.header_read_timeout = Duration::from_millis(200));
    let mut s = local().limits(short).proxy_protocol(ProxyProtocol::new());
    s.get("/peer", peer);
    let running = support::start([s]).await;
    let mut c = TcpStream::connect(running.addr()).await.expect("connect");
    c.write_all(b"PROXY TCP4 192.0.2.1").await.expect("write");
    let started = tokio::time::Instant::now();
    // Closed by the server (read_to_close gives up only after 10 s).
    assert_eq!(read_to_close(&mut c).await, "");
    assert!(started.elapsed() < Duration::from_secs(5));
    running.shutdown().await;
}

#[tokio::test]
async fn untrusted_sources_are_closed_unread() {
    // The test connects from 127.0.0.1: outside the trusted networks.
    let trusted = ProxyProtocol::new()
        .trust("10.0.0.0/8")
        .and_then(|p| p.trust("::1"))
        .expect("networks");
    let running = proxied(trusted).await;
    let (answer, _) = through(running.addr(), &v2_tcp4()).await;
    assert_eq!(answer, "");
    running.shutdown().await;
    // Trusting the loopback network lets the same header through.
    let running = proxied(ProxyProtocol::new().trust("127.0.0.0/8").expect("net")).await;
    let (answer, _) = through(running.addr(), &v2_tcp4()).await;
    assert!(answer.ends_with("192.0.2.1:40000"), "{answer}");
    running.shutdown().await;
}

/// `GET /peer` over HTTP/2 on an established stream.
async fn h2_get_peer<T>(io: T) -> String
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut client, conn) = h2::client::handshake(io).await.expect("h2 handshake");
    tokio::spawn(conn);
    let req = http::Request::get("https://localhost/peer")
        .body(())
        .expect("request");
    let (resp, _) = client.send_request(req, true).expect("send");
    let resp = resp.await.expect("response");
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let mut out = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk: Bytes = chunk.expect("data");
        let _ = body.flow_control().release_capacity(chunk.len());
        out.extend_from_slice(&chunk);
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn h2c_and_tls_are_detected_after_the_header() {
    let running = proxied(ProxyProtocol::new()).await;
    let mut c = TcpStream::connect(running.addr()).await.expect("connect");
    c.write_all(&v2_tcp4()).await.expect("header");
    assert_eq!(h2_get_peer(c).await, "192.0.2.1:40000", "h2c");
    running.shutdown().await;

    let tls = TlsConfig::self_signed(&["localhost"]).expect("certificate");
    let mut s = local().tls(tls).proxy_protocol(ProxyProtocol::new());
    s.get("/peer", peer);
    let running = support::start([s]).await;
    let mut c = TcpStream::connect(running.addr()).await.expect("connect");
    c.write_all(b"PROXY TCP4 192.0.2.9 198.51.100.2 50000 443\r\n")
        .await
        .expect("header");
    let tls = support::h2_client::tls_h2(c).await;
    assert_eq!(h2_get_peer(tls).await, "192.0.2.9:50000", "h2 over TLS");
    running.shutdown().await;
}

/// Answers which executor took the connection.
async fn whoami(State(name): State<&'static str>) -> &'static str {
    name
}

/// Opens `n` connections, one request each, and returns the answers.
async fn answers(addr: SocketAddr, path: &str, n: usize) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for _ in 0..n {
        let req = format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
        let answer = support::raw(addr, req.as_bytes()).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        if let Some((_, body)) = answer.split_once("\r\n\r\n") {
            seen.insert(body.to_string());
        }
    }
    seen
}

#[tokio::test]
async fn two_executors_share_a_port_with_reuse_port() {
    let mut a = local().reuse_port(true).state("a");
    a.get("/who", whoami);
    let first = support::start([a]).await;
    let addr = first.addr();
    // Without SO_REUSEPORT the port is taken.
    let taken = Executor::new()
        .add(Server::bind_addr(addr))
        .start()
        .await
        .err();
    assert!(matches!(taken, Some(duet::Error::Bind { .. })), "{taken:?}");
    let mut b = Server::bind_addr(addr).reuse_port(true).state("b");
    b.get("/who", whoami);
    let second = support::start([b]).await;
    assert_eq!(second.addr(), addr);
    // The kernel spreads new connections over both (by a hash of the
    // addresses: 64 connections all on one side would be a 1 in 2^63 draw).
    let seen = answers(addr, "/who", 64).await;
    assert_eq!(seen, BTreeSet::from(["a".to_string(), "b".to_string()]));
    // One leaves; the other keeps the port.
    first.shutdown().await;
    let seen = answers(addr, "/who", 8).await;
    assert_eq!(seen, BTreeSet::from(["b".to_string()]));
    second.shutdown().await;
}

/// Answers the name of the thread the handler runs on.
async fn thread() -> String {
    std::thread::current().name().unwrap_or("?").to_string()
}

#[tokio::test]
async fn per_core_runtimes_each_accept_and_serve() {
    let mut s = local();
    s.get("/thread", thread);
    let running = Executor::new()
        .add(s)
        .per_core_runtimes(2)
        .start()
        .await
        .expect("start");
    let addr = running.addr();
    let seen = answers(addr, "/thread", 64).await;
    assert_eq!(
        seen,
        BTreeSet::from(["duet-core-0".to_string(), "duet-core-1".to_string()])
    );
    // A connection kept open across shutdown is drained like any other.
    let mut kept = TcpStream::connect(addr).await.expect("connect");
    kept.write_all(b"GET /thread HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("write");
    assert!(read_until(&mut kept, "duet-core-", 1).await.contains("200"));
    assert_eq!(running.shutdown().await, 0);
    assert_eq!(read_to_close(&mut kept).await, "");
    assert!(TcpStream::connect(addr).await.is_err(), "still listening");
}

/// `GET path` on the admin address, as (status line, body).
async fn admin_get(addr: SocketAddr, path: &str) -> (String, String) {
    let req = format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    let answer = support::raw(addr, req.as_bytes()).await;
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    (head.to_string(), body.to_string())
}

#[tokio::test]
async fn admin_endpoints_answer_health_readiness_and_metrics() {
    let mut s = local();
    s.get("/", || async { "hi" });
    let admin = Admin::bind_addr(SocketAddr::from(([127, 0, 0, 1], 0)))
        .metrics(|| "# TYPE up gauge\nup 1\n".to_string());
    let running = Executor::new()
        .add(s)
        .admin(admin)
        .drain_delay(Duration::from_secs(3600))
        .start()
        .await
        .expect("start");
    let admin = running.admin_addr().expect("admin address");
    let (head, body) = admin_get(admin, "/healthz").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body, "ok\n");
    let (head, body) = admin_get(admin, "/readyz").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body, "ready\n");
    let (head, body) = admin_get(admin, "/metrics").await;
    assert!(
        head.contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    assert_eq!(body, "# TYPE up gauge\nup 1\n");
    let (head, _) = admin_get(admin, "/nothing").await;
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");

    // Shutdown begins: not ready at once, while the listener still takes
    // new connections for the drain delay (an hour here).
    assert!(running.is_ready());
    running.shutdown_handle().shutdown();
    assert!(!running.is_ready());
    let (head, body) = admin_get(admin, "/readyz").await;
    assert!(head.starts_with("HTTP/1.1 503"), "{head}");
    assert_eq!(body, "draining\n");
    let (head, _) = admin_get(admin, "/healthz").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let answer = support::raw(
        running.addr(),
        b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.ends_with("hi"), "{answer}");
}

#[tokio::test]
async fn a_request_in_flight_at_shutdown_is_answered_and_readiness_stays_off() {
    let (release, wait) = tokio::sync::watch::channel(false);
    let (entered_tx, mut entered) = tokio::sync::mpsc::channel::<()>(1);
    let mut s = local();
    s.get("/slow", move || {
        let mut wait = wait.clone();
        let entered = entered_tx.clone();
        async move {
            let _ = entered.send(()).await;
            let _ = wait.wait_for(|v| *v).await;
            "done"
        }
    });
    let running = Executor::new()
        .add(s)
        .admin(Admin::bind_addr(SocketAddr::from(([127, 0, 0, 1], 0))))
        .start()
        .await
        .expect("start");
    let admin = running.admin_addr().expect("admin");
    let addr = running.addr();
    let mut c = TcpStream::connect(addr).await.expect("connect");
    c.write_all(b"GET /slow HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("write");
    entered.recv().await.expect("the handler runs");
    let handle = running.shutdown_handle();
    let done = tokio::spawn(running.shutdown());
    handle.shutdown();
    // Draining: the admin listener still answers, not ready.
    let (head, _) = admin_get(admin, "/readyz").await;
    assert!(head.starts_with("HTTP/1.1 503"), "{head}");
    // The request in flight is answered, with the connection closing.
    let _ = release.send(true);
    let answer = read_to_close(&mut c).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("connection: close"), "{answer}");
    assert!(answer.ends_with("done"), "{answer}");
    assert_eq!(done.await.expect("shutdown"), 0, "nothing cut");
    assert!(TcpStream::connect(admin).await.is_err(), "admin still up");
}

#[tokio::test]
async fn dropping_running_stops_the_servers_without_grace() {
    let (entered_tx, mut entered) = tokio::sync::mpsc::channel::<()>(1);
    let mut s = local();
    s.get("/forever", move || {
        let entered = entered_tx.clone();
        async move {
            let _ = entered.send(()).await;
            std::future::pending::<()>().await;
            "never"
        }
    });
    let running = support::start([s]).await;
    let addr = running.addr();
    let mut c = TcpStream::connect(addr).await.expect("connect");
    c.write_all(b"GET /forever HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("write");
    entered.recv().await.expect("the handler runs");
    drop(running);
    // The connection is closed with its request unanswered: no grace.
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), c.read_to_end(&mut out))
        .await
        .expect("closed, not left open")
        .expect("read");
    assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
    // And the listener is gone.
    assert!(TcpStream::connect(addr).await.is_err(), "still accepting");
}

#[tokio::test]
async fn the_last_request_a_connection_may_carry_closes_it() {
    let two = limits(|l| l.max_requests_per_connection = 2);
    let mut s = local().limits(two);
    s.get("/", || async { "hi" });
    let running = support::start([s]).await;
    let mut c = TcpStream::connect(running.addr()).await.expect("connect");
    c.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("write");
    let first = read_until(&mut c, "hi", 1).await;
    assert!(!first.contains("connection: close"), "{first}");
    c.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("write");
    let second = read_to_close(&mut c).await;
    assert!(second.contains("connection: close"), "{second}");
    assert!(second.ends_with("hi"), "{second}");
    running.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_connection_past_its_age_takes_no_new_request() {
    let mut l = Limits::default();
    l.max_connection_age = Duration::from_secs(30);
    l.keep_alive_timeout = Duration::from_secs(3600);
    let mut s = local().limits(l);
    s.get("/", || async { "hi" });
    let running = support::start([s]).await;
    let mut c = TcpStream::connect(running.addr()).await.expect("connect");
    c.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("write");
    let first = read_until(&mut c, "hi", 1).await;
    assert!(!first.contains("connection: close"), "{first}");
    // Idle past its age: the connection ends without another answer, at
    // its age (not at the hour-long keep-alive timeout).
    let opened = tokio::time::Instant::now();
    tokio::time::advance(Duration::from_secs(31)).await;
    let mut rest = Vec::new();
    let _ = c.read_to_end(&mut rest).await;
    assert_eq!(String::from_utf8_lossy(&rest), "");
    assert!(
        opened.elapsed() < Duration::from_secs(60),
        "{:?}",
        opened.elapsed()
    );
    running.shutdown().await;
}
