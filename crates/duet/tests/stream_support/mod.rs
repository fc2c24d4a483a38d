//! Support for the streaming and SSE tests: the same check runs over
//! HTTP/1.1, h2c (prior knowledge) and h2 (TLS + ALPN) with the matching
//! real client, and `Live` counts producers that are still alive.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use duet::{Running, Server, TlsConfig, Version};
use tokio::sync::watch;

/// The protocol a test speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    /// HTTP/1.1 over TCP.
    H1,
    /// HTTP/2 over TCP with prior knowledge (RFC 9113 §3.3).
    H2c,
    /// HTTP/2 over TLS, chosen by ALPN (RFC 9113 §3.2).
    H2,
}

impl Proto {
    /// A server on 127.0.0.1 with an ephemeral port, over TLS (self-signed
    /// `localhost`) for h2.
    pub fn server(self) -> Server {
        let s = Server::bind_addr(SocketAddr::from(([127, 0, 0, 1], 0)));
        match self {
            Proto::H2 => s.tls(TlsConfig::self_signed(&["localhost"]).expect("certificate")),
            _ => s,
        }
    }

    /// The reqwest client for this protocol (trusting the self-signed
    /// certificate and resolving `localhost` to `addr` for h2).
    pub fn client(self, addr: SocketAddr) -> reqwest::Client {
        let b = reqwest::Client::builder();
        let b = match self {
            Proto::H1 => b.http1_only(),
            Proto::H2c => b.http2_prior_knowledge(),
            Proto::H2 => b
                .danger_accept_invalid_certs(true)
                .resolve("localhost", addr),
        };
        b.build().expect("client")
    }

    /// The URL of `path` on the server at `addr`.
    pub fn url(self, addr: SocketAddr, path: &str) -> String {
        match self {
            Proto::H2 => format!("https://localhost:{}{path}", addr.port()),
            _ => format!("http://{addr}{path}"),
        }
    }

    /// The version responses must arrive with.
    pub fn version(self) -> Version {
        match self {
            Proto::H1 => Version::HTTP_11,
            _ => Version::HTTP_2,
        }
    }

    /// curl arguments selecting this protocol for the server at `addr`.
    pub fn curl_args(self, addr: SocketAddr) -> Vec<String> {
        match self {
            Proto::H1 => vec!["--http1.1".into()],
            Proto::H2c => vec!["--http2-prior-knowledge".into()],
            Proto::H2 => vec![
                "--http2".into(),
                "-k".into(),
                "--resolve".into(),
                format!("localhost:{}:127.0.0.1", addr.port()),
            ],
        }
    }
}

/// A started server and the protocol to talk to it.
pub struct Target {
    pub running: Running,
    pub proto: Proto,
    pub client: reqwest::Client,
}

impl Target {
    pub async fn start(proto: Proto, server: Server) -> Target {
        let running = duet::Executor::new()
            .add(server)
            .start()
            .await
            .expect("server starts");
        let client = proto.client(running.addr());
        Target {
            running,
            proto,
            client,
        }
    }

    pub fn url(&self, path: &str) -> String {
        self.proto.url(self.running.addr(), path)
    }

    pub fn addr(&self) -> SocketAddr {
        self.running.addr()
    }

    /// GET `path`, asserting the response came over the intended protocol.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        let resp = self
            .client
            .get(self.url(path))
            .send()
            .await
            .expect("response");
        assert_eq!(resp.version(), self.proto.version(), "wrong protocol");
        resp
    }
}

/// Counts live producers: a guard lives inside each producer stream and is
/// dropped with it, and every change is announced to waiters.
#[derive(Clone)]
pub struct Live(Arc<watch::Sender<usize>>);

pub struct LiveGuard(Arc<watch::Sender<usize>>);

impl Default for Live {
    fn default() -> Self {
        Live(Arc::new(watch::Sender::new(0)))
    }
}

impl Live {
    pub fn enter(&self) -> LiveGuard {
        self.0.send_modify(|n| *n += 1);
        LiveGuard(self.0.clone())
    }

    pub fn count(&self) -> usize {
        *self.0.borrow()
    }

    /// Waits until the count is `n` (at most 10 s); returns the count seen
    /// last.
    pub async fn settles_at(&self, n: usize) -> usize {
        let mut changes = self.0.subscribe();
        let _ = tokio::time::timeout(Duration::from_secs(10), changes.wait_for(|c| *c == n)).await;
        self.count()
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
}

/// Generates `#[tokio::test]`s in modules `h1`, `h2c`, `h2`, each calling
/// `check(Proto::..)` for every check named.
#[macro_export]
macro_rules! per_protocol {
    ($module:ident = $proto:expr => $($check:ident),* $(,)?) => {
        mod $module {
            $(
                #[tokio::test]
                async fn $check() {
                    super::$check($proto).await
                }
            )*
        }
    };
}

/// An HTTP/2 client connection (the h2 crate) over cleartext TCP with prior
/// knowledge; the task driving it is returned so a test can kill the
/// connection (the socket closes, no GOAWAY). Stream windows are the
/// protocol default (65 535); the connection window is 16 MiB, so data a
/// stream leaves unread does not use up the whole connection's window.
pub async fn h2c_connect(
    addr: SocketAddr,
) -> (
    h2::client::SendRequest<bytes::Bytes>,
    tokio::task::JoinHandle<()>,
) {
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (send, conn) = h2::client::Builder::new()
        .initial_connection_window_size(16 * 1024 * 1024)
        .handshake(tcp)
        .await
        .expect("h2 handshake");
    let task = tokio::spawn(async move {
        let _ = conn.await;
    });
    (send, task)
}

/// A GET request for `path` (HTTP/2 pseudo-headers from the URI).
pub fn h2_get(addr: SocketAddr, path: &str) -> http::Request<()> {
    http::Request::get(format!("http://{addr}{path}"))
        .body(())
        .expect("request")
}
