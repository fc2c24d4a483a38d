//! duet behind HAProxy: two duet processes behind one HAProxy speaking
//! PROXY protocol v2 to them, HTTP/1.1 and HTTP/2 load through it while
//! each duet is restarted in turn (SIGTERM, a drain delay, HAProxy
//! health-checking `/readyz` on the admin port), and not one request
//! fails; duet sees the client's address, not HAProxy's.
//!
//! HAProxy runs in `mode http`, as it is deployed in front of HTTP
//! servers: one frontend takes HTTP/1.1 and passes it on as HTTP/1.1, the
//! other takes h2c (`proto h2`) and speaks h2c to duet (`proto h2` on the
//! servers), so both of duet's protocol drivers serve through the drain.
//! HAProxy connects to duet from 127.0.0.3 (`source`), the only address
//! duet trusts (`--proxy-from`); the probe client connects to HAProxy
//! from 127.0.0.2. HAProxy's retries and redispatches are counted too:
//! they must be zero, so the zero failures are duet's drain, not
//! HAProxy's second tries.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

mod support;
use support::{free_port, Duet, Lines, Reaped, TempDir};

const WAIT: Duration = Duration::from_secs(20);

/// One duet instance behind HAProxy.
struct Instance {
    name: &'static str,
    http: u16,
    admin: u16,
}

impl Instance {
    fn start(&self) -> Duet {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_duet"));
        cmd.args([
            "--http",
            &format!("127.0.0.1:{}", self.http),
            "--no-https",
            "--proxy-protocol",
            "--proxy-from",
            "127.0.0.3/32",
            "--admin",
            &format!("127.0.0.1:{}", self.admin),
            "--drain-delay",
            "1",
        ])
        // The lifecycle lines, without an access line per request.
        .env("RUST_LOG", "info,duet::access=off");
        let duet = Duet::spawn(cmd);
        duet.wait_listening(&format!("127.0.0.1:{}", self.http));
        duet.wait_listening(&format!("127.0.0.1:{}", self.admin));
        duet
    }
}

fn haproxy_config(dir: &TempDir, h1: u16, h2: u16, duets: &[Instance]) -> String {
    let servers = |extra: &str| {
        duets
            .iter()
            .map(|d| {
                format!(
                    "    server {} 127.0.0.1:{} port {}{extra}\n",
                    d.name, d.http, d.admin
                )
            })
            .collect::<String>()
    };
    format!(
        "global
    log stderr format raw local0 info
    stats socket {sock} level admin
defaults
    mode http
    log global
    timeout connect 2s
    timeout client 30s
    timeout server 30s
frontend h1
    bind 127.0.0.1:{h1}
    default_backend duets_h1
frontend h2
    bind 127.0.0.1:{h2} proto h2
    default_backend duets_h2
backend duets_h1
    option httpchk GET /readyz
    option log-health-checks
    default-server send-proxy-v2 check inter 100ms fall 1 rise 1 source 127.0.0.3
{h1_servers}backend duets_h2
    option httpchk GET /readyz
    option log-health-checks
    default-server send-proxy-v2 check inter 100ms fall 1 rise 1 source 127.0.0.3
{h2_servers}",
        sock = dir.path().join("haproxy.sock").display(),
        h1_servers = servers(""),
        h2_servers = servers(" proto h2"),
    )
}

/// What h2load runs added up.
#[derive(Default, Debug)]
struct Tally {
    runs: u64,
    succeeded: u64,
    failed: u64,
    not_2xx: u64,
    output: String,
}

impl Tally {
    /// Adds one h2load run's summary.
    fn add(&mut self, out: &str) {
        self.runs += 1;
        let numbers = |line: &str| -> Vec<u64> {
            line.split([' ', ','])
                .filter_map(|w| w.parse::<u64>().ok())
                .collect()
        };
        let requests = out.lines().find(|l| l.starts_with("requests:"));
        let statuses = out.lines().find(|l| l.starts_with("status codes:"));
        match (requests.map(numbers), statuses.map(numbers)) {
            // requests: T total, S started, D done, OK succeeded, F failed, E errored, TO timeout
            (Some(r), Some(s)) if r.len() == 7 && s.len() == 4 => {
                self.succeeded += r[3];
                self.failed += r[0] - r[3] + r[4] + r[5] + r[6];
                self.not_2xx += s[1] + s[2] + s[3];
            }
            _ => {
                self.failed += 1;
                self.output.push_str(out);
            }
        }
        if self.failed > 0 && self.output.is_empty() {
            self.output.push_str(out);
        }
    }
}

