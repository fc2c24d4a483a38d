//! An existing axum `Router`, with tower-http's `CorsLayer` (any origin) and
//! `CompressionLayer` (gzip), served by duet: `cargo run --example
//! axum_router [ADDR]`, then
//!
//! ```sh
//! curl -i --compressed -H 'origin: https://example.com' http://127.0.0.1:3000/
//! curl -i --http2-prior-knowledge --compressed http://127.0.0.1:3000/
//! ```
//!
//! The layers here wrap the axum router; `Server::layer` would wrap the
//! whole duet server instead (duet's own 404s included).

use axum::routing::get;
use duet::{Executor, Server};
use tower_http::compression::CompressionLayer;
use tower_http::cors::CorsLayer;

/// A page long enough (over 1 KiB) to be worth compressing.
fn page() -> String {
    let mut s = String::from("duet serves this axum Router.\n");
    for i in 1..=40 {
        s.push_str(&format!(
            "line {i}: routes, extractors and layers of axum, on duet's engines\n"
        ));
    }
    s
}

fn app() -> axum::Router {
    axum::Router::new()
        .route("/", get(|| async { page() }))
        .route("/json", get(|| async { axum::Json(serde_json_value()) }))
        .layer(CorsLayer::permissive())
        .layer(CompressionLayer::new())
}

fn serde_json_value() -> std::collections::BTreeMap<&'static str, &'static str> {
    [("served_by", "duet"), ("framework", "axum")].into()
}

#[tokio::main]
async fn main() -> Result<(), duet::Error> {
    // HTTP/1.1 and h2c (prior knowledge or Upgrade) on one port.
    let server = Server::bind_addr(duet_examples::addr()).service(app());
    Executor::new().add(server).run().await
}
