//! HTTP/1.1 end to end: a real server on an ephemeral port, real clients
//! (reqwest, curl, raw TCP for byte-exact checks).

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use duet::{
    Body, ConnContext, Json, Method, Path, Query, RequestContext, Response, Server, State,
    StatusCode,
};
use serde::{Deserialize, Serialize};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn hello() -> &'static str {
    "hello"
}

async fn greet(Path(name): Path<String>) -> String {
    format!("hello {name}")
}

async fn echo(body: Bytes) -> Bytes {
    body
}

#[derive(Deserialize)]
struct Page {
    n: u32,
    q: Option<String>,
}

async fn page(Query(p): Query<Page>) -> String {
    format!("n={} q={}", p.n, p.q.unwrap_or_default())
}

#[derive(Deserialize, Serialize)]
struct Item {
    name: String,
    count: u32,
}

async fn json_echo(Json(item): Json<Item>) -> Json<Item> {
    Json(Item {
        name: item.name,
        count: item.count + 1,
    })
}

async fn counted(State(hits): State<Arc<AtomicUsize>>) -> String {
    (hits.fetch_add(1, Ordering::SeqCst) + 1).to_string()
}

async fn conn_info(req: RequestContext, conn: ConnContext) -> String {
    #[derive(Clone, Default)]
    struct Seen(u32);
    let seen = conn.update(|s: &mut Seen| s.0 += 1).0;
    format!(
        "{} {} conn={} seen={} proto={}",
        req.method(),
        req.path(),
        conn.id(),
        seen,
        conn.protocol()
    )
}

async fn boom() -> &'static str {
    panic!("handler bug")
}

/// Answers once the test opens the server's gate.
async fn slow(State(gate): State<Gate>) -> &'static str {
    gate.pass().await;
    "slow done"
}

async fn two_params(Path((a, b)): Path<(String, u32)>) -> String {
    format!("{a}:{b}")
}

async fn status_tuple() -> (StatusCode, &'static str) {
    (StatusCode::CREATED, "made")
}

async fn fails() -> Result<&'static str, duet::HttpError> {
    Err(duet::HttpError::new(StatusCode::CONFLICT, "already there"))
}

async fn streamed() -> Response {
    let chunks =
        futures_util::stream::iter((0..5).map(|i| Ok::<_, std::io::Error>(format!("part{i};"))));
    Response::stream(chunks)
}

/// GET `url` and the response body as text.
async fn get_text(c: &reqwest::Client, url: String) -> String {
    c.get(url).send().await.unwrap().text().await.unwrap()
}

fn app() -> Server {
    let mut s = support::local()
        .state(Arc::new(AtomicUsize::new(0)))
        .state(Gate::default());
    s.get("/", hello)
        .get("/hello/{name}", greet)
        .post("/echo", echo)
        .get("/page", page)
        .post("/json", json_echo)
        .get("/count", counted)
        .get("/conn", conn_info)
        .get("/boom", boom)
        .get("/slow", slow)
        .get("/pair/{a}/{b}", two_params)
        .get("/created", status_tuple)
        .get("/fails", fails)
        .get("/stream", streamed)
        .route("/multi", [Method::PUT, Method::DELETE], hello);
    s
}

