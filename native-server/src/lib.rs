//! # sutra-server
//!
//! Sutra on a machine: the core's storage trait on files ([`storage`]), one writer thread per
//! memory with group commit ([`writer`]), the HTTP API ([`api`]) and the command line.

pub mod storage;
