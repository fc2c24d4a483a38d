//! The PROXY protocol header (HAProxy's `proxy-protocol.txt`, versions 1
//! and 2) at the start of a connection from a load balancer: framed here,
//! parsed by the `ppp` crate.
//!
//! The header is read without reading past it (the specification asks
//! receivers not to): what follows it is the client's — a TLS ClientHello,
//! the HTTP/2 preface, an HTTP/1.1 request — and is left in the socket for
//! the protocol selection in `accept.rs`. The bytes are peeked, and only
//! those that belong to the header are consumed.

use std::fmt;
use std::io;
use std::net::SocketAddr;

use ppp::{v1, v2, HeaderResult};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// The version 2 signature (§2.2).
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// A version 2 header's fixed part: signature, version and command,
/// family and transport, length (§2.2).
const V2_FIXED: usize = 16;
/// A version 1 header starts with this (§2.1).
const V1_PREFIX: &[u8; 6] = b"PROXY ";
/// The longest version 1 header, CRLF included (§2.1).
const V1_MAX: usize = 107;

/// How much of `seen` (the first bytes of a connection) is the header.
#[derive(Debug, PartialEq, Eq)]
enum Framing {
    /// The header is the first `n` bytes.
    Whole(usize),
    /// Every byte seen belongs to the header and more are needed; the
    /// header's full length when already known.
    Need(Option<usize>),
    /// Not a PROXY header.
    NotAHeader,
}

/// Where the header in `seen` ends, without parsing it.
fn frame(seen: &[u8]) -> Framing {
    let Some(&first) = seen.first() else {
        return Framing::Need(None);
    };
    if first == V2_SIGNATURE[0] {
        let n = seen.len().min(V2_SIGNATURE.len());
        if seen[..n] != V2_SIGNATURE[..n] {
            return Framing::NotAHeader;
        }
        let Some(len) = seen.get(14..16) else {
            return Framing::Need(None);
        };
        let total = V2_FIXED + usize::from(u16::from_be_bytes([len[0], len[1]]));
        return if seen.len() >= total {
            Framing::Whole(total)
        } else {
            Framing::Need(Some(total))
        };
    }
    let n = seen.len().min(V1_PREFIX.len());
    if seen[..n] != V1_PREFIX[..n] {
        return Framing::NotAHeader;
    }
    // The header ends at its first CR, which must be followed by LF.
    let window = &seen[..seen.len().min(V1_MAX)];
    match window.iter().position(|&b| b == b'\r') {
        Some(cr) => match window.get(cr + 1) {
            Some(b'\n') => Framing::Whole(cr + 2),
            Some(_) => Framing::NotAHeader,
            None if cr + 2 > V1_MAX => Framing::NotAHeader,
            None => Framing::Need(None),
        },
        None if seen.len() >= V1_MAX => Framing::NotAHeader,
        None => Framing::Need(None),
    }
}

/// Why a connection's PROXY header was refused.
#[derive(Debug)]
pub(crate) enum HeaderError {
    /// The connection closed (or failed) before the header was whole.
    Io(io::Error),
    /// The first bytes are not a PROXY header.
    Missing,
    /// The header is framed but does not parse.
    Malformed(String),
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderError::Io(e) => write!(f, "connection failed before the header: {e}"),
            HeaderError::Missing => f.write_str("no PROXY protocol header"),
            HeaderError::Malformed(why) => write!(f, "malformed PROXY protocol header: {why}"),
        }
    }
}

