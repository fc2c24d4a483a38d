//! HTTP/2 abuse: each attack class of the security catalogue
//! (/work/shared/SECURITY-CATALOGUE.md §1, SECURITY.md) played on one
//! connection while a well-behaved client on another connection keeps
//! getting answers, with the growth of the process's heap during the
//! attack bounded (the bound is stated in each test and comes from the
//! `Limits` field that stops the attack), and a twin with legitimate
//! traffic of the same shape that must not be cut off. Every test runs over
//! h2c (`cleartext::<name>`) and TLS (`tls::<name>`).
//!
//! The heap is measured by this binary's global allocator, which counts
//! live bytes and their peak. The tests run one at a time (a lock) on a
//! current-thread runtime each, so the peak is this test's: the server's
//! connections and the test's own clients (whose frames are built before
//! the measurement starts).

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use duet::{Body, Limits, Response, Running, Server, State, TlsConfig};
use support::h2_client::*;
use support::{limits, local, start, until_idle, Gate};
use tokio::sync::watch;

// ----------------------------------------------------------------- the heap

/// The system allocator, counting live bytes and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(n: usize) {
    let live = LIVE.fetch_add(n, Ordering::Relaxed) + n;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

fn shrank(n: usize) {
    LIVE.fetch_sub(n, Ordering::Relaxed);
}

// SAFETY: every call is passed on to `System` unchanged; the counters are
// only arithmetic on the sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = System.alloc(l);
        if !p.is_null() {
            grew(l.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(l);
        if !p.is_null() {
            grew(l.size());
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l);
        shrank(l.size());
    }

    unsafe fn realloc(&self, p: *mut u8, l: Layout, new_size: usize) -> *mut u8 {
        let q = System.realloc(p, l, new_size);
        if !q.is_null() {
            if new_size > l.size() {
                grew(new_size - l.size());
            } else {
                shrank(l.size() - new_size);
            }
        }
        q
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// The heap's growth from a starting point: its peak since then.
struct Heap {
    base: usize,
}

impl Heap {
    /// Starts measuring now.
    fn start() -> Heap {
        let base = LIVE.load(Ordering::Relaxed);
        PEAK.store(base, Ordering::Relaxed);
        Heap { base }
    }

    /// Asserts that the heap never grew by more than `bound` bytes since
    /// the start.
    #[track_caller]
    fn assert_peak_below(&self, bound: usize, what: &str) {
        let peak = PEAK.load(Ordering::Relaxed).saturating_sub(self.base);
        eprintln!("{what}: heap grew by at most {} KiB", peak / 1024);
        assert!(
            peak < bound,
            "{what}: the heap grew by {peak} bytes, the bound is {bound}"
        );
    }
}

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

// ----------------------------------------------------------------- harness

/// One test at a time: the heap is the process's.
static SERIAL: Mutex<()> = Mutex::new(());

/// Runs `f` while no other test of this binary runs (all of `f`: a test
/// allocating after its measurement would skew another's).
fn alone<T>(f: impl FnOnce() -> T) -> T {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    f()
}

/// Runs `test` on a current-thread runtime (paused when `paused`).
fn block_on<F: Future<Output = ()>>(paused: bool, test: F) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(paused)
        .build()
        .expect("runtime");
    rt.block_on(test);
}

/// Runs `test` alone (see [`alone`]) on its runtime.
fn run<F: Future<Output = ()>>(paused: bool, test: F) {
    alone(|| block_on(paused, test))
}

/// One `#[test]` per transport for each case: `cleartext::<name>`,
/// `tls::<name>`; those under `paused` run on a paused clock.
macro_rules! abuse {
    (
        real: [$($real:ident),* $(,)?]
        paused: [$($paused:ident),* $(,)?]
    ) => {
        mod cleartext {
            use super::support::h2_client::Transport;
            $(
                #[test]
                fn $real() {
                    super::run(false, super::$real(Transport::Cleartext))
                }
            )*
            $(
                #[test]
                fn $paused() {
                    super::run(true, super::$paused(Transport::Cleartext))
                }
            )*
        }
        mod tls {
            use super::support::h2_client::Transport;
            $(
                #[test]
                fn $real() {
                    super::run(false, super::$real(Transport::Tls))
                }
            )*
            $(
                #[test]
                fn $paused() {
                    super::run(true, super::$paused(Transport::Tls))
                }
            )*
        }
    };
}

// ----------------------------------------------------------------- the app

async fn hello() -> &'static str {
    "hello"
}

async fn echo(body: Bytes) -> Bytes {
    body
}

async fn big() -> Vec<u8> {
    vec![b'x'; 100_000]
}

/// Never answers; drops its body unread (its credit returns at once).
async fn hold() -> &'static str {
    std::future::pending::<()>().await;
    ""
}

/// Never answers and keeps its body, unread.
async fn hoard(body: Body) -> &'static str {
    let _unread = body;
    std::future::pending::<()>().await;
    ""
}

/// Handlers running now, and the most that ever ran at once.
#[derive(Clone, Default)]
struct Busy(Arc<(AtomicUsize, AtomicUsize)>);

struct RunGuard(Busy);

