//! HTTP semantics of HTTP/2 field blocks (RFC 9113 §8): validating request
//! heads and trailers as the HPACK decoder emits them, and building the
//! field list of a response head.

use bytes::{Bytes, BytesMut};
use http::header::{HeaderName, HeaderValue};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, Method, StatusCode, Uri, Version};

use super::hpack::{Encoder, FieldSource};
use crate::proto::http::names;

/// Why a field block was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reject {
    /// Malformed (§8.1.1): a stream error PROTOCOL_ERROR.
    Malformed(&'static str),
    /// Larger than our SETTINGS_MAX_HEADER_LIST_SIZE: answered 431.
    TooLarge,
}

/// Fields connection-specific to HTTP/1.1, which HTTP/2 forbids (§8.2.2).
fn is_connection_specific(name: &[u8]) -> bool {
    matches!(
        name,
        b"connection" | b"keep-alive" | b"proxy-connection" | b"transfer-encoding" | b"upgrade"
    )
}

/// §8.2.1: names carry no controls, SP, uppercase, DEL or non-ASCII, and no
/// colon outside pseudo-headers; and, as every HTTP name, they are tokens
/// (RFC 9110 §5.1), which is what a `HeaderName` may hold.
fn valid_name(name: &[u8]) -> bool {
    !name.is_empty()
        && name
            .iter()
            .all(|&b| names::is_tchar(b) && !b.is_ascii_uppercase())
}

/// §8.2.1: values carry no NUL, CR or LF, and no leading/trailing SP or
/// HTAB; and, as a `HeaderValue`, no other control than HTAB, and no DEL
/// (RFC 9110 §5.5 field-vchar: VCHAR / obs-text).
fn valid_value(v: &[u8]) -> bool {
    let ws = |b: &u8| *b == b' ' || *b == b'\t';
    let byte_ok = |b: u8| (b >= 0x20 && b != 0x7f) || b == b'\t';
    // Eight bytes at a time while none is below 0x20 or DEL (the usual
    // value), then byte by byte.
    let mut words = v.chunks_exact(8);
    let words_ok = words.all(|w| {
        let mut eight = [0u8; 8];
        eight.copy_from_slice(w);
        plain_word(u64::from_le_bytes(eight)) || w.iter().all(|&b| byte_ok(b))
    });
    words_ok
        && words.remainder().iter().all(|&b| byte_ok(b))
        && !v.first().is_some_and(ws)
        && !v.last().is_some_and(ws)
}

/// Whether no byte of `w` is below 0x20 or equal to 0x7f (bytes of 0x80
/// and above, obs-text, pass). The "has a byte less than n" and "has a
/// zero byte" word tests, exact for n <= 128.
#[inline]
fn plain_word(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let below_space = w.wrapping_sub(ONES * 0x20) & !w & HIGHS;
    let del = w ^ (ONES * 0x7f);
    let has_del = del.wrapping_sub(ONES) & !del & HIGHS;
    below_space | has_del == 0
}

/// The regular fields of an HTTP/2 request head, checked (§8.2) but not
/// yet built into a `HeaderMap`: [`FieldList::to_map`] builds it when a
/// handler, a layer or a service reads the headers. Names are lowercase
/// tokens and values valid `HeaderValue`s (the collector checked them);
/// cookie crumbs are already joined (§8.2.3).
#[derive(Clone, Debug, Default)]
pub struct FieldList {
    fields: Vec<(Bytes, Bytes)>,
}

impl FieldList {
    /// The fields as a `HeaderMap`, in the order they arrived.
    pub fn to_map(&self) -> HeaderMap {
        let mut map = HeaderMap::with_capacity(self.fields.len());
        for (name, value) in &self.fields {
            let name = names::common(name).or_else(|| HeaderName::from_bytes(name).ok());
            // Both always succeed: the collector checked the bytes.
            if let (Some(name), Ok(value)) = (name, HeaderValue::from_maybe_shared(value.clone())) {
                let _ = map.try_append(name, value);
            }
        }
        map
    }

    /// The value of the first field named `name` (lowercase), if any.
    pub fn get(&self, name: &[u8]) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(n, _)| n[..] == *name)
            .map(|(_, v)| &v[..])
    }

    /// How many fields the list holds (fuzzing checks that each builds).
    #[cfg(any(test, feature = "unstable-fuzz"))]
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether the list holds no field.
    #[cfg(any(test, feature = "unstable-fuzz"))]
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Every value of the fields named `name` (lowercase), in order.
    pub fn values<'a>(&'a self, name: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.fields
            .iter()
            .filter(move |(n, _)| n[..] == *name)
            .map(|(_, v)| &v[..])
    }
}

