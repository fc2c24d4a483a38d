//! The `Date` header value (RFC 9110 §5.6.7 IMF-fixdate), formatted at most
//! once per second per thread.

use std::cell::RefCell;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Length of an IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub(crate) const DATE_LEN: usize = 29;

struct Cached {
    /// The monotonic instant the next wall-clock second begins at (about):
    /// until then, `text` is the date.
    until: Option<Instant>,
    text: [u8; DATE_LEN],
}

thread_local! {
    static CACHE: RefCell<Cached> = const { RefCell::new(Cached { until: None, text: [0; DATE_LEN] }) };
}

/// Calls `f` with the date at `now` (the caller's monotonic time, which
/// the drivers read once per pass anyway) as an IMF-fixdate. The wall
/// clock is read once per second, when `now` reaches the next second: a
/// response costs no clock read. A step of the wall clock (NTP, a resumed
/// machine) shows within a second.
pub(crate) fn with_date<R>(now: Instant, f: impl FnOnce(&[u8; DATE_LEN]) -> R) -> R {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.until.map_or(true, |until| now >= until) {
            let wall = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or(Duration::ZERO);
            c.text = format_imf_fixdate(wall.as_secs());
            let rest = Duration::from_secs(1)
                .saturating_sub(Duration::from_nanos(u64::from(wall.subsec_nanos())));
            c.until = now.checked_add(rest);
        }
        f(&c.text)
    })
}

/// Formats seconds since the Unix epoch as an IMF-fixdate.
pub(crate) fn format_imf_fixdate(secs: u64) -> [u8; DATE_LEN] {
    const DAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    let weekday = DAYS[(days % 7) as usize];
    // Civil-from-days (proleptic Gregorian), days since 1970-01-01.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mut out = *b"Thu, 01 Jan 1970 00:00:00 GMT";
    out[0..3].copy_from_slice(weekday);
    let two = |o: &mut [u8], v: u64| {
        o[0] = b'0' + (v / 10) as u8;
        o[1] = b'0' + (v % 10) as u8;
    };
    two(&mut out[5..7], day as u64);
    out[8..11].copy_from_slice(MONTHS[(month - 1) as usize]);
    let y = year.clamp(0, 9999) as u64;
    two(&mut out[12..14], y / 100);
    two(&mut out[14..16], y % 100);
    two(&mut out[17..19], h);
    two(&mut out[20..22], m);
    two(&mut out[23..25], s);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wall_clock_is_read_when_the_next_second_begins() {
        let wall = || {
            let secs = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            format_imf_fixdate(secs)
        };
        let now = Instant::now();
        let before = wall();
        let first = with_date(now, |d| *d);
        assert!(first == before || first == wall());
        // The next second begins within a second of `now`.
        let until = CACHE.with(|c| c.borrow().until).expect("until");
        assert!(until > now && until <= now + Duration::from_secs(1));
        // Until then the cached text serves: a planted one shows.
        let planted = *b"Sun, 06 Nov 1994 08:49:37 GMT";
        CACHE.with(|c| c.borrow_mut().text = planted);
        assert_eq!(with_date(until - Duration::from_nanos(1), |d| *d), planted);
        // From then on the wall clock is read again.
        let before = wall();
        let next = with_date(until, |d| *d);
        assert!(
            next == before || next == wall(),
            "{:?}",
            std::str::from_utf8(&next)
        );
    }

    #[test]
    fn formats_rfc_example() {
        // RFC 9110 §5.6.7: Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(
            &format_imf_fixdate(784_111_777),
            b"Sun, 06 Nov 1994 08:49:37 GMT"
        );
    }

    #[test]
    fn formats_leap_day() {
        // 2024-02-29 12:00:00 UTC
        assert_eq!(
            &format_imf_fixdate(1_709_208_000),
            b"Thu, 29 Feb 2024 12:00:00 GMT"
        );
    }
}
