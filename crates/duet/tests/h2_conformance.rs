//! HTTP/2 conformance: a raw-frame client against a real duet server on an
//! ephemeral port. One test per server-testable MUST of RFC 9113 §3–§8 and
//! RFC 7541 §2–§6, named after its section; each asserts the exact frame
//! and error code the RFC demands. Each test runs over cleartext (prior
//! knowledge) as `cleartext::<name>` and over TLS with ALPN `h2` as
//! `tls::<name>` (see `suite!`). A case whose frames follow a request's
//! HEADERS on the same stream also runs in both orders of arrival — before
//! the handler's early response is made (`before::<name>`) and after it
//! was read (`after::<name>`) — and must get the same RFC answer either
//! way. The map of sections to tests is in docs/h2-conformance.md.

mod support;

/// Generates one `#[tokio::test]` per transport for each case: the cases
/// listed under `both` become `cleartext::<name>` and `tls::<name>`, those
/// under `ordered` `cleartext::before::<name>`, `cleartext::after::<name>`
/// and the same under `tls::` (see [`Order`]), those under `paused` run on
/// a paused clock (virtual time, `tokio::time::pause`: the timer tests wait
/// for no wall clock), those under `cleartext_only` only as
/// `cleartext::<name>`. A case that is not listed is dead code, which the
/// lint gate refuses.
macro_rules! suite {
    (
        both: [$($both:ident),* $(,)?]
        ordered: [$($ordered:ident),* $(,)?]
        paused: [$($paused:ident),* $(,)?]
        cleartext_only: [$($clear:ident),* $(,)?]
    ) => {
        mod cleartext {
            use super::support::h2_client::Transport;
            suite!(@orders Cleartext, [$($ordered),*]);
            $(
                #[tokio::test]
                async fn $both() {
                    super::$both(Transport::Cleartext).await
                }
            )*
            $(
                #[tokio::test(start_paused = true)]
                async fn $paused() {
                    super::$paused(Transport::Cleartext).await
                }
            )*
            $(
                #[tokio::test]
                async fn $clear() {
                    super::$clear(Transport::Cleartext).await
                }
            )*
        }
        mod tls {
            use super::support::h2_client::Transport;
            suite!(@orders Tls, [$($ordered),*]);
            $(
                #[tokio::test]
                async fn $both() {
                    super::$both(Transport::Tls).await
                }
            )*
            $(
                #[tokio::test(start_paused = true)]
                async fn $paused() {
                    super::$paused(Transport::Tls).await
                }
            )*
        }
    };
    (@orders $t:ident, [$($ordered:ident),*]) => {
        mod before {
            use crate::support::h2_client::Transport;
            use crate::Order;
            $(
                #[tokio::test]
                async fn $ordered() {
                    crate::$ordered(Transport::$t, Order::Before).await
                }
            )*
        }
        mod after {
            use crate::support::h2_client::Transport;
            use crate::Order;
            $(
                #[tokio::test]
                async fn $ordered() {
                    crate::$ordered(Transport::$t, Order::After).await
                }
            )*
        }
    };
}

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use duet::{Limits, RequestContext, Response, Running, Server, State, TlsConfig};
use futures_util::StreamExt;
use support::h2_client::*;
use support::{limits, local, start, until_idle, Gate};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

async fn hello() -> &'static str {
    "hello"
}

async fn echo(body: Bytes) -> Bytes {
    body
}

async fn big() -> Vec<u8> {
    vec![b'x'; 100_000]
}

/// Answers once the test opens the server's gate (tests that only need the
/// stream to stay open never do).
async fn slow(State(gate): State<Gate>) -> &'static str {
    gate.pass().await;
    "slow"
}

/// Answers 300 ms later by the test's clock: for the tests on a paused
/// clock (the only ones that use it), where that is virtual time.
async fn later() -> &'static str {
    tokio::time::sleep(Duration::from_millis(300)).await;
    "later"
}

/// Live `/silent` producers; every change is announced to waiters.
#[derive(Clone)]
struct Live(Arc<watch::Sender<usize>>);

impl Default for Live {
    fn default() -> Self {
        Live(Arc::new(watch::Sender::new(0)))
    }
}

impl Live {
    fn count(&self) -> usize {
        *self.0.borrow()
    }
}

struct LiveGuard(Live);

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0 .0.send_modify(|n| *n -= 1);
    }
}

/// A streamed body that never produces a chunk and counts itself live
/// until dropped.
async fn silent(State(live): State<Live>) -> Response {
    live.0.send_modify(|n| *n += 1);
    let guard = LiveGuard(live);
    let body = futures_util::stream::unfold(guard, |g| async move {
        std::future::pending::<()>().await;
        Some((Ok::<_, std::io::Error>(Bytes::new()), g))
    });
    Response::stream(body)
}

/// Waits (up to 5 s) until no `/silent` producer is live.
async fn wait_dropped(live: &Live) -> bool {
    let mut changes = live.0.subscribe();
    let dropped = changes.wait_for(|n| *n == 0);
    let seen = tokio::time::timeout(Duration::from_secs(5), dropped).await;
    seen.is_ok_and(|r| r.is_ok())
}

/// A response head larger than one frame.
async fn big_head() -> Response {
    Response::text("big head").insert_header("x-big", "h".repeat(40_000))
}

/// Never answers and never reads its body.
async fn hold() -> &'static str {
    std::future::pending::<()>().await;
    ""
}

/// Echoes a request field and the request target as the handler saw them.
async fn show(req: RequestContext) -> String {
    format!(
        "cookie={} uri={} version={:?}",
        req.header("cookie").unwrap_or("-"),
        req.uri(),
        req.version()
    )
}

/// Bytes produced so far by `/endless`.
#[derive(Clone, Default)]
struct Produced(Arc<AtomicUsize>);

/// A streamed body that counts what it produced, without end for the
/// tests (it stops at 16 MB, so that a server that does not hold it back
/// fails the test instead of running forever).
async fn endless(State(p): State<Produced>) -> Response {
    let chunks = futures_util::stream::repeat_with(move || {
        p.0.fetch_add(1000, Ordering::SeqCst);
        Ok::<_, std::io::Error>(Bytes::from(vec![b'e'; 1000]))
    });
    Response::stream(chunks.take(16_000))
}

fn app(limits: Limits) -> Server {
    app_with(limits, Produced::default())
}

fn app_with(limits: Limits, produced: Produced) -> Server {
    app_full(limits, produced, Live::default())
}

fn app_full(limits: Limits, produced: Produced, live: Live) -> Server {
    let mut s = local()
        .limits(limits)
        .state(produced)
        .state(live)
        .state(Gate::default());
    s.get("/silent", silent);
    s.get("/endless", endless);
    s.get("/", hello);
    s.post("/", echo);
    s.post("/echo", echo);
    s.get("/big", big);
    s.get("/slow", slow);
    s.get("/later", later);
    s.get("/show", show);
    s.post("/hold", hold);
    s.post("/early", hello);
    s.get("/big-head", big_head);
    s
}

/// Starts `app` on `t`: over TLS with a freshly generated self-signed
/// certificate for `localhost` (ALPN `h2` and `http/1.1` offered).
async fn serve(t: Transport, app: Server) -> (Running, Peer) {
    let app = match t {
        Transport::Cleartext => app,
        Transport::Tls => app.tls(TlsConfig::self_signed(&["localhost"]).expect("certificate")),
    };
    let r = start([app]).await;
    let peer = Peer {
        addr: r.addr(),
        transport: t,
    };
    (r, peer)
}

async fn server_with(t: Transport, limits: Limits) -> (Running, Peer) {
    serve(t, app(limits)).await
}

async fn server(t: Transport) -> (Running, Peer) {
    server_with(t, Limits::default()).await
}

/// A connection after the handshake, with its server.
async fn conn(t: Transport) -> (Running, H2Conn) {
    let (s, peer) = server(t).await;
    (s, H2Conn::handshake(peer).await)
}

fn post_block() -> Vec<u8> {
    request_block("POST", "/echo", &[])
}

/// Opens stream `id` with a POST whose body is not sent yet (the stream
/// stays open).
async fn open_post(c: &mut H2Conn, id: u32) {
    c.send(&headers(id, END_HEADERS, &post_block())).await;
}

/// Reads until a GOAWAY; returns its last stream id and error code, and the
/// (virtual) time it took to come.
async fn next_goaway(c: &mut H2Conn) -> (u32, Option<u32>, Duration) {
    let start = tokio::time::Instant::now();
    let g = c.wait_for(GOAWAY).await;
    let last = u32::from_be_bytes([g.payload[0], g.payload[1], g.payload[2], g.payload[3]]);
    (last, g.error_code(), start.elapsed())
}

/// Asserts that a timer fired `after` (virtual time, within a few ms of
/// scheduling): neither early nor late.
fn assert_fired_after(took: Duration, after: Duration) {
    let slack = Duration::from_millis(20);
    assert!(
        took + slack >= after && took <= after + slack,
        "fired after {took:?}, expected {after:?}"
    );
}

/// A GET on `id` whose response was fully read: the stream is closed.
async fn closed_stream(c: &mut H2Conn, id: u32) {
    let r = c.get(id, "/").await;
    assert_eq!(r.status, 200);
}

/// When the frames that follow a request's HEADERS on its stream arrive,
/// for a handler that answers at once without reading the body (`GET /`,
/// `POST /early`): before its response is made (in one write with the
/// HEADERS, all read before the handler runs), or after that complete
/// response was read. An external tester cannot choose; the answer must
/// not depend on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Order {
    Before,
    After,
}

/// Sends HEADERS with `block` on `id` (END_STREAM when `end_stream`), then
/// `rest` on the same stream, in `order`. In `After` order the response
/// must be complete, with no RST_STREAM, before `rest` is sent.
async fn then_send(
    c: &mut H2Conn,
    order: Order,
    id: u32,
    block: &[u8],
    end_stream: bool,
    rest: &[Vec<u8>],
) {
    let flags = END_HEADERS | if end_stream { END_STREAM } else { 0 };
    let mut b = headers(id, flags, block);
    if order == Order::After {
        c.send(&b).await;
        let r = c.response(id).await;
        assert_eq!((r.status, &r.body[..]), (200, &b"hello"[..]));
        b.clear();
    }
    for f in rest {
        b.extend_from_slice(f);
    }
    c.send(&b).await;
}

/// A GET for `/` (answered at once).
fn get_root() -> Vec<u8> {
    get_block("/")
}

/// A POST for `/early` (answered at once, body unread) with `extra`
/// fields.
fn post_early(extra: &[(&str, &str)]) -> Vec<u8> {
    request_block("POST", "/early", extra)
}

// ---------------------------------------------------------------- §3

