//! The PROXY protocol switch of a listener: which sources may send the
//! header (the load balancers), as networks.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::error::Error;

/// Reads a PROXY protocol header (version 1 or 2, told apart by its first
/// bytes) at the start of every connection of a listener, before TLS and
/// before the HTTP version is chosen, and takes the client address from it
/// (see [`Server::proxy_protocol`](crate::Server::proxy_protocol)).
///
/// Every source address is trusted unless [`ProxyProtocol::trust`] names
/// the networks the balancers connect from. A connection from any other
/// address is closed unread; so is one whose header is missing, malformed,
/// or incomplete after `Limits::header_read_timeout`.
///
/// A header without a client address (v2 `LOCAL`, as balancers send with
/// their own health checks; v1 `UNKNOWN`; a v2 address family other than
/// IPv4 and IPv6) leaves the connection's own peer address in place.
///
/// ```
/// use duet::{ProxyProtocol, Server};
///
/// let proxy = ProxyProtocol::new().trust("10.0.0.0/8")?.trust("192.0.2.7")?;
/// let server = Server::bind(8080).proxy_protocol(proxy);
/// # drop(server);
/// # Ok::<(), duet::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxyProtocol {
    /// The trusted networks; empty trusts every source.
    trusted: Vec<IpNet>,
}

impl ProxyProtocol {
    /// PROXY protocol from any source.
    pub fn new() -> Self {
        ProxyProtocol::default()
    }

    /// Trusts the network `cidr` (`10.0.0.0/8`, `2001:db8::/32`, or one
    /// address); once any network is named, only the named ones are
    /// trusted.
    pub fn trust(mut self, cidr: &str) -> Result<Self, Error> {
        let cidr = cidr.trim();
        let net = match cidr.parse::<IpNet>() {
            Ok(n) => n,
            Err(_) => match cidr.parse::<IpAddr>() {
                Ok(a) => IpNet::from(a),
                Err(_) => {
                    return Err(Error::InvalidNetwork {
                        text: cidr.to_string(),
                    })
                }
            },
        };
        self.trusted.push(net.trunc());
        Ok(self)
    }

    /// True when a connection from `source` may send the header. An
    /// IPv4-mapped IPv6 address (a dual-stack listener) is compared as the
    /// IPv4 address it carries.
    pub fn trusts(&self, source: IpAddr) -> bool {
        if self.trusted.is_empty() {
            return true;
        }
        let source = match source {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        self.trusted.iter().any(|n| n.contains(&source))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    #[test]
    fn trusts_every_source_until_networks_are_named() {
        let any = ProxyProtocol::new();
        assert!(any.trusts(ip("203.0.113.9")));
        assert!(any.trusts(ip("::1")));
        let some = ProxyProtocol::new()
            .trust("10.0.0.0/8")
            .and_then(|p| p.trust("192.0.2.7"))
            .and_then(|p| p.trust(" 2001:db8::/32 "))
            .expect("networks");
        assert!(some.trusts(ip("10.1.2.3")));
        assert!(some.trusts(ip("192.0.2.7")));
        assert!(!some.trusts(ip("192.0.2.8")));
        assert!(some.trusts(ip("2001:db8::1")));
        assert!(!some.trusts(ip("2001:db9::1")));
        assert!(some.trusts(ip("::ffff:10.9.9.9")), "IPv4-mapped");
        assert!(!some.trusts(ip("127.0.0.1")));
    }

    #[test]
    fn a_network_with_host_bits_is_its_prefix() {
        let p = ProxyProtocol::new().trust("10.1.2.3/16").expect("network");
        assert!(p.trusts(ip("10.1.200.1")));
        assert!(!p.trusts(ip("10.2.0.1")));
    }

    #[test]
    fn what_is_not_a_network_is_an_error() {
        for bad in ["", "10.0.0.0/33", "example.com", "10.0.0/8", "::1/129"] {
            assert!(
                matches!(
                    ProxyProtocol::new().trust(bad),
                    Err(Error::InvalidNetwork { .. })
                ),
                "{bad:?}"
            );
        }
    }
}
