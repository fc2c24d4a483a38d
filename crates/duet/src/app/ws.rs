//! WebSocket (RFC 6455) on HTTP/1.1, and on HTTP/2 by extended CONNECT
//! (RFC 8441): the handshake here, the framing from tungstenite's protocol
//! layer over duet's [`Upgraded`] stream.
//!
//! ```no_run
//! use duet::ws::{Message, WebSocket, WebSocketUpgrade};
//! use duet::{ConnContext, Server};
//!
//! async fn ws(ws: WebSocketUpgrade, conn: ConnContext) -> duet::Response {
//!     tracing::info!("WebSocket over {}", conn.protocol()); // http/1.1, h2c or h2
//!     ws.protocols(["chat"]).on_upgrade(echo)
//! }
//!
//! async fn echo(mut socket: WebSocket) {
//!     while let Some(Ok(msg)) = socket.recv().await {
//!         if matches!(msg, Message::Text(_) | Message::Binary(_)) && socket.send(msg).await.is_err() {
//!             break;
//!         }
//!     }
//! }
//!
//! let mut server = Server::bind(8080);
//! server.get("/ws", ws); // an HTTP/2 extended CONNECT reaches the GET route too
//! ```
//!
//! The handshake (RFC 6455 §4.2.1, §4.2.2; RFC 8441 §5) is checked by the
//! extractor, each failure answered in the one answer format:
//!
//! | what is wrong | answer |
//! |---|---|
//! | not a WebSocket request (no `Upgrade`; on HTTP/2 not a CONNECT) | 426, `Upgrade: websocket` |
//! | HTTP/1.1 method other than GET | 405, `Allow: GET` |
//! | `Upgrade` without `websocket`, `Connection` without `upgrade`, `:protocol` other than `websocket` | 400 |
//! | `Sec-WebSocket-Version` other than 13 (or missing) | 426, `Sec-WebSocket-Version: 13` |
//! | `Sec-WebSocket-Key` missing or not 16 bytes in base64 (HTTP/1.1) | 400 |
//! | the connection cannot be upgraded (a handshake with content) | 400 |
//!
//! Limits (tungstenite's): a message or frame over its size is answered
//! with close 1009, a protocol violation (an unmasked client frame, a bad
//! opcode) with 1002, invalid UTF-8 in a text message with 1007, and the
//! connection is then closed. Pings are answered by the protocol layer.
//! Graceful shutdown closes every socket with 1001 (going away) at its
//! next `recv` or `send`. A `send` that a peer does not read for
//! `send_timeout` fails and closes the connection.
//!
//! `Message`, `CloseFrame`, `CloseCode`, `Utf8Bytes` and `Error` are
//! tungstenite's.

use std::borrow::Cow;
use std::future::Future;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use http::header::{
    CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL,
    SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::{HeaderValue, Method, StatusCode, Version};
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::WebSocketStream;
use tungstenite::protocol::{Role, WebSocketConfig};

pub use tungstenite::protocol::frame::coding::CloseCode;
pub use tungstenite::protocol::CloseFrame;
pub use tungstenite::{Error, Message, Utf8Bytes};

use super::extract::{FromRequestParts, RequestHead};
use super::response::{IntoResponse, Response};
use super::upgrade::{ShutdownSignal, Upgrade, Upgraded};

/// Default [`WebSocketUpgrade::max_message_size`]: 1 MiB.
pub const DEFAULT_MAX_MESSAGE: usize = 1 << 20;
/// Default [`WebSocketUpgrade::max_frame_size`]: 1 MiB.
pub const DEFAULT_MAX_FRAME: usize = 1 << 20;
/// Default [`WebSocketUpgrade::send_timeout`]: 30 s.
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// The read buffer a socket starts with (it grows to the frame being
/// read): small, so that idle sockets cost little.
const READ_BUFFER: usize = 8 * 1024;
/// Time a failing socket's close frame may take before it is cut.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Why a WebSocket handshake was refused; answered with its status.
#[derive(Debug, Clone)]
pub struct HandshakeError {
    status: StatusCode,
    reason: &'static str,
    header: Option<(http::HeaderName, &'static str)>,
}

impl HandshakeError {
    fn new(status: StatusCode, reason: &'static str) -> Self {
        HandshakeError {
            status,
            reason,
            header: None,
        }
    }

    fn with(mut self, name: http::HeaderName, value: &'static str) -> Self {
        self.header = Some((name, value));
        self
    }

    /// The status answered.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Why.
    pub fn reason(&self) -> &str {
        self.reason
    }
}

impl std::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status, self.reason)
    }
}

impl std::error::Error for HandshakeError {}

impl IntoResponse for HandshakeError {
    fn into_response(self) -> Response {
        let r = Response::error(self.status, self.reason);
        match self.header {
            Some((name, value)) => r.insert_header(name, value),
            None => r,
        }
    }
}

