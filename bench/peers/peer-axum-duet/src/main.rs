//! The same axum 0.8 Router as `peer-axum`, served by duet instead of
//! hyper (`Server::service`): HTTP/1.1 + h2c on `--http`, h2 and HTTP/1.1
//! by ALPN on `--https`, on a current-thread tokio runtime (one worker
//! thread). What an axum user gets by swapping `axum::serve` for duet.

use axum::body::Body;
use axum::extract::{Path, RawQuery};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use peer_common::{Args, Ticks, Zeros};

async fn hello(Path(_name): Path<String>) -> &'static str {
    "hello"
}

async fn bytes(Path(n): Path<u64>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/octet-stream")],
        Body::new(Zeros::new(n)),
    )
        .into_response()
}

async fn sse(RawQuery(query): RawQuery) -> Response {
    let every = peer_common::sse_interval(query.as_deref());
    (
        [(header::CONTENT_TYPE, "text/event-stream")],
        Body::new(Ticks::new(every)),
    )
        .into_response()
}

fn main() -> Result<(), String> {
    let args = Args::parse()?;
    let app = Router::new()
        .route("/hello/{name}", get(hello))
        .route("/bytes/{n}", get(bytes))
        .route("/sse", get(sse));
    let mut executor = duet::Executor::new();
    if let Some(addr) = &args.http {
        let addr = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
        executor = executor.add(duet::Server::bind_addr(addr).service(app.clone()));
    }
    if let (Some(addr), Some(cert), Some(key)) = (&args.https, &args.cert, &args.key) {
        let addr = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
        let tls = duet::TlsConfig::new()
            .default_cert(cert, key)
            .map_err(|e| e.to_string())?;
        executor = executor.add(duet::Server::bind_addr(addr).tls(tls).service(app));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let running = executor.start().await.map_err(|e| e.to_string())?;
        running.wait().await;
        Ok(())
    })
}
