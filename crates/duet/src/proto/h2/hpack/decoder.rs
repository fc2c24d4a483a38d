//! The HPACK decoder: header field representations (RFC 7541 §6) read
//! against the static and dynamic tables.

use bytes::{Bytes, BytesMut};

use super::table::{entry_size, static_entry, DynamicTable, STATIC_LEN};
use super::{huffman, integer, DecoderError};

/// Extra capacity reserved, beyond the string at hand, when the string
/// buffer must grow: at least enough for the literals of the next blocks
/// (a client that does not index `:path`, as nghttp2 and curl do not, sends
/// one literal per request), at most enough for the rest of a large block.
const MIN_BUFFER_SLACK: usize = 1024;
/// See [`MIN_BUFFER_SLACK`].
const MAX_BUFFER_SLACK: usize = 4096;

/// A string buffer with more spare room than this after a block (a peer
/// sent a large literal) is not kept for the next block.
const MAX_KEPT_BUFFER: usize = 8192;

/// HPACK decoder: one per connection, fed every header block in order.
///
/// Decoded names and values are [`Bytes`]: static-table fields are
/// `'static` (no copy, no allocation), dynamic-table fields are reference
/// counted clones of the table's entry, and literal strings are split off
/// a buffer the caller keeps from block to block (the connection's scratch
/// buffer), shared by the blocks until it is full: a request whose `:path`
/// is a literal costs no allocation of its own.
#[derive(Debug)]
pub struct Decoder {
    table: DynamicTable,
    /// Our SETTINGS_HEADER_TABLE_SIZE: the largest size a dynamic table
    /// size update may choose (RFC 7541 §6.3).
    max_allowed: usize,
    /// Our limit fell below the table's current maximum size, so the next
    /// block must start with a size update (RFC 7541 §4.2).
    update_required: bool,
    /// The last literal string read, as it came and as decoded.
    last: Option<Box<LastString>>,
}

/// A literal string as it came (its Huffman flag and octets) and as
/// decoded. A client that does not index `:path` (nghttp2 and curl never
/// do) sends the same literal with every request for the same target:
/// the same octets decode to the same string, so it is decoded once.
#[derive(Debug)]
struct LastString {
    huffman: bool,
    coded: Vec<u8>,
    decoded: Bytes,
}

/// A longer literal is not remembered (it would keep its room).
const MAX_REMEMBERED: usize = 256;

impl Default for Decoder {
    /// A decoder with the protocol's initial table size, 4096
    /// (RFC 9113 §6.5.2).
    fn default() -> Self {
        Decoder::new(super::DEFAULT_TABLE_SIZE)
    }
}

impl Decoder {
    /// A decoder whose dynamic table may grow to `max_table_size` bytes (our
    /// SETTINGS_HEADER_TABLE_SIZE, RFC 7541 §4.2).
    ///
    /// This must be the size the peer's encoder currently assumes: for a new
    /// HTTP/2 connection that is the initial value 4096 (RFC 9113 §6.5.2),
    /// since the peer may send header blocks before it has seen our
    /// SETTINGS. If we advertised another value, `set_max_table_size`
    /// would apply it once the peer acknowledges that SETTINGS frame (the
    /// server keeps 4096, so only the tests and the fuzz targets have it).
    pub fn new(max_table_size: usize) -> Self {
        Decoder {
            table: DynamicTable::new(max_table_size),
            max_allowed: max_table_size,
            update_required: false,
            last: None,
        }
    }

    /// Our SETTINGS_HEADER_TABLE_SIZE changed and the peer acknowledged it
    /// (RFC 9113 §6.5.3). Size updates may now go up to `max`; if `max` is
    /// below the table's current maximum size, the next header block must
    /// begin with a dynamic table size update (RFC 7541 §4.2), else it is
    /// rejected with [`DecoderError::TableSizeUpdateMissing`].
    ///
    /// The server never changes its table size after the preface, so only
    /// the tests and the fuzz targets call this.
    #[cfg(any(test, feature = "unstable-fuzz"))]
    pub fn set_max_table_size(&mut self, max: usize) {
        self.max_allowed = max;
        if self.table.max_size() > max {
            self.update_required = true;
        }
    }

    /// [`decode_limited`](Self::decode_limited) with no limit on the header
    /// list size (the server always has one; the tests need none).
    #[cfg(test)]
    pub fn decode(
        &mut self,
        block: &[u8],
        emit: &mut dyn FnMut(Bytes, Bytes),
    ) -> Result<(), DecoderError> {
        self.decode_limited(block, usize::MAX, &mut BytesMut::new(), emit)
    }

    /// [`decode_vetted`](Self::decode_vetted) for a caller that vets
    /// nothing (the tests).
    #[cfg(test)]
    pub fn decode_limited(
        &mut self,
        block: &[u8],
        max_list_size: usize,
        strings: &mut BytesMut,
        emit: &mut dyn FnMut(Bytes, Bytes),
    ) -> Result<(), DecoderError> {
        self.decode_vetted(block, max_list_size, strings, &mut |n, v, _| {
            emit(n, v);
            false
        })
    }

