//! # sutra-wasm
//!
//! Sutra in the browser: the core's storage trait on OPFS sync access handles ([`opfs`]) and the
//! engine exported to JavaScript ([`engine`]), meant to run in a dedicated worker. The typed
//! main-thread client and the worker glue are in `wasm/js/`.

pub mod engine;
pub mod opfs;