async fn rfc9113_3_4_server_preface_is_settings(t: Transport) {
    let (_s, peer) = server(t).await;
    let mut c = H2Conn::connect(peer).await;
    let mut b = PREFACE.to_vec();
    b.extend(settings(&[]));
    c.send(&b).await;
    let f = c.next_frame().await;
    assert_eq!((f.kind, f.flags, f.stream), (SETTINGS, 0, 0));
}

/// Sends an h2c upgrade request (cleartext only) and reads the `101`
/// head; returns the connection, now speaking HTTP/2.
async fn upgrade(addr: SocketAddr, path: &str) -> H2Conn {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    // HTTP2-Settings: SETTINGS_MAX_CONCURRENT_STREAMS = 100, base64url.
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade, HTTP2-Settings\r\n\
         Upgrade: h2c\r\nHTTP2-Settings: AAMAAABk\r\n\r\n"
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        assert_eq!(tcp.read(&mut b).await.unwrap(), 1, "101 head");
        head.push(b[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{:?}",
        String::from_utf8_lossy(&head)
    );
    H2Conn::over(tcp)
}

async fn rfc9113_3_4_invalid_preface(t: Transport) {
    // On the cleartext port, bytes that diverge from the preface are
    // HTTP/1.1; after an upgrade the preface is mandatory. After ALPN `h2`
    // it is mandatory from the first byte.
    let (_s, peer) = server(t).await;
    let mut c = match t {
        Transport::Cleartext => upgrade(peer.addr, "/").await,
        Transport::Tls => H2Conn::connect(peer).await,
    };
    c.send(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\r").await;
    c.expect_connection_error(PROTOCOL_ERROR).await;
}

async fn rfc9113_3_4_preface_must_end_with_settings(t: Transport) {
    let (_s, peer) = server(t).await;
    let mut c = H2Conn::connect(peer).await;
    let mut b = PREFACE.to_vec();
    b.extend(ping([0; 8]));
    c.send(&b).await;
    c.expect_connection_error(PROTOCOL_ERROR).await;
}

/// Cleartext only: `Upgrade: h2c` is not used over TLS (RFC 9113 §3.2).
async fn rfc9113_3_2_h2c_upgrade_answers_on_stream_1(t: Transport) {
    let (_s, peer) = server(t).await;
    let mut c = upgrade(peer.addr, "/").await;
    let mut b = PREFACE.to_vec();
    b.extend(settings(&[]));
    c.send(&b).await;
    let f = c.next_frame().await;
    assert_eq!(f.kind, SETTINGS, "server preface first");
    let r = c.response(1).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"hello");
    // The connection goes on as HTTP/2.
    assert_eq!(c.get(3, "/").await.body, b"hello");
}

// ---------------------------------------------------------------- §4

async fn rfc9113_4_1_unknown_frame_type_ignored(t: Transport) {
    let (_s, mut c) = conn(t).await;
    c.send(&frame(0x16, 0, 0, b"extension")).await;
    c.expect_alive().await;
}

async fn rfc9113_4_1_unknown_flags_ignored(t: Transport) {
    let (_s, mut c) = conn(t).await;
    c.send(&frame(PING, 0x16, 0, b"flagsabc")).await;
    let f = c.wait_for(PING).await;
    assert_eq!(f.flags, ACK, "only ACK set in the answer");
    assert_eq!(&f.payload[..], b"flagsabc");
}

async fn rfc9113_4_1_reserved_bit_ignored(t: Transport) {
    let (_s, mut c) = conn(t).await;
    c.send(&headers(
        0x8000_0001,
        END_HEADERS | END_STREAM,
        &get_block("/"),
    ))
    .await;
    let r = c.response(1).await;
    assert_eq!(r.status, 200);
}

async fn rfc9113_4_2_max_frame_size_data_accepted(t: Transport) {
    let (_s, mut c) = conn(t).await;
    let body = vec![b'a'; 16_384];
    let block = request_block("POST", "/echo", &[("content-length", "16384")]);
    c.send(&headers(1, END_HEADERS, &block)).await;
    c.send(&data(1, true, &body)).await;
    let r = c.response(1).await;
    assert_eq!(r.body.len(), 16_384);
}

async fn rfc9113_4_2_data_frame_too_large(t: Transport) {
    let (_s, mut c) = conn(t).await;
    open_post(&mut c, 1).await;
    let max = Limits::default().h2_max_frame_size as usize;
    c.send(&data(1, true, &vec![0; max + 1])).await;
    c.expect_connection_error(FRAME_SIZE_ERROR).await;
}

async fn rfc9113_4_2_headers_frame_too_large(t: Transport) {
    let (_s, mut c) = conn(t).await;
    let v = "v".repeat(Limits::default().h2_max_frame_size as usize + 16);
    let block = request_block("GET", "/", &[("x-big", &v)]);
    c.send(&headers(1, END_HEADERS | END_STREAM, &block)).await;
    c.expect_connection_error(FRAME_SIZE_ERROR).await;
}

async fn rfc9113_4_3_invalid_header_block(t: Transport) {
    let (_s, mut c) = conn(t).await;
    // Index 0 is never valid (RFC 7541 §6.1).
    c.send(&headers(1, END_HEADERS | END_STREAM, &[0x80])).await;
    c.expect_connection_error(COMPRESSION_ERROR).await;
}

async fn rfc9113_4_3_priority_inside_header_block(t: Transport) {
    let (_s, mut c) = conn(t).await;
    let b = get_block("/");
    c.send(&headers(1, END_STREAM, &b[..4])).await;
    c.send(&priority(1, 0, 10)).await;
    c.send(&continuation(1, END_HEADERS, &b[4..])).await;
    c.expect_connection_error(PROTOCOL_ERROR).await;
}

async fn rfc9113_4_3_headers_of_other_stream_inside_header_block(t: Transport) {
    let (_s, mut c) = conn(t).await;
    let b = get_block("/");
    c.send(&headers(1, END_STREAM, &b[..4])).await;
    c.send(&headers(3, END_HEADERS | END_STREAM, &b)).await;
    c.expect_connection_error(PROTOCOL_ERROR).await;
}

async fn rfc9113_4_3_large_response_head_split_into_continuation(t: Transport) {
    let (_s, mut c) = conn(t).await;
    c.send(&headers(
        1,
        END_HEADERS | END_STREAM,
        &get_block("/big-head"),
    ))
    .await;
    // HEADERS without END_HEADERS, then only CONTINUATION frames of the
    // same stream until END_HEADERS (§4.3: a contiguous sequence).
    let h = c.wait_for(HEADERS).await;
    assert!(!h.has(END_HEADERS));
    assert!(h.payload.len() <= 16_384);
    loop {
        let f = c.next_frame().await;
        assert_eq!((f.kind, f.stream), (CONTINUATION, 1));
        assert!(f.payload.len() <= 16_384);
        if f.has(END_HEADERS) {
            break;
        }
    }
    let f = c.wait_for(DATA).await;
    assert_eq!(&f.payload[..], b"big head");
}

// ---------------------------------------------------------------- §5.1

async fn rfc9113_5_1_idle_data(t: Transport) {
    let (_s, mut c) = conn(t).await;
    c.send(&data(1, true, b"test")).await;
    c.expect_connection_error(PROTOCOL_ERROR).await;
}

async fn rfc9113_5_1_idle_rst_stream(t: Transport) {
    let (_s, mut c) = conn(t).await;
    c.send(&rst_stream(1, CANCEL)).await;
    c.expect_connection_error(PROTOCOL_ERROR).await;
}

async fn rfc9113_5_1_idle_window_update(t: Transport) {
    let (_s, mut c) = conn(t).await;
    c.send(&window_update(1, 100)).await;
    c.expect_connection_error(PROTOCOL_ERROR).await;
}

async fn rfc9113_5_1_idle_continuation(t: Transport) {
    let (_s, mut c) = conn(t).await;
    c.send(&continuation(1, END_HEADERS, &get_block("/"))).await;
    c.expect_connection_error(PROTOCOL_ERROR).await;
}

/// RFC 9113 §5.1: after the request's END_STREAM, a DATA or HEADERS frame
/// is a stream error STREAM_CLOSED while our response is pending
/// (half-closed (remote)) and a connection error STREAM_CLOSED once the
/// response ended the stream too (closed): STREAM_CLOSED either way, as
/// the state at arrival demands.
async fn expect_stream_closed(c: &mut H2Conn, id: u32, order: Order) {
    match order {
        Order::Before => c.expect_stream_error(id, STREAM_CLOSED).await,
        Order::After => c.expect_connection_error(STREAM_CLOSED).await,
    }
}

async fn rfc9113_5_1_half_closed_remote_data(t: Transport, order: Order) {
    let (_s, mut c) = conn(t).await;
    then_send(
        &mut c,
        order,
        1,
        &get_root(),
        true,
        &[data(1, true, b"test")],
    )
    .await;
    expect_stream_closed(&mut c, 1, order).await;
}

async fn rfc9113_5_1_half_closed_remote_headers(t: Transport, order: Order) {
    let (_s, mut c) = conn(t).await;
    let again = headers(1, END_HEADERS | END_STREAM, &get_root());
    then_send(&mut c, order, 1, &get_root(), true, &[again]).await;
    expect_stream_closed(&mut c, 1, order).await;
}

async fn rfc9113_5_1_half_closed_remote_continuation(t: Transport) {
    let (_s, mut c) = conn(t).await;
    c.send(&headers(1, END_HEADERS | END_STREAM, &get_block("/slow")))
        .await;
    c.send(&continuation(1, END_HEADERS, &get_block("/slow")))
        .await;
    // No header block is open: CONTINUATION is out of sequence (§6.10).
    c.expect_connection_error(PROTOCOL_ERROR).await;
}

async fn rfc9113_5_1_closed_data_after_rst_stream(t: Transport, order: Order) {
    let (_s, mut c) = conn(t).await;
    let rest = [rst_stream(1, CANCEL), data(1, true, b"test")];
    then_send(&mut c, order, 1, &get_root(), false, &rest).await;
    c.expect_stream_error(1, STREAM_CLOSED).await;
}

async fn rfc9113_5_1_closed_headers_after_rst_stream(t: Transport, order: Order) {
    let (_s, mut c) = conn(t).await;
    let rest = [
        rst_stream(1, CANCEL),
        headers(1, END_HEADERS | END_STREAM, &get_root()),
    ];
    then_send(&mut c, order, 1, &get_root(), false, &rest).await;
    c.expect_stream_error(1, STREAM_CLOSED).await;
}

async fn rfc9113_5_1_closed_continuation_after_rst_stream(t: Transport, order: Order) {
    let (_s, mut c) = conn(t).await;
    let rest = [
        rst_stream(1, CANCEL),
        continuation(1, END_HEADERS, &block(&[("x-test", "ok")])),
    ];
    then_send(&mut c, order, 1, &get_root(), false, &rest).await;
    // No field block is open: out of sequence (§6.10).
    c.expect_connection_error(PROTOCOL_ERROR).await;
}

async fn rfc9113_5_1_closed_data(t: Transport) {
    let (_s, mut c) = conn(t).await;
    closed_stream(&mut c, 1).await;
    c.send(&data(1, true, b"test")).await;
    c.expect_connection_error(STREAM_CLOSED).await;
}

async fn rfc9113_5_1_closed_headers(t: Transport) {
    let (_s, mut c) = conn(t).await;
    closed_stream(&mut c, 1).await;
    c.send(&headers(1, END_HEADERS | END_STREAM, &get_block("/")))
        .await;
    c.expect_connection_error(STREAM_CLOSED).await;
}

async fn rfc9113_5_1_closed_window_update_and_priority_ignored(t: Transport) {
    let (_s, mut c) = conn(t).await;
    closed_stream(&mut c, 1).await;
    c.send(&window_update(1, 10)).await;
    c.send(&priority(1, 0, 10)).await;
    c.expect_alive().await;
}

async fn rfc9113_5_1_1_even_stream_id(t: Transport) {
    let (_s, mut c) = conn(t).await;
    c.send(&headers(2, END_HEADERS | END_STREAM, &get_block("/")))
        .await;
    c.expect_connection_error(PROTOCOL_ERROR).await;
}

async fn rfc9113_5_1_1_decreasing_stream_id(t: Transport) {
    let (_s, mut c) = conn(t).await;
    closed_stream(&mut c, 5).await;
    c.send(&headers(3, END_HEADERS | END_STREAM, &get_block("/")))
        .await;
    c.expect_connection_error(PROTOCOL_ERROR).await;
}

async fn rfc9113_5_1_2_concurrent_streams_refused(t: Transport) {
    let (_s, peer) = server_with(t, limits(|l| l.h2_max_concurrent_streams = 2)).await;
    let mut c = H2Conn::handshake(peer).await;
    assert!(c.server_settings.contains(&(MAX_CONCURRENT_STREAMS, 2)));
    open_post(&mut c, 1).await;
    open_post(&mut c, 3).await;
    c.send(&headers(5, END_HEADERS | END_STREAM, &get_block("/")))
        .await;
    c.expect_stream_error(5, REFUSED_STREAM).await;
}

async fn rfc9113_5_1_2_streams_held_open_by_flow_control_count(t: Transport) {
    // As h2spec does it: with a zero window no response can finish, so
    // every stream stays open and the one above the limit is refused.
    let (_s, peer) = server_with(t, limits(|l| l.h2_max_concurrent_streams = 3)).await;
    let mut c = H2Conn::handshake_with(peer, &[(INITIAL_WINDOW_SIZE, 0)]).await;
    for id in [1, 3, 5, 7] {
        c.send(&headers(id, END_HEADERS | END_STREAM, &get_block("/")))
            .await;
    }
    c.expect_stream_error(7, REFUSED_STREAM).await;
}

async fn rfc9113_8_1_complete_response_before_request_ends(t: Transport) {
    let (_s, mut c) = conn(t).await;
    // The handler answers without reading the body still to come: the
    // response is complete, with no RST_STREAM...
    then_send(&mut c, Order::After, 1, &post_early(&[]), false, &[]).await;
    // ...and the rest of the request is taken and dropped, its credit
    // returned (64 KiB here: more than the default connection window, so
    // it would stall if the credit were kept).
    for _ in 0..4 {
        c.send(&data(1, false, &[b'x'; 16_384])).await;
    }
    c.send(&data(1, true, b"end")).await;
    // The stream is closed now: its END_STREAM was received.
    c.send(&data(1, true, b"late")).await;
    c.expect_connection_error(STREAM_CLOSED).await;
}

async fn rfc9113_8_1_large_rest_of_request_reset_with_no_error(t: Transport) {
    let (_s, mut c) = conn(t).await;
    let big = (Limits::default().h2_discard_body_bytes + 1).to_string();
    c.send(&headers(
        1,
        END_HEADERS,
        &post_early(&[("content-length", &big)]),
    ))
    .await;
    // §8.1: a complete response, then RST_STREAM(NO_ERROR): too much to
    // read and drop.
    let mut ended = false;
    loop {
        let f = c.next_frame().await;
        if f.stream != 1 {
            continue;
        }
        if f.kind == DATA && f.has(END_STREAM) {
            ended = true;
        }
        if f.kind == RST_STREAM {
            assert!(ended, "RST_STREAM only after the complete response");
            assert_eq!(f.error_code(), Some(NO_ERROR));
            break;
        }
    }
    // Body bytes already in flight are ignored.
    c.send(&data(1, false, b"late")).await;
    c.expect_alive().await;
}

/// Paused clock.
async fn rfc9113_8_1_slow_rest_of_request_reset_after_discard_timeout(t: Transport) {
    let limit = Duration::from_secs(3);
    let (_s, peer) = server_with(t, limits(|l| l.h2_discard_body_timeout = limit)).await;
    let mut c = H2Conn::handshake(peer).await;
    then_send(&mut c, Order::After, 1, &post_early(&[]), false, &[]).await;
    let start = tokio::time::Instant::now();
    let f = c.wait_for(RST_STREAM).await;
    assert_eq!((f.stream, f.error_code()), (1, Some(NO_ERROR)));
    assert_fired_after(start.elapsed(), limit);
    c.expect_alive().await;
}

async fn rfc9113_5_3_1_headers_self_dependency(t: Transport) {
    let (_s, mut c) = conn(t).await;
    let mut p = vec![0, 0, 0, 1, 10];
    p.extend(get_block("/"));
    c.send(&headers(1, END_HEADERS | END_STREAM | PRIORITY_FLAG, &p))
        .await;
    c.expect_stream_error(1, PROTOCOL_ERROR).await;
}

async fn rfc9113_5_3_1_priority_self_dependency(t: Transport, order: Order) {
    let (_s, mut c) = conn(t).await;
    then_send(&mut c, order, 1, &get_root(), false, &[priority(1, 1, 10)]).await;
    c.expect_stream_error(1, PROTOCOL_ERROR).await;
}

async fn rfc9113_5_4_1_goaway_names_last_stream(t: Transport) {
    let (_s, mut c) = conn(t).await;
    closed_stream(&mut c, 1).await;
    closed_stream(&mut c, 3).await;
    c.send(&frame(PING, 0, 1, &[0; 8])).await;
    let g = c.wait_for(GOAWAY).await;
    assert_eq!(&g.payload[..4], &3u32.to_be_bytes());
    assert_eq!(g.error_code(), Some(PROTOCOL_ERROR));
    c.expect_closed().await;
}

async fn rfc9113_5_5_unknown_frame_inside_header_block(t: Transport) {
    let (_s, mut c) = conn(t).await;
    let b = get_block("/");
    c.send(&headers(1, END_STREAM, &b[..4])).await;
    c.send(&frame(0x16, 0, 1, b"ext")).await;
    c.send(&continuation(1, END_HEADERS, &b[4..])).await;
    c.expect_connection_error(PROTOCOL_ERROR).await;
}

async fn rapid_reset_enhance_your_calm(t: Transport) {
    let (_s, peer) = server_with(t, limits(|l| l.h2_max_resets_per_sec = 10)).await;
    let mut c = H2Conn::handshake(peer).await;
    let mut b = Vec::new();
    for i in 0..40u32 {
        let id = 1 + 2 * i;
        b.extend(headers(id, END_HEADERS | END_STREAM, &get_block("/slow")));
        b.extend(rst_stream(id, CANCEL));
    }
    c.send(&b).await;
    c.expect_connection_error(ENHANCE_YOUR_CALM).await;
}

// ---------------------------------------------------------------- §6.1 DATA

async fn rfc9113_6_1_data_stream_zero(t: Transport) {
    let (_s, mut c) = conn(t).await;
    c.send(&data(0, true, b"test")).await;
    c.expect_connection_error(PROTOCOL_ERROR).await;
}

async fn rfc9113_6_1_data_invalid_pad_length(t: Transport) {
    let (_s, mut c) = conn(t).await;
    open_post(&mut c, 1).await;
    c.send(&frame(
        DATA,
        PADDED | END_STREAM,
        1,
        &[6, b'a', b'b', 0, 0, 0],
    ))
    .await;
    c.expect_connection_error(PROTOCOL_ERROR).await;
}

async fn rfc9113_6_1_padded_data_accepted(t: Transport) {
    let (_s, mut c) = conn(t).await;
    open_post(&mut c, 1).await;
    c.send(&frame(
        DATA,
        PADDED | END_STREAM,
        1,
        &[3, b'h', b'i', 0, 0, 0],
    ))
    .await;
    assert_eq!(c.response(1).await.body, b"hi");
}

// ---------------------------------------------------------------- §6.2 HEADERS

async fn rfc9113_6_2_headers_stream_zero(t: Transport) {
    let (_s, mut c) = conn(t).await;
    c.send(&headers(0, END_HEADERS | END_STREAM, &get_block("/")))
        .await;
    c.expect_connection_error(PROTOCOL_ERROR).await;
}

async fn rfc9113_6_2_headers_invalid_pad_length(t: Transport) {
    let (_s, mut c) = conn(t).await;
    let mut p = vec![200];
    p.extend(get_block("/"));
    c.send(&headers(1, END_HEADERS | END_STREAM | PADDED, &p))
        .await;
    c.expect_connection_error(PROTOCOL_ERROR).await;
}

async fn rfc9113_6_2_padded_headers_with_priority_accepted(t: Transport) {
    let (_s, mut c) = conn(t).await;
    let mut p = vec![4, 0, 0, 0, 0, 15];
    p.extend(get_block("/"));
    p.extend([0; 4]);
    c.send(&headers(
        1,
        END_HEADERS | END_STREAM | PADDED | PRIORITY_FLAG,
        &p,
    ))
    .await;
    assert_eq!(c.response(1).await.status, 200);
}

// ---------------------------------------------------------------- §6.3 PRIORITY

async fn rfc9113_6_3_priority_stream_zero(t: Transport) {
    let (_s, mut c) = conn(t).await;
    c.send(&priority(0, 1, 10)).await;
    c.expect_connection_error(PROTOCOL_ERROR).await;
}

async fn rfc9113_6_3_priority_wrong_length(t: Transport, order: Order) {
    let (_s, mut c) = conn(t).await;
    let rest = [frame(PRIORITY, 0, 1, &[0, 0, 0, 0])];
    then_send(&mut c, order, 1, &get_root(), false, &rest).await;
    c.expect_stream_error(1, FRAME_SIZE_ERROR).await;
}

async fn rfc9113_6_3_priority_on_idle_and_closed_accepted(t: Transport) {
    let (_s, mut c) = conn(t).await;
    c.send(&priority(9, 0, 10)).await;
    closed_stream(&mut c, 1).await;
    c.send(&priority(1, 0, 10)).await;
    c.expect_alive().await;
    closed_stream(&mut c, 9).await;
}

// ---------------------------------------------------------------- §6.4 RST_STREAM

async fn rfc9113_6_4_rst_stream_stream_zero(t: Transport) {
    let (_s, mut c) = conn(t).await;
    c.send(&rst_stream(0, CANCEL)).await;
    c.expect_connection_error(PROTOCOL_ERROR).await;
}

async fn rfc9113_6_4_rst_stream_wrong_length(t: Transport) {
    let (_s, mut c) = conn(t).await;
    open_post(&mut c, 1).await;
    c.send(&frame(RST_STREAM, 0, 1, &[0, 0, 0, 8, 0])).await;
    c.expect_connection_error(FRAME_SIZE_ERROR).await;
}

async fn rfc9113_6_4_rst_stream_drops_a_silent_producer(t: Transport) {
    let live = Live::default();
    let (_r, peer) = serve(
        t,
        app_full(Limits::default(), Produced::default(), live.clone()),
    )
    .await;
    let mut c = H2Conn::handshake(peer).await;
    c.send(&headers(1, END_HEADERS | END_STREAM, &get_block("/silent")))
        .await;
    c.wait_for(HEADERS).await;
    assert_eq!(live.count(), 1);
    c.send(&rst_stream(1, CANCEL)).await;
    assert!(
        wait_dropped(&live).await,
        "producer dropped after RST_STREAM"
    );
    c.expect_alive().await;
}

async fn closed_connection_drops_a_silent_producer(t: Transport) {
    let live = Live::default();
    let (_r, peer) = serve(
        t,
        app_full(Limits::default(), Produced::default(), live.clone()),
    )
    .await;
    let mut c = H2Conn::handshake(peer).await;
    c.send(&headers(1, END_HEADERS | END_STREAM, &get_block("/silent")))
        .await;
    c.wait_for(HEADERS).await;
    drop(c);
    assert!(wait_dropped(&live).await, "producer dropped after close");
}

async fn rfc9113_6_4_rst_stream_cancels_the_stream_only(t: Transport) {
    let (_s, mut c) = conn(t).await;
    open_post(&mut c, 1).await;
    c.send(&rst_stream(1, CANCEL)).await;
    closed_stream(&mut c, 3).await;
}

// ---------------------------------------------------------------- §6.5 SETTINGS

async fn rfc9113_6_5_settings_acknowledged(t: Transport) {
    let (_s, mut c) = conn(t).await;
    c.send(&settings(&[(MAX_CONCURRENT_STREAMS, 50)])).await;
    let f = c.wait_for(SETTINGS).await;
    assert_eq!((f.flags, f.payload.len()), (ACK, 0));
}

async fn rfc9113_6_5_settings_ack_with_payload(t: Transport) {
    let (_s, mut c) = conn(t).await;
    c.send(&frame(SETTINGS, ACK, 0, &[0, 3, 0, 0, 0, 1])).await;
    c.expect_connection_error(FRAME_SIZE_ERROR).await;
}

async fn rfc9113_6_5_settings_nonzero_stream(t: Transport) {
    let (_s, mut c) = conn(t).await;
    c.send(&frame(SETTINGS, 0, 1, &[0, 3, 0, 0, 0, 1])).await;
    c.expect_connection_error(PROTOCOL_ERROR).await;
}

async fn rfc9113_6_5_settings_length_not_multiple_of_6(t: Transport) {
    let (_s, mut c) = conn(t).await;
    c.send(&frame(SETTINGS, 0, 0, &[0, 3, 0, 0, 0])).await;
    c.expect_connection_error(FRAME_SIZE_ERROR).await;
}

/// Paused clock.
async fn rfc9113_6_5_3_settings_timeout(t: Transport) {
    let limit = Duration::from_secs(3);
    let (_s, peer) = server_with(t, limits(|l| l.h2_settings_timeout = limit)).await;
    let mut c = H2Conn::connect(peer).await;
    let mut b = PREFACE.to_vec();
    b.extend(settings(&[]));
    c.send(&b).await;
    // Our SETTINGS is never acknowledged.
    let (_, code, took) = next_goaway(&mut c).await;
    assert_eq!(code, Some(SETTINGS_TIMEOUT));
    assert_fired_after(took, limit);
    c.expect_closed().await;
}

async fn rfc9113_6_5_2_enable_push_invalid(t: Transport) {
    let (_s, mut c) = conn(t).await;
    c.send(&settings(&[(ENABLE_PUSH, 2)])).await;
    c.expect_connection_error(PROTOCOL_ERROR).await;
}

async fn rfc9113_6_5_2_initial_window_size_too_large(t: Transport) {
    let (_s, mut c) = conn(t).await;
    c.send(&settings(&[(INITIAL_WINDOW_SIZE, 1 << 31)])).await;
    c.expect_connection_error(FLOW_CONTROL_ERROR).await;
}

async fn rfc9113_6_5_2_max_frame_size_too_small(t: Transport) {
    let (_s, mut c) = conn(t).await;
    c.send(&settings(&[(MAX_FRAME_SIZE, 16_383)])).await;
    c.expect_connection_error(PROTOCOL_ERROR).await;
}

async fn rfc9113_6_5_2_max_frame_size_too_large(t: Transport) {
    let (_s, mut c) = conn(t).await;
    c.send(&settings(&[(MAX_FRAME_SIZE, 1 << 24)])).await;
    c.expect_connection_error(PROTOCOL_ERROR).await;
}

async fn rfc9113_6_5_2_unknown_setting_ignored(t: Transport) {
    let (_s, mut c) = conn(t).await;
    c.send(&settings(&[(0xff, 1)])).await;
    let f = c.wait_for(SETTINGS).await;
    assert_eq!(f.flags, ACK);
    c.expect_alive().await;
}

async fn rfc9113_6_5_3_settings_values_applied_in_order(t: Transport) {
    let (_s, mut c) = conn(t).await;
    c.send(&settings(&[
        (INITIAL_WINDOW_SIZE, 100),
        (INITIAL_WINDOW_SIZE, 1),
    ]))
    .await;
    c.wait_for(SETTINGS).await;
    c.send(&headers(1, END_HEADERS | END_STREAM, &get_block("/")))
        .await;
    let f = c.wait_for(DATA).await;
    assert_eq!(f.payload.len(), 1);
}

async fn rfc9113_6_5_2_peer_max_frame_size_respected(t: Transport) {
    let (_s, mut c) = conn(t).await;
    c.send(&headers(1, END_HEADERS | END_STREAM, &get_block("/big")))
        .await;
    let f = c.wait_for(DATA).await;
    assert!(f.payload.len() <= 16_384, "{}", f.payload.len());
}

// ---------------------------------------------------------------- §6.6, §8.4

async fn rfc9113_8_4_push_promise_from_client(t: Transport) {
    let (_s, mut c) = conn(t).await;
    open_post(&mut c, 1).await;
    let mut p = 2u32.to_be_bytes().to_vec();
    p.extend(get_block("/"));
    c.send(&frame(PUSH_PROMISE, END_HEADERS, 1, &p)).await;
    c.expect_connection_error(PROTOCOL_ERROR).await;
}

// ---------------------------------------------------------------- §6.7 PING

async fn rfc9113_6_7_ping_answered(t: Transport) {
    let (_s, mut c) = conn(t).await;
    c.send(&ping(*b"h2-duet!")).await;
    let f = c.wait_for(PING).await;
    assert_eq!((f.flags, f.stream), (ACK, 0));
    assert_eq!(&f.payload[..], b"h2-duet!");
}

async fn rfc9113_6_7_ping_ack_not_answered(t: Transport) {
    let (_s, mut c) = conn(t).await;
    c.send(&frame(PING, ACK, 0, b"unasked!")).await;
    c.send(&ping(*b"second!!")).await;
    let f = c.wait_for(PING).await;
    assert_eq!(&f.payload[..], b"second!!");
}

async fn rfc9113_6_7_ping_nonzero_stream(t: Transport) {
    let (_s, mut c) = conn(t).await;
    c.send(&frame(PING, 0, 1, &[0; 8])).await;
    c.expect_connection_error(PROTOCOL_ERROR).await;
}

async fn rfc9113_6_7_ping_wrong_length(t: Transport) {
    let (_s, mut c) = conn(t).await;
    c.send(&frame(PING, 0, 0, &[0; 6])).await;
    c.expect_connection_error(FRAME_SIZE_ERROR).await;
}

// ---------------------------------------------------------------- §6.8 GOAWAY

async fn rfc9113_6_8_goaway_nonzero_stream(t: Transport) {
    let (_s, mut c) = conn(t).await;
    c.send(&frame(GOAWAY, 0, 1, &[0, 0, 0, 0, 0, 0, 0, 0]))
        .await;
    c.expect_connection_error(PROTOCOL_ERROR).await;
}

async fn rfc9113_6_8_graceful_shutdown_finishes_in_flight_streams(t: Transport) {
    let gate = Gate::default();
    let (s, peer) = serve(t, app(Limits::default()).state(gate.clone())).await;
    let mut c = H2Conn::handshake(peer).await;
    c.send(&headers(1, END_HEADERS | END_STREAM, &get_block("/slow")))
        .await;
    // The request is in its handler before shutdown begins.
    gate.arrivals(1).await;
    let stopping = tokio::spawn(s.shutdown());
    // Phase one: GOAWAY with the largest stream id, then a PING.
    let g = c.wait_for(GOAWAY).await;
    assert_eq!(g.error_code(), Some(NO_ERROR));
    // Shutdown has begun: stream 1 may finish now.
    gate.open();
    assert_eq!(&g.payload[..4], &0x7fff_ffffu32.to_be_bytes());
    let p = c.wait_for(PING).await;
    assert!(!p.has(ACK));
    // A stream opened before the PING answer is still served.
    c.send(&headers(3, END_HEADERS | END_STREAM, &get_block("/")))
        .await;
    c.send(&frame(PING, ACK, 0, &p.payload)).await;
    // Phase two: GOAWAY naming stream 3; both streams answered; close.
    let mut final_last = None;
    let mut ended = Vec::new();
    loop {
        match c.read().await {
            Outcome::Frame(f) if f.kind == GOAWAY => {
                assert_eq!(f.error_code(), Some(NO_ERROR));
                final_last = Some(u32::from_be_bytes([
                    f.payload[0],
                    f.payload[1],
                    f.payload[2],
                    f.payload[3],
                ]));
            }
            Outcome::Frame(f) if f.has(END_STREAM) && (f.kind == DATA || f.kind == HEADERS) => {
                ended.push(f.stream)
            }
            Outcome::Frame(f) => assert_ne!(f.kind, RST_STREAM, "stream {} reset", f.stream),
            Outcome::Closed => break,
            Outcome::Timeout => panic!("connection not closed"),
        }
    }
    assert_eq!(final_last, Some(3));
    ended.sort();
    assert_eq!(ended, vec![1, 3]);
    assert_eq!(stopping.await.unwrap(), 0, "no connection had to be cut");
}

/// Paused clock.
async fn idle_connection_gets_goaway(t: Transport) {
    // Shorter than `/later` takes to answer.
    let limit = Duration::from_millis(200);
    let (_s, peer) = server_with(t, limits(|l| l.keep_alive_timeout = limit)).await;
    let mut c = H2Conn::handshake(peer).await;
    // A stream in flight is not idle, however long it takes.
    let r = c.get(1, "/later").await;
    assert_eq!((r.status, &r.body[..]), (200, &b"later"[..]));
    // Idle from the end of the last stream.
    let (last, code, took) = next_goaway(&mut c).await;
    assert_eq!((last, code), (1, Some(NO_ERROR)));
    assert_fired_after(took, limit);
    c.expect_closed().await;
}

/// Paused clock. RFC 9113 §6.8: the final GOAWAY of a graceful shutdown
/// goes out after `h2_shutdown_ping_timeout` when the PING sent with the
/// first one is not answered.
async fn rfc9113_6_8_final_goaway_without_ping_answer(t: Transport) {
    let limit = Duration::from_secs(2);
    let (s, peer) = server_with(t, limits(|l| l.h2_shutdown_ping_timeout = limit)).await;
    let mut c = H2Conn::handshake(peer).await;
    closed_stream(&mut c, 1).await;
    let stopping = tokio::spawn(s.shutdown());
    let (last, code, _) = next_goaway(&mut c).await;
    assert_eq!((last, code), (0x7fff_ffff, Some(NO_ERROR)));
    // The PING is not answered; the final GOAWAY names stream 1.
    let (last, code, took) = next_goaway(&mut c).await;
    assert_eq!((last, code), (1, Some(NO_ERROR)));
    assert_fired_after(took, limit);
    c.expect_closed().await;
    assert_eq!(stopping.await.unwrap(), 0, "no connection had to be cut");
}

/// Reads until the connection closes: the GOAWAYs (last stream id, code)
/// and the streams that ended, in order; no stream may be reset. Answers
/// the PING of a graceful shutdown when `answer_ping`.
async fn until_closed(c: &mut H2Conn, answer_ping: bool) -> (Vec<(u32, u32)>, Vec<u32>) {
    let (mut goaways, mut ended) = (Vec::new(), Vec::new());
    loop {
        match c.read().await {
            Outcome::Frame(f) if f.kind == GOAWAY => {
                let last =
                    u32::from_be_bytes([f.payload[0], f.payload[1], f.payload[2], f.payload[3]]);
                goaways.push((last, f.error_code().unwrap_or(u32::MAX)));
            }
            Outcome::Frame(f) if f.kind == PING && !f.has(ACK) && answer_ping => {
                c.send(&frame(PING, ACK, 0, &f.payload)).await;
            }
            Outcome::Frame(f) if f.has(END_STREAM) && (f.kind == DATA || f.kind == HEADERS) => {
                ended.push(f.stream)
            }
            Outcome::Frame(f) => assert_ne!(f.kind, RST_STREAM, "stream {} reset", f.stream),
            Outcome::Closed => return (goaways, ended),
            Outcome::Timeout => panic!("connection not closed"),
        }
    }
}

/// `Limits::max_requests_per_connection`: the stream that reaches it is
/// served, and the two-phase graceful GOAWAY (§6.8) begins; streams in
/// flight finish, then the connection closes.
async fn max_requests_per_connection_goes_away(t: Transport) {
    let (_s, peer) = server_with(t, limits(|l| l.max_requests_per_connection = 3)).await;
    let mut c = H2Conn::handshake(peer).await;
    assert_eq!(c.get(1, "/").await.status, 200);
    assert_eq!(c.get(3, "/").await.status, 200);
    c.send(&headers(5, END_HEADERS | END_STREAM, &get_block("/")))
        .await;
    let (goaways, ended) = until_closed(&mut c, true).await;
    assert_eq!(goaways, vec![(0x7fff_ffff, NO_ERROR), (5, NO_ERROR)]);
    assert_eq!(ended, vec![5]);
}

/// Paused clock. `Limits::max_connection_age`: at that age the two-phase
/// graceful GOAWAY begins (the final one after `h2_shutdown_ping_timeout`
/// when its PING is not answered); a stream in flight finishes.
async fn max_connection_age_goes_away(t: Transport) {
    let age = Duration::from_secs(5);
    let born = tokio::time::Instant::now();
    let (_s, peer) = server_with(t, limits(|l| l.max_connection_age = age)).await;
    let mut c = H2Conn::handshake(peer).await;
    assert_eq!(c.get(1, "/").await.status, 200);
    // Answered 300 ms later: after the first GOAWAY.
    tokio::time::sleep_until(born + age - Duration::from_millis(100)).await;
    c.send(&headers(3, END_HEADERS | END_STREAM, &get_block("/later")))
        .await;
    let (last, code, _) = next_goaway(&mut c).await;
    assert_eq!((last, code), (0x7fff_ffff, Some(NO_ERROR)));
    assert_fired_after(born.elapsed(), age);
    let (goaways, ended) = until_closed(&mut c, false).await;
    assert_eq!(goaways, vec![(3, NO_ERROR)]);
    assert_eq!(ended, vec![3]);
}

// ---------------------------------------------------------------- §6.9 flow control

async fn rfc9113_6_9_window_update_zero_on_connection(t: Transport) {
    let (_s, mut c) = conn(t).await;
    c.send(&window_update(0, 0)).await;
    c.expect_connection_error(PROTOCOL_ERROR).await;
}

async fn rfc9113_6_9_window_update_zero_on_stream(t: Transport, order: Order) {
    let (_s, mut c) = conn(t).await;
    then_send(&mut c, order, 1, &get_root(), false, &[window_update(1, 0)]).await;
    c.expect_stream_error(1, PROTOCOL_ERROR).await;
}

async fn rfc9113_6_9_window_update_wrong_length(t: Transport) {
    let (_s, mut c) = conn(t).await;
    c.send(&frame(WINDOW_UPDATE, 0, 0, &[0, 0, 1])).await;
    c.expect_connection_error(FRAME_SIZE_ERROR).await;
}

async fn rfc9113_6_9_1_window_overflow(t: Transport) {
    let (_s, mut c) = conn(t).await;
    c.send(&window_update(0, (1 << 31) - 1)).await;
    c.expect_connection_error(FLOW_CONTROL_ERROR).await;
}

async fn rfc9113_6_9_1_stream_window_overflow(t: Transport, order: Order) {
    let (_s, mut c) = conn(t).await;
    let max = (1 << 31) - 1;
    let rest = [window_update(1, max), window_update(1, max)];
    then_send(&mut c, order, 1, &get_root(), false, &rest).await;
    // The first RST_STREAM on the stream carries FLOW_CONTROL_ERROR.
    c.expect_stream_error(1, FLOW_CONTROL_ERROR).await;
}

async fn rfc9113_6_9_1_server_respects_stream_window(t: Transport) {
    let (_s, mut c) = conn(t).await;
    c.send(&settings(&[(INITIAL_WINDOW_SIZE, 10)])).await;
    c.wait_for(SETTINGS).await;
    c.send(&headers(1, END_HEADERS | END_STREAM, &get_block("/big")))
        .await;
    let mut got = 0;
    while got < 10 {
        let f = c.wait_for(DATA).await;
        got += f.payload.len();
    }
    assert_eq!(got, 10);
    // Nothing more until the window opens: the PING answer comes first.
    c.send(&ping(*b"window?!")).await;
    loop {
        let f = c.next_frame().await;
        assert_ne!(f.kind, DATA, "DATA beyond the stream window");
        if f.kind == PING {
            break;
        }
    }
    c.send(&window_update(1, 5)).await;
    let f = c.wait_for(DATA).await;
    assert_eq!(f.payload.len(), 5);
}

async fn rfc9113_6_9_1_server_respects_connection_window(t: Transport) {
    let (_s, mut c) = conn(t).await;
    c.send(&settings(&[(INITIAL_WINDOW_SIZE, 1 << 20)])).await;
    c.wait_for(SETTINGS).await;
    c.send(&headers(1, END_HEADERS | END_STREAM, &get_block("/big")))
        .await;
    let mut got = 0;
    while got < 65_535 {
        let f = c.wait_for(DATA).await;
        got += f.payload.len();
    }
    assert_eq!(got, 65_535, "the default connection window");
    c.send(&ping(*b"window?!")).await;
    loop {
        let f = c.next_frame().await;
        assert_ne!(f.kind, DATA, "DATA beyond the connection window");
        if f.kind == PING {
            break;
        }
    }
    c.send(&window_update(0, 100_000)).await;
    let mut rest = 0;
    loop {
        let f = c.wait_for(DATA).await;
        rest += f.payload.len();
        if f.has(END_STREAM) {
            break;
        }
    }
    assert_eq!(got + rest, 100_000);
}

/// Paused clock.
async fn stalled_flow_control_closes_after_send_stall_timeout(t: Transport) {
    let limit = Duration::from_secs(3);
    let (_s, peer) = server_with(t, limits(|l| l.h2_send_stall_timeout = limit)).await;
    let mut c = H2Conn::handshake_with(peer, &[(INITIAL_WINDOW_SIZE, 10)]).await;
    c.send(&headers(1, END_HEADERS | END_STREAM, &get_block("/big")))
        .await;
    // The window never opens: the server gives up on the connection.
    let (_, code, took) = next_goaway(&mut c).await;
    assert_eq!(code, Some(ENHANCE_YOUR_CALM));
    assert_fired_after(took, limit);
    c.expect_closed().await;
}

async fn rfc9113_6_9_1_data_beyond_stream_window(t: Transport, order: Order) {
    let (_s, peer) = server_with(t, limits(|l| l.h2_initial_window_size = 100)).await;
    let mut c = H2Conn::handshake(peer).await;
    assert!(c.server_settings.contains(&(INITIAL_WINDOW_SIZE, 100)));
    let rest = [data(1, false, &[0; 101])];
    then_send(&mut c, order, 1, &post_early(&[]), false, &rest).await;
    c.expect_stream_error(1, FLOW_CONTROL_ERROR).await;
}

async fn rfc9113_6_9_1_data_beyond_connection_window(t: Transport) {
    let (_s, peer) = server_with(t, limits(|l| l.h2_connection_window_size = 65_535)).await;
    let mut c = H2Conn::handshake(peer).await;
    let mut b = Vec::new();
    // Nothing reads these bodies, so no credit comes back.
    let hold = request_block("POST", "/hold", &[]);
    for i in 0..5u32 {
        b.extend(headers(1 + 2 * i, END_HEADERS, &hold));
        b.extend(data(1 + 2 * i, false, &[0; 16_000]));
    }
    c.send(&b).await;
    c.expect_connection_error(FLOW_CONTROL_ERROR).await;
}

async fn rfc9113_6_9_2_initial_window_change_after_headers(t: Transport) {
    let (_s, mut c) = conn(t).await;
    c.send(&settings(&[(INITIAL_WINDOW_SIZE, 0)])).await;
    c.wait_for(SETTINGS).await;
    c.send(&headers(1, END_HEADERS | END_STREAM, &get_block("/")))
        .await;
    c.wait_for(HEADERS).await;
    c.send(&settings(&[(INITIAL_WINDOW_SIZE, 1)])).await;
    let f = c.wait_for(DATA).await;
    assert_eq!(f.payload.len(), 1);
}

async fn rfc9113_6_9_2_negative_window(t: Transport) {
    let (_s, mut c) = conn(t).await;
    c.send(&settings(&[(INITIAL_WINDOW_SIZE, 5)])).await;
    c.wait_for(SETTINGS).await;
    c.send(&headers(1, END_HEADERS | END_STREAM, &get_block("/big")))
        .await;
    let f = c.wait_for(DATA).await;
    assert_eq!(f.payload.len(), 5);
    // 5 sent, window 0; shrink by 2 → -2; +3 → 1.
    c.send(&settings(&[(INITIAL_WINDOW_SIZE, 3)])).await;
    c.wait_for(SETTINGS).await;
    c.send(&window_update(1, 3)).await;
    let f = c.wait_for(DATA).await;
    assert_eq!(f.payload.len(), 1);
}

async fn rfc9113_6_9_2_initial_window_change_overflows(t: Transport) {
    let (_s, mut c) = conn(t).await;
    c.send(&headers(1, END_HEADERS | END_STREAM, &get_block("/slow")))
        .await;
    c.send(&window_update(1, (1 << 31) - 1 - 65_535)).await;
    c.send(&settings(&[(INITIAL_WINDOW_SIZE, 65_536)])).await;
    c.expect_connection_error(FLOW_CONTROL_ERROR).await;
}

async fn connection_window_raised_after_preface(t: Transport) {
    let (_s, peer) = server(t).await;
    let mut c = H2Conn::connect(peer).await;
    let mut b = PREFACE.to_vec();
    b.extend(settings(&[]));
    c.send(&b).await;
    c.wait_for(SETTINGS).await;
    let w = c.wait_for(WINDOW_UPDATE).await;
    assert_eq!(w.stream, 0);
    let inc = u32::from_be_bytes([w.payload[0], w.payload[1], w.payload[2], w.payload[3]]);
    assert_eq!(inc, Limits::default().h2_connection_window_size - 65_535);
}

// ---------------------------------------------------------------- §6.10 CONTINUATION

async fn rfc9113_6_10_continuation_frames_accepted(t: Transport) {
    let (_s, mut c) = conn(t).await;
    let b = get_block("/");
    c.send(&headers(1, END_STREAM, &b[..3])).await;
    c.send(&continuation(1, 0, &b[3..10])).await;
    c.send(&continuation(1, END_HEADERS, &b[10..])).await;
    assert_eq!(c.response(1).await.body, b"hello");
}

async fn rfc9113_6_10_continuation_after_end_headers(t: Transport) {
    let (_s, mut c) = conn(t).await;
    open_post(&mut c, 1).await;
    c.send(&continuation(1, END_HEADERS, &block(&[("x", "y")])))
        .await;
    c.expect_connection_error(PROTOCOL_ERROR).await;
}

async fn rfc9113_6_10_continuation_on_other_stream(t: Transport) {
    let (_s, mut c) = conn(t).await;
    let b = get_block("/");
    c.send(&headers(1, END_STREAM, &b[..4])).await;
    c.send(&continuation(3, END_HEADERS, &b[4..])).await;
    c.expect_connection_error(PROTOCOL_ERROR).await;
}

async fn rfc9113_6_10_continuation_stream_zero(t: Transport) {
    let (_s, mut c) = conn(t).await;
    let b = get_block("/");
    c.send(&headers(1, END_STREAM, &b[..4])).await;
    c.send(&continuation(0, END_HEADERS, &b[4..])).await;
    c.expect_connection_error(PROTOCOL_ERROR).await;
}

async fn rfc9113_6_10_data_inside_header_block(t: Transport) {
    let (_s, mut c) = conn(t).await;
    let b = request_block("POST", "/echo", &[]);
    c.send(&headers(1, 0, &b[..4])).await;
    c.send(&data(1, true, b"x")).await;
    c.expect_connection_error(PROTOCOL_ERROR).await;
}

// ---------------------------------------------------------------- §8 semantics

async fn expect_malformed(t: Transport, extra_or_fields: Vec<u8>) {
    let (_s, mut c) = conn(t).await;
    c.send(&headers(1, END_HEADERS | END_STREAM, &extra_or_fields))
        .await;
    c.expect_stream_error(1, PROTOCOL_ERROR).await;
}

async fn rfc9113_8_1_trailers_accepted(t: Transport) {
    let (_s, mut c) = conn(t).await;
    open_post(&mut c, 1).await;
    c.send(&data(1, false, b"body")).await;
    c.send(&headers(
        1,
        END_HEADERS | END_STREAM,
        &block(&[("x-check", "1")]),
    ))
    .await;
    assert_eq!(c.response(1).await.body, b"body");
}

/// The twin of the cases below: a well-formed rest of the request (body
/// and trailers) after an early response is taken quietly.
async fn rfc9113_8_1_rest_of_request_accepted(t: Transport, order: Order) {
    let (_s, mut c) = conn(t).await;
    let rest = [
        data(1, false, b"body"),
        headers(1, END_HEADERS | END_STREAM, &block(&[("x-check", "1")])),
    ];
    then_send(&mut c, order, 1, &post_early(&[]), false, &rest).await;
    if order == Order::Before {
        assert_eq!(c.response(1).await.status, 200);
    }
    // No RST_STREAM, and the stream is closed (§5.1): HEADERS on it now
    // is a connection error STREAM_CLOSED.
    c.expect_alive().await;
    c.send(&headers(1, END_HEADERS | END_STREAM, &get_root()))
        .await;
    c.expect_connection_error(STREAM_CLOSED).await;
}

async fn rfc9113_8_1_second_headers_without_end_stream(t: Transport, order: Order) {
    let (_s, mut c) = conn(t).await;
    let rest = [
        data(1, false, b"test"),
        headers(1, END_HEADERS, &block(&[("x-test", "ok")])),
    ];
    then_send(&mut c, order, 1, &post_early(&[]), false, &rest).await;
    c.expect_stream_error(1, PROTOCOL_ERROR).await;
}

async fn rfc9113_8_1_pseudo_header_in_trailers(t: Transport, order: Order) {
    let (_s, mut c) = conn(t).await;
    let rest = [
        data(1, false, b"test"),
        headers(1, END_HEADERS | END_STREAM, &block(&[(":path", "/")])),
    ];
    then_send(&mut c, order, 1, &post_early(&[]), false, &rest).await;
    c.expect_stream_error(1, PROTOCOL_ERROR).await;
}

async fn rfc9113_8_1_1_content_length_larger_than_data(t: Transport, order: Order) {
    let (_s, mut c) = conn(t).await;
    let b = post_early(&[("content-length", "10")]);
    then_send(&mut c, order, 1, &b, false, &[data(1, true, b"short")]).await;
    c.expect_stream_error(1, PROTOCOL_ERROR).await;
}

async fn rfc9113_8_1_1_content_length_smaller_than_data(t: Transport, order: Order) {
    let (_s, mut c) = conn(t).await;
    let b = post_early(&[("content-length", "1")]);
    then_send(&mut c, order, 1, &b, false, &[data(1, true, b"test")]).await;
    c.expect_stream_error(1, PROTOCOL_ERROR).await;
}

async fn rfc9113_8_1_1_content_length_not_sum_of_data(t: Transport, order: Order) {
    let (_s, mut c) = conn(t).await;
    let b = post_early(&[("content-length", "1")]);
    let rest = [data(1, false, b"test"), data(1, true, b"test")];
    then_send(&mut c, order, 1, &b, false, &rest).await;
    c.expect_stream_error(1, PROTOCOL_ERROR).await;
}

async fn rfc9113_8_1_1_content_length_with_end_stream_headers(t: Transport) {
    expect_malformed(
        t,
        request_block("POST", "/echo", &[("content-length", "1")]),
    )
    .await;
}

async fn rfc9113_8_2_uppercase_field_name(t: Transport) {
    expect_malformed(t, request_block("GET", "/", &[("X-Upper", "1")])).await;
}

async fn rfc9113_8_2_1_field_value_with_nul(t: Transport) {
    expect_malformed(t, request_block("GET", "/", &[("x", "a\0b")])).await;
}

/// Fields are checked as they enter the dynamic table and not again when
/// indexed from it (RFC 7541 §6.1): one that failed stays malformed every
/// time a request names it by index, and one that passed stays accepted.
async fn rfc9113_8_2_1_fields_indexed_again_are_judged_as_when_added(t: Transport) {
    let (_s, mut c) = conn(t).await;
    let pseudo = request_block("GET", "/", &[]);
    let send_with = |extra: &[u8]| {
        let mut b = pseudo.clone();
        b.extend_from_slice(extra);
        b
    };
    // A bad value, then (alone in its block, so that it is checked) a bad
    // name. Entries then, newest first: 62 X-Up, 63 x-nul, 64 x-ok.
    let first = send_with(&block_indexed(&[("x-ok", "1"), ("x-nul", "a\0b")]));
    c.send(&headers(1, END_HEADERS | END_STREAM, &first)).await;
    c.expect_stream_error(1, PROTOCOL_ERROR).await;
    let second = send_with(&block_indexed(&[("X-Up", "1")]));
    c.send(&headers(3, END_HEADERS | END_STREAM, &second)).await;
    c.expect_stream_error(3, PROTOCOL_ERROR).await;
    // RFC 7541 §6.1: an indexed field is one octet, 0x80 | index.
    for (stream, index) in [(5, 63u8), (7, 62)] {
        let again = send_with(&[0x80 | index]);
        c.send(&headers(stream, END_HEADERS | END_STREAM, &again))
            .await;
        c.expect_stream_error(stream, PROTOCOL_ERROR).await;
    }
    let fine = send_with(&[0x80 | 64]);
    c.send(&headers(9, END_HEADERS | END_STREAM, &fine)).await;
    assert_eq!(c.response(9).await.status, 200);
}

async fn rfc9113_8_2_1_field_value_with_cr_lf(t: Transport) {
    expect_malformed(t, request_block("GET", "/", &[("x", "a\r\nb")])).await;
}

async fn rfc9113_8_2_1_field_value_leading_whitespace(t: Transport) {
    expect_malformed(t, request_block("GET", "/", &[("x", " a")])).await;
}

async fn rfc9113_8_2_1_field_name_with_colon(t: Transport) {
    expect_malformed(t, request_block("GET", "/", &[("x:y", "a")])).await;
}

async fn rfc9113_8_2_2_connection_specific_field(t: Transport) {
    for name in [
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "upgrade",
    ] {
        let (_s, mut c) = conn(t).await;
        let b = request_block("GET", "/", &[(name, "x")]);
        c.send(&headers(1, END_HEADERS | END_STREAM, &b)).await;
        c.expect_stream_error(1, PROTOCOL_ERROR).await;
    }
}

async fn rfc9113_8_2_2_te_other_than_trailers(t: Transport) {
    expect_malformed(t, request_block("GET", "/", &[("te", "trailers, deflate")])).await;
}

async fn rfc9113_8_2_2_te_trailers_accepted(t: Transport) {
    let (_s, mut c) = conn(t).await;
    let b = request_block("GET", "/", &[("te", "trailers")]);
    c.send(&headers(1, END_HEADERS | END_STREAM, &b)).await;
    assert_eq!(c.response(1).await.status, 200);
}

async fn rfc9113_8_2_3_cookie_crumbs_joined(t: Transport) {
    let (_s, mut c) = conn(t).await;
    let b = request_block("GET", "/show", &[("cookie", "a=1"), ("cookie", "b=2")]);
    c.send(&headers(1, END_HEADERS | END_STREAM, &b)).await;
    let r = c.response(1).await;
    let text = String::from_utf8_lossy(&r.body).into_owned();
    assert!(text.contains("cookie=a=1; b=2"), "{text}");
    assert!(text.contains("version=HTTP/2.0"), "{text}");
    assert!(text.contains("uri=http://localhost/show"), "{text}");
}

async fn rfc9113_8_3_unknown_pseudo_header(t: Transport) {
    expect_malformed(t, request_block("GET", "/", &[(":foo", "bar")])).await;
}

async fn rfc9113_8_3_response_pseudo_header_in_request(t: Transport) {
    expect_malformed(t, request_block("GET", "/", &[(":status", "200")])).await;
}

async fn rfc9113_8_3_pseudo_header_after_regular_field(t: Transport) {
    expect_malformed(
        t,
        block(&[
            (":method", "GET"),
            (":scheme", "http"),
            ("x", "y"),
            (":path", "/"),
        ]),
    )
    .await;
}

async fn rfc9113_8_3_1_duplicate_pseudo_header(t: Transport) {
    expect_malformed(t, request_block("GET", "/", &[(":path", "/")])).await;
}

async fn rfc9113_8_3_1_empty_path(t: Transport) {
    expect_malformed(
        t,
        block(&[(":method", "GET"), (":scheme", "http"), (":path", "")]),
    )
    .await;
}

async fn rfc9113_8_3_1_authority_with_userinfo(t: Transport) {
    expect_malformed(
        t,
        block(&[
            (":method", "GET"),
            (":scheme", "http"),
            (":authority", "user:pw@localhost"),
            (":path", "/"),
        ]),
    )
    .await;
}

async fn rfc9113_8_3_1_host_differs_from_authority(t: Transport) {
    expect_malformed(
        t,
        request_block("GET", "/", &[("host", "elsewhere.example")]),
    )
    .await;
}

async fn rfc9113_8_3_1_missing_method(t: Transport) {
    expect_malformed(t, block(&[(":scheme", "http"), (":path", "/")])).await;
}

async fn rfc9113_8_3_1_missing_scheme(t: Transport) {
    expect_malformed(t, block(&[(":method", "GET"), (":path", "/")])).await;
}

async fn rfc9113_8_3_1_missing_path(t: Transport) {
    expect_malformed(t, block(&[(":method", "GET"), (":scheme", "http")])).await;
}

async fn rfc9113_8_3_2_response_head_rules(t: Transport) {
    let (_s, mut c) = conn(t).await;
    let r = c.get(1, "/").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("5"));
    assert_eq!(r.header("server"), Some("duet"));
    assert!(r.header("date").is_some());
    for forbidden in ["connection", "keep-alive", "transfer-encoding", "upgrade"] {
        assert!(r.header(forbidden).is_none(), "{forbidden}");
    }
}

