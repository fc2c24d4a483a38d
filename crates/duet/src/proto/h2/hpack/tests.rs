//! Known-answer tests from RFC 7541 Appendix C, encoder/decoder round
//! trips, and malformed input.

use bytes::{Bytes, BytesMut};

use super::{integer, Decoder, DecoderError, Encoder, FieldSource};

type Fields = Vec<(Vec<u8>, Vec<u8>)>;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn fields(list: &[(&str, &str)]) -> Fields {
    list.iter()
        .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect()
}

fn decode(d: &mut Decoder, block: &[u8]) -> Result<Fields, DecoderError> {
    let mut out = Vec::new();
    d.decode(block, &mut |n: Bytes, v: Bytes| {
        out.push((n.to_vec(), v.to_vec()))
    })
    .map(|()| out)
}

fn encode(e: &mut Encoder, list: &[(&str, &str)]) -> Vec<u8> {
    let mut dst = BytesMut::new();
    e.encode(
        list.iter()
            .map(|(n, v)| (n.as_bytes(), v.as_bytes(), false)),
        &mut dst,
    );
    dst.to_vec()
}

/// Asserts the decoder's dynamic table, newest entry first, and its size,
/// as the RFC's "Dynamic Table (after decoding)" listings show them.
fn assert_table(d: &Decoder, entries: &[(&str, &str)], size: usize) {
    let t = d.table();
    let actual: Fields = (0..t.len())
        .filter_map(|i| t.get(i))
        .map(|(n, v)| (n.to_vec(), v.to_vec()))
        .collect();
    assert_eq!(actual, fields(entries));
    assert_eq!(t.size(), size);
}

// ---- RFC 7541 Appendix C.2 ----

#[test]
fn c2_1_literal_with_indexing() {
    let mut d = Decoder::new(4096);
    let block = hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572");
    assert_eq!(
        decode(&mut d, &block).unwrap(),
        fields(&[("custom-key", "custom-header")])
    );
    assert_table(&d, &[("custom-key", "custom-header")], 55);
}

#[test]
fn c2_2_literal_without_indexing() {
    let mut d = Decoder::new(4096);
    let block = hex("040c 2f73 616d 706c 652f 7061 7468");
    assert_eq!(
        decode(&mut d, &block).unwrap(),
        fields(&[(":path", "/sample/path")])
    );
    assert_table(&d, &[], 0);
}

#[test]
fn c2_3_literal_never_indexed() {
    let mut d = Decoder::new(4096);
    let block = hex("1008 7061 7373 776f 7264 0673 6563 7265 74");
    assert_eq!(
        decode(&mut d, &block).unwrap(),
        fields(&[("password", "secret")])
    );
    assert_table(&d, &[], 0);
    // The encoder's never-indexed form of a sensitive field is the same.
    let mut e = Encoder::new();
    let mut dst = BytesMut::new();
    e.encode([(&b"password"[..], &b"secret"[..], true)], &mut dst);
    let mut d = Decoder::new(4096);
    assert_eq!(
        decode(&mut d, &dst).unwrap(),
        fields(&[("password", "secret")])
    );
    assert_eq!(dst[0], 0x10);
    assert_eq!(e.table().len(), 0);
}

#[test]
fn c2_4_indexed() {
    let mut d = Decoder::new(4096);
    assert_eq!(
        decode(&mut d, &[0x82]).unwrap(),
        fields(&[(":method", "GET")])
    );
    assert_table(&d, &[], 0);
}

// ---- RFC 7541 Appendix C.3 / C.4: requests ----

const C3_1: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
];
const C3_2: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
    ("cache-control", "no-cache"),
];
const C3_3: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "https"),
    (":path", "/index.html"),
    (":authority", "www.example.com"),
    ("custom-key", "custom-value"),
];
const C3_TABLE_1: &[(&str, &str)] = &[(":authority", "www.example.com")];
const C3_TABLE_2: &[(&str, &str)] = &[
    ("cache-control", "no-cache"),
    (":authority", "www.example.com"),
];
const C3_TABLE_3: &[(&str, &str)] = &[
    ("custom-key", "custom-value"),
    ("cache-control", "no-cache"),
    (":authority", "www.example.com"),
];

#[test]
fn c3_requests_without_huffman() {
    let mut d = Decoder::new(4096);
    let b1 = hex("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d");
    assert_eq!(decode(&mut d, &b1).unwrap(), fields(C3_1));
    assert_table(&d, C3_TABLE_1, 57);
    let b2 = hex("8286 84be 5808 6e6f 2d63 6163 6865");
    assert_eq!(decode(&mut d, &b2).unwrap(), fields(C3_2));
    assert_table(&d, C3_TABLE_2, 110);
    let b3 = hex("8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65");
    assert_eq!(decode(&mut d, &b3).unwrap(), fields(C3_3));
    assert_table(&d, C3_TABLE_3, 164);
}

