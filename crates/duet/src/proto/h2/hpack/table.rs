//! The static table (RFC 7541 §2.3.1, Appendix A) and the dynamic table
//! (RFC 7541 §2.3.2, §4): entry size accounting, eviction and size changes.

use std::collections::VecDeque;

use bytes::Bytes;

/// The static table, RFC 7541 Appendix A. Index `i` (1-based) is
/// `STATIC_TABLE[i - 1]`.
pub(super) static STATIC_TABLE: [(&str, &str); STATIC_LEN] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

/// Number of static table entries; dynamic indices start after it
/// (RFC 7541 §2.3.3).
pub(super) const STATIC_LEN: usize = 61;

/// Per-entry overhead in the size of a table entry (RFC 7541 §4.1).
pub(super) const ENTRY_OVERHEAD: usize = 32;

/// Size of an entry, RFC 7541 §4.1: name length + value length + 32.
pub(super) fn entry_size(name: &[u8], value: &[u8]) -> usize {
    name.len()
        .saturating_add(value.len())
        .saturating_add(ENTRY_OVERHEAD)
}

/// The static entry at 1-based `index`, without copying.
pub(super) fn static_entry(index: usize) -> Option<(Bytes, Bytes)> {
    let (name, value) = STATIC_TABLE.get(index.checked_sub(1)?)?;
    Some((
        Bytes::from_static(name.as_bytes()),
        Bytes::from_static(value.as_bytes()),
    ))
}

/// What the static table holds for a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StaticMatch {
    /// Name and value match the entry at this index.
    Full(usize),
    /// Only the name matches; this is its first index.
    Name(usize),
}

/// Looks `name` (lowercase) and `value` up in the static table.
#[cfg(test)]
pub(super) fn static_find(name: &[u8], value: &[u8]) -> Option<StaticMatch> {
    Some(static_find_from(static_name_index(name)?, value))
}

/// Looks `value` up among the entries of the name whose first static
/// index is `first` (entries of one name are consecutive in Appendix A).
pub(super) fn static_find_from(first: usize, value: &[u8]) -> StaticMatch {
    let name = STATIC_TABLE.get(first - 1).map_or("", |(n, _)| n);
    let mut index = first;
    while let Some((n, v)) = STATIC_TABLE.get(index - 1) {
        // The first entry's name is the one looked up.
        if index != first && *n != name {
            break;
        }
        if v.as_bytes() == value {
            return StaticMatch::Full(index);
        }
        index += 1;
    }
    StaticMatch::Name(first)
}

/// The first static index whose name is `name`.
pub(super) fn static_name_index(name: &[u8]) -> Option<usize> {
    // By length first: one jump, then at most a few comparisons.
    Some(match name.len() {
        3 => match name {
            b"age" => 21,
            b"via" => 60,
            _ => return None,
        },
        4 => match name {
            b"date" => 33,
            b"etag" => 34,
            b"from" => 37,
            b"host" => 38,
            b"link" => 45,
            b"vary" => 59,
            _ => return None,
        },
        5 => match name {
            b":path" => 4,
            b"allow" => 22,
            b"range" => 50,
            _ => return None,
        },
        6 => match name {
            b"accept" => 19,
            b"cookie" => 32,
            b"expect" => 35,
            b"server" => 54,
            _ => return None,
        },
        7 => match name {
            b":method" => 2,
            b":scheme" => 6,
            b":status" => 8,
            b"expires" => 36,
            b"referer" => 51,
            b"refresh" => 52,
            _ => return None,
        },
        8 => match name {
            b"if-match" => 39,
            b"if-range" => 42,
            b"location" => 46,
            _ => return None,
        },
        10 => match name {
            b":authority" => 1,
            b"set-cookie" => 55,
            b"user-agent" => 58,
            _ => return None,
        },
        11 => match name {
            b"retry-after" => 53,
            _ => return None,
        },
        12 => match name {
            b"content-type" => 31,
            b"max-forwards" => 47,
            _ => return None,
        },
        13 => match name {
            b"accept-ranges" => 18,
            b"authorization" => 23,
            b"cache-control" => 24,
            b"content-range" => 30,
            b"if-none-match" => 41,
            b"last-modified" => 44,
            _ => return None,
        },
        14 => match name {
            b"accept-charset" => 15,
            b"content-length" => 28,
            _ => return None,
        },
        15 => match name {
            b"accept-encoding" => 16,
            b"accept-language" => 17,
            _ => return None,
        },
        16 => match name {
            b"content-encoding" => 26,
            b"content-language" => 27,
            b"content-location" => 29,
            b"www-authenticate" => 61,
            _ => return None,
        },
        17 => match name {
            b"if-modified-since" => 40,
            b"transfer-encoding" => 57,
            _ => return None,
        },
        18 => match name {
            b"proxy-authenticate" => 48,
            _ => return None,
        },
        19 => match name {
            b"content-disposition" => 25,
            b"if-unmodified-since" => 43,
            b"proxy-authorization" => 49,
            _ => return None,
        },
        25 => match name {
            b"strict-transport-security" => 56,
            _ => return None,
        },
        27 => match name {
            b"access-control-allow-origin" => 20,
            _ => return None,
        },
        _ => return None,
    })
}

