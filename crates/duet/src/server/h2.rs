//! The tokio driver for HTTP/2 connections. (Being written.)
