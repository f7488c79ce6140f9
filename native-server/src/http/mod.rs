//! The HTTP face of the server: the routes and their answers ([`api`]), the OpenAPI document
//! ([`openapi`]), the access rules checked before any route ([`access`]), the errors every route
//! answers with ([`error`]), and the connection loop with its limits and timeouts ([`serve`]).

pub mod access;
pub mod answers;
pub mod api;
pub mod error;
pub mod openapi;
pub mod serve;
