//! The field names most requests carry, recognised without the general
//! path of `HeaderName::from_bytes` (lower-casing the name into a buffer,
//! then matching it against every standard name): a match on the length
//! and one comparison. Names are tokens (RFC 9110 §5.1) and
//! case-insensitive (§5.1: "Field names are case-insensitive").

use http::header::{self, HeaderName};

/// The standard `HeaderName` for `raw` when it is one of the request
/// fields clients commonly send, in any case; `None` for every other name
/// (the caller then takes the general path).
///
/// `raw` must already be a valid token (httparse and the HTTP/2 field
/// checks ensure it): the comparison folds case by setting bit 0x20,
/// which is exact for letters and `-` but would also fold bytes no token
/// holds (CR to `-`).
#[inline]
pub(crate) fn common(raw: &[u8]) -> Option<HeaderName> {
    let is = |lower: &[u8]| {
        raw.len() == lower.len() && raw.iter().zip(lower).all(|(&a, &b)| a | 0x20 == b)
    };
    Some(match raw.len() {
        4 if is(b"host") => header::HOST,
        6 if is(b"accept") => header::ACCEPT,
        6 if is(b"cookie") => header::COOKIE,
        6 if is(b"origin") => header::ORIGIN,
        6 if is(b"expect") => header::EXPECT,
        6 if is(b"pragma") => header::PRAGMA,
        7 if is(b"referer") => header::REFERER,
        7 if is(b"upgrade") => header::UPGRADE,
        10 if is(b"user-agent") => header::USER_AGENT,
        10 if is(b"connection") => header::CONNECTION,
        12 if is(b"content-type") => header::CONTENT_TYPE,
        13 if is(b"authorization") => header::AUTHORIZATION,
        13 if is(b"cache-control") => header::CACHE_CONTROL,
        13 if is(b"if-none-match") => header::IF_NONE_MATCH,
        14 if is(b"content-length") => header::CONTENT_LENGTH,
        15 if is(b"accept-encoding") => header::ACCEPT_ENCODING,
        15 if is(b"accept-language") => header::ACCEPT_LANGUAGE,
        17 if is(b"transfer-encoding") => header::TRANSFER_ENCODING,
        17 if is(b"if-modified-since") => header::IF_MODIFIED_SINCE,
        _ => return None,
    })
}

/// RFC 9110 §5.6.2: whether `b` is a `tchar` (a byte of a token, such as
/// a field name).
#[inline]
pub(crate) fn is_tchar(b: u8) -> bool {
    TCHAR[usize::from(b)]
}

/// [`is_tchar`] by byte.
static TCHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        i += 1;
    }
    t
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tchar_is_what_a_header_name_may_hold() {
        for b in 0..=255u8 {
            assert_eq!(
                is_tchar(b),
                HeaderName::from_bytes(&[b]).is_ok(),
                "byte {b:#04x}"
            );
        }
    }

    #[test]
    fn common_names_match_the_general_lookup_in_any_case() {
        for name in [
            "host",
            "accept",
            "cookie",
            "origin",
            "expect",
            "pragma",
            "referer",
            "upgrade",
            "user-agent",
            "connection",
            "content-type",
            "authorization",
            "cache-control",
            "if-none-match",
            "content-length",
            "accept-encoding",
            "accept-language",
            "transfer-encoding",
            "if-modified-since",
        ] {
            let general = HeaderName::from_bytes(name.as_bytes()).unwrap();
            for spelled in [name.to_string(), name.to_uppercase(), mixed(name)] {
                assert_eq!(
                    common(spelled.as_bytes()),
                    Some(general.clone()),
                    "{spelled}"
                );
            }
        }
        for other in [
            "hosts",
            "hos",
            "x-host",
            "accepts",
            "user_agent",
            "dnt",
            "sec-fetch-mode",
            "",
        ] {
            assert_eq!(common(other.as_bytes()), None, "{other}");
        }
    }

    fn mixed(name: &str) -> String {
        name.chars()
            .enumerate()
            .map(|(i, c)| {
                if i % 2 == 0 {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect()
    }
}
