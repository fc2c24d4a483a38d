//! Request-body framing: Content-Length (RFC 9112 §6.2) and the chunked
//! transfer coding (RFC 9112 §7.1), decoded incrementally from whatever
//! bytes have arrived, however they are split.

use super::{BodyKind, ParseError};
use crate::config::Limits;
use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

/// One step of body decoding.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    /// Body bytes, taken from the front of the buffer without copying.
    Data(Bytes),
    /// The buffer holds no (more) usable bytes: read more and call again.
    NeedMore,
    /// The body is complete; bytes left in the buffer belong to the next
    /// request.
    End,
}

/// Decodes one request body from a connection's read buffer.
///
/// Call [`decode`](Self::decode) whenever bytes arrive until it returns
/// [`Decoded::End`]. After an error the body's framing is lost: answer the
/// error and close the connection (every later call repeats the error).
#[derive(Debug)]
pub struct BodyDecoder {
    state: State,
    /// Chunk-extension bytes still allowed in this body (they are skipped,
    /// but a peer must not make us skip them forever).
    ext_budget: usize,
    /// Trailer-section bytes still allowed.
    trailer_budget: usize,
    /// The trailer section as received (field lines, CRLF-ended).
    trailer: Vec<u8>,
    /// The trailer fields, once the body ended.
    trailers: Option<HeaderMap>,
}

#[derive(Debug)]
enum State {
    Length { remaining: u64 },
    Chunked(Chunked),
    Done,
    Failed(ParseError),
}

/// Where the chunked decoder is in RFC 9112 §7.1's grammar:
///
/// ```text
/// chunked-body = *chunk last-chunk trailer-section CRLF
/// chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
/// last-chunk   = 1*("0") [ chunk-ext ] CRLF
/// ```
#[derive(Clone, Copy, Debug)]
enum Chunked {
    /// Reading chunk-size hex digits; `any` once one has been read.
    Size { size: u64, any: bool },
    /// Whitespace after the size: only more of it, `;` or CR may follow.
    SizeWs { size: u64 },
    /// Skipping a chunk extension up to the CR.
    Extension { size: u64 },
    /// CR of the size line seen, LF next.
    SizeLf { size: u64 },
    /// Inside chunk-data.
    Data { remaining: u64 },
    /// The CR after chunk-data next.
    DataCr,
    /// The LF after chunk-data next.
    DataLf,
    /// At the start of a trailer field line, or of the final CRLF.
    TrailerStart,
    /// Inside a trailer field line.
    TrailerLine,
    /// CR of a trailer line seen, LF next.
    TrailerLf,
    /// CR of the final empty line seen, LF next.
    EndLf,
}

impl BodyDecoder {
    /// A decoder for a body framed as `kind`, with the default limits for
    /// the trailer section and chunk extensions (see
    /// [`with_limits`](Self::with_limits)).
    #[cfg(test)]
    pub fn new(kind: &BodyKind) -> Self {
        Self::with_limits(kind, &Limits::default())
    }

    /// A decoder for a body framed as `kind`. A chunked body's trailer
    /// section may hold at most `limits.max_header_bytes` (more → 431), and
    /// its chunk extensions as many bytes in total (more → 400).
    pub fn with_limits(kind: &BodyKind, limits: &Limits) -> Self {
        let state = match *kind {
            BodyKind::None | BodyKind::Length(0) => State::Done,
            BodyKind::Length(n) => State::Length { remaining: n },
            BodyKind::Chunked => State::Chunked(Chunked::Size {
                size: 0,
                any: false,
            }),
        };
        BodyDecoder {
            state,
            ext_budget: limits.max_header_bytes,
            trailer_budget: limits.max_header_bytes,
            trailer: Vec::new(),
            trailers: None,
        }
    }

    /// The trailer fields of a chunked body that had any (RFC 9112
    /// §7.1.2), once it ended. Fields a trailer must not carry (framing,
    /// routing, authentication, content handling: RFC 9110 §6.5.1) are
    /// left out.
    pub fn take_trailers(&mut self) -> Option<HeaderMap> {
        self.trailers.take()
    }

    /// Whether the whole body has been decoded.
    #[cfg(any(test, feature = "unstable-fuzz"))]
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Body bytes still to come when the length is known (`Content-Length`);
    /// `None` for a chunked body (or a failed one).
    pub fn remaining(&self) -> Option<u64> {
        match self.state {
            State::Length { remaining } => Some(remaining),
            State::Done => Some(0),
            State::Chunked(_) | State::Failed(_) => None,
        }
    }

