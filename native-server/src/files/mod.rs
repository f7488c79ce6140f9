//! The core's storage trait on files ([`storage`]): one directory per memory holding the log,
//! the snapshot and a lock file.

pub mod storage;
