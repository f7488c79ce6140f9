//! The memories a server holds: where they live ([`home`]: the data directory, or a cluster the
//! server is a node of), the data directory's registry of them ([`registry`]), each one's
//! writer thread with group commit and maintenance ([`writer`]), the pool that runs their queries
//! ([`queries`]) and the counters they keep ([`metrics`]).

pub mod home;
pub mod metrics;
pub mod queries;
pub mod registry;
pub mod writer;
