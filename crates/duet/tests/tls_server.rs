//! TLS end to end: a test CA and leaf certificates generated at test time
//! (rcgen, in a temp dir), servers on ephemeral ports, real clients
//! (rustls, reqwest, curl, the h2 crate).

mod support;

use support::h2_client::AnyCert;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use duet::{ConnContext, RequestContext, Server, TlsConfig, TlsErrorKind};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

// ---------------------------------------------------------------------------
// Test PKI

/// A throw-away CA in its own temp dir.
struct Pki {
    dir: PathBuf,
    ca: rcgen::Certificate,
    ca_key: KeyPair,
}

/// A leaf certificate signed by the test CA.
struct Leaf {
    cert_pem: String,
    key_pem: String,
    der: Vec<u8>,
}

impl Pki {
    fn new(tag: &str) -> Pki {
        let dir = std::env::temp_dir().join(format!("duet-tls-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "duet test CA");
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate().expect("ca key");
        let ca = params.self_signed(&ca_key).expect("ca cert");
        std::fs::write(dir.join("ca.pem"), ca.pem()).expect("write ca");
        Pki { dir, ca, ca_key }
    }

    fn leaf(&self, names: &[&str]) -> Leaf {
        let sans: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(sans).expect("params");
        params
            .distinguished_name
            .push(DnType::CommonName, names.first().copied().unwrap_or("leaf"));
        let key = KeyPair::generate().expect("leaf key");
        let cert = params
            .signed_by(&key, &self.ca, &self.ca_key)
            .expect("sign leaf");
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }

    /// Writes a leaf as `<stem>.pem` / `<stem>.key`.
    fn write(&self, leaf: &Leaf, stem: &str) -> (PathBuf, PathBuf) {
        let cert = self.dir.join(format!("{stem}.pem"));
        let key = self.dir.join(format!("{stem}.key"));
        std::fs::write(&cert, &leaf.cert_pem).expect("write cert");
        std::fs::write(&key, &leaf.key_pem).expect("write key");
        (cert, key)
    }

    fn ca_der(&self) -> CertificateDer<'static> {
        self.ca.der().clone()
    }

    fn ca_path(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ---------------------------------------------------------------------------
// Clients

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// How a raw test client sets up TLS.
struct Client {
    /// SNI name sent (and, with `ca`, verified); `None` sends no SNI.
    sni: Option<&'static str>,
    /// Trust this CA (verify name and chain); `None` accepts any cert.
    ca: Option<CertificateDer<'static>>,
    alpn: &'static [&'static [u8]],
    tls12_only: bool,
}

impl Client {
    fn sni(name: &'static str) -> Client {
        Client {
            sni: Some(name),
            ca: None,
            alpn: &[b"http/1.1"],
            tls12_only: false,
        }
    }

    async fn connect(&self, addr: SocketAddr) -> std::io::Result<TlsStream<TcpStream>> {
        let versions: &[&rustls::SupportedProtocolVersion] = if self.tls12_only {
            &[&rustls::version::TLS12]
        } else {
            rustls::DEFAULT_VERSIONS
        };
        let builder = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(versions)
            .expect("versions");
        let mut config = match &self.ca {
            Some(ca) => {
                let mut roots = RootCertStore::empty();
                roots.add(ca.clone()).expect("root");
                builder.with_root_certificates(roots).with_no_client_auth()
            }
            None => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCert(provider())))
                .with_no_client_auth(),
        };
        config.alpn_protocols = self.alpn.iter().map(|p| p.to_vec()).collect();
        config.enable_sni = self.sni.is_some();
        let name = ServerName::try_from(self.sni.unwrap_or("a.test"))
            .expect("name")
            .to_owned();
        let tcp = TcpStream::connect(addr).await?;
        TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
    }
}

/// The end-entity certificate the server sent.
fn peer_cert(s: &TlsStream<TcpStream>) -> Vec<u8> {
    s.get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.to_vec())
        .expect("server sent a certificate")
}