impl Drop for RunGuard {
    fn drop(&mut self) {
        (self.0).0 .0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Busy {
    fn enter(&self) -> RunGuard {
        let now = self.0 .0.fetch_add(1, Ordering::SeqCst) + 1;
        self.0 .1.fetch_max(now, Ordering::SeqCst);
        RunGuard(self.clone())
    }
    fn now(&self) -> usize {
        self.0 .0.load(Ordering::SeqCst)
    }
    fn peak(&self) -> usize {
        self.0 .1.load(Ordering::SeqCst)
    }
}

/// Counts itself running, then waits at the gate.
async fn gated(State(gate): State<Gate>, State(running): State<Busy>) -> &'static str {
    let _running = running.enter();
    gate.pass().await;
    "gated"
}

/// Bytes produced so far by `/endless`.
#[derive(Clone, Default)]
struct Produced(Arc<AtomicUsize>);

/// A streamed body that counts what it produced (1000-byte chunks; it
/// stops at 16 MB so that a server that does not hold it back fails).
async fn endless(State(p): State<Produced>) -> Response {
    use futures_util::StreamExt;
    let chunks = futures_util::stream::repeat_with(move || {
        p.0.fetch_add(1000, Ordering::SeqCst);
        Ok::<_, std::io::Error>(Bytes::from(vec![b'e'; 1000]))
    });
    Response::stream(chunks.take(16_000))
}

/// What a test's server shares with the test.
#[derive(Clone, Default)]
struct Probes {
    gate: Gate,
    running: Busy,
    produced: Produced,
}

fn app(limits: Limits, probes: &Probes) -> Server {
    let mut s = local()
        .limits(limits)
        .state(probes.gate.clone())
        .state(probes.running.clone())
        .state(probes.produced.clone());
    s.get("/", hello);
    s.post("/echo", echo);
    s.post("/hold", hold);
    s.post("/hoard", hoard);
    s.get("/big", big);
    s.get("/gated", gated);
    s.get("/endless", endless);
    s
}

/// Starts the app on `t` (TLS: a self-signed certificate for localhost).
async fn serve(t: Transport, limits: Limits) -> (Running, Peer, Probes) {
    let probes = Probes::default();
    let app = app(limits, &probes);
    let app = match t {
        Transport::Cleartext => app,
        Transport::Tls => app.tls(TlsConfig::self_signed(&["localhost"]).expect("certificate")),
    };
    let r = start([app]).await;
    let peer = Peer {
        addr: r.addr(),
        transport: t,
    };
    (r, peer, probes)
}

// ----------------------------------------------------------------- the canary

/// A well-behaved client on its own connection that keeps sending GETs and
/// checking the answers for as long as it runs.
struct Canary {
    answered: watch::Receiver<usize>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Canary {
    async fn start(peer: Peer) -> Canary {
        let mut c = H2Conn::handshake(peer).await;
        // The first answer before the attack starts.
        assert_eq!(c.get(1, "/").await.status, 200);
        let (count, answered) = watch::channel(1usize);
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut id = 3u32;
            while !*stopped.borrow_and_update() {
                let r = c.get(id, "/").await;
                assert_eq!((r.status, &r.body[..]), (200, &b"hello"[..]), "canary");
                count.send_modify(|n| *n += 1);
                id += 2;
            }
        });
        Canary {
            answered,
            stop,
            task,
        }
    }

    /// Waits until the canary got `n` more answers than it had (10 s at
    /// most): the server keeps serving it.
    async fn more_answers(&mut self, n: usize) {
        let target = *self.answered.borrow() + n;
        let got = self.answered.wait_for(|a| *a >= target);
        let got = tokio::time::timeout(Duration::from_secs(10), got).await;
        assert!(
            matches!(got, Ok(Ok(_))),
            "the canary connection stopped getting answers"
        );
    }

    /// Checks it got answers during and after the attack, and stops it.
    async fn finish(mut self) {
        self.more_answers(5).await;
        let _ = self.stop.send(true);
        self.task.await.expect("canary");
    }
}

// ----------------------------------------------------------------- helpers

/// A POST for `path` whose body follows.
fn post(path: &str) -> Vec<u8> {
    request_block("POST", path, &[])
}

/// The last stream id of a GOAWAY.
fn last_stream(g: &RawFrame) -> u32 {
    u32::from_be_bytes([g.payload[0], g.payload[1], g.payload[2], g.payload[3]])
}