    /// Takes the next piece of body from the front of `buf`.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded, ParseError> {
        match self.state {
            State::Done => Ok(Decoded::End),
            State::Failed(e) => Err(e),
            State::Length { remaining } => {
                if buf.is_empty() {
                    return Ok(Decoded::NeedMore);
                }
                let n = take_len(remaining, buf.len());
                let data = buf.split_to(n).freeze();
                let left = remaining - n as u64;
                self.state = if left == 0 {
                    State::Done
                } else {
                    State::Length { remaining: left }
                };
                Ok(Decoded::Data(data))
            }
            State::Chunked(state) => match self.decode_chunked(state, buf) {
                Ok(decoded) => Ok(decoded),
                Err(e) => {
                    self.state = State::Failed(e);
                    Err(e)
                }
            },
        }
    }

    fn decode_chunked(
        &mut self,
        mut state: Chunked,
        buf: &mut BytesMut,
    ) -> Result<Decoded, ParseError> {
        let mut at = 0;
        loop {
            if let Chunked::Data { remaining } = state {
                buf.advance(at);
                if buf.is_empty() {
                    self.state = State::Chunked(state);
                    return Ok(Decoded::NeedMore);
                }
                let n = take_len(remaining, buf.len());
                let data = buf.split_to(n).freeze();
                let left = remaining - n as u64;
                self.state = State::Chunked(if left == 0 {
                    Chunked::DataCr
                } else {
                    Chunked::Data { remaining: left }
                });
                return Ok(Decoded::Data(data));
            }
            let Some(&byte) = buf.get(at) else {
                buf.advance(at);
                self.state = State::Chunked(state);
                return Ok(Decoded::NeedMore);
            };
            at += 1;
            match self.step(state, byte)? {
                Some(next) => state = next,
                None => {
                    buf.advance(at);
                    self.state = State::Done;
                    return Ok(Decoded::End);
                }
            }
        }
    }

    /// One byte of the chunked grammar outside chunk-data; `None` at the end
    /// of the body. Line ends inside the body must be CRLF: RFC 9112 §2.2
    /// only permits a bare LF in the head, and accepting one here is a
    /// known request-smuggling vector.
    fn step(&mut self, state: Chunked, byte: u8) -> Result<Option<Chunked>, ParseError> {
        let next = match state {
            Chunked::Size { size, any } => match byte {
                b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                    let digit = u64::from(hex_value(byte));
                    let size = size
                        .checked_mul(16)
                        .map(|s| s | digit)
                        .ok_or(ParseError::bad_request("chunk size too large"))?;
                    Chunked::Size { size, any: true }
                }
                _ if !any => return Err(ParseError::bad_request("invalid chunk size")),
                // chunk-ext = *( BWS ";" BWS chunk-ext-name ... ) (§7.1.1)
                b' ' | b'\t' => Chunked::SizeWs { size },
                b';' => Chunked::Extension { size },
                b'\r' => Chunked::SizeLf { size },
                _ => return Err(ParseError::bad_request("invalid chunk size")),
            },
            Chunked::SizeWs { size } => match byte {
                b' ' | b'\t' => Chunked::SizeWs { size },
                b';' => Chunked::Extension { size },
                b'\r' => Chunked::SizeLf { size },
                _ => return Err(ParseError::bad_request("invalid chunk size line")),
            },
            Chunked::Extension { size } => {
                // §7.1.1: extensions we don't understand are ignored, within
                // a budget.
                self.ext_budget = self
                    .ext_budget
                    .checked_sub(1)
                    .ok_or(ParseError::bad_request("chunk extensions too long"))?;
                match byte {
                    b'\r' => Chunked::SizeLf { size },
                    b'\t' | b' '..=b'~' | 0x80..=0xff => Chunked::Extension { size },
                    _ => return Err(ParseError::bad_request("invalid chunk extension")),
                }
            }
            Chunked::SizeLf { size } => match byte {
                b'\n' if size == 0 => Chunked::TrailerStart,
                b'\n' => Chunked::Data { remaining: size },
                _ => return Err(ParseError::bad_request("missing LF after chunk size")),
            },
            // Handled by decode_chunked; reaching it here means nothing left.
            Chunked::Data { remaining } => Chunked::Data { remaining },
            Chunked::DataCr => match byte {
                b'\r' => Chunked::DataLf,
                _ => return Err(ParseError::bad_request("missing CRLF after chunk data")),
            },
            Chunked::DataLf => match byte {
                b'\n' => Chunked::Size {
                    size: 0,
                    any: false,
                },
                _ => return Err(ParseError::bad_request("missing CRLF after chunk data")),
            },
            Chunked::TrailerStart => match byte {
                b'\r' => Chunked::EndLf,
                // §5.2 obs-fold in a trailer is as invalid as in the head.
                b' ' | b'\t' => return Err(ParseError::bad_request("invalid trailer field")),
                _ => self.trailer_byte(byte)?,
            },
            Chunked::TrailerLine => self.trailer_byte(byte)?,
            Chunked::TrailerLf => match byte {
                b'\n' => {
                    self.trailer.push(b'\n');
                    Chunked::TrailerStart
                }
                _ => return Err(ParseError::bad_request("missing LF in trailer section")),
            },
            Chunked::EndLf => match byte {
                b'\n' => {
                    if !self.trailer.is_empty() {
                        self.trailers = Some(parse_trailers(&self.trailer)?);
                        self.trailer = Vec::new();
                    }
                    return Ok(None);
                }
                _ => return Err(ParseError::bad_request("missing LF after trailer section")),
            },
        };
        Ok(Some(next))
    }

    /// A byte of a trailer field line (§7.1.2), counted against the budget
    /// and kept.
    fn trailer_byte(&mut self, byte: u8) -> Result<Chunked, ParseError> {
        self.trailer_budget = self.trailer_budget.checked_sub(1).ok_or(ParseError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "trailer section too large",
        ))?;
        let next = match byte {
            b'\r' => Chunked::TrailerLf,
            b'\t' | b' '..=b'~' | 0x80..=0xff => Chunked::TrailerLine,
            _ => return Err(ParseError::bad_request("invalid trailer field")),
        };
        self.trailer.push(byte);
        Ok(next)
    }
}