#[test]
fn c4_requests_with_huffman() {
    let blocks = [
        hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff"),
        hex("8286 84be 5886 a8eb 1064 9cbf"),
        hex("8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf"),
    ];
    let lists = [C3_1, C3_2, C3_3];
    let tables = [(C3_TABLE_1, 57), (C3_TABLE_2, 110), (C3_TABLE_3, 164)];
    let mut d = Decoder::new(4096);
    let mut e = Encoder::new();
    for ((block, list), (table, size)) in blocks.iter().zip(lists).zip(tables) {
        assert_eq!(decode(&mut d, block).unwrap(), fields(list));
        assert_table(&d, table, size);
        // Our encoder makes the RFC's choices for these requests.
        assert_eq!(&encode(&mut e, list), block);
        assert_eq!(e.table().size(), size);
    }
}

// ---- RFC 7541 Appendix C.5 / C.6: responses, table size 256 ----

const C5_1: &[(&str, &str)] = &[
    (":status", "302"),
    ("cache-control", "private"),
    ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
    ("location", "https://www.example.com"),
];
const C5_2: &[(&str, &str)] = &[
    (":status", "307"),
    ("cache-control", "private"),
    ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
    ("location", "https://www.example.com"),
];
const C5_3: &[(&str, &str)] = &[
    (":status", "200"),
    ("cache-control", "private"),
    ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
    ("location", "https://www.example.com"),
    ("content-encoding", "gzip"),
    (
        "set-cookie",
        "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
    ),
];
const C5_TABLE_1: &[(&str, &str)] = &[
    ("location", "https://www.example.com"),
    ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
    ("cache-control", "private"),
    (":status", "302"),
];
const C5_TABLE_2: &[(&str, &str)] = &[
    (":status", "307"),
    ("location", "https://www.example.com"),
    ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
    ("cache-control", "private"),
];
const C5_TABLE_3: &[(&str, &str)] = &[
    (
        "set-cookie",
        "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
    ),
    ("content-encoding", "gzip"),
    ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
];

#[test]
fn c5_responses_without_huffman() {
    let blocks = [
        hex(
            "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 \
             3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 \
             7777 2e65 7861 6d70 6c65 2e63 6f6d",
        ),
        hex("4803 3330 37c1 c0bf"),
        hex(
            "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 \
             3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a \
             584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 \
             3630 303b 2076 6572 7369 6f6e 3d31",
        ),
    ];
    let mut d = Decoder::new(256);
    let lists = [C5_1, C5_2, C5_3];
    let tables = [(C5_TABLE_1, 222), (C5_TABLE_2, 222), (C5_TABLE_3, 215)];
    for ((block, list), (table, size)) in blocks.iter().zip(lists).zip(tables) {
        assert_eq!(decode(&mut d, block).unwrap(), fields(list));
        assert_table(&d, table, size);
    }
}

#[test]
fn c6_responses_with_huffman() {
    let blocks = [
        hex(
            "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 \
             66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
        ),
        hex("4883 640e ffc1 c0bf"),
        hex(
            "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a \
             839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 \
             72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
        ),
    ];
    let mut d = Decoder::new(256);
    let lists = [C5_1, C5_2, C5_3];
    let tables = [(C5_TABLE_1, 222), (C5_TABLE_2, 222), (C5_TABLE_3, 215)];
    for ((block, list), (table, size)) in blocks.iter().zip(lists).zip(tables) {
        assert_eq!(decode(&mut d, block).unwrap(), fields(list));
        assert_table(&d, table, size);
    }

    // Encoder side. Our table starts at 4096, so the first block begins
    // with a size update to 256 (0x3f 0xe1 0x01); the rest matches the
    // RFC, except that we never index set-cookie (§6.2.3 instead of
    // §6.2.1: 0x1f 0x28 for "never indexed, name index 55").
    let mut e = Encoder::new();
    e.set_max_table_size(256);
    let mut expected = vec![0x3f, 0xe1, 0x01];
    expected.extend_from_slice(&blocks[0]);
    assert_eq!(encode(&mut e, C5_1), expected);
    assert_eq!(e.table().size(), 222);
    assert_eq!(encode(&mut e, C5_2), blocks[1]);
    assert_eq!(e.table().size(), 222);
    let third = &blocks[2];
    let set_cookie_at = third.iter().position(|&b| b == 0x77).unwrap();
    let mut expected = third[..set_cookie_at].to_vec();
    expected.extend_from_slice(&[0x1f, 0x28]);
    expected.extend_from_slice(&third[set_cookie_at + 1..]);
    assert_eq!(encode(&mut e, C5_3), expected);
    // date and content-encoding added; set-cookie not.
    assert_eq!(e.table().size(), 65 + 52 + 42 + 63);
}

