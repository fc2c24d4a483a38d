//! `fetch`: the download client of bench/run.sh's "same client" bulk rows.
//!
//! curl's HTTP/2 receive path runs at about half the rate of its HTTP/1.1
//! one on this machine, and a server's CPU per GiB rises when its receiver
//! is slower (TCP sends smaller segments into a window that opens a little
//! at a time). To compare a server's HTTP/2 framing with its own HTTP/1.1
//! this client receives both the same way: hyper's client on one
//! connection, HTTP/1.1 or HTTP/2 with prior knowledge, windows of 16 MiB
//! (stream) and 32 MiB (connection), body frames counted and dropped.
//!
//!   fetch [--h2] [--max-frame N] URL [COUNT]
//!
//! `--max-frame`: the SETTINGS_MAX_FRAME_SIZE the client advertises on
//! HTTP/2 (default 1 MiB; 16384 is the protocol's initial value and what
//! browsers keep, so the server sends 16 KiB DATA frames).
//!
//! Prints `STATUS BYTES BYTES_PER_SECOND SECONDS` (curl's `-w '%{http_code}
//! %{size_download} %{speed_download} %{time_total}'`, so the bench reads
//! both alike; BYTES summed over COUNT sequential downloads on the same
//! connection); exits non-zero on any error or a non-200 status.

use std::time::Instant;

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body as _;
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

fn main() {
    match run() {
        Ok(line) => println!("{line}"),
        Err(e) => {
            eprintln!("fetch: {e}");
            std::process::exit(1);
        }
    }
}

fn run() -> Result<String, String> {
    let mut args = std::env::args().skip(1).peekable();
    let h2 = args.peek().is_some_and(|a| a == "--h2");
    if h2 {
        args.next();
    }
    let mut max_frame: u32 = 1 << 20;
    if args.peek().is_some_and(|a| a == "--max-frame") {
        args.next();
        max_frame = args
            .next()
            .ok_or("--max-frame needs a size")?
            .parse()
            .map_err(|e| format!("--max-frame: {e}"))?;
    }
    let url: http::Uri = args
        .next()
        .ok_or("usage: fetch [--h2] [--max-frame N] URL [COUNT]")?
        .parse()
        .map_err(|e| format!("url: {e}"))?;
    let count: u32 = match args.next() {
        Some(c) => c.parse().map_err(|e| format!("count: {e}"))?,
        None => 1,
    };
    let authority = url.authority().ok_or("url needs host:port")?.to_string();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let tcp = TcpStream::connect(&authority)
            .await
            .map_err(|e| format!("{authority}: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let io = TokioIo::new(tcp);
        let mut send = if h2 {
            let (send, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
                .initial_stream_window_size(16 << 20)
                .initial_connection_window_size(32 << 20)
                .max_frame_size(max_frame)
                .handshake(io)
                .await
                .map_err(|e| format!("h2 handshake: {e}"))?;
            tokio::spawn(conn);
            Sender::H2(send)
        } else {
            let (send, conn) = hyper::client::conn::http1::Builder::new()
                .handshake(io)
                .await
                .map_err(|e| format!("h1 handshake: {e}"))?;
            tokio::spawn(conn);
            Sender::H1(send)
        };
        let started = Instant::now();
        let mut total = 0u64;
        // HTTP/1.1: origin-form and Host, as browsers and curl send it
        // (RFC 9112 §3.2.1; h2o 2.2 answers the absolute-form with 404);
        // HTTP/2: the URL fills :scheme, :authority and :path, and no Host
        // (RFC 9113 §8.3.1: clients use :authority; nginx 1.22 answers 400
        // to both).
        let origin: http::Uri = url
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .parse()
            .map_err(|e| format!("path: {e}"))?;
        for _ in 0..count {
            let req = if h2 {
                Request::get(url.clone())
            } else {
                Request::get(origin.clone()).header(http::header::HOST, &authority)
            };
            let req = req.body(Empty::new()).map_err(|e| e.to_string())?;
            let res = send.send(req).await.map_err(|e| e.to_string())?;
            if res.status() != http::StatusCode::OK {
                return Err(format!("status {}", res.status()));
            }
            total += drain(res.into_body()).await?;
        }
        let secs = started.elapsed().as_secs_f64();
        Ok(format!(
            "200 {total} {:.0} {secs:.3}",
            total as f64 / secs.max(1e-9)
        ))
    })
}

/// One connection's request sender, either version.
enum Sender {
    H1(hyper::client::conn::http1::SendRequest<Empty<Bytes>>),
    H2(hyper::client::conn::http2::SendRequest<Empty<Bytes>>),
}

impl Sender {
    async fn send(&mut self, req: Request<Empty<Bytes>>) -> hyper::Result<Response<Incoming>> {
        match self {
            Sender::H1(s) => s.send_request(req).await,
            Sender::H2(s) => s.send_request(req).await,
        }
    }
}

/// Counts and drops a body's data frames.
async fn drain(mut body: Incoming) -> Result<u64, String> {
    let mut n = 0u64;
    while let Some(frame) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
    {
        if let Ok(data) = frame.map_err(|e| e.to_string())?.into_data() {
            n += data.len() as u64;
        }
    }
    Ok(n)
}
