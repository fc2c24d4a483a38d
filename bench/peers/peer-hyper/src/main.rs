//! hyper 1.x peer: hyper-util's auto builder (HTTP/1.1 + h2c by preface, h2
//! over TLS by ALPN), on a current-thread tokio runtime (one worker thread),
//! or with `--multi-thread` on tokio's multi-threaded runtime with one
//! worker per core (hyper's default deployment: `#[tokio::main]`).

use std::convert::Infallible;
use std::sync::Arc;

use http::{header, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use peer_common::{bytes_len, sse_interval, Args, PeerBody, Ticks, Zeros};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

async fn handle(req: Request<Incoming>) -> Result<Response<PeerBody>, Infallible> {
    let path = req.uri().path();
    let (ctype, body) = if path.starts_with("/hello/") {
        ("text/plain", PeerBody::text("hello"))
    } else if let Some(n) = path.strip_prefix("/bytes/").and_then(bytes_len) {
        ("application/octet-stream", PeerBody::Zeros(Zeros::new(n)))
    } else if path == "/sse" {
        let every = sse_interval(req.uri().query());
        ("text/event-stream", PeerBody::Ticks(Ticks::new(every)))
    } else {
        let mut res = Response::new(PeerBody::text("not found"));
        *res.status_mut() = StatusCode::NOT_FOUND;
        return Ok(res);
    };
    let mut res = Response::new(body);
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(ctype),
    );
    Ok(res)
}

async fn serve(listener: TcpListener, tls: Option<TlsAcceptor>) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let tls = tls.clone();
        tokio::spawn(async move {
            let builder = Builder::new(TokioExecutor::new());
            let _ = match tls {
                None => {
                    builder
                        .serve_connection(TokioIo::new(tcp), service_fn(handle))
                        .await
                }
                Some(acceptor) => match acceptor.accept(tcp).await {
                    Ok(s) => {
                        builder
                            .serve_connection(TokioIo::new(s), service_fn(handle))
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
    let mut rt = if args.multi_thread {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    let rt = rt.enable_all().build().map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let mut tasks = Vec::new();
        if let Some(addr) = &args.http {
            let l = TcpListener::bind(addr)
                .await
                .map_err(|e| format!("{addr}: {e}"))?;
            tasks.push(tokio::spawn(serve(l, None)));
        }
        if let (Some(addr), Some(tls)) = (&args.https, tls) {
            let l = TcpListener::bind(addr)
                .await
                .map_err(|e| format!("{addr}: {e}"))?;
            tasks.push(tokio::spawn(serve(l, Some(tls))));
        }
        for t in tasks {
            let _ = t.await;
        }
        Ok(())
    })
}
