//! Server-Sent Events: a response whose body is a stream of events, framed
//! as the `text/event-stream` format of the HTML Living Standard
//! (§9.2 "Server-sent events", §9.2.5 "Parsing an event stream").
//!
//! ```no_run
//! use std::time::Duration;
//! use duet::{Event, KeepAlive, RequestContext, Server, Sse};
//! use futures_util::stream;
//!
//! async fn events(req: RequestContext) -> Sse<impl futures_util::Stream<Item = Event>> {
//!     // A reconnecting EventSource says where it stopped.
//!     let from: u64 = req.last_event_id().and_then(|s| s.parse().ok()).unwrap_or(0);
//!     let events = stream::iter((from + 1..from + 4).map(|n| {
//!         Event::default().event("tick").id(n.to_string()).data(format!("tick {n}"))
//!     }));
//!     Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
//! }
//!
//! let mut server = Server::bind(8080);
//! server.get("/events", events);
//! ```
//!
//! The stream is polled only as fast as the client reads (backpressure),
//! and it is dropped as soon as the client goes away, so an endless stream
//! leaves nothing behind.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use futures_util::Stream;
use http::header::{HeaderName, HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use http::StatusCode;
use tokio::time::{Instant, Sleep};

use super::body::{Body, BoxError};
use super::response::{IntoResponse, Response};

/// One server-sent event: optional `id`, `event` type, `data`, `retry`
/// and comment lines.
///
/// Values that would break the framing are made safe: line breaks in
/// `data` and comments become several `data:` / `:` lines (the client
/// joins data lines back with `\n`); line breaks (and NUL, which makes
/// clients ignore the id) are stripped from `id` and `event`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Event {
    id: Option<String>,
    event: Option<String>,
    data: Option<String>,
    retry: Option<Duration>,
    comments: Vec<String>,
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.to_bytes()))
    }
}

/// Removes what would end a field line early (CR, LF) or make a client
/// drop the field (NUL in an id, §9.2.6 "id" field).
fn single_line(value: &str) -> String {
    // The usual value has nothing to remove: one exact copy, instead of
    // growing a string char by char.
    if !value.bytes().any(|b| matches!(b, b'\r' | b'\n' | b'\0')) {
        return value.to_owned();
    }
    value
        .chars()
        .filter(|c| !matches!(c, '\r' | '\n' | '\0'))
        .collect()
}

/// Splits at every line ending the event-stream grammar knows: CRLF, LF or
/// a lone CR (§9.2.5 `end-of-line`).
fn lines(value: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(value);
    std::iter::from_fn(move || {
        let s = rest?;
        // A byte search: both are ASCII, so `i` is a char boundary (a
        // `char` pattern cost about 250 instructions per event).
        match s.bytes().position(|b| b == b'\r' || b == b'\n') {
            None => {
                rest = None;
                Some(s)
            }
            Some(i) => {
                let (line, tail) = s.split_at(i);
                let skip = if tail.starts_with("\r\n") { 2 } else { 1 };
                rest = tail.get(skip..);
                Some(line)
            }
        }
    })
}

impl Event {
    /// Sets the event id; the client sends the last one it saw back as
    /// `Last-Event-ID` when it reconnects. Line breaks and NUL are removed.
    pub fn id(mut self, id: impl AsRef<str>) -> Self {
        self.id = Some(single_line(id.as_ref()));
        self
    }

    /// Sets the event type (`addEventListener(type, ..)` on the client;
    /// without it the event is a `message`). Line breaks are removed.
    pub fn event(mut self, event: impl AsRef<str>) -> Self {
        self.event = Some(single_line(event.as_ref()));
        self
    }

    /// Sets the data, replacing earlier data. Text with line breaks is sent
    /// as one `data:` line per line and arrives as the same text (with the
    /// line breaks normalized to `\n`).
    pub fn data(mut self, data: impl Into<String>) -> Self {
        self.data = Some(data.into());
        self
    }

    /// Sets the data to `value` serialized as JSON (one line).
    pub fn json_data<T: serde::Serialize + ?Sized>(
        self,
        value: &T,
    ) -> Result<Self, serde_json::Error> {
        Ok(self.data(serde_json::to_string(value)?))
    }

