//! duet hosts the Rust HTTP ecosystem: its `Body` is an `http_body::Body`,
//! its `Router` a `tower::Service` callable in-process, any tower service
//! (an axum `Router`, tower-http's `ServeDir`) can serve a `Server`, tower
//! layers wrap a whole server (duet's own 404/405/413 included), extractors
//! are async with their own rejections, and trailers go both ways.

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use duet::{
    Body, ConnContext, Extension, Form, FromRequestParts, HttpError, IntoResponse, Json, Method,
    Path, Query, RequestHead, Response, Router, Server, StatusCode, TlsConfig,
};
use http_body_util::BodyExt;
use serde::Deserialize;
use support::h2_client::{self as h2, H2Conn, Peer, Transport, END_HEADERS, END_STREAM};
use support::{local, start};
use tower::ServiceExt;

fn get(path: &str) -> http::Request<Body> {
    http::Request::get(path).body(Body::empty()).unwrap()
}

async fn text(res: http::Response<Body>) -> (u16, String) {
    let status = res.status().as_u16();
    let body = res.into_body().collect().await.expect("body").to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

async fn hello(Path(name): Path<String>) -> String {
    format!("hello, {name}")
}

// ----- http_body -----

#[tokio::test]
async fn body_is_an_http_body_with_trailers() {
    // A foreign body with trailers, through duet's Body, frame by frame.
    let mut trailers = http::HeaderMap::new();
    trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
    let frames = vec![
        Ok::<_, Infallible>(http_body::Frame::data(Bytes::from("ab"))),
        Ok(http_body::Frame::data(Bytes::from("cd"))),
        Ok(http_body::Frame::trailers(trailers.clone())),
    ];
    let foreign = http_body_util::StreamBody::new(futures_util::stream::iter(frames));
    let body = Body::new(foreign);
    let collected = body.collect().await.expect("collects");
    assert_eq!(collected.trailers(), Some(&trailers));
    assert_eq!(&collected.to_bytes()[..], b"abcd");

    // Size hints and end of stream.
    let full = Body::from("12345");
    assert_eq!(http_body::Body::size_hint(&full).exact(), Some(5));
    assert!(!http_body::Body::is_end_stream(&full));
    assert!(http_body::Body::is_end_stream(&Body::empty()));
    // A duet body given to Body::new stays itself (no boxing, same hints).
    let again = Body::new(Body::from("xyz"));
    assert_eq!(again.exact_len(), Some(3));
}

// ----- the router as a service, in-process -----

#[tokio::test]
async fn the_router_is_a_tower_service_called_in_process() {
    let mut app = Router::new();
    app.get("/hello/{name}", hello)
        .post("/echo", |b: Bytes| async move { b });
    let (s, t) = text(app.clone().oneshot(get("/hello/world")).await.unwrap()).await;
    assert_eq!((s, t.as_str()), (200, "hello, world"));
    let (s, t) = text(app.clone().oneshot(get("/nope")).await.unwrap()).await;
    assert_eq!(
        (s, t.as_str()),
        (404, "404 Not Found: no route for this path\n")
    );
    let res = app.clone().oneshot(get("/echo")).await.unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers()["allow"], "POST");
    // Any http_body::Body as the request body.
    let req = http::Request::post("/echo")
        .body(http_body_util::Full::new(Bytes::from("ping")))
        .unwrap();
    let (s, t) = text(app.oneshot(req).await.unwrap()).await;
    assert_eq!((s, t.as_str()), (200, "ping"));
}