/// The TLS alert the server sent, if the handshake failed on one.
fn alert_of(e: &std::io::Error) -> Option<rustls::AlertDescription> {
    match e.get_ref()?.downcast_ref::<rustls::Error>()? {
        rustls::Error::AlertReceived(a) => Some(*a),
        _ => None,
    }
}

/// Sends one HTTP/1.1 request and reads one response with a
/// `Content-Length` body; returns (status, body).
async fn request<S>(s: &mut S, host: &str, path: &str) -> (u16, String)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("write request");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let read = async {
        loop {
            if let Some(end) = find(&buf, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if buf.len() >= end + 4 + len {
                    let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).into_owned();
                    return (status_of(&head), body);
                }
            }
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return (0, String::from_utf8_lossy(&buf).into_owned()),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .unwrap_or((0, "timed out".into()))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Reads until EOF or error (or 10 s); returns the byte count.
async fn drain<S: tokio::io::AsyncRead + Unpin>(s: &mut S) -> Option<usize> {
    let mut out = Vec::new();
    match tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await {
        Ok(_) => Some(out.len()),
        Err(_) => None,
    }
}

fn reqwest_client(pki: &Pki, names: &[&str], addr: SocketAddr) -> reqwest::ClientBuilder {
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(
            reqwest::Certificate::from_pem(pki.ca.pem().as_bytes()).expect("ca for reqwest"),
        )
        .timeout(Duration::from_secs(10));
    for n in names {
        b = b.resolve(n, addr);
    }
    b
}

// ---------------------------------------------------------------------------
// Servers

async fn who_a() -> &'static str {
    "site a"
}

async fn who_b() -> &'static str {
    "site b"
}

async fn conn_facts(req: RequestContext, conn: ConnContext) -> String {
    let tls = conn.tls().cloned().unwrap_or_default();
    format!(
        "id={} sni={} alpn={} tls={} proto={} version={:?} host={}",
        conn.id(),
        tls.server_name.unwrap_or_default(),
        String::from_utf8_lossy(&tls.alpn.unwrap_or_default()),
        tls.version,
        conn.protocol(),
        req.version(),
        req.host().unwrap_or_default(),
    )
}

/// Two virtual servers on one TLS port, `a.test` and `b.test`, each with
/// its own certificate; `a` is the default when `default_a`.
fn two_sites(pki: &Pki, default_a: bool) -> (Vec<Server>, TlsConfig, Leaf, Leaf) {
    let la = pki.leaf(&["a.test"]);
    let lb = pki.leaf(&["b.test"]);
    let (ca, ka) = pki.write(&la, "a");
    let (cb, kb) = pki.write(&lb, "b");
    let tls = TlsConfig::new()
        .host("a.test", &ca, &ka)
        .and_then(|t| t.host("b.test", &cb, &kb))
        .expect("tls config");
    let mut a = local().hostname("a.test").tls(tls.clone());
    if default_a {
        a = a.default_server();
    }
    let mut b = local().hostname("b.test").tls(tls.clone());
    a.get("/who", who_a).get("/conn", conn_facts);
    b.get("/who", who_b).get("/conn", conn_facts);
    (vec![a, b], tls, la, lb)
}

// ---------------------------------------------------------------------------
// Tests

