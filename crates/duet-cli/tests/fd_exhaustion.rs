//! When the process runs out of file descriptors, the binary backs off
//! accepting (instead of spinning on a failing accept), and serves again as
//! soon as descriptors are free.

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

mod support;
use support::{free_port, wait_until, Reaped, TempDir};

fn hello(port: u16) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET /hello/x HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

#[test]
fn out_of_descriptors_backs_off_then_serves_again() {
    let dir = TempDir::new("fd-exhaustion");
    let log = dir.path().join("duet.log");
    let port = free_port();
    let child = Command::new("sh")
        .arg("-c")
        // A small descriptor limit for the server only.
        .arg(format!(
            "ulimit -n 48 && exec '{}' --http 127.0.0.1:{port} --no-https --threads 1",
            env!("CARGO_BIN_EXE_duet")
        ))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::from(File::create(&log).expect("log")))
        .spawn()
        .expect("sh runs");
    let _child = Reaped(child);
    assert!(wait_until(
        || hello(port).is_some_and(|r| r.contains("hello"))
    ));
    // Far more connections than the server has descriptors for.
    let held: Vec<TcpStream> = (0..120)
        .filter_map(|_| TcpStream::connect(("127.0.0.1", port)).ok())
        .collect();
    assert!(held.len() > 60, "the kernel queues the connections");
    assert!(
        wait_until(|| std::fs::read_to_string(&log)
            .is_ok_and(|l| l.contains("accept failed") && l.contains("retrying in"))),
        "no back-off logged: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    drop(held);
    // Descriptors free again: served at once (within the 1 s back-off).
    assert!(
        wait_until(|| hello(port).is_some_and(|r| r.starts_with("HTTP/1.1 200"))),
        "not serving after the descriptors were freed"
    );
    // It did not spin: far fewer failed accepts were logged than a busy
    // loop would make in that time.
    let failures = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .matches("accept failed")
        .count();
    assert!(failures < 50, "{failures} accept failures logged");
}
