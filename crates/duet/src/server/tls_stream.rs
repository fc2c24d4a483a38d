//! A TLS connection that holds no buffer while idle: rustls's unbuffered
//! server API, with the connection owning its input and output bytes.
//!
//! rustls's buffered `ServerConnection` keeps a 4 KiB receive buffer for
//! the life of the connection (it is resized before every read and never
//! freed). Here a read goes through a stack array: whole records are
//! decrypted where they landed, and only the bytes of a record still
//! arriving are copied to the heap. Decrypted bytes are kept only until
//! the reader takes them, and the send buffer only until the connection
//! waits for its peer.

use std::cell::RefCell;
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, BytesMut};
use rustls::server::UnbufferedServerConnection;
use rustls::unbuffered::{ConnectionState, EncodeError, EncryptError, UnbufferedStatus};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::proto::http::spares;

/// One read from the socket: a whole TLS record (RFC 8446 §5.2: at most
/// 2^14 + 256 octets of ciphertext after the 5-octet header) fits.
const READ_ROOM: usize = 16 * 1024 + 256 + 5;

/// Encrypted bytes held for the socket before a write waits (what rustls's
/// buffered connection holds by default).
const MAX_UNSENT: usize = 64 * 1024;

/// Plaintext encrypted per call: one full record (RFC 8446 §5.1).
const RECORD_PLAINTEXT: usize = 16 * 1024;

/// A slice of a vectored write shorter than this is copied together with
/// its short neighbours into one record; a longer one is encrypted from
/// where it lies (a record of its own costs about 22 octets and one AEAD
/// call, a copy of the slice about as much as the copy rustls makes).
const GATHER_BELOW: usize = 2048;

/// Where [`TlsStream::process`] stopped.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Stop {
    /// The records at hand are used up; more input is needed.
    NeedInput,
    /// Both sides have sent close_notify.
    Closed,
}

/// A server-side TLS connection over a byte stream (a TCP stream).
pub(crate) struct TlsStream<IO> {
    io: IO,
    conn: UnbufferedServerConnection,
    /// Received bytes not yet used: the start of a record still arriving
    /// (and, during a handshake message split across records, the records
    /// rustls asked to keep).
    incoming: BytesMut,
    /// Decrypted bytes the reader has not taken; `plain_at` of them are.
    plain: Vec<u8>,
    plain_at: usize,
    /// Encrypted bytes for the socket.
    outgoing: Outgoing,
    /// The peer's input has ended (close_notify, or the TCP stream's end).
    peer_closed: bool,
    /// Our close_notify is queued.
    close_queued: bool,
    /// rustls refused the input: the connection is over (rustls must not
    /// be given the same input again).
    failed: bool,
}

impl<IO: AsyncRead + AsyncWrite + Unpin> TlsStream<IO> {
    /// A connection whose first bytes (the ClientHello, already read from
    /// `io`) are `received`.
    pub(crate) fn new(io: IO, conn: UnbufferedServerConnection, received: Vec<u8>) -> Self {
        TlsStream {
            io,
            conn,
            incoming: BytesMut::from(&received[..]),
            plain: Vec::new(),
            plain_at: 0,
            outgoing: Outgoing::default(),
            peer_closed: false,
            close_queued: false,
            failed: false,
        }
    }

    /// The rustls connection (negotiated version, ALPN).
    pub(crate) fn conn(&self) -> &UnbufferedServerConnection {
        &self.conn
    }

    /// Completes the handshake: processes what was received, sends each
    /// flight, reads until rustls no longer handshakes. Application data
    /// that came with the client's last flight stays for the first read.
    pub(crate) async fn handshake(&mut self) -> io::Result<()> {
        std::future::poll_fn(|cx| self.poll_handshake(cx)).await
    }

    fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            if self.failed {
                return Poll::Ready(Err(refused("the TLS connection failed earlier")));
            }
            let stop = self.process_held(&[], false);
            let sent = self.poll_send(cx);
            if let Poll::Ready(Err(e)) = sent {
                return Poll::Ready(Err(e));
            }
            // On an error, the alert is sent if the socket takes it now.
            if stop? == Stop::Closed {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "TLS closed during the handshake",
                )));
            }
            ready!(sent)?;
            if !self.conn.is_handshaking() {
                return Poll::Ready(Ok(()));
            }
            if !ready!(self.poll_receive(cx, None))? {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "closed during the TLS handshake",
                )));
            }
        }
    }

    /// Reads once from the socket and processes what came; `Ok(false)` at
    /// the end of the TCP stream. Decrypted bytes go to `direct` first
    /// (when given), the rest to `plain`.
    fn poll_receive(
        &mut self,
        cx: &mut Context<'_>,
        direct: Option<&mut ReadBuf<'_>>,
    ) -> Poll<io::Result<bool>> {
        let mut room = [MaybeUninit::<u8>::uninit(); READ_ROOM];
        let mut rb = ReadBuf::uninit(&mut room);
        if Pin::new(&mut self.io).poll_read(cx, &mut rb)?.is_pending() {
            // Waiting for the peer: the send buffer goes until it is needed.
            self.outgoing.release();
            return Poll::Pending;
        }
        if rb.filled().is_empty() {
            if !self.incoming.is_empty() {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the TCP stream ended inside a TLS record",
                )));
            }
            return Poll::Ready(Ok(false));
        }
        let stop = if self.incoming.is_empty() {
            // Whole records are used where they landed; only the rest is
            // kept (RFC 8446 §5.1: a record may span reads).
            let arrived = rb.filled_mut();
            let (used, stop) = self.process(arrived, &[], false, direct);
            self.incoming
                .extend_from_slice(arrived.get(used..).unwrap_or_default());
            stop
        } else {
            self.incoming.extend_from_slice(rb.filled());
            self.process_held_into(&[], false, direct)
        };
        if let Err(e) = stop {
            // The alert rustls queued, if the socket takes it now.
            let _ = self.poll_send(cx);
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(true))
    }

    /// [`Self::process`] over the held input.
    fn process_held(&mut self, app: &[u8], close: bool) -> io::Result<Stop> {
        self.process_held_into(app, close, None)
    }

    fn process_held_into(
        &mut self,
        app: &[u8],
        close: bool,
        direct: Option<&mut ReadBuf<'_>>,
    ) -> io::Result<Stop> {
        let mut held = std::mem::take(&mut self.incoming);
        let (used, stop) = self.process(&mut held, app, close, direct);
        held.advance(used);
        if !held.is_empty() {
            self.incoming = held;
        }
        stop
    }

    /// Runs rustls over `input` until it needs more: decrypts records
    /// (into `direct`, then `plain`), queues handshake messages and
    /// alerts, encrypts `app` (and a close_notify when `close`) once
    /// application data may be sent. Returns how many bytes of `input`
    /// were used (to drop from its front) and where it stopped.
    fn process(
        &mut self,
        input: &mut [u8],
        mut app: &[u8],
        mut close: bool,
        mut direct: Option<&mut ReadBuf<'_>>,
    ) -> (usize, io::Result<Stop>) {
        if self.failed {
            return (
                input.len(),
                Err(refused("the TLS connection failed earlier")),
            );
        }
        let mut used = 0;
        loop {
            let rest = input.get_mut(used..).unwrap_or_default();
            let UnbufferedStatus { discard, state } = self.conn.process_tls_records(rest);
            let mut discard = discard;
            let state = match state {
                Ok(state) => state,
                Err(e) => return (input.len(), Err(self.fail(e))),
            };
            let stop = match state {
                ConnectionState::ReadTraffic(mut records) => {
                    while let Some(record) = records.next_record() {
                        match record {
                            Ok(record) => {
                                discard += record.discard;
                                deliver(&mut direct, &mut self.plain, record.payload);
                            }
                            Err(e) => return (input.len(), Err(self.fail(e))),
                        }
                    }
                    None
                }
                ConnectionState::EncodeTlsData(mut message) => {
                    if let Err(e) = self
                        .outgoing
                        .append(512, |out| encoded(message.encode(out)))
                    {
                        return (used + discard, Err(e));
                    }
                    None
                }
                // Sent by the next `poll_send`, before anything queued later.
                ConnectionState::TransmitTlsData(queued) => {
                    queued.done();
                    None
                }
                ConnectionState::PeerClosed => {
                    self.peer_closed = true;
                    None
                }
                ConnectionState::Closed => {
                    self.peer_closed = true;
                    Some(Stop::Closed)
                }
                ConnectionState::BlockedHandshake => Some(Stop::NeedInput),
                ConnectionState::WriteTraffic(mut traffic) => {
                    while !app.is_empty() {
                        let (now, later) = app.split_at(app.len().min(RECORD_PLAINTEXT));
                        let hint = now.len() + RECORD_OVERHEAD;
                        if let Err(e) = self
                            .outgoing
                            .append(hint, |out| encrypted(traffic.encrypt(now, out)))
                        {
                            return (used + discard, Err(e));
                        }
                        app = later;
                    }
                    if close {
                        close = false;
                        if let Err(e) = self.outgoing.append(RECORD_OVERHEAD, |out| {
                            encrypted(traffic.queue_close_notify(out))
                        }) {
                            return (used + discard, Err(e));
                        }
                    }
                    Some(Stop::NeedInput)
                }
                // 0-RTT is never offered (`max_early_data_size` stays 0),
                // and later states are not ones this server asks for.
                _ => {
                    self.failed = true;
                    return (input.len(), Err(refused("unexpected TLS connection state")));
                }
            };
            used += discard;
            if let Some(stop) = stop {
                if !app.is_empty() || close {
                    // Application data may not be sent yet (a handshake
                    // still runs): callers only write after it.
                    return (
                        used,
                        Err(io::Error::new(
                            io::ErrorKind::NotConnected,
                            "TLS handshake not complete",
                        )),
                    );
                }
                return (used, Ok(stop));
            }
        }
    }

    /// Ends the connection on rustls's error: queues the alert it
    /// prepared (RFC 8446 §6.2) and drops the input. rustls is given no
    /// input again (the record that failed would fail twice, and rustls
    /// sends one fatal alert at most).
    fn fail(&mut self, e: rustls::Error) -> io::Error {
        self.failed = true;
        for _ in 0..4 {
            let UnbufferedStatus { state, .. } = self.conn.process_tls_records(&mut []);
            match state {
                Ok(ConnectionState::EncodeTlsData(mut message)) => {
                    let _ = self
                        .outgoing
                        .append(RECORD_OVERHEAD, |out| encoded(message.encode(out)));
                }
                Ok(ConnectionState::TransmitTlsData(queued)) => queued.done(),
                _ => break,
            }
        }
        refused(e)
    }

    /// Writes the queued encrypted bytes; ready once all are written.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.outgoing.poll_send(&mut self.io, cx)
    }

    /// Encrypts up to [`MAX_UNSENT`] bytes of `bufs` while less than that
    /// waits for the socket, then writes what the socket takes.
    fn poll_write_slices(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if total == 0 {
            return Poll::Ready(Ok(0));
        }
        if self.failed {
            return Poll::Ready(Err(refused("the TLS connection failed earlier")));
        }
        if self.close_queued {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        if let Poll::Ready(Err(e)) = self.poll_send(cx) {
            return Poll::Ready(Err(e));
        }
        if self.outgoing.queued() >= MAX_UNSENT {
            // `poll_send` met a full socket: woken when it drains.
            return Poll::Pending;
        }
        // Whole records, not the room left: the queue holds at most twice
        // the limit.
        let take = total.min(MAX_UNSENT);
        self.outgoing.reserve_for(take);
        // rustls encrypts one slice at a time: a long slice is encrypted
        // where it lies, runs of short ones (an HTTP/2 frame head, a
        // chunk-size line, small frames) are gathered into one record.
        let mut gather = std::mem::take(&mut self.outgoing.gather);
        let mut left = take;
        for b in bufs {
            if left == 0 {
                break;
            }
            let piece = b.get(..left.min(b.len())).unwrap_or_default();
            left -= piece.len();
            if piece.len() < GATHER_BELOW {
                gather.extend_from_slice(piece);
                continue;
            }
            if !gather.is_empty() {
                self.process_held(&gather, false)?;
                gather.clear();
            }
            self.process_held(piece, false)?;
        }
        if !gather.is_empty() {
            self.process_held(&gather, false)?;
            gather.clear();
        }
        self.outgoing.gather = gather;
        if let Poll::Ready(Err(e)) = self.poll_send(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(take))
    }
}

