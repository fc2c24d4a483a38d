//! Connection-core rules, one test per RFC sentence, driven with byte
//! strings and read back as frames.

use super::*;
use crate::proto::h2::frame::head::{ACK, END_HEADERS, END_STREAM, PADDED, PRIORITY};
use crate::proto::h2::frame::{Head, Kind};
use crate::proto::h2::hpack::Decoder;
use crate::proto::h2::PREFACE;
use bytes::Buf;
use http::StatusCode;

const DATA: u8 = 0;
const HEADERS: u8 = 1;
const PRIO: u8 = 2;
const RST: u8 = 3;
const SETTINGS: u8 = 4;
const PUSH: u8 = 5;
const PING: u8 = 6;
const WINDOW: u8 = 8;
const CONT: u8 = 9;

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    b.extend_from_slice(&[kind, flags]);
    b.extend_from_slice(&stream.to_be_bytes());
    b.extend_from_slice(payload);
    b
}

/// An HPACK block of literal fields without indexing, new names
/// (RFC 7541 §6.2.2), no Huffman.
fn block(fields: &[(&str, &str)]) -> Vec<u8> {
    fn int(out: &mut Vec<u8>, first: u8, prefix: u8, mut v: usize) {
        let max = (1usize << prefix) - 1;
        if v < max {
            out.push(first | v as u8);
            return;
        }
        out.push(first | max as u8);
        v -= max;
        while v >= 128 {
            out.push((v % 128) as u8 | 0x80);
            v /= 128;
        }
        out.push(v as u8);
    }
    let mut out = Vec::new();
    for (n, v) in fields {
        out.push(0x00);
        int(&mut out, 0, 7, n.len());
        out.extend_from_slice(n.as_bytes());
        int(&mut out, 0, 7, v.len());
        out.extend_from_slice(v.as_bytes());
    }
    out
}

const GET: [(&str, &str); 4] = [
    (":method", "GET"),
    (":scheme", "http"),
    (":authority", "example.com"),
    (":path", "/"),
];

const POST: [(&str, &str); 4] = [
    (":method", "POST"),
    (":scheme", "http"),
    (":authority", "example.com"),
    (":path", "/up"),
];

fn get_block() -> Vec<u8> {
    block(&GET)
}

struct T {
    c: Connection,
    now: Instant,
}

impl T {
    /// A connection created at `now`, before the client preface.
    fn fresh(cfg: Config) -> T {
        let now = Instant::now();
        T {
            c: Connection::new(cfg, now),
            now,
        }
    }

    /// A connection after the client preface and SETTINGS.
    fn with(cfg: Config) -> T {
        let mut t = T::fresh(cfg);
        let mut b = PREFACE.to_vec();
        b.extend(frame(SETTINGS, 0, 0, &[]));
        t.feed(&b).expect("preface accepted");
        t.c.take_output(&mut VecDeque::new(), t.now);
        t
    }

    fn new() -> T {
        T::with(Config::default())
    }

    fn feed(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let mut src = BytesMut::from(bytes);
        let r = self.c.recv(&mut src, self.now);
        assert!(r.is_err() || src.is_empty(), "whole frames consumed");
        r
    }

    fn frames(&mut self) -> Vec<(Head, Bytes)> {
        let mut segs = VecDeque::new();
        self.c.take_output(&mut segs, self.now);
        let mut out = BytesMut::new();
        for s in segs {
            out.extend_from_slice(&s);
        }
        let mut out = out.freeze();
        let mut v = Vec::new();
        while let Some((h, len)) = Head::parse(&out) {
            out.advance(9);
            v.push((h, out.split_to(len)));
        }
        v
    }

    /// Moves the fake clock on.
    fn advance(&mut self, d: Duration) {
        self.now += d;
    }

    /// The GOAWAYs in the output: (last stream id, error code).
    fn goaways(&mut self) -> Vec<(u32, Reason)> {
        self.frames()
            .iter()
            .filter(|(h, _)| h.kind == Kind::GoAway)
            .map(|(_, p)| {
                let last = u32::from_be_bytes([p[0], p[1], p[2], p[3]]);
                (last, Reason(u32::from_be_bytes([p[4], p[5], p[6], p[7]])))
            })
            .collect()
    }

    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.c.poll_event()).collect()
    }

    fn open(&mut self, id: u32, end_stream: bool) {
        let flags = END_HEADERS | if end_stream { END_STREAM } else { 0 };
        self.feed(&frame(HEADERS, flags, id, &get_block())).unwrap();
    }

    /// Asserts a connection error with `reason` and a GOAWAY carrying it.
    fn expect_goaway(&mut self, r: Result<(), Error>, reason: Reason) {
        assert_eq!(r, Err(Error::Connection(reason)));
        let f = self.frames();
        let g = f
            .iter()
            .find(|(h, _)| h.kind == Kind::GoAway)
            .expect("GOAWAY sent");
        assert_eq!(&g.1[4..8], &reason.0.to_be_bytes());
    }

    /// Asserts RST_STREAM(`id`, `reason`) was sent and the connection lives.
    fn expect_rst(&mut self, r: Result<(), Error>, id: u32, reason: Reason) {
        assert_eq!(r, Ok(()));
        let f = self.frames();
        assert!(
            f.iter().any(|(h, p)| h.kind == Kind::RstStream
                && h.stream_id == id
                && p[..] == reason.0.to_be_bytes()),
            "RST_STREAM({id}, {reason}) in {f:?}"
        );
        assert!(!f.iter().any(|(h, _)| h.kind == Kind::GoAway));
    }
}

fn rst(reason: Reason) -> [u8; 4] {
    reason.0.to_be_bytes()
}

// ----- §3.4 preface, SETTINGS -----

#[test]
fn rfc9113_3_4_server_preface_is_settings_then_window_update() {
    let mut t = T::fresh(Config::default());
    let f = t.frames();
    assert_eq!(f[0].0.kind, Kind::Settings);
    assert_eq!(f[0].0.flags, 0);
    assert_eq!(f[1].0.kind, Kind::WindowUpdate);
    assert_eq!(f[1].0.stream_id, 0);
    let inc = u32::from_be_bytes(f[1].1[..4].try_into().unwrap());
    assert_eq!(inc, Config::default().connection_window_size - 65_535);
}

#[test]
fn rfc9113_3_4_invalid_preface() {
    let mut t = T::fresh(Config::default());
    t.frames();
    let r = t.feed(b"GET / HTTP/1.1\r\n\r\n");
    t.expect_goaway(r, Reason::PROTOCOL_ERROR);
}

#[test]
fn rfc9113_3_4_preface_in_pieces() {
    let mut t = T::fresh(Config::default());
    for b in PREFACE.iter() {
        t.feed(&[*b]).unwrap();
    }
    t.feed(&frame(SETTINGS, 0, 0, &[])).unwrap();
}

#[test]
fn rfc9113_3_4_first_frame_must_be_settings() {
    let mut t = T::fresh(Config::default());
    let mut b = PREFACE.to_vec();
    b.extend(frame(PING, 0, 0, &[0; 8]));
    let r = t.feed(&b);
    t.expect_goaway(r, Reason::PROTOCOL_ERROR);
}

#[test]
fn rfc9113_6_5_3_settings_acknowledged() {
    let mut t = T::new();
    t.feed(&frame(SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 10]))
        .unwrap();
    let f = t.frames();
    assert_eq!(f.len(), 1);
    assert_eq!((f[0].0.kind, f[0].0.flags), (Kind::Settings, ACK));
    assert!(f[0].1.is_empty());
}

#[test]
fn rfc9113_6_5_2_invalid_settings_values() {
    let mut t = T::new();
    let r = t.feed(&frame(SETTINGS, 0, 0, &[0, 2, 0, 0, 0, 2]));
    t.expect_goaway(r, Reason::PROTOCOL_ERROR);
    let mut t = T::new();
    let r = t.feed(&frame(SETTINGS, 0, 0, &[0, 4, 0x80, 0, 0, 0]));
    t.expect_goaway(r, Reason::FLOW_CONTROL_ERROR);
    let mut t = T::new();
    let r = t.feed(&frame(SETTINGS, 0, 0, &[0, 5, 0, 0, 0x10, 0]));
    t.expect_goaway(r, Reason::PROTOCOL_ERROR);
}

#[test]
fn rfc9113_6_7_ping_answered() {
    let mut t = T::new();
    t.feed(&frame(PING, 0, 0, b"abcdefgh")).unwrap();
    let f = t.frames();
    assert_eq!((f[0].0.kind, f[0].0.flags), (Kind::Ping, ACK));
    assert_eq!(&f[0].1[..], b"abcdefgh");
    // A PING ACK is not answered.
    t.feed(&frame(PING, ACK, 0, b"abcdefgh")).unwrap();
    assert!(t.frames().is_empty());
}

#[test]
fn rfc9113_4_2_frame_too_large() {
    let mut t = T::new();
    let max = Config::default().max_frame_size as usize;
    let r = t.feed(&frame(DATA, 0, 1, &vec![0; max + 1]));
    t.expect_goaway(r, Reason::FRAME_SIZE_ERROR);
}

#[test]
fn rfc9113_5_5_unknown_frame_ignored() {
    let mut t = T::new();
    t.feed(&frame(0x20, 0xff, 0, b"abc")).unwrap();
    t.feed(&frame(PING, 0, 0, &[0; 8])).unwrap();
    assert_eq!(t.frames()[0].0.kind, Kind::Ping);
}

#[test]
fn rfc9113_8_4_push_promise_from_client() {
    let mut t = T::new();
    t.open(1, false);
    let r = t.feed(&frame(PUSH, END_HEADERS, 1, &[0, 0, 0, 2, 0x82]));
    t.expect_goaway(r, Reason::PROTOCOL_ERROR);
}

