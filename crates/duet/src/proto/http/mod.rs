//! The exchange: the HTTP semantics every version shares (RFC 9110), once.
//!
//! The version cores (`proto::h1`, `proto::h2`) turn bytes into request
//! heads and bodies and responses back into bytes; the drivers move those
//! bytes. Everything in between that does not depend on the version is
//! decided here, sans-I/O, and the same way for HTTP/1.1, HTTP/2 and any
//! later version:
//!
//! - `admit`: after the virtual host is chosen, whether a request is
//!   served at all — that host's body limit (413 as soon as it is known to
//!   be crossed), method and target checks (501, 414), expectations (417),
//!   and the one `Expect: 100-continue` policy (`Expect`).
//! - `BodyBudget`: the body limit while a request body arrives.
//! - `frame_response`: how a response is framed — no body for HEAD and
//!   for 1xx/204/304, the handler's `Content-Length` kept when it agrees
//!   with the body, a known length sent as such (`Framing`).
//! - `SentBody`: a response body must match the length it declared.
//! - `Answer`: the one format of every answer duet makes itself
//!   (404, 405, 400, 408, 413, 414, 421, 431, 500, …).
//! - `AccessRecord`: one record per request, written when its last byte
//!   is sent (or it ends otherwise), whoever answered it.
//! - `ShutdownAction`: what graceful shutdown does to a response body
//!   still being sent, from a property of the body, not its headers.
//! - `host`: one normalisation of host names, for `Host`, `:authority`,
//!   SNI and configured names alike.
//! - `upgrade`: switching protocols — which requests ask (`Upgrade`,
//!   CONNECT, extended CONNECT) and which responses grant it.

mod access;
mod admit;
mod answer;
mod framing;
pub(crate) mod host;
pub(crate) mod names;
pub(crate) mod spares;
mod unbuilt;
pub(crate) mod upgrade;

pub(crate) use access::{AccessRecord, Outcome, Protocol};
pub(crate) use admit::{admit, Admitted, BodyBudget, Expect, Fields, RequestFacts};
pub(crate) use answer::{Answer, ERROR_CONTENT_TYPE};
pub(crate) use framing::{frame_response, shutdown_action, Framing, SentBody, ShutdownAction};
pub(crate) use unbuilt::Unbuilt;

/// Drives the exchange layer with arbitrary input, for the fuzz target
/// `exchange` (`fuzz/`): a request head parsed from the bytes (when they
/// hold one) is admitted under tight and default limits, and a response of
/// the status, headers and length the bytes pick is framed; host names and
/// answers are built from the same bytes. Besides "never panics" it checks
/// the invariants the drivers rely on. Not API.
#[cfg(feature = "unstable-fuzz")]
#[doc(hidden)]
pub fn fuzz_exchange(data: &[u8]) {
    use crate::config::Limits;

    let Some((&knobs, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);

    // One normal form: lowercase, no trailing dot, the same whether
    // allocated or not.
    let once = host::normalize(&text);
    assert!(!once.bytes().any(|b| b.is_ascii_uppercase()), "lowercase");
    assert!(!once.ends_with('.'), "no trailing dot");
    let mut scratch = [0u8; host::MAX_HOST];
    if let Some(n) = host::normalize_into(&text, &mut scratch) {
        assert_eq!(n, once);
    }

    // Every answer's body is as long as it says.
    let status = http::StatusCode::from_u16(100 + u16::from(knobs) * 2 % 500).unwrap_or_default();
    let answer = Answer::new(status, text.clone().into_owned());
    assert_eq!(answer.body().len(), answer.body_len());

    // Admission of whatever request head the bytes hold.
    let tight = Limits {
        max_body_bytes: u64::from(knobs),
        max_uri_bytes: usize::from(knobs) + 1,
        ..Limits::default()
    };
    for limits in [Limits::default(), tight] {
        if let Ok(Some((head, _))) = crate::proto::h1::parse_request(rest, &limits) {
            let declared = match head.body {
                crate::proto::h1::BodyKind::Length(n) => Some(n),
                _ => None,
            };
            let facts = RequestFacts {
                method: &head.method,
                uri: &head.uri,
                version: head.version,
                fields: Fields::Block(&head.fields),
                declared_len: declared,
                has_body: head.body != crate::proto::h1::BodyKind::None,
            };
            // Whether the virtual server answers plain CONNECT: both ways.
            let tunnels = knobs & 2 != 0;
            match admit(&facts, &limits, tunnels) {
                Ok(ok) => {
                    if let Some(n) = declared {
                        assert!(
                            n <= ok.budget.limit(),
                            "a declared body over the limit admitted"
                        );
                    }
                }
                Err(a) => assert!(a.status().as_u16() >= 204, "admission answers"),
            }
            // Frame a response with the request's headers as the handler's.
            let head_request = head.method == http::Method::HEAD;
            let body_len = (knobs & 1 == 0).then_some(u64::from(knobs));
            let headers = head.fields.to_map(&head.uri);
            let framing = frame_response(status, &headers, head_request, body_len);
            if head_request
                || status.is_informational()
                || status.as_u16() == 204
                || status.as_u16() == 304
            {
                assert!(!framing.has_body(), "no body for HEAD/1xx/204/304");
            }
            if status.is_informational() || status.as_u16() == 204 {
                assert_eq!(
                    framing.content_length(),
                    None,
                    "no Content-Length in 1xx/204"
                );
            }
            if let (Framing::Length(n), Some(len)) = (framing, body_len) {
                assert_eq!(n, len, "a known body is framed at its length");
            }
            let mut sent = SentBody::new(framing);
            let _ = sent.chunk(usize::from(knobs));
            let _ = sent.end();
        }
    }
}

/// Whether `headers` certainly lacks `name`, found by scanning the names
/// of a small map (the usual message has a handful of fields, and
/// comparing a few standard names costs less than hashing one); a large
/// map is not scanned (`false`: look it up).
pub(crate) fn lacks(headers: &http::HeaderMap, name: &http::header::HeaderName) -> bool {
    headers.keys_len() <= SCANNED && !headers.keys().any(|k| k == name)
}

/// Up to this many distinct names, a map is scanned rather than hashed.
const SCANNED: usize = 8;

#[cfg(test)]
mod lookup_tests {
    use super::*;
    use http::header::{HeaderName, HeaderValue, CONTENT_LENGTH, HOST};

    /// Scanned or not, the answer is the map's own.
    #[test]
    fn small_and_large_maps_answer_as_the_map_does() {
        for extra in [0usize, 3, 20] {
            let mut m = http::HeaderMap::new();
            for i in 0..extra {
                let name = HeaderName::from_bytes(format!("x-f{i}").as_bytes()).unwrap();
                m.insert(name, HeaderValue::from_static("v"));
            }
            m.append(HOST, HeaderValue::from_static("a.test"));
            m.append(HOST, HeaderValue::from_static("b.test"));
            assert!(!lacks(&m, &HOST));
            // A large map is not scanned: "lacks" answers only for small ones.
            assert_eq!(lacks(&m, &CONTENT_LENGTH), m.keys_len() <= 8, "{extra}");
        }
    }
}