    /// Sets the reconnection time the client waits before reconnecting
    /// after the stream ends (sent in whole milliseconds).
    pub fn retry(mut self, retry: Duration) -> Self {
        self.retry = Some(retry);
        self
    }

    /// Adds a comment; clients ignore it, proxies see traffic. Several calls
    /// add several comments.
    pub fn comment(mut self, comment: impl Into<String>) -> Self {
        self.comments.push(comment.into());
        self
    }

    /// Appends the event in wire format, ending with the blank line that
    /// dispatches it.
    pub fn encode(&self, dst: &mut BytesMut) {
        for c in &self.comments {
            encode_comment(dst, c);
        }
        if let Some(e) = &self.event {
            field(dst, "event", e);
        }
        if let Some(id) = &self.id {
            field(dst, "id", id);
        }
        if let Some(r) = self.retry {
            field(dst, "retry", &r.as_millis().to_string());
        }
        if let Some(d) = &self.data {
            for line in lines(d) {
                field(dst, "data", line);
            }
        }
        dst.put_u8(b'\n');
    }

    /// The event in wire format.
    pub fn to_bytes(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(self.wire_len_hint());
        self.encode(&mut b);
        b.freeze()
    }

    fn wire_len_hint(&self) -> usize {
        let mut n = 1;
        n += self.comments.iter().map(|c| c.len() + 3).sum::<usize>();
        n += self.event.as_ref().map_or(0, |e| e.len() + 8);
        n += self.id.as_ref().map_or(0, |i| i.len() + 5);
        n += self.retry.map_or(0, |_| 16);
        n += self.data.as_ref().map_or(0, |d| d.len() + 8);
        n
    }
}

/// `name: value` LF. The space after the colon is always written, so a
/// value that starts with a space keeps it (the parser removes exactly one,
/// §9.2.6).
fn field(dst: &mut BytesMut, name: &str, value: &str) {
    dst.reserve(name.len() + value.len() + 3);
    dst.put_slice(name.as_bytes());
    dst.put_slice(b": ");
    dst.put_slice(value.as_bytes());
    dst.put_u8(b'\n');
}

/// A comment: one `:` line per line of `text` (§9.2.6: a line starting
/// with a colon is ignored).
fn encode_comment(dst: &mut BytesMut, text: &str) {
    for line in lines(text) {
        if line.is_empty() {
            dst.put_slice(b":\n");
        } else {
            field(dst, "", line);
        }
    }
}

/// Comment lines sent when the stream has been idle for an interval, so
/// proxies and load balancers do not close a quiet connection.
#[derive(Clone, Debug)]
pub struct KeepAlive {
    interval: Duration,
    text: String,
}

impl Default for KeepAlive {
    fn default() -> Self {
        KeepAlive::new()
    }
}

impl KeepAlive {
    /// Every 15 seconds of silence, an empty comment (`:`).
    pub fn new() -> Self {
        KeepAlive {
            interval: Duration::from_secs(15),
            text: String::new(),
        }
    }

    /// Sets how long the stream may be idle before a comment is sent
    /// (at least 1 ms).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval.max(Duration::from_millis(1));
        self
    }

    /// Sets the comment text.
    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.text = text.into();
        self
    }

    fn to_bytes(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(self.text.len() + 4);
        encode_comment(&mut b, &self.text);
        b.put_u8(b'\n');
        b.freeze()
    }
}

/// What an event stream may yield: an [`Event`], or a `Result` whose error
/// ends the response (the connection is cut, so the client sees an error
/// and reconnects).
pub trait IntoEvent {
    /// The event, or why the stream failed.
    fn into_event(self) -> Result<Event, BoxError>;
}

impl IntoEvent for Event {
    fn into_event(self) -> Result<Event, BoxError> {
        Ok(self)
    }
}

impl<E: Into<BoxError>> IntoEvent for Result<Event, E> {
    fn into_event(self) -> Result<Event, BoxError> {
        self.map_err(Into::into)
    }
}

