//! What the benchmark binaries share: a minimal HTTP client.

pub mod http;
