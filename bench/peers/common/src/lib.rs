//! Pieces shared by the peer servers of the benchmark: command line, TLS
//! configuration, and the two streaming bodies (`/bytes/{n}` and `/sse`).
//!
//! Every peer serves the same three routes:
//! - `GET /hello/{name}` -> `hello` (text/plain)
//! - `GET /bytes/{n}`    -> n zero bytes with a Content-Length, streamed
//! - `GET /sse?interval_ms=N` -> one event every N ms (default 1000), the
//!   same as duet's demo sends: `event: clock`, an `id` counting up from 1,
//!   `data:` the UTC time in RFC 3339 with milliseconds (so that every
//!   server does the same work per event: a counter and a clock read,
//!   formatted into a new buffer)

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Size of one chunk of the `/bytes/{n}` body.
pub const CHUNK: usize = 64 * 1024;
static ZEROS: [u8; CHUNK] = [0; CHUNK];

/// The RFC 3339 format of the events' time, to the millisecond.
const EVENT_TIME: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
);

/// Event `n`: `event: clock`, `id: n`, `data:` the UTC time.
pub fn clock_event(n: u64) -> Bytes {
    let now = time::OffsetDateTime::now_utc();
    let when = now.format(EVENT_TIME).unwrap_or_default();
    Bytes::from(format!("event: clock\nid: {n}\ndata: {when}\n\n"))
}

/// Command line shared by the peers:
/// `--http ADDR:PORT [--https ADDR:PORT --cert CERT.pem --key KEY.pem]
/// [--multi-thread]`.
#[derive(Debug, Default)]
pub struct Args {
    pub http: Option<String>,
    pub https: Option<String>,
    pub cert: Option<String>,
    pub key: Option<String>,
    /// tokio's multi-threaded runtime, one worker per core (what
    /// `#[tokio::main]` gives), instead of one current-thread runtime. Only
    /// the hyper peer takes it.
    pub multi_thread: bool,
}

impl Args {
    pub fn parse() -> Result<Args, String> {
        let mut args = Args::default();
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            let slot = match flag.as_str() {
                "--http" => &mut args.http,
                "--https" => &mut args.https,
                "--cert" => &mut args.cert,
                "--key" => &mut args.key,
                "--quiet" => continue,
                "--multi-thread" => {
                    args.multi_thread = true;
                    continue;
                }
                "--threads" => {
                    // Accepted for symmetry with duet; peers always use one.
                    it.next();
                    continue;
                }
                _ => return Err(format!("unknown argument {flag}\n{}", Self::USAGE)),
            };
            *slot = Some(it.next().ok_or_else(|| format!("{flag} needs a value"))?);
        }
        if args.http.is_none() && args.https.is_none() {
            return Err(Self::USAGE.to_string());
        }
        if args.https.is_some() && (args.cert.is_none() || args.key.is_none()) {
            return Err("--https needs --cert and --key".to_string());
        }
        Ok(args)
    }

    const USAGE: &'static str =
        "usage: peer --http ADDR:PORT [--https ADDR:PORT --cert CERT.pem --key KEY.pem] [--multi-thread]";

    /// The TLS configuration for `--https`, offering ALPN h2 and http/1.1.
    pub fn tls_config(&self) -> Result<Option<rustls::ServerConfig>, String> {
        let (Some(cert), Some(key)) = (&self.cert, &self.key) else {
            return Ok(None);
        };
        let certs = CertificateDer::pem_file_iter(cert)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("{cert}: {e}"))?;
        let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{key}: {e}"))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| e.to_string())?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Some(config))
    }
}

/// Parses the `n` of `/bytes/{n}`.
pub fn bytes_len(s: &str) -> Option<u64> {
    s.parse().ok()
}

/// The `interval_ms` of an `/sse` query string (default 1000 ms, at least 1).
pub fn sse_interval(query: Option<&str>) -> Duration {
    let ms = query
        .unwrap_or("")
        .split('&')
        .find_map(|kv| kv.strip_prefix("interval_ms="))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(1000)
        .max(1);
    Duration::from_millis(ms)
}

/// `n` zero bytes in chunks of [`CHUNK`], with an exact size hint (so the
/// servers send a Content-Length).
pub struct Zeros {
    left: u64,
}

impl Zeros {
    pub fn new(n: u64) -> Zeros {
        Zeros { left: n }
    }

    fn next_chunk(&mut self) -> Option<Bytes> {
        if self.left == 0 {
            return None;
        }
        let n = self.left.min(CHUNK as u64);
        self.left -= n;
        Some(Bytes::from_static(&ZEROS[..n as usize]))
    }
}

impl Body for Zeros {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Poll::Ready(self.next_chunk().map(|b| Ok(Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left)
    }
}

impl futures_core::Stream for Zeros {
    type Item = Result<Bytes, std::convert::Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Poll::Ready(self.next_chunk().map(Ok))
    }
}

/// An endless stream of [`clock_event`]s, one per interval (the first at
/// once).
pub struct Ticks {
    interval: tokio::time::Interval,
    sent: u64,
}

impl Ticks {
    pub fn new(every: Duration) -> Ticks {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Ticks { interval, sent: 0 }
    }
}

impl Ticks {
    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Bytes> {
        self.interval.poll_tick(cx).map(|_| {
            self.sent += 1;
            clock_event(self.sent)
        })
    }
}

impl Body for Ticks {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.poll_event(cx).map(|e| Some(Ok(Frame::data(e))))
    }
}

impl futures_core::Stream for Ticks {
    type Item = Result<Bytes, std::convert::Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.poll_event(cx).map(|e| Some(Ok(e)))
    }
}

/// The response body of the hyper-based peers: one type for all routes.
pub enum PeerBody {
    Full(Option<Bytes>),
    Zeros(Zeros),
    Ticks(Ticks),
}

impl PeerBody {
    pub fn text(s: &'static str) -> PeerBody {
        PeerBody::Full(Some(Bytes::from_static(s.as_bytes())))
    }
}

impl Body for PeerBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.get_mut() {
            PeerBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            PeerBody::Zeros(z) => Pin::new(z).poll_frame(cx),
            PeerBody::Ticks(t) => Body::poll_frame(Pin::new(t), cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            PeerBody::Full(b) => b.is_none(),
            PeerBody::Zeros(z) => z.is_end_stream(),
            PeerBody::Ticks(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            PeerBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            PeerBody::Full(None) => SizeHint::with_exact(0),
            PeerBody::Zeros(z) => z.size_hint(),
            PeerBody::Ticks(_) => SizeHint::default(),
        }
    }
}
