//! HTTP/2 interop with real clients: the h2 crate (many concurrent streams,
//! large bodies both ways), curl (prior knowledge and Upgrade), nghttp and
//! h2load.

mod support;

use std::net::SocketAddr;

use bytes::Bytes;
use duet::{ConnContext, Json, Method, Query, Response, Running, Server, StatusCode};
use http::Request;
use support::{local, require, run, start};

async fn hello() -> &'static str {
    "hello"
}

async fn greet(duet::Path(name): duet::Path<String>) -> String {
    format!("hello {name}")
}

async fn echo(body: Bytes) -> Bytes {
    body
}

async fn protocol(conn: ConnContext) -> String {
    format!("{} {:?}", conn.protocol(), conn.version())
}

async fn ten_mb() -> Vec<u8> {
    big_body()
}

fn big_body() -> Vec<u8> {
    (0..10 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect()
}

#[derive(serde::Deserialize, serde::Serialize)]
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

#[derive(serde::Deserialize)]
struct Page {
    n: u32,
}

async fn page(Query(p): Query<Page>) -> String {
    format!("n={}", p.n)
}

async fn created() -> (StatusCode, &'static str) {
    (StatusCode::CREATED, "made")
}

async fn fails() -> Result<&'static str, duet::HttpError> {
    Err(duet::HttpError::new(StatusCode::CONFLICT, "already there"))
}

async fn moved() -> Response {
    Response::redirect(StatusCode::SEE_OTHER, "/elsewhere")
}

async fn empty() -> StatusCode {
    StatusCode::NO_CONTENT
}

async fn boom() -> &'static str {
    panic!("handler bug")
}

async fn streamed() -> Response {
    let chunks =
        futures_util::stream::iter((0..5).map(|i| Ok::<_, std::io::Error>(format!("part{i};"))));
    Response::stream(chunks)
}

async fn custom() -> Response {
    Response::html("<p>hi</p>").append_header("x-custom", "yes")
}

fn app() -> Server {
    let mut s = local();
    s.post("/json", json_echo)
        .get("/page", page)
        .get("/created", created)
        .get("/fails", fails)
        .get("/moved", moved)
        .get("/empty", empty)
        .get("/boom", boom)
        .get("/stream", streamed)
        .get("/custom", custom)
        .route("/multi", [Method::PUT, Method::DELETE], hello);
    s.get("/", hello);
    s.get("/hello/{name}", greet);
    s.post("/echo", echo);
    s.get("/protocol", protocol);
    s.get("/big", ten_mb);
    s
}

async fn server() -> (Running, SocketAddr) {
    let r = start([app()]).await;
    let a = r.addr();
    (r, a)
}

type Client = h2::client::SendRequest<Bytes>;

