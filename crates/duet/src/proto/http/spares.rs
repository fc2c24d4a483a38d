//! Allocations kept per thread for the next request on that thread: the
//! boxes of finished access records, the header maps of sent responses.
//! A request that finds a spare allocates nothing for it. Every access
//! tolerates the thread's exit (the spare is then simply freed) and
//! re-entry (no spare is taken or kept).

use std::cell::RefCell;
use std::thread::LocalKey;

use http::HeaderMap;

/// A thread's spares of one kind.
pub(crate) type Pool<T> = RefCell<Vec<T>>;

/// One spare from `pool`, if it holds any.
pub(crate) fn take<T: 'static>(pool: &'static LocalKey<Pool<T>>) -> Option<T> {
    pool.try_with(|p| p.try_borrow_mut().ok().and_then(|mut v| v.pop()))
        .ok()
        .flatten()
}

/// Keeps `spare` in `pool` unless it holds `max` already.
pub(crate) fn keep<T: 'static>(pool: &'static LocalKey<Pool<T>>, spare: T, max: usize) {
    let _ = pool.try_with(|p| {
        if let Ok(mut v) = p.try_borrow_mut() {
            if v.len() < max {
                v.push(spare);
            }
        }
    });
}

/// Response maps kept per thread: as many as a connection has responses
/// in flight when pipelined (16 and more), plus a few.
const MAX_MAPS: usize = 32;

/// A map that holds more fields than this (its allocation grown) is not
/// kept: it would hold its memory for responses of one or two fields.
const MAP_CAPACITY: usize = 24;

thread_local! {
    static MAPS: Pool<HeaderMap> = const { RefCell::new(Vec::new()) };
}

/// An empty header map for a response: a spare one (its room for a few
/// fields already allocated) when the thread has one.
pub(crate) fn response_map() -> HeaderMap {
    take(&MAPS).unwrap_or_default()
}

/// Takes back a response's header map once its head is encoded.
pub(crate) fn recycle_map(mut map: HeaderMap) {
    if map.capacity() == 0 || map.capacity() > MAP_CAPACITY {
        return;
    }
    map.clear();
    keep(&MAPS, map, MAX_MAPS);
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{CONTENT_TYPE, SERVER};

    #[test]
    fn a_recycled_map_comes_back_empty_with_its_room() {
        let mut m = response_map();
        m.insert(CONTENT_TYPE, "text/plain".parse().unwrap());
        m.insert(SERVER, "x".parse().unwrap());
        let room = m.capacity();
        recycle_map(m);
        let again = response_map();
        assert!(again.is_empty());
        assert_eq!(again.capacity(), room);
    }

    #[test]
    fn large_maps_are_not_kept() {
        while take(&MAPS).is_some() {}
        let mut m = HeaderMap::new();
        for i in 0..100 {
            m.insert(
                http::HeaderName::from_bytes(format!("x-{i}").as_bytes()).unwrap(),
                "v".parse().unwrap(),
            );
        }
        recycle_map(m);
        assert_eq!(response_map().capacity(), 0);
    }
}