// ---- Encoder behaviour ----

#[test]
fn status_fast_path_and_static_hits() {
    let mut e = Encoder::new();
    for (status, byte) in [
        ("200", 0x88),
        ("204", 0x89),
        ("206", 0x8a),
        ("304", 0x8b),
        ("400", 0x8c),
        ("404", 0x8d),
        ("500", 0x8e),
    ] {
        assert_eq!(encode(&mut e, &[(":status", status)]), [byte]);
    }
    assert_eq!(
        encode(&mut e, &[("accept-encoding", "gzip, deflate")]),
        [0x90]
    );
    assert_eq!(e.table().len(), 0);
}

#[test]
fn repeated_fields_become_one_octet() {
    let mut e = Encoder::new();
    let list = [
        (":status", "200"),
        ("content-type", "text/plain; charset=utf-8"),
        ("server", "duet"),
        ("content-length", "12"),
    ];
    let first = encode(&mut e, &list);
    let second = encode(&mut e, &list);
    // content-type and server are now indexed (63 and 62); content-length
    // is sent again as a literal without indexing (name index 28).
    assert_eq!(second[..3], [0x88, 0xbf, 0xbe]);
    assert_eq!(second[3], 0x0f);
    assert!(second.len() < first.len());
    assert_eq!(e.table().len(), 2);
    let mut d = Decoder::new(4096);
    assert_eq!(decode(&mut d, &first).unwrap(), fields(&list));
    assert_eq!(decode(&mut d, &second).unwrap(), fields(&list));
}

#[test]
fn credentials_are_never_indexed() {
    let mut e = Encoder::new();
    let list = [("set-cookie", "id=1"), ("authorization", "Basic eDp5")];
    let block = encode(&mut e, &list);
    assert_eq!(block[0] & 0xf0, 0x10);
    assert_eq!(e.table().len(), 0);
    assert_eq!(
        decode(&mut Decoder::new(4096), &block).unwrap(),
        fields(&list)
    );
    // A sensitive field already in the table is still sent as a literal.
    let mut dst = BytesMut::new();
    e.encode([(&b"x-token"[..], &b"abc"[..], false)], &mut dst);
    let mut dst = BytesMut::new();
    e.encode([(&b"x-token"[..], &b"abc"[..], true)], &mut dst);
    assert_eq!(dst[0], 0x1f); // never indexed, name index 62 = 15 + 47
    assert_eq!(dst[1], 47);
}

#[test]
fn table_size_changes_are_signalled_once() {
    let mut e = Encoder::new();
    encode(&mut e, &[("server", "duet")]);
    assert_eq!(e.table().len(), 1);
    e.set_max_table_size(0);
    assert_eq!(e.table().len(), 0);
    e.set_max_table_size(4096);
    // Smallest size (0), then the final one (4096 = 31 + 4065).
    let block = encode(&mut e, &[(":status", "200")]);
    assert_eq!(block, [0x20, 0x3f, 0xe1, 0x1f, 0x88]);
    assert_eq!(encode(&mut e, &[(":status", "200")]), [0x88]);
    // Larger than 4096: we keep 4096 and say nothing.
    e.set_max_table_size(65_536);
    assert_eq!(encode(&mut e, &[(":status", "200")]), [0x88]);
    // A plain reduction: one update.
    e.set_max_table_size(100);
    assert_eq!(encode(&mut e, &[(":status", "200")]), [0x3f, 0x45, 0x88]);
}

// ---- Round trips ----

fn round_trip_lists() -> Vec<Vec<(String, String)>> {
    let mut lists = Vec::new();
    for i in 0..40 {
        let mut list = vec![
            (
                ":status".to_string(),
                ["200", "404", "302", "201"][i % 4].to_string(),
            ),
            ("content-type".to_string(), "application/json".to_string()),
            ("server".to_string(), "duet".to_string()),
            (
                "date".to_string(),
                format!("Tue, 24 Nov 2026 00:00:{:02} GMT", i / 3),
            ),
            ("content-length".to_string(), (i * 37).to_string()),
            (format!("x-custom-{}", i % 7), "v".repeat(i * 5)),
            (
                "x-bin".to_string(),
                (0..=255u8)
                    .map(|b| b as char)
                    .filter(|c| c.is_ascii())
                    .collect(),
            ),
        ];
        if i % 5 == 0 {
            list.push(("set-cookie".to_string(), format!("session={i}")));
        }
        if i % 11 == 0 {
            list.push(("x-big".to_string(), "z".repeat(3000)));
        }
        lists.push(list);
    }
    lists
}

