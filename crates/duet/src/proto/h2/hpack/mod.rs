//! HPACK header compression for HTTP/2 (RFC 7541).
//!
//! - [`Decoder`] reads the header blocks a peer sends: integers (§5.1),
//!   string literals with Huffman decoding (§5.2, Appendix B), indexed and
//!   literal representations (§6.1, §6.2), dynamic table size updates
//!   (§6.3, §4.2) and the header list size limit (RFC 9113 §6.5.2).
//! - [`Encoder`] writes ours: static-table hits are indexed, repeated
//!   fields go through the dynamic table, sensitive fields are never
//!   indexed (§6.2.3), strings are Huffman-encoded when that is no longer.
//! - `table` holds the static table (Appendix A) and the dynamic table
//!   with its size accounting and eviction (§4).
//!
//! Both sides are sans-I/O: bytes in, fields out, and the reverse.

use std::fmt;

mod decoder;
mod encoder;
mod huffman;
mod integer;
mod table;

pub use decoder::Decoder;
pub use encoder::{Encoder, FieldSource};

/// Initial SETTINGS_HEADER_TABLE_SIZE (RFC 9113 §6.5.2), and the most the
/// encoder uses.
const DEFAULT_TABLE_SIZE: usize = 4096;

/// Why a header block could not be decoded. Every variant is an HTTP/2
/// connection error of type COMPRESSION_ERROR (RFC 9113 §4.3), except that
/// after [`HeaderListTooLarge`](Self::HeaderListTooLarge) the decoder is
/// still in step with the peer, so the connection may instead refuse just
/// the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecoderError {
    /// The block ends inside an integer (RFC 7541 §5.1).
    IntegerTruncated,
    /// An integer is larger than 2^32 - 1 or has more than five
    /// continuation octets (RFC 7541 §5.1 leaves the limit to us).
    IntegerOverflow,
    /// A string's length runs past the end of the block (RFC 7541 §5.2).
    StringTruncated,
    /// A Huffman string ends with more than 7 bits of padding
    /// (RFC 7541 §5.2).
    HuffmanPaddingTooLong,
    /// A Huffman string's padding is not the most significant bits of the
    /// EOS code, i.e. not all ones (RFC 7541 §5.2).
    HuffmanPaddingNotOnes,
    /// A Huffman string contains the EOS symbol (RFC 7541 §5.2).
    HuffmanEos,
    /// An indexed representation uses index 0 (RFC 7541 §6.1).
    IndexZero,
    /// An index is past the end of the static and dynamic tables
    /// (RFC 7541 §2.3.3).
    IndexOutOfRange,
    /// A dynamic table size update exceeds our SETTINGS_HEADER_TABLE_SIZE
    /// (RFC 7541 §6.3).
    TableSizeUpdateTooLarge,
    /// A dynamic table size update follows a field representation in the
    /// same block (RFC 7541 §4.2).
    TableSizeUpdateAfterField,
    /// We lowered SETTINGS_HEADER_TABLE_SIZE below the table's size and the
    /// next block did not start with a size update (RFC 7541 §4.2).
    TableSizeUpdateMissing,
    /// The decoded header list exceeds the limit given to
    /// [`Decoder::decode_vetted`] (RFC 9113 §6.5.2). The whole block was
    /// still decoded, so the decoder remains usable.
    HeaderListTooLarge,
}

impl fmt::Display for DecoderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DecoderError::IntegerTruncated => "HPACK block ends inside an integer",
            DecoderError::IntegerOverflow => "HPACK integer too large",
            DecoderError::StringTruncated => "HPACK string runs past the end of the block",
            DecoderError::HuffmanPaddingTooLong => "HPACK Huffman padding longer than 7 bits",
            DecoderError::HuffmanPaddingNotOnes => "HPACK Huffman padding is not the EOS prefix",
            DecoderError::HuffmanEos => "HPACK Huffman string contains EOS",
            DecoderError::IndexZero => "HPACK indexed field with index 0",
            DecoderError::IndexOutOfRange => "HPACK index out of range",
            DecoderError::TableSizeUpdateTooLarge => {
                "HPACK table size update above SETTINGS_HEADER_TABLE_SIZE"
            }
            DecoderError::TableSizeUpdateAfterField => {
                "HPACK table size update after a header field"
            }
            DecoderError::TableSizeUpdateMissing => "HPACK table size update required but missing",
            DecoderError::HeaderListTooLarge => {
                "header list larger than SETTINGS_MAX_HEADER_LIST_SIZE"
            }
        })
    }
}

impl std::error::Error for DecoderError {}

#[cfg(test)]
mod tests;