/// Runs h2load with `args` over and over until `stop`, counting the runs
/// done in `runs`.
fn load(
    args: Vec<String>,
    stop: Arc<AtomicBool>,
    runs: Arc<AtomicU64>,
) -> thread::JoinHandle<Tally> {
    thread::spawn(move || {
        let mut tally = Tally::default();
        while !stop.load(Ordering::Acquire) {
            match Command::new("h2load").args(&args).output() {
                Ok(out) => tally.add(&String::from_utf8_lossy(&out.stdout)),
                Err(e) => panic!("h2load (from nghttp2-client) could not run: {e}"),
            }
            runs.fetch_add(1, Ordering::AcqRel);
        }
        tally
    })
}

/// HAProxy's `show stat` as (proxy, server, field) → value.
fn haproxy_stat(sock: &std::path::Path, server: &str, field: &str) -> u64 {
    let mut s = UnixStream::connect(sock).expect("HAProxy stats socket");
    s.write_all(b"show stat\n").expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    let mut lines = out.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .trim_start_matches("# ")
        .split(',')
        .collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let (Some(sv), Some(f)) = (col("svname"), col(field)) else {
        panic!("no {field} in {out}");
    };
    lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|c| c.get(sv) == Some(&server))
        .map(|c| c.get(f).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0))
        .sum()
}

/// `GET /info` through HAProxy with curl from 127.0.0.2: the peer address
/// duet reports and the address curl used.
fn info_from_client(port: u16, h2: bool) -> (serde_json::Value, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "--max-time", "10", "--interface", "127.0.0.2"]);
    if h2 {
        cmd.arg("--http2-prior-knowledge");
    }
    let out = cmd
        .args(["-w", "\n%{local_ip}:%{local_port}"])
        .arg(format!("http://127.0.0.1:{port}/info"))
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (json, local) = text.rsplit_once('\n').unwrap_or((&text, ""));
    let info = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {text:?}"));
    (info, local.to_string())
}