async fn header_list_too_large_gets_431(t: Transport) {
    let (_s, peer) = server_with(t, limits(|l| l.h2_max_header_list_size = 1000)).await;
    let mut c = H2Conn::handshake(peer).await;
    let v = "v".repeat(2000);
    let b = request_block("GET", "/", &[("x-big", &v)]);
    c.send(&headers(1, END_HEADERS | END_STREAM, &b)).await;
    assert_eq!(c.response(1).await.status, 431);
    assert_eq!(c.get(3, "/").await.status, 200);
}

async fn content_length_over_body_limit_gets_413(t: Transport) {
    let (_s, peer) = server_with(t, limits(|l| l.max_body_bytes = 10)).await;
    let mut c = H2Conn::handshake(peer).await;
    let b = request_block("POST", "/echo", &[("content-length", "11")]);
    c.send(&headers(1, END_HEADERS, &b)).await;
    assert_eq!(c.response(1).await.status, 413);
    assert_eq!(c.get(3, "/").await.status, 200);
}

async fn head_response_has_no_body(t: Transport) {
    let (_s, mut c) = conn(t).await;
    c.send(&headers(
        1,
        END_HEADERS | END_STREAM,
        &request_block("HEAD", "/", &[]),
    ))
    .await;
    let f = c.wait_for(HEADERS).await;
    assert!(f.has(END_STREAM), "HEAD answered by HEADERS alone");
}