/// The target of a connection's last request, parsed: its `:authority`,
/// and its whole URI (scheme, authority, path and query). The next request
/// naming the same authority bytes (nearly every request of a connection)
/// reuses the parsed authority instead of parsing and checking it again;
/// one naming the same target as well (a client polling a resource, a gRPC
/// client calling the same method) reuses the whole URI, whose path the
/// `http` crate would otherwise scan again. Only an authority without
/// userinfo (no `@`, §8.3.1) is remembered, so a request naming the
/// remembered bytes needs no userinfo check either.
#[derive(Debug, Default)]
pub(crate) struct TargetMemo {
    authority: Option<Authority>,
    /// Boxed: every connection's future holds the memo, and most of the
    /// time (idle) without a URI; the box is reused from one target to the
    /// next.
    uri: Option<Box<Uri>>,
}

impl TargetMemo {
    /// `raw` as an authority: the remembered one when `raw` is its bytes,
    /// else parsed (and remembered when valid and without userinfo).
    fn parse(&mut self, raw: Bytes) -> Result<Authority, http::uri::InvalidUri> {
        if let Some(a) = &self.authority {
            if a.as_str().as_bytes() == &raw[..] {
                return Ok(a.clone());
            }
        }
        let userinfo = raw.contains(&b'@');
        let a = Authority::from_maybe_shared(raw)?;
        if !userinfo {
            self.authority = Some(a.clone());
        }
        Ok(a)
    }

    /// Whether `raw` is the remembered authority's bytes.
    fn holds(&self, raw: &[u8]) -> bool {
        self.authority
            .as_ref()
            .is_some_and(|a| a.as_str().as_bytes() == raw)
    }

    /// The remembered URI when these are its scheme, authority and path
    /// bytes. Parsing the same bytes again would give the same URI: the
    /// remembered one's parts are what parsing them kept, and parsing a
    /// part's own text gives that part back.
    fn uri(&self, scheme: &[u8], authority: &[u8], path: &[u8]) -> Option<Uri> {
        let u = self.uri.as_ref()?;
        let same = u.path_and_query()?.as_str().as_bytes() == path
            && u.authority()?.as_str().as_bytes() == authority
            && u.scheme_str()?.as_bytes() == scheme;
        same.then(|| Uri::clone(u))
    }

    /// Remembers `uri`, built from a request's `:scheme`, `:authority`
    /// and `:path`, if its authority is the remembered one (no userinfo).
    fn remember(&mut self, uri: &Uri) {
        if uri
            .authority()
            .is_some_and(|a| self.holds(a.as_str().as_bytes()))
        {
            match &mut self.uri {
                Some(u) => **u = uri.clone(),
                None => self.uri = Some(Box::new(uri.clone())),
            }
        }
    }

    /// Forgets the target (an idle connection keeps nothing it need not).
    pub(crate) fn clear(&mut self) {
        self.authority = None;
        self.uri = None;
    }
}

/// Collects and checks the fields of one request head or trailer section,
/// one at a time, as the HPACK decoder emits them; the first problem is
/// kept and the rest of the block is still consumed (the decoder must see
/// every field to keep its table in sync).
pub(crate) struct FieldCollector {
    trailers: bool,
    max_list_size: usize,
    list_size: usize,
    max_fields: usize,
    count: usize,
    method: Option<Bytes>,
    scheme: Option<Bytes>,
    authority: Option<Bytes>,
    path: Option<Bytes>,
    protocol: Option<Bytes>,
    regular_seen: bool,
    /// The regular fields: a request's are built into a map only when
    /// read, a trailer section's when it ends.
    list: FieldList,
    cookies: Vec<Bytes>,
    content_length: Option<u64>,
    reject: Option<Reject>,
}

/// The URI of a request's `:scheme`, `:authority` (if any) and `:path`
/// (§8.3.1), its authority parsed through `memo`.
fn target(
    scheme: &[u8],
    authority: Option<Bytes>,
    path: Bytes,
    memo: &mut TargetMemo,
) -> Result<Uri, http::Error> {
    let mut uri = http::uri::Parts::default();
    uri.path_and_query = Some(PathAndQuery::from_maybe_shared(path)?);
    if let Some(a) = authority {
        uri.scheme = Some(Scheme::try_from(scheme)?);
        uri.authority = Some(memo.parse(a)?);
    }
    Ok(Uri::from_parts(uri)?)
}

/// A validated request head: `parts.headers` is empty, the fields are in
/// `fields`.
#[derive(Debug)]
pub(crate) struct RequestHead {
    /// Boxed once here and moved by pointer from then on (driver, site,
    /// router, the handler's context): the head is ~220 bytes.
    pub(crate) parts: Box<http::request::Parts>,
    pub(crate) fields: FieldList,
    pub(crate) content_length: Option<u64>,
    /// The `:protocol` of an extended CONNECT (RFC 8441 §4).
    pub(crate) protocol: Option<Bytes>,
}

impl FieldCollector {
    pub(crate) fn new(trailers: bool, max_list_size: u32) -> Self {
        FieldCollector {
            trailers,
            max_list_size: max_list_size as usize,
            list_size: 0,
            max_fields: usize::MAX,
            count: 0,
            method: None,
            scheme: None,
            authority: None,
            path: None,
            protocol: None,
            regular_seen: false,
            list: FieldList::default(),
            cookies: Vec::new(),
            content_length: None,
            reject: None,
        }
    }