// ----- §5.1 stream states -----

#[test]
fn request_event() {
    let mut t = T::new();
    t.open(1, true);
    let ev = t.events();
    let Some(Event::Request {
        id,
        head,
        fields,
        content_length,
        end_stream,
    }) = ev.first()
    else {
        panic!("{ev:?}")
    };
    assert_eq!((*id, *end_stream), (1, true));
    assert_eq!(head.uri, "http://example.com/");
    assert_eq!(head.version, http::Version::HTTP_2);
    // The fields come beside the head, built only when read.
    assert!(head.headers.is_empty());
    assert!(fields.is_empty() && fields.to_map().is_empty());
    assert_eq!(*content_length, None);
}

#[test]
fn rfc9113_5_1_idle_frames() {
    for (kind, payload) in [
        (DATA, &b"x"[..]),
        (RST, &[0, 0, 0, 8][..]),
        (WINDOW, &[0, 0, 0, 1][..]),
        (CONT, &get_block()[..]),
    ] {
        let mut t = T::new();
        let r = t.feed(&frame(kind, END_HEADERS, 1, payload));
        t.expect_goaway(r, Reason::PROTOCOL_ERROR);
    }
}

#[test]
fn rfc9113_5_1_priority_on_idle_is_fine() {
    let mut t = T::new();
    t.feed(&frame(PRIO, 0, 5, &[0, 0, 0, 3, 10])).unwrap();
    assert!(t.frames().is_empty());
    t.open(3, true);
}

#[test]
fn rfc9113_5_1_half_closed_remote_data() {
    let mut t = T::new();
    t.open(1, true);
    let r = t.feed(&frame(DATA, END_STREAM, 1, b"x"));
    t.expect_rst(r, 1, Reason::STREAM_CLOSED);
}

#[test]
fn rfc9113_5_1_half_closed_remote_headers() {
    let mut t = T::new();
    t.open(1, true);
    let r = t.feed(&frame(HEADERS, END_HEADERS | END_STREAM, 1, &get_block()));
    t.expect_rst(r, 1, Reason::STREAM_CLOSED);
}

#[test]
fn rfc9113_5_1_closed_after_peer_reset() {
    let mut t = T::new();
    t.open(1, false);
    t.feed(&frame(RST, 0, 1, &rst(Reason::CANCEL))).unwrap();
    let ev = t.events();
    assert!(matches!(ev.last(), Some(Event::Reset { id: 1, .. })));
    let r = t.feed(&frame(DATA, 0, 1, b"x"));
    t.expect_rst(r, 1, Reason::STREAM_CLOSED);
}

#[test]
fn rfc9113_5_1_closed_after_end_stream() {
    let mut t = T::new();
    t.open(1, true);
    t.c.send_response(1, StatusCode::OK, &HeaderMap::new(), Some(0), true, b"");
    t.frames();
    let r = t.feed(&frame(DATA, END_STREAM, 1, b"x"));
    t.expect_goaway(r, Reason::STREAM_CLOSED);
}

#[test]
fn rfc9113_5_1_ignore_after_our_reset() {
    let mut t = T::new();
    t.open(1, false);
    t.c.reset_stream(1, Reason::CANCEL);
    t.frames();
    t.feed(&frame(DATA, 0, 1, b"x")).unwrap();
    t.feed(&frame(WINDOW, 0, 1, &[0, 0, 0, 1])).unwrap();
    t.feed(&frame(RST, 0, 1, &rst(Reason::CANCEL))).unwrap();
    assert!(t.frames().is_empty());
}

#[test]
fn rfc9113_5_1_1_even_stream_id() {
    let mut t = T::new();
    let r = t.feed(&frame(HEADERS, END_HEADERS | END_STREAM, 2, &get_block()));
    t.expect_goaway(r, Reason::PROTOCOL_ERROR);
}

#[test]
fn rfc9113_5_1_1_decreasing_stream_id() {
    let mut t = T::new();
    t.open(5, true);
    let r = t.feed(&frame(HEADERS, END_HEADERS | END_STREAM, 3, &get_block()));
    t.expect_goaway(r, Reason::PROTOCOL_ERROR);
}

#[test]
fn rfc9113_5_1_2_concurrency_limit() {
    let mut t = T::with(Config {
        max_concurrent_streams: 2,
        ..Config::default()
    });
    t.open(1, true);
    t.open(3, true);
    let r = t.feed(&frame(HEADERS, END_HEADERS | END_STREAM, 5, &get_block()));
    t.expect_rst(r, 5, Reason::REFUSED_STREAM);
    // Finishing a stream frees a slot.
    t.c.send_response(1, StatusCode::OK, &HeaderMap::new(), None, true, b"");
    t.open(7, true);
    assert!(t
        .events()
        .iter()
        .any(|e| matches!(e, Event::Request { id: 7, .. })));
}

#[test]
fn rfc9113_5_3_1_self_dependency() {
    let mut t = T::new();
    let r = t.feed(&frame(PRIO, 0, 1, &[0, 0, 0, 1, 10]));
    t.expect_rst(r, 1, Reason::PROTOCOL_ERROR);
    let mut t = T::new();
    let mut p = vec![0, 0, 0, 3, 10];
    p.extend(get_block());
    let r = t.feed(&frame(HEADERS, END_HEADERS | END_STREAM | PRIORITY, 3, &p));
    t.expect_rst(r, 3, Reason::PROTOCOL_ERROR);
}

#[test]
fn rfc9113_6_3_priority_wrong_length_is_stream_error() {
    let mut t = T::new();
    t.open(1, false);
    let r = t.feed(&frame(PRIO, 0, 1, &[0, 0, 0, 3]));
    t.expect_rst(r, 1, Reason::FRAME_SIZE_ERROR);
}

#[test]
fn rapid_reset_guard() {
    let mut t = T::with(Config {
        max_resets_per_sec: 5,
        ..Config::default()
    });
    let mut r = Ok(());
    for i in 0..6u32 {
        let id = 1 + 2 * i;
        t.open(id, false);
        r = t.feed(&frame(RST, 0, id, &rst(Reason::CANCEL)));
    }
    t.expect_goaway(r, Reason::ENHANCE_YOUR_CALM);
}

// ----- §6.10 CONTINUATION -----

#[test]
fn rfc9113_6_10_continuation_assembles_block() {
    let mut t = T::new();
    let b = get_block();
    let (a, c) = b.split_at(5);
    t.feed(&frame(HEADERS, END_STREAM, 1, a)).unwrap();
    assert!(t.events().is_empty());
    t.feed(&frame(CONT, END_HEADERS, 1, c)).unwrap();
    assert!(matches!(t.events()[..], [Event::Request { id: 1, .. }]));
}

#[test]
fn rfc9113_6_10_other_frame_interleaved() {
    let mut t = T::new();
    let b = get_block();
    t.feed(&frame(HEADERS, END_STREAM, 1, &b[..5])).unwrap();
    let r = t.feed(&frame(PING, 0, 0, &[0; 8]));
    t.expect_goaway(r, Reason::PROTOCOL_ERROR);
}

#[test]
fn rfc9113_6_10_continuation_other_stream() {
    let mut t = T::new();
    let b = get_block();
    t.feed(&frame(HEADERS, END_STREAM, 1, &b[..5])).unwrap();
    let r = t.feed(&frame(CONT, END_HEADERS, 3, &b[5..]));
    t.expect_goaway(r, Reason::PROTOCOL_ERROR);
}

#[test]
fn rfc9113_6_10_continuation_after_end_headers() {
    let mut t = T::new();
    t.open(1, false);
    let r = t.feed(&frame(CONT, END_HEADERS, 1, &get_block()));
    t.expect_goaway(r, Reason::PROTOCOL_ERROR);
}

// ----- §4.3 HPACK -----

#[test]
fn rfc9113_4_3_compression_error() {
    let mut t = T::new();
    // Indexed field 0 is invalid (RFC 7541 §6.1).
    let r = t.feed(&frame(HEADERS, END_HEADERS | END_STREAM, 1, &[0x80]));
    t.expect_goaway(r, Reason::COMPRESSION_ERROR);
}

// ----- §6.9 flow control -----

#[test]
fn rfc9113_6_9_window_update_zero() {
    let mut t = T::new();
    let r = t.feed(&frame(WINDOW, 0, 0, &[0, 0, 0, 0]));
    t.expect_goaway(r, Reason::PROTOCOL_ERROR);
    let mut t = T::new();
    t.open(1, true);
    let r = t.feed(&frame(WINDOW, 0, 1, &[0, 0, 0, 0]));
    t.expect_rst(r, 1, Reason::PROTOCOL_ERROR);
}

#[test]
fn rfc9113_6_9_1_window_overflow() {
    let mut t = T::new();
    let r = t.feed(&frame(WINDOW, 0, 0, &[0x7f, 0xff, 0xff, 0xff]));
    t.expect_goaway(r, Reason::FLOW_CONTROL_ERROR);
    let mut t = T::new();
    t.open(1, true);
    let r = t.feed(&frame(WINDOW, 0, 1, &[0x7f, 0xff, 0xff, 0xff]));
    t.expect_rst(r, 1, Reason::FLOW_CONTROL_ERROR);
}

#[test]
fn rfc9113_6_9_1_data_beyond_stream_window() {
    let mut t = T::with(Config {
        initial_window_size: 10,
        ..Config::default()
    });
    // Acknowledge our SETTINGS so the small window is in force.
    t.feed(&frame(SETTINGS, ACK, 0, &[])).unwrap();
    t.feed(&frame(HEADERS, END_HEADERS, 1, &block(&POST)))
        .unwrap();
    let r = t.feed(&frame(DATA, 0, 1, &[0; 11]));
    t.expect_rst(r, 1, Reason::FLOW_CONTROL_ERROR);
}