async fn rfc9113_5_2_slow_reader_bounds_server_buffering(t: Transport) {
    // A reader that never opens its window: the response body producer must
    // stop once the window and the stream's send buffer are full.
    let produced = Produced::default();
    let (_r, peer) = serve(t, app_with(Limits::default(), produced.clone())).await;
    let mut c = H2Conn::handshake(peer).await;
    c.send(&headers(
        1,
        END_HEADERS | END_STREAM,
        &get_block("/endless"),
    ))
    .await;
    let mut got = 0;
    while got < 65_535 {
        got += c.wait_for(DATA).await.payload.len();
    }
    assert_eq!(got, 65_535);
    // However long the server takes to fill what it may hold.
    until_idle().await;
    let limit = 65_535 + Limits::default().h2_stream_send_buffer + 2 * 1000;
    let made = produced.0.load(Ordering::SeqCst);
    assert!(made <= limit, "producer ran ahead: {made} bytes > {limit}");
    // Opening the window resumes it.
    c.send(&window_update(0, 100_000)).await;
    c.send(&window_update(1, 100_000)).await;
    let mut more = 0;
    while more < 100_000 {
        more += c.wait_for(DATA).await.payload.len();
    }
    assert_eq!(more, 100_000);
}

async fn expect_100_continue_gets_interim_response(t: Transport) {
    let (_s, mut c) = conn(t).await;
    let b = request_block("POST", "/echo", &[("expect", "100-continue")]);
    c.send(&headers(1, END_HEADERS, &b)).await;
    // The 100 comes before any body byte is sent.
    let f = c.wait_for(HEADERS).await;
    assert!(!f.has(END_STREAM));
    let mut status = String::new();
    c.decoder
        .decode(&f.payload, &mut |n, v| {
            if &n[..] == b":status" {
                status = String::from_utf8_lossy(&v).into_owned();
            }
        })
        .expect("decodes");
    assert_eq!(status, "100");
    c.send(&data(1, true, b"continued")).await;
    let r = c.response(1).await;
    assert_eq!((r.status, &r.body[..]), (200, &b"continued"[..]));
}

