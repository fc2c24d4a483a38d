//! Server-Sent Events end to end: a real server on an ephemeral port, real
//! clients (reqwest, curl) and raw TCP where the exact bytes matter.
//!
//! The producers here are streams the test feeds through a channel, so
//! "events arrive one by one" is checked by causality (the next event is not
//! produced until the previous one was read), never by timing.

mod stream_support;
mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use duet::{Event, KeepAlive, RequestContext, Server, Sse};
use futures_util::Stream;
use stream_support::{h2_get, h2c_connect, Live, LiveGuard, Proto, Target};
use support::{read_to_close, read_until, run, status_of};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

// ---------------------------------------------------------------------------
// A client-side event-stream parser (HTML Living Standard §9.2.6), so the
// tests read events the way a browser's EventSource does.

#[derive(Debug, Clone, PartialEq, Eq)]
struct Msg {
    event: String,
    data: String,
    id: String,
}

#[derive(Default)]
struct Parser {
    pending: Vec<u8>,
    event: String,
    data: String,
    last_id: String,
    comments: Vec<String>,
}

impl Parser {
    /// Feeds bytes; returns the events dispatched by them.
    fn push(&mut self, bytes: &[u8]) -> Vec<Msg> {
        self.pending.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(i) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=i).collect();
            let line = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
            let line = line.strip_suffix('\r').unwrap_or(&line).to_string();
            if line.is_empty() {
                if !self.data.is_empty() {
                    let mut data = std::mem::take(&mut self.data);
                    data.pop();
                    let event = std::mem::take(&mut self.event);
                    out.push(Msg {
                        event: if event.is_empty() {
                            "message".into()
                        } else {
                            event
                        },
                        data,
                        id: self.last_id.clone(),
                    });
                }
                self.event.clear();
                continue;
            }
            if let Some(c) = line.strip_prefix(':') {
                self.comments.push(c.to_string());
                continue;
            }
            let (name, value) = match line.split_once(':') {
                Some((n, v)) => (n.to_string(), v.strip_prefix(' ').unwrap_or(v).to_string()),
                None => (line.clone(), String::new()),
            };
            match name.as_str() {
                "event" => self.event = value,
                "data" => {
                    self.data.push_str(&value);
                    self.data.push('\n');
                }
                "id" if !value.contains('\0') => self.last_id = value,
                _ => {}
            }
        }
        out
    }
}

/// Reads a streamed reqwest response until `n` more events have arrived
/// (or 10 s pass).
async fn next_events(resp: &mut reqwest::Response, p: &mut Parser, n: usize) -> Vec<Msg> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while got.len() < n {
        match tokio::time::timeout_at(deadline, resp.chunk()).await {
            Ok(Ok(Some(b))) => got.extend(p.push(&b)),
            _ => break,
        }
    }
    got
}

/// The next non-empty body chunk (hyper hands over the empty DATA frame
/// that carries END_STREAM as an empty chunk); `Ok(None)` at the end.
async fn next_nonempty(resp: &mut reqwest::Response) -> reqwest::Result<Option<bytes::Bytes>> {
    loop {
        match resp.chunk().await? {
            Some(b) if b.is_empty() => continue,
            other => return Ok(other),
        }
    }
}

// ---------------------------------------------------------------------------
// Producers the test controls.

/// The event stream of one request: events the test sends, ended when the
/// test drops the sender.
fn fed(rx: mpsc::UnboundedReceiver<Event>, guard: LiveGuard) -> impl Stream<Item = Event> {
    futures_util::stream::unfold((rx, guard), |(mut rx, guard)| async move {
        let ev = rx.recv().await?;
        Some((ev, (rx, guard)))
    })
}

/// Routes `GET /feed`: each request takes the next receiver the test has
/// queued and streams what the test sends into it.
struct Feeds {
    queue: Arc<Mutex<Vec<mpsc::UnboundedReceiver<Event>>>>,
    live: Live,
}