    /// Decodes one complete header block (HEADERS + CONTINUATION payloads
    /// joined), calling `emit(name, value, vetted)` per field in order.
    /// Names and values are raw bytes; the caller validates HTTP semantics.
    /// Literal strings are written into the spare room of `strings` and
    /// split off it; what room is left stays for the next block.
    ///
    /// `emit` returns whether the caller accepts the field's octets (a
    /// check that depends on nothing but the octets, as RFC 9113 §8.2.1's),
    /// and a field later indexed from the dynamic table (RFC 7541 §6.1)
    /// comes with `vetted` true when the caller accepted it as it entered
    /// the table (§6.2.1). Fields of the static table (Appendix A) come
    /// vetted: its octets are valid field octets. A client repeats most of
    /// a request's fields from its table, and their octets are then checked
    /// once per connection, not once per request.
    ///
    /// On error, fields before the fault may already have been emitted,
    /// and the dynamic table is no longer in step with the peer's: the
    /// connection must end with COMPRESSION_ERROR (RFC 9113 §4.3).
    ///
    /// Fields stop being emitted once the header list size (each field's
    /// name + value + 32, RFC 9113 §6.5.2) would exceed `max_list_size`,
    /// and the result is then [`DecoderError::HeaderListTooLarge`]. That
    /// error alone leaves the decoder usable: the rest of the block is
    /// still decoded into the dynamic table, so the connection may go on and
    /// only the stream be refused (e.g. with a 431 response).
    pub fn decode_vetted(
        &mut self,
        block: &[u8],
        max_list_size: usize,
        strings: &mut BytesMut,
        emit: &mut dyn FnMut(Bytes, Bytes, bool) -> bool,
    ) -> Result<(), DecoderError> {
        let mut pos = 0;
        strings.clear();
        let mut field_seen = false;
        let mut list_size = 0usize;
        let mut over_limit = false;
        while let Some(&first) = block.get(pos) {
            if first & 0xe0 == 0x20 {
                // RFC 7541 §6.3: dynamic table size update, only at the
                // start of a block (§4.2).
                if field_seen {
                    return Err(DecoderError::TableSizeUpdateAfterField);
                }
                let size = integer::decode(block, &mut pos, 5)?;
                if size > self.max_allowed {
                    return Err(DecoderError::TableSizeUpdateTooLarge);
                }
                self.table.set_max_size(size);
                self.update_required = false;
                continue;
            }
            if !field_seen {
                if self.update_required {
                    return Err(DecoderError::TableSizeUpdateMissing);
                }
                field_seen = true;
            }
            // Whether the field is as it entered the table, and whether it
            // was just added to it (as entry 0).
            let (name, value, vetted, added) = if first & 0x80 != 0 {
                // RFC 7541 §6.1: indexed header field.
                let index = integer::decode(block, &mut pos, 7)?;
                let (name, value, vetted) = self.field(index)?;
                (name, value, vetted, false)
            } else if first & 0x40 != 0 {
                // RFC 7541 §6.2.1: literal with incremental indexing.
                let index = integer::decode(block, &mut pos, 6)?;
                let (name, value) = self.literal(block, &mut pos, index, strings)?;
                let (name, value, added) = self.insert(name, value);
                (name, value, false, added)
            } else {
                // RFC 7541 §6.2.2 (0000) without indexing and §6.2.3 (0001)
                // never indexed: the same to a decoder that does not
                // forward fields.
                let index = integer::decode(block, &mut pos, 4)?;
                let (name, value) = self.literal(block, &mut pos, index, strings)?;
                (name, value, false, false)
            };
            // RFC 9113 §6.5.2: name + value + 32 per field.
            list_size = list_size.saturating_add(entry_size(&name, &value));
            if list_size > max_list_size {
                over_limit = true;
            }
            if !over_limit && emit(name, value, vetted) && added {
                self.table.vet_newest();
            }
        }
        if strings.capacity() > MAX_KEPT_BUFFER {
            *strings = BytesMut::new();
        }
        if self.update_required {
            return Err(DecoderError::TableSizeUpdateMissing);
        }
        if over_limit {
            return Err(DecoderError::HeaderListTooLarge);
        }
        Ok(())
    }

    /// The field at HPACK `index` (RFC 7541 §2.3.3): static, then dynamic;
    /// and whether it is vetted (see [`Decoder::decode_vetted`]).
    fn field(&self, index: usize) -> Result<(Bytes, Bytes, bool), DecoderError> {
        if index == 0 {
            // RFC 7541 §6.1: index 0 is an error.
            return Err(DecoderError::IndexZero);
        }
        if index <= STATIC_LEN {
            let (name, value) = static_entry(index).ok_or(DecoderError::IndexOutOfRange)?;
            return Ok((name, value, true));
        }
        self.table
            .get_vetted(index - STATIC_LEN - 1)
            .ok_or(DecoderError::IndexOutOfRange)
    }

