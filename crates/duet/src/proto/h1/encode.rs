//! Response encoding: status line and fields (RFC 9112 §4, §5), message
//! framing (RFC 9112 §6), the chunked coding (RFC 9112 §7.1) and
//! persistence signalling (RFC 9112 §9.3), written straight into the
//! connection's write buffer.

use bytes::{BufMut, BytesMut};
use http::{header, HeaderMap, StatusCode, Version};

use crate::proto::http::ERROR_CONTENT_TYPE;

/// How a response body is delimited on the wire (RFC 9112 §6.3), from the
/// exchange layer's `proto::http::Framing`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseFraming {
    /// `content-length: n`, then n body bytes.
    Length(u64),
    /// `transfer-encoding: chunked` (HTTP/1.1 peers only); the body is
    /// written with [`encode_chunk`] and ended by [`encode_last_chunk`].
    Chunked,
    /// No body: a response to HEAD or a 1xx, 204 or 304 (RFC 9112 §6.3
    /// item 1), with the `content-length` the exchange layer decided, if
    /// any (HEAD: the length a GET would have, RFC 9110 §9.3.2).
    NoBody(Option<u64>),
    /// A body of unknown length to an HTTP/1.0 peer: no framing field, and
    /// the connection is closed to end the body (RFC 9112 §6.3 item 8).
    CloseDelimited,
}

/// Writes a response head: status line, the handler's fields, `date` and
/// `server` (unless the handler set them), the framing field and the
/// persistence field, then the empty line.
///
/// The status line always says HTTP/1.1, the highest version we conform to
/// (RFC 9110 §2.5); `version` is the request's version and decides how
/// persistence is signalled (RFC 9112 §9.3): `connection: close` when
/// `keep_alive` is false (or the framing is close-delimited), and
/// `connection: keep-alive` to an HTTP/1.0 peer that asked for it.
/// `date` is the IMF-fixdate value (RFC 9110 §6.6.1).
///
/// Handler fields named `content-length`, `transfer-encoding` or
/// `connection` are not written: the framing and persistence decided here
/// are the only ones the peer may see (RFC 9112 §6.1, §6.2). A 1xx or 204
/// response never gets a framing field, whatever `framing` says
/// (RFC 9110 §8.6, RFC 9112 §6.1); the driver writes no body for them.
///
/// Returns whether the connection persists after this response: a
/// handler's `connection: close` closes it too (RFC 9112 §9.6), and the
/// head then says so.
pub fn encode_response_head(
    dst: &mut BytesMut,
    version: Version,
    status: StatusCode,
    headers: &HeaderMap,
    framing: ResponseFraming,
    keep_alive: bool,
    date: &[u8],
) -> bool {
    let mut keep_alive = keep_alive && framing != ResponseFraming::CloseDelimited;
    // RFC 9110 §8.6: never a framing field in a 1xx or 204.
    let framing = if status.is_informational() || status == StatusCode::NO_CONTENT {
        ResponseFraming::NoBody(None)
    } else {
        framing
    };
    // One pass over the handler's fields; `date` and `server` follow them
    // unless the handler set its own.
    dst.reserve(256);
    write_status_line(dst, status);
    let (mut has_date, mut has_server) = (false, false);
    for (name, value) in headers {
        if name == header::CONNECTION {
            // RFC 9112 §9.6: the application may close the connection.
            keep_alive &= !has_close(value.as_bytes());
            continue;
        }
        if name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING {
            continue;
        }
        has_date |= name == header::DATE;
        has_server |= name == header::SERVER;
        dst.put_slice(name.as_str().as_bytes());
        dst.put_slice(b": ");
        dst.put_slice(value.as_bytes());
        dst.put_slice(b"\r\n");
    }
    if !has_date {
        dst.put_slice(b"date: ");
        dst.put_slice(date);
        dst.put_slice(b"\r\n");
    }
    if !has_server {
        dst.put_slice(b"server: duet\r\n");
    }
    match framing {
        ResponseFraming::Length(n) | ResponseFraming::NoBody(Some(n)) => {
            dst.put_slice(b"content-length: ");
            write_decimal(dst, n);
            dst.put_slice(b"\r\n");
        }
        ResponseFraming::Chunked => dst.put_slice(b"transfer-encoding: chunked\r\n"),
        ResponseFraming::NoBody(None) | ResponseFraming::CloseDelimited => {}
    }
    end_head(dst, version, keep_alive);
    keep_alive
}

