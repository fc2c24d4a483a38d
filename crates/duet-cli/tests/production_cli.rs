//! The binary's production flags: SIGTERM with a drain delay and the admin
//! endpoints, the connection limits, `--limit`, and the per-core mode.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

mod support;
use support::{free_port, Duet};

const WAIT: Duration = Duration::from_secs(20);

/// Starts the binary on a free cleartext port with `extra` flags.
fn duet(extra: &[&str]) -> (Duet, u16) {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut args = vec!["--http", &addr, "--no-https"];
    args.extend_from_slice(extra);
    let d = Duet::start(&args);
    d.wait_listening(&addr);
    (d, port)
}

/// Sends `request` on `c` and reads until `until` appears (or the
/// connection closes).
fn exchange(c: &mut TcpStream, request: &str, until: &str) -> String {
    c.set_read_timeout(Some(WAIT)).expect("timeout");
    c.write_all(request.as_bytes()).expect("write");
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&out).contains(until) {
        match c.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads until the server closes the connection.
fn to_close(c: &mut TcpStream) -> String {
    c.set_read_timeout(Some(WAIT)).expect("timeout");
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// One request on a new connection, read to its close.
fn get(port: u16, path: &str) -> String {
    let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    c.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes())
        .expect("write");
    to_close(&mut c)
}

const HELLO: &str = "GET /hello/x HTTP/1.1\r\nhost: x\r\n\r\n";

#[test]
fn sigterm_turns_unready_keeps_accepting_for_the_delay_then_drains() {
    let admin = free_port();
    let admin_addr = format!("127.0.0.1:{admin}");
    let (mut d, port) = duet(&["--admin", &admin_addr, "--drain-delay", "2"]);
    d.wait_listening(&admin_addr);
    assert!(get(admin, "/readyz").starts_with("HTTP/1.1 200"));
    assert!(get(admin, "/healthz").ends_with("ok\n"));
    // A request in flight: its body is half sent.
    let mut slow = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    slow.write_all(b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\nhello")
        .expect("write");

    d.signal("TERM");
    assert!(
        d.log.wait_for("drain delay", WAIT).is_some(),
        "{}",
        d.log.text()
    );
    let ready = get(admin, "/readyz");
    assert!(ready.starts_with("HTTP/1.1 503"), "{ready}");
    assert!(get(admin, "/healthz").starts_with("HTTP/1.1 200"));
    // Still accepting during the delay.
    let answer = get(port, "/hello/x");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    assert!(
        d.log.wait_for("no longer accepting", WAIT).is_some(),
        "{}",
        d.log.text()
    );
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "still accepting after the drain delay"
    );
    // The request in flight is finished, and its connection closed.
    slow.write_all(b"world").expect("write the rest");
    let answer = to_close(&mut slow);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("connection: close"), "{answer}");
    assert!(answer.ends_with("helloworld"), "{answer}");
    assert!(
        d.log
            .wait_for("shut down (0 connections cut", WAIT)
            .is_some(),
        "{}",
        d.log.text()
    );
    assert!(d.wait_exit(), "exit status");
}

#[test]
fn max_requests_per_connection_closes_after_the_last() {
    let (_d, port) = duet(&["--max-requests-per-connection", "2"]);
    let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let first = exchange(&mut c, HELLO, "hello");
    assert!(!first.contains("connection: close"), "{first}");
    c.write_all(HELLO.as_bytes()).expect("write");
    let last = to_close(&mut c);
    assert!(last.contains("connection: close"), "{last}");
    assert!(last.ends_with("hello"), "{last}");
}

#[test]
fn max_connection_age_ends_a_kept_connection() {
    let (_d, port) = duet(&["--max-connection-age", "1"]);
    let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let opened = Instant::now();
    let first = exchange(&mut c, HELLO, "hello");
    assert!(!first.contains("connection: close"), "{first}");
    // Idle past its age: closed by the server, long before the 60 s
    // keep-alive timeout.
    assert_eq!(to_close(&mut c), "");
    let age = opened.elapsed();
    assert!(
        age >= Duration::from_millis(900) && age < Duration::from_secs(30),
        "{age:?}"
    );
}

