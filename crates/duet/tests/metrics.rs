//! Metrics after known traffic, scraped from the admin listener's
//! `/metrics` with the Prometheus recorder installed: requests by
//! protocol, method and status class over HTTP/1.1, h2c and h2; open
//! connections; HTTP/2 streams, resets and GOAWAYs; TLS handshakes. Alone
//! in its test binary: the recorder is process-wide, and duet registers
//! its metrics on first use, so nothing may run before it is installed.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use duet::{Admin, Executor, Server, TlsConfig};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// The value of the series `series` (name and labels, as rendered), if
/// present.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let (s, v) = l.rsplit_once(' ')?;
        (s == series).then(|| v.parse().ok()).flatten()
    })
}

fn assert_value(text: &str, series: &str, want: f64) {
    assert_eq!(value(text, series), Some(want), "{series} in\n{text}");
}

/// `GET /metrics` from the admin listener.
async fn scrape(admin: SocketAddr) -> String {
    let answer = support::raw(
        admin,
        b"GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

/// Fires when dropped: the handler's future was cancelled.
struct Dropped(Option<oneshot::Sender<()>>);

impl Drop for Dropped {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

#[tokio::test]
async fn metrics_count_known_traffic_over_every_protocol() {
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(duet::observability::REQUEST_DURATION_SECONDS.to_string()),
            duet::observability::DURATION_BUCKETS,
        )
        .expect("buckets")
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).expect("the only recorder");

    let (cancelled_tx, cancelled) = oneshot::channel();
    let cancelled_tx = std::sync::Arc::new(std::sync::Mutex::new(Some(cancelled_tx)));
    let app = |s: &mut Server| {
        s.get("/hello/{name}", || async { "hello" })
            .post("/echo", |body: bytes::Bytes| async move { body });
    };
    let mut plain = support::local();
    app(&mut plain);
    plain.get("/never", move || {
        let guard = Dropped(cancelled_tx.lock().ok().and_then(|mut t| t.take()));
        async move {
            let _guard = guard;
            std::future::pending::<&'static str>().await
        }
    });
    let mut secure = support::local().tls(TlsConfig::self_signed(&["localhost"]).expect("cert"));
    app(&mut secure);
    let render = handle.clone();
    // Two executors: both servers ask for an ephemeral port of 127.0.0.1,
    // which one executor would take for one port.
    let tls_running = support::start([secure]).await;
    let secure = tls_running.addr();
    let running = Executor::new()
        .add(plain)
        .admin(
            Admin::bind_addr(SocketAddr::from(([127, 0, 0, 1], 0)))
                .metrics(move || render.render()),
        )
        .start()
        .await
        .expect("start");
    let plain = running.addr();
    let admin = running.admin_addr().expect("admin");

    // HTTP/1.1: two 200s and a 404 on one connection.
    let h1 = reqwest::Client::builder()
        .http1_only()
        .build()
        .expect("client");
    for path in ["/hello/a", "/hello/b", "/missing"] {
        h1.get(format!("http://{plain}{path}"))
            .send()
            .await
            .expect("h1 request");
    }
    // h2 over TLS, by ALPN: one GET.
    let tls = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .resolve("localhost", secure)
        .build()
        .expect("client");
    let r = tls
        .get(format!("https://localhost:{}/hello/c", secure.port()))
        .send()
        .await
        .expect("h2 request");
    assert_eq!(r.version(), reqwest::Version::HTTP_2);

    // h2c with prior knowledge: a POST, then a GET the client cancels.
    let tcp = TcpStream::connect(plain).await.expect("connect");
    let (mut h2, conn) = h2::client::handshake(tcp).await.expect("h2 handshake");
    let conn = tokio::spawn(conn);
    let req = http::Request::post(format!("http://{plain}/echo"))
        .body(())
        .expect("request");
    let (resp, mut body) = h2.send_request(req, false).expect("send");
    body.send_data(bytes::Bytes::from_static(b"hi"), true)
        .expect("data");
    let resp = resp.await.expect("response");
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    while body.data().await.is_some() {}
    let req = http::Request::get(format!("http://{plain}/never"))
        .body(())
        .expect("request");
    let (resp, _) = h2.send_request(req, true).expect("send");
    // Dropping the response future resets the stream (CANCEL); the handler
    // is cancelled once the server has taken the reset in.
    drop(resp);
    drop(h2);
    tokio::time::timeout(Duration::from_secs(10), cancelled)
        .await
        .expect("the reset reaches the server")
        .expect("the handler is dropped");

    let text = scrape(admin).await;
    let requests = |p: &str, m: &str, s: &str| {
        format!("duet_requests_total{{protocol=\"{p}\",method=\"{m}\",status=\"{s}\"}}")
    };
    // Exactly these: the admin scrapes are not counted.
    assert_value(&text, &requests("http/1.1", "GET", "2xx"), 2.0);
    assert_value(&text, &requests("http/1.1", "GET", "4xx"), 1.0);
    assert_value(&text, &requests("h2", "GET", "2xx"), 1.0);
    assert_value(&text, &requests("h2c", "POST", "2xx"), 1.0);
    // The cancelled request ended without a status.
    assert_value(&text, &requests("h2c", "GET", "none"), 1.0);
    assert_value(
        &text,
        "duet_request_duration_seconds_count{protocol=\"http/1.1\"}",
        3.0,
    );
    assert_value(
        &text,
        "duet_request_duration_seconds_bucket{protocol=\"h2c\",le=\"+Inf\"}",
        2.0,
    );
    assert!(
        text.contains("# TYPE duet_request_duration_seconds histogram"),
        "{text}"
    );
    assert_value(&text, "duet_connections_total{protocol=\"http/1.1\"}", 1.0);
    assert_value(&text, "duet_connections_total{protocol=\"h2\"}", 1.0);
    assert_value(&text, "duet_connections_total{protocol=\"h2c\"}", 1.0);
    assert_value(&text, "duet_tls_handshakes_total{result=\"ok\"}", 1.0);
    // Three h2 streams: the TLS GET, the POST and the cancelled GET.
    assert_value(&text, "duet_h2_streams_opened_total", 3.0);
    assert_value(
        &text,
        "duet_h2_resets_total{direction=\"received\",reason=\"CANCEL\"}",
        1.0,
    );
    // The reqwest clients still hold their connections.
    assert_value(&text, "duet_connections_open{protocol=\"http/1.1\"}", 1.0);
    assert_value(&text, "duet_connections_open{protocol=\"h2\"}", 1.0);

    // Graceful shutdown says GOAWAY to the open h2 connections.
    drop(h1);
    assert_eq!(running.shutdown().await, 0);
    assert_eq!(tls_running.shutdown().await, 0);
    conn.abort();
    let text = handle.render();
    let goaways = value(
        &text,
        "duet_h2_goaways_total{direction=\"sent\",reason=\"NO_ERROR\"}",
    );
    assert!(goaways.is_some_and(|n| n >= 1.0), "{text}");
    drop(tls);
}
