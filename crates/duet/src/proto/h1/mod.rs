//! HTTP/1.1 (RFC 9112), sans-I/O. (Being written.)