#[test]
fn round_trips_with_shared_state_and_size_changes() {
    let mut e = Encoder::new();
    let mut d = Decoder::new(4096);
    for (i, list) in round_trip_lists().iter().enumerate() {
        // Change the peer's table size now and then, in step on both sides.
        let new_size = match i % 13 {
            4 => Some(0),
            5 => Some(4096),
            9 => Some(300),
            10 => Some(2048),
            _ => None,
        };
        if let Some(size) = new_size {
            e.set_max_table_size(size);
            d.set_max_table_size(size);
        }
        let mut dst = BytesMut::new();
        e.encode(
            list.iter()
                .enumerate()
                .map(|(j, (n, v))| (n.as_bytes(), v.as_bytes(), j == 2 && i % 3 == 0)),
            &mut dst,
        );
        let expected: Fields = list
            .iter()
            .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect();
        assert_eq!(decode(&mut d, &dst).unwrap(), expected, "block {i}");
        assert_eq!(d.table().size(), e.table().size(), "block {i}");
        assert_eq!(d.table().len(), e.table().len(), "block {i}");
    }
}

#[test]
fn raw_bytes_round_trip() {
    // Every octet value, in names and values, Huffman or not.
    let mut e = Encoder::new();
    let mut d = Decoder::new(4096);
    let all: Vec<u8> = (0..=255).collect();
    let mut dst = BytesMut::new();
    e.encode(
        [(&all[..], &all[..], false), (&b"a"[..], &b""[..], false)],
        &mut dst,
    );
    let out = decode(&mut d, &dst).unwrap();
    assert_eq!(
        out,
        vec![(all.clone(), all.clone()), (b"a".to_vec(), Vec::new())]
    );
}

// ---- Malformed input ----

fn decode_err(block: &[u8]) -> DecoderError {
    decode(&mut Decoder::new(4096), block).unwrap_err()
}

#[test]
fn index_zero() {
    assert_eq!(decode_err(&[0x80]), DecoderError::IndexZero);
}

#[test]
fn index_beyond_tables() {
    // 62 with an empty dynamic table.
    assert_eq!(decode_err(&[0xbe]), DecoderError::IndexOutOfRange);
    // A literal whose name index is past the end.
    assert_eq!(
        decode_err(&[0x7f, 0x01, 0x01, b'a']),
        DecoderError::IndexOutOfRange
    );
    // One past the last dynamic entry.
    let mut d = Decoder::new(4096);
    decode(&mut d, &hex("400a 6375 7374 6f6d 2d6b 6579 0161")).unwrap();
    assert_eq!(
        decode(&mut d, &[0xbe]).unwrap(),
        fields(&[("custom-key", "a")])
    );
    assert_eq!(decode(&mut d, &[0xbf]), Err(DecoderError::IndexOutOfRange));
}

#[test]
fn truncated_integer() {
    assert_eq!(decode_err(&[0xff]), DecoderError::IntegerTruncated);
    assert_eq!(decode_err(&[0xff, 0x80]), DecoderError::IntegerTruncated);
    // A literal that ends before its value.
    assert_eq!(decode_err(&[0x41]), DecoderError::IntegerTruncated);
}

#[test]
fn integer_overflow() {
    let mut block = vec![0xff];
    block.extend_from_slice(&[0xff; 10]);
    block.push(0x00);
    assert_eq!(decode_err(&block), DecoderError::IntegerOverflow);
    // As a string length.
    let mut block = vec![0x41, 0x7f];
    block.extend_from_slice(&[0xff; 12]);
    assert_eq!(decode_err(&block), DecoderError::IntegerOverflow);
}

#[test]
fn string_past_end() {
    assert_eq!(
        decode_err(&[0x40, 0x05, b'a']),
        DecoderError::StringTruncated
    );
    assert_eq!(
        decode_err(&[0x41, 0x03, b'a', b'b']),
        DecoderError::StringTruncated
    );
    // A length near 2^32 on a short block.
    assert_eq!(
        decode_err(&[0x41, 0x7f, 0x80, 0xff, 0xff, 0xff, 0x0f, b'a']),
        DecoderError::StringTruncated
    );
}

#[test]
fn bad_huffman() {
    // 8 bits of padding.
    assert_eq!(
        decode_err(&[0x41, 0x81, 0xff]),
        DecoderError::HuffmanPaddingTooLong
    );
    // 'a' padded with zeros.
    assert_eq!(
        decode_err(&[0x41, 0x81, 0x18]),
        DecoderError::HuffmanPaddingNotOnes
    );
    // EOS inside the string.
    assert_eq!(
        decode_err(&[0x41, 0x84, 0xff, 0xff, 0xff, 0xff]),
        DecoderError::HuffmanEos
    );
    // In a name too.
    assert_eq!(
        decode_err(&[0x40, 0x81, 0x18, 0x00]),
        DecoderError::HuffmanPaddingNotOnes
    );
}