/// A WebSocket handshake, as an extractor: checked, waiting for the
/// handler to accept it with [`on_upgrade`](Self::on_upgrade). On HTTP/1.1
/// it is a GET with `Upgrade: websocket`; on HTTP/2 an extended CONNECT
/// with `:protocol = websocket` — which the router sends to the GET route
/// of its path, so one route serves both.
#[derive(Debug)]
pub struct WebSocketUpgrade {
    upgrade: Upgrade,
    /// `Sec-WebSocket-Accept` (HTTP/1.1 only).
    accept: Option<HeaderValue>,
    /// The client's `Sec-WebSocket-Protocol` values, in order.
    offered: Vec<HeaderValue>,
    selected: Option<HeaderValue>,
    max_message: usize,
    max_frame: usize,
    send_timeout: Duration,
}

fn has_token(values: http::header::GetAll<'_, HeaderValue>, token: &[u8]) -> bool {
    values.iter().any(|v| {
        v.as_bytes()
            .split(|&b| b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
    })
}

/// RFC 6455 §4.2.1 item 5: a base64-encoded 16-byte value — 22 characters
/// of the alphabet (the last carrying 2 bits) and `==`.
fn valid_key(key: &[u8]) -> bool {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let (Some(body), Some(pad)) = (key.get(..22), key.get(22..)) else {
        return false;
    };
    let index = |c: &u8| ALPHABET.iter().position(|a| a == c);
    pad == b"=="
        && body.iter().all(|c| index(c).is_some())
        && body.last().and_then(index).is_some_and(|i| i & 0x0f == 0)
}

impl FromRequestParts for WebSocketUpgrade {
    type Rejection = HandshakeError;

    async fn from_request_parts(head: &RequestHead) -> Result<Self, HandshakeError> {
        let p = &head.ctx.parts;
        let h = &p.headers;
        let not_websocket = || {
            HandshakeError::new(
                StatusCode::UPGRADE_REQUIRED,
                "this resource speaks WebSocket",
            )
            .with(UPGRADE, "websocket")
        };
        let mut accept = None;
        if p.version == Version::HTTP_2 {
            // RFC 8441 §4, §5: an extended CONNECT with :protocol websocket.
            if p.method != Method::CONNECT {
                return Err(not_websocket());
            }
            let protocol = p
                .extensions
                .get::<crate::proto::http::upgrade::ConnectProtocol>();
            if !protocol.is_some_and(|v| v.0.as_bytes().eq_ignore_ascii_case(b"websocket")) {
                return Err(HandshakeError::new(
                    StatusCode::BAD_REQUEST,
                    "extended CONNECT for another protocol than websocket",
                ));
            }
        } else {
            // RFC 6455 §4.2.1 item 1: an HTTP/1.1 GET.
            if !h.contains_key(UPGRADE) || p.version != Version::HTTP_11 {
                return Err(not_websocket());
            }
            if p.method != Method::GET {
                return Err(HandshakeError::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "a WebSocket handshake is a GET",
                )
                .with(http::header::ALLOW, "GET"));
            }
            // Items 3 and 4: the Upgrade and Connection tokens.
            if !has_token(h.get_all(UPGRADE), b"websocket") {
                return Err(HandshakeError::new(
                    StatusCode::BAD_REQUEST,
                    "Upgrade does not name websocket",
                ));
            }
            if !has_token(h.get_all(CONNECTION), b"upgrade") {
                return Err(HandshakeError::new(
                    StatusCode::BAD_REQUEST,
                    "Connection does not list upgrade",
                ));
            }
        }
        // RFC 6455 §4.2.1 item 6, §4.2.2 item 4 (RFC 8441 §5 too): version
        // 13, else 426 naming the version we speak.
        let mut versions = h.get_all(SEC_WEBSOCKET_VERSION).iter();
        let v13 = versions
            .next()
            .is_some_and(|v| v.as_bytes().trim_ascii() == b"13")
            && versions.next().is_none();
        if !v13 {
            return Err(HandshakeError::new(
                StatusCode::UPGRADE_REQUIRED,
                "unsupported Sec-WebSocket-Version",
            )
            .with(SEC_WEBSOCKET_VERSION, "13"));
        }
        if p.version != Version::HTTP_2 {
            // Item 5: one key of 16 bytes; §4.2.2: the accept value.
            let mut keys = h.get_all(SEC_WEBSOCKET_KEY).iter();
            let key = match (keys.next(), keys.next()) {
                (Some(k), None) if valid_key(k.as_bytes()) => k,
                _ => {
                    return Err(HandshakeError::new(
                        StatusCode::BAD_REQUEST,
                        "missing or invalid Sec-WebSocket-Key",
                    ))
                }
            };
            let derived = tungstenite::handshake::derive_accept_key(key.as_bytes());
            accept = HeaderValue::from_str(&derived).ok();
        }
        let upgrade = match Upgrade::from_request_parts(head).await {
            Ok(u) => u,
            Err(_) => {
                return Err(HandshakeError::new(
                    StatusCode::BAD_REQUEST,
                    "this request cannot be upgraded (a handshake has no content)",
                ))
            }
        };
        let offered = h
            .get_all(SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .flat_map(|v| v.as_bytes().split(|&b| b == b','))
            .filter_map(|t| HeaderValue::from_bytes(t.trim_ascii()).ok())
            .filter(|t| !t.is_empty())
            .collect();
        Ok(WebSocketUpgrade {
            upgrade,
            accept,
            offered,
            selected: None,
            max_message: DEFAULT_MAX_MESSAGE,
            max_frame: DEFAULT_MAX_FRAME,
            send_timeout: DEFAULT_SEND_TIMEOUT,
        })
    }
}

impl WebSocketUpgrade {
    /// The subprotocols the server speaks: the first one the client
    /// offers (in the client's order of preference, `Sec-WebSocket-Protocol`)
    /// that is among them is selected and sent back; none when there is no
    /// match (the client decides whether to go on without).
    pub fn protocols<I, S>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Cow<'static, str>>,
    {
        let ours: Vec<Cow<'static, str>> = protocols.into_iter().map(Into::into).collect();
        self.selected = self
            .offered
            .iter()
            .find(|o| ours.iter().any(|p| p.as_bytes() == o.as_bytes()))
            .cloned();
        self
    }

    /// The subprotocol selected by [`protocols`](Self::protocols), if any.
    pub fn selected_protocol(&self) -> Option<&str> {
        self.selected.as_ref().and_then(|p| p.to_str().ok())
    }

    /// The largest message accepted (default [`DEFAULT_MAX_MESSAGE`]); a
    /// larger one closes the socket with 1009.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message = bytes;
        self
    }

    /// The largest frame accepted (default [`DEFAULT_MAX_FRAME`]); a larger
    /// one closes the socket with 1009.
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame = bytes;
        self
    }

    /// How long a `send` may wait for a peer that does not read (default
    /// [`DEFAULT_SEND_TIMEOUT`]) before it fails and the connection is cut.
    pub fn send_timeout(mut self, timeout: Duration) -> Self {
        self.send_timeout = timeout;
        self
    }

    /// Accepts the handshake: returns the response (`101` on HTTP/1.1,
    /// `200` on HTTP/2) and runs `callback` with the socket once it is
    /// sent, in a task of its own.
    pub fn on_upgrade<F, Fut>(self, callback: F) -> Response
    where
        F: FnOnce(WebSocket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let WebSocketUpgrade {
            upgrade,
            accept,
            selected,
            max_message,
            max_frame,
            send_timeout,
            ..
        } = self;
        let h2 = upgrade.version() == Version::HTTP_2;
        let (mut response, on_upgrade) = upgrade.into_response_and_future();
        if !h2 {
            // RFC 6455 §4.2.2 item 5.
            response = response
                .insert_header(UPGRADE, HeaderValue::from_static("websocket"))
                .insert_header(CONNECTION, HeaderValue::from_static("upgrade"));
            if let Some(a) = accept {
                response = response.insert_header(SEC_WEBSOCKET_ACCEPT, a);
            }
        }
        if let Some(p) = &selected {
            response = response.insert_header(SEC_WEBSOCKET_PROTOCOL, p.clone());
        }
        let mut config = WebSocketConfig::default();
        config.read_buffer_size = READ_BUFFER;
        config.max_message_size = Some(max_message);
        config.max_frame_size = Some(max_frame);
        tokio::spawn(async move {
            let io = match on_upgrade.await {
                Ok(io) => io,
                Err(e) => {
                    tracing::debug!(target: "duet", "WebSocket upgrade did not happen: {e}");
                    return;
                }
            };
            let shutdown = io.shutdown_signal();
            let inner = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
            callback(WebSocket {
                inner,
                protocol: selected,
                shutdown,
                send_timeout,
                closing: false,
                done: false,
            })
            .await;
        });
        response
    }
}

