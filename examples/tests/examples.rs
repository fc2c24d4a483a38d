//! The examples, run as a user runs them (`cargo run --example NAME ADDR`)
//! and called with clients duet did not write: curl, tonic's client and
//! Python's grpcio.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use duet_examples::greeter::greeter_client::GreeterClient;
use duet_examples::greeter::HelloRequest;

/// An example process, killed when dropped.
struct Example(Child);

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
}

/// Where cargo built the examples (next to this test's own binary).
fn example_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    dir.join("examples").join(name)
}

/// Starts an example on a free port and waits until it logs that it
/// listens.
fn start(name: &str) -> (Example, SocketAddr) {
    let addr = free_addr();
    let mut child = Command::new(example_path(name))
        .arg(addr.to_string())
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("example {name} (cargo builds it with the tests): {e}"));
    // The examples log nothing themselves; wait for the port instead.
    let stderr = child.stderr.take();
    std::thread::spawn(move || {
        if let Some(s) = stderr {
            for line in BufReader::new(s).lines().map_while(Result::ok) {
                eprintln!("[{}] {line}", addr);
            }
        }
    });
    let example = Example(child);
    for _ in 0..400 {
        if std::net::TcpStream::connect(addr).is_ok() {
            return (example, addr);
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    panic!("example {name} did not listen on {addr}");
}

fn curl(args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl is required (scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn hello_answers() {
    let (_ex, addr) = start("hello");
    assert_eq!(curl(&[&format!("http://{addr}/hello/you")]), "hello, you\n");
    assert_eq!(
        curl(&["--http2-prior-knowledge", &format!("http://{addr}/")]),
        "hello\n"
    );
}

#[test]
fn tls_vhosts_serve_each_name_its_certificate() {
    let (_ex, addr) = start("tls_vhosts");
    for (name, site) in [("a.localhost", "site a\n"), ("b.localhost", "site b\n")] {
        let resolve = format!("{name}:{}:127.0.0.1", addr.port());
        let url = format!("https://{name}:{}/", addr.port());
        assert_eq!(curl(&["-k", "--resolve", &resolve, &url]), site);
        // The certificate served names the host asked for.
        let verbose = Command::new("curl")
            .args([
                "-sS",
                "-v",
                "-k",
                "-o",
                "/dev/null",
                "--resolve",
                &resolve,
                &url,
            ])
            .output()
            .expect("curl");
        let log = String::from_utf8_lossy(&verbose.stderr);
        assert!(
            log.contains(&format!("subject: CN={name}")) || log.contains(name),
            "{log}"
        );
    }
}

#[test]
fn sse_streams_ticks() {
    let (_ex, addr) = start("sse");
    let out = Command::new("curl")
        .args([
            "-sS",
            "-N",
            "--max-time",
            "3",
            &format!("http://{addr}/ticks"),
        ])
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("event: tick\nid: 1\ndata: tick 1\n"),
        "{text}"
    );
    assert!(text.contains("data: tick 2\n"), "{text}");
}

#[test]
fn axum_router_with_cors_and_gzip_over_h1_and_h2c() {
    let (_ex, addr) = start("axum_router");
    let url = format!("http://{addr}/");
    for version in ["--http1.1", "--http2-prior-knowledge"] {
        let out = curl(&[
            version,
            "-i",
            "--compressed",
            "-H",
            "origin: https://example.com",
            &url,
        ]);
        let lower = out.to_ascii_lowercase();
        assert!(
            lower.contains("access-control-allow-origin: *"),
            "{version}: {out}"
        );
        assert!(lower.contains("content-encoding: gzip"), "{version}: {out}");
        assert!(
            out.contains("duet serves this axum Router."),
            "{version}: {out}"
        );
        assert!(out.len() > 1024);
    }
}

#[tokio::test]
async fn grpc_greeter_with_tonics_client() {
    let (_ex, addr) = start("grpc_greeter");
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect()
        .await
        .expect("connects (h2c)");
    let mut client = GreeterClient::new(channel);
    let reply = client
        .say_hello(HelloRequest {
            name: "duet".into(),
        })
        .await
        .expect("SayHello");
    assert_eq!(reply.into_inner().message, "Hello duet!");
    // An error status, carried to the client.
    let err = client
        .say_hello(HelloRequest {
            name: String::new(),
        })
        .await
        .expect_err("empty name");
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert_eq!(err.message(), "name is empty");
    // Server streaming.
    let mut stream = client
        .say_hello_stream(HelloRequest { name: "s".into() })
        .await
        .expect("stream")
        .into_inner();
    let mut got = Vec::new();
    while let Some(r) = stream.message().await.expect("message") {
        got.push(r.message);
    }
    assert_eq!(got, ["Hello s #1!", "Hello s #2!", "Hello s #3!"]);
    // A stream that fails after two replies: the status is in the trailers.
    let mut stream = client
        .say_hello_stream(HelloRequest {
            name: "fail".into(),
        })
        .await
        .expect("stream")
        .into_inner();
    let mut got = Vec::new();
    let status = loop {
        match stream.message().await {
            Ok(Some(r)) => got.push(r.message),
            Ok(None) => panic!("the stream ended without its error"),
            Err(status) => break status,
        }
    };
    assert_eq!(got, ["Hello fail #1!", "Hello fail #2!"]);
    assert_eq!(status.code(), tonic::Code::FailedPrecondition);
}

#[test]
fn grpc_greeter_with_python_grpcio() {
    // scripts/test.sh installs grpcio and grpcio-tools in a venv and says
    // where its python is; without it the test fails (it must not pass
    // quietly).
    let python = std::env::var("DUET_GRPC_PYTHON").unwrap_or_else(|_| {
        panic!("DUET_GRPC_PYTHON is not set: run scripts/test.sh, which installs grpcio in a venv")
    });
    let (_ex, addr) = start("grpc_greeter");
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out_dir = std::env::temp_dir().join(format!("duet-grpc-py-{}", std::process::id()));
    let out = Command::new(&python)
        .arg(here.join("tests/grpc_client.py"))
        .arg(addr.to_string())
        .arg(here.join("proto"))
        .arg(&out_dir)
        .output()
        .expect("python runs");
    let _ = std::fs::remove_dir_all(&out_dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = String::from_utf8_lossy(&out.stdout);
    let expected = r#"{"unary": "Hello python!", "empty": ["INVALID_ARGUMENT", "name is empty"], "stream": ["Hello py #1!", "Hello py #2!", "Hello py #3!"], "fail": [["Hello fail #1!", "Hello fail #2!"], "FAILED_PRECONDITION", "asked to fail"]}"#;
    assert_eq!(got.trim(), expected);
}