impl Feeds {
    fn install(server: &mut Server) -> Feeds {
        let queue: Arc<Mutex<Vec<mpsc::UnboundedReceiver<Event>>>> = Arc::default();
        let live = Live::default();
        let (q, l) = (queue.clone(), live.clone());
        server.get("/feed", move || {
            let rx = q.lock().ok().and_then(|mut v| v.pop());
            let guard = l.enter();
            async move {
                let rx = rx.unwrap_or_else(|| mpsc::unbounded_channel().1);
                Sse::new(fed(rx, guard))
            }
        });
        Feeds { queue, live }
    }

    /// The sender for the next request to `/feed`.
    fn next(&self) -> mpsc::UnboundedSender<Event> {
        let (tx, rx) = mpsc::unbounded_channel();
        if let Ok(mut q) = self.queue.lock() {
            q.push(rx);
        }
        tx
    }
}

/// `GET /resume`: three events numbered after the client's
/// `Last-Event-ID`.
async fn resume(req: RequestContext) -> Sse<impl Stream<Item = Event>> {
    let from: u64 = req
        .last_event_id()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Sse::new(futures_util::stream::iter((from + 1..=from + 3).map(|n| {
        Event::default().id(n.to_string()).data(format!("n={n}"))
    })))
}

/// `GET /quiet`: an open stream with no events, keep-alive every 20 ms.
async fn quiet() -> Sse<impl Stream<Item = Event>> {
    Sse::new(futures_util::stream::pending()).keep_alive(
        KeepAlive::new()
            .interval(Duration::from_millis(20))
            .text("still here"),
    )
}

/// `GET /spec`: events exercising every field and the framing edge cases
/// (as `Result` items, the other item type `Sse` takes).
async fn spec() -> Sse<impl Stream<Item = Result<Event, std::io::Error>>> {
    let json = Event::default()
        .retry(Duration::from_millis(2500))
        .json_data(&serde_json::json!({"k": "v\nw"}))
        .expect("serializable");
    let events: Vec<Result<Event, std::io::Error>> = vec![
        Ok(Event::default()
            .event("greeting")
            .id("a-1")
            .data("line one\nline two\r\nline three")),
        Ok(Event::default().comment("a comment\nin two lines")),
        Ok(Event::default().data(" leading space")),
        Ok(Event::default()
            .id("evil\n\ndata: injected")
            .event("x\ry")
            .data("")),
        Ok(json),
    ];
    Sse::new(futures_util::stream::iter(events))
}

fn app(proto: Proto) -> (Server, Feeds) {
    let mut s = proto.server();
    let feeds = Feeds::install(&mut s);
    s.get("/resume", resume)
        .get("/quiet", quiet)
        .get("/spec", spec);
    (s, feeds)
}

// ---------------------------------------------------------------------------
// Checks run over every protocol with its real client.

async fn events_arrive_one_by_one(proto: Proto) {
    let (server, feeds) = app(proto);
    let t = Target::start(proto, server).await;
    let tx = feeds.next();
    // The head arrives before any event exists.
    let mut resp = t.get("/feed").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    assert_eq!(resp.headers()["cache-control"], "no-cache");
    assert_eq!(resp.headers()["x-accel-buffering"], "no");
    assert!(resp.headers().get("content-length").is_none());
    let mut p = Parser::default();
    for n in 1..=5 {
        // The next event does not exist until the previous one was read.
        tx.send(
            Event::default()
                .id(n.to_string())
                .data(format!("event {n}")),
        )
        .expect("stream alive");
        let got = next_events(&mut resp, &mut p, 1).await;
        assert_eq!(
            got,
            vec![Msg {
                event: "message".into(),
                data: format!("event {n}"),
                id: n.to_string()
            }],
            "event {n} must arrive on its own, before the next is produced"
        );
    }
    drop(tx);
    // The producer ended: the response ends cleanly.
    let end = next_nonempty(&mut resp).await;
    assert!(matches!(end, Ok(None)), "{end:?}");
    assert_eq!(feeds.live.settles_at(0).await, 0);
}