#[tokio::test]
async fn nest_merge_fallback_and_a_catch_all_that_matches_its_prefix() {
    let mut users = Router::new();
    users
        .get("/", || async { "all users" })
        .get("/{id}", |Path(id): Path<u32>| async move {
            format!("user {id}")
        })
        .fallback(|| async { (StatusCode::NOT_FOUND, "no such user route") });
    let mut health = Router::new();
    health.get("/healthz", || async { "ok" });
    let mut files = Router::new();
    files.get("/static/{*path}", |Path(p): Path<String>| async move {
        format!("file [{p}]")
    });

    let mut app = Router::new();
    app.nest("/users", users).merge(health).merge(files);
    app.fallback(|| async { (StatusCode::IM_A_TEAPOT, "fallback") });

    let call = |p: &'static str| {
        let app = app.clone();
        async move { text(app.oneshot(get(p)).await.unwrap()).await }
    };
    assert_eq!(call("/users").await, (200, "all users".into()));
    assert_eq!(call("/users/7").await, (200, "user 7".into()));
    assert_eq!(call("/users/7/x").await, (404, "no such user route".into()));
    assert_eq!(call("/healthz").await, (200, "ok".into()));
    assert_eq!(
        call("/static/a/b.css").await,
        (200, "file [a/b.css]".into())
    );
    // The catch-all matches its prefix itself, with an empty rest.
    assert_eq!(call("/static/").await, (200, "file []".into()));
    assert_eq!(call("/static").await, (200, "file []".into()));
    assert_eq!(call("/elsewhere").await, (418, "fallback".into()));
}

