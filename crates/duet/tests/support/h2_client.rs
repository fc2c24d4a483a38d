//! A raw-frame HTTP/2 client for conformance tests: it sends exactly the
//! bytes a test asks for (valid or not) and reads frames back, so that each
//! test reads as the RFC sentence it checks. It speaks over cleartext
//! (prior knowledge, RFC 9113 §3.3) or over TLS with ALPN `h2` (§3.2).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::hpack::Decoder;
use bytes::{Buf, Bytes, BytesMut};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Frame types (RFC 9113 §6).
pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const PRIORITY: u8 = 0x2;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const PUSH_PROMISE: u8 = 0x5;
pub const PING: u8 = 0x6;
pub const GOAWAY: u8 = 0x7;
pub const WINDOW_UPDATE: u8 = 0x8;
pub const CONTINUATION: u8 = 0x9;

/// Flags.
pub const END_STREAM: u8 = 0x1;
pub const ACK: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;
pub const PADDED: u8 = 0x8;
pub const PRIORITY_FLAG: u8 = 0x20;

/// Error codes (RFC 9113 §7).
pub const NO_ERROR: u32 = 0x0;
pub const PROTOCOL_ERROR: u32 = 0x1;
pub const INTERNAL_ERROR: u32 = 0x2;
pub const FLOW_CONTROL_ERROR: u32 = 0x3;
pub const SETTINGS_TIMEOUT: u32 = 0x4;
pub const STREAM_CLOSED: u32 = 0x5;
pub const FRAME_SIZE_ERROR: u32 = 0x6;
pub const REFUSED_STREAM: u32 = 0x7;
pub const CANCEL: u32 = 0x8;
pub const COMPRESSION_ERROR: u32 = 0x9;
pub const ENHANCE_YOUR_CALM: u32 = 0xb;

/// Settings identifiers (RFC 9113 §6.5.2).
pub const HEADER_TABLE_SIZE: u16 = 0x1;
pub const ENABLE_PUSH: u16 = 0x2;
pub const MAX_CONCURRENT_STREAMS: u16 = 0x3;
pub const INITIAL_WINDOW_SIZE: u16 = 0x4;
pub const MAX_FRAME_SIZE: u16 = 0x5;
pub const MAX_HEADER_LIST_SIZE: u16 = 0x6;

pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// How long a test waits for the server's next frame.
const WAIT: Duration = Duration::from_secs(5);

/// One frame as received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawFrame {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Bytes,
}

impl RawFrame {
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag == flag
    }
    /// The error code of a RST_STREAM or GOAWAY.
    pub fn error_code(&self) -> Option<u32> {
        let at = match self.kind {
            RST_STREAM => 0,
            GOAWAY => 4,
            _ => return None,
        };
        let b = self.payload.get(at..at + 4)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// What the server did in answer to a test's frames.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Frame(RawFrame),
    /// The connection closed (EOF or reset).
    Closed,
    /// Nothing arrived in time.
    Timeout,
}

// ----- frame builders -----

/// Any frame, byte for byte.
pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(9 + payload.len());
    b.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    b.push(kind);
    b.push(flags);
    b.extend_from_slice(&stream.to_be_bytes());
    b.extend_from_slice(payload);
    b
}

pub fn settings(values: &[(u16, u32)]) -> Vec<u8> {
    let mut p = Vec::new();
    for (id, v) in values {
        p.extend_from_slice(&id.to_be_bytes());
        p.extend_from_slice(&v.to_be_bytes());
    }
    frame(SETTINGS, 0, 0, &p)
}

pub fn settings_ack() -> Vec<u8> {
    frame(SETTINGS, ACK, 0, &[])
}

pub fn ping(data: [u8; 8]) -> Vec<u8> {
    frame(PING, 0, 0, &data)
}

pub fn window_update(stream: u32, inc: u32) -> Vec<u8> {
    frame(WINDOW_UPDATE, 0, stream, &inc.to_be_bytes())
}

pub fn rst_stream(stream: u32, code: u32) -> Vec<u8> {
    frame(RST_STREAM, 0, stream, &code.to_be_bytes())
}

pub fn priority(stream: u32, dep: u32, weight: u8) -> Vec<u8> {
    let mut p = dep.to_be_bytes().to_vec();
    p.push(weight);
    frame(PRIORITY, 0, stream, &p)
}

pub fn goaway(last: u32, code: u32) -> Vec<u8> {
    let mut p = last.to_be_bytes().to_vec();
    p.extend_from_slice(&code.to_be_bytes());
    frame(GOAWAY, 0, 0, &p)
}