#[tokio::test]
async fn sni_picks_certificate_and_virtual_server() {
    let pki = Pki::new("sni");
    let (servers, _tls, la, lb) = two_sites(&pki, false);
    let running = start(servers).await;
    let addr = running.addr();

    let mut a = Client::sni("a.test").connect(addr).await.expect("a");
    assert_eq!(peer_cert(&a), la.der);
    let mut b = Client::sni("b.test").connect(addr).await.expect("b");
    assert_eq!(peer_cert(&b), lb.der);
    // SNI is matched case-insensitively.
    let upper = Client::sni("B.TEST").connect(addr).await.expect("B");
    assert_eq!(peer_cert(&upper), lb.der);

    assert_eq!(
        request(&mut a, "a.test", "/who").await,
        (200, "site a".into())
    );
    assert_eq!(
        request(&mut b, "b.test", "/who").await,
        (200, "site b".into())
    );

    // reqwest verifies each certificate against the test CA for its name.
    let c = reqwest_client(&pki, &["a.test", "b.test"], addr)
        .http1_only()
        .build()
        .expect("client");
    let port = addr.port();
    for (name, want) in [("a.test", "site a"), ("b.test", "site b")] {
        let r = c
            .get(format!("https://{name}:{port}/who"))
            .send()
            .await
            .expect("reqwest over TLS");
        assert_eq!(r.status(), 200);
        assert_eq!(r.version(), reqwest::Version::HTTP_11);
        assert_eq!(r.text().await.expect("body"), want);
    }
    running.shutdown().await;
}

#[tokio::test]
async fn unknown_sni_without_default_is_refused_with_unrecognized_name() {
    let pki = Pki::new("unknown");
    let (servers, _tls, _la, _lb) = two_sites(&pki, false);
    let running = start(servers).await;
    let addr = running.addr();

    let e = Client::sni("nobody.test")
        .connect(addr)
        .await
        .expect_err("unknown name must be refused");
    assert_eq!(
        alert_of(&e),
        Some(rustls::AlertDescription::UnrecognisedName),
        "{e}"
    );
    // No SNI at all, no default server: refused the same way.
    let no_sni = Client {
        sni: None,
        ..Client::sni("a.test")
    };
    let e = no_sni.connect(addr).await.expect_err("no SNI, no default");
    assert_eq!(
        alert_of(&e),
        Some(rustls::AlertDescription::UnrecognisedName),
        "{e}"
    );
    // The port still serves known names.
    let mut a = Client::sni("a.test").connect(addr).await.expect("a");
    assert_eq!(
        request(&mut a, "a.test", "/who").await,
        (200, "site a".into())
    );
    running.shutdown().await;
}

#[tokio::test]
async fn unknown_or_missing_sni_gets_the_default_server() {
    let pki = Pki::new("default");
    let (servers, _tls, la, _lb) = two_sites(&pki, true);
    let running = start(servers).await;
    let addr = running.addr();

    let mut s = Client::sni("nobody.test")
        .connect(addr)
        .await
        .expect("served");
    assert_eq!(peer_cert(&s), la.der);
    assert_eq!(
        request(&mut s, "nobody.test", "/who").await,
        (200, "site a".into())
    );

    let no_sni = Client {
        sni: None,
        ..Client::sni("a.test")
    };
    let mut s = no_sni.connect(addr).await.expect("served without SNI");
    assert_eq!(peer_cert(&s), la.der);
    assert_eq!(
        request(&mut s, "a.test", "/who").await,
        (200, "site a".into())
    );
    running.shutdown().await;
}

#[tokio::test]
async fn host_naming_another_server_than_sni_gets_421() {
    let pki = Pki::new("misdirected");
    let (servers, _tls, _la, _lb) = two_sites(&pki, false);
    let running = start(servers).await;
    let addr = running.addr();

    let mut s = Client::sni("a.test").connect(addr).await.expect("a");
    let (status, _) = request(&mut s, "a.test", "/who").await;
    assert_eq!(status, 200);
    // RFC 9110 §15.5.20: the connection was set up for a.test.
    let (status, _) = request(&mut s, "b.test", "/who").await;
    assert_eq!(status, 421);
    running.shutdown().await;
}