/// The client address a whole header carries: `None` when it carries
/// none the connection should report (v2 `LOCAL`, v1 `UNKNOWN`, a family
/// other than TCP over IPv4 or IPv6).
fn client_addr(header: &[u8]) -> Result<Option<SocketAddr>, HeaderError> {
    let bad = |e: &dyn fmt::Display| HeaderError::Malformed(e.to_string());
    match HeaderResult::parse(header) {
        HeaderResult::V1(Ok(h)) => Ok(match h.addresses {
            v1::Addresses::Tcp4(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
            v1::Addresses::Tcp6(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
            v1::Addresses::Unknown => None,
        }),
        HeaderResult::V2(Ok(h)) => Ok(match (h.command, h.addresses) {
            (v2::Command::Local, _) => None,
            (v2::Command::Proxy, v2::Addresses::IPv4(a)) => {
                Some(SocketAddr::from((a.source_address, a.source_port)))
            }
            (v2::Command::Proxy, v2::Addresses::IPv6(a)) => {
                Some(SocketAddr::from((a.source_address, a.source_port)))
            }
            (v2::Command::Proxy, _) => None,
        }),
        HeaderResult::V1(Err(e)) => Err(bad(&e)),
        HeaderResult::V2(Err(e)) => Err(bad(&e)),
    }
}

/// Reads the PROXY header at the start of `stream`, leaving every byte
/// after it unread. Returns the client address it carries (see
/// [`client_addr`]). The caller bounds it in time.
pub(crate) async fn read_header(stream: &mut TcpStream) -> Result<Option<SocketAddr>, HeaderError> {
    // The header's bytes consumed so far.
    let mut head: Vec<u8> = Vec::new();
    let mut peeked = [0u8; 256];
    loop {
        let n = stream.peek(&mut peeked).await.map_err(HeaderError::Io)?;
        if n == 0 {
            return Err(HeaderError::Io(io::ErrorKind::UnexpectedEof.into()));
        }
        let new = &peeked[..n];
        let framing = if head.is_empty() {
            frame(new)
        } else {
            let mut seen = head.clone();
            seen.extend_from_slice(new);
            frame(&seen)
        };
        // Consumes what belongs to the header: it is all in the socket's
        // queue already, except the rest of a v2 header of known length,
        // waited for here.
        let take = match framing {
            Framing::NotAHeader => return Err(HeaderError::Missing),
            Framing::Whole(total) | Framing::Need(Some(total)) => total - head.len(),
            Framing::Need(None) => n,
        };
        let start = head.len();
        head.resize(start + take, 0);
        stream
            .read_exact(&mut head[start..])
            .await
            .map_err(HeaderError::Io)?;
        if matches!(framing, Framing::Whole(_) | Framing::Need(Some(_))) {
            return client_addr(&head);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2(command: u8, family: u8, addresses: &[u8], tlvs: &[u8]) -> Vec<u8> {
        let mut h = V2_SIGNATURE.to_vec();
        h.push(0x20 | command);
        h.push(family);
        let len = (addresses.len() + tlvs.len()) as u16;
        h.extend_from_slice(&len.to_be_bytes());
        h.extend_from_slice(addresses);
        h.extend_from_slice(tlvs);
        h
    }

    const V4: [u8; 12] = [192, 0, 2, 1, 198, 51, 100, 2, 0x9c, 0x40, 0x01, 0xbb];

    #[test]
    fn framing_finds_the_end_of_either_version() {
        let h = v2(1, 0x11, &V4, &[]);
        assert_eq!(frame(&h), Framing::Whole(28));
        let mut more = h.clone();
        more.extend_from_slice(b"GET / HTTP/1.1\r\n");
        assert_eq!(frame(&more), Framing::Whole(28));
        assert_eq!(frame(&h[..15]), Framing::Need(None));
        assert_eq!(frame(&h[..16]), Framing::Need(Some(28)));
        assert_eq!(frame(&h[..27]), Framing::Need(Some(28)));
        let line = b"PROXY TCP4 192.0.2.1 198.51.100.2 40000 443\r\nGET /";
        assert_eq!(frame(line), Framing::Whole(45));
        assert_eq!(frame(&line[..3]), Framing::Need(None));
        assert_eq!(frame(&line[..44]), Framing::Need(None));
        assert_eq!(frame(b""), Framing::Need(None));
    }

    #[test]
    fn framing_refuses_what_is_no_header() {
        assert_eq!(frame(b"GET / HTTP/1.1\r\n"), Framing::NotAHeader);
        assert_eq!(frame(b"PRI * HTTP/2.0"), Framing::NotAHeader);
        assert_eq!(frame(&[0x16, 3, 1]), Framing::NotAHeader, "a TLS record");
        assert_eq!(frame(b"\r\n\r\nX"), Framing::NotAHeader);
        assert_eq!(frame(b"PROXY UNKNOWN\rX"), Framing::NotAHeader);
        let long = [b"PROXY ".as_slice(), &[b'1'; 120]].concat();
        assert_eq!(frame(&long), Framing::NotAHeader);
        let cr_late = [b"PROXY ".as_slice(), &[b'1'; 100], b"\r"].concat();
        assert_eq!(frame(&cr_late), Framing::NotAHeader, "CRLF past 107 bytes");
    }

    #[test]
    fn the_client_address_of_each_kind_of_header() {
        let addr = |s: &str| Some(s.parse::<SocketAddr>().expect("address"));
        let got = client_addr(&v2(1, 0x11, &V4, &[])).expect("v2 tcp4");
        assert_eq!(got, addr("192.0.2.1:40000"));
        let mut v6 = [0u8; 36];
        v6[0] = 0x20;
        v6[1] = 0x01;
        v6[15] = 7;
        v6[32] = 0x30;
        v6[33] = 0x39;
        let got = client_addr(&v2(1, 0x21, &v6, &[])).expect("v2 tcp6");
        assert_eq!(got, addr("[2001::7]:12345"));
        // A TLV (PP2_TYPE_AUTHORITY) after the addresses is skipped.
        let tlv = [0x02, 0, 3, b'a', b'.', b'b'];
        let got = client_addr(&v2(1, 0x11, &V4, &tlv)).expect("v2 with a TLV");
        assert_eq!(got, addr("192.0.2.1:40000"));
        assert_eq!(client_addr(&v2(0, 0x00, &[], &[])).expect("LOCAL"), None);
        assert_eq!(client_addr(&v2(1, 0x00, &[], &[])).expect("UNSPEC"), None);
        let got = client_addr(b"PROXY TCP4 192.0.2.1 198.51.100.2 40000 443\r\n").expect("v1");
        assert_eq!(got, addr("192.0.2.1:40000"));
        let got = client_addr(b"PROXY TCP6 2001::7 2001::8 12345 443\r\n").expect("v1 tcp6");
        assert_eq!(got, addr("[2001::7]:12345"));
        assert_eq!(client_addr(b"PROXY UNKNOWN\r\n").expect("v1 unknown"), None);
    }

    #[test]
    fn malformed_headers_are_errors() {
        for bad in [
            b"PROXY TCP4 192.0.2.1 198.51.100.2 40000\r\n".to_vec(),
            b"PROXY TCP4 192.0.2.999 198.51.100.2 1 2\r\n".to_vec(),
            b"PROXY TCP4 192.0.2.1 198.51.100.2 1 99999\r\n".to_vec(),
            b"PROXY TCP5 192.0.2.1 198.51.100.2 1 2\r\n".to_vec(),
            b"PROXY TCP6 192.0.2.1 198.51.100.2 1 2\r\n".to_vec(),
            b"PROXY  TCP4 192.0.2.1 198.51.100.2 1 2\r\n".to_vec(),
            v2(2, 0x11, &V4, &[]),      // command 2
            v2(1, 0x41, &V4, &[]),      // family 4
            v2(1, 0x11, &V4[..8], &[]), // too short for IPv4
            {
                let mut h = v2(1, 0x11, &V4, &[]);
                h[12] = 0x31; // version 3
                h
            },
        ] {
            assert!(
                matches!(client_addr(&bad), Err(HeaderError::Malformed(_))),
                "{:?}",
                String::from_utf8_lossy(&bad)
            );
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A small deterministic generator: every framing outcome and the
        // parser on whatever it frames.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for round in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 64) as usize;
            let mut bytes: Vec<u8> = (0..len)
                .map(|i| (x.rotate_left(i as u32 * 5) & 0xff) as u8)
                .collect();
            if round % 2 == 0 {
                let prefix: &[u8] = if round % 4 == 0 {
                    V2_SIGNATURE
                } else {
                    V1_PREFIX
                };
                bytes.splice(0..0, prefix.iter().copied());
            }
            if let Framing::Whole(n) = frame(&bytes) {
                let _ = client_addr(&bytes[..n]);
            }
        }
    }
}
