//! `duet`: runs the demo server.
//!
//! `cargo run --release` serves the demo app on http://127.0.0.1:8080
//! (HTTP/1.1 and h2c).

use std::net::SocketAddr;

use bytes::Bytes;
use clap::Parser;
use duet::{ConnContext, Executor, Json, Path, RequestContext, Server};
use serde::Serialize;

/// The duet demo server.
#[derive(Parser, Debug)]
#[command(
    name = "duet",
    version,
    about = "duet: an HTTP/1.1 and HTTP/2 server (demo app)"
)]
struct Args {
    /// Address for HTTP/1.1 and cleartext HTTP/2 (h2c).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR:PORT")]
    http: SocketAddr,
    /// Worker threads (default: one per core).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// No access log (for benchmarks).
    #[arg(long)]
    quiet: bool,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let (writer, _guard) = tracing_appender::non_blocking(std::io::stderr());
    let filter = if args.quiet { "warn" } else { "info" };
    tracing_subscriber::fmt()
        .with_writer(writer)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter)),
        )
        .with_target(false)
        .init();

    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.threads {
        rt.worker_threads(n.max(1));
    }
    let rt = match rt.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("duet: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("duet: {e}");
            eprintln!("duet: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> std::io::Result<()> {
    let mut plain = Server::bind_addr(args.http);
    demo_routes(&mut plain);
    Executor::new().add(plain).run().await
}

/// The demo app's routes (the same on every server).
fn demo_routes(s: &mut Server) {
    s.get("/", hello)
        .get("/hello/{name}", hello)
        .post("/echo", echo)
        .get("/info", info)
        .get("/bytes/{n}", bytes);
}

async fn hello() -> &'static str {
    "hello"
}

async fn echo(body: Bytes) -> Bytes {
    body
}

#[derive(Serialize)]
struct Info {
    method: String,
    path: String,
    query: Option<String>,
    version: String,
    host: Option<String>,
    headers: Vec<(String, String)>,
    conn: ConnInfo,
}

#[derive(Serialize)]
struct ConnInfo {
    id: u64,
    peer: String,
    local: String,
    protocol: &'static str,
    tls: bool,
    server_name: Option<String>,
    alpn: Option<String>,
    requests_on_connection: u64,
}

#[derive(Clone, Default)]
struct RequestCount(u64);

async fn info(req: RequestContext, conn: ConnContext) -> Json<Info> {
    let count = conn.update(|c: &mut RequestCount| c.0 += 1).0;
    Json(Info {
        method: req.method().to_string(),
        path: req.path().to_string(),
        query: req.query().map(str::to_string),
        version: format!("{:?}", req.version()),
        host: req.host().map(str::to_string),
        headers: req
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        conn: ConnInfo {
            id: conn.id(),
            peer: conn.peer_addr().to_string(),
            local: conn.local_addr().to_string(),
            protocol: conn.protocol(),
            tls: conn.is_tls(),
            server_name: conn.server_name().map(str::to_string),
            alpn: conn.alpn().map(|a| String::from_utf8_lossy(a).into_owned()),
            requests_on_connection: count,
        },
    })
}

/// `n` bytes of `x`, streamed in 64 KiB chunks with a known length (for
/// download tests and benchmarks). At most 16 GiB.
async fn bytes(Path(n): Path<u64>) -> duet::Response {
    const CHUNK: usize = 64 * 1024;
    let n = n.min(16 << 30);
    let block = Bytes::from(vec![b'x'; CHUNK]);
    let chunks = futures_util::stream::unfold(n, move |left| {
        let block = block.clone();
        async move {
            if left == 0 {
                return None;
            }
            let take = left.min(CHUNK as u64);
            Some((
                Ok::<_, std::io::Error>(block.slice(..take as usize)),
                left - take,
            ))
        }
    });
    duet::Response::new(
        duet::StatusCode::OK,
        duet::Body::from_stream_sized(chunks, Some(n)),
    )
    .header("content-type", "application/octet-stream")
}