#[test]
fn rfc9113_6_9_1_data_beyond_connection_window() {
    let mut t = T::with(Config {
        connection_window_size: 65_535,
        ..Config::default()
    });
    t.feed(&frame(SETTINGS, ACK, 0, &[])).unwrap();
    let mut r = Ok(());
    for i in 0..5u32 {
        t.feed(&frame(HEADERS, END_HEADERS, 1 + 2 * i, &block(&POST)))
            .unwrap();
        r = t.feed(&frame(DATA, 0, 1 + 2 * i, &[0; 16_000]));
        if r.is_err() {
            break;
        }
    }
    t.expect_goaway(r, Reason::FLOW_CONTROL_ERROR);
}

#[test]
fn window_updates_batched_on_release() {
    let mut t = T::with(Config {
        initial_window_size: 1000,
        connection_window_size: 65_535,
        ..Config::default()
    });
    t.feed(&frame(SETTINGS, ACK, 0, &[])).unwrap();
    t.feed(&frame(HEADERS, END_HEADERS, 1, &block(&POST)))
        .unwrap();
    t.feed(&frame(DATA, 0, 1, &[0; 400])).unwrap();
    t.c.release(1, 400);
    assert!(t.frames().is_empty(), "below half a window: no update yet");
    t.feed(&frame(DATA, 0, 1, &[0; 200])).unwrap();
    t.c.release(1, 200);
    let f = t.frames();
    let upd: Vec<_> = f
        .iter()
        .filter(|(h, _)| h.kind == Kind::WindowUpdate && h.stream_id == 1)
        .collect();
    assert_eq!(upd.len(), 1);
    assert_eq!(&upd[0].1[..], &600u32.to_be_bytes());
}

#[test]
fn rfc9113_6_9_2_initial_window_change_applies_to_open_streams() {
    let mut t = T::new();
    t.open(1, true);
    t.c.send_response(1, StatusCode::OK, &HeaderMap::new(), None, false, b"");
    t.c.send_data(1, Bytes::from(vec![7u8; 70_000]), true);
    let sent: usize = t
        .frames()
        .iter()
        .filter(|(h, _)| h.kind == Kind::Data)
        .map(|(_, p)| p.len())
        .sum();
    assert_eq!(sent, 65_535);
    // Shrink: the window goes negative (65_535 sent, window now -35_535).
    t.feed(&frame(SETTINGS, 0, 0, &[0, 4, 0, 0, 0x75, 0x30]))
        .unwrap();
    t.feed(&frame(WINDOW, 0, 0, &[0, 1, 0, 0])).unwrap();
    t.feed(&frame(WINDOW, 0, 1, &[0, 0, 0x8a, 0xcf])).unwrap(); // +35_535
    assert!(!t.frames().iter().any(|(h, _)| h.kind == Kind::Data));
    t.feed(&frame(WINDOW, 0, 1, &[0, 0, 0x11, 0x94])).unwrap(); // +4500
    let data: usize = t
        .frames()
        .iter()
        .filter(|(h, _)| h.kind == Kind::Data)
        .map(|(_, p)| p.len())
        .sum();
    assert_eq!(data, 4_465);
}

#[test]
fn rfc9113_6_9_2_initial_window_overflow() {
    let mut t = T::new();
    t.open(1, true);
    t.feed(&frame(WINDOW, 0, 1, &[0x7f, 0xff, 0, 0])).unwrap();
    let r = t.feed(&frame(SETTINGS, 0, 0, &[0, 4, 0x7f, 0xff, 0xff, 0xff]));
    t.expect_goaway(r, Reason::FLOW_CONTROL_ERROR);
}

#[test]
fn bodies_that_fit_go_at_once_and_still_spend_the_windows() {
    // RFC 9113 §6.9.1: bodies sent whole at once (no queue) count against
    // the connection window like queued ones: after 16,384 + 16,384 +
    // 16,384 + 16,383 bytes on four streams the connection window
    // (65,535) has 0 left, and a fifth body of 10 waits for
    // WINDOW_UPDATE: 9 bytes go with 9 bytes of room, the last one, ending
    // the stream, with the next.
    let mut t = T::new();
    for (i, id) in [1u32, 3, 5, 7, 9].into_iter().enumerate() {
        t.open(id, true);
        t.c.send_response(id, StatusCode::OK, &HeaderMap::new(), None, false, b"");
        let n = if i < 3 {
            16_384
        } else if i == 3 {
            16_383
        } else {
            10
        };
        t.c.send_data(id, Bytes::from(vec![i as u8; n]), true);
    }
    let data = |f: &[(frame::Head, Bytes)]| -> Vec<(u32, usize, bool)> {
        f.iter()
            .filter(|(h, _)| h.kind == Kind::Data)
            .map(|(h, p)| (h.stream_id, p.len(), h.has(END_STREAM)))
            .collect()
    };
    assert_eq!(
        data(&t.frames()),
        vec![
            (1, 16_384, true),
            (3, 16_384, true),
            (5, 16_384, true),
            (7, 16_383, true)
        ]
    );
    t.feed(&frame(WINDOW, 0, 0, &[0, 0, 0, 9])).unwrap();
    assert_eq!(data(&t.frames()), vec![(9, 9, false)]);
    t.feed(&frame(WINDOW, 0, 0, &[0, 0, 0, 1])).unwrap();
    assert_eq!(data(&t.frames()), vec![(9, 1, true)]);
}

#[test]
fn data_split_at_peer_max_frame_size_and_windows() {
    let mut t = T::new();
    t.open(1, true);
    t.c.send_response(1, StatusCode::OK, &HeaderMap::new(), None, false, b"");
    t.c.send_data(1, Bytes::from(vec![1u8; 40_000]), true);
    let f = t.frames();
    let sizes: Vec<usize> = f
        .iter()
        .filter(|(h, _)| h.kind == Kind::Data)
        .map(|(_, p)| p.len())
        .collect();
    assert_eq!(sizes, vec![16_384, 16_384, 7_232]);
    let last = f.iter().rev().find(|(h, _)| h.kind == Kind::Data).unwrap();
    assert!(last.0.has(END_STREAM));
}

/// SETTINGS parameters (RFC 9113 §6.5.2) as a SETTINGS payload.
fn settings_payload(params: &[(u16, u32)]) -> Vec<u8> {
    let mut p = Vec::new();
    for (id, v) in params {
        p.extend_from_slice(&id.to_be_bytes());
        p.extend_from_slice(&v.to_be_bytes());
    }
    p
}

/// Opens the peer's windows wide: connection (§6.9.1) and new streams'
/// (SETTINGS_INITIAL_WINDOW_SIZE, §6.9.2), with `max_frame` as its
/// SETTINGS_MAX_FRAME_SIZE (§6.5.2).
fn wide_open_peer(t: &mut T, max_frame: u32) {
    let s = settings_payload(&[(0x4, 1 << 24), (0x5, max_frame)]);
    t.feed(&frame(SETTINGS, 0, 0, &s)).unwrap();
    t.feed(&frame(WINDOW, 0, 0, &(1u32 << 24).to_be_bytes()))
        .unwrap();
}

/// The payload sizes of every DATA frame queued, taking the output batch
/// by batch (as the driver does after each write).
fn data_sizes(t: &mut T) -> Vec<usize> {
    let mut sizes = Vec::new();
    loop {
        t.c.refill();
        let batch: Vec<usize> = t
            .frames()
            .iter()
            .filter(|(h, _)| h.kind == Kind::Data)
            .map(|(_, p)| p.len())
            .collect();
        if batch.is_empty() {
            return sizes;
        }
        sizes.extend(batch);
    }
}

#[test]
fn rfc9113_4_2_data_uses_peers_larger_max_frame_size() {
    // §4.2: a frame may be as large as the peer's SETTINGS_MAX_FRAME_SIZE
    // and no larger (a larger one is a FRAME_SIZE_ERROR for the peer).
    let mut t = T::new();
    wide_open_peer(&mut t, 100_000);
    t.frames();
    t.open(1, true);
    t.c.send_response(1, StatusCode::OK, &HeaderMap::new(), None, false, b"");
    t.c.send_data(1, Bytes::from(vec![1u8; 250_000]), false);
    t.c.send_data(1, Bytes::from(vec![2u8; 120_000]), true);
    let sizes = data_sizes(&mut t);
    // Frames end where the application's chunks end.
    assert_eq!(sizes, vec![100_000, 100_000, 50_000, 100_000, 20_000]);

    // The largest size allowed (2^24-1, §6.5.2) is honoured too.
    let mut t = T::new();
    wide_open_peer(&mut t, (1 << 24) - 1);
    t.frames();
    t.open(1, true);
    t.c.send_response(1, StatusCode::OK, &HeaderMap::new(), None, false, b"");
    t.c.send_data(1, Bytes::from(vec![1u8; 200_000]), true);
    assert_eq!(data_sizes(&mut t), vec![200_000]);
}

#[test]
fn many_data_frames_in_one_output_batch() {
    // Bulk output is handed to the driver many frames at a time (one
    // vectored write each batch), each payload its own segment, uncopied.
    let mut t = T::new();
    wide_open_peer(&mut t, 16_384);
    t.frames();
    t.open(1, true);
    t.c.send_response(1, StatusCode::OK, &HeaderMap::new(), None, false, b"");
    t.frames();
    let chunk = Bytes::from(vec![7u8; 64 * 1024]);
    for _ in 0..16 {
        t.c.send_data(1, chunk.clone(), false);
    }
    let mut segs = VecDeque::new();
    let n = t.c.take_output(&mut segs, t.now);
    let frames = segs.iter().filter(|s| s.len() == 16_384).count();
    assert!(frames >= 16, "{frames} DATA frames in one batch");
    assert_eq!(segs.len(), 2 * frames, "a head and a payload per frame");
    assert_eq!(n, frames * (16_384 + 9));
    // The payloads are the application's bytes, not copies.
    assert!(segs
        .iter()
        .filter(|s| s.len() == 16_384)
        .all(|s| chunk.as_ptr_range().contains(&s.as_ptr())));
    // The rest follows batch by batch, no frame above 16 384 octets.
    let rest = data_sizes(&mut t);
    assert!(rest.iter().all(|&s| s == 16_384));
    assert_eq!(frames + rest.len(), 64);
}