/// A kind of attack frame: its name and how to make it for a stream.
type Kind = (&'static str, fn(u32) -> Vec<u8>);

/// Reads the responses of `ids`, interleaved in any order, decoding every
/// field block in order (the HPACK table is the connection's) and opening
/// the windows as body bytes arrive; returns (status, body length) per id,
/// in the order given.
async fn responses(c: &mut H2Conn, ids: &[u32]) -> Vec<(u16, usize)> {
    let mut got: std::collections::HashMap<u32, (u16, usize, bool)> =
        ids.iter().map(|id| (*id, (0, 0, false))).collect();
    while got.values().any(|r| !r.2) {
        let f = c.next_frame().await;
        assert_ne!(f.kind, GOAWAY, "GOAWAY {:?}", f.error_code());
        assert_ne!(f.kind, RST_STREAM, "stream {} reset", f.stream);
        match f.kind {
            HEADERS => {
                let mut block = f.payload.to_vec();
                let mut end_headers = f.has(END_HEADERS);
                while !end_headers {
                    let more = c.next_frame().await;
                    assert_eq!(more.kind, CONTINUATION);
                    block.extend_from_slice(&more.payload);
                    end_headers = more.has(END_HEADERS);
                }
                let mut status = 0;
                c.decoder
                    .decode(&block, &mut |n, v| {
                        if &n[..] == b":status" {
                            status = String::from_utf8_lossy(&v).parse().unwrap_or(0);
                        }
                    })
                    .expect("response field block decodes");
                if let Some(r) = got.get_mut(&f.stream) {
                    if status >= 200 {
                        r.0 = status;
                    }
                    r.2 |= f.has(END_STREAM);
                }
            }
            DATA => {
                let n = f.payload.len() as u32;
                if n > 0 {
                    c.send(&window_update(0, n)).await;
                    if !f.has(END_STREAM) {
                        c.send(&window_update(f.stream, n)).await;
                    }
                }
                if let Some(r) = got.get_mut(&f.stream) {
                    r.1 += f.payload.len();
                    r.2 |= f.has(END_STREAM);
                }
            }
            _ => {}
        }
    }
    ids.iter().map(|id| (got[id].0, got[id].1)).collect()
}

/// Reads until a GOAWAY, checks its code and returns it (then the close).
async fn expect_goaway(c: &mut H2Conn, code: u32) -> RawFrame {
    let g = loop {
        match c.read().await {
            Outcome::Frame(f) if f.kind == GOAWAY => break f,
            Outcome::Frame(_) => {}
            other => panic!("expected GOAWAY({code:#x}), got {other:?}"),
        }
    };
    assert_eq!(g.error_code(), Some(code), "GOAWAY code");
    c.expect_closed().await;
    g
}

// ================================================================== attacks

// ----- small DATA frames held unread (RUSTSEC-2026-0258) -----

/// Sends one 1-byte DATA frame on `id` and waits for the answer to a PING
/// sent after it: each frame is then read by the server on its own, and
/// reaches the handler as its own chunk.
async fn trickle(c: &mut H2Conn, id: u32) -> bool {
    let mut b = data(id, false, b"x");
    b.extend(ping(*b"trickle!"));
    c.send(&b).await;
    loop {
        match c.read().await {
            Outcome::Frame(f) if f.kind == PING && f.has(ACK) => return true,
            Outcome::Frame(f) if f.kind == GOAWAY => {
                assert_eq!(f.error_code(), Some(ENHANCE_YOUR_CALM));
                return false;
            }
            Outcome::Frame(_) => {}
            other => panic!("{other:?}"),
        }
    }
}

/// 1-byte DATA frames to a handler that never reads them. Sent in bulk
/// (100,000 in one write), they reach it as a few large chunks: the
/// connection holds the bytes (bounded by the windows: 1 MiB per stream)
/// and nothing per frame; bound 2 MiB. Sent one per read, each is its own
/// chunk, charged 255 against `h2_small_data_budget` while unread: with a
/// 65,535-byte connection window the budget in force is 32,767, and the
/// 129th frame closes the connection with ENHANCE_YOUR_CALM.
async fn small_data_frames_unread(t: Transport) {
    let (_s, peer, _) = serve(t, limits(|l| l.h2_connection_window_size = 65_535)).await;
    let mut canary = Canary::start(peer).await;
    // In bulk.
    let (_s2, peer2, _) = serve(t, Limits::default()).await;
    let mut c = H2Conn::handshake(peer2).await;
    let mut attack = headers(1, END_HEADERS, &post("/hoard"));
    for _ in 0..100_000 {
        attack.extend(data(1, false, b"x"));
    }
    let heap = Heap::start();
    c.send(&attack).await;
    c.expect_alive().await;
    heap.assert_peak_below(2 * MIB, "100,000 one-byte frames held unread");
    // One per read.
    let mut c = H2Conn::handshake(peer).await;
    c.send(&headers(1, END_HEADERS, &post("/hoard"))).await;
    let heap = Heap::start();
    let mut taken = 0;
    while trickle(&mut c, 1).await {
        taken += 1;
        assert!(taken <= 128, "the budget did not stop the flood");
        if taken % 32 == 0 {
            canary.more_answers(1).await;
        }
    }
    assert_eq!(taken, 128, "frames taken before the budget ran out");
    c.expect_closed().await;
    heap.assert_peak_below(MIB, "small chunks held unread");
    canary.finish().await;
}

/// Twin: the same frames read promptly, as gRPC streaming does, are never
/// cut off: 100,000 one-byte DATA frames in bulk and 2,000 one per read
/// (more than the budget would allow unread) echoed back whole.
async fn small_data_frames_read_promptly(t: Transport) {
    let (_s, peer, _) = serve(t, limits(|l| l.h2_connection_window_size = 65_535)).await;
    let mut c = H2Conn::handshake(peer).await;
    let mut req = headers(1, END_HEADERS, &post("/echo"));
    for _ in 0..100_000 {
        req.extend(data(1, false, b"x"));
    }
    req.extend(data(1, true, b""));
    c.send(&req).await;
    let r = c.response(1).await;
    assert_eq!((r.status, r.body.len()), (200, 100_000));
    c.send(&headers(3, END_HEADERS, &post("/echo"))).await;
    for _ in 0..2_000 {
        assert!(trickle(&mut c, 3).await, "cut off");
    }
    c.send(&data(3, true, b"")).await;
    let r = c.response(3).await;
    assert_eq!((r.status, r.body.len()), (200, 2_000));
}

// ----- CONTINUATION floods -----

/// HEADERS without END_HEADERS, then CONTINUATION frames without end:
/// 100,000 empty ones, 70,000 of one byte, 100 of 16 KiB. Counted by
/// frames (`h2_max_continuation_frames`, 8) as well as by bytes
/// (`h2_max_field_block_bytes`, 128 KiB): GOAWAY(ENHANCE_YOUR_CALM) naming
/// no stream, no handler run. Bound: the pending block, under 128 KiB plus
/// one frame; 1 MiB with buffers.
async fn continuation_flood(t: Transport) {
    let (_s, peer, probes) = serve(t, Limits::default()).await;
    let mut canary = Canary::start(peer).await;
    let head = get_block("/gated");
    for (count, fragment) in [(100_000, 0), (70_000, 1), (100, 16_384)] {
        let mut c = H2Conn::handshake(peer).await;
        let mut attack = headers(1, END_STREAM, &head[..4]);
        let piece = vec![0x80u8; fragment];
        for _ in 0..count {
            attack.extend(continuation(1, 0, &piece));
        }
        let heap = Heap::start();
        c.send(&attack).await;
        let g = expect_goaway(&mut c, ENHANCE_YOUR_CALM).await;
        assert_eq!(last_stream(&g), 0, "no stream was taken");
        heap.assert_peak_below(MIB, &format!("{count} CONTINUATIONs of {fragment} bytes"));
        canary.more_answers(1).await;
    }
    assert_eq!(probes.running.peak(), 0, "no handler ran");
    canary.finish().await;
}

/// Twin: a large field block split over a few CONTINUATIONs (a 50 KB
/// field in 16 KiB frames), and a small one split into 8, are requests.
async fn continuation_legitimate(t: Transport) {
    let (_s, peer, _) = serve(t, Limits::default()).await;
    let mut c = H2Conn::handshake(peer).await;
    let big = "v".repeat(50_000);
    let b = request_block("GET", "/", &[("x-big", &big)]);
    let mut req = Vec::new();
    let pieces: Vec<&[u8]> = b.chunks(16_384).collect();
    assert_eq!(pieces.len(), 4);
    for (i, p) in pieces.iter().enumerate() {
        let last = i + 1 == pieces.len();
        let end = if last { END_HEADERS } else { 0 };
        if i == 0 {
            req.extend(headers(1, END_STREAM | end, p));
        } else {
            req.extend(continuation(1, end, p));
        }
    }
    c.send(&req).await;
    assert_eq!(c.response(1).await.status, 200);
    let b = get_block("/");
    let mut req = headers(3, END_STREAM, &b[..b.len() - 8]);
    for i in (1..=8).rev() {
        let at = b.len() - i;
        let end = if i == 1 { END_HEADERS } else { 0 };
        req.extend(continuation(3, end, &b[at..at + 1]));
    }
    c.send(&req).await;
    assert_eq!(c.response(3).await.status, 200);
}

/// Paused clock. Connections that each hold half a field block: the
/// header-block timeout (`h2_header_block_timeout`, 3 s here; 10 s by
/// default) closes each with GOAWAY(ENHANCE_YOUR_CALM) exactly then, while
/// another connection is served. Bound: what each holds beyond an idle
/// connection, its pending block, under 2 KiB (at most
/// `h2_max_field_block_bytes` for a block of that size).
async fn header_block_timeout(t: Transport) {
    let limit = Duration::from_secs(3);
    let (_s, peer, _) = serve(t, limits(|l| l.h2_header_block_timeout = limit)).await;
    let mut canary = H2Conn::handshake(peer).await;
    assert_eq!(canary.get(1, "/").await.status, 200);
    const N: usize = 50;
    let mut conns = Vec::new();
    for _ in 0..N {
        conns.push(H2Conn::handshake(peer).await);
    }
    let heap = Heap::start();
    let start = tokio::time::Instant::now();
    let b = get_block("/");
    for c in &mut conns {
        c.send(&headers(1, END_STREAM, &b[..5])).await;
    }
    // Virtual time moves only once no task can: every connection holds
    // its half block now.
    tokio::time::sleep(Duration::from_millis(1)).await;
    heap.assert_peak_below(N * 2 * KIB, "connections holding half a field block");
    assert_eq!(canary.get(3, "/").await.status, 200);
    for c in &mut conns {
        let g = expect_goaway(c, ENHANCE_YOUR_CALM).await;
        assert_eq!(last_stream(&g), 0);
    }
    let took = start.elapsed();
    assert!(
        took >= limit && took <= limit + Duration::from_millis(50),
        "fired after {took:?}"
    );
    assert_eq!(canary.get(5, "/").await.status, 200);
}

/// Paused clock. Twin: a field block whose CONTINUATION comes just within
/// the timeout (2.9 s of 3 s) is a request.
async fn header_block_slow_but_in_time(t: Transport) {
    let limit = Duration::from_secs(3);
    let (_s, peer, _) = serve(t, limits(|l| l.h2_header_block_timeout = limit)).await;
    let mut c = H2Conn::handshake(peer).await;
    let b = get_block("/");
    c.send(&headers(1, END_STREAM, &b[..5])).await;
    tokio::time::sleep(Duration::from_millis(2_900)).await;
    c.send(&continuation(1, END_HEADERS, &b[5..])).await;
    assert_eq!(c.response(1).await.status, 200);
}

// ----- empty frames (CVE-2019-9518) -----

/// 100,000 frames that carry nothing: empty DATA, padded DATA with no
/// data, empty HEADERS fragments (each on a new stream). The budget
/// (`h2_max_empty_frames`, 100) runs out at the 101st:
/// GOAWAY(ENHANCE_YOUR_CALM). Bound: nothing is kept per frame; 512 KiB.
async fn empty_frames_flood(t: Transport) {
    let (_s, peer, _) = serve(t, Limits::default()).await;
    let mut canary = Canary::start(peer).await;
    let kinds: [Kind; 3] = [
        ("empty DATA", |_| data(1, false, b"")),
        ("padded DATA without data", |_| frame(DATA, PADDED, 1, &[0])),
        ("empty HEADERS", |i| headers(3 + 2 * i, END_HEADERS, b"")),
    ];
    for (what, make) in kinds {
        let mut c = H2Conn::handshake(peer).await;
        let mut attack = headers(1, END_HEADERS, &post("/hoard"));
        for i in 0..100_000 {
            attack.extend(make(i));
        }
        let heap = Heap::start();
        c.send(&attack).await;
        expect_goaway(&mut c, ENHANCE_YOUR_CALM).await;
        heap.assert_peak_below(512 * KIB, what);
        canary.more_answers(1).await;
    }
    canary.finish().await;
}

/// Twin: empty frames where they belong are never cut off: 200 bodies
/// ended by an empty END_STREAM DATA frame, and a streamed body with an
/// empty DATA frame after each of its 1,000 chunks.
async fn empty_frames_legitimate(t: Transport) {
    let (_s, peer, _) = serve(t, Limits::default()).await;
    let mut c = H2Conn::handshake(peer).await;
    for i in 0..200u32 {
        let id = 1 + 2 * i;
        let mut req = headers(id, END_HEADERS, &post("/echo"));
        req.extend(data(id, false, b"x"));
        req.extend(data(id, true, b""));
        c.send(&req).await;
        assert_eq!(c.response(id).await.body, b"x");
    }
    let mut req = headers(401, END_HEADERS, &post("/echo"));
    for _ in 0..1_000 {
        req.extend(data(401, false, b"chunk"));
        req.extend(data(401, false, b""));
    }
    req.extend(data(401, true, b""));
    c.send(&req).await;
    assert_eq!(c.response(401).await.body.len(), 5_000);
}

// ----- Rapid Reset (CVE-2023-44487) -----

/// 100,000 HEADERS + RST_STREAM(CANCEL) pairs to a handler that would wait
/// forever: past `h2_max_resets_per_sec` (200) in a second,
/// GOAWAY(ENHANCE_YOUR_CALM). A reset stream's handler is dropped at once:
/// handlers running never exceed `h2_max_concurrent_streams` and none is
/// left. Bound: 2 MiB.
async fn rapid_reset(t: Transport) {
    let (_s, peer, probes) = serve(t, Limits::default()).await;
    let canary = Canary::start(peer).await;
    let mut c = H2Conn::handshake(peer).await;
    let head = get_block("/gated");
    let mut attack = Vec::new();
    for i in 0..100_000u32 {
        let id = 1 + 2 * i;
        attack.extend(headers(id, END_HEADERS | END_STREAM, &head));
        attack.extend(rst_stream(id, CANCEL));
    }
    let heap = Heap::start();
    c.send(&attack).await;
    let g = expect_goaway(&mut c, ENHANCE_YOUR_CALM).await;
    assert!(last_stream(&g) < 2 * 1_000, "GOAWAY within the first 1,000");
    heap.assert_peak_below(2 * MIB, "rapid reset");
    canary.finish().await;
    until_idle().await;
    let max = Limits::default().h2_max_concurrent_streams as usize;
    assert!(
        probes.running.peak() <= max,
        "{} ran",
        probes.running.peak()
    );
    assert_eq!(probes.running.now(), 0, "every handler dropped");
}

/// Twin: 2,000 short streams opened and closed normally on one connection
/// (100 at a time), and a client cancelling 100 of its requests, are
/// served.
async fn many_short_streams(t: Transport) {
    let (_s, peer, _) = serve(t, Limits::default()).await;
    let mut c = H2Conn::handshake(peer).await;
    let head = get_block("/");
    let mut id = 1u32;
    for _ in 0..20 {
        let first = id;
        let mut batch = Vec::new();
        for _ in 0..100 {
            batch.extend(headers(id, END_HEADERS | END_STREAM, &head));
            id += 2;
        }
        c.send(&batch).await;
        let ids: Vec<u32> = (first..id).step_by(2).collect();
        for r in responses(&mut c, &ids).await {
            assert_eq!(r, (200, 5));
        }
    }
    let gated = get_block("/gated");
    for _ in 0..100 {
        c.send(&headers(id, END_HEADERS | END_STREAM, &gated)).await;
        c.send(&rst_stream(id, CANCEL)).await;
        id += 2;
    }
    assert_eq!(c.get(id, "/").await.status, 200);
}

// ----- MadeYouReset (CVE-2025-8671) -----

/// Valid requests, each followed by a frame that makes the server reset
/// its stream (WINDOW_UPDATE of 0, WINDOW_UPDATE past 2^31-1, PRIORITY of
/// the wrong length, HEADERS or DATA after END_STREAM), 2,000 of each
/// kind: the server's resets count toward `h2_max_resets_per_sec` too,
/// and the 201st in a second is GOAWAY(ENHANCE_YOUR_CALM); the handlers of
/// reset streams are dropped. Bound: 2 MiB.
async fn made_you_reset(t: Transport) {
    let (_s, peer, probes) = serve(t, Limits::default()).await;
    let mut canary = Canary::start(peer).await;
    let head = get_block("/gated");
    let kinds: [Kind; 5] = [
        ("WINDOW_UPDATE 0", |id| window_update(id, 0)),
        ("WINDOW_UPDATE overflow", |id| {
            window_update(id, (1 << 31) - 1)
        }),
        ("PRIORITY of 4 bytes", |id| frame(PRIORITY, 0, id, &[0; 4])),
        ("HEADERS after END_STREAM", |id| {
            headers(id, END_HEADERS | END_STREAM, &get_block("/"))
        }),
        ("DATA after END_STREAM", |id| data(id, true, b"x")),
    ];
    for (what, primitive) in kinds {
        let mut c = H2Conn::handshake(peer).await;
        let mut attack = Vec::new();
        for i in 0..2_000u32 {
            let id = 1 + 2 * i;
            attack.extend(headers(id, END_HEADERS | END_STREAM, &head));
            attack.extend(primitive(id));
        }
        let heap = Heap::start();
        c.send(&attack).await;
        expect_goaway(&mut c, ENHANCE_YOUR_CALM).await;
        heap.assert_peak_below(2 * MIB, what);
        canary.more_answers(1).await;
    }
    canary.finish().await;
    until_idle().await;
    let max = Limits::default().h2_max_concurrent_streams as usize;
    assert!(probes.running.peak() <= max);
    assert_eq!(probes.running.now(), 0, "every handler dropped");
}

/// Twin: 2,000 requests each followed by frames that are valid on their
/// stream (a WINDOW_UPDATE, a PRIORITY) are served.
async fn valid_frames_after_requests(t: Transport) {
    let (_s, peer, _) = serve(t, Limits::default()).await;
    let mut c = H2Conn::handshake(peer).await;
    let head = get_block("/");
    for batch in 0..20u32 {
        let mut b = Vec::new();
        for i in 0..100u32 {
            let id = 1 + 2 * (batch * 100 + i);
            b.extend(headers(id, END_HEADERS | END_STREAM, &head));
            b.extend(window_update(id, 1_000));
            b.extend(priority(id, 0, 16));
        }
        c.send(&b).await;
        let ids: Vec<u32> = (0..100).map(|i| 1 + 2 * (batch * 100 + i)).collect();
        for r in responses(&mut c, &ids).await {
            assert_eq!(r, (200, 5));
        }
    }
}

// ----- PING, SETTINGS and PRIORITY floods (CVE-2019-9512, -9515, -9513) -----

/// A client that sends PINGs (2,000,000: 34 MB) or empty SETTINGS
/// (3,000,000) and never reads the answers: once the unwritten output
/// reaches `h2_max_queued_output` (1 MiB) the server stops reading it, and
/// the client's writes stall (TCP backpressure). Bound: that limit plus
/// the answers to one read and the TLS buffers, 3 MiB.
async fn ping_and_settings_flood_unread(t: Transport) {
    let (_s, peer, _) = serve(t, Limits::default()).await;
    let mut canary = Canary::start(peer).await;
    for (what, one, count) in [
        ("PING flood", ping(*b"flooding"), 2_000_000),
        ("SETTINGS flood", settings(&[]), 3_000_000),
    ] {
        let mut c = H2Conn::handshake(peer).await;
        let attack: Vec<u8> = one.repeat(count);
        let heap = Heap::start();
        let writer = tokio::spawn(async move {
            c.send(&attack).await;
            c
        });
        // Long enough for the server to reach its limit (it does in a
        // few milliseconds); the peak is kept whenever it was reached.
        canary.more_answers(50).await;
        assert!(!writer.is_finished(), "{what}: the server read it all");
        heap.assert_peak_below(3 * MIB, what);
        writer.abort();
        let _ = writer.await;
    }
    canary.finish().await;
}

/// Twin: PINGs at a normal rate, each answered, while requests go on.
async fn pings_at_a_normal_rate(t: Transport) {
    let (_s, peer, _) = serve(t, Limits::default()).await;
    let mut c = H2Conn::handshake(peer).await;
    for i in 0..200u32 {
        let payload = (u64::from(i)).to_be_bytes();
        c.send(&ping(payload)).await;
        let f = c.wait_for(PING).await;
        assert_eq!((f.has(ACK), &f.payload[..]), (true, &payload[..]));
        assert_eq!(c.get(1 + 2 * i, "/").await.status, 200);
    }
}

/// 100,000 PRIORITY frames on idle and closed streams: PRIORITY is
/// validated and otherwise ignored (RFC 9113 §5.3.2), so it costs a frame
/// parse each and keeps nothing. Bound: 256 KiB.
async fn priority_flood(t: Transport) {
    let (_s, peer, _) = serve(t, Limits::default()).await;
    let canary = Canary::start(peer).await;
    let mut c = H2Conn::handshake(peer).await;
    assert_eq!(c.get(1, "/").await.status, 200);
    let mut attack = Vec::new();
    for i in 0..100_000u32 {
        attack.extend(priority(1 + 2 * (i % 5_000), 0, (i % 256) as u8));
    }
    let heap = Heap::start();
    c.send(&attack).await;
    c.expect_alive().await;
    heap.assert_peak_below(256 * KIB, "PRIORITY flood");
    canary.finish().await;
}

/// Twin: requests with PRIORITY frames of their own are served.
async fn priority_legitimate(t: Transport) {
    let (_s, peer, _) = serve(t, Limits::default()).await;
    let mut c = H2Conn::handshake(peer).await;
    for i in 0..100u32 {
        let id = 1 + 2 * i;
        let mut b = priority(id, 0, 200);
        b.extend(headers(id, END_HEADERS | END_STREAM, &get_block("/")));
        b.extend(priority(id, 0, 10));
        c.send(&b).await;
        assert_eq!(c.response(id).await.status, 200);
    }
}

// ----- HPACK bomb (CVE-2016-6581) and the HTTP/2 Bomb (2026) -----

/// A field block whose size on the wire is small but whose header list is
/// not.
fn bomb_block(value_len: usize, refs: usize) -> Vec<u8> {
    let mut b = get_block("/gated");
    b.extend(block_indexed(&[("x-bomb", &"b".repeat(value_len))]));
    // Index 62: the entry just added (RFC 7541 §2.3.3).
    b.extend(vec![0x80 | 62; refs]);
    b
}

/// HPACK bomb: a 4,000-byte value put in the dynamic table, then
/// referenced 10,000 times in one 10 KB block (40 MB decoded). The list is
/// counted with 32 bytes per field (RFC 7541 §4.1) against
/// `h2_max_header_list_size` (64 KiB) and the decoder stops keeping fields
/// past it: the request is answered 431, the connection goes on. Bound:
/// 1 MiB.
async fn hpack_bomb(t: Transport) {
    let (_s, peer, probes) = serve(t, Limits::default()).await;
    let canary = Canary::start(peer).await;
    let mut c = H2Conn::handshake(peer).await;
    let b = bomb_block(4_000, 10_000);
    assert!(b.len() < 16_384);
    let heap = Heap::start();
    c.send(&headers(1, END_HEADERS | END_STREAM, &b)).await;
    assert_eq!(c.response(1).await.status, 431);
    heap.assert_peak_below(MIB, "HPACK bomb");
    assert_eq!(c.get(3, "/").await.status, 200);
    assert_eq!(probes.running.peak(), 0, "no handler ran");
    canary.finish().await;
}

/// HTTP/2 Bomb: many small fields (the count, `max_headers`, 100, and the
/// list size with 32 bytes per field bound a request head) on every
/// stream the client may open (256), the handlers holding the heads, the
/// client's window shut (INITIAL_WINDOW_SIZE 0) and opened a byte at a
/// time. One field more is answered 431. Bound: 256 heads of 100 fields,
/// 8 MiB.
async fn http2_bomb(t: Transport) {
    let (_s, peer, probes) = serve(t, Limits::default()).await;
    let canary = Canary::start(peer).await;
    let mut c = H2Conn::handshake_with(peer, &[(INITIAL_WINDOW_SIZE, 0)]).await;
    let streams = Limits::default().h2_max_concurrent_streams;
    // 1 indexed field + 99 references: 100 regular fields.
    let mut attack = headers(1, END_HEADERS | END_STREAM, &bomb_block(1, 99));
    let reference: Vec<u8> = {
        let mut b = get_block("/gated");
        b.extend(vec![0x80 | 62; 100]);
        b
    };
    for i in 1..streams {
        attack.extend(headers(1 + 2 * i, END_HEADERS | END_STREAM, &reference));
    }
    let heap = Heap::start();
    c.send(&attack).await;
    probes.gate.arrivals(streams as usize).await;
    heap.assert_peak_below(8 * MIB, "HTTP/2 Bomb: heads held by handlers");
    // One field over the count: 431 (the stream slot freed first).
    let mut over = get_block("/");
    over.extend(vec![0x80 | 62; 101]);
    c.send(&rst_stream(1, CANCEL)).await;
    c.send(&headers(2 * streams + 1, END_HEADERS | END_STREAM, &over))
        .await;
    c.send(&window_update(2 * streams + 1, 1_000)).await;
    let r = c.response(2 * streams + 1).await;
    assert_eq!(r.status, 431);
    // The windows open a byte at a time; answers trickle out.
    probes.gate.open();
    for _ in 0..3 {
        c.send(&window_update(3, 1)).await;
        let f = c.wait_for(DATA).await;
        assert_eq!(f.payload.len(), 1);
    }
    heap.assert_peak_below(8 * MIB, "HTTP/2 Bomb");
    canary.finish().await;
}

/// Twin: 100 requests with 50 fields each (some from the dynamic table)
/// are served.
async fn many_fields_legitimate(t: Transport) {
    let (_s, peer, _) = serve(t, Limits::default()).await;
    let mut c = H2Conn::handshake(peer).await;
    let mut first = get_block("/");
    first.extend(block_indexed(&[("x-common", "value")]));
    c.send(&headers(1, END_HEADERS | END_STREAM, &first)).await;
    assert_eq!(c.response(1).await.status, 200);
    for i in 1..100u32 {
        let mut b = get_block("/");
        b.extend(vec![0x80 | 62; 25]);
        let named: Vec<(String, String)> = (0..24)
            .map(|k| (format!("x-f{k}"), format!("v{k}")))
            .collect();
        let refs: Vec<(&str, &str)> = named
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        b.extend(block(&refs));
        c.send(&headers(1 + 2 * i, END_HEADERS | END_STREAM, &b))
            .await;
        assert_eq!(c.response(1 + 2 * i).await.status, 200);
    }
}

// ----- data dribble (CVE-2019-9511) -----

/// 100 streams of endless responses to a client whose windows are one
/// byte and opened a byte at a time: each producer stops once its stream's
/// send buffer (`h2_stream_send_buffer`, 64 KiB) is full. Bound: 100 ×
/// (64 KiB + two 1,000-byte chunks) produced, the heap under 8 MiB.
async fn data_dribble(t: Transport) {
    let (_s, peer, probes) = serve(t, Limits::default()).await;
    let mut canary = Canary::start(peer).await;
    let mut c = H2Conn::handshake_with(peer, &[(INITIAL_WINDOW_SIZE, 1)]).await;
    let mut b = Vec::new();
    for i in 0..100u32 {
        b.extend(headers(
            1 + 2 * i,
            END_HEADERS | END_STREAM,
            &get_block("/endless"),
        ));
    }
    let heap = Heap::start();
    c.send(&b).await;
    // The response heads, then one byte per stream per window update.
    let mut heads = 0;
    let mut bytes = 0;
    for round in 0..6 {
        if round > 0 {
            let mut drip = Vec::new();
            for i in 0..100u32 {
                drip.extend(window_update(1 + 2 * i, 1));
            }
            c.send(&drip).await;
        }
        while bytes < 100 * (round + 1) {
            let f = c.next_frame().await;
            match f.kind {
                HEADERS => heads += 1,
                DATA => bytes += f.payload.len(),
                _ => {}
            }
        }
        assert_eq!(bytes, 100 * (round + 1), "no more than the windows allow");
    }
    assert_eq!(heads, 100);
    canary.more_answers(1).await;
    canary.finish().await;
    until_idle().await;
    let bound = 100 * (Limits::default().h2_stream_send_buffer + 2 * 1_000);
    let made = probes.produced.0.load(Ordering::SeqCst);
    assert!(made <= bound, "producers ran ahead: {made} > {bound}");
    heap.assert_peak_below(8 * MIB, "data dribble");
}

/// Twin: a reader that opens its windows as it reads gets every body.
async fn downloads_legitimate(t: Transport) {
    let (_s, peer, _) = serve(t, Limits::default()).await;
    let mut c = H2Conn::handshake(peer).await;
    let mut b = Vec::new();
    for i in 0..10u32 {
        b.extend(headers(
            1 + 2 * i,
            END_HEADERS | END_STREAM,
            &get_block("/big"),
        ));
    }
    c.send(&b).await;
    let ids: Vec<u32> = (0..10).map(|i| 1 + 2 * i).collect();
    for r in responses(&mut c, &ids).await {
        assert_eq!(r, (200, 100_000));
    }
}

// ----- zero-length header names (CVE-2019-9516) -----

/// 5,000 fields with an empty name and value: malformed (RFC 9113
/// §8.2.1), RST_STREAM(PROTOCOL_ERROR), nothing kept per field; the
/// connection goes on. Bound: 512 KiB.
async fn zero_length_header_names(t: Transport) {
    let (_s, peer, _) = serve(t, Limits::default()).await;
    let canary = Canary::start(peer).await;
    let mut c = H2Conn::handshake(peer).await;
    let mut b = get_block("/");
    for _ in 0..5_000 {
        b.extend([0x00, 0x00, 0x00]);
    }
    let heap = Heap::start();
    c.send(&headers(1, END_HEADERS | END_STREAM, &b)).await;
    c.expect_stream_error(1, PROTOCOL_ERROR).await;
    heap.assert_peak_below(512 * KIB, "zero-length header names");
    assert_eq!(c.get(3, "/").await.status, 200);
    canary.finish().await;
}

/// Twin: fields with empty values are valid and served.
async fn empty_header_values_legitimate(t: Transport) {
    let (_s, peer, _) = serve(t, Limits::default()).await;
    let mut c = H2Conn::handshake(peer).await;
    let names: Vec<String> = (0..50).map(|k| format!("x-empty-{k}")).collect();
    let fields: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "")).collect();
    let b = request_block("GET", "/", &fields);
    c.send(&headers(1, END_HEADERS | END_STREAM, &b)).await;
    assert_eq!(c.response(1).await.status, 200);
}