#[tokio::test]
async fn reqwest_routes_extractors_and_errors() {
    let running = start([app()]).await;
    let base = format!("http://{}", running.addr());
    let c = reqwest::Client::new();

    let r = c.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("date"));
    assert_eq!(r.headers()["server"], "duet");
    assert_eq!(r.text().await.unwrap(), "hello");

    assert_eq!(
        get_text(&c, format!("{base}/hello/world")).await,
        "hello world"
    );
    assert_eq!(
        get_text(&c, format!("{base}/hello/a%20b")).await,
        "hello a b"
    );
    assert_eq!(get_text(&c, format!("{base}/pair/x/7")).await, "x:7");
    assert_eq!(
        c.get(format!("{base}/pair/x/notnum"))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(
        get_text(&c, format!("{base}/page?n=3&q=a+b")).await,
        "n=3 q=a b"
    );
    assert_eq!(
        c.get(format!("{base}/page?n=x"))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );

    let r = c
        .post(format!("{base}/echo"))
        .body("ping")
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "ping");

    let r = c
        .post(format!("{base}/json"))
        .json(&serde_json::json!({"name": "a", "count": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["count"], 2);
    // Wrong media type, malformed JSON, wrong shape.
    assert_eq!(
        c.post(format!("{base}/json"))
            .body("{}")
            .send()
            .await
            .unwrap()
            .status(),
        415
    );
    let bad = c
        .post(format!("{base}/json"))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let shape = c
        .post(format!("{base}/json"))
        .header("content-type", "application/json")
        .body(r#"{"name":1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(shape.status(), 422);
    assert!(shape.text().await.unwrap().contains("invalid JSON body"));

    assert_eq!(get_text(&c, format!("{base}/count")).await, "1");
    assert_eq!(get_text(&c, format!("{base}/count")).await, "2");

    let r = c.get(format!("{base}/created")).send().await.unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.text().await.unwrap(), "made");
    let r = c.get(format!("{base}/fails")).send().await.unwrap();
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("already there"));

    let r = c.get(format!("{base}/stream")).send().await.unwrap();
    assert_eq!(r.headers()["transfer-encoding"], "chunked");
    assert_eq!(r.text().await.unwrap(), "part0;part1;part2;part3;part4;");

    running.shutdown().await;
}

