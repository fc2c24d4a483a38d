//! End to end in a real browser: the demo binary serves
//! `https://localhost:PORT/clock` with its self-signed certificate, headless
//! Chromium (Debian's `chromium`, installed by `scripts/test.sh`) loads it,
//! and the test reads the live page through the DevTools protocol until the
//! page shows at least three Server-Sent Events and that it came over h2,
//! then saves a screenshot to `target/test-artifacts/clock.png`. Another
//! loads `/chat`, whose WebSocket Chromium opens over h2 (RFC 8441), and
//! exchanges text and binary messages with the `/ws` echo (screenshot
//! `chat.png`). A third reads the demo's `/sse` with `curl -N` over
//! HTTP/1.1 and h2. A fourth loads the `/status` dashboard, makes requests
//! with curl over HTTP/1.1 and h2c, and waits for the page to show them
//! (screenshot `status.png`).
//!
//! The DevTools client is a minimal WebSocket client (RFC 6455) written
//! here so the test needs nothing beyond the standard library and
//! serde_json. Nothing is polled: the test waits for the log lines and
//! DevTools events that announce what it needs, and the page itself
//! reports when three events have arrived. Set `CHROMIUM` to use another
//! browser binary.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

mod support;
use support::{free_port, Duet, Lines, Reaped, TempDir};

fn chromium_binary() -> String {
    if let Ok(c) = std::env::var("CHROMIUM") {
        return c;
    }
    for c in ["chromium", "chromium-browser"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {c}")])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if found {
            return c.to_string();
        }
    }
    panic!("chromium is required for this test (scripts/test.sh installs Debian's `chromium`)");
}

/// Starts the demo binary, as users run it (self-signed certificate for
/// HTTPS), on free ports; returns it, once it listens, with its HTTP and
/// HTTPS addresses.
fn start_demo() -> (Duet, SocketAddr, SocketAddr) {
    let http_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let https_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let (http, https) = (http_addr.to_string(), https_addr.to_string());
    let duet = Duet::start(&["--http", &http, "--https", &https]);
    duet.wait_listening(&http);
    duet.wait_listening(&https);
    (duet, http_addr, https_addr)
}

// ---------------------------------------------------------------------------
// A minimal WebSocket client (RFC 6455), enough for the DevTools protocol.

struct WebSocket {
    stream: TcpStream,
    next_id: u64,
    /// Events read while waiting for a call's result, not yet asked for.
    events: VecDeque<Value>,
}

