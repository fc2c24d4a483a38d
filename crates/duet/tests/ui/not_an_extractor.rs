// A handler argument that is not an extractor.
use duet::Server;

struct NotAnExtractor;

async fn handler(_x: NotAnExtractor) -> &'static str {
    "x"
}

fn main() {
    let mut s = Server::bind(0);
    s.get("/", handler);
}