/// A Server-Sent Events response: `Sse::new(stream)` of [`Event`]s (or of
/// `Result<Event, E>`), optionally with [`KeepAlive`] comments.
///
/// As a response it is `200 OK` with `content-type: text/event-stream`,
/// `cache-control: no-cache` and `x-accel-buffering: no` (tells nginx-style
/// proxies not to buffer), and a body that never has a known length:
/// chunked on HTTP/1.1, DATA frames on HTTP/2.
pub struct Sse<S> {
    stream: S,
    keep_alive: Option<KeepAlive>,
}

impl<S> fmt::Debug for Sse<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sse")
            .field("keep_alive", &self.keep_alive)
            .finish_non_exhaustive()
    }
}

impl<S> Sse<S>
where
    S: Stream + Send + 'static,
    S::Item: IntoEvent,
{
    /// An event stream response.
    pub fn new(stream: S) -> Self {
        Sse {
            stream,
            keep_alive: None,
        }
    }

    /// Sends keep-alive comments whenever the stream has been idle for the
    /// keep-alive interval.
    pub fn keep_alive(mut self, keep_alive: KeepAlive) -> Self {
        self.keep_alive = Some(keep_alive);
        self
    }
}

const EVENT_STREAM: HeaderValue = HeaderValue::from_static("text/event-stream");
const NO_CACHE: HeaderValue = HeaderValue::from_static("no-cache");
const X_ACCEL_BUFFERING: HeaderName = HeaderName::from_static("x-accel-buffering");
const NO: HeaderValue = HeaderValue::from_static("no");

impl<S> IntoResponse for Sse<S>
where
    S: Stream + Send + 'static,
    S::Item: IntoEvent,
{
    fn into_response(self) -> Response {
        let keep_alive = self.keep_alive.map(|k| Ticker {
            comment: k.to_bytes(),
            interval: k.interval,
            sleep: Box::pin(tokio::time::sleep(k.interval)),
            last_sent: Instant::now(),
        });
        let body = EventBody {
            events: Box::pin(self.stream),
            keep_alive,
            done: false,
        };
        Response::new(StatusCode::OK, Body::from_stream(body).end_at_shutdown())
            .insert_header(CONTENT_TYPE, EVENT_STREAM)
            .insert_header(CACHE_CONTROL, NO_CACHE)
            .insert_header(X_ACCEL_BUFFERING, NO)
    }
}

struct Ticker {
    comment: Bytes,
    interval: Duration,
    sleep: Pin<Box<Sleep>>,
    /// When the last event or comment went out.
    last_sent: Instant,
}

/// The byte stream of an event stream: each event encoded as it comes,
/// keep-alive comments in the silences.
struct EventBody<S> {
    events: Pin<Box<S>>,
    keep_alive: Option<Ticker>,
    done: bool,
}