/// The persistence field and the empty line that ends a head
/// (RFC 9112 §9.3): HTTP/1.1 persists unless told `close`; an HTTP/1.0
/// peer must be told `keep-alive`.
fn end_head(dst: &mut BytesMut, version: Version, keep_alive: bool) {
    if !keep_alive {
        dst.put_slice(b"connection: close\r\n");
    } else if version == Version::HTTP_10 {
        dst.put_slice(b"connection: keep-alive\r\n");
    }
    dst.put_slice(b"\r\n");
}

/// Whether a `Connection` field value lists the `close` option
/// (RFC 9110 §7.6.1: a comma-separated list, case-insensitive).
fn has_close(value: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|item| item.trim_ascii().eq_ignore_ascii_case(b"close"))
}

/// Writes the head of one of the server's own answers (an
/// [`Answer`](crate::proto::http::Answer)): status line, `date`, `server`,
/// and for an answer with a body its `content-type` and `content-length`
/// (also when answering HEAD, which gets no body: RFC 9110 §9.3.2), then
/// the persistence field. The caller writes the body.
pub(crate) fn encode_answer_head(
    dst: &mut BytesMut,
    version: Version,
    status: StatusCode,
    body_len: Option<usize>,
    keep_alive: bool,
    date: &[u8],
) {
    dst.reserve(192);
    write_status_line(dst, status);
    dst.put_slice(b"date: ");
    dst.put_slice(date);
    dst.put_slice(b"\r\nserver: duet\r\n");
    if let Some(len) = body_len {
        dst.put_slice(b"content-type: ");
        dst.put_slice(ERROR_CONTENT_TYPE.as_bytes());
        dst.put_slice(b"\r\ncontent-length: ");
        write_decimal(dst, len as u64);
        dst.put_slice(b"\r\n");
    }
    end_head(dst, version, keep_alive);
}

/// `status-line = HTTP-version SP status-code SP [ reason-phrase ]`
/// (RFC 9112 §4); the reason phrase may be empty for unknown codes.
fn write_status_line(dst: &mut BytesMut, status: StatusCode) {
    dst.put_slice(b"HTTP/1.1 ");
    dst.put_slice(status.as_str().as_bytes());
    dst.put_u8(b' ');
    if let Some(reason) = status.canonical_reason() {
        dst.put_slice(reason.as_bytes());
    }
    dst.put_slice(b"\r\n");
}

/// Writes one chunk (RFC 9112 §7.1): size in hex, CRLF, data, CRLF.
/// Writes nothing for empty `data`, since an empty chunk would end the body.
pub fn encode_chunk(dst: &mut BytesMut, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    dst.reserve(data.len() + 20);
    encode_chunk_head(dst, data.len());
    dst.put_slice(data);
    dst.put_slice(b"\r\n");
}

/// Writes only the size line of a chunk of `len` (> 0) bytes, for a driver
/// that writes large data straight from its own buffer (vectored) and then
/// [`CHUNK_END`].
pub fn encode_chunk_head(dst: &mut BytesMut, len: usize) {
    write_hex(dst, len as u64);
    dst.put_slice(b"\r\n");
}

/// What follows a chunk's data (RFC 9112 §7.1).
pub const CHUNK_END: &[u8] = b"\r\n";

/// Writes the last chunk and an empty trailer section (RFC 9112 §7.1).
pub fn encode_last_chunk(dst: &mut BytesMut) {
    dst.put_slice(b"0\r\n\r\n");
}

/// Writes the last chunk and a trailer section of `trailers` (RFC 9112
/// §7.1.2), leaving out the fields a trailer must not carry (framing and
/// connection control, RFC 9110 §6.5.1).
pub fn encode_last_chunk_with_trailers(dst: &mut BytesMut, trailers: &HeaderMap) {
    dst.put_slice(b"0\r\n");
    for (name, value) in trailers {
        if name == header::CONTENT_LENGTH
            || name == header::TRANSFER_ENCODING
            || name == header::CONNECTION
            || name == header::TRAILER
        {
            continue;
        }
        dst.put_slice(name.as_str().as_bytes());
        dst.put_slice(b": ");
        dst.put_slice(value.as_bytes());
        dst.put_slice(b"\r\n");
    }
    dst.put_slice(b"\r\n");
}

/// Writes the interim `100 Continue` response (RFC 9110 §15.2.1).
pub fn encode_continue(dst: &mut BytesMut) {
    dst.put_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
}