#[tokio::test]
async fn not_found_and_method_not_allowed_are_complete() {
    let running = start([app()]).await;
    let addr = running.addr();
    let r = raw(
        addr,
        b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&r), 404);
    let (head, body) = r.split_once("\r\n\r\n").unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(|v| v.trim().parse().unwrap())
        })
        .expect("404 has content-length");
    assert!(len > 0);
    assert_eq!(body.len(), len);

    let r = raw(
        addr,
        b"POST /hello/x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&r), 405);
    assert!(r.to_ascii_lowercase().contains("allow: get, head"), "{r}");
    let r = raw(
        addr,
        b"GET /multi HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&r), 405);
    assert!(r.to_ascii_lowercase().contains("allow: delete, put"), "{r}");
    running.shutdown().await;
}

#[tokio::test]
async fn head_has_headers_but_no_body() {
    let running = start([app()]).await;
    let r = raw(
        running.addr(),
        b"HEAD /hello/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&r), 200);
    assert!(r.to_ascii_lowercase().contains("content-length: 7"), "{r}");
    assert!(
        r.ends_with("\r\n\r\n"),
        "HEAD response must end after the head: {r:?}"
    );
    running.shutdown().await;
}

#[tokio::test]
async fn handler_panic_answers_500_and_connection_lives() {
    let running = start([app()]).await;
    let mut s = TcpStream::connect(running.addr()).await.unwrap();
    s.write_all(b"GET /boom HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let r = read_until(&mut s, "\r\n\r\n", 1).await;
    assert_eq!(status_of(&r), 500);
    // Same connection, next request works.
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let r = read_to_close(&mut s).await;
    assert!(r.contains("HTTP/1.1 200") && r.ends_with("hello"), "{r}");
    running.shutdown().await;
}

#[tokio::test]
async fn pipelined_requests_answered_in_order() {
    let gate = Gate::default();
    let running = start([app().state(gate.clone())]).await;
    let mut s = TcpStream::connect(running.addr()).await.unwrap();
    // The slow one first: its answer must still come first.
    let reqs = b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n\
GET /hello/one HTTP/1.1\r\nHost: x\r\n\r\n\
POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nfive!\
GET /hello/two HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    s.write_all(reqs).await.unwrap();
    // /slow is held until the server has done all it can with the others.
    gate.arrivals(1).await;
    until_idle().await;
    gate.open();
    let r = read_to_close(&mut s).await;
    let order: Vec<usize> = ["slow done", "hello one", "five!", "hello two"]
        .iter()
        .map(|n| r.find(n).unwrap_or_else(|| panic!("missing {n} in {r}")))
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "out of order: {r}");
    assert_eq!(r.matches("HTTP/1.1 200").count(), 4);
    running.shutdown().await;
}

#[tokio::test]
async fn keep_alive_and_connection_values() {
    let running = start([app()]).await;
    let mut s = TcpStream::connect(running.addr()).await.unwrap();
    s.write_all(b"GET /conn HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let a = read_until(&mut s, "proto=", 1).await;
    s.write_all(b"GET /conn HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let b = read_to_close(&mut s).await;
    assert!(a.contains("seen=1") && a.contains("proto=http/1.1"), "{a}");
    assert!(b.contains("seen=2"), "connection values persist: {b}");
    assert!(b.to_ascii_lowercase().contains("connection: close"));

    // HTTP/1.0 closes by default, stays open with keep-alive.
    let r = raw(running.addr(), b"GET / HTTP/1.0\r\n\r\n").await;
    assert!(
        r.starts_with("HTTP/1.0 200") || r.starts_with("HTTP/1.1 200"),
        "{r}"
    );
    assert!(r.ends_with("hello"));
    let mut s = TcpStream::connect(running.addr()).await.unwrap();
    s.write_all(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .await
        .unwrap();
    let first = read_until(&mut s, "hello", 1).await;
    assert!(
        first
            .to_ascii_lowercase()
            .contains("connection: keep-alive"),
        "{first}"
    );
    s.write_all(b"GET /hello/again HTTP/1.0\r\n\r\n")
        .await
        .unwrap();
    assert!(read_to_close(&mut s).await.ends_with("hello again"));
    running.shutdown().await;
}

#[tokio::test]
async fn chunked_upload_and_expect_continue() {
    let running = start([app()]).await;
    let r = raw(
        running.addr(),
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n",
    )
    .await;
    assert!(r.ends_with("hello world"), "{r}");

    // 100-continue: the interim response comes before we send the body.
    let mut s = TcpStream::connect(running.addr()).await.unwrap();
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let interim = read_until(&mut s, "100 Continue\r\n\r\n", 1).await;
    assert!(
        interim.starts_with("HTTP/1.1 100 Continue\r\n\r\n"),
        "{interim:?}"
    );
    s.write_all(b"data").await.unwrap();
    let r = read_to_close(&mut s).await;
    assert!(r.starts_with("HTTP/1.1 200") && r.ends_with("data"), "{r}");
    running.shutdown().await;
}

#[tokio::test]
async fn bad_requests_get_one_clear_status() {
    let limits = limits(|l| {
        l.max_body_bytes = 16;
        l.max_uri_bytes = 64;
        l.max_header_bytes = 1024;
    });
    let mut s = support::local().limits(limits);
    s.post("/echo", echo).get("/", hello);
    let running = start([s]).await;
    let addr = running.addr();
    let long_uri = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(100));
    let big_header = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "b".repeat(2000)
    );
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("garbage request line", b"HELLO\r\n\r\n".to_vec(), 400),
        ("missing host", b"GET / HTTP/1.1\r\n\r\n".to_vec(), 400),
        ("two hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".to_vec(), 400),
        ("space before colon", b"GET / HTTP/1.1\r\nHost : a\r\n\r\n".to_vec(), 400),
        ("obs-fold", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n".to_vec(), 400),
        ("cl and te", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(), 400),
        ("differing cl", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd".to_vec(), 400),
        ("bad chunk size", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".to_vec(), 400),
        ("unknown coding", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n".to_vec(), 501),
        ("uri too long", long_uri.into_bytes(), 414),
        ("header too large", big_header.into_bytes(), 431),
        ("body too large", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n".to_vec(), 413),
        ("chunked body too large", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n20\r\naaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n0\r\n\r\n".to_vec(), 413),
        ("http/2.0 on h1", b"GET / HTTP/2.0\r\nHost: a\r\n\r\n".to_vec(), 505),
        ("unknown version", b"GET / HTTP/1.2\r\nHost: a\r\n\r\n".to_vec(), 505),
    ];
    for (what, req, want) in cases {
        let r = raw(addr, &req).await;
        assert_eq!(status_of(&r), want, "{what}: {r:?}");
        assert_eq!(
            r.matches("HTTP/1.1 ").count(),
            1,
            "{what}: exactly one response: {r:?}"
        );
    }
    // The server still serves everyone else.
    let r = raw(
        addr,
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(r.ends_with("hello"));
    running.shutdown().await;
}

#[tokio::test]
async fn slow_header_times_out_with_408() {
    let limits = limits(|l| l.header_read_timeout = Duration::from_millis(300));
    let mut s = support::local().limits(limits);
    s.get("/", hello);
    let running = start([s]).await;
    let mut c = TcpStream::connect(running.addr()).await.unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let r = read_to_close(&mut c).await;
    assert_eq!(status_of(&r), 408, "{r}");
    running.shutdown().await;
}

#[tokio::test]
async fn virtual_hosts_by_host_header() {
    async fn a() -> &'static str {
        "site a"
    }
    async fn b() -> &'static str {
        "site b"
    }
    async fn fallback() -> &'static str {
        "fallback"
    }
    let mut sa = support::local().hostname("a.test");
    sa.get("/", a);
    let mut sb = support::local().hostname("B.test");
    sb.get("/", b).get("/shared", hello);
    sa.get("/shared", hello);
    let running = start([sa, sb]).await;
    assert_eq!(running.addrs().len(), 1, "same address → one listener");
    let addr = running.addr();
    let get = |host: &'static str| async move {
        raw(
            addr,
            format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
    };
    assert!(get("a.test").await.ends_with("site a"));
    assert!(get("A.TEST:8080").await.ends_with("site a"));
    assert!(get("b.test").await.ends_with("site b"));
    assert_eq!(status_of(&get("c.test").await), 421);
    running.shutdown().await;

    // With a server without hostname, unknown hosts go there.
    let mut sa = support::local().hostname("a.test");
    sa.get("/", a);
    let mut sf = support::local();
    sf.get("/", fallback);
    let running = start([sa, sf]).await;
    let addr = running.addr();
    let r = raw(
        addr,
        b"GET / HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(r.ends_with("fallback"), "{r}");
    let r = raw(
        addr,
        b"GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(r.ends_with("site a"), "{r}");
    running.shutdown().await;
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_request() {
    let gate = Gate::default();
    let running = start([app().state(gate.clone())]).await;
    let addr = running.addr();
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    // An idle keep-alive connection is closed by shutdown.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let _ = read_until(&mut idle, "hello", 1).await;
    // The slow request is in its handler when shutdown begins; then it
    // may finish.
    gate.arrivals(1).await;
    running.shutdown_handle().shutdown();
    gate.open();
    let (cut, r) = tokio::join!(running.shutdown(), read_to_close(&mut s));
    assert_eq!(cut, 0, "nothing cut at the deadline");
    assert!(r.contains("200 OK") && r.ends_with("slow done"), "{r}");
    assert!(r.to_ascii_lowercase().contains("connection: close"));
    let rest = read_to_close(&mut idle).await;
    assert!(
        rest.is_empty(),
        "idle connection closed without a response: {rest:?}"
    );
    // No longer accepting.
    assert!(
        TcpStream::connect(addr).await.is_err()
            || raw(addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                .await
                .is_empty()
    );
}

/// The twin of the test above: a handler that has not answered when the
/// shutdown grace ends is cut, and shutdown completes without it.
#[tokio::test]
async fn a_request_still_running_when_the_grace_ends_is_cut() {
    let gate = Gate::default();
    let mut limits = duet::Limits::default();
    limits.set("shutdown_grace", "200ms").unwrap();
    let running = start([app().state(gate.clone()).limits(limits)]).await;
    let addr = running.addr();
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    gate.arrivals(1).await;
    running.shutdown_handle().shutdown();
    // The gate stays shut: the handler never answers.
    let (cut, r) = tokio::join!(running.shutdown(), read_to_close(&mut s));
    assert_eq!(cut, 1, "the connection is cut at the deadline");
    assert!(r.is_empty(), "no response from a cut handler: {r:?}");
}

#[tokio::test]
async fn curl_keep_alive_reuse_and_upload() {
    require("curl");
    let running = start([app()]).await;
    let base = format!("http://{}", running.addr());
    let (ok, out, err) = run(
        "curl",
        &[
            "-sv",
            &format!("{base}/hello/a"),
            &format!("{base}/hello/b"),
        ],
    )
    .await;
    assert!(ok, "{err}");
    assert_eq!(out, "hello ahello b");
    assert!(
        err.contains("Re-using existing connection") || err.contains("Reusing existing"),
        "curl reused the connection: {err}"
    );

    let (ok, out, err) = run(
        "curl",
        &[
            "-s",
            "-H",
            "Transfer-Encoding: chunked",
            "--data-binary",
            "chunky",
            &format!("{base}/echo"),
        ],
    )
    .await;
    assert!(ok, "{err}");
    assert_eq!(out, "chunky");
    let (_, out, _) = run(
        "curl",
        &[
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &format!("{base}/missing"),
        ],
    )
    .await;
    assert_eq!(out, "404");
    running.shutdown().await;
}

#[tokio::test]
async fn hyper_client_many_requests_one_connection() {
    use http_body_util::{BodyExt, Full};
    let running = start([app()]).await;
    let stream = TcpStream::connect(running.addr()).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    for i in 0..50 {
        let req = http::Request::post("/echo")
            .header("host", "x")
            .body(Full::new(Bytes::from(format!("msg {i}"))))
            .unwrap();
        let resp = send.send_request(req).await.unwrap();
        assert_eq!(resp.status(), 200);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, format!("msg {i}"));
    }
    running.shutdown().await;
}

#[tokio::test]
async fn large_streamed_request_body_reaches_handler() {
    async fn count(mut body: Body) -> String {
        let mut n = 0usize;
        while let Some(c) = body.chunk().await {
            n += c.unwrap().len();
        }
        n.to_string()
    }
    let mut s = support::local().limits(limits(|l| l.max_body_bytes = 64 << 20));
    s.post("/count", count);
    let running = start([s]).await;
    let body = vec![7u8; 8 << 20];
    let r = reqwest::Client::new()
        .post(format!("http://{}/count", running.addr()))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), (8 << 20).to_string());
    running.shutdown().await;
}

#[tokio::test]
async fn a_small_body_the_handler_ignores_is_drained_and_the_connection_kept() {
    let running = start([app()]).await;
    let mut s = TcpStream::connect(running.addr()).await.unwrap();
    // `/multi` answers without reading its body; the body arrives after
    // the answer went out.
    s.write_all(b"PUT /multi HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n01234")
        .await
        .unwrap();
    let first = read_until(&mut s, "hello", 1).await;
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    assert!(!first.contains("connection: close"), "{first}");
    s.write_all(b"56789GET /hello/again HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let second = read_to_close(&mut s).await;
    assert!(second.ends_with("hello again"), "{second}");
    running.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_stalled_body_is_answered_408_after_the_body_read_timeout() {
    let limits = limits(|l| l.body_read_timeout = Duration::from_secs(5));
    let mut s = support::local().limits(limits);
    s.post("/echo", echo);
    let running = start([s]).await;
    let mut c = TcpStream::connect(running.addr()).await.unwrap();
    c.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        .await
        .unwrap();
    let t0 = tokio::time::Instant::now();
    let r = read_to_close(&mut c).await;
    assert_eq!(status_of(&r), 408, "{r}");
    assert!(
        r.ends_with("408 Request Timeout: request body not received in time\n"),
        "{r}"
    );
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_secs(5) && waited < Duration::from_secs(7),
        "{waited:?}"
    );
    running.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn an_idle_connection_closes_after_the_keep_alive_timeout() {
    let limits = limits(|l| l.keep_alive_timeout = Duration::from_secs(30));
    let mut s = support::local().limits(limits);
    s.get("/", hello);
    let running = start([s]).await;
    let mut c = TcpStream::connect(running.addr()).await.unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let r = read_until(&mut c, "hello", 1).await;
    assert_eq!(status_of(&r), 200, "{r}");
    let t0 = tokio::time::Instant::now();
    // Nothing more is sent: the server closes without a word.
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(60), c.read_to_end(&mut rest)).await;
    assert!(matches!(closed, Ok(Ok(0))), "{closed:?}");
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_secs(30) && waited < Duration::from_secs(31),
        "{waited:?}"
    );
    running.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_head_after_an_idle_moment_gets_its_whole_header_read_timeout() {
    // The connection's one timer is armed for the idle buffer release
    // (1 s) when the next head begins: its early firing must not cut the
    // head's 10 s short.
    let limits = limits(|l| l.header_read_timeout = Duration::from_secs(10));
    let mut s = support::local().limits(limits);
    s.get("/", hello);
    let running = start([s]).await;
    let mut c = TcpStream::connect(running.addr()).await.unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let r = read_until(&mut c, "hello", 1).await;
    assert_eq!(status_of(&r), 200, "{r}");
    tokio::time::sleep(Duration::from_millis(900)).await;
    c.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    let t0 = tokio::time::Instant::now();
    let mut r = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(60), c.read_to_end(&mut r)).await;
    let r = String::from_utf8_lossy(&r);
    assert_eq!(status_of(&r), 408, "{r}");
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_secs(10) && waited < Duration::from_secs(11),
        "{waited:?}"
    );
    running.shutdown().await;
}

/// The user agent, by an extractor of the application's own (which reads
/// headers unless it says otherwise).
struct Agent(String);

impl duet::FromRequestParts for Agent {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(head: &duet::RequestHead) -> Result<Self, Self::Rejection> {
        let ua = head.context().header("user-agent").unwrap_or("none");
        Ok(Agent(ua.to_string()))
    }
}

#[tokio::test]
async fn headers_reach_every_handler_that_reads_them() {
    // HTTP/1.1 heads are built into a HeaderMap only for handlers whose
    // extractors read headers: those must see every field as sent, the
    // others still get Host-based routing and Expect handling.
    async fn fields(h: http::HeaderMap) -> String {
        h.iter()
            .map(|(n, v)| format!("{n}={}\n", String::from_utf8_lossy(v.as_bytes())))
            .collect()
    }
    async fn agent(Path(x): Path<String>, Agent(ua): Agent) -> String {
        format!("{x} by {ua}")
    }
    async fn ctx(req: RequestContext) -> String {
        format!("{:?} {:?}", req.host(), req.header("x-a"))
    }
    async fn plain(Path(x): Path<String>, body: Bytes) -> String {
        format!("plain {x} {}", body.len())
    }
    let mut nested = duet::Router::new();
    nested.get("/fields", fields);
    let mut s = support::local();
    s.get("/fields", fields)
        .get("/agent/{x}", agent)
        .get("/ctx", ctx)
        .post("/plain/{x}", plain);
    s.router().nest_service("/api", nested);
    let mut other = support::local().hostname("other.test");
    other.post("/plain/{x}", |Path(x): Path<String>| async move {
        format!("other {x}")
    });
    let running = start([s, other]).await;
    let mut c = TcpStream::connect(running.addr()).await.unwrap();
    c.write_all(
        b"GET /fields HTTP/1.1\r\nHost: a.test\r\nX-A:  \t one \t\r\nx-a: two\r\nEmpty:\r\nCaf: \xc3\xa9\r\n\r\n\
GET /agent/7 HTTP/1.1\r\nHost: a.test\r\nUser-Agent: tester/1\r\n\r\n\
GET /ctx HTTP/1.1\r\nHOST: Ctx.Test:81\r\nX-A: ctx\r\n\r\n\
GET /api/fields HTTP/1.1\r\nHost: a.test\r\nX-Nested: yes\r\n\r\n\
POST /plain/9 HTTP/1.1\r\nHost: a.test\r\nContent-Length: 3\r\n\r\nabc\
POST /plain/5 HTTP/1.1\r\nHost: other.test\r\nContent-Length: 0\r\n\r\n",
    )
    .await
    .unwrap();
    let r = read_until(&mut c, "other 5", 1).await;
    assert!(
        r.contains("host=a.test\nx-a=one\nx-a=two\nempty=\ncaf=é\n"),
        "{r}"
    );
    assert!(r.contains("7 by tester/1"), "{r}");
    // A nested service (here a router) gets the headers built.
    assert!(r.contains("host=a.test\nx-nested=yes\n"), "{r}");
    assert!(r.contains(r#"Some("Ctx.Test") Some("ctx")"#), "{r}");
    assert!(r.contains("plain 9 3"), "{r}");
    // An expectation other than 100-continue is refused by admission,
    // whatever the handler reads.
    c.write_all(b"POST /plain/1 HTTP/1.1\r\nHost: a.test\r\nExpect: teapot\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx")
        .await
        .unwrap();
    let r = read_to_close(&mut c).await;
    assert_eq!(status_of(&r), 417, "{r}");
    running.shutdown().await;
}