#[test]
fn max_connections_leaves_the_rest_waiting() {
    let (_d, port) = duet(&["--max-connections", "1", "--threads", "1"]);
    let mut a = TcpStream::connect(("127.0.0.1", port)).expect("a");
    assert!(exchange(&mut a, HELLO, "hello").starts_with("HTTP/1.1 200"));
    let mut b = TcpStream::connect(("127.0.0.1", port)).expect("b");
    b.write_all(HELLO.as_bytes()).expect("write");
    // A round trip on `a` after `b` asked: the server ran and left `b`
    // waiting in the accept queue.
    assert!(exchange(&mut a, HELLO, "hello").starts_with("HTTP/1.1 200"));
    b.set_nonblocking(true).expect("nonblocking");
    let mut buf = [0u8; 64];
    match b.read(&mut buf) {
        Err(e) => assert_eq!(e.kind(), ErrorKind::WouldBlock),
        Ok(n) => panic!("answered past the cap: {:?}", &buf[..n]),
    }
    b.set_nonblocking(false).expect("blocking");
    drop(a);
    let answer = exchange(&mut b, "", "hello");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[test]
fn any_limit_is_set_by_name() {
    let (_d, port) = duet(&["--limit", "max_body_bytes=4", "--limit", "max-headers=3"]);
    let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let answer = exchange(
        &mut c,
        "POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello",
        "\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let answer = exchange(
        &mut c,
        "GET /hello/x HTTP/1.1\r\nhost: x\r\na: 1\r\nb: 2\r\nc: 3\r\n\r\n",
        "\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
}

#[test]
fn bad_limits_and_networks_are_refused_at_start() {
    for (args, says) in [
        (vec!["--limit", "no_such=1"], "no such limit"),
        (vec!["--limit", "max_headers"], "NAME=VALUE"),
        (vec!["--max-connections", "lots"], "max-connections"),
        (vec!["--max-connection-age=-1"], "max-connection-age"),
        (
            vec!["--proxy-protocol", "--proxy-from", "10.0.0.0/8,nonsense"],
            "nonsense",
        ),
        (vec!["--drain-delay", "soon"], "drain-delay"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_duet"))
            .args(["--http", "127.0.0.1:0", "--no-https"])
            .args(&args)
            .output()
            .expect("run duet");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    let help = Command::new(env!("CARGO_BIN_EXE_duet"))
        .arg("--help")
        .output()
        .expect("run duet --help");
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--proxy-protocol",
        "--proxy-from",
        "--reuse-port",
        "--per-core",
        "--admin",
        "--drain-delay",
        "--max-connections",
        "--max-requests-per-connection",
        "--max-connection-age",
        "--limit",
        "shutdown_grace=30s",
        "max_connection_age=never",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
}

#[test]
fn per_core_with_reuse_port_serves_and_exits_on_sigterm() {
    let (mut d, port) = duet(&["--per-core", "--threads", "2", "--reuse-port"]);
    // A second process on the same port (SO_REUSEPORT on both).
    let addr = format!("127.0.0.1:{port}");
    let mut other = Duet::start(&["--http", &addr, "--no-https", "--reuse-port"]);
    other.wait_listening(&addr);
    for _ in 0..8 {
        assert!(get(port, "/hello/x").ends_with("hello"));
    }
    for p in [&mut d, &mut other] {
        p.signal("TERM");
        assert!(
            p.log.wait_for("shut down (", WAIT).is_some(),
            "{}",
            p.log.text()
        );
        assert!(p.wait_exit(), "exit status");
    }
}

/// `--no-h2c-upgrade`: curl's `--http2` on cleartext asks for
/// `Upgrade: h2c`; the binary grants it by default and answers over
/// HTTP/1.1 with the flag (see SECURITY.md).
#[test]
fn no_h2c_upgrade_keeps_cleartext_upgrades_on_http1() {
    for (flags, version) in [(&[][..], "2"), (&["--no-h2c-upgrade"][..], "1.1")] {
        let (_d, port) = duet(flags);
        let out = Command::new("curl")
            .args(["-s", "--http2", "-o", "/dev/null", "-w", "%{http_version}"])
            .arg(format!("http://127.0.0.1:{port}/hello/x"))
            .output()
            .expect("curl runs (scripts/test.sh installs it)");
        assert_eq!(String::from_utf8_lossy(&out.stdout), version, "{flags:?}");
    }
}