/// A dynamic table entry in one allocation owned by the table, so that an
/// entry never keeps a larger buffer alive and its size in memory is close
/// to its accounted size: the value alone when the name is one of the
/// static table's (most fields), else the name then the value. 40 bytes in
/// the table's ring instead of two `Bytes` (64): an idle connection keeps
/// its tables.
#[derive(Debug)]
struct Entry {
    bytes: Bytes,
    /// `STATIC_NAME | i` for the name of static entry `i`, else the name's
    /// length (a name is shorter than the table, so far below 2^31).
    name: u32,
    /// The decoder's caller accepted the entry's octets when it was added
    /// (`Decoder::decode_vetted`); in the struct's padding.
    vetted: bool,
}

/// Marks `Entry::name` as a static table index.
const STATIC_NAME: u32 = 1 << 31;

impl Entry {
    fn new(name: &[u8], value: &[u8]) -> Entry {
        if let Some(i) = static_name_index(name) {
            return Entry {
                bytes: Bytes::copy_from_slice(value),
                name: STATIC_NAME | i as u32,
                vetted: false,
            };
        }
        let mut bytes = Vec::with_capacity(name.len() + value.len());
        bytes.extend_from_slice(name);
        bytes.extend_from_slice(value);
        Entry {
            bytes: Bytes::from(bytes),
            name: u32::try_from(name.len()).unwrap_or(u32::MAX) & !STATIC_NAME,
            vetted: false,
        }
    }

    /// The static name, when the name is one.
    fn static_name(&self) -> Option<&'static [u8]> {
        if self.name & STATIC_NAME == 0 {
            return None;
        }
        let i = (self.name & !STATIC_NAME) as usize;
        Some(
            STATIC_TABLE
                .get(i.wrapping_sub(1))
                .map_or(&b""[..], |e| e.0.as_bytes()),
        )
    }

    /// Where the value starts in `bytes`.
    fn split(&self) -> usize {
        if self.name & STATIC_NAME != 0 {
            0
        } else {
            (self.name as usize).min(self.bytes.len())
        }
    }

    fn name(&self) -> &[u8] {
        match self.static_name() {
            Some(n) => n,
            None => &self.bytes[..self.split()],
        }
    }

    fn value(&self) -> &[u8] {
        &self.bytes[self.split()..]
    }

    /// The name and value, shared with the entry (not copied).
    fn shared(&self) -> (Bytes, Bytes) {
        match self.static_name() {
            Some(n) => (Bytes::from_static(n), self.bytes.clone()),
            None => {
                let split = self.split();
                (self.bytes.slice(..split), self.bytes.slice(split..))
            }
        }
    }
}

/// The dynamic table (RFC 7541 §2.3.2): newest entry first, so relative
/// index 0 is HPACK index 62.
#[derive(Debug)]
pub(super) struct DynamicTable {
    entries: VecDeque<Entry>,
    /// Sum of the entries' sizes (RFC 7541 §4.1).
    size: usize,
    /// Current maximum size (RFC 7541 §4.2).
    max_size: usize,
    /// Entries inserted so far, wrapping: the absolute number the next
    /// entry gets. An entry keeps its absolute number while newer ones push
    /// its relative index up, so a number saved by the encoder still names
    /// the same entry later, or none once it is evicted.
    inserted: u32,
}

impl DynamicTable {
    pub(super) fn new(max_size: usize) -> Self {
        DynamicTable {
            entries: VecDeque::new(),
            size: 0,
            max_size,
            inserted: 0,
        }
    }

