//! Testing handlers in-process, without a socket: a duet `Router` (or a
//! whole `Server`, layers and limits included, through
//! `Server::into_service`) is a tower `Service`, so a test builds an
//! `http::Request`, calls it with `oneshot`, and reads the response.
//!
//! `cargo test --example testing` runs the tests below;
//! `cargo run --example testing` runs the same calls and prints them.

use bytes::Bytes;
use duet::{Body, Json, Path, Router, Server, StatusCode};
use http_body_util_shim::collect;
use serde::{Deserialize, Serialize};
use tower::ServiceExt;

#[derive(Serialize, Deserialize)]
struct Todo {
    title: String,
}

async fn hello(Path(name): Path<String>) -> String {
    format!("hello, {name}")
}

async fn create(Json(todo): Json<Todo>) -> (StatusCode, Json<Todo>) {
    (StatusCode::CREATED, Json(todo))
}

/// The application: what `main` would serve.
fn app() -> Router {
    let mut app = Router::new();
    app.get("/hello/{name}", hello).post("/todos", create);
    app
}

/// Calls `router` with `req` and returns the status and the body as text.
async fn call(router: Router, req: http::Request<Body>) -> (StatusCode, String) {
    let res = router.oneshot(req).await.unwrap_or_else(|e| match e {});
    let status = res.status();
    (status, collect(res.into_body()).await)
}

mod http_body_util_shim {
    use duet::Body;

    /// The whole body as text.
    pub async fn collect(mut body: Body) -> String {
        let mut out = Vec::new();
        while let Some(Ok(chunk)) = body.chunk().await {
            out.extend_from_slice(&chunk);
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

#[tokio::main]
async fn main() {
    let req = http::Request::get("/hello/tests")
        .body(Body::empty())
        .unwrap();
    println!("GET /hello/tests -> {:?}", call(app(), req).await);
    let req = http::Request::post("/todos")
        .header("content-type", "application/json")
        .body(Body::from(r#"{"title":"write tests"}"#))
        .unwrap();
    println!("POST /todos -> {:?}", call(app(), req).await);
    // A whole server: admission's limits and the layers answer too.
    let mut server = Server::bind(0);
    server.merge(app());
    let service = server.into_service().expect("a valid server");
    let req = http::Request::post("/todos")
        .header("content-length", (64 * 1024 * 1024).to_string())
        .body(Body::from(Bytes::new()))
        .unwrap();
    let res = service.oneshot(req).await.unwrap_or_else(|e| match e {});
    println!("POST /todos with 64 MiB declared -> {}", res.status());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hello_greets_by_name() {
        let req = http::Request::get("/hello/ferris")
            .body(Body::empty())
            .unwrap();
        assert_eq!(
            call(app(), req).await,
            (StatusCode::OK, "hello, ferris".into())
        );
    }

    #[tokio::test]
    async fn todos_are_created_from_json() {
        let req = http::Request::post("/todos")
            .header("content-type", "application/json")
            .body(Body::from(r#"{"title":"x"}"#))
            .unwrap();
        assert_eq!(
            call(app(), req).await,
            (StatusCode::CREATED, r#"{"title":"x"}"#.into())
        );
    }

    #[tokio::test]
    async fn a_todo_without_json_is_refused() {
        let req = http::Request::post("/todos").body(Body::from("x")).unwrap();
        let (status, body) = call(app(), req).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(body.contains("application/json"), "{body}");
    }

    #[tokio::test]
    async fn the_server_refuses_a_body_over_its_limit() {
        let mut server = Server::bind(0);
        server.merge(app());
        let service = server.into_service().unwrap();
        let req = http::Request::post("/todos")
            .header("content-length", (64 * 1024 * 1024).to_string())
            .body(Body::empty())
            .unwrap();
        let res = service.oneshot(req).await.unwrap_or_else(|e| match e {});
        assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
}