async fn requests_multiplexed(t: Transport) {
    let (_s, mut c) = conn(t).await;
    let mut b = Vec::new();
    b.extend(headers(1, END_HEADERS | END_STREAM, &get_block("/slow")));
    b.extend(headers(3, END_HEADERS | END_STREAM, &get_block("/")));
    c.send(&b).await;
    // Stream 3 is answered while stream 1 still waits.
    let first = c.wait_for(HEADERS).await;
    assert_eq!(first.stream, 3);
}

// ---------------------------------------------------------------- RFC 7541

async fn expect_compression_error(t: Transport, block: &[u8]) {
    let (_s, mut c) = conn(t).await;
    c.send(&headers(1, END_HEADERS | END_STREAM, block)).await;
    c.expect_connection_error(COMPRESSION_ERROR).await;
}

async fn rfc7541_2_3_3_index_beyond_tables(t: Transport) {
    // Indexed field 70: no dynamic entry exists.
    let mut b = get_block("/");
    b.extend([0x80 | 70]);
    expect_compression_error(t, &b).await;
}

async fn rfc7541_2_3_2_dynamic_table_entries_referenced(t: Transport) {
    let (_s, mut c) = conn(t).await;
    let mut b = get_block("/");
    b.extend(block_indexed(&[("x-custom", "one")]));
    c.send(&headers(1, END_HEADERS | END_STREAM, &b)).await;
    assert_eq!(c.response(1).await.status, 200);
    // Index 62 is the first dynamic entry.
    let mut b = get_block("/");
    b.push(0x80 | 62);
    c.send(&headers(3, END_HEADERS | END_STREAM, &b)).await;
    assert_eq!(c.response(3).await.status, 200);
}

