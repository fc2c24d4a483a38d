//! A request's field section as it arrived (RFC 9112 §5), checked while
//! parsing but not yet built into a `HeaderMap`: most handlers never read
//! a header, and building and dropping the map is a large part of what a
//! small request costs. What the exchange itself needs (Host for the
//! virtual server, whether Expect is present) is kept aside while parsing.

use bytes::Bytes;
use http::{header, HeaderMap, HeaderName, HeaderValue, Uri};

/// The field lines of one request head, shared with the connection's read
/// buffer (no copy). Built into a `HeaderMap` by [`FieldBlock::to_map`]
/// when something reads the headers.
#[derive(Clone)]
pub struct FieldBlock {
    /// The whole head: request line, field lines, the empty line.
    head: Bytes,
    /// Where the first field line starts.
    fields_at: u32,
    /// The place of the Host field's value (at most one is admitted).
    host: Option<(u32, u32)>,
    /// Whether an Expect field is present.
    expect: bool,
}

impl std::fmt::Debug for FieldBlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.lines()).finish()
    }
}

impl FieldBlock {
    /// A block over `head` (already checked by the parser: every field
    /// line is `token ":" OWS value OWS` with a valid value) whose fields
    /// start at `fields_at`.
    pub(super) fn new(
        head: Bytes,
        fields_at: usize,
        host: Option<std::ops::Range<usize>>,
        expect: bool,
    ) -> FieldBlock {
        let place = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        FieldBlock {
            fields_at: place(fields_at),
            host: host.map(|r| (place(r.start), place(r.end))),
            expect,
            head,
        }
    }

    /// The Host field's value, if one was sent (and is UTF-8: a valid one
    /// is ASCII).
    pub fn host(&self) -> Option<&str> {
        let (at, end) = self.host?;
        let raw = self.head.get(at as usize..end as usize)?;
        std::str::from_utf8(raw).ok()
    }

    /// Whether an Expect field is present.
    pub fn has_expect(&self) -> bool {
        self.expect
    }