fn size_update(size: usize) -> Vec<u8> {
    let mut dst = BytesMut::new();
    integer::encode(size, 5, 0x20, &mut dst);
    dst.to_vec()
}

#[test]
fn size_update_larger_than_allowed() {
    assert_eq!(
        decode_err(&size_update(4097)),
        DecoderError::TableSizeUpdateTooLarge
    );
    let mut d = Decoder::new(4096);
    d.set_max_table_size(1000);
    assert_eq!(
        decode(&mut d, &size_update(1001)),
        Err(DecoderError::TableSizeUpdateTooLarge)
    );
}

#[test]
fn size_updates_at_start_only() {
    let mut d = Decoder::new(4096);
    // Two updates then a field: fine.
    let mut block = size_update(0);
    block.extend(size_update(4096));
    block.push(0x82);
    assert_eq!(
        decode(&mut d, &block).unwrap(),
        fields(&[(":method", "GET")])
    );
    // An update after a field is not.
    let mut block = vec![0x82];
    block.extend(size_update(100));
    assert_eq!(
        decode(&mut d, &block),
        Err(DecoderError::TableSizeUpdateAfterField)
    );
}

#[test]
fn size_update_evicts() {
    let mut d = Decoder::new(4096);
    decode(&mut d, &hex("400a 6375 7374 6f6d 2d6b 6579 0161")).unwrap();
    assert_eq!(d.table().len(), 1);
    let mut block = size_update(10);
    block.push(0x82);
    decode(&mut d, &block).unwrap();
    assert_eq!((d.table().len(), d.table().size()), (0, 0));
    assert_eq!(decode(&mut d, &[0xbe]), Err(DecoderError::IndexOutOfRange));
}

#[test]
fn size_update_required_after_our_limit_drops() {
    let mut d = Decoder::new(4096);
    d.set_max_table_size(100);
    assert_eq!(
        decode(&mut d, &[0x82]),
        Err(DecoderError::TableSizeUpdateMissing)
    );
    let mut d = Decoder::new(4096);
    d.set_max_table_size(100);
    let mut block = size_update(100);
    block.push(0x82);
    assert_eq!(
        decode(&mut d, &block).unwrap(),
        fields(&[(":method", "GET")])
    );
    assert_eq!(
        decode(&mut d, &[0x82]).unwrap(),
        fields(&[(":method", "GET")])
    );
    // Raising the limit requires nothing.
    d.set_max_table_size(4096);
    assert_eq!(
        decode(&mut d, &[0x82]).unwrap(),
        fields(&[(":method", "GET")])
    );
}

#[test]
fn header_list_over_the_limit() {
    let mut d = Decoder::new(4096);
    // :method GET (3+7+32 = 42), then custom-key: a (10+1+32 = 43),
    // inserted into the table.
    let block = [&[0x82][..], &hex("400a 6375 7374 6f6d 2d6b 6579 0161")].concat();
    let mut out = Vec::new();
    let r = d.decode_limited(&block, 84, &mut BytesMut::new(), &mut |n, v| {
        out.push((n, v))
    });
    assert_eq!(r, Err(DecoderError::HeaderListTooLarge));
    assert_eq!(out.len(), 1);
    // The table is still in step: the field was added.
    assert_eq!(
        decode(&mut d, &[0xbe]).unwrap(),
        fields(&[("custom-key", "a")])
    );
    // Exactly at the limit is fine.
    let mut d = Decoder::new(4096);
    let mut n = 0;
    assert_eq!(
        d.decode_limited(&block, 85, &mut BytesMut::new(), &mut |_, _| n += 1),
        Ok(())
    );
    assert_eq!(n, 2);
}

