//! Request-head parsing and validation: RFC 9112 §2 (message format), §3
//! (request line, target forms, Host), §5 (field syntax), §6 (body framing
//! headers), §9.3 (persistence); RFC 7540 §3.2 (h2c upgrade request).
//!
//! httparse tokenizes the head in one pass; this module then applies the
//! rules httparse leaves to its caller and builds the `http` types of the
//! request line; the field lines are checked here and kept as they arrived
//! ([`FieldBlock`]), built into a `HeaderMap` only when something reads
//! them. The target and every value share one copy of the head bytes.

use super::fields::FieldBlock;
use super::{BodyKind, ParseError, RequestHead};
use crate::config::Limits;
use bytes::{Buf, Bytes, BytesMut};
use http::{header, Method, StatusCode, Uri, Version};
use std::mem::MaybeUninit;

/// Empty lines tolerated before a request line (RFC 9112 §2.2: a server
/// SHOULD ignore at least one). More than this is treated as garbage.
const MAX_LEADING_EMPTY_LINES: usize = 4;

/// Bytes a request line may hold beyond its target (method, two spaces,
/// version, CRLF) before an unterminated line is refused as 414.
const REQUEST_LINE_SLACK: usize = 64;

/// Header slots parsed on the stack; larger `max_headers` use the heap.
const STACK_HEADERS: usize = 128;

/// `HTTP2-Settings` (RFC 7540 §3.2.1) is not among `http`'s constants.
const HTTP2_SETTINGS: &str = "http2-settings";

/// Field lines whose places are kept on the stack between tokenizing and
/// building; a head with more keeps them in a `Vec`.
const SMALL_FIELDS: usize = 32;

/// More field lines than a `HeaderMap` holds (`http`'s limit is 32,768
/// entries) are refused as 431 whatever `max_headers` says.
const MAX_FIELDS: usize = 16 * 1024;

/// Parses one request head from the front of `buf`.
///
/// Returns `Ok(None)` when more bytes are needed, or the head and the number
/// of bytes it took (leading empty lines included); the body, if any, and
/// any pipelined request follow. Errors name the status code to answer:
/// 400 (malformed), 414 (target longer than `limits.max_uri_bytes`), 431
/// (head larger than `limits.max_header_bytes` or more than
/// `limits.max_headers` fields), 501 (unknown transfer coding), 505 (HTTP
/// version other than 1.0 and 1.1).
///
/// Each call parses `buf` from its start. A driver that reads a head in
/// many small pieces should call again only when the bytes just read hold
/// a `\n` or the buffer has outgrown `max_header_bytes` (or
/// `max_uri_bytes` + 64 before the first line ends), so that a client
/// dripping a large head byte by byte costs a parse per line, not per byte.
#[cfg(any(test, feature = "unstable-fuzz"))]
pub fn parse_request(
    buf: &[u8],
    limits: &Limits,
) -> Result<Option<(RequestHead, usize)>, ParseError> {
    let mut owned = BytesMut::from(buf);
    Ok(take_request(&mut owned, limits)?.map(|head| (head, buf.len() - owned.len())))
}