    fn fail(&mut self, why: &'static str) {
        if self.reject.is_none() {
            self.reject = Some(Reject::Malformed(why));
        }
    }

    /// Limits the number of fields (pseudo-headers not counted); more is
    /// [`Reject::TooLarge`].
    pub(crate) fn limit_fields(&mut self, n: usize) {
        self.max_fields = n;
    }

    /// The decoder stopped emitting: the list exceeds our limit.
    pub(crate) fn too_large(&mut self) {
        if !matches!(self.reject, Some(Reject::Malformed(_))) {
            self.reject = Some(Reject::TooLarge);
        }
    }

    /// One decoded field, its octets not yet checked.
    #[cfg(test)]
    pub(crate) fn field(&mut self, name: Bytes, value: Bytes) {
        self.field_vetted(name, value, false);
    }

    /// One decoded field; `vetted`: its octets passed the checks of
    /// §8.2.1 before (it comes from a table, see `Decoder::decode_vetted`).
    /// Returns whether they pass those checks (false when not checked: the
    /// section is already rejected or too large).
    pub(crate) fn field_vetted(&mut self, name: Bytes, value: Bytes, vetted: bool) -> bool {
        // RFC 7541 §4.1: size = name + value + 32.
        self.list_size = self.list_size.saturating_add(name.len() + value.len() + 32);
        if !name.starts_with(b":") {
            self.count += 1;
        }
        if self.list_size > self.max_list_size || self.count > self.max_fields {
            if self.reject.is_none() {
                self.reject = Some(Reject::TooLarge);
            }
            return false;
        }
        if self.reject.is_some() {
            return false;
        }
        if !vetted && !valid_value(&value) {
            self.fail("invalid field value");
            return false;
        }
        if let Some(pseudo) = name.strip_prefix(b":") {
            // A pseudo-header's name is one of five, matched exactly.
            self.pseudo(pseudo, value);
            return true;
        }
        if !vetted && !valid_name(&name) {
            self.fail("invalid field name");
            return false;
        }
        self.regular(name, value);
        true
    }

    /// §8.3: pseudo-headers.
    fn pseudo(&mut self, name: &[u8], value: Bytes) {
        // §8.1: trailers carry no pseudo-headers.
        if self.trailers {
            return self.fail("pseudo-header in trailers");
        }
        // §8.3: all pseudo-headers come before regular fields.
        if self.regular_seen {
            return self.fail("pseudo-header after regular field");
        }
        let slot = match name {
            b"method" => &mut self.method,
            b"scheme" => &mut self.scheme,
            b"authority" => &mut self.authority,
            b"path" => &mut self.path,
            // RFC 8441 §4: the protocol of an extended CONNECT.
            b"protocol" => &mut self.protocol,
            // §8.3: unknown or response pseudo-headers are malformed.
            _ => return self.fail("unknown pseudo-header"),
        };
        // §8.3.1: each at most once.
        if slot.is_some() {
            return self.fail("duplicate pseudo-header");
        }
        *slot = Some(value);
    }

