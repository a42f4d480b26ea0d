//! guichet's test kit, for the end-to-end tests, the benchmark and the reliability harness.
//!
//! - [`server`]: the whole server in-process on `127.0.0.1:0`, with a manual clock.
//! - [`postgres`]: a PostgreSQL cluster of a test's own, to stop and start under a server.
//! - [`requests`]: the requests the end-to-end tests send most, from their few values.
//! - [`world`]: worlds (accounts, users, roles, memberships, resources, delegations) written as
//!   data, loaded into the application or over gRPC.
//!
//! It depends on every other crate and nothing depends on it but tests and test harnesses.

pub mod postgres;
pub mod requests;
pub mod server;
pub mod world;