async fn rfc7541_4_2_table_size_update_above_setting(t: Transport) {
    let mut b = vec![0x3f, 0xe2, 0x1f]; // size update to 4097
    b.extend(get_block("/"));
    expect_compression_error(t, &b).await;
}

async fn rfc7541_4_2_table_size_update_after_field(t: Transport) {
    let mut b = get_block("/");
    b.push(0x20); // size update to 0, not at the start of the block
    expect_compression_error(t, &b).await;
}

async fn rfc7541_6_3_table_size_update_at_block_start_accepted(t: Transport) {
    let (_s, mut c) = conn(t).await;
    let mut b = vec![0x20];
    b.extend(get_block("/"));
    c.send(&headers(1, END_HEADERS | END_STREAM, &b)).await;
    assert_eq!(c.response(1).await.status, 200);
}

async fn rfc7541_5_1_integer_overflow(t: Transport) {
    let mut b = get_block("/");
    b.extend([
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
    ]);
    expect_compression_error(t, &b).await;
}

async fn rfc7541_5_2_huffman_padding_too_long(t: Transport) {
    // Literal, new name "x", Huffman value: 'a' (00011) + 11 padding bits.
    let mut b = get_block("/");
    b.extend([0x00, 0x01, b'x', 0x82, 0x1f, 0xff]);
    expect_compression_error(t, &b).await;
}