/// [`parse_request`] on a connection's read buffer: a complete head is
/// split off the front of `buf` without a copy, and the target and every
/// field value are slices of it (they keep that part of the buffer's
/// allocation alive while the request lives). On an error `buf` still holds
/// the head, for the answer's version.
pub(crate) fn take_request(
    buf: &mut BytesMut,
    limits: &Limits,
) -> Result<Option<RequestHead>, ParseError> {
    let start = match skip_empty_lines(buf)? {
        Some(start) => start,
        None => return Ok(None),
    };
    let mut small = [FieldSpan::default(); SMALL_FIELDS];
    let mut big = Vec::new();
    let rest = buf.get(start..).unwrap_or_default();
    let line = if limits.max_headers <= STACK_HEADERS {
        let mut slots = [MaybeUninit::<httparse::Header<'_>>::uninit(); STACK_HEADERS];
        let slots = slots.get_mut(..limits.max_headers).unwrap_or_default();
        tokenize(rest, limits, slots, &mut small, &mut big)?
    } else {
        let mut slots = vec![MaybeUninit::<httparse::Header<'_>>::uninit(); limits.max_headers];
        tokenize(rest, limits, &mut slots, &mut small, &mut big)?
    };
    let Some(line) = line else {
        // RFC 9112 §2.3 / RFC 9110 §15.5.20: an unfinished head that is
        // already over the limit can only grow.
        if buf.len() > limits.max_header_bytes {
            return Err(too_large());
        }
        return Ok(None);
    };
    let spans = match line.fields {
        n if n <= SMALL_FIELDS => small.get(..n),
        _ => big.get(..),
    }
    .unwrap_or_default();
    buf.advance(start);
    let len = line.len;
    let head = buf.split_to(len).freeze();
    let built = build(&head, line, spans).and_then(|built| {
        if start + len > limits.max_header_bytes {
            return Err(too_large());
        }
        Ok(built)
    });
    if built.is_err() {
        // Rare (a malformed head): the bytes go back, copied.
        let mut back = BytesMut::with_capacity(head.len() + buf.len());
        back.extend_from_slice(&head);
        back.extend_from_slice(buf);
        *buf = back;
    }
    built.map(Some)
}

fn too_large() -> ParseError {
    ParseError::new(
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "request header section too large",
    )
}

fn uri_too_long() -> ParseError {
    ParseError::new(StatusCode::URI_TOO_LONG, "request target too long")
}

/// Skips the empty lines a client may send before a request line
/// (RFC 9112 §2.2). Returns where the request line starts, or `None` if
/// only empty lines (or part of one) have arrived.
fn skip_empty_lines(buf: &[u8]) -> Result<Option<usize>, ParseError> {
    let mut at = 0;
    for _ in 0..=MAX_LEADING_EMPTY_LINES {
        match buf.get(at) {
            None => return Ok(None),
            Some(b'\r') => match buf.get(at + 1) {
                None => return Ok(None),
                Some(b'\n') => at += 2,
                // RFC 9112 §2.2: a bare CR is invalid.
                Some(_) => return Err(ParseError::bad_request("bare CR before request line")),
            },
            // RFC 9112 §2.2: a recipient MAY recognize a lone LF as a line end.
            Some(b'\n') => at += 1,
            Some(_) => return Ok(Some(at)),
        }
    }
    match buf.get(at) {
        None => Ok(None),
        Some(b'\r' | b'\n') => Err(ParseError::bad_request(
            "too many empty lines before request line",
        )),
        Some(_) => Ok(Some(at)),
    }
}

/// Where a part of the head lies in it.
#[derive(Clone, Copy, Default)]
struct Span {
    at: u32,
    len: u32,
}

impl Span {
    /// The place of `part` (a subslice of `base`) in `base`.
    fn of(base: &[u8], part: &[u8]) -> Option<Span> {
        let at = (part.as_ptr() as usize).checked_sub(base.as_ptr() as usize)?;
        if at.checked_add(part.len())? > base.len() {
            return None;
        }
        Some(Span {
            at: u32::try_from(at).ok()?,
            len: u32::try_from(part.len()).ok()?,
        })
    }

    fn range(self) -> std::ops::Range<usize> {
        let at = self.at as usize;
        at..at + self.len as usize
    }
}

/// A field line's name and value, as places in the head.
#[derive(Clone, Copy, Default)]
struct FieldSpan {
    name: Span,
    value: Span,
}

/// What tokenizing found: the request line, and how long the head is.
struct Line {
    len: usize,
    method: Method,
    version: Version,
    target: Span,
    fields: usize,
}

/// Tokenizes with httparse and checks the request line. `rest` starts at
/// the request line; the fields' places go to `small`, or to `big` when
/// there are more than it holds.
fn tokenize<'b>(
    rest: &'b [u8],
    limits: &Limits,
    slots: &mut [MaybeUninit<httparse::Header<'b>>],
    small: &mut [FieldSpan],
    big: &mut Vec<FieldSpan>,
) -> Result<Option<Line>, ParseError> {
    let mut req = httparse::Request::new(&mut []);
    let len = match req.parse_with_uninit_headers(rest, slots) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => {
            // RFC 9112 §3: the request line is bounded through its target.
            let long = match req.path {
                Some(path) => path.len() > limits.max_uri_bytes,
                None => rest.len() > limits.max_uri_bytes.saturating_add(REQUEST_LINE_SLACK),
            };
            if long {
                return Err(uri_too_long());
            }
            return Ok(None);
        }
        Err(e) => return Err(map_httparse_error(e, rest)),
    };
    let target = req.path.unwrap_or_default();
    if target.len() > limits.max_uri_bytes {
        return Err(uri_too_long());
    }
    // RFC 9112 §3.2: the request-target is ASCII (httparse lets obs-text
    // through) and has no fragment (RFC 9110 §4.2.1: a fragment is never
    // sent; `Uri` would silently drop it, hiding part of what was asked).
    if !target.bytes().all(|b| b.is_ascii() && b != b'#') {
        return Err(ParseError::bad_request("invalid request target"));
    }
    let method = Method::from_bytes(req.method.unwrap_or_default().as_bytes())
        .map_err(|_| ParseError::bad_request("invalid method"))?;
    let version = match req.version {
        Some(0) => Version::HTTP_10,
        Some(1) => Version::HTTP_11,
        _ => return Err(version_not_supported()),
    };
    let head = rest.get(..len).unwrap_or_default();
    // httparse's slices all lie in the head; a head too large to index
    // with 32 bits is far over any sane limit.
    let place = |part: &[u8]| Span::of(head, part).ok_or_else(too_large);
    let fields = req.headers.len();
    let spans = match small.get_mut(..fields) {
        Some(spans) => spans,
        None => {
            big.resize(fields, FieldSpan::default());
            big.as_mut_slice()
        }
    };
    for (span, field) in spans.iter_mut().zip(req.headers.iter()) {
        *span = FieldSpan {
            name: place(field.name.as_bytes())?,
            value: place(field.value)?,
        };
    }
    Ok(Some(Line {
        len,
        method,
        version,
        target: place(target.as_bytes())?,
        fields,
    }))
}

/// Validates the head and builds the `http` types: the target and every
/// value are slices of `head`.
fn build(head: &Bytes, line: Line, fields: &[FieldSpan]) -> Result<RequestHead, ParseError> {
    let bytes = |span: Span| head.get(span.range()).unwrap_or_default();
    let Line {
        method,
        version,
        target,
        ..
    } = line;
    let target_span = target;
    let target = bytes(target_span);
    let uri = Uri::from_maybe_shared(head.slice(target_span.range()))
        .map_err(|_| ParseError::bad_request("invalid request target"))?;

    // RFC 9112 §5: the fields are checked here (httparse checked their
    // syntax) and built into a `HeaderMap` only when something reads them
    // (`FieldBlock::to_map`).
    if fields.len() > MAX_FIELDS {
        return Err(too_large());
    }
    let mut facts = Facts::default();
    for field in fields {
        facts.observe(bytes(field.name), field.value, bytes(field.value))?;
    }

    check_target(&method, &uri, target)?;
    check_host(version, &facts)?;
    let body = facts.body_kind(version)?;
    let keep_alive = match version {
        // RFC 9112 §9.3: HTTP/1.1 persists unless "close" is sent; HTTP/1.0
        // only with "keep-alive".
        Version::HTTP_11 => !facts.conn_close,
        _ => facts.conn_keep_alive && !facts.conn_close,
    };
    let is_11 = version == Version::HTTP_11;
    let upgrade_h2c = if is_11 && facts.upgrade_h2c && facts.conn_upgrade && facts.conn_h2_settings
    {
        // RFC 7540 §3.2.1: exactly one HTTP2-Settings field, else no upgrade.
        match (facts.h2_settings, facts.h2_settings_count) {
            (Some(value), 1) => Some(decode_h2_settings(bytes(value))?),
            _ => None,
        }
    } else {
        None
    };
    // The field lines start after the request line.
    let fields_at = head
        .iter()
        .position(|&b| b == b'\n')
        .map_or(head.len(), |n| n + 1);

    Ok(RequestHead {
        method,
        uri,
        version,
        fields: FieldBlock::new(
            head.clone(),
            fields_at,
            facts.host.map(Span::range),
            facts.expect,
        ),
        body,
        keep_alive,
        upgrade_h2c,
        upgrade: is_11 && facts.conn_upgrade && facts.upgrade_present,
    })
}

fn version_not_supported() -> ParseError {
    ParseError::new(
        StatusCode::HTTP_VERSION_NOT_SUPPORTED,
        "HTTP version not supported",
    )
}

fn map_httparse_error(e: httparse::Error, line: &[u8]) -> ParseError {
    match e {
        httparse::Error::Version => classify_version(line),
        httparse::Error::TooManyHeaders => ParseError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "too many header fields",
        ),
        // RFC 9112 §5.1 (whitespace before the colon) and §5.2 (obs-fold)
        // both surface here: a field line must start with a token.
        httparse::Error::HeaderName => ParseError::bad_request("invalid header field"),
        httparse::Error::HeaderValue => ParseError::bad_request("invalid header value"),
        httparse::Error::NewLine => ParseError::bad_request("invalid line ending"),
        _ => ParseError::bad_request("invalid request line"),
    }
}

