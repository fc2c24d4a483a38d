// A return type that is not a response.
use duet::Server;

struct NotAResponse;

async fn handler() -> NotAResponse {
    NotAResponse
}

fn main() {
    let mut s = Server::bind(0);
    s.get("/", handler);
}