#[test]
fn literals_of_successive_blocks_share_one_buffer_and_stay_intact() {
    // `:path` as a literal without indexing, indexed name (RFC 7541
    // §6.2.2), as nghttp2 and curl send it in every request.
    let block = |path: &str| {
        let mut b = vec![0x82, 0x04, path.len() as u8];
        b.extend_from_slice(path.as_bytes());
        b
    };
    let mut d = Decoder::new(4096);
    // The connection's scratch buffer: other writers use its spare room
    // between blocks (response heads are encoded in it).
    let mut strings = BytesMut::new();
    let mut paths = Vec::new();
    for i in 0..40 {
        let mut got = Vec::new();
        d.decode_limited(
            &block(&format!("/item/{i}")),
            usize::MAX,
            &mut strings,
            &mut |n, v| got.push((n, v)),
        )
        .unwrap();
        assert_eq!(got.len(), 2);
        paths.push(got.swap_remove(1).1);
        strings.clear();
        strings.extend_from_slice(&[0xee; 16]);
    }
    // Every string handed out is still the one decoded.
    for (i, p) in paths.iter().enumerate() {
        assert_eq!(&p[..], format!("/item/{i}").as_bytes());
    }
    // The first blocks' literals came from one allocation, one after the
    // other (what was written between them was overwritten by the next
    // literal, not handed out).
    let (a, b) = (&paths[0], &paths[1]);
    let end_of_a = a.as_ptr() as usize + a.len();
    assert_eq!(b.as_ptr() as usize, end_of_a);
}

#[test]
fn a_repeated_literal_is_decoded_once() {
    // `:path` as a literal without indexing, indexed name (RFC 7541
    // §6.2.2), Huffman-coded (§5.2) or raw.
    let literal = |flag: u8, octets: &[u8]| {
        let mut b = BytesMut::from(&[0x82, 0x04][..]);
        integer::encode(octets.len(), 7, flag, &mut b);
        b.extend_from_slice(octets);
        b.to_vec()
    };
    let coded = |s: &str| {
        let mut c = BytesMut::new();
        super::huffman::encode(s.as_bytes(), &mut c);
        c.to_vec()
    };
    let path = |d: &mut Decoder, block: &[u8]| {
        let mut got = Vec::new();
        d.decode(block, &mut |_, v| got.push(v)).unwrap();
        got.pop().unwrap()
    };
    let mut d = Decoder::new(4096);
    let hello = coded("/hello/bench");
    let first = path(&mut d, &literal(0x80, &hello));
    assert_eq!(&first[..], b"/hello/bench");
    let again = path(&mut d, &literal(0x80, &hello));
    assert_eq!(&again[..], b"/hello/bench");
    assert_eq!(again.as_ptr(), first.as_ptr(), "decoded once");
    // The same octets sent raw are those octets, not the decoded string.
    assert_eq!(&path(&mut d, &literal(0x00, &hello))[..], &hello[..]);
    assert_eq!(
        &path(&mut d, &literal(0x80, &coded("/other")))[..],
        b"/other"
    );
    assert_eq!(&path(&mut d, &literal(0x80, &hello))[..], b"/hello/bench");
    // A bad string after a remembered one is refused all the same (EOS
    // inside the string, RFC 7541 §5.2).
    let mut bad = hello.clone();
    bad.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]);
    assert_eq!(
        d.decode(&literal(0x80, &bad), &mut |_, _| {}),
        Err(DecoderError::HuffmanEos)
    );
    // An idle connection forgets it (and the string buffer it holds).
    assert!(d.remembers_literal());
    d.shed();
    assert!(!d.remembers_literal());
    assert_eq!(&path(&mut d, &literal(0x80, &hello))[..], b"/hello/bench");
}

#[test]
fn a_large_literal_does_not_leave_its_buffer_behind() {
    let mut d = Decoder::new(4096);
    let mut strings = BytesMut::new();
    // A Huffman-coded value of 20,000 '&' (an 8-bit code, RFC 7541
    // Appendix B): the decoder reserves 8/5 of the coded length, so 12,000
    // bytes of room would be left over after the string is split off.
    let coded = vec![0xf8u8; 20_000];
    // A literal without indexing, new name "x" (RFC 7541 §6.2.2).
    let mut block = BytesMut::from(&[0x00, 0x01, b'x'][..]);
    integer::encode(coded.len(), 7, 0x80, &mut block);
    block.extend_from_slice(&coded);
    let mut got = Vec::new();
    d.decode_limited(&block, usize::MAX, &mut strings, &mut |_, v| got.push(v))
        .unwrap();
    assert_eq!(got[0].len(), 20_000);
    assert!(got[0].iter().all(|&b| b == b'&'));
    // The leftover room is not kept for the next block.
    assert!(strings.capacity() <= 8192, "kept {}", strings.capacity());
}

#[test]
fn static_fields_are_not_copied() {
    let mut d = Decoder::new(4096);
    let mut ptrs = Vec::new();
    d.decode(&[0x82], &mut |n, v| ptrs.push((n.as_ptr(), v.as_ptr())))
        .unwrap();
    let (name, value) = super::table::STATIC_TABLE[1];
    assert_eq!(ptrs, [(name.as_ptr(), value.as_ptr())]);
}