#[tokio::test]
async fn conn_context_reports_sni_alpn_and_version() {
    let pki = Pki::new("facts");
    let (servers, _tls, _la, _lb) = two_sites(&pki, false);
    let running = start(servers).await;
    let addr = running.addr();

    let mut s = Client::sni("b.test").connect(addr).await.expect("b");
    let (status, body) = request(&mut s, "b.test", "/conn").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("sni=b.test "), "{body}");
    assert!(body.contains("alpn=http/1.1 "), "{body}");
    assert!(body.contains("tls=TLSv1.3 "), "{body}");
    assert!(body.contains("proto=http/1.1 "), "{body}");

    // A TLS 1.2 client without ALPN: HTTP/1.1 all the same.
    let old = Client {
        alpn: &[],
        tls12_only: true,
        ..Client::sni("a.test")
    };
    let mut s = old.connect(addr).await.expect("TLS 1.2");
    let (status, body) = request(&mut s, "a.test", "/conn").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("alpn= "), "{body}");
    assert!(body.contains("tls=TLSv1.2 "), "{body}");
    assert!(body.contains("proto=http/1.1 "), "{body}");
    running.shutdown().await;
}

#[tokio::test]
async fn curl_http11_over_tls_with_the_test_ca() {
    require("curl");
    let pki = Pki::new("curl1");
    let (servers, _tls, _la, _lb) = two_sites(&pki, false);
    let running = start(servers).await;
    let port = running.addr().port();
    let ca = pki.ca_path();
    for (name, want) in [("a.test", "site a"), ("b.test", "site b")] {
        let resolve = format!("{name}:{port}:127.0.0.1");
        let url = format!("https://{name}:{port}/who");
        let (ok, out, err) = run(
            "curl",
            &[
                "-sS",
                "--http1.1",
                "--cacert",
                ca.to_str().expect("utf-8 path"),
                "--resolve",
                &resolve,
                "-w",
                " %{http_version}",
                &url,
            ],
        )
        .await;
        assert!(ok, "curl failed: {err}");
        assert_eq!(out, format!("{want} 1.1"));
    }
    running.shutdown().await;
}

#[tokio::test]
async fn h2_by_alpn_with_curl_reqwest_and_the_h2_crate() {
    let pki = Pki::new("h2");
    let (servers, _tls, _la, _lb) = two_sites(&pki, false);
    let running = start(servers).await;
    let addr = running.addr();
    let port = addr.port();
    // A client offering h2 and http/1.1 gets h2 (the server's preference).
    let offered = Client {
        alpn: &[b"http/1.1", b"h2"],
        ..Client::sni("a.test")
    };
    let s = offered.connect(addr).await.expect("tls");
    assert_eq!(s.get_ref().1.alpn_protocol(), Some(b"h2".as_slice()));
    drop(s);

    // curl -k --http2: negotiates h2 by ALPN.
    require("curl");
    let resolve = format!("a.test:{port}:127.0.0.1");
    let url = format!("https://a.test:{port}/who");
    let (ok, out, err) = run(
        "curl",
        &[
            "-sS",
            "-k",
            "--http2",
            "--resolve",
            &resolve,
            "-w",
            " %{http_version}",
            &url,
        ],
    )
    .await;
    assert!(ok, "curl failed: {err}");
    assert_eq!(out, "site a 2");

    // reqwest over rustls, trusting the test CA: h2 by default.
    let c = reqwest_client(&pki, &["a.test", "b.test"], addr)
        .build()
        .expect("client");
    let r = c
        .get(format!("https://b.test:{port}/conn"))
        .send()
        .await
        .expect("reqwest h2");
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    let body = r.text().await.expect("body");
    assert!(body.contains("sni=b.test alpn=h2 "), "{body}");
    assert!(body.contains("proto=h2 "), "{body}");
    assert!(body.contains("version=HTTP/2.0"), "{body}");

    // The h2 crate over a rustls stream.
    let tls = Client {
        alpn: &[b"h2"],
        ca: Some(pki.ca_der()),
        ..Client::sni("a.test")
    }
    .connect(addr)
    .await
    .expect("tls");
    let (mut send, conn) = h2::client::handshake(tls).await.expect("h2 handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    for (host, want) in [("a.test", 200), ("b.test", 421)] {
        let req = http::Request::builder()
            .uri(format!("https://{host}:{port}/who"))
            .body(())
            .expect("request");
        let (resp, _) = send.send_request(req, true).expect("send");
        let resp = resp.await.expect("response");
        assert_eq!(resp.status().as_u16(), want, "{host}");
        send = send.ready().await.expect("ready");
    }
    running.shutdown().await;
}