/// httparse refuses every version but 1.0 and 1.1 alike. RFC 9112 §2.3:
/// a well-formed `HTTP/DIGIT.DIGIT` we don't implement is answered 505
/// (RFC 9110 §15.6.6), anything else is a malformed request line (400).
fn classify_version(line: &[u8]) -> ParseError {
    let end = line.iter().position(|&b| b == b'\n');
    let complete = end.is_some();
    let line = line.get(..end.unwrap_or(line.len())).unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    // request-line = method SP request-target SP HTTP-version (RFC 9112 §3);
    // httparse accepted the method and target, so two spaces are there.
    let version = line.splitn(3, |&b| b == b' ').nth(2).unwrap_or_default();
    let Some(numbers) = version.strip_prefix(b"HTTP/") else {
        return ParseError::bad_request("invalid HTTP version");
    };
    let pattern_ok = numbers.len() <= 3
        && numbers.iter().enumerate().all(|(i, &b)| match i {
            1 => b == b'.',
            _ => b.is_ascii_digit(),
        });
    if pattern_ok && (numbers.len() == 3 || !complete) {
        version_not_supported()
    } else {
        ParseError::bad_request("invalid HTTP version")
    }
}

/// RFC 9112 §3.2: which target form each method may use.
fn check_target(method: &Method, uri: &Uri, target: &[u8]) -> Result<(), ParseError> {
    if target == b"*" {
        // §3.2.4: asterisk-form is only for a server-wide OPTIONS.
        return if method == Method::OPTIONS {
            Ok(())
        } else {
            Err(ParseError::bad_request(
                "asterisk-form target outside OPTIONS",
            ))
        };
    }
    if method == Method::CONNECT {
        // §3.2.3: CONNECT takes the authority-form, host and port.
        return if uri.scheme().is_none() && uri.authority().is_some() && uri.port().is_some() {
            Ok(())
        } else {
            Err(ParseError::bad_request(
                "CONNECT needs an authority-form target",
            ))
        };
    }
    if target.first() == Some(&b'/') {
        return Ok(()); // §3.2.1 origin-form
    }
    match (uri.scheme(), uri.authority()) {
        // §3.2.2 absolute-form; RFC 9110 §4.2.4: userinfo is an error.
        (Some(_), Some(authority)) if !authority.as_str().contains('@') => Ok(()),
        (Some(_), _) => Err(ParseError::bad_request("invalid absolute-form target")),
        _ => Err(ParseError::bad_request(
            "authority-form target outside CONNECT",
        )),
    }
}

/// RFC 9112 §3.2: an HTTP/1.1 request needs exactly one Host; no request
/// may carry more than one or an invalid one.
fn check_host(version: Version, facts: &Facts) -> Result<(), ParseError> {
    if facts.host_count > 1 {
        return Err(ParseError::bad_request("more than one Host field"));
    }
    match facts.host_valid {
        None if version == Version::HTTP_11 => Err(ParseError::bad_request("missing Host field")),
        None | Some(true) => Ok(()),
        Some(false) => Err(ParseError::bad_request("invalid Host field")),
    }
}

/// `Host = uri-host [ ":" port ]` (RFC 9110 §7.2), with uri-host and port
/// from RFC 3986 §3.2.2–3.2.3; empty is allowed (RFC 9112 §3.2). Checked
/// by hand: it runs on every request and must not allocate.
fn is_valid_host(host: &[u8]) -> bool {
    let port = match host {
        [b'[', ..] => {
            // IP-literal = "[" ( IPv6address / IPvFuture ) "]"
            let Some(close) = host.iter().position(|&b| b == b']') else {
                return false;
            };
            let (literal, after) = host.split_at(close + 1);
            let inner = literal.get(1..close).unwrap_or_default();
            let inner_ok = !inner.is_empty()
                && inner
                    .iter()
                    .all(|&b| is_unreserved(b) || is_sub_delim(b) || b == b':');
            if !inner_ok {
                return false;
            }
            match after {
                [] => return true,
                [b':', port @ ..] => port,
                _ => return false,
            }
        }
        // reg-name = *( unreserved / pct-encoded / sub-delims ), which
        // covers IPv4address and holds no ':'. One pass: the first ':'
        // ends the name.
        _ => match host.iter().position(|&b| !REG_NAME[usize::from(b)]) {
            None => return true,
            Some(at) => match host.get(at..) {
                Some([b':', port @ ..]) => port,
                _ => return false,
            },
        },
    };
    // port = *DIGIT
    port.iter().all(u8::is_ascii_digit)
}

/// The bytes of a reg-name (RFC 3986 §3.2.2: unreserved, sub-delims and
/// the `%` of pct-encoded), as a table: checked for every byte of every
/// request's Host.
static REG_NAME: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = is_unreserved(c) || is_sub_delim(c) || c == b'%';
        b += 1;
    }
    t
};

/// RFC 3986 §2.3 unreserved.
const fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// RFC 3986 §2.2 sub-delims.
const fn is_sub_delim(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
    )
}

