//! Maps keyed by stream id with a cheap keyed hash.
//!
//! Stream ids are chosen by the peer, so the hash is keyed per connection
//! (a peer cannot pick ids that collide without knowing the key), and the
//! maps are bounded anyway (SETTINGS_MAX_CONCURRENT_STREAMS active streams,
//! a fixed number of remembered closed ones). SipHash, the std default,
//! cost about a tenth of the instructions of a small request; this is a
//! pair of folded multiplies.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher, RandomState};

use super::StreamId;

/// A map from stream id to `V`.
pub(crate) type IdMap<V> = HashMap<StreamId, V, IdHash>;

/// A new, empty map with its own random key (allocates nothing).
pub(crate) fn id_map<V>() -> IdMap<V> {
    HashMap::with_hasher(IdHash::new())
}

/// Frees an empty map's table, keeping its hash key.
pub(crate) fn shed_map<V>(m: &mut IdMap<V>) {
    if m.is_empty() && m.capacity() > 0 {
        *m = HashMap::with_hasher(*m.hasher());
    }
}

/// The hasher factory: two random 64-bit keys.
#[derive(Clone, Copy, Debug)]
pub(crate) struct IdHash {
    k0: u64,
    k1: u64,
}

impl IdHash {
    fn new() -> IdHash {
        let s = RandomState::new();
        IdHash {
            k0: s.hash_one(0x6475_6574_u64),
            // Odd, so the multiply is a bijection.
            k1: s.hash_one(0x6832_u64) | 1,
        }
    }
}

impl BuildHasher for IdHash {
    type Hasher = IdHasher;

    fn build_hasher(&self) -> IdHasher {
        IdHasher {
            keys: *self,
            state: 0,
        }
    }
}

/// Hashes what it is given (a `u32` stream id) with one folded multiply.
pub(crate) struct IdHasher {
    keys: IdHash,
    state: u64,
}

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.state = self.state.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.state = self.state.rotate_left(32) ^ u64::from(n);
    }

    fn finish(&self) -> u64 {
        // Two folded multiplies: one alone leaves the low bits of nearby
        // ids (those that pick the bucket) depending on the id's own low
        // bits only, so ids 1024 apart could share buckets for some keys.
        let fold = |a: u64, b: u64| {
            let x = u128::from(a) * u128::from(b);
            (x as u64) ^ ((x >> 64) as u64)
        };
        let m = fold(self.state ^ self.keys.k0, self.keys.k1);
        fold(m ^ self.keys.k1.rotate_left(32), self.keys.k0 | 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_find_what_they_hold() {
        let mut m = id_map();
        for id in (1..20_000u32).step_by(2) {
            m.insert(id, id * 3);
        }
        assert_eq!(m.len(), 10_000);
        assert_eq!(m.get(&9_999), Some(&29_997));
        assert_eq!(m.get(&10_000), None);
        assert_eq!(m.remove(&1), Some(3));
        assert!(!m.contains_key(&1));
    }

    #[test]
    fn consecutive_ids_spread_over_buckets() {
        // Odd ids 1, 3, 5, ... must not share hashes (or low bits, which
        // pick the bucket) in bulk.
        let h = IdHash::new();
        let mut low: Vec<u64> = (0..1024u32).map(|i| h.hash_one(2 * i + 1) & 1023).collect();
        low.sort_unstable();
        low.dedup();
        assert!(low.len() > 512, "only {} distinct buckets", low.len());
    }

    #[test]
    fn keys_differ_between_maps() {
        let (a, b) = (IdHash::new(), IdHash::new());
        assert_ne!(a.hash_one(1u32), b.hash_one(1u32));
    }
}