    /// A regular field whose name is valid (§8.2.1).
    fn regular(&mut self, name: Bytes, value: Bytes) {
        self.regular_seen = true;
        // §8.2.2: connection-specific fields are malformed.
        if is_connection_specific(&name) {
            return self.fail("connection-specific field");
        }
        // §8.2.2: TE may only carry "trailers".
        if &name[..] == b"te" && !value.eq_ignore_ascii_case(b"trailers") {
            return self.fail("te other than trailers");
        }
        if &name[..] == b"content-length" {
            let parsed = std::str::from_utf8(&value)
                .ok()
                .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse::<u64>().ok());
            match (parsed, self.content_length) {
                (None, _) => return self.fail("invalid content-length"),
                (Some(n), Some(m)) if n != m => return self.fail("conflicting content-length"),
                (Some(n), _) => self.content_length = Some(n),
            }
        }
        // §8.2.3: cookie crumbs are joined after the block.
        if &name[..] == b"cookie" {
            self.cookies.push(value);
            return;
        }
        if self.list.fields.capacity() == 0 {
            // One allocation for the usual request's fields.
            self.list.fields.reserve_exact(8);
        }
        self.list.fields.push((name, value));
    }

    fn join_cookies(&mut self) {
        if self.cookies.is_empty() {
            return;
        }
        // §8.2.3: crumbs are concatenated with "; " before being passed on.
        let mut joined = BytesMut::new();
        for (i, c) in self.cookies.iter().enumerate() {
            if i > 0 {
                joined.extend_from_slice(b"; ");
            }
            joined.extend_from_slice(c);
        }
        // Each crumb was checked; "; " keeps the value valid.
        self.list
            .fields
            .push((Bytes::from_static(b"cookie"), joined.freeze()));
    }

    /// The trailer section (what was collected is taken).
    pub(crate) fn finish_trailers(&mut self) -> Result<HeaderMap, Reject> {
        if let Some(r) = self.reject.take() {
            return Err(r);
        }
        self.join_cookies();
        Ok(self.list.to_map())
    }

    /// The request head (§8.3.1 checks on the pseudo-headers), with a
    /// memo of its own.
    #[cfg(test)]
    pub(crate) fn finish_request(mut self) -> Result<RequestHead, Reject> {
        self.finish_request_with(&mut TargetMemo::default())
    }

    /// The request head (§8.3.1 checks on the pseudo-headers; what was
    /// collected is taken); `memo` holds the connection's last target.
    pub(crate) fn finish_request_with(
        &mut self,
        memo: &mut TargetMemo,
    ) -> Result<RequestHead, Reject> {
        if let Some(r) = self.reject.take() {
            return Err(r);
        }
        self.join_cookies();
        let method = self
            .method
            .take()
            .ok_or(Reject::Malformed("missing :method"))?;
        let method =
            Method::from_bytes(&method).map_err(|_| Reject::Malformed("invalid :method"))?;
        if let Some(a) = &self.authority {
            // §8.3.1: no userinfo in :authority (the remembered authority
            // passed this check).
            if !memo.holds(a) && a.contains(&b'@') {
                return Err(Reject::Malformed("userinfo in :authority"));
            }
            // §8.3.1: a Host field naming another entity than :authority
            // (any of them, if a client sent several).
            if self
                .list
                .values(b"host")
                .any(|h| !h.eq_ignore_ascii_case(a))
            {
                return Err(Reject::Malformed("host differs from :authority"));
            }
        }
        let authority = match self.authority.take() {
            Some(a) => Some(a),
            // An absent :authority: the Host field names the target (§8.3.1).
            None => self.list.get(b"host").map(Bytes::copy_from_slice),
        };
        let protocol = self.protocol.take();
        if protocol.is_some() {
            // RFC 8441 §4: :protocol only on CONNECT, which then carries
            // :scheme and :path (and :authority) like any request.
            if method != Method::CONNECT {
                return Err(Reject::Malformed(":protocol without CONNECT"));
            }
            if self.scheme.is_none() || self.path.is_none() || authority.is_none() {
                return Err(Reject::Malformed(
                    "extended CONNECT without :scheme, :path or :authority",
                ));
            }
        }
        let uri = if method == Method::CONNECT && protocol.is_none() {
            // §8.5: CONNECT carries :authority only.
            if self.scheme.is_some() || self.path.is_some() {
                return Err(Reject::Malformed("CONNECT with :scheme or :path"));
            }
            let a = authority.ok_or(Reject::Malformed("CONNECT without :authority"))?;
            Uri::from_maybe_shared(a).map_err(|_| Reject::Malformed("invalid :authority"))?
        } else {
            let scheme = self
                .scheme
                .take()
                .ok_or(Reject::Malformed("missing :scheme"))?;
            let path = self.path.take().ok_or(Reject::Malformed("missing :path"))?;
            if path.is_empty() {
                return Err(Reject::Malformed("empty :path"));
            }
            let http_like = &scheme[..] == b"http" || &scheme[..] == b"https";
            if &path[..] == b"*" {
                // §8.3.1: '*' only for OPTIONS.
                if method != Method::OPTIONS {
                    return Err(Reject::Malformed(":path '*' without OPTIONS"));
                }
                Uri::from_static("*")
            } else {
                if http_like && !path.starts_with(b"/") {
                    return Err(Reject::Malformed(":path not absolute"));
                }
                let bad = |_| Reject::Malformed("invalid request target");
                let known = match &authority {
                    Some(a) => memo.uri(&scheme, a, &path),
                    None => None,
                };
                match known {
                    Some(uri) => uri,
                    None => {
                        let uri = target(&scheme, authority, path, memo).map_err(bad)?;
                        memo.remember(&uri);
                        uri
                    }
                }
            }
        };
        let mut parts = Box::new(http::Request::new(()).into_parts().0);
        parts.method = method;
        parts.uri = uri;
        parts.version = Version::HTTP_2;
        Ok(RequestHead {
            parts,
            fields: std::mem::take(&mut self.list),
            content_length: self.content_length,
            protocol,
        })
    }
}

/// Fields stripped from responses: HTTP/1.1 connection management that
/// HTTP/2 forbids (§8.2.2).
fn strip_from_response(name: &HeaderName) -> bool {
    is_connection_specific(name.as_str().as_bytes())
        || name == http::header::TE
        || name == http::header::CONTENT_LENGTH
}

