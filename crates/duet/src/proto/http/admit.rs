//! Admission: once the virtual host of a request is known, whether it is
//! served, and under which limits — the same rules on every version.
//!
//! In order:
//!
//! 1. A `CONNECT` tunnel to an authority is answered 501 unless the
//!    virtual server has a CONNECT handler: duet opens no tunnels of its
//!    own (RFC 9110 §9.3.6, §15.6.2). An extended CONNECT (RFC 8441 §4)
//!    names a resource by its `:path` and is admitted like any request.
//! 2. A target longer than `Limits::max_uri_bytes` is answered 414
//!    (RFC 9110 §15.5.15). (HTTP/1.1 also bounds the request line while it
//!    arrives; this is the same limit, for every version.)
//! 3. A server-wide `OPTIONS *` is answered here, 204 with `Allow` left to
//!    the routes (RFC 9110 §9.3.7).
//! 4. Expectations (RFC 9110 §10.1.1): `100-continue` is the only one
//!    defined; any other is answered 417. A `100-continue` on an HTTP/1.0
//!    request, or on a request without a body, is ignored.
//! 5. A declared body length (`Content-Length`) over the virtual host's
//!    `Limits::max_body_bytes` is answered 413 before any body is read
//!    (RFC 9110 §15.5.14); a body without a declared length is counted as
//!    it arrives ([`BodyBudget`]) and fails with 413 the moment it crosses.
//!
//! # The `Expect: 100-continue` policy
//!
//! One policy on every version: `100 Continue` is sent when the
//! application first reads the request body, not before. A handler that
//! answers without reading it (a 401, a 413, a redirect) lets the client
//! skip sending a body it does not need; its final response goes out
//! without a 100. A body too large by its declared length is answered 413
//! without a 100, whoever reads it. (RFC 9110 §10.1.1 allows both an eager
//! and a lazy 100; lazy saves the client the upload when the answer does
//! not depend on the body.)

use http::header::{EXPECT, HOST};
use http::{HeaderMap, Method, StatusCode, Uri, Version};

use super::answer::Answer;
use crate::config::Limits;
use crate::proto::h1::FieldBlock;
use crate::proto::h2::FieldList;

/// What the exchange needs to know of a request head, whatever version
/// carried it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RequestFacts<'a> {
    /// The method.
    pub(crate) method: &'a Method,
    /// The target.
    pub(crate) uri: &'a Uri,
    /// The version the request was sent with.
    pub(crate) version: Version,
    /// The fields.
    pub(crate) fields: Fields<'a>,
    /// The body length the framing declares (`Content-Length`), if any.
    pub(crate) declared_len: Option<u64>,
    /// Whether body bytes may follow the head (HTTP/1.1: a positive
    /// `Content-Length` or chunked; HTTP/2: HEADERS without END_STREAM).
    pub(crate) has_body: bool,
}

/// A request's fields: a built map (services, layers), or a field section
/// as it arrived over HTTP/1.1 or HTTP/2 (built only if something reads
/// it, see [`super::Unbuilt`]).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Fields<'a> {
    /// Built.
    Map(&'a HeaderMap),
    /// As received over HTTP/1.1.
    Block(&'a FieldBlock),
    /// As received over HTTP/2.
    List(&'a FieldList),
}

impl<'a> Fields<'a> {
    /// The Host field's value, if one was sent.
    pub(crate) fn host(self) -> Option<&'a str> {
        match self {
            Fields::Map(map) => map.get(HOST)?.to_str().ok(),
            Fields::Block(block) => block.host(),
            Fields::List(list) => std::str::from_utf8(list.get(b"host")?).ok(),
        }
    }

    /// Calls `f` with every Expect value, in order, until it fails.
    fn each_expectation<E>(self, mut f: impl FnMut(&[u8]) -> Result<(), E>) -> Result<(), E> {
        match self {
            Fields::Map(map) if !super::lacks(map, &EXPECT) => {
                map.get_all(EXPECT).iter().try_for_each(|v| f(v.as_bytes()))
            }
            Fields::Block(block) if block.has_expect() => {
                block.values(EXPECT.as_str()).try_for_each(f)
            }
            Fields::List(list) => list.values(EXPECT.as_str().as_bytes()).try_for_each(f),
            _ => Ok(()),
        }
    }
}

/// When to send `100 Continue`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Expect {
    /// No interim response.
    Nothing,
    /// `100 Continue` when the application first reads the body.
    ContinueOnRead,
}

