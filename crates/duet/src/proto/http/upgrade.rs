//! Switching protocols, on every version: which requests ask for it, and
//! which responses grant it.
//!
//! - HTTP/1.1 `Upgrade` (RFC 9110 §7.8): a request whose `Connection`
//!   lists `upgrade` and that carries an `Upgrade` field; granted by a
//!   `101 Switching Protocols` that names the protocol in its own `Upgrade`
//!   field (§15.2.2). The version cores take only requests without content
//!   (a WebSocket handshake has none), so that nothing of the old protocol
//!   is left between the request and the new protocol's first byte.
//! - `CONNECT` (RFC 9110 §9.3.6): a tunnel to the authority, granted by any
//!   2xx; on HTTP/2 one stream carries it (RFC 9113 §8.5).
//! - Extended CONNECT (RFC 8441 §4; RFC 9220 on HTTP/3): a `CONNECT` with a
//!   `:protocol` pseudo-header and a `:path`, that names a resource served
//!   by its route; granted by a 2xx as well.
//!
//! A response that would grant an upgrade nobody takes (no handler holds
//! the connection's future) or that asks for one the request did not
//! offer is the server's mistake, not a switch: it is answered 500 in the
//! one answer format instead of leaving the peer with a silent connection.

use http::header::UPGRADE;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, Version};

use super::answer::Answer;

/// The upgrade a request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Asked {
    /// HTTP/1.1 `Upgrade` (RFC 9110 §7.8): granted by 101.
    Upgrade,
    /// `CONNECT`, plain or extended: granted by a 2xx.
    Connect,
}

/// The `:protocol` of an extended CONNECT (RFC 8441 §4), as the version
/// core found it: a request extension, set only on such requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ConnectProtocol(pub(crate) HeaderValue);

/// The upgrade a request asks for, if any: `has_upgrade` is the HTTP/1.1
/// core's finding that `Connection` lists `upgrade` and `Upgrade` is
/// present; `has_content` whether the request has content.
pub(crate) fn asked(
    method: &Method,
    version: Version,
    has_upgrade: bool,
    has_content: bool,
) -> Option<Asked> {
    if has_content {
        return None;
    }
    if method == Method::CONNECT {
        return Some(Asked::Connect);
    }
    // RFC 9110 §7.8: Upgrade is ignored in an HTTP/1.0 request; HTTP/2 has
    // no Upgrade (RFC 9113 §8.6).
    (has_upgrade && version == Version::HTTP_11).then_some(Asked::Upgrade)
}

/// True for a CONNECT that opens a plain tunnel to an authority (RFC 9110
/// §9.3.6), not an extended CONNECT, which targets a path (RFC 8441 §4).
pub(crate) fn is_tunnel(method: &Method, uri: &Uri) -> bool {
    method == Method::CONNECT && uri.path_and_query().is_none()
}

/// What becomes of a response to a request that may switch protocols.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Granted {
    /// The response switches: its head goes out without framing and the
    /// connection (HTTP/1.1) or stream (HTTP/2) is handed to whoever took
    /// the upgrade.
    Switch,
    /// An ordinary response.
    No,
    /// The response cannot be honoured: send this answer instead.
    Invalid(Answer),
}

/// Whether a response with `status` and `headers` grants the upgrade
/// `asked` (if the request asked for one); `taken`: someone holds the
/// future of the upgraded connection.
pub(crate) fn granted(
    asked: Option<Asked>,
    status: StatusCode,
    headers: &HeaderMap,
    taken: bool,
) -> Granted {
    match asked {
        Some(Asked::Upgrade) if status == StatusCode::SWITCHING_PROTOCOLS => {
            // RFC 9110 §15.2.2: the 101 names the protocol switched to.
            if !headers.contains_key(UPGRADE) {
                return invalid("a 101 response without an Upgrade field");
            }
            if !taken {
                return invalid("a 101 response nobody took the connection for");
            }
            Granted::Switch
        }
        Some(Asked::Connect) if status.is_success() => {
            if !taken {
                return invalid("a 2xx response to CONNECT that opened no tunnel");
            }
            Granted::Switch
        }
        // RFC 9110 §15.2.2: never switch to what the request did not offer.
        _ if status == StatusCode::SWITCHING_PROTOCOLS => {
            invalid("a 101 response to a request that asked for no upgrade")
        }
        _ => Granted::No,
    }
}

fn invalid(why: &'static str) -> Granted {
    tracing::warn!(target: "duet", "handler error: {why}; answering 500");
    Granted::Invalid(Answer::new(StatusCode::INTERNAL_SERVER_ERROR, why))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_upgrade() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(UPGRADE, HeaderValue::from_static("websocket"));
        h
    }

    #[test]
    fn what_requests_ask_for() {
        let v11 = Version::HTTP_11;
        assert_eq!(asked(&Method::GET, v11, true, false), Some(Asked::Upgrade));
        // RFC 9110 §7.8: ignored on HTTP/1.0; never with content.
        assert_eq!(asked(&Method::GET, Version::HTTP_10, true, false), None);
        assert_eq!(asked(&Method::POST, v11, true, true), None);
        assert_eq!(asked(&Method::GET, v11, false, false), None);
        assert_eq!(
            asked(&Method::CONNECT, Version::HTTP_2, false, false),
            Some(Asked::Connect)
        );
        assert!(is_tunnel(
            &Method::CONNECT,
            &"a.example:443".parse().unwrap()
        ));
        assert!(!is_tunnel(
            &Method::CONNECT,
            &"https://a/ws".parse().unwrap()
        ));
        assert!(!is_tunnel(&Method::GET, &"/".parse().unwrap()));
    }

    fn status(g: Granted) -> u16 {
        match g {
            Granted::Switch => 101,
            Granted::No => 0,
            Granted::Invalid(a) => a.status().as_u16(),
        }
    }

    #[test]
    fn rfc9110_15_2_2_a_101_switches_only_to_what_was_offered() {
        let s101 = StatusCode::SWITCHING_PROTOCOLS;
        let up = Some(Asked::Upgrade);
        assert_eq!(granted(up, s101, &with_upgrade(), true), Granted::Switch);
        assert_eq!(status(granted(up, s101, &HeaderMap::new(), true)), 500);
        assert_eq!(status(granted(up, s101, &with_upgrade(), false)), 500);
        assert_eq!(status(granted(None, s101, &with_upgrade(), true)), 500);
        // Upgrade is optional for the server: an ordinary answer is fine.
        assert_eq!(
            granted(up, StatusCode::OK, &HeaderMap::new(), true),
            Granted::No
        );
    }

    #[test]
    fn rfc9110_9_3_6_any_2xx_opens_a_tunnel() {
        let c = Some(Asked::Connect);
        assert_eq!(
            granted(c, StatusCode::OK, &HeaderMap::new(), true),
            Granted::Switch
        );
        assert_eq!(
            granted(c, StatusCode::ACCEPTED, &HeaderMap::new(), true),
            Granted::Switch
        );
        assert_eq!(
            status(granted(c, StatusCode::OK, &HeaderMap::new(), false)),
            500
        );
        assert_eq!(
            granted(c, StatusCode::FORBIDDEN, &HeaderMap::new(), true),
            Granted::No
        );
    }
}
