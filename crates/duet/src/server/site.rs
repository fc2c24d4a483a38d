//! A listener's virtual servers: the one virtual-host table (the same for
//! SNI and for `Host` / `:authority`), admission of each request under the
//! limits of the server it is for, and dispatch to that server's routes
//! (a handler panic becomes 500).

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{StatusCode, Uri};

use crate::app::body::Body;
use crate::app::context::ConnContext;
use crate::app::response::Response;
use crate::app::router::{self, request_host, Router};
use crate::app::server::VHostParts;
use crate::app::service::{BodyLimit, Preempted, Route};
use crate::config::Limits;
use crate::error::Error;
use crate::proto::http::host::{normalize_into, MAX_HOST};
use crate::proto::http::Unbuilt;
use crate::proto::http::{admit, Admitted, Answer, Fields, RequestFacts};

/// Which virtual server of a port answers a host name: the one claiming
/// the name, else the port's fallback (the server marked default, else the
/// one without hostname). One table per port, used for SNI during the TLS
/// handshake and for `Host` / `:authority` on every request, so both
/// always agree. A name claimed twice on a port is a configuration error.
#[derive(Debug)]
pub(crate) struct VhostTable {
    by_name: HashMap<String, usize>,
    fallback: Option<usize>,
    /// One server without hostname: every request is its (no lookup).
    only: bool,
}

impl VhostTable {
    /// The table of the servers of `addr`, in order.
    pub(crate) fn new(addr: SocketAddr, servers: &[VHostParts]) -> Result<VhostTable, Error> {
        let mut by_name = HashMap::new();
        let mut default = None;
        let mut unnamed = None;
        for (i, s) in servers.iter().enumerate() {
            for n in &s.hostnames {
                if by_name.insert(n.clone(), i).is_some() {
                    return Err(Error::DuplicateHostname {
                        addr,
                        name: n.clone(),
                    });
                }
            }
            if s.is_default {
                if default.is_some() {
                    return Err(Error::TwoDefaults { addr });
                }
                default = Some(i);
            }
            if s.hostnames.is_empty() {
                if unnamed.is_some() {
                    return Err(Error::TwoWithoutHostname { addr });
                }
                unnamed = Some(i);
            }
        }
        Ok(VhostTable {
            only: servers.len() == 1 && by_name.is_empty(),
            by_name,
            fallback: default.or(unnamed),
        })
    }

    /// The server for a normalised host name (or none sent).
    pub(crate) fn lookup(&self, host: Option<&str>) -> Option<usize> {
        host.and_then(|h| self.by_name.get(h).copied())
            .or(self.fallback)
    }

    /// The server for an authority as sent (`Example.com:8443`), which is
    /// not even read when one server without hostname takes every request.
    pub(crate) fn lookup_authority<'a>(
        &self,
        authority: impl FnOnce() -> Option<&'a str>,
    ) -> Option<usize> {
        if self.only {
            return Some(0);
        }
        let mut scratch = [0u8; MAX_HOST];
        self.lookup(authority().and_then(|a| normalize_into(a, &mut scratch)))
    }
}

/// One virtual server.
pub(crate) struct VHost {
    router: Router,
    /// The server's layers around its router, if it has layers.
    stack: Option<Route>,
    limits: Limits,
    h2c_upgrade: bool,
    /// The server answers CONNECT tunnels.
    tunnels: bool,
}

/// The virtual servers sharing one listener.
pub(crate) struct Site {
    vhosts: Vec<VHost>,
    table: Arc<VhostTable>,
    /// True when the listener is TLS: a request naming another virtual
    /// server than the SNI of its connection is answered 421.
    tls: bool,
}

/// A request admission refused: the answer, and the virtual server it was
/// for when that is known (its layers see the answer).
#[derive(Debug)]
pub(crate) struct Rejected {
    vhost: Option<usize>,
    /// The answer.
    pub(crate) answer: Answer,
}

/// A request admitted by its virtual server.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Admission {
    vhost: usize,
    /// How the exchange layer admitted it (body budget, 100-continue).
    pub(crate) admitted: Admitted,
    /// Whether this server takes an HTTP/1.1 `Upgrade: h2c`.
    pub(crate) h2c_upgrade: bool,
}

impl Site {
    /// The site of `servers` (all of one port), looked up through `table`.
    pub(crate) fn new(servers: Vec<VHostParts>, table: Arc<VhostTable>, tls: bool) -> Site {
        Site {
            vhosts: servers
                .into_iter()
                .map(|mut p| VHost {
                    tunnels: p.router.has_connect(),
                    stack: p.stack(),
                    router: p.router,
                    limits: p.limits,
                    h2c_upgrade: p.h2c_upgrade && !tls,
                })
                .collect(),
            table,
            tls,
        }
    }

    /// Chooses the request's virtual server and admits the request under
    /// its limits (`proto::http::admit`); the error is the answer to send.
    pub(crate) fn admit(
        &self,
        req: &RequestFacts<'_>,
        conn: &ConnContext,
    ) -> Result<Admission, Rejected> {
        let vi = self
            .vhost_for(req.uri, req.fields, conn)
            .map_err(|answer| Rejected {
                vhost: None,
                answer,
            })?;
        let Some(v) = self.vhosts.get(vi) else {
            return Err(Rejected {
                vhost: None,
                answer: misdirected("no server for this host on this port"),
            });
        };
        let admitted = admit(req, &v.limits, v.tunnels).map_err(|answer| Rejected {
            vhost: Some(vi),
            answer,
        })?;
        Ok(Admission {
            vhost: vi,
            admitted,
            h2c_upgrade: v.h2c_upgrade,
        })
    }

