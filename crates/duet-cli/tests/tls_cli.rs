//! The `duet` binary's HTTPS: a self-signed certificate for localhost when
//! none is given, `--cert`/`--key` files reloaded on SIGHUP, and start-up
//! errors naming a bad file. Certificates are made with the `openssl`
//! command and checked with `curl` (both installed by `scripts/test.sh`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

mod support;
use support::{free_port, Duet, TempDir};

/// How long a test waits for the log line it expects.
const WAIT: Duration = Duration::from_secs(20);

/// A self-signed EC certificate for `localhost` as `<stem>.pem`/`<stem>.key`.
fn openssl_cert(dir: &Path, stem: &str) -> (PathBuf, PathBuf) {
    let cert = dir.join(format!("{stem}.pem"));
    let key = dir.join(format!("{stem}.key"));
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .arg("ec_paramgen_curve:prime256v1")
        .args(["-nodes", "-days", "2", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is required for this test");
    assert!(
        out.status.success(),
        "openssl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

/// Runs curl; returns (success, stdout).
fn curl(args: &[&str]) -> (bool, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl is required for this test");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn sighup(duet: &Duet) {
    let ok = Command::new("kill")
        .args(["-HUP", &duet.pid().to_string()])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "kill -HUP failed");
}

#[test]
fn self_signed_localhost_serves_h2_and_http11() {
    let http = format!("127.0.0.1:{}", free_port());
    let https_port = free_port();
    let https = format!("127.0.0.1:{https_port}");
    let server = Duet::start(&["--http", &http, "--https", &https]);
    server.wait_listening(&https);
    let url = format!("https://localhost:{https_port}/");
    let log = server.log.text();
    assert!(
        log.contains("generated a self-signed certificate for localhost"),
        "{log}"
    );
    assert!(!log.contains('\x1b'), "ANSI codes in a piped log: {log:?}");
    let (ok, out) = curl(&["-k", "--http2", "-w", " %{http_version}", &url]);
    assert!(ok);
    assert_eq!(out, "hello 2");
    let (ok, out) = curl(&["-k", "--http1.1", "-w", " %{http_version}", &url]);
    assert!(ok);
    assert_eq!(out, "hello 1.1");
    // No SNI (an IP address): the same certificate, valid for 127.0.0.1.
    let ip_url = format!("https://127.0.0.1:{https_port}/");
    let (ok, out) = curl(&["-k", &ip_url]);
    assert!(ok);
    assert_eq!(out, "hello");
    // Without -k the self-signed certificate is refused.
    assert!(!curl(&[&url]).0);
}

#[test]
fn sighup_reloads_certificate_files() {
    let dir = TempDir::new("duet-sighup");
    let (cert, key) = openssl_cert(&dir.0, "live");
    let first = dir.0.join("first.pem");
    std::fs::copy(&cert, &first).expect("copy");
    let http = format!("127.0.0.1:{}", free_port());
    let https_port = free_port();
    let https = format!("127.0.0.1:{https_port}");
    let cert_s = cert.to_str().expect("utf-8 path");
    let key_s = key.to_str().expect("utf-8 path");
    let server = Duet::start(&[
        "--http", &http, "--https", &https, "--cert", cert_s, "--key", key_s,
    ]);
    server.wait_listening(&https);
    let url = format!("https://localhost:{https_port}/");
    let trusting = |ca: &Path| {
        let ca = ca.to_str().expect("utf-8 path").to_string();
        curl(&["--cacert", &ca, "-w", " %{http_version}", &url])
    };
    assert_eq!(trusting(&first), (true, "hello 2".to_string()));

    // New files on disk, then SIGHUP.
    let (cert2, key2) = openssl_cert(&dir.0, "second");
    std::fs::copy(&cert2, &cert).expect("copy");
    std::fs::copy(&key2, &key).expect("copy");
    sighup(&server);
    let reloaded = server.log.wait_for("reloaded 1 certificate", WAIT);
    assert!(reloaded.is_some(), "no reload: {}", server.log.text());
    assert_eq!(trusting(&cert2), (true, "hello 2".to_string()));
    assert!(!trusting(&first).0, "the old certificate is still served");

    // A key that does not match: the reload fails, the server keeps the
    // certificate it has and says which file is wrong.
    let (_cert3, key3) = openssl_cert(&dir.0, "third");
    std::fs::copy(&key3, &key).expect("copy");
    sighup(&server);
    let failed = server.log.wait_for("reload failed", WAIT);
    let failed = failed.unwrap_or_else(|| panic!("no failure logged: {}", server.log.text()));
    assert!(failed.contains("live.key"), "{failed}");
    assert_eq!(trusting(&cert2), (true, "hello 2".to_string()));
}

#[test]
fn bad_certificate_files_stop_start_up_naming_the_file() {
    let dir = TempDir::new("duet-badcert");
    let (cert, _key) = openssl_cert(&dir.0, "one");
    let (_cert2, key2) = openssl_cert(&dir.0, "two");
    let missing = dir.0.join("missing.pem");
    let http = format!("127.0.0.1:{}", free_port());
    let https = format!("127.0.0.1:{}", free_port());
    for (c, k, needle) in [
        (&missing, &key2, "missing.pem"),
        (&cert, &key2, "two.key"),
        (&key2, &key2, "no PEM certificate"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_duet"))
            .args(["--http", &http, "--https", &https, "--cert"])
            .arg(c)
            .arg("--key")
            .arg(k)
            .output()
            .expect("run duet");
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        // Said once, plainly (stderr is a pipe here: no colour codes).
        assert_eq!(err.matches(needle).count(), 1, "{needle}: {err}");
        assert!(err.starts_with("duet: "), "{err}");
        assert!(!err.contains('\x1b'), "ANSI codes in {err:?}");
    }
}
