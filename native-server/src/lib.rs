//! # sutra-server
//!
//! Sutra on a machine: the core's storage trait on files ([`storage`]), one writer thread per
//! memory with group commit ([`writer`]), the memories of a data directory ([`registry`]), the
//! HTTP API ([`api`], [`openapi`]), the JSON Lines exchange format ([`jsonl`]) and the command
//! line ([`cli`]).

pub mod api;
pub mod cli;
pub mod error;
pub mod jsonl;
pub mod metrics;
pub mod openapi;
pub mod registry;
pub mod storage;
pub mod writer;
