//! PRIORITY frames (RFC 9113 §6.3) and the priority fields HEADERS may
//! carry. The RFC 7540 priority scheme is deprecated (§5.3.2); the frames are
//! parsed and checked, then ignored.

use bytes::{Buf, Bytes};
#[cfg(any(test, feature = "unstable-fuzz"))]
use bytes::{BufMut, BytesMut};

use super::head::Head;
#[cfg(any(test, feature = "unstable-fuzz"))]
use super::head::Kind;
use crate::proto::h2::{Error, Reason, StreamId};

/// The 5-octet stream dependency + weight (RFC 9113 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrioritySpec {
    /// The stream this one depends on.
    pub dependency: StreamId,
    /// The E flag.
    pub exclusive: bool,
    /// Weight minus one.
    pub weight: u8,
}

impl PrioritySpec {
    /// Parses 5 octets (the caller checked the length).
    pub(crate) fn parse(src: &mut Bytes) -> PrioritySpec {
        let dep = src.get_u32();
        let weight = src.get_u8();
        PrioritySpec {
            dependency: dep & 0x7fff_ffff,
            exclusive: dep & 0x8000_0000 != 0,
            weight,
        }
    }

    #[cfg(any(test, feature = "unstable-fuzz"))]
    pub(crate) fn encode(&self, dst: &mut BytesMut) {
        let e = if self.exclusive { 0x8000_0000 } else { 0 };
        dst.put_u32(self.dependency | e);
        dst.put_u8(self.weight);
    }
}

/// A PRIORITY frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Priority {
    /// The stream whose priority is given (never 0).
    pub stream_id: StreamId,
    /// Its dependency and weight.
    pub spec: PrioritySpec,
}

impl Priority {
    /// Parses a received PRIORITY frame.
    pub fn load(head: Head, mut payload: Bytes) -> Result<Priority, Error> {
        // §6.3: stream 0 → connection error PROTOCOL_ERROR.
        if head.stream_id == 0 {
            return Err(Error::Connection(Reason::PROTOCOL_ERROR));
        }
        // §6.3: a length other than 5 is a stream error FRAME_SIZE_ERROR.
        if payload.len() != 5 {
            return Err(Error::Stream(head.stream_id, Reason::FRAME_SIZE_ERROR));
        }
        let spec = PrioritySpec::parse(&mut payload);
        // §5.3.1: a stream cannot depend on itself: stream error
        // PROTOCOL_ERROR.
        if spec.dependency == head.stream_id {
            return Err(Error::Stream(head.stream_id, Reason::PROTOCOL_ERROR));
        }
        Ok(Priority {
            stream_id: head.stream_id,
            spec,
        })
    }

    /// Writes the frame (a server never sends one: for the tests and the
    /// fuzz targets).
    #[cfg(any(test, feature = "unstable-fuzz"))]
    pub fn encode(&self, dst: &mut BytesMut) {
        Head::new(Kind::Priority, 0, self.stream_id).encode(5, dst);
        self.spec.encode(dst);
    }
}
