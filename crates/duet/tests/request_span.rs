//! Every request runs in a `tracing` span (`request`, target
//! `duet::request`) with its method, route pattern, protocol, and, when it
//! ends, its status and duration; the handler's events are inside it.
//! Alone in its test binary: a tracing callsite first reached by another
//! test's thread, before this test's subscriber is set, could cache
//! "never" for it.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

#[derive(Debug, Default, Clone)]
struct SpanSeen {
    name: String,
    target: String,
    fields: HashMap<String, String>,
    closed: bool,
    /// Messages of the events recorded inside it.
    events: Vec<String>,
}

type Spans = Arc<Mutex<HashMap<u64, SpanSeen>>>;

/// Collects every span: its fields as created and recorded later, the
/// events inside it, and whether it closed.
struct Collect(Spans);

struct Fields<'a>(&'a mut HashMap<String, String>);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(
            field.name().to_string(),
            format!("{value:?}").trim_matches('"').to_string(),
        );
    }
}

impl<S> tracing_subscriber::Layer<S> for Collect
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        let mut seen = SpanSeen {
            name: attrs.metadata().name().to_string(),
            target: attrs.metadata().target().to_string(),
            ..SpanSeen::default()
        };
        attrs.record(&mut Fields(&mut seen.fields));
        if let Ok(mut all) = self.0.lock() {
            all.insert(id.into_u64(), seen);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        if let Ok(mut all) = self.0.lock() {
            if let Some(s) = all.get_mut(&id.into_u64()) {
                values.record(&mut Fields(&mut s.fields));
            }
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.event_span(event) else {
            return;
        };
        let mut f = HashMap::new();
        event.record(&mut Fields(&mut f));
        if let Ok(mut all) = self.0.lock() {
            if let Some(s) = all.get_mut(&span.id().into_u64()) {
                s.events.push(f.remove("message").unwrap_or_default());
            }
        }
    }

    fn on_close(&self, id: Id, _: Context<'_, S>) {
        if let Ok(mut all) = self.0.lock() {
            if let Some(s) = all.get_mut(&id.into_u64()) {
                s.closed = true;
            }
        }
    }
}

async fn hello(duet::Path(name): duet::Path<String>) -> String {
    tracing::info!("greeting {name}");
    format!("hello {name}")
}

#[test]
fn each_request_has_a_span_with_its_route_status_and_duration() {
    let spans: Spans = Arc::default();
    let subscriber = tracing_subscriber::registry().with(Collect(spans.clone()));
    let _guard = tracing::subscriber::set_default(subscriber);
    // One thread: the connection's task runs where the subscriber is set.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut s = support::local();
        s.get("/hello/{name}", hello);
        let running = support::start([s]).await;
        let answer = support::raw(
            running.addr(),
            b"GET /hello/ada HTTP/1.1\r\nhost: x\r\n\r\nGET /nowhere HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        )
        .await;
        assert!(answer.contains("hello ada"), "{answer}");
        assert!(answer.contains("404"), "{answer}");
        running.shutdown().await;
    });
    let spans = spans.lock().expect("spans");
    let requests: Vec<&SpanSeen> = spans
        .values()
        .filter(|s| s.target == "duet::request")
        .collect();
    assert_eq!(requests.len(), 2, "{spans:#?}");
    let field = |s: &SpanSeen, k: &str| s.fields.get(k).cloned().unwrap_or_default();

    let hello = requests
        .iter()
        .find(|s| field(s, "route") == "/hello/{name}")
        .unwrap_or_else(|| panic!("no span with the route pattern: {requests:#?}"));
    assert_eq!(hello.name, "request");
    assert_eq!(field(hello, "method"), "GET");
    assert_eq!(field(hello, "protocol"), "http/1.1");
    assert_eq!(field(hello, "status"), "200");
    let ms: f64 = field(hello, "duration_ms").parse().expect("a duration");
    assert!(ms >= 0.0, "{hello:?}");
    assert!(hello.closed, "{hello:?}");
    // The handler ran inside the span.
    assert_eq!(hello.events, ["greeting ada"], "{hello:?}");

    // No route matched: the path is the route.
    let missing = requests
        .iter()
        .find(|s| field(s, "route") == "/nowhere")
        .unwrap_or_else(|| panic!("no span for /nowhere: {requests:#?}"));
    assert_eq!(field(missing, "status"), "404");
    assert!(missing.closed, "{missing:?}");
}
