//! Memory is given back: after large request bodies read by slow clients,
//! the binary's resident size returns near its baseline once the load is
//! over (its allocator, jemalloc with a background thread, purges freed
//! pages; glibc's malloc kept 60–76 MB of them for good).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

mod support;
use support::{free_port, Duet};

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Uploads `len` bytes to /echo, then reads the echo back slowly (the
/// client's pace is part of the load: the server holds the response).
fn slow_echo(port: u16, len: usize) -> usize {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let head = format!(
        "POST /echo HTTP/1.1\r\nhost: x\r\ncontent-type: application/octet-stream\r\ncontent-length: {len}\r\nconnection: close\r\n\r\n"
    );
    s.write_all(head.as_bytes()).expect("head");
    let chunk = vec![b'x'; 64 * 1024];
    let mut sent = 0;
    while sent < len {
        let n = chunk.len().min(len - sent);
        s.write_all(&chunk[..n]).expect("body");
        sent += n;
    }
    let mut got = 0;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return got,
            Ok(n) => {
                got += n;
                // ~8 MB/s.
                std::thread::sleep(Duration::from_micros(n as u64 / 8));
            }
        }
    }
}

#[test]
fn resident_memory_returns_near_its_baseline_after_large_bodies() {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let duet = Duet::start(&["--http", &addr, "--no-https", "--threads", "2", "--quiet"]);
    duet.wait_listening(&addr);
    let pid = duet.pid();
    let baseline = rss_kb(pid);
    let mut peak = 0;
    for _round in 0..2 {
        let clients: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(move || slow_echo(port, 15 * 1024 * 1024)))
            .collect();
        for c in clients {
            assert!(c.join().expect("client") > 15 * 1024 * 1024, "a whole echo");
        }
        peak = peak.max(rss_kb(pid));
    }
    // Freed pages are purged within jemalloc's decay time (10 s).
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut now = rss_kb(pid);
    while now > baseline + 12 * 1024 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        now = rss_kb(pid);
    }
    assert!(
        now <= baseline + 12 * 1024,
        "resident {now} kB after the load (baseline {baseline} kB, peak {peak} kB)"
    );
}
