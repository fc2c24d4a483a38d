//! `duet`: runs the demo server.
//!
//! `cargo run --release` serves the demo app on http://127.0.0.1:8080
//! (HTTP/1.1 and h2c) and https://localhost:8443 (h2 and HTTP/1.1 by ALPN,
//! with a self-signed certificate generated at start-up unless `--cert` and
//! `--key` are given; SIGHUP reloads those files).

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use clap::{CommandFactory, FromArgMatches, Parser};
use duet::ws::{Message, WebSocket, WebSocketUpgrade};
use duet::{
    Admin, ConnContext, Event, Executor, Json, KeepAlive, Limits, Path, ProxyProtocol, Query,
    RequestContext, Server, Sse, TlsConfig,
};
use futures_util::{Stream, StreamExt};
use serde::{Deserialize, Serialize};

mod status;
use status::Metrics;

/// jemalloc instead of glibc's malloc, with its background thread on (see
/// `main`): memory freed after a burst of large request bodies goes back
/// to the system. glibc raises its mmap threshold with every large free and
/// then keeps such buffers in its heaps: rounds of four slow 15 MiB uploads
/// left 60–76 MB resident for good.
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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
    /// Address for HTTPS (h2 and HTTP/1.1, chosen by ALPN).
    #[arg(long, default_value = "127.0.0.1:8443", value_name = "ADDR:PORT")]
    https: SocketAddr,
    /// Certificate chain (PEM) for HTTPS; without it a self-signed
    /// certificate for localhost is generated at start-up.
    #[arg(long, value_name = "FILE", requires = "key")]
    cert: Option<PathBuf>,
    /// Private key (PEM) matching `--cert`.
    #[arg(long, value_name = "FILE", requires = "cert")]
    key: Option<PathBuf>,
    /// Serve no HTTPS.
    #[arg(long, conflicts_with_all = ["cert", "key"])]
    no_https: bool,
    /// Worker threads (default: one per core); 1 runs a single-threaded
    /// runtime; with --per-core, the number of runtimes.
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// One single-threaded runtime and one SO_REUSEPORT listener per core
    /// (instead of one multi-threaded runtime).
    #[arg(long)]
    per_core: bool,
    /// No access log (for benchmarks).
    #[arg(long)]
    quiet: bool,
    /// Expect a PROXY protocol header (v1 or v2, detected) on every
    /// connection of --http and --https, from a load balancer; the client
    /// address it carries is the peer address. Connections without a valid
    /// header are closed.
    #[arg(long)]
    proxy_protocol: bool,
    /// Trust PROXY headers only from these networks (comma-separated CIDRs
    /// or addresses; default: every source). Others are closed.
    #[arg(
        long,
        value_name = "CIDR,...",
        value_delimiter = ',',
        requires = "proxy_protocol"
    )]
    proxy_from: Vec<String>,
    /// Bind with SO_REUSEPORT, so that several duet processes share the
    /// ports.
    #[arg(long)]
    reuse_port: bool,
    /// Refuse HTTP/1.1 `Upgrade: h2c` on the cleartext listener (behind a
    /// proxy that forwards upgrade headers; see SECURITY.md). HTTP/2 with
    /// prior knowledge is still served.
    #[arg(long)]
    no_h2c_upgrade: bool,
    /// Serve /healthz, /readyz and /metrics on this address (off by
    /// default).
    #[arg(long, value_name = "ADDR:PORT")]
    admin: Option<SocketAddr>,
    /// Install no metrics recorder: /metrics is empty and the /status
    /// dashboard has no data (for measuring what metrics cost).
    #[arg(long)]
    no_metrics: bool,
    /// On SIGTERM, keep accepting this long with /readyz answering 503,
    /// before draining (seconds; 500ms, 2s… also taken).
    #[arg(long, value_name = "SECS", value_parser = seconds, default_value = "0")]
    drain_delay: Duration,
    /// Connections open at once per listener; the rest wait in the accept
    /// queue (--limit max_connections=N).
    #[arg(long, value_name = "N")]
    max_connections: Option<String>,
    /// Requests per connection; the last is answered with Connection:
    /// close.
    #[arg(long, value_name = "N")]
    max_requests_per_connection: Option<String>,
    /// Age (seconds) after which a connection takes no new request and
    /// closes gracefully.
    #[arg(long, value_name = "SECS")]
    max_connection_age: Option<String>,
    /// Sets any limit by name, e.g. --limit shutdown_grace=10s --limit
    /// max_body_bytes=1m (repeatable; the names and defaults are listed
    /// below).
    #[arg(long = "limit", value_name = "NAME=VALUE")]
    limit: Vec<String>,
}

