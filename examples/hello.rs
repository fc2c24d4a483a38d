//! The smallest server: `cargo run --example hello [ADDR]`, then
//! `curl http://127.0.0.1:3000/` (HTTP/1.1) or
//! `curl --http2-prior-knowledge http://127.0.0.1:3000/hello/you` (h2c).

use duet::{Executor, Path, Server};

async fn hello(Path(name): Path<String>) -> String {
    format!("hello, {name}\n")
}

#[tokio::main]
async fn main() -> Result<(), duet::Error> {
    let mut server = Server::bind_addr(duet_examples::addr());
    server
        .get("/", || async { "hello\n" })
        .get("/hello/{name}", hello);
    Executor::new().add(server).run().await
}
