//! tokio drivers that move bytes between sockets and the protocol cores:
//! accept loops, PROXY headers, protocol detection, timeouts, virtual
//! hosts, TLS, the executor, the admin endpoints and graceful shutdown.

use std::sync::Arc;

use crate::app::context::ConnContext;
use crate::config::Limits;

pub(crate) mod accept;
pub(crate) mod admin;
pub(crate) mod date;
pub(crate) mod executor;
pub(crate) mod h1;
pub(crate) mod h2;
pub(crate) mod proxy;
pub(crate) mod shutdown;
pub(crate) mod site;
pub(crate) mod tls;
pub(crate) mod tls_stream;

pub(crate) use shutdown::Shutdown;
pub(crate) use site::Site;

/// What a protocol driver needs to serve one connection.
#[derive(Clone)]
pub(crate) struct ConnParams {
    /// The virtual servers of the listener the connection came in on.
    pub(crate) site: Arc<Site>,
    /// The connection's context, handed to every handler.
    pub(crate) conn: ConnContext,
    /// Limits and timeouts for this connection.
    pub(crate) limits: Arc<Limits>,
    /// The HTTP/2 connection settings derived from `limits`, shared.
    pub(crate) h2: Arc<crate::proto::h2::Config>,
    /// Fires when graceful shutdown begins (for upgraded streams and the
    /// application).
    pub(crate) shutdown: Shutdown,
    /// Set when graceful shutdown begins, the connection's task woken: what
    /// the drivers read.
    pub(crate) drain: accept::Drain,
    /// The connection counts in the metrics and has request spans (not
    /// the admin listener's: probes are not traffic).
    pub(crate) observed: bool,
}