/// Fields that must not be taken from a trailer section (RFC 9110 §6.5.1:
/// message framing, routing, request modifiers, authentication, response
/// control and content handling).
const NOT_IN_TRAILERS: &[&str] = &[
    "content-length",
    "transfer-encoding",
    "host",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "content-encoding",
    "content-type",
    "content-range",
    "expect",
    "range",
    "if-match",
    "if-none-match",
    "if-modified-since",
    "if-unmodified-since",
    "if-range",
    "cache-control",
    "max-forwards",
];

/// The fields of a trailer section (CRLF-ended lines, §5 field syntax).
fn parse_trailers(section: &[u8]) -> Result<HeaderMap, ParseError> {
    let invalid = || ParseError::bad_request("invalid trailer field");
    let mut map = HeaderMap::new();
    for line in section.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let colon = line.iter().position(|&b| b == b':').ok_or_else(invalid)?;
        let name = HeaderName::from_bytes(&line[..colon]).map_err(|_| invalid())?;
        let value =
            HeaderValue::from_bytes(line[colon + 1..].trim_ascii()).map_err(|_| invalid())?;
        if NOT_IN_TRAILERS.contains(&name.as_str()) {
            continue;
        }
        map.append(name, value);
    }
    Ok(map)
}

/// How many of `available` bytes to take when `remaining` are wanted.
fn take_len(remaining: u64, available: usize) -> usize {
    usize::try_from(remaining).map_or(available, |r| r.min(available))
}