/// What the framing, persistence and upgrade rules need from the fields,
/// gathered in the same pass that builds the map.
#[derive(Default)]
struct Facts {
    host_count: usize,
    /// Whether the (last) Host field is valid, once one is seen.
    host_valid: Option<bool>,
    content_length: Option<u64>,
    transfer_encoding: bool,
    te_chunked: bool,
    te_error: Option<ParseError>,
    conn_close: bool,
    conn_keep_alive: bool,
    conn_upgrade: bool,
    conn_h2_settings: bool,
    upgrade_present: bool,
    upgrade_h2c: bool,
    h2_settings_count: usize,
    /// The place of the (last) HTTP2-Settings value.
    h2_settings: Option<Span>,
    /// The place of the (last) Host value.
    host: Option<Span>,
    /// An Expect field is present.
    expect: bool,
}

impl Facts {
    /// Notes what one field line (`name`, and its value `v` at `place`)
    /// says about framing, persistence, Host and upgrades.
    fn observe(&mut self, raw: &[u8], place: Span, v: &[u8]) -> Result<(), ParseError> {
        let Some(name) = crate::proto::http::names::common(raw) else {
            if raw.eq_ignore_ascii_case(HTTP2_SETTINGS.as_bytes()) {
                self.h2_settings_count += 1;
                self.h2_settings = Some(place);
            }
            return Ok(());
        };
        if name == header::HOST {
            self.host_count += 1;
            self.host_valid = Some(is_valid_host(v));
            self.host = Some(place);
        } else if name == header::EXPECT {
            self.expect = true;
        } else if name == header::CONTENT_LENGTH {
            self.content_length = Some(parse_content_length(v, self.content_length)?);
        } else if name == header::TRANSFER_ENCODING {
            self.observe_transfer_encoding(v);
        } else if name == header::CONNECTION {
            // RFC 9110 §7.6.1: a comma list of case-insensitive tokens.
            for token in list_items(v) {
                if token.eq_ignore_ascii_case(b"close") {
                    self.conn_close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    self.conn_keep_alive = true;
                } else if token.eq_ignore_ascii_case(b"upgrade") {
                    self.conn_upgrade = true;
                } else if token.eq_ignore_ascii_case(HTTP2_SETTINGS.as_bytes()) {
                    self.conn_h2_settings = true;
                }
            }
        } else if name == header::UPGRADE {
            // RFC 9110 §7.8: a comma list of protocols; RFC 7540 §3.2: "h2c".
            self.upgrade_present = true;
            if list_items(v).any(|p| p.eq_ignore_ascii_case(b"h2c")) {
                self.upgrade_h2c = true;
            }
        }
        Ok(())
    }

    /// RFC 9112 §6.1: the codings, in order, across every TE field; the
    /// only one we implement is chunked, which must be applied once, last.
    fn observe_transfer_encoding(&mut self, v: &[u8]) {
        self.transfer_encoding = true;
        for coding in list_items(v) {
            if self.te_error.is_some() {
                return;
            }
            if self.te_chunked {
                self.te_error = Some(if coding.eq_ignore_ascii_case(b"chunked") {
                    ParseError::bad_request("chunked applied more than once")
                } else {
                    not_implemented_coding()
                });
            } else if coding.eq_ignore_ascii_case(b"chunked") {
                self.te_chunked = true;
            } else if coding
                .iter()
                .all(|&b| crate::proto::http::names::is_tchar(b))
            {
                self.te_error = Some(not_implemented_coding());
            } else {
                // Parameters or junk: a malformed field, not an unknown coding.
                self.te_error = Some(ParseError::bad_request("invalid Transfer-Encoding"));
            }
        }
    }

    /// RFC 9112 §6.3: how the body is delimited.
    fn body_kind(&self, version: Version) -> Result<BodyKind, ParseError> {
        if self.transfer_encoding {
            // §6.1: TE in HTTP/1.0 means the framing is faulty.
            if version == Version::HTTP_10 {
                return Err(ParseError::bad_request("Transfer-Encoding in HTTP/1.0"));
            }
            // §6.1 / §6.3 item 3: we reject rather than let TE win, since
            // a message with both is a smuggling attempt more often than not.
            if self.content_length.is_some() {
                return Err(ParseError::bad_request(
                    "both Content-Length and Transfer-Encoding",
                ));
            }
            if let Some(e) = self.te_error {
                return Err(e);
            }
            if !self.te_chunked {
                return Err(ParseError::bad_request("empty Transfer-Encoding"));
            }
            return Ok(BodyKind::Chunked);
        }
        Ok(match self.content_length {
            Some(0) | None => BodyKind::None,
            Some(n) => BodyKind::Length(n),
        })
    }
}

fn not_implemented_coding() -> ParseError {
    // RFC 9112 §6.1: a transfer coding we don't understand SHOULD get 501.
    ParseError::new(
        StatusCode::NOT_IMPLEMENTED,
        "transfer coding not implemented",
    )
}

/// The non-empty, OWS-trimmed elements of a comma list (RFC 9110 §5.6.1:
/// empty elements are ignored).
fn list_items(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    v.split(|&b| b == b',')
        .map(trim_ows)
        .filter(|item| !item.is_empty())
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', tail @ ..] = s {
        s = tail;
    }
    while let [head @ .., b' ' | b'\t'] = s {
        s = head;
    }
    s
}

/// RFC 9110 §8.6 `Content-Length = 1*DIGIT`; RFC 9112 §6.3 item 5: a list
/// of identical values (or repeated identical fields) is that value, any
/// difference is an error. `seen` is the value of earlier fields.
fn parse_content_length(v: &[u8], seen: Option<u64>) -> Result<u64, ParseError> {
    let mut result = seen;
    for item in v.split(|&b| b == b',') {
        let item = trim_ows(item);
        if item.is_empty() {
            return Err(ParseError::bad_request("invalid Content-Length"));
        }
        let mut n: u64 = 0;
        for &b in item {
            if !b.is_ascii_digit() {
                return Err(ParseError::bad_request("invalid Content-Length"));
            }
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(b - b'0')))
                .ok_or(ParseError::bad_request("Content-Length too large"))?;
        }
        match result {
            Some(prev) if prev != n => {
                return Err(ParseError::bad_request("conflicting Content-Length values"))
            }
            _ => result = Some(n),
        }
    }
    result.ok_or(ParseError::bad_request("invalid Content-Length"))
}

