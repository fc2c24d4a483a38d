//! tokio drivers that move bytes between sockets and the protocol cores:
//! accept loops, protocol detection, timeouts, virtual hosts, TLS, the
//! executor and graceful shutdown.

pub(crate) mod date;
pub(crate) mod h1;
pub(crate) mod h2;
pub(crate) mod shutdown;
pub(crate) mod tls;