    /// Reads the name (indexed when `index` is not 0, RFC 7541 §6.2) and the
    /// value of a literal field.
    fn literal(
        &mut self,
        block: &[u8],
        pos: &mut usize,
        index: usize,
        strings: &mut BytesMut,
    ) -> Result<(Bytes, Bytes), DecoderError> {
        let name = if index == 0 {
            read_string(block, pos, strings)?
        } else {
            self.field(index)?.0
        };
        let value = self.read_value(block, pos, strings)?;
        Ok((name, value))
    }

    /// [`read_string`] for a value: the last one's decoded string when the
    /// same octets came again.
    fn read_value(
        &mut self,
        block: &[u8],
        pos: &mut usize,
        strings: &mut BytesMut,
    ) -> Result<Bytes, DecoderError> {
        let (huffman, coded) = coded_string(block, pos)?;
        if let Some(last) = &self.last {
            if last.huffman == huffman && last.coded == coded {
                return Ok(last.decoded.clone());
            }
        }
        let decoded = decode_string(huffman, coded, block.len() - *pos, strings)?;
        if coded.len() <= MAX_REMEMBERED {
            match &mut self.last {
                Some(last) => {
                    last.huffman = huffman;
                    last.coded.clear();
                    last.coded.extend_from_slice(coded);
                    last.decoded = decoded.clone();
                }
                None => {
                    self.last = Some(Box::new(LastString {
                        huffman,
                        coded: coded.to_vec(),
                        decoded: decoded.clone(),
                    }))
                }
            }
        }
        Ok(decoded)
    }

    /// Adds a field to the dynamic table (RFC 7541 §6.2.1, §4.4) and
    /// returns it as stored (the table copies it into its own allocation,
    /// so that an entry never keeps a whole block's string buffer alive),
    /// and whether it was stored.
    fn insert(&mut self, name: Bytes, value: Bytes) -> (Bytes, Bytes, bool) {
        if !self.table.insert(&name, &value) {
            // Larger than the table: it emptied, nothing is stored.
            return (name, value, false);
        }
        match self.table.get_shared(0) {
            Some((name, value)) => (name, value, true),
            None => (name, value, false),
        }
    }

    /// Frees the table's spare room and the last literal (an idle
    /// connection; that literal also holds a part of the string buffer the
    /// connection gives up).
    pub fn shed(&mut self) {
        self.table.shed();
        self.last = None;
    }

    /// Whether a literal is remembered.
    #[cfg(test)]
    pub(super) fn remembers_literal(&self) -> bool {
        self.last.is_some()
    }

    #[cfg(test)]
    pub(super) fn table(&self) -> &DynamicTable {
        &self.table
    }
}

/// Reads a string literal (RFC 7541 §5.2) into `strings` and splits it off.
fn read_string(
    block: &[u8],
    pos: &mut usize,
    strings: &mut BytesMut,
) -> Result<Bytes, DecoderError> {
    let (huffman, raw) = coded_string(block, pos)?;
    decode_string(huffman, raw, block.len() - *pos, strings)
}

/// The string literal at `pos` (RFC 7541 §5.2) as it came: whether it is
/// Huffman-coded, and its octets; `pos` moves past it.
fn coded_string<'b>(block: &'b [u8], pos: &mut usize) -> Result<(bool, &'b [u8]), DecoderError> {
    let huffman = block.get(*pos).is_some_and(|b| b & 0x80 != 0);
    let len = integer::decode(block, pos, 7)?;
    let start = *pos;
    let raw = start
        .checked_add(len)
        .and_then(|end| block.get(start..end))
        .ok_or(DecoderError::StringTruncated)?;
    *pos = start + len;
    Ok((huffman, raw))
}

/// Decodes a literal's octets into `strings` and splits the string off;
/// `rest` octets of the block follow it.
fn decode_string(
    huffman: bool,
    raw: &[u8],
    rest: usize,
    strings: &mut BytesMut,
) -> Result<Bytes, DecoderError> {
    let len = raw.len();
    if huffman {
        // The shortest code is 5 bits: at most 8/5 octets out per octet in.
        reserve(strings, len.saturating_mul(8) / 5 + 1, rest);
        huffman::decode(raw, strings)?;
    } else {
        reserve(strings, len, rest);
        strings.extend_from_slice(raw);
    }
    Ok(strings.split().freeze())
}

fn reserve(strings: &mut BytesMut, need: usize, rest_of_block: usize) {
    if strings.capacity() - strings.len() < need {
        let slack = (rest_of_block.saturating_mul(8) / 5).clamp(MIN_BUFFER_SLACK, MAX_BUFFER_SLACK);
        strings.reserve(need.saturating_add(slack));
    }
}
