//! Shared test support: start servers on ephemeral ports, talk raw bytes,
//! find external clients. Each test binary uses part of it.
#![allow(dead_code)]

pub mod access_log;
pub mod h2_client;
pub mod hpack;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use duet::{Executor, Running, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

/// A server on 127.0.0.1 with an ephemeral port.
pub fn local() -> Server {
    Server::bind_addr(SocketAddr::from(([127, 0, 0, 1], 0)))
}

/// Starts the servers; the first bound address is `running.addr()`.
pub async fn start(servers: impl IntoIterator<Item = Server>) -> Running {
    let mut ex = Executor::new();
    for s in servers {
        ex = ex.add(s);
    }
    ex.start().await.expect("server starts")
}

/// Sends `request` on a new connection and reads until the server closes
/// it (or 10 s pass), returning everything received.
pub async fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(request).await.expect("write");
    read_to_close(&mut s).await
}

/// Reads until EOF (or 10 s pass).
pub async fn read_to_close(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads until `needle` has been seen `count` times (or 10 s pass).
pub async fn read_until(s: &mut TcpStream, needle: &str, count: usize) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if String::from_utf8_lossy(&out).matches(needle).count() >= count {
            break;
        }
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The status code of the first response in `text`.
pub fn status_of(text: &str) -> u16 {
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// True when `tool` runs (`tool --version`).
pub fn have(tool: &str) -> bool {
    std::process::Command::new(tool)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Fails the test, saying what to install, unless `tool` runs: a test that
/// needs an external client must not pass without having used it.
#[track_caller]
pub fn require(tool: &str) {
    let package = match tool {
        "nghttp" | "h2load" => "nghttp2-client",
        other => other,
    };
    assert!(
        have(tool),
        "`{tool}` is required by this test but is not installed \
         (scripts/test.sh installs it on Debian: apt-get install {package})"
    );
}

/// Runs a blocking external command off the async runtime; returns
/// (status success, stdout, stderr). Fails the test if `cmd` is not
/// installed.
pub async fn run(cmd: &str, args: &[&str]) -> (bool, String, String) {
    require(cmd);
    let cmd = cmd.to_string();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new(&cmd)
            .args(&args)
            .output()
            .unwrap_or_else(|e| panic!("{cmd} could not run: {e}"));
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .expect("command task")
}

/// The default limits with the changes `set` makes (`Limits` is
/// non-exhaustive: it is built from its defaults, never with a literal).
pub fn limits(set: impl FnOnce(&mut duet::Limits)) -> duet::Limits {
    let mut l = duet::Limits::default();
    set(&mut l);
    l
}

/// A gate handlers wait at until the test opens it: it keeps requests in
/// flight exactly as long as a test needs (no sleeping handler that may
/// finish too early or too late), and tells the test when they arrived.
/// Handlers take it as `State<Gate>`.
#[derive(Clone)]
pub struct Gate(Arc<(watch::Sender<bool>, watch::Sender<usize>)>);

impl Default for Gate {
    fn default() -> Self {
        Gate(Arc::new((watch::Sender::new(false), watch::Sender::new(0))))
    }
}

impl Gate {
    /// Handler side: counts this arrival and waits until the gate is open.
    pub async fn pass(&self) {
        self.0 .1.send_modify(|n| *n += 1);
        let mut open = self.0 .0.subscribe();
        let _ = open.wait_for(|o| *o).await;
    }

    /// Lets every waiting and later handler through.
    pub fn open(&self) {
        self.0 .0.send_replace(true);
    }

    /// Waits until `n` handlers have arrived (failing after 10 s).
    pub async fn arrivals(&self, n: usize) {
        let mut arrived = self.0 .1.subscribe();
        let reached = tokio::time::timeout(Duration::from_secs(10), arrived.wait_for(|a| *a >= n));
        assert!(
            matches!(reached.await, Ok(Ok(_))),
            "{n} requests did not reach their handler"
        );
    }
}

/// Waits until no task of this runtime can make progress — the server's
/// connection tasks and the handlers included — to see where a producer
/// stops. It uses virtual time: tokio advances a paused clock only when
/// no task is ready to run, so a short sleep on a paused clock ends at the
/// first such moment, however long the work before it takes.
///
/// Readiness of sockets does not hold the clock back: call it when what
/// the test waits for is the server's own work, not bytes still on their
/// way to it. It needs the default current-thread test runtime, and never
/// returns while some task stays ready (bound any producer it watches).
pub async fn until_idle() {
    tokio::time::pause();
    tokio::time::sleep(Duration::from_millis(1)).await;
    tokio::time::resume();
}
