//! HPACK header compression (RFC 7541).
//!
//! The API below is fixed (the HTTP/2 connection core is written against
//! it); the bodies are being written.

use bytes::{Bytes, BytesMut};

/// Why a header block could not be decoded. Every variant is an HTTP/2
/// connection error of type COMPRESSION_ERROR (RFC 9113 §4.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecoderError {
    /// Placeholder until the decoder is written.
    Unimplemented,
}

/// HPACK decoder: one per connection, fed every header block in order.
#[derive(Debug, Default)]
pub struct Decoder {}

impl Decoder {
    /// A decoder whose dynamic table may grow to `max_table_size` bytes (our
    /// SETTINGS_HEADER_TABLE_SIZE, RFC 7541 §4.2).
    pub fn new(max_table_size: usize) -> Self {
        let _ = max_table_size;
        Decoder {}
    }

    /// Decodes one complete header block (HEADERS + CONTINUATION payloads
    /// joined), calling `emit(name, value)` per field in order. Names and
    /// values are raw bytes; the caller validates HTTP semantics.
    pub fn decode(
        &mut self,
        block: &[u8],
        emit: &mut dyn FnMut(Bytes, Bytes),
    ) -> Result<(), DecoderError> {
        let _ = (block, emit);
        Err(DecoderError::Unimplemented)
    }
}

/// HPACK encoder: one per connection, used for every header block we send.
#[derive(Debug, Default)]
pub struct Encoder {}

impl Encoder {
    /// An encoder with the default dynamic table size (4096).
    pub fn new() -> Self {
        Encoder {}
    }

    /// The peer's SETTINGS_HEADER_TABLE_SIZE changed: the encoder shrinks
    /// its table (at most to this) and signals the size at the start of the
    /// next block (RFC 7541 §4.2, §6.3).
    pub fn set_max_table_size(&mut self, max: usize) {
        let _ = max;
    }

    /// Encodes one header block: `fields` are (name, value, sensitive);
    /// names are lowercase, pseudo-headers (`:status`) first. Sensitive
    /// fields are sent never-indexed (RFC 7541 §6.2.3).
    pub fn encode<'a>(
        &mut self,
        fields: impl IntoIterator<Item = (&'a [u8], &'a [u8], bool)>,
        dst: &mut BytesMut,
    ) {
        let _ = (fields.into_iter().count(), dst);
    }
}
