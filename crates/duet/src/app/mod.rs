//! What users write against: servers and routes, handlers and extractors,
//! connection and request contexts, responses, bodies, Server-Sent
//! Events, protocol upgrades and WebSocket.

pub mod body;
pub mod context;
pub mod extract;
pub mod handler;
mod params;
pub mod response;
pub mod router;
pub mod server;
pub mod service;
pub mod sse;
pub mod upgrade;
pub mod ws;
