//! Server-Sent Events. (Being written.)
