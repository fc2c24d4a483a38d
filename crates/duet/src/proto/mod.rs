//! Sans-I/O protocol cores: they take bytes and hand back events and bytes,
//! and never touch a socket, a timer or a task.

pub mod h1;
pub mod h2;
pub mod http;