async fn rfc7541_5_2_huffman_padding_not_eos_prefix(t: Transport) {
    // 'a' (00011) + 000: padding must be the most significant bits of EOS.
    let mut b = get_block("/");
    b.extend([0x00, 0x01, b'x', 0x81, 0x18]);
    expect_compression_error(t, &b).await;
}

async fn rfc7541_5_2_huffman_eos_symbol(t: Transport) {
    let mut b = get_block("/");
    b.extend([0x00, 0x01, b'x', 0x84, 0xff, 0xff, 0xff, 0xff]);
    expect_compression_error(t, &b).await;
}

async fn rfc7541_6_1_index_zero(t: Transport) {
    let mut b = get_block("/");
    b.push(0x80);
    expect_compression_error(t, &b).await;
}

async fn rfc7541_6_2_literal_name_index_beyond_tables(t: Transport) {
    let mut b = get_block("/");
    b.extend([0x40 | 0x3f, 70 - 63, 0x01, b'v']); // name index 70
    expect_compression_error(t, &b).await;
}

async fn rfc7541_4_2_peer_header_table_size_zero_respected(t: Transport) {
    let (_s, peer) = server(t).await;
    let mut c = H2Conn::handshake_with(peer, &[(HEADER_TABLE_SIZE, 0)]).await;
    // A decoder with no dynamic table: any index into one fails.
    c.decoder = support::hpack::Decoder::new(0);
    for id in [1, 3, 5] {
        assert_eq!(c.get(id, "/").await.status, 200);
    }
}

