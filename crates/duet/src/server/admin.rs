//! The admin listener: health, readiness and metrics for load balancers,
//! orchestrators and scrapers, on an address of its own that stays up
//! while the serving listeners drain.
//!
//! - `GET /healthz`: 200 while the process is alive.
//! - `GET /readyz`: 200 while the servers accept connections; 503 from the
//!   moment shutdown begins (before the drain delay), so that balancers stop
//!   sending new connections while the listeners still take them.
//! - `GET /metrics`: the body the metrics hook renders (empty by default),
//!   as `text/plain; version=0.0.4` (the Prometheus text format).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use http::StatusCode;

use crate::app::response::Response;
use crate::app::server::Server;

/// The content type of the Prometheus text exposition format.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Renders the `/metrics` body.
type MetricsHook = Arc<dyn Fn() -> String + Send + Sync>;

/// An admin listener for [`Executor::admin`](crate::Executor::admin):
/// `/healthz`, `/readyz` and `/metrics` on their own address (HTTP/1.1 and
/// h2c), off the servers' ports, so that probes neither count as traffic
/// nor stop with the serving listeners.
///
/// ```no_run
/// use std::time::Duration;
/// use duet::{Admin, Executor, Server};
///
/// # async fn run() -> Result<(), duet::Error> {
/// let admin = Admin::bind_addr("127.0.0.1:9090".parse().unwrap())
///     .metrics(|| "# no metrics yet\n".to_string());
/// Executor::new()
///     .add(Server::bind(8080))
///     .admin(admin)
///     .drain_delay(Duration::from_secs(5))
///     .run()
///     .await
/// # }
/// ```
#[derive(Clone)]
pub struct Admin {
    addr: SocketAddr,
    metrics: MetricsHook,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin").field("addr", &self.addr).finish()
    }
}

impl Admin {
    /// An admin listener on `addr` (port 0 picks a free port:
    /// [`Running::admin_addr`](crate::Running::admin_addr) tells which).
    pub fn bind_addr(addr: SocketAddr) -> Self {
        Admin {
            addr,
            metrics: Arc::new(String::new),
        }
    }

    /// Sets what renders the `/metrics` body (called on every scrape, on
    /// the runtime's thread: keep it quick). By default the body is empty.
    /// duet's own metrics ([`observability`](crate::observability)) go to
    /// whatever recorder the application installed: render that one here
    /// (with `metrics-exporter-prometheus`, its handle's `render`).
    pub fn metrics<F>(mut self, render: F) -> Self
    where
        F: Fn() -> String + Send + Sync + 'static,
    {
        self.metrics = Arc::new(render);
        self
    }

    /// The address it was configured with.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The admin endpoints as a server, answering by `ready`.
    pub(crate) fn into_server(self, ready: Arc<AtomicBool>) -> Server {
        let mut s = Server::bind_addr(self.addr).h2c_upgrade(false);
        let metrics = self.metrics;
        s.get("/healthz", || async { "ok\n" })
            .get("/readyz", move || {
                let ready = ready.load(Ordering::Acquire);
                async move {
                    if ready {
                        (StatusCode::OK, "ready\n")
                    } else {
                        (StatusCode::SERVICE_UNAVAILABLE, "draining\n")
                    }
                }
            })
            .get("/metrics", move || {
                let body = metrics();
                async move {
                    Response::new(StatusCode::OK, body)
                        .insert_header("content-type", PROMETHEUS_TEXT)
                }
            });
        s
    }
}