/// Writes the head of a response that switches protocols: a `101`
/// granting an upgrade (RFC 9110 §15.2.2) or a 2xx to CONNECT (§9.3.6):
/// the status line, the handler's fields without framing fields (a 101 has
/// no content; a 2xx to CONNECT MUST NOT carry `Content-Length` or
/// `Transfer-Encoding`), `connection: upgrade` on a 101 whose handler set
/// no `Connection` (§7.8: `Upgrade` is connection-specific), then `date`
/// and `server` unless set. What follows is the new protocol's.
pub(crate) fn encode_switch_head(
    dst: &mut BytesMut,
    status: StatusCode,
    headers: &HeaderMap,
    date: &[u8],
) {
    dst.reserve(256);
    write_status_line(dst, status);
    let (mut has_date, mut has_server, mut has_connection) = (false, false, false);
    for (name, value) in headers {
        if name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING {
            continue;
        }
        has_date |= name == header::DATE;
        has_server |= name == header::SERVER;
        has_connection |= name == header::CONNECTION;
        dst.put_slice(name.as_str().as_bytes());
        dst.put_slice(b": ");
        dst.put_slice(value.as_bytes());
        dst.put_slice(b"\r\n");
    }
    if status == StatusCode::SWITCHING_PROTOCOLS && !has_connection {
        dst.put_slice(b"connection: upgrade\r\n");
    }
    if !has_date {
        dst.put_slice(b"date: ");
        dst.put_slice(date);
        dst.put_slice(b"\r\n");
    }
    if !has_server {
        dst.put_slice(b"server: duet\r\n");
    }
    dst.put_slice(b"\r\n");
}

/// Writes the `101 Switching Protocols` response accepting an h2c upgrade
/// (RFC 7540 §3.2); the server's HTTP/2 connection preface follows it.
pub fn encode_switching_protocols_h2c(dst: &mut BytesMut) {
    dst.put_slice(
        b"HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: h2c\r\n\r\n",
    );
}

/// `n` in decimal, without allocating.
fn write_decimal(dst: &mut BytesMut, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        if let Some(d) = digits.get_mut(start) {
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || start == 0 {
            break;
        }
    }
    dst.put_slice(digits.get(start..).unwrap_or_default());
}

