//! Two virtual hosts with their own certificates on one port:
//! `cargo run --example tls_vhosts [ADDR]`, then (certificates are
//! self-signed, made at start-up)
//!
//! ```sh
//! curl -k --resolve a.localhost:3000:127.0.0.1 https://a.localhost:3000/
//! curl -k --resolve b.localhost:3000:127.0.0.1 https://b.localhost:3000/
//! ```
//!
//! The TLS server name (SNI) picks the server and its certificate; ALPN
//! picks HTTP/2 or HTTP/1.1.

use duet::{ConnContext, Executor, Server, TlsConfig};

async fn who(conn: ConnContext) -> String {
    format!(
        "{} over {} ({})\n",
        conn.server_name().unwrap_or("no SNI"),
        conn.protocol(),
        conn.tls().map_or("?", |t| t.version)
    )
}

#[tokio::main]
async fn main() -> Result<(), duet::Error> {
    let addr = duet_examples::addr();
    let a_tls = TlsConfig::self_signed(&["a.localhost"])?;
    let b_tls = TlsConfig::self_signed(&["b.localhost"])?;
    let mut a = Server::bind_addr(addr)
        .hostname("a.localhost")
        .tls(a_tls)
        .default_server();
    let mut b = Server::bind_addr(addr).hostname("b.localhost").tls(b_tls);
    a.get("/", || async { "site a\n" }).get("/who", who);
    b.get("/", || async { "site b\n" }).get("/who", who);
    Executor::new().add(a).add(b).run().await
}