/// A time in seconds (`1.5`) or with a unit (`500ms`, `2s`, `1m`).
fn seconds(text: &str) -> Result<Duration, String> {
    let mut l = Limits::default();
    l.set("shutdown_grace", text).map_err(|e| match e {
        duet::Error::InvalidLimit { reason, .. } => reason,
        e => e.to_string(),
    })?;
    Ok(l.shutdown_grace)
}

impl Args {
    /// The command line, the limits and their defaults listed in --help.
    fn parse_with_limits() -> Args {
        let help = format!(
            "Limits (--limit NAME=VALUE; counts take k/m/g and max, times take ms/s/m/h and never):\n{}",
            Limits::default()
                .describe()
                .lines()
                .map(|l| format!("  {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        let matches = Args::command().after_long_help(help).get_matches();
        match Args::from_arg_matches(&matches) {
            Ok(a) => a,
            Err(e) => e.exit(),
        }
    }

    /// The limits the flags set, on the defaults.
    fn limits(&self) -> Result<Limits, String> {
        let mut limits = Limits::default();
        for l in &self.limit {
            let (name, value) = l
                .split_once('=')
                .ok_or_else(|| format!("--limit {l}: expected NAME=VALUE"))?;
            limits
                .set(name, value)
                .map_err(|e| format!("--limit {l}: {e}"))?;
        }
        for (name, value) in [
            ("max_connections", &self.max_connections),
            (
                "max_requests_per_connection",
                &self.max_requests_per_connection,
            ),
            ("max_connection_age", &self.max_connection_age),
        ] {
            if let Some(v) = value {
                limits
                    .set(name, v)
                    .map_err(|e| format!("--{}: {e}", name.replace('_', "-")))?;
            }
        }
        Ok(limits)
    }

    /// The PROXY protocol switch, when on.
    fn proxy(&self) -> Result<Option<ProxyProtocol>, String> {
        if !self.proxy_protocol {
            return Ok(None);
        }
        let mut p = ProxyProtocol::new();
        for net in &self.proxy_from {
            p = p.trust(net).map_err(|e| format!("--proxy-from: {e}"))?;
        }
        Ok(Some(p))
    }
}

fn main() -> std::process::ExitCode {
    let args = Args::parse_with_limits();
    let config = match args.limits().and_then(|l| Ok((l, args.proxy()?))) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("duet: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    // Purges freed pages after jemalloc's decay time (10 s) even while the
    // server is idle, so the resident size returns to its baseline.
    if let Err(e) = tikv_jemalloc_ctl::background_thread::write(true) {
        eprintln!("duet: jemalloc background thread unavailable: {e}");
    }
    let (writer, log_guard) = tracing_appender::non_blocking(std::io::stderr());
    // Request spans (target duet::request) are for OpenTelemetry-style
    // subscribers: the console log leaves them off unless RUST_LOG asks.
    let filter = if args.quiet {
        "warn"
    } else {
        "info,duet::request=off"
    };
    // Colours only for a person at a terminal: a file or a pipe gets plain
    // text. A non-empty NO_COLOR turns them off too.
    let ansi = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").map_or(true, |v| v.is_empty());
    tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(ansi)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter)),
        )
        .with_target(false)
        .init();

    // Per core, the serving runtimes are the executor's; this one only
    // waits for signals and answers the admin endpoints.
    // One worker (`--threads 1`) is a single-threaded runtime: the
    // multi-threaded scheduler's work stealing and its statistics cost
    // about 700 instructions per HTTP/1.1 request, for nothing to steal.
    let single = args.threads.is_some_and(|n| n <= 1);
    let mut rt = if args.per_core || single {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    if let (Some(n), false, false) = (args.threads, args.per_core, single) {
        rt.worker_threads(n);
    }
    let rt = match rt.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("duet: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(run(args, config));
    // Write out what was logged before saying why we stop, so that the
    // reason is the last line.
    drop(log_guard);
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("duet: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args, (limits, proxy): (Limits, Option<ProxyProtocol>)) -> std::io::Result<()> {
    let listener = |s: Server| {
        let s = s.limits(limits.clone()).reuse_port(args.reuse_port);
        match &proxy {
            Some(p) => s.proxy_protocol(p.clone()),
            None => s,
        }
    };
    // Before any server starts: duet registers its metrics on first use.
    let metrics = if args.no_metrics {
        None
    } else {
        Some(Metrics::install().map_err(std::io::Error::other)?)
    };
    let mut plain = listener(Server::bind_addr(args.http)).h2c_upgrade(!args.no_h2c_upgrade);
    demo_routes(&mut plain, &metrics);
    let mut executor = Executor::new().add(plain).drain_delay(args.drain_delay);
    if !args.no_https {
        let tls = tls_config(&args)?;
        let mut secure = listener(Server::bind_addr(args.https).tls(tls.clone()));
        demo_routes(&mut secure, &metrics);
        executor = executor.add(secure);
        reload_on_sighup(tls, args.cert.is_some());
    }
    if let Some(addr) = args.admin {
        let mut admin = Admin::bind_addr(addr);
        if let Some(m) = metrics {
            admin = admin.metrics(move || m.render());
        }
        executor = executor.admin(admin);
    }
    if args.per_core {
        executor = match args.threads {
            Some(n) => executor.per_core_runtimes(n),
            None => executor.per_core(),
        };
    }
    Ok(executor.run().await?)
}

/// The HTTPS certificate: `--cert`/`--key`, or a self-signed one.
fn tls_config(args: &Args) -> std::io::Result<TlsConfig> {
    if let (Some(cert), Some(key)) = (&args.cert, &args.key) {
        let tls = TlsConfig::new().default_cert(cert, key)?;
        tracing::info!(
            "HTTPS certificate from {} (SIGHUP reloads it)",
            cert.display()
        );
        return Ok(tls);
    }
    let names = ["localhost", "127.0.0.1", "::1"];
    let tls = TlsConfig::self_signed(&names)?;
    tracing::info!(
        "generated a self-signed certificate for {} (clients must be told to trust it, e.g. curl -k); use --cert/--key for a real one",
        names.join(", ")
    );
    Ok(tls)
}

/// On SIGHUP, reads the certificate files again; new handshakes use them,
/// open connections are not disturbed. A failed reload keeps the old ones.
fn reload_on_sighup(tls: TlsConfig, from_files: bool) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hup = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("cannot listen for SIGHUP: {e}");
                return;
            }
        };
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                if !from_files {
                    tracing::info!("SIGHUP: the certificate is self-signed; nothing to reload");
                    continue;
                }
                match tls.reload() {
                    Ok(n) => tracing::info!("SIGHUP: reloaded {n} certificate(s)"),
                    Err(e) => tracing::error!(
                        "SIGHUP: certificate reload failed, keeping the current one: {e}"
                    ),
                }
            }
        });
    }
    #[cfg(not(unix))]
    let _ = (tls, from_files);
}