async fn framing_follows_the_event_stream_format(proto: Proto) {
    let (server, _feeds) = app(proto);
    let t = Target::start(proto, server).await;
    let mut resp = t.get("/spec").await;
    let mut p = Parser::default();
    let mut got = Vec::new();
    while let Ok(Some(b)) = resp.chunk().await {
        got.extend(p.push(&b));
    }
    assert_eq!(
        got,
        vec![
            Msg {
                event: "greeting".into(),
                data: "line one\nline two\nline three".into(),
                id: "a-1".into()
            },
            Msg {
                event: "message".into(),
                data: " leading space".into(),
                id: "a-1".into()
            },
            // The line breaks were stripped: no injected field, no new event.
            Msg {
                event: "xy".into(),
                data: "".into(),
                id: "evildata: injected".into()
            },
            Msg {
                event: "message".into(),
                data: "{\"k\":\"v\\nw\"}".into(),
                id: "evildata: injected".into()
            },
        ]
    );
    assert_eq!(p.comments, vec![" a comment", " in two lines"]);
}

async fn last_event_id_reaches_the_handler(proto: Proto) {
    let (server, _feeds) = app(proto);
    let t = Target::start(proto, server).await;
    let mut resp = t
        .client
        .get(t.url("/resume"))
        .header("last-event-id", "41")
        .send()
        .await
        .expect("response");
    let mut p = Parser::default();
    let got = next_events(&mut resp, &mut p, 3).await;
    let ids: Vec<&str> = got.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["42", "43", "44"]);
    assert_eq!(got[0].data, "n=42");
}

async fn keep_alive_comments_while_idle(proto: Proto) {
    let (server, _feeds) = app(proto);
    let t = Target::start(proto, server).await;
    let mut resp = t.get("/quiet").await;
    let mut p = Parser::default();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while p.comments.len() < 2 {
        match tokio::time::timeout_at(deadline, resp.chunk()).await {
            Ok(Ok(Some(b))) => assert!(p.push(&b).is_empty()),
            other => panic!("no keep-alive comment: {other:?}"),
        }
    }
    assert_eq!(p.comments[..2], [" still here", " still here"]);
}

/// Clients that go away (h1: connection closed; h2: stream reset) free
/// their producers, which are silent and so could only notice through the
/// server.
async fn disconnecting_clients_free_their_streams(proto: Proto) {
    let (server, feeds) = app(proto);
    let t = Target::start(proto, server).await;
    let mut open = Vec::new();
    for i in 0..3 {
        let tx = feeds.next();
        let mut resp = t.get("/feed").await;
        tx.send(Event::default().data(format!("hi {i}")))
            .expect("stream alive");
        let got = next_events(&mut resp, &mut Parser::default(), 1).await;
        assert_eq!(got.len(), 1);
        open.push((tx, resp));
    }
    assert_eq!(feeds.live.count(), 3);
    let (senders, responses): (Vec<_>, Vec<_>) = open.into_iter().unzip();
    drop(responses);
    assert_eq!(
        feeds.live.settles_at(0).await,
        0,
        "event streams outlived their clients"
    );
    assert!(senders.iter().all(|tx| tx.is_closed()));
}

async fn curl_streams_events(proto: Proto) {
    let (server, _feeds) = app(proto);
    let t = Target::start(proto, server).await;
    let u = t.url("/resume");
    let mut args: Vec<String> = ["-sS", "-N", "--max-time", "10", "-H", "Last-Event-ID: 6"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(proto.curl_args(t.addr()));
    args.push(u);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, out, err) = run("curl", &args).await;
    assert!(ok, "curl failed: {err}");
    assert_eq!(
        out,
        "id: 7\ndata: n=7\n\nid: 8\ndata: n=8\n\nid: 9\ndata: n=9\n\n"
    );
}