// ----- SETTINGS_MAX_CONCURRENT_STREAMS + 1 -----

/// With 10 streams open (their handlers waiting), the 11th is refused
/// (RST_STREAM REFUSED_STREAM, RFC 9113 §5.1.2); the 10 are then answered.
async fn concurrent_streams_plus_one(t: Transport) {
    let (_s, peer, probes) = serve(t, limits(|l| l.h2_max_concurrent_streams = 10)).await;
    let canary = Canary::start(peer).await;
    let mut c = H2Conn::handshake(peer).await;
    let mut b = Vec::new();
    for i in 0..11u32 {
        b.extend(headers(
            1 + 2 * i,
            END_HEADERS | END_STREAM,
            &get_block("/gated"),
        ));
    }
    let heap = Heap::start();
    c.send(&b).await;
    c.expect_stream_error(21, REFUSED_STREAM).await;
    probes.gate.arrivals(10).await;
    heap.assert_peak_below(MIB, "MAX_CONCURRENT_STREAMS + 1");
    probes.gate.open();
    let ids: Vec<u32> = (0..10).map(|i| 1 + 2 * i).collect();
    for r in responses(&mut c, &ids).await {
        assert_eq!(r.0, 200);
    }
    canary.finish().await;
}

/// Twin: as many streams as allowed, again and again, are all served.
async fn concurrent_streams_up_to_the_limit(t: Transport) {
    let (_s, peer, probes) = serve(t, limits(|l| l.h2_max_concurrent_streams = 10)).await;
    probes.gate.open();
    let mut c = H2Conn::handshake(peer).await;
    for round in 0..5u32 {
        let mut b = Vec::new();
        for i in 0..10u32 {
            let id = 1 + 2 * (round * 10 + i);
            b.extend(headers(id, END_HEADERS | END_STREAM, &get_block("/gated")));
        }
        c.send(&b).await;
        let ids: Vec<u32> = (0..10).map(|i| 1 + 2 * (round * 10 + i)).collect();
        for r in responses(&mut c, &ids).await {
            assert_eq!(r.0, 200);
        }
    }
}