impl<S> Stream for EventBody<S>
where
    S: Stream,
    S::Item: IntoEvent,
{
    type Item = Result<Bytes, BoxError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        match this.events.as_mut().poll_next(cx) {
            Poll::Ready(Some(item)) => {
                // The timer is not re-armed per event (that would cost a
                // timer-wheel update each time): it fires on its schedule
                // and then looks at when the last event went out.
                if let Some(k) = &mut this.keep_alive {
                    k.last_sent = Instant::now();
                }
                match item.into_event() {
                    Ok(ev) => Poll::Ready(Some(Ok(ev.to_bytes()))),
                    Err(e) => {
                        this.done = true;
                        Poll::Ready(Some(Err(e)))
                    }
                }
            }
            Poll::Ready(None) => {
                this.done = true;
                Poll::Ready(None)
            }
            Poll::Pending => {
                let Some(k) = &mut this.keep_alive else {
                    return Poll::Pending;
                };
                loop {
                    match k.sleep.as_mut().poll(cx) {
                        Poll::Ready(()) => {
                            let now = Instant::now();
                            let due = k.last_sent + k.interval;
                            if now < due {
                                // An event went out since: wait the rest.
                                k.sleep.as_mut().reset(due);
                                continue;
                            }
                            k.last_sent = now;
                            k.sleep.as_mut().reset(now + k.interval);
                            return Poll::Ready(Some(Ok(k.comment.clone())));
                        }
                        Poll::Pending => return Poll::Pending,
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    fn wire(e: Event) -> String {
        String::from_utf8(e.to_bytes().to_vec()).unwrap_or_default()
    }

    #[test]
    fn fields_in_wire_format() {
        let e = Event::default()
            .event("clock")
            .id("7")
            .retry(Duration::from_millis(1500))
            .data("12:00:00");
        assert_eq!(
            wire(e),
            "event: clock\nid: 7\nretry: 1500\ndata: 12:00:00\n\n"
        );
    }

    #[test]
    fn multi_line_data_is_one_data_line_per_line() {
        let e = Event::default().data("one\ntwo\r\nthree\rfour");
        assert_eq!(wire(e), "data: one\ndata: two\ndata: three\ndata: four\n\n");
        // A trailing line break is an empty last line, kept.
        assert_eq!(wire(Event::default().data("a\n")), "data: a\ndata: \n\n");
        assert_eq!(wire(Event::default().data("")), "data: \n\n");
    }

    #[test]
    fn leading_space_of_data_survives() {
        // The parser drops exactly one space after the colon.
        assert_eq!(wire(Event::default().data(" x")), "data:  x\n\n");
    }

    #[test]
    fn line_breaks_cannot_escape_id_or_event() {
        let e = Event::default().id("1\n\ndata: injected").event("a\r\nb\0");
        assert_eq!(wire(e), "event: ab\nid: 1data: injected\n\n");
    }

    #[test]
    fn comments_one_line_each() {
        let e = Event::default().comment("hi").comment("x\ny").comment("");
        assert_eq!(wire(e), ": hi\n: x\n: y\n:\n\n");
    }

    #[test]
    fn json_data_is_one_line() {
        let e = Event::default()
            .json_data(&serde_json::json!({"text": "a\nb"}))
            .unwrap_or_default();
        assert_eq!(wire(e), "data: {\"text\":\"a\\nb\"}\n\n");
    }

    #[test]
    fn headers_of_the_response() {
        let r = Sse::new(futures_util::stream::empty::<Event>()).into_response();
        assert_eq!(r.status(), StatusCode::OK);
        let h = r.headers();
        assert_eq!(h.get("content-type").unwrap(), "text/event-stream");
        assert_eq!(h.get("cache-control").unwrap(), "no-cache");
        assert_eq!(h.get("x-accel-buffering").unwrap(), "no");
        assert_eq!(r.body().exact_len(), None);
    }

    #[tokio::test]
    async fn result_items_and_errors() {
        let items: Vec<Result<Event, std::io::Error>> = vec![
            Ok(Event::default().data("a")),
            Err(std::io::Error::other("boom")),
            Ok(Event::default().data("never")),
        ];
        let mut body = Sse::new(futures_util::stream::iter(items))
            .into_response()
            .into_inner()
            .into_body();
        let first = body.chunk().await.and_then(Result::ok);
        assert_eq!(first.as_deref(), Some(&b"data: a\n\n"[..]));
        assert!(matches!(body.chunk().await, Some(Err(_))));
        assert!(body.chunk().await.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn keep_alive_comments_fill_silences_only() {
        let (tx, rx) = tokio::sync::mpsc::channel::<Event>(4);
        let events =
            futures_util::stream::unfold(
                rx,
                |mut rx| async move { rx.recv().await.map(|e| (e, rx)) },
            );
        let mut body = Sse::new(events)
            .keep_alive(
                KeepAlive::new()
                    .interval(Duration::from_secs(10))
                    .text("ping"),
            )
            .into_response()
            .into_inner()
            .into_body();
        // Nothing for 10 s (paused clock auto-advances): a comment.
        let c = body.next().await.and_then(Result::ok);
        assert_eq!(c.as_deref(), Some(&b": ping\n\n"[..]));
        // An event resets the timer: the event comes, not a comment.
        tokio::time::advance(Duration::from_secs(9)).await;
        let _ = tx.send(Event::default().data("e")).await;
        let e = body.next().await.and_then(Result::ok);
        assert_eq!(e.as_deref(), Some(&b"data: e\n\n"[..]));
        let start = Instant::now();
        let c = body.next().await.and_then(Result::ok);
        assert_eq!(c.as_deref(), Some(&b": ping\n\n"[..]));
        assert_eq!(start.elapsed(), Duration::from_secs(10));
        drop(tx);
        assert!(body.next().await.is_none());
    }
}
