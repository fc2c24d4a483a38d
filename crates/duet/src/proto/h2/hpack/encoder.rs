//! The HPACK encoder: chooses a representation per field (RFC 7541 §6) and
//! keeps the dynamic table for repeated response fields.

use bytes::BytesMut;

use super::table::{
    entry_size, static_find_from, static_name_index, DynamicTable, StaticMatch, STATIC_LEN,
};
use super::{huffman, integer, DEFAULT_TABLE_SIZE};

/// Slots of [`Encoder`]'s memo of recently used dynamic entries.
const RECENT_SLOTS: usize = 8;

/// How a literal field is sent (RFC 7541 §6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Indexing {
    /// §6.2.1: added to the dynamic table.
    Incremental,
    /// §6.2.2: not added.
    Without,
    /// §6.2.3: not added, and intermediaries must not add it either.
    Never,
}

/// HPACK encoder: one per connection, used for every header block we send.
///
/// Per field: a `:status` with a static entry is one octet; an exact match
/// in the static or dynamic table is indexed (§6.1); otherwise a literal,
/// its name indexed when either table has it (§6.2), its strings
/// Huffman-encoded unless that is longer (§5.2). Literals are added to the
/// dynamic table (§6.2.1) unless they are sensitive or credentials
/// (never indexed, §6.2.3), values that change with every response
/// (`content-length`, `etag`, ...: without indexing, §6.2.2), or larger
/// than half the table.
#[derive(Debug)]
pub struct Encoder {
    table: DynamicTable,
    /// Smallest maximum table size set since the last block, when it
    /// changed: the next block starts with size updates (RFC 7541 §4.2).
    pending_min: Option<usize>,
    /// Per name, the dynamic entry this encoder last indexed or added for
    /// it, by absolute number (see [`DynamicTable::absolute`]), in slot
    /// `i % RECENT_SLOTS` for the name with first static index `i` (0 for
    /// names outside the static table). A response repeats most of the
    /// previous one's fields, so checking this one entry usually replaces
    /// the scan of the table; a stale number (entry evicted, another field
    /// of the name, or another name sharing the slot) falls back to the
    /// scan. Eight slots, not one per static name: 32 bytes per connection
    /// instead of 248, and a response's few indexed names rarely share one.
    ///
    /// The scan would otherwise grow with the connection's age: `date` is
    /// added each second (§6.2.1; it is then one octet for the rest of the
    /// second, §6.1), and the past seconds' entries, never used again,
    /// stay until evicted oldest first (§4.4): about 60 of them in a full
    /// 4096-octet table.
    recent: [u32; RECENT_SLOTS],
    /// Changes whenever the table or its size does: a block encoded under
    /// one version encodes to the same bytes again under the same one.
    version: u64,
    /// The last block that changed nothing in the table, by its fields
    /// (boxed: a connection future stays in its allocator size class).
    memo: Option<Box<BlockMemo>>,
    /// Tests turn `recent` and `memo` off, to compare against the plain
    /// scan.
    #[cfg(test)]
    use_memos: bool,
    /// Blocks answered from `memo` (tests).
    #[cfg(test)]
    memo_hits: usize,
}

/// The fields and the bytes of the last block that neither added to the
/// dynamic table nor started with a size update, under table `version`.
///
/// Responses on a connection mostly repeat the previous one's fields
/// (`:status`, `content-type`, `date` within a second, `server`,
/// `content-length`), and once those are in the table such a block
/// changes nothing in it: the next identical block has the same bytes
/// (RFC 7541 §2.3.3: indices depend only on the entries, which only
/// insertions and size changes move). Comparing the fields costs a few
/// dozen instructions per field where encoding them costs a few hundred.
#[derive(Debug, Default)]
struct BlockMemo {
    version: u64,
    /// Per field: sensitive (0: a block with a sensitive field is not
    /// kept), name length (u16 LE), name, value length (u16 LE), value.
    /// Empty: no memo.
    key: Vec<u8>,
    block: Vec<u8>,
}

/// The fields of a header block, visited in order: `each` calls
/// `f(name, value, sensitive)` per field until `f` returns false, and
/// returns whether it went through them all.
///
/// A response head's fields are a status, the application's map and a few
/// added ones: one plain loop over them costs a fraction of what stepping a
/// chain of iterator adapters does, and the block memo visits them on
/// every response.
pub trait FieldSource {
    /// Visits the fields in order while `f` returns true.
    fn each(&self, f: impl FnMut(&[u8], &[u8], bool) -> bool) -> bool;
}