async fn h2_client(addr: SocketAddr) -> Client {
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (client, conn) = h2::client::Builder::new()
        .initial_window_size(1 << 20)
        .initial_connection_window_size(4 << 20)
        .handshake::<_, Bytes>(tcp)
        .await
        .expect("h2 handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

/// Sends a request and reads the whole response body, releasing flow
/// control as it goes.
async fn h2_request(
    client: &mut Client,
    method: &str,
    uri: String,
    body: Option<Bytes>,
) -> (http::StatusCode, Vec<u8>) {
    let mut client = client.clone().ready().await.expect("ready");
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .body(())
        .expect("request");
    let (resp, mut send) = client
        .send_request(req, body.is_none())
        .expect("send_request");
    if let Some(mut body) = body {
        // Send within the flow-control capacity the server grants.
        while !body.is_empty() {
            send.reserve_capacity(body.len().min(1 << 20));
            let cap = std::future::poll_fn(|cx| send.poll_capacity(cx))
                .await
                .expect("capacity")
                .expect("capacity ok");
            let chunk = body.split_to(cap.min(body.len()));
            send.send_data(chunk, body.is_empty()).expect("send_data");
        }
    }
    let resp = resp.await.expect("response");
    let status = resp.status();
    let mut rbody = resp.into_body();
    let mut out = Vec::new();
    while let Some(chunk) = rbody.data().await {
        let chunk = chunk.expect("body chunk");
        let _ = rbody.flow_control().release_capacity(chunk.len());
        out.extend_from_slice(&chunk);
    }
    (status, out)
}

#[tokio::test]
async fn h2_crate_hundred_concurrent_streams() {
    let (_s, addr) = server().await;
    let client = h2_client(addr).await;
    let mut tasks = Vec::new();
    for i in 0..100 {
        let mut c = client.clone();
        tasks.push(tokio::spawn(async move {
            let (status, body) =
                h2_request(&mut c, "GET", format!("http://{addr}/hello/n{i}"), None).await;
            assert_eq!(status, 200);
            assert_eq!(body, format!("hello n{i}").as_bytes());
        }));
    }
    for t in tasks {
        t.await.expect("stream task");
    }
}

#[tokio::test]
async fn h2_crate_ten_megabytes_both_ways() {
    let (_s, addr) = server().await;
    let mut client = h2_client(addr).await;
    let body = Bytes::from(big_body());
    let (status, echoed) = h2_request(
        &mut client,
        "POST",
        format!("http://{addr}/echo"),
        Some(body.clone()),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        echoed == body,
        "echoed body differs ({} bytes)",
        echoed.len()
    );
    let (status, down) = h2_request(&mut client, "GET", format!("http://{addr}/big"), None).await;
    assert_eq!(status, 200);
    assert!(
        down == body,
        "downloaded body differs ({} bytes)",
        down.len()
    );
}

#[tokio::test]
async fn h2_crate_handlers_see_http2() {
    let (_s, addr) = server().await;
    let mut client = h2_client(addr).await;
    let (_, body) = h2_request(&mut client, "GET", format!("http://{addr}/protocol"), None).await;
    assert_eq!(String::from_utf8_lossy(&body), "h2c HTTP/2.0");
}

/// What a client sees of a response, minus what differs by protocol.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

async fn seen(client: &reqwest::Client, method: &str, url: &str, body: Option<&str>) -> Seen {
    let mut req = client.request(method.parse().expect("method"), url);
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let r = req.send().await.expect("response");
    let status = r.status().as_u16();
    let mut headers: Vec<(String, String)> = r
        .headers()
        .iter()
        // `date` changes; framing fields differ by protocol by design.
        .filter(|(n, _)| !matches!(n.as_str(), "date" | "transfer-encoding" | "connection"))
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    headers.sort();
    let body = r.bytes().await.expect("body").to_vec();
    Seen {
        status,
        headers,
        body,
    }
}

#[tokio::test]
async fn every_response_type_same_over_h1_and_h2() {
    let (_s, addr) = server().await;
    let h1 = reqwest::Client::builder()
        .http1_only()
        .build()
        .expect("client");
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .expect("client");
    let cases: [(&str, &str, Option<&str>); 13] = [
        ("GET", "/", None),
        ("GET", "/hello/ada", None),
        ("POST", "/json", Some(r#"{"name":"a","count":1}"#)),
        ("POST", "/json", Some("not json")),
        ("GET", "/page?n=7", None),
        ("GET", "/created", None),
        ("GET", "/fails", None),
        ("GET", "/moved", None),
        ("GET", "/empty", None),
        ("GET", "/boom", None),
        ("GET", "/stream", None),
        ("GET", "/custom", None),
        ("GET", "/multi", None),
    ];
    for (method, path, body) in cases {
        let url = format!("http://{addr}{path}");
        let a = seen(&h1, method, &url, body).await;
        let mut b = seen(&h2, method, &url, body).await;
        // A streamed body has no length over HTTP/1.1 (chunked) nor HTTP/2.
        b.headers
            .retain(|(n, _)| n != "content-length" || a.headers.iter().any(|(m, _)| m == n));
        assert_eq!(a, b, "{method} {path}");
    }
    let r = h2
        .get(format!("http://{addr}/nope"))
        .send()
        .await
        .expect("404");
    assert_eq!(r.status(), 404);
    assert_eq!(r.version(), http::Version::HTTP_2);
}

#[tokio::test]
async fn curl_prior_knowledge() {
    require("curl");
    let (_s, addr) = server().await;
    let url = format!("http://{addr}/hello/x");
    let (ok, out, err) = run(
        "curl",
        &[
            "-sS",
            "-v",
            "--http2-prior-knowledge",
            "--max-time",
            "10",
            &url,
        ],
    )
    .await;
    assert!(ok, "{err}");
    assert_eq!(out, "hello x");
    assert!(err.contains("< HTTP/2 200"), "{err}");
}

#[tokio::test]
async fn curl_prior_knowledge_upload_echo() {
    require("curl");
    let (_s, addr) = server().await;
    let dir = std::env::temp_dir().join(format!("duet-h2-curl-{}", std::process::id()));
    let body: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(&dir, &body).expect("temp file");
    let url = format!("http://{addr}/echo");
    let data = format!("@{}", dir.to_string_lossy());
    let out_path = format!("{}.out", dir.to_string_lossy());
    let (ok, _, err) = run(
        "curl",
        &[
            "-sS",
            "--http2-prior-knowledge",
            "--max-time",
            "20",
            "--data-binary",
            &data,
            "-o",
            &out_path,
            &url,
        ],
    )
    .await;
    let echoed = std::fs::read(&out_path).unwrap_or_default();
    let _ = std::fs::remove_file(&dir);
    let _ = std::fs::remove_file(&out_path);
    assert!(ok, "{err}");
    assert!(
        echoed == body,
        "echoed {} of {} bytes",
        echoed.len(),
        body.len()
    );
}

#[tokio::test]
async fn curl_upgrade_h2c() {
    require("curl");
    let (_s, addr) = server().await;
    let url = format!("http://{addr}/protocol");
    let (ok, out, err) = run("curl", &["-sS", "-v", "--http2", "--max-time", "10", &url]).await;
    assert!(ok, "{err}");
    assert!(err.contains("101"), "{err}");
    assert_eq!(out, "h2c HTTP/2.0");
}

#[tokio::test]
async fn nghttp_verbose_get() {
    require("nghttp");
    let (_s, addr) = server().await;
    let url = format!("http://{addr}/hello/nghttp");
    let (ok, out, err) = run("nghttp", &["-v", "-t", "10", &url]).await;
    assert!(ok, "{out}\n{err}");
    assert!(out.contains(":status: 200"), "{out}");
    assert!(out.contains("hello nghttp"), "{out}");
    assert!(out.contains("recv SETTINGS frame"), "{out}");
    assert!(
        !out.contains("GOAWAY") || out.contains("error_code=NO_ERROR"),
        "{out}"
    );
}

#[tokio::test]
async fn nghttp_upload() {
    require("nghttp");
    let (_s, addr) = server().await;
    let dir = std::env::temp_dir().join(format!("duet-h2-upload-{}", std::process::id()));
    std::fs::write(&dir, vec![b'u'; 200_000]).expect("temp file");
    let url = format!("http://{addr}/echo");
    let path = dir.to_string_lossy().into_owned();
    let (ok, out, err) = run("nghttp", &["-d", &path, "-t", "10", &url]).await;
    let _ = std::fs::remove_file(&dir);
    assert!(ok, "{err}");
    assert_eq!(out.len(), 200_000);
}

#[tokio::test]
async fn h2load_hundred_thousand_requests() {
    require("h2load");
    let (_s, addr) = server().await;
    let url = format!("http://{addr}/");
    let (ok, out, err) = run("h2load", &["-n", "100000", "-c", "16", "-m", "32", &url]).await;
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains("100000 succeeded, 0 failed, 0 errored"),
        "{out}\n{err}"
    );
}

#[tokio::test]
async fn no_response_field_reaches_a_later_response() {
    // duet reuses response header maps once a head is written: whatever a
    // response carried must not show up in the next one, on either version.
    let mut s = local();
    s.get("/tagged", || async {
        Response::text("tagged")
            .insert_header("x-once", "1")
            .insert_header("set-cookie", "secret=1")
    })
    .get("/plain", || async { "plain" })
    .get("/json", || async { Json(serde_json::json!({"a": 1})) });
    let running = start([s]).await;
    let addr = running.addr();
    for client in [
        reqwest::Client::builder()
            .http1_only()
            .build()
            .expect("client"),
        reqwest::Client::builder()
            .http2_prior_knowledge()
            .build()
            .expect("client"),
    ] {
        for round in 0..20 {
            let path = ["/tagged", "/plain", "/json"][round % 3];
            let r = client
                .get(format!("http://{addr}{path}"))
                .send()
                .await
                .expect("response");
            let h = r.headers().clone();
            let tagged = path == "/tagged";
            assert_eq!(
                h.get_all("x-once").iter().count(),
                usize::from(tagged),
                "{path}"
            );
            assert_eq!(
                h.get_all("set-cookie").iter().count(),
                usize::from(tagged),
                "{path}"
            );
            let want = if path == "/json" {
                "application/json"
            } else {
                "text/plain; charset=utf-8"
            };
            assert_eq!(
                h.get_all("content-type").iter().collect::<Vec<_>>(),
                [want],
                "{path}"
            );
        }
    }
    running.shutdown().await;
}

#[tokio::test]
async fn the_request_that_upgrades_to_h2c_keeps_its_headers() {
    // RFC 7540 §3.2: the HTTP/1.1 request that asks for h2c is answered
    // as stream 1 of the new connection, with every field it carried.
    require("curl");
    let mut s = local();
    s.get("/agent", |h: http::HeaderMap| async move {
        let v = |n: &str| {
            h.get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
                .to_string()
        };
        format!("{} {}", v("user-agent"), v("x-probe"))
    });
    let running = start([s]).await;
    let url = format!("http://{}/agent", running.addr());
    let (ok, out, err) = run(
        "curl",
        &[
            "-sS",
            "-v",
            "--http2",
            "-A",
            "probe/1",
            "-H",
            "x-probe: seen",
            "--max-time",
            "10",
            &url,
        ],
    )
    .await;
    assert!(ok, "{err}");
    assert!(err.contains("101"), "{err}");
    assert_eq!(out, "probe/1 seen");
    running.shutdown().await;
}