pub fn data(stream: u32, end: bool, body: &[u8]) -> Vec<u8> {
    frame(DATA, if end { END_STREAM } else { 0 }, stream, body)
}

pub fn headers(stream: u32, flags: u8, block: &[u8]) -> Vec<u8> {
    frame(HEADERS, flags, stream, block)
}

pub fn continuation(stream: u32, flags: u8, block: &[u8]) -> Vec<u8> {
    frame(CONTINUATION, flags, stream, block)
}

// ----- HPACK (request side) -----

fn hpack_int(out: &mut Vec<u8>, first: u8, prefix: u8, mut v: usize) {
    let max = (1usize << prefix) - 1;
    if v < max {
        out.push(first | v as u8);
        return;
    }
    out.push(first | max as u8);
    v -= max;
    while v >= 128 {
        out.push((v % 128) as u8 | 0x80);
        v /= 128;
    }
    out.push(v as u8);
}

/// A field block of literals without indexing with new names (RFC 7541
/// §6.2.2), no Huffman: any field, in order, exactly as given.
pub fn block(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (n, v) in fields {
        out.push(0x00);
        hpack_int(&mut out, 0, 7, n.len());
        out.extend_from_slice(n.as_bytes());
        hpack_int(&mut out, 0, 7, v.len());
        out.extend_from_slice(v.as_bytes());
    }
    out
}

/// A field block whose fields are added to the dynamic table (literal with
/// incremental indexing, new name, RFC 7541 §6.2.1).
pub fn block_indexed(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (n, v) in fields {
        out.push(0x40);
        hpack_int(&mut out, 0, 7, n.len());
        out.extend_from_slice(n.as_bytes());
        hpack_int(&mut out, 0, 7, v.len());
        out.extend_from_slice(v.as_bytes());
    }
    out
}

/// The four request pseudo-headers of a GET for `path`.
pub fn get_fields(path: &str) -> Vec<(&'static str, String)> {
    vec![
        (":method", "GET".into()),
        (":scheme", "http".into()),
        (":authority", "localhost".into()),
        (":path", path.into()),
    ]
}

/// A GET request block for `path`.
pub fn get_block(path: &str) -> Vec<u8> {
    let f = get_fields(path);
    let refs: Vec<(&str, &str)> = f.iter().map(|(n, v)| (*n, v.as_str())).collect();
    block(&refs)
}

/// A request block: GET pseudo-headers for `path`, with `method`, then
/// `extra` fields.
pub fn request_block(method: &str, path: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut f: Vec<(&str, &str)> = vec![
        (":method", method),
        (":scheme", "http"),
        (":authority", "localhost"),
        (":path", path),
    ];
    f.extend_from_slice(extra);
    block(&f)
}

/// A decoded response.
#[derive(Debug, Default)]
pub struct Response {
    /// Interim (1xx) statuses received before the final response.
    pub interim: Vec<u16>,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub trailers: Vec<(String, String)>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

// ----- transports -----

/// A byte stream the client can speak HTTP/2 over (TCP or TLS over TCP).
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// How a test reaches the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// TCP with prior knowledge (RFC 9113 §3.3).
    Cleartext,
    /// TLS with ALPN `h2` (RFC 9113 §3.2), certificate not verified.
    Tls,
}

/// A server to connect to: its address and the transport it speaks.
#[derive(Clone, Copy, Debug)]
pub struct Peer {
    pub addr: SocketAddr,
    pub transport: Transport,
}

/// Accepts the server's certificate whatever it is (the tests' servers
/// use a freshly generated self-signed one) but checks the handshake
/// signatures properly.
#[derive(Debug)]
pub struct AnyCert(pub Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Completes a TLS handshake offering only ALPN `h2` and checks that the
/// server selected it (RFC 7301 §3.2).
pub async fn tls_h2(tcp: TcpStream) -> tokio_rustls::client::TlsStream<TcpStream> {
    tls_with_alpn(tcp, b"h2").await
}

/// Completes a TLS handshake offering only ALPN `alpn` and checks that the
/// server selected it (RFC 7301 §3.2).
pub async fn tls_with_alpn(
    tcp: TcpStream,
    alpn: &[u8],
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCert(provider)))
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    let name = ServerName::try_from("localhost").expect("name");
    let tls = TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("TLS handshake");
    assert_eq!(
        tls.get_ref().1.alpn_protocol(),
        Some(alpn),
        "server selects the ALPN offered"
    );
    tls
}

/// A raw HTTP/2 connection to a server.
pub struct H2Conn {
    io: Box<dyn Io>,
    rbuf: BytesMut,
    pub decoder: Decoder,
    /// The server's SETTINGS, as received in the handshake.
    pub server_settings: Vec<(u16, u32)>,
}

