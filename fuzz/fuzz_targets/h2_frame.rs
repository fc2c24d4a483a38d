//! Fuzzes the HTTP/2 frame layer (RFC 9113 §4, §6): arbitrary bytes are cut
//! into frames and each frame is loaded; nothing may panic, and a frame
//! that loads must re-encode to a frame that loads the same way.
//!
//! Run with `cargo fuzz run h2_frame` (nightly).

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

use duet::proto::h2::frame::{self, Frame};

fuzz_target!(|data: &[u8]| {
    let mut src = BytesMut::from(data);
    loop {
        match frame::decode(&mut src, 16_384) {
            Ok(Some(f)) => check_round_trip(f),
            Ok(None) | Err(_) => break,
        }
    }
});

fn check_round_trip(f: Frame) {
    let mut out = BytesMut::new();
    match &f {
        Frame::Data(d) if d.flow_len as usize == d.data.len() => d.encode(&mut out),
        Frame::Headers(h) => h.encode(&mut out),
        Frame::PushPromise(p) => p.encode(&mut out),
        Frame::Priority(p) => p.encode(&mut out),
        Frame::RstStream(r) => r.encode(&mut out),
        Frame::Settings(s) => s.encode(&mut out),
        Frame::Ping(p) => p.encode(&mut out),
        Frame::GoAway(g) => g.encode(&mut out),
        Frame::WindowUpdate(w) => w.encode(&mut out),
        Frame::Continuation(c) => c.encode(&mut out),
        // A padded DATA frame counts its padding against flow control
        // (`flow_len`), which a frame written without padding cannot match.
        _ => return,
    }
    let again = frame::decode(&mut out, 16_384);
    assert_eq!(again, Ok(Some(f)));
}