    /// The values of the fields named `name` (lower case), in order.
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.lines()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }

    /// The field lines as name and value (RFC 9112 §5: `field-name ":"
    /// OWS field-value OWS`), in the order received.
    fn lines(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.line_ranges()
            .filter_map(|(name, value)| Some((self.head.get(name)?, self.head.get(value)?)))
    }

    /// The places of each field line's name and value in the head.
    fn line_ranges(
        &self,
    ) -> impl Iterator<Item = (std::ops::Range<usize>, std::ops::Range<usize>)> + '_ {
        let head: &[u8] = &self.head;
        let mut at = self.fields_at as usize;
        std::iter::from_fn(move || {
            let rest = head.get(at..)?;
            let end = rest.iter().position(|&b| b == b'\n')?;
            let line_start = at;
            at += end + 1;
            // RFC 9112 §2.2: CRLF, or a lone LF.
            let line = rest.get(..end)?;
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            // The empty line ends the section.
            let colon = line.iter().position(|&b| b == b':')?;
            let value = line.get(colon + 1..)?;
            let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
            let lead = value.iter().take_while(|b| is_ows(b)).count();
            let trail = value.iter().rev().take_while(|b| is_ows(b)).count();
            let v_start = line_start + colon + 1 + lead;
            let v_end = (line_start + colon + 1 + value.len() - trail).max(v_start);
            Some((line_start..line_start + colon, v_start..v_end))
        })
    }

    /// The fields as a `HeaderMap`, every value a slice of the head. With
    /// an absolute-form target the map's Host is the target's authority
    /// (RFC 9112 §3.2.2: the received Host is ignored).
    pub fn to_map(&self, uri: &Uri) -> HeaderMap {
        let count = self.line_ranges().count();
        // The parser refuses more fields than a map holds.
        let mut map = HeaderMap::try_with_capacity(count).unwrap_or_default();
        for (name, value) in self.line_ranges() {
            let Some(raw) = self.head.get(name) else {
                continue;
            };
            // The parser checked every name (a token) and value (no CTL
            // but HTAB): neither conversion fails here.
            let name = match crate::proto::http::names::common(raw) {
                Some(name) => name,
                None => match HeaderName::from_bytes(raw) {
                    Ok(name) => name,
                    Err(_) => continue,
                },
            };
            if let Ok(value) = HeaderValue::from_maybe_shared(self.head.slice(value)) {
                if map.try_append(name, value).is_err() {
                    break;
                }
            }
        }
        if uri.scheme().is_some() {
            if let Some(authority) = uri.authority() {
                if let Ok(value) = HeaderValue::from_str(authority.as_str()) {
                    let _replaced = map.try_insert(header::HOST, value);
                }
            }
        }
        map
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse_request;
    use crate::config::Limits;
    use http::HeaderMap;

    /// The map httparse's own split of `head` gives (names and values as
    /// it delimits them), with no other rule applied.
    fn by_httparse(head: &[u8]) -> HeaderMap {
        let mut slots = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut slots);
        assert!(req.parse(head).unwrap().is_complete());
        let mut map = HeaderMap::new();
        for h in req.headers.iter() {
            map.append(
                http::HeaderName::from_bytes(h.name.as_bytes()).unwrap(),
                http::HeaderValue::from_bytes(h.value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn built_maps_hold_the_fields_as_httparse_delimits_them() {
        let heads: [&[u8]; 7] = [
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost:a\r\nX:  \t v w \t \r\nEmpty:\r\nSpaces:   \r\n\r\n",
            b"GET / HTTP/1.1\nHost: a\nUser-Agent: t\nX: 1\nx: 2\nX: 3\n\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nY: caf\xc3\xa9 \x80\xff\r\nZ: a:b: c\r\n\r\n",
            b"GET /p?q HTTP/1.0\r\nACCEPT: */*\r\nContent-Length: 0\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nCookie: a=b\r\ncookie: c=d\r\nX-Custom-Long-Name: v\r\n\r\n",
            b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
        ];
        for raw in heads {
            let (head, _) = parse_request(raw, &Limits::default()).unwrap().unwrap();
            let built = head.fields.to_map(&head.uri);
            let want = by_httparse(raw);
            assert_eq!(built, want, "{}", String::from_utf8_lossy(raw));
            // In order, duplicates kept.
            let order = |m: &HeaderMap| {
                m.iter()
                    .map(|(n, v)| (n.clone(), v.clone()))
                    .collect::<Vec<_>>()
            };
            assert_eq!(order(&built), order(&want));
        }
    }

    #[test]
    fn the_exchange_reads_host_and_expect_without_a_map() {
        let raw = b"POST / HTTP/1.1\r\nX: 1\r\nhOsT: Example.com:81\r\nExpect: 100-continue\r\nexpect: x\r\nContent-Length: 1\r\n\r\n";
        let (head, _) = parse_request(raw, &Limits::default()).unwrap().unwrap();
        assert_eq!(head.fields.host(), Some("Example.com:81"));
        assert!(head.fields.has_expect());
        let expect: Vec<_> = head.fields.values("expect").collect();
        assert_eq!(expect, [&b"100-continue"[..], b"x"]);

        let raw = b"GET / HTTP/1.0\r\nX: 1\r\n\r\n";
        let (head, _) = parse_request(raw, &Limits::default()).unwrap().unwrap();
        assert_eq!(head.fields.host(), None);
        assert!(!head.fields.has_expect());
    }

    #[test]
    fn an_absolute_form_target_names_the_host() {
        // RFC 9112 §3.2.2: the received Host is ignored.
        let raw = b"GET http://target.example:8080/p HTTP/1.1\r\nHost: other\r\nX: 1\r\n\r\n";
        let (head, _) = parse_request(raw, &Limits::default()).unwrap().unwrap();
        let map = head.fields.to_map(&head.uri);
        assert_eq!(map.get_all("host").iter().count(), 1);
        assert_eq!(map["host"], "target.example:8080");
        assert_eq!(map["x"], "1");
    }

    #[test]
    fn values_are_slices_of_the_head() {
        let raw = b"GET / HTTP/1.1\r\nHost: a\r\nX-Long: a value\r\n\r\n";
        let (head, _) = parse_request(raw, &Limits::default()).unwrap().unwrap();
        let map = head.fields.to_map(&head.uri);
        let within = |v: &[u8]| {
            let base = head.fields.head.as_ptr() as usize;
            let at = v.as_ptr() as usize;
            at >= base && at + v.len() <= base + head.fields.head.len()
        };
        assert!(within(map["x-long"].as_bytes()));
        assert!(within(map["host"].as_bytes()));
    }

    #[test]
    fn a_value_byte_is_accepted_exactly_when_a_header_value_may_hold_it() {
        // The map is built later and cannot refuse: the parser must have
        // refused every byte `HeaderValue` would.
        for b in 0..=255u8 {
            let mut raw = b"GET / HTTP/1.1\r\nHost: a\r\nX: a".to_vec();
            raw.extend_from_slice(&[b, b'z', b'\r', b'\n', b'\r', b'\n']);
            let parsed = parse_request(&raw, &Limits::default());
            let valid = http::HeaderValue::from_bytes(&[b'a', b, b'z']).is_ok();
            match parsed {
                Ok(Some((head, _))) => {
                    assert!(valid, "byte {b:#04x} accepted");
                    assert_eq!(head.headers()["x"].as_bytes(), [b'a', b, b'z']);
                }
                // A line end inside the value: another line, not this value.
                _ if b == b'\n' || b == b'\r' => {}
                other => assert!(!valid && other.is_err(), "byte {b:#04x}: {other:?}"),
            }
        }
    }
}