/// The demo app's routes (the same on every server).
fn demo_routes(s: &mut Server, metrics: &Option<Metrics>) {
    match metrics.clone() {
        Some(m) => s.get("/status/events", move || {
            let sse = m.events();
            async move { sse }
        }),
        None => s.get("/status/events", || async { status::events_off() }),
    };
    s.get("/status", status_page);
    s.get("/", hello)
        .get("/hello/{name}", hello)
        .post("/echo", echo)
        .get("/info", info)
        .get("/bytes/{n}", bytes)
        .get("/clock", clock_page)
        .get("/sse", clock_events)
        .get("/chat", chat_page)
        .get("/ws", websocket);
}

/// The live dashboard: rates, open connections and latency percentiles
/// from `/status/events`, drawn as SVG charts.
async fn status_page() -> duet::Response {
    duet::Response::html(include_str!("status.html")).insert_header("cache-control", "no-cache")
}

/// A page that talks to the `/ws` echo from the browser.
async fn chat_page() -> duet::Response {
    duet::Response::html(include_str!("chat.html")).insert_header("cache-control", "no-cache")
}

/// `GET /ws`: a WebSocket echo (text and binary), over HTTP/1.1 or, by
/// extended CONNECT (RFC 8441), over h2c and h2. With `?hello` the server
/// first sends `{"protocol": "h2", "connection": N}`: which protocol
/// carried the socket.
async fn websocket(ws: WebSocketUpgrade, req: RequestContext, conn: ConnContext) -> duet::Response {
    let hello = req
        .query()
        .is_some_and(|q| q.split('&').any(|p| p == "hello"));
    tracing::info!(
        "WebSocket from {} over {} (connection {})",
        conn.peer_addr(),
        conn.protocol(),
        conn.id()
    );
    ws.on_upgrade(move |socket| echo_socket(socket, hello.then_some(conn)))
}