impl H2Conn {
    /// Connects (and, over TLS, completes the TLS handshake) without
    /// sending any HTTP/2 bytes.
    pub async fn connect(peer: Peer) -> H2Conn {
        let tcp = TcpStream::connect(peer.addr).await.expect("connect");
        tcp.set_nodelay(true).ok();
        match peer.transport {
            Transport::Cleartext => H2Conn::over(tcp),
            Transport::Tls => H2Conn::over(tls_h2(tcp).await),
        }
    }

    /// Wraps a stream that already speaks HTTP/2 (after an upgrade, or a
    /// TLS handshake that selected `h2`).
    pub fn over(io: impl Io + 'static) -> H2Conn {
        H2Conn {
            io: Box::new(io),
            rbuf: BytesMut::new(),
            decoder: Decoder::new(4096),
            server_settings: Vec::new(),
        }
    }

    /// Connects, sends the preface and `settings`, reads the server's
    /// SETTINGS, acknowledges it and waits for the ACK of ours. Other
    /// frames that arrive meanwhile (the connection WINDOW_UPDATE) are
    /// skipped.
    pub async fn handshake_with(peer: Peer, settings_values: &[(u16, u32)]) -> H2Conn {
        let mut c = H2Conn::connect(peer).await;
        let mut b = PREFACE.to_vec();
        b.extend(settings(settings_values));
        c.send(&b).await;
        let mut got_settings = false;
        let mut got_ack = false;
        while !(got_settings && got_ack) {
            let f = c.next_frame().await;
            match f.kind {
                SETTINGS if f.has(ACK) => got_ack = true,
                SETTINGS => {
                    assert!(!got_settings, "one SETTINGS in the server preface");
                    let mut p = f.payload.clone();
                    while p.remaining() >= 6 {
                        let id = p.get_u16();
                        let v = p.get_u32();
                        c.server_settings.push((id, v));
                    }
                    got_settings = true;
                    c.send(&settings_ack()).await;
                }
                _ => {}
            }
        }
        c
    }

    /// [`H2Conn::handshake_with`] with empty SETTINGS.
    pub async fn handshake(peer: Peer) -> H2Conn {
        H2Conn::handshake_with(peer, &[]).await
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        // A server that already closed may refuse the write; the test then
        // sees the close when it reads.
        // TLS may hold records until flushed.
        if self.io.write_all(bytes).await.is_ok() {
            let _ = self.io.flush().await;
        }
    }

