//! actix-web 4 peer: one worker (`.workers(1)`), HTTP/1.1 + h2c on the plain
//! port (`bind_auto_h2c`), HTTP/1.1 + h2 by ALPN over rustls on the TLS port.

use actix_web::body::SizedStream;
use actix_web::{get, web, App, HttpRequest, HttpResponse, HttpServer, Responder};
use peer_common::{Args, Ticks, Zeros};

#[get("/hello/{name}")]
async fn hello(_name: web::Path<String>) -> impl Responder {
    HttpResponse::Ok().content_type("text/plain").body("hello")
}

#[get("/bytes/{n}")]
async fn bytes(n: web::Path<u64>) -> impl Responder {
    let n = n.into_inner();
    HttpResponse::Ok()
        .content_type("application/octet-stream")
        .body(SizedStream::new(n, Zeros::new(n)))
}

#[get("/sse")]
async fn sse(req: HttpRequest) -> impl Responder {
    let every = peer_common::sse_interval(Some(req.query_string()));
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .streaming(Ticks::new(every))
}

#[allow(deprecated)] // bind_auto_h2c: newer 4.x detect h2c on bind() itself
fn main() -> std::io::Result<()> {
    let args = Args::parse().map_err(std::io::Error::other)?;
    let tls = args.tls_config().map_err(std::io::Error::other)?;
    actix_web::rt::System::new().block_on(async move {
        let mut server = HttpServer::new(|| App::new().service(hello).service(bytes).service(sse))
            .workers(1)
            // The default (5 s) would close the idle connections of the
            // memory scenario while they are being counted.
            .keep_alive(std::time::Duration::from_secs(300));
        if let Some(addr) = &args.http {
            server = server.bind_auto_h2c(addr)?;
        }
        if let (Some(addr), Some(tls)) = (&args.https, tls) {
            server = server.bind_rustls_0_23(addr, tls)?;
        }
        server.run().await
    })
}