#[tokio::test]
async fn tower_services_on_routes_and_nested() {
    let dir = std::env::temp_dir().join(format!("duet-serve-dir-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("style.css"), "body {}").unwrap();
    let mut app = Router::new();
    app.nest_service("/assets", tower_http::services::ServeDir::new(&dir))
        .route_service(
            "/svc",
            tower::service_fn(|req: http::Request<Body>| async move {
                Ok::<_, Infallible>(http::Response::new(format!("{} via tower", req.method())))
            }),
        );
    let (s, t) = text(app.clone().oneshot(get("/assets/style.css")).await.unwrap()).await;
    assert_eq!((s, t.as_str()), (200, "body {}"));
    let (s, _) = text(app.clone().oneshot(get("/assets/none.css")).await.unwrap()).await;
    assert_eq!(s, 404);
    let req = http::Request::delete("/svc").body(Body::empty()).unwrap();
    let (s, t) = text(app.oneshot(req).await.unwrap()).await;
    assert_eq!((s, t.as_str()), (200, "DELETE via tower"));
    let _ = std::fs::remove_dir_all(&dir);
}

// ----- layers wrap the whole server, duet's answers included -----

fn cors_server(s: Server) -> Server {
    s.layer(tower_http::cors::CorsLayer::permissive())
        .layer(tower_http::compression::CompressionLayer::new())
}

#[tokio::test]
async fn layers_see_duets_own_answers_in_process() {
    let mut s = cors_server(local().limits(support::limits(|l| l.max_body_bytes = 10)));
    s.get("/hello/{name}", hello)
        .post("/echo", |b: Bytes| async move { b });
    let svc = s.into_service().expect("valid server");
    let with_origin = |req: http::request::Builder| req.header("origin", "https://example.test");

    let res = svc
        .clone()
        .oneshot(
            with_origin(http::Request::get("/hello/x"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    // duet's 404 goes through the layers too.
    let res = svc
        .clone()
        .oneshot(
            with_origin(http::Request::get("/missing"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    // And the 413 of admission (declared length over the server's limit).
    let res = svc
        .clone()
        .oneshot(
            with_origin(http::Request::post("/echo"))
                .header("content-length", "100")
                .body(Body::from(vec![b'x'; 100]))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    // A CORS preflight on a path no route knows is the layer's to answer.
    let res = svc
        .oneshot(
            with_origin(
                http::Request::builder()
                    .method(Method::OPTIONS)
                    .uri("/unknown"),
            )
            .header("access-control-request-method", "PUT")
            .body(Body::empty())
            .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().contains_key("access-control-allow-methods"));
}

#[tokio::test]
async fn layers_over_the_network_on_every_version() {
    support::require("curl");
    let long = "duet ".repeat(400);
    let body = long.clone();
    let mut plain = cors_server(local());
    plain.get("/", move || {
        let b = body.clone();
        async move { b }
    });
    let running = start([plain]).await;
    let url = format!("http://{}/", running.addr());
    for version in ["--http1.1", "--http2-prior-knowledge"] {
        let (ok, out, err) = support::run(
            "curl",
            &[
                "-sS",
                "-D",
                "-",
                "--compressed",
                "-H",
                "origin: https://a.test",
                version,
                &url,
            ],
        )
        .await;
        assert!(ok, "{err}");
        let lower = out.to_ascii_lowercase();
        assert!(
            lower.contains("access-control-allow-origin: *"),
            "{version}: {out}"
        );
        assert!(lower.contains("content-encoding: gzip"), "{version}: {out}");
        assert!(out.ends_with(&long), "{version}: decompressed body");
        // duet's 404, with the layer's headers.
        let (_, out, _) = support::run(
            "curl",
            &[
                "-sS",
                "-D",
                "-",
                "-H",
                "origin: https://a.test",
                version,
                &format!("{url}nothing"),
            ],
        )
        .await;
        assert!(out.contains(" 404"), "{out}");
        assert!(
            out.to_ascii_lowercase()
                .contains("access-control-allow-origin: *"),
            "{out}"
        );
    }
    running.shutdown().await;
}

// ----- any tower service serves a Server: an axum Router -----

async fn axum_who(axum::Extension(conn): axum::Extension<ConnContext>) -> String {
    format!("axum on {}", conn.protocol())
}

fn axum_app() -> axum::Router {
    axum::Router::new()
        .route("/axum/who", axum::routing::get(axum_who))
        .route(
            "/axum/json",
            axum::routing::post(|axum::Json(v): axum::Json<serde_json::Value>| async move {
                axum::Json(serde_json::json!({ "got": v }))
            }),
        )
}

#[tokio::test]
async fn an_axum_router_serves_a_duet_server_on_h1_h2c_and_h2() {
    let mut plain = local().service(axum_app());
    plain.get("/native", || async { "duet route" });
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let tls = TlsConfig::self_signed(&["localhost"]).expect("cert");
    let secure = Server::bind_addr(port).tls(tls).service(axum_app());
    let running = start([plain, secure]).await;
    let plain_addr = running.addrs()[0];
    let tls_addr = running.addrs()[1];

    // HTTP/1.1
    let r = support::raw(
        plain_addr,
        b"GET /axum/who HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(r.ends_with("axum on http/1.1"), "{r}");
    let r = support::raw(
        plain_addr,
        b"GET /native HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(r.ends_with("duet route"), "{r}");
    // h2c and h2
    for (addr, transport, proto) in [
        (plain_addr, Transport::Cleartext, "h2c"),
        (tls_addr, Transport::Tls, "h2"),
    ] {
        let mut c = H2Conn::handshake(Peer { addr, transport }).await;
        let r = c.get(1, "/axum/who").await;
        assert_eq!(
            (r.status, String::from_utf8_lossy(&r.body)),
            (200, format!("axum on {proto}").into())
        );
        let block = h2::request_block(
            "POST",
            "/axum/json",
            &[("content-type", "application/json")],
        );
        c.send(&h2::headers(3, END_HEADERS, &block)).await;
        c.send(&h2::data(3, true, br#"{"a":1}"#)).await;
        let r = c.response(3).await;
        assert_eq!(r.status, 200);
        assert_eq!(String::from_utf8_lossy(&r.body), r#"{"got":{"a":1}}"#);
    }
    running.shutdown().await;
}

// ----- extractors -----

#[derive(Deserialize)]
struct Page {
    n: u32,
}

#[derive(Deserialize)]
struct Login {
    user: String,
}

/// An async extractor with its own rejection, answered in JSON.
struct User(String);

struct JsonError(StatusCode, &'static str);

impl IntoResponse for JsonError {
    fn into_response(self) -> Response {
        let body = format!(r#"{{"error":"{}"}}"#, self.1);
        Response::new(self.0, body).insert_header("content-type", "application/json")
    }
}

impl FromRequestParts for User {
    type Rejection = JsonError;

    async fn from_request_parts(head: &RequestHead) -> Result<Self, JsonError> {
        let token = head.context().header("authorization").map(str::to_string);
        // Looks the token up (an await, as a database would need).
        tokio::task::yield_now().await;
        match token.as_deref() {
            Some("Bearer alice-token") => Ok(User("alice".into())),
            Some(_) => Err(JsonError(StatusCode::FORBIDDEN, "unknown token")),
            None => Err(JsonError(StatusCode::UNAUTHORIZED, "no token")),
        }
    }
}

#[derive(Clone)]
struct Greeting(&'static str);

#[allow(clippy::too_many_arguments)]
async fn sixteen(
    _a: Method,
    _b: http::Uri,
    _c: http::HeaderMap,
    _d: ConnContext,
    _e: duet::RequestContext,
    _f: Option<Query<Page>>,
    _g: Option<User>,
    _h: Method,
    _i: Method,
    _j: Method,
    _k: Method,
    _l: Method,
    _m: Method,
    _n: Method,
    _o: Method,
    body: Bytes,
) -> String {
    format!("16 arguments, {} bytes", body.len())
}

fn extractor_app() -> Router {
    let mut app = Router::new();
    app.get(
        "/me",
        |User(name): User| async move { format!("hi {name}") },
    )
    .get("/page", |q: Option<Query<Page>>| async move {
        match q {
            Some(Query(p)) => format!("page {}", p.n),
            None => "no page".to_string(),
        }
    })
    .post(
        "/json",
        |j: Result<Json<serde_json::Value>, HttpError>| async move {
            match j {
                Ok(Json(v)) => (StatusCode::OK, format!("{v}")).into_response(),
                // The app answers in its own format.
                Err(e) => JsonError(e.status(), "bad json").into_response(),
            }
        },
    )
    .post("/login", |Form(l): Form<Login>| async move {
        format!("welcome {}", l.user)
    })
    .get("/login", |Form(l): Form<Login>| async move {
        format!("query {}", l.user)
    })
    .get(
        "/greet",
        |Extension(g): Extension<Greeting>| async move { g.0 },
    )
    .post("/sixteen", sixteen);
    app
}

#[tokio::test]
async fn async_extractors_with_their_own_rejections() {
    let mut s = local().layer(Extension(Greeting("hello from a layer")));
    s.merge(extractor_app());
    let svc = s.into_service().expect("server");
    let call = |req: http::Request<Body>| {
        let svc = svc.clone();
        async move { text(svc.oneshot(req).await.unwrap()).await }
    };
    let req = |m: Method, p: &str| http::Request::builder().method(m).uri(p);

    assert_eq!(
        call(
            req(Method::GET, "/me")
                .header("authorization", "Bearer alice-token")
                .body(Body::empty())
                .unwrap()
        )
        .await,
        (200, "hi alice".into())
    );
    assert_eq!(
        call(req(Method::GET, "/me").body(Body::empty()).unwrap()).await,
        (401, r#"{"error":"no token"}"#.into())
    );
    assert_eq!(
        call(req(Method::GET, "/page?n=3").body(Body::empty()).unwrap()).await,
        (200, "page 3".into())
    );
    assert_eq!(
        call(req(Method::GET, "/page?n=x").body(Body::empty()).unwrap()).await,
        (200, "no page".into())
    );
    assert_eq!(
        call(
            req(Method::POST, "/json")
                .header("content-type", "application/json")
                .body(Body::from("{"))
                .unwrap()
        )
        .await,
        (400, r#"{"error":"bad json"}"#.into())
    );
    assert_eq!(
        call(
            req(Method::POST, "/json")
                .header("content-type", "application/json")
                .body(Body::from("[1]"))
                .unwrap()
        )
        .await,
        (200, "[1]".into())
    );
    assert_eq!(
        call(
            req(Method::POST, "/login")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from("user=bob"))
                .unwrap()
        )
        .await,
        (200, "welcome bob".into())
    );
    assert_eq!(
        call(
            req(Method::GET, "/login?user=eve")
                .body(Body::empty())
                .unwrap()
        )
        .await,
        (200, "query eve".into())
    );
    let (s, t) = call(
        req(Method::POST, "/login")
            .header("content-type", "text/plain")
            .body(Body::from("user=bob"))
            .unwrap(),
    )
    .await;
    assert_eq!(s, 415, "{t}");
    assert_eq!(
        call(req(Method::GET, "/greet").body(Body::empty()).unwrap()).await,
        (200, "hello from a layer".into())
    );
    assert_eq!(
        call(
            req(Method::POST, "/sixteen")
                .body(Body::from("1234"))
                .unwrap()
        )
        .await,
        (200, "16 arguments, 4 bytes".into())
    );
}

#[tokio::test]
async fn handlers_and_extractors_can_be_called_directly() {
    // The request head and contexts are constructible outside duet.
    let (parts, _) = http::Request::get("/page?n=9")
        .body(())
        .unwrap()
        .into_parts();
    let peer: SocketAddr = "10.0.0.7:5000".parse().unwrap();
    let local: SocketAddr = "10.0.0.1:443".parse().unwrap();
    let head = RequestHead::new(parts, ConnContext::new(peer, local));
    let Query(page) = Query::<Page>::from_request_parts(&head).await.unwrap();
    assert_eq!(page.n, 9);
    let conn = ConnContext::from_request_parts(&head).await.unwrap();
    assert_eq!(conn.peer_addr(), peer);
    assert_eq!(conn.protocol(), "http/1.1");
}

// ----- trailers, both directions -----

/// A handler that reads the request to its end and answers its
/// `x-checksum` trailer back in its own trailers.
fn trailer_server() -> Server {
    let mut s = local();
    s.post("/trailers", |mut body: Body| async move {
        // Read the request to its end, then answer its trailer back in ours.
        let mut n = 0;
        while let Some(chunk) = body.chunk().await {
            n += chunk.map(|c| c.len()).unwrap_or(0);
        }
        let echoed = body
            .trailers()
            .and_then(|t| t.get("x-checksum").cloned())
            .unwrap_or_else(|| http::HeaderValue::from_static("missing"));
        let mut trailers = http::HeaderMap::new();
        trailers.insert("x-echo", echoed);
        trailers.insert("x-bytes", http::HeaderValue::from(n));
        let frames = vec![
            Ok::<_, Infallible>(http_body::Frame::data(Bytes::from("body"))),
            Ok(http_body::Frame::trailers(trailers)),
        ];
        Response::new(
            StatusCode::OK,
            Body::new(http_body_util::StreamBody::new(futures_util::stream::iter(
                frames,
            ))),
        )
    });
    s
}

#[tokio::test]
async fn trailers_go_both_ways_on_http1() {
    let running = start([trailer_server()]).await;
    // RFC 9112 §7.1.2: a chunked body's trailer section, both ways.
    let r = support::raw(
        running.addr(),
        b"POST /trailers HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\nte: trailers\r\nconnection: close\r\n\r\n5\r\n12345\r\n0\r\nx-checksum: abc\r\n\r\n",
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    assert!(r.contains("transfer-encoding: chunked"), "{r}");
    assert!(
        r.ends_with("4\r\nbody\r\n0\r\nx-echo: abc\r\nx-bytes: 5\r\n\r\n"),
        "{r:?}"
    );
    running.shutdown().await;
}

#[tokio::test]
async fn admission_answers_go_through_the_layers_over_the_network() {
    // The request-id layer copies a request field into the response: the
    // layers see the refused request's fields too.
    let mut s = local()
        .limits(support::limits(|l| l.max_body_bytes = 10))
        .layer(tower_http::cors::CorsLayer::permissive())
        .layer(tower_http::request_id::PropagateRequestIdLayer::x_request_id());
    s.post("/echo", |b: Bytes| async move { b });
    let running = start([s]).await;
    let r = support::raw(
        running.addr(),
        b"POST /echo HTTP/1.1\r\nhost: x\r\norigin: https://a.test\r\nx-request-id: r1\r\ncontent-length: 100\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 413"), "{r}");
    assert!(r.contains("access-control-allow-origin: *"), "{r}");
    assert!(r.contains("x-request-id: r1"), "{r}");
    let mut c = H2Conn::handshake(Peer {
        addr: running.addr(),
        transport: Transport::Cleartext,
    })
    .await;
    let block = h2::request_block(
        "POST",
        "/echo",
        &[("origin", "https://a.test"), ("content-length", "100")],
    );
    c.send(&h2::headers(1, END_HEADERS, &block)).await;
    let r = c.response(1).await;
    assert_eq!(r.status, 413);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    running.shutdown().await;
}

#[tokio::test]
async fn trailers_go_both_ways_on_http2() {
    let running = start([trailer_server()]).await;
    let mut c = H2Conn::handshake(Peer {
        addr: running.addr(),
        transport: Transport::Cleartext,
    })
    .await;
    let block = h2::request_block("POST", "/trailers", &[("te", "trailers")]);
    c.send(&h2::headers(1, END_HEADERS, &block)).await;
    c.send(&h2::data(1, false, b"12345")).await;
    c.send(&h2::headers(
        1,
        END_HEADERS | END_STREAM,
        &h2::block(&[("x-checksum", "abc")]),
    ))
    .await;
    let r = c.response(1).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"body");
    let t = |n: &str| {
        r.trailers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(t("x-echo").as_deref(), Some("abc"));
    assert_eq!(t("x-bytes").as_deref(), Some("5"));
    running.shutdown().await;
    let _ = Duration::ZERO;
}

// ----- path parameters -----

/// A user's own extractor reading a path parameter: it says nothing about
/// what it reads, so it gets them.
struct Tenant(String);

impl FromRequestParts for Tenant {
    type Rejection = HttpError;

    async fn from_request_parts(head: &RequestHead) -> Result<Self, HttpError> {
        match head.context().params().get("tenant") {
            Some(t) => Ok(Tenant(t.to_string())),
            None => Err(HttpError::new(StatusCode::BAD_REQUEST, "no tenant")),
        }
    }
}

#[tokio::test]
async fn path_parameters_reach_every_extractor_that_reads_them() {
    // Path parameters are collected only for handlers with an extractor
    // that reads them: each of these does, beside ones that do not.
    let mut app = Router::new();
    app.get(
        "/ctx/{tenant}/{id}",
        |m: Method, ctx: duet::RequestContext| async move {
            let p: Vec<String> = ctx
                .params()
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            format!("{m} {}", p.join(","))
        },
    )
    .get(
        "/own/{tenant}",
        |_c: ConnContext, Tenant(t): Tenant, _q: Option<Query<Page>>| async move { t },
    )
    .get(
        "/opt/{id}",
        |_u: http::Uri, p: Option<Path<u32>>| async move { format!("{:?}", p.map(|Path(n)| n)) },
    )
    .post(
        "/tail/{*rest}",
        |Path(rest): Path<String>, body: Bytes| async move { format!("{rest} {}", body.len()) },
    )
    .get("/none/{id}", |m: Method| async move { m.to_string() });
    let call = |req: http::Request<Body>| {
        let app = app.clone();
        async move { text(app.oneshot(req).await.unwrap()).await }
    };
    assert_eq!(
        call(get("/ctx/acme/7%20x")).await,
        (200, "GET tenant=acme,id=7 x".into())
    );
    assert_eq!(call(get("/own/acme")).await, (200, "acme".into()));
    assert_eq!(call(get("/opt/42")).await, (200, "Some(42)".into()));
    assert_eq!(call(get("/opt/x")).await, (200, "None".into()));
    let post = http::Request::post("/tail/a/b")
        .body(Body::from("xyz"))
        .unwrap();
    assert_eq!(call(post).await, (200, "a/b 3".into()));
    assert_eq!(call(get("/none/1")).await, (200, "GET".into()));
}