/// Encodes a response head into an HPACK block: `:status` first, the
/// application's fields minus connection-specific ones and its own
/// `content-length`, then `date` and `server` when the application did not
/// set them, and `content-length` when `content_length` is given (the
/// exchange layer's framing decision, `proto::http::frame_response`).
pub(crate) fn encode_response(
    encoder: &mut Encoder,
    status: StatusCode,
    headers: &HeaderMap,
    content_length: Option<u64>,
    date: &[u8],
    dst: &mut BytesMut,
) {
    let len_buf = content_length.map(itoa_buf);
    let head = ResponseHead {
        status: status.as_str().as_bytes(),
        headers,
        date,
        content_length: len_buf.as_ref().map(|(buf, start)| &buf[*start..]),
    };
    // Responses on a connection mostly repeat the previous one's block.
    encoder.encode_repeated(&head, dst);
}

/// A response head's fields in the order they are sent: `:status`, the
/// application's fields minus those HTTP/2 strips, then `date` and `server`
/// unless the application set them, then `content-length`. Encoded straight
/// from the map (no field list).
struct ResponseHead<'a> {
    status: &'a [u8],
    headers: &'a HeaderMap,
    /// Empty: none to add.
    date: &'a [u8],
    content_length: Option<&'a [u8]>,
}

impl FieldSource for ResponseHead<'_> {
    fn each(&self, mut f: impl FnMut(&[u8], &[u8], bool) -> bool) -> bool {
        if !f(b":status", self.status, false) {
            return false;
        }
        let (mut has_date, mut has_server) = (false, false);
        for (name, value) in self.headers {
            has_date |= name == http::header::DATE;
            has_server |= name == http::header::SERVER;
            if strip_from_response(name) {
                continue;
            }
            if !f(
                name.as_str().as_bytes(),
                value.as_bytes(),
                value.is_sensitive(),
            ) {
                return false;
            }
        }
        if !has_date && !self.date.is_empty() && !f(b"date", self.date, false) {
            return false;
        }
        if !has_server && !f(b"server", b"duet", false) {
            return false;
        }
        match self.content_length {
            Some(len) => f(b"content-length", len, false),
            None => true,
        }
    }
}

/// Encodes a trailer section (RFC 9113 §8.1: a HEADERS frame ending the
/// stream after the DATA) into an HPACK block: the application's fields
/// minus pseudo-headers and connection-specific ones (§8.2.2), which have
/// no place in trailers.
pub(crate) fn encode_trailers(encoder: &mut Encoder, trailers: &HeaderMap, dst: &mut BytesMut) {
    let fields = trailers
        .iter()
        .filter(|(name, _)| !strip_from_response(name) && !name.as_str().starts_with(':'))
        .map(|(name, value)| {
            (
                name.as_str().as_bytes(),
                value.as_bytes(),
                value.is_sensitive(),
            )
        });
    encoder.encode(fields, dst);
}

