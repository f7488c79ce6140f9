//! # sutra-server
//!
//! Sutra on a machine: the core's storage trait on files ([`storage`]), one writer thread per
//! memory with group commit ([`writer`]), the memories of a data directory ([`registry`]), the
//! HTTP API ([`api`], [`openapi`]) and the command line ([`cli`]). The JSON shapes and the
//! JSON Lines format are the core's (`sutra_core::exchange`), shared with the browser build.

pub mod api;
pub mod cli;
pub mod error;
pub mod heap;
pub mod metrics;
pub mod openapi;
pub mod registry;
pub mod storage;
pub mod writer;
