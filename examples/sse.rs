//! An event stream: `cargo run --example sse [ADDR]`, then
//! `curl -N http://127.0.0.1:3000/ticks` — a `tick` event per second, with
//! ids a reconnecting `EventSource` resumes from (`Last-Event-ID`).

use std::time::Duration;

use duet::{Event, Executor, KeepAlive, RequestContext, Server, Sse};
use futures_util::StreamExt;

async fn ticks(req: RequestContext) -> Sse<impl futures_util::Stream<Item = Event>> {
    let from: u64 = req
        .last_event_id()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let interval = tokio::time::interval(Duration::from_secs(1));
    let events = tokio_stream::wrappers::IntervalStream::new(interval)
        .enumerate()
        .map(move |(i, _)| {
            let n = from + 1 + i as u64;
            Event::default()
                .event("tick")
                .id(n.to_string())
                .data(format!("tick {n}"))
        });
    Sse::new(events).keep_alive(KeepAlive::new())
}

#[tokio::main]
async fn main() -> Result<(), duet::Error> {
    let mut server = Server::bind_addr(duet_examples::addr());
    server.get("/ticks", ticks);
    Executor::new().add(server).run().await
}