/// Blocks whose fields take more than this are not remembered.
const MEMO_MAX_KEY: usize = 512;

impl BlockMemo {
    /// Whether `fields` are exactly the remembered block's, under
    /// `version`.
    fn matches(&self, version: u64, fields: &impl FieldSource) -> bool {
        if self.key.is_empty() || self.version != version {
            return false;
        }
        let mut rest = &self.key[..];
        let all = fields.each(|name, value, sensitive| {
            let step = rest
                .split_first()
                .filter(|(&s, _)| s == u8::from(sensitive))
                .and_then(|(_, tail)| take_sized(tail, name))
                .and_then(|tail| take_sized(tail, value));
            match step {
                Some(tail) => {
                    rest = tail;
                    true
                }
                None => false,
            }
        });
        all && rest.is_empty()
    }

    /// Remembers `fields` and their `block`, under `version` (or forgets
    /// the last block, when these are too large to keep or hold a
    /// sensitive field: credentials are not kept past their response).
    fn store(&mut self, version: u64, fields: &impl FieldSource, block: &[u8]) {
        self.key.clear();
        self.block.clear();
        let key = &mut self.key;
        let kept = fields.each(|name, value, sensitive| {
            if sensitive || key.len() + name.len() + value.len() + 5 > MEMO_MAX_KEY {
                return false;
            }
            key.push(u8::from(sensitive));
            for part in [name, value] {
                // Fits: the key is at most MEMO_MAX_KEY octets.
                key.extend_from_slice(&(part.len() as u16).to_le_bytes());
                key.extend_from_slice(part);
            }
            true
        });
        if !kept {
            self.key.clear();
        }
        if self.key.is_empty() {
            return;
        }
        self.version = version;
        self.block.extend_from_slice(block);
    }
}

/// `rest` without its first `part` (u16 LE length, then the octets), if
/// that is what it starts with.
fn take_sized<'k>(rest: &'k [u8], part: &[u8]) -> Option<&'k [u8]> {
    let (len, tail) = rest.split_first_chunk::<2>()?;
    if usize::from(u16::from_le_bytes(*len)) != part.len() {
        return None;
    }
    let (octets, tail) = tail.split_at_checked(part.len())?;
    (octets == part).then_some(tail)
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder::new()
    }
}

impl Encoder {
    /// An encoder with the default dynamic table size (4096).
    pub fn new() -> Self {
        Encoder {
            table: DynamicTable::new(DEFAULT_TABLE_SIZE),
            pending_min: None,
            recent: [0; RECENT_SLOTS],
            version: 0,
            memo: None,
            #[cfg(test)]
            use_memos: true,
            #[cfg(test)]
            memo_hits: 0,
        }
    }

    /// An encoder that always scans the dynamic table and encodes every
    /// block, for comparison.
    #[cfg(test)]
    pub(super) fn without_memos() -> Self {
        Encoder {
            use_memos: false,
            ..Encoder::new()
        }
    }

    /// How many blocks came from the block memo.
    #[cfg(test)]
    pub(super) fn memo_hits(&self) -> usize {
        self.memo_hits
    }

    /// The peer's SETTINGS_HEADER_TABLE_SIZE changed: the encoder shrinks
    /// its table (at most to this) and signals the size at the start of the
    /// next block (RFC 7541 §4.2, §6.3).
    ///
    /// The table never grows past 4096 even if the peer allows more: a
    /// larger table costs memory per connection for little gain on
    /// responses.
    pub fn set_max_table_size(&mut self, max: usize) {
        let size = max.min(DEFAULT_TABLE_SIZE);
        if size == self.table.max_size() && self.pending_min.is_none() {
            return;
        }
        self.pending_min = Some(self.pending_min.map_or(size, |min| min.min(size)));
        self.table.set_max_size(size);
        self.version = self.version.wrapping_add(1);
    }

