//! The HTTP/2 frame layer (RFC 9113 §4, §6): the common 9-octet head and one
//! file per frame type, each with `load` (from head + payload, enforcing
//! that frame's size, stream-id and padding rules) and `encode`.

use bytes::{Buf, Bytes, BytesMut};

mod continuation;
mod data;
mod goaway;
pub mod head;
mod headers;
mod ping;
mod priority;
mod push_promise;
mod rst_stream;
pub mod settings;
mod window_update;

pub use continuation::Continuation;
pub use data::Data;
pub use goaway::GoAway;
pub use head::{Head, Kind, HEAD_LEN};
pub use headers::{encode_block, Headers};
pub use ping::Ping;
pub use priority::{Priority, PrioritySpec};
pub use push_promise::PushPromise;
pub use rst_stream::RstStream;
pub use settings::Settings;
pub use window_update::WindowUpdate;

use super::{Error, Reason};

/// One received frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// DATA.
    Data(Data),
    /// HEADERS.
    Headers(Headers),
    /// PRIORITY.
    Priority(Priority),
    /// RST_STREAM.
    RstStream(RstStream),
    /// SETTINGS.
    Settings(Settings),
    /// PUSH_PROMISE.
    PushPromise(PushPromise),
    /// PING.
    Ping(Ping),
    /// GOAWAY.
    GoAway(GoAway),
    /// WINDOW_UPDATE.
    WindowUpdate(WindowUpdate),
    /// CONTINUATION.
    Continuation(Continuation),
    /// A frame of an unknown type: to be ignored (§4.1, §5.5).
    Unknown(Head),
}

/// Takes one whole frame off the front of `src`.
///
/// `Ok(None)` means more bytes are needed (not an error). A frame longer
/// than `max_frame_size` (our SETTINGS_MAX_FRAME_SIZE) is a connection error
/// FRAME_SIZE_ERROR, reported as soon as its head is read (§4.2).
pub fn decode(src: &mut BytesMut, max_frame_size: u32) -> Result<Option<Frame>, Error> {
    let Some((head, len)) = Head::parse(src) else {
        return Ok(None);
    };
    if len > max_frame_size as usize {
        return Err(Error::Connection(Reason::FRAME_SIZE_ERROR));
    }
    if src.len() < HEAD_LEN + len {
        src.reserve(HEAD_LEN + len - src.len());
        return Ok(None);
    }
    src.advance(HEAD_LEN);
    let payload = src.split_to(len).freeze();
    load(head, payload).map(Some)
}

/// Parses a frame payload according to its head.
pub fn load(head: Head, payload: Bytes) -> Result<Frame, Error> {
    Ok(match head.kind {
        Kind::Data => Frame::Data(Data::load(head, payload)?),
        Kind::Headers => Frame::Headers(Headers::load(head, payload)?),
        Kind::Priority => Frame::Priority(Priority::load(head, payload)?),
        Kind::RstStream => Frame::RstStream(RstStream::load(head, payload)?),
        Kind::Settings => Frame::Settings(Settings::load(head, payload)?),
        Kind::PushPromise => Frame::PushPromise(PushPromise::load(head, payload)?),
        Kind::Ping => Frame::Ping(Ping::load(head, payload)?),
        Kind::GoAway => Frame::GoAway(GoAway::load(head, payload)?),
        Kind::WindowUpdate => Frame::WindowUpdate(WindowUpdate::load(head, payload)?),
        Kind::Continuation => Frame::Continuation(Continuation::load(head, payload)?),
        Kind::Unknown(_) => Frame::Unknown(head),
    })
}

/// Removes the Pad Length octet and the padding of a PADDED frame
/// (RFC 9113 §6.1, §6.2, §6.6): padding as long as the payload or longer is
/// a connection error PROTOCOL_ERROR.
fn strip_padding(head: Head, payload: &mut Bytes) -> Result<(), Error> {
    if !head.has(head::PADDED) {
        return Ok(());
    }
    let Some(&pad) = payload.first() else {
        // No room for the Pad Length field itself.
        return Err(Error::Connection(Reason::FRAME_SIZE_ERROR));
    };
    let pad = usize::from(pad);
    if pad >= payload.len() {
        return Err(Error::Connection(Reason::PROTOCOL_ERROR));
    }
    payload.advance(1);
    payload.truncate(payload.len() - pad);
    Ok(())
}

#[cfg(test)]
mod tests;
