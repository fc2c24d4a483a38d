//! Shared by the tests that run the `duet` binary: a child process reaped on
//! drop, a temporary directory removed on drop, a free port, and the lines a
//! child writes to stderr, so that a test waits for the line that announces
//! what it waits for (the server listening, a reload done) instead of
//! polling.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Kills and reaps a child process when dropped (test failure included).
pub struct Reaped(pub Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A directory under cargo's test temp dir, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A new empty directory named after `name`, the process and the time.
    pub fn new(name: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("{name}-{}-{nanos}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("an ephemeral port")
}

/// What a child process writes to one of its pipes, read line by line by a
/// thread: everything so far, and a wake-up for each new line.
pub struct Lines {
    text: Arc<Mutex<String>>,
    new_line: Receiver<()>,
}

impl Lines {
    /// Reads `pipe` until it closes; each line for which `echo` is true is
    /// also printed to the test's stderr (shown when a test fails).
    pub fn read(pipe: impl Read + Send + 'static, echo: fn(&str) -> bool) -> Lines {
        let text = Arc::new(Mutex::new(String::new()));
        let (tx, new_line) = mpsc::channel();
        let all = text.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if echo(&line) {
                    eprintln!("{line}");
                }
                if let Ok(mut t) = all.lock() {
                    t.push_str(&line);
                    t.push('\n');
                }
                // Keep draining after the reader is gone: a child blocked
                // on a full pipe would not exit.
                let _ = tx.send(());
            }
        });
        Lines { text, new_line }
    }

    /// Everything read so far.
    pub fn text(&self) -> String {
        self.text.lock().map(|t| t.clone()).unwrap_or_default()
    }

    /// Waits until the text read so far satisfies `done` (at most `limit`;
    /// not at all once the pipe has closed). True if it does.
    pub fn wait_until(&self, done: impl Fn(&str) -> bool, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if done(&self.text()) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if self.new_line.recv_timeout(left).is_err() {
                return done(&self.text());
            }
        }
    }

    /// The number of lines that start with `prefix`.
    pub fn count_starting(&self, prefix: &str) -> usize {
        self.text()
            .lines()
            .filter(|l| l.starts_with(prefix))
            .count()
    }

    /// The first line containing `needle`, waiting for it to be written (at
    /// most `limit`; not at all once the pipe has closed).
    pub fn wait_for(&self, needle: &str, limit: Duration) -> Option<String> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(line) = self.text().lines().find(|l| l.contains(needle)) {
                return Some(line.to_string());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if self.new_line.recv_timeout(left).is_err() {
                return self
                    .text()
                    .lines()
                    .find(|l| l.contains(needle))
                    .map(str::to_string);
            }
        }
    }
}

/// The `duet` binary running with `args`, its log (stderr, `RUST_LOG=info`)
/// read line by line.
pub struct Duet {
    pub child: Reaped,
    pub log: Lines,
}

impl Duet {
    /// Starts the binary; it is killed when this is dropped.
    pub fn start(args: &[&str]) -> Duet {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_duet"));
        cmd.args(args);
        Duet::spawn(cmd)
    }

    /// Runs `cmd`, a command that runs the binary (through a shell, say),
    /// with `RUST_LOG=info` (unless `cmd` sets it) and its stderr read as
    /// the log.
    pub fn spawn(mut cmd: Command) -> Duet {
        if !cmd.get_envs().any(|(k, _)| k == "RUST_LOG") {
            cmd.env("RUST_LOG", "info");
        }
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the duet binary");
        let stderr = child.stderr.take().expect("piped stderr");
        Duet {
            child: Reaped(child),
            log: Lines::read(stderr, |_| false),
        }
    }

    /// Waits until the server listens on `addr` (the executor logs it once
    /// the port is bound, so connections are accepted from then on).
    pub fn wait_listening(&self, addr: &str) {
        let line = format!("listening on {addr}");
        assert!(
            self.log.wait_for(&line, Duration::from_secs(20)).is_some(),
            "duet did not listen on {addr}: {}",
            self.log.text()
        );
    }

    /// The process id, for signals.
    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }

    /// Sends `signal` (`TERM`, `HUP`…) to the process.
    pub fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -{signal} failed");
    }

    /// Waits for the process to exit (it has announced it will) and
    /// returns whether it exited successfully.
    pub fn wait_exit(&mut self) -> bool {
        self.child.0.wait().is_ok_and(|s| s.success())
    }
}
