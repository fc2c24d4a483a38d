//! A listener's virtual servers, and dispatch of each request to one of
//! them: choose the server by `Host` / `:authority` (and SNI), route by
//! path and method, run the handler, turn a panic into 500.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use futures_util::FutureExt;
use http::StatusCode;

use crate::app::body::Body;
use crate::app::context::{ConnContext, RequestContext};
use crate::app::extract::RequestHead;
use crate::app::response::Response;
use crate::app::router::{request_host, Match, Router};
use crate::app::server::VHostParts;

pub(crate) struct VHost {
    router: Router,
    state: Arc<http::Extensions>,
    body_limit: u64,
}

/// The virtual servers sharing one listener.
pub(crate) struct Site {
    vhosts: Vec<VHost>,
    by_name: HashMap<String, usize>,
    default: Option<usize>,
    /// True when the listener is TLS: a Host that names another virtual
    /// server than the SNI did is answered 421.
    tls: bool,
}

impl Site {
    pub(crate) fn new(parts: Vec<VHostParts>, tls: bool) -> Result<Site, String> {
        let mut vhosts = Vec::with_capacity(parts.len());
        let mut by_name = HashMap::new();
        let mut default = None;
        let mut unnamed = None;
        for (i, p) in parts.into_iter().enumerate() {
            if let Some(e) = p.errors.first() {
                return Err(e.clone());
            }
            for n in &p.hostnames {
                if by_name.insert(n.clone(), i).is_some() {
                    return Err(format!("hostname {n:?} is served twice on one port"));
                }
            }
            if p.is_default {
                if default.is_some() {
                    return Err("two servers on one port are marked default".into());
                }
                default = Some(i);
            }
            if p.hostnames.is_empty() {
                if unnamed.is_some() {
                    return Err("two servers without a hostname share one port".into());
                }
                unnamed = Some(i);
            }
            vhosts.push(VHost {
                router: p.router,
                state: p.state,
                body_limit: p.body_limit,
            });
        }
        Ok(Site {
            vhosts,
            by_name,
            default: default.or(unnamed),
            tls,
        })
    }

    /// The virtual server answering for `host` (lowercase, no port), or the
    /// fallback.
    pub(crate) fn lookup(&self, host: Option<&str>) -> Option<usize> {
        host.and_then(|h| self.by_name.get(h).copied())
            .or(self.default)
    }

    /// Answers one request. Never panics: a handler panic becomes 500.
    pub(crate) fn dispatch(&self, req: http::Request<Body>, conn: &ConnContext) -> Dispatch {
        let (parts, body) = req.into_parts();
        // One server and no TLS: no host to choose (the common case, and
        // the hot path).
        let vi = if self.vhosts.len() == 1 && !self.tls && self.by_name.is_empty() {
            Some(0)
        } else {
            let mut scratch = [0u8; 256];
            let host = request_host(&parts).and_then(|h| lowercase_host(h, &mut scratch));
            self.lookup(host)
        };
        let Some(vi) = vi else {
            return Dispatch::ready(Response::error(
                StatusCode::MISDIRECTED_REQUEST,
                "no server for this host on this port",
            ));
        };
        if self.tls {
            // RFC 9110 §15.5.20: the connection was set up (SNI, certificate)
            // for another virtual server than the one the request names.
            let mut scratch = [0u8; 256];
            let sni = conn
                .server_name()
                .and_then(|s| lowercase_host(s, &mut scratch));
            let conn_vi = self.lookup(sni);
            if conn_vi != Some(vi) {
                return Dispatch::ready(Response::error(
                    StatusCode::MISDIRECTED_REQUEST,
                    "this connection is for another host",
                ));
            }
        }
        let Some(vhost) = self.vhosts.get(vi) else {
            return Dispatch::ready(Response::not_found());
        };
        let (handler, params) = match vhost.router.find(&parts.method, parts.uri.path()) {
            Match::Found(h, p) => (h, p),
            Match::MethodNotAllowed(allow) => {
                return Dispatch::ready(Response::method_not_allowed(allow))
            }
            Match::NotFound => return Dispatch::ready(Response::not_found()),
        };
        let log =
            tracing::enabled!(target: "duet::access", tracing::Level::INFO).then(|| AccessLog {
                start: Instant::now(),
                method: parts.method.clone(),
                path: parts.uri.path().to_string(),
                conn: conn.clone(),
            });
        let head = RequestHead {
            ctx: RequestContext { parts, params },
            conn: conn.clone(),
            state: vhost.state.clone(),
            body_limit: vhost.body_limit,
        };
        // The handler's synchronous part (extractor set-up) is guarded too.
        match std::panic::catch_unwind(AssertUnwindSafe(|| handler.call(head, body))) {
            Ok(fut) => Dispatch {
                state: State::Running(AssertUnwindSafe(fut).catch_unwind(), log),
            },
            Err(_) => Dispatch::ready(Response::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the handler failed",
            )),
        }
    }
}

/// `h` lowercased (and without a trailing dot) in `scratch`, without
/// allocating; `None` for names longer than any DNS name.
fn lowercase_host<'a>(h: &str, scratch: &'a mut [u8; 256]) -> Option<&'a str> {
    let h = h.trim_end_matches('.');
    let out = scratch.get_mut(..h.len())?;
    for (o, b) in out.iter_mut().zip(h.bytes()) {
        *o = b.to_ascii_lowercase();
    }
    std::str::from_utf8(out).ok()
}

struct AccessLog {
    start: Instant,
    method: http::Method,
    path: String,
    conn: ConnContext,
}

/// The future answering one request.
pub(crate) struct Dispatch {
    state: State,
}

type Guarded =
    futures_util::future::CatchUnwind<AssertUnwindSafe<crate::app::handler::ResponseFuture>>;

enum State {
    Ready(Option<Response>),
    Running(Guarded, Option<AccessLog>),
}

impl Dispatch {
    fn ready(r: Response) -> Self {
        Dispatch {
            state: State::Ready(Some(r)),
        }
    }
}

impl Future for Dispatch {
    type Output = http::Response<Body>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match &mut this.state {
            State::Ready(r) => Poll::Ready(r.take().unwrap_or_default().into_inner()),
            State::Running(fut, log) => {
                let res = match fut.poll_unpin(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(r)) => r,
                    Poll::Ready(Err(panic)) => {
                        let what = panic
                            .downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| panic.downcast_ref::<String>().cloned())
                            .unwrap_or_default();
                        tracing::error!(target: "duet", "handler panicked: {what}");
                        Response::error(StatusCode::INTERNAL_SERVER_ERROR, "the handler failed")
                    }
                };
                if let Some(l) = log.take() {
                    tracing::info!(
                        target: "duet::access",
                        "{} {} {} {} {} {:?}",
                        l.conn.peer_addr(),
                        l.conn.protocol(),
                        l.method,
                        l.path,
                        res.status().as_u16(),
                        l.start.elapsed()
                    );
                }
                Poll::Ready(res.into_inner())
            }
        }
    }
}
