//! HTTP/2 (RFC 9113), sans-I/O. (Being written.)

pub mod hpack;