#[test]
fn dynamic_fields_are_shared_not_copied() {
    let mut d = Decoder::new(4096);
    decode(&mut d, &hex("400a 6375 7374 6f6d 2d6b 6579 0161")).unwrap();
    let mut ptrs = Vec::new();
    for _ in 0..2 {
        d.decode(&[0xbe], &mut |n, v| ptrs.push((n.as_ptr(), v.as_ptr())))
            .unwrap();
    }
    let (name, value) = d.table().get(0).unwrap();
    assert_eq!(ptrs, [(name.as_ptr(), value.as_ptr()); 2]);
}

#[test]
fn entry_larger_than_table_empties_it() {
    // RFC 7541 §4.4: the field is still emitted, the table ends up empty.
    let mut d = Decoder::new(40);
    decode(&mut d, &hex("4001 6101 62")).unwrap(); // a: b, 34 octets
    assert_eq!(d.table().len(), 1);
    let block = hex("4003 6162 6304 6465 6667"); // abc: defg, 39 octets
    assert_eq!(decode(&mut d, &block).unwrap(), fields(&[("abc", "defg")]));
    assert_eq!(d.table().len(), 1);
    let block = hex("4003 6162 6306 6465 6667 6869"); // abc: defghi, 41
    assert_eq!(
        decode(&mut d, &block).unwrap(),
        fields(&[("abc", "defghi")])
    );
    assert_table(&d, &[], 0);
}

#[test]
fn encoder_does_not_index_fields_larger_than_half_the_table() {
    let mut e = Encoder::new();
    let big = "x".repeat(2100);
    let block = encode(&mut e, &[("x-big", &big)]);
    assert_eq!(block[0], 0x00); // without indexing, new name
    assert_eq!(e.table().len(), 0);
    let block = encode(&mut e, &[("x-small", "y")]);
    assert_eq!(block[0], 0x40);
    assert_eq!(e.table().len(), 1);
}

/// xorshift64*: enough randomness to shake the decoder, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn one_in(&mut self, n: u64) -> bool {
        matches!(self.next() % n, 0)
    }
}

#[test]
fn random_input_never_panics() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut persistent = Decoder::new(4096);
    let mut ok = 0;
    for _ in 0..5000 {
        let len = (rng.next() % 48) as usize;
        let mut block: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        // Bias towards valid-looking literals now and then.
        if len > 2 && rng.one_in(3) {
            block[0] = 0x40 | (block[0] & 0x3f);
            block[1] &= 0x8f;
        }
        let mut sink = |_: Bytes, _: Bytes| {};
        if Decoder::new(256).decode(&block, &mut sink).is_ok() {
            ok += 1;
        }
        let _ = persistent.decode_limited(&block, 1024, &mut BytesMut::new(), &mut sink);
        assert!(persistent.table().size() <= 4096);
    }
    // The generator does produce some valid blocks (so the decoder was
    // exercised past the first octet).
    assert!(ok > 0);
}

#[test]
fn random_round_trips() {
    // Random lists over a small vocabulary, so that names and values repeat
    // and the dynamic table fills, evicts and resizes.
    const NAMES: [&str; 10] = [
        ":status",
        "content-type",
        "server",
        "set-cookie",
        "x-a",
        "x-b",
        "date",
        "content-length",
        "vary",
        "x-long-header-name-for-testing",
    ];
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    let mut e = Encoder::new();
    let mut d = Decoder::new(4096);
    for block_no in 0..500 {
        if rng.one_in(25) {
            let size = [0, 50, 256, 1000, 4096][(rng.next() % 5) as usize];
            e.set_max_table_size(size);
            d.set_max_table_size(size);
        }
        let count = (rng.next() % 12) as usize;
        let list: Vec<(Vec<u8>, Vec<u8>, bool)> = (0..count)
            .map(|_| {
                let name = NAMES[(rng.next() % NAMES.len() as u64) as usize];
                let len = (rng.next() % 40) as usize;
                let value: Vec<u8> = (0..len)
                    .map(|_| match rng.next() % 4 {
                        0 => (rng.next() % 256) as u8,
                        _ => b"abc012 /;="[(rng.next() % 10) as usize],
                    })
                    .collect();
                (name.as_bytes().to_vec(), value, rng.one_in(10))
            })
            .collect();
        let mut dst = BytesMut::new();
        e.encode(list.iter().map(|(n, v, s)| (&n[..], &v[..], *s)), &mut dst);
        let expected: Fields = list.into_iter().map(|(n, v, _)| (n, v)).collect();
        assert_eq!(decode(&mut d, &dst).unwrap(), expected, "block {block_no}");
        assert_eq!(d.table().size(), e.table().size(), "block {block_no}");
    }
}

