//! The tokio driver for HTTP/1.1 connections. (Being written.)