#[test]
fn send_buffer_backpressure() {
    let mut t = T::with(Config {
        stream_send_buffer: 100_000,
        ..Config::default()
    });
    t.open(1, true);
    t.c.send_response(1, StatusCode::OK, &HeaderMap::new(), None, false, b"");
    t.c.send_data(1, Bytes::from(vec![1u8; 165_535]), false);
    assert!(!t.c.has_room(1), "100 000 bytes still queued");
    t.frames();
    t.feed(&frame(WINDOW, 0, 0, &[0, 1, 0, 0])).unwrap();
    t.feed(&frame(WINDOW, 0, 1, &[0, 1, 0, 0])).unwrap();
    assert_eq!(t.c.take_writable(), vec![1]);
    assert!(t.c.has_room(1));
}

// ----- §8 semantics -----

#[test]
fn rfc9113_8_1_1_malformed_request_is_stream_error() {
    let mut t = T::new();
    let mut f = GET.to_vec();
    f.push(("connection", "close"));
    let r = t.feed(&frame(HEADERS, END_HEADERS | END_STREAM, 1, &block(&f)));
    t.expect_rst(r, 1, Reason::PROTOCOL_ERROR);
    // No request for a handler; the driver is told, for its record.
    assert!(matches!(
        t.events()[..],
        [Event::Refused {
            id: 1,
            reason: Reason::PROTOCOL_ERROR,
            head: None
        }]
    ));
    // The connection goes on.
    t.open(3, true);
}

#[test]
fn rfc9113_8_1_1_content_length_mismatch() {
    let mut t = T::new();
    let mut f = POST.to_vec();
    f.push(("content-length", "5"));
    t.feed(&frame(HEADERS, END_HEADERS, 1, &block(&f))).unwrap();
    let r = t.feed(&frame(DATA, END_STREAM, 1, b"abc"));
    t.expect_rst(r, 1, Reason::PROTOCOL_ERROR);
    let mut t = T::new();
    t.feed(&frame(HEADERS, END_HEADERS, 1, &block(&f))).unwrap();
    let r = t.feed(&frame(DATA, 0, 1, b"abcdef"));
    t.expect_rst(r, 1, Reason::PROTOCOL_ERROR);
    let mut t = T::new();
    let r = t.feed(&frame(HEADERS, END_HEADERS | END_STREAM, 1, &block(&f)));
    t.expect_rst(r, 1, Reason::PROTOCOL_ERROR);
}

#[test]
fn request_body_and_trailers() {
    let mut t = T::new();
    t.feed(&frame(HEADERS, END_HEADERS, 1, &block(&POST)))
        .unwrap();
    t.feed(&frame(DATA, PADDED, 1, &[2, b'h', b'i', 0, 0]))
        .unwrap();
    t.feed(&frame(
        HEADERS,
        END_HEADERS | END_STREAM,
        1,
        &block(&[("x-sum", "1")]),
    ))
    .unwrap();
    let ev = t.events();
    assert!(matches!(&ev[1], Event::Data { id: 1, data, end_stream: false } if &data[..] == b"hi"));
    assert!(matches!(&ev[2], Event::Trailers { id: 1, trailers } if trailers["x-sum"] == "1"));
}

#[test]
fn rfc9113_8_1_trailers_without_end_stream() {
    let mut t = T::new();
    t.feed(&frame(HEADERS, END_HEADERS, 1, &block(&POST)))
        .unwrap();
    let r = t.feed(&frame(HEADERS, END_HEADERS, 1, &block(&[("x", "1")])));
    t.expect_rst(r, 1, Reason::PROTOCOL_ERROR);
}

#[test]
fn rfc9113_8_1_pseudo_header_in_trailers() {
    let mut t = T::new();
    t.feed(&frame(HEADERS, END_HEADERS, 1, &block(&POST)))
        .unwrap();
    let r = t.feed(&frame(
        HEADERS,
        END_HEADERS | END_STREAM,
        1,
        &block(&[(":path", "/")]),
    ));
    t.expect_rst(r, 1, Reason::PROTOCOL_ERROR);
}

#[test]
fn header_list_too_large_is_431() {
    let mut t = T::with(Config {
        max_header_list_size: 200,
        ..Config::default()
    });
    let big = "x".repeat(300);
    let mut f = GET.to_vec();
    f.push(("x-big", &big));
    t.feed(&frame(HEADERS, END_HEADERS | END_STREAM, 1, &block(&f)))
        .unwrap();
    assert!(matches!(t.events()[..], [Event::HeadersTooLarge { id: 1 }]));
}

// ----- GOAWAY -----

#[test]
fn rfc9113_6_8_graceful_goaway() {
    let mut t = T::new();
    t.open(1, false);
    t.open(3, true);
    t.events();
    t.c.go_away(Reason::NO_ERROR);
    let f = t.frames();
    assert_eq!(f[0].0.kind, Kind::GoAway);
    assert_eq!(&f[0].1[..8], &[0, 0, 0, 3, 0, 0, 0, 0]);
    // Newer streams are ignored; older ones finish.
    t.open(5, true);
    assert!(t.events().is_empty());
    assert!(!t.c.is_done());
    t.c.send_response(3, StatusCode::OK, &HeaderMap::new(), None, true, b"");
    t.c.reset_stream(1, Reason::CANCEL);
    assert!(t.c.is_done());
}

#[test]
fn response_head_encoding_and_end_stream() {
    let mut t = T::new();
    t.open(1, true);
    t.c.send_response(1, StatusCode::OK, &HeaderMap::new(), Some(0), true, b"");
    let f = t.frames();
    assert_eq!(f[0].0.kind, Kind::Headers);
    assert!(f[0].0.has(END_STREAM | END_HEADERS));
    assert_eq!(t.c.open_streams(), 0);
}

#[test]
fn upgraded_connection_has_stream_one() {
    let now = Instant::now();
    let c = Connection::upgraded(
        Config::default(),
        Bytes::from_static(&[0, 3, 0, 0, 0, 5]),
        now,
    );
    let mut t = T { c: c.unwrap(), now };
    t.frames();
    let mut b = PREFACE.to_vec();
    b.extend(frame(SETTINGS, 0, 0, &[]));
    t.feed(&b).unwrap();
    t.c.send_response(1, StatusCode::OK, &HeaderMap::new(), Some(0), true, b"");
    let f = t.frames();
    assert!(f
        .iter()
        .any(|(h, _)| h.kind == Kind::Headers && h.stream_id == 1));
    // Stream 1 is taken: a client HEADERS on 1 is on a closed stream.
    let r = t.feed(&frame(HEADERS, END_HEADERS | END_STREAM, 1, &get_block()));
    t.expect_goaway(r, Reason::STREAM_CLOSED);
}

/// A POST on stream 1 answered (END_STREAM sent) before its body came.
fn answered_early(cfg: Config, extra: &[(&str, &str)]) -> T {
    let mut t = acked(cfg);
    let mut f = POST.to_vec();
    f.extend_from_slice(extra);
    t.feed(&frame(HEADERS, END_HEADERS, 1, &block(&f))).unwrap();
    t.events();
    t.c.send_response(1, StatusCode::OK, &HeaderMap::new(), Some(0), true, b"");
    let f = t.frames();
    assert_eq!(f.len(), 1, "the response alone, no RST_STREAM: {f:?}");
    assert_eq!(f[0].0.kind, Kind::Headers);
    t
}

#[test]
fn rfc9113_8_1_complete_response_before_request_ends() {
    let mut t = answered_early(Config::default(), &[]);
    // Half-closed (local): the rest of the request is read and dropped.
    assert_eq!(t.c.open_streams(), 1);
    t.feed(&frame(DATA, 0, 1, &[b'x'; 16_000])).unwrap();
    assert!(t.events().is_empty(), "nobody reads it");
    t.feed(&frame(DATA, 0, 1, &[b'x'; 16_000])).unwrap();
    t.feed(&frame(DATA, END_STREAM, 1, b"")).unwrap();
    assert_eq!(t.c.open_streams(), 0);
    assert!(t.frames().iter().all(|(h, _)| h.kind == Kind::WindowUpdate));
    // Closed after END_STREAM both ways (§5.1).
    let r = t.feed(&frame(DATA, END_STREAM, 1, b"late"));
    t.expect_goaway(r, Reason::STREAM_CLOSED);
}

#[test]
fn discarded_request_data_returns_its_credit() {
    let mut t = answered_early(
        Config {
            connection_window_size: 65_535,
            initial_window_size: 65_535,
            discard_body_bytes: 1 << 20,
            ..Config::default()
        },
        &[],
    );
    // Five times the windows go through: each frame's credit returns.
    let mut sent = 0;
    while sent < 5 * 65_535 {
        t.feed(&frame(DATA, 0, 1, &[0; 16_384])).unwrap();
        sent += 16_384;
        let f = t.frames();
        assert!(f.iter().all(|(h, _)| h.kind == Kind::WindowUpdate), "{f:?}");
    }
    assert!(t.events().is_empty());
}