/// The encoder's memos (recent entries, `Encoder::recent`, and the last
/// block that changed nothing, `BlockMemo`) change no byte: against an
/// encoder that scans the table for every field and encodes every block,
/// over blocks that repeat fields or whole blocks, change a `date` now and
/// then, mark fields sensitive, evict entries and change the table size
/// (RFC 7541 §4.3).
#[test]
fn the_encoders_memos_give_the_bytes_of_a_scan() {
    const NAMES: [&str; 9] = [
        "content-type",
        "server",
        "vary",
        "cache-control",
        "date",
        "x-a",
        "x-b",
        "x-trace",
        "content-length",
    ];
    const VALUES: [&str; 5] = ["", "duet", "text/html", "application/json", "no-cache"];
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    let mut fast = Encoder::new();
    let mut scan = Encoder::without_memos();
    let mut d = Decoder::new(4096);
    let mut indexed = 0;
    let mut last: Vec<(Vec<u8>, Vec<u8>, bool)> = Vec::new();
    for block_no in 0..3000 {
        if rng.one_in(40) {
            let size = [0, 60, 100, 256, 1000, 4096][(rng.next() % 6) as usize];
            fast.set_max_table_size(size);
            scan.set_max_table_size(size);
            d.set_max_table_size(size);
        }
        let date = format!(
            "Tue, 24 Nov 2026 00:{:02}:{:02} GMT",
            block_no / 600,
            block_no / 10 % 60
        );
        let count = (rng.next() % 8) as usize;
        let mut list: Vec<(Vec<u8>, Vec<u8>, bool)> = (0..count)
            .map(|_| {
                let name = NAMES[(rng.next() % NAMES.len() as u64) as usize];
                let value = match name {
                    "date" => date.clone(),
                    "x-trace" => format!("{}", rng.next() % 1000),
                    _ => VALUES[(rng.next() % VALUES.len() as u64) as usize].to_string(),
                };
                (name.as_bytes().to_vec(), value.into_bytes(), rng.one_in(15))
            })
            .collect();
        list.insert(0, (b":status".to_vec(), b"200".to_vec(), false));
        // Half the time the previous block again, sometimes with one
        // field's sensitivity, value or presence changed.
        if rng.one_in(2) && !last.is_empty() {
            list = last.clone();
            let i = (rng.next() % list.len() as u64) as usize;
            match rng.next() % 8 {
                0 => list[i].2 = !list[i].2,
                1 => list[i].1.push(b'x'),
                2 => {
                    list.remove(i);
                }
                _ => {}
            }
        }
        last = list.clone();
        let fields = List(&list);
        let mut a = BytesMut::new();
        fast.encode_repeated(&fields, &mut a);
        let mut b = BytesMut::new();
        scan.encode_repeated(&fields, &mut b);
        assert_eq!(a, b, "block {block_no}");
        indexed += a.iter().filter(|&&octet| octet > 0xbd).count();
        let expected: Fields = list.into_iter().map(|(n, v, _)| (n, v)).collect();
        assert_eq!(decode(&mut d, &a).unwrap(), expected, "block {block_no}");
        assert_eq!(d.table().size(), fast.table().size(), "block {block_no}");
        assert_eq!(d.table().len(), fast.table().len(), "block {block_no}");
    }
    // Dynamic entries were indexed (octets 0xbe and up, among others), and
    // repeated blocks came from the block memo: both memos were exercised.
    assert!(indexed > 1000, "{indexed}");
    assert!(fast.memo_hits() > 300, "{}", fast.memo_hits());
    assert_eq!(scan.memo_hits(), 0);
}

#[test]
fn mutated_valid_blocks_never_panic() {
    let mut rng = Rng(12345);
    let mut e = Encoder::new();
    for list in round_trip_lists() {
        let mut dst = BytesMut::new();
        e.encode(
            list.iter()
                .map(|(n, v)| (n.as_bytes(), v.as_bytes(), false)),
            &mut dst,
        );
        for _ in 0..20 {
            let mut block = dst.to_vec();
            let flips = 1 + rng.next() % 4;
            for _ in 0..flips {
                let i = (rng.next() as usize) % block.len();
                block[i] ^= 1 << (rng.next() % 8);
            }
            if rng.one_in(4) {
                block.truncate((rng.next() as usize) % block.len());
            }
            let _ = Decoder::new(4096).decode(&block, &mut |_, _| {});
        }
    }
}

/// A list of fields as a block's [`FieldSource`].
struct List<'a>(&'a [(Vec<u8>, Vec<u8>, bool)]);

impl FieldSource for List<'_> {
    fn each(&self, mut f: impl FnMut(&[u8], &[u8], bool) -> bool) -> bool {
        self.0.iter().all(|(n, v, s)| f(n, v, *s))
    }
}