    /// Encodes one header block: `fields` are (name, value, sensitive);
    /// names are lowercase, pseudo-headers (`:status`) first. Sensitive
    /// fields are sent never-indexed (RFC 7541 §6.2.3).
    pub fn encode<'a>(
        &mut self,
        fields: impl IntoIterator<Item = (&'a [u8], &'a [u8], bool)>,
        dst: &mut BytesMut,
    ) {
        self.start_block(dst);
        for (name, value, sensitive) in fields {
            self.encode_field(name, value, sensitive, dst);
        }
    }

    /// [`Encoder::encode`] for blocks that often repeat the previous one
    /// (responses); `fields` are visited once or twice. When they are
    /// exactly those of the last block that changed nothing in the dynamic
    /// table, that block's bytes are copied instead of encoding the fields
    /// again (see `BlockMemo`).
    pub fn encode_repeated(&mut self, fields: &impl FieldSource, dst: &mut BytesMut) {
        #[cfg(test)]
        let use_memo = self.use_memos;
        #[cfg(not(test))]
        let use_memo = true;
        let plain = self.pending_min.is_none();
        if let Some(memo) = self.memo.as_deref() {
            if use_memo && plain && memo.matches(self.version, fields) {
                #[cfg(test)]
                {
                    self.memo_hits += 1;
                }
                dst.extend_from_slice(&memo.block);
                return;
            }
        }
        let (start, version) = (dst.len(), self.version);
        self.start_block(dst);
        fields.each(|name, value, sensitive| {
            self.encode_field(name, value, sensitive, dst);
            true
        });
        if use_memo && plain && self.version == version {
            if let Some(block) = dst.get(start..) {
                let memo = self.memo.get_or_insert_with(Box::default);
                memo.store(version, fields, block);
            }
        }
    }

    /// RFC 7541 §4.2: a block after a change of maximum size starts with
    /// the smallest size set since, then the final size if it is larger.
    fn start_block(&mut self, dst: &mut BytesMut) {
        if let Some(min) = self.pending_min.take() {
            integer::encode(min, 5, 0x20, dst);
            let size = self.table.max_size();
            if size != min {
                integer::encode(size, 5, 0x20, dst);
            }
        }
    }

    fn encode_field(&mut self, name: &[u8], value: &[u8], sensitive: bool, dst: &mut BytesMut) {
        // Fast path: the statuses in the static table (RFC 7541 Appendix A,
        // indices 8-14).
        if !sensitive && name == b":status" {
            if let Some(index) = static_status(value) {
                integer::encode(index, 7, 0x80, dst);
                return;
            }
        }
        // One match on the name: its static index decides the rest (every
        // name with a fixed policy is in the static table).
        let first = static_name_index(name);
        let by_name = first.and_then(indexing_by_static_index);
        let static_match = first.map(|first| static_find_from(first, value));
        // Fields with a fixed policy never enter our table: skip the search.
        let slot = first.unwrap_or(0) % RECENT_SLOTS;
        let dynamic_match = match by_name {
            Some(_) => None,
            None => self.find_dynamic(slot, name, value),
        };
        if !sensitive {
            // RFC 7541 §6.1: indexed header field.
            if let Some(StaticMatch::Full(index)) = static_match {
                integer::encode(index, 7, 0x80, dst);
                return;
            }
            if let Some(StaticMatch::Full(i)) = dynamic_match {
                if let Some(recent) = self.recent.get_mut(slot) {
                    *recent = self.table.absolute(i);
                }
                integer::encode(STATIC_LEN + 1 + i, 7, 0x80, dst);
                return;
            }
        }
        let name_index = match (static_match, dynamic_match) {
            (Some(StaticMatch::Full(i) | StaticMatch::Name(i)), _) => i,
            (None, Some(StaticMatch::Full(i) | StaticMatch::Name(i))) => STATIC_LEN + 1 + i,
            (None, None) => 0,
        };
        let indexing = if sensitive {
            Indexing::Never
        } else if let Some(indexing) = by_name {
            indexing
        } else if entry_size(name, value) > self.table.max_size() / 2 {
            // An entry taking more than half the table would flush the
            // fields worth keeping.
            Indexing::Without
        } else {
            Indexing::Incremental
        };
        // RFC 7541 §6.2.1, §6.2.2, §6.2.3.
        match indexing {
            Indexing::Incremental => integer::encode(name_index, 6, 0x40, dst),
            Indexing::Without => integer::encode(name_index, 4, 0x00, dst),
            Indexing::Never => integer::encode(name_index, 4, 0x10, dst),
        }
        if name_index == 0 {
            encode_string(name, dst);
        }
        encode_string(value, dst);
        if indexing == Indexing::Incremental {
            self.table.insert(name, value);
            self.version = self.version.wrapping_add(1);
            // The new entry is the newest, relative index 0 (§2.3.3).
            if let Some(recent) = self.recent.get_mut(slot) {
                *recent = self.table.absolute(0);
            }
        }
    }

    /// Frees the table's spare room (an idle connection).
    pub fn shed(&mut self) {
        self.table.shed();
        self.memo = None;
    }

    /// The dynamic table's answer for a field ([`DynamicTable::find`]),
    /// trying first the entry last used for its name (`slot` of
    /// `recent`).
    ///
    /// The answers are the same: our table never holds two equal entries
    /// (a field is added only when the table has no exact match for it),
    /// so an exact match found here is the one the scan would find, and
    /// anything else is left to the scan.
    fn find_dynamic(&self, slot: usize, name: &[u8], value: &[u8]) -> Option<StaticMatch> {
        #[cfg(test)]
        if !self.use_memos {
            return self.table.find(name, value);
        }
        let recent = self.recent.get(slot).and_then(|&abs| {
            let i = self.table.relative(abs)?;
            let (n, v) = self.table.get(i)?;
            (v == value && n == name).then_some(StaticMatch::Full(i))
        });
        debug_assert!(recent.is_none() || recent == self.table.find(name, value));
        recent.or_else(|| self.table.find(name, value))
    }

    #[cfg(test)]
    pub(super) fn table(&self) -> &DynamicTable {
        &self.table
    }
}

