//! Streamed response and request bodies end to end: 100 MB each way with a
//! checksum, and backpressure measured structurally (how far a producer
//! gets ahead of a reader that stopped), never by timing or RSS.

mod stream_support;
mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use duet::{Body, Path, Response, Server, StatusCode};
use stream_support::{h2_get, h2c_connect, Proto, Target};
use support::{limits, until_idle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MB: u64 = 1024 * 1024;
const CHUNK: usize = 64 * 1024;

/// FNV-1a over a byte stream: order-sensitive, so a lost, repeated or
/// reordered chunk changes it.
#[derive(Clone, Copy)]
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn update(&mut self, bytes: &[u8]) {
        let mut h = self.0;
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// A few distinct 64 KiB blocks; chunk `i` of a payload is block
/// `i % blocks.len()` (cheap to produce, different per position).
fn blocks() -> Arc<Vec<Bytes>> {
    Arc::new(
        (0u8..7)
            .map(|k| {
                let v: Vec<u8> = (0..CHUNK)
                    .map(|i| (i as u8).wrapping_mul(31).wrapping_add(k.wrapping_mul(101)))
                    .collect();
                Bytes::from(v)
            })
            .collect(),
    )
}

/// Chunk `i` of a payload of `len` bytes, or `None` past its end.
fn chunk_at(blocks: &[Bytes], len: u64, i: u64) -> Option<Bytes> {
    let start = i * CHUNK as u64;
    if start >= len {
        return None;
    }
    let take = (len - start).min(CHUNK as u64) as usize;
    Some(blocks[(i % blocks.len() as u64) as usize].slice(..take))
}

/// The payload of `len` bytes as a stream of chunks.
fn payload(len: u64) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    let blocks = blocks();
    futures_util::stream::unfold(0u64, move |i| {
        let next = chunk_at(&blocks, len, i);
        async move { next.map(|c| (Ok(c), i + 1)) }
    })
}

fn expected_checksum(len: u64) -> u64 {
    let blocks = blocks();
    let mut h = Fnv::new();
    let mut i = 0;
    while let Some(c) = chunk_at(&blocks, len, i) {
        h.update(&c);
        i += 1;
    }
    h.0
}

/// `GET /download/{n}` (Content-Length known) and `GET /chunked/{n}`
/// (length unknown: chunked on HTTP/1.1).
async fn download(Path(n): Path<u64>) -> Response {
    Response::new(StatusCode::OK, Body::from_stream_sized(payload(n), Some(n)))
}

async fn chunked(Path(n): Path<u64>) -> Response {
    Response::stream(payload(n))
}

/// `POST /upload`: reads the body chunk by chunk (never whole), answers
/// "<bytes> <checksum hex> <largest chunk>".
async fn upload(mut body: Body) -> Result<String, duet::HttpError> {
    let mut h = Fnv::new();
    let mut total = 0u64;
    let mut largest = 0usize;
    while let Some(c) = body.chunk().await {
        let c = c.map_err(|e| {
            let status = match e {
                duet::BodyError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
                _ => StatusCode::BAD_REQUEST,
            };
            duet::HttpError::new(status, e.to_string())
        })?;
        total += c.len() as u64;
        largest = largest.max(c.len());
        h.update(&c);
    }
    Ok(format!("{total} {:016x} {largest}", h.0))
}

/// Chunks `/endless` makes at most: far more than any test reads, and a
/// bound, so that a server that does not hold its producer back fails the
/// test instead of running forever.
const ENDLESS_CHUNKS: u64 = 1024;

/// `GET /endless`: 64 KiB chunks without end for the tests (up to
/// `ENDLESS_CHUNKS`), counting how many were produced.
fn endless_route(s: &mut Server) -> Arc<AtomicU64> {
    let produced = Arc::new(AtomicU64::new(0));
    let p = produced.clone();
    s.get("/endless", move || {
        let p = p.clone();
        async move {
            let block = Bytes::from(vec![b'z'; CHUNK]);
            Response::stream(futures_util::stream::unfold((), move |()| {
                let more = p.fetch_add(1, Ordering::SeqCst) < ENDLESS_CHUNKS;
                let b = block.clone();
                async move { more.then_some((Ok::<_, std::io::Error>(b), ())) }
            }))
        }
    });
    produced
}

fn app(proto: Proto) -> (Server, Arc<AtomicU64>) {
    let mut s = proto
        .server()
        .limits(limits(|l| l.max_body_bytes = 200 * MB));
    s.get("/download/{n}", download)
        .get("/chunked/{n}", chunked)
        .post("/upload", upload);
    let produced = endless_route(&mut s);
    (s, produced)
}

/// Reads a response body as a stream, returning (bytes, checksum).
async fn drain(mut resp: reqwest::Response) -> (u64, u64) {
    let mut h = Fnv::new();
    let mut total = 0u64;
    while let Some(c) = resp.chunk().await.expect("body chunk") {
        total += c.len() as u64;
        h.update(&c);
    }
    (total, h.0)
}

async fn download_100mb(t: &Target, path: &str, sized: bool) {
    let n = 100 * MB;
    let resp = t.get(&format!("{path}/{n}")).await;
    assert_eq!(resp.status(), 200);
    if sized {
        assert_eq!(resp.content_length(), Some(n));
    }
    let (total, sum) = drain(resp).await;
    assert_eq!(total, n);
    assert_eq!(sum, expected_checksum(n));
}

async fn download_100mb_with_known_length(proto: Proto) {
    let (server, _) = app(proto);
    let t = Target::start(proto, server).await;
    download_100mb(&t, "/download", true).await;
}

async fn download_100mb_of_unknown_length(proto: Proto) {
    let (server, _) = app(proto);
    let t = Target::start(proto, server).await;
    download_100mb(&t, "/chunked", false).await;
}

async fn upload_100mb_streamed_to_the_handler(proto: Proto) {
    let (server, _) = app(proto);
    let t = Target::start(proto, server).await;
    let n = 100 * MB;
    let resp = t
        .client
        .post(t.url("/upload"))
        .body(reqwest::Body::wrap_stream(payload(n)))
        .send()
        .await
        .expect("response");
    assert_eq!(resp.version(), proto.version());
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.expect("body");
    let parts: Vec<&str> = text.split(' ').collect();
    assert_eq!(parts.len(), 3, "{text}");
    assert_eq!(parts[0], n.to_string());
    assert_eq!(parts[1], format!("{:016x}", expected_checksum(n)));
    // The handler saw the body in pieces, not as one 100 MB buffer.
    let largest: u64 = parts[2].parse().expect("number");
    assert!(largest < MB, "largest chunk {largest} bytes");
}

async fn upload_past_the_limit_is_refused(proto: Proto) {
    let mut s = proto.server().limits(limits(|l| l.max_body_bytes = MB));
    s.post("/upload", upload);
    let t = Target::start(proto, s).await;
    let resp = t
        .client
        .post(t.url("/upload"))
        .body(reqwest::Body::wrap_stream(payload(4 * MB)))
        .send()
        .await;
    // The handler streams the body and is stopped at the limit: 413 (the
    // server stops reading the rest: lingering close on HTTP/1.1, the
    // stream reset after the response on HTTP/2).
    let resp = resp.expect("the 413 response arrives");
    assert_eq!(resp.status(), 413);
}

per_protocol!(h1 = crate::Proto::H1 =>
    download_100mb_with_known_length,
    download_100mb_of_unknown_length,
    upload_100mb_streamed_to_the_handler,
    upload_past_the_limit_is_refused,
);

per_protocol!(h2c = crate::Proto::H2c =>
    download_100mb_with_known_length,
    download_100mb_of_unknown_length,
    upload_100mb_streamed_to_the_handler,
    upload_past_the_limit_is_refused,
);

per_protocol!(h2 = crate::Proto::H2 =>
    download_100mb_with_known_length,
    download_100mb_of_unknown_length,
    upload_100mb_streamed_to_the_handler,
    upload_past_the_limit_is_refused,
);

/// The producer's count once the server has stopped polling it: when
/// nothing on the runtime can run any more (see `support::until_idle`).
async fn stalled(produced: &AtomicU64) -> u64 {
    until_idle().await;
    produced.load(Ordering::SeqCst)
}

// ---------------------------------------------------------------------------
// HTTP/1.1 backpressure, over raw TCP.

#[tokio::test]
async fn h1_slow_reader_bounds_what_the_producer_runs_ahead() {
    let (server, produced) = app(Proto::H1);
    let t = Target::start(Proto::H1, server).await;
    let mut s = tokio::net::TcpStream::connect(t.addr())
        .await
        .expect("connect");
    s.write_all(b"GET /endless HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    // Read a little, then stop reading.
    let mut buf = vec![0u8; 256 * 1024];
    let mut got = 0;
    while got < 200 * 1024 {
        got += s.read(&mut buf).await.expect("read");
    }
    let ahead = stalled(&produced).await;
    eprintln!("producer stalled {ahead} chunks ahead");
    // What the server holds is its write buffer (64 KiB) and one chunk;
    // the rest of what the producer made sits in the two kernels' socket
    // buffers (a few MiB at most). An unbounded server would run on.
    assert!(
        ahead * (CHUNK as u64) < 32 * MB,
        "producer ran {ahead} chunks ahead of a stopped reader"
    );
    // Reading again lets the producer go on.
    let mut more = 0u64;
    while more < (ahead + 64) * CHUNK as u64 {
        let n = s.read(&mut buf).await.expect("read");
        assert!(n > 0, "stream ended");
        more += n as u64;
    }
    assert!(produced.load(Ordering::SeqCst) > ahead);
}

// ---------------------------------------------------------------------------
// HTTP/2 backpressure, with the h2 crate as the client.

#[tokio::test]
async fn h2c_slow_reader_bounds_its_producer_and_stalls_no_other_stream() {
    let (server, produced) = app(Proto::H2c);
    let t = Target::start(Proto::H2c, server).await;
    let (send, _conn) = h2c_connect(t.addr()).await;
    // Stream A: endless, and the client never reads it (no WINDOW_UPDATE
    // for it), so only its 65 535-byte window of data can leave.
    let (resp, _) = send
        .clone()
        .ready()
        .await
        .expect("ready")
        .send_request(h2_get(t.addr(), "/endless"), true)
        .expect("send");
    let mut slow = resp.await.expect("response").into_body();
    let ahead = stalled(&produced).await;
    eprintln!("producer stalled {ahead} chunks ahead");
    // What the server holds for the stream: its send buffer
    // (Limits::h2_stream_send_buffer, 64 KiB) and the chunk in hand; plus
    // the 64 KiB the window let out. Four chunks, with slack: 8.
    assert!(
        ahead <= 8,
        "producer ran {ahead} chunks of 64 KiB ahead of a reader that stopped"
    );
    // Stream B on the same connection downloads 10 MB meanwhile.
    let n = 10 * MB;
    let (resp, _) = send
        .clone()
        .ready()
        .await
        .expect("ready")
        .send_request(h2_get(t.addr(), &format!("/download/{n}")), true)
        .expect("send");
    let mut fast = resp.await.expect("response").into_body();
    let (mut total, mut h) = (0u64, Fnv::new());
    while let Some(c) = fast.data().await {
        let c = c.expect("data");
        let _ = fast.flow_control().release_capacity(c.len());
        total += c.len() as u64;
        h.update(&c);
    }
    assert_eq!((total, h.0), (n, expected_checksum(n)));
    // A is still held where it was; reading it lets its producer go on.
    assert_eq!(produced.load(Ordering::SeqCst), ahead);
    let mut more = 0u64;
    while more < (ahead + 16) * CHUNK as u64 {
        let c = slow.data().await.expect("more data").expect("data");
        let _ = slow.flow_control().release_capacity(c.len());
        more += c.len() as u64;
    }
    assert!(produced.load(Ordering::SeqCst) > ahead);
}