fn refused(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// An encoding's outcome for [`Outgoing::append`]: the room it needs when
/// the buffer was too small.
fn encoded(r: Result<usize, EncodeError>) -> Result<usize, Option<usize>> {
    match r {
        Ok(n) => Ok(n),
        Err(EncodeError::InsufficientSize(s)) => Err(Some(s.required_size)),
        Err(_) => Err(None),
    }
}

/// An encryption's outcome for [`Outgoing::append`], as [`encoded`].
fn encrypted(r: Result<usize, EncryptError>) -> Result<usize, Option<usize>> {
    match r {
        Ok(n) => Ok(n),
        Err(EncryptError::InsufficientSize(s)) => Err(Some(s.required_size)),
        Err(_) => Err(None),
    }
}

/// Hands decrypted bytes to the reader's buffer, keeping what it has no
/// room for (or everything, when earlier bytes are kept already).
fn deliver(direct: &mut Option<&mut ReadBuf<'_>>, plain: &mut Vec<u8>, payload: &[u8]) {
    let mut payload = payload;
    if plain.is_empty() {
        if let Some(rb) = direct.as_deref_mut() {
            let n = payload.len().min(rb.remaining());
            let (now, later) = payload.split_at(n);
            rb.put_slice(now);
            payload = later;
        }
    }
    plain.extend_from_slice(payload);
}

/// Encrypted bytes on their way to the socket. The buffer is kept while
/// the connection is busy (a bulk response reuses it, and its bytes need no
/// fresh zeroing) and freed when the connection waits for its peer.
#[derive(Default)]
struct Outgoing {
    /// Initialised bytes: `sent..end` are queued, the rest is room.
    buf: Vec<u8>,
    end: usize,
    sent: usize,
    /// Short plaintext slices gathered into one record (empty between
    /// writes; its room is kept like `buf`'s).
    gather: Vec<u8>,
}

/// Room for one record's header, content type and tag (RFC 8446 §5.2:
/// 5 + 1 + 16 octets; TLS 1.2's AES-GCM adds an 8-octet explicit nonce
/// instead of the content type), with margin.
const RECORD_OVERHEAD: usize = 64;

/// Send buffers kept per thread: a connection that waits for its peer
/// holds none, and one that writes again (a bulk response between reads of
/// its peer's WINDOW_UPDATEs, the next response on a busy connection)
/// takes one back without allocating and zeroing a fresh one.
const MAX_SPARES: usize = 4;

/// A larger send buffer is freed, not kept (a write queues at most twice
/// [`MAX_UNSENT`], plus records' overhead).
const MAX_SPARE: usize = 4 * MAX_UNSENT;

thread_local! {
    static SEND_BUFFERS: spares::Pool<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl Outgoing {
    fn queued(&self) -> usize {
        self.end - self.sent
    }

    /// Takes the thread's spare buffer when this one holds none: its
    /// bytes are initialised already, so encrypting into it needs no
    /// zeroing first.
    fn adopt_spare(&mut self) {
        if self.buf.capacity() == 0 {
            if let Some(spare) = spares::take(&SEND_BUFFERS) {
                self.buf = spare;
            }
        }
    }

    /// Makes room for `plaintext` octets encrypted, in one allocation.
    fn reserve_for(&mut self, plaintext: usize) {
        self.adopt_spare();
        let records = plaintext / RECORD_PLAINTEXT + 1;
        let need = self.end + plaintext + records * RECORD_OVERHEAD;
        if need > self.buf.len() {
            self.buf.reserve_exact(need - self.buf.len());
        }
    }

    /// Appends what `encode` writes, growing the room to what it asks for
    /// (`Err(Some(size))`) and retrying once; `Err(None)` is a failure.
    fn append(
        &mut self,
        hint: usize,
        mut encode: impl FnMut(&mut [u8]) -> Result<usize, Option<usize>>,
    ) -> io::Result<()> {
        self.adopt_spare();
        let mut room = hint;
        for _ in 0..2 {
            if self.buf.len() < self.end + room {
                self.buf.resize(self.end + room, 0);
            }
            let out = self.buf.get_mut(self.end..).unwrap_or_default();
            match encode(out) {
                Ok(n) => {
                    self.end += n;
                    return Ok(());
                }
                Err(Some(need)) if need > room => room = need,
                Err(_) => break,
            }
        }
        Err(io::Error::other("TLS encoding failed"))
    }

    /// Writes the queue to `io`; ready once all of it is written.
    fn poll_send<IO: AsyncWrite + Unpin>(
        &mut self,
        io: &mut IO,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        while let Some(rest) = self.buf.get(self.sent..self.end).filter(|r| !r.is_empty()) {
            let n = ready!(Pin::new(&mut *io).poll_write(cx, rest))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.sent = 0;
        self.end = 0;
        Poll::Ready(Ok(()))
    }

    /// Gives up the buffers when nothing is queued: the send buffer
    /// becomes the thread's spare (it holds only ciphertext that was sent),
    /// the gathered plaintext's room is freed.
    fn release(&mut self) {
        if self.end == 0 {
            let buf = std::mem::take(&mut self.buf);
            if buf.capacity() > 0 && buf.capacity() <= MAX_SPARE {
                spares::keep(&SEND_BUFFERS, buf, MAX_SPARES);
            }
            self.gather = Vec::new();
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for TlsStream<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.failed {
            return Poll::Ready(Err(refused("the TLS connection failed earlier")));
        }
        loop {
            if this.plain_at < this.plain.len() {
                let rest = this.plain.get(this.plain_at..).unwrap_or_default();
                let n = rest.len().min(buf.remaining());
                buf.put_slice(rest.get(..n).unwrap_or_default());
                this.plain_at += n;
                if this.plain_at == this.plain.len() {
                    this.plain = Vec::new();
                    this.plain_at = 0;
                }
                return Poll::Ready(Ok(()));
            }
            if this.peer_closed {
                return Poll::Ready(Ok(()));
            }
            // An answer rustls queued while reading (a KeyUpdate's, RFC
            // 8446 §4.6.3) goes out with the next read or write.
            if let Poll::Ready(Err(e)) = this.poll_send(cx) {
                return Poll::Ready(Err(e));
            }
            let before = buf.filled().len();
            if !ready!(this.poll_receive(cx, Some(&mut *buf)))? {
                // The TCP stream ended without close_notify: the end of
                // input all the same (HTTP's own framing tells a cut
                // message).
                this.peer_closed = true;
                return Poll::Ready(Ok(()));
            }
            if buf.filled().len() > before {
                return Poll::Ready(Ok(()));
            }
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TlsStream<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .poll_write_slices(cx, &[io::IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_slices(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_send(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    /// Sends close_notify (RFC 8446 §6.1), then ends the TCP stream's
    /// sending side.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.close_queued {
            this.close_queued = true;
            this.process_held(&[], true)?;
        }
        ready!(this.poll_send(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
    use rustls::{ClientConfig, RootCertStore, ServerConfig};
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    use super::*;
    use crate::config::tls::provider;

    /// A server config for `localhost` and a client config that trusts it,
    /// offering `versions`; TLS 1.3 session tickets only when `tickets`.
    fn configs(
        versions: &[&'static rustls::SupportedProtocolVersion],
        tickets: bool,
    ) -> (Arc<ServerConfig>, Arc<ClientConfig>) {
        let g = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
        let cert = CertificateDer::from(g.cert.der().to_vec());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(g.key_pair.serialize_der()));
        let mut server = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(versions)
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(vec![cert.clone()], key)
            .expect("server config");
        if !tickets {
            server.send_tls13_tickets = 0;
        }
        let mut roots = RootCertStore::empty();
        roots.add(cert).expect("root");
        let client = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(versions)
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        (Arc::new(server), Arc::new(client))
    }

    /// A connected pair over a pipe that carries at most `pipe` bytes at a
    /// time, so every TLS record reaches the server in pieces. The server's
    /// handshake ends when its last flight is written; the client reads
    /// nothing after its own ends, so the session tickets a TLS 1.3 server
    /// sends then must fit in the pipe (none are sent through a tiny one).
    async fn pair(
        versions: &[&'static rustls::SupportedProtocolVersion],
        pipe: usize,
    ) -> (
        TlsStream<DuplexStream>,
        tokio_rustls::client::TlsStream<DuplexStream>,
    ) {
        let (server_config, client_config) = configs(versions, pipe >= 512);
        let (client_io, server_io) = tokio::io::duplex(pipe);
        let conn = UnbufferedServerConnection::new(server_config).expect("server conn");
        let mut server = TlsStream::new(server_io, conn, Vec::new());
        let connector = tokio_rustls::TlsConnector::from(client_config);
        let name = ServerName::try_from("localhost").expect("name");
        let (done, client) = tokio::join!(server.handshake(), connector.connect(name, client_io));
        done.expect("server handshake");
        (server, client.expect("client handshake"))
    }

    /// Bytes that say where they are (a shifted record would show).
    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8 ^ seed).collect()
    }

    fn holds_no_buffer(s: &TlsStream<DuplexStream>) -> bool {
        s.incoming.capacity() == 0
            && s.plain.capacity() == 0
            && s.outgoing.buf.capacity() == 0
            && s.outgoing.gather.capacity() == 0
    }

    /// Whether a read of `s` waits (nothing more was sent) and the
    /// connection then holds no buffer.
    async fn waits_holding_nothing(s: &mut TlsStream<DuplexStream>) -> bool {
        let mut one = [0u8; 1];
        let mut rb = ReadBuf::new(&mut one);
        let waits = std::future::poll_fn(|cx| {
            Poll::Ready(Pin::new(&mut *s).poll_read(cx, &mut rb).is_pending())
        })
        .await;
        waits && holds_no_buffer(s)
    }

    /// `up` and `down` bytes each way through a pipe of `pipe` bytes.
    async fn exchange_both_ways(
        versions: &[&'static rustls::SupportedProtocolVersion],
        pipe: usize,
        up: usize,
        down: usize,
    ) {
        let (mut server, mut client) = pair(versions, pipe).await;
        let up = pattern(up, 0x5a);
        let down = pattern(down, 0xa5);
        let send_up = async {
            client.write_all(&up).await.expect("client write");
            client.flush().await.expect("client flush");
            let mut got = vec![0; down.len()];
            client.read_exact(&mut got).await.expect("client read");
            (client, got)
        };
        let serve = async {
            let mut got = vec![0; up.len()];
            server.read_exact(&mut got).await.expect("server read");
            server.write_all(&down).await.expect("server write");
            server.flush().await.expect("server flush");
            got
        };
        let ((mut client, client_got), server_got) = tokio::join!(send_up, serve);
        assert!(server_got == up, "the server read what the client sent");
        assert!(client_got == down, "the client read what the server sent");
        // Waiting for the client's next message, the connection holds no
        // buffer.
        assert!(waits_holding_nothing(&mut server).await);

        // close_notify each way (RFC 8446 §6.1): the client's ends the
        // server's input; the server's is a clean end for the client.
        let client_side = async {
            client.shutdown().await.expect("client close");
            let mut rest = Vec::new();
            client
                .read_to_end(&mut rest)
                .await
                .expect("the client sees close_notify, not a cut stream");
            rest
        };
        let server_side = async {
            let mut rest = Vec::new();
            server
                .read_to_end(&mut rest)
                .await
                .expect("server reads to the end");
            server.shutdown().await.expect("server close");
            rest
        };
        let (client_rest, server_rest) = tokio::join!(client_side, server_side);
        assert!(client_rest.is_empty() && server_rest.is_empty());
    }

    // Every handshake message and record arrives in pieces: seven bytes
    // at a time (headers split too), then 997 at a time for several full
    // records (16 KiB of plaintext each) each way.

    #[tokio::test]
    async fn records_split_across_reads_arrive_whole_on_tls13() {
        exchange_both_ways(&[&rustls::version::TLS13], 7, 3_000, 5_000).await;
        exchange_both_ways(&[&rustls::version::TLS13], 997, 40_000, 100_000).await;
    }

    #[tokio::test]
    async fn records_split_across_reads_arrive_whole_on_tls12() {
        exchange_both_ways(&[&rustls::version::TLS12], 7, 3_000, 5_000).await;
        exchange_both_ways(&[&rustls::version::TLS12], 997, 40_000, 100_000).await;
    }

    /// A vectored write as the HTTP/2 driver makes them: frame heads and
    /// small frames (gathered into records) between long payloads
    /// (encrypted where they lie), more than one write takes.
    #[tokio::test]
    async fn vectored_writes_of_short_and_long_slices_arrive_in_order() {
        for versions in [&[&rustls::version::TLS13], &[&rustls::version::TLS12]] {
            let (mut server, mut client) = pair(versions, 64 * 1024).await;
            let lens = [9, 16_384, 9, 16_384, 9, 3, 40, 2_047, 2_048, 1, 70_000, 5];
            let parts: Vec<Vec<u8>> = lens
                .iter()
                .enumerate()
                .map(|(i, &len)| pattern(len, i as u8))
                .collect();
            let want = parts.concat();
            let serve = async {
                let mut slices: Vec<io::IoSlice<'_>> =
                    parts.iter().map(|p| io::IoSlice::new(p)).collect();
                let mut slices = &mut slices[..];
                let mut writes = 0;
                while !slices.is_empty() {
                    let n = server.write_vectored(slices).await.expect("server write");
                    assert!(n > 0, "a write takes bytes");
                    io::IoSlice::advance_slices(&mut slices, n);
                    writes += 1;
                }
                server.flush().await.expect("server flush");
                writes
            };
            let receive = async {
                let mut got = vec![0; want.len()];
                client.read_exact(&mut got).await.expect("client read");
                got
            };
            let (writes, got) = tokio::join!(serve, receive);
            assert!(writes > 1, "{writes} write(s): more than one write takes");
            assert!(got == want, "the client read the slices in order");

            // Waiting for the client, the connection holds no buffer; the
            // send buffer is the thread's spare, taken back by the next
            // write (already initialised: no zeroing).
            assert!(waits_holding_nothing(&mut server).await);
            let spare = spares::take(&SEND_BUFFERS).expect("the send buffer is kept");
            let spare_len = spare.len();
            spares::keep(&SEND_BUFFERS, spare, MAX_SPARES);
            server.write_all(b"again").await.expect("server write");
            assert!(
                server.outgoing.buf.len() == spare_len,
                "the spare is reused"
            );
            server.flush().await.expect("server flush");
            let mut again = [0u8; 5];
            client.read_exact(&mut again).await.expect("client read");
            assert!(&again == b"again");
        }
    }

    #[tokio::test]
    async fn a_key_update_from_the_client_is_followed() {
        let (mut server, mut client) = pair(&[&rustls::version::TLS13], 64 * 1024).await;
        for round in 0..3u8 {
            // RFC 8446 §4.6.3: new keys for what the client sends next.
            client
                .get_mut()
                .1
                .refresh_traffic_keys()
                .expect("key update");
            let msg = pattern(5_000, round);
            client.write_all(&msg).await.expect("client write");
            client.flush().await.expect("client flush");
            let mut got = vec![0; msg.len()];
            server.read_exact(&mut got).await.expect("server read");
            assert!(got == msg, "round {round}: read under the new keys");
            server.write_all(&msg).await.expect("server write");
            server.flush().await.expect("server flush");
            let mut back = vec![0; msg.len()];
            client.read_exact(&mut back).await.expect("client read");
            assert!(back == msg, "round {round}: answered");
        }
    }

    #[tokio::test]
    async fn a_malformed_flight_ends_the_handshake_with_an_error() {
        let (server_config, client_config) = configs(&[&rustls::version::TLS13], true);
        let name = ServerName::try_from("localhost").expect("name");
        let mut client = rustls::ClientConnection::new(client_config, name).expect("client conn");
        let mut hello = Vec::new();
        client.write_tls(&mut hello).expect("client hello");
        let (mut raw, server_io) = tokio::io::duplex(64 * 1024);
        let conn = UnbufferedServerConnection::new(server_config).expect("server conn");
        let mut server = TlsStream::new(server_io, conn, hello);
        // In place of the client's second flight: a handshake record
        // (RFC 8446 §5.1) holding no valid message, then more after it.
        raw.write_all(&[22, 3, 3, 0, 4, 0xee, 0, 0, 0, 22, 3, 3, 0, 1, 0])
            .await
            .expect("write");
        let err = server.handshake().await.expect_err("refused");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
        // The connection stays refused, without feeding rustls again.
        let mut buf = [0u8; 8];
        let again = server.read(&mut buf).await.expect_err("still refused");
        assert_eq!(again.kind(), io::ErrorKind::InvalidData);
    }

    #[tokio::test]
    async fn a_corrupted_record_is_refused_with_an_error() {
        let (mut server, client) = pair(&[&rustls::version::TLS13], 64 * 1024).await;
        let (mut raw, mut tls) = client.into_inner();
        // An application-data record (RFC 8446 §5.2) whose ciphertext no
        // key opens.
        let mut record = vec![23, 3, 3, 0, 40];
        record.extend_from_slice(&[0x42; 40]);
        raw.write_all(&record).await.expect("write");
        let mut buf = [0u8; 64];
        let err = server.read(&mut buf).await.expect_err("refused");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        // The alert rustls prepared reached the client: bad_record_mac
        // (RFC 8446 §5.2, §6.2).
        let mut sent = vec![0u8; 256];
        let n = raw.read(&mut sent).await.expect("alert");
        tls.read_tls(&mut sent.get(..n).unwrap_or_default())
            .expect("take");
        let alert = tls.process_new_packets().expect_err("an alert");
        assert!(
            matches!(
                alert,
                rustls::Error::AlertReceived(rustls::AlertDescription::BadRecordMac)
            ),
            "{alert:?}"
        );
    }
}
