//! The configuration error: what can be wrong with servers when an
//! executor starts (or when a server is being built), as a typed enum.

use std::fmt;
use std::io;
use std::net::SocketAddr;

use crate::config::TlsError;

/// Why servers could not be started: a mistake in their configuration, or
/// a listener that could not be bound.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A route pattern is invalid or conflicts with an earlier one.
    Route {
        /// The pattern.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A hostname given to `Server::hostname` is empty or not a host name.
    InvalidHostname {
        /// The name as given.
        name: String,
    },
    /// Two servers on one address answer for the same hostname.
    DuplicateHostname {
        /// The address.
        addr: SocketAddr,
        /// The hostname (normalised).
        name: String,
    },
    /// Two servers on one address are marked `default_server`.
    TwoDefaults {
        /// The address.
        addr: SocketAddr,
    },
    /// Two servers on one address have no hostname (each would be the
    /// fallback).
    TwoWithoutHostname {
        /// The address.
        addr: SocketAddr,
    },
    /// Some servers on one address use TLS and this one does not.
    TlsMissing {
        /// The address.
        addr: SocketAddr,
        /// Which server (its first hostname, or "the server without
        /// hostname").
        server: String,
    },
    /// A server's TLS configuration holds no certificate.
    TlsEmpty {
        /// The address.
        addr: SocketAddr,
        /// Which server (its first hostname, or "the server without
        /// hostname").
        server: String,
    },
    /// TLS material could not be loaded.
    Tls(TlsError),
    /// TLS could not be set up for a port.
    TlsSetup {
        /// The address.
        addr: SocketAddr,
        /// What failed.
        reason: String,
    },
    /// A network given as a trusted PROXY protocol source is not an
    /// address or a CIDR prefix.
    InvalidNetwork {
        /// The text as given.
        text: String,
    },
    /// `Limits::set` was given an unknown limit or a value it cannot take.
    InvalidLimit {
        /// The limit's name as given.
        name: String,
        /// Why it was refused.
        reason: String,
    },
    /// A runtime for the per-core mode could not be started.
    Runtime {
        /// The system's error.
        source: io::Error,
    },
    /// A listener could not be bound.
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The system's error.
        source: io::Error,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Route { pattern, reason } => write!(f, "route {pattern:?}: {reason}"),
            Error::InvalidHostname { name } => write!(f, "invalid hostname {name:?}"),
            Error::DuplicateHostname { addr, name } => {
                write!(f, "{addr}: hostname {name:?} is served by two servers")
            }
            Error::TwoDefaults { addr } => {
                write!(f, "{addr}: two servers are marked default_server")
            }
            Error::TwoWithoutHostname { addr } => {
                write!(f, "{addr}: two servers have no hostname")
            }
            Error::TlsMissing { addr, server } => write!(
                f,
                "{addr}: {server} shares a TLS port but has no TLS configuration (.tls(...))"
            ),
            Error::TlsEmpty { addr, server } => {
                write!(
                    f,
                    "{addr}: {server}: its TLS configuration has no certificate"
                )
            }
            Error::Tls(e) => write!(f, "{e}"),
            Error::TlsSetup { addr, reason } => write!(f, "{addr}: TLS setup failed: {reason}"),
            Error::InvalidNetwork { text } => {
                write!(f, "{text:?} is not an IP address or a CIDR network")
            }
            Error::InvalidLimit { name, reason } => write!(f, "limit {name:?}: {reason}"),
            Error::Runtime { source } => write!(f, "cannot start a per-core runtime: {source}"),
            Error::Bind { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Tls(e) => Some(e),
            Error::Bind { source, .. } | Error::Runtime { source } => Some(source),
            _ => None,
        }
    }
}

impl From<TlsError> for Error {
    fn from(e: TlsError) -> Error {
        Error::Tls(e)
    }
}

/// For `main` functions returning `std::io::Result`: the kind is the bind
/// error's own, or `InvalidInput` for configuration mistakes.
impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        let kind = match &e {
            Error::Bind { source, .. } | Error::Runtime { source } => source.kind(),
            Error::Tls(t) => t.io_kind(),
            _ => io::ErrorKind::InvalidInput,
        };
        io::Error::new(kind, e)
    }
}