fn hex_value(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        b'A'..=b'F' => b - b'A' + 10,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces of `step` bytes (appending each to the
    /// buffer) and collects the body; returns it and the bytes left over.
    fn feed(kind: BodyKind, input: &[u8], step: usize) -> Result<(Vec<u8>, Vec<u8>), ParseError> {
        let mut dec = BodyDecoder::new(&kind);
        let mut buf = BytesMut::new();
        let mut body = Vec::new();
        let mut pieces = input.chunks(step.max(1));
        loop {
            match dec.decode(&mut buf)? {
                Decoded::Data(d) => {
                    assert!(!d.is_empty(), "no empty data events");
                    body.extend_from_slice(&d);
                }
                Decoded::End => {
                    assert!(dec.is_done());
                    // Rest of input after the end belongs to the next request.
                    let mut rest = buf.to_vec();
                    for p in pieces {
                        rest.extend_from_slice(p);
                    }
                    return Ok((body, rest));
                }
                Decoded::NeedMore => match pieces.next() {
                    Some(p) => buf.extend_from_slice(p),
                    None => panic!("decoder wants more than the whole input"),
                },
            }
        }
    }

    fn err(kind: BodyKind, input: &[u8]) -> u16 {
        let mut dec = BodyDecoder::new(&kind);
        let mut buf = BytesMut::from(input);
        loop {
            match dec.decode(&mut buf) {
                Ok(Decoded::Data(_)) => {}
                Ok(other) => panic!("expected an error, got {other:?}"),
                Err(e) => {
                    // The decoder stays failed.
                    assert_eq!(dec.decode(&mut buf), Err(e));
                    return e.status().as_u16();
                }
            }
        }
    }

    #[test]
    fn no_body_is_done_at_once() {
        for kind in [BodyKind::None, BodyKind::Length(0)] {
            let mut dec = BodyDecoder::new(&kind);
            assert!(dec.is_done());
            let mut buf = BytesMut::from(&b"GET / HTTP/1.1\r\n"[..]);
            assert_eq!(dec.decode(&mut buf), Ok(Decoded::End));
            assert_eq!(buf.len(), 16, "next request untouched");
        }
    }

    #[test]
    fn content_length_split_at_every_boundary() {
        let input = b"hello, worldGET /next";
        for step in 1..=input.len() {
            let (body, rest) = feed(BodyKind::Length(12), input, step).unwrap();
            assert_eq!(body, b"hello, world", "step {step}");
            assert_eq!(rest, b"GET /next", "step {step}");
        }
        // Every split point of the first read.
        for cut in 0..=input.len() {
            let mut dec = BodyDecoder::new(&BodyKind::Length(12));
            let mut buf = BytesMut::from(&input[..cut]);
            let mut body = Vec::new();
            while let Decoded::Data(d) = dec.decode(&mut buf).unwrap() {
                body.extend_from_slice(&d);
            }
            buf.extend_from_slice(&input[cut..]);
            while let Decoded::Data(d) = dec.decode(&mut buf).unwrap() {
                body.extend_from_slice(&d);
            }
            assert_eq!(body, b"hello, world");
            assert!(dec.is_done());
            assert_eq!(&buf[..], b"GET /next");
        }
    }

    #[test]
    fn content_length_data_is_not_copied() {
        let mut buf = BytesMut::from(&b"abcdef"[..]);
        let base = buf.as_ptr();
        let mut dec = BodyDecoder::new(&BodyKind::Length(4));
        match dec.decode(&mut buf).unwrap() {
            Decoded::Data(d) => {
                assert_eq!(&d[..], b"abcd");
                assert_eq!(d.as_ptr(), base);
            }
            other => panic!("{other:?}"),
        }
        assert!(dec.is_done());
        assert_eq!(&buf[..], b"ef");
    }

    #[test]
    fn chunked_simple() {
        let input = b"5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\nNEXT";
        for step in 1..=input.len() {
            let (body, rest) = feed(BodyKind::Chunked, input, step).unwrap();
            assert_eq!(body, b"hello, world", "step {step}");
            assert_eq!(rest, b"NEXT", "step {step}");
        }
    }

    #[test]
    fn chunked_one_byte_at_a_time_with_extensions_and_trailers() {
        let input = b"4;name=value;flag\r\nWiki\r\n5 ; x=\"q;\\\"\"\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n000;last\r\nExpires: never\r\nX-Sum: 12\r\n\r\nrest";
        let (body, rest) = feed(BodyKind::Chunked, input, 1).unwrap();
        assert_eq!(body, b"Wikipedia in\r\n\r\nchunks.");
        assert_eq!(rest, b"rest");
    }

    #[test]
    fn chunked_hex_sizes_in_both_cases() {
        let mut input = b"1a\r\n".to_vec();
        input.extend_from_slice(&[b'x'; 26]);
        input.extend_from_slice(b"\r\n1A\r\n");
        input.extend_from_slice(&[b'y'; 26]);
        input.extend_from_slice(b"\r\n0\r\n\r\n");
        let (body, _) = feed(BodyKind::Chunked, &input, 7).unwrap();
        assert_eq!(body.len(), 52);
    }

    #[test]
    fn largest_chunk_size_is_accepted() {
        let mut dec = BodyDecoder::new(&BodyKind::Chunked);
        let mut buf = BytesMut::from(&b"ffffffffffffffff\r\nab"[..]);
        assert_eq!(
            dec.decode(&mut buf),
            Ok(Decoded::Data(Bytes::from_static(b"ab")))
        );
        assert!(!dec.is_done());
    }

    #[test]
    fn invalid_chunk_sizes_are_400() {
        assert_eq!(err(BodyKind::Chunked, b"g\r\n"), 400);
        assert_eq!(err(BodyKind::Chunked, b"\r\n"), 400);
        assert_eq!(err(BodyKind::Chunked, b";ext\r\n"), 400);
        assert_eq!(err(BodyKind::Chunked, b"-1\r\n"), 400);
        assert_eq!(err(BodyKind::Chunked, b"0x5\r\n"), 400);
        assert_eq!(err(BodyKind::Chunked, b"5 5\r\n"), 400);
        // Overflow: more than 16 significant hex digits.
        assert_eq!(err(BodyKind::Chunked, b"10000000000000000\r\n"), 400);
        assert_eq!(err(BodyKind::Chunked, b"fffffffffffffffff\r\n"), 400);
    }

    #[test]
    fn bare_lf_in_chunk_framing_is_400() {
        assert_eq!(err(BodyKind::Chunked, b"5\nhello\r\n0\r\n\r\n"), 400);
        assert_eq!(err(BodyKind::Chunked, b"5\r\nhello\n0\r\n\r\n"), 400);
        assert_eq!(err(BodyKind::Chunked, b"5;a\nb\r\nhello\r\n0\r\n\r\n"), 400);
        assert_eq!(err(BodyKind::Chunked, b"0\r\n\n"), 400);
        assert_eq!(err(BodyKind::Chunked, b"0\r\nA: b\n\r\n"), 400);
        assert_eq!(err(BodyKind::Chunked, b"5\rhello"), 400);
    }

    #[test]
    fn missing_crlf_after_chunk_data_is_400() {
        assert_eq!(err(BodyKind::Chunked, b"5\r\nhelloX\r\n0\r\n\r\n"), 400);
        assert_eq!(err(BodyKind::Chunked, b"5\r\nhello\rX0\r\n\r\n"), 400);
        assert_eq!(err(BodyKind::Chunked, b"3\r\nhello\r\n0\r\n\r\n"), 400);
    }

    #[test]
    fn invalid_trailers_and_extensions_are_400() {
        assert_eq!(err(BodyKind::Chunked, b"0\r\nA: b\x00\r\n\r\n"), 400);
        assert_eq!(err(BodyKind::Chunked, b"0\r\nA: b\r\n folded\r\n\r\n"), 400);
        assert_eq!(err(BodyKind::Chunked, b"1;a\x01\r\nx\r\n0\r\n\r\n"), 400);
    }

    #[test]
    fn trailer_section_is_bounded_431() {
        let limits = Limits {
            max_header_bytes: 32,
            ..Limits::default()
        };
        let ok = b"0\r\nX: 0123456789012345678901234\r\n\r\n"; // 28-byte line + CR
        let mut dec = BodyDecoder::with_limits(&BodyKind::Chunked, &limits);
        assert_eq!(dec.decode(&mut BytesMut::from(&ok[..])), Ok(Decoded::End));
        let big = b"0\r\nX: 0123456789012345678901234\r\nY: 1\r\n\r\n";
        let mut dec = BodyDecoder::with_limits(&BodyKind::Chunked, &limits);
        let e = dec.decode(&mut BytesMut::from(&big[..])).unwrap_err();
        assert_eq!(e.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    }

    #[test]
    fn chunk_extensions_are_bounded_400() {
        let limits = Limits {
            max_header_bytes: 16,
            ..Limits::default()
        };
        let mut dec = BodyDecoder::with_limits(&BodyKind::Chunked, &limits);
        // 7 extension bytes (incl. CR) per chunk; the third chunk is over.
        let mut buf = BytesMut::from(&b"1;abcdef\r\nx\r\n1;abcdef\r\ny\r\n1;abcdef\r\nz\r\n"[..]);
        assert_eq!(
            dec.decode(&mut buf),
            Ok(Decoded::Data(Bytes::from_static(b"x")))
        );
        assert_eq!(
            dec.decode(&mut buf),
            Ok(Decoded::Data(Bytes::from_static(b"y")))
        );
        assert_eq!(
            dec.decode(&mut buf).unwrap_err().status(),
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn chunked_data_is_not_copied() {
        let mut buf = BytesMut::from(&b"3\r\nabc\r\n0\r\n\r\n"[..]);
        let base = buf.as_ptr();
        let mut dec = BodyDecoder::new(&BodyKind::Chunked);
        match dec.decode(&mut buf).unwrap() {
            Decoded::Data(d) => assert_eq!(d.as_ptr(), base.wrapping_add(3)),
            other => panic!("{other:?}"),
        }
        assert_eq!(dec.decode(&mut buf), Ok(Decoded::End));
        assert!(buf.is_empty());
    }

    #[test]
    fn truncated_bodies_need_more() {
        let input = b"5\r\nhello\r\n0\r\nA: b\r\n\r\n";
        for cut in 0..input.len() {
            let mut dec = BodyDecoder::new(&BodyKind::Chunked);
            let mut buf = BytesMut::from(&input[..cut]);
            loop {
                match dec.decode(&mut buf).unwrap() {
                    Decoded::Data(_) => {}
                    Decoded::NeedMore => break,
                    Decoded::End => panic!("ended early at cut {cut}"),
                }
            }
            assert!(!dec.is_done());
        }
    }
}