impl WebSocket {
    /// Opens `ws://host:port/path` (RFC 6455 §4.1 opening handshake).
    fn connect(url: &str) -> WebSocket {
        let rest = url.strip_prefix("ws://").expect("a ws:// url");
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let mut stream = TcpStream::connect(authority).expect("connect to DevTools");
        // Longer than any wait the page itself bounds (30 s).
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .expect("timeout");
        // The key is any 16 bytes, base64; a fixed one is fine for a client
        // that talks to one known server.
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: ZHVldC1jZHAtY2xpZW50IQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(req.as_bytes()).expect("handshake");
        // Read the response head byte by byte so no frame byte is consumed.
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte).expect("handshake response");
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head);
        assert!(head.starts_with("HTTP/1.1 101"), "DevTools refused: {head}");
        WebSocket {
            stream,
            next_id: 1,
            events: VecDeque::new(),
        }
    }

    /// Sends one masked text frame (§5.2, §5.3: client frames are masked).
    fn send_text(&mut self, text: &str) {
        let payload = text.as_bytes();
        let mut frame = vec![0x81u8];
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n <= 0xffff => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let mask = [0x5a, 0x17, 0xc3, 0x88];
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
        self.stream.write_all(&frame).expect("send frame");
    }

    /// Reads one whole message (joining continuation frames), answering
    /// pings; panics on close.
    fn recv_text(&mut self) -> String {
        self.try_recv_text()
            .unwrap_or_else(|| panic!("DevTools closed the connection"))
    }

    /// Reads one whole message; `None` when the connection closes.
    fn try_recv_text(&mut self) -> Option<String> {
        let mut message = Vec::new();
        loop {
            let mut h = [0u8; 2];
            self.stream.read_exact(&mut h).ok()?;
            let (fin, opcode) = (h[0] & 0x80 != 0, h[0] & 0x0f);
            let masked = h[1] & 0x80 != 0;
            let len = match h[1] & 0x7f {
                126 => {
                    let mut b = [0u8; 2];
                    self.stream.read_exact(&mut b).expect("length");
                    u64::from(u16::from_be_bytes(b))
                }
                127 => {
                    let mut b = [0u8; 8];
                    self.stream.read_exact(&mut b).expect("length");
                    u64::from_be_bytes(b)
                }
                n => u64::from(n),
            };
            let mut mask = [0u8; 4];
            if masked {
                self.stream.read_exact(&mut mask).expect("mask");
            }
            let mut payload = vec![0u8; len as usize];
            self.stream.read_exact(&mut payload).expect("payload");
            if masked {
                for (b, m) in payload.iter_mut().zip(mask.iter().cycle()) {
                    *b ^= m;
                }
            }
            match opcode {
                0x8 => return None,
                0x9 => {
                    // Ping → pong with the same payload (§5.5.2).
                    let mut pong = vec![0x8a, 0x80 | payload.len() as u8, 0, 0, 0, 0];
                    pong.extend_from_slice(&payload);
                    self.stream.write_all(&pong).expect("pong");
                }
                0xa => {}
                _ => {
                    message.extend_from_slice(&payload);
                    if fin {
                        return Some(String::from_utf8(message).expect("text message"));
                    }
                }
            }
        }
    }

    /// Calls a DevTools method of the browser (`session` `None`) or of an
    /// attached target and returns its `result`, keeping events for
    /// [`WebSocket::event`].
    fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        self.send_text(&msg.to_string());
        loop {
            let msg: Value = serde_json::from_str(&self.recv_text()).expect("JSON message");
            if msg["id"] == json!(id) {
                if let Some(e) = msg.get("error") {
                    panic!("{method} failed: {e}");
                }
                return msg["result"].clone();
            }
            if msg.get("method").is_some() {
                self.events.push_back(msg);
            }
        }
    }

    /// Waits for the event `method` of target session `session`.
    fn event(&mut self, session: &str, method: &str) -> Value {
        let matches = |m: &Value| m["method"] == json!(method) && m["sessionId"] == json!(session);
        if let Some(i) = self.events.iter().position(matches) {
            return self.events.remove(i).unwrap_or_default();
        }
        loop {
            let msg: Value = serde_json::from_str(&self.recv_text()).expect("JSON message");
            if matches(&msg) {
                return msg;
            }
        }
    }

    /// Waits until the browser closes the connection (or the read times
    /// out).
    fn until_closed(&mut self) {
        while self.try_recv_text().is_some() {}
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for v in text.bytes().filter_map(value) {
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

// ---------------------------------------------------------------------------

/// Headless Chromium with DevTools, one tab of our own attached; the
/// profile is removed once the browser is gone.
struct Browser {
    cdp: WebSocket,
    session: String,
    // Declared before the profile so the browser dies first.
    chromium: Reaped,
    _profile: TempDir,
}

impl Browser {
    /// Starts Chromium and loads `page_url` in a new tab, waiting for its
    /// load event.
    fn open(page_url: &str) -> Browser {
        let browser = chromium_binary();
        // Headless Chromium with DevTools on a port it picks and announces
        // on stderr ("DevTools listening on ws://...").
        let profile = TempDir::new("chromium-profile");
        let mut chromium = Reaped(
            Command::new(&browser)
                .args([
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--ignore-certificate-errors",
                    "--window-size=900,700",
                    "--remote-debugging-port=0",
                    "--remote-debugging-address=127.0.0.1",
                ])
                .arg(format!("--user-data-dir={}", profile.0.display()))
                .arg("about:blank")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("{browser} could not start: {e}")),
        );
        // Chromium's stderr is noisy: echo only the lines that may matter.
        let stderr = chromium.0.stderr.take().expect("piped stderr");
        let browser_log = Lines::read(stderr, |line| {
            !line.contains("dbus") && !line.contains("unexpected operator")
        });
        const ANNOUNCE: &str = "DevTools listening on ";
        let ws_url = browser_log
            .wait_for(ANNOUNCE, Duration::from_secs(30))
            .and_then(|line| Some(line.split_once(ANNOUNCE)?.1.trim().to_string()))
            .unwrap_or_else(|| panic!("chromium announced no DevTools endpoint"));
        let mut cdp = WebSocket::connect(&ws_url);

        // A tab of our own, attached to this connection; the page is loaded
        // once its load event comes.
        let target = cdp.call(None, "Target.createTarget", json!({"url": "about:blank"}));
        let attached = cdp.call(
            None,
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
        );
        let session = attached["sessionId"]
            .as_str()
            .expect("a session id")
            .to_string();
        let tab = Some(session.as_str());
        cdp.call(tab, "Page.enable", json!({}));
        cdp.call(tab, "Page.navigate", json!({"url": page_url}));
        cdp.event(&session, "Page.loadEventFired");
        Browser {
            cdp,
            session,
            chromium,
            _profile: profile,
        }
    }

    /// Evaluates `promise` in the tab and returns the JSON text it resolves
    /// to, parsed.
    fn report(&mut self, promise: &str) -> Value {
        let r = self.cdp.call(
            Some(self.session.as_str()),
            "Runtime.evaluate",
            json!({"expression": promise, "awaitPromise": true, "returnByValue": true}),
        );
        if let Some(e) = r.get("exceptionDetails") {
            panic!("{e}");
        }
        r["result"]["value"]
            .as_str()
            .and_then(|v| serde_json::from_str(v).ok())
            .unwrap_or_else(|| panic!("no report from the page: {r}"))
    }

    /// Saves a screenshot of the tab as `target/test-artifacts/NAME`.
    fn screenshot(&mut self, name: &str) {
        let tab = Some(self.session.as_str());
        let shot = self
            .cdp
            .call(tab, "Page.captureScreenshot", json!({"format": "png"}));
        let png = base64_decode(shot["data"].as_str().expect("screenshot data"));
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
        let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .unwrap_or(Path::new("."))
            .join("test-artifacts");
        std::fs::create_dir_all(&artifacts).expect("artifact dir");
        let path = artifacts.join(name);
        std::fs::write(&path, &png).expect("write screenshot");
        eprintln!("screenshot: {}", path.display());
    }

    /// Closes the browser politely (it closes DevTools as it exits).
    fn close(mut self) {
        self.cdp
            .send_text(&json!({"id": 0, "method": "Browser.close"}).to_string());
        self.cdp.until_closed();
        drop(self.chromium);
    }
}

#[test]
fn chromium_shows_live_clock_events() {
    let (_duet, _http_addr, https_addr) = start_demo();
    // `localhost` is a name the self-signed certificate carries; Chromium
    // resolves it to the loopback address without asking DNS.
    let page_url = format!("https://localhost:{}/clock", https_addr.port());
    let mut browser = Browser::open(&page_url);

    // The page answers once it shows three events (it watches its own
    // counter; it gives up after 30 s and says what it shows).
    let probe = r##"new Promise((resolve, reject) => {
        const count = document.getElementById("count");
        const report = () => JSON.stringify({
            protocol: document.getElementById("protocol").textContent,
            count: Number(count.textContent),
            state: document.getElementById("state").textContent,
            items: Array.from(document.querySelectorAll("#events li.event"), li => li.textContent),
        });
        const done = () => Number(count.textContent) >= 3;
        if (done()) return resolve(report());
        const watch = new MutationObserver(() => {
            if (done()) { watch.disconnect(); resolve(report()); }
        });
        watch.observe(count, { childList: true, characterData: true, subtree: true });
        setTimeout(() => reject(new Error("the page did not show three events: " + report())), 30000);
    })"##;
    let seen = browser.report(probe);

    // Loaded over HTTP/2, chosen by ALPN.
    assert_eq!(seen["protocol"], "h2", "{seen}");
    assert_eq!(seen["state"], "open", "{seen}");
    let items: Vec<&str> = seen["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(items.len() >= 3, "{seen}");
    // Newest first, ids counting down by one, each with a UTC timestamp.
    let ids: Vec<u64> = items
        .iter()
        .map(|t| {
            let id = t
                .strip_prefix('#')
                .and_then(|t| t.split(|c: char| !c.is_ascii_digit()).next());
            id.and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no id in {t:?}"))
        })
        .collect();
    for w in ids.windows(2) {
        assert_eq!(w[0], w[1] + 1, "{seen}");
    }
    assert!(
        items.iter().all(|t| t.ends_with('Z') && t.contains('T')),
        "{seen}"
    );

    browser.screenshot("clock.png");
    browser.close();
}