#[test]
fn restarts_behind_haproxy_lose_no_request() {
    let started = Instant::now();
    let haproxy = ["haproxy", "/usr/sbin/haproxy"]
        .into_iter()
        .find(|h| Command::new(h).arg("-v").output().is_ok())
        .expect("haproxy is not installed (scripts/test.sh installs it)");
    let dir = TempDir::new("haproxy");
    let duets = [
        Instance {
            name: "a",
            http: free_port(),
            admin: free_port(),
        },
        Instance {
            name: "b",
            http: free_port(),
            admin: free_port(),
        },
    ];
    let (h1, h2) = (free_port(), free_port());
    let mut running: Vec<Duet> = duets.iter().map(Instance::start).collect();

    let cfg = dir.path().join("haproxy.cfg");
    std::fs::write(&cfg, haproxy_config(&dir, h1, h2, &duets)).expect("config");
    let mut child = Command::new(haproxy)
        .arg("-db")
        .arg("-f")
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start haproxy");
    let stderr = child.stderr.take().expect("stderr");
    let _haproxy = Reaped(child);
    let log = Lines::read(stderr, |l| !l.starts_with('['));
    // Ready once every server passed its first check, in both backends.
    let all_up = |t: &str| {
        ["duets_h1", "duets_h2"].iter().all(|b| {
            duets
                .iter()
                .all(|d| t.contains(&format!("Health check for server {b}/{} succeeded", d.name)))
        })
    };
    assert!(log.wait_until(all_up, WAIT), "HAProxy: {}", log.text());

    // The client's address reaches duet through the PROXY header.
    for over_h2 in [false, true] {
        let (info, local) = info_from_client(if over_h2 { h2 } else { h1 }, over_h2);
        assert_eq!(info["conn"]["peer"], local.as_str(), "{info}");
        assert!(local.starts_with("127.0.0.2:"), "{local}");
        let protocol = if over_h2 { "h2c" } else { "http/1.1" };
        assert_eq!(info["conn"]["protocol"], protocol, "{info}");
    }
    // HAProxy's own address is the only one trusted: a PROXY header
    // straight from 127.0.0.1 is closed unanswered.
    {
        let mut c = std::net::TcpStream::connect(("127.0.0.1", duets[0].http)).expect("connect");
        c.write_all(b"PROXY TCP4 192.0.2.1 127.0.0.1 1 2\r\nGET /info HTTP/1.1\r\nhost: x\r\n\r\n")
            .expect("write");
        c.set_read_timeout(Some(WAIT)).expect("timeout");
        let mut out = Vec::new();
        let _ = c.read_to_end(&mut out);
        assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
    }

    // Load on both frontends for as long as the restarts take.
    let stop = Arc::new(AtomicBool::new(false));
    let (h1_runs, h2_runs) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let h1_load = load(
        ["--h1", "-c", "4", "-n", "2000"]
            .iter()
            .map(|s| s.to_string())
            .chain([format!("http://127.0.0.1:{h1}/hello/h1")])
            .collect(),
        stop.clone(),
        h1_runs.clone(),
    );
    let h2_load = load(
        ["-c", "4", "-m", "8", "-n", "4000"]
            .iter()
            .map(|s| s.to_string())
            .chain([format!("http://127.0.0.1:{h2}/hello/h2")])
            .collect(),
        stop.clone(),
        h2_runs.clone(),
    );

    for (i, d) in duets.iter().enumerate() {
        let duet = &mut running[i];
        duet.signal("TERM");
        // Not ready at once; HAProxy sees /readyz fail and takes the
        // server out of both backends while duet still accepts.
        assert!(
            duet.log.wait_for("drain delay", WAIT).is_some(),
            "{}",
            duet.log.text()
        );
        let down = |t: &str| {
            ["duets_h1", "duets_h2"]
                .iter()
                .all(|b| t.contains(&format!("Server {b}/{} is DOWN", d.name)))
        };
        assert!(log.wait_until(down, WAIT), "HAProxy: {}", log.text());
        // Then stops accepting, drains, and exits with nothing cut.
        assert!(
            duet.log
                .wait_for("shut down (0 connections cut", WAIT)
                .is_some(),
            "{}",
            duet.log.text()
        );
        assert!(duet.wait_exit(), "duet {} exited with an error", d.name);
        // Back again, and back in both backends.
        running[i] = d.start();
        let up = |t: &str| {
            ["duets_h1", "duets_h2"]
                .iter()
                .all(|b| t.contains(&format!("Server {b}/{} is UP", d.name)))
        };
        assert!(log.wait_until(up, WAIT), "HAProxy: {}", log.text());
    }

    // The load spans the restarts: the runs in flight when the last
    // instance came back (started before it) complete before it stops.
    let marks = [
        h1_runs.load(Ordering::Acquire),
        h2_runs.load(Ordering::Acquire),
    ];
    let deadline = Instant::now() + WAIT * 3;
    while (h1_runs.load(Ordering::Acquire) <= marks[0]
        || h2_runs.load(Ordering::Acquire) <= marks[1])
        && Instant::now() < deadline
    {
        thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Release);
    let h1_tally = h1_load.join().expect("h1 load");
    let h2_tally = h2_load.join().expect("h2 load");
    let sock = dir.path().join("haproxy.sock");
    let retries = haproxy_stat(&sock, "a", "wretr") + haproxy_stat(&sock, "b", "wretr");
    let redispatches = haproxy_stat(&sock, "a", "wredis") + haproxy_stat(&sock, "b", "wredis");
    eprintln!(
        "HTTP/1.1: {h1_tally:?}\nHTTP/2: {h2_tally:?}\nHAProxy retries {retries}, redispatches {redispatches}; {:?}",
        started.elapsed()
    );
    for (name, t) in [("HTTP/1.1", &h1_tally), ("HTTP/2", &h2_tally)] {
        assert!(t.succeeded > 0 && t.runs >= 1, "{name}: {t:?}");
        assert_eq!((t.failed, t.not_2xx), (0, 0), "{name}: {}", t.output);
    }
    assert_eq!((retries, redispatches), (0, 0), "HAProxy tried again");
    // Each restarted instance serves through HAProxy.
    for over_h2 in [false, true] {
        let (info, local) = info_from_client(if over_h2 { h2 } else { h1 }, over_h2);
        assert_eq!(info["conn"]["peer"], local.as_str(), "{info}");
    }
}