/// RFC 9113 §5.1, §6.9, §8.1, §8.1.1: after an early response every frame
/// on the stream is still checked, with the answer it gets while the
/// response is pending.
#[test]
fn frames_after_an_early_response_are_still_checked() {
    type Case = (&'static str, Vec<Vec<u8>>, Reason);
    let cases: Vec<Case> = vec![
        (
            "trailers without END_STREAM",
            vec![frame(HEADERS, END_HEADERS, 1, &block(&[("x", "y")]))],
            Reason::PROTOCOL_ERROR,
        ),
        (
            "pseudo-header in trailers",
            vec![frame(
                HEADERS,
                END_HEADERS | END_STREAM,
                1,
                &block(&[(":path", "/")]),
            )],
            Reason::PROTOCOL_ERROR,
        ),
        (
            "WINDOW_UPDATE of 0",
            vec![frame(WINDOW, 0, 1, &[0, 0, 0, 0])],
            Reason::PROTOCOL_ERROR,
        ),
        (
            "WINDOW_UPDATE past 2^31-1",
            vec![frame(WINDOW, 0, 1, &[0x7f, 0xff, 0xff, 0xff])],
            Reason::FLOW_CONTROL_ERROR,
        ),
        (
            "DATA after the peer's RST_STREAM",
            vec![
                frame(RST, 0, 1, &rst(Reason::CANCEL)),
                frame(DATA, END_STREAM, 1, b"x"),
            ],
            Reason::STREAM_CLOSED,
        ),
        (
            "PRIORITY of the wrong length",
            vec![frame(PRIO, 0, 1, &[0, 0, 0, 3])],
            Reason::FRAME_SIZE_ERROR,
        ),
    ];
    for (what, frames, reason) in cases {
        let mut t = answered_early(Config::default(), &[]);
        let mut r = Ok(());
        for f in frames {
            r = t.feed(&f);
        }
        assert_eq!(r, Ok(()), "{what}");
        let f = t.frames();
        assert!(
            f.iter().any(|(h, p)| h.kind == Kind::RstStream
                && h.stream_id == 1
                && p[..] == reason.0.to_be_bytes()),
            "{what}: RST_STREAM({reason}) in {f:?}"
        );
    }
    // content-length against the DATA that follows.
    for (data, end) in [(&b"toolong"[..], false), (&b"abc"[..], true)] {
        let mut t = answered_early(Config::default(), &[("content-length", "4")]);
        let flags = if end { END_STREAM } else { 0 };
        let r = t.feed(&frame(DATA, flags, 1, data));
        t.expect_rst(r, 1, Reason::PROTOCOL_ERROR);
    }
    // A well-formed rest, trailers included, closes the stream quietly.
    let mut t = answered_early(Config::default(), &[("content-length", "4")]);
    t.feed(&frame(DATA, 0, 1, b"body")).unwrap();
    t.feed(&frame(
        HEADERS,
        END_HEADERS | END_STREAM,
        1,
        &block(&[("x", "y")]),
    ))
    .unwrap();
    assert!(t.frames().is_empty());
    assert!(t.events().is_empty());
    assert_eq!(t.c.open_streams(), 0);
}

#[test]
fn a_large_rest_of_the_request_is_reset_with_no_error() {
    let cfg = Config {
        discard_body_bytes: 1000,
        ..Config::default()
    };
    // Declared: reset with the response.
    let mut t = acked(cfg.clone());
    let mut f = POST.to_vec();
    f.push(("content-length", "1001"));
    t.feed(&frame(HEADERS, END_HEADERS, 1, &block(&f))).unwrap();
    t.c.send_response(1, StatusCode::OK, &HeaderMap::new(), Some(0), true, b"");
    let f = t.frames();
    assert_eq!(
        (f[1].0.kind, &f[1].1[..]),
        (Kind::RstStream, &rst(Reason::NO_ERROR)[..])
    );
    assert_eq!(t.c.open_streams(), 0);
    // Frames in flight after our RST_STREAM are ignored (§5.1).
    t.feed(&frame(DATA, 0, 1, b"late")).unwrap();
    // Arriving: reset once more than the limit came.
    let mut t = answered_early(cfg, &[]);
    t.feed(&frame(DATA, 0, 1, &[0; 1000])).unwrap();
    assert!(t.frames().is_empty());
    t.feed(&frame(DATA, 0, 1, &[0; 1])).unwrap();
    let f = t.frames();
    assert!(f
        .iter()
        .any(|(h, p)| h.kind == Kind::RstStream && p[..] == rst(Reason::NO_ERROR)));
    assert_eq!(t.c.open_streams(), 0);
}

#[test]
fn a_slow_rest_of_the_request_is_reset_after_the_discard_timeout() {
    let mut t = answered_early(Config::default(), &[]);
    let answered = t.now;
    // The discard began at the last call with a time (the response's
    // output): its deadline is the nearest.
    assert_eq!(t.c.poll_timeout(), Some(answered + 10 * SEC));
    t.advance(10 * SEC - MS);
    t.feed(&frame(DATA, 0, 1, b"slow")).unwrap();
    t.c.handle_timeout(t.now);
    assert!(t.frames().is_empty(), "not yet");
    t.advance(MS);
    t.c.handle_timeout(t.now);
    let f = t.frames();
    assert!(f.iter().any(|(h, p)| h.kind == Kind::RstStream
        && h.stream_id == 1
        && p[..] == rst(Reason::NO_ERROR)));
    assert_eq!(t.c.open_streams(), 0);
    // Idle from then on (a moment later, the streams' memory goes).
    t.shed_moment();
    assert_eq!(t.c.poll_timeout(), Some(t.now - SHED + 60 * SEC));
}

#[test]
fn a_peer_reset_of_a_discarded_request_is_not_a_rapid_reset() {
    let cfg = Config {
        max_resets_per_sec: 2,
        ..Config::default()
    };
    let mut t = acked(cfg);
    for i in 0..10u32 {
        let id = 1 + 2 * i;
        t.feed(&frame(HEADERS, END_HEADERS, id, &block(&POST)))
            .unwrap();
        t.c.send_response(id, StatusCode::OK, &HeaderMap::new(), Some(0), true, b"");
        t.feed(&frame(RST, 0, id, &rst(Reason::CANCEL))).unwrap();
    }
    assert!(t.goaways().is_empty());
}

#[test]
fn padding_credit_returned_when_stream_errors() {
    let mut t = T::with(Config {
        connection_window_size: 65_535,
        ..Config::default()
    });
    let mut f = POST.to_vec();
    f.push(("content-length", "1"));
    t.feed(&frame(HEADERS, END_HEADERS, 1, &block(&f))).unwrap();
    // 3 data octets (over content-length) + 200 padding: a stream error.
    let mut p = vec![200u8, b'a', b'b', b'c'];
    p.extend([0u8; 200]);
    let r = t.feed(&frame(DATA, PADDED, 1, &p));
    t.expect_rst(r, 1, Reason::PROTOCOL_ERROR);
    // The 204 octets were returned to the connection window: they are part
    // of the next connection WINDOW_UPDATE, sent at half a window.
    t.feed(&frame(HEADERS, END_HEADERS, 3, &block(&POST)))
        .unwrap();
    t.feed(&frame(DATA, 0, 3, &[0; 16_384])).unwrap();
    t.feed(&frame(DATA, 0, 3, &[0; 16_179])).unwrap();
    t.frames();
    t.c.release(3, 16_384 + 16_179);
    let f = t.frames();
    let w = f
        .iter()
        .find(|(h, _)| h.kind == Kind::WindowUpdate && h.stream_id == 0)
        .expect("connection WINDOW_UPDATE");
    assert_eq!(&w.1[..], &32_767u32.to_be_bytes());
}

#[test]
fn rfc9113_6_8_later_goaway_never_raises_last_stream_id() {
    let mut t = T::new();
    t.open(1, false);
    t.c.go_away(Reason::NO_ERROR);
    t.open(3, true); // ignored: above the GOAWAY
    t.frames();
    let r = t.feed(&frame(PING, 0, 1, &[0; 8]));
    assert!(r.is_err());
    let f = t.frames();
    let g = f.iter().find(|(h, _)| h.kind == Kind::GoAway).unwrap();
    assert_eq!(&g.1[..4], &[0, 0, 0, 1]);
}

/// Robustness: random frame sequences (valid heads, random flags, stream
/// ids and payloads, mixed with valid requests) never panic the core, and
/// an error always leaves a GOAWAY in the output.
#[test]
fn random_frames_never_panic() {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..3000 {
        let mut t = T::new();
        let mut bytes = Vec::new();
        for _ in 0..(rand() % 12) {
            let r = rand();
            let kind = (r % 11) as u8;
            let flags = (r >> 8) as u8;
            let stream = ((r >> 16) % 8) as u32;
            let len = ((r >> 24) % 40) as usize;
            let payload: Vec<u8> = match (r >> 40) % 4 {
                0 => get_block(),
                1 => block(&POST),
                _ => (0..len).map(|_| rand() as u8).collect(),
            };
            bytes.extend(frame(kind, flags, stream, &payload));
        }
        let mut src = BytesMut::from(&bytes[..]);
        let res = t.c.recv(&mut src, t.now);
        while let Some(ev) = t.c.poll_event() {
            match ev {
                Event::Request { id, .. } | Event::HeadersTooLarge { id } => {
                    t.c.send_response(id, StatusCode::OK, &HeaderMap::new(), None, false, b"");
                    t.c.send_data(id, Bytes::from_static(b"ok"), true);
                }
                Event::Data { id, data, .. } => t.c.release(id, data.len()),
                _ => {}
            }
        }
        if res.is_err() {
            assert!(t.frames().iter().any(|(h, _)| h.kind == Kind::GoAway));
        }
    }
}

#[test]
fn interim_response_before_final() {
    let mut t = T::new();
    t.feed(&frame(HEADERS, END_HEADERS, 1, &block(&POST)))
        .unwrap();
    t.c.send_informational(1, StatusCode::CONTINUE);
    t.c.send_response(1, StatusCode::OK, &HeaderMap::new(), Some(0), true, b"");
    let f = t.frames();
    assert_eq!(f[0].0.kind, Kind::Headers);
    assert!(!f[0].0.has(END_STREAM));
    assert_eq!(f[1].0.kind, Kind::Headers);
    assert!(f[1].0.has(END_STREAM));
    let mut d = Decoder::new(4096);
    let mut fields = Vec::new();
    d.decode(&f[0].1, &mut |n, v| fields.push((n, v))).unwrap();
    assert_eq!(fields, vec![(Bytes::from(":status"), Bytes::from("100"))]);
}

#[test]
fn rfc9113_6_8_two_phase_graceful_goaway() {
    let mut t = T::new();
    t.open(1, false);
    t.c.start_shutdown(t.now);
    let f = t.frames();
    assert_eq!(f[0].0.kind, Kind::GoAway);
    assert_eq!(&f[0].1[..8], &[0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
    assert_eq!(f[1].0.kind, Kind::Ping);
    let payload = f[1].1.clone();
    // A stream opened before the PING answer is served.
    t.open(3, true);
    assert!(matches!(
        t.events().last(),
        Some(Event::Request { id: 3, .. })
    ));
    t.feed(&frame(PING, ACK, 0, &payload)).unwrap();
    let f = t.frames();
    assert_eq!(f[0].0.kind, Kind::GoAway);
    assert_eq!(&f[0].1[..8], &[0, 0, 0, 3, 0, 0, 0, 0]);
    assert!(!t.c.is_done());
    t.c.reset_stream(1, Reason::CANCEL);
    t.c.send_response(3, StatusCode::OK, &HeaderMap::new(), None, true, b"");
    assert!(t.c.is_done());
}

// ----- timers: poll_timeout / handle_timeout with a fake clock -----

const SEC: Duration = Duration::from_secs(1);
const MS: Duration = Duration::from_millis(1);
/// `timer::SHED_AFTER`.
const SHED: Duration = Duration::from_millis(10);

impl T {
    /// The connection just lost its last stream: its next deadline is the
    /// moment it gives back their memory; moves the clock there and lets
    /// it.
    fn shed_moment(&mut self) {
        assert_eq!(self.c.poll_timeout(), Some(self.now + SHED));
        self.advance(SHED);
        self.c.handle_timeout(self.now);
        assert_eq!(self.c.streams.capacity(), 0);
    }
}

/// A connection whose SETTINGS the peer acknowledged (no SETTINGS timer).
fn acked(cfg: Config) -> T {
    let mut t = T::with(cfg);
    t.feed(&frame(SETTINGS, ACK, 0, &[])).unwrap();
    t
}

#[test]
fn timer_deadlines_come_from_config() {
    let cfg = Config::default();
    assert_eq!(cfg.settings_timeout, 10 * SEC);
    assert_eq!(cfg.send_stall_timeout, 60 * SEC);
    assert_eq!(cfg.idle_timeout, 60 * SEC);
    assert_eq!(cfg.shutdown_ping_timeout, SEC);
}

#[test]
fn rfc9113_6_5_3_settings_timeout() {
    let mut t = T::with(Config::default());
    let start = t.now;
    // Our SETTINGS went out at creation: its deadline comes first.
    assert_eq!(t.c.poll_timeout(), Some(start + 10 * SEC));
    t.advance(10 * SEC - MS);
    t.c.handle_timeout(t.now);
    assert!(t.goaways().is_empty(), "not yet");
    t.advance(MS);
    t.c.handle_timeout(t.now);
    assert_eq!(t.goaways(), vec![(0, Reason::SETTINGS_TIMEOUT)]);
    assert!(t.c.is_done());
    assert_eq!(t.c.poll_timeout(), None);
}

#[test]
fn rfc9113_6_5_3_settings_timeout_counts_before_the_preface() {
    // A client that connects and sends nothing never acknowledges either.
    let mut t = T::fresh(Config::default());
    t.frames();
    t.advance(10 * SEC);
    t.c.handle_timeout(t.now);
    assert_eq!(t.goaways(), vec![(0, Reason::SETTINGS_TIMEOUT)]);
}

#[test]
fn rfc9113_6_5_3_acknowledged_settings_stop_the_timer() {
    let mut t = T::with(Config::default());
    let start = t.now;
    t.advance(9 * SEC);
    t.feed(&frame(SETTINGS, ACK, 0, &[])).unwrap();
    // What is left is the idle deadline, counted from the start.
    assert_eq!(t.c.poll_timeout(), Some(start + 60 * SEC));
    t.advance(SEC);
    t.c.handle_timeout(t.now);
    assert!(t.frames().is_empty());
}

#[test]
fn settings_timeout_stream_reset_events() {
    let mut t = T::with(Config::default());
    t.open(1, true);
    t.events();
    t.advance(10 * SEC);
    t.c.handle_timeout(t.now);
    assert!(matches!(
        t.events()[..],
        [Event::Reset {
            id: 1,
            reason: Reason::SETTINGS_TIMEOUT
        }]
    ));
}

#[test]
fn idle_connection_goes_away_after_idle_timeout() {
    let mut t = acked(Config::default());
    let start = t.now;
    assert_eq!(t.c.poll_timeout(), Some(start + 60 * SEC));
    // A stream is open: no deadline at all.
    t.advance(10 * SEC);
    t.open(1, true);
    assert_eq!(t.c.poll_timeout(), None);
    // It ends at +20 s, seen at the next output: idle from then.
    t.advance(10 * SEC);
    t.c.send_response(1, StatusCode::OK, &HeaderMap::new(), Some(0), true, b"");
    t.frames();
    t.shed_moment();
    assert_eq!(t.c.poll_timeout(), Some(start + 80 * SEC));
    t.advance(60 * SEC - SHED - MS);
    t.c.handle_timeout(t.now);
    assert!(t.goaways().is_empty(), "not yet");
    t.advance(MS);
    t.c.handle_timeout(t.now);
    // Graceful: NO_ERROR naming the last stream; nothing open, so done.
    assert_eq!(t.goaways(), vec![(1, Reason::NO_ERROR)]);
    assert!(t.c.is_done());
}

#[test]
fn idle_timer_is_not_started_by_a_stale_time() {
    // The stream closes by a call that takes no time; a timeout handled
    // later counts idle from that later time, never from before.
    let mut t = acked(Config::default());
    t.open(1, true);
    t.advance(100 * SEC);
    t.c.send_response(1, StatusCode::OK, &HeaderMap::new(), Some(0), true, b"");
    t.c.handle_timeout(t.now);
    assert!(t.goaways().is_empty());
    t.shed_moment();
    assert_eq!(t.c.poll_timeout(), Some(t.now - SHED + 60 * SEC));
}

#[test]
fn send_stall_closes_with_enhance_your_calm() {
    let mut t = acked(Config::default());
    // The peer allows 10 octets per stream.
    t.feed(&frame(SETTINGS, 0, 0, &[0, 4, 0, 0, 0, 10]))
        .unwrap();
    t.open(1, true);
    t.c.send_response(1, StatusCode::OK, &HeaderMap::new(), None, false, b"");
    t.c.send_data(1, Bytes::from(vec![b'x'; 100]), true);
    t.frames();
    let start = t.now;
    assert_eq!(t.c.poll_timeout(), Some(start + 60 * SEC));
    // DATA progresses at +30 s: the stall is counted from then.
    t.advance(30 * SEC);
    t.feed(&frame(WINDOW, 0, 1, &[0, 0, 0, 10])).unwrap();
    assert_eq!(t.c.poll_timeout(), Some(start + 90 * SEC));
    t.advance(60 * SEC - MS);
    t.c.handle_timeout(t.now);
    assert!(t.goaways().is_empty(), "not yet");
    t.events();
    t.advance(MS);
    t.c.handle_timeout(t.now);
    assert_eq!(t.goaways(), vec![(1, Reason::ENHANCE_YOUR_CALM)]);
    assert!(matches!(t.events()[..], [Event::Reset { id: 1, .. }]));
    assert!(t.c.is_done());
}

#[test]
fn send_stall_timer_stops_when_the_window_opens() {
    let mut t = acked(Config::default());
    t.feed(&frame(SETTINGS, 0, 0, &[0, 4, 0, 0, 0, 10]))
        .unwrap();
    t.open(1, true);
    t.c.send_response(1, StatusCode::OK, &HeaderMap::new(), None, false, b"");
    t.c.send_data(1, Bytes::from(vec![b'x'; 100]), false);
    t.frames();
    assert!(t.c.poll_timeout().is_some());
    t.feed(&frame(WINDOW, 0, 1, &[0, 0, 1, 0])).unwrap();
    // Nothing waits: no stall; the stream is open: not idle.
    assert_eq!(t.c.poll_timeout(), None);
}

#[test]
fn rfc9113_6_8_final_goaway_after_the_ping_timeout() {
    let mut t = acked(Config::default());
    t.open(1, false);
    let start = t.now;
    t.c.start_shutdown(t.now);
    assert_eq!(t.goaways(), vec![(MAX_WINDOW, Reason::NO_ERROR)]);
    assert_eq!(t.c.poll_timeout(), Some(start + SEC));
    // The PING is never answered; a stream opened meanwhile is taken.
    t.advance(SEC / 2);
    t.open(3, true);
    t.advance(SEC / 2 - MS);
    t.c.handle_timeout(t.now);
    assert!(t.goaways().is_empty(), "not yet");
    t.advance(MS);
    t.c.handle_timeout(t.now);
    assert_eq!(t.goaways(), vec![(3, Reason::NO_ERROR)]);
    assert!(!t.c.is_done(), "streams 1 and 3 finish");
    assert_eq!(t.c.poll_timeout(), None);
    t.c.reset_stream(1, Reason::CANCEL);
    t.c.send_response(3, StatusCode::OK, &HeaderMap::new(), None, true, b"");
    assert!(t.c.is_done());
}

#[test]
fn rfc9113_6_8_final_goaway_on_the_ping_ack() {
    let mut t = acked(Config::default());
    t.open(1, false);
    t.c.start_shutdown(t.now);
    let ping = t
        .frames()
        .into_iter()
        .find(|(h, _)| h.kind == Kind::Ping)
        .expect("PING sent with the first GOAWAY");
    t.advance(SEC / 10);
    t.feed(&frame(PING, ACK, 0, &ping.1)).unwrap();
    assert_eq!(t.goaways(), vec![(1, Reason::NO_ERROR)]);
    // The PING timeout is gone with the draining state.
    assert_eq!(t.c.poll_timeout(), None);
    t.advance(SEC);
    t.c.handle_timeout(t.now);
    assert!(t.goaways().is_empty());
}

#[test]
fn rfc9113_6_8_graceful_shutdown_of_an_idle_connection_closes() {
    let mut t = acked(Config::default());
    t.c.start_shutdown(t.now);
    t.frames();
    t.advance(SEC);
    t.c.handle_timeout(t.now);
    assert_eq!(t.goaways(), vec![(0, Reason::NO_ERROR)]);
    assert!(t.c.is_done());
}

#[test]
fn upgraded_connection_is_not_idle_and_drains_before_the_preface() {
    let now = Instant::now();
    let c = Connection::upgraded(Config::default(), Bytes::new(), now).unwrap();
    let mut t = T { c, now };
    t.frames();
    // Stream 1 is open: only the SETTINGS deadline.
    assert_eq!(t.c.poll_timeout(), Some(now + 10 * SEC));
    // Shutdown before the client preface arrives: the preface is still
    // read, and the final GOAWAY follows the PING timeout.
    t.c.start_shutdown(t.now);
    t.frames();
    let mut b = PREFACE.to_vec();
    b.extend(frame(SETTINGS, 0, 0, &[]));
    b.extend(frame(SETTINGS, ACK, 0, &[]));
    t.feed(&b).unwrap();
    t.advance(SEC);
    t.c.handle_timeout(t.now);
    assert_eq!(t.goaways(), vec![(1, Reason::NO_ERROR)]);
    t.c.send_response(1, StatusCode::OK, &HeaderMap::new(), Some(0), true, b"");
    assert!(t.c.is_done());
}

#[test]
fn rapid_reset_window_uses_the_time_passed_in() {
    let mut t = T::with(Config {
        max_resets_per_sec: 5,
        ..Config::default()
    });
    let reset = |t: &mut T, id: u32| {
        t.open(id, false);
        t.feed(&frame(RST, 0, id, &rst(Reason::CANCEL)))
    };
    for i in 0..5u32 {
        reset(&mut t, 1 + 2 * i).unwrap();
    }
    // A second later the window starts over.
    t.advance(SEC);
    for i in 5..10u32 {
        reset(&mut t, 1 + 2 * i).unwrap();
    }
    // The sixth within that second is one too many.
    let r = reset(&mut t, 21);
    t.expect_goaway(r, Reason::ENHANCE_YOUR_CALM);
}

#[test]
fn a_limit_of_duration_max_means_never() {
    let mut t = T::with(Config {
        settings_timeout: Duration::MAX,
        idle_timeout: Duration::MAX,
        ..Config::default()
    });
    assert_eq!(t.c.poll_timeout(), None);
    t.advance(1_000_000 * SEC);
    t.c.handle_timeout(t.now);
    assert!(t.frames().is_empty());
}

// ----- budgets: what a peer can make the core do or hold -----

#[test]
fn continuation_frames_are_counted_empty_ones_too() {
    let cfg = Config {
        max_continuation_frames: 8,
        ..Config::default()
    };
    // A block split over 8 CONTINUATIONs is a request.
    let mut t = T::with(cfg.clone());
    let b = get_block();
    t.feed(&frame(HEADERS, END_STREAM, 1, &b[..2])).unwrap();
    for i in 0..7 {
        t.feed(&frame(CONT, 0, 1, &b[2 + i..3 + i])).unwrap();
    }
    t.feed(&frame(CONT, END_HEADERS, 1, &b[9..])).unwrap();
    assert!(matches!(t.events()[..], [Event::Request { id: 1, .. }]));
    // The ninth is a flood, however small the frames.
    for fragment in [&b""[..], &b"\x00"[..]] {
        let mut t = T::with(cfg.clone());
        t.feed(&frame(HEADERS, END_STREAM, 1, &b[..2])).unwrap();
        for _ in 0..8 {
            t.feed(&frame(CONT, 0, 1, fragment)).unwrap();
        }
        let r = t.feed(&frame(CONT, 0, 1, fragment));
        t.expect_goaway(r, Reason::ENHANCE_YOUR_CALM);
        assert!(t.events().is_empty(), "no request reached the driver");
    }
}

#[test]
fn field_block_bytes_are_capped() {
    let cfg = Config {
        max_field_block_bytes: 20_000,
        ..Config::default()
    };
    let mut t = T::with(cfg.clone());
    t.feed(&frame(HEADERS, END_STREAM, 1, &[0; 16_000]))
        .unwrap();
    let r = t.feed(&frame(CONT, 0, 1, &[0; 4_001]));
    t.expect_goaway(r, Reason::ENHANCE_YOUR_CALM);
    // A single HEADERS frame too.
    let mut t = T::with(Config {
        max_field_block_bytes: 100,
        ..Config::default()
    });
    let r = t.feed(&frame(HEADERS, END_HEADERS, 1, &[0; 101]));
    t.expect_goaway(r, Reason::ENHANCE_YOUR_CALM);
}

#[test]
fn header_block_timeout() {
    let mut t = acked(Config::default());
    t.advance(5 * SEC);
    let begun = t.now;
    t.feed(&frame(HEADERS, END_STREAM, 1, &get_block()[..3]))
        .unwrap();
    assert_eq!(t.c.poll_timeout(), Some(begun + 10 * SEC));
    t.advance(10 * SEC - MS);
    t.c.handle_timeout(t.now);
    assert!(t.goaways().is_empty(), "not yet");
    t.advance(MS);
    t.c.handle_timeout(t.now);
    assert_eq!(t.goaways(), vec![(0, Reason::ENHANCE_YOUR_CALM)]);
    assert!(t.c.is_done());
    // A block completed in time stops the timer.
    let mut t = acked(Config::default());
    let b = get_block();
    t.feed(&frame(HEADERS, END_STREAM, 1, &b[..3])).unwrap();
    t.advance(9 * SEC);
    t.feed(&frame(CONT, END_HEADERS, 1, &b[3..])).unwrap();
    assert_eq!(t.c.poll_timeout(), None, "a stream is open");
}

#[test]
fn empty_data_frames_flood() {
    let cfg = Config {
        max_empty_frames: 100,
        ..Config::default()
    };
    // Plain and padded-empty DATA, without END_STREAM.
    for payload in [&b""[..], &[3u8, 0, 0, 0][..]] {
        let flags = if payload.is_empty() { 0 } else { PADDED };
        let mut t = T::with(cfg.clone());
        t.feed(&frame(HEADERS, END_HEADERS, 1, &block(&POST)))
            .unwrap();
        for _ in 0..100 {
            t.feed(&frame(DATA, flags, 1, payload)).unwrap();
        }
        let r = t.feed(&frame(DATA, flags, 1, payload));
        t.expect_goaway(r, Reason::ENHANCE_YOUR_CALM);
    }
    // Empty HEADERS fragments that end neither stream nor block.
    let mut t = T::with(cfg.clone());
    let mut r = Ok(());
    for _ in 0..101 {
        r = t.feed(&frame(HEADERS, 0, 1, b""));
        if r.is_err() {
            break;
        }
        // The CONTINUATION limit would fire first: start over.
        t.c.reading = Reading::Frames;
    }
    t.expect_goaway(r, Reason::ENHANCE_YOUR_CALM);
}

#[test]
fn empty_frames_that_end_a_stream_or_follow_data_are_fine() {
    let cfg = Config {
        max_empty_frames: 10,
        ..Config::default()
    };
    let mut t = T::with(cfg);
    // 200 requests whose bodies end with an empty END_STREAM DATA frame.
    for i in 0..200u32 {
        let id = 1 + 2 * i;
        t.feed(&frame(HEADERS, END_HEADERS, id, &block(&POST)))
            .unwrap();
        t.feed(&frame(DATA, 0, id, b"x")).unwrap();
        t.feed(&frame(DATA, END_STREAM, id, b"")).unwrap();
        t.c.release(id, 1);
        t.c.send_response(id, StatusCode::OK, &HeaderMap::new(), Some(0), true, b"");
    }
    // A streaming body with an empty frame after each chunk, for long.
    t.feed(&frame(HEADERS, END_HEADERS, 1001, &block(&POST)))
        .unwrap();
    for _ in 0..1000 {
        t.feed(&frame(DATA, 0, 1001, b"chunk")).unwrap();
        t.feed(&frame(DATA, 0, 1001, b"")).unwrap();
        t.c.release(1001, 5);
    }
    assert!(t.goaways().is_empty());
}

#[test]
fn small_data_frames_held_unread_are_budgeted() {
    let cfg = Config {
        small_data_budget: 25_600,
        ..Config::default()
    };
    let mut t = T::with(cfg.clone());
    t.feed(&frame(HEADERS, END_HEADERS, 1, &block(&POST)))
        .unwrap();
    // One frame per read, each taken by the driver as its own chunk and
    // never read: 100 one-octet chunks charge 25,500, within the budget.
    for _ in 0..100 {
        t.feed(&frame(DATA, 0, 1, b"x")).unwrap();
        t.events();
    }
    let r = t.feed(&frame(DATA, 0, 1, b"x"));
    t.expect_goaway(r, Reason::ENHANCE_YOUR_CALM);

    // Read as they come (gRPC streaming): never.
    let mut t = T::with(cfg.clone());
    t.feed(&frame(HEADERS, END_HEADERS, 1, &block(&POST)))
        .unwrap();
    for _ in 0..100_000 {
        t.feed(&frame(DATA, 0, 1, b"x")).unwrap();
        t.events();
        t.c.release(1, 1);
    }
    // Read in part: what was read comes back.
    for _ in 0..100 {
        t.feed(&frame(DATA, 0, 1, b"xx")).unwrap();
        t.events();
    }
    t.c.release(1, 100);
    for _ in 0..49 {
        t.feed(&frame(DATA, 0, 1, b"xx")).unwrap();
        t.events();
    }
    // Final frames and frames of 256 octets or more are free.
    t.feed(&frame(DATA, 0, 1, &[0; 256])).unwrap();
    t.feed(&frame(DATA, END_STREAM, 1, b"x")).unwrap();
    assert!(t.goaways().is_empty());
    // A stream that goes away gives its charges back.
    t.c.reset_stream(1, Reason::CANCEL);
    t.feed(&frame(HEADERS, END_HEADERS, 3, &block(&POST)))
        .unwrap();
    for _ in 0..100 {
        t.feed(&frame(DATA, 0, 3, b"x")).unwrap();
        t.events();
    }
    assert!(t.goaways().is_empty());
}

#[test]
fn small_data_frames_read_in_one_go_reach_the_driver_as_one_chunk() {
    let mut t = T::with(Config {
        small_data_budget: 25_600,
        ..Config::default()
    });
    let mut b = Vec::new();
    for id in [1, 3, 5] {
        b.extend(frame(HEADERS, END_HEADERS, id, &block(&POST)));
    }
    // 30,000 one-octet frames, interleaved over three streams, in one
    // read: three chunks of 10,000, nothing charged.
    for i in 0..30_000u32 {
        b.extend(frame(DATA, 0, [1, 3, 5][(i % 3) as usize], b"x"));
    }
    b.extend(frame(DATA, END_STREAM, 1, b"end"));
    t.feed(&b).unwrap();
    let chunks: Vec<(u32, usize, bool)> = t
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Data {
                id,
                data,
                end_stream,
            } => Some((id, data.len(), end_stream)),
            _ => None,
        })
        .collect();
    assert_eq!(
        chunks,
        vec![(1, 10_003, true), (3, 10_000, false), (5, 10_000, false)]
    );
    assert!(t.goaways().is_empty());
    // Large frames are passed on as they are (not copied).
    t.feed(&frame(DATA, 0, 3, &[0; 300])).unwrap();
    t.feed(&frame(DATA, 0, 3, &[0; 300])).unwrap();
    assert_eq!(t.events().len(), 2);
}

#[test]
fn small_data_budget_grows_with_the_connection_window() {
    let l = Limits::default();
    assert_eq!(
        Config::from_limits(&l).small_data_budget,
        u64::from(l.h2_connection_window_size / 2)
    );
    // The smallest connection window (65,535) still gives 32,767.
    let small = Limits {
        h2_connection_window_size: 0,
        ..Limits::default()
    };
    assert_eq!(Config::from_limits(&small).small_data_budget, 32_767);
    let set = Limits {
        h2_small_data_budget: 3 << 20,
        ..Limits::default()
    };
    assert_eq!(Config::from_limits(&set).small_data_budget, 3 << 20);
}

#[test]
fn refused_streams_are_told_to_the_driver() {
    let mut t = T::with(Config {
        max_concurrent_streams: 1,
        ..Config::default()
    });
    t.open(1, false);
    t.events();
    let r = t.feed(&frame(HEADERS, END_HEADERS | END_STREAM, 3, &get_block()));
    t.expect_rst(r, 3, Reason::REFUSED_STREAM);
    let ev = t.events();
    let [Event::Refused {
        id: 3,
        reason: Reason::REFUSED_STREAM,
        head: Some(head),
    }] = &ev[..]
    else {
        panic!("{ev:?}")
    };
    assert_eq!(head.uri, "http://example.com/");
    // A self-dependency.
    let mut p = vec![0, 0, 0, 5, 10];
    p.extend(get_block());
    t.c.reset_stream(1, Reason::CANCEL);
    t.events();
    let r = t.feed(&frame(HEADERS, END_HEADERS | END_STREAM | PRIORITY, 5, &p));
    t.expect_rst(r, 5, Reason::PROTOCOL_ERROR);
    assert!(matches!(
        t.events()[..],
        [Event::Refused {
            id: 5,
            reason: Reason::PROTOCOL_ERROR,
            ..
        }]
    ));
}

#[test]
fn max_requests_begins_a_graceful_shutdown() {
    let mut t = acked(Config {
        max_requests: 3,
        ..Config::default()
    });
    t.open(1, true);
    t.open(3, false);
    assert!(t.goaways().is_empty());
    t.open(5, true);
    // The third is taken, then the two-phase GOAWAY begins.
    assert!(matches!(
        t.events()[..],
        [
            Event::Request { id: 1, .. },
            Event::Request { id: 3, .. },
            Event::Request { id: 5, .. }
        ]
    ));
    assert_eq!(t.goaways(), vec![(MAX_WINDOW, Reason::NO_ERROR)]);
    t.advance(SEC);
    t.c.handle_timeout(t.now);
    assert_eq!(t.goaways(), vec![(5, Reason::NO_ERROR)]);
    // Streams in flight finish; then the connection is done.
    for id in [1, 3, 5] {
        assert!(!t.c.is_done());
        t.c.send_response(id, StatusCode::OK, &HeaderMap::new(), Some(0), true, b"");
        if id == 3 {
            t.feed(&frame(DATA, END_STREAM, 3, b"")).unwrap();
        }
    }
    assert!(t.c.is_done());
}

#[test]
fn max_connection_age_begins_a_graceful_shutdown() {
    let mut t = acked(Config {
        max_age: 3600 * SEC,
        ..Config::default()
    });
    let born = t.now;
    t.open(1, true);
    assert_eq!(t.c.poll_timeout(), Some(born + 3600 * SEC));
    t.advance(3600 * SEC - MS);
    t.c.handle_timeout(t.now);
    assert!(t.goaways().is_empty(), "not yet");
    t.advance(MS);
    t.c.handle_timeout(t.now);
    assert_eq!(t.goaways(), vec![(MAX_WINDOW, Reason::NO_ERROR)]);
    // The age deadline is spent; the PING timeout is next.
    assert_eq!(t.c.poll_timeout(), Some(t.now + SEC));
    t.advance(SEC);
    t.c.handle_timeout(t.now);
    assert_eq!(t.goaways(), vec![(1, Reason::NO_ERROR)]);
    t.c.send_response(1, StatusCode::OK, &HeaderMap::new(), Some(0), true, b"");
    assert!(t.c.is_done());
}

#[test]
fn an_idle_connection_sheds_what_its_streams_left() {
    let mut t = T::new();
    for id in [1, 3, 5] {
        t.open(id, true);
    }
    // Shedding waits for the streams; the events and the output wait for
    // the driver.
    t.c.shed();
    assert!(t.c.streams.capacity() > 0);
    assert_eq!(t.events().len(), 3);
    for id in [1, 3, 5] {
        t.c.send_response(id, StatusCode::OK, &HeaderMap::new(), Some(0), true, b"");
    }
    t.c.shed();
    assert_eq!(t.c.streams.capacity(), 0);
    assert_eq!(t.frames().len(), 3, "output kept");
    t.c.shed();
    assert_eq!(t.c.streams.capacity(), 0);
    assert_eq!(t.c.events.capacity(), 0);
    assert_eq!(t.c.out.buf.capacity(), 0);
    // The state stays: a closed stream is still closed, the next one opens.
    let r = t.feed(&frame(DATA, END_STREAM, 3, b"x"));
    t.expect_goaway(r, Reason::STREAM_CLOSED);
}

#[test]
fn the_next_stream_after_shedding_is_served() {
    let mut t = T::new();
    t.open(1, true);
    t.events();
    t.c.send_response(1, StatusCode::OK, &HeaderMap::new(), Some(0), true, b"");
    t.frames();
    t.c.shed();
    t.open(3, true);
    assert!(matches!(
        t.events().as_slice(),
        [Event::Request { id: 3, .. }]
    ));
    t.c.send_response(3, StatusCode::OK, &HeaderMap::new(), Some(0), true, b"");
    let f = t.frames();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].0.stream_id, 3);
}

#[test]
fn a_moment_without_streams_sheds_on_the_timer() {
    let mut t = T::new();
    t.open(1, true);
    t.events();
    t.c.send_response(1, StatusCode::OK, &HeaderMap::new(), Some(0), true, b"");
    t.frames();
    assert!(t.c.streams.capacity() > 0);
    // The next deadline is the shed moment, well before the idle timeout.
    let due = t.c.poll_timeout().expect("a deadline");
    assert_eq!(due - t.now, SHED);
    t.advance(SHED - MS);
    t.c.handle_timeout(t.now);
    assert!(
        t.c.streams.capacity() > 0,
        "a busy connection keeps its maps"
    );
    t.advance(MS);
    t.c.handle_timeout(t.now);
    assert_eq!(t.c.streams.capacity(), 0);
    // Once per idle period: the next deadline is a later rule's (here
    // the SETTINGS acknowledgement's, 10 s after the start).
    let due = t.c.poll_timeout().expect("a deadline");
    assert!(due - t.now > Duration::from_secs(9));
}
