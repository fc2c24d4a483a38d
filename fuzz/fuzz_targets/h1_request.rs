//! Fuzzes the HTTP/1.1 core (RFC 9112): request-head parsing followed by
//! body decoding, as a connection would see them.
//!
//! Input layout: the first octet picks the limits and how the body bytes
//! are split into reads; the rest is what the peer sent. Besides "never
//! panics", it checks that a body decodes the same whether its bytes
//! arrive at once or in pieces, and that the header map built from an
//! accepted head holds every field as httparse delimits it. Run with `cargo fuzz run h1_request`
//! (nightly).

#![no_main]

use bytes::BytesMut;
use duet::proto::h1::{parse_request, BodyDecoder, BodyKind, Decoded, ParseError};
use duet::Limits;
use libfuzzer_sys::fuzz_target;

/// Decodes `input` as a body of `kind`, `step` bytes per read; returns the
/// body and either the bytes left after it or the error.
fn decode(
    kind: BodyKind,
    input: &[u8],
    limits: &Limits,
    step: usize,
) -> (Vec<u8>, Result<Option<usize>, ParseError>) {
    let mut decoder = BodyDecoder::with_limits(&kind, limits);
    let mut buf = BytesMut::new();
    let mut pieces = input.chunks(step.max(1));
    let mut body = Vec::new();
    loop {
        match decoder.decode(&mut buf) {
            Ok(Decoded::Data(data)) => {
                assert!(!data.is_empty());
                body.extend_from_slice(&data);
            }
            Ok(Decoded::End) => {
                assert!(decoder.is_done());
                let left = buf.len() + pieces.map(<[u8]>::len).sum::<usize>();
                return (body, Ok(Some(left)));
            }
            Ok(Decoded::NeedMore) => match pieces.next() {
                Some(piece) => buf.extend_from_slice(piece),
                None => return (body, Ok(None)),
            },
            Err(e) => return (body, Err(e)),
        }
    }
}

/// The map built from an accepted head holds the fields httparse finds in
/// it, each name's values in order (the Host of an absolute-form target aside: RFC 9112
/// §3.2.2 replaces it with the target's authority).
fn same_fields(head: &duet::proto::h1::RequestHead, raw: &[u8]) {
    let mut slots = vec![httparse::EMPTY_HEADER; 256];
    let mut req = httparse::Request::new(&mut slots);
    let Ok(httparse::Status::Complete(_)) = req.parse(raw) else {
        panic!("a head duet accepts that httparse does not");
    };
    let absolute = head.uri.scheme().is_some();
    let mut want: Vec<(String, Vec<u8>)> = req
        .headers
        .iter()
        .filter(|h| !(absolute && h.name.eq_ignore_ascii_case("host")))
        .map(|h| (h.name.to_ascii_lowercase(), h.value.to_vec()))
        .collect();
    let map = head.headers();
    let mut got: Vec<(String, Vec<u8>)> = map
        .iter()
        .filter(|(n, _)| !(absolute && *n == http::header::HOST))
        .map(|(n, v)| (n.as_str().to_string(), v.as_bytes().to_vec()))
        .collect();
    // A map keeps the values of one name together, each name's in order.
    want.sort_by(|a, b| a.0.cmp(&b.0));
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got, want);
}

fuzz_target!(|data: &[u8]| {
    let Some((&knobs, input)) = data.split_first() else {
        return;
    };
    let mut limits = Limits::default();
    if knobs & 1 != 0 {
        limits.max_uri_bytes = 32;
        limits.max_header_bytes = 256;
        limits.max_headers = 4;
    }
    let step = usize::from(knobs >> 1) + 1;

    let body_input = match parse_request(input, &limits) {
        Ok(Some((head, used))) => {
            assert!(used <= input.len());
            same_fields(&head, input.get(..used).unwrap_or_default());
            let rest = input.get(used..).unwrap_or_default();
            let whole = decode(head.body, rest, &limits, usize::MAX);
            let split = decode(head.body, rest, &limits, step);
            assert_eq!(whole, split);
            return;
        }
        Ok(None) => input,
        Err(e) => {
            assert!(matches!(e.status().as_u16(), 400 | 414 | 431 | 501 | 505));
            input
        }
    };
    // Bytes that are no request head still exercise the chunked decoder.
    let whole = decode(BodyKind::Chunked, body_input, &limits, usize::MAX);
    let split = decode(BodyKind::Chunked, body_input, &limits, step);
    assert_eq!(whole, split);
});