// ----- one access record per request, refused ones included -----

use support::access_log::{Collect, Records};

/// A malformed request head and a stream over the concurrency limit are
/// reset before any handler runs; each still gets its access record
/// (status 0, outcome `reset`, the error code as `reason`; the request
/// line when the head was well-formed), as does a stream the client
/// resets.
#[test]
fn refused_requests_get_access_records() {
    // Alone from the start: a callsite first reached on another thread
    // while the subscriber is being set may cache "never" for good.
    alone(refused_requests_get_access_records_alone)
}

fn refused_requests_get_access_records_alone() {
    use tracing_subscriber::layer::SubscriberExt;
    let records: Records = Arc::default();
    let subscriber = tracing_subscriber::registry().with(Collect(records.clone()));
    let _guard = tracing::subscriber::set_default(subscriber);
    block_on(false, async {
        let (s, peer, probes) = serve(
            Transport::Cleartext,
            limits(|l| l.h2_max_concurrent_streams = 1),
        )
        .await;
        let mut c = H2Conn::handshake(peer).await;
        let bad = request_block("GET", "/malformed", &[("Upper", "x")]);
        c.send(&headers(1, END_HEADERS | END_STREAM, &bad)).await;
        c.expect_stream_error(1, PROTOCOL_ERROR).await;
        c.send(&headers(3, END_HEADERS | END_STREAM, &get_block("/gated")))
            .await;
        probes.gate.arrivals(1).await;
        c.send(&headers(
            5,
            END_HEADERS | END_STREAM,
            &get_block("/refused"),
        ))
        .await;
        c.expect_stream_error(5, REFUSED_STREAM).await;
        c.send(&rst_stream(3, CANCEL)).await;
        c.expect_alive().await;
        drop(c);
        s.shutdown().await;
    });
    let records = records.lock().expect("records").clone();
    let find = |target: &str| {
        records
            .iter()
            .find(|r| r.get("target").map(String::as_str) == Some(target))
            .unwrap_or_else(|| panic!("no record for {target}: {records:#?}"))
            .clone()
    };
    let malformed = records
        .iter()
        .find(|r| r.get("reason").map(String::as_str) == Some("PROTOCOL_ERROR"))
        .unwrap_or_else(|| panic!("no record for the malformed request: {records:#?}"));
    assert_eq!(malformed["status"], "0");
    assert_eq!(malformed["outcome"], "reset");
    assert_eq!(malformed["protocol"], "h2c");
    let refused = find("/refused");
    assert_eq!(refused["status"], "0");
    assert_eq!(refused["outcome"], "reset");
    assert_eq!(refused["reason"], "REFUSED_STREAM");
    assert_eq!(refused["method"], "GET");
    let cancelled = find("/gated");
    assert_eq!(cancelled["outcome"], "reset");
    assert_eq!(cancelled["reason"], "CANCEL");
    assert_eq!(records.len(), 3, "{records:#?}");
}

abuse! {
    real: [
        continuation_flood,
        continuation_legitimate,
        empty_frames_flood,
        empty_frames_legitimate,
        small_data_frames_unread,
        small_data_frames_read_promptly,
        rapid_reset,
        many_short_streams,
        made_you_reset,
        valid_frames_after_requests,
        ping_and_settings_flood_unread,
        pings_at_a_normal_rate,
        priority_flood,
        priority_legitimate,
        hpack_bomb,
        http2_bomb,
        many_fields_legitimate,
        data_dribble,
        downloads_legitimate,
        zero_length_header_names,
        empty_header_values_legitimate,
        concurrent_streams_plus_one,
        concurrent_streams_up_to_the_limit,
    ]
    paused: [
        header_block_timeout,
        header_block_slow_but_in_time,
    ]
}