async fn echo_socket(mut socket: WebSocket, hello: Option<ConnContext>) {
    if let Some(conn) = hello {
        let greeting = serde_json::json!({"protocol": conn.protocol(), "connection": conn.id()});
        if socket
            .send(Message::text(greeting.to_string()))
            .await
            .is_err()
        {
            return;
        }
    }
    while let Some(Ok(msg)) = socket.recv().await {
        if matches!(msg, Message::Text(_) | Message::Binary(_)) && socket.send(msg).await.is_err() {
            break;
        }
    }
}

/// A page that shows the `/sse` clock live and the protocol it was loaded
/// over.
async fn clock_page() -> duet::Response {
    duet::Response::html(include_str!("clock.html")).insert_header("cache-control", "no-cache")
}

#[derive(Deserialize)]
struct ClockQuery {
    /// Milliseconds between events (default 1000, at least 1).
    interval_ms: Option<u64>,
    /// End the stream after this many events (default: never).
    count: Option<u64>,
}

/// `GET /sse`: one `clock` event per interval, `id` counting up from the
/// client's `Last-Event-ID` (so a reconnecting `EventSource` resumes the
/// count), data the UTC time. `?interval_ms=N` (at least 1) for
/// benchmarks, `?count=N` for a finite stream.
async fn clock_events(
    req: RequestContext,
    Query(q): Query<ClockQuery>,
) -> Sse<impl Stream<Item = Event>> {
    let every = Duration::from_millis(q.interval_ms.unwrap_or(1000).clamp(1, 3_600_000));
    let first = req
        .last_event_id()
        .and_then(|id| id.trim().parse::<u64>().ok())
        .map_or(1, |n| n.saturating_add(1));
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let events = futures_util::stream::unfold((ticker, first), |(mut ticker, n)| async move {
        ticker.tick().await;
        let mut id = String::with_capacity(20);
        push_padded(&mut id, n, 1);
        let ev = Event::default().event("clock").id(id).data(utc_now());
        Some((ev, (ticker, n.saturating_add(1))))
    });
    let events = events.take(
        q.count
            .map_or(usize::MAX, |c| c.min(usize::MAX as u64) as usize),
    );
    Sse::new(events).keep_alive(KeepAlive::new())
}

/// The current UTC time as `YYYY-MM-DDTHH:MM:SS.mmmZ` (RFC 3339).
fn utc_now() -> String {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    rfc3339(
        y.max(0) as u64,
        [m, d].map(u64::from),
        [rem / 3600, rem / 60 % 60, rem % 60],
        u64::from(since.subsec_millis()),
    )
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`, written digit by digit into a string of
/// its size (`format!` with widths cost a few thousand instructions per
/// event, about a fifth of an event's whole cost at the server).
fn rfc3339(year: u64, [month, day]: [u64; 2], [h, min, s]: [u64; 3], ms: u64) -> String {
    let mut out = String::with_capacity(24);
    for (n, width, after) in [
        (year, 4, '-'),
        (month, 2, '-'),
        (day, 2, 'T'),
        (h, 2, ':'),
        (min, 2, ':'),
        (s, 2, '.'),
        (ms, 3, 'Z'),
    ] {
        push_padded(&mut out, n, width);
        out.push(after);
    }
    out
}

/// `n` in decimal, zero-padded to at least `width` digits (up to 20).
fn push_padded(out: &mut String, mut n: u64, width: usize) {
    // Digits from the right into a buffer of zeros, which pads too.
    let mut buf = [b'0'; 20];
    let mut start = buf.len();
    for slot in buf.iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        start -= 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let start = start.min(buf.len().saturating_sub(width));
    let digits = buf.get(start..).unwrap_or_default();
    out.push_str(std::str::from_utf8(digits).unwrap_or_default());
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day), by
/// counting 400-year eras of 146 097 days.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
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
    .insert_header("content-type", "application/octet-stream")
}

#[cfg(test)]
mod tests {
    use super::{civil_from_days, rfc3339, utc_now};

    #[test]
    fn calendar_dates() {
        assert_eq!(
            rfc3339(2026, [12, 1], [0, 5, 9], 7),
            "2026-12-01T00:05:09.007Z"
        );
        assert_eq!(
            rfc3339(12345, [1, 31], [23, 59, 59], 999),
            "12345-01-31T23:59:59.999Z"
        );
        let now = utc_now();
        assert_eq!(now.len(), 24, "{now}");
        assert!(now.ends_with('Z') && now.as_bytes()[10] == b'T', "{now}");
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(59), (1970, 3, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_416), (2025, 11, 24));
    }
}
