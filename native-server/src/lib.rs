//! # sutra-server
//!
//! Sutra on a machine: the core's storage trait on files ([`storage`]), one writer thread per
//! memory with group commit ([`writer`]), the memories of a data directory ([`registry`]), the
//! HTTP API ([`api`], [`openapi`]) behind its access rules ([`access`]), the pool that runs
//! queries ([`queries`]), the connections ([`serve`]) and the command line ([`cli`]). The JSON shapes and the
//! JSON Lines format are the core's (`sutra_core::exchange`), shared with the browser build.

pub mod access;
pub mod api;
pub mod cli;
pub mod error;
pub mod heap;
pub mod metrics;
pub mod openapi;
pub mod queries;
pub mod registry;
pub mod serve;
pub mod storage;
pub mod writer;
