//! Fuzzes the HPACK decoder (RFC 7541): arbitrary header blocks, several
//! per input so that dynamic table state carries from one to the next.
//!
//! Input layout: the first octet picks the table size and header list
//! limit; the rest is split into blocks at each 0xff 0x00 0xff marker.
//! The blocks share one string buffer, as a connection's do, and every
//! string handed out must stay what it was while later blocks decode; a
//! field the decoder calls vetted passed the caller's check when it entered
//! the table.
//! Run with `cargo fuzz run hpack_decode` (nightly).

#![no_main]

use libfuzzer_sys::fuzz_target;

use bytes::{Bytes, BytesMut};
use duet::proto::h2::hpack::Decoder;

fuzz_target!(|data: &[u8]| {
    let Some((&knobs, rest)) = data.split_first() else {
        return;
    };
    let table_size = [0, 64, 256, 4096][usize::from(knobs & 3)];
    let max_list_size = [usize::MAX, 128, 1024, 16 * 1024][usize::from((knobs >> 2) & 3)];
    let mut decoder = Decoder::new(table_size);
    if knobs & 0x10 != 0 {
        decoder.set_max_table_size(table_size / 2);
    }
    let mut strings = BytesMut::new();
    // Strings of earlier blocks, with a copy of what they said.
    let mut held: Vec<(Bytes, Vec<u8>)> = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i <= rest.len() {
        let at_marker = rest.get(i..i + 3) == Some(&[0xff, 0x00, 0xff][..]);
        if at_marker || i == rest.len() {
            let block = &rest[start..i];
            let mut list_size = 0usize;
            // The caller's check of a field's octets: here, no NUL and no
            // uppercase. A field the decoder calls vetted must pass it.
            let accept = |name: &[u8], value: &[u8]| {
                !value.contains(&0) && !name.iter().any(u8::is_ascii_uppercase)
            };
            let result = decoder.decode_vetted(
                block,
                max_list_size,
                &mut strings,
                &mut |name, value, vetted| {
                    list_size += name.len() + value.len() + 32;
                    if held.len() < 64 {
                        held.push((value.clone(), value.to_vec()));
                    }
                    let ok = accept(&name, &value);
                    assert!(ok || !vetted, "a vetted field fails the check");
                    ok
                },
            );
            assert!(list_size <= max_list_size);
            // Another writer uses the buffer's spare room between blocks.
            strings.clear();
            strings.extend_from_slice(&[0xa5; 8]);
            for (value, copy) in &held {
                assert_eq!(&value[..], &copy[..]);
            }
            if let Err(e) = result {
                // Only an oversized header list leaves the decoder usable.
                if e != duet::proto::h2::hpack::DecoderError::HeaderListTooLarge {
                    return;
                }
            }
            start = i + 3;
            i += 3;
        } else {
            i += 1;
        }
    }
});