#[tokio::test]
async fn certificate_reload_keeps_existing_connections() {
    let pki = Pki::new("reload");
    let first = pki.leaf(&["r.test"]);
    let (cert, key) = pki.write(&first, "r");
    let tls = TlsConfig::new()
        .host("r.test", &cert, &key)
        .expect("tls config");
    let mut server = local().hostname("r.test").tls(tls.clone());
    server.get("/conn", conn_facts);
    let running = start([server]).await;
    let addr = running.addr();

    let mut old = Client::sni("r.test").connect(addr).await.expect("connect");
    assert_eq!(peer_cert(&old), first.der);
    let (status, before) = request(&mut old, "r.test", "/conn").await;
    assert_eq!(status, 200, "{before}");

    // New files on disk, then reload (what SIGHUP does in the binary).
    let second = pki.leaf(&["r.test"]);
    pki.write(&second, "r");
    assert_eq!(tls.reload().expect("reload"), 1);

    let fresh = Client::sni("r.test").connect(addr).await.expect("connect");
    assert_eq!(peer_cert(&fresh), second.der);
    // The connection made before the reload still works, on the same
    // connection (same id).
    let (status, after) = request(&mut old, "r.test", "/conn").await;
    assert_eq!(status, 200, "{after}");
    let id = |s: &str| s.split_whitespace().next().map(str::to_string);
    assert_eq!(id(&before), id(&after));

    // A reload that fails (key no longer matches) changes nothing.
    let third = pki.leaf(&["r.test"]);
    std::fs::write(&cert, &third.cert_pem).expect("write");
    let e = tls.reload().expect_err("mismatch");
    assert_eq!(e.kind(), TlsErrorKind::KeyMismatch);
    assert!(e.to_string().contains("r.key"), "{e}");
    let still = Client::sni("r.test").connect(addr).await.expect("connect");
    assert_eq!(peer_cert(&still), second.der);

    // Replacing one host through the API.
    let fourth = pki.leaf(&["r.test"]);
    tls.set_host_pem("r.test", &fourth.cert_pem, &fourth.key_pem)
        .expect("set_host_pem");
    let newest = Client::sni("r.test").connect(addr).await.expect("connect");
    assert_eq!(peer_cert(&newest), fourth.der);
    running.shutdown().await;
}

