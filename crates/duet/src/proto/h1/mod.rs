//! TEMP STUB
#![allow(missing_docs, unused)]
use bytes::{Bytes, BytesMut};
use http::{HeaderMap, StatusCode, Version};
pub enum BodyKind {
    None,
    Length(u64),
    Chunked,
}
pub struct RequestHead {
    pub method: http::Method,
    pub uri: http::Uri,
    pub version: Version,
    pub headers: HeaderMap,
    pub body: BodyKind,
    pub keep_alive: bool,
    pub expect_continue: bool,
    pub upgrade_h2c: Option<Bytes>,
}
#[derive(Debug)]
pub struct ParseError {
    status: StatusCode,
    reason: &'static str,
}
impl ParseError {
    pub fn status(&self) -> StatusCode {
        self.status
    }
    pub fn reason(&self) -> &'static str {
        self.reason
    }
}
pub fn parse_request(
    buf: &[u8],
    limits: &crate::config::Limits,
) -> Result<Option<(RequestHead, usize)>, ParseError> {
    todo!()
}
pub enum Decoded {
    Data(Bytes),
    NeedMore,
    End,
}
pub struct BodyDecoder;
impl BodyDecoder {
    pub fn new(kind: &BodyKind) -> Self {
        todo!()
    }
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded, ParseError> {
        todo!()
    }
    pub fn is_done(&self) -> bool {
        todo!()
    }
}
pub enum ResponseFraming {
    Length(u64),
    Chunked,
    None,
    CloseDelimited,
}
pub fn encode_response_head(
    dst: &mut BytesMut,
    version: Version,
    status: StatusCode,
    headers: &HeaderMap,
    framing: ResponseFraming,
    keep_alive: bool,
    date: &[u8],
) {
}
pub fn encode_chunk(dst: &mut BytesMut, data: &[u8]) {}
pub fn encode_last_chunk(dst: &mut BytesMut) {}
pub fn encode_continue(dst: &mut BytesMut) {}
pub fn encode_switching_protocols_h2c(dst: &mut BytesMut) {}
pub fn error_response(dst: &mut BytesMut, status: StatusCode, reason: &str, date: &[u8]) {}
