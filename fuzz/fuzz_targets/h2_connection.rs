//! Fuzzes a whole HTTP/2 server connection core fed arbitrary client bytes
//! (after a valid preface), answering every request, releasing every body
//! byte and draining the output as a driver would, with a fake clock that
//! moves on between reads and the core's timers handled as a driver would.
//! Nothing may panic, and every field of an accepted request head builds
//! into the `HeaderMap` a handler reads (the core checks them as they
//! arrive and builds the map only on demand).
//!
//! Input layout: the first octet picks how the input is cut into reads (and
//! how far the clock moves between them); the rest follows the client
//! preface. Run with `cargo fuzz run h2_connection` (nightly).

#![no_main]

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;

use duet::proto::h2::{Config, Connection, Event, PREFACE};
use duet::{HeaderMap, StatusCode};

fuzz_target!(|data: &[u8]| {
    let Some((&knob, rest)) = data.split_first() else {
        return;
    };
    let step = usize::from(knob).max(1);
    let mut now = Instant::now();
    let tick = Duration::from_millis(u64::from(knob) * 50);
    let mut conn = Connection::new(Config::default(), now);
    let mut input = BytesMut::from(&PREFACE[..]);
    for chunk in rest.chunks(step) {
        input.extend_from_slice(chunk);
        let failed = conn.recv(&mut input, now).is_err();
        while let Some(ev) = conn.poll_event() {
            match ev {
                Event::Request { id, fields, .. } => {
                    assert_eq!(fields.to_map().len(), fields.len(), "{fields:?}");
                    conn.send_response(id, StatusCode::OK, &HeaderMap::new(), None, false, b"");
                    conn.send_data(id, Bytes::from_static(b"fuzz"), true);
                }
                Event::HeadersTooLarge { id } => {
                    conn.send_response(id, StatusCode::OK, &HeaderMap::new(), None, false, b"");
                    conn.send_data(id, Bytes::from_static(b"fuzz"), true);
                }
                Event::Data { id, data, .. } => conn.release(id, data.len()),
                _ => {}
            }
        }
        conn.take_output(&mut std::collections::VecDeque::new(), now);
        conn.refill();
        now += tick;
        if conn.poll_timeout().is_some_and(|t| t <= now) {
            conn.handle_timeout(now);
        }
        if failed || conn.is_done() {
            break;
        }
    }
});
