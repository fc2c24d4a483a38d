//! Fuzzes the HTTP/1.1 core (RFC 9112): request-head parsing followed by
//! body decoding, as a connection would see them.
//!
//! Input layout: the first octet picks the limits and how the body bytes
//! are split into reads; the rest is what the peer sent. Besides "never
//! panics", it checks that a body decodes the same whether its bytes
//! arrive at once or in pieces. Run with `cargo fuzz run h1_request`
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