/// A request admitted: how its body is handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Admitted {
    /// The `100 Continue` decision.
    pub(crate) expect: Expect,
    /// The body limit of the request's virtual host.
    pub(crate) budget: BodyBudget,
}

/// Decides whether a request is served under `limits` (its virtual host's
/// limits); the error is the answer to send instead. See the module docs
/// for the rules and their order.
/// `tunnels`: the virtual server answers plain CONNECT requests.
pub(crate) fn admit(
    req: &RequestFacts<'_>,
    limits: &Limits,
    tunnels: bool,
) -> Result<Admitted, Answer> {
    if !tunnels && super::upgrade::is_tunnel(req.method, req.uri) {
        return Err(Answer::new(
            StatusCode::NOT_IMPLEMENTED,
            "CONNECT is not supported by this server",
        ));
    }
    let target_len = req.uri.path_and_query().map_or(0, |p| p.as_str().len());
    if target_len > limits.max_uri_bytes {
        return Err(Answer::new(
            StatusCode::URI_TOO_LONG,
            "request target too long",
        ));
    }
    if req.method == Method::OPTIONS && req.uri.path() == "*" {
        return Err(Answer::new(StatusCode::NO_CONTENT, "server-wide OPTIONS"));
    }
    let mut expect = Expect::Nothing;
    req.fields.each_expectation(|value| {
        for item in value.split(|&b| b == b',') {
            let item = item.trim_ascii();
            if item.is_empty() {
                continue;
            }
            if !item.eq_ignore_ascii_case(b"100-continue") {
                return Err(Answer::new(
                    StatusCode::EXPECTATION_FAILED,
                    "only the 100-continue expectation is supported",
                ));
            }
            // RFC 9110 §10.1.1: a server MUST ignore 100-continue in an
            // HTTP/1.0 request; without a body there is nothing to wait for.
            if req.version != Version::HTTP_10 && req.has_body {
                expect = Expect::ContinueOnRead;
            }
        }
        Ok(())
    })?;
    let budget = BodyBudget::new(limits.max_body_bytes);
    if let Some(n) = req.declared_len {
        budget.check_declared(n)?;
    }
    Ok(Admitted { expect, budget })
}

/// A virtual host's body limit, counted as the body arrives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BodyBudget {
    limit: u64,
    received: u64,
}

impl BodyBudget {
    /// A budget of `limit` bytes.
    pub(crate) fn new(limit: u64) -> BodyBudget {
        BodyBudget { limit, received: 0 }
    }

    /// The limit.
    pub(crate) fn limit(&self) -> u64 {
        self.limit
    }

    /// 413 when a body declared `n` bytes long would not fit.
    pub(crate) fn check_declared(&self, n: u64) -> Result<(), Answer> {
        if n > self.limit {
            return Err(too_large());
        }
        Ok(())
    }

    /// Counts `n` more received bytes; 413 the moment the total crosses
    /// the limit.
    pub(crate) fn take(&mut self, n: u64) -> Result<(), Answer> {
        self.received = self.received.saturating_add(n);
        if self.received > self.limit {
            return Err(too_large());
        }
        Ok(())
    }
}