/// The demo's `/status` dashboard over https: after requests made with
/// curl over HTTP/1.1 and h2c, its `stats` events (fed by the same
/// counters as `/metrics`) show those totals, a rate and latency
/// percentiles, and its charts are drawn.
#[test]
fn chromium_shows_the_status_dashboard() {
    let (_duet, http_addr, https_addr) = start_demo();
    let page_url = format!("https://localhost:{}/status", https_addr.port());
    let mut browser = Browser::open(&page_url);

    // Known traffic: 25 requests on one HTTP/1.1 connection (curl), 10 on
    // one h2c connection (h2load; curl 7.88 fails to reuse a
    // prior-knowledge connection).
    let h1 = Command::new("curl")
        .args(["-sS", "--fail", "--max-time", "20", "--http1.1"])
        .arg(format!("http://{http_addr}/hello/[1-25]"))
        .output()
        .expect("curl runs (scripts/test.sh installs it)");
    assert!(
        h1.status.success(),
        "{}",
        String::from_utf8_lossy(&h1.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&h1.stdout), "hello".repeat(25));
    let h2c = Command::new("h2load")
        .args(["-n10", "-c1", "-m1"])
        .arg(format!("http://{http_addr}/hello/x"))
        .output()
        .expect("h2load runs (scripts/test.sh installs nghttp2-client)");
    let report = String::from_utf8_lossy(&h2c.stdout);
    assert!(report.contains("10 succeeded"), "{report}");

    // The page answers once a sample shows both totals and a median
    // latency (it gives up after 30 s and says what it shows).
    let probe = r##"new Promise((resolve, reject) => {
        const cell = (p, c) => {
            const td = document.querySelector(`tr[data-protocol="${p}"] td.${c}`);
            return td ? Number(td.textContent) : NaN;
        };
        const report = () => JSON.stringify({
            state: document.getElementById("state").textContent,
            samples: Number(document.getElementById("samples").textContent),
            h1_total: cell("http/1.1", "total"),
            h2c_total: cell("h2c", "total"),
            h1_open: cell("http/1.1", "open"),
            p50: document.getElementById("p50").textContent,
            p99: document.getElementById("p99").textContent,
            lines: document.querySelectorAll("#chart-rps polyline").length,
        });
        const done = () => cell("http/1.1", "total") >= 25 && cell("h2c", "total") >= 10
            && !Number.isNaN(Number(document.getElementById("p50").textContent));
        if (done()) return resolve(report());
        const watch = new MutationObserver(() => {
            if (done()) { watch.disconnect(); resolve(report()); }
        });
        watch.observe(document.body, { childList: true, characterData: true, subtree: true });
        setTimeout(() => reject(new Error("the dashboard did not show the requests: " + report())), 30000);
    })"##;
    let seen = browser.report(probe);
    assert_eq!(seen["state"], "open", "{seen}");
    // Exactly the curl requests: the dashboard's own (h2) are apart.
    assert_eq!(seen["h1_total"], 25.0, "{seen}");
    assert_eq!(seen["h2c_total"], 10.0, "{seen}");
    assert!(seen["samples"].as_f64().is_some_and(|n| n >= 1.0), "{seen}");
    let p50: f64 = seen["p50"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .expect("p50");
    let p99: f64 = seen["p99"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .expect("p99");
    assert!(p50 > 0.0 && p50 <= p99, "{seen}");
    // One line per protocol seen (http/1.1, h2c, and the page's own h2).
    assert!(seen["lines"].as_u64().is_some_and(|n| n >= 3), "{seen}");

    browser.screenshot("status.png");
    browser.close();
}

/// The demo's `/chat` page over https: Chromium opens its WebSocket on the
/// h2 connection that loaded the page (RFC 8441 extended CONNECT, which it
/// uses only because the server advertised SETTINGS_ENABLE_CONNECT_PROTOCOL
/// on it), sends a text and a binary message, and shows both echoes; the
/// server's context says h2, in the greeting and in its log.
#[test]
fn chromium_speaks_websocket_over_h2() {
    let (duet, _http_addr, https_addr) = start_demo();
    let page_url = format!("https://localhost:{}/chat", https_addr.port());
    let mut browser = Browser::open(&page_url);
    let probe = r##"new Promise((resolve, reject) => {
        const $ = (id) => document.getElementById(id);
        const report = () => JSON.stringify({
            page: $("protocol").textContent,
            socket: $("ws-protocol").textContent,
            state: $("state").textContent,
            count: Number($("count").textContent),
            log: Array.from(document.querySelectorAll("#log li"), li => li.textContent),
        });
        let sent = false;
        const check = () => {
            if (!sent && $("state").textContent === "open" && $("ws-protocol").textContent !== "?") {
                sent = true;
                $("text").value = "hello from chromium";
                $("form").requestSubmit();
                $("binary").click();
            }
            if (Number($("count").textContent) >= 2) { watch.disconnect(); resolve(report()); }
        };
        const watch = new MutationObserver(check);
        watch.observe(document.body, { childList: true, characterData: true, subtree: true });
        check();
        setTimeout(() => reject(new Error("no two echoes: " + report())), 30000);
    })"##;
    let seen = browser.report(probe);
    assert_eq!(seen["page"], "h2", "{seen}");
    assert_eq!(
        seen["socket"], "h2",
        "the WebSocket went over HTTP/2: {seen}"
    );
    assert_eq!(seen["state"], "open", "{seen}");
    let log: Vec<&str> = seen["log"]
        .as_array()
        .expect("log")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(log.contains(&"← hello from chromium"), "{seen}");
    assert!(log.contains(&"← binary [0, 1, 254, 255]"), "{seen}");
    // The server's own record of it.
    assert!(
        duet.log
            .wait_for("WebSocket from 127.0.0.1", Duration::from_secs(5))
            .is_some_and(|l| l.contains("over h2 ")),
        "{}",
        duet.log.text()
    );
    browser.screenshot("chat.png");
    browser.close();
}

