//! Host names, normalised once for every place that compares them:
//! configured server names, SNI (RFC 6066 §3), `Host` (RFC 9110 §7.2) and
//! `:authority` (RFC 9113 §8.3.1). A name is compared lowercased
//! (RFC 9110 §4.2.3: the host is case-insensitive), without a port, without
//! userinfo and without a trailing dot (a fully qualified `example.com.`
//! names the same host).

/// The longest host name compared (RFC 1035 §2.3.4: 255 octets).
pub(crate) const MAX_HOST: usize = 255;

/// The host of an authority (`user@Host:port`), as sent: no userinfo, no
/// port (RFC 3986 §3.2.3: `port = *DIGIT`; anything else after the last
/// colon is not a port and stays). IPv6 literals keep their brackets
/// (`[::1]:80` → `[::1]`).
pub(crate) fn authority_host(authority: &str) -> &str {
    // Byte searches: this runs on every request, and `char` patterns cost
    // several times more on these short strings.
    let bytes = authority.as_bytes();
    let start = bytes.iter().rposition(|&b| b == b'@').map_or(0, |i| i + 1);
    let host = bytes.get(start..).unwrap_or_default();
    let end = if host.first() == Some(&b'[') {
        host.iter()
            .position(|&b| b == b']')
            .map_or(host.len(), |i| i + 1)
    } else {
        match host.iter().rposition(|&b| b == b':') {
            Some(colon)
                if host
                    .get(colon + 1..)
                    .unwrap_or_default()
                    .iter()
                    .all(u8::is_ascii_digit) =>
            {
                colon
            }
            _ => host.len(),
        }
    };
    // Both ends are at ASCII bytes (or the string's ends): char boundaries.
    authority.get(start..start + end).unwrap_or(authority)
}

/// The normalised host of `authority` in `scratch`, without allocating;
/// `None` for names longer than any DNS name or not UTF-8.
pub(crate) fn normalize_into<'a>(
    authority: &str,
    scratch: &'a mut [u8; MAX_HOST],
) -> Option<&'a str> {
    let h = authority_host(authority).trim_end_matches('.');
    let out = scratch.get_mut(..h.len())?;
    for (o, b) in out.iter_mut().zip(h.bytes()) {
        *o = b.to_ascii_lowercase();
    }
    std::str::from_utf8(out).ok()
}

/// The normalised host of `authority`, allocated (configuration, SNI).
pub(crate) fn normalize(authority: &str) -> String {
    authority_host(authority)
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_normal_form() {
        for raw in [
            "Example.COM",
            "example.com.",
            "example.com:8080",
            "user@EXAMPLE.com:1",
            "example.com.:443",
        ] {
            assert_eq!(normalize(raw), "example.com", "{raw}");
            let mut s = [0u8; MAX_HOST];
            assert_eq!(normalize_into(raw, &mut s), Some("example.com"), "{raw}");
        }
        assert_eq!(normalize("[::1]:80"), "[::1]");
        // Not a port: kept (and so matches no configured name).
        assert_eq!(normalize("a.test:http"), "a.test:http");
        assert_eq!(normalize("a.test:"), "a.test");
        assert_eq!(normalize("[::1]"), "[::1]");
        let long = "a".repeat(300);
        let mut s = [0u8; MAX_HOST];
        assert_eq!(normalize_into(&long, &mut s), None);
    }
}