/// Graceful shutdown ends an endless event stream cleanly (the client sees
/// the end of the body, not an error, and reconnects elsewhere) instead of
/// holding shutdown until the grace deadline.
async fn shutdown_ends_event_streams_cleanly(proto: Proto) {
    let (server, feeds) = app(proto);
    let t = Target::start(proto, server).await;
    let tx = feeds.next();
    let mut resp = t.get("/feed").await;
    tx.send(Event::default().data("before")).expect("alive");
    let got = next_events(&mut resp, &mut Parser::default(), 1).await;
    assert_eq!(got.len(), 1);
    let left = tokio::spawn(t.running.shutdown());
    let end = tokio::time::timeout(Duration::from_secs(10), next_nonempty(&mut resp)).await;
    assert!(matches!(end, Ok(Ok(None))), "{end:?}");
    assert_eq!(left.await.expect("shutdown"), 0);
    assert_eq!(feeds.live.settles_at(0).await, 0);
}

per_protocol!(h1 = crate::Proto::H1 =>
    events_arrive_one_by_one,
    framing_follows_the_event_stream_format,
    last_event_id_reaches_the_handler,
    keep_alive_comments_while_idle,
    disconnecting_clients_free_their_streams,
    curl_streams_events,
    shutdown_ends_event_streams_cleanly,
);

per_protocol!(h2c = crate::Proto::H2c =>
    events_arrive_one_by_one,
    framing_follows_the_event_stream_format,
    last_event_id_reaches_the_handler,
    keep_alive_comments_while_idle,
    curl_streams_events,
);

per_protocol!(h2 = crate::Proto::H2 =>
    events_arrive_one_by_one,
    framing_follows_the_event_stream_format,
    last_event_id_reaches_the_handler,
    keep_alive_comments_while_idle,
    curl_streams_events,
);

// The ends of event streams over HTTP/2: reset streams and graceful
// shutdown.
#[tokio::test]
async fn h2c_disconnecting_clients_free_their_streams() {
    disconnecting_clients_free_their_streams(Proto::H2c).await
}

#[tokio::test]
async fn h2_disconnecting_clients_free_their_streams() {
    disconnecting_clients_free_their_streams(Proto::H2).await
}

#[tokio::test]
async fn h2c_shutdown_ends_event_streams_cleanly() {
    shutdown_ends_event_streams_cleanly(Proto::H2c).await
}

#[tokio::test]
async fn h2_shutdown_ends_event_streams_cleanly() {
    shutdown_ends_event_streams_cleanly(Proto::H2).await
}

// ---------------------------------------------------------------------------
// HTTP/1.1 byte-exact checks over raw TCP.