/// Formats `n` in decimal into a stack buffer; returns it and where the
/// digits start.
fn itoa_buf(mut n: u64) -> ([u8; 20], usize) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    (buf, i)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fields of a response head as encoded, decoded back.
    fn response_fields(headers: &HeaderMap, len: Option<u64>) -> Vec<(String, String)> {
        let (mut enc, mut block) = (Encoder::new(), BytesMut::new());
        encode_response(
            &mut enc,
            StatusCode::OK,
            headers,
            len,
            b"Tue, 01 Dec 2026 13:00:00 GMT",
            &mut block,
        );
        let mut out = Vec::new();
        super::super::hpack::Decoder::new(4096)
            .decode(&block, &mut |n, v| {
                out.push((
                    String::from_utf8_lossy(&n).into_owned(),
                    String::from_utf8_lossy(&v).into_owned(),
                ))
            })
            .unwrap();
        out
    }

    #[test]
    fn response_heads_keep_every_field_in_order_small_or_large() {
        // Every field, in order (a name's values together), the
        // connection-specific ones and the application's own length out,
        // the server's fields after the application's.
        for count in [1usize, 12, 40] {
            let mut h = HeaderMap::new();
            for i in 0..count {
                h.append(
                    HeaderName::from_bytes(format!("x-f{i}").as_bytes()).unwrap(),
                    HeaderValue::from_str(&i.to_string()).unwrap(),
                );
            }
            h.insert("connection", HeaderValue::from_static("close"));
            h.insert("content-length", HeaderValue::from_static("99"));
            h.append("x-f0", HeaderValue::from_static("again"));
            let got = response_fields(&h, Some(5));
            let mut want = vec![(":status".to_string(), "200".to_string())];
            for i in 0..count {
                want.push((format!("x-f{i}"), i.to_string()));
                if i == 0 {
                    want.push(("x-f0".into(), "again".into()));
                }
            }
            want.push(("date".into(), "Tue, 01 Dec 2026 13:00:00 GMT".into()));
            want.push(("server".into(), "duet".into()));
            want.push(("content-length".into(), "5".into()));
            assert_eq!(got, want, "{count} fields");
        }
    }

    fn collect(fields: &[(&str, &str)]) -> FieldCollector {
        let mut c = FieldCollector::new(false, 1 << 16);
        for (n, v) in fields {
            c.field(
                Bytes::copy_from_slice(n.as_bytes()),
                Bytes::copy_from_slice(v.as_bytes()),
            );
        }
        c
    }

    const BASE: [(&str, &str); 4] = [
        (":method", "GET"),
        (":scheme", "http"),
        (":authority", "example.com"),
        (":path", "/a?b=c"),
    ];

    fn with(extra: &[(&str, &str)]) -> Result<RequestHead, Reject> {
        let mut v = BASE.to_vec();
        v.extend_from_slice(extra);
        collect(&v).finish_request()
    }

    #[test]
    fn a_connections_requests_share_their_parsed_authority_when_it_repeats() {
        let mut memo = TargetMemo::default();
        let head = |a: &str, memo: &mut TargetMemo| {
            let mut v = BASE.to_vec();
            v[2] = (":authority", a);
            collect(&v).finish_request_with(memo)
        };
        let first = head("example.com:8080", &mut memo).unwrap();
        let again = head("example.com:8080", &mut memo).unwrap();
        assert_eq!(again.parts.uri, "http://example.com:8080/a?b=c");
        assert_eq!(again.parts.uri, first.parts.uri);
        // Another authority is parsed and checked afresh, and replaces it.
        let other = head("other.example", &mut memo).unwrap();
        assert_eq!(other.parts.uri.authority().unwrap(), "other.example");
        assert!(malformed(head("bad authority", &mut memo)));
        assert!(malformed(head("a@example.com", &mut memo)));
        let back = head("example.com:8080", &mut memo).unwrap();
        assert_eq!(back.parts.uri.port_u16(), Some(8080));
        // A target named by Host (no :authority) is not checked for
        // userinfo, and is not remembered then: the same bytes as an
        // :authority are still malformed.
        let by_host = [BASE[0], BASE[1], BASE[3], ("host", "u@example.com")];
        assert!(collect(&by_host).finish_request_with(&mut memo).is_ok());
        assert!(malformed(head("u@example.com", &mut memo)));
    }

    #[test]
    fn a_connections_requests_share_their_parsed_target_when_it_repeats() {
        let mut memo = TargetMemo::default();
        let head = |scheme: &str, a: &str, path: &str, memo: &mut TargetMemo| {
            let mut v = BASE.to_vec();
            v[1] = (":scheme", scheme);
            v[2] = (":authority", a);
            v[3] = (":path", path);
            collect(&v).finish_request_with(memo).unwrap().parts.uri
        };
        let path_at = |u: &Uri| u.path_and_query().unwrap().as_str().as_ptr();
        let first = head("https", "example.com", "/a?b=c", &mut memo);
        let second = head("https", "example.com", "/a?b=c", &mut memo);
        let third = head("https", "example.com", "/a?b=c", &mut memo);
        assert_eq!(third, "https://example.com/a?b=c");
        // Parsed afresh each time, each URI would hold its own copy of the
        // path (`collect` copies each field); remembered, they share one.
        assert_eq!(path_at(&first), path_at(&second));
        assert_eq!(path_at(&first), path_at(&third));
        let fresh = head("https", "example.com", "/a?b=c", &mut TargetMemo::default());
        assert_eq!(fresh, first);
        assert_ne!(path_at(&fresh), path_at(&first));
        // Any part that differs is parsed afresh, and the result is what
        // those bytes mean, not the remembered URI.
        for (scheme, a, path, want) in [
            ("http", "example.com", "/a?b=c", "http://example.com/a?b=c"),
            (
                "https",
                "example.org",
                "/a?b=c",
                "https://example.org/a?b=c",
            ),
            (
                "https",
                "example.com",
                "/a?b=d",
                "https://example.com/a?b=d",
            ),
            ("https", "example.com", "/a", "https://example.com/a"),
        ] {
            let again = head(scheme, a, path, &mut memo);
            assert_eq!(again, want);
            assert_ne!(path_at(&again), path_at(&third));
        }
        // A malformed target is never answered from the memo.
        let mut v = BASE.to_vec();
        v[3] = (":path", "/a b");
        assert!(malformed(collect(&v).finish_request_with(&mut memo)));
        // Forgotten when the connection sheds its state.
        let before = head("https", "example.com", "/a", &mut memo);
        memo.clear();
        let after = head("https", "example.com", "/a", &mut memo);
        assert_eq!(after, before);
        assert_ne!(path_at(&after), path_at(&before));
    }

    fn malformed(r: Result<RequestHead, Reject>) -> bool {
        matches!(r, Err(Reject::Malformed(_)))
    }

    #[test]
    fn builds_request() {
        let h = with(&[("accept", "*/*")]).unwrap();
        assert_eq!(h.parts.method, Method::GET);
        assert_eq!(h.parts.uri.to_string(), "http://example.com/a?b=c");
        assert_eq!(h.parts.version, Version::HTTP_2);
        assert_eq!(h.fields.to_map()["accept"], "*/*");
    }

    #[test]
    fn rfc9113_8_3_1_missing_pseudo_headers() {
        for skip in [0, 1, 3] {
            let v: Vec<_> = BASE
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != skip)
                .map(|(_, f)| *f)
                .collect();
            assert!(malformed(collect(&v).finish_request()), "without {skip}");
        }
        // :authority is optional.
        let v: Vec<_> = BASE
            .iter()
            .filter(|f| f.0 != ":authority")
            .copied()
            .collect();
        assert_eq!(collect(&v).finish_request().unwrap().parts.uri, "/a?b=c");
    }

    #[test]
    fn rfc9113_8_3_pseudo_header_rules() {
        assert!(malformed(with(&[(":method", "GET")])));
        assert!(malformed(with(&[(":status", "200")])));
        assert!(malformed(with(&[(":foo", "x")])));
        assert!(malformed(with(&[("a", "b"), (":x", "y")])));
        let v = [
            (":method", "GET"),
            ("accept", "x"),
            (":scheme", "http"),
            (":path", "/"),
        ];
        assert!(malformed(collect(&v).finish_request()));
    }

    #[test]
    fn rfc9113_8_3_1_path_rules() {
        let req = |m: &str, p: &str| {
            collect(&[(":method", m), (":scheme", "http"), (":path", p)]).finish_request()
        };
        assert!(malformed(req("GET", "")));
        assert!(malformed(req("GET", "*")));
        assert!(req("OPTIONS", "*").is_ok());
        assert!(malformed(req("GET", "x")));
    }

    #[test]
    fn rfc9113_8_2_1_field_name_and_value_rules() {
        assert!(malformed(with(&[("Accept", "x")])));
        assert!(malformed(with(&[("a b", "x")])));
        assert!(malformed(with(&[("a", "x\0")])));
        assert!(malformed(with(&[("a", "x\ry")])));
        assert!(malformed(with(&[("a", "x\n")])));
        assert!(malformed(with(&[("a", " x")])));
        assert!(malformed(with(&[("a", "x\t")])));
        assert!(with(&[("a", "x y")]).is_ok());
        // Names are tokens, values hold no control but HTAB and no DEL
        // (what `HeaderName` / `HeaderValue` accept), checked as the
        // fields arrive although the map is built later.
        for name in ["a(b", "a\"b", "a/b", "a{b", "a@b", "\u{e9}"] {
            assert!(malformed(with(&[(name, "x")])), "{name:?}");
        }
        for value in ["x\u{1}y", "x\u{7f}", "x\u{1b}[0m"] {
            assert!(malformed(with(&[("a", value)])), "{value:?}");
        }
        assert!(with(&[("a", "x\ty \u{e9}")]).is_ok());
    }

    #[test]
    fn every_byte_of_a_name_or_value_is_accepted_exactly_when_the_map_may_hold_it() {
        for b in 0..=255u8 {
            // Word by word and byte by byte, at each place in a word.
            for at in 0..17 {
                let mut value = vec![b'v'; 17];
                value[at] = b;
                // §8.2.1: no SP or HTAB first or last.
                let edge_ws = (at == 0 || at == 16) && (b == b' ' || b == b'\t');
                assert_eq!(
                    valid_value(&value),
                    HeaderValue::from_bytes(&value).is_ok() && !edge_ws,
                    "value byte {b:#04x} at {at}"
                );
            }
            let name = [b'x', b, b'y'];
            let ok = valid_name(&name);
            assert_eq!(
                ok,
                HeaderName::from_bytes(&name).is_ok() && !b.is_ascii_uppercase(),
                "name byte {b:#04x}"
            );
            let value = [b'x', b, b'y'];
            assert_eq!(
                valid_value(&value),
                HeaderValue::from_bytes(&value).is_ok(),
                "value byte {b:#04x}"
            );
        }
    }

    #[test]
    fn the_list_builds_the_map_in_order() {
        let h = with(&[
            ("accept", "a"),
            ("x-one", "1"),
            ("accept", "b"),
            ("cookie", "c=1"),
            ("cookie", "d=2"),
        ])
        .unwrap();
        assert!(h.parts.headers.is_empty());
        assert_eq!(h.fields.get(b"accept"), Some(&b"a"[..]));
        assert_eq!(h.fields.len(), 4);
        let map = h.fields.to_map();
        let accept: Vec<_> = map.get_all("accept").iter().collect();
        assert_eq!(accept, ["a", "b"]);
        assert_eq!(map["x-one"], "1");
        assert_eq!(map["cookie"], "c=1; d=2");
        assert_eq!(map.len(), 4);
    }

    #[test]
    fn rfc9113_8_2_2_connection_specific_fields() {
        for n in [
            "connection",
            "keep-alive",
            "proxy-connection",
            "transfer-encoding",
            "upgrade",
        ] {
            assert!(malformed(with(&[(n, "x")])), "{n}");
        }
        assert!(malformed(with(&[("te", "gzip")])));
        assert!(with(&[("te", "trailers")]).is_ok());
    }

    #[test]
    fn rfc9113_8_3_1_authority_rules() {
        let mut v = BASE.to_vec();
        v[2] = (":authority", "user@example.com");
        assert!(malformed(collect(&v).finish_request()));
        assert!(malformed(with(&[("host", "other.example")])));
        assert!(with(&[("host", "Example.com")]).is_ok());
        // Every Host must name the :authority, not only the first.
        assert!(malformed(with(&[
            ("host", "example.com"),
            ("host", "other.example")
        ])));
    }

    #[test]
    fn rfc9113_8_2_3_cookie_crumbs_joined() {
        let h = with(&[("cookie", "a=b"), ("x", "y"), ("cookie", "c=d")]).unwrap();
        assert_eq!(h.fields.to_map()["cookie"], "a=b; c=d");
    }

    #[test]
    fn content_length_parsed_and_checked() {
        assert_eq!(
            with(&[("content-length", "12")]).unwrap().content_length,
            Some(12)
        );
        assert!(malformed(with(&[("content-length", "1x")])));
        assert!(malformed(with(&[
            ("content-length", "1"),
            ("content-length", "2")
        ])));
    }

    #[test]
    fn header_list_size_limit() {
        let mut c = FieldCollector::new(false, 100);
        for (n, v) in BASE {
            c.field(Bytes::from(n), Bytes::from(v));
        }
        c.field(Bytes::from("x"), Bytes::from("y".repeat(100)));
        assert!(matches!(c.finish_request(), Err(Reject::TooLarge)));
    }

    #[test]
    fn field_count_limit() {
        let mut c = FieldCollector::new(false, 1 << 16);
        c.limit_fields(2);
        for (n, v) in BASE {
            c.field(Bytes::from(n), Bytes::from(v));
        }
        for n in ["a", "b", "c"] {
            c.field(Bytes::from(n), Bytes::from("1"));
        }
        assert!(matches!(c.finish_request(), Err(Reject::TooLarge)));
    }

    #[test]
    fn trailers_reject_pseudo_headers() {
        let mut c = FieldCollector::new(true, 1 << 16);
        c.field(Bytes::from(":path"), Bytes::from("/"));
        assert!(c.finish_trailers().is_err());
        let mut c = FieldCollector::new(true, 1 << 16);
        c.field(Bytes::from("grpc-status"), Bytes::from("0"));
        assert_eq!(c.finish_trailers().unwrap()["grpc-status"], "0");
    }

    #[test]
    fn trailers_keep_repeated_fields_in_order_and_join_cookie_crumbs() {
        let mut c = FieldCollector::new(true, 1 << 16);
        for (n, v) in [
            ("x-sum", "1"),
            ("cookie", "a=1"),
            ("x-sum", "2"),
            ("cookie", "b=2"),
            ("grpc-status", "0"),
        ] {
            c.field(Bytes::from(n), Bytes::from(v));
        }
        let t = c.finish_trailers().unwrap();
        let sums: Vec<_> = t.get_all("x-sum").iter().collect();
        assert_eq!(sums, ["1", "2"]);
        // RFC 9113 §8.2.3: crumbs joined with "; ".
        assert_eq!(t["cookie"], "a=1; b=2");
        assert_eq!(t["grpc-status"], "0");
        assert_eq!(t.len(), 4);
        // §8.2.2: connection-specific fields are malformed here too.
        let mut c = FieldCollector::new(true, 1 << 16);
        c.field(Bytes::from("connection"), Bytes::from("close"));
        assert!(c.finish_trailers().is_err());
    }

    #[test]
    fn connect_takes_authority_only() {
        let h = collect(&[(":method", "CONNECT"), (":authority", "a.example:443")])
            .finish_request()
            .unwrap();
        assert_eq!(h.parts.uri.authority().unwrap(), "a.example:443");
        assert!(malformed(
            collect(&[(":method", "CONNECT"), (":path", "/")]).finish_request()
        ));
    }

    #[test]
    fn rfc8441_4_extended_connect() {
        let h = collect(&[
            (":method", "CONNECT"),
            (":protocol", "websocket"),
            (":scheme", "https"),
            (":authority", "a.example"),
            (":path", "/chat"),
        ])
        .finish_request()
        .unwrap();
        assert_eq!(h.protocol.as_deref(), Some(&b"websocket"[..]));
        assert_eq!(h.parts.uri.path(), "/chat");
        assert_eq!(h.parts.method, Method::CONNECT);
        // Only on CONNECT, and with :scheme, :path and :authority.
        assert!(malformed(with(&[(":protocol", "websocket")])));
        assert!(malformed(
            collect(&[
                (":method", "CONNECT"),
                (":protocol", "websocket"),
                (":authority", "a.example"),
            ])
            .finish_request()
        ));
    }

    #[test]
    fn itoa() {
        let (b, i) = itoa_buf(0);
        assert_eq!(&b[i..], b"0");
        let (b, i) = itoa_buf(1234567);
        assert_eq!(&b[i..], b"1234567");
    }
}