fn too_large() -> Answer {
    Answer::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "request body exceeds the configured limit",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    struct Req {
        method: Method,
        uri: Uri,
        version: Version,
        headers: HeaderMap,
        declared_len: Option<u64>,
        has_body: bool,
    }

    impl Req {
        fn new(method: Method, uri: &str) -> Req {
            Req {
                method,
                uri: uri.parse().unwrap(),
                version: Version::HTTP_11,
                headers: HeaderMap::new(),
                declared_len: None,
                has_body: false,
            }
        }
        fn header(mut self, name: &'static str, value: &'static str) -> Req {
            self.headers.append(name, HeaderValue::from_static(value));
            self
        }
        fn body(mut self, declared: Option<u64>) -> Req {
            self.declared_len = declared;
            self.has_body = true;
            self
        }
        fn admit(&self, limits: &Limits) -> Result<Admitted, Answer> {
            admit(
                &RequestFacts {
                    method: &self.method,
                    uri: &self.uri,
                    version: self.version,
                    fields: Fields::Map(&self.headers),
                    declared_len: self.declared_len,
                    has_body: self.has_body,
                },
                limits,
                false,
            )
        }
    }

    fn status(r: Result<Admitted, Answer>) -> u16 {
        match r {
            Ok(_) => 0,
            Err(a) => a.status().as_u16(),
        }
    }

    fn limits(body: u64) -> Limits {
        Limits {
            max_body_bytes: body,
            ..Limits::default()
        }
    }

    #[test]
    fn declared_body_over_the_vhost_limit_is_413_before_reading() {
        let r = Req::new(Method::POST, "/up").body(Some(11));
        assert_eq!(status(r.admit(&limits(10))), 413);
        let ok = r.admit(&limits(11)).unwrap();
        assert_eq!(ok.budget.limit(), 11);
        assert_eq!(ok.expect, Expect::Nothing);
    }

    #[test]
    fn undeclared_body_fails_when_it_crosses_the_limit() {
        let mut b = BodyBudget::new(10);
        assert!(b.take(6).is_ok());
        assert!(b.take(4).is_ok());
        let e = b.take(1).unwrap_err();
        assert_eq!(e.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert!(BodyBudget::new(u64::MAX).take(u64::MAX).is_ok());
    }

    #[test]
    fn continue_is_sent_on_read_for_bodies_only() {
        let r = Req::new(Method::PUT, "/x")
            .header("expect", "100-Continue")
            .body(Some(5));
        assert_eq!(r.admit(&limits(10)).unwrap().expect, Expect::ContinueOnRead);
        // No body: nothing to wait for.
        let r = Req::new(Method::GET, "/x").header("expect", "100-continue");
        assert_eq!(r.admit(&limits(10)).unwrap().expect, Expect::Nothing);
        // RFC 9110 §10.1.1: ignored on HTTP/1.0.
        let mut r = Req::new(Method::PUT, "/x")
            .header("expect", "100-continue")
            .body(Some(5));
        r.version = Version::HTTP_10;
        assert_eq!(r.admit(&limits(10)).unwrap().expect, Expect::Nothing);
        // Too large by its declared length: 413, no 100.
        let r = Req::new(Method::PUT, "/x")
            .header("expect", "100-continue")
            .body(Some(50));
        assert_eq!(status(r.admit(&limits(10))), 413);
    }

    #[test]
    fn unknown_expectations_are_417() {
        let r = Req::new(Method::PUT, "/x")
            .header("expect", "100-continue, x-fancy")
            .body(None);
        assert_eq!(status(r.admit(&limits(10))), 417);
        let r = Req::new(Method::GET, "/x").header("expect", "something");
        assert_eq!(status(r.admit(&limits(10))), 417);
    }

    #[test]
    fn connect_long_targets_and_options_star() {
        let r = Req::new(Method::CONNECT, "example.com:443");
        assert_eq!(status(r.admit(&limits(10))), 501);
        let l = Limits {
            max_uri_bytes: 8,
            ..limits(10)
        };
        assert_eq!(status(Req::new(Method::GET, "/12345678").admit(&l)), 414);
        assert_eq!(status(Req::new(Method::GET, "/1234567").admit(&l)), 0);
        assert_eq!(status(Req::new(Method::GET, "/1?34567").admit(&l)), 0);
        assert_eq!(status(Req::new(Method::GET, "/1?345678").admit(&l)), 414);
        let r = Req::new(Method::OPTIONS, "*");
        assert_eq!(status(r.admit(&limits(10))), 204);
    }
}