    /// The next frame, or what happened instead.
    pub async fn read(&mut self) -> Outcome {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if self.rbuf.len() >= 9 {
                let len = (usize::from(self.rbuf[0]) << 16)
                    | (usize::from(self.rbuf[1]) << 8)
                    | usize::from(self.rbuf[2]);
                if self.rbuf.len() >= 9 + len {
                    let kind = self.rbuf[3];
                    let flags = self.rbuf[4];
                    let stream = u32::from_be_bytes([
                        self.rbuf[5],
                        self.rbuf[6],
                        self.rbuf[7],
                        self.rbuf[8],
                    ]) & 0x7fff_ffff;
                    self.rbuf.advance(9);
                    let payload = self.rbuf.split_to(len).freeze();
                    return Outcome::Frame(RawFrame {
                        kind,
                        flags,
                        stream,
                        payload,
                    });
                }
            }
            self.rbuf.reserve(16 * 1024);
            match tokio::time::timeout_at(deadline, self.io.read_buf(&mut self.rbuf)).await {
                Err(_) => return Outcome::Timeout,
                Ok(Ok(0)) | Ok(Err(_)) => return Outcome::Closed,
                Ok(Ok(_)) => {}
            }
        }
    }

    /// The next frame; panics on close or timeout.
    pub async fn next_frame(&mut self) -> RawFrame {
        match self.read().await {
            Outcome::Frame(f) => f,
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    /// Reads until a frame of `kind` (other frames are skipped).
    pub async fn wait_for(&mut self, kind: u8) -> RawFrame {
        loop {
            let f = self.next_frame().await;
            if f.kind == kind {
                return f;
            }
        }
    }

    /// RFC 9113 §5.4.1: asserts a connection error — a GOAWAY carrying
    /// `code` — and then the close of the connection. Frames before the
    /// GOAWAY (responses, ACKs) are skipped.
    pub async fn expect_connection_error(&mut self, code: u32) {
        loop {
            match self.read().await {
                Outcome::Frame(f) if f.kind == GOAWAY => {
                    assert_eq!(
                        f.error_code(),
                        Some(code),
                        "GOAWAY error code (expected {code:#x})"
                    );
                    break;
                }
                Outcome::Frame(f) if f.kind == RST_STREAM => {
                    panic!(
                        "expected connection error {code:#x}, got RST_STREAM {:?} on {}",
                        f.error_code(),
                        f.stream
                    )
                }
                Outcome::Frame(_) => {}
                other => panic!("expected GOAWAY({code:#x}), got {other:?}"),
            }
        }
        self.expect_closed().await;
    }

    /// RFC 9113 §5.4.2: asserts a stream error — RST_STREAM on `stream`
    /// carrying `code` — with the connection still usable (a PING is
    /// answered after it).
    pub async fn expect_stream_error(&mut self, stream: u32, code: u32) {
        loop {
            match self.read().await {
                Outcome::Frame(f) if f.kind == RST_STREAM && f.stream == stream => {
                    assert_eq!(f.error_code(), Some(code), "RST_STREAM error code");
                    break;
                }
                Outcome::Frame(f) if f.kind == GOAWAY => {
                    panic!(
                        "expected stream error {code:#x} on {stream}, got GOAWAY {:?}",
                        f.error_code()
                    )
                }
                Outcome::Frame(_) => {}
                other => panic!("expected RST_STREAM({stream}, {code:#x}), got {other:?}"),
            }
        }
        self.expect_alive().await;
    }

    /// Asserts the connection still works: a PING is answered.
    pub async fn expect_alive(&mut self) {
        let data = *b"alive?!!";
        self.send(&ping(data)).await;
        loop {
            let f = self.next_frame().await;
            if f.kind == GOAWAY {
                panic!("connection closed with GOAWAY {:?}", f.error_code());
            }
            if f.kind == PING && f.has(ACK) && f.payload[..] == data {
                return;
            }
        }
    }

    /// Asserts the server closes the connection (frames before are skipped,
    /// except that none may be a response).
    pub async fn expect_closed(&mut self) {
        loop {
            match self.read().await {
                Outcome::Closed => return,
                Outcome::Timeout => panic!("connection not closed"),
                Outcome::Frame(_) => {}
            }
        }
    }

    /// Reads the response on `stream` (head, body, trailers) until
    /// END_STREAM; other streams' frames are skipped; window updates are
    /// sent as body bytes arrive.
    pub async fn response(&mut self, stream: u32) -> Response {
        let mut r = Response::default();
        let mut got_head = false;
        loop {
            let f = self.next_frame().await;
            if f.stream != stream {
                assert_ne!(f.kind, GOAWAY, "GOAWAY {:?}", f.error_code());
                continue;
            }
            match f.kind {
                HEADERS => {
                    let mut block = f.payload.to_vec();
                    let mut end_headers = f.has(END_HEADERS);
                    while !end_headers {
                        let c = self.next_frame().await;
                        assert_eq!(c.kind, CONTINUATION);
                        block.extend_from_slice(&c.payload);
                        end_headers = c.has(END_HEADERS);
                    }
                    let mut fields = Vec::new();
                    self.decoder
                        .decode(&block, &mut |n, v| {
                            fields.push((
                                String::from_utf8_lossy(&n).into_owned(),
                                String::from_utf8_lossy(&v).into_owned(),
                            ))
                        })
                        .expect("response header block decodes");
                    if got_head {
                        r.trailers = fields;
                    } else {
                        for (n, v) in fields {
                            if n == ":status" {
                                r.status = v.parse().unwrap_or(0);
                            } else {
                                r.headers.push((n, v));
                            }
                        }
                        if (100..200).contains(&r.status) {
                            // An interim response: the final one follows.
                            r.interim.push(r.status);
                            r.headers.clear();
                            continue;
                        }
                        got_head = true;
                    }
                    if f.has(END_STREAM) {
                        return r;
                    }
                }
                DATA => {
                    r.body.extend_from_slice(&f.payload);
                    if !f.payload.is_empty() {
                        let n = f.payload.len() as u32;
                        self.send(&window_update(0, n)).await;
                        if !f.has(END_STREAM) {
                            self.send(&window_update(stream, n)).await;
                        }
                    }
                    if f.has(END_STREAM) {
                        return r;
                    }
                }
                RST_STREAM => panic!("stream {stream} reset: {:?}", f.error_code()),
                _ => {}
            }
        }
    }

    /// Sends a GET for `path` on `stream` and reads the response.
    pub async fn get(&mut self, stream: u32, path: &str) -> Response {
        self.send(&headers(stream, END_HEADERS | END_STREAM, &get_block(path)))
            .await;
        self.response(stream).await
    }
}
