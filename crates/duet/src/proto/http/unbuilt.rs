//! A request's field section as it arrived, built into a `HeaderMap` only
//! when something reads the headers: a handler whose extractors read
//! none (`Handler::READS_HEADERS`) never pays for the map.

use http::{HeaderMap, Uri};

use super::Fields;
use crate::proto::h1::FieldBlock;
use crate::proto::h2::FieldList;

/// The fields of an HTTP/1.1 or HTTP/2 request, checked but not built.
#[derive(Clone, Debug)]
pub(crate) enum Unbuilt {
    /// The HTTP/1.1 head's field lines (RFC 9112 §5).
    H1(FieldBlock),
    /// The HTTP/2 HEADERS block's regular fields (RFC 9113 §8.2).
    H2(FieldList),
}

impl Unbuilt {
    /// The headers of a request for `uri`.
    pub(crate) fn to_map(&self, uri: &Uri) -> HeaderMap {
        match self {
            Unbuilt::H1(block) => block.to_map(uri),
            Unbuilt::H2(list) => list.to_map(),
        }
    }

    /// The fields, for admission and `RequestContext::host`.
    pub(crate) fn fields(&self) -> Fields<'_> {
        match self {
            Unbuilt::H1(block) => Fields::Block(block),
            Unbuilt::H2(list) => Fields::List(list),
        }
    }
}
