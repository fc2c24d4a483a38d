//! The 9-octet frame header shared by every frame (RFC 9113 §4.1).

use bytes::BytesMut;

use crate::proto::h2::StreamId;

/// Length of the frame header in octets.
pub const HEAD_LEN: usize = 9;

/// END_STREAM flag (DATA, HEADERS).
pub const END_STREAM: u8 = 0x1;
/// ACK flag (SETTINGS, PING).
pub const ACK: u8 = 0x1;
/// END_HEADERS flag (HEADERS, PUSH_PROMISE, CONTINUATION).
pub const END_HEADERS: u8 = 0x4;
/// PADDED flag (DATA, HEADERS, PUSH_PROMISE).
pub const PADDED: u8 = 0x8;
/// PRIORITY flag (HEADERS).
pub const PRIORITY: u8 = 0x20;

/// A frame type (RFC 9113 §6; unknown types are kept so they can be
/// ignored, §4.1, §5.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// DATA (0x0).
    Data,
    /// HEADERS (0x1).
    Headers,
    /// PRIORITY (0x2).
    Priority,
    /// RST_STREAM (0x3).
    RstStream,
    /// SETTINGS (0x4).
    Settings,
    /// PUSH_PROMISE (0x5).
    PushPromise,
    /// PING (0x6).
    Ping,
    /// GOAWAY (0x7).
    GoAway,
    /// WINDOW_UPDATE (0x8).
    WindowUpdate,
    /// CONTINUATION (0x9).
    Continuation,
    /// Any other type: ignored on receipt.
    Unknown(u8),
}

impl Kind {
    /// The kind for a wire type octet.
    pub fn from_u8(t: u8) -> Kind {
        match t {
            0 => Kind::Data,
            1 => Kind::Headers,
            2 => Kind::Priority,
            3 => Kind::RstStream,
            4 => Kind::Settings,
            5 => Kind::PushPromise,
            6 => Kind::Ping,
            7 => Kind::GoAway,
            8 => Kind::WindowUpdate,
            9 => Kind::Continuation,
            other => Kind::Unknown(other),
        }
    }

    /// The wire type octet.
    pub fn as_u8(self) -> u8 {
        match self {
            Kind::Data => 0,
            Kind::Headers => 1,
            Kind::Priority => 2,
            Kind::RstStream => 3,
            Kind::Settings => 4,
            Kind::PushPromise => 5,
            Kind::Ping => 6,
            Kind::GoAway => 7,
            Kind::WindowUpdate => 8,
            Kind::Continuation => 9,
            Kind::Unknown(t) => t,
        }
    }
}

/// A parsed frame header, without its length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    /// The frame type.
    pub kind: Kind,
    /// The flags octet, as received (unknown flags are ignored, §4.1).
    pub flags: u8,
    /// The stream id with the reserved bit masked off (§4.1).
    pub stream_id: StreamId,
}

impl Head {
    /// A header for a frame we send.
    pub fn new(kind: Kind, flags: u8, stream_id: StreamId) -> Head {
        Head {
            kind,
            flags,
            stream_id,
        }
    }

    /// True when `flag` is set.
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag == flag
    }

    /// Parses a header from the first 9 octets of `src`, returning it and the
    /// payload length; `None` if fewer than 9 octets are present.
    pub fn parse(src: &[u8]) -> Option<(Head, usize)> {
        let h: &[u8; HEAD_LEN] = src.get(..HEAD_LEN)?.try_into().ok()?;
        let len = (usize::from(h[0]) << 16) | (usize::from(h[1]) << 8) | usize::from(h[2]);
        // RFC 9113 §4.1: the reserved bit MUST be ignored on receipt.
        let stream_id = u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff;
        Some((
            Head {
                kind: Kind::from_u8(h[3]),
                flags: h[4],
                stream_id,
            },
            len,
        ))
    }

    /// Writes this header for a payload of `len` octets (at most 2^24-1).
    pub fn encode(&self, len: usize, dst: &mut BytesMut) {
        // RFC 9113 §4.1: length (24 bits), type, flags, then the reserved
        // bit (which MUST remain unset when sending) and the stream id;
        // written as one slice (one capacity check, not five).
        let [_, l0, l1, l2] = (len.min(0xff_ffff) as u32).to_be_bytes();
        let [i0, i1, i2, i3] = (self.stream_id & 0x7fff_ffff).to_be_bytes();
        dst.extend_from_slice(&[l0, l1, l2, self.kind.as_u8(), self.flags, i0, i1, i2, i3]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_masks_reserved_bit() {
        let mut b = BytesMut::new();
        Head::new(Kind::Headers, END_HEADERS, 5).encode(300, &mut b);
        assert_eq!(&b[..], &[0, 1, 44, 1, 4, 0, 0, 0, 5]);
        let raw = [0, 0, 4, 8, 0, 0x80, 0, 0, 3];
        let (h, len) = Head::parse(&raw).unwrap();
        assert_eq!(len, 4);
        assert_eq!(h.kind, Kind::WindowUpdate);
        assert_eq!(h.stream_id, 3);
        assert!(Head::parse(&raw[..8]).is_none());
    }

    #[test]
    fn unknown_kind_kept() {
        assert_eq!(Kind::from_u8(0x42), Kind::Unknown(0x42));
        assert_eq!(Kind::Unknown(0x42).as_u8(), 0x42);
    }
}
