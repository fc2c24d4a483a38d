//! TLS with rustls: certificates per hostname, SNI, ALPN. (Being written.)