async fn rfc7541_2_3_2_response_encoder_uses_dynamic_table(t: Transport) {
    let (_s, mut c) = conn(t).await;
    c.send(&headers(1, END_HEADERS | END_STREAM, &get_block("/")))
        .await;
    let first = c.wait_for(HEADERS).await;
    c.response(1).await;
    c.send(&headers(3, END_HEADERS | END_STREAM, &get_block("/")))
        .await;
    let second = c.wait_for(HEADERS).await;
    assert!(
        second.payload.len() < first.payload.len(),
        "repeated response fields are indexed: {} then {} octets",
        first.payload.len(),
        second.payload.len()
    );
}

// ---------------------------------------------------------------- the suite

suite! {
    both: [
        rfc9113_3_4_server_preface_is_settings,
        rfc9113_3_4_invalid_preface,
        rfc9113_3_4_preface_must_end_with_settings,
        rfc9113_4_1_unknown_frame_type_ignored,
        rfc9113_4_1_unknown_flags_ignored,
        rfc9113_4_1_reserved_bit_ignored,
        rfc9113_4_2_max_frame_size_data_accepted,
        rfc9113_4_2_data_frame_too_large,
        rfc9113_4_2_headers_frame_too_large,
        rfc9113_4_3_invalid_header_block,
        rfc9113_4_3_priority_inside_header_block,
        rfc9113_4_3_headers_of_other_stream_inside_header_block,
        rfc9113_4_3_large_response_head_split_into_continuation,
        rfc9113_5_1_idle_data,
        rfc9113_5_1_idle_rst_stream,
        rfc9113_5_1_idle_window_update,
        rfc9113_5_1_idle_continuation,
        rfc9113_5_1_half_closed_remote_continuation,
        rfc9113_5_1_closed_data,
        rfc9113_5_1_closed_headers,
        rfc9113_5_1_closed_window_update_and_priority_ignored,
        rfc9113_5_1_1_even_stream_id,
        rfc9113_5_1_1_decreasing_stream_id,
        rfc9113_5_1_2_concurrent_streams_refused,
        rfc9113_5_1_2_streams_held_open_by_flow_control_count,
        rfc9113_8_1_complete_response_before_request_ends,
        rfc9113_8_1_large_rest_of_request_reset_with_no_error,
        max_requests_per_connection_goes_away,
        rfc9113_5_3_1_headers_self_dependency,
        rfc9113_5_4_1_goaway_names_last_stream,
        rfc9113_5_5_unknown_frame_inside_header_block,
        rapid_reset_enhance_your_calm,
        rfc9113_6_1_data_stream_zero,
        rfc9113_6_1_data_invalid_pad_length,
        rfc9113_6_1_padded_data_accepted,
        rfc9113_6_2_headers_stream_zero,
        rfc9113_6_2_headers_invalid_pad_length,
        rfc9113_6_2_padded_headers_with_priority_accepted,
        rfc9113_6_3_priority_stream_zero,
        rfc9113_6_3_priority_on_idle_and_closed_accepted,
        rfc9113_6_4_rst_stream_stream_zero,
        rfc9113_6_4_rst_stream_wrong_length,
        rfc9113_6_4_rst_stream_drops_a_silent_producer,
        closed_connection_drops_a_silent_producer,
        rfc9113_6_4_rst_stream_cancels_the_stream_only,
        rfc9113_6_5_settings_acknowledged,
        rfc9113_6_5_settings_ack_with_payload,
        rfc9113_6_5_settings_nonzero_stream,
        rfc9113_6_5_settings_length_not_multiple_of_6,
        rfc9113_6_5_2_enable_push_invalid,
        rfc9113_6_5_2_initial_window_size_too_large,
        rfc9113_6_5_2_max_frame_size_too_small,
        rfc9113_6_5_2_max_frame_size_too_large,
        rfc9113_6_5_2_unknown_setting_ignored,
        rfc9113_6_5_3_settings_values_applied_in_order,
        rfc9113_6_5_2_peer_max_frame_size_respected,
        rfc9113_8_4_push_promise_from_client,
        rfc9113_6_7_ping_answered,
        rfc9113_6_7_ping_ack_not_answered,
        rfc9113_6_7_ping_nonzero_stream,
        rfc9113_6_7_ping_wrong_length,
        rfc9113_6_8_goaway_nonzero_stream,
        rfc9113_6_8_graceful_shutdown_finishes_in_flight_streams,
        rfc9113_6_9_window_update_zero_on_connection,
        rfc9113_6_9_window_update_wrong_length,
        rfc9113_6_9_1_window_overflow,
        rfc9113_6_9_1_server_respects_stream_window,
        rfc9113_6_9_1_server_respects_connection_window,
        rfc9113_6_9_1_data_beyond_connection_window,
        rfc9113_6_9_2_initial_window_change_after_headers,
        rfc9113_6_9_2_negative_window,
        rfc9113_6_9_2_initial_window_change_overflows,
        connection_window_raised_after_preface,
        rfc9113_6_10_continuation_frames_accepted,
        rfc9113_6_10_continuation_after_end_headers,
        rfc9113_6_10_continuation_on_other_stream,
        rfc9113_6_10_continuation_stream_zero,
        rfc9113_6_10_data_inside_header_block,
        rfc9113_8_1_trailers_accepted,
        rfc9113_8_1_1_content_length_with_end_stream_headers,
        rfc9113_8_2_uppercase_field_name,
        rfc9113_8_2_1_field_value_with_nul,
        rfc9113_8_2_1_fields_indexed_again_are_judged_as_when_added,
        rfc9113_8_2_1_field_value_with_cr_lf,
        rfc9113_8_2_1_field_value_leading_whitespace,
        rfc9113_8_2_1_field_name_with_colon,
        rfc9113_8_2_2_connection_specific_field,
        rfc9113_8_2_2_te_other_than_trailers,
        rfc9113_8_2_2_te_trailers_accepted,
        rfc9113_8_2_3_cookie_crumbs_joined,
        rfc9113_8_3_unknown_pseudo_header,
        rfc9113_8_3_response_pseudo_header_in_request,
        rfc9113_8_3_pseudo_header_after_regular_field,
        rfc9113_8_3_1_duplicate_pseudo_header,
        rfc9113_8_3_1_empty_path,
        rfc9113_8_3_1_authority_with_userinfo,
        rfc9113_8_3_1_host_differs_from_authority,
        rfc9113_8_3_1_missing_method,
        rfc9113_8_3_1_missing_scheme,
        rfc9113_8_3_1_missing_path,
        rfc9113_8_3_2_response_head_rules,
        header_list_too_large_gets_431,
        content_length_over_body_limit_gets_413,
        head_response_has_no_body,
        rfc9113_5_2_slow_reader_bounds_server_buffering,
        expect_100_continue_gets_interim_response,
        requests_multiplexed,
        rfc7541_2_3_3_index_beyond_tables,
        rfc7541_2_3_2_dynamic_table_entries_referenced,
        rfc7541_4_2_table_size_update_above_setting,
        rfc7541_4_2_table_size_update_after_field,
        rfc7541_6_3_table_size_update_at_block_start_accepted,
        rfc7541_5_1_integer_overflow,
        rfc7541_5_2_huffman_padding_too_long,
        rfc7541_5_2_huffman_padding_not_eos_prefix,
        rfc7541_5_2_huffman_eos_symbol,
        rfc7541_6_1_index_zero,
        rfc7541_6_2_literal_name_index_beyond_tables,
        rfc7541_4_2_peer_header_table_size_zero_respected,
        rfc7541_2_3_2_response_encoder_uses_dynamic_table,
    ]
    ordered: [
        rfc9113_5_1_half_closed_remote_data,
        rfc9113_5_1_half_closed_remote_headers,
        rfc9113_5_1_closed_data_after_rst_stream,
        rfc9113_5_1_closed_headers_after_rst_stream,
        rfc9113_5_1_closed_continuation_after_rst_stream,
        rfc9113_5_3_1_priority_self_dependency,
        rfc9113_6_3_priority_wrong_length,
        rfc9113_6_9_window_update_zero_on_stream,
        rfc9113_6_9_1_stream_window_overflow,
        rfc9113_6_9_1_data_beyond_stream_window,
        rfc9113_8_1_rest_of_request_accepted,
        rfc9113_8_1_second_headers_without_end_stream,
        rfc9113_8_1_pseudo_header_in_trailers,
        rfc9113_8_1_1_content_length_larger_than_data,
        rfc9113_8_1_1_content_length_smaller_than_data,
        rfc9113_8_1_1_content_length_not_sum_of_data,
    ]
    paused: [
        rfc9113_6_5_3_settings_timeout,
        idle_connection_gets_goaway,
        rfc9113_6_8_final_goaway_without_ping_answer,
        stalled_flow_control_closes_after_send_stall_timeout,
        rfc9113_8_1_slow_rest_of_request_reset_after_discard_timeout,
        max_connection_age_goes_away,
    ]
    cleartext_only: [
        rfc9113_3_2_h2c_upgrade_answers_on_stream_1,
    ]
}