/// `n` in lowercase hex, without allocating.
fn write_hex(dst: &mut BytesMut, mut n: u64) {
    let mut digits = [0u8; 16];
    let mut start = digits.len();
    loop {
        start -= 1;
        if let Some(d) = digits.get_mut(start) {
            let nibble = (n & 0xf) as u8;
            *d = if nibble < 10 {
                b'0' + nibble
            } else {
                b'a' + nibble - 10
            };
        }
        n >>= 4;
        if n == 0 || start == 0 {
            break;
        }
    }
    dst.put_slice(digits.get(start..).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const DATE: &[u8] = b"Sun, 06 Nov 1994 08:49:37 GMT";

    fn head(
        version: Version,
        status: u16,
        headers: &HeaderMap,
        framing: ResponseFraming,
        keep_alive: bool,
    ) -> String {
        let mut dst = BytesMut::new();
        let status = StatusCode::from_u16(status).unwrap();
        encode_response_head(
            &mut dst, version, status, headers, framing, keep_alive, DATE,
        );
        String::from_utf8(dst.to_vec()).unwrap()
    }

    fn text_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        h
    }

    #[test]
    fn ok_with_content_length() {
        assert_eq!(
            head(
                Version::HTTP_11,
                200,
                &text_headers(),
                ResponseFraming::Length(5),
                true
            ),
            "HTTP/1.1 200 OK\r\n\
             content-type: text/plain\r\n\
             date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
             server: duet\r\n\
             content-length: 5\r\n\
             \r\n"
        );
    }

    #[test]
    fn head_response_uses_the_get_length() {
        // The driver answers HEAD with the same framing as GET and no body.
        let s = head(
            Version::HTTP_11,
            200,
            &HeaderMap::new(),
            ResponseFraming::Length(1234),
            true,
        );
        assert!(s.contains("\r\ncontent-length: 1234\r\n"), "{s}");
        assert!(s.ends_with("\r\n\r\n"));
    }

    #[test]
    fn chunked() {
        assert_eq!(
            head(
                Version::HTTP_11,
                200,
                &HeaderMap::new(),
                ResponseFraming::Chunked,
                true
            ),
            "HTTP/1.1 200 OK\r\n\
             date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
             server: duet\r\n\
             transfer-encoding: chunked\r\n\
             \r\n"
        );
    }

    #[test]
    fn no_content_has_no_framing_field() {
        assert_eq!(
            head(
                Version::HTTP_11,
                204,
                &HeaderMap::new(),
                ResponseFraming::NoBody(None),
                true
            ),
            "HTTP/1.1 204 No Content\r\n\
             date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
             server: duet\r\n\
             \r\n"
        );
        let s = head(
            Version::HTTP_11,
            304,
            &HeaderMap::new(),
            ResponseFraming::NoBody(None),
            true,
        );
        assert!(s.starts_with("HTTP/1.1 304 Not Modified\r\n"));
        assert!(!s.contains("content-length") && !s.contains("transfer-encoding"));
        // RFC 9110 §8.6: never a Content-Length on 204, even if asked.
        for framing in [ResponseFraming::Length(0), ResponseFraming::Chunked] {
            let s = head(Version::HTTP_11, 204, &HeaderMap::new(), framing, true);
            assert!(
                !s.contains("content-length") && !s.contains("transfer-encoding"),
                "{s}"
            );
        }
        // A 304 may carry the length the 200 would have had.
        let s = head(
            Version::HTTP_11,
            304,
            &HeaderMap::new(),
            ResponseFraming::Length(9),
            true,
        );
        assert!(s.contains("\r\ncontent-length: 9\r\n"), "{s}");
    }

    #[test]
    fn handler_framing_and_connection_fields_are_replaced() {
        let mut h = text_headers();
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("999"));
        h.insert(header::TRANSFER_ENCODING, HeaderValue::from_static("gzip"));
        h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
        h.append("x-multi", HeaderValue::from_static("1"));
        h.append("x-multi", HeaderValue::from_static("2"));
        let s = head(Version::HTTP_11, 200, &h, ResponseFraming::Length(3), false);
        assert_eq!(
            s,
            "HTTP/1.1 200 OK\r\n\
             content-type: text/plain\r\n\
             x-multi: 1\r\n\
             x-multi: 2\r\n\
             date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
             server: duet\r\n\
             content-length: 3\r\n\
             connection: close\r\n\
             \r\n"
        );
    }

    #[test]
    fn handler_date_and_server_win() {
        let mut h = HeaderMap::new();
        h.insert(
            header::DATE,
            HeaderValue::from_static("Mon, 01 Jan 2024 00:00:00 GMT"),
        );
        h.insert(header::SERVER, HeaderValue::from_static("custom"));
        let s = head(Version::HTTP_11, 200, &h, ResponseFraming::Length(0), true);
        assert_eq!(
            s,
            "HTTP/1.1 200 OK\r\n\
             date: Mon, 01 Jan 2024 00:00:00 GMT\r\n\
             server: custom\r\n\
             content-length: 0\r\n\
             \r\n"
        );
    }

    #[test]
    fn keep_alive_variations() {
        let none = HeaderMap::new();
        let len = ResponseFraming::Length(0);
        // RFC 9112 §9.3: HTTP/1.1 persists by default, so only close is said.
        let s = head(Version::HTTP_11, 200, &none, len, true);
        assert!(!s.contains("connection"), "{s}");
        let s = head(Version::HTTP_11, 200, &none, len, false);
        assert!(s.ends_with("connection: close\r\n\r\n"), "{s}");
        // HTTP/1.0 needs keep-alive said explicitly.
        let s = head(Version::HTTP_10, 200, &none, len, true);
        assert!(s.starts_with("HTTP/1.1 200 OK\r\n"), "{s}");
        assert!(s.ends_with("connection: keep-alive\r\n\r\n"), "{s}");
        let s = head(Version::HTTP_10, 200, &none, len, false);
        assert!(s.ends_with("connection: close\r\n\r\n"), "{s}");
        // A close-delimited body always closes.
        let s = head(
            Version::HTTP_10,
            200,
            &none,
            ResponseFraming::CloseDelimited,
            true,
        );
        assert_eq!(
            s,
            "HTTP/1.1 200 OK\r\n\
             date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
             server: duet\r\n\
             connection: close\r\n\
             \r\n"
        );
    }

    #[test]
    fn unknown_status_has_empty_reason() {
        let s = head(
            Version::HTTP_11,
            599,
            &HeaderMap::new(),
            ResponseFraming::NoBody(None),
            true,
        );
        assert!(s.starts_with("HTTP/1.1 599 \r\n"), "{s}");
    }

    #[test]
    fn chunks() {
        let mut dst = BytesMut::new();
        encode_chunk(&mut dst, b"hello");
        encode_chunk(&mut dst, b"");
        encode_chunk(&mut dst, &[b'x'; 26]);
        encode_last_chunk(&mut dst);
        let mut want = b"5\r\nhello\r\n1a\r\n".to_vec();
        want.extend_from_slice(&[b'x'; 26]);
        want.extend_from_slice(b"\r\n0\r\n\r\n");
        assert_eq!(&dst[..], &want[..]);
        let mut dst = BytesMut::new();
        encode_chunk_head(&mut dst, 0x10000);
        dst.put_slice(CHUNK_END);
        assert_eq!(&dst[..], b"10000\r\n\r\n");
    }

    #[test]
    fn chunks_round_trip_through_the_decoder() {
        use super::super::{BodyDecoder, BodyKind, Decoded};
        let mut dst = BytesMut::new();
        let parts: [&[u8]; 3] = [b"one", &[7u8; 300], b"three"];
        for p in parts {
            encode_chunk(&mut dst, p);
        }
        encode_last_chunk(&mut dst);
        let mut dec = BodyDecoder::new(&BodyKind::Chunked);
        let mut body = Vec::new();
        while let Ok(Decoded::Data(d)) = dec.decode(&mut dst) {
            body.extend_from_slice(&d);
        }
        assert!(dec.is_done());
        assert_eq!(body, parts.concat());
    }

    #[test]
    fn numbers() {
        for n in [0u64, 1, 9, 10, 99, 100, 12345, u64::MAX] {
            let mut dst = BytesMut::new();
            write_decimal(&mut dst, n);
            assert_eq!(dst, n.to_string().as_bytes());
            let mut dst = BytesMut::new();
            write_hex(&mut dst, n);
            assert_eq!(dst, format!("{n:x}").as_bytes());
        }
    }

    #[test]
    fn interim_and_upgrade_responses() {
        let mut dst = BytesMut::new();
        encode_continue(&mut dst);
        assert_eq!(&dst[..], b"HTTP/1.1 100 Continue\r\n\r\n");
        let mut dst = BytesMut::new();
        encode_switching_protocols_h2c(&mut dst);
        assert_eq!(
            &dst[..],
            b"HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: h2c\r\n\r\n"
        );
    }

    #[test]
    fn answer_heads() {
        use crate::proto::http::Answer;
        let a = Answer::new(StatusCode::BAD_REQUEST, "missing Host field");
        let mut dst = BytesMut::new();
        encode_answer_head(
            &mut dst,
            Version::HTTP_11,
            a.status(),
            Some(a.body_len()),
            false,
            DATE,
        );
        a.write_body(&mut dst);
        assert_eq!(
            std::str::from_utf8(&dst).unwrap(),
            "HTTP/1.1 400 Bad Request\r\n\
             date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
             server: duet\r\n\
             content-type: text/plain; charset=utf-8\r\n\
             content-length: 36\r\n\
             connection: close\r\n\
             \r\n\
             400 Bad Request: missing Host field\n"
        );
        // No body (204): no content type, no length (RFC 9110 §8.6).
        let mut dst = BytesMut::new();
        encode_answer_head(
            &mut dst,
            Version::HTTP_10,
            StatusCode::NO_CONTENT,
            None,
            true,
            DATE,
        );
        assert_eq!(
            std::str::from_utf8(&dst).unwrap(),
            "HTTP/1.1 204 No Content\r\n\
             date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
             server: duet\r\n\
             connection: keep-alive\r\n\r\n"
        );
    }

    #[test]
    fn a_handler_close_is_obeyed() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("Upgrade, Close"),
        );
        let mut dst = BytesMut::new();
        let persists = encode_response_head(
            &mut dst,
            Version::HTTP_11,
            StatusCode::OK,
            &h,
            ResponseFraming::Length(0),
            true,
            DATE,
        );
        assert!(!persists);
        assert!(dst.ends_with(b"content-length: 0\r\nconnection: close\r\n\r\n"));
        h.insert(header::CONNECTION, HeaderValue::from_static("closed"));
        let mut dst = BytesMut::new();
        assert!(encode_response_head(
            &mut dst,
            Version::HTTP_11,
            StatusCode::OK,
            &h,
            ResponseFraming::Length(0),
            true,
            DATE,
        ));
    }
}
