//! The tokio driver for HTTP/2 connections. (Being written.)
#![allow(dead_code, unused)]
use super::ConnParams;
use crate::app::body::Body;
use bytes::{Bytes, BytesMut};
pub(crate) async fn serve<IO>(io: IO, read_buf: BytesMut, p: ConnParams) -> std::io::Result<()> {
    Ok(())
}
pub(crate) async fn serve_upgraded<IO>(
    io: IO,
    read_buf: BytesMut,
    p: ConnParams,
    s: Bytes,
    first: http::Request<Body>,
) -> std::io::Result<()> {
    Ok(())
}