    /// The response to a refused request through its server's layers, when
    /// it has any; `None` when it has none (answer it as it is).
    pub(crate) fn layered_answer(
        &self,
        rejected: &Rejected,
        parts: http::request::Parts,
        conn: &ConnContext,
    ) -> Option<Dispatch> {
        let stack = rejected
            .vhost
            .and_then(|vi| self.vhosts.get(vi))
            .and_then(|v| v.stack.as_ref())?;
        let mut req = http::Request::from_parts(parts, Body::empty());
        req.extensions_mut().insert(conn.clone());
        req.extensions_mut()
            .insert(Preempted(rejected.answer.clone()));
        Some(Dispatch(
            router::Dispatch::service(stack.oneshot(req)),
            None,
        ))
    }

    /// The response to a request admission refused: through its server's
    /// layers when it has any (so CORS, compression, tracing see duet's
    /// own 413s and 417s), else the answer as it is. The request's body is
    /// not given to anyone.
    pub(crate) fn answer(
        &self,
        rejected: Rejected,
        parts: http::request::Parts,
        conn: &ConnContext,
    ) -> Dispatch {
        let stack = rejected
            .vhost
            .and_then(|vi| self.vhosts.get(vi))
            .and_then(|v| v.stack.as_ref());
        Dispatch(
            match stack {
                None => router::Dispatch::ready(Response::from_answer(&rejected.answer)),
                Some(stack) => {
                    let mut req = http::Request::from_parts(parts, Body::empty());
                    req.extensions_mut().insert(conn.clone());
                    req.extensions_mut().insert(Preempted(rejected.answer));
                    router::Dispatch::service(stack.oneshot(req))
                }
            },
            None,
        )
    }

    fn vhost_for(
        &self,
        uri: &Uri,
        fields: Fields<'_>,
        conn: &ConnContext,
    ) -> Result<usize, Answer> {
        let Some(vi) = self.table.lookup_authority(|| request_host(uri, fields)) else {
            return Err(misdirected("no server for this host on this port"));
        };
        if self.tls {
            // RFC 9110 §15.5.20: the connection was set up (SNI, certificate)
            // for another virtual server than the one the request names.
            let mut scratch = [0u8; MAX_HOST];
            let sni = conn
                .server_name()
                .and_then(|s| normalize_into(s, &mut scratch));
            if self.table.lookup(sni) != Some(vi) {
                return Err(misdirected("this connection is for another host"));
            }
        }
        Ok(vi)
    }

    /// Answers an admitted request: through the server's layers, if it has
    /// any, to its routes, inside the request's `span` (when enabled: the
    /// router records the route it matched). Never panics: a handler panic
    /// becomes 500. `fields`: the request's field section as it arrived, not yet
    /// built into `parts`' headers (built here for layers; the router builds
    /// it for the handlers and services that read it). The head comes
    /// boxed and reaches the router's handler context without a copy.
    #[inline]
    pub(crate) fn dispatch(
        &self,
        admission: &Admission,
        parts: Box<http::request::Parts>,
        body: Body,
        fields: Option<Unbuilt>,
        conn: &ConnContext,
        span: Option<&tracing::Span>,
    ) -> Dispatch {
        match span {
            Some(span) if !span.is_disabled() => {
                let _in = span.enter();
                let mut d = self.route(admission, parts, body, fields, conn);
                d.1 = Some(span.clone());
                d
            }
            _ => self.route(admission, parts, body, fields, conn),
        }
    }

    #[inline]
    fn route(
        &self,
        admission: &Admission,
        parts: Box<http::request::Parts>,
        body: Body,
        fields: Option<Unbuilt>,
        conn: &ConnContext,
    ) -> Dispatch {
        let Some(vhost) = self.vhosts.get(admission.vhost) else {
            return Dispatch(router::Dispatch::ready(Response::not_found()), None);
        };
        let limit = admission.admitted.budget.limit();
        Dispatch(
            match &vhost.stack {
                // No layers: the router directly (the hot path, no extensions).
                None => vhost
                    .router
                    .dispatch(parts, fields, body, conn.clone(), limit),
                Some(stack) => {
                    let mut parts = *parts;
                    router::build_headers(&mut parts, fields);
                    let mut req = http::Request::from_parts(parts, body);
                    req.extensions_mut().insert(conn.clone());
                    req.extensions_mut().insert(BodyLimit(limit));
                    router::Dispatch::service(stack.oneshot(req))
                }
            },
            None,
        )
    }
}

/// The future answering one request, run inside the request span when it
/// has one.
pub(crate) struct Dispatch(router::Dispatch, Option<tracing::Span>);

impl Future for Dispatch {
    type Output = http::Response<Body>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let _in = this.1.as_ref().map(tracing::Span::enter);
        match Pin::new(&mut this.0).poll(cx) {
            Poll::Ready(Ok(r)) => Poll::Ready(r),
            Poll::Ready(Err(never)) => match never {},
            Poll::Pending => Poll::Pending,
        }
    }
}

fn misdirected(why: &'static str) -> Answer {
    Answer::new(StatusCode::MISDIRECTED_REQUEST, why)
}
