//! axum 0.8 peer: the Router served by hyper-util's auto builder (as
//! `axum::serve` does; HTTP/1.1 + h2c, h2 over TLS by ALPN), on a
//! current-thread tokio runtime (one worker thread).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, RawQuery};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use peer_common::{Args, Ticks, Zeros};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

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

async fn serve(listener: TcpListener, tls: Option<TlsAcceptor>, app: Router) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let tls = tls.clone();
        let service = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let builder = Builder::new(TokioExecutor::new());
            let _ = match tls {
                None => {
                    builder
                        .serve_connection_with_upgrades(TokioIo::new(tcp), service)
                        .await
                }
                Some(acceptor) => match acceptor.accept(tcp).await {
                    Ok(s) => {
                        builder
                            .serve_connection_with_upgrades(TokioIo::new(s), service)
                            .await
                    }
                    Err(_) => return,
                },
            };
        });
    }
}

fn main() -> Result<(), String> {
    let args = Args::parse()?;
    let tls = args.tls_config()?.map(|c| TlsAcceptor::from(Arc::new(c)));
    let app = Router::new()
        .route("/hello/{name}", get(hello))
        .route("/bytes/{n}", get(bytes))
        .route("/sse", get(sse));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let mut tasks = Vec::new();
        if let Some(addr) = &args.http {
            let l = TcpListener::bind(addr)
                .await
                .map_err(|e| format!("{addr}: {e}"))?;
            tasks.push(tokio::spawn(serve(l, None, app.clone())));
        }
        if let (Some(addr), Some(tls)) = (&args.https, tls) {
            let l = TcpListener::bind(addr)
                .await
                .map_err(|e| format!("{addr}: {e}"))?;
            tasks.push(tokio::spawn(serve(l, Some(tls), app.clone())));
        }
        for t in tasks {
            let _ = t.await;
        }
        Ok(())
    })
}
