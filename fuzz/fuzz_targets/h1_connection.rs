//! Fuzzes the HTTP/1.1 connection core (`proto::h1::Connection`) fed
//! arbitrary client bytes, as a driver would run it: events answered in
//! order, output written, timers fired, the peer closing at the end.
//!
//! Input layout: the first octet picks the limits, whether h2c upgrades are
//! accepted, how the application answers (at once, after the body, after
//! reading a body held by `100-continue`, streamed) and how the bytes are
//! split into reads; the rest is what the peer sent. Besides "never
//! panics", it checks that the connection always ends, that every answer
//! the core asks for has a documented status, and that a response's last
//! byte is reported once. Run with `cargo fuzz run h1_connection`
//! (nightly).

#![no_main]

use std::io::IoSlice;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use duet::proto::h1::{BodyKind, Config, Connection, Event};
use duet::Limits;
use http::{HeaderMap, StatusCode};
use libfuzzer_sys::fuzz_target;

const DATE: &[u8] = b"Sun, 06 Nov 1994 08:49:37 GMT";

fuzz_target!(|data: &[u8]| {
    let Some((&knobs, input)) = data.split_first() else {
        return;
    };
    let mut limits = Limits::default();
    if knobs & 1 != 0 {
        limits.max_uri_bytes = 32;
        limits.max_header_bytes = 256;
        limits.max_headers = 4;
        limits.max_body_bytes = 64;
    }
    let mut config = Config::new(Arc::new(limits));
    let h2c = knobs & 2 != 0;
    config.report_written = true;
    let streamed = knobs & 4 != 0;
    let expect = knobs & 8 != 0;
    let step = usize::from(knobs >> 4) * 7 + 1;

    let mut now = Instant::now();
    let mut conn = Connection::new(config, now);
    let mut fed = 0;
    let mut responses = 0u64;
    let mut written = 0u64;
    let respond = |conn: &mut Connection, now: Instant, responses: &mut u64| {
        let len = (!streamed).then_some(4);
        if conn.send_response(StatusCode::OK, &HeaderMap::new(), len, DATE) {
            let _ = conn.send_data(Bytes::from_static(b"ab"));
            let _ = conn.send_data(Bytes::from_static(b"cd"));
        }
        if conn.send_end(now).is_ok() {
            *responses += 1;
        }
    };
    // Every step either consumes input, advances time or ends: bounded.
    for _ in 0..(input.len() + 64) * 8 {
        while let Some(event) = conn.poll_event(now) {
            match event {
                Event::Request { head, .. } => {
                    if h2c && head.upgrade_h2c.is_some() {
                        conn.accept_upgrade(64);
                    } else if head.body == BodyKind::None {
                        respond(&mut conn, now, &mut responses);
                    } else if expect {
                        conn.expect_continue();
                        conn.send_continue();
                    }
                }
                Event::Data(d) => assert!(!d.is_empty()),
                Event::End => respond(&mut conn, now, &mut responses),
                Event::Reject { error, .. }
                | Event::BodyFailed {
                    answer: Some(error),
                    ..
                } => {
                    let s = error.status().as_u16();
                    assert!(matches!(s, 400 | 408 | 413 | 414 | 431 | 501 | 505), "{s}");
                    conn.reject(&error, DATE, now);
                    responses += 1;
                }
                Event::BodyFailed { answer: None, .. } => {}
                Event::Upgrade { .. } => return,
                Event::Written { .. } => written += 1,
            }
        }
        while conn.output_len() > 0 {
            let mut slices = [IoSlice::new(&[]); 8];
            let n = conn.output_slices(&mut slices);
            let len: usize = slices[..n].iter().map(|s| s.len()).sum();
            assert!(len > 0);
            conn.advance_output(len, now);
        }
        if conn.is_closed() {
            while let Some(event) = conn.poll_event(now) {
                if let Event::Written { .. } = event {
                    written += 1;
                }
            }
            assert!(written <= responses);
            return;
        }
        if conn.wants_read() && fed < input.len() {
            let end = (fed + step).min(input.len());
            conn.read_buf().extend_from_slice(&input[fed..end]);
            fed = end;
            conn.recv(now);
        } else if conn.wants_read() {
            conn.recv_eof(now);
        } else if let Some(t) = conn.poll_timeout() {
            now = now.max(t);
            conn.handle_timeout(now);
        } else {
            // Holding a body for 100-continue that nobody asks for, or a
            // pending event: neither happens with this application.
            panic!("stuck: {conn:?}");
        }
        now += Duration::from_millis(1);
    }
    panic!("the connection did not end");
});
