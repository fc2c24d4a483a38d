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

/// Runs `test` alone, on a current-thread runtime (paused when `paused`).
fn run<F: Future<Output = ()>>(paused: bool, test: F) {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(paused)
        .build()
        .expect("runtime");
    rt.block_on(test);
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

abuse! {
    real: [
        small_data_frames_unread,
        small_data_frames_read_promptly,
    ]
    paused: []
}