/// The literal representation fixed by a field's name, if any (the
/// definition; the encoder uses [`indexing_by_static_index`], tested equal).
#[cfg(test)]
fn indexing_by_name(name: &[u8]) -> Option<Indexing> {
    match name {
        // Credentials: never indexed, here nor by intermediaries
        // (RFC 7541 §7.1.3).
        b"authorization" | b"proxy-authorization" | b"cookie" | b"set-cookie" => {
            Some(Indexing::Never)
        }
        // Values that differ from one response to the next: indexing them
        // would only evict entries that do repeat.
        b"content-length" | b"content-range" | b"etag" | b"last-modified" | b"age" | b":path" => {
            Some(Indexing::Without)
        }
        _ => None,
    }
}

/// [`indexing_by_name`] for a name known by its first static index
/// (RFC 7541 Appendix A): the same policy without comparing the name again.
fn indexing_by_static_index(first: usize) -> Option<Indexing> {
    match first {
        // authorization, cookie, proxy-authorization, set-cookie
        23 | 32 | 49 | 55 => Some(Indexing::Never),
        // :path, age, content-length, content-range, etag, last-modified
        4 | 21 | 28 | 30 | 34 | 44 => Some(Indexing::Without),
        _ => None,
    }
}

/// Static index of `:status: value`, for the statuses with an entry.
fn static_status(value: &[u8]) -> Option<usize> {
    Some(match value {
        b"200" => 8,
        b"204" => 9,
        b"206" => 10,
        b"304" => 11,
        b"400" => 12,
        b"404" => 13,
        b"500" => 14,
        _ => return None,
    })
}

/// Appends a string literal (RFC 7541 §5.2), Huffman-encoded unless that
/// would make it longer.
fn encode_string(s: &[u8], dst: &mut BytesMut) {
    let huffman_len = huffman::encoded_len(s);
    if huffman_len <= s.len() {
        integer::encode(huffman_len, 7, 0x80, dst);
        dst.reserve(huffman_len);
        huffman::encode(s, dst);
    } else {
        integer::encode(s.len(), 7, 0x00, dst);
        dst.extend_from_slice(s);
    }
}

#[cfg(test)]
mod policy_tests {
    use super::*;
    use crate::proto::h2::hpack::table::STATIC_TABLE;

    /// The policy by static index is the policy by name, for every name of
    /// the static table, and no name outside it has a fixed policy.
    #[test]
    fn policy_by_static_index_matches_policy_by_name() {
        for (name, _) in STATIC_TABLE.iter() {
            let first = static_name_index(name.as_bytes());
            assert!(first.is_some(), "{name}");
            assert_eq!(
                first.and_then(indexing_by_static_index),
                indexing_by_name(name.as_bytes()),
                "{name}"
            );
        }
        for name in ["x-custom", "content-type-x", "cookies"] {
            assert_eq!(static_name_index(name.as_bytes()), None);
            assert_eq!(indexing_by_name(name.as_bytes()), None);
        }
    }
}
