//! # sutra-server
//!
//! Sutra on a machine, in three folders and the command line:
//!
//! - [`files`]: the core's storage trait on files (the log with `fdatasync` and group commit,
//!   the memory-mapped snapshot, the lock).
//! - [`memories`]: the memories of a data directory ([`memories::registry`]), one writer thread
//!   per memory with group commit ([`memories::writer`]), the pool that runs queries
//!   ([`memories::queries`]) and the counters ([`memories::metrics`]).
//! - [`http`]: the HTTP API ([`http::api`], [`http::openapi`]) behind its access rules
//!   ([`http::access`]), its errors ([`http::error`]) and the connections ([`http::serve`]).
//! - [`node`]: `sutra serve` as a node of a replicated cluster (the `sutra-cluster` crate).
//! - [`cli`]: the `sutra` command; [`heap`]: the allocator's settings and what it holds.
//!
//! The JSON shapes and the JSON Lines format are the core's (`sutra_core::exchange`), shared with
//! the browser build.

pub mod cli;
pub mod files;
pub mod heap;
pub mod http;
pub mod mcp;
pub mod memories;
pub mod node;