async fn raw_h1_feed(t: &Target) -> TcpStream {
    let mut s = TcpStream::connect(t.addr()).await.expect("connect");
    s.write_all(b"GET /feed HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    s
}

#[tokio::test]
async fn h1_raw_bytes_are_one_chunk_per_event() {
    let (server, feeds) = app(Proto::H1);
    let t = Target::start(Proto::H1, server).await;
    let tx = feeds.next();
    let mut s = raw_h1_feed(&t).await;
    let head = read_until(&mut s, "\r\n\r\n", 1).await;
    assert_eq!(status_of(&head), 200, "{head}");
    let lower = head.to_ascii_lowercase();
    assert!(lower.contains("transfer-encoding: chunked"), "{head}");
    assert!(lower.contains("content-type: text/event-stream"), "{head}");
    assert!(!lower.contains("content-length"), "{head}");
    tx.send(Event::default().event("clock").id("1").data("t"))
        .expect("stream alive");
    let body = read_until(&mut s, "data: t\n\n\r\n", 1).await;
    let ev = "event: clock\nid: 1\ndata: t\n\n";
    assert_eq!(body, format!("{:x}\r\n{ev}\r\n", ev.len()));
    drop(tx);
    let end = read_until(&mut s, "0\r\n\r\n", 1).await;
    assert_eq!(end, "0\r\n\r\n");
}

#[tokio::test]
async fn h1_closed_connections_free_their_streams() {
    let (server, feeds) = app(Proto::H1);
    let t = Target::start(Proto::H1, server).await;
    let mut clients = Vec::new();
    let mut senders = Vec::new();
    for _ in 0..3 {
        let tx = feeds.next();
        let mut s = raw_h1_feed(&t).await;
        tx.send(Event::default().data("hi")).expect("stream alive");
        let got = read_until(&mut s, "data: hi", 1).await;
        assert!(got.contains("data: hi"), "{got}");
        clients.push(s);
        senders.push(tx);
    }
    assert_eq!(feeds.live.count(), 3);
    drop(clients);
    assert_eq!(feeds.live.settles_at(0).await, 0);
    assert!(senders.iter().all(|tx| tx.is_closed()));
}

#[tokio::test]
async fn h1_keep_alive_bytes_on_the_wire() {
    let (server, _feeds) = app(Proto::H1);
    let t = Target::start(Proto::H1, server).await;
    let mut s = TcpStream::connect(t.addr()).await.expect("connect");
    s.write_all(b"GET /quiet HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let got = read_until(&mut s, ": still here\n\n", 2).await;
    assert_eq!(got.matches(": still here\n\n").count(), 2, "{got}");
}

#[tokio::test]
async fn h1_shutdown_sends_the_last_chunk() {
    let (server, feeds) = app(Proto::H1);
    let t = Target::start(Proto::H1, server).await;
    let tx = feeds.next();
    let mut s = raw_h1_feed(&t).await;
    tx.send(Event::default().data("before")).expect("alive");
    let got = read_until(&mut s, "data: before", 1).await;
    assert!(got.contains("data: before"), "{got}");
    let left = tokio::spawn(t.running.shutdown());
    let rest = read_to_close(&mut s).await;
    assert!(rest.ends_with("0\r\n\r\n"), "{rest:?}");
    assert_eq!(left.await.expect("shutdown"), 0);
    assert_eq!(feeds.live.settles_at(0).await, 0);
}

// ---------------------------------------------------------------------------
// HTTP/2 stream and connection ends, with the h2 crate as the client.

/// Opens `/feed` on the connection and reads its first event.
async fn h2_feed(
    send: &mut ::h2::client::SendRequest<bytes::Bytes>,
    t: &Target,
    feeds: &Feeds,
    tag: &str,
) -> (
    mpsc::UnboundedSender<Event>,
    ::h2::SendStream<bytes::Bytes>,
    ::h2::RecvStream,
) {
    let tx = feeds.next();
    let mut ready = send.clone().ready().await.expect("ready");
    let (resp, stream) = ready
        .send_request(h2_get(t.addr(), "/feed"), false)
        .expect("send");
    let mut body = resp.await.expect("response").into_body();
    tx.send(Event::default().data(tag)).expect("alive");
    let got = body.data().await.expect("data").expect("ok");
    let _ = body.flow_control().release_capacity(got.len());
    assert_eq!(&got[..], format!("data: {tag}\n\n").as_bytes());
    (tx, stream, body)
}

#[tokio::test]
async fn h2c_reset_streams_and_closed_connections_free_their_producers() {
    let (server, feeds) = app(Proto::H2c);
    let t = Target::start(Proto::H2c, server).await;
    let (mut send, conn) = h2c_connect(t.addr()).await;
    let mut open = Vec::new();
    for i in 0..4 {
        open.push(h2_feed(&mut send, &t, &feeds, &format!("s{i}")).await);
    }
    assert_eq!(feeds.live.count(), 4);
    // RST_STREAM(CANCEL) on two streams: their producers go at once...
    for (_, stream, _) in &mut open[..2] {
        stream.send_reset(::h2::Reason::CANCEL);
    }
    assert_eq!(
        feeds.live.settles_at(2).await,
        2,
        "reset streams kept their producers"
    );
    assert!(open[..2].iter().all(|(tx, _, _)| tx.is_closed()));
    // ...while the other streams of the connection go on.
    for (i, (tx, _, body)) in open[2..].iter_mut().enumerate() {
        tx.send(Event::default().data(format!("more {i}")))
            .expect("alive");
        let got = body.data().await.expect("data").expect("ok");
        assert_eq!(&got[..], format!("data: more {i}\n\n").as_bytes());
    }
    // The TCP connection closes (no GOAWAY, no RST_STREAM): the rest go.
    conn.abort();
    drop(send);
    drop(open);
    assert_eq!(
        feeds.live.settles_at(0).await,
        0,
        "producers outlived their connection"
    );
}