    #[cfg(test)]
    pub(super) fn size(&self) -> usize {
        self.size
    }

    pub(super) fn max_size(&self) -> usize {
        self.max_size
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The name and value at relative index `i` (0 = newest).
    pub(super) fn get(&self, i: usize) -> Option<(&[u8], &[u8])> {
        self.entries.get(i).map(|e| (e.name(), e.value()))
    }

    /// The name and value at relative index `i`, shared with the table
    /// (not copied).
    pub(super) fn get_shared(&self, i: usize) -> Option<(Bytes, Bytes)> {
        self.entries.get(i).map(Entry::shared)
    }

    /// [`DynamicTable::get_shared`], and whether the entry is vetted.
    pub(super) fn get_vetted(&self, i: usize) -> Option<(Bytes, Bytes, bool)> {
        self.entries.get(i).map(|e| {
            let (name, value) = e.shared();
            (name, value, e.vetted)
        })
    }

    /// Marks the newest entry vetted: the decoder's caller accepted it.
    pub(super) fn vet_newest(&mut self) {
        if let Some(e) = self.entries.front_mut() {
            e.vetted = true;
        }
    }

    /// Adds a copy of a field, evicting the oldest entries to make room;
    /// an entry larger than the maximum size empties the table and is not
    /// added (RFC 7541 §4.4). True when it was added.
    pub(super) fn insert(&mut self, name: &[u8], value: &[u8]) -> bool {
        let size = entry_size(name, value);
        if size > self.max_size {
            self.entries.clear();
            self.size = 0;
            return false;
        }
        self.evict_to(self.max_size - size);
        self.size += size;
        self.entries.push_front(Entry::new(name, value));
        self.inserted = self.inserted.wrapping_add(1);
        true
    }

    /// Frees the ring's spare slots (an idle connection keeps its table
    /// but not the room it grew for).
    pub(super) fn shed(&mut self) {
        self.entries.shrink_to_fit();
    }

    /// The absolute number of the entry at relative index `i`.
    pub(super) fn absolute(&self, i: usize) -> u32 {
        // Relative indices are below the entry count (at most a table size
        // over 32, far below 2^32), so the cast keeps every index.
        self.inserted.wrapping_sub(1).wrapping_sub(i as u32)
    }

    /// The relative index of the entry with absolute number `abs`, if it
    /// is still in the table.
    pub(super) fn relative(&self, abs: u32) -> Option<usize> {
        let i = self.inserted.wrapping_sub(1).wrapping_sub(abs) as usize;
        (i < self.entries.len()).then_some(i)
    }

    /// Changes the maximum size, evicting entries until the table fits
    /// (RFC 7541 §4.3).
    pub(super) fn set_max_size(&mut self, max_size: usize) {
        self.max_size = max_size;
        self.evict_to(max_size);
    }

    fn evict_to(&mut self, target: usize) {
        while self.size > target {
            match self.entries.pop_back() {
                Some(e) => self.size -= entry_size(e.name(), e.value()),
                None => {
                    self.size = 0;
                    break;
                }
            }
        }
    }

    /// Finds `name`/`value`, newest first: the relative index of an exact
    /// match if there is one, else of the newest entry with that name.
    pub(super) fn find(&self, name: &[u8], value: &[u8]) -> Option<StaticMatch> {
        let mut by_name = None;
        for (i, e) in self.entries.iter().enumerate() {
            if e.name() == name {
                if e.value() == value {
                    return Some(StaticMatch::Full(i));
                }
                by_name.get_or_insert(i);
            }
        }
        by_name.map(StaticMatch::Name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_lookup() {
        assert_eq!(static_find(b":status", b"404"), Some(StaticMatch::Full(13)));
        assert_eq!(static_find(b":status", b"302"), Some(StaticMatch::Name(8)));
        assert_eq!(static_find(b":method", b"POST"), Some(StaticMatch::Full(3)));
        assert_eq!(
            static_find(b"accept-encoding", b"gzip, deflate"),
            Some(StaticMatch::Full(16))
        );
        assert_eq!(static_find(b"server", b"duet"), Some(StaticMatch::Name(54)));
        assert_eq!(
            static_find(b"www-authenticate", b""),
            Some(StaticMatch::Full(61))
        );
        assert_eq!(static_find(b"x-custom", b""), None);
        // Every static entry is found at its own index.
        for (i, (n, v)) in STATIC_TABLE.iter().enumerate() {
            assert_eq!(
                static_find(n.as_bytes(), v.as_bytes()),
                Some(StaticMatch::Full(i + 1))
            );
        }
        assert_eq!(static_entry(0), None);
        assert_eq!(static_entry(62), None);
        assert_eq!(
            static_entry(2),
            Some((Bytes::from_static(b":method"), Bytes::from_static(b"GET")))
        );
    }

    #[test]
    fn eviction_and_oversized_entries() {
        let mut t = DynamicTable::new(100);
        t.insert(b"a", b"1"); // 34
        t.insert(b"b", b"2"); // 34
        assert_eq!((t.len(), t.size()), (2, 68));
        t.insert(b"c", b"3");
        // "a" evicted: 34 * 3 > 100.
        assert_eq!((t.len(), t.size()), (2, 68));
        assert_eq!(t.get(0).map(|e| e.0), Some(&b"c"[..]));
        assert_eq!(t.get(1).map(|e| e.0), Some(&b"b"[..]));
        assert_eq!(t.find(b"b", b"2"), Some(StaticMatch::Full(1)));
        assert_eq!(t.find(b"b", b"x"), Some(StaticMatch::Name(1)));
        assert_eq!(t.find(b"a", b"1"), None);
        t.set_max_size(40);
        assert_eq!((t.len(), t.size()), (1, 34));
        // Larger than the table: empties it (RFC 7541 §4.4).
        t.insert(b"long-name", b"v");
        assert_eq!((t.len(), t.size()), (0, 0));
        t.set_max_size(0);
        t.insert(b"", b"");
        assert_eq!((t.len(), t.size()), (0, 0));
    }

    /// Absolute numbers follow an entry as newer ones arrive, end with its
    /// eviction, and survive the counter wrapping around.
    #[test]
    fn absolute_numbers_follow_entries() {
        let mut t = DynamicTable::new(100);
        t.inserted = u32::MAX - 1;
        t.insert(b"a", b"1"); // 34
        let a = t.absolute(0);
        assert_eq!(a, u32::MAX - 1);
        assert_eq!(t.relative(a), Some(0));
        t.insert(b"b", b"2");
        t.insert(b"c", b"3");
        // "a" evicted; the counter wrapped at "c".
        assert_eq!(t.relative(a), None);
        let b = t.absolute(1);
        assert_eq!((b, t.absolute(0)), (u32::MAX, 0));
        assert_eq!(t.relative(b), Some(1));
        assert_eq!(t.get(1).map(|e| e.0), Some(&b"b"[..]));
        assert_eq!(t.relative(1), None); // not inserted yet
        t.set_max_size(0);
        assert_eq!((t.relative(b), t.relative(0)), (None, None));
    }

    /// An entry is one allocation: its shared name and value are slices of
    /// it (or a static name and the value), and shedding keeps the entries.
    #[test]
    fn entries_hold_name_and_value_together() {
        let mut t = DynamicTable::new(4096);
        for i in 0..5u8 {
            t.insert(b"name", &[b'v', b'0' + i]);
        }
        let (n, v) = t.get_shared(0).unwrap_or_default();
        assert_eq!((&n[..], &v[..]), (&b"name"[..], &b"v4"[..]));
        assert_eq!(n.as_ptr().wrapping_add(4), v.as_ptr());
        t.insert(b"user-agent", b"curl");
        let (n, v) = t.get_shared(0).unwrap_or_default();
        assert_eq!((&n[..], &v[..]), (&b"user-agent"[..], &b"curl"[..]));
        assert_eq!(t.find(b"user-agent", b"curl"), Some(StaticMatch::Full(0)));
        assert_eq!(t.find(b"name", b"v0"), Some(StaticMatch::Full(5)));
        t.shed();
        assert_eq!(t.len(), 6);
        assert_eq!(t.get(5), Some((&b"name"[..], &b"v0"[..])));
        assert_eq!(t.get(0), Some((&b"user-agent"[..], &b"curl"[..])));
        t.insert(b"", b"");
        assert_eq!(t.get(0), Some((&b""[..], &b""[..])));
        // The accounted size counts the static name too (RFC 7541 §4.1).
        assert_eq!(t.size(), 32 * 7 + 5 * 6 + 14);
    }
}