/// An open WebSocket: [`recv`](Self::recv) and [`send`](Self::send)
/// messages. Pings are answered for you; a close from the peer is
/// answered and then ends [`recv`](Self::recv).
pub struct WebSocket {
    inner: WebSocketStream<Upgraded>,
    protocol: Option<HeaderValue>,
    shutdown: ShutdownSignal,
    send_timeout: Duration,
    /// We sent a close frame.
    closing: bool,
    /// The connection is over.
    done: bool,
}

impl std::fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocket")
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

impl WebSocket {
    /// The subprotocol agreed on, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_ref().and_then(|p| p.to_str().ok())
    }

    /// The next message; `None` once the socket is closed. A `Close`
    /// message from the peer is returned (and answered) before that.
    /// Errors close the socket with their close code (1009 too large, 1002
    /// protocol violation, 1007 invalid UTF-8). Cancel-safe.
    pub async fn recv(&mut self) -> Option<Result<Message, Error>> {
        loop {
            if self.done {
                return None;
            }
            let next = tokio::select! {
                m = self.inner.next() => m,
                _ = self.shutdown.wait(), if !self.closing => {
                    // RFC 6455 §7.4.1: 1001, the server is going away.
                    self.close_with(CloseCode::Away, "server shutting down").await;
                    continue;
                }
            };
            return match next {
                None => {
                    self.finish().await;
                    None
                }
                Some(Ok(Message::Close(frame))) => {
                    // Our reply (or the end of the handshake we began):
                    // then the server closes the connection first
                    // (RFC 6455 §7.1.1).
                    let _ = self.inner.flush().await;
                    self.finish().await;
                    Some(Ok(Message::Close(frame)))
                }
                Some(Ok(m)) => Some(Ok(m)),
                Some(Err(e)) => {
                    self.fail(&e).await;
                    Some(Err(e))
                }
            };
        }
    }

    /// Sends a message (and flushes it). After graceful shutdown began
    /// the socket is closed with 1001 instead and this fails.
    pub async fn send(&mut self, msg: Message) -> Result<(), Error> {
        if self.shutdown.is_set() && !self.closing {
            self.close_with(CloseCode::Away, "server shutting down")
                .await;
        }
        match tokio::time::timeout(self.send_timeout, self.inner.send(msg)).await {
            Ok(r) => r,
            Err(_) => {
                // The peer does not read: nothing more can reach it.
                self.done = true;
                let _ = tokio::time::timeout(CLOSE_GRACE, self.inner.get_mut().shutdown()).await;
                Err(Error::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the peer did not read what was sent in time",
                )))
            }
        }
    }

    /// Closes the socket with `code` and `reason`, waits (briefly) for the
    /// peer's close, and ends the connection.
    pub async fn close(mut self, code: CloseCode, reason: &str) {
        if !self.closing {
            self.close_with(code, reason).await;
        }
        let rest = async { while let Some(Ok(_)) = self.recv().await {} };
        let _ = tokio::time::timeout(CLOSE_GRACE, rest).await;
        self.finish().await;
    }

    /// Sends a close frame.
    async fn close_with(&mut self, code: CloseCode, reason: &str) {
        self.closing = true;
        let frame = CloseFrame {
            code,
            reason: Utf8Bytes::from(reason),
        };
        let _ =
            tokio::time::timeout(CLOSE_GRACE, self.inner.send(Message::Close(Some(frame)))).await;
    }

    /// A read failed: say why with the close code RFC 6455 §7.4.1 gives
    /// it, then end the connection.
    async fn fail(&mut self, e: &Error) {
        let code = match e {
            Error::Capacity(_) => Some((CloseCode::Size, "message too big")),
            Error::Protocol(tungstenite::error::ProtocolError::ResetWithoutClosingHandshake) => {
                None
            }
            Error::Protocol(_) => Some((CloseCode::Protocol, "protocol error")),
            Error::Utf8(_) => Some((CloseCode::Invalid, "invalid UTF-8")),
            _ => None,
        };
        if let Some((code, reason)) = code {
            if !self.closing {
                self.close_with(code, reason).await;
            }
        }
        self.finish().await;
    }

    /// Ends the connection: the server closes first (RFC 6455 §7.1.1).
    async fn finish(&mut self) {
        if !self.done {
            self.done = true;
            let _ = tokio::time::timeout(CLOSE_GRACE, self.inner.get_mut().shutdown()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6455_4_2_1_item_5_keys_are_16_bytes_of_base64() {
        assert!(valid_key(b"dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(valid_key(b"ZHVldC1jZHAtY2xpZW50IQ=="));
        assert!(!valid_key(b"dGhlIHNhbXBsZSBub25jZQ="));
        assert!(!valid_key(b"dGhlIHNhbXBsZSBub25jZQ==="));
        assert!(!valid_key(b"dGhlIHNhbXBsZSBub25jZ*=="));
        // 17 bytes' worth of bits in the last character.
        assert!(!valid_key(b"dGhlIHNhbXBsZSBub25jZR=="));
        assert!(!valid_key(b""));
    }

    #[test]
    fn rfc6455_1_3_accept_value() {
        assert_eq!(
            tungstenite::handshake::derive_accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }
}