/// RFC 7540 §3.2.1: `HTTP2-Settings` is the base64url encoding (RFC 4648
/// §5, trailing '=' omitted) of a SETTINGS frame payload, which is a
/// sequence of 6-byte parameters (RFC 7540 §6.5.1).
fn decode_h2_settings(value: &[u8]) -> Result<Bytes, ParseError> {
    let bad = || ParseError::bad_request("invalid HTTP2-Settings");
    // Tolerate the padding a lenient client may still send.
    let value = value
        .strip_suffix(b"==")
        .or_else(|| value.strip_suffix(b"="))
        .unwrap_or(value);
    if value.len() % 4 == 1 {
        return Err(bad());
    }
    let mut out = Vec::with_capacity(value.len() / 4 * 3 + 2);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for &c in value {
        let sextet = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return Err(bad()),
        };
        acc = (acc << 6) | u32::from(sextet);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if out.len() % 6 != 0 {
        return Err(bad());
    }
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits::default()
    }

    fn parse(buf: &[u8]) -> Result<Option<(RequestHead, usize)>, ParseError> {
        parse_request(buf, &limits())
    }

    fn ok(buf: &[u8]) -> RequestHead {
        match parse(buf) {
            Ok(Some((head, len))) => {
                assert_eq!(len, buf.len(), "whole input is the head");
                head
            }
            other => panic!("expected a head, got {other:?}"),
        }
    }

    fn status(buf: &[u8]) -> u16 {
        match parse(buf) {
            Err(e) => e.status().as_u16(),
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn simple_get() {
        let head = ok(b"GET /a/b?c=d HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n");
        assert_eq!(head.method, Method::GET);
        assert_eq!(head.uri.path(), "/a/b");
        assert_eq!(head.uri.query(), Some("c=d"));
        assert_eq!(head.version, Version::HTTP_11);
        assert_eq!(head.headers()["host"], "example.com");
        assert_eq!(head.headers()["accept"], "*/*");
        assert_eq!(head.body, BodyKind::None);
        assert!(head.keep_alive);
        assert!(head.upgrade_h2c.is_none());
    }

    #[test]
    fn consumed_stops_at_end_of_head() {
        let buf = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET";
        let (head, len) = parse(buf).unwrap().unwrap();
        assert_eq!(&buf[len..], b"helloGET");
        assert_eq!(head.body, BodyKind::Length(5));
    }

    #[test]
    fn heads_are_taken_from_the_read_buffer_without_a_copy() {
        let wire = b"\r\nGET /a HTTP/1.1\r\nHost: one\r\nX-Long: a value\r\n\r\nGET /b HTTP/1.1\r\nHost: two\r\n\r\nGE";
        let mut buf = BytesMut::from(&wire[..]);
        let span = buf.as_ptr() as usize..buf.as_ptr() as usize + buf.len();
        let inside = |b: &[u8]| span.contains(&(b.as_ptr() as usize));
        let first = take_request(&mut buf, &limits()).unwrap().unwrap();
        assert_eq!(first.uri.path(), "/a");
        assert!(inside(first.headers()["host"].as_bytes()));
        assert!(inside(first.headers()["x-long"].as_bytes()));
        assert!(inside(first.uri.path().as_bytes()));
        let second = take_request(&mut buf, &limits()).unwrap().unwrap();
        assert_eq!(second.headers()["host"], "two");
        assert!(inside(second.headers()["host"].as_bytes()));
        // The rest stays for the next read; the first head outlives the
        // buffer it came from.
        assert!(take_request(&mut buf, &limits()).unwrap().is_none());
        assert_eq!(&buf[..], b"GE");
        drop(buf);
        assert_eq!(first.headers()["x-long"], "a value");
    }

    #[test]
    fn a_refused_head_stays_in_the_read_buffer() {
        let wire = b"GET / HTTP/1.0\r\nHost: a b\r\n\r\nbody";
        let mut buf = BytesMut::from(&wire[..]);
        let e = take_request(&mut buf, &limits()).unwrap_err();
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        assert_eq!(&buf[..], &wire[..]);
        let mut many = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
        for i in 0..SMALL_FIELDS + 3 {
            many.push_str(&format!("X-{i}: {i}\r\n"));
        }
        many.push_str("X-Bad: \x01\r\n\r\n");
        let mut buf = BytesMut::from(many.as_bytes());
        assert!(take_request(&mut buf, &limits()).is_err());
        assert_eq!(&buf[..], many.as_bytes());
    }

    #[test]
    fn heads_with_more_fields_than_the_stack_keeps_parse_alike() {
        let mut wire = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
        for i in 0..SMALL_FIELDS * 2 {
            wire.push_str(&format!("X-{i}: v{i}\r\n"));
        }
        wire.push_str("\r\n");
        let head = ok(wire.as_bytes());
        assert_eq!(head.headers().len(), SMALL_FIELDS * 2 + 1);
        assert_eq!(head.headers()["x-63"], "v63");
    }

    #[test]
    fn partial_heads_need_more() {
        let buf = b"GET /index.html HTTP/1.1\r\nHost: example.com\r\nX-A: b\r\n\r\n";
        for cut in 0..buf.len() {
            assert!(matches!(parse(&buf[..cut]), Ok(None)), "cut at {cut}");
        }
        assert!(parse(buf).unwrap().is_some());
    }

    #[test]
    fn repeated_fields_keep_order() {
        let head = ok(b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\nY: 2\r\nX: 3\r\n\r\n");
        let map = head.headers();
        let xs: Vec<_> = map.get_all("x").iter().collect();
        assert_eq!(xs, ["1", "3"]);
    }

    #[test]
    fn leading_empty_lines_are_skipped_up_to_a_few() {
        // RFC 9112 §2.2
        let buf = b"\r\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
        let (head, len) = parse(buf).unwrap().unwrap();
        assert_eq!(len, buf.len());
        assert_eq!(head.method, Method::GET);
        assert!(matches!(parse(b"\r\n\r\n"), Ok(None)));
        assert!(matches!(parse(b"\r"), Ok(None)));
        assert_eq!(
            status(b"\r\n\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"),
            400
        );
        assert_eq!(status(b"\rGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    }

    #[test]
    fn bare_lf_line_endings_in_head_are_accepted() {
        // RFC 9112 §2.2: a recipient MAY recognize a single LF.
        let head = ok(b"GET / HTTP/1.1\nHost: a\n\n");
        assert_eq!(head.headers()["host"], "a");
    }

    #[test]
    fn malformed_request_lines_are_400() {
        assert_eq!(status(b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(status(b"GET /\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(status(b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.10\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(status(b"GET / http/1.1\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/11.1\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(status(b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(status(b"GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(status(b"GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(status(b"GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    }

    #[test]
    fn malformed_fields_are_400() {
        assert_eq!(
            status(b"GET / HTTP/1.1\r\nHost: a\r\nNo colon\r\n\r\n"),
            400
        );
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a\r\nX(y): 1\r\n\r\n"), 400);
        assert_eq!(
            status(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n"),
            400
        );
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a\r\n: empty\r\n\r\n"), 400);
    }

    #[test]
    fn whitespace_before_colon_is_400() {
        // RFC 9112 §5.1
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost : a\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a\r\nX\t: 1\r\n\r\n"), 400);
    }

    #[test]
    fn obs_fold_is_400() {
        // RFC 9112 §5.2
        assert_eq!(
            status(b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n"),
            400
        );
        assert_eq!(
            status(b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n\t2\r\n\r\n"),
            400
        );
        assert_eq!(status(b"GET / HTTP/1.1\r\n Host: a\r\n\r\n"), 400);
    }

    #[test]
    fn field_values_are_trimmed_and_may_hold_obs_text() {
        let head = ok(b"GET / HTTP/1.1\r\nHost:a\r\nX:  v w \t\r\nY: caf\xc3\xa9\r\n\r\n");
        assert_eq!(head.headers()["host"], "a");
        assert_eq!(head.headers()["x"], "v w");
        assert_eq!(head.headers()["y"].as_bytes(), b"caf\xc3\xa9");
    }

    #[test]
    fn extension_methods_are_accepted() {
        let head = ok(b"PURGE /x HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(head.method.as_str(), "PURGE");
    }

    #[test]
    fn both_content_length_and_transfer_encoding_is_400() {
        // RFC 9112 §6.1
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"),
            400
        );
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"),
            400
        );
    }

    #[test]
    fn differing_content_lengths_are_400() {
        // RFC 9112 §6.3 item 5
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"),
            400
        );
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 4\r\n\r\n"),
            400
        );
    }

    #[test]
    fn identical_content_lengths_are_one() {
        // RFC 9112 §6.3 item 5
        let head =
            ok(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\nContent-Length: 7\r\n\r\n");
        assert_eq!(head.body, BodyKind::Length(7));
        let head = ok(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 7 ,7\r\n\r\n");
        assert_eq!(head.body, BodyKind::Length(7));
    }

    #[test]
    fn invalid_content_lengths_are_400() {
        for value in [
            &b"-1"[..],
            b"+5",
            b"0x10",
            b"1 2",
            b"",
            b"5,",
            b"1e3",
            b"18446744073709551616",
            b"99999999999999999999999",
        ] {
            let mut buf = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ".to_vec();
            buf.extend_from_slice(value);
            buf.extend_from_slice(b"\r\n\r\n");
            assert_eq!(status(&buf), 400, "{:?}", String::from_utf8_lossy(value));
        }
        let head =
            ok(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551615\r\n\r\n");
        assert_eq!(head.body, BodyKind::Length(u64::MAX));
    }

    #[test]
    fn content_length_zero_is_no_body() {
        let head = ok(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(head.body, BodyKind::None);
        assert_eq!(head.headers()["content-length"], "0");
    }

    #[test]
    fn chunked_is_recognized_case_insensitively() {
        let head = ok(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ChUnKeD\r\n\r\n");
        assert_eq!(head.body, BodyKind::Chunked);
    }

    #[test]
    fn unknown_transfer_codings_are_501() {
        // RFC 9112 §6.1
        for te in [
            &b"gzip"[..],
            b"x-unknown",
            b"gzip, chunked",
            b"chunked, gzip",
            b"identity",
        ] {
            let mut buf = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ".to_vec();
            buf.extend_from_slice(te);
            buf.extend_from_slice(b"\r\n\r\n");
            assert_eq!(status(&buf), 501, "{:?}", String::from_utf8_lossy(te));
        }
        // Chunked not last across two fields.
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n"),
            501
        );
    }

    #[test]
    fn malformed_transfer_encodings_are_400() {
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"),
            400
        );
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n"),
            400
        );
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;x=1\r\n\r\n"),
            400
        );
    }

    #[test]
    fn transfer_encoding_in_http10_is_400() {
        // RFC 9112 §6.1
        assert_eq!(
            status(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
            400
        );
    }

    #[test]
    fn host_is_required_once_in_http11() {
        // RFC 9112 §3.2
        assert_eq!(status(b"GET / HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
        let head = ok(b"GET / HTTP/1.0\r\n\r\n");
        assert!(head.headers().get("host").is_none());
        // An empty Host is what a client sends when the target has no authority.
        ok(b"GET / HTTP/1.1\r\nHost:\r\n\r\n");
    }

    #[test]
    fn invalid_host_is_400() {
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost: user@a\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), 400);
        for bad in [
            &b"a:b"[..],
            b"a:1:2",
            b"[::1",
            b"[]",
            b"[::1]x",
            b"[::1]:8a",
            b"a?b",
            b"a#b",
            b"a\\b",
            b"\"a\"",
            b"a\tb",
        ] {
            let mut buf = b"GET / HTTP/1.1\r\nHost: ".to_vec();
            buf.extend_from_slice(bad);
            buf.extend_from_slice(b"\r\n\r\n");
            assert_eq!(status(&buf), 400, "{:?}", String::from_utf8_lossy(bad));
        }
        for good in [
            &b"a:"[..],
            b"127.0.0.1:80",
            b"[::1]",
            b"[v1.x]:1",
            b"xn--d-uga.example",
            b"%41.b",
        ] {
            let mut buf = b"GET / HTTP/1.1\r\nHost: ".to_vec();
            buf.extend_from_slice(good);
            buf.extend_from_slice(b"\r\n\r\n");
            assert_eq!(ok(&buf).headers()["host"].as_bytes(), good);
        }
        let head = ok(b"GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n");
        assert_eq!(head.headers()["host"], "example.com:8080");
        ok(b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n");
    }

    #[test]
    fn absolute_form_authority_replaces_host() {
        // RFC 9112 §3.2.2
        let head = ok(b"GET http://example.com:81/p?q HTTP/1.1\r\nHost: other\r\n\r\n");
        assert_eq!(head.uri.host(), Some("example.com"));
        assert_eq!(head.uri.path(), "/p");
        assert_eq!(head.headers()["host"], "example.com:81");
        assert_eq!(head.headers().get_all("host").iter().count(), 1);
        // Host is still required in HTTP/1.1 (§3.2).
        assert_eq!(status(b"GET http://example.com/ HTTP/1.1\r\n\r\n"), 400);
        // RFC 9110 §4.2.4: userinfo is an error.
        assert_eq!(
            status(b"GET http://u:p@example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n"),
            400
        );
    }

    #[test]
    fn authority_form_only_with_connect() {
        // RFC 9112 §3.2.3
        let head = ok(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
        assert_eq!(
            head.uri.authority().map(|a| a.as_str()),
            Some("example.com:443")
        );
        assert_eq!(
            status(b"GET example.com:443 HTTP/1.1\r\nHost: a\r\n\r\n"),
            400
        );
        assert_eq!(status(b"CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(
            status(b"CONNECT http://a:1/ HTTP/1.1\r\nHost: a\r\n\r\n"),
            400
        );
        assert_eq!(
            status(b"CONNECT example.com HTTP/1.1\r\nHost: a\r\n\r\n"),
            400
        );
    }

    #[test]
    fn asterisk_form_only_with_options() {
        // RFC 9112 §3.2.4
        let head = ok(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(head.uri, "*");
        assert_eq!(status(b"GET * HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
        // OPTIONS may still use the other forms.
        ok(b"OPTIONS /x HTTP/1.1\r\nHost: a\r\n\r\n");
    }

    #[test]
    fn long_targets_are_414() {
        let small = Limits {
            max_uri_bytes: 16,
            ..Limits::default()
        };
        let at_limit = b"GET /234567890123456 HTTP/1.1\r\nHost: a\r\n\r\n";
        assert!(parse_request(at_limit, &small).unwrap().is_some());
        let over = b"GET /2345678901234567 HTTP/1.1\r\nHost: a\r\n\r\n";
        assert_eq!(parse_request(over, &small).unwrap_err().status(), 414);
        // Target complete but head not: known already.
        let over_partial = b"GET /2345678901234567 HTTP/1.1\r\nHos";
        assert_eq!(
            parse_request(over_partial, &small).unwrap_err().status(),
            414
        );
        // A request line that never ends.
        let mut endless = b"GET /".to_vec();
        endless.resize(16 + REQUEST_LINE_SLACK + 1, b'a');
        assert_eq!(parse_request(&endless, &small).unwrap_err().status(), 414);
        endless.truncate(16 + REQUEST_LINE_SLACK);
        assert!(parse_request(&endless, &small).unwrap().is_none());
    }

    #[test]
    fn large_header_sections_are_431() {
        let small = Limits {
            max_header_bytes: 64,
            ..Limits::default()
        };
        let mut buf = b"GET / HTTP/1.1\r\nHost: a\r\nX: ".to_vec();
        buf.resize(64 - 4, b'v');
        buf.extend_from_slice(b"\r\n\r\n");
        assert_eq!(buf.len(), 64);
        assert!(parse_request(&buf, &small).unwrap().is_some());
        buf.insert(30, b'v');
        assert_eq!(parse_request(&buf, &small).unwrap_err().status(), 431);
        // Incomplete and already too large: it can only grow.
        assert!(parse_request(&buf[..64], &small).unwrap().is_none());
        let mut partial = b"GET / HTTP/1.1\r\nHost: a\r\nX: ".to_vec();
        partial.resize(65, b'v');
        assert_eq!(parse_request(&partial, &small).unwrap_err().status(), 431);
    }

    #[test]
    fn too_many_fields_are_431() {
        let few = Limits {
            max_headers: 3,
            ..Limits::default()
        };
        let buf = b"GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n";
        assert!(parse_request(buf, &few).unwrap().is_some());
        // Exactly full slots is not "too many" before the head ends.
        for cut in 0..buf.len() {
            assert!(
                parse_request(&buf[..cut], &few).unwrap().is_none(),
                "cut {cut}"
            );
        }
        let buf = b"GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
        assert_eq!(parse_request(buf, &few).unwrap_err().status(), 431);
    }

    #[test]
    fn many_fields_beyond_the_stack_array() {
        let many = Limits {
            max_headers: STACK_HEADERS + 10,
            ..Limits::default()
        };
        let mut buf = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
        for i in 0..STACK_HEADERS + 5 {
            buf.extend_from_slice(format!("X-{i}: {i}\r\n").as_bytes());
        }
        buf.extend_from_slice(b"\r\n");
        let (head, _) = parse_request(&buf, &many).unwrap().unwrap();
        assert_eq!(head.headers().len(), STACK_HEADERS + 6);
        assert_eq!(parse(&buf).unwrap_err().status(), 431);
    }

    #[test]
    fn unsupported_versions_are_505() {
        // RFC 9110 §15.6.6
        for line in [
            &b"GET / HTTP/2.0\r\nHost: a\r\n\r\n"[..],
            b"GET / HTTP/1.2\r\nHost: a\r\n\r\n",
            b"GET / HTTP/3.0\r\nHost: a\r\n\r\n",
            b"GET / HTTP/0.9\r\n\r\n",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            // Known as soon as the major version arrives.
            b"GET / HTTP/2",
        ] {
            assert_eq!(status(line), 505, "{:?}", String::from_utf8_lossy(line));
        }
    }

    #[test]
    fn keep_alive_rules() {
        // RFC 9112 §9.3
        assert!(ok(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").keep_alive);
        assert!(!ok(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").keep_alive);
        assert!(
            !ok(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive, CLOSE\r\n\r\n").keep_alive
        );
        assert!(!ok(b"GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(ok(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive);
        assert!(ok(b"GET / HTTP/1.0\r\nConnection: foo ,Keep-Alive\r\n\r\n").keep_alive);
        assert!(
            !ok(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n")
                .keep_alive
        );
        // A token that merely contains "close" is not "close".
        assert!(ok(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n").keep_alive);
    }

    // SETTINGS_MAX_CONCURRENT_STREAMS = 100, SETTINGS_INITIAL_WINDOW_SIZE =
    // 33554432: the payload curl sends, base64url without padding.
    const CURL_SETTINGS: &[u8] = b"AAMAAABkAAQCAAAAAAIAAAAA";
    const CURL_SETTINGS_DECODED: &[u8] = &[0, 3, 0, 0, 0, 100, 0, 4, 2, 0, 0, 0, 0, 2, 0, 0, 0, 0];

    fn h2c_request(connection: &str, upgrade: &str, settings: &[&[u8]]) -> Vec<u8> {
        let mut buf = format!(
            "GET / HTTP/1.1\r\nHost: a\r\nConnection: {connection}\r\nUpgrade: {upgrade}\r\n"
        )
        .into_bytes();
        for s in settings {
            buf.extend_from_slice(b"HTTP2-Settings: ");
            buf.extend_from_slice(s);
            buf.extend_from_slice(b"\r\n");
        }
        buf.extend_from_slice(b"\r\n");
        buf
    }

    #[test]
    fn h2c_upgrade_is_recognized() {
        // RFC 7540 §3.2
        let head = ok(&h2c_request(
            "Upgrade, HTTP2-Settings",
            "h2c",
            &[CURL_SETTINGS],
        ));
        assert_eq!(head.upgrade_h2c.as_deref(), Some(CURL_SETTINGS_DECODED));
        let head = ok(&h2c_request(
            "upgrade,http2-settings",
            "websocket, H2C",
            &[CURL_SETTINGS],
        ));
        assert_eq!(head.upgrade_h2c.as_deref(), Some(CURL_SETTINGS_DECODED));
        // Empty settings (no parameters) are a valid SETTINGS payload.
        let head = ok(&h2c_request("Upgrade, HTTP2-Settings", "h2c", &[b""]));
        assert_eq!(head.upgrade_h2c.as_deref(), Some(&b""[..]));
    }

    #[test]
    fn h2c_upgrade_needs_all_its_parts() {
        // RFC 7540 §3.2.1: no upgrade without exactly one HTTP2-Settings.
        assert!(ok(&h2c_request("Upgrade, HTTP2-Settings", "h2c", &[]))
            .upgrade_h2c
            .is_none());
        let two = h2c_request(
            "Upgrade, HTTP2-Settings",
            "h2c",
            &[CURL_SETTINGS, CURL_SETTINGS],
        );
        assert!(ok(&two).upgrade_h2c.is_none());
        assert!(ok(&h2c_request("Upgrade", "h2c", &[CURL_SETTINGS]))
            .upgrade_h2c
            .is_none());
        assert!(ok(&h2c_request("HTTP2-Settings", "h2c", &[CURL_SETTINGS]))
            .upgrade_h2c
            .is_none());
        assert!(ok(&h2c_request(
            "Upgrade, HTTP2-Settings",
            "h2",
            &[CURL_SETTINGS]
        ))
        .upgrade_h2c
        .is_none());
        assert!(ok(&h2c_request(
            "Upgrade, HTTP2-Settings",
            "websocket",
            &[CURL_SETTINGS]
        ))
        .upgrade_h2c
        .is_none());
        // Not in HTTP/1.0.
        let mut v10 = h2c_request("Upgrade, HTTP2-Settings", "h2c", &[CURL_SETTINGS]);
        v10[13] = b'0';
        assert!(ok(&v10).upgrade_h2c.is_none());
    }

    #[test]
    fn malformed_h2c_settings_are_400() {
        for bad in [
            &b"AAMAAABk+AQCAAAAAAIAAAAA"[..],
            b"AAMAA/BkAAQCAAAAAAIAAAAA",
            b"A",
            b"AAMAAABkAAQ",
            b"AA*=",
        ] {
            let buf = h2c_request("Upgrade, HTTP2-Settings", "h2c", &[bad]);
            assert_eq!(status(&buf), 400, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn base64url_decoding() {
        assert_eq!(decode_h2_settings(b"").unwrap(), &b""[..]);
        assert_eq!(
            decode_h2_settings(b"AAMAAABk").unwrap(),
            &[0, 3, 0, 0, 0, 100][..]
        );
        // Padding tolerated, '-' and '_' are 62 and 63.
        assert_eq!(
            decode_h2_settings(b"AAMAAABk").unwrap(),
            decode_h2_settings(b"AAMAAABk==").unwrap()
        );
        assert_eq!(
            decode_h2_settings(b"-_-_-_-_").unwrap(),
            &[0xfb, 0xff, 0xbf, 0xfb, 0xff, 0xbf][..]
        );
    }

    #[test]
    fn classify_version_cases() {
        assert_eq!(classify_version(b"GET / HTTP/2.0\r\n").status(), 505);
        assert_eq!(classify_version(b"GET / HTTP/2.").status(), 505);
        assert_eq!(classify_version(b"GET / HTTP/2.0x\r\n").status(), 400);
        assert_eq!(classify_version(b"GET / HTTP/2\r\n").status(), 400);
        assert_eq!(classify_version(b"GET / HTTPS/2.0\r\n").status(), 400);
        assert_eq!(classify_version(b"GET /").status(), 400);
    }
}