#[tokio::test]
async fn garbage_and_stalled_handshakes_close_only_their_connection() {
    let pki = Pki::new("garbage");
    let (mut servers, _tls, _la, _lb) = two_sites(&pki, false);
    let limits = limits(|l| l.tls_handshake_timeout = Duration::from_millis(300));
    servers = servers
        .into_iter()
        .map(|s| s.limits(limits.clone()))
        .collect();
    let running = start(servers).await;
    let addr = running.addr();

    let mut healthy = Client::sni("a.test").connect(addr).await.expect("a");
    assert_eq!(
        request(&mut healthy, "a.test", "/who").await,
        (200, "site a".into())
    );

    // Pseudo-random bytes (a fixed xorshift sequence).
    let mut x: u32 = 0x9e37_79b9;
    let junk: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    let mut g = TcpStream::connect(addr).await.expect("connect");
    let _ = g.write_all(&junk).await;
    assert!(
        drain(&mut g).await.is_some(),
        "garbage connection not closed"
    );

    // Plain HTTP on the TLS port.
    let mut p = TcpStream::connect(addr).await.expect("connect");
    let _ = p.write_all(b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n").await;
    assert!(
        drain(&mut p).await.is_some(),
        "plaintext connection not closed"
    );

    // A client that never finishes its handshake is cut off.
    let mut stalled = TcpStream::connect(addr).await.expect("connect");
    let _ = stalled.write_all(&[22, 3, 1, 0, 200, 1]).await;
    assert_eq!(
        drain(&mut stalled).await,
        Some(0),
        "stalled handshake not closed"
    );

    assert_eq!(
        request(&mut healthy, "a.test", "/who").await,
        (200, "site a".into())
    );
    running.shutdown().await;
}

#[tokio::test]
async fn startup_errors_name_the_problem() {
    let pki = Pki::new("errors");
    let la = pki.leaf(&["a.test"]);
    let lb = pki.leaf(&["b.test"]);
    let (ca, ka) = pki.write(&la, "a");
    let (_cb, kb) = pki.write(&lb, "b");

    let missing = pki.dir.join("nope.pem");
    let e = TlsConfig::new()
        .host("a.test", &missing, &ka)
        .expect_err("missing");
    assert_eq!(e.kind(), TlsErrorKind::Read);
    assert!(e.to_string().contains("nope.pem"), "{e}");

    let e = TlsConfig::new()
        .host("a.test", &ca, &kb)
        .expect_err("mismatch");
    assert_eq!(e.kind(), TlsErrorKind::KeyMismatch);
    assert!(e.to_string().contains("b.key"), "{e}");
    // The error converts into io::Error for `?` in `main`.
    let io: std::io::Error = e.into();
    assert!(io.to_string().contains("b.key"));

    let e = TlsConfig::from_pem("a.test", "not pem", &la.key_pem).expect_err("no cert");
    assert_eq!(e.kind(), TlsErrorKind::NoCertificate);

    // A server without TLS on a TLS port; a TLS config without certificates.
    let tls = TlsConfig::from_pem("a.test", &la.cert_pem, &la.key_pem).expect("ok");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let with_tls = Server::bind_addr(port).hostname("a.test").tls(tls);
    let without = Server::bind_addr(port).hostname("b.test");
    let e = duet::Executor::new()
        .add(with_tls)
        .add(without)
        .start()
        .await
        .err()
        .expect("mixed port refused");
    assert!(e.to_string().contains("b.test"), "{e}");

    let empty = local().tls(TlsConfig::new());
    let e = duet::Executor::new()
        .add(empty)
        .start()
        .await
        .err()
        .expect("empty config refused");
    assert!(e.to_string().contains("no certificate"), "{e}");
}

#[tokio::test]
async fn self_signed_config_serves_localhost() {
    let tls = TlsConfig::self_signed(&["localhost", "127.0.0.1"]).expect("generate");
    let mut s = local().tls(tls);
    s.get("/who", who_a);
    let running = start([s]).await;

    let mut c = Client::sni("localhost")
        .connect(running.addr())
        .await
        .expect("tls");
    let der = CertificateDer::from(peer_cert(&c));
    let parsed = rustls::server::ParsedCertificate::try_from(&der).expect("parse");
    for name in ["localhost", "127.0.0.1"] {
        let n = ServerName::try_from(name).expect("name");
        assert!(
            rustls::client::verify_server_name(&parsed, &n).is_ok(),
            "certificate not valid for {name}"
        );
    }
    assert_eq!(
        request(&mut c, "localhost", "/who").await,
        (200, "site a".into())
    );
    // https://127.0.0.1/ sends no SNI: the only server answers.
    let no_sni = Client {
        sni: None,
        ..Client::sni("localhost")
    };
    let mut c = no_sni.connect(running.addr()).await.expect("no SNI");
    assert_eq!(
        request(&mut c, "127.0.0.1", "/who").await,
        (200, "site a".into())
    );
    running.shutdown().await;
}
