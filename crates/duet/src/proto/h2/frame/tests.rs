//! Frame-layer rules, one test per RFC 9113 sentence, fed as byte strings.

use super::head::{ACK, END_HEADERS, END_STREAM, PADDED, PRIORITY};
use super::*;
use crate::proto::h2::{Error, Reason};

fn raw(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> BytesMut {
    let mut b = BytesMut::new();
    let len = payload.len() as u32;
    b.extend_from_slice(&len.to_be_bytes()[1..]);
    b.extend_from_slice(&[kind, flags]);
    b.extend_from_slice(&stream.to_be_bytes());
    b.extend_from_slice(payload);
    b
}

fn one(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Result<Frame, Error> {
    let mut b = raw(kind, flags, stream, payload);
    let f = decode(&mut b, 16_384).map(|f| f.expect("whole frame"));
    assert!(f.is_err() || b.is_empty(), "frame consumed");
    f
}

const CONN_PROTO: Error = Error::Connection(Reason::PROTOCOL_ERROR);
const CONN_SIZE: Error = Error::Connection(Reason::FRAME_SIZE_ERROR);

#[test]
fn partial_frame_needs_more() {
    let full = raw(6, 0, 0, &[0; 8]);
    for cut in 0..full.len() {
        let mut b = BytesMut::from(&full[..cut]);
        assert_eq!(decode(&mut b, 16_384), Ok(None));
        assert_eq!(b.len(), cut, "nothing consumed");
    }
}

#[test]
fn rfc9113_4_2_frame_over_max_size() {
    let mut b = raw(0, 0, 1, &[0; 16_385]);
    assert_eq!(decode(&mut b, 16_384), Err(CONN_SIZE));
    // Reported from the head alone, before the payload arrives.
    let mut b = BytesMut::from(&raw(0, 0, 1, &[0; 16_385])[..9]);
    assert_eq!(decode(&mut b, 16_384), Err(CONN_SIZE));
}

#[test]
fn rfc9113_4_1_unknown_type_ignored() {
    assert!(matches!(one(0x42, 0xff, 0, b"xyz"), Ok(Frame::Unknown(_))));
}

#[test]
fn rfc9113_4_1_unknown_flags_ignored() {
    let f = one(6, 0xfe, 0, &[1; 8]).unwrap();
    assert_eq!(
        f,
        Frame::Ping(Ping {
            ack: false,
            payload: [1; 8]
        })
    );
}

#[test]
fn rfc9113_4_1_reserved_bit_ignored() {
    let f = one(8, 0, 0x8000_0001, &[0x80, 0, 0, 5]).unwrap();
    assert_eq!(f, Frame::WindowUpdate(WindowUpdate::new(1, 5)));
}

#[test]
fn rfc9113_6_1_data_stream_zero() {
    assert_eq!(one(0, 0, 0, b"x"), Err(CONN_PROTO));
}

#[test]
fn rfc9113_6_1_data_padding() {
    let f = one(0, PADDED | END_STREAM, 1, &[2, b'h', b'i', 0, 0]).unwrap();
    let Frame::Data(d) = f else { panic!() };
    assert_eq!(&d.data[..], b"hi");
    assert_eq!(d.flow_len, 5);
    assert!(d.end_stream);
}

#[test]
fn rfc9113_6_1_data_pad_too_long() {
    assert_eq!(one(0, PADDED, 1, &[4, 0, 0, 0]), Err(CONN_PROTO));
    assert!(one(0, PADDED, 1, &[2, 0, 0]).is_ok());
}

#[test]
fn rfc9113_6_2_headers_stream_zero() {
    assert_eq!(one(1, END_HEADERS, 0, b"\x82"), Err(CONN_PROTO));
}

#[test]
fn rfc9113_6_2_headers_pad_too_long() {
    assert_eq!(
        one(1, END_HEADERS | PADDED, 1, &[5, 0x82, 0, 0, 0]),
        Err(CONN_PROTO)
    );
}

#[test]
fn rfc9113_6_2_headers_with_priority_and_padding() {
    let f = one(
        1,
        END_HEADERS | PADDED | PRIORITY,
        3,
        &[1, 0x80, 0, 0, 1, 15, 0x82, 0],
    )
    .unwrap();
    let Frame::Headers(h) = f else { panic!() };
    assert_eq!(&h.fragment[..], &[0x82]);
    assert_eq!(
        h.priority,
        Some(PrioritySpec {
            dependency: 1,
            exclusive: true,
            weight: 15
        })
    );
    assert!(h.end_headers && !h.end_stream);
}

#[test]
fn rfc9113_6_3_priority_rules() {
    assert_eq!(one(2, 0, 0, &[0, 0, 0, 1, 1]), Err(CONN_PROTO));
    assert_eq!(
        one(2, 0, 3, &[0, 0, 0, 1]),
        Err(Error::Stream(3, Reason::FRAME_SIZE_ERROR))
    );
    // §5.3.1: self-dependency.
    assert_eq!(
        one(2, 0, 3, &[0, 0, 0, 3, 1]),
        Err(Error::Stream(3, Reason::PROTOCOL_ERROR))
    );
    assert!(one(2, 0, 3, &[0, 0, 0, 1, 1]).is_ok());
}

#[test]
fn rfc9113_6_4_rst_stream_rules() {
    assert_eq!(one(3, 0, 0, &[0, 0, 0, 8]), Err(CONN_PROTO));
    assert_eq!(one(3, 0, 1, &[0, 0, 8]), Err(CONN_SIZE));
    assert_eq!(
        one(3, 0, 1, &[0, 0, 0, 8]),
        Ok(Frame::RstStream(RstStream::new(1, Reason::CANCEL)))
    );
}

#[test]
fn rfc9113_6_5_settings_rules() {
    assert_eq!(one(4, 0, 1, &[]), Err(CONN_PROTO));
    assert_eq!(one(4, ACK, 0, &[0, 3, 0, 0, 0, 1]), Err(CONN_SIZE));
    assert_eq!(one(4, 0, 0, &[0, 3, 0, 0, 0]), Err(CONN_SIZE));
    assert_eq!(one(4, ACK, 0, &[]), Ok(Frame::Settings(Settings::ack())));
}

#[test]
fn rfc9113_6_5_2_settings_values() {
    assert_eq!(one(4, 0, 0, &[0, 2, 0, 0, 0, 2]), Err(CONN_PROTO));
    assert_eq!(
        one(4, 0, 0, &[0, 4, 0x80, 0, 0, 0]),
        Err(Error::Connection(Reason::FLOW_CONTROL_ERROR))
    );
    assert_eq!(one(4, 0, 0, &[0, 5, 0, 0, 0x3f, 0xff]), Err(CONN_PROTO));
    assert_eq!(one(4, 0, 0, &[0, 5, 1, 0, 0, 0]), Err(CONN_PROTO));
    // Unknown identifiers are ignored; known ones are read; last wins.
    let f = one(
        4,
        0,
        0,
        &[0, 0x99, 0, 0, 0, 1, 0, 3, 0, 0, 0, 7, 0, 3, 0, 0, 0, 9],
    )
    .unwrap();
    let Frame::Settings(s) = f else { panic!() };
    assert_eq!(s.max_concurrent_streams, Some(9));
    assert_eq!(s.header_table_size, None);
}

#[test]
fn settings_round_trip() {
    let s = Settings {
        max_concurrent_streams: Some(100),
        initial_window_size: Some(1 << 20),
        enable_connect_protocol: Some(1),
        ..Settings::default()
    };
    let mut b = BytesMut::new();
    s.encode(&mut b);
    assert_eq!(decode(&mut b, 16_384), Ok(Some(Frame::Settings(s))));
}

#[test]
fn rfc8441_3_enable_connect_protocol_is_0_or_1() {
    assert_eq!(one(4, 0, 0, &[0, 8, 0, 0, 0, 2]), Err(CONN_PROTO));
    let f = one(4, 0, 0, &[0, 8, 0, 0, 0, 1]).unwrap();
    let Frame::Settings(s) = f else { panic!() };
    assert_eq!(s.enable_connect_protocol, Some(1));
}

#[test]
fn rfc9113_6_7_ping_rules() {
    assert_eq!(one(6, 0, 1, &[0; 8]), Err(CONN_PROTO));
    assert_eq!(one(6, 0, 0, &[0; 7]), Err(CONN_SIZE));
    assert_eq!(one(6, 0, 0, &[0; 9]), Err(CONN_SIZE));
}

#[test]
fn rfc9113_6_8_goaway_rules() {
    assert_eq!(one(7, 0, 1, &[0; 8]), Err(CONN_PROTO));
    assert_eq!(one(7, 0, 0, &[0; 7]), Err(CONN_SIZE));
    let f = one(7, 0, 0, &[0, 0, 0, 5, 0, 0, 0, 2, b'x']).unwrap();
    let Frame::GoAway(g) = f else { panic!() };
    assert_eq!(g.last_stream_id, 5);
    assert_eq!(g.reason, Reason::INTERNAL_ERROR);
    assert_eq!(&g.debug_data[..], b"x");
}

#[test]
fn rfc9113_6_9_window_update_length() {
    assert_eq!(one(8, 0, 0, &[0, 0, 1]), Err(CONN_SIZE));
    assert_eq!(one(8, 0, 1, &[0, 0, 0, 1, 0]), Err(CONN_SIZE));
}

#[test]
fn rfc9113_6_10_continuation_stream_zero() {
    assert_eq!(one(9, END_HEADERS, 0, b"\x82"), Err(CONN_PROTO));
}

#[test]
fn rfc9113_6_6_push_promise_parsed() {
    let f = one(5, END_HEADERS, 1, &[0, 0, 0, 2, 0x82]).unwrap();
    let Frame::PushPromise(p) = f else { panic!() };
    assert_eq!(p.promised_id, 2);
}

#[test]
fn header_block_frames_round_trip() {
    let frames = [
        Frame::Headers(Headers {
            stream_id: 3,
            priority: Some(PrioritySpec {
                dependency: 1,
                exclusive: true,
                weight: 15,
            }),
            fragment: Bytes::from_static(b"\x82\x84"),
            end_stream: true,
            end_headers: false,
        }),
        Frame::Headers(Headers {
            stream_id: 5,
            priority: None,
            fragment: Bytes::from_static(b"\x82"),
            end_stream: false,
            end_headers: true,
        }),
        Frame::Continuation(Continuation {
            stream_id: 3,
            fragment: Bytes::from_static(b"\x87"),
            end_headers: true,
        }),
        Frame::PushPromise(PushPromise {
            stream_id: 1,
            promised_id: 2,
            fragment: Bytes::from_static(b"\x82"),
            end_headers: true,
        }),
        Frame::Priority(Priority {
            stream_id: 7,
            spec: PrioritySpec {
                dependency: 0,
                exclusive: false,
                weight: 200,
            },
        }),
    ];
    for f in frames {
        let mut b = BytesMut::new();
        match &f {
            Frame::Headers(h) => h.encode(&mut b),
            Frame::Continuation(c) => c.encode(&mut b),
            Frame::PushPromise(p) => p.encode(&mut b),
            Frame::Priority(p) => p.encode(&mut b),
            _ => unreachable!(),
        }
        assert_eq!(decode(&mut b, 16_384), Ok(Some(f)));
        assert!(b.is_empty());
    }
}
