//! The TLS handshake of a port: a certificate per hostname chosen by SNI
//! (RFC 6066 §3) among the port's virtual servers, ALPN choosing HTTP/2 or
//! HTTP/1.1 (RFC 7301; RFC 9113 §3.2), and a handshake timeout. The SNI
//! name picks the virtual server through the port's one virtual-host table
//! (the table `Host` uses too); the server's [`TlsConfig`] picks the
//! certificate.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use rustls::server::{Accepted, ClientHello, ResolvesServerCert, UnbufferedServerConnection};
use rustls::sign::CertifiedKey;
use rustls::{ProtocolVersion, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::site::VhostTable;
use super::tls_stream::TlsStream;
use crate::app::context::TlsInfo;
use crate::app::server::VHostParts;
use crate::config::tls::{covers, provider};
use crate::config::TlsConfig;
use crate::error::Error;
use crate::proto::http::host::normalize;

/// ALPN protocol ids offered, in the server's order of preference
/// (RFC 7301 §3.2; `h2` is RFC 9113 §3.2). `http/1.0` is there so that
/// clients offering only it are not refused.
const ALPN: [&[u8]; 3] = [b"h2", b"http/1.1", b"http/1.0"];

/// A plaintext TLS record carrying a fatal `unrecognized_name` alert
/// (RFC 8446 §5.1 record header: type alert(21), legacy version 3.3,
/// length 2; §6 alert: level fatal(2), description 112 from RFC 6066 §3).
const UNRECOGNIZED_NAME_ALERT: [u8; 7] = [21, 3, 3, 0, 2, 2, 112];

/// A virtual server's names and certificates.
#[derive(Debug)]
struct HostTls {
    names: Vec<String>,
    tls: TlsConfig,
}

/// The TLS view of a port's virtual servers: the port's one virtual-host
/// table (shared with `Host` lookups) and each server's certificates.
#[derive(Debug)]
struct PortHosts {
    table: Arc<VhostTable>,
    hosts: Vec<HostTls>,
}

impl PortHosts {
    fn server_for(&self, sni: Option<&str>) -> Option<&HostTls> {
        self.hosts.get(self.table.lookup(sni)?)
    }
}

/// Picks the certificate by SNI among the port's servers.
#[derive(Debug)]
struct Resolver(Arc<PortHosts>);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let sni = hello.server_name().map(normalize);
        let host = self.0.server_for(sni.as_deref())?;
        host.tls.pick(sni.as_deref(), &host.names)
    }
}

/// Runs the TLS handshakes of one port.
#[derive(Clone)]
pub(crate) struct Acceptor {
    config: Arc<ServerConfig>,
    hosts: Arc<PortHosts>,
}

impl Acceptor {
    /// The acceptor for the servers of `addr`: `None` when none uses TLS.
    /// Every server of a TLS port must have a [`TlsConfig`] with a
    /// certificate.
    pub(crate) fn for_port(
        addr: SocketAddr,
        vhosts: &[VHostParts],
        table: Arc<VhostTable>,
    ) -> Result<Option<Acceptor>, Error> {
        if vhosts.iter().all(|v| v.tls.is_none()) {
            return Ok(None);
        }
        let mut hosts = Vec::with_capacity(vhosts.len());
        for v in vhosts {
            let who = match v.hostnames.first() {
                Some(n) => format!("server {n:?}"),
                None => "the server without hostname".to_string(),
            };
            let tls = match &v.tls {
                Some(tls) if tls.is_empty() => return Err(Error::TlsEmpty { addr, server: who }),
                Some(tls) => tls.clone(),
                None => return Err(Error::TlsMissing { addr, server: who }),
            };
            for n in &v.hostnames {
                if let Some(key) = tls.pick(Some(n), &v.hostnames) {
                    if covers(&key, n) == Some(false) {
                        tracing::warn!(target: "duet", "{who}: the certificate served for {n:?} is not valid for that name");
                    }
                }
            }
            hosts.push(HostTls {
                names: v.hostnames.clone(),
                tls,
            });
        }
        let hosts = Arc::new(PortHosts { table, hosts });
        // RFC 9113 §9.2: TLS 1.2 or later; rustls's safe defaults offer
        // only TLS 1.2 and 1.3 with AEAD, ephemeral key-exchange suites,
        // none of them on the §9.2.2 deny list.
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::TlsSetup {
                addr,
                reason: e.to_string(),
            })?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(Resolver(hosts.clone())));
        config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
        Ok(Some(Acceptor {
            config: Arc::new(config),
            hosts,
        }))
    }

    /// Runs the handshake: reads the ClientHello, refuses an SNI name no
    /// server of the port answers for, then completes it. Returns the
    /// stream and its TLS facts (SNI, ALPN, version). The caller bounds it
    /// in time (`Limits::tls_handshake_timeout`).
    pub(crate) async fn handshake(
        &self,
        mut stream: TcpStream,
    ) -> io::Result<(TlsStream<TcpStream>, TlsInfo)> {
        let (accepted, received) = read_client_hello(&mut stream).await?;
        let hello = accepted.client_hello();
        let sni = hello.server_name().map(normalize);
        if self.hosts.server_for(sni.as_deref()).is_none() {
            // RFC 6066 §3: a server that does not recognise the name may
            // abort the handshake with a fatal unrecognized_name alert.
            let _ = stream.write_all(&UNRECOGNIZED_NAME_ALERT).await;
            let _ = stream.shutdown().await;
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("no server for SNI name {sni:?}"),
            ));
        }
        // As rustls records it (RFC 6066 §3: compared case-insensitively).
        let server_name = hello.server_name().map(str::to_ascii_lowercase);
        drop(accepted);
        // The handshake proper runs on a connection of its own, fed the
        // bytes the hello came in: one that holds no buffer while idle.
        let conn = UnbufferedServerConnection::new(self.config.clone())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let mut tls = TlsStream::new(stream, conn, received);
        tls.handshake().await?;
        let conn = tls.conn();
        let version = match conn.protocol_version() {
            Some(ProtocolVersion::TLSv1_3) => "TLSv1.3",
            Some(ProtocolVersion::TLSv1_2) => "TLSv1.2",
            _ => "TLS",
        };
        let info = TlsInfo {
            server_name,
            alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
            version,
        };
        Ok((tls, info))
    }
}

/// Feeds bytes to rustls until a whole ClientHello has arrived; returns
/// it with every byte read (the hello and anything after it). On a
/// malformed hello, sends rustls's alert and fails.
async fn read_client_hello(stream: &mut TcpStream) -> io::Result<(Accepted, Vec<u8>)> {
    let mut acceptor = rustls::server::Acceptor::default();
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed before the ClientHello",
            ));
        }
        let mut chunk = buf.get(..n).unwrap_or_default();
        received.extend_from_slice(chunk);
        while !chunk.is_empty() {
            if acceptor.read_tls(&mut chunk)? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "ClientHello too large",
                ));
            }
        }
        match acceptor.accept() {
            Ok(Some(accepted)) => return Ok((accepted, received)),
            Ok(None) => {}
            Err((e, mut alert)) => {
                let mut out = Vec::new();
                let _ = alert.write_all(&mut out);
                let _ = stream.write_all(&out).await;
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
        }
    }
}
