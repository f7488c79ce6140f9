//! The HTTP face of the server: the routes and their answers ([`api`]), the OpenAPI document
//! ([`openapi`]), how requests are steered on a cluster's node ([`cluster`]), the access rules checked before any route ([`access`]), the errors every route
//! answers with ([`error`]), and the connection loop with its limits and timeouts ([`serve`]).

pub mod access;
pub mod answers;
pub mod api;
pub mod cluster;
pub mod error;
pub mod openapi;
pub mod serve;
