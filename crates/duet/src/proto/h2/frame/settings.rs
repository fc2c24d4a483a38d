//! SETTINGS frames (RFC 9113 §6.5) and the validation of their values
//! (§6.5.2).

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::head::{Head, Kind, ACK};
use crate::proto::h2::{Error, Reason, MAX_WINDOW};

/// SETTINGS_HEADER_TABLE_SIZE.
pub const HEADER_TABLE_SIZE: u16 = 0x1;
/// SETTINGS_ENABLE_PUSH.
pub const ENABLE_PUSH: u16 = 0x2;
/// SETTINGS_MAX_CONCURRENT_STREAMS.
pub const MAX_CONCURRENT_STREAMS: u16 = 0x3;
/// SETTINGS_INITIAL_WINDOW_SIZE.
pub const INITIAL_WINDOW_SIZE: u16 = 0x4;
/// SETTINGS_MAX_FRAME_SIZE.
pub const MAX_FRAME_SIZE: u16 = 0x5;
/// SETTINGS_MAX_HEADER_LIST_SIZE.
pub const MAX_HEADER_LIST_SIZE: u16 = 0x6;
/// SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441 §3).
pub const ENABLE_CONNECT_PROTOCOL: u16 = 0x8;

/// The smallest allowed SETTINGS_MAX_FRAME_SIZE (and its default).
pub const MIN_MAX_FRAME_SIZE: u32 = 1 << 14;
/// The largest allowed SETTINGS_MAX_FRAME_SIZE.
pub const MAX_MAX_FRAME_SIZE: u32 = (1 << 24) - 1;

/// A SETTINGS frame: the values it carries (absent ones unchanged), or an
/// acknowledgement.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    /// ACK: acknowledges the peer's SETTINGS; carries no values.
    pub ack: bool,
    /// SETTINGS_HEADER_TABLE_SIZE.
    pub header_table_size: Option<u32>,
    /// SETTINGS_ENABLE_PUSH (0 or 1).
    pub enable_push: Option<u32>,
    /// SETTINGS_MAX_CONCURRENT_STREAMS.
    pub max_concurrent_streams: Option<u32>,
    /// SETTINGS_INITIAL_WINDOW_SIZE (≤ 2^31-1).
    pub initial_window_size: Option<u32>,
    /// SETTINGS_MAX_FRAME_SIZE (2^14 ..= 2^24-1).
    pub max_frame_size: Option<u32>,
    /// SETTINGS_MAX_HEADER_LIST_SIZE.
    pub max_header_list_size: Option<u32>,
    /// SETTINGS_ENABLE_CONNECT_PROTOCOL (0 or 1, RFC 8441 §3).
    pub enable_connect_protocol: Option<u32>,
}

impl Settings {
    /// An acknowledgement.
    pub fn ack() -> Settings {
        Settings {
            ack: true,
            ..Settings::default()
        }
    }

    /// Parses a received SETTINGS frame and validates its values.
    pub fn load(head: Head, payload: Bytes) -> Result<Settings, Error> {
        Settings::load_values(head.stream_id, head.has(ACK), payload)
    }

    /// Parses the payload of a SETTINGS frame, as also carried base64url in
    /// an `HTTP2-Settings` header (RFC 7540 §3.2.1).
    pub fn load_values(stream_id: u32, ack: bool, mut payload: Bytes) -> Result<Settings, Error> {
        // §6.5: a nonzero stream id → connection error PROTOCOL_ERROR.
        if stream_id != 0 {
            return Err(Error::Connection(Reason::PROTOCOL_ERROR));
        }
        if ack {
            // §6.5: an ACK with a payload → connection error FRAME_SIZE_ERROR.
            if !payload.is_empty() {
                return Err(Error::Connection(Reason::FRAME_SIZE_ERROR));
            }
            return Ok(Settings::ack());
        }
        // §6.5: a length not a multiple of 6 → FRAME_SIZE_ERROR.
        if !payload.chunks_exact(6).remainder().is_empty() {
            return Err(Error::Connection(Reason::FRAME_SIZE_ERROR));
        }
        let mut s = Settings::default();
        while payload.remaining() >= 6 {
            let id = payload.get_u16();
            let value = payload.get_u32();
            match id {
                HEADER_TABLE_SIZE => s.header_table_size = Some(value),
                ENABLE_PUSH => {
                    // §6.5.2: any value other than 0 or 1 → PROTOCOL_ERROR.
                    if value > 1 {
                        return Err(Error::Connection(Reason::PROTOCOL_ERROR));
                    }
                    s.enable_push = Some(value);
                }
                MAX_CONCURRENT_STREAMS => s.max_concurrent_streams = Some(value),
                INITIAL_WINDOW_SIZE => {
                    // §6.5.2: above 2^31-1 → FLOW_CONTROL_ERROR.
                    if value > MAX_WINDOW {
                        return Err(Error::Connection(Reason::FLOW_CONTROL_ERROR));
                    }
                    s.initial_window_size = Some(value);
                }
                MAX_FRAME_SIZE => {
                    // §6.5.2: outside 2^14 ..= 2^24-1 → PROTOCOL_ERROR.
                    if !(MIN_MAX_FRAME_SIZE..=MAX_MAX_FRAME_SIZE).contains(&value) {
                        return Err(Error::Connection(Reason::PROTOCOL_ERROR));
                    }
                    s.max_frame_size = Some(value);
                }
                MAX_HEADER_LIST_SIZE => s.max_header_list_size = Some(value),
                ENABLE_CONNECT_PROTOCOL => {
                    // RFC 8441 §3: any value other than 0 or 1 →
                    // PROTOCOL_ERROR.
                    if value > 1 {
                        return Err(Error::Connection(Reason::PROTOCOL_ERROR));
                    }
                    s.enable_connect_protocol = Some(value);
                }
                // §6.5.2: unknown settings MUST be ignored.
                _ => {}
            }
        }
        Ok(s)
    }

    /// Writes the frame.
    pub fn encode(&self, dst: &mut BytesMut) {
        let values = [
            (HEADER_TABLE_SIZE, self.header_table_size),
            (ENABLE_PUSH, self.enable_push),
            (MAX_CONCURRENT_STREAMS, self.max_concurrent_streams),
            (INITIAL_WINDOW_SIZE, self.initial_window_size),
            (MAX_FRAME_SIZE, self.max_frame_size),
            (MAX_HEADER_LIST_SIZE, self.max_header_list_size),
            (ENABLE_CONNECT_PROTOCOL, self.enable_connect_protocol),
        ];
        let n = values.iter().filter(|(_, v)| v.is_some()).count();
        let flags = if self.ack { ACK } else { 0 };
        Head::new(Kind::Settings, flags, 0).encode(if self.ack { 0 } else { n * 6 }, dst);
        if self.ack {
            return;
        }
        for (id, v) in values {
            if let Some(v) = v {
                dst.put_u16(id);
                dst.put_u32(v);
            }
        }
    }
}
