// A body extractor before another argument.
use duet::{Method, Server};

async fn handler(_body: String, _m: Method) -> &'static str {
    "x"
}

fn main() {
    let mut s = Server::bind(0);
    s.get("/", handler);
}
