//! TLS with rustls: certificates per hostname, SNI, ALPN. (Being written.)

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpStream;

use super::{Shutdown, Site};
use crate::app::server::VHostParts;
use crate::config::Limits;

/// TLS certificates for one or more hostnames. (Being written.)
#[derive(Clone, Debug, Default)]
pub struct TlsConfig {}

/// Accepts TLS connections for one port. (Being written.)
#[derive(Clone)]
pub(crate) struct Acceptor {}

impl Acceptor {
    /// The acceptor for a port's servers: `None` when none uses TLS.
    pub(crate) fn for_port(vhosts: &[VHostParts]) -> Result<Option<Acceptor>, String> {
        if vhosts.iter().any(|v| v.tls.is_some()) {
            return Err("TLS is not available yet".into());
        }
        Ok(None)
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn serve(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        local: SocketAddr,
        id: u64,
        site: Arc<Site>,
        limits: Arc<Limits>,
        shutdown: Shutdown,
    ) {
        let _ = (stream, peer, local, id, site, limits, shutdown);
    }
}
