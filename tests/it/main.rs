//! guichet end to end: the server in-process (the binary where only a process shows it), real
//! gRPC, SQLite and PostgreSQL, grpcurl, and snapshots of what people read.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs, unreachable_pub)]

mod actors;
mod adversarial;
mod authzen;
mod bad_input;
mod contacts;
mod contract;
mod demo;
mod errors;
mod freshness;
mod grpcurl;
mod hardening;
mod invitations;
mod isolation;
mod levels;
mod operations;
mod restart;
mod scenario;
mod snapshots;
mod store_down;
mod stories;
mod telemetry;
mod tls;
mod watch;
