//! When the process runs out of file descriptors, the binary backs off
//! accepting (instead of spinning on a failing accept), and serves again as
//! soon as descriptors are free.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

mod support;
use support::{free_port, Duet};

/// `GET /hello/x`, waiting up to `limit` for the answer (a connection the
/// server has not accepted yet waits in the kernel's queue).
fn hello(port: u16, limit: Duration) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(limit)).ok()?;
    s.write_all(b"GET /hello/x HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

#[test]
fn out_of_descriptors_backs_off_then_serves_again() {
    let port = free_port();
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        // A small descriptor limit for the server only.
        .arg(format!(
            "ulimit -n 48 && exec '{}' --http 127.0.0.1:{port} --no-https --threads 1",
            env!("CARGO_BIN_EXE_duet")
        ));
    let server = Duet::spawn(cmd);
    server.wait_listening(&format!("127.0.0.1:{port}"));
    let first = hello(port, Duration::from_secs(5));
    assert!(first.is_some_and(|r| r.contains("hello")));
    // Far more connections than the server has descriptors for.
    let held: Vec<TcpStream> = (0..120)
        .filter_map(|_| TcpStream::connect(("127.0.0.1", port)).ok())
        .collect();
    assert!(held.len() > 60, "the kernel queues the connections");
    let backed_off = server.log.wait_for("retrying in", Duration::from_secs(20));
    assert!(
        backed_off.is_some_and(|l| l.contains("accept failed")),
        "no back-off logged: {}",
        server.log.text()
    );
    drop(held);
    // Descriptors free again: this connection waits in the queue until
    // the server accepts again (after at most a 1 s back-off) and serves it.
    let again = hello(port, Duration::from_secs(20));
    assert!(
        again
            .as_deref()
            .is_some_and(|r| r.starts_with("HTTP/1.1 200")),
        "not serving after the descriptors were freed: {again:?}"
    );
    // It did not spin: far fewer failed accepts were logged than a busy
    // loop would make in that time.
    let failures = server.log.text().matches("accept failed").count();
    assert!(failures < 50, "{failures} accept failures logged");
}
