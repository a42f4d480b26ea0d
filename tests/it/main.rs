//! guichet end to end: the server in-process (the binary where only a process shows it), real
//! gRPC, SQLite and PostgreSQL, grpcurl, and snapshots of what people read.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    unreachable_pub,
    reason = "tests fail by panicking; their helpers are not an API"
)]

mod access_requests;
mod actors;
mod adversarial;
mod authzen;
mod bad_input;
mod contacts;
mod contract;
mod demo;
mod errors;
mod expiry;
mod freshness;
mod grpcurl;
mod hardening;
mod invitations;
mod isolation;
mod levels;
mod operations;
mod restart;
mod scenario;
mod simulate;
mod snapshots;
mod store_down;
mod stories;
mod suggestions;
mod telemetry;
mod tls;
mod watch;
mod worlds;