/// `GET /sse` of the demo with `curl -N`: clock events numbered after the
/// client's `Last-Event-ID`, over HTTP/1.1 and over h2 with TLS.
#[test]
fn demo_sse_streams_to_curl() {
    let (_duet, http_addr, https_addr) = start_demo();
    let resolve = format!("localhost:{}:127.0.0.1", https_addr.port());
    let runs = [
        (
            format!("http://{http_addr}/sse?interval_ms=1&count=3"),
            vec!["--http1.1"],
        ),
        (
            format!(
                "https://localhost:{}/sse?interval_ms=1&count=3",
                https_addr.port()
            ),
            vec!["--http2", "-k", "--resolve", resolve.as_str()],
        ),
    ];
    for (url, args) in runs {
        let out = Command::new("curl")
            .args(["-sS", "-N", "--max-time", "20", "-H", "Last-Event-ID: 41"])
            .args(&args)
            .arg("-w")
            .arg("%{http_version}")
            .arg(&url)
            .output()
            .expect("curl runs (scripts/test.sh installs it)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let (events, version) = text.rsplit_once("\n\n").expect("events");
        assert_eq!(version, if url.starts_with("https") { "2" } else { "1.1" });
        let events: Vec<&str> = events.split("\n\n").collect();
        assert_eq!(events.len(), 3, "{text}");
        for (event, id) in events.iter().zip(42..) {
            let lines: Vec<&str> = event.lines().collect();
            assert_eq!(lines.len(), 3, "{event}");
            assert_eq!(lines[0], "event: clock");
            assert_eq!(lines[1], format!("id: {id}"));
            let time = lines[2].strip_prefix("data: ").expect("data line");
            // 2026-11-24T00:29:46.981Z
            assert_eq!(time.len(), 24, "{time}");
            assert!(time.ends_with('Z') && time.as_bytes()[10] == b'T', "{time}");
        }
    }
}
